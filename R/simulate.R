#' Simulate data sets from a model set
#'
#' Draws data sets from the prior predictive distributions of the models, the
#' same simulations that [train_comparison()] trains on. Use them to look at
#' what the models produce, as test data with a known true model, or as a
#' bank of stored simulations to train on.
#'
#' Every data set draws its model uniformly at random (the prior of the
#' comparison), then its sizes, its parameters and its observations; `model`
#' in the result gives the true model of each. Results depend on `seed` but
#' not on `threads`.
#'
#' **Models written in R** ([simulator_models()]) are simulated by calling
#' their functions, through [future.apply::future_lapply()] when future.apply
#' is installed: sequentially by default, in parallel after
#' `future::plan(multisession)`, on a cluster with `plan(cluster)` or
#' future.batchtools, with no change to the call. The model of data set `i`
#' is drawn uniformly at random from `seed` (as for the built-in models, so
#' the counts per model vary; the first `k` of `n` data sets are those of
#' `n = k`), and data set `i` draws its random numbers from its own
#' L'Ecuyer-CMRG stream, the `i`-th one after the stream `seed` starts: the
#' results depend on `seed` only, not on the plan, the number of workers or
#' how the work is chunked. The data sets go out in rounds of chunks, one
#' chunk per worker, which grow until a round takes about two seconds; a
#' progress bar between rounds shows long runs. `threads` does not apply.
#'
#' A function that fails or returns something that is not a data set of the
#' models (see [simulator_models()]) stops the simulation with an error of
#' class `"deepbmc_error_simulation"` that names the model and the data set;
#' its fields `model`, `index`, `problem` and `simulations` (the data sets
#' before the failing one, as simulations, or `NULL`) keep what was done.
#' A function that runs longer than `time_limit` seconds stops the same way,
#' with `problem` `"time_limit"` (see [simulator_models()]). When a parallel
#' worker dies, the error (with `problem` `"worker"`) says so: future's plan
#' is then broken until it is set again, for example with
#' `future::plan(future::sequential)`.
#' An interrupt returns the data sets done so far with a warning of class
#' `"deepbmc_interrupted_warning"`. Your own random number stream is left as
#' it was.
#'
#' **Memory.** The data sets are stored packed, about 8 bytes per value plus
#' 4 per observation; see [simulations] for the format, the figures and how
#' to subset and join simulations.
#'
#' @param models A model set, e.g. from [normal_nested_models()],
#'   [model_set()] or [simulator_models()].
#' @param n Number of data sets.
#' @param seed A whole number in `[0, 2^52]`; `NULL` draws one from R's random
#'   number generator, so [set.seed()] makes the result reproducible. (For
#'   models written in R, the streams start from `seed` modulo `2^31 - 1`.)
#' @inheritParams deepbmc_threads
#' @param progress Show a progress bar for long simulations of models written
#'   in R?
#' @param time_limit For models written in R: the most seconds one call of a
#'   simulator may take, or `Inf` for no limit; `NULL` (the default) takes
#'   that of the model set (see [simulator_models()]). Other model sets
#'   simulate in C++ and ignore it.
#'
#' @return Simulations, a list of class `"deepbmc_simulations"` with
#' * `data`: a list of `n` data sets, built from the packed batch on access.
#'   For [normal_nested_models()] each is a numeric matrix with one row per
#'   group and one column per observation; for [model_set()] a data frame of
#'   the template's columns; for sets with named features (such as
#'   [simulator_models()]) a data frame with the group column and one column
#'   per feature. Every form is accepted by [post_prob()].
#' * `batch`: the packed data sets (see [simulations]);
#' * `model`: the index of the true model of each data set (integer);
#' * `model_names`: the names of the models;
#' * `feature_names`: the names of the features as the network sees them;
#' * `seed`: the seed used;
#' * `models`: the model set;
#' * `checksum`: a checksum of all the above, checked whenever the
#'   simulations are used (see [simulations]).
#'
#' Values the network cannot read (infinite, `NaN` or beyond the largest
#' single-precision number, about `3.4e38`) stop the simulation with an error
#' of class `"deepbmc_error_simulation"` (field `problem = "float"`).
#'
#' @seealso [deepbmc_data] for the data formats, [simulations] for the stored
#'   form.
#' @export
#' @examples
#' models <- normal_nested_models(groups = c(3, 5), obs = c(2, 4))
#' sims <- simulate_datasets(models, n = 4, seed = 1)
#' sims
#' sims$data[[1]]
#' sims$model
simulate_datasets <- function(models, n, seed = NULL,
                              threads = default_threads(),
                              progress = interactive(), time_limit = NULL) {
  check_models(models)
  n <- check_whole_number(n, max = max_simulations)
  seed <- check_seed(seed)
  threads <- check_threads(threads)
  progress <- check_flag(progress)
  simulating <- models
  if (!is.null(time_limit)) {
    time_limit <- check_time_limit(time_limit)
    if (inherits(models, "deepbmc_simulator_models")) {
      simulating$time_limit <- time_limit
    }
  }
  simulated <- simulate_batch(simulating, n, seed, threads, progress,
                              call = rlang::current_env())
  check_simulated_values(simulated, models)
  new_simulations(simulated$batch, simulated$model, models, seed)
}

# Simulated values the network cannot read (not finite in single precision)
# are refused where they are made, as the simulation errors of R simulators
# are: with the model and data set that made them.
check_simulated_values <- function(simulated, models,
                                   call = rlang::caller_env()) {
  set <- first_unrepresentable(simulated$batch)
  if (is.null(set)) {
    return(invisible(simulated))
  }
  model <- models$model_names[[simulated$model[[set]]]]
  abort_deepbmc(
    c(
      "Model {.val {model}} simulated a value the network cannot read, at
       data set {set}.",
      x = "Simulated values must be finite numbers in single precision (at
           most about {format(max_float, digits = 3)} in absolute value).",
      i = "Check the priors and the parameters of {.arg models}: they make
           values far beyond any data."
    ),
    "simulation",
    model = model,
    index = set,
    problem = "float",
    simulations = if (set > 1) {
      keep <- seq_len(set - 1L)
      new_simulations(subset_batch(simulated$batch, keep),
                      simulated$model[keep], models, NA_real_)
    },
    call = call
  )
}
