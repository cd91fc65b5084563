#' Validate a trained network on fresh simulations
#'
#' Simulates `n` new data sets from the models (independent of the training
#' data), computes their posterior model probabilities with the network and
#' measures how well these recover the true models and how well they are
#' calibrated: a calibrated network's PMP of 0.8 is right 80% of the time.
#'
#' Metrics, all computed in double from the logits:
#' * `accuracy`: share of data sets whose most probable model is the true one;
#' * `log_score`: mean negative log PMP of the true model (the log loss);
#' * `brier`: mean over data sets of \eqn{\sum_k (p_k - 1[k = true])^2},
#'   0 at best and 2 at worst;
#' * `ece`: expected calibration error per model (one model against the
#'   rest, as in BayesFlow): the PMPs of model \eqn{k} are cut into `bins`
#'   equal-width bins over \[0, 1\] and
#'   \eqn{ECE_k = \sum_b (n_b / n) |\bar{y}_b - \bar{p}_b|}, over non-empty bins
#'   \eqn{b} with \eqn{n_b} data sets, where \eqn{\bar{y}_b} is the share whose
#'   true model is \eqn{k} and \eqn{\bar{p}_b} their mean PMP of \eqn{k}. The
#'   paper reports a median ECE of about 0.012 to 0.014 for Study 1 with 15
#'   bins.
#'
#' @param fit A trained network from [train_comparison()].
#' @param n Number of simulated data sets.
#' @param seed A whole number in `[0, 2^52]`; `NULL` draws one from R's random
#'   number generator.
#' @param threads Number of threads.
#' @param bins Number of equal-width bins for the calibration error.
#'
#' @return A list of class `"deepbmc_validation"` with
#' * `model`: true model index of each data set (integer);
#' * `predicted`: index of the most probable model;
#' * `logits`, `log_pmp`, `pmp`: matrices with one row per data set and one
#'   column per model;
#' * `groups`, `obs`: number of groups and mean observations per group of each
#'   data set;
#' * `metrics`: a list with `accuracy`, `log_score`, `brier` and `ece` (named
#'   by model);
#' * `confusion`: a table of true against predicted models;
#' * `calibration`: a data frame with the binned calibration data (`model`,
#'   `bin`, `lower`, `upper`, `n`, `predicted`, `observed`), ready for a
#'   reliability diagram;
#' * `n`, `bins`, `seed`: the settings.
#'
#' `as.data.frame()` gives one row per data set.
#'
#' @export
#' @examples
#' models <- normal_nested_models(groups = 10, obs = 10)
#' fit <- train_comparison(models, epochs = 1, iterations = 20, seed = 1)
#' validation <- validate(fit, n = 200, seed = 2)
#' validation
#' validation$metrics$ece
#' head(as.data.frame(validation))
validate <- function(fit, n = 5000, seed = NULL, threads = 2, bins = 15) {
  check_fit(fit)
  n <- check_whole_number(n, max = 1e7)
  seed <- check_seed(seed)
  threads <- check_threads(threads)
  bins <- check_whole_number(bins, max = 1000)

  result <- cpp_validate(fit$config, fit$weights, models_spec(fit$models), n,
                         seed, threads)
  model_names <- fit$models$model_names
  logits <- check_logits(result$logits, n, fit$models$n_models,
                         call = rlang::current_env())
  colnames(logits) <- model_names
  log_pmp <- log_softmax_rows(logits)
  pmp <- exp(log_pmp)
  true <- as.integer(result$model)

  structure(
    list(
      model = true,
      predicted = max.col(logits, ties.method = "first"),
      logits = logits,
      log_pmp = log_pmp,
      pmp = pmp,
      groups = as.integer(result$groups),
      obs = as.double(result$obs),
      metrics = list(
        accuracy = metric_accuracy(pmp, true),
        log_score = metric_log_score(log_pmp, true),
        brier = metric_brier(pmp, true),
        ece = metric_ece(pmp, true, bins)
      ),
      confusion = confusion_matrix(pmp, true, model_names),
      calibration = calibration_data(pmp, true, bins),
      n = n,
      bins = bins,
      seed = seed
    ),
    class = "deepbmc_validation"
  )
}

# Binned calibration data of every model, stacked.
calibration_data <- function(pmp, true, bins) {
  tables <- lapply(seq_len(ncol(pmp)), function(k) {
    table <- calibration_table(pmp[, k], true == k, bins)
    cbind(model = colnames(pmp)[[k]], table)
  })
  do.call(rbind, tables)
}

#' @export
print.deepbmc_validation <- function(x, ...) {
  metrics <- x$metrics
  cat(
    "<deepbmc_validation> ", format_count(x$n),
    " simulated data ", if (x$n == 1) "set" else "sets", ", seed ",
    format(x$seed, scientific = FALSE), "\n",
    "Accuracy:  ", formatC(metrics$accuracy, digits = 3, format = "f"), "\n",
    "Log score: ", formatC(metrics$log_score, digits = 4, format = "f"),
    " (mean -log PMP of the true model)\n",
    "Brier:     ", formatC(metrics$brier, digits = 4, format = "f"), "\n",
    "ECE (", x$bins, " bins): ",
    paste0(
      names(metrics$ece), " ",
      formatC(metrics$ece, digits = 4, format = "f"),
      collapse = ", "
    ),
    "\nConfusion matrix (rows: true, columns: predicted):\n",
    sep = ""
  )
  print(x$confusion)
  invisible(x)
}

#' @export
as.data.frame.deepbmc_validation <- function(x, ...) {
  model_names <- colnames(x$pmp)
  pmp <- x$pmp
  colnames(pmp) <- paste0("pmp_", model_names)
  data.frame(
    true = factor(model_names[x$model], levels = model_names),
    predicted = factor(model_names[x$predicted], levels = model_names),
    groups = x$groups,
    obs = x$obs,
    pmp,
    check.names = FALSE
  )
}
