test_tier("fast")
# Ensembles (R/ensemble.R, issue 30): train_comparison(members = k) trains k
# networks with seeds of their own; every evaluation (R/evaluate.R) averages
# their PMPs and reports their spread; the fit reloads with its checksums
# and refuses damage to any member.

ensemble_models <- function() normal_nested_models(groups = 10, obs = 10)

small_ensemble <- function(members = 3, ...) {
  train_comparison(ensemble_models(), api_network(), epochs = 1,
                   iterations = 30, seed = 11, members = members,
                   progress = FALSE, ...)
}

# PMPs of one network from its logits, written here from the definition.
softmax_rows <- function(logits) {
  e <- exp(logits - apply(logits, 1, max))
  e / rowSums(e)
}

test_that("an ensemble's members are the networks trained alone with their seeds", {
  fit <- small_ensemble()
  expect_length(fit$members, 3)
  seeds <- vapply(fit$members, function(m) m$training$seed, numeric(1))
  expect_equal(seeds, 11 + (0:2) * 2^40)
  alone <- train_comparison(ensemble_models(), api_network(), epochs = 1,
                            iterations = 30, seed = seeds[[3]],
                            progress = FALSE)
  expect_identical(fit$members[[3]]$weights, alone$weights)
  expect_identical(fit$members[[3]]$checksum, alone$checksum)
  expect_identical(fit$weights, fit$members[[1]]$weights)
  # different seeds, different networks
  expect_false(identical(fit$members[[1]]$weights, fit$members[[2]]$weights))
  expect_output(print(fit), "Ensemble: 3 members (PMPs averaged)", fixed = TRUE)
})

test_that("PMPs are the members' mean, under any prior, with their spread", {
  fit <- small_ensemble()
  sims <- simulate_datasets(fit$models, n = 6, seed = 3)
  prior <- c(0.8, 0.2)
  member_pmp <- lapply(fit$members, function(m) {
    post_prob(m, sims$data, prior_prob = prior)
  })
  stacked <- simplify2array(member_pmp)
  pmp <- post_prob(fit, sims$data, prior_prob = prior)
  expect_equal(unclass(pmp)[, 1:2], apply(stacked, c(1, 2), mean),
               ignore_attr = TRUE, tolerance = 1e-12)
  expect_equal(attr(pmp, "member_sd"), apply(stacked, c(1, 2), sd),
               ignore_attr = TRUE, tolerance = 1e-12)
  expect_equal(rowSums(pmp), rep(1, 6), tolerance = 1e-12)

  # the uniform-prior mean from the members' logits, by softmax written here
  logits <- lapply(fit$members, function(m) {
    deepbmc:::predict_logits(m, sims$data, NULL, NULL, 1L)$logits
  })
  uniform <- Reduce(`+`, lapply(logits, softmax_rows)) / 3
  expect_equal(unclass(post_prob(fit, sims$data))[, 1:2], uniform,
               ignore_attr = TRUE, tolerance = 1e-12)
  # Bayes factors: the ratio of the mean uniform-prior PMPs
  log_bf <- bayes_factor(fit, sims$data, model1 = 2, model2 = 1)
  expect_equal(as.numeric(log_bf), log(uniform[, 2] / uniform[, 1]),
               tolerance = 1e-10)

  # one data set, and compare_models() with the spread as a column
  one <- sims$data[[1]]
  single <- post_prob(fit, one)
  expect_named(attr(single, "member_sd"), c("M0", "M1"))
  table <- compare_models(fit, one)
  expect_equal(table$pmp[match(c("M0", "M1"), table$model)],
               unname(unclass(single)[1:2]), tolerance = 1e-12)
  expect_equal(table$member_sd[match(c("M0", "M1"), table$model)],
               unname(attr(single, "member_sd")), tolerance = 1e-12)
  expect_output(print(table), "member_sd")
  # a single network has no spread
  expect_null(attr(post_prob(fit$members[[1]], one), "member_sd"))
  expect_null(compare_models(fit$members[[1]], one)$member_sd)
})

test_that("validation, checked range and input range are the ensemble's", {
  fit <- small_ensemble()
  # validate() simulates in C++ and averages the members there too
  validation <- validate(fit, n = 40, seed = 5, threads = 1)
  sims <- simulate_datasets(fit$models, n = 40, seed = 5)
  expect_equal(unname(validation$pmp[, 1:2]),
               unname(unclass(post_prob(fit, sims$data))[, 1:2]),
               tolerance = 1e-6)
  upper <- lapply(fit$members, function(m) m$checked_range$upper)
  expect_equal(fit$checked_range$upper, do.call(pmin, upper))
  expect_equal(fit$input_range$lo,
               do.call(pmax, lapply(fit$members, function(m) m$input_range$lo)))
})

test_that("threads do not change an ensemble", {
  one <- small_ensemble(members = 2, threads = 1)
  two <- small_ensemble(members = 2, threads = 2)
  expect_identical(one$checksum, two$checksum)
})

test_that("saved ensembles reload with their checksums and refuse damage", {
  fit <- small_ensemble()
  saved <- withr::local_tempfile(fileext = ".rds")
  saveRDS(fit, saved)
  reloaded <- readRDS(saved)
  x <- simulate_datasets(fit$models, n = 2, seed = 9)$data
  expect_identical(post_prob(reloaded, x), post_prob(fit, x))

  damaged <- fit
  damaged$members[[2]]$weights[[5]] <- damaged$members[[2]]$weights[[5]] + 1
  expect_error(post_prob(damaged, x), "checksum", class = "deepbmc_error_fit")
  damaged <- fit
  damaged$members[[3]] <- NULL
  expect_error(post_prob(damaged, x), class = "deepbmc_error_fit")
  damaged <- fit
  damaged$members[2:3] <- damaged$members[3:2]
  expect_error(post_prob(damaged, x), class = "deepbmc_error_fit")
  damaged <- fit
  damaged$members[[2]] <- "weights"
  expect_error(post_prob(damaged, x), class = "deepbmc_error_fit")
  # a member that is not member 1 of the fit itself
  damaged <- fit
  damaged$weights <- fit$members[[2]]$weights
  expect_error(post_prob(damaged, x), class = "deepbmc_error_fit")
})

test_that("fine-tuning an ensemble fine-tunes every member", {
  fit <- small_ensemble(members = 2)
  tuned <- train_comparison(ensemble_models(), init = fit, epochs = 1,
                            iterations = 10, seed = 4, progress = FALSE)
  expect_length(tuned$members, 2)
  alone <- train_comparison(ensemble_models(), init = fit$members[[2]],
                            epochs = 1, iterations = 10,
                            seed = 4 + 2^40, progress = FALSE)
  expect_identical(tuned$members[[2]]$weights, alone$weights)
  expect_error(
    train_comparison(ensemble_models(), init = fit, members = 3, epochs = 1,
                     iterations = 10, progress = FALSE),
    "must match", class = "deepbmc_error_mismatch"
  )
  expect_error(resume_training(fit), "ensemble", class = "deepbmc_error_value")
})

test_that("members is checked", {
  models <- ensemble_models()
  for (bad in list(0, -1, 1.5, NA, "2", c(2, 3), 101, Inf)) {
    expect_error(
      train_comparison(models, members = bad, epochs = 1, iterations = 2,
                       progress = FALSE),
      "members", class = "deepbmc_error"
    )
  }
})
