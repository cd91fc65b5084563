test_tier("fast")
# misspecification_test() (R/misspecification.R, issue 30): its level on data
# from the candidate models (a binomial bound), detection of data no
# candidate produces, determinism across threads, the session cache, and
# classed errors.

small_study1_fit <- function() {
  train_comparison(normal_nested_models(groups = 10, obs = 10), api_network(), epochs = 4,
                   iterations = 250, learning_rate = 1e-3, seed = 1, threads = 2,
                   progress = FALSE)
}

test_that("on data from the candidate models the test holds its level", {
  fit <- suppressWarnings(small_study1_fit())
  sims <- simulate_datasets(fit$models, n = 400, seed = 31)
  result <- misspecification_test(fit, sims, n = 2000, threads = 2)
  expect_named(result, c("data_set", "statistic", "p_value", "closest", "verdict",
                         "group_statistic", "p_data_set", "p_groups"))
  expect_identical(nrow(result), 400L)
  expect_true(all(result$p_value > 0 & result$p_value <= 1))
  expect_setequal(unique(result$verdict), c("ok", "misspecified"))
  # a share 0.05 flagged over the model set, up to sampling error (binomial,
  # 400 data sets: outside [8, 35] has probability below 0.002)
  flagged <- sum(result$verdict == "misspecified")
  expect_gte(flagged, stats::qbinom(0.001, 400, 0.05))
  expect_lte(flagged, stats::qbinom(0.999, 400, 0.05))
  expect_identical(result$verdict == "misspecified", result$p_value < 0.05)
  # and so from each model: calibrated against data sets of the closest one
  for (k in 1:2) {
    from_k <- sims$model == k
    flagged_k <- sum(result$verdict[from_k] == "misspecified")
    expect_gte(flagged_k, stats::qbinom(0.001, sum(from_k), 0.05))
    expect_lte(flagged_k, stats::qbinom(0.999, sum(from_k), 0.05))
  }
  # the closest model is mostly the true one where the network is sure
  strong <- abs(post_prob(fit, sims)[, 2] - 0.5) > 0.4
  expect_gt(sum(strong), 50)
  expect_gt(mean(result$closest[strong] == fit$models$model_names[sims$model[strong]]), 0.8)
})

test_that("data no candidate produces are flagged", {
  fit <- suppressWarnings(small_study1_fit())
  withr::local_seed(5)
  # uniform noise of a far larger spread, heavy-tailed noise (Cauchy, and t
  # with 3 df), bimodal group effects and a tenfold scale, on the trained
  # design (measured: 1.00, 1.00, 1.00, 1.00 and 1.00 flagged of 100 each)
  noise <- lapply(1:20, function(i) lapply(1:10, function(g) stats::runif(10, -30, 30)))
  cauchy <- lapply(1:20, function(i) lapply(1:10, function(g) stats::rt(10, df = 1)))
  t3 <- lapply(1:20, function(i) lapply(1:10, function(g) 3 * stats::rt(10, df = 3)))
  bimodal <- lapply(1:20, function(i) {
    lapply(1:10, function(g) stats::rnorm(10, mean = sample(c(-6, 6), 1)))
  })
  scaled <- lapply(1:20, function(i) lapply(1:10, function(g) stats::rnorm(10, sd = 10)))
  for (data in list(noise, cauchy, t3, bimodal, scaled)) {
    result <- suppressWarnings(misspecification_test(fit, data, n = 2000, threads = 2))
    expect_gte(mean(result$verdict == "misspecified"), 0.9)
  }
})

test_that("results do not depend on threads; the reference is made once per session", {
  fit <- suppressWarnings(small_study1_fit())
  data <- simulate_datasets(fit$models, n = 20, seed = 8)
  one <- misspecification_test(fit, data, n = 1000, seed = 3, threads = 1)
  cached <- ls(deepbmc:::misspecification_cache)
  expect_true(any(grepl(fit$checksum, cached, fixed = TRUE)))
  two <- misspecification_test(fit, data, n = 1000, seed = 3, threads = 2)
  expect_identical(one, two)
  rm(list = ls(deepbmc:::misspecification_cache), envir = deepbmc:::misspecification_cache)
  expect_identical(misspecification_test(fit, data, n = 1000, seed = 3, threads = 2), one)
  # another seed, another reference; the same verdicts up to sampling error
  other <- misspecification_test(fit, data, n = 1000, seed = 4, threads = 2)
  expect_false(identical(other$p_value, one$p_value))
  # a single data set gives one row
  expect_identical(nrow(misspecification_test(fit, data$data[[1]], n = 1000, seed = 3)), 1L)
})

test_that("formula model sets are tested in their summary space with the statistics", {
  chicks <- as.data.frame(datasets::ChickWeight)
  models <- suppressMessages(model_set(
    time = hier_model(weight ~ Time + (1 | Chick), chicks),
    diet = hier_model(weight ~ Time + Diet + (1 | Chick), chicks)
  ))
  fit <- suppressWarnings(train_comparison(models, api_network(), epochs = 1, iterations = 50,
                                           seed = 1, threads = 2, progress = FALSE))
  result <- misspecification_test(fit, chicks, n = 1000, threads = 2)
  expect_identical(nrow(result), 1L)
  # the weights scaled by 1,000 and shuffled across chicks: no candidate's
  # prior predictive
  odd <- chicks
  odd$weight <- sample(odd$weight) * 1000
  expect_warning(odd_result <- misspecification_test(fit, odd, n = 1000, threads = 2),
                 class = "deepbmc_input_range_warning")
  expect_identical(odd_result$verdict, "misspecified")
})

test_that("bad arguments are classed errors", {
  fit <- api_fit()
  x <- api_groups(1)
  expect_error(misspecification_test(fit, x, n = 10), class = "deepbmc_error")
  expect_error(misspecification_test(fit, x, n = NA), class = "deepbmc_error")
  expect_error(misspecification_test(fit, x, level = 1.5), "level", class = "deepbmc_error")
  expect_error(misspecification_test(fit, x, seed = -1), "seed", class = "deepbmc_error")
  expect_error(misspecification_test(list(), x), class = "deepbmc_error")
  expect_error(misspecification_test(fit, list()), class = "deepbmc_error")
})

test_that("group moments are each group's mean, log SD and correlations", {
  groups <- list(
    data.frame(g = 1, x = c(1, 2, 4), y = c(2, 1, 0)),
    data.frame(g = 2, x = c(-1, 3), y = c(5, 5)),
    data.frame(g = 3, x = c(0.5, 0.5, 2, 7), y = c(1, 2, 3, 9))
  )
  data <- do.call(rbind, groups)
  # one data set of three groups, packed as R/data.R describes
  batch <- list(values = as.vector(t(cbind(data$x, data$y))),
                mask = rep(TRUE, nrow(data)), group_offsets = c(0L, 3L, 5L, 9L),
                dataset_offsets = c(0L, 3L), n_features = 2L)
  moments <- deepbmc:::group_moments(batch)
  squash <- function(m) sign(m) * log1p(abs(m))
  expected <- t(vapply(groups, function(d) {
    sd_pop <- function(v) sqrt(mean((v - mean(v))^2))
    r <- if (sd_pop(d$x) > 0 && sd_pop(d$y) > 0) {
      mean((d$x - mean(d$x)) * (d$y - mean(d$y))) / (sd_pop(d$x) * sd_pop(d$y))
    } else 0
    c(1, squash(mean(d$x)), log(max(sd_pop(d$x), 1e-4)),
      squash(mean(d$y)), log(max(sd_pop(d$y), 1e-4)), r)
  }, numeric(6)))
  expect_equal(unname(moments[, -1]), expected[, -1], tolerance = 1e-5)
  expect_equal(moments[, 1], c(1, 1, 1))
})

test_that("the group part finds coin-flip responses that pooled summaries miss", {
  fit <- readRDS(system.file("extdata", "recognition_fit.rds", package = "deepbmc"))
  withr::local_seed(3)
  coin <- lapply(1:3, function(i) {
    do.call(rbind, lapply(1:40, function(p) {
      data.frame(participant = p, stimulus = rep(c(1L, 0L), each = 30),
                 response = stats::rbinom(60, 1, 0.5))
    }))
  })
  result <- misspecification_test(fit, coin, n = 600, threads = 2)
  # measured (bench/results/misspecification.md): the group part flags
  # every such data set, the data-set part about half
  expect_true(all(result$p_groups < 0.01))
  expect_true(all(result$verdict == "misspecified"))
  sims <- simulate_datasets(fit$models, n = 4, seed = 3)
  typical <- misspecification_test(fit, sims, n = 600, threads = 2)
  expect_true(all(typical$p_groups > 0.01))
})
