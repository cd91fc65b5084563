#!/usr/bin/env Rscript
# Run tests/testthat against the *installed* package (make test, make test-full).
#
#   Rscript tools/run-tests.R <package> [test-dir]
#
# The tier comes from DEEPBMC_TEST_TIER ("fast", the default, or "full"; see
# tests/testthat/helper-tier.R). Prints testthat's progress and summary
# ([ FAIL n | WARN n | SKIP n | PASS n ]), the seconds of every test file and
# the ten slowest tests, then a plain line "N passed, N failed, N skipped" for
# the CI harness. Exit status is non-zero if any expectation failed or any
# test errored. Development helper only (excluded by .Rbuildignore).

args <- commandArgs(trailingOnly = TRUE)
if (length(args) < 1L) stop("usage: run-tests.R <package> [test-dir]")
pkg <- args[[1L]]
test_dir <- if (length(args) >= 2L) args[[2L]] else file.path("tests", "testthat")
tier <- Sys.getenv("DEEPBMC_TEST_TIER", "fast")

options(warn = 1)
suppressPackageStartupMessages(library(testthat))

cat("Test tier: ", tier, "\n", sep = "")
started <- proc.time()[["elapsed"]]
res <- tryCatch(
  testthat::test_dir(
    test_dir,
    package = pkg,
    load_package = "installed",
    reporter = testthat::ProgressReporter$new(show_praise = FALSE),
    stop_on_failure = FALSE,
    stop_on_warning = FALSE
  ),
  error = function(e) {
    message("make test: the test run itself failed: ", conditionMessage(e))
    NULL
  }
)
wall <- proc.time()[["elapsed"]] - started

if (is.null(res)) {
  cat("0 passed, 1 failed\n")
  quit(save = "no", status = 1)
}

df <- as.data.frame(res)

# Where the time went: every file, then the ten slowest tests.
if (nrow(df) > 0L) {
  per_file <- sort(tapply(df$real, df$file, sum), decreasing = TRUE)
  cat(sprintf("\nSeconds per test file (%s tier, %.0f s in all):\n", tier, wall))
  cat(sprintf("  %7.1f  %s\n", per_file, names(per_file)), sep = "")
  slowest <- df[order(df$real, decreasing = TRUE), , drop = FALSE]
  slowest <- utils::head(slowest, 10L)
  cat("\nThe ten slowest tests:\n")
  cat(sprintf("  %7.1f  %s: %s\n", slowest$real, slowest$file, slowest$test),
      sep = "")
}

# DEEPBMC_TEST_TIMES=<file.csv>: every test's seconds and expectations, to plan tiers.
times_file <- Sys.getenv("DEEPBMC_TEST_TIMES")
if (nzchar(times_file)) {
  utils::write.csv(df[c("file", "test", "nb", "passed", "skipped", "real")],
                   times_file, row.names = FALSE)
}

# Files of a higher tier end at their first line (tests/testthat/helper-tier.R)
# and leave no row in `df`: name them, so that a skipped file is not mistaken
# for one that ran.
tiers <- c("fast", "full", "manual")
files <- list.files(test_dir, pattern = "^test-.*\\.[rR]$", full.names = TRUE)
file_tier <- vapply(files, function(file) {
  first <- grep("^test_tier\\(", readLines(file, warn = FALSE), value = TRUE)[1L]
  if (is.na(first)) NA_character_ else sub('^test_tier\\("([a-z]+)"\\).*$', "\\1", first)
}, character(1))
above <- !is.na(file_tier) & match(file_tier, tiers) > match(tier, tiers, nomatch = 1L)
if (any(above)) {
  cat(sprintf("\nNot run in the %s tier: %s\n", tier,
              paste(sprintf("%s (%s)", basename(files[above]), file_tier[above]),
                    collapse = ", ")))
}

passed <- sum(df$passed)
# testthat's FAIL count = failed expectations + tests that stopped with an error
failed <- sum(df$failed) + sum(df$error)
skipped <- sum(df$skipped)

cat("\n", passed, " passed, ", failed, " failed, ", skipped, " skipped\n", sep = "")
if (nrow(df) == 0L) message("make test: no tests were run")
quit(save = "no", status = if (failed > 0L || nrow(df) == 0L) 1L else 0L)
