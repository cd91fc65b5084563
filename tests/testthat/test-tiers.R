test_tier("fast")
# The tier rule of CONTRIBUTING.md ("Test budget"): every test file names its
# tier in its first line of code, so a long test cannot slip into the fast
# tier by default.

test_that("every test file names its tier in its first line of code", {
  files <- list.files(testthat::test_path(), pattern = "^test-.*\\.[rR]$",
                      full.names = TRUE)
  expect_gt(length(files), 30L)
  first_code <- vapply(files, function(file) {
    lines <- trimws(readLines(file, warn = FALSE))
    code <- lines[nzchar(lines) & !startsWith(lines, "#")]
    if (length(code)) code[[1L]] else ""
  }, character(1))
  ok <- grepl('^test_tier\\("(fast|full|manual)"\\)$', first_code)
  expect_true(all(ok), info = paste(
    "files without test_tier() first:", paste(basename(files[!ok]), collapse = ", ")
  ))
})

test_that("the tier comes from DEEPBMC_TEST_TIER and refuses other values", {
  withr::local_envvar(DEEPBMC_TEST_TIER = "full")
  expect_identical(deepbmc_test_tier(), "full")
  expect_identical(test_tier("full"), "full")
  withr::local_envvar(DEEPBMC_TEST_TIER = "")
  expect_identical(deepbmc_test_tier(), "fast")
  withr::local_envvar(DEEPBMC_TEST_TIER = "slow")
  expect_error(deepbmc_test_tier(), "must be \"fast\", \"full\" or \"manual\"")
  withr::local_envvar(DEEPBMC_TEST_TIER = "fast")
  expect_identical(test_tier("fast"), "fast")
  expect_condition(test_tier("full"), class = "skip")
  expect_condition(test_tier("manual"), class = "skip")
  withr::local_envvar(DEEPBMC_TEST_TIER = "full")
  expect_condition(test_tier("manual"), class = "skip")
  withr::local_envvar(DEEPBMC_TEST_TIER = "manual")
  expect_identical(test_tier("full"), "full")
  expect_identical(test_tier("manual"), "manual")
})
