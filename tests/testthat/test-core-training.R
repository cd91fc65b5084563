test_tier("fast")
# A short online training run on Study 1 learns to tell the models apart.
# 300 steps of batch 32 from 10 different seeds all ended with a mean loss over
# the last 30 steps of 0.36-0.43 and a validation accuracy of 0.81-0.85
# (chance: log(2) = 0.693 and 0.5); the paper reports 0.886 for L = N = 50
# after 10,000 steps.

test_that("training on Study 1 reduces the loss and classifies held-out data", {
  config <- study1_config()
  models <- list(type = "normal_nested", groups = c(20L, 20L), obs = c(20L, 20L))
  w <- deepbmc:::cpp_network_init(config, 3)
  fit <- deepbmc:::cpp_train(
    config, w, fresh_optimizer(length(w)), models,
    steps = 300L, total_steps = 300, batch_size = 32L, learning_rate = 1e-3,
    seed = 3, threads = 2L
  )
  expect_true(all(is.finite(fit$loss)))
  expect_true(all(is.finite(fit$weights)))
  # a balanced batch starts near chance
  expect_lt(abs(mean(fit$loss[1:5]) - log(2)), 0.15)
  expect_lt(mean(tail(fit$loss, 30)), 0.55)
  expect_gt(mean(tail(fit$accuracy, 30)), 0.7)

  val <- deepbmc:::cpp_validate(config, fit$weights, models, 1000L, 99, 2L)
  expect_identical(dim(val$logits), c(1000L, 2L))
  expect_true(all(val$groups == 20L) && all(val$obs == 20))
  accuracy <- mean(max.col(val$logits, ties.method = "first") == val$model)
  expect_gt(accuracy, 0.75)
  # held-out cross-entropy well below chance
  log_pmp <- val$logits - apply(val$logits, 1, function(z) max(z) + log(sum(exp(z - max(z)))))
  expect_lt(-mean(log_pmp[cbind(seq_len(1000), val$model)]), 0.55)
})

test_that("a diverging run stops before the update that breaks it", {
  config <- core_config()
  models <- list(type = "normal_nested", groups = c(5L, 5L), obs = c(5L, 5L))
  w <- deepbmc:::cpp_network_init(config, 2)
  run <- function(steps, learning_rate, threads = 2L) {
    deepbmc:::cpp_train(config, w, fresh_optimizer(length(w)), models,
                        steps = steps, total_steps = 100, batch_size = 8L,
                        learning_rate = learning_rate, seed = 2,
                        threads = threads)
  }
  for (rate in c(1e4, 1e8, 10)) {
    diverged <- run(100L, rate)
    done <- length(diverged$loss)
    expect_true(diverged$diverged, label = format(rate))
    expect_lt(done, 100L)
    # the state returned is the one after `done` steps, finite throughout
    expect_true(all(is.finite(diverged$weights)))
    expect_true(all(is.finite(unlist(diverged$optimizer))))
    expect_identical(diverged$optimizer$step, as.double(done))
    expect_true(all(diverged$loss <= 1000))
    before <- run(done, rate)
    expect_false(before$diverged)
    expect_identical(diverged$weights, before$weights)
    expect_identical(diverged$optimizer, before$optimizer)
    expect_identical(run(100L, rate, threads = 1L), diverged)
  }
  expect_false(run(100L, 1e-3)$diverged)
})

test_that("training records the range of every input feature it saw", {
  config <- core_config()
  models <- list(type = "normal_nested", groups = c(2L, 4L), obs = c(1L, 3L))
  w <- deepbmc:::cpp_network_init(config, 1)
  session <- deepbmc:::cpp_trainer_new(config, models, 6L, 7, 2L)
  first <- deepbmc:::cpp_trainer_run(session, w, fresh_optimizer(length(w)),
                                     3L, 10, 1e-3)
  second <- deepbmc:::cpp_trainer_run(session, first$weights, first$optimizer,
                                      3L, 10, 1e-3)
  expect_length(first$input_range$lo, 1L)
  expect_lt(first$input_range$lo, first$input_range$hi)
  # running: later chunks can only widen it
  expect_lte(second$input_range$lo, first$input_range$lo)
  expect_gte(second$input_range$hi, first$input_range$hi)
  # and it does not depend on the thread count
  one <- deepbmc:::cpp_trainer_new(config, models, 6L, 7, 1L)
  again <- deepbmc:::cpp_trainer_run(one, w, fresh_optimizer(length(w)), 6L,
                                     10, 1e-3)
  expect_identical(again$input_range, second$input_range)
})
