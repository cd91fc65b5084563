# The level-1 part of misspecification_test() (issue 30): a data set's groups
# against groups simulated from the candidate models. A data set of J groups
# is a sample of J vectors (per group: mean and log SD of every feature, and
# the correlation of every pair of features), which no summary of the whole
# data set keeps: a network's summaries keep what tells the candidates apart,
# and the data set's moments pool the groups. Uniform responses in a
# recognition task, for one, give every participant a stimulus-response
# correlation near 0, which the pooled moments do not show.
#
# The statistic is the maximum mean discrepancy (MMD, Gaussian kernel on
# standardised vectors, bandwidth by the median heuristic) between the data
# set's groups and a fixed sample of simulated groups of each model;
# calibrated, as the data-set part, by the reference data sets of that model
# (R/misspecification.R).

# Simulated groups per model that a data set's groups are compared with.
reference_groups_per_model <- 400L

# Per group of a packed batch: mean and log SD of every feature and the
# correlation of every pair (0 where a feature does not vary), with the
# data set of each group in the first column.
group_moments <- function(batch) {
  observed <- batch_observations(batch)
  n_features <- batch$n_features
  n_groups <- length(batch$group_offsets) - 1L
  group <- observed$group
  set_of_group <- observed$set_of_group
  values <- observed$values
  keep <- observed$keep
  sum_by_group <- function(v) sum_by(v, group, n_groups)
  n <- lapply(seq_len(n_features), function(f) sum_by_group(keep[, f] * 1))
  means <- lapply(seq_len(n_features), function(f) {
    sum_by_group(ifelse(keep[, f], values[, f], 0)) / pmax(n[[f]], 1)
  })
  centred <- lapply(seq_len(n_features), function(f) {
    ifelse(keep[, f], values[, f] - means[[f]][group], 0)
  })
  variances <- lapply(seq_len(n_features), function(f) {
    sum_by_group(centred[[f]]^2) / pmax(n[[f]], 1)
  })
  columns <- list(set = set_of_group)
  for (f in seq_len(n_features)) {
    columns[[length(columns) + 1]] <- sign(means[[f]]) * log1p(abs(means[[f]]))
    columns[[length(columns) + 1]] <- 0.5 * log(pmax(variances[[f]], 1e-8))
  }
  for (f in seq_len(n_features - 1L)) {
    for (g in seq(f + 1L, length.out = n_features - f)) {
      both <- keep[, f] & keep[, g]
      covariance <- sum_by_group(ifelse(both, centred[[f]] * centred[[g]], 0)) /
        pmax(sum_by_group(both * 1), 1)
      scale <- sqrt(variances[[f]] * variances[[g]])
      columns[[length(columns) + 1]] <- ifelse(scale > 1e-12,
                                               covariance / scale, 0)
    }
  }
  do.call(cbind, columns)
}

# group_moments() of the chunks of predict_logits(), the data sets numbered
# across chunks.
bind_group_moments <- function(parts) {
  offset <- 0L
  pieces <- lapply(parts, function(part) {
    moments <- part$group_summaries
    moments[, 1] <- moments[, 1] + offset
    offset <<- offset + nrow(part$logits)
    moments
  })
  do.call(rbind, pieces)
}

# The reference of the level-1 test from the groups of the reference data
# sets (`groups`, group_moments() of them) and their models: the scale of
# every column, the bandwidth, and per model a fixed sample of its groups
# with the mean kernel among them. Columns that never vary are dropped.
group_reference <- function(groups, set_model, n_models) {
  x <- groups[, -1, drop = FALSE]
  scale <- apply(x, 2, stats::sd)
  varying <- is.finite(scale) & scale > 1e-8
  x <- sweep(x[, varying, drop = FALSE], 2, scale[varying], `/`)
  model_of_group <- set_model[groups[, 1]]
  samples <- lapply(seq_len(n_models), function(k) {
    rows <- which(model_of_group == k)
    # evenly spaced, so that the sample needs no random numbers
    keep <- rows[unique(round(seq(1, length(rows),
                                  length.out = min(length(rows),
                                                   reference_groups_per_model))))]
    x[keep, , drop = FALSE]
  })
  pooled <- do.call(rbind, samples)
  distances <- as.vector(stats::dist(pooled))
  bandwidth <- stats::median(distances[distances > 0])
  if (!is.finite(bandwidth)) bandwidth <- 1
  models <- lapply(samples, function(y) {
    list(groups = y, self = mean(gaussian_kernel(y, y, bandwidth)))
  })
  list(varying = varying, scale = scale[varying], bandwidth = bandwidth,
       models = models)
}

gaussian_kernel <- function(x, y, bandwidth) {
  squared <- outer(rowSums(x^2), rowSums(y^2), `+`) - 2 * x %*% t(y)
  exp(-pmax(squared, 0) / (2 * bandwidth^2))
}

# The level-1 statistics of every data set (n_sets x models): the squared
# MMD between its groups and each model's sampled groups.
group_distances <- function(groups, n_sets, reference) {
  x <- sweep(groups[, -1, drop = FALSE][, reference$varying, drop = FALSE],
             2, reference$scale, `/`)
  set <- groups[, 1]
  rows <- split(seq_len(nrow(x)), factor(set, levels = seq_len(n_sets)))
  within <- vapply(rows, function(r) {
    if (length(r) == 0) NA_real_ else
      mean(gaussian_kernel(x[r, , drop = FALSE], x[r, , drop = FALSE],
                           reference$bandwidth))
  }, numeric(1))
  mmd <- vapply(reference$models, function(model) {
    # in blocks of rows, so that no kernel matrix of all groups is held
    blocks <- split(seq_len(nrow(x)), ceiling(seq_len(nrow(x)) / 20000))
    cross <- unlist(lapply(blocks, function(b) {
      rowMeans(gaussian_kernel(x[b, , drop = FALSE], model$groups,
                               reference$bandwidth))
    }), use.names = FALSE)
    cross_by_set <- vapply(rows, function(r) {
      if (length(r) == 0) NA_real_ else mean(cross[r])
    }, numeric(1))
    within - 2 * cross_by_set + model$self
  }, numeric(n_sets))
  matrix(mmd, nrow = n_sets)
}
