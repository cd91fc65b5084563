test_tier("full")
# The Stan programs of Study 1 (inst/stan/study1_m0.stan, study1_m1.stan), the
# rstan + bridgesampling peer of deepbmc (bench/peer_bridge.R). Their log
# density must be the complete log joint density, with all normalising
# constants, for bridge sampling to return exact log marginal likelihoods.
#
# The two programs compile at -O0, both at once (helper-stan.R).

study1_stan_path <- function(model) {
  file <- paste0("study1_", tolower(model), ".stan")
  path <- system.file("stan", file, package = "deepbmc")
  if (!nzchar(path)) {
    # Installed package without the programs: use the source tree.
    path <- test_path("..", "..", "inst", "stan", file)
  }
  skip_if_not(file.exists(path), paste("cannot find", file))
  path
}

# Only evaluated (log_prob), never sampled from here: compiled at -O0, both
# at once, once per test run (helper-stan.R).
study1_program <- function(model) {
  test_stan_program(file = study1_stan_path(model),
                    name = paste0("study1_", model), optimize = FALSE)
}

study1_model <- function(model) {
  test_stan_model(study1_program(model))
}

# log p(x, theta, mu, sigma2, tau2 | M) written out in R.
study1_log_joint_r <- function(x, group, theta, sigma2, tau2, mu = 0,
                               model = "M1") {
  sum(stats::dnorm(x, theta[group], sqrt(sigma2), log = TRUE)) +
    sum(stats::dnorm(theta, mu, sqrt(tau2), log = TRUE)) +
    (if (model == "M1") stats::dnorm(mu, 0, 1, log = TRUE) else 0) +
    stats::dnorm(sigma2, 0, 1, log = TRUE) + log(2) +
    stats::dnorm(tau2, 0, 1, log = TRUE) + log(2)
}

# The same with the group means non-centred: theta = mu + sqrt(tau2) * z and
# z ~ N(0, 1) in place of theta ~ N(mu, tau2).
study1_log_joint_r_noncentred <- function(x, group, z, sigma2, tau2, mu = 0,
                                          model = "M1") {
  theta <- mu + sqrt(tau2) * z
  sum(stats::dnorm(x, theta[group], sqrt(sigma2), log = TRUE)) +
    sum(stats::dnorm(z, 0, 1, log = TRUE)) +
    (if (model == "M1") stats::dnorm(mu, 0, 1, log = TRUE) else 0) +
    stats::dnorm(sigma2, 0, 1, log = TRUE) + log(2) +
    stats::dnorm(tau2, 0, 1, log = TRUE) + log(2)
}

# The log density of `model` at the given values, from rstan's log_prob() on a
# stanfit without draws.
study1_log_prob_stan <- function(model, data, pars, adjust_transform = FALSE) {
  fit <- suppressMessages(suppressWarnings(
    rstan::sampling(study1_model(model), data = data, chains = 0)
  ))
  upars <- rstan::unconstrain_pars(fit, pars)
  rstan::log_prob(fit, upars, adjust_transform = adjust_transform)
}

test_that("the Study 1 Stan programs parse", {
  skip_on_cran()
  skip_if_not_installed("rstan")
  for (model in c("M0", "M1")) {
    parsed <- rstan::stanc(study1_stan_path(model),
                           model_name = paste0("study1_", model))
    expect_true(parsed$status, label = paste(model, "parses"))
  }
})

test_that("both Study 1 programs compile, at once", {
  skip_on_cran()
  skip_if_not_installed("rstan")
  expect_stan_programs_compile(lapply(c("M0", "M1"), study1_program))
})

test_that("the Study 1 Stan log densities keep every normalising constant", {
  skip_on_cran()
  skip_if_not_installed("rstan")
  skip_if_not_installed("withr")

  # Unbalanced groups (3, 1 and 4 observations) and a balanced 4 x 5 data set.
  set.seed(11)
  unbalanced <- list(x = c(0.3, -1.2, 2.5, 0.7, 1.9, -0.4, 0.1, 3.2),
                     group = c(1L, 1L, 1L, 2L, 3L, 3L, 3L, 3L))
  balanced <- list(x = round(stats::rnorm(20, 0.5, 1.3), 3),
                   group = rep(1:4, each = 5))
  values <- list(
    list(sigma2 = 0.8, tau2 = 1.7, mu = 0.4),
    list(sigma2 = 0.05, tau2 = 2.6, mu = -1.3),
    list(sigma2 = 3.1, tau2 = 0.01, mu = 2.2)
  )
  for (d in list(unbalanced, balanced)) {
    L <- max(d$group)
    for (centred in c(TRUE, FALSE)) {
      data <- list(L = L, n_obs = length(d$x), group = d$group, x = d$x,
                   centred = as.integer(centred))
      for (v in values) {
        # eta: the group means theta (centred) or z (non-centred)
        eta <- round(stats::rnorm(L, if (centred) v$mu else 0, 1), 3)
        for (model in c("M0", "M1")) {
          mu <- if (model == "M1") v$mu else 0
          pars <- list(sigma2 = v$sigma2, tau2 = v$tau2, eta = as.array(eta))
          if (model == "M1") pars$mu <- mu
          expected <- if (centred) {
            study1_log_joint_r(d$x, d$group, eta, v$sigma2, v$tau2,
                               mu = mu, model = model)
          } else {
            study1_log_joint_r_noncentred(d$x, d$group, eta, v$sigma2,
                                          v$tau2, mu = mu, model = model)
          }
          label <- sprintf("%s log density (L = %d, %s, sigma2 = %g)", model,
                           L, if (centred) "centred" else "non-centred",
                           v$sigma2)
          stan <- study1_log_prob_stan(model, data, pars)
          expect_equal(stan, expected, tolerance = 1e-10, label = label)
          # With the Jacobians of the log transforms of sigma2 and tau2 (the
          # density Stan samples and bridgesampling uses on the unconstrained
          # scale).
          stan_jacobian <- study1_log_prob_stan(model, data, pars,
                                                adjust_transform = TRUE)
          expect_equal(stan_jacobian,
                       expected + log(v$sigma2) + log(v$tau2),
                       tolerance = 1e-10, label = paste(label, "with Jacobian"))
        }
      }
    }
  }
})
