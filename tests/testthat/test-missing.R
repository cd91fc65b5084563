test_tier("fast")
# Missing data (issue 16): per-value presence, the input codings, missing
# values drawn for training and validation.

# --- a two-feature model set: y with or without a slope on x ---------------

two_feature_models <- function() {
  sim_model <- function(slope) {
    function() {
      n_groups <- sample(4:6, 1)
      size <- sample(5:8, n_groups, replace = TRUE)
      group <- rep(seq_len(n_groups), size)
      x <- rnorm(length(group))
      b <- if (slope) 1 else 0
      data.frame(group = group, x = x, y = b * x + rnorm(length(x)))
    }
  }
  simulator_models(flat = sim_model(FALSE), slope = sim_model(TRUE))
}

small_network <- function() {
  hierarchical_network(s1 = c(8, 8), s2 = c(8, 8), s3 = c(8, 8),
                       summary_dim = c(4, 4), head_units = 8)
}

two_feature_fit <- local({
  cache <- NULL
  function() {
    if (is.null(cache)) {
      models <- two_feature_models()
      sims <- simulate_datasets(models, n = 200, seed = 1)
      cache <<- train_comparison(
        models, network = small_network(), simulations = sims, epochs = 2,
        seed = 2, threads = 1, progress = FALSE,
        missing = missing_values(share = c(0, 0.5), features = "y")
      )
    }
    cache
  }
})

one_dataset <- function(seed = 3) {
  set.seed(seed)
  group <- rep(1:5, c(6, 5, 7, 6, 8))
  x <- rnorm(length(group))
  data.frame(group = group, x = x, y = 0.5 * x + rnorm(length(x)))
}

test_that("an observation with every feature NA counts as absent", {
  fit <- two_feature_fit()
  data <- one_dataset()
  with_na <- data
  with_na[c(3, 10), c("x", "y")] <- NA
  without <- data[-c(3, 10), ]
  expect_equal(post_prob(fit, with_na), post_prob(fit, without),
               tolerance = 1e-6)
  # also with some values missing in other rows (indicator coding)
  with_na$y[5] <- NA
  without <- data
  without$y[5] <- NA
  without <- without[-c(3, 10), ]
  expect_equal(post_prob(fit, with_na), post_prob(fit, without),
               tolerance = 1e-6)
})

test_that("a group entirely NA counts as absent", {
  fit <- two_feature_fit()
  data <- one_dataset()
  with_na <- data
  with_na[with_na$group == 2, c("x", "y")] <- NA
  without <- data[data$group != 2, ]
  expect_equal(post_prob(fit, with_na), post_prob(fit, without),
               tolerance = 1e-6)
  # Study 1 (one feature): a row of NA is an absent group
  study1 <- train_comparison(normal_nested_models(groups = 5, obs = 5),
                             network = small_network(), epochs = 1,
                             iterations = 5, seed = 1, threads = 1,
                             missing = missing_values(share = 0.2))
  x <- matrix(rnorm(25), 5)
  x_na <- rbind(x, NA)
  expect_equal(post_prob(study1, x_na), post_prob(study1, x),
               tolerance = 1e-6)
})

test_that("a missing value and the value 0 differ under indicator coding", {
  fit <- two_feature_fit()
  data <- one_dataset()
  as_na <- data
  as_na$y[c(2, 8, 15)] <- NA
  as_zero <- data
  as_zero$y[c(2, 8, 15)] <- 0
  p_na <- post_prob(fit, as_na)
  p_zero <- post_prob(fit, as_zero)
  # beyond float rounding (this briefly trained network's PMPs move little
  # at all; the logits below show the difference clearly)
  expect_gt(max(abs(p_na - p_zero)), 1e-6)
  config <- fit$config
  w <- deepbmc:::cpp_network_init(config, 4)
  set.seed(4)
  w <- w + rnorm(length(w), sd = 0.2)
  batch_of <- function(frame) {
    deepbmc:::prepare_datasets(fit$models, frame, NULL, NULL, "data",
                               globalenv())$batch
  }
  logits_na <- deepbmc:::cpp_loss_grad(config, w, batch_of(as_na), 1L)$logits
  logits_zero <- deepbmc:::cpp_loss_grad(config, w, batch_of(as_zero),
                                         1L)$logits
  expect_gt(max(abs(logits_na - logits_zero)), 1e-4)  # measured 4e-4
  # the collision indicator coding avoids: a placeholder of 0 reads NA as 0
  models <- two_feature_models()
  ph <- train_comparison(
    models, network = small_network(),
    simulations = simulate_datasets(models, n = 40, seed = 1), epochs = 1,
    seed = 2, threads = 1, progress = FALSE,
    missing = missing_values(share = 0.3, features = "y",
                             coding = "placeholder", placeholder = c(0, 0))
  )
  expect_equal(post_prob(ph, as_na), post_prob(ph, as_zero), tolerance = 1e-7)
})

test_that("a fit without missing-data coding drops incomplete rows with a warning", {
  models <- two_feature_models()
  sims <- simulate_datasets(models, n = 40, seed = 1)
  fit <- train_comparison(models, network = small_network(),
                          simulations = sims, epochs = 1, seed = 2,
                          threads = 1, progress = FALSE)
  data <- one_dataset()
  incomplete <- data
  incomplete$y[c(2, 13)] <- NA
  expect_warning(p <- post_prob(fit, incomplete),
                 class = "deepbmc_missing_warning")
  expect_equal(p, post_prob(fit, data[-c(2, 13), ]), tolerance = 1e-6)
  # a row with every feature NA is absent as before, without a warning
  absent <- data
  absent[2, c("x", "y")] <- NA
  expect_no_warning(post_prob(fit, absent))
})

test_that("training with `features` keeps the other features", {
  fit <- two_feature_fit()
  expect_identical(fit$config$missing_coding, "indicator")
  expect_identical(fit$training$missing$features, "y")
  expect_identical(fit$training$missing$flags, c(FALSE, TRUE))
  expect_length(fit$weights, deepbmc:::cpp_network_size(fit$config))
  # the indicator doubles the first layer's input: more weights than without
  plain <- fit$config
  plain$missing_coding <- NULL
  expect_gt(length(fit$weights), deepbmc:::cpp_network_size(plain))
  v <- validate(fit, n = 40, seed = 3, boot = 0,
                missing = missing_values(share = 0.3, features = "y"))
  expect_s3_class(v, "deepbmc_validation")
  # placeholder coding trains too, with the same number of weights as none
  models <- two_feature_models()
  sims <- simulate_datasets(models, n = 40, seed = 1)
  ph <- train_comparison(
    models, network = small_network(), simulations = sims, epochs = 1,
    seed = 2, threads = 1, progress = FALSE,
    missing = missing_values(share = 0.3, features = "y",
                             coding = "placeholder",
                             placeholder = list(y = "group_mean"))
  )
  expect_identical(ph$config$placeholder, c(NA_real_, NA_real_))
  expect_length(ph$weights, deepbmc:::cpp_network_size(plain))
})

# --- draws ---------------------------------------------------------------------

missing_batch <- function() {
  sims <- simulate_datasets(normal_nested_models(groups = 8, obs = 12),
                            n = 30, seed = 4)
  sims$batch
}

test_that("missing-value draws are identical for the same seed and differ otherwise", {
  batch <- missing_batch()
  spec <- list(kind = "share", share = c(0.2, 0.4), counts = c(0, 1),
               features = TRUE)
  a <- deepbmc:::cpp_apply_missing(batch, spec, 9)
  expect_identical(deepbmc:::cpp_apply_missing(batch, spec, 9), a)
  b <- deepbmc:::cpp_apply_missing(batch, spec, 10)
  expect_false(identical(a$mask, b$mask))
  share <- 1 - mean(a$mask)
  expect_gt(share, 0.2)
  expect_lt(share, 0.4)
  # counts: per group round(TN(mean, sd; 0, n)); with a small sd about `mean`
  counts <- list(kind = "counts", share = c(0, 0), counts = c(3, 0.01),
                 features = TRUE)
  d <- deepbmc:::cpp_apply_missing(batch, counts, 9)
  missing_per_group <- diff(c(0L, cumsum(!d$mask))[batch$group_offsets + 1L])
  expect_true(all(missing_per_group == 3))
  # truncated to [0, n]: a mean far beyond n loses whole groups
  all_lost <- deepbmc:::cpp_apply_missing(
    batch, list(kind = "counts", share = c(0, 0), counts = c(100, 1),
                features = TRUE), 9)
  expect_false(any(all_lost$mask))
})

test_that("training with missing values is identical for 1 and 2 threads and any chunking", {
  models <- normal_nested_models(groups = c(3, 6), obs = c(4, 8))
  config <- deepbmc:::missing_config(
    deepbmc:::network_config(small_network(), models),
    deepbmc:::missing_for_models(missing_values(), models)
  )
  method <- list(missing = list(kind = "counts", share = c(0, 0),
                                counts = c(2, 2), features = TRUE))
  w <- deepbmc:::cpp_network_init(config, 1)
  run <- function(steps, threads, weights = w, optimizer = NULL) {
    deepbmc:::cpp_train(
      config, weights, optimizer %||% fresh_optimizer(length(w)),
      deepbmc:::models_spec(models), steps = as.integer(steps),
      total_steps = 10, batch_size = 8L, learning_rate = 1e-3, seed = 5,
      threads = as.integer(threads), method = method
    )
  }
  whole <- run(10, 2)
  expect_identical(run(10, 1)$weights, whole$weights)
  first <- run(4, 1)
  second <- run(6, 2, first$weights, first$optimizer)
  expect_identical(second$weights, whole$weights)
  expect_identical(c(first$loss, second$loss), whole$loss)
  # the draws change training (their own stream)
  plain <- deepbmc:::cpp_train(
    config, w, fresh_optimizer(length(w)), deepbmc:::models_spec(models),
    steps = 10L, total_steps = 10, batch_size = 8L, learning_rate = 1e-3,
    seed = 5, threads = 2L
  )
  expect_false(identical(plain$weights, whole$weights))
})

test_that("validation draws the same missing values in C++ and in R", {
  fit <- train_comparison(normal_nested_models(groups = 6, obs = 6),
                          network = small_network(), epochs = 1,
                          iterations = 5, seed = 1, threads = 1,
                          missing = missing_values(share = c(0, 0.4)))
  missing <- missing_values(share = 0.3)
  in_cpp <- validate(fit, n = 50, seed = 8, boot = 0, missing = missing)
  sims <- simulate_datasets(fit$models, n = 50, seed = 8)
  in_r <- validate(fit, simulations = sims, seed = 8, boot = 0,
                   missing = missing)
  expect_equal(in_r$estimates$estimate, in_cpp$estimates$estimate,
               tolerance = 1e-12)
  expect_identical(validate(fit, n = 50, seed = 8, boot = 0,
                            missing = missing)$estimates,
                   in_cpp$estimates)
  # a pattern runs in R, deterministically
  pattern <- missing_values(pattern = function(data) runif(nrow(data)) < 0.3)
  a <- validate(fit, n = 30, seed = 8, boot = 0, missing = pattern)
  b <- validate(fit, n = 30, seed = 8, boot = 0, missing = pattern)
  expect_identical(a$estimates, b$estimates)
})

# --- errors --------------------------------------------------------------------

test_that("bad arguments to missing_values() give classed errors naming them", {
  expect_error(missing_values(share = 1), "share",
               class = "deepbmc_error_value")
  expect_error(missing_values(share = -0.1), "share",
               class = "deepbmc_error_value")
  expect_error(missing_values(share = c(0.4, 0.2)), "share",
               class = "deepbmc_error_value")
  expect_error(missing_values(share = "a"), "share",
               class = "deepbmc_error_value")
  expect_error(missing_values(features = 1), "features",
               class = "deepbmc_error_type")
  expect_error(missing_values(pattern = "f"), "pattern",
               class = "deepbmc_error_type")
  expect_error(missing_values(counts = c(mean = 3, sd = -1)), "counts",
               class = "deepbmc_error_value")
  expect_error(missing_values(counts = c(3, 1), share = 0.2), "share",
               class = "deepbmc_error_mismatch")
  expect_error(missing_values(coding = "zero"), "coding",
               class = "deepbmc_error")
  expect_error(missing_values(placeholder = 0), "placeholder",
               class = "deepbmc_error_mismatch")
  expect_error(missing_values(coding = "placeholder", placeholder = "mean"),
               "placeholder", class = "deepbmc_error_value")
  models <- normal_nested_models(groups = 5, obs = 5)
  expect_error(
    train_comparison(models, epochs = 1, iterations = 1,
                     missing = missing_values(features = "rt")),
    "rt", class = "deepbmc_error_mismatch"
  )
  expect_error(
    train_comparison(models, epochs = 1, iterations = 1, missing = 0.3),
    "missing", class = "deepbmc_error_type"
  )
  expect_error(
    train_comparison(models, epochs = 1, iterations = 1,
                     missing = missing_values(pattern = function(d) TRUE)),
    "pattern", class = "deepbmc_error_mismatch"
  )
  fit <- train_comparison(models, network = small_network(), epochs = 1,
                          iterations = 2, seed = 1, threads = 1)
  expect_error(validate(fit, n = 10, seed = 1, boot = 0,
                        missing = missing_values(pattern = function(d) 1)),
               "pattern", class = "deepbmc_error_value")
  expect_error(validate_missing(fit, share = 1.5, n = 10), "share",
               class = "deepbmc_error_value")
})

# --- gradients -----------------------------------------------------------------

test_that("network gradients through the indicator and placeholder codings match finite differences", {
  base <- core_config(input_dim = 2L, n_models = 3L, s1 = c(3L, 2L),
                      s2 = c(2L, 3L), s3 = c(3L, 2L), summary_dim = c(2L, 3L),
                      head_units = 3L)
  set.seed(31)
  obs <- function(n) matrix(rnorm(2 * n), n, 2)
  data <- pack_batch(list(list(obs(3), obs(4)), list(obs(2), obs(5))),
                     n_features = 2L)
  present <- rep(TRUE, length(data$values))
  present[c(2, 7, 9, 16, 21)] <- FALSE  # second feature of some rows, ...
  present[c(11, 12)] <- FALSE           # ... and a whole row (absent)
  data$values[!present] <- 0
  data$present <- present
  labels <- c(1L, 3L)
  for (coding in c("indicator", "placeholder")) {
    config <- base
    config$missing_coding <- coding
    if (coding == "placeholder") config$placeholder <- c(-1, NA)
    w <- noisy_weights(config, 32)
    res <- expect_loss_grad_matches(config, w, data, labels,
                                    values_at = which(present))
    # missing values do not reach the loss
    expect_true(all(res$input_grad[!present] == 0))
  }
  # the coding matters: the indicator network reads more inputs
  indicator <- base
  indicator$missing_coding <- "indicator"
  expect_gt(deepbmc:::cpp_network_size(indicator),
            deepbmc:::cpp_network_size(base))
  # without a coding, values missing within a row are refused
  expect_error(deepbmc:::cpp_loss_grad(base, noisy_weights(base, 1), data,
                                       labels), "missing-data coding")
})

# --- agreement with exact PMPs -------------------------------------------------

# --- printing and plotting -------------------------------------------------------

test_that("missing_values() and validate_missing() print, and the sweep plots", {
  expect_output(print(missing_values()), "U\\(0, 0.3\\)")
  expect_output(print(missing_values(counts = c(mean = 28.5, sd = 13.5),
                                     features = "y")),
                "TN\\(28.5, 13.5; 0, n\\).*features y")
  fit <- train_comparison(normal_nested_models(groups = 6, obs = 6),
                          network = small_network(), epochs = 1,
                          iterations = 5, seed = 1, threads = 1,
                          missing = missing_values(share = c(0, 0.4)))
  sweep <- validate_missing(fit, share = c(0.3, 0, 0.3), n = 40, seed = 2,
                            threads = 1)
  expect_s3_class(sweep, "deepbmc_missing_sweep")
  expect_identical(sweep$share, c(0, 0.3))
  # a subset has lost what print() needs: it is a plain data frame
  expect_s3_class(sweep[c("share", "accuracy")], "data.frame", exact = TRUE)
  expect_s3_class(sweep[1, ], "data.frame", exact = TRUE)
  expect_true(all(c("accuracy", "log_score", "ece_M0", "ece_M1") %in%
                    names(sweep)))
  # the same data sets at every share: at share 0 validate() agrees
  v <- validate(fit, n = 40, seed = 2, boot = 0, threads = 1)
  expect_equal(sweep$accuracy[[1]],
               v$estimates$estimate[v$estimates$metric == "accuracy"])
  expect_output(print(sweep), "indicator coding")
  skip_if_not_installed("ggplot2")
  expect_s3_class(ggplot2::autoplot(sweep), "ggplot")
  expect_s3_class(ggplot2::autoplot(sweep, metric = "accuracy"), "ggplot")
  expect_error(ggplot2::autoplot(sweep, metric = "nope"),
               class = "deepbmc_error")
})

# --- missing values across training phases (init) and resumed runs --------

test_that("fine-tuning with missing values starts from a net pretrained without", {
  # The paper's recipe with one feature: every coding is the plain input, so
  # a network pretrained on complete data fine-tunes with missing values.
  small <- normal_nested_models(groups = 6, obs = 5)
  pretrained <- train_comparison(small, network = small_network(), epochs = 1,
                                 iterations = 6, batch_size = 8, seed = 4,
                                 threads = 1, progress = FALSE)
  missing <- missing_values(share = c(0, 0.4))
  tuned <- train_comparison(normal_nested_models(groups = 6, obs = 10),
                            init = pretrained, epochs = 1, iterations = 4,
                            batch_size = 8, seed = 5, threads = 1,
                            progress = FALSE, missing = missing)
  expect_identical(nrow(tuned$phases), 2L)
  expect_false(identical(tuned$weights, pretrained$weights))
  expect_identical(tuned$training$missing$share, c(0, 0.4))
  # Without missing, the phase keeps init's coding and draws nothing.
  kept <- train_comparison(normal_nested_models(groups = 6, obs = 10),
                           init = tuned, epochs = 1, iterations = 2,
                           batch_size = 8, seed = 6, threads = 1,
                           progress = FALSE)
  expect_identical(kept$config$missing_coding, tuned$config$missing_coding)
  expect_null(kept$training$missing)
  # ... and is a valid fit: its coding came from the earlier phase
  x <- matrix(rnorm(60), nrow = 6)
  expect_no_error(pmp <- post_prob(kept, x))
  expect_equal(sum(pmp), 1)
  # an edited coding is still refused
  edited <- kept
  edited$config$missing_coding <- "something"
  expect_error(post_prob(edited, x), class = "deepbmc_error_fit")
})

test_that("with several features, indicator coding must be there from the start", {
  models <- two_feature_models()
  sims <- simulate_datasets(models, n = 40, seed = 7)
  plain <- train_comparison(models, network = small_network(),
                            simulations = sims, epochs = 1, seed = 8,
                            threads = 1, progress = FALSE)
  expect_error(
    train_comparison(models, init = plain, simulations = sims, epochs = 1,
                     seed = 9, threads = 1, progress = FALSE,
                     missing = missing_values(share = 0.2, features = "y")),
    class = "deepbmc_error_mismatch"
  )
  # Pretrained with presence indicators (nothing missing), it fine-tunes.
  coded <- train_comparison(models, network = small_network(),
                            simulations = sims, epochs = 1, seed = 8,
                            threads = 1, progress = FALSE,
                            missing = missing_values(share = 0))
  tuned <- train_comparison(models, init = coded, simulations = sims,
                            epochs = 1, seed = 9, threads = 1,
                            progress = FALSE,
                            missing = missing_values(share = 0.3,
                                                     features = "y"))
  expect_identical(tuned$config$missing_coding, "indicator")
  expect_identical(nrow(tuned$phases), 2L)
  # The placeholder coding keeps the input's width: allowed after "none".
  expect_no_error(
    train_comparison(models, init = plain, simulations = sims, epochs = 1,
                     seed = 9, threads = 1, progress = FALSE,
                     missing = missing_values(share = 0.2, features = "y",
                                              coding = "placeholder"))
  )
})

test_that("a run with missing values resumes to the uninterrupted run", {
  models <- normal_nested_models(groups = 6, obs = 6)
  train <- function(fun = train_comparison) {
    fun(models, network = small_network(), epochs = 2, iterations = 5,
        batch_size = 8, seed = 10, threads = 2, progress = FALSE,
        missing = missing_values(share = c(0.1, 0.5)))
  }
  full <- train()
  # An interrupt after the first chunk (helper-api.R).
  interrupting <- interrupting_after("train_comparison", 1L)
  expect_warning(partial <- train(interrupting),
                 class = "deepbmc_interrupted_warning")
  expect_lt(partial$training$steps_done, 10L)
  resumed <- resume_training(partial, progress = FALSE)
  expect_identical(resumed$weights, full$weights)
  expect_identical(resumed$optimizer, full$optimizer)
  expect_identical(resumed$history, full$history)
})

test_that("formula model sets lose whole observations, named by their columns", {
  data <- data.frame(g = rep(1:6, each = 5), x = rep(0:4, 6))
  data$y <- 0.3 * data$x + rnorm(6)[data$g] + rnorm(30)
  models <- model_set(
    flat = hier_model(y ~ 1 + (1 | g), data),
    slope = hier_model(y ~ 1 + x + (1 | g), data)
  )
  expect_identical(deepbmc:::missing_feature_names(models), c("y", "x"))
  resolved <- deepbmc:::missing_for_models(
    missing_values(share = 0.2, features = "y"), models
  )
  expect_identical(resolved$flags, c(TRUE, TRUE))
  expect_error(
    deepbmc:::missing_for_models(missing_values(share = 0.2, features = "x"),
                                 models),
    class = "deepbmc_error_value"
  )
  fit <- train_comparison(models, network = small_network(), epochs = 1,
                          iterations = 5, seed = 1, threads = 1,
                          progress = FALSE,
                          missing = missing_values(share = c(0, 0.3)))
  # whole observations go missing: no coding, the input keeps its width
  expect_identical(fit$config$missing_coding, "none")
  plain <- train_comparison(models, network = small_network(), epochs = 1,
                            iterations = 5, seed = 1, threads = 1,
                            progress = FALSE)
  tuned <- train_comparison(models, init = plain, epochs = 1, iterations = 3,
                            seed = 2, threads = 1, progress = FALSE,
                            missing = missing_values(share = 0.2,
                                                     features = "y"))
  expect_identical(nrow(tuned$phases), 2L)
  gappy <- data
  gappy$y[c(2, 11)] <- NA
  expect_equal(post_prob(fit, gappy), post_prob(fit, data[-c(2, 11), ]))
})
