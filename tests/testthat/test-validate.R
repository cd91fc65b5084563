test_tier("fast")
# The metrics (R/metrics.R) against computations written out here, and
# validate() (R/validate.R): structure, reproducibility, the data it uses,
# printing and checks.

# --- Independent reference computations -------------------------------------

ref_accuracy <- function(pmp, true) {
  pmp <- unname(pmp)
  hits <- 0
  for (i in seq_len(nrow(pmp))) hits <- hits + (which.max(pmp[i, ]) == true[[i]])
  hits / nrow(pmp)
}

ref_log_score <- function(log_pmp, true) {
  log_pmp <- unname(log_pmp)
  total <- 0
  for (i in seq_len(nrow(log_pmp))) total <- total - log_pmp[i, true[[i]]]
  total / nrow(log_pmp)
}

ref_brier <- function(pmp, true) {
  pmp <- unname(pmp)
  total <- 0
  for (i in seq_len(nrow(pmp))) {
    for (k in seq_len(ncol(pmp))) {
      total <- total + (pmp[i, k] - (k == true[[i]]))^2
    }
  }
  total / nrow(pmp)
}

# Bin b holds [(b - 1) / bins, b / bins); the last bin also holds 1.
ref_bin <- function(p, bins) {
  edges <- (0:bins) / bins
  vapply(p, function(x) {
    if (x == 1) return(as.integer(bins))
    max(which(edges <= x))
  }, integer(1))
}

ref_calibration <- function(p, is_true, bins) {
  p <- unname(p)
  bin <- ref_bin(p, bins)
  rows <- lapply(sort(unique(bin)), function(b) {
    inside <- bin == b
    data.frame(bin = b, bin_lower = (b - 1) / bins, bin_upper = b / bins,
               n = sum(inside), mean_pmp = mean(p[inside]),
               observed = mean(is_true[inside]))
  })
  do.call(rbind, rows)
}

ref_ece <- function(pmp, true, bins) {
  vapply(seq_len(ncol(pmp)), function(k) {
    table <- ref_calibration(pmp[, k], true == k, bins)
    sum(table$n * abs(table$observed - table$mean_pmp)) / nrow(pmp)
  }, numeric(1))
}

# Fixed inputs: probabilities exactly on bin edges (0, 1, multiples of 1/15),
# ties between models, repeated values, and bins left empty.
metric_inputs <- function() {
  p1 <- c(0, 1, 1 / 15, 2 / 15, 0.5, 0.5, 14 / 15, 1, 0.2, 0.2, 7 / 15, 0.99,
          8 / 15, 0.3, 1 - 1e-12, 1e-12)
  true <- c(1L, 2L, 1L, 2L, 1L, 2L, 2L, 2L, 1L, 1L, 2L, 2L, 1L, 2L, 2L, 1L)
  pmp <- cbind(M0 = 1 - p1, M1 = p1)
  list(pmp = pmp, log_pmp = log(pmp), true = true)
}

three_model_inputs <- function() {
  pmp <- rbind(
    c(0.4, 0.4, 0.2),   # tie between 1 and 2: the first wins
    c(0.2, 0.4, 0.4),   # tie between 2 and 3
    c(1, 0, 0),
    c(1 / 3, 1 / 3, 1 / 3),
    c(0.1, 0.2, 0.7),
    c(0.6, 0.3, 0.1)
  )
  colnames(pmp) <- c("a", "b", "c")
  list(pmp = pmp, true = c(2L, 2L, 1L, 3L, 3L, 2L))
}

# --- Metrics ------------------------------------------------------------------

test_that("accuracy counts the most probable model, ties to the first", {
  x <- metric_inputs()
  expect_equal(deepbmc:::compute_metric("accuracy", x$true, pmp = x$pmp),
               ref_accuracy(x$pmp, x$true), tolerance = 1e-15)
  y <- three_model_inputs()
  acc <- deepbmc:::compute_metric("accuracy", y$true, pmp = y$pmp)
  expect_equal(acc, ref_accuracy(y$pmp, y$true), tolerance = 1e-15)
  # by hand: predicted 1, 2, 1, 1, 3, 1 against 2, 2, 1, 3, 3, 2
  expect_equal(acc, 3 / 6)
  expect_identical(deepbmc:::compute_metric("accuracy", 1:3, pmp = diag(3)), 1)
  expect_identical(deepbmc:::compute_metric("accuracy", c(2L, 3L, 1L), pmp = diag(3)), 0)
})

test_that("log score and Brier score match hand computations", {
  x <- metric_inputs()
  expect_equal(deepbmc:::compute_metric("log_score", x$true, log_pmp = x$log_pmp),
               ref_log_score(x$log_pmp, x$true), tolerance = 1e-14)
  expect_equal(deepbmc:::compute_metric("brier", x$true, pmp = x$pmp), ref_brier(x$pmp, x$true),
               tolerance = 1e-14)
  y <- three_model_inputs()
  expect_equal(deepbmc:::compute_metric("brier", y$true, pmp = y$pmp), ref_brier(y$pmp, y$true),
               tolerance = 1e-14)
  # by hand for two rows: perfect (0) and completely wrong (2)
  perfect_and_wrong <- rbind(c(1, 0), c(1, 0))
  expect_identical(deepbmc:::compute_metric("brier", c(1L, 2L), pmp = perfect_and_wrong), 1)
  expect_equal(deepbmc:::compute_metric(
    "log_score", c(1L, 2L), log_pmp = log(rbind(c(0.5, 0.5), c(0.25, 0.75)))
  ),
               (log(2) - log(0.75)) / 2)
  # a confident mistake is finite in log space
  expect_identical(deepbmc:::compute_metric("log_score", 2L, log_pmp = rbind(c(0, -1e5))), 1e5)
})

test_that("values on bin edges go to the bin they open; 1 to the last", {
  bins <- 15
  for (k in 0:14) {
    table <- deepbmc:::calibration_table(k / bins, TRUE, bins)
    expect_identical(table$bin, k + 1L, label = paste0(k, "/15"))
    expect_true(table$bin_lower <= k / bins && k / bins < table$bin_upper)
  }
  expect_identical(deepbmc:::calibration_table(1, TRUE, bins)$bin, 15L)
  expect_identical(deepbmc:::calibration_table(0, TRUE, bins)$bin, 1L)
  expect_identical(deepbmc:::calibration_table(1 - 1e-12, TRUE, bins)$bin, 15L)
  expect_identical(deepbmc:::calibration_table(1 / 15 - 1e-12, TRUE, bins)$bin, 1L)
  # other bin counts
  for (bins in c(1, 2, 10, 20)) {
    p <- (0:bins) / bins
    expect_identical(deepbmc:::calibration_table(p, rep(TRUE, length(p)), bins)$n,
                     tabulate(ref_bin(p, bins), bins)[tabulate(ref_bin(p, bins), bins) > 0],
                     label = paste(bins, "bins"))
  }
})

test_that("the calibration table matches a hand computation; empty bins are left out", {
  x <- metric_inputs()
  for (k in 1:2) {
    table <- deepbmc:::calibration_table(x$pmp[, k], x$true == k, 15)
    expected <- ref_calibration(x$pmp[, k], x$true == k, 15)
    expect_identical(table$bin, as.integer(expected$bin))
    expect_equal(table$bin_lower, expected$bin_lower, tolerance = 1e-15)
    expect_equal(table$bin_upper, expected$bin_upper, tolerance = 1e-15)
    expect_identical(table$n, expected$n)
    expect_equal(table$mean_pmp, expected$mean_pmp, tolerance = 1e-14)
    expect_equal(table$observed, expected$observed, tolerance = 1e-14)
    expect_identical(sum(table$n), length(x$true))
    # empty bins are absent
    expect_lt(nrow(table), 15)
    expect_true(all(table$n > 0))
  }
  # explicit case: bins 1 (0 and 1e-12), 2 (1/15), 3 (2/15) ... for M1
  table <- deepbmc:::calibration_table(x$pmp[, "M1"], x$true == 2, 15)
  first <- table[table$bin == 1, ]
  expect_identical(first$n, 2L)
  expect_equal(first$mean_pmp, 1e-12 / 2)
  expect_identical(first$observed, 0)
  last <- table[table$bin == 15, ]
  # 14/15, 1, 1, 0.99, 1 - 1e-12 all lie in [14/15, 1]
  expect_identical(last$n, 5L)
  expect_identical(last$observed, 1)
  tie <- table[table$bin == 8, ]
  # 0.5, 0.5 and 7/15 in [7/15, 8/15); 8/15 opens bin 9
  expect_identical(tie$n, 3L)
  expect_equal(tie$observed, 2 / 3)
  expect_identical(table[table$bin == 9, "n"], 1L)
  expect_false(any(table$bin %in% c(6, 10, 11, 12, 13, 14)))
})

test_that("ECE matches a hand computation, per model", {
  x <- metric_inputs()
  ece <- deepbmc:::compute_metric("ece", x$true, pmp = x$pmp, bins = 15)
  expect_named(ece, c("M0", "M1"))
  expect_equal(unname(ece), ref_ece(x$pmp, x$true, 15), tolerance = 1e-14)
  y <- three_model_inputs()
  for (bins in c(1, 4, 15)) {
    ece3 <- deepbmc:::compute_metric("ece", y$true, pmp = y$pmp, bins = bins)
    expect_named(ece3, c("a", "b", "c"))
    expect_equal(unname(ece3), ref_ece(y$pmp, y$true, bins), tolerance = 1e-14,
                 label = paste(bins, "bins"))
  }
  # one bin: |share of the model - mean PMP|
  expect_equal(unname(deepbmc:::compute_metric("ece", y$true, pmp = y$pmp, bins = 1)),
               abs(tabulate(y$true, 3) / 6 - unname(colMeans(y$pmp))),
               tolerance = 1e-15)
  # certain and right is perfectly calibrated
  expect_identical(unname(deepbmc:::compute_metric("ece", 1:2, pmp = diag(2), bins = 10)), c(0, 0))
})

test_that("ECE shrinks with n for a calibrated predictor, not for an overconfident one", {
  ece_of <- function(n, sharpen = 1) {
    withr::local_seed(2024)
    p <- stats::runif(n)
    # labels drawn from the predictor's own probabilities
    true <- ifelse(stats::runif(n) < p, 2L, 1L)
    shown <- stats::plogis(sharpen * stats::qlogis(p))
    deepbmc:::compute_metric("ece", true, pmp = cbind(M0 = 1 - shown, M1 = shown), bins = 10)[["M1"]]
  }
  small <- ece_of(1e3)
  large <- ece_of(1e5)
  expect_lt(large, 0.01)
  expect_lt(large, small / 3)
  overconfident <- ece_of(1e5, sharpen = 3)
  expect_gt(overconfident, 0.1)
  expect_gt(overconfident, 10 * large)
  # an underconfident predictor is miscalibrated too
  expect_gt(ece_of(1e5, sharpen = 0.3), 0.1)
})

test_that("the confusion matrix counts true against predicted models", {
  y <- three_model_inputs()
  confusion <- deepbmc:::confusion_matrix(y$pmp, y$true)
  expect_identical(names(dimnames(confusion)), c("true", "predicted"))
  expect_identical(dimnames(confusion)$true, c("a", "b", "c"))
  expected <- matrix(0L, 3, 3)
  predicted <- c(1L, 2L, 1L, 1L, 3L, 1L)
  for (i in seq_along(predicted)) {
    expected[y$true[[i]], predicted[[i]]] <- expected[y$true[[i]], predicted[[i]]] + 1L
  }
  expect_identical(matrix(as.integer(confusion), 3), expected)
})

ref_mce <- function(pmp, true, bins) {
  vapply(seq_len(ncol(pmp)), function(k) {
    table <- ref_calibration(pmp[, k], true == k, bins)
    max(abs(table$observed - table$mean_pmp))
  }, numeric(1))
}

ref_recall <- function(pmp, true) {
  vapply(seq_len(ncol(pmp)), function(k) {
    mine <- which(true == k)
    if (length(mine) == 0) return(NA_real_)
    hits <- 0
    for (i in mine) hits <- hits + (which.max(pmp[i, ]) == k)
    hits / length(mine)
  }, numeric(1))
}

test_that("MCE and recall match hand computations, with ties and empty bins", {
  x <- metric_inputs()
  y <- three_model_inputs()
  for (bins in c(1, 4, 10, 15)) {
    expect_equal(unname(deepbmc:::compute_metric("mce", x$true, pmp = x$pmp, bins = bins)),
                 ref_mce(x$pmp, x$true, bins), tolerance = 1e-14)
    expect_equal(unname(deepbmc:::compute_metric("mce", y$true, pmp = y$pmp, bins = bins)),
                 ref_mce(y$pmp, y$true, bins), tolerance = 1e-14)
  }
  expect_named(deepbmc:::compute_metric("mce", y$true, pmp = y$pmp, bins = 10), c("a", "b", "c"))
  # MCE bounds ECE, and both are 0 for a certain, correct predictor
  expect_true(all(deepbmc:::compute_metric("mce", x$true, pmp = x$pmp, bins = 15) >=
                    deepbmc:::compute_metric("ece", x$true, pmp = x$pmp, bins = 15)))
  expect_identical(unname(deepbmc:::compute_metric("mce", 1:3, pmp = diag(3), bins = 10)), c(0, 0, 0))

  expect_equal(unname(deepbmc:::compute_metric("recall", x$true, pmp = x$pmp)),
               ref_recall(x$pmp, x$true), tolerance = 1e-15)
  recall <- deepbmc:::compute_metric("recall", y$true, pmp = y$pmp)
  # by hand: predicted 1, 2, 1, 1, 3, 1 against 2, 2, 1, 3, 3, 2
  expect_equal(unname(recall), c(1, 1 / 3, 1 / 2))
  expect_named(recall, c("a", "b", "c"))
  # a model without data sets has no recall
  expect_identical(unname(deepbmc:::compute_metric("recall", y$true[1:2], pmp = y$pmp[1:2, ])[[1]]),
                   NA_real_)
})

test_that("all metrics at once agree with the single metrics, on any rows", {
  y <- three_model_inputs()
  inputs <- deepbmc:::prepare_metrics(y$pmp, log(pmax(y$pmp, 1e-300)), y$true, 4)
  all_rows <- deepbmc:::metric_values(inputs)
  expect_named(all_rows, c("accuracy", "log_score", "brier", "blind_bf",
                           "log_bf_error",
                           paste0(rep(c("ece_", "mce_", "recall_"), each = 3),
                                  c("a", "b", "c"))))
  expect_equal(all_rows[["accuracy"]], ref_accuracy(y$pmp, y$true))
  expect_equal(all_rows[["brier"]], ref_brier(y$pmp, y$true), tolerance = 1e-14)
  expect_equal(unname(all_rows[paste0("ece_", c("a", "b", "c"))]),
               ref_ece(y$pmp, y$true, 4), tolerance = 1e-14)
  # a resample with repeats is the same as the data sets written out
  rows <- c(1L, 1L, 3L, 5L, 6L, 6L, 6L)
  resampled <- deepbmc:::metric_values(inputs, rows)
  expect_equal(resampled[["accuracy"]], ref_accuracy(y$pmp[rows, ], y$true[rows]))
  expect_equal(unname(resampled[paste0("ece_", c("a", "b", "c"))]),
               ref_ece(y$pmp[rows, ], y$true[rows], 4), tolerance = 1e-14)
  expect_equal(unname(resampled[paste0("mce_", c("a", "b", "c"))]),
               ref_mce(y$pmp[rows, ], y$true[rows], 4), tolerance = 1e-14)
  expect_equal(unname(resampled[paste0("recall_", c("a", "b", "c"))]),
               ref_recall(y$pmp[rows, ], y$true[rows]), tolerance = 1e-14)
  # the blind test, by hand: over the data sets of the first model, the mean
  # over the other models of their PMP ratio to the first (uniform prior)
  ref_blind <- function(pmp, true) {
    first <- pmp[true == 1, , drop = FALSE]
    mean(first[, -1] / first[, 1])
  }
  expect_equal(all_rows[["blind_bf"]], ref_blind(y$pmp, y$true), tolerance = 1e-12)
  expect_equal(resampled[["blind_bf"]], ref_blind(y$pmp[rows, ], y$true[rows]),
               tolerance = 1e-12)
  # the log BF error against references (NA without them)
  expect_identical(all_rows[["log_bf_error"]], NA_real_)
  reference <- matrix(c(0, 0, 0, 0, 0, 0, 1:6, -(1:6)), 6)
  with_reference <- deepbmc:::prepare_metrics(y$pmp, log(pmax(y$pmp, 1e-300)), y$true,
                                              4, reference)
  log_bf <- log(pmax(y$pmp, 1e-300)) - log(pmax(y$pmp[, 1], 1e-300))
  expect_equal(deepbmc:::metric_values(with_reference)[["log_bf_error"]],
               mean(abs(log_bf[, -1] - reference[, -1])), tolerance = 1e-12)
})

test_that("Wilson intervals match prop.test() without continuity correction", {
  for (case in list(c(0, 5), c(5, 5), c(3, 10), c(47, 120), c(1, 1))) {
    for (level in c(0.8, 0.95, 0.99)) {
      reference <- suppressWarnings(
        stats::prop.test(case[[1]], case[[2]], conf.level = level,
                         correct = FALSE)$conf.int
      )
      got <- deepbmc:::wilson_interval(case[[1]], case[[2]], level)
      expect_equal(c(got$low, got$high), as.vector(reference), tolerance = 1e-10,
                   label = paste(case, collapse = "/"))
    }
  }
  x <- metric_inputs()
  table <- deepbmc:::calibration_table(x$pmp[, 2], x$true == 2, 15)
  expect_true(all(table$conf_low <= table$observed & table$observed <= table$conf_high))
  expect_true(all(table$conf_low >= 0 & table$conf_high <= 1))
})

test_that("the consistency test accepts calibrated PMPs and flags overconfident ones", {
  withr::local_seed(11)
  n <- 4000
  p <- stats::runif(n)
  true <- ifelse(stats::runif(n) < p, 2L, 1L)
  calibrated <- cbind(M0 = 1 - p, M1 = p)
  shown <- stats::plogis(3 * stats::qlogis(p))
  overconfident <- cbind(M0 = 1 - shown, M1 = shown)
  validate_pmp <- function(pmp) {
    held_out <- list(logits = log(pmp), model = true, groups = rep(1L, n),
                     obs = rep(1, n), source = "data")
    deepbmc:::validation_from_logits(
      held_out, c("M0", "M1"),
      list(bins = 10, boot = 200, level = 0.95, seed = 5)
    )
  }
  good <- validate_pmp(calibrated)
  bad <- validate_pmp(overconfident)
  expect_true(all(good$calibration_test$p_value > 0.01))
  expect_true(all(bad$calibration_test$p_value < 0.01))
  # the smallest possible p-value with 200 draws
  expect_equal(bad$calibration_test$p_value, rep(1 / 201, 2))
  expect_true(all(good$calibration_test$ece <= good$calibration_test$null_upper))
  expect_output(print(good), "consistent with calibrated PMPs at the 1% level")
  expect_output(print(bad), "Miscalibrated (p < 0.01): M0", fixed = TRUE)
  # the null ECEs of calibrated predictors match an independent simulation
  null <- replicate(200, {
    drawn <- ifelse(stats::runif(n) < p, 2L, 1L)
    ref_ece(calibrated, drawn, 10)[[2]]
  })
  expect_equal(good$calibration_test$null_median[[2]], stats::median(null),
               tolerance = 0.15)
})

test_that("percentile bootstrap intervals match an independent bootstrap", {
  y <- metric_inputs()
  n <- nrow(y$pmp)
  held_out <- list(logits = log(pmax(y$pmp, 1e-300)), model = y$true,
                   groups = rep(1L, n), obs = rep(1, n), source = "data")
  v <- deepbmc:::validation_from_logits(
    held_out, c("M0", "M1"), list(bins = 15, boot = 300, level = 0.9, seed = 8)
  )
  # the same resamples, drawn and evaluated here
  withr::local_seed(8)
  replicates <- t(replicate(300, {
    rows <- sample.int(n, n, replace = TRUE)
    pmp <- v$pmp[rows, ]
    true <- y$true[rows]
    c(ref_accuracy(pmp, true), ref_brier(pmp, true), ref_ece(pmp, true, 15),
      ref_recall(pmp, true))
  }))
  probs <- c(0.05, 0.95)
  table <- as.data.frame(v)
  row <- function(metric, model = NA) {
    table[table$metric == metric & (is.na(table$model) & is.na(model) |
                                      table$model %in% model), ]
  }
  expect_equal(c(row("accuracy")$conf_low, row("accuracy")$conf_high),
               unname(quantile(replicates[, 1], probs)), tolerance = 1e-12)
  expect_equal(c(row("brier")$conf_low, row("brier")$conf_high),
               unname(quantile(replicates[, 2], probs)), tolerance = 1e-12)
  expect_equal(c(row("ece", "M1")$conf_low, row("ece", "M1")$conf_high),
               unname(quantile(replicates[, 4], probs)), tolerance = 1e-12)
  expect_equal(c(row("recall", "M0")$conf_low, row("recall", "M0")$conf_high),
               unname(quantile(replicates[, 5], probs, na.rm = TRUE)),
               tolerance = 1e-12)
  # every estimate is the metric on all data sets
  expect_equal(row("ece", "M0")$estimate, ref_ece(v$pmp, y$true, 15)[[1]],
               tolerance = 1e-12)
  expect_equal(row("recall", "M1")$estimate, ref_recall(v$pmp, y$true)[[2]])
})

test_that("bootstrap intervals cover the truth about as often as they claim", {
  withr::local_seed(21)
  # a predictor whose expected accuracy is known: labels drawn from its PMPs,
  # so accuracy = E[max(p, 1 - p)] = 3/4 for p ~ U(0, 1)
  covered <- replicate(60, {
    n <- 300
    p <- stats::runif(n)
    true <- ifelse(stats::runif(n) < p, 2L, 1L)
    held_out <- list(logits = log(cbind(1 - p, p)), model = true,
                     groups = rep(1L, n), obs = rep(1, n), source = "data")
    v <- deepbmc:::validation_from_logits(
      held_out, c("M0", "M1"),
      list(bins = 10, boot = 100, level = 0.9, seed = stats::runif(1) * 1e6)
    )
    accuracy <- v$estimates[v$estimates$metric == "accuracy", ]
    accuracy$conf_low <= 0.75 && 0.75 <= accuracy$conf_high
  })
  # 90% intervals: 54 of 60 expected; fewer than 45 would be a broken bootstrap
  expect_gt(sum(covered), 45)
  expect_lt(sum(covered), 60)
})

# --- validate() ---------------------------------------------------------------

test_that("validate() returns the documented structure, consistent with its metrics", {
  fit <- api_fit()
  v <- validate(fit, n = 400, seed = 31, threads = 2, boot = 50)
  expect_s3_class(v, "deepbmc_validation", exact = TRUE)
  expect_named(v, c("model", "predicted", "logits", "log_pmp", "pmp", "groups",
                    "obs", "metrics", "estimates", "confusion",
                    "confusion_share", "calibration", "calibration_test", "n",
                    "bins", "boot", "level", "seed", "source",
                    "reference_log_bf", "log_bf_bins", "network_checksum"))
  expect_type(v$model, "integer")
  expect_type(v$predicted, "integer")
  expect_true(all(v$model %in% 1:2) && all(v$predicted %in% 1:2))
  for (m in v[c("logits", "log_pmp", "pmp")]) {
    expect_identical(dim(m), c(400L, 2L))
    expect_identical(colnames(m), c("M0", "M1"))
    expect_true(all(is.finite(m)))
  }
  expect_equal(rowSums(v$pmp), rep(1, 400), tolerance = 1e-12)
  expect_equal(v$log_pmp, log(v$pmp), tolerance = 1e-12)
  expect_equal(v$pmp[, 2] / v$pmp[, 1], exp(v$logits[, 2] - v$logits[, 1]),
               tolerance = 1e-10)
  expect_identical(v$predicted, apply(v$logits, 1, which.max))
  # sizes within the model set's ranges (2 to 20 groups, 1 to 20 observations)
  expect_type(v$groups, "integer")
  expect_true(all(v$groups >= 2 & v$groups <= 20))
  expect_true(all(v$obs >= 1 & v$obs <= 20))
  expect_gt(length(unique(v$groups)), 5)
  expect_identical(v$n, 400L)
  expect_identical(v$bins, 10L)
  expect_identical(v$boot, 50L)
  expect_identical(v$level, 0.95)
  expect_identical(v$seed, 31)
  expect_identical(v$source, "simulated")

  # metrics, recomputed here
  expect_named(v$metrics, c("accuracy", "log_score", "brier", "blind_bf",
                            "log_bf_error", "ece", "mce", "recall"))
  # the blind test (issue 14): mean BF of M1 vs M0 over the M0 data sets;
  # log BF errors need reference values
  m0 <- v$model == 1
  expect_equal(v$metrics$blind_bf,
               mean(exp(v$logits[m0, 2] - v$logits[m0, 1])), tolerance = 1e-12)
  expect_identical(v$metrics$log_bf_error, NA_real_)
  expect_null(v$reference_log_bf)
  expect_null(v$log_bf_bins)
  expect_equal(v$metrics$accuracy, ref_accuracy(v$pmp, v$model), tolerance = 1e-15)
  expect_equal(v$metrics$log_score, ref_log_score(v$log_pmp, v$model),
               tolerance = 1e-12)
  expect_equal(v$metrics$brier, ref_brier(v$pmp, v$model), tolerance = 1e-12)
  for (metric in c("ece", "mce", "recall")) {
    expect_named(v$metrics[[metric]], c("M0", "M1"))
  }
  expect_equal(unname(v$metrics$ece), ref_ece(v$pmp, v$model, 10),
               tolerance = 1e-12)
  expect_equal(unname(v$metrics$mce), ref_mce(v$pmp, v$model, 10),
               tolerance = 1e-12)
  expect_equal(unname(v$metrics$recall), ref_recall(v$pmp, v$model),
               tolerance = 1e-15)

  # the table of estimates and intervals
  table <- v$estimates
  expect_named(table, c("metric", "model", "estimate", "conf_low", "conf_high"))
  expect_identical(table$metric, c("accuracy", "log_score", "brier",
                                   "blind_bf", "log_bf_error",
                                   rep(c("ece", "mce", "recall"), each = 2)))
  expect_identical(table$model, c(NA, NA, NA, NA, NA, rep(c("M0", "M1"), 3)))
  expect_equal(table$estimate,
               c(v$metrics$accuracy, v$metrics$log_score, v$metrics$brier,
                 v$metrics$blind_bf, v$metrics$log_bf_error,
                 unname(v$metrics$ece), unname(v$metrics$mce),
                 unname(v$metrics$recall)))
  # only the log BF error, which needs reference values, is NA here
  known <- !is.na(table$estimate)
  expect_identical(table$metric[!known], "log_bf_error")
  expect_true(all(is.na(table$conf_low[!known])))
  expect_true(all(table$conf_low[known] <= table$conf_high[known]))
  expect_true(all((table$conf_low < table$estimate + 1e-12 |
                     table$metric %in% c("ece", "mce"))[known]))
  expect_identical(as.data.frame(v), table)
  summary_table <- summary(v)
  expect_s3_class(summary_table, "summary.deepbmc_validation")
  expect_identical(as.data.frame(unclass(summary_table))[names(table)],
                   as.data.frame(unclass(table)))
  expect_output(print(summary_table), "ece +M1")

  # confusion counts and shares
  expect_identical(sum(v$confusion), 400L)
  expect_equal(as.vector(rowSums(v$confusion)), tabulate(v$model, 2))
  expect_equal(sum(diag(v$confusion)) / 400, v$metrics$accuracy)
  expect_equal(unclass(v$confusion_share),
               unclass(prop.table(v$confusion, 1)), ignore_attr = TRUE)
  expect_equal(diag(unclass(v$confusion_share)), unname(v$metrics$recall),
               ignore_attr = TRUE)

  # calibration data as calibration_curve() gives it
  expect_identical(calibration_curve(v), v$calibration)
  expect_named(v$calibration, c("model", "bin", "bin_lower", "bin_upper", "n",
                                "mean_pmp", "observed", "conf_low", "conf_high"))
  expect_identical(levels(v$calibration$model), c("M0", "M1"))
  for (k in 1:2) {
    part <- v$calibration[v$calibration$model == c("M0", "M1")[[k]], ]
    expected <- ref_calibration(v$pmp[, k], v$model == k, 10)
    expect_identical(part$bin, as.integer(expected$bin))
    expect_identical(part$n, expected$n)
    expect_equal(part$mean_pmp, expected$mean_pmp, tolerance = 1e-12)
    expect_equal(part$observed, expected$observed, tolerance = 1e-12)
  }
  expect_named(v$calibration_test, c("model", "ece", "null_median",
                                     "null_upper", "p_value"))

  df <- as.data.frame(v, what = "data_sets")
  expect_identical(names(df), c("true", "predicted", "groups", "obs", "pmp_M0",
                                "pmp_M1"))
  expect_identical(nrow(df), 400L)
  expect_identical(levels(df$true), c("M0", "M1"))
  expect_identical(as.integer(df$true), v$model)
  expect_identical(as.integer(df$predicted), v$predicted)
  expect_identical(df$pmp_M1, unname(v$pmp[, "M1"]))

  # other bin counts, levels; boot = 0 skips the intervals
  v5 <- validate(fit, n = 400, seed = 31, bins = 5, boot = 0)
  expect_identical(v5$pmp, v$pmp)
  expect_true(all(v5$calibration$bin %in% 1:5))
  expect_equal(unname(v5$metrics$ece), ref_ece(v$pmp, v$model, 5),
               tolerance = 1e-12)
  expect_true(all(is.na(v5$estimates$conf_low)))
  expect_true(all(is.na(v5$calibration_test$p_value)))
  expect_identical(calibration_curve(v, bins = 5, level = 0.95), v5$calibration)
  wide <- calibration_curve(v, level = 0.99)
  expect_true(all(wide$conf_high - wide$conf_low >
                    v$calibration$conf_high - v$calibration$conf_low - 1e-12))
})

test_that("calibration_curve() takes any PMP matrix with true models", {
  x <- metric_inputs()
  curve <- calibration_curve(x$pmp, true_model = x$true, bins = 15)
  for (k in 1:2) {
    part <- curve[curve$model == c("M0", "M1")[[k]], ]
    expected <- ref_calibration(x$pmp[, k], x$true == k, 15)
    expect_identical(part$n, expected$n)
    expect_equal(part$observed, expected$observed)
    expect_equal(part$mean_pmp, expected$mean_pmp, tolerance = 1e-14)
  }
  # names of the true models, and unnamed columns
  by_name <- calibration_curve(x$pmp, true_model = c("M0", "M1")[x$true],
                               bins = 15)
  expect_identical(by_name, curve)
  unnamed <- calibration_curve(unname(x$pmp), true_model = x$true, bins = 15)
  expect_identical(levels(unnamed$model), c("M1", "M2"))
  expect_deepbmc_error(calibration_curve(x$pmp, true_model = x$true[-1]),
                       "mismatch", "true_model")
  expect_deepbmc_error(calibration_curve(x$pmp, true_model = x$true + 5L),
                       "value", "true_model")
  expect_deepbmc_error(calibration_curve(x$pmp, true_model = rep("M9", 16)),
                       "value", "true_model")
  expect_deepbmc_error(calibration_curve(x$pmp * 2, true_model = x$true),
                       "value", "x")
  bad <- x$pmp
  bad[1, 1] <- NA
  expect_deepbmc_error(calibration_curve(bad, true_model = x$true), "value", "x")
  expect_deepbmc_error(calibration_curve(x$pmp[, 1, drop = FALSE], x$true),
                       "type", "x")
  expect_deepbmc_error(calibration_curve(x$pmp, x$true, bins = 0), "value", "bins")
  expect_deepbmc_error(calibration_curve(x$pmp, x$true, level = 1), "value",
                       "level")
  expect_deepbmc_error(calibration_curve("pmp"), "type", "x")
})

test_that("validate() is reproducible and uses simulate_datasets()' data sets", {
  fit <- api_fit()
  v <- validate(fit, n = 300, seed = 77, threads = 1)
  expect_identical(validate(fit, n = 300, seed = 77, threads = 2), v)
  other <- validate(fit, n = 300, seed = 78)
  expect_false(identical(other$model, v$model))

  sims <- simulate_datasets(fit$models, n = 300, seed = 77)
  expect_identical(v$model, sims$model)
  expect_identical(v$groups, vapply(sims$data, nrow, integer(1)))
  expect_equal(v$obs, vapply(sims$data, ncol, integer(1)) * 1.0)
  expect_equal(post_prob(fit, sims, log = TRUE), v$log_pmp, tolerance = 1e-6)
  expect_equal(post_prob(fit, sims), v$pmp, tolerance = 1e-6)

  # seed = NULL follows set.seed()
  withr::local_preserve_seed()
  set.seed(3)
  a <- validate(fit, n = 50)
  set.seed(3)
  expect_identical(validate(fit, n = 50), a)
})

test_that("validate() stays finite for overwhelmingly confident networks", {
  fit <- shift_logits(api_fit(), c(0, 3000))
  v <- validate(fit, n = 200, seed = 5)
  expect_true(all(v$predicted == 2L))
  expect_true(all(is.finite(v$log_pmp)))
  share_m0 <- mean(v$model == 1)
  expect_equal(v$metrics$accuracy, 1 - share_m0)
  # every M0 data set costs about 3000 in log score
  expect_equal(v$metrics$log_score, 3000 * share_m0, tolerance = 1e-3)
  expect_equal(v$metrics$brier, 2 * share_m0, tolerance = 1e-12)
  expect_equal(unname(v$metrics$ece), rep(share_m0, 2), tolerance = 1e-12)
})

test_that("printing shows the metrics with intervals and the confusion matrix", {
  fit <- api_fit()
  v <- validate(fit, n = 300, seed = 9, boot = 40)
  out <- capture.output(res <- print(v))
  expect_identical(res, v)
  expect_match(out[[1]], "300 simulated data sets, seed 9; 95% intervals from 40 bootstrap resamples",
               fixed = TRUE)
  one <- capture.output(print(validate(fit, n = 1, seed = 9, boot = 0)))
  expect_match(one[[1]], "1 simulated data set, seed 9$")
  text <- paste(out, collapse = "\n")
  row <- function(metric, model = NULL) {
    table <- v$estimates
    table[table$metric == metric & (if (is.null(model)) is.na(table$model) else
      table$model %in% model), ]
  }
  shown <- function(r, digits) {
    paste0(formatC(r$estimate, digits = digits, format = "f"), " [",
           formatC(r$conf_low, digits = digits, format = "f"), ", ",
           formatC(r$conf_high, digits = digits, format = "f"), "]")
  }
  expect_match(text, paste("Accuracy: ", shown(row("accuracy"), 3)), fixed = TRUE)
  expect_match(text, paste("Log score:", shown(row("log_score"), 4)), fixed = TRUE)
  expect_match(text, paste("Brier:    ", shown(row("brier"), 4)), fixed = TRUE)
  expect_match(text, "Per model (ECE and MCE with 10 bins):", fixed = TRUE)
  m1_line <- out[grepl("^M1 ", out)]
  expect_length(m1_line, 1)
  expect_match(m1_line, shown(row("recall", "M1"), 3), fixed = TRUE)
  expect_match(m1_line, shown(row("ece", "M1"), 4), fixed = TRUE)
  expect_match(m1_line, shown(row("mce", "M1"), 4), fixed = TRUE)
  expect_match(text, "Confusion matrix (rows: true, columns: predicted)",
               fixed = TRUE)
  expect_match(text, paste0("M0 +", v$confusion[1, 1], " +", v$confusion[1, 2]))
})

test_that("validate() accepts held-out data sets with their true models", {
  fit <- api_fit()
  sims <- simulate_datasets(fit$models, n = 300, seed = 41)
  simulated <- validate(fit, n = 300, seed = 41, boot = 30)
  from_sims <- validate(fit, data = sims, seed = 41, boot = 30)
  from_list <- validate(fit, data = sims$data, true_model = sims$model,
                        seed = 41, boot = 30)
  by_name <- validate(fit, data = sims$data,
                      true_model = c("M0", "M1")[sims$model], seed = 41,
                      boot = 30)
  expect_identical(from_sims$source, "data")
  expect_identical(from_list, from_sims)
  expect_identical(by_name, from_sims)
  expect_identical(from_sims$model, simulated$model)
  expect_identical(from_sims$groups, simulated$groups)
  expect_equal(from_sims$obs, simulated$obs)
  # through R's float conversion rather than C++ simulation: equal to rounding
  expect_equal(from_sims$log_pmp, simulated$log_pmp, tolerance = 1e-6)
  expect_equal(from_sims$estimates$estimate, simulated$estimates$estimate,
               tolerance = 1e-5)
  expect_match(capture.output(print(from_sims))[[1]], "300 held-out data sets;",
               fixed = TRUE)

  # data sets of uneven sizes, with missing values
  uneven <- list(
    list(c(0.1, 0.5), c(1, 2, 3), 0.3),
    matrix(c(0.2, NA, 0.4, 0.1, 0.3, 0.2), nrow = 2),
    data.frame(group = c(1, 1, 2, 2, 3), y = c(0.5, 0.4, 1.2, 0.9, 1.1))
  )
  v <- validate(fit, data = uneven, true_model = c(1, 2, 2), boot = 0)
  expect_identical(v$groups, c(3L, 2L, 3L))
  expect_equal(v$obs, c(2, 2.5, 5 / 3))
  expect_equal(v$pmp, post_prob(fit, uneven), tolerance = 1e-12,
               ignore_attr = TRUE)

  expect_deepbmc_error(validate(fit, data = sims$data), "type", "true_model")
  expect_deepbmc_error(validate(fit, data = sims$data, true_model = 1:2),
                       "mismatch", "true_model")
  expect_deepbmc_error(validate(fit, data = uneven, true_model = c(1, 3, 2)),
                       "value", "true_model")
  expect_deepbmc_error(validate(fit, data = uneven, true_model = c(1, NA, 2)),
                       "value", "true_model")
  expect_deepbmc_error(validate(fit, data = uneven, true_model = c("M0", "x", "M1")),
                       "value", "true_model")
  expect_deepbmc_error(validate(fit, data = uneven, true_model = list(1, 2, 2)),
                       "type", "true_model")
  expect_deepbmc_error(validate(fit, true_model = 1), "mismatch", "true_model")
  expect_deepbmc_error(validate(fit, data = sims, groups = 5), "mismatch", "groups")
  expect_deepbmc_error(validate(fit, data = list(1, "a"), true_model = 1:2),
                       "data", "data")
  other <- simulate_datasets(three_model_fit()$models, n = 5, seed = 1)
  expect_deepbmc_error(validate(fit, data = other), "mismatch", "data")
})

test_that("validate() simulates at other sizes, warning outside the training sizes", {
  fit <- api_fit()
  fixed <- validate(fit, n = 200, groups = 7, obs = 4, seed = 3, boot = 0)
  expect_identical(fixed$groups, rep(7L, 200))
  expect_identical(fixed$obs, rep(4, 200))
  ranged <- validate(fit, n = 200, groups = c(3, 6), seed = 3, boot = 0)
  expect_true(all(ranged$groups >= 3 & ranged$groups <= 6))
  expect_true(all(ranged$obs >= 1 & ranged$obs <= 20))
  # the same simulations as a model set of these sizes
  sims <- simulate_datasets(normal_nested_models(groups = 7, obs = 4), n = 200,
                            seed = 3)
  expect_identical(fixed$model, sims$model)
  expect_equal(fixed$pmp, post_prob(fit, sims), tolerance = 1e-6)
  expect_warning(validate(fit, n = 50, groups = 40, seed = 1, boot = 0),
                 class = "deepbmc_extrapolation_warning")
  expect_warning(validate(fit, n = 50, obs = c(10, 30), seed = 1, boot = 0),
                 class = "deepbmc_extrapolation_warning")
  expect_no_warning(validate(fit, n = 50, groups = c(2, 20), obs = 20, seed = 1,
                             boot = 0))
})

test_that("validate_sizes() gives validate()'s metrics in every cell", {
  fit <- api_fit()
  sweep <- validate_sizes(fit, groups = c(2, 12), obs = c(3, 1, 20), n = 150,
                          seed = 17, bins = 8)
  expect_s3_class(sweep, c("deepbmc_size_sweep", "data.frame"), exact = TRUE)
  expect_named(sweep, c("groups", "obs", "n", "accuracy", "log_score", "brier",
                        "ece", "mce"))
  expect_s3_class(sweep[c("groups", "ece")], "data.frame", exact = TRUE)
  expect_identical(nrow(sweep), 6L)
  expect_identical(sweep$groups, rep(c(2L, 12L), 3))
  expect_identical(sweep$obs, rep(c(1L, 3L, 20L), each = 2))
  for (i in seq_len(nrow(sweep))) {
    v <- validate(fit, n = 150, groups = sweep$groups[[i]], obs = sweep$obs[[i]],
                  seed = 17, bins = 8, boot = 0)
    expect_equal(sweep$accuracy[[i]], v$metrics$accuracy)
    expect_equal(sweep$log_score[[i]], v$metrics$log_score)
    expect_equal(sweep$brier[[i]], v$metrics$brier)
    expect_equal(sweep$ece[[i]], mean(ref_ece(v$pmp, v$model, 8)))
    expect_equal(sweep$mce[[i]], mean(ref_mce(v$pmp, v$model, 8)))
  }
  # more data, more evidence: 12 groups of 20 beat 2 groups of 1
  expect_lt(sweep$log_score[sweep$groups == 12 & sweep$obs == 20],
            sweep$log_score[sweep$groups == 2 & sweep$obs == 1])
  expect_output(print(sweep), "6 sizes x 150 simulated data sets")

  # default grid: up to five values over the training ranges (2-20, 1-20)
  expect_warning(
    outside <- validate_sizes(fit, groups = c(10, 40), obs = 5, n = 20, seed = 1),
    class = "deepbmc_extrapolation_warning"
  )
  expect_identical(outside$groups, c(10L, 40L))
  grid <- validate_sizes(fit, n = 10, seed = 1)
  expect_identical(sort(unique(grid$groups)), c(2L, 6L, 11L, 16L, 20L))
  expect_identical(sort(unique(grid$obs)), c(1L, 6L, 10L, 15L, 20L))

  expect_deepbmc_error(validate_sizes(fit, groups = c(2, NA)), "value", "groups")
  expect_deepbmc_error(validate_sizes(fit, groups = 0), "value", "groups")
  expect_deepbmc_error(validate_sizes(fit, obs = "5"), "type", "obs")
  expect_deepbmc_error(validate_sizes(fit, obs = numeric(0)), "type", "obs")
  expect_deepbmc_error(validate_sizes(fit, obs = 2.5), "value", "obs")
  expect_deepbmc_error(validate_sizes(fit, n = 0), "value", "n")
  expect_deepbmc_error(validate_sizes(fit, groups = 1e4, obs = 1e4), "value")
  expect_deepbmc_error(validate_sizes("fit"), "fit", "fit")
})

test_that("bad arguments to validate() are classed errors naming the argument", {
  fit <- api_fit()
  for (n in list(0, -5, 2.5, Inf, NA_real_, 1e7 + 1)) {
    expect_deepbmc_error(validate(fit, n = n), "value", "n", label = deparse(n))
  }
  for (n in list(NA, "10", c(10, 20))) {
    expect_deepbmc_error(validate(fit, n = n), "type", "n", label = deparse(n))
  }
  expect_deepbmc_error(validate(fit, n = 10, seed = -1), "value", "seed")
  expect_deepbmc_error(validate(fit, n = 10, seed = 0.5), "value", "seed")
  expect_deepbmc_error(validate(fit, n = 10, seed = "1"), "type", "seed")
  expect_deepbmc_error(validate(fit, n = 10, threads = 0), "value", "threads")
  expect_deepbmc_error(validate(fit, n = 10, threads = NA), "type", "threads")
  expect_deepbmc_error(validate(fit, n = 10, bins = 0), "value", "bins")
  expect_deepbmc_error(validate(fit, n = 10, bins = 1001), "value", "bins")
  expect_deepbmc_error(validate(fit, n = 10, bins = 1.5), "value", "bins")
  expect_deepbmc_error(validate(fit, n = 10, bins = NA), "type", "bins")
  expect_deepbmc_error(validate(fit, n = 10, boot = -1), "value", "boot")
  expect_deepbmc_error(validate(fit, n = 10, boot = NA), "type", "boot")
  expect_deepbmc_error(validate(fit, n = 10, level = 0), "value", "level")
  expect_deepbmc_error(validate(fit, n = 10, level = NA_real_), "value", "level")
  expect_deepbmc_error(validate(fit, n = 10, level = "0.9"), "type", "level")
  expect_deepbmc_error(validate(fit, n = 10, groups = 0), "value", "groups")
  expect_deepbmc_error(validate(fit, n = 10, groups = c(5, 2)), "value", "groups")
  expect_deepbmc_error(validate(fit, n = 10, obs = NA), "type", "obs")
  expect_deepbmc_error(validate(fit, n = 10, obs = Inf), "value", "obs")
  expect_deepbmc_error(validate(api_models(), n = 10), "fit", "fit")
  expect_deepbmc_error(validate("fit", n = 10), "fit", "fit")
})
