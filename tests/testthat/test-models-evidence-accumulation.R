test_tier("fast")
# evidence_accumulation_models() (R/models-evidence-accumulation.R) and its
# C++ simulator (src/accumulator*.h, src/evidence_accumulation.cpp): the
# alpha-stable draws, the Euler loop against Wiener-process theory, the
# priors against a plain-R simulation, the four models' switches,
# determinism, missing trials, bad arguments and a short training.

test_that("alpha-stable draws have the stated distributions", {
  n <- 200000
  # alpha = 2: normal with variance 2 (so scale 1/sqrt(2) gives unit variance)
  x <- deepbmc:::cpp_alpha_stable(n, 2, 1)
  expect_true(all(is.finite(x)))
  expect_lt(abs(mean(x)), 4 * sqrt(2 / n))
  expect_lt(abs(var(x) - 2), 4 * 2 * sqrt(2 / n))
  expect_gt(suppressWarnings(ks.test(x, "pnorm", 0, sqrt(2)))$p.value, 1e-3)
  # alpha = 2 draws come in Box-Muller pairs (8 first values, then their 8
  # partners): the two values of a pair are independent, so uncorrelated and
  # with uncorrelated squares, and each is normal
  first <- x[rep(seq(0, n - 16, by = 16), each = 8) + 1:8]
  second <- x[rep(seq(0, n - 16, by = 16), each = 8) + 9:16]
  expect_lt(abs(cor(first, second)), 4 / sqrt(length(first)))
  expect_lt(abs(cor(first^2, second^2)), 4 / sqrt(length(first)))
  expect_lt(abs(cor(abs(first), abs(second))), 4 / sqrt(length(first)))
  expect_gt(suppressWarnings(ks.test(second, "pnorm", 0, sqrt(2)))$p.value,
            1e-3)
  # and near alpha = 2 the CMS draws approach them
  near <- deepbmc:::cpp_alpha_stable(n, 1.999, 5)
  expect_lt(abs(var(near[abs(near) < 6]) - 2), 0.05)
  # alpha = 1: the standard Cauchy
  y <- deepbmc:::cpp_alpha_stable(n, 1, 2)
  expect_gt(suppressWarnings(ks.test(y, "pcauchy"))$p.value, 1e-3)
  # symmetric at any alpha
  z <- deepbmc:::cpp_alpha_stable(n, 1.5, 3)
  expect_lt(abs(mean(z > 0) - 0.5), 4 * sqrt(0.25 / n))
  # quantiles against an independent implementation
  skip_if_not_installed("stabledist")
  p <- c(0.05, 0.1, 0.25, 0.75, 0.9, 0.95)
  for (alpha in c(1.2, 1.5, 1.8)) {
    w <- deepbmc:::cpp_alpha_stable(n, alpha, 10 * alpha)
    reference <- stabledist::qstable(p, alpha = alpha, beta = 0, gamma = 1,
                                     delta = 0, pm = 0)
    # standard error of a sample quantile: sqrt(p (1 - p) / n) / density
    density <- stabledist::dstable(reference, alpha = alpha, beta = 0, pm = 0)
    se <- sqrt(p * (1 - p) / n) / density
    expect_true(all(abs(quantile(w, p, names = FALSE) - reference) < 5 * se),
                label = paste("quantiles at alpha =", alpha))
  }
})

# P(upper) and the mean decision time of a Wiener process with drift v, unit
# variance, bounds 0 and a, start w (Cox & Miller 1965).
wiener_upper <- function(v, a, w) {
  (1 - exp(-2 * v * w)) / (1 - exp(-2 * v * a))
}
wiener_mean_time <- function(v, a, w) {
  p <- wiener_upper(v, a, w)
  (a * p - w) / v
}

test_that("the Euler loop at alpha = 2 follows Wiener-process theory", {
  n <- 60000
  pars <- data.frame(a = 1.6, zr = 0.4, v0 = -1.2, v1 = 1.2, t0 = 0)
  stimulus <- matrix(1L, n, 1)
  sims <- deepbmc:::accumulator_trials(pars, stimulus, seed = 4, threads = 2)
  expect_false(anyNA(sims$rt))
  a <- pars$a
  w <- pars$a * pars$zr
  v <- pars$v1
  # The Euler scheme stops after the path crossed a bound, which acts like
  # bounds moved out by 0.5826 sqrt(dt) (Broadie, Glasserman & Kou 1997).
  shift <- 0.5826 * sqrt(0.001)
  p_exact <- wiener_upper(v, a + 2 * shift, w + shift)
  t_exact <- wiener_mean_time(v, a + 2 * shift, w + shift)
  p_hat <- mean(sims$response)
  t_hat <- mean(sims$rt)
  expect_lt(abs(p_hat - p_exact), 4 * sqrt(p_exact * (1 - p_exact) / n))
  expect_lt(abs(t_hat - t_exact), 4 * sd(sims$rt) / sqrt(n))
  # the uncorrected values are clearly off: the test sees the Euler bias
  expect_gt(abs(t_hat - wiener_mean_time(v, a, w)), 6 * sd(sims$rt) / sqrt(n))
  # the RT is t0 plus whole steps of 1 ms
  shifted <- deepbmc:::accumulator_trials(transform(pars, t0 = 0.25),
                                          stimulus[1:1000, , drop = FALSE],
                                          seed = 4)
  steps <- (shifted$rt - 0.25) / 0.001
  expect_true(all(abs(steps - round(steps)) < 1e-3) && all(steps >= 1))
  # the lower stimulus drifts down
  down <- deepbmc:::accumulator_trials(pars, stimulus * 0L, seed = 5)
  expect_lt(abs(mean(down$response) - (1 - wiener_upper(v, a + 2 * shift,
                                                         a - w + shift))),
            4 * sqrt(0.25 / n))
})

test_that("alpha changes the RT distribution; symmetric set-ups stay symmetric", {
  n <- 20000
  pars <- data.frame(a = c(2, 2), zr = 0.5, v0 = 0, v1 = 0, t0 = 0,
                     alpha = c(2, 1.3))
  sims <- deepbmc:::accumulator_trials(pars, matrix(1L, n, 2), seed = 6)
  diffusion <- sims$rt[sims$participant == 1]
  levy <- sims$rt[sims$participant == 2]
  expect_lt(suppressWarnings(ks.test(diffusion, levy))$p.value, 1e-6)
  # no drift, start in the middle: either bound with probability 1/2
  for (j in 1:2) {
    expect_lt(abs(mean(sims$response[sims$participant == j]) - 0.5),
              4 * sqrt(0.25 / n))
  }
  # a driftless Wiener process from a/2 exits after a^2 / 4 s on average
  # (bounds moved out by the Euler overshoot, as above)
  width <- 2 + 2 * 0.5826 * sqrt(0.001)
  expect_lt(abs(mean(diffusion) - width^2 / 4), 4 * sd(diffusion) / sqrt(n))
})

test_that("a trial without a decision within max_steps is missing", {
  pars <- data.frame(a = 3, zr = 0.5, v0 = 0, v1 = 0, t0 = 0.3)
  sims <- deepbmc:::accumulator_trials(pars, matrix(1L, 2000, 1), seed = 7,
                                       max_steps = 200)
  # a driftless diffusion from 1.5 to bounds at 0 and 3 takes 2.25 s on
  # average: most trials are stopped at 0.2 s
  expect_gt(mean(is.na(sims$rt)), 0.5)
  expect_identical(is.na(sims$rt), is.na(sims$response))
  expect_true(all(sims$rt[!is.na(sims$rt)] <= 0.3 + 0.2 + 1e-6))
  # in data sets: missing trials, stimulus included
  models <- evidence_accumulation_models(participants = 3, trials = 200,
                                         max_steps = 100)
  data <- simulate_datasets(models, n = 4, seed = 1, threads = 1)$data
  any_missing <- vapply(data, function(d) anyNA(d$rt), logical(1))
  expect_true(any(any_missing))
  d <- data[[which(any_missing)[[1]]]]
  expect_identical(is.na(d$rt), is.na(d$response))
})

# The paper's hierarchical priors written directly in R.
r_accumulator_priors <- function(n, participants) {
  tn <- function(m, s, lo = 0, hi = Inf) {
    repeat {
      x <- rnorm(1, m, s)
      if (x > lo && x < hi) return(x)
    }
  }
  rows <- lapply(seq_len(n), function(i) {
    mu_a <- tn(5, 1); sigma_a <- tn(0.4, 0.15)
    mu_z <- rnorm(1, 0, 0.25); sigma_z <- tn(0, 0.05)
    mu_v0 <- tn(5, 1); sigma_v0 <- tn(0.5, 0.25)
    mu_v1 <- tn(5, 1); sigma_v1 <- tn(0.5, 0.25)
    mu_t <- tn(5, 1); sigma_t <- tn(0.1, 0.05)
    mu_alpha <- rnorm(1, 1.65, 0.15); sigma_alpha <- tn(0.3, 0.1)
    data.frame(
      a = rgamma(participants, shape = mu_a, scale = sigma_a),
      zr = plogis(rnorm(participants, mu_z, sigma_z)),
      v0 = -rgamma(participants, shape = mu_v0, scale = sigma_v0),
      v1 = rgamma(participants, shape = mu_v1, scale = sigma_v1),
      t0 = rgamma(participants, shape = mu_t, scale = sigma_t),
      alpha = vapply(seq_len(participants),
                     function(j) tn(mu_alpha, sigma_alpha, 1, 2), 0),
      sz = rbeta(participants, 1, 3),
      sv = abs(rnorm(participants, 0, 2)),
      st = abs(rnorm(participants, 0, 0.3))
    )
  })
  do.call(rbind, rows)
}

test_that("participant parameters follow the paper's priors and model switches", {
  n <- 3000
  drawn <- lapply(0:3, function(m) {
    as.data.frame(deepbmc:::cpp_accumulator_participants(m, n, 2, 11 + m))
  })
  # the switches: diffusion models fix alpha = 2, basic models have no
  # inter-trial variability
  expect_true(all(drawn[[1]]$alpha == 2) && all(drawn[[3]]$alpha == 2))
  expect_true(all(drawn[[2]]$alpha >= 1 & drawn[[2]]$alpha <= 2))
  expect_lt(mean(drawn[[4]]$alpha), 1.9)
  for (m in 1:2) {
    expect_true(all(drawn[[m]][c("sz", "sv", "st")] == 0))
  }
  expect_true(all(drawn[[4]][c("sz", "sv", "st")] > 0))
  # the full Levy flight model draws every parameter: compare with R
  withr::with_seed(12, reference <- r_accumulator_priors(n, 2))
  full <- drawn[[4]]
  for (name in names(reference)) {
    se <- sqrt(var(full[[name]]) / nrow(full) + var(reference[[name]]) /
                 nrow(reference))
    # draws within a data set share hyperparameters: allow for that
    expect_lt(abs(mean(full[[name]]) - mean(reference[[name]])), 6 * se,
              label = paste("prior mean of", name))
    expect_lt(abs(sd(full[[name]]) / sd(reference[[name]]) - 1), 0.1,
              label = paste("prior sd of", name))
  }
  # the paper's stated prior means
  expect_equal(mean(full$a), 2.0, tolerance = 0.05)
  expect_equal(mean(full$t0), 0.5, tolerance = 0.05)
  expect_equal(mean(c(-full$v0, full$v1)), 2.5, tolerance = 0.05)
})

test_that("simulated data sets are data frames of the documented form", {
  models <- evidence_accumulation_models(participants = c(3, 5),
                                         trials = c(20, 30))
  sims <- simulate_datasets(models, n = 40, seed = 3, threads = 2)
  expect_identical(sort(unique(sims$model)), 1:4)
  for (d in sims$data) {
    expect_identical(names(d), c("participant", "stimulus", "rt", "response"))
    n_part <- length(unique(d$participant))
    expect_true(n_part >= 3 && n_part <= 5)
    per <- unique(as.vector(table(d$participant)))
    expect_length(per, 1)
    expect_true(per >= 20 && per <= 30)
    expect_true(all(d$stimulus %in% 0:1) && all(d$response %in% 0:1))
    expect_true(all(d$rt > -1 & d$rt < 200))
  }
  # stimulus share
  one <- simulate_datasets(evidence_accumulation_models(2, 2000, stimulus = 0.2),
                           n = 1, seed = 2)$data[[1]]
  expect_lt(abs(mean(one$stimulus) - 0.2), 0.03)
  # responses follow the stimulus (drifts of opposite sign)
  expect_gt(mean(one$response == one$stimulus), 0.6)
})

test_that("simulations do not depend on threads or the instruction set", {
  models <- evidence_accumulation_models(participants = 4, trials = 60)
  one <- simulate_datasets(models, n = 12, seed = 9, threads = 1)
  two <- simulate_datasets(models, n = 12, seed = 9, threads = 2)
  expect_identical(one$data, two$data)
  expect_identical(one$model, two$model)
  local_kernels("baseline")
  base <- simulate_datasets(models, n = 12, seed = 9, threads = 2)
  expect_identical(base$data, one$data)
  pars <- data.frame(a = c(1, 2), zr = 0.5, v0 = -1, v1 = 1, t0 = 0.2,
                     alpha = c(2, 1.4), sz = 0.2, sv = 0.5, st = 0.1)
  stim <- matrix(rep(0:1, 500), 500, 2)
  expect_identical(
    deepbmc:::accumulator_trials(pars, stim, seed = 1, threads = 1),
    deepbmc:::accumulator_trials(pars, stim, seed = 1, threads = 2)
  )
})

test_that("bad arguments are classed errors naming the argument", {
  expect_deepbmc_error(evidence_accumulation_models(participants = 0),
                       "value", "participants")
  expect_deepbmc_error(evidence_accumulation_models(trials = c(10, 5)),
                       "value", "trials")
  expect_deepbmc_error(evidence_accumulation_models(trials = NA), "type",
                       "trials")
  expect_deepbmc_error(evidence_accumulation_models(trials = NA_real_),
                       "value", "trials")
  expect_deepbmc_error(evidence_accumulation_models(trials = "900"), "type",
                       "trials")
  expect_deepbmc_error(evidence_accumulation_models(stimulus = 1.5), "value",
                       "stimulus")
  expect_deepbmc_error(evidence_accumulation_models(stimulus = NA), "value",
                       "stimulus")
  expect_deepbmc_error(evidence_accumulation_models(max_steps = 0), "value",
                       "max_steps")
  expect_deepbmc_error(evidence_accumulation_models(participants = 1e4,
                                                    trials = 1e4), "value")
  expect_output(print(evidence_accumulation_models()), "Levy flight")
  # data without the features are refused by name
  fit_models <- evidence_accumulation_models(participants = 2, trials = 5)
  expect_identical(deepbmc:::model_feature_names(fit_models),
                   c("stimulus", "rt", "response"))
})

test_that("the network reads trials as (stimulus, log rt, correct), in C++ and in R alike", {
  models <- evidence_accumulation_models(participants = 4, trials = 30,
                                         max_steps = 400)
  sims <- simulate_datasets(models, n = 6, seed = 8, threads = 2)
  data <- sims$data
  # the coding written in the test, from the users' data frames
  coded <- unlist(lapply(data, function(d) {
    seen <- !is.na(d$rt)
    rbind(ifelse(seen, d$stimulus, 0),
          ifelse(seen, log(pmax(d$rt, 0.001)), 0),
          ifelse(seen, as.numeric(d$response == d$stimulus), 0))
  }))
  expect_equal(sims$batch$values, coded, tolerance = 1e-6)
  # short trials make some missing: the mask agrees with the data frames
  expect_identical(sims$batch$mask,
                   unlist(lapply(data, function(d) !is.na(d$rt))))
  expect_false(all(sims$batch$mask))
  # users' data are coded the same way: the same probabilities either way
  fit <- train_comparison(models, epochs = 1, iterations = 10, seed = 1,
                          threads = 2, progress = FALSE)
  # (trials without a decision leave fewer than 30 per participant)
  expect_equal(
    suppressWarnings(post_prob(fit, data),
                     classes = "deepbmc_extrapolation_warning"),
    suppressWarnings(post_prob(fit, sims),
                     classes = "deepbmc_extrapolation_warning"),
    tolerance = 1e-6
  )
  # a response missing within an observed trial makes `correct` missing
  d <- data[[1]]
  d$response[[which(!is.na(d$rt))[[1]]]] <- NA
  prepared <- deepbmc:::prepare_datasets(models, d, NULL, NULL, "data", NULL)
  flags <- matrix(prepared$batch$present, ncol = 3, byrow = TRUE)
  expect_identical(colSums(!flags[prepared$batch$mask, , drop = FALSE]),
                   c(0, 0, 1))
  expect_identical(deepbmc:::input_feature_names(models),
                   c("stimulus", "log rt", "correct"))
})

test_that("impossible trial values and networks of the old coding are refused", {
  models <- evidence_accumulation_models(participants = 2, trials = 20)
  fit <- train_comparison(models, epochs = 1, iterations = 5, seed = 1,
                          threads = 2, progress = FALSE)
  d <- simulate_datasets(models, n = 1, seed = 3)$data[[1]]
  bad <- d
  bad$rt[[2]] <- 0
  expect_deepbmc_error(post_prob(fit, bad), "value", "data")
  expect_error(post_prob(fit, bad), "rt.*above 0")
  bad <- d
  bad$response[[3]] <- 2
  expect_error(post_prob(fit, bad), "response.*coded 0 or 1",
               class = "deepbmc_error_value")
  bad <- d
  bad$stimulus[[1]] <- 0.5
  expect_error(post_prob(fit, bad), "stimulus.*coded 0 or 1",
               class = "deepbmc_error_value")
  # a set saved before the trial coding was named: its network read raw rts
  old <- fit
  old$models$trial_coding <- NULL
  old$checksum <- deepbmc:::fit_checksum(old)
  expect_error(post_prob(old, d), "earlier version",
               class = "deepbmc_error_version")
  expect_deepbmc_error(simulate_datasets(old$models, n = 1, seed = 1),
                       "version")
})
