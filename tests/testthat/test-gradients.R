test_tier("fast")
# Finite-difference checks of the hand-written backward passes (in double), for
# every module of a DeepSet level and for the whole network; and the forward
# pass against an R reference built from the documented architecture.

# Ragged sets of sizes 3, 1, 4 and 2: row 2 is masked, and the last set is
# entirely masked.
module_offsets <- c(0L, 3L, 4L, 8L, 10L)
module_mask <- c(TRUE, FALSE, TRUE, TRUE, TRUE, TRUE, TRUE, TRUE, FALSE, FALSE)
module_set <- rep(1:4, diff(module_offsets))

# Small widths, different from each other so that a mixed-up dimension shows.
module_config <- function(activation = "elu", n_equivariant = 2L) {
  core_config(
    input_dim = 2L, n_models = 2L, activation = activation,
    s1 = c(3L, 2L), s2 = c(4L, 2L), s3 = c(5L, 2L), summary_dim = c(3L, 2L),
    n_dense = 2L, n_equivariant = n_equivariant, head_units = 2L, head_layers = 1L
  )
}

# Checks the gradients of sum(out * dout) of one module with respect to all
# weights, x and (if given) pooled against central differences.
expect_module_gradients <- function(config, module, w, x, dout,
                                    pooled = matrix(0, 0, 0), tol = 1e-7) {
  run <- module_run(config, module, w, x, module_offsets, module_mask, dout, pooled)
  expect_equal(dim(run$out), dim(dout))
  expect_length(run$dweights, length(w))

  num_w <- numeric_grad(function(v) {
    module_loss(config, module, v, x, module_offsets, module_mask, dout, pooled)
  }, w)
  expect_gradient_match(num_w, run$dweights, tol)

  num_x <- numeric_grad(function(v) {
    module_loss(config, module, w, matrix(v, nrow(x)), module_offsets, module_mask,
                dout, pooled)
  }, as.vector(x))
  expect_equal(dim(run$dx), dim(x))
  expect_gradient_match(num_x, as.vector(run$dx), tol)

  if (length(pooled) > 0) {
    num_p <- numeric_grad(function(v) {
      module_loss(config, module, w, x, module_offsets, module_mask, dout,
                  matrix(v, nrow(pooled)))
    }, as.vector(pooled))
    expect_equal(dim(run$dpooled), dim(pooled))
    expect_gradient_match(num_p, as.vector(run$dpooled), tol)
  }
  invisible(run)
}

test_that("dense layer: forward matches R and gradients match finite differences", {
  for (act in c("elu", "tanh", "relu")) {
    config <- module_config(act)
    w <- noisy_weights(config, 11)
    layer <- weight_reader(w)(config$input_dim, config$s1[1])
    set.seed(12)
    x <- matrix(rnorm(20, sd = 1.5), 10, 2)
    pre <- sweep(x %*% layer$w, 2, layer$b, "+")
    # relu has kinks: keep every pre-activation well away from 0 (a
    # precondition of the check, so that the data cannot silently cross one)
    expect_gt(min(abs(pre)), 1e-3)
    expect_true(any(pre < 0) && any(pre > 0))
    dout <- matrix(rnorm(10 * config$s1[1]), 10)
    run <- expect_module_gradients(config, "dense", w, x, dout)
    expect_equal(run$out, ref_activation(act)(pre), tolerance = 1e-12)
    # only the first layer's weights get a gradient
    n_first <- (config$input_dim + 1) * config$s1[1]
    expect_true(any(run$dweights[seq_len(n_first)] != 0))
    expect_true(all(run$dweights[-seq_len(n_first)] == 0))
  }
})

test_that("masked set mean: forward matches R and gradients match finite differences", {
  config <- module_config()
  w <- noisy_weights(config, 21)
  set.seed(22)
  x <- matrix(rnorm(30), 10, 3)
  x[!module_mask, ] <- 1e3 # unobserved rows must not count
  dout <- matrix(rnorm(12), 4, 3)
  run <- expect_module_gradients(config, "set_mean", w, x, dout)

  expected <- t(vapply(1:4, function(s) {
    rows <- module_set == s & module_mask
    if (any(rows)) colMeans(x[rows, , drop = FALSE]) else numeric(3)
  }, numeric(3)))
  expect_equal(run$out, expected, tolerance = 1e-14)
  expect_equal(run$out[4, ], c(0, 0, 0)) # the all-masked set is a zero row
  expect_true(all(run$dx[!module_mask, ] == 0))
  # d out[s] / d x[r] = 1 / (present rows of s)
  counts <- tabulate(module_set[module_mask], 4)
  expect_equal(run$dx[1, ], dout[1, ] / counts[1])
  expect_true(all(run$dweights == 0))
})

test_that("broadcast dense layer: forward matches R and gradients match finite differences", {
  for (act in c("elu", "tanh")) {
    config <- module_config(act)
    w <- noisy_weights(config, 31)
    # s3[0] of the first equivariant module follows its invariant module's
    # s1 and s2 stacks
    read <- weight_reader(w)
    read_stack(read, config$input_dim, config$s1[1], config$n_dense)
    read_stack(read, config$s1[1], config$s2[1], config$n_dense)
    s3_first <- read(config$input_dim + config$s2[1], config$s3[1])

    set.seed(32)
    x <- matrix(rnorm(20), 10, 2)
    pooled <- matrix(rnorm(4 * config$s2[1]), 4)
    dout <- matrix(rnorm(10 * config$s3[1]), 10)
    run <- expect_module_gradients(config, "broadcast_dense", w, x, dout, pooled)

    expected <- ref_dense(cbind(x, pooled[module_set, ]), s3_first, ref_activation(act))
    expect_equal(run$out, expected, tolerance = 1e-12)
    expect_true(any(run$dpooled != 0))
  }
})

test_that("invariant, equivariant and level modules: gradients match finite differences", {
  for (act in c("elu", "tanh")) {
    for (n_eq in c(0L, 2L)) {
      config <- module_config(act, n_equivariant = n_eq)
      w <- noisy_weights(config, 41 + n_eq)
      set.seed(42 + n_eq)
      n <- length(module_mask)
      inv_width <- if (n_eq > 0) config$s3[1] else config$input_dim
      x_inv <- matrix(rnorm(n * inv_width), n)
      x <- matrix(rnorm(n * config$input_dim), n)

      inv <- expect_module_gradients(config, "invariant", w, x_inv,
                                     matrix(rnorm(4 * config$s2[1]), 4))
      expect_true(all(inv$dx[!module_mask, ] == 0))
      expect_true(all(inv$dx[module_mask, ] != 0))

      lev <- expect_module_gradients(config, "level", w, x,
                                     matrix(rnorm(4 * config$summary_dim[1]), 4))
      expect_true(all(lev$dx[!module_mask, ] == 0))
      expect_true(all(lev$dx[module_mask, ] != 0))
      # the level output of a set depends only on its own present rows
      x2 <- x
      x2[1, ] <- x2[1, ] + 1
      lev2 <- module_run(config, "level", w, x2, module_offsets, module_mask,
                         lev$out * 0)
      expect_equal(lev2$out[-1, ], lev$out[-1, ], tolerance = 1e-14)
      expect_true(all(lev2$out[1, ] != lev$out[1, ]))

      if (n_eq > 0) {
        eq <- expect_module_gradients(config, "equivariant", w, x,
                                      matrix(rnorm(n * config$s3[1]), n))
        expect_equal(dim(eq$out), c(n, config$s3[1]))
      }
    }
  }
})

# --- the whole network -------------------------------------------------------

# Two data sets with two features: ragged groups, masked rows with junk values
# (one NA), an entirely masked group.
network_datasets <- function(seed) {
  set.seed(seed)
  obs <- function(n) matrix(rnorm(2 * n), n, 2)
  list(
    list(
      list(x = obs(3), mask = c(TRUE, FALSE, TRUE)),
      obs(1),
      obs(4),
      list(x = matrix(c(NA, 5, 7, 9), 2, 2), mask = c(FALSE, FALSE))
    ),
    list(
      obs(2),
      list(x = rbind(obs(4), c(NA, NA)), mask = c(TRUE, TRUE, FALSE, TRUE, FALSE))
    )
  )
}

network_config <- function(activation = "elu", n_equivariant = 2L, n_dense = 2L,
                            head_layers = 2L) {
  core_config(
    input_dim = 2L, n_models = 3L, activation = activation,
    s1 = c(3L, 2L), s2 = c(2L, 3L), s3 = c(3L, 2L), summary_dim = c(2L, 3L),
    n_dense = n_dense, n_equivariant = n_equivariant, head_units = 3L,
    head_layers = head_layers
  )
}

test_that("network loss gradients match finite differences (weights and inputs)", {
  variants <- list(
    network_config("elu"),
    network_config("tanh", n_equivariant = 0L, n_dense = 1L, head_layers = 0L)
  )
  data <- pack_batch(network_datasets(51), n_features = 2L)
  labels <- c(1L, 3L)
  observed <- rep(data$mask, each = 2)
  for (config in variants) {
    w <- noisy_weights(config, 52)
    expect_lt(length(w), 700) # keeps the check fast
    res <- deepbmc:::cpp_loss_grad(config, w, data, labels)
    expect_length(res$grad, length(w))
    expect_length(res$input_grad, length(data$values))
    expect_equal(dim(res$logits), c(2L, 3L))

    # the loss is the mean cross-entropy of the returned logits
    lse <- apply(res$logits, 1, function(z) max(z) + log(sum(exp(z - max(z)))))
    ce <- lse - res$logits[cbind(1:2, labels)]
    expect_equal(res$loss, mean(ce), tolerance = 1e-12)

    # weights, and inputs: finite differences over every finite value;
    # perturbing an unobserved value changes nothing and its gradient is
    # exactly 0
    expect_loss_grad_matches(config, w, data, labels,
                             values_at = which(is.finite(data$values)))
    # every weight takes part
    expect_gt(mean(res$grad != 0), 0.9)
    expect_true(all(res$input_grad[!observed] == 0))
    expect_true(all(res$input_grad[observed] != 0))
  }
})

test_that("network forward pass matches an R reference implementation", {
  datasets <- network_datasets(61)
  data <- pack_batch(datasets, n_features = 2L)
  configs <- list(
    network_config("elu"), network_config("tanh"), network_config("relu"),
    network_config("elu", n_equivariant = 0L, n_dense = 1L, head_layers = 0L),
    core_config(input_dim = 2L, n_models = 2L, s1 = c(8L, 8L), s2 = c(16L, 8L),
                s3 = c(8L, 16L), summary_dim = c(8L, 8L), head_units = 8L,
                n_equivariant = 2L, head_layers = 2L)
  )
  for (config in configs) {
    w <- noisy_weights(config, 62)
    ref <- t(vapply(datasets, function(d) ref_forward(config, w, d), numeric(config$n_models)))
    double <- deepbmc:::cpp_loss_grad(config, w, data, rep(1L, 2))$logits
    expect_equal(double, ref, tolerance = 1e-12)
    float <- predict_core(config, w, data, 1L)
    expect_lt(rel_to_max(float, ref), 1e-5)
  }
})
