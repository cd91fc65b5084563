# One thread policy for every function with a `threads` argument (as
# data.table's getDTthreads()): their default is `default_threads()`, and
# check_threads() (R/checks.R) checks what the call passes.

#' How many threads deepbmc uses
#'
#' deepbmc simulates, trains and predicts in parallel with TBB (through
#' RcppParallel). Every function with a `threads` argument defaults to the
#' same number of threads, the first of these that is set:
#' 1. the option `deepbmc.threads`, e.g. `options(deepbmc.threads = 4)`;
#' 2. the environment variable `DEEPBMC_THREADS`, e.g. `DEEPBMC_THREADS=4` in
#'    `.Renviron`;
#' 3. otherwise 2.
#'
#' That number is then capped by
#' * the environment variable `OMP_THREAD_LIMIT`, when it is set (schedulers
#'   of shared machines set it for every parallel program);
#' * 2, when the environment variable `_R_CHECK_LIMIT_CORES_` is set to
#'   anything but `"false"`, as `R CMD check --as-cran` does: CRAN allows at
#'   most two cores in checks;
#' * the number of cores, as [RcppParallel::defaultNumThreads()] counts them.
#'
#' A number passed as `threads` in a call is used as given, up to the number
#' of cores: more threads than cores would only compete for them.
#'
#' Results never depend on the number of threads: random numbers are drawn
#' per data set from the seed and sums run in a fixed order, so one thread and
#' eight give the same numbers to the last bit.
#'
#' An option or environment variable that is not a whole number from 1 to
#' 1,024 (`OMP_THREAD_LIMIT`: at least 1) is an error of class
#' `"deepbmc_error_value"` that names it.
#'
#' @param threads Number of threads, a whole number from 1 to 1,024. Results
#'   do not depend on it. The default follows the package's thread policy:
#'   the option `deepbmc.threads`, else the environment variable
#'   `DEEPBMC_THREADS`, else 2, capped by `OMP_THREAD_LIMIT`, by CRAN's two
#'   cores in `R CMD check` and by the number of cores; see
#'   [deepbmc_threads].
#'
#' @name deepbmc_threads
#' @aliases deepbmc-threads
#' @examples
#' # Two threads for every call in this session that does not say otherwise
#' old <- options(deepbmc.threads = 2)
#' sims <- simulate_datasets(normal_nested_models(5, 5), n = 3, seed = 1)
#' options(old)
NULL

# The `threads` default described above. `cores` is an argument so that the
# tests can show the other caps on a machine with few cores.
default_threads <- function(cores = RcppParallel::defaultNumThreads(),
                            call = rlang::caller_env()) {
  as.integer(min(requested_threads(call), cores, thread_limits(call)))
}

# What the user asked for: the option, else the environment variable, else 2.
requested_threads <- function(call) {
  option <- getOption("deepbmc.threads")
  if (!is.null(option)) {
    return(check_thread_count(option, option, "The option", "deepbmc.threads",
                              max_threads, call))
  }
  thread_variable("DEEPBMC_THREADS", max_threads, call) %||% 2L
}

# The caps on the default besides the cores: OMP_THREAD_LIMIT, and CRAN's two
# cores under R CMD check (the rule parallel:::.check_ncores() applies).
thread_limits <- function(call) {
  check_limit <- tolower(Sys.getenv("_R_CHECK_LIMIT_CORES_"))
  c(
    Inf,
    thread_variable("OMP_THREAD_LIMIT", Inf, call),
    if (nzchar(check_limit) && check_limit != "false") 2L
  )
}

# The thread count an environment variable holds (text of digits), or NULL
# when it is unset or empty.
thread_variable <- function(name, max, call) {
  text <- Sys.getenv(name)
  if (!nzchar(text)) {
    return(NULL)
  }
  number <- if (grepl("^[[:space:]]*[0-9]+[[:space:]]*$", text)) {
    as.numeric(text)
  } else {
    NA_real_
  }
  check_thread_count(number, text, "The environment variable", name, max,
                     call)
}

# `number`, a setting's value (`value` as the user wrote it), as an integer
# count from 1 to `max`.
check_thread_count <- function(number, value, kind, name, max, call) {
  valid <- is.numeric(number) && length(number) == 1 && !is.object(number) &&
    is.finite(number) && number == round(number) && number >= 1 &&
    number <= max
  if (!valid) {
    range_text <- if (is.finite(max)) {
      paste("from 1 to", format_count(max))
    } else {
      "of at least 1"
    }
    abort_deepbmc(
      c(
        "{kind} {.code {name}} must be a whole number {range_text}.",
        x = "It is {describe_value(value)}.",
        i = "It sets the default number of threads; see
             {.topic deepbmc::deepbmc_threads}."
      ),
      "value",
      call = call
    )
  }
  as.integer(min(number, .Machine$integer.max))
}
