#!/usr/bin/env Rscript
# Run tests/testthat against the *installed* package (make test).
#
#   Rscript tools/run-tests.R <package> [test-dir]
#
# Prints testthat's progress and summary ([ FAIL n | WARN n | SKIP n | PASS n ]),
# then a plain line "N passed, N failed, N skipped" for the CI harness.
# Exit status is non-zero if any expectation failed or any test errored.
# Development helper only (excluded by .Rbuildignore).

args <- commandArgs(trailingOnly = TRUE)
if (length(args) < 1L) stop("usage: run-tests.R <package> [test-dir]")
pkg <- args[[1L]]
test_dir <- if (length(args) >= 2L) args[[2L]] else file.path("tests", "testthat")

options(warn = 1)
suppressPackageStartupMessages(library(testthat))

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

if (is.null(res)) {
  cat("0 passed, 1 failed\n")
  quit(save = "no", status = 1)
}

df <- as.data.frame(res)
passed <- sum(df$passed)
# testthat's FAIL count = failed expectations + tests that stopped with an error
failed <- sum(df$failed) + sum(df$error)
skipped <- sum(df$skipped)

cat("\n", passed, " passed, ", failed, " failed, ", skipped, " skipped\n", sep = "")
if (nrow(df) == 0L) message("make test: no tests were run")
quit(save = "no", status = if (failed > 0L || nrow(df) == 0L) 1L else 0L)
