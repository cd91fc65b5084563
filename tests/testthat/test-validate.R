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
    data.frame(bin = b, lower = (b - 1) / bins, upper = b / bins,
               n = sum(inside), predicted = mean(p[inside]),
               observed = mean(is_true[inside]))
  })
  do.call(rbind, rows)
}

ref_ece <- function(pmp, true, bins) {
  vapply(seq_len(ncol(pmp)), function(k) {
    table <- ref_calibration(pmp[, k], true == k, bins)
    sum(table$n * abs(table$observed - table$predicted)) / nrow(pmp)
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
  expect_equal(deepbmc:::metric_accuracy(x$pmp, x$true),
               ref_accuracy(x$pmp, x$true), tolerance = 1e-15)
  y <- three_model_inputs()
  acc <- deepbmc:::metric_accuracy(y$pmp, y$true)
  expect_equal(acc, ref_accuracy(y$pmp, y$true), tolerance = 1e-15)
  # by hand: predicted 1, 2, 1, 1, 3, 1 against 2, 2, 1, 3, 3, 2
  expect_equal(acc, 3 / 6)
  expect_identical(deepbmc:::metric_accuracy(diag(3), 1:3), 1)
  expect_identical(deepbmc:::metric_accuracy(diag(3), c(2L, 3L, 1L)), 0)
})

test_that("log score and Brier score match hand computations", {
  x <- metric_inputs()
  expect_equal(deepbmc:::metric_log_score(x$log_pmp, x$true),
               ref_log_score(x$log_pmp, x$true), tolerance = 1e-14)
  expect_equal(deepbmc:::metric_brier(x$pmp, x$true), ref_brier(x$pmp, x$true),
               tolerance = 1e-14)
  y <- three_model_inputs()
  expect_equal(deepbmc:::metric_brier(y$pmp, y$true), ref_brier(y$pmp, y$true),
               tolerance = 1e-14)
  # by hand for two rows: perfect (0) and completely wrong (2)
  perfect_and_wrong <- rbind(c(1, 0), c(1, 0))
  expect_identical(deepbmc:::metric_brier(perfect_and_wrong, c(1L, 2L)), 1)
  expect_equal(deepbmc:::metric_log_score(log(rbind(c(0.5, 0.5), c(0.25, 0.75))),
                                          c(1L, 2L)),
               (log(2) - log(0.75)) / 2)
  # a confident mistake is finite in log space
  expect_identical(deepbmc:::metric_log_score(rbind(c(0, -1e5)), 2L), 1e5)
})

test_that("values on bin edges go to the bin they open; 1 to the last", {
  bins <- 15
  for (k in 0:14) {
    table <- deepbmc:::calibration_table(k / bins, TRUE, bins)
    expect_identical(table$bin, k + 1L, label = paste0(k, "/15"))
    expect_true(table$lower <= k / bins && k / bins < table$upper)
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
    expect_equal(table$lower, expected$lower, tolerance = 1e-15)
    expect_equal(table$upper, expected$upper, tolerance = 1e-15)
    expect_identical(table$n, expected$n)
    expect_equal(table$predicted, expected$predicted, tolerance = 1e-14)
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
  expect_equal(first$predicted, 1e-12 / 2)
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
  ece <- deepbmc:::metric_ece(x$pmp, x$true)
  expect_named(ece, c("M0", "M1"))
  expect_equal(unname(ece), ref_ece(x$pmp, x$true, 15), tolerance = 1e-14)
  y <- three_model_inputs()
  for (bins in c(1, 4, 15)) {
    ece3 <- deepbmc:::metric_ece(y$pmp, y$true, bins = bins)
    expect_named(ece3, c("a", "b", "c"))
    expect_equal(unname(ece3), ref_ece(y$pmp, y$true, bins), tolerance = 1e-14,
                 label = paste(bins, "bins"))
  }
  # one bin: |share of the model - mean PMP|
  expect_equal(unname(deepbmc:::metric_ece(y$pmp, y$true, bins = 1)),
               abs(tabulate(y$true, 3) / 6 - unname(colMeans(y$pmp))),
               tolerance = 1e-15)
  # certain and right is perfectly calibrated
  expect_identical(unname(deepbmc:::metric_ece(diag(2), 1:2)), c(0, 0))
})

test_that("ECE shrinks with n for a calibrated predictor, not for an overconfident one", {
  ece_of <- function(n, sharpen = 1) {
    withr::local_seed(2024)
    p <- stats::runif(n)
    # labels drawn from the predictor's own probabilities
    true <- ifelse(stats::runif(n) < p, 2L, 1L)
    shown <- stats::plogis(sharpen * stats::qlogis(p))
    deepbmc:::metric_ece(cbind(M0 = 1 - shown, M1 = shown), true)[["M1"]]
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

# --- validate() ---------------------------------------------------------------

test_that("validate() returns the documented structure, consistent with its metrics", {
  fit <- api_fit()
  v <- validate(fit, n = 400, seed = 31, threads = 2)
  expect_s3_class(v, "deepbmc_validation", exact = TRUE)
  expect_named(v, c("model", "predicted", "logits", "log_pmp", "pmp", "groups",
                    "obs", "metrics", "confusion", "calibration", "n", "bins",
                    "seed"))
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
  expect_identical(v$bins, 15L)
  expect_identical(v$seed, 31)

  # metrics, recomputed here
  expect_named(v$metrics, c("accuracy", "log_score", "brier", "ece"))
  expect_equal(v$metrics$accuracy, ref_accuracy(v$pmp, v$model), tolerance = 1e-15)
  expect_equal(v$metrics$log_score, ref_log_score(v$log_pmp, v$model),
               tolerance = 1e-12)
  expect_equal(v$metrics$brier, ref_brier(v$pmp, v$model), tolerance = 1e-12)
  expect_named(v$metrics$ece, c("M0", "M1"))
  expect_equal(unname(v$metrics$ece), ref_ece(v$pmp, v$model, 15),
               tolerance = 1e-12)

  expect_identical(sum(v$confusion), 400L)
  expect_equal(as.vector(rowSums(v$confusion)), tabulate(v$model, 2))
  expect_equal(sum(diag(v$confusion)) / 400, v$metrics$accuracy)

  expect_named(v$calibration, c("model", "bin", "lower", "upper", "n",
                                "predicted", "observed"))
  for (k in 1:2) {
    part <- v$calibration[v$calibration$model == c("M0", "M1")[[k]], ]
    expected <- ref_calibration(v$pmp[, k], v$model == k, 15)
    expect_identical(part$bin, as.integer(expected$bin))
    expect_identical(part$n, expected$n)
    expect_equal(part$predicted, expected$predicted, tolerance = 1e-12)
    expect_equal(part$observed, expected$observed, tolerance = 1e-12)
  }

  df <- as.data.frame(v)
  expect_identical(names(df), c("true", "predicted", "groups", "obs", "pmp_M0",
                                "pmp_M1"))
  expect_identical(nrow(df), 400L)
  expect_identical(levels(df$true), c("M0", "M1"))
  expect_identical(as.integer(df$true), v$model)
  expect_identical(as.integer(df$predicted), v$predicted)
  expect_identical(df$pmp_M1, unname(v$pmp[, "M1"]))

  # other bin counts
  v5 <- validate(fit, n = 400, seed = 31, bins = 5)
  expect_identical(v5$pmp, v$pmp)
  expect_true(all(v5$calibration$bin %in% 1:5))
  expect_equal(unname(v5$metrics$ece), ref_ece(v$pmp, v$model, 5),
               tolerance = 1e-12)
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

test_that("printing shows the metrics and the confusion matrix", {
  fit <- api_fit()
  v <- validate(fit, n = 300, seed = 9)
  out <- capture.output(res <- print(v))
  expect_identical(res, v)
  expect_match(out[[1]], "300 simulated data sets, seed 9", fixed = TRUE)
  one <- capture.output(print(validate(fit, n = 1, seed = 9)))
  expect_match(one[[1]], "1 simulated data set, seed 9", fixed = TRUE)
  text <- paste(out, collapse = "\n")
  expect_match(text, paste("Accuracy: ",
                           formatC(v$metrics$accuracy, digits = 3, format = "f")),
               fixed = TRUE)
  expect_match(text, paste("Log score:",
                           formatC(v$metrics$log_score, digits = 4, format = "f")),
               fixed = TRUE)
  expect_match(text, paste("Brier:    ",
                           formatC(v$metrics$brier, digits = 4, format = "f")),
               fixed = TRUE)
  expect_match(text, paste0("ECE (15 bins): M0 ",
                            formatC(v$metrics$ece[[1]], digits = 4, format = "f")),
               fixed = TRUE)
  expect_match(text, "Confusion matrix (rows: true, columns: predicted)",
               fixed = TRUE)
  expect_match(text, paste0("M0 +", v$confusion[1, 1], " +", v$confusion[1, 2]))
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
  expect_deepbmc_error(validate(api_models(), n = 10), "fit", "fit")
  expect_deepbmc_error(validate("fit", n = 10), "fit", "fit")
})
