test_tier("fast")
# Pooling as a declared choice per level (hierarchical_network(pooling =),
# R/pooling.R, src/network_spec.h, issue 29): the registry in R and C++ agree;
# the argument is checked; "mean_cov" and "mean_logvar"
# (set_mean_cov_forward/backward, set_mean_logvar_forward/backward in
# src/layers.h) have gradients that match finite differences at every level,
# a forward pass that matches an R reference in double and float, is
# invariant to permutations and to unobserved rows, and trains identically
# on 1 and 2 threads; fits without the setting read and predict as before.

# Ragged sets of sizes 3, 1, 4 and 2: row 2 is masked, and the last set is
# entirely masked (as in test-gradients.R).
pool_offsets <- c(0L, 3L, 4L, 8L, 10L)
pool_mask <- c(TRUE, FALSE, TRUE, TRUE, TRUE, TRUE, TRUE, TRUE, FALSE, FALSE)
pool_set <- rep(1:4, diff(pool_offsets))

pool_config <- function(pooling = "mean_cov", n_equivariant = 2L, activation = "elu") {
  core_config(
    input_dim = 2L, n_models = 2L, activation = activation,
    s1 = c(3L, 2L), s2 = c(4L, 3L), s3 = c(5L, 2L), summary_dim = c(3L, 2L),
    n_dense = 2L, n_equivariant = n_equivariant, head_units = 2L, head_layers = 1L,
    pooling = pooling
  )
}

pool_weights <- function(config, seed) {
  w <- deepbmc:::cpp_network_init(config, seed)
  set.seed(seed)
  w + rnorm(length(w), sd = 0.2)
}

# Gradients of sum(out * dout) of one module of `level` with respect to the
# weights and x against central differences; a module with one output per
# set gives unobserved rows no gradient.
expect_pool_gradients <- function(config, module, w, x, dout, level) {
  run <- module_run(config, module, w, x, pool_offsets, pool_mask, dout, level = level)
  expect_equal(dim(run$out), dim(dout))
  num_w <- numeric_grad(function(v) {
    module_loss(config, module, v, x, pool_offsets, pool_mask, dout, level = level)
  }, w)
  expect_gradient_match(num_w, run$dweights)
  num_x <- numeric_grad(function(v) {
    module_loss(config, module, w, matrix(v, nrow(x)), pool_offsets, pool_mask, dout,
                level = level)
  }, as.vector(x))
  expect_gradient_match(num_x, as.vector(run$dx))
  if (module != "equivariant") expect_true(all(run$dx[!pool_mask, ] == 0))
  invisible(run)
}

# The weights of the invariant module's projection at `level`, found as the
# block of weights whose gradient a "pool" run touches, and checked against
# its size; first and last are 1-based positions in the weight vector.
pool_projection <- function(config, w, level, width = 2L * config$s1[level], bias = TRUE) {
  d <- config$s1[level]
  set.seed(1)
  probe <- module_run(config, "pool", w, matrix(rnorm(10 * d), 10, d), pool_offsets, pool_mask,
                      matrix(1, 4, 2 * d), level = level)
  touched <- which(probe$dweights != 0)
  first <- min(touched)
  last <- first + d * width + width - 1
  stopifnot(max(touched) <= last - if (bias) 0L else width)
  read <- weight_reader(w[first:last])
  c(read(d, width), list(first = first, last = last))
}

test_that("the pooling registry agrees with the C++ enum", {
  expect_identical(deepbmc:::cpp_pooling_methods(), deepbmc:::pooling_methods$name)
  expect_identical(deepbmc:::pooling_methods$name[[1]], "mean")
  expect_false(anyDuplicated(deepbmc:::pooling_methods$name) > 0)
})

test_that("pooling is one value or one per level, stored, printed and sized", {
  expect_identical(hierarchical_network()$pooling, c("mean", "mean"))
  expect_identical(hierarchical_network(pooling = "mean_cov")$pooling, c("mean_cov", "mean_cov"))
  net <- hierarchical_network(pooling = c("mean", "mean_cov"))
  expect_identical(net$pooling, c("mean", "mean_cov"))
  expect_identical(hierarchical_network(s1 = 8, s2 = 8, s3 = 8, summary_dim = 4,
                                        pooling = "mean_cov")$pooling, "mean_cov")
  lines <- format(net)
  expect_true(any(grepl("level 2: .*, pooling mean_cov$", lines)))
  expect_false(any(grepl("level 1: .*pooling", lines)))
  expect_false(any(grepl("pooling", format(hierarchical_network()))))

  for (bad in list("max", c("mean", "max"), NA_character_, 1, TRUE, character(0))) {
    expect_error(hierarchical_network(pooling = bad), "pooling",
                 class = if (length(bad) == 0) "deepbmc_error_mismatch" else "deepbmc_error_value")
  }
  expect_error(hierarchical_network(pooling = c("mean", "mean", "mean")), "pooling",
               class = "deepbmc_error_mismatch")

  models <- normal_nested_models()
  plain <- deepbmc:::network_config(hierarchical_network(), models)
  expect_null(plain$pooling)
  config <- deepbmc:::network_config(net, models)
  expect_identical(config$pooling, c("mean", "mean_cov"))
  # level 2 (s1 32, s2 128, two equivariant modules): three invariant modules,
  # each with a projection 32 -> 64 and an s2 input twice as wide
  expect_equal(deepbmc:::cpp_network_size(config) - deepbmc:::cpp_network_size(plain),
               3 * (32 * 64 + 64 + 32 * 128))
  # all-mean spelled out is the plain network
  explicit <- plain
  explicit$pooling <- c("mean", "mean")
  expect_identical(deepbmc:::cpp_network_size(explicit), deepbmc:::cpp_network_size(plain))

  damaged <- net
  damaged$pooling <- c("mean", "max")
  expect_error(deepbmc:::network_config(damaged, models), "pooling",
               class = "deepbmc_error_value")
  damaged$pooling <- "mean"
  expect_error(deepbmc:::network_config(damaged, models), "pooling",
               class = "deepbmc_error_value")
  wrong <- config
  wrong$pooling <- c("mean", "max")
  expect_error(deepbmc:::cpp_network_size(wrong), "unknown pooling")
  wrong$pooling <- "mean_cov"
  expect_error(deepbmc:::cpp_network_size(wrong), "one entry per level")
})

test_that("mean_cov and mean_logvar pooling: forward matches R, gradients match finite differences", {
  for (level in 1:2) {
    # mean_logvar: the mean beside log(0.01 + var) of d learned directions
    config <- pool_config("mean_logvar")
    w <- pool_weights(config, 300 + level)
    d <- config$s1[level]
    set.seed(310 + level)
    x <- matrix(rnorm(10 * d), 10, d)
    x[!pool_mask, ] <- 1e3
    dout <- matrix(rnorm(4 * 2 * d), 4)
    run <- expect_pool_gradients(config, "pool", w, x, dout, level)
    proj <- pool_projection(config, w, level, width = d, bias = FALSE)
    expected <- t(vapply(1:4, function(s) {
      rows <- pool_set == s & pool_mask
      if (!any(rows)) return(numeric(2 * d))
      h <- x[rows, , drop = FALSE]
      u <- h %*% proj$w
      c(colMeans(h), log(0.01 + colMeans(u^2) - colMeans(u)^2))
    }, numeric(2 * d)))
    expect_equal(run$out, expected, tolerance = 1e-12)
    expect_true(all(run$out[4, ] == 0))
    # the one-row set: log(0.01) of a zero variance
    expect_equal(run$out[2, d + seq_len(d)], rep(log(0.01), d))
    grad_at <- which(run$dweights != 0)
    expect_true(all(grad_at >= proj$first & grad_at <= proj$first + d * d - 1))
  }
  for (level in 1:2) {
    config <- pool_config("mean_cov")
    w <- pool_weights(config, 200 + level)
    d <- config$s1[level]
    set.seed(210 + level)
    x <- matrix(rnorm(10 * d), 10, d)
    x[!pool_mask, ] <- 1e3 # unobserved rows must not count
    dout <- matrix(rnorm(4 * 2 * d), 4)
    run <- expect_pool_gradients(config, "pool", w, x, dout, level)

    # the level's invariant module's projection: after its s1 stack (and, with
    # equivariant modules, after theirs); read it from the known offsets
    proj <- pool_projection(config, w, level)
    expected <- t(vapply(1:4, function(s) {
      rows <- pool_set == s & pool_mask
      if (!any(rows)) return(numeric(2 * d))
      h <- x[rows, , drop = FALSE]
      u <- sweep(h %*% proj$w, 2, proj$b, "+")
      c(colMeans(h), colMeans(u[, seq_len(d), drop = FALSE] * u[, d + seq_len(d), drop = FALSE]))
    }, numeric(2 * d)))
    expect_equal(run$out, expected, tolerance = 1e-12)
    expect_true(all(run$out[4, ] == 0)) # the all-masked set is a zero row
    # only the projection's weights get a gradient
    grad_at <- which(run$dweights != 0)
    expect_true(all(grad_at >= proj$first & grad_at <= proj$last))
    expect_gt(length(grad_at), 0.9 * (proj$last - proj$first + 1))

    # "mean" at this level is the plain set mean
    plain <- pool_config("mean")
    mean_run <- module_run(plain, "pool", pool_weights(plain, 1), x, pool_offsets, pool_mask,
                           dout[, seq_len(d)], level = level)
    expect_equal(mean_run$out, expected[, seq_len(d)], tolerance = 1e-14)
  }
})

test_that("invariant, equivariant and level modules with mean_cov: gradients at levels 1 and 2", {
  # every level with each pooling
  for (pooling in list(c("mean_cov", "mean_cov"), c("mean", "mean_cov"), c("mean_cov", "mean"),
                      c("mean_logvar", "mean_logvar"))) {
    for (n_eq in c(0L, 2L)) {
      config <- pool_config(pooling, n_equivariant = n_eq, activation = "tanh")
      for (level in 1:2) {
        w <- pool_weights(config, 220 + level + n_eq)
        set.seed(230 + level + n_eq)
        in_width <- if (level == 1) config$input_dim else config$summary_dim[1]
        inv_width <- if (n_eq > 0) config$s3[level] else in_width
        x_inv <- matrix(rnorm(10 * inv_width), 10)
        x <- matrix(rnorm(10 * in_width), 10)
        inv <- expect_pool_gradients(config, "invariant", w, x_inv,
                                     matrix(rnorm(4 * config$s2[level]), 4), level)
        expect_true(all(inv$dx[pool_mask, ] != 0))
        expect_pool_gradients(config, "level", w, x,
                              matrix(rnorm(4 * config$summary_dim[level]), 4), level)
        if (n_eq > 0) {
          expect_pool_gradients(config, "equivariant", w, x,
                                matrix(rnorm(10 * config$s3[level]), 10), level)
        }
      }
    }
  }
})

# Two data sets with two features: ragged groups, masked rows with junk, an
# entirely masked group (as in test-gradients.R).
pool_datasets <- function(seed) {
  set.seed(seed)
  obs <- function(n) matrix(rnorm(2 * n), n, 2)
  list(
    list(list(x = obs(3), mask = c(TRUE, FALSE, TRUE)), obs(1), obs(4),
         list(x = matrix(c(NA, 5, 7, 9), 2, 2), mask = c(FALSE, FALSE))),
    list(obs(2), list(x = rbind(obs(4), c(NA, NA)), mask = c(TRUE, TRUE, FALSE, TRUE, FALSE)))
  )
}

test_that("network gradients and forward pass with mean_cov pooling", {
  datasets <- pool_datasets(241)
  data <- pack_batch(datasets, n_features = 2L)
  labels <- c(1L, 2L)
  observed <- rep(data$mask, each = 2)
  for (pooling in list(c("mean", "mean_cov"), c("mean_cov", "mean_cov"),
                      c("mean_logvar", "mean_logvar"))) {
    config <- core_config(
      input_dim = 2L, n_models = 2L, s1 = c(3L, 2L), s2 = c(2L, 3L), s3 = c(3L, 2L),
      summary_dim = c(2L, 3L), n_dense = 1L, n_equivariant = 1L, head_units = 3L,
      head_layers = 1L, pooling = pooling
    )
    w <- pool_weights(config, 242)
    expect_lt(length(w), 400) # keeps the check fast
    res <- deepbmc:::cpp_loss_grad(config, w, data, labels)
    num_w <- numeric_grad(function(v) deepbmc:::cpp_loss_grad(config, v, data, labels)$loss, w)
    expect_gradient_match(num_w, res$grad)
    expect_gt(mean(res$grad != 0), 0.9)
    finite <- which(is.finite(data$values))
    num_x <- numeric_grad(function(v) {
      d <- data
      d$values <- v
      deepbmc:::cpp_loss_grad(config, w, d, labels)$loss
    }, data$values, which = finite)
    expect_gradient_match(num_x[finite], res$input_grad[finite])
    expect_true(all(res$input_grad[!observed] == 0))

    ref <- t(vapply(datasets, function(d) ref_forward(config, w, d), numeric(2)))
    expect_equal(res$logits, ref, tolerance = 1e-12)
    expect_lt(rel_to_max(predict_core(config, w, data, 1L), ref), 1e-5)
  }
})

# Widths that take the float kernels around the pooling layer.
kernel_config <- function(pooling = c("mean_cov", "mean_cov")) {
  core_config(
    input_dim = 1L, n_models = 2L, s1 = c(8L, 8L), s2 = c(16L, 8L), s3 = c(8L, 16L),
    summary_dim = c(8L, 8L), head_units = 8L, n_equivariant = 2L, head_layers = 2L,
    pooling = pooling
  )
}

ragged_groups <- function(seed, sizes = c(6, 1, 9, 3, 12)) {
  set.seed(seed)
  lapply(sizes, function(n) matrix(rnorm(n, mean = rnorm(1), sd = 0.5 + runif(1)), n, 1))
}

test_that("mean_cov and mean_logvar networks are invariant to permutations and unobserved rows", {
  for (pooling in list(c("mean_cov", "mean_cov"), c("mean_logvar", "mean_logvar"))) {
    config <- kernel_config(pooling)
    w <- pool_weights(config, 251)
    base <- ragged_groups(252)
    set.seed(253)
    within <- lapply(base, function(g) g[sample(nrow(g)), , drop = FALSE])
    both <- lapply(base[sample(length(base))], function(g) g[sample(nrow(g)), , drop = FALSE])
    other <- ragged_groups(254, sizes = c(4, 7))
    # unobserved rows with junk in two groups, and an unobserved group
    junk <- function(n) matrix(rep_len(c(NA, 1e300, -Inf, 7), n), n, 1)
    padded <- c(
      list(list(x = junk(3), mask = rep(FALSE, 3))),
      lapply(seq_along(base), function(l) {
        g <- base[[l]]
        if (l %% 2 == 0) return(list(x = g, mask = rep(TRUE, nrow(g))))
        list(x = rbind(junk(2), g), mask = c(FALSE, FALSE, rep(TRUE, nrow(g))))
      })
    )
    data <- pack_batch(list(base, within, both, padded, other), 1L)
    for (threads in 1:2) {
      logits <- predict_core(config, w, data, threads)
      for (i in 2:4) expect_equal(logits[i, ], logits[1, ], tolerance = 1e-5)
      expect_gt(max(abs(logits[5, ] - logits[1, ])), 1e-3)
    }
    dbl <- deepbmc:::cpp_loss_grad(config, w, data, rep(1L, 5))
    for (i in 2:4) expect_equal(dbl$logits[i, ], dbl$logits[1, ], tolerance = 1e-12)
    # the float kernels around the pooling layer against the R reference
    ref <- ref_forward(config, w, base)
    expect_equal(dbl$logits[1, ], ref, tolerance = 1e-12)
    expect_lt(rel_to_max(predict_core(config, w, data, 1L)[1, ], ref), 1e-5)
    a <- deepbmc:::cpp_loss_grad(config, w, pack_batch(list(base), 1L), 2L)
    b <- deepbmc:::cpp_loss_grad(config, w, pack_batch(list(padded), 1L), 2L)
    expect_equal(b$grad, a$grad, tolerance = 1e-10)
    bf <- deepbmc:::cpp_loss_grad(config, w, pack_batch(list(padded), 1L), 2L,
                                  double_precision = FALSE)
    expect_equal(bf$grad, a$grad, tolerance = 1e-4)
  }
})

test_that("training mean_cov and mean_logvar networks is identical with 1 and 2 threads", {
  models <- list(type = "normal_nested", groups = c(5L, 15L), obs = c(3L, 20L))
  for (pooling in list(c("mean", "mean_cov"), c("mean_logvar", "mean_logvar"))) {
    config <- kernel_config(pooling)
    train <- function(threads) {
      w <- deepbmc:::cpp_network_init(config, 1)
      deepbmc:::cpp_train(
        config, w, fresh_optimizer(length(w)), models,
        steps = 8L, total_steps = 8, batch_size = 16L, learning_rate = 1e-3,
        seed = 7, threads = as.integer(threads)
      )
    }
    one <- train(1L)
    two <- train(2L)
    expect_identical(two$weights, one$weights)
    expect_identical(two$loss, one$loss)
    expect_true(all(is.finite(one$loss)))
    expect_false(identical(one$weights, deepbmc:::cpp_network_init(config, 1)))
  }
})

test_that("fits train with mean_cov; fits without the setting read and predict as before", {
  models <- normal_nested_models(groups = 5, obs = 10)
  small <- function(pooling) {
    hierarchical_network(s1 = c(4, 4), s2 = c(4, 4), s3 = c(4, 4), summary_dim = c(3, 3),
                         n_dense = 1, n_equivariant = 1, head_units = 8, head_layers = 1,
                         pooling = pooling)
  }
  data <- simulate_datasets(models, n = 4, seed = 2)
  fit <- train_comparison(models, network = small(c("mean", "mean_cov")), epochs = 1,
                          iterations = 5, holdout = 0, threads = 1, seed = 1, progress = FALSE)
  expect_identical(fit$config$pooling, c("mean", "mean_cov"))
  pmp <- post_prob(fit, data)
  expect_true(all(is.finite(as.matrix(pmp[, models$model_names]))))

  # A fit saved before the setting existed: no element in its network or
  # configuration. It checks, and predicts exactly as the same fit with the
  # mean spelled out, and as its configuration with the mean spelled out.
  new <- train_comparison(models, network = small("mean"), epochs = 1, iterations = 5,
                          holdout = 0, threads = 1, seed = 1, progress = FALSE)
  old <- expect_fit_without_setting_reads_as_before(new, "pooling", data, small("mean"))
  packed <- deepbmc:::cpp_simulate(deepbmc:::models_spec(models), 6L, 5, 1L)
  explicit <- new$config
  explicit$pooling <- c("mean", "mean")
  expect_identical(predict_core(explicit, new$weights, packed, 1L),
                   predict_core(new$config, new$weights, packed, 1L))
  # a new phase may not change the pooling
  expect_error(train_comparison(models, network = small("mean_cov"), init = old, epochs = 1,
                                iterations = 2, holdout = 0, threads = 1, seed = 3,
                                progress = FALSE), "architecture")

  # the shipped fits (trained before issue 29) keep their checksums and sizes
  stored <- readRDS(system.file("extdata", "recognition_fit.rds", package = "deepbmc"))
  expect_null(stored$network$pooling)
  expect_null(stored$config$pooling)
  expect_no_error(deepbmc:::check_fit(stored))
  expect_equal(deepbmc:::cpp_network_size(stored$config), length(stored$weights))
})
