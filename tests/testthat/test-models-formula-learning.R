test_tier("full")
# The Study 1 pair written as formulas trains to the built-in models' accuracy
# (full tier; split from test-models-formula.R).

test_that("the Study 1 pair as formulas trains to the built-in accuracy", {
  set <- study1_formula_set()
  fit <- train_comparison(
    set, study1_network(), epochs = 3, iterations = 100, batch_size = 32,
    learning_rate = 1e-3, threads = 2, seed = 1, progress = FALSE
  )
  # Both networks classify the same held-out data sets, so that the
  # comparison is not swamped by which data sets were drawn (accuracy on
  # different draws of 2,000 varies by about 0.01). Over training seeds 1 to
  # 5 the two accuracies differed by 0 to 0.005.
  sims <- simulate_datasets(normal_nested_models(50, 50), n = 3000, seed = 2024)
  frames <- lapply(sims$data, function(x) {
    data.frame(g = rep(1:50, each = 50), y = as.vector(t(x)))
  })
  formula_accuracy <- validate(fit, data = frames, true_model = sims$model,
                               boot = 0)$metrics$accuracy
  builtin_accuracy <- validate(study1_fit(), data = sims,
                               boot = 0)$metrics$accuracy
  expect_gt(formula_accuracy, 0.85)
  expect_lt(abs(formula_accuracy - builtin_accuracy), 0.02)
  # and on its own simulations
  expect_gt(validate(fit, n = 2000, seed = 7, boot = 0)$metrics$accuracy, 0.83)
})
