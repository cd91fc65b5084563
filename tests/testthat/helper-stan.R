# Compiled Stan programs for the tests (full tier): each program text is
# compiled once per test run and shared by every file, through deepbmc's own
# cache (deepbmc:::stan_compiled(), keyed by a hash of the program) in one
# directory per run. A file that needs several programs asks for them at once
# with test_stan_precompile(), which compiles the missing ones two at a time
# in separate R processes: a compilation is one g++ process, and CI has two
# cores.
#
# Programs that are only evaluated (log_prob), never sampled from, compile at
# -O0 (about 60% of the time, the same floating-point results: no fast-math
# either way). Their text carries a comment saying so, which gives them a key
# of their own: a program needed both ways is compiled both ways.

# DEEPBMC_TEST_STAN_CACHE=<dir> keeps the compiled programs across runs (a
# developer's repeated make test-full); by default they live for one run.
test_stan_cache_dir <- function() {
  dir <- Sys.getenv("DEEPBMC_TEST_STAN_CACHE")
  if (!nzchar(dir)) dir <- file.path(tempdir(), "deepbmc-test-stan")
  dir.create(dir, showWarnings = FALSE, recursive = TRUE)
  normalizePath(dir)
}

# A program for test_stan_model() and test_stan_precompile(): its text (a
# string, or read from `file`), its model name, and whether it is sampled from.
test_stan_program <- function(code = NULL, name, optimize = TRUE, file = NULL) {
  if (!is.null(file)) code <- paste(readLines(file, warn = FALSE), collapse = "\n")
  # The text as given (stan_code() returns a classed string): the cache key
  # is its hash, which bridge_compare() computes the same way.
  if (!optimize) code <- paste0(code, "\n// deepbmc tests: compiled at -O0\n")
  list(code = code, name = name, optimize = optimize)
}

# Compiles `program` where the current process's settings say (rstan's Boost
# headers on Debian, -O0 through a private Makevars) and stores it in the
# run's cache. Runs in the test process and in test_stan_precompile()'s workers.
test_stan_compile <- function(program, cache_dir) {
  restore <- deepbmc:::use_system_boost()
  on.exit(restore(), add = TRUE)
  if (!program$optimize) {
    makevars <- tempfile("Makevars-O0-")
    writeLines(c("CXX14FLAGS = -O0 -g0", "CXXFLAGS = -O0 -g0"), makevars)
    old <- Sys.getenv("R_MAKEVARS_USER", unset = NA)
    Sys.setenv(R_MAKEVARS_USER = makevars)
    on.exit(
      if (is.na(old)) Sys.unsetenv("R_MAKEVARS_USER") else Sys.setenv(R_MAKEVARS_USER = old),
      add = TRUE
    )
  }
  suppressMessages(
    deepbmc:::stan_compiled(program$code, program$name, cache_dir = cache_dir)
  )
}

# The compiled model of `program`: from this session, from the run's cache,
# or compiled here.
test_stan_model <- function(program) {
  test_stan_compile(program, test_stan_cache_dir())$model
}

# Compiles the programs not yet in the run's cache, `workers` at a time in
# fresh R processes, then loads them all into this session's cache.
test_stan_precompile <- function(programs, workers = 2L) {
  cache_dir <- test_stan_cache_dir()
  stored <- function(p) {
    file.exists(file.path(cache_dir, paste0(p$name, "-", rlang::hash(p$code), ".rds")))
  }
  missing <- Filter(Negate(stored), programs)
  if (length(missing) > 1L && workers > 1L) {
    cl <- parallel::makePSOCKcluster(min(workers, length(missing)))
    on.exit(parallel::stopCluster(cl), add = TRUE)
    parallel::clusterCall(cl, .libPaths, .libPaths())
    # Only the seconds travel back: each worker stores its model in the cache
    # directory, which the loop below reads. The functions are sent without
    # this file's environment.
    compile <- test_stan_compile
    worker <- function(program, cache_dir, compile) compile(program, cache_dir)$seconds
    environment(compile) <- environment(worker) <- globalenv()
    parallel::clusterApplyLB(cl, missing, worker, cache_dir = cache_dir,
                             compile = compile)
  }
  for (program in programs) test_stan_model(program)
  invisible(length(missing))
}

# Compiles `programs` two at a time and expects each to be loaded in this
# session afterwards.
expect_stan_programs_compile <- function(programs) {
  test_stan_precompile(programs)
  for (program in programs) {
    testthat::expect_true(deepbmc:::stan_model_ok(test_stan_model(program)),
                          label = paste(program$name, "is loaded"))
  }
}
