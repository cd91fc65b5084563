#' Accuracy and calibration across data set sizes
#'
#' Validates a trained network on a grid of data set sizes: for every
#' combination of a number of groups and a number of observations per group it
#' simulates `n` data sets of exactly that size and computes the metrics of
#' [validate()]. This is the paper's figure of ECE and accuracy across 1 to 100
#' groups and observations: it shows where the network is reliable and how the
#' evidence grows with the data.
#'
#' Every cell uses the same `seed`, so cells share their true models and
#' parameter draws (common random numbers) and differences between cells
#' reflect the sizes rather than simulation noise. Cells outside the sizes the
#' network was trained on are evaluated too, with one warning.
#'
#' @inheritParams validate
#' @param groups,obs The grid: numbers of groups and of observations per group
#'   (vectors of whole numbers; every value is a fixed size, not a range).
#'   `NULL` uses up to five values spread over the training range.
#' @param n Number of simulated data sets per cell.
#'
#' @return A data frame of class `"deepbmc_size_sweep"` with one row per cell
#'   and columns `groups`, `obs`, `n`, `accuracy`, `log_score`, `brier`, `ece`
#'   and `mce` (means over the models of the one-against-the-rest errors; with
#'   two models both models' errors are equal). `autoplot()` draws it as a heat
#'   map.
#' @seealso [validate()]
#' @export
#' @examples
#' models <- normal_nested_models(groups = c(2, 20), obs = c(2, 20))
#' fit <- train_comparison(models, epochs = 1, iterations = 20, seed = 1)
#' sweep <- validate_sizes(fit, groups = c(2, 10, 20), obs = c(2, 20), n = 200,
#'                         seed = 3)
#' sweep
validate_sizes <- function(fit, groups = NULL, obs = NULL, n = 1000,
                           seed = NULL, threads = default_threads(),
                           bins = 10) {
  check_fit(fit)
  models <- fit$models
  groups <- check_size_grid(groups %||% default_grid(models$groups),
                            arg = "groups")
  obs <- check_size_grid(obs %||% default_grid(models$obs), arg = "obs")
  n <- check_whole_number(n, max = max_simulations_per_size)
  seed <- check_seed(seed)
  threads <- check_threads(threads)
  bins <- check_whole_number(bins, max = max_bins)

  cells <- expand.grid(groups = groups, obs = obs)
  max_observations <- max_dataset_observations
  too_large <- as.double(cells$groups) * cells$obs > max_observations
  if (any(too_large)) {
    abort_deepbmc(
      c(
        "A data set may hold at most {format_count(max_observations)}
         observations.",
        x = "{.arg groups} up to {max(groups)} and {.arg obs} up to
             {max(obs)} ask for more."
      ),
      "value"
    )
  }
  largest <- with_sizes(models, groups = max(groups), obs = max(obs))
  check_batch_size(largest, n, arg = "n")
  outside <- outside_training(models, cells$groups, cells$groups, cells$obs,
                              cells$obs)
  if (any(outside)) {
    training_sizes <- format_sizes(models)
    cli::cli_warn(
      c(
        "{sum(outside)} of {nrow(cells)} cell{?s} lie{?s/} outside the sizes
         the network was trained on.",
        i = "Trained on {training_sizes}."
      ),
      class = "deepbmc_extrapolation_warning"
    )
  }

  rows <- lapply(seq_len(nrow(cells)), function(i) {
    resized <- with_sizes(models, groups = cells$groups[[i]],
                          obs = cells$obs[[i]])
    held_out <- simulate_for_validation(fit, resized, n, seed, threads)
    logits <- held_out$logits
    colnames(logits) <- models$model_names
    log_pmp <- log_softmax_rows(logits)
    inputs <- prepare_metrics(exp(log_pmp), log_pmp, held_out$model, bins)
    values <- metric_values(inputs)
    sweep_values <- lapply(sweep_metrics(), function(name) {
      if (validation_metrics[[name]]$per_model) {
        mean(values[paste0(name, "_", models$model_names)])
      } else {
        values[[name]]
      }
    })
    data.frame(
      groups = cells$groups[[i]],
      obs = cells$obs[[i]],
      n = n,
      stats::setNames(sweep_values, sweep_metrics())
    )
  })
  sweep <- do.call(rbind, rows)
  attr(sweep, "training_sizes") <- list(groups = models$groups,
                                        obs = models$obs)
  attr(sweep, "bins") <- bins
  attr(sweep, "seed") <- seed
  class(sweep) <- c("deepbmc_size_sweep", "data.frame")
  sweep
}

# Up to five sizes spread evenly over a training range.
default_grid <- function(range) {
  unique(as.integer(round(seq(range[[1]], range[[2]], length.out = 5))))
}

check_size_grid <- function(x, arg = rlang::caller_arg(x),
                            call = rlang::caller_env()) {
  if (!is.numeric(x) || length(x) < 1 || is.object(x)) {
    abort_deepbmc(
      c(
        "{.arg {arg}} must be a vector of whole numbers (data set sizes).",
        x = "You supplied {describe_value(x)}."
      ),
      "type",
      call = call
    )
  }
  check_whole_values(x, arg = arg, min = 1, max = max_dataset_observations,
                     call = call)
  sort(unique(as.integer(x)))
}

# A subset is a plain data frame: the print method needs every column and the
# attributes that `[` drops.
#' @export
`[.deepbmc_size_sweep` <- function(x, ...) {
  out <- NextMethod()
  if (is.data.frame(out)) {
    class(out) <- setdiff(class(out), "deepbmc_size_sweep")
  }
  out
}

#' @export
print.deepbmc_size_sweep <- function(x, digits = 3, ...) {
  training <- attr(x, "training_sizes")
  cat(
    "<deepbmc_size_sweep> ", nrow(x), " sizes x ", format_count(x$n[[1]]),
    " simulated data sets; ECE and MCE with ", attr(x, "bins"), " bins\n",
    "Trained on ", format_range(training$groups), " groups x ",
    format_range(training$obs), " observations per group\n",
    sep = ""
  )
  shown <- as.data.frame(unclass(x))
  shown[sweep_metrics()] <- lapply(
    shown[sweep_metrics()],
    function(column) formatC(column, digits = digits, format = "f")
  )
  print(shown, row.names = FALSE, right = TRUE)
  invisible(x)
}

# The metrics a size sweep reports, in registry order (per-model metrics as
# their mean over the models).
sweep_metrics <- function() {
  names(Filter(function(metric) metric$in_sweep, validation_metrics))
}
