test_tier("fast")
# Per-data-set standardisation (hierarchical_network(standardize = "dataset"),
# src/standardize.h, issue 29): the forward pass against an R reference,
# gradients by finite differences (weights and data), invariance to affine
# maps of a feature except through the head's centre and scale inputs,
# permutations and masked rows, thread-count determinism, and fits without
# the setting reading as before.

std_config <- function(standardize = "dataset", input_dim = 2L, head_layers = 1L) {
  core_config(
    input_dim = input_dim, n_models = 3L, s1 = c(3L, 2L), s2 = c(2L, 3L),
    s3 = c(3L, 2L), summary_dim = c(2L, 3L), n_dense = 2L, n_equivariant = 1L,
    head_units = 3L, head_layers = head_layers, standardize = standardize
  )
}

# Where the head's first dense layer lies in the weights (1-based index of
# its first weight), and its input width; the head's later layers and the
# logit layer follow it.
head_layout <- function(config, n_weights) {
  u <- config$head_units
  k <- config$n_models
  d <- config$input_dim
  width <- config$summary_dim[[2]] + 2L + if (identical(config$standardize, "dataset")) 2L * d else 0L
  tail <- (u * k + k) + (config$head_layers - 1L) * (u * u + u) + width * u + u
  list(start = n_weights - tail + 1L, width = width, units = u)
}

# Weight indices of the head's centre and log-scale inputs (rows
# summary + levels + 1 ... of the first head layer's row-major W).
scale_input_weights <- function(config, w) {
  lay <- head_layout(config, length(w))
  rows <- config$summary_dim[[2]] + 2L + seq_len(2L * config$input_dim)
  as.vector(vapply(rows, function(r) lay$start + (r - 1L) * lay$units + seq_len(lay$units) - 1L,
                   integer(lay$units)))
}

# Data sets with wide locations and scales (as prior predictives have), two
# features: ragged groups, masked rows holding junk.
wide_datasets <- function(seed) {
  set.seed(seed)
  obs <- function(n, mu, sd) cbind(rnorm(n, mu, sd), rnorm(n, -mu / 3, 2 * sd))
  list(
    list(
      list(x = obs(3, 40, 8), mask = c(TRUE, FALSE, TRUE)),
      obs(1, 40, 8),
      obs(4, 40, 8),
      list(x = matrix(c(NA, 5, 7, 9), 2, 2), mask = c(FALSE, FALSE))
    ),
    list(
      obs(2, -3, 0.2),
      list(x = rbind(obs(4, -3, 0.2), c(NA, NA)), mask = c(TRUE, TRUE, FALSE, TRUE, FALSE))
    ),
    # the second feature constant (a covariate without variation): scale 1
    list(cbind(rnorm(3, 5), 2), cbind(rnorm(4, 5), 2))
  )
}

test_that("the forward pass is the plain network on z-scores with centre and log scale in the head", {
  datasets <- wide_datasets(1)
  config <- std_config()
  plain <- std_config("none")
  w <- noisy_weights(config, 2)
  lay <- head_layout(config, length(w))
  plain_lay <- head_layout(plain, deepbmc:::cpp_network_size(plain))
  scale_rows <- scale_input_weights(config, w)
  for (i in seq_along(datasets)) {
    groups <- lapply(datasets[[i]], as_group, n_features = 2L)
    x <- do.call(rbind, lapply(groups, function(g) g$x[g$mask, , drop = FALSE]))
    centre <- colMeans(x)
    sd <- sqrt(colMeans(sweep(x, 2, centre)^2))
    scale <- ifelse(sd > 1e-6 * (1 + abs(centre)), sd, 1)
    z_groups <- lapply(groups, function(g) {
      z <- sweep(sweep(g$x, 2, centre), 2, scale, "/")
      z[!g$mask, ] <- 0
      list(x = z, mask = g$mask)
    })
    # the plain network: the same weights without the scale inputs' rows, and
    # their contribution folded into the first head layer's bias
    head_in <- c(sign(centre) * log1p(abs(centre)), log(scale))
    w_scale <- matrix(w[scale_rows], ncol = lay$units, byrow = TRUE)
    bias_at <- lay$start + lay$width * lay$units + seq_len(lay$units) - 1L
    w_plain <- c(
      w[seq_len(lay$start - 1L)],
      w[setdiff(lay$start:(bias_at[[1]] - 1L), scale_rows)],
      w[bias_at] + as.vector(head_in %*% w_scale),
      w[-seq_len(bias_at[[length(bias_at)]])]
    )
    expect_length(w_plain, deepbmc:::cpp_network_size(plain))
    expect_equal(plain_lay$start, lay$start)
    got <- deepbmc:::cpp_loss_grad(config, w, pack_batch(list(datasets[[i]]), 2L), 1L)$logits
    want <- deepbmc:::cpp_loss_grad(plain, w_plain, pack_batch(list(z_groups), 2L), 1L)$logits
    expect_equal(got, want, tolerance = 1e-12)
  }
})

test_that("gradients match finite differences (weights and data)", {
  datasets <- wide_datasets(3)
  data <- pack_batch(datasets, n_features = 2L)
  labels <- c(1L, 3L, 2L)
  observed <- rep(data$mask, each = 2)
  for (head_layers in c(1L, 0L)) {
    config <- std_config(head_layers = head_layers)
    w <- noisy_weights(config, 4)
    # data: through the z-scores and through the centre and log scale (the
    # statistics depend on every observed value). h = 1e-6 keeps the constant
    # feature of the third data set constant (SD of the perturbed values below
    # 1e-6 (1 + |c|): standardize.h)
    res <- expect_loss_grad_matches(config, w, data, labels,
                                    values_at = which(is.finite(data$values)),
                                    x_tol = 1e-6)
    expect_gt(mean(res$grad != 0), 0.9)
    expect_true(all(res$input_grad[!observed] == 0))
  }
})

test_that("gradients through standardisation and the missing-data codings match finite differences", {
  base <- std_config()
  set.seed(31)
  obs <- function(n) cbind(rnorm(n, 10, 3), rnorm(n, -2, 0.5))
  data <- pack_batch(list(list(obs(3), obs(4)), list(obs(2), obs(5))), n_features = 2L)
  present <- rep(TRUE, length(data$values))
  present[c(2, 7, 9, 16, 21)] <- FALSE
  present[c(11, 12)] <- FALSE
  data$values[!present] <- 0
  data$present <- present
  labels <- c(1L, 3L)
  for (coding in c("indicator", "placeholder")) {
    config <- base
    config$missing_coding <- coding
    if (coding == "placeholder") config$placeholder <- c(-1, NA)
    w <- noisy_weights(config, 32)
    res <- expect_loss_grad_matches(config, w, data, labels,
                                    values_at = which(present), x_tol = 1e-6)
    expect_true(all(res$input_grad[!present] == 0))
  }
})

test_that("logits are invariant to a + b x (b > 0) except through the centre and scale inputs", {
  config <- std_config()
  w <- noisy_weights(config, 5)
  blind <- w
  blind[scale_input_weights(config, w)] <- 0
  base <- wide_datasets(6)[[1]]
  shifted <- lapply(base, function(g) {
    g <- as_group(g, 2L)
    g$x[, 1] <- 1e3 + 250 * g$x[, 1]
    g$x[, 2] <- -7 + 0.01 * g$x[, 2]
    g
  })
  data <- pack_batch(list(base, shifted), n_features = 2L)
  logits <- deepbmc:::cpp_loss_grad(config, blind, data, c(1L, 1L))$logits
  expect_equal(logits[2, ], logits[1, ], tolerance = 1e-10)
  # in single precision too (the prediction path)
  single <- predict_core(config, blind, data, 1L)
  expect_equal(single[2, ], single[1, ], tolerance = 1e-4)
  # with the head reading centre and scale, the map shows: the check has power
  full <- deepbmc:::cpp_loss_grad(config, w, data, c(1L, 1L))$logits
  expect_gt(max(abs(full[2, ] - full[1, ])), 1e-3)
  # a plain network is not invariant
  plain <- std_config("none")
  wp <- noisy_weights(plain, 5)
  lp <- deepbmc:::cpp_loss_grad(plain, wp, data, c(1L, 1L))$logits
  expect_gt(max(abs(lp[2, ] - lp[1, ])), 1e-5)
})

test_that("logits are invariant to permutations and to junk in masked rows", {
  config <- std_config()
  w <- noisy_weights(config, 7)
  base <- lapply(wide_datasets(8)[[1]][1:3], as_group, n_features = 2L)
  set.seed(9)
  permuted <- lapply(base[c(3, 1, 2)], function(g) {
    o <- sample(nrow(g$x))
    list(x = g$x[o, , drop = FALSE], mask = g$mask[o])
  })
  junk <- lapply(base, function(g) {
    g$x[!g$mask, ] <- 1e6
    g
  })
  junk[[4]] <- list(x = matrix(-1e6, 3, 2), mask = rep(FALSE, 3))
  other <- wide_datasets(10)[[2]]
  data <- pack_batch(list(base, permuted, junk, other), n_features = 2L)
  for (threads in 1:2) {
    logits <- predict_core(config, w, data, threads)
    expect_equal(logits[2, ], logits[1, ], tolerance = 1e-5)
    expect_equal(logits[3, ], logits[1, ], tolerance = 1e-5)
    expect_gt(max(abs(logits[4, ] - logits[1, ])), 1e-3)
  }
  dbl <- deepbmc:::cpp_loss_grad(config, w, data, rep(1L, 4))$logits
  expect_equal(dbl[2, ], dbl[1, ], tolerance = 1e-12)
  expect_equal(dbl[3, ], dbl[1, ], tolerance = 1e-12)
})

test_that("training with standardisation is identical with 1 and 2 threads", {
  expect_training_thread_deterministic(core_config(
    input_dim = 1L, n_models = 2L, s1 = c(8L, 8L), s2 = c(8L, 8L), s3 = c(8L, 8L),
    summary_dim = c(4L, 4L), head_units = 8L, head_layers = 2L, standardize = "dataset"
  ))
})

test_that("standardize is stored, printed, sized, and bad values are classed errors", {
  net <- hierarchical_network(standardize = "dataset")
  expect_identical(net$standardize, "dataset")
  expect_match(format(net), "standardisation: per data set", fixed = TRUE, all = FALSE)
  models <- normal_nested_models()
  config <- deepbmc:::network_config(net, models)
  expect_identical(config$standardize, "dataset")
  # two extra head inputs per feature, each with head_units weights
  plain <- deepbmc:::network_config(hierarchical_network(), models)
  expect_null(plain$standardize)
  expect_equal(deepbmc:::cpp_network_size(config) - deepbmc:::cpp_network_size(plain),
                   2 * 64)
  for (bad in list("z", c("none", "z"), NA_character_, 1, TRUE)) {
    expect_error(hierarchical_network(standardize = bad), "standardize",
                 class = "deepbmc_error_value")
  }
  damaged <- net
  damaged$standardize <- "robust"
  expect_error(deepbmc:::network_config(damaged, models), "standardisation",
               class = "deepbmc_error_value")
})

test_that("fits train and predict with standardisation; fits without the setting read as before", {
  models <- normal_nested_models(groups = 5, obs = 10)
  small <- function(standardize) {
    hierarchical_network(s1 = c(4, 4), s2 = c(4, 4), s3 = c(4, 4), summary_dim = c(3, 3),
                         n_dense = 1, n_equivariant = 1, head_units = 8, head_layers = 1,
                         standardize = standardize)
  }
  fit <- train_comparison(models, network = small("dataset"), epochs = 1, iterations = 5,
                          holdout = 0, threads = 1, seed = 1, progress = FALSE)
  expect_output(print(fit), "weights; standardisation: per data set", fixed = TRUE)
  expect_identical(fit$config$standardize, "dataset")
  data <- simulate_datasets(models, n = 4, seed = 2)
  pmp <- post_prob(fit, data)
  expect_true(all(is.finite(as.matrix(pmp[, models$model_names]))))

  # A fit saved before the setting existed: its network has no element and
  # its configuration none. It loads and predicts exactly as the same fit
  # with "none" spelled out.
  new <- train_comparison(models, network = small("none"), epochs = 1, iterations = 5,
                          holdout = 0, threads = 1, seed = 1, progress = FALSE)
  # (and it can start a new phase with the architecture spelled out)
  old <- expect_fit_without_setting_reads_as_before(new, "standardize", data, small("none"))
  expect_output(print(old), "weights; standardisation: none", fixed = TRUE)
  # the shipped fits (trained before issue 29) still check
  stored <- readRDS(system.file("extdata", "recognition_fit.rds", package = "deepbmc"))
  expect_null(stored$network$standardize)
  expect_no_error(deepbmc:::check_fit(stored))
})
