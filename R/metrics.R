# Metrics of a model comparison network on data sets with known true models:
# one registry (validation_metrics) that validate(), its print and summary
# methods, the bootstrap, validate_sizes() and autoplot() read, so that a new
# metric is one entry here.
#
# Each entry:
# * `label`: its name in printed output and plots (`long_label`, if given,
#   in plots);
# * `per_model`: one value per model (one-vs-rest) or one for all models;
# * `extra_digits`: digits printed beyond `digits` of the print methods;
# * `note`: printed after the value (overall metrics only), or NULL;
# * `in_sweep`: whether validate_sizes() reports it (per-model metrics as
#   their mean over the models);
# * `value`: function(inputs, rows, cache) computing it from
#   prepare_metrics() output for the data sets `rows` (with repeats, for the
#   bootstrap): a number, or one number per model. `cache` is an environment
#   shared by the metrics of one call, for work that several need.
validation_metrics <- list(
  accuracy = list(
    # Share of data sets whose most probable model is the true one.
    label = "Accuracy", per_model = FALSE, extra_digits = 0, note = NULL,
    in_sweep = TRUE,
    value = function(inputs, rows, cache) mean(inputs$hit[rows])
  ),
  log_score = list(
    # Mean negative log probability of the true model (the log loss training
    # minimises), from log PMPs so that confident mistakes stay finite.
    label = "Log score", per_model = FALSE, extra_digits = 1,
    note = "(mean -log PMP of the true model)", in_sweep = TRUE,
    value = function(inputs, rows, cache) mean(inputs$loss[rows])
  ),
  brier = list(
    # Multi-class Brier score: mean over data sets of the squared distance
    # between the PMP vector and the one-hot true model (0 is perfect, 2
    # worst).
    label = "Brier", long_label = "Brier score", per_model = FALSE,
    extra_digits = 1, note = NULL,
    in_sweep = TRUE,
    value = function(inputs, rows, cache) mean(inputs$brier[rows])
  ),
  blind_bf = list(
    # Jeffrey & Wandelt's blind test, which needs no reference values: for
    # data sets simulated from the first model M, the mean Bayes factor of
    # any other model against M is exactly 1, since
    # E_M[p(x | M_k) / p(x | M)] = integral of p(x | M_k) = 1. Averaged over
    # the other models; NA without data sets of the first model. Dominated by
    # the few data sets that favour another model, so a network whose log
    # BFs are too small there gives a value below 1, and its bootstrap
    # interval is wide.
    label = "Blind BF", long_label = "Blind test (mean BF vs first model)",
    per_model = FALSE, extra_digits = 0,
    note = "(mean BF of the others vs the first model on its data sets; 1 if exact)",
    in_sweep = FALSE,
    value = function(inputs, rows, cache) {
      first <- rows[inputs$true[rows] == 1L]
      if (length(first) == 0 || inputs$n_models < 2) {
        return(NA_real_)
      }
      mean(exp(inputs$log_bf[first, -1, drop = FALSE]))
    }
  ),
  log_bf_error = list(
    # Mean absolute difference between the network's log BFs against the
    # first model and reference values (validate(reference_log_bf =)), over
    # the data sets and other models with a reference; NA without any.
    label = "BF error", long_label = "Mean |log BF - reference|",
    per_model = FALSE, extra_digits = 0,
    note = "(mean |network - reference| log BF vs the first model)",
    in_sweep = FALSE,
    value = function(inputs, rows, cache) {
      if (is.null(inputs$reference)) {
        return(NA_real_)
      }
      error <- abs(inputs$log_bf[rows, -1, drop = FALSE] -
                     inputs$reference[rows, -1, drop = FALSE])
      if (all(is.na(error))) NA_real_ else mean(error, na.rm = TRUE)
    }
  ),
  ece = list(
    # Expected calibration error per model, one-vs-rest as in BayesFlow:
    # ECE_k = sum over non-empty bins b of (n_b / n) *
    #   |share of data sets in b whose true model is k - mean PMP_k in b|,
    # with `bins` equal-width bins over [0, 1].
    label = "ECE", per_model = TRUE, extra_digits = 1, note = NULL,
    in_sweep = TRUE,
    value = function(inputs, rows, cache) {
      binned_metric_errors(inputs, rows, cache)["ece", ]
    }
  ),
  mce = list(
    # Maximum calibration error per model: the largest gap between observed
    # share and mean PMP over the non-empty bins.
    label = "MCE", per_model = TRUE, extra_digits = 1, note = NULL,
    in_sweep = TRUE,
    value = function(inputs, rows, cache) {
      binned_metric_errors(inputs, rows, cache)["mce", ]
    }
  ),
  recall = list(
    # Share of each model's data sets that the network picks correctly (NA
    # for a model without data sets).
    label = "recall", per_model = TRUE, extra_digits = 0, note = NULL,
    in_sweep = FALSE,
    value = function(inputs, rows, cache) {
      recall_from(inputs$true[rows], inputs$hit[rows], inputs$n_models, NULL)
    }
  )
)

# ECE and MCE of every model (2 x n_models), computed once per call of
# metric_values() for both metrics.
binned_metric_errors <- function(inputs, rows, cache) {
  if (is.null(cache$binned)) {
    cache$binned <- vapply(
      seq_len(inputs$n_models),
      function(k) {
        errors <- binned_errors(inputs$bin[rows, k], inputs$gap[rows, k],
                                inputs$bins)
        c(ece = errors$ece, mce = errors$mce)
      },
      numeric(2)
    )
  }
  cache$binned
}

# The names of metric_values()'s result: overall metrics by name, per-model
# ones as `<metric>_<model>`, in registry order.
metric_columns <- function(model_names) {
  unlist(lapply(names(validation_metrics), function(name) {
    if (validation_metrics[[name]]$per_model) {
      paste0(name, "_", model_names)
    } else {
      name
    }
  }), use.names = FALSE)
}

# One metric of PMPs (or log PMPs) and true models, through the registry:
# a number, or one per model named by the columns of `pmp`.
compute_metric <- function(metric, true, pmp = exp(log_pmp), log_pmp = log(pmp),
                           bins = 10) {
  inputs <- prepare_metrics(pmp, log_pmp, true, bins)
  value <- validation_metrics[[metric]]$value(inputs, seq_along(true),
                                              new.env(parent = emptyenv()))
  if (validation_metrics[[metric]]$per_model) {
    value <- stats::setNames(unname(value), colnames(pmp))
  }
  value
}

one_hot <- function(true, n_models) {
  indicator <- matrix(0, nrow = length(true), ncol = n_models)
  indicator[cbind(seq_along(true), true)] <- 1
  indicator
}

recall_from <- function(true, hit, n_models, model_names) {
  total <- tabulate(true, nbins = n_models)
  right <- tabulate(true[hit], nbins = n_models)
  recall <- ifelse(total > 0, right / total, NA_real_)
  stats::setNames(recall, model_names)
}

# Equal-width bins over [0, 1]: bin b holds [(b - 1) / bins, b / bins), and
# probability 1 belongs to the last bin rather than to a bin of its own.
bin_index <- function(probability, bins) {
  bin <- pmin(floor(probability * bins) + 1, bins)
  storage.mode(bin) <- "integer"
  bin
}

# ECE and MCE of one model from the bin of each data set and its gap
# `pmp - is_true`: within a bin, n_b * |mean gap| is |sum of gaps|, so the
# ECE is the sum of |bin sums| over n.
binned_errors <- function(bin, gap, bins) {
  n_in_bin <- tabulate(bin, nbins = bins)
  # rowsum() returns the non-empty bins in increasing order, as n_in_bin[> 0].
  gap_sums <- abs(rowsum.default(gap, bin, reorder = TRUE)[, 1])
  list(
    ece = sum(gap_sums) / length(bin),
    mce = max(gap_sums / n_in_bin[n_in_bin > 0])
  )
}

# Reliability diagram data for one model: per non-empty bin its range, the
# number of data sets, their mean PMP, the share whose true model it is and
# the Wilson score interval of that share.
calibration_table <- function(probability, is_true, bins, level = 0.95) {
  bin <- bin_index(probability, bins)
  n <- tabulate(bin, nbins = bins)
  non_empty <- n > 0
  bin_factor <- factor(bin, levels = seq_len(bins))
  pmp_sum <- as.vector(tapply(probability, bin_factor, sum, default = 0))
  true_sum <- as.vector(
    tapply(as.double(is_true), bin_factor, sum, default = 0)
  )
  interval <- wilson_interval(true_sum[non_empty], n[non_empty], level)
  data.frame(
    bin = seq_len(bins)[non_empty],
    bin_lower = (seq_len(bins)[non_empty] - 1) / bins,
    bin_upper = seq_len(bins)[non_empty] / bins,
    n = n[non_empty],
    mean_pmp = pmp_sum[non_empty] / n[non_empty],
    observed = true_sum[non_empty] / n[non_empty],
    conf_low = interval$low,
    conf_high = interval$high
  )
}

# Wilson score interval for a binomial share: unlike the Wald interval it
# stays inside [0, 1] and is sensible for shares of 0 or 1 in small bins.
wilson_interval <- function(successes, n, level = 0.95) {
  z <- stats::qnorm(1 - (1 - level) / 2)
  share <- successes / n
  centre <- (share + z^2 / (2 * n)) / (1 + z^2 / n)
  half_width <- z / (1 + z^2 / n) *
    sqrt(share * (1 - share) / n + z^2 / (4 * n^2))
  list(
    low = pmax(centre - half_width, 0),
    high = pmin(centre + half_width, 1)
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

# --- All metrics at once, for estimates and bootstrap resamples -------------

# What every metric needs, computed once per validation: the bins, gaps and
# hits per data set. Resamples then only index into it.
prepare_metrics <- function(pmp, log_pmp, true, bins, reference = NULL) {
  predicted <- max.col(pmp, ties.method = "first")
  list(
    # log BFs of every model against the first (the logits' differences)
    log_bf = log_pmp - log_pmp[, 1],
    # reference log BFs against the first model (n x K, NA where missing)
    reference = reference,
    n_models = ncol(pmp),
    model_names = colnames(pmp) %||% paste0("M", seq_len(ncol(pmp))),
    bins = bins,
    true = true,
    hit = predicted == true,
    loss = -log_pmp[cbind(seq_along(true), true)],
    brier = rowSums((pmp - one_hot(true, ncol(pmp)))^2),
    bin = bin_index(pmp, bins),
    gap = pmp - one_hot(true, ncol(pmp))
  )
}

# All metrics of the data sets `rows` (with repeats, for the bootstrap) as one
# named vector, named by metric_columns().
metric_values <- function(inputs, rows = seq_along(inputs$true)) {
  cache <- new.env(parent = emptyenv())
  values <- unlist(lapply(validation_metrics, function(metric) {
    unname(metric$value(inputs, rows, cache))
  }), use.names = FALSE)
  stats::setNames(values, metric_columns(inputs$model_names))
}

# Percentile bootstrap over data sets: one row per resample, one column per
# metric. Uses R's random number generator (validate() seeds it locally).
bootstrap_metrics <- function(inputs, boot) {
  n <- length(inputs$true)
  replicates <- vapply(
    seq_len(boot),
    function(i) metric_values(inputs, sample.int(n, n, replace = TRUE)),
    numeric(length(metric_columns(inputs$model_names)))
  )
  t(replicates)
}

# ECE of a perfectly calibrated network with the same PMPs: true models are
# drawn from the PMPs themselves ("consistency resampling", Bröcker & Smith,
# 2007). An observed ECE far in the upper tail of these says the PMPs are
# miscalibrated, not merely noisy; the comparison accounts for the upward
# bias ECE has in finite samples. One row per draw, one column per model.
null_ece <- function(pmp, bins, draws) {
  cumulative <- t(apply(pmp, 1, cumsum))
  bin <- bin_index(pmp, bins)
  replicates <- vapply(
    seq_len(draws),
    function(i) {
      # rowSums(u > cumulative) + 1 is the first model whose cumulative
      # probability reaches u: a draw from each row's PMPs.
      u <- stats::runif(nrow(pmp))
      drawn <- pmin(rowSums(u > cumulative) + 1L, ncol(pmp))
      gap <- pmp - one_hot(drawn, ncol(pmp))
      vapply(
        seq_len(ncol(pmp)),
        function(k) binned_errors(bin[, k], gap[, k], bins)$ece,
        numeric(1)
      )
    },
    numeric(ncol(pmp))
  )
  matrix(replicates, nrow = draws, byrow = TRUE,
         dimnames = list(NULL, colnames(pmp)))
}
