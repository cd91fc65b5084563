# Shared builders for the tests of the C++ core, which call its internal entry
# points (deepbmc:::cpp_*) directly with plain R lists.

# A network configuration as the package builds it: hierarchical_network()
# and deepbmc:::network_config() on a model set's sizes. The core also runs
# networks without equivariant modules or head layers, which
# hierarchical_network() refuses (it asks for at least one): those counts are
# set afterwards.
core_config <- function(input_dim = 1L, n_models = 2L, activation = "elu",
                        s1 = c(3L, 4L), s2 = c(4L, 3L), s3 = c(3L, 4L),
                        summary_dim = c(2L, 3L), n_dense = 2L, n_equivariant = 1L,
                        head_units = 4L, head_layers = 1L, standardize = "none",
                        pooling = "mean") {
  network <- hierarchical_network(
    s1 = s1, s2 = s2, s3 = s3, summary_dim = summary_dim, n_dense = n_dense,
    n_equivariant = max(n_equivariant, 1L), head_units = head_units,
    head_layers = max(head_layers, 1L), activation = activation,
    standardize = standardize, pooling = pooling
  )
  network$n_equivariant <- as.integer(n_equivariant)
  network$head_layers <- as.integer(head_layers)
  models <- list(n_features = input_dim, n_models = n_models,
                 n_levels = network$n_levels)
  deepbmc:::network_config(network, models)
}

# The architecture of Study 1 of the paper (Elsemueller et al.).
study1_config <- function() {
  core_config(
    input_dim = 1L, n_models = 2L, s1 = c(8L, 32L), s2 = c(32L, 128L),
    s3 = c(16L, 64L), summary_dim = c(10L, 10L), n_dense = 2L,
    n_equivariant = 2L, head_units = 64L, head_layers = 3L
  )
}

# A group: a numeric matrix (rows = observations) or vector (one feature), all
# rows observed, or list(x = , mask = ) with a mask per row.
as_group <- function(group, n_features) {
  if (is.list(group)) {
    x <- as.matrix(group$x)
    mask <- as.logical(group$mask)
  } else {
    x <- matrix(group, ncol = n_features)
    mask <- rep(TRUE, nrow(x))
  }
  if (ncol(x) != n_features) x <- matrix(x, ncol = n_features)
  stopifnot(length(mask) == nrow(x))
  list(x = x, mask = mask)
}

# Packs a list of data sets (each a list of groups) into the packed batch the
# core reads.
pack_batch <- function(datasets, n_features = 1L) {
  values <- list()
  mask <- list()
  group_sizes <- integer(0)
  groups_per_set <- integer(0)
  for (d in datasets) {
    groups_per_set <- c(groups_per_set, length(d))
    for (g in d) {
      g <- as_group(g, n_features)
      values[[length(values) + 1L]] <- as.vector(t(g$x))
      mask[[length(mask) + 1L]] <- g$mask
      group_sizes <- c(group_sizes, nrow(g$x))
    }
  }
  list(
    values = as.numeric(unlist(values)),
    n_features = as.integer(n_features),
    group_offsets = as.integer(c(0L, cumsum(group_sizes))),
    dataset_offsets = as.integer(c(0L, cumsum(groups_per_set))),
    mask = as.logical(unlist(mask))
  )
}

fresh_optimizer <- function(n_weights) {
  list(m = numeric(n_weights), v = numeric(n_weights), step = 0)
}

# Central-difference gradient of the scalar function f at x (numeric vector),
# for the coordinates `which`; the others are left at 0.
numeric_grad <- function(f, x, h = 1e-6, which = seq_along(x)) {
  g <- numeric(length(x))
  for (i in which) {
    up <- x
    down <- x
    up[i] <- x[i] + h
    down[i] <- x[i] - h
    g[i] <- (f(up) - f(down)) / (2 * h)
  }
  g
}

# max |a - b| relative to the size of the reference b (at least 1).
rel_error <- function(a, b) {
  max(abs(a - b)) / max(1, max(abs(b)))
}

# max |a - b| relative to max |b| (for comparing float with double).
rel_to_max <- function(a, b) {
  max(abs(a - b)) / max(abs(b))
}

# Analytic gradient `ana` against central differences `num`:
# max |num - ana| <= tol * max |ana| + abs_tol. The scale is max |ana|, not
# max(1, max |ana|): the gradients of a small network are often far below 1
# (input gradients ~1e-5), and a wrong layer must still show. abs_tol covers the
# rounding error of central differences, ~eps * |loss| / h = 1e-10 for h = 1e-6.
expect_gradient_match <- function(num, ana, tol = 1e-7, abs_tol = 1e-9) {
  stopifnot(length(num) == length(ana), all(is.finite(ana)))
  err <- max(abs(num - ana))
  bound <- tol * max(abs(ana)) + abs_tol
  if (nzchar(Sys.getenv("DEEPBMC_TEST_VERBOSE"))) {
    message(sprintf("gradient error %.3g of bound %.3g", err, bound))
  }
  expect_lte(err, bound)
}

# Runs one module with cpp_module_check; the scalar loss is sum(out * dout).
# `level`: the hierarchy level whose module runs (1 = innermost).
module_run <- function(config, module, weights, x, offsets, mask, dout,
                       pooled = matrix(0, 0, 0), level = 1L) {
  deepbmc:::cpp_module_check(
    config, module, weights, x, as.integer(offsets), as.logical(mask),
    dout, pooled, as.integer(level)
  )
}

module_loss <- function(config, module, weights, x, offsets, mask, dout,
                        pooled = matrix(0, 0, 0), level = 1L) {
  sum(module_run(config, module, weights, x, offsets, mask, dout, pooled, level)$out * dout)
}

# Restores the automatic kernel choice when the calling test ends.
local_kernels <- function(which, env = parent.frame()) {
  withr::defer(deepbmc:::cpp_select_kernels("auto"), envir = env)
  deepbmc:::cpp_select_kernels(which)
}

# --- An R reference of the network's forward pass ---------------------------
# Built from the documented architecture (paper.md, network_spec.h), not from
# the C++ code paths: weights are read layer by layer in allocation order, W
# row-major (in x out) followed by its bias.

weight_reader <- function(weights) {
  pos <- 0L
  function(n_in, n_out) {
    w <- matrix(weights[pos + seq_len(n_in * n_out)], n_in, n_out, byrow = TRUE)
    pos <<- pos + n_in * n_out
    b <- weights[pos + seq_len(n_out)]
    pos <<- pos + n_out
    list(w = w, b = b)
  }
}

ref_activation <- function(name) {
  switch(name,
    elu = function(z) ifelse(z > 0, z, exp(pmin(z, 0)) - 1),
    relu = function(z) pmax(z, 0),
    tanh = tanh,
    linear = identity
  )
}

ref_dense <- function(x, layer, f) {
  f(sweep(x %*% layer$w, 2, layer$b, "+"))
}

ref_stack <- function(x, layers, f) {
  for (layer in layers) x <- ref_dense(x, layer, f)
  x
}

read_stack <- function(read, n_in, width, depth) {
  lapply(seq_len(depth), function(i) read(if (i == 1L) n_in else width, width))
}

# Forward pass of one data set (list of groups); returns the logits, or with
# parts = TRUE a list of the logits and the top summary. `extra` weights
# after the logits layer belong to other layers (a size-scaled head's rates);
# head_sizes = FALSE gives the head zeros for the sizes (the Laplace head).
ref_forward <- function(config, weights, dataset, n_features = config$input_dim,
                        parts = FALSE, extra = 0L, head_sizes = TRUE) {
  read <- weight_reader(weights)
  f <- ref_activation(config$activation)
  n_levels <- length(config$s1)
  stopifnot(n_levels == 2L)
  # Read the layers in allocation order.
  levels <- list()
  width <- config$input_dim
  pooling <- config$pooling %||% rep("mean", n_levels)
  # an invariant module: s1 stack, the mean_cov projection (s1 -> 2 s1), s2 stack
  read_invariant <- function(width, k) {
    m <- list(s1 = read_stack(read, width, config$s1[k], config$n_dense))
    if (pooling[[k]] == "mean_cov") m$projection <- read(config$s1[k], 2L * config$s1[k])
    if (pooling[[k]] == "mean_logvar") {
      m$projection <- read(config$s1[k], config$s1[k])
      m$logvar <- TRUE
    }
    pooled_width <- config$s1[k] * (if (pooling[[k]] == "mean") 1L else 2L)
    m$s2 <- read_stack(read, pooled_width, config$s2[k], config$n_dense)
    m
  }
  for (k in seq_len(n_levels)) {
    eq <- list()
    for (e in seq_len(config$n_equivariant)) {
      inv_e <- read_invariant(width, k)
      eq[[e]] <- c(inv_e, list(
        s3 = read_stack(read, width + config$s2[k], config$s3[k], config$n_dense)
      ))
      width <- config$s3[k]
    }
    inv <- read_invariant(width, k)
    summary <- read(config$s2[k], config$summary_dim[k])
    width <- config$summary_dim[k]
    levels[[k]] <- list(eq = eq, inv = inv, summary = summary)
  }
  head_in <- config$summary_dim[n_levels] + n_levels
  head <- read_stack(read, head_in, config$head_units, config$head_layers)
  logits_layer <- read(if (config$head_layers > 0) config$head_units else head_in,
                       config$n_models)
  # every weight belongs to exactly one layer
  stopifnot(environment(read)$pos == length(weights) - extra)

  invariant <- function(x, m) {
    h <- ref_stack(x, m$s1, f)
    pooled <- colMeans(h)
    if (isTRUE(m$logvar)) {
      # mean_logvar: the mean beside log(0.01 + var(h Q)), the variance
      # over the set's rows (divisor n); the bias is unused
      u <- h %*% m$projection$w
      pooled <- c(pooled, log(0.01 + colMeans(u^2) - colMeans(u)^2))
    } else if (!is.null(m$projection)) {
      # mean_cov: the mean beside mean_i u_i[1:d] * u_i[d + 1:d], u = h P + c
      u <- ref_dense(h, m$projection, identity)
      d <- ncol(h)
      pooled <- c(pooled, colMeans(u[, seq_len(d), drop = FALSE] * u[, d + seq_len(d), drop = FALSE]))
    }
    ref_stack(matrix(pooled, 1), m$s2, f)
  }
  deepset <- function(x, level) {
    for (m in level$eq) {
      pooled <- invariant(x, m)
      x <- ref_stack(cbind(x, pooled[rep(1L, nrow(x)), , drop = FALSE]), m$s3, f)
    }
    ref_dense(invariant(x, level$inv), level$summary, identity)
  }

  # Level 1: every group with an observed row, over its observed rows only.
  groups <- lapply(dataset, as_group, n_features = n_features)
  groups <- lapply(groups, function(g) g$x[g$mask, , drop = FALSE])
  groups <- groups[vapply(groups, nrow, 1L) > 0L]
  summaries <- do.call(rbind, lapply(groups, deepset, level = levels[[1]]))
  top <- deepset(summaries, levels[[2]])
  sizes <- vapply(groups, nrow, 1L)
  h <- matrix(c(top, head_sizes * c(sqrt(mean(sizes)), sqrt(length(groups)))), 1)
  h <- ref_stack(h, head, f)
  logits <- as.vector(ref_dense(h, logits_layer, identity))
  if (parts) list(logits = logits, summary = as.vector(top)) else logits
}

# Logits from the core's prediction entry point, which returns them with a
# finite flag per data set: an error, as the R layer raises one, when a data
# set has an observed value that is not finite in single precision.
predict_core <- function(config, weights, data, threads) {
  result <- deepbmc:::cpp_predict(config, weights, data, threads)
  if (!all(result$finite)) stop("observed values must be finite")
  result$logits
}

# A network's initial weights plus N(0, 0.2^2) noise: away from the
# initialisation's symmetries, so that every weight's gradient is non-zero.
noisy_weights <- function(config, seed) {
  w <- deepbmc:::cpp_network_init(config, seed)
  set.seed(seed)
  w + rnorm(length(w), sd = 0.2)
}

# cpp_loss_grad() of `config` with weights `w` on the packed batch `data`,
# its gradients checked against central differences: every weight, and the
# data values at the positions `values_at` (tolerance `x_tol`). Returns the
# result for the caller's further checks.
expect_loss_grad_matches <- function(config, w, data, labels, values_at,
                                     x_tol = 1e-7) {
  res <- deepbmc:::cpp_loss_grad(config, w, data, labels)
  loss <- function(v) deepbmc:::cpp_loss_grad(config, v, data, labels)$loss
  expect_gradient_match(numeric_grad(loss, w), res$grad)
  loss_x <- function(v) {
    d <- data
    d$values <- v
    deepbmc:::cpp_loss_grad(config, w, d, labels)$loss
  }
  num_x <- numeric_grad(loss_x, data$values, which = values_at)
  expect_gradient_match(num_x[values_at], res$input_grad[values_at], tol = x_tol)
  res
}


# Ten training steps of `config` (one feature, two models) on the built-in
# normal model set with 1 and with 2 threads: identical weights and losses,
# finite, and moved from the initialisation. The thread-count determinism of
# a network setting.
expect_training_thread_deterministic <- function(config) {
  models <- list(type = "normal_nested", groups = c(5L, 15L), obs = c(3L, 20L))
  train <- function(threads) {
    w <- deepbmc:::cpp_network_init(config, 1)
    deepbmc:::cpp_train(config, w, fresh_optimizer(length(w)), models,
                        steps = 10L, total_steps = 10, batch_size = 16L,
                        learning_rate = 1e-3, seed = 11, threads = as.integer(threads))
  }
  one <- train(1L)
  two <- train(2L)
  expect_identical(one$weights, two$weights)
  expect_identical(one$loss, two$loss)
  expect_true(all(is.finite(one$loss)))
  expect_false(identical(one$weights, deepbmc:::cpp_network_init(config, 1)))
}
