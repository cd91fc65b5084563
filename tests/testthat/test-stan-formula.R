test_tier("full")
# The Stan programs generated for formula models (R/formula-stan.R): each
# family's program parses, and its log density at given parameter values is
# the complete log joint density computed independently in R (dnorm, dbinom,
# dpois, dlnorm, the LKJ density). Then bridge_compare() end to end, with
# deepbmc's programs and with the user's own stanfits.
#
# Compiles fifteen programs (about half a minute to a minute each with rstan
# 2.21), each once per test run and two at a time, at the start
# (helper-stan.R). Then the same results on parallel workers, and two brms
# programs (two more compilations) whose log marginal likelihoods agree with
# deepbmc's.

stan_formula_design <- function() {
  set.seed(5)
  n_groups <- 5
  per_group <- 4
  n <- n_groups * per_group
  data.frame(
    y = round(stats::rnorm(n, 1, 2), 3),
    x = round(stats::rnorm(n), 3),
    g = factor(rep(seq_len(n_groups), each = per_group)),
    n = rep(c(3L, 5L), length.out = n),
    k = stats::rbinom(n, 3, 0.4),
    count = stats::rpois(n, 3),
    b = stats::rbinom(n, 1, 0.5),
    rt = round(exp(stats::rnorm(n, -0.5, 0.3)), 3),
    prop = round(stats::rbeta(n, 2, 3), 3)
  )
}

stan_formula_models <- function() {
  d <- stan_formula_design()
  list(
    # random intercept, Student-t intercept prior, half-t sd
    gaussian = hier_model(
      y ~ 1 + x + (1 | g), d,
      prior = c(hier_prior("student_t(4, 1, 3)", class = "Intercept"),
                hier_prior("normal(0, 2)", class = "b"),
                hier_prior("half_student_t(3, 2)", class = "sd"),
                hier_prior("exponential(0.5)", class = "sigma"))
    ),
    # correlated intercepts and slopes with an LKJ(2) prior
    bernoulli = hier_model(
      b ~ 1 + x + (1 + x | g), d, family = "bernoulli",
      prior = c(hier_prior("lkj(2)", class = "cor"),
                hier_prior("exponential(1.5)", class = "sd", coef = "x"))
    ),
    # probit link, a constant coefficient
    binomial = hier_model(
      k | trials(n) ~ 1 + x + (1 | g), d, family = binomial(link = "probit"),
      prior = hier_prior("constant(0.3)", class = "b", coef = "x")
    ),
    # uncorrelated intercepts and slopes
    poisson = hier_model(count ~ 1 + x + (1 + x || g), d, family = poisson()),
    # variance priors on sd and sigma (as in Study 1)
    lognormal = hier_model(
      rt ~ 1 + x + (1 | g), d, family = "lognormal",
      prior = c(hier_prior("half_normal_variance(1)", class = "sd"),
                hier_prior("half_normal_variance(0.5)", class = "sigma"))
    ),
    # a uniform coefficient and sd (bounded parameters), a gamma nu
    student = hier_model(
      y ~ 1 + x + (1 | g), d, family = "student",
      prior = c(hier_prior("uniform(-1, 2)", class = "b", coef = "x"),
                hier_prior("uniform(0.05, 3)", class = "sd"))
    ),
    # a beta prior on the sd (bounded by 1), sqrt link
    poisson_sqrt = hier_model(
      count ~ 1 + x + (1 | g), d, family = poisson(link = "sqrt"),
      prior = c(hier_prior("normal(1.7, 0.3)", class = "Intercept"),
                hier_prior("beta(2, 3)", class = "sd"))
    ),
    negbinomial = hier_model(
      count ~ 1 + x + (1 + x || g), d, family = "negbinomial",
      prior = hier_prior("uniform(0.5, 10)", class = "shape")
    ),
    gamma = hier_model(
      rt ~ 1 + x + (1 | g), d, family = Gamma(link = "log"),
      prior = hier_prior("gamma(3, 0.5)", class = "sd")
    ),
    beta = hier_model(
      prop ~ 1 + x + (1 | g), d, family = "beta",
      prior = hier_prior("exponential(0.1)", class = "phi")
    )
  )
}

# `optimize = FALSE` for programs that are only evaluated (log_prob), never
# sampled from (helper-stan.R).
stan_formula_program <- function(model, optimize = TRUE) {
  test_stan_program(stan_code(model), "test_formula", optimize = optimize)
}

stan_formula_compiled <- function(model, optimize = TRUE) {
  test_stan_model(stan_formula_program(model, optimize))
}

# log p(prior) of one parameter from a row of the model's prior table,
# written from the distributions' definitions.
r_prior_density <- function(row, value) {
  # The exact numbers (the `prior` text shows them rounded).
  args <- c(row$p1, row$p2, row$p3)
  switch(row$distribution,
    constant = 0,
    normal = stats::dnorm(value, args[[1]], args[[2]], log = TRUE),
    student_t = stats::dt((value - args[[2]]) / args[[3]], args[[1]],
                          log = TRUE) - log(args[[3]]),
    half_normal = log(2) + stats::dnorm(value, 0, args[[1]], log = TRUE),
    half_student_t = log(2) + stats::dt(value / args[[2]], args[[1]],
                                        log = TRUE) - log(args[[2]]),
    exponential = stats::dexp(value, args[[1]], log = TRUE),
    # sd = sqrt(v), v ~ Half-Normal(0, s): p(sd) = p_v(sd^2) * 2 sd
    half_normal_variance = log(2) + stats::dnorm(value^2, 0, args[[1]],
                                                 log = TRUE) + log(2 * value),
    uniform = stats::dunif(value, args[[1]], args[[2]], log = TRUE),
    gamma = stats::dgamma(value, args[[1]], args[[2]], log = TRUE),
    beta = stats::dbeta(value, args[[1]], args[[2]], log = TRUE)
  )
}

# LKJ(eta) density of a 2 x 2 correlation matrix: (r + 1) / 2 is
# Beta(eta, eta); for K = 2 the Cholesky factor's free element is r itself.
r_lkj2 <- function(r, eta) {
  stats::dbeta((r + 1) / 2, eta, eta, log = TRUE) - log(2)
}

# The complete log joint density of `model` at `values` (beta: all
# coefficients including constants; sd; r: correlation; sigma; z: Q x G).
r_log_joint <- function(model, data, values) {
  prior <- model$prior
  x_names <- colnames(model$x)
  z_names <- deepbmc:::coef_name(colnames(model$z))
  total <- 0
  for (j in seq_along(x_names)) {
    row <- if (x_names[[j]] == "(Intercept)") {
      prior[prior$class == "Intercept", ]
    } else {
      prior[prior$class == "b" & prior$coef == x_names[[j]], ]
    }
    total <- total + r_prior_density(row, values$beta[[j]])
  }
  for (j in seq_along(z_names)) {
    row <- prior[prior$class == "sd" & prior$coef == z_names[[j]], ]
    total <- total + r_prior_density(row, values$sd[[j]])
  }
  q <- length(z_names)
  chol <- diag(q)
  if (!is.null(values$r)) {
    eta_cor <- prior$p1[prior$class == "cor"]
    total <- total + r_lkj2(values$r, eta_cor)
    chol <- t(chol(matrix(c(1, values$r, values$r, 1), 2)))
  }
  if (!is.null(values$sigma)) {
    total <- total + r_prior_density(prior[prior$class == "sigma", ],
                                     values$sigma)
  }
  aux_class <- deepbmc:::family_info(model$family)$aux
  if (!is.null(aux_class)) {
    row <- prior[prior$class == aux_class, ]
    total <- total + r_prior_density(row, values$aux)
    # nu's prior is truncated at 1, as in brms (the test's is a gamma)
    if (aux_class == "nu") {
      stopifnot(row$distribution == "gamma")
      total <- total - stats::pgamma(1, row$p1, row$p2, lower.tail = FALSE,
                                     log.p = TRUE)
    }
  }
  total <- total + sum(stats::dnorm(values$z, log = TRUE))
  u <- t(diag(values$sd, q) %*% chol %*% values$z)      # G x Q
  eta <- drop(data$X %*% values$beta) + rowSums(data$Z * u[data$g, , drop = FALSE])
  mu <- switch(model$family$link, log = exp(eta), sqrt = eta^2,
               logit = stats::plogis(eta), probit = stats::pnorm(eta), eta)
  total + switch(model$family$family,
    gaussian = sum(stats::dnorm(data$y, eta, values$sigma, log = TRUE)),
    student = sum(stats::dt((data$y - eta) / values$sigma, values$aux,
                            log = TRUE) - log(values$sigma)),
    negbinomial = sum(stats::dnbinom(data$y, size = values$aux, mu = mu,
                                     log = TRUE)),
    gamma = sum(stats::dgamma(data$y, values$aux, values$aux / mu,
                              log = TRUE)),
    beta = sum(stats::dbeta(data$y, mu * values$aux, (1 - mu) * values$aux,
                            log = TRUE)),
    lognormal = sum(stats::dlnorm(data$y, eta, values$sigma, log = TRUE)),
    bernoulli = sum(stats::dbinom(data$y, 1, stats::plogis(eta), log = TRUE)),
    binomial = sum(stats::dbinom(data$y, data$trials, stats::pnorm(eta),
                                 log = TRUE)),
    poisson = sum(stats::dpois(data$y, mu, log = TRUE))
  )
}

# Parameter values in the layout of the Stan program (free parameters only).
stan_pars <- function(model, values) {
  spec <- deepbmc:::compile_model(model, list(x = model$x, z = model$z))
  pars <- list(z = values$z)
  # Free parameters: a vector of those with the class's support, scalars
  # <name>_<j> for uniform and beta priors (bounded).
  add_class <- function(prior, value, name) {
    bounded <- prior$kind %in% deepbmc:::prior_codes[c("uniform", "beta")]
    free <- prior$kind != 0 & !bounded
    if (any(free)) pars[[name]] <<- as.array(value[free])
    for (j in which(bounded)) pars[[paste0(name, "_", j)]] <<- value[[j]]
  }
  add_class(spec$b_prior, values$beta, "b")
  add_class(spec$sd_prior, values$sd, "sd_free")
  if (!is.null(values$r)) {
    pars$L_cor <- t(chol(matrix(c(1, values$r, values$r, 1), 2)))
  }
  if (!is.null(values$sigma)) add_class(spec$sigma_prior, values$sigma,
                                        "sigma_free")
  if (!is.null(values$aux)) add_class(spec$aux_prior, values$aux, "aux_free")
  pars
}

stan_log_density <- function(compiled, data, pars) {
  fit <- suppressMessages(suppressWarnings(
    rstan::sampling(compiled, data = data, chains = 0)
  ))
  rstan::log_prob(fit, rstan::unconstrain_pars(fit, pars),
                  adjust_transform = FALSE)
}

# A Poisson model without group effects, with an offset (issue 19).
stan_offset_design <- function() {
  d <- stan_formula_design()
  d$exposure <- withr::with_seed(6, round(exp(stats::rnorm(nrow(d))), 3))
  d
}
stan_offset_model <- function() {
  hier_model(count ~ 1 + x + offset(log(exposure)), stan_offset_design(),
             family = poisson(),
             prior = hier_prior("normal(0, 1.5)", class = "b"))
}

# A Poisson model with an observation-level effect (issue 19).
stan_olre_design <- function() {
  d <- stan_formula_design()
  d$obs <- seq_len(nrow(d))
  d
}
stan_olre_model <- function() {
  hier_model(
    count ~ 1 + x + (1 | g) + (1 | obs), stan_olre_design(), family = poisson(),
    prior = c(hier_prior("exponential(2)", class = "sd", group = "obs"),
              hier_prior("normal(0, 1)", class = "b"))
  )
}

# The null model of the gaussian pair (stan_formula_pair()).
stan_formula_pair_null <- function() {
  hier_model(
    y ~ 1 + (1 | g), stan_formula_design(),
    prior = c(hier_prior("student_t(4, 1, 3)", class = "Intercept"),
              hier_prior("half_student_t(3, 2)", class = "sd"),
              hier_prior("exponential(0.5)", class = "sigma"))
  )
}

# Every program this file compiles: each family's (only the gaussian one is
# sampled from, in the bridge tests), the two of issue 19, and the null
# model of the bridge pair.
stan_formula_all_programs <- function() {
  models <- stan_formula_models()
  families <- lapply(names(models), function(family) {
    stan_formula_program(models[[family]], optimize = family == "gaussian")
  })
  pair <- model_set(null = stan_formula_pair_null(), slope = models$gaussian)
  bridged <- lapply(deepbmc:::stan_programs(pair), function(p) {
    test_stan_program(p$code, p$name)
  })
  c(families,
    list(stan_formula_program(stan_offset_model(), optimize = FALSE),
         stan_formula_program(stan_olre_model(), optimize = FALSE)),
    bridged)
}

test_that("every program of this file compiles, two at a time", {
  skip_on_cran()
  skip_if_not_installed("rstan")
  skip_if_not_installed("withr")
  expect_stan_programs_compile(stan_formula_all_programs())
})

test_that("the generated programs parse", {
  skip_on_cran()
  skip_if_not_installed("rstan")
  for (family in names(stan_formula_models())) {
    code <- stan_code(stan_formula_models()[[family]])
    parsed <- rstan::stanc(model_code = unclass(code),
                           model_name = paste0("formula_", family))
    expect_true(parsed$status, label = paste(family, "parses"))
  }
})

test_that("the generated log densities equal the R log joint densities", {
  skip_on_cran()
  skip_if_not_installed("rstan")
  skip_if_not_installed("withr")
  models <- stan_formula_models()
  d <- stan_formula_design()
  set.seed(17)
  for (family in names(models)) {
    model <- models[[family]]
    # the gaussian program is sampled from in the bridge tests below
    compiled <- stan_formula_compiled(model, optimize = family == "gaussian")
    data <- deepbmc:::formula_stan_data(model, d)
    q <- ncol(model$z)
    for (draw in 1:3) {
      values <- list(
        beta = round(stats::rnorm(ncol(model$x), 0, 0.7), 3),
        sd = round(stats::runif(q, 0.1, 2), 3),
        z = matrix(round(stats::rnorm(q * data$G), 3), q, data$G)
      )
      if (family == "binomial") values$beta[[2]] <- 0.3
      if (family == "bernoulli") values$r <- round(stats::runif(1, -0.9, 0.9), 3)
      if (family %in% c("gaussian", "lognormal", "student")) {
        values$sigma <- round(stats::runif(1, 0.2, 2), 3)
      }
      if (family %in% c("student", "negbinomial", "gamma", "beta")) {
        values$aux <- round(stats::runif(1, 1, 9), 3)
      }
      # inside the uniform and beta priors' supports
      if (family == "student") values$beta[[2]] <- round(stats::runif(1, -1, 2), 3)
      if (family == "poisson_sqrt") values$sd <- round(stats::runif(q, 0.05, 0.95), 3)
      expected <- r_log_joint(model, data, values)
      stan <- stan_log_density(compiled, data, stan_pars(model, values))
      expect_equal(stan, expected, tolerance = 1e-8,
                   label = paste(family, "draw", draw))
    }
  }
})

test_that("compiled models are cached and survive saveRDS()/readRDS()", {
  skip_on_cran()
  skip_if_not_installed("rstan")
  skip_if_not_installed("withr")
  model <- stan_formula_models()$gaussian
  compiled <- stan_formula_compiled(model)
  again <- deepbmc:::stan_compiled(stan_code(model), "test_formula")
  expect_equal(again$seconds, 0)
  file <- withr::local_tempfile(fileext = ".rds")
  saveRDS(compiled, file)
  restored <- readRDS(file)
  expect_true(deepbmc:::stan_model_ok(restored))
  data <- deepbmc:::formula_stan_data(model, stan_formula_design())
  values <- list(beta = c(0.5, -0.2), sd = 0.7, sigma = 1.3,
                 z = matrix(seq(-1, 1, length.out = data$G), 1))
  expect_equal(
    stan_log_density(deepbmc:::stan_model_valid(restored), data,
                     stan_pars(model, values)),
    r_log_joint(model, data, values),
    tolerance = 1e-8
  )
})

# A gaussian pair, with and without the slope, a small network trained on it
# and two simulated data sets.
stan_formula_pair <- function() {
  set <- model_set(
    null = stan_formula_pair_null(),
    slope = stan_formula_models()$gaussian
  )
  fit <- train_comparison(set, api_network(), epochs = 1, iterations = 5,
                          batch_size = 8, seed = 1, progress = FALSE)
  list(set = set, fit = fit, sims = simulate_datasets(set, n = 2, seed = 4))
}

test_that("bridge_compare() runs deepbmc's programs and users' stanfits", {
  skip_on_cran()
  skip_if_not_installed("rstan")
  skip_if_not_installed("bridgesampling")
  skip_if_not_installed("withr")
  pair <- stan_formula_pair()
  set <- pair$set
  fit <- pair$fit
  sims <- pair$sims
  restore <- deepbmc:::use_system_boost()
  withr::defer(restore())
  result <- suppressMessages(bridge_compare(fit, sims, chains = 2,
                                            iter_warmup = 300, draws = 700,
                                            seed = 3))
  expect_s3_class(result, "deepbmc_bridge_comparison")
  expect_equal(nrow(result), 4)
  expect_equal(result$model, rep(c("null", "slope"), 2))
  expect_equal(unname(rowsum(result$pmp_bridge, result$data_set)[, 1]),
               c(1, 1))
  expect_equal(result$pmp_network,
               as.vector(t(post_prob(fit, sims))))
  expect_true(all(is.finite(result$logml)))
  expect_true(all(result$logml_error < 0.2))
  expect_named(attr(result, "compile_seconds"), c("null", "slope"))
  # The same models as the user's stanfits, sampled with the same settings
  # and seeds (seed + i - 1 for data set i): the same log marginal
  # likelihoods.
  programs <- deepbmc:::stan_programs(set)
  user_fits <- lapply(seq_along(sims$data), function(i) {
    lapply(programs, function(p) {
      suppressWarnings(rstan::sampling(
        deepbmc:::stan_compiled(p$code, p$name)$model,
        data = p$data(sims$data[[i]]), chains = 2, iter = 1000, warmup = 300,
        seed = 3 + i - 1, refresh = 0, control = list(adapt_delta = 0.95)
      ))
    })
  })
  # the user's random stream is left as it was
  set.seed(99)
  before <- .Random.seed
  own <- bridge_compare(fit, sims, fits = user_fits, seed = 3)
  expect_identical(.Random.seed, before)
  expect_equal(own$logml, result$logml, tolerance = 1e-8)
  expect_true(all(is.na(own$sample_seconds)))
  s <- summary(result)
  expect_equal(s$n_data_sets, 2)
})

test_that("bridge_compare() gives the same results on parallel workers", {
  skip_on_cran()
  skip_if_not_installed("rstan")
  skip_if_not_installed("bridgesampling")
  skip_if_not_installed("future.apply")
  skip_if_not_installed("withr")
  pair <- stan_formula_pair()
  restore <- deepbmc:::use_system_boost()
  withr::defer(restore())
  run <- function() {
    suppressMessages(bridge_compare(pair$fit, pair$sims, chains = 2,
                                    iter_warmup = 300, draws = 700,
                                    seed = 3))
  }
  sequential <- run()
  # Workers receive the compiled models from this session (cached above)
  # and must load or rebuild their compiled code.
  old_plan <- future::plan(future::multisession, workers = 2)
  withr::defer(future::plan(old_plan))
  parallel <- run()
  expect_equal(parallel$logml, sequential$logml, tolerance = 1e-10)
  expect_equal(parallel$pmp_bridge, sequential$pmp_bridge, tolerance = 1e-10)
  expect_equal(parallel$divergent, sequential$divergent)
})

test_that("bridge_compare() takes brmsfits, which agree with deepbmc's programs", {
  skip_on_cran()
  skip_if_not_installed("rstan")
  skip_if_not_installed("bridgesampling")
  skip_if_not_installed("brms")
  skip_if_not_installed("withr")
  pair <- stan_formula_pair()
  sims <- simulate_datasets(pair$set, n = 1, seed = 4)
  restore <- deepbmc:::use_system_boost()
  withr::defer(restore())
  settings <- list(chains = 2, iter_warmup = 500, draws = 2000)
  ours <- suppressMessages(bridge_compare(
    pair$fit, sims, chains = settings$chains,
    iter_warmup = settings$iter_warmup, draws = settings$draws, seed = 3
  ))
  # The same models written for brms, with brms's own Stan programs.
  # `0 + Intercept` puts the intercept prior on the uncentred intercept, as
  # in deepbmc; brms's student_t prior on sd is the half-t, normalised.
  shared <- c(
    brms::set_prior("student_t(4, 1, 3)", class = "b", coef = "Intercept"),
    brms::set_prior("student_t(3, 0, 2)", class = "sd"),
    brms::set_prior("exponential(0.5)", class = "sigma")
  )
  brm_fit <- function(formula, prior) {
    suppressWarnings(suppressMessages(brms::brm(
      formula, data = sims$data[[1]], prior = prior,
      save_pars = brms::save_pars(all = TRUE), chains = settings$chains,
      warmup = settings$iter_warmup,
      iter = settings$iter_warmup + settings$draws, seed = 3, refresh = 0,
      backend = "rstan", silent = 2,
      control = list(adapt_delta = 0.95)
    )))
  }
  brms_fits <- list(
    null = brm_fit(y ~ 0 + Intercept + (1 | g), shared),
    slope = brm_fit(y ~ 0 + Intercept + x + (1 | g),
                    c(shared, brms::set_prior("normal(0, 2)", class = "b",
                                              coef = "x")))
  )
  theirs <- bridge_compare(pair$fit, sims, fits = brms_fits, seed = 3)
  expect_equal(theirs$model, c("null", "slope"))
  expect_equal(theirs$pmp_network, ours$pmp_network)
  expect_true(all(is.na(theirs$sample_seconds)))
  # Two independent programs of one model: equal log marginal likelihoods
  # up to Monte Carlo error (about 0.01 each here).
  expect_lt(max(abs(theirs$logml - ours$logml)), 0.1)
  expect_lt(max(abs(theirs$pmp_bridge - ours$pmp_bridge)), 0.03)
})

test_that("programs without group effects, with offsets, give the R log density (issue 19)", {
  skip_on_cran()
  skip_if_not_installed("rstan")
  skip_if_not_installed("withr")
  d <- stan_offset_design()
  model <- stan_offset_model()
  code <- unclass(stan_code(model))
  expect_no_match(code, "sd_|std_normal|\\bZ\\b|\\bG\\b")
  expect_match(code, "eta = X * beta + eta_offset;", fixed = TRUE)
  data <- deepbmc:::formula_stan_data(model, d)
  expect_identical(names(data), c("N", "X", "eta_offset", "y"))
  compiled <- stan_formula_compiled(model, optimize = FALSE)
  set.seed(18)
  for (draw in 1:3) {
    beta <- round(stats::rnorm(2, 0, 0.7), 3)
    expected <- stats::dnorm(beta[[1]], 0, 2.5, log = TRUE) +
      stats::dnorm(beta[[2]], 0, 1.5, log = TRUE) +
      sum(stats::dpois(d$count, d$exposure * exp(beta[[1]] + beta[[2]] * d$x),
                       log = TRUE))
    stan <- stan_log_density(compiled, data, list(b = as.array(beta)))
    expect_equal(stan, expected, tolerance = 1e-8,
                 label = paste("no groups, offset, draw", draw))
  }
  # cbind() and trials() responses give one program (but for its comment)
  d$fails <- d$n - d$k
  as_cbind <- hier_model(cbind(k, fails) ~ 1 + x + (1 | g), d,
                         family = binomial())
  as_trials <- hier_model(k | trials(n) ~ 1 + x + (1 | g), d,
                          family = binomial())
  program <- function(model) {
    lines <- strsplit(unclass(stan_code(model)), "\n")[[1]]
    lines[!startsWith(lines, "//")]
  }
  expect_identical(program(as_cbind), program(as_trials))
  expect_identical(deepbmc:::formula_stan_data(as_cbind, d),
                   deepbmc:::formula_stan_data(as_trials, d))
})

test_that("an observation-level effect's program gives the R log density (issue 19)", {
  skip_on_cran()
  skip_if_not_installed("rstan")
  skip_if_not_installed("withr")
  d <- stan_olre_design()
  model <- stan_olre_model()
  code <- unclass(stan_code(model))
  expect_match(code, "vector[N] z_obs;", fixed = TRUE)
  expect_match(code, "eta += sd_obs_v[1] * z_obs;", fixed = TRUE)
  parsed <- rstan::stanc(model_code = code, model_name = "formula_olre")
  expect_true(parsed$status)
  data <- deepbmc:::formula_stan_data(model, d)
  # the data list is the one without the OLRE
  without <- hier_model(count ~ 1 + x + (1 | g), d, family = poisson())
  expect_identical(data, deepbmc:::formula_stan_data(without, d))
  compiled <- stan_formula_compiled(model, optimize = FALSE)
  set.seed(19)
  for (draw in 1:3) {
    beta <- round(stats::rnorm(2, 0, 0.7), 3)
    sd_g <- round(stats::runif(1, 0.1, 2), 3)
    sd_obs <- round(stats::runif(1, 0.1, 2), 3)
    z <- round(stats::rnorm(data$G), 3)
    z_obs <- round(stats::rnorm(data$N), 3)
    eta <- beta[[1]] + beta[[2]] * d$x + sd_g * z[data$g] + sd_obs * z_obs
    expected <- stats::dnorm(beta[[1]], 0, 2.5, log = TRUE) +
      stats::dnorm(beta[[2]], 0, 1, log = TRUE) +
      log(2) + stats::dnorm(sd_g, 0, 1, log = TRUE) +
      stats::dexp(sd_obs, 2, log = TRUE) +
      sum(stats::dnorm(z, log = TRUE)) + sum(stats::dnorm(z_obs, log = TRUE)) +
      sum(stats::dpois(d$count, exp(eta), log = TRUE))
    pars <- list(b = as.array(beta), sd_free = as.array(sd_g),
                 sd_obs_free = as.array(sd_obs), z = matrix(z, 1),
                 z_obs = as.array(z_obs))
    stan <- stan_log_density(compiled, data, pars)
    expect_equal(stan, expected, tolerance = 1e-8,
                 label = paste("OLRE, draw", draw))
  }
})

test_that("compare_models(fallback = \"bridge\") answers flagged data sets by bridge sampling", {
  skip_on_cran()
  skip_if_not_installed("rstan")
  skip_if_not_installed("bridgesampling")
  skip_if_not_installed("withr")
  pair <- stan_formula_pair()
  restore <- deepbmc:::use_system_boost()
  withr::defer(restore())
  settings <- list(chains = 2, iter_warmup = 300, draws = 700, seed = 3)
  # five steps of training vouch for no evidence: every data set is flagged
  expect_message(
    table <- compare_models(pair$fit, pair$sims, fallback = "bridge",
                            bridge = settings),
    "by bridge sampling"
  )
  answered <- table$method == "bridge sampling"
  expect_true(any(answered))
  expect_true(all(table$trust[!answered] == "ok"))
  expect_match(table$trust[answered], "; answered by bridge sampling$")
  flagged <- unique(table$data_set[answered])
  direct <- suppressMessages(do.call(
    bridge_compare, c(list(pair$fit, pair$sims$data[flagged]), settings)
  ))
  for (j in seq_along(flagged)) {
    rows <- table[table$data_set == flagged[[j]], ]
    reference <- direct[direct$data_set == j, ]
    expect_equal(rows$pmp, reference$pmp_bridge[match(rows$model,
                                                      reference$model)],
                 tolerance = 1e-10)
    expect_equal(rows$rank, seq_len(nrow(rows)))
    expect_true(all(is.na(rows$beyond_checked)))
  }
})
