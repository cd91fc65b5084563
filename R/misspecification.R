#' Test whether any candidate model could have produced the data
#'
#' Posterior model probabilities are relative: when no candidate model could
#' have produced a data set, they are meaningless, yet the network still
#' answers. `misspecification_test()` asks, for each data set, whether it is
#' typical of data simulated from the candidate models, in a summary space
#' made of what the network's head reads (its learned summary, the size
#' inputs and, if the network has them, the fixed statistics) and of
#' moments of the observed values (per feature: mean, SD, skewness,
#' kurtosis, the SD of the group means and the SD within groups). The
#' moments matter: a classifier's summaries keep only what tells the
#' candidates apart, and on their own missed uniform noise entirely.
#'
#' For every model, simulated data sets give the mean and the covariance of
#' these summaries (shrunk towards their diagonal). A data set's statistic
#' is its smallest squared Mahalanobis distance to a model, and its p-value
#' the share of further data sets simulated from the model set (the
#' candidates drawn with their prior probabilities) whose statistic is at
#' least as large, so the test is calibrated by simulation whatever the
#' shape of the summaries. Under data drawn from the model set as a whole a
#' share `level` is flagged; per model the share differs somewhat (a nested
#' model whose data the larger model also produces is flagged less often).
#'
#' The reference simulations (`n` data sets, half to estimate the means and
#' covariances, half to calibrate) are made once per fit, `n` and `seed` in
#' a session and then reused, so that further calls take milliseconds.
#'
#' @param fit A fit from [train_comparison()].
#' @param data Data sets as [post_prob()] accepts them.
#' @param n Reference data sets simulated from the model set (at least 200
#'   per model).
#' @param level Significance level of the verdict.
#' @param seed Seed of the reference simulations.
#' @inheritParams post_prob.deepbmc_fit
#' @return A data frame with one row per data set: `data_set`, `statistic`
#'   (the smallest squared Mahalanobis distance to a model), `p_value`,
#'   `closest` (the model at that distance) and `verdict` (`"ok"` or
#'   `"misspecified"`).
#' @export
#' @examples
#' models <- normal_nested_models(groups = 10, obs = 10)
#' fit <- train_comparison(models, epochs = 2, iterations = 100, seed = 1,
#'                         threads = 1, progress = FALSE)
#' sims <- simulate_datasets(models, n = 3, seed = 2)
#' misspecification_test(fit, sims, n = 600, threads = 1)
#' # uniform noise on the same design no candidate produces
#' noise <- lapply(1:10, function(g) stats::runif(10, -40, 40))
#' misspecification_test(fit, noise, n = 600, threads = 1)
misspecification_test <- function(fit, data, n = 4000, level = 0.05, seed = 1,
                                  group = NULL, response = NULL,
                                  threads = default_threads()) {
  check_fit(fit)
  n <- check_whole_number(n, min = 200 * fit$models$n_models, max = max_simulations)
  level <- check_level(level)
  seed <- check_seed(seed)
  threads <- check_threads(threads)
  reference <- misspecification_reference(fit, n, seed, threads)
  prediction <- predict_logits(fit, data, group, response, threads,
                               summaries = TRUE)
  distances <- model_distances(prediction$summaries, reference$models)
  statistic <- apply(distances, 1, min)
  null <- reference$null
  p_value <- (1 + colSums(outer(null, statistic, `>=`))) / (1 + length(null))
  best <- max.col(-distances, ties.method = "first")
  data.frame(
    data_set = seq_len(nrow(distances)),
    statistic = statistic,
    p_value = p_value,
    closest = fit$models$model_names[best],
    verdict = ifelse(p_value < level, "misspecified", "ok"),
    stringsAsFactors = FALSE
  )
}

# Reference summaries, cached for the session by the fit's checksum, n and
# seed: per model the mean and the inverse of the shrunk covariance from its
# simulations among the first half, and the statistics of the second half
# (the null distribution).
misspecification_cache <- new.env(parent = emptyenv())

misspecification_reference <- function(fit, n, seed, threads) {
  key <- paste(fit$checksum %||% fit_checksum(fit), n, seed, sep = ":")
  cached <- misspecification_cache[[key]]
  if (!is.null(cached)) {
    return(cached)
  }
  sims <- simulate_datasets(fit$models, n = n, seed = seed, threads = threads,
                            progress = FALSE)
  summaries <- predict_logits(fit, sims, NULL, NULL, threads,
                              arg = "simulations", summaries = TRUE)$summaries
  half <- seq_len(n %/% 2)
  models <- lapply(seq_len(fit$models$n_models), function(k) {
    summary_distribution(summaries[half[sims$model[half] == k], , drop = FALSE])
  })
  calibration <- summaries[-half, , drop = FALSE]
  reference <- list(models = models,
                    null = apply(model_distances(calibration, models), 1, min))
  misspecification_cache[[key]] <- reference
  reference
}

# Mean and inverse covariance of summaries, the covariance shrunk a tenth of
# the way to its diagonal and floored, so that constant inputs (sizes of a
# fixed design) and few simulations still give an invertible matrix.
summary_distribution <- function(x) {
  centre <- colMeans(x)
  cov <- stats::cov(x)
  variances <- pmax(diag(cov), 1e-8 * max(1, mean(diag(cov))))
  shrunk <- 0.9 * cov + 0.1 * diag(diag(cov), nrow(cov))
  diag(shrunk) <- pmax(diag(shrunk), variances)
  list(centre = centre, precision = solve(shrunk))
}

mahalanobis_sq <- function(x, distribution) {
  centred <- sweep(x, 2, distribution$centre)
  rowSums((centred %*% distribution$precision) * centred)
}

model_distances <- function(summaries, models) {
  matrix(vapply(models, function(m) mahalanobis_sq(summaries, m),
                numeric(nrow(summaries))),
         nrow = nrow(summaries))
}

# Moments of the observed values of every data set of a packed batch, per
# feature: the squashed mean, log SD, skewness, log kurtosis, log SD of the
# group means and mean log SD within groups (6 columns per feature). A
# classifier's summaries keep only what tells the candidate models apart,
# which can leave a scale, tails or group structure that no candidate
# produces out of sight; these moments put them in the test's space.
data_moments <- function(batch) {
  n_features <- batch$n_features
  n_sets <- length(batch$dataset_offsets) - 1L
  group <- rep(seq_len(length(batch$group_offsets) - 1L), diff(batch$group_offsets))
  set_of_group <- rep(seq_len(n_sets), diff(batch$dataset_offsets))
  set <- set_of_group[group]
  values <- matrix(batch$values, ncol = n_features, byrow = TRUE)
  present <- if (is.null(batch$present)) TRUE else
    matrix(batch$present, ncol = n_features, byrow = TRUE)
  keep_all <- matrix(batch$mask, nrow = nrow(values), ncol = n_features) & present
  by <- function(v, index, n) {
    out <- numeric(n)
    sums <- rowsum(v, index, reorder = TRUE)
    out[as.integer(rownames(sums))] <- sums
    out
  }
  safe_log <- function(v) log(pmax(v, 1e-8))
  columns <- lapply(seq_len(n_features), function(f) {
    keep <- keep_all[, f]
    x <- ifelse(keep, values[, f], 0)
    n <- pmax(by(keep * 1, set, n_sets), 1)
    mean <- by(x, set, n_sets) / n
    centred <- ifelse(keep, x - mean[set], 0)
    c2 <- by(centred^2, set, n_sets) / n
    c3 <- by(centred^3, set, n_sets) / n
    c4 <- by(centred^4, set, n_sets) / n
    n_groups <- length(set_of_group)
    group_n <- by(keep * 1, group, n_groups)
    group_mean <- by(x, group, n_groups) / pmax(group_n, 1)
    used <- group_n > 0
    set_mean <- by(group_mean * used, set_of_group, n_sets) /
      pmax(by(used * 1, set_of_group, n_sets), 1)
    between <- by((group_mean - set_mean[set_of_group])^2 * used, set_of_group, n_sets) /
      pmax(by(used * 1, set_of_group, n_sets) - 1, 1)
    within_ss <- by(ifelse(keep, (x - group_mean[group])^2, 0), group, n_groups)
    several <- group_n > 1
    log_within <- ifelse(several, 0.5 * safe_log(within_ss / pmax(group_n - 1, 1)), 0)
    within <- by(log_within, set_of_group, n_sets) /
      pmax(by(several * 1, set_of_group, n_sets), 1)
    cbind(sign(mean) * log1p(abs(mean)), 0.5 * safe_log(c2),
          pmin(pmax(ifelse(c2 > 0, c3 / c2^1.5, 0), -20), 20),
          safe_log(ifelse(c2 > 0, c4 / c2^2, 1)), 0.5 * safe_log(between), within)
  })
  do.call(cbind, columns)
}
