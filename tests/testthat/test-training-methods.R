test_tier("fast")
# The training methods of issue 14: the exponential loss, the l-POP output
# transform, the size-scaled head and subsampled training data sets. Losses
# and heads against R references and finite differences; training determinism
# across thread counts; subsampling's masks.

method_net_config <- function(output = "linear", size_reference = NULL, n_models = 3L,
                              output_power = 2, rates = "head") {
  config <- core_config(
    input_dim = 2L, n_models = n_models, s1 = c(3L, 2L), s2 = c(2L, 3L),
    s3 = c(3L, 2L), summary_dim = c(2L, 3L), n_dense = 2L, n_equivariant = 1L,
    head_units = 3L, head_layers = 2L
  )
  config$output <- output
  config$output_power <- output_power
  config$size_reference <- size_reference
  config$rates <- rates
  config
}

# Ragged groups, masked rows (one NA), an entirely masked group.
method_datasets <- function(seed) {
  set.seed(seed)
  obs <- function(n) matrix(rnorm(2 * n), n, 2)
  list(
    list(list(x = obs(3), mask = c(TRUE, FALSE, TRUE)), obs(1), obs(4),
         list(x = matrix(c(NA, 5, 7, 9), 2, 2), mask = c(FALSE, FALSE))),
    list(obs(2), list(x = rbind(obs(4), c(NA, NA)), mask = c(TRUE, TRUE, FALSE, TRUE, FALSE)))
  )
}

# Glorot weights plus noise, so that biases are not all zero.
method_weights <- function(config, seed) {
  w <- deepbmc:::cpp_network_init(config, seed)
  set.seed(seed)
  w + rnorm(length(w), sd = 0.2)
}

ref_lpop <- function(o, p) o + o * abs(o)^(p - 1)

# R reference of the head outputs: the raw outputs of the final linear layer
# are the logits of the same weights read as a plain network with
# n_models * (1 + n_levels) outputs (the layout is the same); then
# logit_k = c_k + sum_l (present elements of level l / reference_l) g_{k,l},
# then the output transform.
# With rates from the summary, the rate layer (summary_dim x n_rates, then its
# bias) follows the logits layer and reads the top summary; n_rates is
# n_models * n_levels, twice that for the Laplace form (g, then a), whose head
# sees zeros for the sizes.
ref_method_logits <- function(config, w, dataset) {
  k <- config$n_models
  n_levels <- length(config$s1)
  scaled <- !is.null(config$size_reference)
  separate <- scaled && config$rates != "head"
  laplace <- scaled && config$rates == "laplace"
  raw_config <- config
  raw_config$n_models <- if (scaled && !separate) k * (1L + n_levels) else k
  n_rates <- k * n_levels * (1L + laplace)
  n_rate_weights <- if (separate) (config$summary_dim[n_levels] + 1L) * n_rates else 0L
  raw <- ref_forward(raw_config, w, dataset, parts = TRUE, extra = n_rate_weights,
                     head_sizes = !laplace)
  z <- raw$logits[seq_len(k)]
  if (scaled) {
    rates <- if (separate) {
      read <- weight_reader(w[length(w) - n_rate_weights + seq_len(n_rate_weights)])
      as.vector(ref_dense(matrix(raw$summary, 1),
                          read(config$summary_dim[n_levels], n_rates), identity))
    } else {
      raw$logits[-seq_len(k)]
    }
    groups <- lapply(dataset, as_group, n_features = config$input_dim)
    present_rows <- vapply(groups, function(g) sum(g$mask), numeric(1))
    present <- c(sum(present_rows), sum(present_rows > 0))
    for (l in seq_len(n_levels)) {
      f <- present[l] / config$size_reference[l]
      z <- z + f * rates[k * (l - 1) + seq_len(k)]
      if (laplace) z <- z + log(f) * rates[k * (n_levels + l - 1) + seq_len(k)]
    }
  }
  if (identical(config$output, "lpop")) z <- ref_lpop(z, config$output_power)
  z
}

ref_exponential_loss <- function(z, y) sum(exp((z[-y] - z[y]) / 2))
ref_log_loss <- function(z, y) max(z) + log(sum(exp(z - max(z)))) - z[y]

method_configs <- list(
  lpop = method_net_config("lpop"),
  lpop_power_1.5 = method_net_config("lpop", output_power = 1.5),
  size_scaled = method_net_config(size_reference = c(6, 3)),
  both = method_net_config("lpop", size_reference = c(10, 2)),
  summary_rates = method_net_config(size_reference = c(6, 3), rates = "summary"),
  summary_rates_lpop = method_net_config("lpop", size_reference = c(6, 3), rates = "summary"),
  laplace = method_net_config(size_reference = c(6, 3), rates = "laplace")
)

test_that("method heads match an R reference (forward pass, double and float)", {
  datasets <- method_datasets(71)
  data <- pack_batch(datasets, n_features = 2L)
  for (config in method_configs) {
    w <- method_weights(config, 72)
    ref <- t(vapply(datasets, function(d) ref_method_logits(config, w, d),
                    numeric(config$n_models)))
    double <- deepbmc:::cpp_loss_grad(config, w, data, c(1L, 2L))$logits
    expect_equal(double, ref, tolerance = 1e-12)
    float <- deepbmc:::cpp_predict(config, w, data, 1L)$logits
    expect_lt(rel_to_max(float, ref), 1e-5)
  }
})

test_that("exponential and log losses match R, their gradients finite differences", {
  datasets <- method_datasets(81)
  data <- pack_batch(datasets, n_features = 2L)
  labels <- c(2L, 3L)
  configs <- c(list(plain = method_net_config()), method_configs)
  for (loss_name in c("exponential", "log")) {
    ref_loss <- if (loss_name == "exponential") ref_exponential_loss else ref_log_loss
    for (config in configs) {
      w <- method_weights(config, 82)
      res <- deepbmc:::cpp_loss_grad(config, w, data, labels, loss = loss_name)
      expected <- mean(vapply(1:2, function(b) ref_loss(res$logits[b, ], labels[b]), 1))
      expect_equal(res$loss, expected, tolerance = 1e-12)
      loss <- function(v) deepbmc:::cpp_loss_grad(config, v, data, labels, loss = loss_name)$loss
      expect_gradient_match(numeric_grad(loss, w), res$grad)
      expect_gt(mean(res$grad != 0), 0.9)
      finite <- which(is.finite(data$values))
      loss_x <- function(v) {
        d <- data
        d$values <- v
        deepbmc:::cpp_loss_grad(config, w, d, labels, loss = loss_name)$loss
      }
      num_x <- numeric_grad(loss_x, data$values, which = finite)
      expect_gradient_match(num_x[finite], res$input_grad[finite])
    }
  }
})

test_that("the exponential loss is minimal at the log Bayes factor and capped far out", {
  # expected loss over the true model: p1 exp(-d/2) + p0 exp(d/2), minimal at
  # d = log(p1 / p0)
  config <- method_net_config(n_models = 2L)
  w <- method_weights(config, 91)
  data <- pack_batch(method_datasets(92)[1], n_features = 2L)
  z <- deepbmc:::cpp_loss_grad(config, w, data, 1L)$logits[1, ]
  d <- z[2] - z[1]
  l0 <- deepbmc:::cpp_loss_grad(config, w, data, 1L, loss = "exponential")$loss
  l1 <- deepbmc:::cpp_loss_grad(config, w, data, 2L, loss = "exponential")$loss
  expect_equal(l0, exp(d / 2), tolerance = 1e-12)
  expect_equal(l1, exp(-d / 2), tolerance = 1e-12)
  # gradient of the expected loss in d vanishes at d = log(p1 / p0): with
  # p1 / p0 = exp(d) the two gradients (for z_2) cancel
  g0 <- deepbmc:::cpp_loss_grad(config, w, data, 1L, loss = "exponential")
  g1 <- deepbmc:::cpp_loss_grad(config, w, data, 2L, loss = "exponential")
  p1 <- 1 / (1 + exp(-d))
  expect_lt(max(abs((1 - p1) * g0$grad + p1 * g1$grad)), 1e-12 * max(abs(g0$grad)))
})

test_that("the confidence-weighted log loss is w times the log loss, w from the logits", {
  # w = 1 / (2 sqrt(p (1 - p))) with p the largest PMP, capped at 50, held
  # constant: loss and gradient are w times those of the log loss, data set
  # by data set (cosh(d / 2) for two models).
  ref_weight <- function(z) {
    p <- max(exp(z - max(z)) / sum(exp(z - max(z))))
    min(1 / (2 * sqrt(p * (1 - p))), 50)
  }
  datasets <- method_datasets(111)
  weights_seen <- numeric(0)
  for (config in list(method_net_config(n_models = 2L), method_configs$summary_rates)) {
    for (scale in c(1, 2.7, 3)) {
      # larger weights give larger logits; at 3 the cap applies
      w <- method_weights(config, 112) * scale
      for (b in seq_along(datasets)) {
        data <- pack_batch(datasets[b], n_features = 2L)
        ce <- deepbmc:::cpp_loss_grad(config, w, data, 1L, loss = "log")
        weighted <- deepbmc:::cpp_loss_grad(config, w, data, 1L, loss = "weighted_log")
        weight <- ref_weight(ce$logits[1, ])
        weights_seen <- c(weights_seen, weight)
        expect_equal(weighted$loss, weight * ce$loss, tolerance = 1e-12)
        expect_equal(weighted$grad, weight * ce$grad, tolerance = 1e-12)
        if (config$n_models == 2L) {
          d <- diff(ce$logits[1, ])
          expect_equal(weight, min(cosh(d / 2), 50), tolerance = 1e-12)
        }
      }
    }
  }
  # the cases cover weights near 1, in between and at the cap
  expect_lt(min(weights_seen), 2)
  expect_true(any(weights_seen > 2 & weights_seen < 50))
  expect_true(any(weights_seen == 50))
})

test_that("size-scaled logits are affine in the size factors", {
  # logit = c + sum_l (n_l / reference_l) g_l: halving every reference adds
  # the size part once more, so z(r) - z(2r) = 2 (z(2r) - z(4r)) with the same
  # weights; and the size part is not zero.
  data <- pack_batch(method_datasets(101), n_features = 2L)
  logits <- function(reference) {
    config <- method_net_config(size_reference = reference)
    w <- method_weights(method_net_config(size_reference = c(1, 1)), 102)
    deepbmc:::cpp_loss_grad(config, w, data, c(1L, 1L))$logits
  }
  z1 <- logits(c(8, 2))
  z2 <- logits(c(16, 4))
  z4 <- logits(c(32, 8))
  expect_equal(z1 - z2, 2 * (z2 - z4), tolerance = 1e-10)
  expect_gt(max(abs(z1 - z2)), 1e-3)
  # the two levels add: halving each share alone sums to halving both
  z_obs <- logits(c(16, 2))
  z_groups <- logits(c(8, 4))
  expect_equal((z1 - z_obs) + (z1 - z_groups), z1 - z2, tolerance = 1e-10)
  expect_gt(min(max(abs(z1 - z_obs)), max(abs(z1 - z_groups))), 1e-4)
})

test_that("invalid head settings are refused", {
  expect_error(deepbmc:::cpp_network_size(method_net_config(size_reference = c(1, 2, 3))),
               "one entry per level")
  expect_error(deepbmc:::cpp_network_size(method_net_config(size_reference = c(1, 0))),
               "positive")
  expect_error(deepbmc:::cpp_network_size(method_net_config(output_power = 0.5)),
               "output_power")
  expect_error(deepbmc:::cpp_network_size(method_net_config(output = "cubic")),
               "unknown output")
  expect_error(deepbmc:::cpp_network_size(method_net_config(rates = "magic")),
               "unknown rate source")
})

# --- training ---------------------------------------------------------------

method_models <- list(type = "normal_nested", groups = c(4L, 12L), obs = c(3L, 15L))

train_method <- function(method, config, threads, steps = 8L) {
  w <- deepbmc:::cpp_network_init(config, 3)
  deepbmc:::cpp_train(
    config, w, fresh_optimizer(length(w)), method_models,
    steps = steps, total_steps = steps, batch_size = 12L, learning_rate = 1e-3,
    seed = 5, threads = as.integer(threads), method = method
  )
}

test_that("training with every method is identical with 1 and 2 threads", {
  config <- study1_config()
  config$output <- "lpop"
  config$size_reference <- c(12 * 15, 12)
  for (method in list(list(loss = "exponential", subsample = 0.5),
                      list(loss = "log", subsample = 1))) {
    one <- train_method(method, config, 1L)
    two <- train_method(method, config, 2L)
    expect_identical(two$weights, one$weights)
    expect_identical(two$optimizer, one$optimizer)
    expect_identical(two$loss, one$loss)
    expect_true(all(is.finite(one$loss)))
  }
})

test_that("the default method is the classifier of before", {
  config <- study1_config()
  default <- train_method(NULL, config, 2L, steps = 4L)
  explicit <- train_method(list(loss = "log", subsample = 0), config, 2L, steps = 4L)
  expect_identical(explicit$weights, default$weights)
  # and the exponential loss trains different weights
  exponential <- train_method(list(loss = "exponential", subsample = 0), config, 2L, steps = 4L)
  expect_false(identical(exponential$weights, default$weights))
  subsampled <- train_method(list(loss = "log", subsample = 0.5), config, 2L, steps = 4L)
  expect_false(identical(subsampled$weights, default$weights))
})

test_that("subsampling masks whole groups and observations, never values", {
  models <- list(type = "normal_nested", groups = c(20L, 20L), obs = c(10L, 10L))
  kept_groups <- integer(0)
  shares <- numeric(0)
  for (index in 0:399) {
    plain <- deepbmc:::cpp_subsample_check(models, 2L, 7, 3, index, 0)
    expect_true(all(plain$mask))
    sub <- deepbmc:::cpp_subsample_check(models, 2L, 7, 3, index, 1)
    # the same simulation: values identical, only the mask differs
    expect_identical(sub$x, plain$x)
    per_group <- tapply(sub$mask, rep(1:20, each = 10), sum)
    kept <- per_group[per_group > 0]
    expect_gte(length(kept), 1)
    # one share f for all groups: every kept group keeps ceil(f * 10) rows
    expect_length(unique(kept), 1)
    kept_groups <- c(kept_groups, length(kept))
    shares <- c(shares, kept[[1]])
  }
  # numbers of groups kept are uniform on 1..20, rows kept on 1..10
  expect_setequal(unique(kept_groups), 1:20)
  expect_lt(abs(mean(kept_groups) - 10.5), 4 * sqrt((20^2 - 1) / 12 / 400))
  expect_setequal(unique(shares), 1:10)
  # log-uniform sizes: the number of groups kept, and the rows kept per group,
  # have log-uniform distributions (their logs are uniform, mean log(n) / 2)
  log_groups <- numeric(0)
  log_rows <- numeric(0)
  for (index in 0:399) {
    sub <- deepbmc:::cpp_subsample_check(models, 2L, 7, 3, index, 1, log_sizes = TRUE)
    per_group <- tapply(sub$mask, rep(1:20, each = 10), sum)
    kept <- per_group[per_group > 0]
    expect_length(unique(kept), 1)
    log_groups <- c(log_groups, log(length(kept)))
    log_rows <- c(log_rows, log(kept[[1]]))
  }
  expect_setequal(unique(round(exp(log_groups))), 1:20)
  expect_lt(abs(mean(log_groups) - log(20.5) / 2), 4 * log(20.5) / sqrt(12 * 400))
  expect_lt(mean(log_rows), 0.5 * log(10.5) + 0.4) # ceiling() lifts it a little
  # P(ceil(10 f) <= 3) = P(f <= 0.3) = 1 - log(1 / 0.3) / log(10.5) = 0.49
  # (round(): exp(log(3)) is a little above 3)
  expect_gt(mean(round(exp(log_rows)) <= 3), 0.4)
  # with probability 1/2 each, about a quarter of the data sets stay whole
  whole <- vapply(0:399, function(index) {
    all(deepbmc:::cpp_subsample_check(models, 1L, 9, 0, index, 0.5)$mask)
  }, logical(1))
  expect_lt(abs(mean(whole) - 0.25), 4 * sqrt(0.25 * 0.75 / 400))
})

# --- the R interface ----------------------------------------------------------

test_that("train_comparison() takes a method and fits keep it", {
  models <- normal_nested_models(groups = 5, obs = 5)
  expect_error(train_comparison(models, epochs = 1, iterations = 2, seed = 1,
                                method = "magic"),
               class = "deepbmc_error_value")
  expect_error(train_comparison(models, epochs = 1, iterations = 2, seed = 1,
                                method = 3),
               class = "deepbmc_error_value")
  # the exponential loss is measured but not offered (bench/bf_accuracy.md)
  expect_error(train_comparison(models, epochs = 1, iterations = 2, seed = 1,
                                method = "evidence_network"),
               class = "deepbmc_error_value")
  fit <- train_comparison(models, epochs = 1, iterations = 3, seed = 1,
                          method = "size_subsample")
  expect_identical(fit$training$method$name, "size_subsample")
  expect_identical(fit$training$method$subsample, 0.5)
  # size references per level, innermost first: 5 x 5 observations, 5 groups
  expect_identical(fit$config$size_reference, c(25, 5))
  expect_identical(fit$config$output, "linear")
  # the default keeps the plain configuration of main
  plain <- train_comparison(models, epochs = 1, iterations = 3, seed = 1)
  expect_identical(plain$config,
                   deepbmc:::network_config(hierarchical_network(), models))
  x <- simulate_datasets(models, n = 3, seed = 2)$data
  pmp <- post_prob(fit, x)
  expect_equal(rowSums(pmp), rep(1, 3))
  # log BF = difference of logits, the same as from the log PMPs
  lbf <- bayes_factor(fit, x, model1 = 2L, model2 = 1L)
  log_pmp <- post_prob(fit, x, log = TRUE)
  expect_equal(c(lbf), log_pmp[, 2] - log_pmp[, 1], tolerance = 1e-12)
  path <- withr::local_tempfile(fileext = ".rds")
  saveRDS(fit, path)
  expect_identical(post_prob(readRDS(path), x), pmp)
})
