test_tier("fast")
# train_comparison() (R/train.R) and the fit object (R/fit.R): learning on
# Study 1, the history, reproducibility, progress, interrupts, saving, damaged
# fits, printing and checks.

# --- Learning ----------------------------------------------------------------

test_that("a short training run on Study 1 classifies held-out data sets", {
  fit <- study1_fit()
  expect_s3_class(fit, "deepbmc_fit")
  # the loss falls well below chance (log 2)
  first <- mean(fit$history$loss[1:10])
  last <- mean(utils::tail(fit$history$loss, 100))
  expect_lt(last, 0.45)
  expect_lt(last, first - 0.2)
  validation <- validate(fit, n = 2000, seed = 2024, threads = 2)
  expect_gt(validation$metrics$accuracy, 0.8)
  expect_lt(validation$metrics$log_score, 0.45)
  # both models are recognised, not only one
  recall <- diag(validation$confusion) / rowSums(validation$confusion)
  expect_true(all(recall > 0.6))
})

test_that("the trained network weighs evidence sensibly", {
  fit <- study1_fit()
  withr::local_seed(8)
  theta <- rnorm(50, sd = 0.7)
  null_data <- matrix(rnorm(2500, mean = rep(theta, 50)), nrow = 50)
  null_data <- null_data - mean(null_data)
  # the grand mean is exactly 0: M0 is favoured
  expect_gt(post_prob(fit, null_data)[["M0"]], 0.6)
  # a grand mean of 20 is clear evidence for M1 (a briefly trained network
  # saturates at log Bayes factors of about 4; see test-predict.R for
  # overwhelming logits)
  effect_data <- null_data + 20
  log_bf <- unname(bayes_factor(fit, effect_data, model1 = "M1",
                                model2 = "M0")$bf)
  expect_true(is.finite(log_bf))
  expect_gt(log_bf, 2)
  log_pmp <- post_prob(fit, effect_data, log = TRUE)
  expect_true(all(is.finite(log_pmp)))
  expect_equal(log_pmp[["M0"]] - log_pmp[["M1"]], -log_bf, tolerance = 1e-10)
  # larger effects are stronger evidence
  expect_gt(unname(bayes_factor(fit, null_data + 2, model1 = "M1",
                                model2 = "M0")$bf),
            unname(bayes_factor(fit, null_data + 0.2, model1 = "M1",
                                model2 = "M0")$bf))
})

# --- History and settings ------------------------------------------------------

test_that("the fit has the documented parts and one history row per step", {
  fit <- train_comparison(
    api_models(), api_network(), epochs = 3, iterations = 7, batch_size = 10,
    learning_rate = 2e-3, threads = 2, seed = 4, progress = FALSE
  )
  expect_s3_class(fit, "deepbmc_fit", exact = TRUE)
  expect_named(fit, c("models", "network", "config", "weights", "optimizer",
                      "history", "holdout_history", "training",
                      "input_range", "checked_range", "checksum",
                      "phases", "format_version", "verdict"))
  expect_identical(fit$models, api_models())
  expect_identical(fit$network, api_network())
  expect_identical(fit$config,
                   deepbmc:::network_config(api_network(), api_models()))
  expect_type(fit$weights, "double")
  expect_length(fit$weights, deepbmc:::cpp_network_size(fit$config))
  expect_true(all(is.finite(fit$weights)))
  expect_false(identical(fit$weights,
                         deepbmc:::cpp_network_init(fit$config, 4)))
  expect_identical(fit$format_version, 6L)
  # the range of log BFs it vouches for (issue 14), one bound per ordered pair
  expect_identical(dim(fit$checked_range$upper), c(2L, 2L))
  expect_identical(fit$checked_range$source, "training")
  expect_identical(fit$training$method$name, "classifier")
  expect_identical(fit$checksum, deepbmc:::fit_checksum(fit))

  history <- fit$history
  expect_s3_class(history, "data.frame")
  expect_named(history, c("step", "epoch", "loss", "accuracy", "phase"))
  expect_identical(history$step, 1:21)
  expect_identical(history$epoch, rep(1:3, each = 7))
  expect_true(all(is.finite(history$loss)) && all(history$loss > 0))
  expect_true(all(history$accuracy >= 0 & history$accuracy <= 1))
  # accuracy is a share of the batch of 10
  expect_equal(history$accuracy * 10, round(history$accuracy * 10))

  expect_identical(fit$optimizer$step, 21L)
  expect_length(fit$optimizer$m, length(fit$weights))
  expect_length(fit$optimizer$v, length(fit$weights))
  expect_true(all(fit$optimizer$v >= 0))
  training <- fit$training
  expect_identical(training[c("epochs", "iterations", "batch_size",
                              "learning_rate", "seed", "threads", "steps_done")],
                   list(epochs = 3L, iterations = 7L, batch_size = 10L,
                        learning_rate = 2e-3, seed = 4, threads = 2L,
                        steps_done = 21L))
  expect_true(training$seconds >= 0)
  # network = NULL means the paper's default network
  default <- train_comparison(normal_nested_models(3, 3), epochs = 1,
                              iterations = 1, batch_size = 2, seed = 1,
                              progress = FALSE)
  expect_identical(default$network, hierarchical_network())
})

test_that("the same seed gives identical fits with 1 and 2 threads", {
  train <- function(threads, seed = 6) {
    train_comparison(api_models(), api_network(), epochs = 2, iterations = 6,
                     batch_size = 12, learning_rate = 1e-2, threads = threads,
                     seed = seed, progress = FALSE)
  }
  one <- train(1)
  two <- train(2)
  expect_identical(two$weights, one$weights)
  expect_identical(two$optimizer, one$optimizer)
  expect_identical(two$history, one$history)
  expect_false(identical(train(2, seed = 7)$weights, one$weights))
})

test_that("seed = NULL draws the seed from R's generator", {
  train <- function(seed = NULL) {
    train_comparison(api_models(), api_network(), epochs = 1, iterations = 5,
                     batch_size = 8, seed = seed, progress = FALSE)
  }
  withr::local_preserve_seed()
  set.seed(42)
  a <- train()
  set.seed(42)
  b <- train()
  expect_identical(b$weights, a$weights)
  expect_identical(b$training$seed, a$training$seed)
  # the seed kept in the fit reproduces it
  expect_identical(train(seed = a$training$seed)$weights, a$weights)
  set.seed(43)
  expect_false(identical(train()$weights, a$weights))
})

test_that("progress = TRUE shows a progress bar and changes nothing", {
  # the bar of interactive sessions (others get status lines:
  # test-training-check.R)
  rlang::local_interactive(TRUE)
  train <- function(progress) {
    train_comparison(api_models(), api_network(), epochs = 2, iterations = 10,
                     batch_size = 8, seed = 3, progress = progress)
  }
  messages <- capture_messages(shown <- train(TRUE))
  expect_true(any(grepl("Training 20/20 steps (100%)", messages, fixed = TRUE)))
  expect_true(any(grepl("\\| loss [0-9.]+ \\|", messages)))
  quiet <- expect_silent(train(FALSE))
  expect_identical(shown$weights, quiet$weights)
  expect_identical(shown$history, quiet$history)
})

# --- Interrupts -----------------------------------------------------------------

# train_comparison() whose training chunks signal an interrupt (the condition
# R signals on Ctrl-C) on every call after the first `after` calls. The chunk
# runner (cpp_trainer_run(), or cpp_train() in older versions) is wrapped in
# copies of train_comparison() and run_training() whose enclosing environment
# holds the wrapper, so the package namespace is left untouched.
interrupting_train <- function(after) {
  ns <- asNamespace("deepbmc")
  mock <- new.env(parent = ns)
  mock$calls <- 0L
  wrap <- function(runner) {
    force(runner)
    function(...) {
      mock$calls <- mock$calls + 1L
      if (mock$calls > after) {
        signalCondition(structure(list(message = "", call = NULL),
                                  class = c("interrupt", "condition")))
      }
      runner(...)
    }
  }
  runners <- intersect(c("cpp_trainer_run", "cpp_train"), names(ns))
  uses <- all.names(body(ns$run_training))
  runners <- intersect(runners, uses)
  stopifnot(length(runners) == 1)
  mock[[runners]] <- wrap(ns[[runners]])
  mock$run_training <- ns$run_training
  environment(mock$run_training) <- mock
  train <- ns$train_comparison
  environment(train) <- mock
  train
}

test_that("an interrupt returns the steps done so far with a classed warning", {
  train <- interrupting_train(after = 2)
  expect_warning(
    fit <- train(api_models(), api_network(), epochs = 2, iterations = 100,
                 batch_size = 8, learning_rate = 1e-2, seed = 5,
                 progress = FALSE),
    class = "deepbmc_interrupted_warning"
  )
  expect_s3_class(fit, "deepbmc_fit")
  done <- fit$training$steps_done
  # two chunks ran (the first of 2 steps), the third was interrupted
  expect_gt(done, 2)
  expect_lt(done, 200)
  expect_identical(fit$optimizer$step, done)
  expect_identical(fit$history$step, seq_len(done))
  # the partial fit is consistent: its weights are those of `done` steps of
  # the full 200-step schedule
  reference <- deepbmc:::cpp_train(
    fit$config, deepbmc:::cpp_network_init(fit$config, 5),
    fresh_optimizer(length(fit$weights)), deepbmc:::models_spec(fit$models),
    steps = done, total_steps = 200, batch_size = 8L, learning_rate = 1e-2,
    seed = 5, threads = 2L
  )
  expect_identical(fit$weights, reference$weights)
  expect_identical(fit$history$loss, reference$loss)
  # and usable
  pmp <- post_prob(fit, api_groups(1))
  expect_equal(sum(pmp), 1)
  expect_output(print(fit), sprintf("Trained: %d of 200 steps", done),
                fixed = TRUE)

  train <- interrupting_train(after = 1)
  w <- tryCatch(
    train(api_models(), api_network(), epochs = 1, iterations = 50,
          batch_size = 8, seed = 5, progress = FALSE),
    warning = identity
  )
  expect_match(conditionMessage(w), "Training interrupted after [0-9]+ of 50 steps")
})

test_that("an interrupt before the first step returns the initial network", {
  rlang::local_interactive(TRUE)
  train <- interrupting_train(after = 0)
  expect_warning(
    messages <- capture_messages(
      fit <- train(api_models(), api_network(), epochs = 1, iterations = 30,
                   batch_size = 8, seed = 9, progress = TRUE)
    ),
    class = "deepbmc_interrupted_warning"
  )
  expect_identical(fit$training$steps_done, 0L)
  expect_identical(nrow(fit$history), 0L)
  expect_identical(fit$weights, deepbmc:::cpp_network_init(fit$config, 9))
  # the bar stays where training stopped
  expect_false(any(grepl("30/30", messages, fixed = TRUE)))
  expect_output(print(fit), "Trained: 0 of 30 steps", fixed = TRUE)
  expect_output(print(summary(fit)), "Last epoch: loss +NA, accuracy +NA")
  expect_identical(summary(fit)$final_loss, NA_real_)
})

# train_comparison() as interrupting_train(after) makes it, whose clean-up
# after the interrupt is interrupted once more: finish_training() calls
# fit_holdout_history(), which here signals a second interrupt and, if no
# handler takes it, fails as an interrupt reaching the top level would.
doubly_interrupting_train <- function(after) {
  train <- interrupting_train(after)
  mock <- environment(train)
  ns <- asNamespace("deepbmc")
  mock$second <- 0L
  mock$fit_holdout_history <- function(...) {
    mock$second <- mock$second + 1L
    if (mock$second == 1L) {
      signalCondition(structure(list(message = "", call = NULL),
                                class = c("interrupt", "condition")))
      stop("a second interrupt reached the top level")
    }
    ns$fit_holdout_history(...)
  }
  stopifnot("fit_holdout_history" %in% all.names(body(ns$finish_training)))
  mock$finish_training <- ns$finish_training
  environment(mock$finish_training) <- mock
  train
}

test_that("a second interrupt during the clean-up does not lose the fit", {
  train <- doubly_interrupting_train(after = 2)
  expect_warning(
    fit <- train(api_models(), api_network(), epochs = 1, iterations = 100,
                 batch_size = 8, learning_rate = 1e-2, seed = 5,
                 progress = FALSE),
    class = "deepbmc_interrupted_warning"
  )
  expect_identical(environment(train)$second, 2L)
  done <- fit$training$steps_done
  expect_gt(done, 2)
  expect_lt(done, 100)
  expect_identical(fit$training$stopped, "interrupted")
  expect_identical(fit$history$step, seq_len(done))
  expect_equal(sum(post_prob(fit, api_groups(1))), 1)
})

test_that("diverging training stops with the last finite state and a warning", {
  models <- normal_nested_models(groups = 5, obs = 5)
  # just below the bound, Adam's steps blow the weights up within a few steps
  w <- expect_warning(
    fit <- train_comparison(models, api_network(), epochs = 1,
                            iterations = 200, batch_size = 8,
                            learning_rate = 0.99, seed = 2, progress = FALSE),
    class = "deepbmc_diverged_warning"
  )
  done <- fit$training$steps_done
  expect_lt(done, 200L)
  expect_identical(fit$training$stopped, "diverged")
  expect_match(conditionMessage(w), sprintf("diverged at step %d", done + 1L),
               fixed = TRUE)
  expect_true(all(is.finite(fit$weights)))
  expect_true(all(is.finite(fit$history$loss)))
  expect_identical(fit$history$step, seq_len(done))
  # the weights are those of `done` steps of the same run
  reference <- deepbmc:::cpp_train(
    fit$config, deepbmc:::cpp_network_init(fit$config, 2),
    fresh_optimizer(length(fit$weights)), deepbmc:::models_spec(models),
    steps = done, total_steps = 200, batch_size = 8L, learning_rate = 0.99,
    seed = 2, threads = 2L
  )
  expect_identical(fit$weights, reference$weights)
  expect_false(reference$diverged)
  expect_output(print(fit), "training diverged", fixed = TRUE)
  expect_output(print(fit), "Training check: FAILED (training diverged)", fixed = TRUE)
  expect_warning(expect_equal(sum(post_prob(fit, api_groups(1, sizes = rep(5, 5)))), 1),
                 "Training diverged", class = "deepbmc_verdict_warning")
})

test_that("learning rates of 1 and above are refused", {
  models <- normal_nested_models(groups = 5, obs = 5)
  for (rate in c(1, 1e4, 1e300)) {
    err <- expect_deepbmc_error(
      train_comparison(models, api_network(), epochs = 1, iterations = 1,
                       learning_rate = rate, seed = 1, progress = FALSE),
      "value", "learning_rate", label = format(rate)
    )
    expect_match(conditionMessage(err), "below 1", fixed = TRUE)
  }
})

test_that("data sets too large to train on are refused with the reason", {
  err <- expect_deepbmc_error(
    train_comparison(normal_nested_models(groups = 1000, obs = 251),
                     api_network(), seed = 1, progress = FALSE),
    "value"
  )
  expect_match(conditionMessage(err), "251,000 observations", fixed = TRUE)
  expect_match(conditionMessage(err), "250,000", fixed = TRUE)
  # the limit itself is allowed (one step of one data set)
  expect_s3_class(
    train_comparison(normal_nested_models(groups = 1000, obs = 250),
                     api_network(), epochs = 1, iterations = 1, batch_size = 1,
                     seed = 1, progress = FALSE),
    "deepbmc_fit"
  )
})

# --- Saving and damaged fits ------------------------------------------------------

test_that("fits hold only plain R data and survive saveRDS()/readRDS()", {
  fit <- api_fit()
  for (type in c("externalptr", "environment", "closure", "builtin")) {
    expect_false(contains_type(fit, type), label = type)
  }
  # the search would find one
  expect_true(contains_type(list(a = list(1, globalenv())), "environment"))
  expect_true(contains_type(structure(1, attr = list(new.env())), "environment"))

  path <- withr::local_tempfile(fileext = ".rds")
  saveRDS(fit, path)
  restored <- readRDS(path)
  expect_identical(restored, fit)
  sets <- list(groups_to_matrix(api_groups(1)), api_groups(2))
  expect_identical(post_prob(restored, sets), post_prob(fit, sets))
  expect_identical(bayes_factor(restored, sets), bayes_factor(fit, sets))
  expect_identical(validate(restored, n = 50, seed = 1),
                   validate(fit, n = 50, seed = 1))
  # also through serialize() in another encoding
  again <- unserialize(serialize(fit, NULL, ascii = TRUE))
  expect_identical(post_prob(again, sets), post_prob(fit, sets))
})

test_that("damaged fits are classed errors, never crashes", {
  fit <- api_fit()
  x <- api_groups(1)
  damaged <- list(
    short_weights = list(what = "fit", fit = within(unclass(fit), weights <- weights[-1])),
    long_weights = list(what = "fit", fit = within(unclass(fit), weights <- c(weights, 0))),
    no_weights = list(what = "fit", fit = within(unclass(fit), weights <- numeric(0))),
    text_weights = list(what = "fit", fit = within(unclass(fit), weights <- as.character(weights))),
    integer_weights = list(what = "fit", fit = within(unclass(fit), weights <- rep(1L, length(weights)))),
    nan_weight = list(what = "numeric", fit = within(unclass(fit), weights[3] <- NaN)),
    inf_weight = list(what = "numeric", fit = within(unclass(fit), weights[3] <- Inf)),
    newer_version = list(what = "version", fit = within(unclass(fit), format_version <- 7L)),
    old_version = list(what = "version", fit = within(unclass(fit), format_version <- 0L)),
    no_version = list(what = "version", fit = within(unclass(fit), rm(format_version))),
    text_version = list(what = "version", fit = within(unclass(fit), format_version <- "1")),
    na_version = list(what = "version", fit = within(unclass(fit), format_version <- NA_integer_)),
    no_history = list(what = "fit", fit = within(unclass(fit), rm(history))),
    no_config = list(what = "fit", fit = within(unclass(fit), rm(config))),
    bad_config = list(what = "fit", fit = within(unclass(fit), config$s1 <- c(-1L, 4L))),
    bad_activation = list(what = "fit", fit = within(unclass(fit), config$activation <- "swish")),
    more_models = list(what = "fit", fit = within(unclass(fit), config$n_models <- 3L))
  )
  # every damage through post_prob(); the other functions share check_fit(),
  # so a few damages show that they check and name their argument too
  for (name in names(damaged)) {
    bad <- structure(damaged[[name]]$fit, class = "deepbmc_fit")
    what <- damaged[[name]]$what
    expect_deepbmc_error(post_prob(bad, x), what, "x", label = name)
    if (name %in% c("short_weights", "nan_weight", "newer_version",
                    "no_history")) {
      expect_deepbmc_error(bayes_factor(bad, x), what, "x1", label = name)
      expect_deepbmc_error(compare_models(bad, x), what, "fit", label = name)
      expect_deepbmc_error(validate(bad, n = 10), what, "fit", label = name)
    }
  }
  newer <- structure(damaged$newer_version$fit, class = "deepbmc_fit")
  err <- expect_deepbmc_error(post_prob(newer, x), "version", "x")
  expect_match(conditionMessage(err), "format version 7", fixed = TRUE)
  expect_match(conditionMessage(err), "update the package", fixed = TRUE)
  # printing needs a readable format, not usable weights
  expect_deepbmc_error(print(newer), "version", "x")
  expect_deepbmc_error(summary(newer), "version", "object")
  short <- structure(damaged$short_weights$fit, class = "deepbmc_fit")
  expect_output(print(short), "Network comparing 2 models")
  err <- expect_deepbmc_error(post_prob(short, x), "fit", "x")
  expect_match(conditionMessage(err), sprintf("Expected %d numeric weights, found %d",
                                              length(fit$weights), length(fit$weights) - 1L),
               fixed = TRUE)
})

test_that("edited fits are refused: model names, config, model set, checksum", {
  fit <- api_fit()
  x <- api_groups(1)
  edits <- list(
    no_model_names = function(f) { f$models$model_names <- NULL; f },
    duplicated_names = function(f) { f$models$model_names <- c("M0", "M0"); f },
    empty_name = function(f) { f$models$model_names <- c("M0", ""); f },
    na_name = function(f) { f$models$model_names <- c("M0", NA); f },
    three_names = function(f) { f$models$model_names <- c("a", "b", "c"); f },
    other_activation = function(f) { f$config$activation <- "relu"; f },
    other_network = function(f) { f$network$activation <- "relu"; f },
    config_and_network = function(f) {
      f$config$activation <- "relu"
      f$network$activation <- "relu"
      f
    },
    other_sizes = function(f) { f$models$groups <- c(2L, 99L); f },
    broken_sizes = function(f) { f$models$obs <- c(5L, 2L); f },
    no_models = function(f) { f$models <- list(); f },
    # the smallest change the float network can see: one step in single precision
    tiny_weight_change = function(f) { f$weights[1] <- f$weights[1] * (1 + 2^-22); f },
    other_prior = function(f) { f$models$prior_prob <- c(0.9, 0.1); f },
    other_input_range = function(f) { f$input_range$hi <- f$input_range$hi * 2; f },
    no_checksum = function(f) { f$checksum <- NULL; f },
    text_checksum = function(f) { f$checksum <- "not a checksum"; f }
  )
  for (name in names(edits)) {
    bad <- edits[[name]](fit)
    expect_deepbmc_error(post_prob(bad, x), "fit", "x", label = name)
  }
  err <- expect_deepbmc_error(post_prob(edits$tiny_weight_change(fit), x), "fit")
  expect_match(conditionMessage(err), "checksum does not match", fixed = TRUE)
  err <- expect_deepbmc_error(post_prob(edits$no_model_names(fit), x), "fit")
  expect_match(conditionMessage(err), "model names", fixed = TRUE)
  err <- expect_deepbmc_error(post_prob(edits$other_activation(fit), x), "fit")
  expect_match(conditionMessage(err), "configuration does not match",
               fixed = TRUE)
  # an unchanged copy is fine, whatever R did to its storage on the way
  copy <- unserialize(serialize(fit, NULL, xdr = FALSE))
  copy$weights <- copy$weights + 0
  copy$models$groups <- as.double(copy$models$groups)
  expect_identical(post_prob(copy, x), post_prob(fit, x))
})

test_that("fits saved without a checksum are checked by the C++ core", {
  fit <- api_fit()
  x <- api_groups(1)
  old <- as_version_2(fit)
  expect_equal(post_prob(old, x), post_prob(fit, x))
  formula_fit <- train_comparison(
    model_set(a = hier_model(weight ~ 1 + (1 | Chick), ChickWeight),
              b = hier_model(weight ~ 1 + Time + (1 | Chick), ChickWeight)),
    api_network(), epochs = 1, iterations = 2, batch_size = 4, seed = 1,
    progress = FALSE
  )
  old <- as_version_2(formula_fit)
  spec_edits <- list(
    short_x = function(f) {
      f$models$compiled$models[[2]]$X <- f$models$compiled$models[[2]]$X[-1, ]
      f
    },
    bad_family = function(f) { f$models$compiled$models[[1]]$family <- 99L; f },
    bad_offsets = function(f) {
      f$models$compiled$design$group_offsets[2] <- -5L
      f
    },
    bad_scaling = function(f) { f$models$compiled$scaling$response_scale <- 0; f }
  )
  for (name in names(spec_edits)) {
    bad <- spec_edits[[name]](old)
    err <- expect_deepbmc_error(validate(bad, n = 4), "fit", "fit", label = name)
    expect_match(conditionMessage(err), "model set", fixed = TRUE)
    # with a checksum, the same edits are caught before C++ sees them
    edited <- spec_edits[[name]](formula_fit)
    expect_deepbmc_error(validate(edited, n = 4), "fit", "fit", label = name)
  }
})

# --- Printing -------------------------------------------------------------------

test_that("print() and summary() show the key numbers", {
  fit <- train_comparison(
    normal_nested_models(groups = c(3, 9), obs = 4), api_network(), epochs = 3,
    iterations = 4, batch_size = 6, learning_rate = 3e-3, seed = 123456789,
    progress = FALSE
  )
  last_epoch <- fit$history[fit$history$epoch == 3, ]
  loss <- formatC(mean(last_epoch$loss), digits = 4, format = "f")
  accuracy <- formatC(mean(last_epoch$accuracy), digits = 3, format = "f")

  out <- capture.output(res <- print(fit))
  expect_identical(res, fit)
  expect_identical(out[1:3], c(
    "<deepbmc_fit> Network comparing 2 models (M0, M1)",
    "Data: 3-9 groups x 4 observations per group",
    "Network: 2 levels, 242 weights; standardisation: none"
  ))
  expect_match(out[[4]], "^Trained: 12 of 12 steps in [0-9.]+ (s|min|h); ")
  expect_match(out[[4]], paste0("last epoch loss ", loss, ", accuracy ", accuracy),
               fixed = TRUE)

  s <- summary(fit)
  expect_s3_class(s, "summary.deepbmc_fit")
  expect_identical(s$n_weights, 242L)
  expect_identical(s$steps_done, 12L)
  expect_identical(s$total_steps, 12L)
  expect_equal(s$final_loss, mean(last_epoch$loss), tolerance = 1e-15)
  expect_equal(s$final_accuracy, mean(last_epoch$accuracy), tolerance = 1e-15)
  expect_identical(s$batch_size, 6L)
  expect_identical(s$learning_rate, 3e-3)
  expect_identical(s$seed, 123456789)
  expect_identical(s$models, fit$models)
  expect_identical(s$network, fit$network)
  expect_true(s$seconds >= 0)

  out <- capture.output(res <- print(s))
  expect_identical(res, s)
  expect_identical(out[[1]], "<deepbmc_fit> Trained model comparison network")
  expect_identical(out[[2]], paste(
    "Models: M0, M1 (deepbmc_normal_nested; 3-9 groups x 4 observations per",
    "group)"
  ))
  # the network's lines end with its standardisation
  expect_identical(out[3:8], format(api_network()))
  expect_identical(out[[8]], "  standardisation: none (features as they are)")
  expect_identical(out[[9]], "Weights: 242")
  expect_identical(out[[10]], paste(
    "Training: 12 of 12 steps x 6 data sets, learning rate 0.003,",
    "seed 123456789"
  ))
  expect_identical(out[[11]],
                   paste0("Last epoch: loss ", loss, ", accuracy ", accuracy))
  expect_length(out, 12)
  expect_match(out[[12]], "^Time: [0-9.]+ (s|min|h) \\(([0-9,]+|NA) data sets/s\\)$")
})

test_that("durations are formatted in s, min and h", {
  expect_identical(deepbmc:::format_seconds(0), "0.0 s")
  expect_identical(deepbmc:::format_seconds(59.94), "59.9 s")
  expect_identical(deepbmc:::format_seconds(90), "1.5 min")
  expect_identical(deepbmc:::format_seconds(7200), "2.0 h")
  expect_identical(deepbmc:::format_seconds(NA), "NA")
})

# --- Checks -------------------------------------------------------------------------

test_that("bad arguments are classed errors naming the argument", {
  models <- normal_nested_models(groups = 5, obs = 5)
  net <- api_network()
  train <- function(...) {
    train_comparison(models, net, epochs = 1, iterations = 1, batch_size = 2,
                     seed = 1, progress = FALSE, ...)
  }
  expect_deepbmc_error(train_comparison("models"), "type", "models")
  expect_deepbmc_error(train_comparison(unclass(models)), "type", "models")
  expect_deepbmc_error(train_comparison(models, network = list()), "type",
                       "network")
  expect_deepbmc_error(train_comparison(models, network = models), "type",
                       "network")
  expect_deepbmc_error(train_comparison(net), "type", "models")

  counts <- list(epochs = 1e6, iterations = 1e6, batch_size = 65536)
  for (arg in names(counts)) {
    call_with <- function(value) {
      args <- list(models, net, seed = 1, progress = FALSE)
      args[arg] <- list(value)
      do.call(train_comparison, args)
    }
    for (value in list(0, -1, 2.5, Inf, NA_real_, counts[[arg]] + 1)) {
      expect_deepbmc_error(call_with(value), "value", arg,
                           label = paste(arg, deparse(value)))
    }
    # iterations = NULL is the default: one pass, or 1000 steps online
    wrong_types <- list(NA, "10", c(1, 2), NULL)
    if (arg == "iterations") wrong_types <- wrong_types[1:3]
    for (value in wrong_types) {
      expect_deepbmc_error(call_with(value), "type", arg,
                           label = paste(arg, deparse(value)))
    }
  }
  for (rate in list(0, -1e-3, Inf, NA_real_, NaN)) {
    expect_deepbmc_error(train(learning_rate = rate), "value", "learning_rate",
                         label = deparse(rate))
  }
  for (rate in list(NA, "0.001", c(1e-3, 1e-4), NULL)) {
    expect_deepbmc_error(train(learning_rate = rate), "type", "learning_rate",
                         label = deparse(rate))
  }
  train_without <- function(arg, value) {
    args <- list(models, net, epochs = 1, iterations = 1, batch_size = 2,
                 seed = 1, progress = FALSE)
    args[arg] <- list(value)
    do.call(train_comparison, args)
  }
  for (threads in list(0, 1.5, 1025, NA_real_, -Inf)) {
    expect_deepbmc_error(train_without("threads", threads), "value", "threads",
                         label = deparse(threads))
  }
  for (threads in list(NA, "2", c(1, 2))) {
    expect_deepbmc_error(train_without("threads", threads), "type", "threads",
                         label = deparse(threads))
  }
  for (seed in list(-1, 0.5, 2^52 + 2, Inf, NA_real_)) {
    expect_deepbmc_error(train_without("seed", seed), "value", "seed",
                         label = deparse(seed))
  }
  for (seed in list(NA, "1", c(1, 2), TRUE)) {
    expect_deepbmc_error(train_without("seed", seed), "type", "seed",
                         label = deparse(seed))
  }
  for (progress in list(NA, "yes", 1, c(TRUE, FALSE), NULL)) {
    expect_deepbmc_error(train_without("progress", progress), "type",
                         "progress", label = deparse(progress))
  }
  # impossible combinations
  err <- expect_deepbmc_error(
    train_comparison(models, net, epochs = 1e5, iterations = 1e5, seed = 1),
    "value", "epochs * iterations"
  )
  expect_match(conditionMessage(err), "10,000,000,000 steps", fixed = TRUE)
  expect_deepbmc_error(
    train_comparison(normal_nested_models(1000, 1000), net, batch_size = 51,
                     seed = 1),
    "value", "batch_size"
  )
  expect_deepbmc_error(
    train_comparison(models, hierarchical_network(s1 = 2, s2 = 2, s3 = 2,
                                                  summary_dim = 2), seed = 1),
    "mismatch", "network"
  )
  # the boundaries themselves are accepted
  expect_s3_class(train_without("seed", 2^52), "deepbmc_fit")
  expect_s3_class(train_without("seed", 0), "deepbmc_fit")
  expect_s3_class(train_without("threads", 1L), "deepbmc_fit")
})

# --- Offline training from stored simulations ---------------------------------

test_that("offline training walks each model's data sets in reshuffled passes", {
  model <- c(1L, 2L, 1L, 1L, 2L, 0L, 2L, 1L, 2L, 1L, 0L, 2L)
  order <- deepbmc:::cpp_stored_order(model, 2L, batch_size = 5L, steps = 12L,
                                      seed = 3)
  expect_identical(dim(order), c(12L, 5L))
  # balanced: slot b holds model b mod K, never a data set left out
  for (b in 1:5) {
    expect_true(all(model[order[, b]] == (b - 1L) %% 2L + 1L))
  }
  expect_false(any(model[order] == 0L))
  # each model's draws, in the order taken, are whole passes of a permutation
  for (k in 1:2) {
    own <- which(model == k)
    slots <- which((seq_len(5) - 1L) %% 2L + 1L == k)
    drawn <- as.vector(t(order[, slots]))
    passes <- split(drawn, (seq_along(drawn) - 1L) %/% length(own))
    complete <- passes[lengths(passes) == length(own)]
    expect_gte(length(complete), 3)
    for (pass in complete) expect_setequal(pass, own)
    # reshuffled: not every pass in the same order
    expect_gt(length(unique(lapply(complete, identity))), 1)
  }
  # a function of the seed only
  expect_identical(deepbmc:::cpp_stored_order(model, 2L, 5L, 12L, 3), order)
  expect_false(identical(deepbmc:::cpp_stored_order(model, 2L, 5L, 12L, 4),
                         order))
  expect_error(deepbmc:::cpp_stored_order(c(1L, 1L), 2L, 2L, 1L, 1),
               "every model")
})

test_that("offline training learns, holds data out, and is thread-independent", {
  models <- normal_nested_models(groups = 8, obs = 8)
  sims <- simulate_datasets(models, n = 1200, seed = 1)
  train <- function(threads, ...) {
    train_comparison(models, api_network(), simulations = sims, epochs = 4,
                     batch_size = 16, learning_rate = 3e-3, holdout = 100,
                     seed = 2, threads = threads, progress = FALSE, ...)
  }
  fit <- train(2L)
  expect_identical(fit$training$source, "simulations")
  expect_identical(fit$training$simulations, 1100L)
  # one pass per epoch: 1100 %/% 16 steps
  expect_identical(fit$training$iterations, 68L)
  expect_identical(nrow(fit$holdout_history), 4L)
  expect_identical(train(1L)$weights, fit$weights)
  # it learns: at 8 x 8 the models overlap (online training reaches about
  # 63% and loss 0.61 here), so ask for clearly above chance on 100 held-out
  # data sets, and no worse than online training with the same steps
  expect_gt(fit$holdout_history$accuracy[[4]], 0.6)
  expect_lt(fit$holdout_history$loss[[4]], log(2) - 0.05)
  online <- train_comparison(models, api_network(), epochs = 4,
                             iterations = 68, batch_size = 16,
                             learning_rate = 3e-3, holdout = 100, seed = 2,
                             threads = 2L, progress = FALSE)
  expect_lt(fit$holdout_history$loss[[4]],
            online$holdout_history$loss[[4]] + 0.05)
  # the holdout set is part of the simulations, drawn from the seed
  held <- deepbmc:::training_source(models, sims, 100, 2)$holdout
  expect_identical(held$model, sims$model[sort(withr::with_seed(
    deepbmc:::holdout_seed(2) %% .Machine$integer.max, sample.int(1200, 100)
  ))])
  # bad simulations are classed errors
  other <- simulate_datasets(model_set(
    a = hier_model(weight ~ 1 + (1 | Chick), ChickWeight),
    b = hier_model(weight ~ Time + (1 | Chick), ChickWeight)
  ), n = 4, seed = 1)
  expect_deepbmc_error(
    train_comparison(models, simulations = other, progress = FALSE),
    "mismatch", "simulations"
  )
  expect_deepbmc_error(
    train_comparison(models, simulations = list(), progress = FALSE),
    "type", "simulations"
  )
  one_model <- sims
  one_model$model[] <- 1L
  # (as if simulated so: edited simulations are refused by their checksum)
  one_model$checksum <- deepbmc:::simulations_checksum(one_model)
  expect_deepbmc_error(
    train_comparison(models, simulations = one_model, progress = FALSE),
    "value", "simulations"
  )
})
