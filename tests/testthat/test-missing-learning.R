test_tier("full")
# A network trained with missing values learns: its PMPs agree with the exact
# PMPs of the observed values (full tier; split from test-missing.R).

test_that("with values missing at random, PMPs agree with exact PMPs of the observed values", {
  skip_on_cran()
  models <- normal_nested_models(groups = c(10, 20), obs = c(10, 20))
  net <- hierarchical_network(s1 = c(16, 32), s2 = c(16, 32), s3 = c(16, 32),
                              summary_dim = c(8, 8), head_units = 32)
  fit <- train_comparison(models, network = net, epochs = 6,
                          iterations = 500, seed = 11, threads = 2,
                          learning_rate = 1e-3,
                          missing = missing_values(share = c(0, 0.5)))
  sims <- simulate_datasets(models, n = 60, seed = 5)
  set.seed(6)
  data <- lapply(sims$data, function(x) {
    x[matrix(runif(length(x)) < 0.3, nrow(x))] <- NA
    x
  })
  # exact PMP(M1) by numerical integration over the observed values only
  exact <- vapply(data, function(x) {
    groups <- lapply(seq_len(nrow(x)), function(g) x[g, !is.na(x[g, ])])
    l <- c(deepbmc:::study1_log_ml_numeric(groups, "M0"),
           deepbmc:::study1_log_ml_numeric(groups, "M1"))
    1 / (1 + exp(l[[1]] - l[[2]]))
  }, numeric(1))
  diff <- abs(post_prob(fit, data)[, 2] - exact)
  # measured: mean 0.027, median 0.020, max 0.22 (a network trained without missing
  # values, same budget: mean 0.031, max 0.26)
  expect_lt(mean(diff), 0.05)
  expect_lt(stats::median(diff), 0.04)
})
