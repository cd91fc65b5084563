test_tier("fast")
# The thread policy (R/threads.R): where the default number of threads comes
# from, what caps it, and that the TBB arena runs on what was asked
# (src/parallel.h).

# No option and none of the environment variables the policy reads, whatever
# the session (make test sets OMP_THREAD_LIMIT, R CMD check may set
# _R_CHECK_LIMIT_CORES_).
local_no_thread_settings <- function(env = parent.frame()) {
  withr::local_options(deepbmc.threads = NULL, .local_envir = env)
  withr::local_envvar(
    DEEPBMC_THREADS = NA, OMP_THREAD_LIMIT = NA, `_R_CHECK_LIMIT_CORES_` = NA,
    .local_envir = env
  )
}

default_threads <- function(cores = 64L) deepbmc:::default_threads(cores)

test_that("the default is 2, capped by the number of cores", {
  local_no_thread_settings()
  expect_identical(default_threads(), 2L)
  expect_identical(default_threads(cores = 1L), 1L)
  cores <- RcppParallel::defaultNumThreads()
  expect_identical(deepbmc:::default_threads(), as.integer(min(2, cores)))
})

test_that("the option comes first, then the environment variable", {
  local_no_thread_settings()
  withr::local_envvar(DEEPBMC_THREADS = "3")
  expect_identical(default_threads(), 3L)
  withr::local_options(deepbmc.threads = 5)
  expect_identical(default_threads(), 5L)
  # an option set to NULL is not set
  withr::local_options(deepbmc.threads = NULL)
  expect_identical(default_threads(), 3L)
  withr::local_envvar(DEEPBMC_THREADS = " 7 ")
  expect_identical(default_threads(), 7L)
  withr::local_envvar(DEEPBMC_THREADS = "")
  expect_identical(default_threads(), 2L)
  # either is capped by the cores
  withr::local_options(deepbmc.threads = 1024)
  expect_identical(default_threads(cores = 6L), 6L)
})

test_that("OMP_THREAD_LIMIT and R CMD check's core limit cap the default", {
  local_no_thread_settings()
  withr::local_options(deepbmc.threads = 8)
  withr::local_envvar(OMP_THREAD_LIMIT = "3")
  expect_identical(default_threads(), 3L)
  # a limit above the request changes nothing
  withr::local_envvar(OMP_THREAD_LIMIT = "100000000000")
  expect_identical(default_threads(), 8L)
  withr::local_envvar(OMP_THREAD_LIMIT = NA)

  # any value but "false" means "at most 2 cores", as in parallel
  for (value in c("TRUE", "true", "warn", "1")) {
    withr::local_envvar(`_R_CHECK_LIMIT_CORES_` = value)
    expect_identical(default_threads(), 2L, label = value)
  }
  for (value in c("false", "FALSE", "")) {
    withr::local_envvar(`_R_CHECK_LIMIT_CORES_` = value)
    expect_identical(default_threads(), 8L, label = value)
  }
  # the smallest cap wins
  withr::local_envvar(`_R_CHECK_LIMIT_CORES_` = "TRUE", OMP_THREAD_LIMIT = "1")
  expect_identical(default_threads(), 1L)
  withr::local_envvar(OMP_THREAD_LIMIT = "4")
  expect_identical(default_threads(), 2L)
  expect_identical(default_threads(cores = 1L), 1L)
})

test_that("invalid settings are classed errors naming the option or variable", {
  local_no_thread_settings()
  for (bad in list(0, -1, 1.5, 1025, NA, NaN, Inf, "2", c(1, 2), TRUE,
                   numeric(0), list(2), factor(2))) {
    withr::local_options(deepbmc.threads = bad)
    expect_deepbmc_error(default_threads(), "value", "deepbmc.threads",
                         label = deparse(bad))
  }
  withr::local_options(deepbmc.threads = NULL)
  for (bad in c("0", "-1", "1.5", "2e3", "two", "2 4", "1025", "NA")) {
    withr::local_envvar(DEEPBMC_THREADS = bad)
    expect_deepbmc_error(default_threads(), "value", "DEEPBMC_THREADS",
                         label = bad)
  }
  withr::local_envvar(DEEPBMC_THREADS = NA)
  for (bad in c("0", "-2", "x", "2.5")) {
    withr::local_envvar(OMP_THREAD_LIMIT = bad)
    expect_deepbmc_error(default_threads(), "value", "OMP_THREAD_LIMIT",
                         label = bad)
  }
  # a whole number stored as double is fine
  withr::local_envvar(OMP_THREAD_LIMIT = NA)
  withr::local_options(deepbmc.threads = 3L)
  expect_identical(default_threads(), 3L)
})

test_that("every function with a threads argument defaults to the policy", {
  ns <- asNamespace("deepbmc")
  functions <- Filter(function(name) is.function(ns[[name]]), ls(ns))
  with_default <- Filter(function(name) {
    args <- formals(ns[[name]])
    "threads" %in% names(args) && !identical(args$threads, quote(expr = ))
  }, functions)
  expected <- c(
    "train_comparison", "simulate_datasets", "post_prob.deepbmc_fit",
    "bayes_factor.deepbmc_fit", "compare_models", "validate",
    "validate_sizes", "validate_missing", "bridge_compare", "resume_training",
    "robustness_checks", "accumulator_trials", "misspecification_test"
  )
  expect_setequal(with_default, expected)
  for (name in with_default) {
    expect_identical(formals(ns[[name]])$threads, quote(default_threads()),
                     label = name)
  }
})

test_that("the exported functions use the default and report bad settings", {
  local_no_thread_settings()
  withr::local_options(deepbmc.threads = 1)
  fit <- train_comparison(api_models(), api_network(), epochs = 1,
                          iterations = 1, batch_size = 2, seed = 1,
                          progress = FALSE)
  expect_identical(fit$training$threads, 1L)
  # the error comes from the user's call
  withr::local_options(deepbmc.threads = 0)
  err <- expect_deepbmc_error(
    simulate_datasets(api_models(), n = 2, seed = 1), "value",
    "deepbmc.threads"
  )
  expect_identical(err$call[[1]], quote(simulate_datasets))
  # an explicit threads needs no valid setting
  expect_length(simulate_datasets(api_models(), n = 2, seed = 1,
                                  threads = 1)$data, 2)
})

test_that("the TBB arena runs on min(threads, cores) threads", {
  cores <- RcppParallel::defaultNumThreads()
  for (threads in 1:2) {
    expect_identical(deepbmc:::cpp_arena_concurrency(threads),
                     as.integer(min(threads, cores)), label = threads)
  }
  # more than the cores is capped at the cores (arena_threads())
  expect_identical(deepbmc:::cpp_arena_concurrency(cores + 1L), cores)
  expect_identical(deepbmc:::cpp_arena_concurrency(1024L), cores)
  expect_error(deepbmc:::cpp_arena_concurrency(0L), "threads")
})
