test_tier("fast")
# The paper's study 2 (SDT against the latent-trait 2HTM), checked against a
# plain-R simulation of both models written here from the paper's priors.

r_recognition_rates <- function(model, n) {
  if (model == "sdt") {
    mu_h <- rnorm(1, 1, 0.5)
    sigma_h <- rgamma(1, shape = 1, scale = 1)
    mu_f <- rnorm(1, -1, 0.5)
    sigma_f <- rgamma(1, shape = 1, scale = 1)
    return(cbind(hit = pnorm(rnorm(n, mu_h, sigma_h)),
                 fa = pnorm(rnorm(n, mu_f, sigma_f))))
  }
  mu <- rnorm(2, 0, 0.25)
  lambda <- runif(2, 0, 2)
  q <- solve(stats::rWishart(1, 3, diag(2))[, , 1])
  sigma <- diag(lambda) %*% q %*% diag(lambda)
  z <- matrix(rnorm(2 * n), n) %*% chol(sigma)
  d <- pnorm(mu[[1]] + z[, 1])
  g <- pnorm(mu[[2]] + z[, 2])
  cbind(hit = d + (1 - d) * g, fa = (1 - d) * g)
}

# Per data set: the mean observed hit and false-alarm rates over
# participants, their SD over participants, and their correlation.
rate_summaries <- function(frames) {
  t(vapply(frames, function(d) {
    hit <- tapply(d$response[d$stimulus == 1], d$participant[d$stimulus == 1],
                  mean)
    fa <- tapply(d$response[d$stimulus == 0], d$participant[d$stimulus == 0],
                 mean)
    c(hit = mean(hit), fa = mean(fa), sd_hit = sd(hit), sd_fa = sd(fa),
      cor = suppressWarnings(stats::cor(hit, fa)))
  }, numeric(5)))
}

r_recognition_data <- function(model, n_sets, participants, trials, old) {
  lapply(seq_len(n_sets), function(i) {
    rates <- r_recognition_rates(model, participants)
    n_old <- round(old * trials)
    stimulus <- rep(c(1, 0), c(n_old, trials - n_old))
    data.frame(
      participant = rep(seq_len(participants), each = trials),
      stimulus = rep(stimulus, participants),
      response = as.numeric(runif(participants * trials) <
        ifelse(rep(stimulus, participants) == 1,
               rep(rates[, "hit"], each = trials),
               rep(rates[, "fa"], each = trials)))
    )
  })
}

test_that("both simulators agree with a plain-R simulation of the paper's priors", {
  models <- sdt_mpt_models(participants = 10, trials = 80, old = 0.5)
  sims <- simulate_datasets(models, n = 3000, seed = 21, threads = 2)
  frames <- sims$data
  withr::local_seed(22)
  for (k in 1:2) {
    cpp <- rate_summaries(frames[sims$model == k])
    ref <- rate_summaries(r_recognition_data(models$model_names[[k]], 1500,
                                             10, 80, 0.5))
    for (stat in colnames(cpp)) {
      a <- cpp[, stat]
      b <- ref[, stat]
      a <- a[is.finite(a)]
      b <- b[is.finite(b)]
      se <- sqrt(var(a) / length(a) + var(b) / length(b))
      expect_lt(abs(mean(a) - mean(b)), 4 * se,
                label = paste(models$model_names[[k]], stat))
    }
  }
  # SDT draws hits and false alarms independently; in the 2HTM detection
  # moves them apart and guessing together, so they are correlated within
  # data sets (the sign and size depend on Sigma, drawn per data set)
  sdt <- rate_summaries(frames[sims$model == 1])
  mpt <- rate_summaries(frames[sims$model == 2])
  expect_lt(abs(mean(sdt[, "cor"], na.rm = TRUE)), 0.05)
  expect_gt(sd(mpt[, "cor"], na.rm = TRUE), 1.2 * sd(sdt[, "cor"], na.rm = TRUE))
})

test_that("inverse-Wishart draws match R's rWishart()", {
  # with df = 3 and p = 2 the mean of Q does not exist: compare quantiles
  cpp <- deepbmc:::cpp_inverse_wishart_2(20000, 3, seed = 9)
  withr::local_seed(10)
  ref <- t(vapply(seq_len(20000), function(i) {
    q <- solve(stats::rWishart(1, 3, diag(2))[, , 1])
    c(q[1, 1], q[1, 2], q[2, 2])
  }, numeric(3)))
  probs <- c(0.1, 0.25, 0.5, 0.75, 0.9)
  for (j in 1:3) {
    expect_equal(quantile(cpp[, j], probs), quantile(ref[, j], probs),
                 tolerance = 0.06, label = paste("column", j))
  }
  expect_true(all(cpp[, 1] > 0 & cpp[, 3] > 0 &
                    cpp[, 1] * cpp[, 3] > cpp[, 2]^2))
})

test_that("data sets have the documented form, independent of threads", {
  models <- sdt_mpt_models(participants = c(3, 6), trials = c(10, 12),
                           old = 0.3)
  one <- simulate_datasets(models, n = 30, seed = 5, threads = 1)
  two <- simulate_datasets(models, n = 30, seed = 5, threads = 2)
  expect_identical(one$batch, two$batch)
  expect_identical(sort(unique(one$model)), 1:2)
  for (d in one$data) {
    expect_identical(names(d), c("participant", "stimulus", "response"))
    per <- as.vector(table(d$participant))
    expect_length(unique(per), 1)
    expect_true(length(per) >= 3 && length(per) <= 6)
    expect_true(all(d$stimulus %in% 0:1) && all(d$response %in% 0:1))
    expect_identical(as.vector(tapply(d$stimulus, d$participant, sum)),
                     rep(round(0.3 * per[[1]]), length(per)))
  }
  expect_output(print(models), "two-high-threshold")
})

test_that("bad arguments are classed errors naming the argument", {
  expect_deepbmc_error(sdt_mpt_models(participants = 0), "value",
                       "participants")
  expect_deepbmc_error(sdt_mpt_models(trials = c(10, 5)), "value", "trials")
  expect_deepbmc_error(sdt_mpt_models(trials = "50"), "type", "trials")
  expect_deepbmc_error(sdt_mpt_models(old = 1.5), "value", "old")
  expect_deepbmc_error(sdt_mpt_models(old = NA), "value", "old")
  expect_deepbmc_error(sdt_mpt_models(old = c(0.2, 0.3)), "value", "old")
  expect_deepbmc_error(sdt_mpt_models(participants = 1e4, trials = 1e4),
                       "value")
})
