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
