# Metrics of a model comparison network on simulated data sets with known
# true models. Each takes a matrix of PMPs (or log PMPs), one row per data
# set and one column per model, and the integer index of each true model, so
# that it can be checked against hand computations.

# Share of data sets whose most probable model is the true one.
metric_accuracy <- function(pmp, true) {
  mean(max.col(pmp, ties.method = "first") == true)
}

# Mean negative log probability of the true model (the log loss training
# minimises), from log PMPs so that confident mistakes stay finite.
metric_log_score <- function(log_pmp, true) {
  -mean(log_pmp[cbind(seq_along(true), true)])
}

# Multi-class Brier score: mean over data sets of the squared distance
# between the PMP vector and the one-hot true model (0 is perfect, 2 worst).
metric_brier <- function(pmp, true) {
  mean(rowSums((pmp - one_hot(true, ncol(pmp)))^2))
}

one_hot <- function(true, n_models) {
  indicator <- matrix(0, nrow = length(true), ncol = n_models)
  indicator[cbind(seq_along(true), true)] <- 1
  indicator
}

# Expected calibration error per model, one-vs-rest as in BayesFlow:
# ECE_k = sum over non-empty bins b of (n_b / n) *
#   |share of data sets in b whose true model is k - mean PMP_k in b|,
# with `bins` equal-width bins over [0, 1].
metric_ece <- function(pmp, true, bins = 15) {
  ece <- vapply(
    seq_len(ncol(pmp)),
    function(k) {
      table <- calibration_table(pmp[, k], true == k, bins)
      sum(table$n / length(true) * abs(table$observed - table$predicted))
    },
    numeric(1)
  )
  stats::setNames(ece, colnames(pmp))
}

# Reliability diagram data for one model: per non-empty bin its range, the
# number of data sets, their mean PMP and the share whose true model it is.
calibration_table <- function(probability, is_true, bins) {
  # Probability 1 belongs to the last bin, not to a bin of its own.
  bin <- pmin(floor(probability * bins) + 1, bins)
  n <- tabulate(bin, nbins = bins)
  non_empty <- n > 0
  bin_factor <- factor(bin, levels = seq_len(bins))
  predicted <- as.vector(tapply(probability, bin_factor, sum, default = 0))
  observed <- as.vector(
    tapply(as.double(is_true), bin_factor, sum, default = 0)
  )
  data.frame(
    bin = seq_len(bins)[non_empty],
    lower = (seq_len(bins)[non_empty] - 1) / bins,
    upper = seq_len(bins)[non_empty] / bins,
    n = n[non_empty],
    predicted = predicted[non_empty] / n[non_empty],
    observed = observed[non_empty] / n[non_empty]
  )
}

# Counts of true (rows) against predicted (columns) models.
confusion_matrix <- function(pmp, true, model_names = colnames(pmp)) {
  predicted <- max.col(pmp, ties.method = "first")
  table(
    true = factor(model_names[true], levels = model_names),
    predicted = factor(model_names[predicted], levels = model_names)
  )
}
