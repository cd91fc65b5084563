#' Simulate data sets from a model set
#'
#' Draws data sets from the prior predictive distributions of the models, the
#' same simulations that [train_comparison()] trains on. Use them to look at
#' what the models produce, or as test data with a known true model.
#'
#' Every data set draws its model uniformly at random (the prior of the
#' comparison), then its sizes, its parameters and its observations; `model`
#' in the result gives the true model of each. Results depend on `seed` but
#' not on `threads`.
#'
#' @param models A model set, e.g. from [normal_nested_models()].
#' @param n Number of data sets.
#' @param seed A whole number in `[0, 2^52]`; `NULL` draws one from R's random
#'   number generator, so [set.seed()] makes the result reproducible.
#' @inheritParams deepbmc_threads
#'
#' @return A list of class `"deepbmc_simulations"` with
#' * `data`: a list of `n` data sets. Each is a numeric matrix with one row per
#'   group and one column per observation when its groups have equal sizes
#'   (always so for [normal_nested_models()]), otherwise a list of numeric
#'   vectors, one per group. Both forms are accepted by [post_prob()].
#' * `model`: the index of the true model of each data set (integer);
#' * `model_names`: the names of the models;
#' * `seed`: the seed used.
#'
#' @seealso [deepbmc_data] for the data formats.
#' @export
#' @examples
#' models <- normal_nested_models(groups = c(3, 5), obs = c(2, 4))
#' sims <- simulate_datasets(models, n = 4, seed = 1)
#' sims
#' sims$data[[1]]
#' sims$model
simulate_datasets <- function(models, n, seed = NULL,
                              threads = default_threads()) {
  check_models(models)
  n <- check_whole_number(n, max = max_simulations)
  seed <- check_seed(seed)
  threads <- check_threads(threads)
  check_batch_size(models, n)
  batch <- cpp_simulate(models_spec(models), n, seed, threads)
  structure(
    list(
      data = simulated_data(models, batch),
      model = as.integer(batch$model),
      model_names = models$model_names,
      seed = seed
    ),
    class = "deepbmc_simulations"
  )
}

#' @export
print.deepbmc_simulations <- function(x, ...) {
  counts <- tabulate(x$model, nbins = length(x$model_names))
  cat(
    "<deepbmc_simulations> ", length(x$data), " simulated data set",
    if (length(x$data) == 1) "" else "s", " (",
    paste0(x$model_names, ": ", counts, collapse = ", "), "), seed ",
    format(x$seed, scientific = FALSE), "\n",
    "Sizes: ", format_simulated_sizes(x$data), "\n",
    "Elements: $data (one matrix or list of groups per data set), ",
    "$model (true model index)\n",
    sep = ""
  )
  invisible(x)
}

format_simulated_sizes <- function(data) {
  n_groups <- vapply(
    data,
    function(d) if (is.matrix(d)) nrow(d) else length(d),
    integer(1)
  )
  n_obs <- unlist(lapply(
    data,
    function(d) if (is.matrix(d)) rep(ncol(d), nrow(d)) else lengths(d)
  ))
  paste0(
    format_range(range(n_groups)), " groups x ",
    format_range(range(n_obs)), " observations per group"
  )
}
