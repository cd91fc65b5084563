test_tier("fast")
# Least-squares statistics fed to the head (hierarchical_network(statistics =
# "least_squares"), src/least_squares.h, issue 29): the statistics against a
# plain-R reference built on lm(), the network as the plain network with the
# statistics folded into the head's bias, gradients by finite differences,
# invariance to permutations and to junk in masked rows and missing values,
# thread-count determinism, and fits without the setting reading as before.

# --- plain-R reference --------------------------------------------------------
ls_squash <- function(v) sign(v) * log1p(abs(v))
ls_log <- function(v) log(pmax(v, 1e-8))
# lm() of y on an intercept and the columns of x (none: the intercept only)
with_intercept <- function(y, x) if (ncol(x) > 0) lm(y ~ x) else lm(y ~ 1)

# The statistics of one data set: a list of groups, each a matrix of its
# complete rows (column 1 the response), in the layout of least_squares.h.
ref_least_squares <- function(groups) {
  groups <- groups[vapply(groups, nrow, 1L) > 0]
  p <- ncol(groups[[1]])
  covariates <- seq_len(p - 1) + 1
  out_a <- numeric(3 * p + 1)
  out_b <- numeric(3 * (p - 1) + 1)
  out_c <- numeric(2 * p + p * (p - 1) / 2 + 2)
  rows <- do.call(rbind, groups)
  group <- rep(seq_along(groups), vapply(groups, nrow, 1L))
  means <- do.call(rbind, lapply(groups, colMeans))
  n_groups <- length(groups)
  deviations <- rows - means[group, , drop = FALSE]
  tiny <- function(centre) 1e-10 * (1 + centre^2)
  between <- Filter(function(k) {
    n_groups > 1 && mean((means[, k] - mean(means[, k]))^2) > tiny(mean(means[, k]))
  }, covariates)
  within <- Filter(function(k) {
    mean(deviations[, k]^2) > tiny(mean(means[, k]))
  }, covariates)
  coefficient <- function(estimate, se) c(ls_squash(estimate / se), ls_squash(estimate), ls_log(se))

  # A: the group means
  if (n_groups - 1 - length(between) >= 1) {
    fit <- summary(with_intercept(means[, 1], means[, between, drop = FALSE]))
    co <- fit$coefficients
    slots <- c(1, between)
    for (i in seq_along(slots)) {
      out_a[3 * (slots[i] - 1) + 1:3] <- coefficient(co[i, 1], co[i, 2])
    }
    out_a[3 * p + 1] <- ls_log(fit$sigma)
  }
  # B: within groups, without intercept, residual df N - J - pB
  df <- nrow(rows) - n_groups - length(within)
  if (df >= 1) {
    if (length(within) > 0) {
      fit <- lm(deviations[, 1] ~ 0 + deviations[, within, drop = FALSE])
      sigma <- sqrt(sum(stats::residuals(fit)^2) / df)
      se <- sigma * sqrt(diag(solve(crossprod(deviations[, within, drop = FALSE]))))
      for (i in seq_along(within)) {
        out_b[3 * (within[i] - 2) + 1:3] <- coefficient(stats::coef(fit)[[i]], se[[i]])
      }
    } else {
      sigma <- sqrt(sum(deviations[, 1]^2) / df)
    }
    out_b[3 * (p - 1) + 1] <- ls_log(sigma)
  }
  # C: per group
  slots <- c(1, within)
  fits <- lapply(groups, function(g) {
    if (nrow(g) <= length(slots)) return(NULL)
    fit <- with_intercept(g[, 1], g[, within, drop = FALSE])
    if (anyNA(stats::coef(fit))) return(NULL)
    list(estimate = unname(stats::coef(fit)), log_sd = ls_log(summary(fit)$sigma))
  })
  fits <- Filter(Negate(is.null), fits)
  if (length(fits) > 0) {
    estimates <- do.call(rbind, lapply(fits, `[[`, "estimate"))
    for (k in seq_along(slots)) {
      out_c[2 * (slots[k] - 1) + 1] <- ls_squash(mean(estimates[, k]))
      if (nrow(estimates) > 1) out_c[2 * (slots[k] - 1) + 2] <- ls_log(stats::sd(estimates[, k]))
    }
    if (nrow(estimates) > 2 && length(slots) > 1) {
      pairs <- which(upper.tri(diag(p)), arr.ind = TRUE)
      pairs <- pairs[order(pairs[, 1], pairs[, 2]), , drop = FALSE]
      r <- stats::cor(estimates)
      for (k in 2:length(slots)) {
        for (l in seq_len(k - 1)) {
          at <- which(pairs[, 1] == slots[l] & pairs[, 2] == slots[k])
          out_c[2 * p + at] <- atanh(min(max(r[k, l], -0.999), 0.999))
        }
      }
    }
    out_c[2 * p + p * (p - 1) / 2 + 1:2] <- c(
      mean(vapply(fits, `[[`, 1, "log_sd")), length(fits) / n_groups
    )
  }
  c(out_a, out_b, out_c)
}

ls_config <- function(input_dim = 3L, head_layers = 1L, statistics = "least_squares",
                      standardize = "none") {
  config <- core_config(
    input_dim = input_dim, n_models = 2L, s1 = c(3L, 2L), s2 = c(2L, 3L),
    s3 = c(3L, 2L), summary_dim = c(2L, 3L), n_dense = 2L, n_equivariant = 1L,
    head_units = 3L, head_layers = head_layers, standardize = standardize
  )
  if (statistics != "none") config$statistics <- statistics
  config
}

# Regression-shaped data sets: y on a within-group covariate and a
# between-group one (constant within each group, like Sex in Orthodont),
# ragged groups; a group too small for its own regression, masked rows
# holding junk, a group of masked rows only.
ls_datasets <- function(seed) {
  set.seed(seed)
  group <- function(n, sex = stats::rbinom(1, 1, 0.5)) {
    x <- stats::rnorm(n)
    cbind(3 + 0.8 * x + 1.5 * sex + stats::rnorm(1) + stats::rnorm(n, sd = 0.6), x, sex)
  }
  list(
    list(group(4), group(5), group(2), group(6), group(4, 1), group(3, 0),
         list(x = rbind(group(3), c(1e3, -1e3, 7)), mask = c(TRUE, TRUE, FALSE, FALSE))),
    list(group(4), group(4), group(4), group(4), group(4)),
    # no covariate varies within groups: block B and C keep the intercept only
    list(cbind(stats::rnorm(3, 5), 1, 0), cbind(stats::rnorm(4, 7), 2, 1),
         cbind(stats::rnorm(3, 6), 0, 1), cbind(stats::rnorm(5, 2), -1, 0)),
    list(list(x = matrix(0, 2, 3), mask = c(FALSE, FALSE)), group(5), group(6), group(7))
  )
}

complete_groups <- function(dataset, n_features) {
  lapply(dataset, function(g) {
    g <- as_group(g, n_features)
    g$x[g$mask, , drop = FALSE]
  })
}

test_that("the statistics agree with an lm() reference", {
  config <- ls_config()
  datasets <- ls_datasets(1)
  got <- deepbmc:::cpp_least_squares_statistics(config, pack_batch(datasets, 3L))
  expect_identical(dim(got), c(length(datasets), 3L * 3L + 1L + 3L * 2L + 1L + 2L * 3L + 3L + 2L))
  for (i in seq_along(datasets)) {
    want <- ref_least_squares(complete_groups(datasets[[i]], 3L))
    expect_equal(got[i, ], want, tolerance = 1e-9, label = paste("data set", i))
  }
  # the third data set: both covariates constant within groups, so no
  # within-group slope and no correlation of per-group estimates
  expect_true(all(got[3, c(11:16, 20:26)] == 0))
  expect_true(all(got[3, c(1:10, 17:19, 27:28)] != 0))
  # one feature (the response only, Study 1's data): group means and spreads
  one <- lapply(1:2, function(s) {
    set.seed(s)
    lapply(c(3, 5, 4), function(n) stats::rnorm(n, stats::rnorm(1)))
  })
  got1 <- deepbmc:::cpp_least_squares_statistics(ls_config(1L), pack_batch(one, 1L))
  for (i in 1:2) {
    want <- ref_least_squares(lapply(one[[i]], function(g) matrix(g, ncol = 1)))
    expect_equal(got1[i, ], want, tolerance = 1e-9)
  }
})

test_that("the statistics use complete rows only when values are missing", {
  config <- ls_config()
  datasets <- ls_datasets(2)[1:2]
  data <- pack_batch(datasets, 3L)
  present <- rep(TRUE, length(data$values))
  present[c(4, 8, 9, 20, 31, 62)] <- FALSE
  data$values[!present] <- 0
  data$present <- present
  got <- deepbmc:::cpp_least_squares_statistics(config, data)
  # the reference drops the rows with a missing value
  complete <- matrix(present, ncol = 3, byrow = TRUE)
  complete <- rowSums(!complete) == 0
  rows_at <- 0L
  for (i in seq_along(datasets)) {
    groups <- lapply(datasets[[i]], function(g) {
      g <- as_group(g, 3L)
      keep <- g$mask & complete[rows_at + seq_len(nrow(g$x))]
      rows_at <<- rows_at + nrow(g$x)
      g$x[keep, , drop = FALSE]
    })
    expect_equal(got[i, ], ref_least_squares(groups), tolerance = 1e-9)
  }
})

test_that("the network is the plain network with the statistics in the head's bias", {
  datasets <- ls_datasets(3)
  config <- ls_config()
  plain <- ls_config(statistics = "none")
  w <- noisy_weights(config, 2)
  n_plain <- deepbmc:::cpp_network_size(plain)
  width <- deepbmc:::cpp_least_squares_statistics(config, pack_batch(datasets[1], 3L))
  n_stats <- length(width)
  units <- config$head_units
  # The head's first layer: W (rows = inputs) then its bias; the statistics'
  # rows come last in W.
  tail <- (units * 2 + 2)
  bias_at <- length(w) - tail - units + seq_len(units)
  stats_rows <- bias_at[[1]] - n_stats * units - 1L + seq_len(n_stats * units)
  expect_equal(length(w) - n_plain, n_stats * units)
  for (i in seq_along(datasets)) {
    batch <- pack_batch(datasets[i], 3L)
    s <- as.vector(deepbmc:::cpp_least_squares_statistics(config, batch))
    w_plain <- w[-stats_rows]
    at <- bias_at - n_stats * units
    w_plain[at] <- w_plain[at] + as.vector(s %*% matrix(w[stats_rows], ncol = units, byrow = TRUE))
    got <- deepbmc:::cpp_loss_grad(config, w, batch, 1L)$logits
    want <- deepbmc:::cpp_loss_grad(plain, w_plain, batch, 1L)$logits
    expect_equal(got, want, tolerance = 1e-12)
    # and the statistics matter: without folding them in, the logits differ
    unfolded <- deepbmc:::cpp_loss_grad(plain, w[-stats_rows], batch, 1L)$logits
    expect_gt(max(abs(unfolded - got)), 1e-4)
  }
})

test_that("weight gradients match finite differences; the data gradient is not offered", {
  data <- pack_batch(ls_datasets(4), 3L)
  labels <- c(1L, 2L, 2L, 1L)
  for (head_layers in c(1L, 0L)) {
    for (standardize in c("none", "dataset")) {
      config <- ls_config(head_layers = head_layers, standardize = standardize)
      w <- noisy_weights(config, 5)
      res <- deepbmc:::cpp_loss_grad(config, w, data, labels)
      loss <- function(v) deepbmc:::cpp_loss_grad(config, v, data, labels)$loss
      expect_gradient_match(numeric_grad(loss, w), res$grad)
      expect_length(res$input_grad, 0)
    }
  }
})

test_that("logits are invariant to permutations, junk in masked rows and thread counts", {
  config <- ls_config(standardize = "dataset")
  w <- noisy_weights(config, 7)
  base <- lapply(ls_datasets(8)[[1]], as_group, n_features = 3L)
  set.seed(9)
  permuted <- lapply(base[c(3, 1, 7, 2, 6, 4, 5)], function(g) {
    o <- sample(nrow(g$x))
    list(x = g$x[o, , drop = FALSE], mask = g$mask[o])
  })
  junk <- lapply(base, function(g) {
    g$x[!g$mask, ] <- -5e5
    g
  })
  junk[[8]] <- list(x = matrix(1e6, 2, 3), mask = c(FALSE, FALSE))
  other <- ls_datasets(10)[[1]]
  data <- pack_batch(list(base, permuted, junk, other), 3L)
  for (threads in 1:2) {
    logits <- predict_core(config, w, data, threads)
    expect_equal(logits[2, ], logits[1, ], tolerance = 1e-5)
    expect_equal(logits[3, ], logits[1, ], tolerance = 1e-5)
    expect_gt(max(abs(logits[4, ] - logits[1, ])), 1e-3)
  }
  expect_identical(predict_core(config, w, data, 1L), predict_core(config, w, data, 2L))
  s <- deepbmc:::cpp_least_squares_statistics(config, data)
  expect_equal(s[2, ], s[1, ], tolerance = 1e-12)
  expect_equal(s[3, ], s[1, ], tolerance = 1e-12)
})

test_that("training with statistics is identical with 1 and 2 threads", {
  config <- core_config(
    input_dim = 1L, n_models = 2L, s1 = c(8L, 8L), s2 = c(8L, 8L), s3 = c(8L, 8L),
    summary_dim = c(4L, 4L), head_units = 8L, head_layers = 2L
  )
  config$statistics <- "least_squares"
  expect_training_thread_deterministic(config)
})

test_that("statistics are stored, printed, sized, and bad values are classed errors", {
  net <- hierarchical_network(statistics = "least_squares")
  expect_identical(net$statistics, "least_squares")
  expect_match(format(net), "statistics: least squares", fixed = TRUE, all = FALSE)
  expect_false(any(grepl("statistics", format(hierarchical_network()))))
  models <- normal_nested_models()
  config <- deepbmc:::network_config(net, models)
  expect_identical(config$statistics, "least_squares")
  plain <- deepbmc:::network_config(hierarchical_network(), models)
  expect_null(plain$statistics)
  expect_identical(config$statistics_version, 2L)
  expect_null(config$statistics_terms)
  # one feature: 4 + 1 + 4 statistics (A, B, C), each with head_units
  # weights, and in version 2 also 3 + 1 (E) and 1 (F)
  expect_equal(deepbmc:::cpp_network_size(config) - deepbmc:::cpp_network_size(plain), 14 * 64)
  version_1 <- config
  version_1$statistics_version <- NULL
  expect_equal(deepbmc:::cpp_network_size(version_1) - deepbmc:::cpp_network_size(plain), 9 * 64)
  for (bad in list("ols", c("least_squares", "none"), NA_character_, 1, TRUE)) {
    expect_error(hierarchical_network(statistics = bad), "statistics",
                 class = "deepbmc_error_value")
  }
  damaged <- net
  damaged$statistics <- "robust"
  expect_error(deepbmc:::network_config(damaged, models), "statistics",
               class = "deepbmc_error_value")
  config$statistics <- "robust"
  expect_error(deepbmc:::cpp_network_size(config), "unknown statistics")
})

test_that("fits train and predict with statistics; fits without the setting read as before", {
  models <- normal_nested_models(groups = 5, obs = 10)
  small <- function(statistics) {
    hierarchical_network(s1 = c(4, 4), s2 = c(4, 4), s3 = c(4, 4), summary_dim = c(3, 3),
                         n_dense = 1, n_equivariant = 1, head_units = 8, head_layers = 1,
                         statistics = statistics)
  }
  fit <- train_comparison(models, network = small("least_squares"), epochs = 1,
                          iterations = 5, holdout = 0, threads = 1, seed = 1,
                          progress = FALSE)
  expect_output(print(fit), "statistics: least squares", fixed = TRUE)
  data <- simulate_datasets(models, n = 4, seed = 2)
  pmp <- post_prob(fit, data)
  expect_true(all(is.finite(as.matrix(pmp[, models$model_names]))))
  saved <- tempfile(fileext = ".rds")
  saveRDS(fit, saved)
  expect_identical(post_prob(readRDS(saved), data), pmp)

  new <- train_comparison(models, network = small("none"), epochs = 1, iterations = 5,
                          holdout = 0, threads = 1, seed = 1, progress = FALSE)
  expect_false(grepl("statistics", paste(capture.output(print(new)), collapse = "\n")))
  old <- expect_fit_without_setting_reads_as_before(new, "statistics", data, small("none"))
  expect_identical(deepbmc:::network_with_settings(old$network),
                   deepbmc:::network_with_settings(new$network))
})

test_that("formula model sets train the network with statistics by default", {
  chicks <- as.data.frame(datasets::ChickWeight)
  models <- suppressMessages(model_set(
    time = hier_model(weight ~ Time + (1 | Chick), chicks),
    diet = hier_model(weight ~ Time + Diet + (1 | Chick), chicks)
  ))
  chosen <- default_network(models)
  expect_identical(chosen$statistics, "least_squares")
  expect_identical(chosen$standardize, "none")
  expect_identical(default_network(normal_nested_models()), hierarchical_network())
  expect_error(default_network(list(type = "formula")), class = "deepbmc_error")
  fit <- train_comparison(models, epochs = 1, iterations = 2, holdout = 0, threads = 1,
                          seed = 1, progress = FALSE)
  expect_identical(deepbmc:::network_with_settings(fit$network),
                   deepbmc:::network_with_settings(chosen))
  expect_output(print(fit), "statistics: least squares (the default for formula model sets)",
                fixed = TRUE)
  # a network given explicitly is used as it is, and not called the default
  paper <- train_comparison(models, network = hierarchical_network(), epochs = 1,
                            iterations = 2, holdout = 0, threads = 1, seed = 1,
                            progress = FALSE)
  expect_false(grepl("default", paste(capture.output(print(paper)), collapse = "\n")))
})

# --- version 2: joint, random-intercept and corrected statistics (D, E, F) ---
# The Wald statistic of a term's columns jointly over their number, log(1 +
# F), from a fit's coefficients and covariance: 0 when none of the term's
# columns is in the fit.
ref_wald <- function(beta, vcov, columns, in_fit) {
  at <- which(in_fit %in% columns)
  if (length(at) == 0) return(0)
  b <- beta[at]
  log1p(drop(b %*% solve(vcov[at, at, drop = FALSE], b)) / length(at))
}

# Blocks D, E and F of one data set (groups of complete rows, column 1 the
# response; `terms` the term id of each covariate), from lm() fits written
# from their definitions in least_squares.h.
ref_least_squares_v2 <- function(groups, terms) {
  groups <- groups[vapply(groups, nrow, 1L) > 0]
  p <- ncol(groups[[1]])
  rows <- do.call(rbind, groups)
  sizes <- vapply(groups, nrow, 1L)
  group <- rep(seq_along(groups), sizes)
  means <- do.call(rbind, lapply(groups, colMeans))
  deviations <- rows - means[group, , drop = FALSE]
  covariates <- seq_len(p - 1) + 1
  tiny <- function(centre) 1e-10 * (1 + centre^2)
  between <- Filter(function(k) {
    mean((means[, k] - mean(means[, k]))^2) > tiny(mean(means[, k]))
  }, covariates)
  within <- Filter(function(k) mean(deviations[, k]^2) > tiny(mean(means[, k])), covariates)
  joint <- Filter(function(id) sum(terms == id) >= 2, sort(unique(terms)))
  term_columns <- lapply(joint, function(id) which(terms == id) + 1)

  # A and B again, for their residual variances and D
  fit_a <- with_intercept(means[, 1], means[, between, drop = FALSE])
  df_b <- nrow(rows) - length(groups) - length(within)
  if (length(within) > 0) {
    fit_b <- lm(deviations[, 1] ~ 0 + deviations[, within, drop = FALSE])
    sigma2 <- sum(stats::residuals(fit_b)^2) / df_b
    vcov_b <- stats::vcov(fit_b) * fit_b$df.residual / df_b
  } else {
    sigma2 <- sum(deviations[, 1]^2) / df_b
  }
  out_d <- unlist(lapply(term_columns, function(columns) {
    c(ref_wald(stats::coef(fit_a)[-1], stats::vcov(fit_a)[-1, -1, drop = FALSE], columns,
               between),
      if (length(within) > 0) ref_wald(stats::coef(fit_b), vcov_b, columns, within) else 0)
  }))

  # E: quasi-demeaned rows, lambda_g = 1 - sqrt(sigma^2 / (sigma^2 + n_g tau^2))
  tau2 <- max(0, summary(fit_a)$sigma^2 - sigma2 * mean(1 / sizes))
  lambda <- (1 - sqrt(sigma2 / (sigma2 + sizes * tau2)))[group]
  varying <- sort(union(between, within))
  x_star <- cbind(1 - lambda, rows[, varying, drop = FALSE] -
                    lambda * means[group, varying, drop = FALSE])
  fit_e <- lm(rows[, 1] - lambda * means[group, 1] ~ 0 + x_star)
  co <- summary(fit_e)$coefficients
  out_e <- numeric(3 * p + 1 + length(joint))
  slots <- c(1, varying)
  for (i in seq_along(slots)) {
    out_e[3 * (slots[i] - 1) + 1:3] <- c(ls_squash(co[i, 1] / co[i, 2]), ls_squash(co[i, 1]),
                                         ls_log(co[i, 2]))
  }
  out_e[3 * p + 1] <- log1p(tau2 / sigma2)
  for (t in seq_along(joint)) {
    out_e[3 * p + 1 + t] <- ref_wald(stats::coef(fit_e)[-1],
                                     stats::vcov(fit_e)[-1, -1, drop = FALSE],
                                     term_columns[[t]], varying)
  }

  # F: per-group fits on the raw covariates (intercept at x = 0), their
  # covariance over groups minus the mean of their vcov()
  slots <- c(1, within)
  fits <- lapply(groups, function(g) {
    if (nrow(g) <= length(slots)) return(NULL)
    fit <- with_intercept(g[, 1], g[, within, drop = FALSE])
    if (anyNA(stats::coef(fit))) return(NULL)
    list(estimate = unname(stats::coef(fit)), vcov = unname(stats::vcov(fit)))
  })
  fits <- Filter(Negate(is.null), fits)
  out_f <- numeric(p + p * (p - 1) / 2)
  if (length(fits) >= 2) {
    estimates <- do.call(rbind, lapply(fits, `[[`, "estimate"))
    noise <- Reduce(`+`, lapply(fits, `[[`, "vcov")) / length(fits)
    corrected <- stats::cov(estimates) - noise
    out_f[slots] <- log1p(pmax(diag(corrected), 0) / diag(noise))
    if (length(fits) > 2 && length(slots) > 1) {
      pairs <- which(upper.tri(diag(p)), arr.ind = TRUE)
      pairs <- pairs[order(pairs[, 1], pairs[, 2]), , drop = FALSE]
      for (k in 2:length(slots)) {
        for (l in seq_len(k - 1)) {
          if (corrected[k, k] <= 0 || corrected[l, l] <= 0) next
          r <- corrected[k, l] / sqrt(corrected[k, k] * corrected[l, l])
          at <- which(pairs[, 1] == slots[l] & pairs[, 2] == slots[k])
          out_f[p + at] <- atanh(min(max(r, -0.999), 0.999))
        }
      }
    }
  }
  c(ref_least_squares(groups), out_d, out_e, out_f)
}

v2_config <- function(input_dim, terms = NULL, ...) {
  config <- ls_config(input_dim = input_dim, ...)
  config$statistics_version <- 2L
  config$statistics_terms <- terms
  config
}

# y on a within-group factor (3 levels: two dummies, ragged and unbalanced,
# so they vary between groups too) and a between-group factor (4 levels:
# three dummies constant within each group), like Machines and ChickWeight.
joint_datasets <- function(seed) {
  set.seed(seed)
  lapply(1:3, function(d) {
    lapply(1:9, function(g) {
      n <- sample(4:7, 1)
      machine <- sample(1:3, n, replace = TRUE)
      diet <- (g %% 4) + 1
      y <- 2 + c(0, 0.5, -0.3)[machine] + c(0, 1, 0.2, -0.8)[diet] * (d > 1) +
        stats::rnorm(1, sd = 0.7) + stats::rnorm(n, sd = 0.5)
      cbind(y, outer(machine, 2:3, `==`) + 0, outer(rep(diet, n), 2:4, `==`) + 0)
    })
  })
}

test_that("version 2 adds joint, random-intercept and corrected statistics that agree with lm()", {
  terms <- c(0L, 0L, 1L, 1L, 1L)
  datasets <- joint_datasets(1)
  v1 <- deepbmc:::cpp_least_squares_statistics(ls_config(input_dim = 6L),
                                               pack_batch(datasets, 6L))
  got <- deepbmc:::cpp_least_squares_statistics(v2_config(6L, terms), pack_batch(datasets, 6L))
  # v1, then D (2 per joint term), E (3P + 1 + joint terms), F (P + P(P-1)/2)
  expect_identical(ncol(got), ncol(v1) + 4L + (3L * 6L + 1L + 2L) + (6L + 15L))
  expect_identical(got[, seq_len(ncol(v1))], v1)
  for (i in seq_along(datasets)) {
    expect_equal(got[i, ], ref_least_squares_v2(datasets[[i]], terms), tolerance = 1e-8,
                 label = paste("data set", i))
    # the diets are in the between regression only
    expect_identical(got[i, ncol(v1) + 4], 0)
    expect_true(all(got[i, ncol(v1) + 1:3] > 0))
  }
  # an effect of the diets in data sets 2 and 3 only
  expect_gt(min(got[2:3, ncol(v1) + 3]), got[1, ncol(v1) + 3])
  # without joint terms, and on the data sets of the other tests (ragged,
  # masked junk, nothing varying within groups, one feature)
  plain <- ls_datasets(1)
  got <- deepbmc:::cpp_least_squares_statistics(v2_config(3L), pack_batch(plain, 3L))
  for (i in seq_along(plain)) {
    expect_equal(got[i, ], ref_least_squares_v2(complete_groups(plain[[i]], 3L), 0:1),
                 tolerance = 1e-8, label = paste("plain data set", i))
  }
  one <- lapply(1:2, function(s) {
    set.seed(s)
    lapply(c(3, 5, 4, 6), function(n) matrix(stats::rnorm(n, stats::rnorm(1)), ncol = 1))
  })
  got1 <- deepbmc:::cpp_least_squares_statistics(v2_config(1L), pack_batch(one, 1L))
  for (i in 1:2) expect_equal(got1[i, ], ref_least_squares_v2(one[[i]], integer(0)),
                              tolerance = 1e-8)
  # terms of one column each give no joint statistics
  expect_identical(ncol(deepbmc:::cpp_least_squares_statistics(v2_config(6L, 0:4),
                                                               pack_batch(datasets, 6L))),
                   ncol(v1) + (3L * 6L + 1L) + (6L + 15L))
  config <- v2_config(6L)
  for (bad in list(c(0L, 1L), c(0L, 0L, 1L, 1L, -1L), c(0L, 0L, 1L, 1L, 9L))) {
    config$statistics_terms <- bad
    expect_error(deepbmc:::cpp_network_size(config), "statistics_terms")
  }
  config$statistics_terms <- terms
  config$statistics_version <- 1L
  expect_error(deepbmc:::cpp_network_size(config), "statistics_terms")
  config$statistics_version <- 3L
  expect_error(deepbmc:::cpp_network_size(config), "statistics_version")
})

test_that("version 2: finite-difference gradients, invariance, thread determinism", {
  config <- v2_config(6L, c(0L, 0L, 1L, 1L, 1L))
  datasets <- joint_datasets(2)
  data <- pack_batch(datasets, 6L)
  labels <- c(1L, 2L, 2L)
  w <- noisy_weights(config, 11)
  res <- deepbmc:::cpp_loss_grad(config, w, data, labels)
  loss <- function(v) deepbmc:::cpp_loss_grad(config, v, data, labels)$loss
  expect_gradient_match(numeric_grad(loss, w), res$grad)
  shuffled <- lapply(datasets, function(d) {
    lapply(rev(d), function(g) g[rev(seq_len(nrow(g))), , drop = FALSE])
  })
  both <- pack_batch(c(datasets, shuffled), 6L)
  logits <- predict_core(config, w, both, 2L)
  expect_equal(logits[4:6, ], logits[1:3, ], tolerance = 1e-5)
  expect_identical(predict_core(config, w, both, 1L), logits)
})

test_that("formula model sets give their factors joint statistics; version-1 fits read as before", {
  chicks <- as.data.frame(datasets::ChickWeight)
  # six chicks of each of the four diets
  keep <- unlist(lapply(split(as.character(chicks$Chick), chicks$Diet),
                        function(chick) unique(chick)[1:6]))
  chicks <- chicks[chicks$Chick %in% keep, ]
  chicks$Chick <- droplevels(chicks$Chick)
  models <- suppressMessages(model_set(
    time = hier_model(weight ~ Time + (1 | Chick), chicks),
    diet = hier_model(weight ~ Time + Diet + (1 | Chick), chicks),
    both = hier_model(weight ~ Time * Diet + (1 | Chick), chicks)
  ))
  expect_identical(deepbmc:::input_terms(models),
                   c("Time", "Diet", "Diet", "Diet", "Time:Diet", "Time:Diet", "Time:Diet"))
  expect_identical(deepbmc:::statistics_terms(models), c(0L, 1L, 1L, 1L, 2L, 2L, 2L))
  # two-level factors and plain covariates: one column per term, no joint ones
  sexes <- suppressMessages(model_set(
    none = hier_model(extra ~ 1 + (1 | ID), datasets::sleep),
    drug = hier_model(extra ~ group + (1 | ID), datasets::sleep)
  ))
  expect_null(deepbmc:::statistics_terms(sexes))
  expect_null(deepbmc:::statistics_terms(normal_nested_models()))
  expect_null(deepbmc:::network_config(deepbmc:::formula_network(), sexes)$statistics_terms)
  expect_null(deepbmc:::network_config(hierarchical_network(), models)$statistics_terms)

  small <- hierarchical_network(s1 = c(4, 4), s2 = c(4, 4), s3 = c(4, 4), summary_dim = c(3, 3),
                                n_dense = 1, n_equivariant = 1, head_units = 8, head_layers = 1,
                                statistics = "least_squares")
  two <- suppressMessages(model_set(
    time = hier_model(weight ~ Time + (1 | Chick), chicks),
    diet = hier_model(weight ~ Time + Diet + (1 | Chick), chicks)
  ))
  new <- train_comparison(two, network = small, epochs = 1, iterations = 5, holdout = 0,
                          threads = 1, seed = 1, progress = FALSE)
  expect_identical(new$config$statistics_terms, c(0L, 1L, 1L, 1L))
  expect_identical(new$config$statistics_version, 2L)
  # A fit with statistics of version 1 (before blocks D, E, F): its
  # configuration has neither element and its head is narrower by the 2
  # joint inputs of D, the 3 * 5 + 1 + 1 of E and the 5 + 10 of F.
  old <- new
  old$config[c("statistics_version", "statistics_terms")] <- NULL
  old$weights <- deepbmc:::cpp_network_init(old$config, 1)
  expect_identical(length(new$weights) - length(old$weights), 34L * 8L)
  old$optimizer$m <- old$optimizer$v <- numeric(length(old$weights))
  old$checksum <- deepbmc:::fit_checksum(old)
  expect_no_error(deepbmc:::check_fit(old))
  pmp <- post_prob(old, chicks)
  expect_true(all(is.finite(unlist(pmp))))
  tuned <- train_comparison(two, init = old, epochs = 1, iterations = 2, holdout = 0,
                            threads = 1, seed = 3, progress = FALSE)
  expect_null(tuned$config$statistics_terms)
  expect_null(tuned$config$statistics_version)
  # the terms of a new fit are checked like the rest of its configuration
  damaged <- new
  damaged$config$statistics_terms <- c(0L, 1L, 2L, 2L)
  damaged$checksum <- deepbmc:::fit_checksum(damaged)
  expect_error(deepbmc:::check_fit(damaged), class = "deepbmc_error")
})
