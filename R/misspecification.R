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
#' for a model is its squared Mahalanobis distance to it, and its p-value
#' for that model the share of further data sets simulated from the model
#' whose distance is at least as large: calibrated by simulation, whatever
#' the shape of the summaries.
#'
#' A second part looks at the groups (level 1): a data set of J groups is a
#' sample of J vectors (per group the mean and log SD of every feature and
#' the correlation of every pair of features), compared with groups
#' simulated from each model by the maximum mean discrepancy (MMD, Gaussian
#' kernel) and calibrated in the same way. The two parts see different
#' things: uniform random responses in a recognition task give every
#' participant a stimulus-response correlation near 0, which no summary of
#' the pooled data shows. Per model the two are combined: the smaller of
#' the data-set part's p-value / 0.8 and the group part's / 0.2 (the
#' data-set part sees most departures), calibrated as a statistic of its own
#' on the same reference data sets.
#'
#' A data set is flagged only when no candidate could have made it: its
#' `p_value` is the largest of the models' combined p-values, and `closest`
#' the model that gives it. So data from any one candidate are flagged at
#' most at the test's level, and less often when other candidates make
#' similar data (an intersection-union test).
#'
#' For an ensemble (`members` in [train_comparison()]) the test works in
#' the summary space of its first member: the question is about the data,
#' not about the networks.
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
#'   (the squared Mahalanobis distance to the closest model), `p_value` (the
#'   largest over the models of both parts combined), `closest` (the model
#'   with that p-value; among equal ones the nearest), `verdict` (`"ok"` or
#'   `"misspecified"`), `group_statistic` (the squared MMD of the data set's
#'   groups to the closest model's), and the p-values of the two parts alone
#'   for that model, `p_data_set` and `p_groups`.
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
  misspecification_rows(fit, prediction, reference, level)
}

# The test's table for a prediction with summaries (predict_logits(summaries
# = TRUE)) against a reference (misspecification_reference()).
misspecification_rows <- function(fit, prediction, reference, level) {
  distances <- model_distances(prediction$summaries, reference$models)
  groups <- group_distances(prediction$group_summaries, nrow(distances),
                            reference$groups)
  # Per model, the data set against that model's own reference data sets;
  # then the model it fits best. A data set is flagged only when no
  # candidate could have made it, so data from each candidate are flagged
  # at most at `level` (an intersection-union test).
  n_models <- ncol(distances)
  p_data <- p_groups <- p_model <- matrix(NA_real_, nrow(distances), n_models)
  for (k in seq_len(n_models)) {
    null <- reference$nulls[[k]]
    p_data[, k] <- upper_tail(distances[, k], null$data_set)
    p_groups[, k] <- upper_tail(groups[, k], null$groups)
    # the smaller of the two (weighted) p-values, calibrated as a statistic
    # of its own
    p_model[, k] <- lower_tail(weighted_min_p(p_data[, k], p_groups[, k]),
                               null$min_p)
  }
  # the largest p-value; among equals, the smallest distance
  closest <- vapply(seq_len(nrow(p_model)), function(i) {
    best <- which(p_model[i, ] == max(p_model[i, ]))
    best[which.min(distances[i, best])]
  }, integer(1))
  at <- cbind(seq_along(closest), closest)
  p_value <- p_model[at]
  data.frame(
    data_set = seq_along(closest),
    statistic = distances[at],
    p_value = p_value,
    closest = fit$models$model_names[closest],
    verdict = ifelse(p_value < level, "misspecified", "ok"),
    group_statistic = groups[at],
    p_data_set = p_data[at],
    p_groups = p_groups[at],
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
# simulations among the first half, the level-1 reference from their groups,
# and per model the statistics of its data sets in the second half (the
# null distributions).
misspecification_cache <- new.env(parent = emptyenv())

misspecification_reference <- function(fit, n, seed, threads) {
  key <- paste(fit$checksum %||% fit_checksum(fit), n, seed, "groups",
               "any model", sep = ":")
  cached <- misspecification_cache[[key]]
  if (!is.null(cached)) {
    return(cached)
  }
  sims <- reference_summaries(fit, n, seed, threads)
  summaries <- sims$summaries
  groups <- sims$groups
  half <- seq_len(n %/% 2)
  models <- lapply(seq_len(fit$models$n_models), function(k) {
    summary_distribution(summaries[half[sims$model[half] == k], , drop = FALSE])
  })
  calibration <- summaries[-half, , drop = FALSE]
  null <- model_distances(calibration, models)
  in_half <- groups[, 1] %in% half
  group_ref <- group_reference(groups[in_half, , drop = FALSE], sims$model,
                               fit$models$n_models)
  calibration_groups <- groups[!in_half, , drop = FALSE]
  calibration_groups[, 1] <- calibration_groups[, 1] - length(half)
  group_null <- group_distances(calibration_groups, nrow(calibration),
                                group_ref)
  calibration_model <- sims$model[-half]
  nulls <- lapply(seq_len(fit$models$n_models), function(k) {
    data_set <- null[calibration_model == k, k]
    groups <- group_null[calibration_model == k, k]
    list(data_set = data_set, groups = groups,
         min_p = weighted_min_p(upper_tail(data_set, data_set),
                                upper_tail(groups, groups)))
  })
  reference <- list(models = models, groups = group_ref, nulls = nulls)
  misspecification_cache[[key]] <- reference
  reference
}

# The reference data sets' summaries (data-set part), group moments (level-1
# part) and true models, simulated and evaluated a chunk at a time so that
# large designs (the Levy-flight set: 17 x 960 trials) never hold more than
# reference_chunk_observations observations at once. Chunk i draws with its
# own seed; the first with `seed` itself.
reference_chunk_observations <- 5e6

reference_summaries <- function(fit, n, seed, threads) {
  per_set <- as.double(fit$models$groups[[2]]) * fit$models$obs[[2]]
  chunk <- max(1, floor(reference_chunk_observations / per_set))
  starts <- seq(1, n, by = chunk)
  offset <- 0L
  pieces <- lapply(seq_along(starts), function(i) {
    size <- min(chunk, n - starts[[i]] + 1)
    sims <- simulate_datasets(fit$models, n = size,
                              seed = (seed + (i - 1) * 2^32) %% max_seed,
                              threads = threads, progress = FALSE)
    prediction <- predict_logits(fit, sims, NULL, NULL, threads,
                                 arg = "simulations", summaries = TRUE)
    groups <- prediction$group_summaries
    groups[, 1] <- groups[, 1] + offset
    offset <<- offset + size
    list(model = sims$model, summaries = prediction$summaries,
         groups = groups)
  })
  list(model = unlist(lapply(pieces, `[[`, "model")),
       summaries = do.call(rbind, lapply(pieces, `[[`, "summaries")),
       groups = do.call(rbind, lapply(pieces, `[[`, "groups")))
}

# The two parts' p-values in one statistic: the smaller after weighting,
# p_data_set / 0.8 against p_groups / 0.2, so that the data-set part, which
# sees most departures, keeps most of its power (bench/results/
# misspecification.md), and the group part still flags what only it sees.
misspecification_weights <- c(data_set = 0.8, groups = 0.2)

weighted_min_p <- function(p_data_set, p_groups) {
  pmin(p_data_set / misspecification_weights[["data_set"]],
       p_groups / misspecification_weights[["groups"]])
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
  observed <- batch_observations(batch)
  n_features <- batch$n_features
  n_sets <- length(batch$dataset_offsets) - 1L
  group <- observed$group
  set_of_group <- observed$set_of_group
  set <- set_of_group[group]
  values <- observed$values
  keep_all <- observed$keep
  by <- sum_by
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

# The observations of a packed batch (R/data.R): values as rows x features,
# which of them count (in the mask and present), the group of every row and
# the data set of every group.
batch_observations <- function(batch) {
  n_features <- batch$n_features
  values <- matrix(batch$values, ncol = n_features, byrow = TRUE)
  keep <- matrix(as.logical(batch$mask), nrow = nrow(values), ncol = n_features)
  if (!is.null(batch$present)) {
    keep <- keep & matrix(batch$present, ncol = n_features, byrow = TRUE)
  }
  list(
    values = values, keep = keep,
    group = rep(seq_len(length(batch$group_offsets) - 1L),
                diff(batch$group_offsets)),
    set_of_group = rep(seq_len(length(batch$dataset_offsets) - 1L),
                       diff(batch$dataset_offsets))
  )
}

# Sums of `v` by `index` over 1..n, 0 where an index does not occur.
sum_by <- function(v, index, n) {
  out <- numeric(n)
  sums <- rowsum(v, index, reorder = TRUE)
  out[as.integer(rownames(sums))] <- sums
  out
}
