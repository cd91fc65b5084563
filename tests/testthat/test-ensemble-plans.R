test_tier("full")
# Ensemble members trained on future workers (R/ensemble.R): the plan
# decides where members train, never what they learn. Full tier: starting
# two R sessions takes seconds.

test_that("a multisession plan trains the same ensemble as training here", {
  skip_if_not_installed("future.apply")
  models <- normal_nested_models(groups = 10, obs = 10)
  train <- function() {
    train_comparison(models, api_network(), epochs = 1, iterations = 30,
                     seed = 21, members = 2, threads = 1, progress = FALSE)
  }
  here <- train()
  old_plan <- future::plan(future::multisession, workers = 2)
  on.exit(future::plan(old_plan), add = TRUE)
  expect_gt(future::nbrOfWorkers(), 1)
  away <- train()
  expect_identical(away$checksum, here$checksum)
  expect_identical(away$members[[2]]$weights, here$members[[2]]$weights)
})
