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
#' (`p_data_set`) the share of further data sets simulated from the model
#' set (the candidates drawn with their prior probabilities) whose statistic
#' is at least as large, so the test is calibrated by simulation whatever
#' the shape of the summaries.
#'
#' A second part looks at the groups (level 1): a data set of J groups is a
#' sample of J vectors (per group the mean and log SD of every feature and
#' the correlation of every pair of features), compared with groups
#' simulated from each model by the maximum mean discrepancy (MMD, Gaussian
#' kernel); `group_statistic` is the smallest over the models and `p_groups`
#' its p-value, calibrated in the same way. The two parts see different
#' things: uniform random responses in a recognition task give every
#' participant a stimulus-response correlation near 0, which no summary of
#' the pooled data shows. `p_value` combines them: the smaller of the two,
#' calibrated as a statistic of its own on the same reference data sets, so
#' that the combined test keeps its level. Under data drawn from the model set as a whole a
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
#'   (the smallest squared Mahalanobis distance to a model), `p_value` (of
#'   both parts together), `closest` (the model at that distance), `verdict`
#'   (`"ok"` or `"misspecified"`), `group_statistic` (the smallest squared
#'   MMD of the data set's groups to a model's), and the p-values of the two
#'   parts alone, `p_data_set` and `p_groups`.
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
  group_statistic <- group_statistics(prediction$group_summaries,
                                      nrow(distances), reference$groups)
  p_data_set <- upper_tail(statistic, reference$null)
  p_groups <- upper_tail(group_statistic, reference$group_null)
  # the smaller of the two p-values, calibrated as a statistic of its own
  p_value <- lower_tail(pmin(p_data_set, p_groups), reference$min_p_null)
  best <- max.col(-distances, ties.method = "first")
  data.frame(
    data_set = seq_len(nrow(distances)),
    statistic = statistic,
    p_value = p_value,
    closest = fit$models$model_names[best],
    verdict = ifelse(p_value < level, "misspecified", "ok"),
    group_statistic = group_statistic,
    p_data_set = p_data_set,
    p_groups = p_groups,
    stringsAsFactors = FALSE
  )
}

# Simulation p-values: the share of the null at least as extreme, counting
# the value itself, (1 + #) / (1 + n).
upper_tail <- function(x, null) {
  (1 + colSums(outer(null, x, `>=`))) / (1 + length(null))
}

lower_tail <- function(x, null) {
  (1 + colSums(outer(null, x, `<=`))) / (1 + length(null))
}

# Reference summaries, cached for the session by the fit's checksum, n and
# seed: per model the mean and the inverse of the shrunk covariance from its
# simulations among the first half, and the statistics of the second half
# (the null distribution).
misspecification_cache <- new.env(parent = emptyenv())

misspecification_reference <- function(fit, n, seed, threads) {
  key <- paste(fit$checksum %||% fit_checksum(fit), n, seed, "groups",
               sep = ":")
  cached <- misspecification_cache[[key]]
  if (!is.null(cached)) {
    return(cached)
  }
  sims <- simulate_datasets(fit$models, n = n, seed = seed, threads = threads,
                            progress = FALSE)
  prediction <- predict_logits(fit, sims, NULL, NULL, threads,
                               arg = "simulations", summaries = TRUE)
  summaries <- prediction$summaries
  groups <- prediction$group_summaries
  half <- seq_len(n %/% 2)
  models <- lapply(seq_len(fit$models$n_models), function(k) {
    summary_distribution(summaries[half[sims$model[half] == k], , drop = FALSE])
  })
  calibration <- summaries[-half, , drop = FALSE]
  null <- apply(model_distances(calibration, models), 1, min)
  in_half <- groups[, 1] %in% half
  group_ref <- group_reference(groups[in_half, , drop = FALSE], sims$model,
                               fit$models$n_models)
  calibration_groups <- groups[!in_half, , drop = FALSE]
  calibration_groups[, 1] <- calibration_groups[, 1] - length(half)
  group_null <- group_statistics(calibration_groups, nrow(calibration),
                                 group_ref)
  reference <- list(
    models = models, null = null, groups = group_ref, group_null = group_null,
    min_p_null = pmin(upper_tail(null, null), upper_tail(group_null, group_null))
  )
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
