test_tier("fast")

# The plain-R exact marginal likelihoods of helper-exact-lmm.R, the
# Bayes-optimal yardstick for formula-model networks (issue 29): checked
# against a dense computation, against nested integrate() and Monte Carlo,
# against the published Orthodont figure and against deepbmc's simulator.

# A small unbalanced design with a covariate, for the exact checks.
small_lmm_design <- function() {
  group <- rep(1:4, times = c(2, 3, 1, 4))
  slope <- c(0.3, -1.2, 0.5, 2.0, 1.1, -0.4, 0.9, 1.7, -2.1, 0.2)
  list(
    y = c(1.2, 0.4, 2.9, 3.3, 1.0, -0.7, 2.2, 3.1, -1.5, 0.8),
    x = cbind(1, slope), group = group, z_slope = cbind(1, slope)
  )
}

test_that("the block formulas equal the dense marginal likelihood", {
  small <- small_lmm_design()
  beta_mean <- c(0.5, -0.2)
  beta_sd <- c(2, 1.5)
  for (z in list(NULL, small$z_slope)) {
    design <- exact_lmm_design(small$x, small$group, z)
    stats <- exact_lmm_response_stats(design, small$y, beta_mean)
    n_z <- design$n_z
    sigma <- c(0.3, 1, 2.5)
    sds <- matrix(c(0.2, 1.4, 3, 0.05, 0.7, 2)[seq_len(3 * n_z)], 3)
    block <- exact_lmm_log_lik_at(design, stats, beta_sd, sigma, sds)
    dense <- vapply(1:3, function(k) {
      exact_lmm_log_lik_dense(small$y, small$x, small$group, z, beta_mean,
                              beta_sd, sigma[k], sds[k, ])
    }, numeric(1))
    expect_equal(block, dense, tolerance = 1e-10)
  }
  # no fixed effects at all
  design <- exact_lmm_design(small$x[, 0], small$group)
  stats <- exact_lmm_response_stats(design, small$y, numeric(0))
  expect_equal(
    exact_lmm_log_lik_at(design, stats, numeric(0), 0.8, 1.1),
    exact_lmm_log_lik_dense(small$y, small$x[, 0], small$group, NULL,
                            numeric(0), numeric(0), 0.8, 1.1),
    tolerance = 1e-10
  )
})

test_that("the quadrature agrees with nested integrate() on a tiny design", {
  y <- c(0.3, 1.1, -0.8, -0.2, 2.0, 1.4)
  group <- rep(1:3, each = 2)
  x <- cbind(1, c(-1, 1, -1, 1, -1, 1))
  beta_mean <- c(0, 0)
  beta_sd <- c(2, 1)
  sigma_prior <- exponential_prior(1)
  sd_prior <- half_normal_prior(1)
  exact <- exact_lmm_log_ml(y, x, group, beta_mean, beta_sd, list(sd_prior),
                            sigma_prior)
  expect_lt(attr(exact, "change"), 1e-7)
  expect_lt(attr(exact, "face_share"), 1e-8)
  # The dense likelihood inside two nested adaptive integrals over the
  # natural scale: no code shared with the quadrature or the block formulas.
  likelihood <- function(sigma, sd) {
    exp(exact_lmm_log_lik_dense(y, x, group, NULL, beta_mean, beta_sd,
                                sigma, sd))
  }
  inner <- function(sd) {
    vapply(sd, function(s) {
      stats::integrate(function(sigma) {
        vapply(sigma, likelihood, numeric(1), sd = s) *
          stats::dexp(sigma, 1)
      }, 0, Inf, rel.tol = 1e-9)$value * 2 * stats::dnorm(s)
    }, numeric(1))
  }
  nested <- stats::integrate(inner, 0, Inf, rel.tol = 1e-8)$value
  expect_equal(exp(as.numeric(exact)), nested, tolerance = 1e-6)
})

test_that("the quadrature agrees with Monte Carlo over the priors", {
  # Random intercept and an uncorrelated random slope: three variance
  # parameters, drawn from their priors 1e6 times; beta and u integrated
  # analytically (checked against the dense form above).
  small <- small_lmm_design()
  beta_mean <- c(0.5, -0.2)
  beta_sd <- c(2, 1.5)
  sigma_prior <- exponential_prior(1)
  sd_priors <- list(half_normal_prior(1.5), half_student_t_prior(3, 0.5))
  exact <- exact_lmm_log_ml(small$y, small$x, small$group, beta_mean,
                            beta_sd, sd_priors, sigma_prior,
                            z = small$z_slope)
  expect_lt(attr(exact, "change"), 1e-7)
  design <- exact_lmm_design(small$x, small$group, small$z_slope)
  stats <- exact_lmm_response_stats(design, small$y, beta_mean)
  set.seed(29)
  draws <- 1e6
  sigma <- stats::rexp(draws, 1)
  sds <- cbind(abs(stats::rnorm(draws, 0, 1.5)),
               abs(stats::rt(draws, 3)) * 0.5)
  likelihood <- exp(exact_lmm_log_lik_at(design, stats, beta_sd, sigma, sds))
  estimate <- mean(likelihood)
  standard_error <- stats::sd(likelihood) / sqrt(draws)
  expect_lt(abs(exp(as.numeric(exact)) - estimate), 4 * standard_error)
  expect_lt(standard_error / estimate, 0.01)
})

# The Orthodont comparison of the issue: 27 children x 4 ages, with the
# intercept of the uncentred model matrix (deepbmc's semantics).
orthodont_lmm <- function(data = nlme::Orthodont) {
  data <- as.data.frame(data)
  list(
    data = data,
    x_null = stats::model.matrix(~ age, data),
    x_sex = stats::model.matrix(~ age + Sex, data),
    sd_priors = list(half_normal_prior(5)),
    sigma_prior = exponential_prior(0.5)
  )
}

test_that("Orthodont's exact PMP of Sex is the issue's 0.914", {
  skip_if_not_installed("nlme")
  ortho <- orthodont_lmm()
  y <- ortho$data$distance
  log_mls <- c(
    null = exact_lmm_log_ml(y, ortho$x_null, ortho$data$Subject, c(20, 0),
                            c(10, 3), ortho$sd_priors, ortho$sigma_prior),
    sex = exact_lmm_log_ml(y, ortho$x_sex, ortho$data$Subject, c(20, 0, 0),
                           c(10, 3, 3), ortho$sd_priors, ortho$sigma_prior)
  )
  expect_lt(abs(exact_pmp(log_mls)[["sex"]] - 0.914), 0.005)
  # Doubling the nodes once more changes the marginal likelihood by less
  # than 1e-6 (relative).
  again <- exact_lmm_log_ml(y, ortho$x_sex, ortho$data$Subject, c(20, 0, 0),
                            c(10, 3, 3), ortho$sd_priors, ortho$sigma_prior,
                            nodes = 64, tolerance = 1e-9)
  expect_lt(abs(again - log_mls[["sex"]]), 1e-6)
})

test_that("exact PMPs are calibrated on deepbmc's Orthodont simulations", {
  skip_if_not_installed("nlme")
  # If the reference's model differed from what deepbmc simulates (the
  # intercept's centring, a prior's scale or rate), its PMPs would not be
  # the probabilities of the true model among these data sets.
  ortho <- orthodont_lmm()
  priors <- c(
    hier_prior(normal(20, 10), class = "Intercept"),
    hier_prior(normal(0, 3), class = "b"),
    hier_prior(half_normal(5), class = "sd"),
    hier_prior(exponential(0.5), class = "sigma")
  )
  set <- model_set(
    null = hier_model(distance ~ age + (1 | Subject), ortho$data,
                      prior = priors),
    sex = hier_model(distance ~ age + Sex + (1 | Subject), ortho$data,
                     prior = priors)
  )
  sims <- simulate_datasets(set, n = 2000, seed = 2929, threads = 1)
  datasets <- sims$data
  # Fixed design: every data set has the template's covariates and groups.
  simulated <- orthodont_lmm(datasets[[1]])
  expect_equal(unname(simulated$x_sex), unname(ortho$x_sex))
  group <- simulated$data$Subject
  same_groups <- unique(paste(group, ortho$data$Subject))
  expect_length(same_groups, nlevels(factor(ortho$data$Subject)))
  design_null <- exact_lmm_design(simulated$x_null, group)
  design_sex <- exact_lmm_design(simulated$x_sex, group)
  responses <- vapply(datasets, function(data) data$distance,
                      numeric(nrow(ortho$data)))
  # One shared grid for all data sets; coarse enough for speed, fine enough
  # for PMPs to about 1e-3 (below, against the adaptive quadrature).
  grid_log_ml <- function(design, beta_mean, beta_sd, columns) {
    exact_lmm_log_ml_grid(responses[, columns, drop = FALSE], design,
                          beta_mean, beta_sd, ortho$sd_priors,
                          ortho$sigma_prior, step = 0.15,
                          prior_tail = c(1e-4, 1e-8))
  }
  all_sets <- seq_along(datasets)
  pmp_sex <- stats::plogis(
    grid_log_ml(design_sex, c(20, 0, 0), c(10, 3, 3), all_sets) -
      grid_log_ml(design_null, c(20, 0), c(10, 3), all_sets)
  )
  adaptive <- vapply(1:5, function(i) {
    log_ml <- function(design, beta_mean, beta_sd) {
      exact_lmm_log_ml(responses[, i], beta_mean = beta_mean,
                       beta_sd = beta_sd, sd_priors = ortho$sd_priors,
                       sigma_prior = ortho$sigma_prior, design = design)
    }
    exact_pmp(c(log_ml(design_null, c(20, 0), c(10, 3)),
                log_ml(design_sex, c(20, 0, 0), c(10, 3, 3))))[[2]]
  }, numeric(1))
  expect_lt(max(abs(pmp_sex[1:5] - adaptive)), 1e-3)
  is_sex <- sims$model == 2L
  # The prior predictive covariance tells the semantics apart sharply: with
  # centred covariates the intercept's and age's variances would not grow
  # with age (0.9 or more off in correlation units, against about 0.1 of
  # sampling error here). E(sd^2) = 5^2 and E(sigma^2) = 2 / 0.5^2.
  indicator <- stats::model.matrix(~ 0 + factor(group))
  implied <- ortho$x_sex %*% (c(100, 9, 9) * t(ortho$x_sex)) +
    25 * tcrossprod(indicator) + 8 * diag(nrow(ortho$data))
  observed <- stats::cov(t(responses[, is_sex]))
  scale <- sqrt(outer(diag(implied), diag(implied)))
  expect_lt(max(abs(observed - implied) / scale), 0.25)
  # Over all data sets: E[1(sex) | y] = PMP(y).
  z <- sum(is_sex - pmp_sex) / sqrt(sum(pmp_sex * (1 - pmp_sex)))
  expect_lt(abs(z), stats::qnorm(0.9995))
  # In the bin [0.6, 0.9] the share from the Sex model is the bin's mean
  # PMP, within the binomial 99% interval (conservative for PMPs that vary).
  in_bin <- pmp_sex >= 0.6 & pmp_sex <= 0.9
  n_bin <- sum(in_bin)
  expect_gt(n_bin, 30)
  limits <- stats::qbinom(c(0.005, 0.995), n_bin, mean(pmp_sex[in_bin]))
  expect_gte(sum(is_sex[in_bin]), limits[1])
  expect_lte(sum(is_sex[in_bin]), limits[2])
})
