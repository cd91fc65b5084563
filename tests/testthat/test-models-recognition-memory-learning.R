test_tier("full")
# Study 2's networks learn: a short training tells SDT from the 2HTM apart
# (full tier: about a minute of training; split from test-models-recognition-memory.R).

test_that("a short training tells SDT from MPT clearly above chance", {
  skip_on_cran()
  # A wide level 2 (128 units): the default network sits at chance for
  # thousands of steps on these data (the models differ mainly in how hit
  # and false-alarm rates vary together across participants); this one
  # leaves chance after about 1,000 steps. About 45 s on 2 threads.
  models <- sdt_mpt_models(participants = 25, trials = 50)
  network <- hierarchical_network(
    s1 = c(8, 128), s2 = c(32, 128), s3 = c(32, 128),
    summary_dim = c(10, 128), head_units = 128, head_layers = 3
  )
  fit <- train_comparison(models, network = network, epochs = 2,
                          iterations = 1000, learning_rate = 1e-3, seed = 1,
                          threads = 2, progress = FALSE)
  check <- validate(fit, n = 1000, seed = 2, threads = 2, boot = 0)
  # chance: accuracy 1/2 (standard error 0.016 at n = 1000), log score log(2)
  expect_gt(check$metrics$accuracy, 0.56)
  expect_lt(check$metrics$log_score, log(2) - 0.015)
  data <- simulate_datasets(models, n = 1, seed = 5)$data[[1]]
  pmp <- post_prob(fit, data)
  expect_equal(sum(pmp), 1, tolerance = 1e-12)
  expect_named(pmp, c("sdt", "mpt"))
})
