test_tier("fast")
# simulate_datasets() (R/simulate.R): structure, sizes, reproducibility, the
# models drawn, printing and checks.

test_that("simulate_datasets() returns the documented structure", {
  models <- normal_nested_models(groups = 6, obs = 4)
  sims <- simulate_datasets(models, n = 7, seed = 12)
  expect_s3_class(sims, "deepbmc_simulations", exact = TRUE)
  expect_named(sims, c("batch", "model", "model_names", "feature_names",
                       "seed", "models", "checksum"))
  expect_identical(sims$models, models)
  expect_identical(sims$feature_names, "values")
  # the data sets are packed in one batch: 7 x 6 groups of 4 observations
  batch <- sims$batch
  expect_identical(simulations_batch(sims), batch)
  expect_named(batch, c("values", "n_features", "group_offsets",
                        "dataset_offsets", "mask"))
  expect_identical(batch$n_features, 1L)
  expect_identical(batch$dataset_offsets, 6L * 0:7)
  expect_identical(batch$group_offsets, 4L * 0:42)
  expect_identical(batch$mask, rep(TRUE, 168))
  expect_identical(batch$values, unlist(lapply(sims$data, function(d) t(d)),
                                        use.names = FALSE))
  expect_length(sims, 7)
  expect_length(sims$data, 7)
  expect_identical(sims[["data"]], sims$data)
  for (d in sims$data) {
    expect_true(is.matrix(d) && is.double(d))
    expect_identical(dim(d), c(6L, 4L))
    expect_true(all(is.finite(d)))
  }
  expect_type(sims$model, "integer")
  expect_length(sims$model, 7)
  expect_true(all(sims$model %in% 1:2))
  expect_identical(sims$model_names, c("M0", "M1"))
  expect_identical(sims$seed, 12)
})

test_that("sizes vary within their ranges; groups of a data set share N", {
  models <- normal_nested_models(groups = c(2, 5), obs = c(1, 4))
  sims <- simulate_datasets(models, n = 300, seed = 3)
  # for normal_nested_models() every data set is a matrix (shared N)
  expect_true(all(vapply(sims$data, is.matrix, logical(1))))
  groups <- vapply(sims$data, nrow, integer(1))
  obs <- vapply(sims$data, ncol, integer(1))
  # uniform on min:max: every size occurs (P(a size is missing) < 1e-20)
  expect_setequal(unique(groups), 2:5)
  expect_setequal(unique(obs), 1:4)
})

test_that("the same seed gives the same data, whatever the threads", {
  models <- normal_nested_models(groups = c(3, 8), obs = c(2, 9))
  a <- simulate_datasets(models, n = 40, seed = 99, threads = 1)
  expect_identical(simulate_datasets(models, n = 40, seed = 99, threads = 2), a)
  b <- simulate_datasets(models, n = 40, seed = 100)
  expect_false(identical(a$data, b$data))
  # seed = NULL draws the seed from R's generator, so set.seed() works
  withr::local_preserve_seed()
  set.seed(5)
  c1 <- simulate_datasets(models, n = 10)
  set.seed(5)
  c2 <- simulate_datasets(models, n = 10)
  expect_identical(c1, c2)
  expect_true(c1$seed >= 0 && c1$seed == round(c1$seed))
  expect_identical(simulate_datasets(models, n = 10, seed = c1$seed), c1)
  set.seed(6)
  expect_false(identical(simulate_datasets(models, n = 10)$data, c1$data))
  # large seeds up to 2^52 are exact
  expect_identical(simulate_datasets(models, n = 2, seed = 2^52)$seed, 2^52)
})

test_that("models are drawn uniformly and the grand mean separates them", {
  models <- normal_nested_models(groups = 10, obs = 10)
  sims <- simulate_datasets(models, n = 2000, seed = 8)
  # P(|count - 1000| > 100) under Binomial(2000, 0.5) is below 1e-5
  expect_lt(abs(sum(sims$model == 1) - 1000), 100)
  grand_mean <- vapply(sims$data, mean, numeric(1))
  m0 <- grand_mean[sims$model == 1]
  m1 <- grand_mean[sims$model == 2]
  # M0: mu = 0, so the grand means centre on 0; M1 adds mu ~ N(0, 1), so
  # their variance is larger by about 1
  expect_lt(abs(mean(m0)), 4 * sd(m0) / sqrt(length(m0)))
  expect_gt(var(m1) - var(m0), 0.7)
  expect_lt(var(m1) - var(m0), 1.3)
})

test_that("printing summarises the simulations", {
  models <- normal_nested_models(groups = c(3, 5), obs = c(2, 4))
  sims <- simulate_datasets(models, n = 30, seed = 1)
  counts <- tabulate(sims$model, 2)
  out <- capture.output(res <- print(sims))
  expect_identical(res, sims)
  expect_match(out[[1]], sprintf(
    "30 simulated data sets (M0: %d, M1: %d), seed 1", counts[[1]], counts[[2]]
  ), fixed = TRUE)
  groups <- range(vapply(sims$data, nrow, integer(1)))
  obs <- range(vapply(sims$data, ncol, integer(1)))
  expect_match(out[[2]], sprintf("Sizes: %d-%d groups x %d-%d observations",
                                 groups[[1]], groups[[2]], obs[[1]], obs[[2]]),
               fixed = TRUE)
  one <- simulate_datasets(normal_nested_models(4, 3), n = 1, seed = 2^40)
  expect_output(print(one), "1 simulated data set (", fixed = TRUE)
  expect_output(print(one), "seed 1099511627776", fixed = TRUE)
  expect_output(print(one), "Sizes: 4 groups x 3 observations", fixed = TRUE)
})

test_that("bad arguments are classed errors naming the argument", {
  models <- normal_nested_models(groups = 5, obs = 5)
  expect_deepbmc_error(simulate_datasets("models", n = 5), "type", "models")
  expect_deepbmc_error(simulate_datasets(list(groups = 5), n = 5), "type",
                       "models")
  expect_deepbmc_error(simulate_datasets(hierarchical_network(), n = 5),
                       "type", "models")
  for (n in list(0, -1, 1.5, NA_real_, Inf, 1e7 + 1)) {
    expect_deepbmc_error(simulate_datasets(models, n = n), "value", "n",
                         label = deparse(n))
  }
  for (n in list(NA, "5", c(1, 2), NULL, numeric(0))) {
    expect_deepbmc_error(simulate_datasets(models, n = n), "type", "n",
                         label = deparse(n))
  }
  for (seed in list(-1, 0.5, 2^52 + 2, Inf, NA_real_)) {
    expect_deepbmc_error(simulate_datasets(models, n = 2, seed = seed), "value",
                         "seed", label = deparse(seed))
  }
  for (seed in list(NA, "1", c(1, 2), TRUE)) {
    expect_deepbmc_error(simulate_datasets(models, n = 2, seed = seed), "type",
                         "seed", label = deparse(seed))
  }
  for (threads in list(0, -2, 1.5, 1025, NA_real_)) {
    expect_deepbmc_error(simulate_datasets(models, n = 2, threads = threads),
                         "value", "threads", label = deparse(threads))
  }
  for (threads in list(NA, "2", c(1, 2))) {
    expect_deepbmc_error(simulate_datasets(models, n = 2, threads = threads),
                         "type", "threads", label = deparse(threads))
  }
  # too many observations in memory at once
  big <- normal_nested_models(groups = 1000, obs = 1000)
  err <- expect_deepbmc_error(simulate_datasets(big, n = 51), "value", "n")
  expect_match(conditionMessage(err), "51,000,000", fixed = TRUE)
})

test_that("packed batches unpack in one pass, for many groups and features", {
  # one data set of many single-observation groups is one matrix
  batch <- deepbmc:::cpp_simulate(
    deepbmc:::models_spec(normal_nested_models(groups = 2e5, obs = 1)), 1, 1,
    2L
  )
  data <- deepbmc:::unpack_batch(batch)
  expect_identical(dim(data[[1]]), c(200000L, 1L))
  expect_identical(as.vector(data[[1]]), batch$values)
  # ragged groups, a masked row and two features, written out by hand
  batch <- list(
    values = c(1, 10, 2, 20, 3, 30, 4, 40, 5, 50, 6, 60),
    n_features = 2L,
    group_offsets = c(0L, 1L, 3L, 4L, 6L),
    dataset_offsets = c(0L, 2L, 4L),
    mask = c(TRUE, TRUE, FALSE, TRUE, TRUE, TRUE)
  )
  expected <- list(
    list(matrix(c(1, 10), 1, byrow = TRUE),
         matrix(c(2, 20, NA, NA), 2, byrow = TRUE)),
    list(matrix(c(4, 40), 1, byrow = TRUE),
         matrix(c(5, 50, 6, 60), 2, byrow = TRUE))
  )
  expect_identical(deepbmc:::unpack_batch(batch), expected)
  one_feature <- list(values = c(1, 2, 3, 4, 5), n_features = 1L,
                      group_offsets = c(0L, 2L, 3L, 5L),
                      dataset_offsets = c(0L, 1L, 3L),
                      mask = rep(TRUE, 5))
  expect_identical(deepbmc:::unpack_batch(one_feature),
                   list(matrix(c(1, 2), 1), list(3, c(4, 5))))
})
