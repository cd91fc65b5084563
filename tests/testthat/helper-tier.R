# Test tiers. Every test file starts with test_tier("fast") or
# test_tier("full"):
#
# - fast: properties (gradients, invariance, masking, determinism across
#   threads, classed errors, the fuzz test, registries, exact references on
#   small cases) and short learning checks. `make test` runs it; its budget is
#   6 minutes on 2 cores (CONTRIBUTING.md).
# - full: long learning tests and everything that compiles or samples Stan.
#   `make test-full` (DEEPBMC_TEST_TIER=full) runs both tiers.
# - manual: tests whose outcome depends on the machine's load (real signals
#   sent to a child R), which neither make target nor CI runs; each such file
#   says why. DEEPBMC_TEST_TIER=manual runs all three tiers.
#
# A full-tier file is skipped whole in the fast tier: the skip at the top of
# the file ends it before any test runs, and testthat reports one skip for it.

deepbmc_test_tier <- function() {
  tier <- tolower(Sys.getenv("DEEPBMC_TEST_TIER"))
  if (!nzchar(tier)) tier <- "fast"
  if (!tier %in% test_tiers) {
    stop("DEEPBMC_TEST_TIER must be \"fast\", \"full\" or \"manual\", not \"",
         tier, "\"", call. = FALSE)
  }
  tier
}

# Each tier runs the tiers before it.
test_tiers <- c("fast", "full", "manual")

test_tier <- function(tier) {
  tier <- match.arg(tier, test_tiers)
  running <- deepbmc_test_tier()
  if (match(tier, test_tiers) > match(running, test_tiers)) {
    testthat::skip(switch(tier,
      full = "full tier: run with make test-full (DEEPBMC_TEST_TIER=full)",
      manual = "manual tier: run with DEEPBMC_TEST_TIER=manual"
    ))
  }
  invisible(tier)
}
