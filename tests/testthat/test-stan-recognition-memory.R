test_tier("full")
# The Stan programs of the recognition-memory models
# (inst/stan/recognition_sdt.stan, recognition_mpt.stan). Their log density
# must be the complete log joint density of the trial-level data, with all
# normalising constants, for bridge sampling to return exact log marginal
# likelihoods.
#
# The two programs compile both at once, once per test run (helper-stan.R).

recognition_stan_path <- function(model) {
  file <- paste0("recognition_", model, ".stan")
  path <- system.file("stan", file, package = "deepbmc")
  if (!nzchar(path)) {
    # Installed package without the programs: use the source tree.
    path <- test_path("..", "..", "inst", "stan", file)
  }
  skip_if_not(file.exists(path), paste("cannot find", file))
  path
}

# Sampled from in the bridge-sampling test: compiled with optimisation, both
# at once, once per test run (helper-stan.R).
recognition_program <- function(model) {
  test_stan_program(file = recognition_stan_path(model),
                    name = paste0("recognition_", model))
}

recognition_model <- function(model) {
  test_stan_model(recognition_program(model))
}

# log Pr(the trials | rates) of a participant, trial by trial (no binomial
# coefficients: the order of the trials is observed), from the log
# probabilities of the four outcomes; a count of 0 contributes 0 even where
# its log probability is -Inf.
recognition_log_lik_r <- function(data, log_hit, log_miss, log_fa, log_cr) {
  term <- function(count, log_p) ifelse(count > 0, count * log_p, 0)
  sum(term(data$hits, log_hit) + term(data$n_old - data$hits, log_miss) +
        term(data$false_alarms, log_fa) +
        term(data$n_new - data$false_alarms, log_cr))
}
log_phi <- function(x) stats::pnorm(x, log.p = TRUE)
log_phi_upper <- function(x) stats::pnorm(x, lower.tail = FALSE, log.p = TRUE)
log_sum_exp2 <- function(a, b) pmax(a, b) + log1p(exp(-abs(a - b)))

sdt_log_prior_r <- function(p) {
  stats::dnorm(p$mu_h, 1, 0.5, log = TRUE) +
    stats::dnorm(p$mu_f, -1, 0.5, log = TRUE) +
    stats::dgamma(p$sigma_h, shape = 1, rate = 1, log = TRUE) +
    stats::dgamma(p$sigma_f, shape = 1, rate = 1, log = TRUE) +
    sum(stats::dnorm(c(p$z_h, p$z_f), log = TRUE))
}

sdt_log_joint_r <- function(data, p) {
  h <- p$mu_h + p$sigma_h * p$z_h
  f <- p$mu_f + p$sigma_f * p$z_f
  sdt_log_prior_r(p) +
    recognition_log_lik_r(data, log_phi(h), log_phi_upper(h), log_phi(f),
                          log_phi_upper(f))
}

# The inverse-Wishart(nu, I) log density of a 2 x 2 matrix, written out:
# |Q|^(-(nu + 3) / 2) exp(-tr(Q^-1) / 2) / (2^nu Gamma_2(nu / 2)), with
# Gamma_2(a) = sqrt(pi) Gamma(a) Gamma(a - 1/2).
inv_wishart_2_log_r <- function(q, nu = 3) {
  -(nu + 3) / 2 * log(det(q)) - sum(diag(solve(q))) / 2 - nu * log(2) -
    0.5 * log(pi) - lgamma(nu / 2) - lgamma(nu / 2 - 0.5)
}

mpt_log_joint_r <- function(data, p) {
  sigma <- diag(p$lambda) %*% p$Q %*% diag(p$lambda)
  eta <- p$mu + t(chol(sigma)) %*% p$z
  log_d <- log_phi(eta[1, ])
  log_not_d <- log_phi_upper(eta[1, ])
  log_g <- log_phi(eta[2, ])
  log_not_g <- log_phi_upper(eta[2, ])
  sum(stats::dnorm(p$mu, 0, 0.25, log = TRUE)) +
    sum(stats::dunif(p$lambda, 0, 2, log = TRUE)) +
    inv_wishart_2_log_r(p$Q) +
    sum(stats::dnorm(p$z, log = TRUE)) +
    recognition_log_lik_r(data, log_sum_exp2(log_d, log_not_d + log_g),
                          log_not_d + log_not_g, log_not_d + log_g,
                          log_sum_exp2(log_d, log_not_d + log_not_g))
}

# The log density of `model` at the given values, from rstan's log_prob() on a
# stanfit without draws.
recognition_log_prob_stan <- function(model, data, pars,
                                      adjust_transform = FALSE) {
  fit <- suppressMessages(suppressWarnings(
    rstan::sampling(recognition_model(model), data = data, chains = 0)
  ))
  upars <- rstan::unconstrain_pars(fit, pars)
  rstan::log_prob(fit, upars, adjust_transform = adjust_transform)
}

# A participant x trial data frame with the given rates.
recognition_trials <- function(p_hit, p_fa, trials = 20, old = 0.5) {
  n_old <- round(old * trials)
  stimulus <- rep(c(1, 0), c(n_old, trials - n_old))
  do.call(rbind, lapply(seq_along(p_hit), function(m) {
    p <- ifelse(stimulus == 1, p_hit[[m]], p_fa[[m]])
    data.frame(participant = m, stimulus = stimulus,
               response = stats::rbinom(trials, 1, p))
  }))
}

test_that("the recognition-memory data lists count trials per participant", {
  frame <- data.frame(
    participant = c("b", "b", "b", "a", "a", "c", "c"),
    stimulus = c(1, 1, 0, 1, 0, 0, NA),
    response = c(1, 0, 1, NA, 0, 0, 1)
  )
  data <- deepbmc:::recognition_stan_data(frame)
  # first appearance order; the trials with NA dropped
  expect_equal(data, list(M = 3L, n_old = c(2L, 0L, 0L), hits = c(1L, 0L, 0L),
                          n_new = c(1L, 1L, 1L),
                          false_alarms = c(1L, 0L, 0L)))
  # participants left without a complete trial are dropped
  frame$stimulus[frame$participant == "a"] <- NA
  expect_equal(deepbmc:::recognition_stan_data(frame)$M, 2L)
  # a list of per-participant matrices and another group column
  groups <- list(cbind(stimulus = c(1, 0), response = c(1, 1)),
                 cbind(stimulus = 1, response = 0))
  expect_equal(deepbmc:::recognition_stan_data(groups)$hits, c(1L, 0L))
  renamed <- stats::setNames(frame, c("subject", "stimulus", "response"))
  expect_equal(
    deepbmc:::recognition_stan_data(renamed, group = "subject")$M, 2L
  )
  # simulated data sets as post_prob() takes them
  models <- sdt_mpt_models(participants = 4, trials = 10, old = 0.3)
  sims <- simulate_datasets(models, n = 1, seed = 1, threads = 1)
  data <- deepbmc:::stan_programs(models)$mpt$data(sims$data[[1]])
  expect_equal(data$n_old, rep(3L, 4))
  expect_equal(data$n_new, rep(7L, 4))
  trials <- sims$data[[1]]
  expect_equal(sum(data$hits),
               sum(trials$stimulus == 1 & trials$response == 1))
  expect_error(deepbmc:::recognition_stan_data(transform(frame,
                                                         response = 2)),
               class = "deepbmc_error_value")
  frame$stimulus <- NA
  expect_error(deepbmc:::recognition_stan_data(frame),
               class = "deepbmc_error_data")
  expect_error(deepbmc:::recognition_stan_data(list(sims$data[[1]],
                                                    sims$data[[1]])),
               class = "deepbmc_error_data")
})

test_that("stan_code() shows the recognition-memory programs", {
  models <- sdt_mpt_models()
  code <- stan_code(models)
  expect_named(code, c("sdt", "mpt"))
  expect_match(code$sdt, "gamma_lpdf(sigma_h | 1, 1)", fixed = TRUE)
  expect_match(code$mpt, "inv_wishart_lpdf(Q | 3, identity)", fixed = TRUE)
  # every density with its normalising constant: no `~` outside comments
  statements <- gsub("//[^\n]*", "", unlist(code))
  expect_no_match(statements, "~", fixed = TRUE)
})

test_that("the recognition-memory Stan programs parse", {
  skip_on_cran()
  skip_if_not_installed("rstan")
  for (model in c("sdt", "mpt")) {
    parsed <- rstan::stanc(recognition_stan_path(model),
                           model_name = paste0("recognition_", model))
    expect_true(parsed$status, label = paste(model, "parses"))
  }
})

test_that("both recognition-memory programs compile, at once", {
  skip_on_cran()
  skip_if_not_installed("rstan")
  expect_stan_programs_compile(lapply(c("sdt", "mpt"), recognition_program))
})

test_that("the recognition-memory Stan log densities keep every constant", {
  skip_on_cran()
  skip_if_not_installed("rstan")
  skip_if_not_installed("withr")
  set.seed(18)
  # Unequal old and new counts, a participant with every response "old" and
  # one without new items.
  data <- list(M = 4L, n_old = c(10L, 10L, 6L, 3L), hits = c(7L, 10L, 2L, 0L),
               n_new = c(10L, 10L, 14L, 0L),
               false_alarms = c(2L, 10L, 0L, 0L))
  for (draw in 1:3) {
    sdt <- list(mu_h = stats::rnorm(1, 1, 0.5), mu_f = stats::rnorm(1, -1, 0.5),
                sigma_h = stats::rexp(1), sigma_f = stats::rexp(1),
                z_h = stats::rnorm(4), z_f = stats::rnorm(4))
    expect_equal(recognition_log_prob_stan("sdt", data, sdt),
                 sdt_log_joint_r(data, sdt), tolerance = 1e-10,
                 label = paste("SDT log density, draw", draw))
    # With the Jacobians of the log transforms of the SDs (the density Stan
    # samples and bridgesampling uses on the unconstrained scale).
    expect_equal(recognition_log_prob_stan("sdt", data, sdt,
                                           adjust_transform = TRUE),
                 sdt_log_joint_r(data, sdt) + log(sdt$sigma_h) +
                   log(sdt$sigma_f),
                 tolerance = 1e-10,
                 label = paste("SDT log density with Jacobian, draw", draw))

    w <- stats::rWishart(1, 3, diag(2))[, , 1]
    mpt <- list(mu = stats::rnorm(2, 0, 0.25), lambda = stats::runif(2, 0, 2),
                Q = solve(w), z = matrix(stats::rnorm(8), 2, 4))
    expect_equal(recognition_log_prob_stan("mpt", data, mpt),
                 mpt_log_joint_r(data, mpt), tolerance = 1e-10,
                 label = paste("MPT log density, draw", draw))
  }
  # Rates near 0 and 1, where Phi() rounds to 0 or 1 in double precision:
  # finite log densities, still those of R's log-scale pnorm().
  extreme <- list(mu_h = 9, mu_f = -9, sigma_h = 0.5, sigma_f = 0.5,
                  z_h = c(0, 1, -1, 2), z_f = c(0, 1, -1, -2))
  stan <- recognition_log_prob_stan("sdt", data, extreme)
  expect_true(is.finite(stan))
  h <- extreme$mu_h + extreme$sigma_h * extreme$z_h
  # the rates themselves round to 0 or 1 here
  expect_true(any(stats::pnorm(h) == 1))
  expect_equal(stan, sdt_log_joint_r(data, extreme), tolerance = 1e-8)
  mpt_extreme <- list(mu = c(9, -9), lambda = c(0.1, 0.1), Q = diag(2),
                      z = matrix(0, 2, 4))
  stan <- recognition_log_prob_stan("mpt", data, mpt_extreme)
  expect_true(is.finite(stan))
  expect_equal(stan, mpt_log_joint_r(data, mpt_extreme), tolerance = 1e-8)
})

# The exact log marginal likelihood of the SDT model: given (mu, sigma) the
# participants are independent, each a 1-dimensional integral over its
# probit rate (Gauss-Hermite), and hits and false alarms are independent, so
# each is a 2-dimensional integral over (mu, sigma) on a grid.
sdt_log_ml_r <- function(data) {
  nodes <- statmod::gauss.quad.prob(40, "normal")
  part <- function(k, n, mean, sd) {
    mu <- mean + sd * stats::qnorm(seq(0.0005, 0.9995, length.out = 300))
    sigma <- stats::qexp(seq(0.0005, 0.9995, length.out = 300))
    # equal-probability grids: the prior is the average over them
    log_lik <- outer(mu, sigma, Vectorize(function(m, s) {
      x <- m + s * nodes$nodes
      sum(vapply(seq_along(k), function(j) {
        l <- k[[j]] * stats::pnorm(x, log.p = TRUE) +
          (n[[j]] - k[[j]]) * stats::pnorm(x, lower.tail = FALSE,
                                           log.p = TRUE)
        log(sum(nodes$weights * exp(l)))
      }, numeric(1)))
    }))
    top <- max(log_lik)
    top + log(mean(exp(log_lik - top)))
  }
  part(data$hits, data$n_old, 1, 0.5) +
    part(data$false_alarms, data$n_new, -1, 0.5)
}

test_that("bridge sampling of the recognition-memory programs finds the model", {
  skip_on_cran()
  skip_if_not_installed("rstan")
  skip_if_not_installed("bridgesampling")
  skip_if_not_installed("statmod")
  skip_if_not_installed("withr")
  # 8 participants x 40 trials with normal probit hit and false-alarm
  # rates, as in the SDT model: the SDT program's marginal likelihood is
  # checked against quadrature in R, and the SDT model should win.
  withr::local_seed(5)
  sdt_trials <- recognition_trials(
    p_hit = stats::pnorm(stats::rnorm(8, 0.5, 0.2)),
    p_fa = stats::pnorm(stats::rnorm(8, 0.3, 0.2)), trials = 40
  )
  programs <- deepbmc:::stan_programs(sdt_mpt_models())
  data <- programs$sdt$data(sdt_trials)
  log_ml <- vapply(c("sdt", "mpt"), function(model) {
    fit <- suppressWarnings(rstan::sampling(
      recognition_model(model), data = data, chains = 2, iter = 3000,
      warmup = 1000, seed = 1, refresh = 0,
      control = list(adapt_delta = 0.95)
    ))
    bridge <- withr::with_seed(1, bridgesampling::bridge_sampler(
      fit, silent = TRUE
    ))
    bridge$logml
  }, numeric(1))
  expect_true(all(is.finite(log_ml)))
  # bridge sampling's own error of the log ML is about 0.01 to 0.06 here
  expect_lt(abs(log_ml[["sdt"]] - sdt_log_ml_r(data)), 0.15)
  pmp_sdt <- 1 / (1 + exp(log_ml[["mpt"]] - log_ml[["sdt"]]))
  expect_gt(pmp_sdt, 0.9)
})
