test_tier("fast")
# Whether training looks done (R/training-check.R): the default holdout set,
# the checks of its history and final PMPs, the warning; and the status lines
# of non-interactive sessions (R/training-status.R).

# A fit-like list with a holdout history of `loss` (one row per epoch) and a
# holdout set of `n` data sets, for training_problems().
history_stub <- function(loss, n = 500, n_models = 2) {
  epochs <- seq_along(loss)
  list(
    models = list(n_models = n_models),
    training = list(holdout = n, holdout_seed = 7),
    holdout_history = data.frame(step = 100L * epochs, epoch = epochs,
                                 loss = loss, accuracy = 0.5, phase = 1L)
  )
}

problems_of <- function(loss, ...) {
  deepbmc:::training_problems(history_stub(loss, ...), pmp = NULL,
                              true = NULL)
}

test_that("the default holdout set is 5% of an epoch online, none offline", {
  default <- function(iterations, batch_size = 32, models = api_models(),
                      simulations = NULL) {
    deepbmc:::default_holdout(models, simulations, iterations, batch_size)
  }
  expect_identical(default(100), 160L)
  expect_identical(default(1000), 500L)
  # under 100 data sets: too few to judge by
  expect_identical(default(20), 0L)
  expect_identical(default(62), 0L)
  expect_identical(default(63), 100L)
  # a multiple of the number of models
  three <- normal_nested_models(groups = 5, obs = 5)
  three$n_models <- 3L
  expect_identical(default(100, models = three), 159L)
  expect_identical(default(1000, simulations = list()), 0L)
  # what train_comparison() records
  fit <- train_comparison(api_models(), api_network(), epochs = 1,
                          iterations = 100, seed = 1, progress = FALSE)
  expect_identical(fit$training$holdout, 160L)
  expect_identical(nrow(fit$holdout_history), 1L)
  quick <- train_comparison(api_models(), api_network(), epochs = 1,
                            iterations = 10, seed = 1, progress = FALSE)
  expect_identical(quick$training$holdout, 0L)
  # the holdout set does not change the training
  none <- train_comparison(api_models(), api_network(), epochs = 1,
                           iterations = 100, seed = 1, holdout = 0,
                           progress = FALSE)
  expect_identical(none$weights, fit$weights)
})

test_that("a holdout loss at chance, or at chance for long, is a problem", {
  chance <- log(2)
  expect_named(problems_of(rep(chance, 5)), "chance")
  expect_match(problems_of(rep(chance, 5)), "no better than chance after 5")
  # worse than chance counts too
  expect_named(problems_of(c(0.9, 0.8, 0.75)), "chance")
  stretch <- problems_of(c(rep(chance, 5), 0.5, 0.45, 0.44, 0.44, 0.44))
  expect_named(stretch, "chance")
  expect_match(stretch, "for 5 of 10 epochs")
  # one epoch at chance at the start is normal
  expect_length(problems_of(c(chance, 0.5, 0.45, 0.44, 0.44, 0.44)), 0)
})

test_that("a holdout loss still falling at the end is a problem", {
  falling <- problems_of(c(0.6, 0.5, 0.45, 0.40, 0.36, 0.33, 0.30, 0.27))
  expect_named(falling, "falling")
  expect_match(falling, "0.3300 after epoch 6, 0.2700 after epoch 8",
               fixed = TRUE)
  # a small drop late under the cosine schedule is not
  expect_length(problems_of(c(0.6, 0.4, 0.32, 0.30, 0.299, 0.298)), 0)
  # nor is a noisy but flat loss
  expect_length(problems_of(c(0.5, 0.3, 0.2, 0.21, 0.2, 0.205, 0.198)), 0)
})

test_that("short histories and small holdout sets are not judged", {
  expect_length(problems_of(rep(log(2), 2)), 0)
  expect_length(problems_of(rep(log(2), 5), n = 99), 0)
  expect_length(problems_of(c(0.6, NaN, 0.5, 0.4)), 0)
  # a later phase is judged on its own history
  stub <- history_stub(c(rep(log(2), 4), 0.3, 0.29, 0.29))
  stub$holdout_history$phase <- c(rep(1L, 4), rep(2L, 3))
  expect_length(deepbmc:::training_problems(stub, NULL, NULL), 0)
})

test_that("PMPs far from calibrated on the holdout set are a problem", {
  withr::local_seed(3)
  n <- 600
  p <- stats::runif(n)
  pmp <- cbind(a = p, b = 1 - p)
  calibrated <- ifelse(stats::runif(n) < p, 1L, 2L)
  flat <- c(0.6, 0.4, 0.35, 0.34, 0.34)
  stub <- history_stub(flat, n = n)
  expect_length(deepbmc:::training_problems(stub, pmp, calibrated), 0)
  # overconfident: the true model is drawn from a flatter PMP
  overconfident <- ifelse(stats::runif(n) < 0.5 + (p - 0.5) / 3, 1L, 2L)
  problems <- deepbmc:::training_problems(stub, pmp, overconfident)
  expect_named(problems, "calibration")
  expect_match(problems, "ECE 0.[0-9]+ for a, 0.[0-9]+ for b")
  expect_match(problems, "on the 600 holdout data sets", fixed = TRUE)
  # the check leaves R's random number stream alone
  withr::local_seed(4)
  before <- stats::runif(1)
  withr::local_seed(4)
  deepbmc:::training_problems(stub, pmp, overconfident)
  expect_identical(stats::runif(1), before)
})

test_that("training that is not done warns with a classed warning", {
  train <- function(...) {
    train_comparison(normal_nested_models(groups = 10, obs = 10),
                     api_network(), epochs = 3, iterations = 100, seed = 2,
                     progress = FALSE, ...)
  }
  expect_warning(
    stuck <- train(learning_rate = 1e-7),
    class = "deepbmc_training_warning"
  )
  w <- tryCatch(train(learning_rate = 1e-7),
                deepbmc_training_warning = function(w) w)
  expect_match(conditionMessage(w), "no better than chance after 3 epochs")
  expect_match(conditionMessage(w), "learning_rate")
  expect_match(conditionMessage(w), "init = fit", fixed = TRUE)
  # the fit is returned whole
  expect_identical(stuck$training$steps_done, 300L)
  expect_identical(nrow(stuck$holdout_history), 3L)
  # no holdout set, no judgement
  expect_no_warning(train(learning_rate = 1e-7, holdout = 0))
})

test_that("a training that learned gives no warning", {
  skip_on_cran()
  expect_no_warning(
    fit <- train_comparison(normal_nested_models(groups = 10, obs = 10),
                            epochs = 4, iterations = 250,
                            learning_rate = 1e-3, seed = 1, threads = 2,
                            progress = FALSE)
  )
  expect_lt(utils::tail(fit$holdout_history$loss, 1), 0.55)
  # the verdict the fit keeps (R/verdict.R)
  expect_identical(fit$verdict, list(checked = TRUE, problems = character(0)))
  expect_output(print(fit), "Training check: passed on the holdout set", fixed = TRUE)
  expect_no_warning(post_prob(fit, simulate_datasets(fit$models, n = 2, seed = 3)))
})

test_that("non-interactive sessions get status lines, not a bar", {
  status <- deepbmc:::new_status_lines(total_steps = 20, iterations = 10,
                                       first_step = 0, first_after = 0,
                                       every = 0)
  state <- list(holdout_history = list())
  # within an epoch: nothing
  expect_silent(
    status <- deepbmc:::show_status_line(status, state, 0, 6, rep(0.6, 6),
                                         rate = 1234)
  )
  state$holdout_history <- list(data.frame(step = 10L, epoch = 1L,
                                           loss = 0.55, accuracy = 0.7))
  expect_message(
    status <- deepbmc:::show_status_line(status, state, 6, 10, rep(0.5, 4),
                                         rate = 1234),
    paste0("Epoch 1/2 \\| loss 0\\.5600 \\| holdout loss 0\\.5500, ",
           "accuracy 0\\.700 \\| 1,234 data sets/s \\| 0:0[0-9] elapsed")
  )
  # the second epoch has no holdout row of its own
  expect_message(
    deepbmc:::show_status_line(status, state, 10, 20, rep(0.4, 10),
                               rate = 1000),
    "^Epoch 2/2 \\| loss 0\\.4000 \\| 1,000 data sets/s"
  )
  # lines start only 5 seconds into training: a short run stays quiet
  rlang::local_interactive(FALSE)
  expect_silent(
    train_comparison(api_models(), api_network(), epochs = 2,
                     iterations = 10, batch_size = 8, seed = 3)
  )
  expect_identical(deepbmc:::format_clock(3725), "1:02:05")
  expect_identical(deepbmc:::format_clock(65), "1:05")
})

test_that("patience stops training once the holdout loss stops falling", {
  state_of <- function(loss) {
    list(fit = history_stub(loss), holdout_history = list())
  }
  stalled <- function(loss, patience) {
    deepbmc:::holdout_stalled(state_of(loss), patience)
  }
  # means of the last `patience` epochs against the `patience` before
  loss <- c(1, 0.9, 0.8, 0.82, 0.85, 0.83)
  expect_true(stalled(loss, 2))   # 0.84 >= 0.81
  expect_false(stalled(loss, 3))  # 0.833 < 0.9
  # a lucky epoch in a falling loss does not stop it
  expect_false(stalled(c(1, 0.8, 0.9, 0.85, 0.82, 0.78), 2))
  expect_false(stalled(c(1, 0.9, 0.8), 2))
  expect_false(stalled(loss, NA_integer_))
  # only the phase being trained counts
  two_phases <- history_stub(c(0.5, 0.9, 0.8, 0.85))
  two_phases$holdout_history$phase <- c(1L, 2L, 2L, 2L)
  expect_true(deepbmc:::holdout_stalled(
    list(fit = two_phases, holdout_history = list()), 1
  ))  # 0.85 >= 0.8, phase 1's 0.5 left out
  two_phases$holdout_history$loss[[4]] <- 0.7
  expect_false(deepbmc:::holdout_stalled(
    list(fit = two_phases, holdout_history = list()), 1
  ))

  models <- normal_nested_models(groups = 10, obs = 10)
  expect_message(
    fit <- train_comparison(models, api_network(), epochs = 40,
                            iterations = 25, learning_rate = 3e-3,
                            holdout = 200, patience = 2, seed = 3,
                            progress = FALSE),
    class = "deepbmc_converged_message"
  )
  expect_identical(fit$training$stopped, "converged")
  losses <- fit$holdout_history$loss
  n <- length(losses)
  expect_lt(n, 40)
  expect_identical(fit$training$steps_done, 25L * n)
  # it stopped at the first epoch where the rule held, and not earlier
  stall <- function(k) {
    k >= 4 && mean(losses[(k - 1):k]) >= mean(losses[(k - 3):(k - 2)])
  }
  expect_true(stall(n))
  expect_false(any(vapply(seq_len(n - 1), stall, logical(1))))
  expect_output(print(fit), "holdout loss stopped falling")
  # a converged fit is not resumed; a new phase continues it
  expect_deepbmc_error(resume_training(fit), "value")
  expect_deepbmc_error(
    train_comparison(models, api_network(), patience = 2, holdout = 0),
    "mismatch", "patience"
  )
  expect_deepbmc_error(
    train_comparison(models, api_network(), patience = 0), "value", "patience"
  )
})
