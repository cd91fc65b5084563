# Test tiers. Every test file starts with test_tier("fast") or
# test_tier("full"):
#
# - fast: properties (gradients, invariance, masking, determinism across
#   threads, classed errors, the fuzz test, registries, exact references on
#   small cases) and short learning checks. `make test` runs it; its budget is
#   6 minutes on 2 cores (CONTRIBUTING.md).
# - full: long learning tests and everything that compiles or samples Stan.
#   `make test-full` (DEEPBMC_TEST_TIER=full) runs both tiers.
#
# A full-tier file is skipped whole in the fast tier: the skip at the top of
# the file ends it before any test runs, and testthat reports one skip for it.

deepbmc_test_tier <- function() {
  tier <- tolower(Sys.getenv("DEEPBMC_TEST_TIER"))
  if (!nzchar(tier)) tier <- "fast"
  if (!tier %in% c("fast", "full")) {
    stop("DEEPBMC_TEST_TIER must be \"fast\" or \"full\", not \"", tier, "\"",
         call. = FALSE)
  }
  tier
}

test_tier <- function(tier) {
  tier <- match.arg(tier, c("fast", "full"))
  if (tier == "full" && deepbmc_test_tier() != "full") {
    testthat::skip("full tier: run with make test-full (DEEPBMC_TEST_TIER=full)")
  }
  invisible(tier)
}
