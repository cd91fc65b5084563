#' Calibration curve (reliability diagram data)
#'
#' Bins the posterior model probabilities (PMPs) of each model into
#' equal-width bins and sets the mean PMP in each bin beside the share of its
#' data sets whose true model it is, with a Wilson score interval for that
#' share. A calibrated network has points on the diagonal. One model is taken
#' against the rest, as in BayesFlow's calibration plots; empty bins are left
#' out.
#'
#' @param x A validation from [validate()], or a numeric matrix of PMPs with
#'   one row per data set and one column per model (rows summing to one), for
#'   example from bridge sampling.
#' @param ... Passed to methods.
#' @param true_model With a PMP matrix: the true model of each data set, by
#'   index or by column name.
#' @param bins Number of equal-width bins over \[0, 1\]; `NULL` for a
#'   validation uses the bins it was computed with, otherwise 10.
#' @param level Confidence level of the Wilson intervals; `NULL` for a
#'   validation uses its level, otherwise 0.95.
#'
#' @return A data frame with one row per model and non-empty bin and columns
#'   `model` (factor), `bin` (bin number), `bin_lower`, `bin_upper` (the bin's
#'   edges; bin \eqn{b} holds PMPs in \eqn{[(b - 1) / bins, b / bins)}, the
#'   last bin also 1), `n` (data sets in the bin), `mean_pmp`, `observed`
#'   (share whose true model is the row's model), `conf_low` and `conf_high`
#'   (Wilson interval of `observed`). Ready for ggplot2:
#'   `ggplot(curve, aes(mean_pmp, observed)) + geom_point()`.
#' @seealso [validate()]; `autoplot()` draws the curves.
#' @export
#' @examples
#' models <- normal_nested_models(groups = 10, obs = 10)
#' fit <- train_comparison(models, epochs = 1, iterations = 20, seed = 1)
#' validation <- validate(fit, n = 300, seed = 2, boot = 0)
#' calibration_curve(validation)
#'
#' # Any PMPs with known true models
#' p <- runif(500)
#' truth <- ifelse(runif(500) < p, 2, 1)
#' calibration_curve(cbind(M0 = 1 - p, M1 = p), true_model = truth, bins = 5)
calibration_curve <- function(x, ...) {
  UseMethod("calibration_curve")
}

#' @rdname calibration_curve
#' @export
calibration_curve.deepbmc_validation <- function(x, ..., bins = NULL,
                                                 level = NULL) {
  check_dots_empty(...)
  bins <- if (is.null(bins)) {
    x$bins
  } else {
    check_whole_number(bins, max = max_bins)
  }
  level <- if (is.null(level)) x$level else check_level(level)
  if (bins == x$bins && level == x$level) {
    return(x$calibration)
  }
  calibration_data(x$pmp, x$model, bins, level)
}

#' @rdname calibration_curve
#' @export
calibration_curve.matrix <- function(x, true_model, ..., bins = 10,
                                     level = 0.95) {
  check_dots_empty(...)
  pmp <- check_pmp_matrix(x, arg = "x")
  true_model <- check_true_model(true_model, colnames(pmp), nrow(pmp))
  bins <- check_whole_number(bins, max = max_bins)
  level <- check_level(level)
  calibration_data(pmp, true_model, bins, level)
}

#' @export
calibration_curve.default <- function(x, ...) {
  abort_deepbmc(
    c(
      "{.arg x} must be a validation from {.fun validate} or a matrix of
       posterior model probabilities.",
      x = "You supplied {describe_value(x)}."
    ),
    "type"
  )
}

# A matrix of probabilities: one row per data set, one named column per
# model, finite values in [0, 1] with rows summing to one.
check_pmp_matrix <- function(x, arg = rlang::caller_arg(x),
                             call = rlang::caller_env()) {
  if (!is.numeric(x) || !is.matrix(x) || ncol(x) < 2 || nrow(x) < 1) {
    abort_deepbmc(
      c(
        "{.arg {arg}} must be a numeric matrix with one column per model (at
         least two) and one row per data set.",
        x = "You supplied {describe_value(x)}."
      ),
      "type",
      call = call
    )
  }
  if (anyNA(x) || any(!is.finite(x)) || any(x < 0) || any(x > 1)) {
    abort_deepbmc(
      "{.arg {arg}} must hold probabilities in [0, 1], without NA.",
      "value",
      call = call
    )
  }
  row_sums <- rowSums(x)
  if (any(abs(row_sums - 1) > 1e-6)) {
    worst <- which.max(abs(row_sums - 1))
    abort_deepbmc(
      c(
        "Each row of {.arg {arg}} must sum to one.",
        x = "Row {worst} sums to {format(row_sums[[worst]], digits = 6)}."
      ),
      "value",
      call = call
    )
  }
  if (is.null(colnames(x))) {
    colnames(x) <- paste0("M", seq_len(ncol(x)))
  }
  storage.mode(x) <- "double"
  x
}
