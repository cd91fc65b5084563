test_tier("full")
# The evidence-accumulation networks learn: a short training tells the four
# models apart (full tier; split from test-models-evidence-accumulation.R).

test_that("a short training tells the four models apart clearly above chance", {
  models <- evidence_accumulation_models(participants = 8, trials = 60)
  fit <- train_comparison(
    models,
    network = hierarchical_network(summary_dim = c(16, 16)),
    epochs = 4, iterations = 150, batch_size = 16, seed = 1,
    threads = 2, progress = FALSE
  )
  check <- validate(fit, n = 800, seed = 2, threads = 2, boot = 0)
  # chance: accuracy 1/4 (standard error 0.015 here), log score log(4)
  expect_gt(check$metrics$accuracy, 0.29)
  expect_lt(check$metrics$log_score, log(4) - 0.03)
  # with 60 trials per participant the clearest signal is inter-trial
  # variability: basic against full models, chance 1/2 (standard error 0.018)
  full <- check$model >= 3
  expect_gt(mean(full == (rowSums(check$pmp[, 3:4]) > 0.5)), 0.6)
  # PMPs of a simulated data set in the user's form
  data <- simulate_datasets(models, n = 1, seed = 5)$data[[1]]
  pmp <- post_prob(fit, data)
  expect_equal(sum(pmp), 1, tolerance = 1e-12)
  expect_named(pmp, c("basic_diffusion", "basic_levy", "full_diffusion",
                      "full_levy"))
})
