test_tier("fast")
# The network is invariant to the order of observations within a group and of
# groups within a data set, and unobserved rows and groups do not count.

invariance_configs <- list(
  kernel_widths = core_config(
    input_dim = 1L, n_models = 3L, s1 = c(8L, 8L), s2 = c(16L, 8L),
    s3 = c(8L, 16L), summary_dim = c(8L, 8L), head_units = 8L,
    n_equivariant = 2L, head_layers = 2L
  ),
  odd_widths_two_features = core_config(
    input_dim = 2L, n_models = 2L, s1 = c(5L, 3L), s2 = c(6L, 7L),
    s3 = c(3L, 5L), summary_dim = c(4L, 3L), head_units = 6L,
    n_equivariant = 2L, head_layers = 1L
  )
)

invariance_weights <- function(config, seed) {
  w <- deepbmc:::cpp_network_init(config, seed)
  set.seed(seed)
  w + rnorm(length(w), sd = 0.05)
}

# One data set: ragged groups of sizes 6, 1, 9, 3, 12, as a list of matrices.
ragged_dataset <- function(n_features, seed, sizes = c(6, 1, 9, 3, 12)) {
  set.seed(seed)
  mu <- rnorm(1)
  lapply(sizes, function(n) {
    matrix(rnorm(n * n_features, mean = mu + rnorm(1), sd = 0.5 + runif(1)), n, n_features)
  })
}

test_that("logits are invariant to permuting observations and groups", {
  for (name in names(invariance_configs)) {
    config <- invariance_configs[[name]]
    D <- config$input_dim
    w <- invariance_weights(config, 91)
    base <- ragged_dataset(D, 92)
    other <- ragged_dataset(D, 93, sizes = c(4, 7))
    set.seed(94)
    within <- lapply(base, function(g) g[sample(nrow(g)), , drop = FALSE])
    across <- base[sample(length(base))]
    both <- lapply(across, function(g) g[sample(nrow(g)), , drop = FALSE])
    stopifnot(!identical(across, base), !identical(within, base))
    # the unpermuted set, the permuted ones, and an unrelated one in one batch
    data <- pack_batch(list(base, within, across, both, other), D)
    for (threads in 1:2) {
      logits <- predict_core(config, w, data, threads)
      for (i in 2:4) {
        expect_equal(logits[i, ], logits[1, ], tolerance = 1e-5, label = paste(name, i))
      }
      # a different data set gives different logits, so the check has power
      expect_gt(max(abs(logits[5, ] - logits[1, ])), 1e-3)
    }
    dbl <- deepbmc:::cpp_loss_grad(config, w, data, rep(1L, 5))$logits
    for (i in 2:4) expect_equal(dbl[i, ], dbl[1, ], tolerance = 1e-12)
  }
})

test_that("the network sees the group structure", {
  config <- invariance_configs$kernel_widths
  w <- invariance_weights(config, 101)
  base <- ragged_dataset(1L, 102)
  # the same observations, one moved to another group
  moved <- base
  moved[[1]] <- base[[1]][-1, , drop = FALSE]
  moved[[3]] <- rbind(base[[3]], base[[1]][1, , drop = FALSE])
  # the same observations, all in one group
  pooled <- list(do.call(rbind, base))
  logits <- predict_core(config, w, pack_batch(list(base, moved, pooled)), 1L)
  expect_gt(max(abs(logits[2, ] - logits[1, ])), 1e-5)
  expect_gt(max(abs(logits[3, ] - logits[1, ])), 1e-3)
})

test_that("gradients are equivariant to permutations of the data", {
  config <- invariance_configs$odd_widths_two_features
  w <- invariance_weights(config, 111)
  base <- ragged_dataset(2L, 112)
  set.seed(113)
  group_order <- sample(length(base))
  row_orders <- lapply(base, function(g) sample(nrow(g)))
  permuted <- lapply(group_order, function(l) base[[l]][row_orders[[l]], , drop = FALSE])

  a <- deepbmc:::cpp_loss_grad(config, w, pack_batch(list(base), 2L), 2L)
  b <- deepbmc:::cpp_loss_grad(config, w, pack_batch(list(permuted), 2L), 2L)
  expect_equal(b$loss, a$loss, tolerance = 1e-12)
  expect_equal(b$grad, a$grad, tolerance = 1e-10)
  # input gradient rows follow their observations
  rows <- split(seq_len(sum(vapply(base, nrow, 1L))), rep(seq_along(base), vapply(base, nrow, 1L)))
  perm_rows <- unlist(lapply(group_order, function(l) rows[[l]][row_orders[[l]]]))
  ga <- matrix(a$input_grad, ncol = 2, byrow = TRUE)
  gb <- matrix(b$input_grad, ncol = 2, byrow = TRUE)
  expect_equal(gb, ga[perm_rows, ], tolerance = 1e-10)
})

# Adds unobserved rows holding junk (NA, NaN, Inf, huge numbers) to some groups
# of a data set, and unobserved groups.
pad_dataset <- function(dataset, n_features) {
  junk <- function(n) matrix(rep_len(c(NA, 1e300, -Inf, NaN, 7, -3), n * n_features), n, n_features)
  observed <- function(g) list(x = g, mask = rep(TRUE, nrow(g)))
  padded <- lapply(dataset, observed)
  # junk at the start of group 1, in the middle of group 3, at the end of group 5
  padded[[1]] <- list(x = rbind(junk(2), dataset[[1]]), mask = c(FALSE, FALSE, rep(TRUE, nrow(dataset[[1]]))))
  g3 <- dataset[[3]]
  k <- nrow(g3) %/% 2
  padded[[3]] <- list(x = rbind(g3[seq_len(k), , drop = FALSE], junk(3), g3[seq_len(nrow(g3)) > k, , drop = FALSE]),
                      mask = c(rep(TRUE, k), rep(FALSE, 3), rep(TRUE, nrow(g3) - k)))
  padded[[5]] <- list(x = rbind(dataset[[5]], junk(5)), mask = c(rep(TRUE, nrow(dataset[[5]])), rep(FALSE, 5)))
  # an entirely unobserved group, first and in the middle
  hidden <- list(x = junk(4), mask = rep(FALSE, 4))
  c(list(hidden), padded[1:2], list(hidden), padded[-(1:2)])
}

test_that("unobserved rows and groups do not change logits or gradients", {
  for (name in names(invariance_configs)) {
    config <- invariance_configs[[name]]
    D <- config$input_dim
    w <- invariance_weights(config, 121)
    plain <- list(ragged_dataset(D, 122), ragged_dataset(D, 123, sizes = c(2, 5, 1, 8, 3)))
    padded <- lapply(plain, pad_dataset, n_features = D)
    data_plain <- pack_batch(plain, D)
    data_padded <- pack_batch(padded, D)
    expect_gt(length(data_padded$mask), length(data_plain$mask) + 20)
    expect_true(anyNA(data_padded$values))

    for (threads in 1:2) {
      p_plain <- predict_core(config, w, data_plain, threads)
      p_padded <- predict_core(config, w, data_padded, threads)
      expect_true(all(is.finite(p_padded)))
      expect_equal(p_padded, p_plain, tolerance = 1e-6, label = name)
    }

    labels <- c(2L, 1L)
    a <- deepbmc:::cpp_loss_grad(config, w, data_plain, labels)
    b <- deepbmc:::cpp_loss_grad(config, w, data_padded, labels)
    expect_equal(b$logits, a$logits, tolerance = 1e-12)
    expect_equal(b$loss, a$loss, tolerance = 1e-12)
    expect_equal(b$grad, a$grad, tolerance = 1e-10)
    observed <- rep(data_padded$mask, each = D)
    expect_equal(b$input_grad[observed], a$input_grad, tolerance = 1e-10)
    expect_true(all(b$input_grad[!observed] == 0))

    # the float path too
    af <- deepbmc:::cpp_loss_grad(config, w, data_plain, labels, double_precision = FALSE)
    bf <- deepbmc:::cpp_loss_grad(config, w, data_padded, labels, double_precision = FALSE)
    expect_equal(bf$logits, af$logits, tolerance = 1e-6)
    expect_equal(bf$grad, af$grad, tolerance = 1e-5)
    expect_true(all(is.finite(bf$input_grad)))
  }
})

test_that("a group with no rows counts as an unobserved group", {
  config <- invariance_configs$kernel_widths
  w <- invariance_weights(config, 131)
  plain <- ragged_dataset(1L, 132)
  data <- pack_batch(list(plain))
  with_empty <- data
  # an empty group (two equal offsets) after the second group
  with_empty$group_offsets <- append(data$group_offsets, data$group_offsets[3], after = 2)
  with_empty$dataset_offsets <- c(0L, length(with_empty$group_offsets) - 1L)
  expect_equal(predict_core(config, w, with_empty, 1L),
               predict_core(config, w, data, 1L), tolerance = 1e-6)
  expect_equal(deepbmc:::cpp_loss_grad(config, w, with_empty, 1L)$grad,
               deepbmc:::cpp_loss_grad(config, w, data, 1L)$grad, tolerance = 1e-10)
})
