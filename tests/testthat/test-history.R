test_tier("fast")
# The holdout set of train_comparison() (R/train.R, R/history.R), its
# evaluations after every epoch, training_history(), and fits of format
# version 1, which predate holdout sets.

history_models <- function() {
  normal_nested_models(groups = 10, obs = 10)
}

# 7 iterations per epoch: the adaptive chunks (2, 2, 2, ...) do not end on
# epoch boundaries by themselves, so the boundary handling is exercised.
history_train <- function(holdout = 60, threads = 2, seed = 21, epochs = 3) {
  train_comparison(
    history_models(), api_network(), epochs = epochs, iterations = 7,
    batch_size = 8, learning_rate = 1e-2, holdout = holdout, threads = threads,
    seed = seed, progress = FALSE
  )
}

history_fit <- function() {
  if (is.null(api_cache$history_fit)) {
    api_cache$history_fit <- history_train()
  }
  api_cache$history_fit
}

# The holdout data sets, rebuilt through the exported API alone.
holdout_sims <- function(fit) {
  simulate_datasets(fit$models, n = fit$training$holdout,
                    seed = fit$training$holdout_seed)
}

# Mean log loss and accuracy of `fit` on simulated data sets, by hand.
loss_by_hand <- function(fit, sims) {
  log_pmp <- post_prob(fit, sims$data, log = TRUE)
  true <- sims$model
  list(
    loss = -mean(log_pmp[cbind(seq_along(true), true)]),
    accuracy = mean(max.col(log_pmp, ties.method = "first") == true)
  )
}

# The weights after `steps` steps of the fit's full schedule (the cosine
# learning rate depends on the total number of steps, so a shorter training
# run would not reach the same weights), straight from the C++ core.
weights_after <- function(fit, steps) {
  training <- fit$training
  deepbmc:::cpp_train(
    fit$config, deepbmc:::cpp_network_init(fit$config, training$seed),
    fresh_optimizer(length(fit$weights)), deepbmc:::models_spec(fit$models),
    steps = as.integer(steps),
    total_steps = training$epochs * training$iterations,
    batch_size = training$batch_size,
    learning_rate = training$learning_rate, seed = training$seed,
    threads = training$threads
  )$weights
}

# --- Holdout evaluations ------------------------------------------------------

test_that("the holdout set is evaluated once after every epoch's last step", {
  fit <- history_fit()
  holdout <- fit$holdout_history
  expect_s3_class(holdout, "data.frame")
  expect_named(holdout, c("step", "epoch", "loss", "accuracy", "phase"))
  expect_identical(holdout$step, c(7L, 14L, 21L))
  expect_identical(holdout$epoch, 1:3)
  expect_type(holdout$loss, "double")
  expect_type(holdout$accuracy, "double")
  expect_true(all(is.finite(holdout$loss) & holdout$loss > 0))
  # accuracy is a share of the 60 holdout data sets
  expect_equal(holdout$accuracy * 60, round(holdout$accuracy * 60))
  # the network changes between epochs, so do the evaluations
  expect_false(anyDuplicated(holdout$loss) > 0)

  expect_identical(fit$training$holdout, 60L)
  seed <- fit$training$holdout_seed
  expect_type(seed, "double")
  expect_true(seed >= 0 && seed <= 2^52 && seed == round(seed))
  expect_false(seed == fit$training$seed)
  # the per-step training history is unchanged by the holdout set
  expect_identical(fit$history$step, 1:21)
})

test_that("holdout = 0 evaluates nothing", {
  fit <- history_train(holdout = 0)
  expect_identical(fit$holdout_history, history_fit()$holdout_history[0, ])
  expect_identical(fit$training$holdout, 0L)
  expect_identical(fit$training$holdout_seed, NA_real_)
  history <- training_history(fit)
  expect_identical(nrow(history), 21L)
  expect_true(all(history$set == "training"))
  expect_identical(levels(history$set), c("training", "holdout"))
  expect_false(any(grepl("Holdout", capture.output(print(fit)))))
  expect_false(any(grepl("Holdout", capture.output(print(summary(fit))))))
  expect_null(summary(fit)$holdout)
})

test_that("holdout evaluations equal a computation from the exported API", {
  fit <- history_fit()
  sims <- holdout_sims(fit)
  expect_identical(length(sims$data), 60L)
  # post_prob() passes the data through single precision as training does,
  # so the two paths see the same inputs; 1e-8 is far below the changes
  # between epochs
  final <- loss_by_hand(fit, sims)
  last <- fit$holdout_history[3, ]
  expect_equal(last$loss, final$loss, tolerance = 1e-8)
  expect_equal(last$accuracy, final$accuracy, tolerance = 1e-12)
  # earlier epochs saw the weights after their own last step
  for (epoch in 1:2) {
    earlier <- fit
    earlier$weights <- weights_after(fit, 7 * epoch)
    earlier <- with_checksum(earlier)
    expected <- loss_by_hand(earlier, sims)
    row <- fit$holdout_history[epoch, ]
    expect_equal(row$loss, expected$loss, tolerance = 1e-8,
                 label = paste("loss after epoch", epoch))
    expect_equal(row$accuracy, expected$accuracy, tolerance = 1e-12,
                 label = paste("accuracy after epoch", epoch))
  }
  # the reference weights are those of the fit at its last step
  expect_identical(weights_after(fit, 21), fit$weights)
})

test_that("the holdout set changes neither training nor results by threads", {
  fit <- history_fit()
  without <- history_train(holdout = 0)
  expect_identical(fit$weights, without$weights)
  expect_identical(fit$optimizer, without$optimizer)
  expect_identical(fit$history, without$history)

  one <- history_train(threads = 1)
  expect_identical(one$holdout_history, fit$holdout_history)
  expect_identical(one$weights, fit$weights)
  expect_identical(one$training$holdout_seed, fit$training$holdout_seed)
})

test_that("the holdout set is new data, reproducible from the seed", {
  fit <- history_fit()
  seed <- fit$training$seed
  sims <- holdout_sims(fit)
  # validate(fit, seed = seed) evaluates these data sets; none is held out
  same_seed <- simulate_datasets(fit$models, n = 60, seed = seed)
  shared <- vapply(sims$data, function(d) {
    any(vapply(same_seed$data, identical, logical(1), d))
  }, logical(1))
  expect_false(any(shared))
  validation <- validate(fit, n = 60, seed = seed)
  expect_false(isTRUE(all.equal(validation$metrics$log_score,
                                fit$holdout_history$loss[[3]])))
  # another training seed gives another holdout set
  other <- history_train(seed = 22, epochs = 1)
  expect_false(other$training$holdout_seed == fit$training$holdout_seed)
  # the holdout seed follows from the training seed alone
  bigger <- history_train(holdout = 80, epochs = 1)
  expect_identical(bigger$training$holdout_seed, fit$training$holdout_seed)
  # boundary seeds get a holdout seed in range that differs from them
  for (edge in c(0, 2^51, 2^52)) {
    edge_fit <- train_comparison(
      history_models(), api_network(), epochs = 1, iterations = 1,
      batch_size = 2, holdout = 2, seed = edge, progress = FALSE
    )
    held <- edge_fit$training$holdout_seed
    expect_true(held >= 0 && held <= 2^52 && held != edge,
                label = format(edge, scientific = FALSE))
  }
})

# --- Interrupts ---------------------------------------------------------------

# train_comparison() whose internal function `fn` signals an interrupt (the
# condition R signals on Ctrl-C) on every call after the first `after` calls.
# Copies of train_comparison() and run_training() get an enclosing
# environment holding the wrapper, so the package namespace is left alone.
interrupting <- function(fn, after) {
  ns <- asNamespace("deepbmc")
  mock <- new.env(parent = ns)
  mock$calls <- 0L
  runner <- ns[[fn]]
  mock[[fn]] <- function(...) {
    mock$calls <- mock$calls + 1L
    if (mock$calls > after) {
      signalCondition(structure(list(message = "", call = NULL),
                                class = c("interrupt", "condition")))
    }
    runner(...)
  }
  stopifnot(fn %in% all.names(body(ns$run_training)))
  mock$run_training <- ns$run_training
  environment(mock$run_training) <- mock
  train <- ns$train_comparison
  environment(train) <- mock
  train
}

expect_consistent_partial_fit <- function(fit) {
  done <- fit$training$steps_done
  expect_identical(fit$optimizer$step, done)
  expect_identical(fit$history$step, seq_len(done))
  evaluated <- done %/% 7L
  expect_identical(fit$holdout_history$step, 7L * seq_len(evaluated))
  expect_identical(fit$holdout_history$epoch, seq_len(evaluated))
  if (done > 0) {
    expect_identical(fit$weights, weights_after(fit, done))
  }
}

test_that("an interrupt during a holdout evaluation loses only that chunk", {
  train <- interrupting("evaluate_holdout", after = 1)
  expect_warning(
    fit <- train(history_models(), api_network(), epochs = 3, iterations = 7,
                 batch_size = 8, learning_rate = 1e-2, holdout = 60,
                 seed = 21, progress = FALSE),
    class = "deepbmc_interrupted_warning"
  )
  # the first epoch was evaluated; the chunk ending the second was lost
  done <- fit$training$steps_done
  expect_gte(done, 7)
  expect_lt(done, 14)
  expect_consistent_partial_fit(fit)
  expect_identical(fit$holdout_history, history_fit()$holdout_history[1, ])
  expect_output(print(fit), "after epoch 1", fixed = TRUE)
})

test_that("an interrupt during training keeps the holdout history in step", {
  # Training takes at least 4 chunks (2 steps, then at most 8 but never past
  # an epoch's end), so each of these interrupts
  for (after in 0:3) {
    train <- interrupting("cpp_trainer_run", after = after)
    expect_warning(
      fit <- train(history_models(), api_network(), epochs = 3,
                   iterations = 7, batch_size = 8, learning_rate = 1e-2,
                   holdout = 60, seed = 21, progress = FALSE),
      class = "deepbmc_interrupted_warning"
    )
    expect_consistent_partial_fit(fit)
    expect_identical(
      fit$holdout_history,
      history_fit()$holdout_history[seq_len(nrow(fit$holdout_history)), ]
    )
  }
})

# --- Printing -----------------------------------------------------------------

test_that("print() and summary() show the last holdout evaluation", {
  fit <- history_fit()
  last <- fit$holdout_history[3, ]
  line <- paste0(
    "Holdout (60 data sets): loss ",
    formatC(last$loss, digits = 4, format = "f"), ", accuracy ",
    formatC(last$accuracy, digits = 3, format = "f"), " after epoch 3"
  )
  out <- capture.output(print(fit))
  expect_identical(out[[5]], line)
  # 60 data sets are too few for the training check (R/verdict.R)
  expect_match(out[[6]], "^Training check: not made")
  # three epochs of 20 steps vouch for no evidence (R/trust.R)
  expect_match(out[[7]], "^Checked range: too narrow")
  expect_length(out, 7)

  s <- summary(fit)
  expect_identical(s$holdout, list(n = 60L, loss = last$loss,
                                   accuracy = last$accuracy, epoch = 3L))
  out <- capture.output(print(s))
  expect_identical(out[[grep("^Last epoch", out) + 1]], line)
  expect_match(out[[length(out)]], "^Time: ")

  single <- history_train(holdout = 1, epochs = 1)
  expect_match(
    capture.output(print(single))[[5]],
    paste0("^Holdout \\(1 data set\\): loss [0-9.]+, ",
           "accuracy [01]\\.000 after epoch 1$")
  )
})

# --- Version 1 fits -----------------------------------------------------------

# A fit as deepbmc saved it before holdout sets existed.
version1_fit <- function(fit) {
  fit <- unclass(fit)
  fit$holdout_history <- NULL
  fit$training$holdout <- NULL
  fit$training$holdout_seed <- NULL
  fit$verdict <- NULL
  # checked ranges came with format version 4
  fit$checked_range <- NULL
  fit$format_version <- 1L
  # its checksum as for version 1 (a fit claiming version 1 with the checksum
  # of a later version does not match it)
  fit$checksum <- deepbmc:::fit_checksum(fit)
  structure(fit, class = "deepbmc_fit")
}

test_that("fits of format version 1 still print, predict and give history", {
  fit <- history_fit()
  old <- version1_fit(fit)
  expect_false("holdout_history" %in% names(old))
  out <- capture.output(print(old))
  expect_identical(out, capture.output(print(fit))[1:4])
  expect_null(summary(old)$holdout)
  expect_false(any(grepl("Holdout", capture.output(print(summary(old))))))

  sets <- simulate_datasets(history_models(), n = 3, seed = 4)$data
  expect_identical(post_prob(old, sets), post_prob(fit, sets))
  # the same values; a version 1 fit has no checked range to flag them by
  old_bf <- bayes_factor(old, sets)
  expect_identical(as.vector(old_bf), as.vector(bayes_factor(fit, sets)))
  expect_true(all(is.na(attr(old_bf, "beyond_checked"))))
  expect_identical(validate(old, n = 20, seed = 3),
                   validate(fit, n = 20, seed = 3))

  history <- training_history(old)
  expect_identical(history, training_history(fit)[1:21, ])
  expect_true(all(history$set == "training"))
})

test_that("a version 2 fit needs a holdout history that is a data frame", {
  fit <- history_fit()
  x <- api_groups(1)
  no_holdout <- fit
  no_holdout$holdout_history <- NULL
  err <- expect_deepbmc_error(post_prob(no_holdout, x), "fit", "x")
  expect_match(conditionMessage(err), "holdout_history", fixed = TRUE)
  expect_deepbmc_error(training_history(no_holdout), "fit", "fit")
  expect_deepbmc_error(print(no_holdout), "fit", "x")

  damaged <- fit
  damaged$holdout_history <- as.list(fit$holdout_history)
  expect_deepbmc_error(training_history(damaged), "fit", "fit")
  damaged$holdout_history <- fit$holdout_history[c("step", "loss")]
  expect_deepbmc_error(summary(damaged), "fit", "object")
  damaged <- fit
  damaged$history <- "history"
  expect_deepbmc_error(training_history(damaged), "fit", "fit")
})

# --- training_history() -------------------------------------------------------

test_that("training_history() stacks the training and holdout rows", {
  fit <- history_fit()
  history <- training_history(fit)
  expect_s3_class(history, "data.frame")
  expect_named(history, c("step", "epoch", "phase", "set", "loss", "accuracy"))
  expect_type(history$step, "integer")
  expect_type(history$epoch, "integer")
  expect_s3_class(history$set, "factor")
  expect_identical(levels(history$set), c("training", "holdout"))
  expect_type(history$loss, "double")
  expect_type(history$accuracy, "double")
  expect_identical(nrow(history), 21L + 3L)
  expect_identical(rownames(history), as.character(1:24))
  expect_identical(as.character(history$set),
                   rep(c("training", "holdout"), c(21, 3)))

  training <- history[history$set == "training", ]
  expect_identical(training$step, 1:21)
  expect_identical(training$epoch, rep(1:3, each = 7))
  expect_identical(training$loss, fit$history$loss)
  expect_identical(training$accuracy, fit$history$accuracy)
  holdout <- history[history$set == "holdout", ]
  expect_identical(holdout$step, c(7L, 14L, 21L))
  expect_identical(holdout$epoch, 1:3)
  expect_identical(holdout$loss, fit$holdout_history$loss)
  expect_identical(holdout$accuracy, fit$holdout_history$accuracy)

  # each part is ordered by step, whatever the order in the fit
  shuffled <- fit
  shuffled$holdout_history <- fit$holdout_history[3:1, ]
  shuffled$history <- fit$history[21:1, ]
  expect_identical(training_history(shuffled), history)

  # diverged weights do not hide the history that shows the divergence
  diverged <- fit
  diverged$weights[1] <- NaN
  expect_identical(training_history(diverged), history)
})

test_that("training_history() checks its input", {
  expect_deepbmc_error(training_history("fit"), "fit", "fit")
  expect_deepbmc_error(training_history(list(history = 1)), "fit", "fit")
  newer <- history_fit()
  newer$format_version <- 7L
  expect_deepbmc_error(training_history(newer), "version", "fit")
  # a fit interrupted before its first step has an empty history
  empty <- history_fit()
  empty$history <- empty$history[0, ]
  empty$holdout_history <- empty$holdout_history[0, ]
  history <- training_history(empty)
  expect_identical(nrow(history), 0L)
  expect_named(history, c("step", "epoch", "phase", "set", "loss", "accuracy"))
  expect_identical(levels(history$set), c("training", "holdout"))
})

# --- Checks -------------------------------------------------------------------

test_that("bad holdout values are classed errors naming holdout", {
  train <- function(holdout) {
    train_comparison(history_models(), api_network(), epochs = 1,
                     iterations = 1, batch_size = 2, holdout = holdout,
                     seed = 1, progress = FALSE)
  }
  for (value in list(-1, 2.5, NA_real_, Inf, -Inf, NaN, 1e5 + 1)) {
    expect_deepbmc_error(train(value), "value", "holdout",
                         label = deparse(value))
  }
  for (value in list(NA, "10", c(10, 20), TRUE, factor(10))) {
    expect_deepbmc_error(train(value), "type", "holdout",
                         label = deparse(value))
  }
  # NULL is the default: 5% of an epoch's 2 data sets, so none
  expect_identical(train(NULL)$training$holdout, 0L)
  # holdout data sets are simulated at once, so the observation cap applies
  expect_deepbmc_error(
    train_comparison(normal_nested_models(1000, 1000), api_network(),
                     batch_size = 2, holdout = 51, seed = 1),
    "value", "holdout"
  )
  # whole numbers given as doubles are accepted and stored as integers
  expect_identical(train(2)$training$holdout, 2L)
  expect_identical(train(0L)$training$holdout, 0L)
})
