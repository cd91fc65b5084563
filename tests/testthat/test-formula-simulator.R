test_tier("fast")
# The formula-model simulator (src/formula_models.cpp, src/distributions.h)
# against independent reference simulations written here in plain R (rnorm,
# rbinom, rpois, rbeta, ...), never the package. Specs are built by hand in the
# internal list format that models_spec() produces for formula model sets and
# passed straight to cpp_simulate().
#
# Distributions are checked by chi-square tests on ~20 bins of equal reference
# probability (p > 1e-4 at fixed seeds; a wrong distribution gives p ~ 0), and
# moments within 5 Monte Carlo standard errors estimated from the draws.

# ---- Spec builders ---------------------------------------------------------

fs_prior_codes <- c(constant = 0L, normal = 1L, student_t = 2L,
                    half_normal = 3L, half_student_t = 4L, exponential = 5L)

fs_prior <- function(kind, p1 = NA, p2 = NA, p3 = NA) {
  list(kind = fs_prior_codes[[kind]], p1 = as.double(p1), p2 = as.double(p2),
       p3 = as.double(p3))
}

# Several priors stacked into the vector form of b_prior and sd_prior.
fs_priors <- function(...) {
  priors <- list(...)
  list(
    kind = vapply(priors, `[[`, 1L, "kind"),
    p1 = vapply(priors, `[[`, 1, "p1"),
    p2 = vapply(priors, `[[`, 1, "p2"),
    p3 = vapply(priors, `[[`, 1, "p3")
  )
}

fs_model <- function(family, link, X, Z, b_prior = fs_priors(),
                     sd_prior = fs_priors(), correlated = FALSE, cor_eta = 1,
                     sigma_prior = fs_prior("constant", 0)) {
  list(
    family = c(gaussian = 0L, bernoulli = 1L, binomial = 2L, poisson = 3L,
               lognormal = 4L)[[family]],
    link = c(identity = 0L, logit = 1L, probit = 2L, log = 3L)[[link]],
    X = X, Z = Z, b_prior = b_prior, sd_prior = sd_prior,
    correlated = correlated, cor_eta = as.double(cor_eta),
    sigma_prior = sigma_prior
  )
}

fs_design <- function(group_sizes, covariates = NULL, observed = TRUE,
                      trials = 1L, resample = FALSE,
                      groups = rep(length(group_sizes), 2)) {
  n <- sum(group_sizes)
  if (is.null(covariates)) covariates <- matrix(0, n, 0)
  list(
    group_offsets = as.integer(c(0, cumsum(group_sizes))),
    observed = rep_len(as.logical(observed), n),
    trials = rep_len(as.integer(trials), n),
    covariate_features = covariates,
    resample = resample,
    groups = as.integer(groups)
  )
}

fs_spec <- function(design, models, center = 0, scale = 1) {
  list(type = "formula", design = design,
       scaling = list(response_center = center, response_scale = scale),
       models = models)
}

fs_simulate <- function(spec, n, seed, threads = 2L) {
  deepbmc:::cpp_simulate(spec, as.integer(n), seed, as.integer(threads))
}

# Feature matrix of a batch: one row per simulated row.
fs_features <- function(batch) {
  matrix(batch$values, ncol = batch$n_features, byrow = TRUE)
}

# Simulated responses recovered from feature 1 by inverting the scaling, one
# column per data set (fixed designs: every data set has the template's rows).
fs_response <- function(batch, spec) {
  share <- fs_features(batch)[, 1] * spec$scaling$response_scale +
    spec$scaling$response_center
  matrix(share, ncol = length(batch$model)) * spec$design$trials
}

# ---- Checks ----------------------------------------------------------------

expect_mc_mean <- function(draws, target, label) {
  se <- sd(draws) / sqrt(length(draws))
  expect_lt(abs(mean(draws) - target), 5 * se + 1e-12, label = label)
}

# Counts recovered from float features are whole up to float precision.
expect_whole <- function(y, label = "counts") {
  expect_lt(max(abs(y - round(y)) / pmax(1, abs(y))), 1e-6, label = label)
}

expect_same_mean <- function(a, b, label) {
  se <- sqrt(var(a) / length(a) + var(b) / length(b))
  expect_lt(abs(mean(a) - mean(b)), 5 * se + 1e-12, label = label)
}

# Bins from reference quantiles at 1/20 steps; bins with less than 0.1% of
# the probability (possible for discrete laws) are merged into a neighbour.
fs_bins <- function(breaks, cdf) {
  breaks <- unique(breaks)
  repeat {
    p <- diff(c(0, cdf(breaks), 1))
    small <- which(p < 1e-3)
    if (length(small) == 0 || length(breaks) == 0) return(breaks)
    breaks <- breaks[-min(small[1], length(breaks))]
  }
}

# Chi-square goodness of fit of draws to a law given by cdf and quantile.
expect_fits <- function(draws, cdf, quantile, label) {
  breaks <- fs_bins(quantile(seq_len(19) / 20), cdf)
  expected <- length(draws) * diff(c(0, cdf(breaks), 1))
  observed <- as.vector(table(cut(draws, c(-Inf, breaks, Inf))))
  stat <- sum((observed - expected)^2 / expected)
  p <- pchisq(stat, length(expected) - 1, lower.tail = FALSE)
  expect_gt(p, 1e-4, label = paste(label, "(chi-square p-value)"))
}

# Two-sample chi-square test on 20 bins from the reference's quantiles.
expect_same_distribution <- function(draws, reference, label) {
  breaks <- unique(quantile(reference, seq_len(19) / 20, names = FALSE))
  bins <- function(x) as.vector(table(cut(x, c(-Inf, breaks, Inf))))
  p <- suppressWarnings(
    chisq.test(rbind(bins(draws), bins(reference)))$p.value
  )
  expect_gt(p, 1e-4, label = paste(label, "(two-sample chi-square p-value)"))
}

# ---- Plain-R reference simulation -------------------------------------------

ref_prior <- function(kind, p1, p2, p3, n) {
  switch(kind + 1L,
    rep(p1, n),
    rnorm(n, p1, p2),
    p2 + p3 * rt(n, p1),
    abs(rnorm(n, 0, p1)),
    p2 * abs(rt(n, p1)),
    rexp(n, p1)
  )
}

ref_priors <- function(priors, n) { # one row per prior, one column per set
  t(vapply(seq_along(priors$kind), function(j) {
    ref_prior(priors$kind[j], priors$p1[j], priors$p2[j], priors$p3[j], n)
  }, numeric(n)))
}

# n data sets of a model with Q = 2 (intercept and slope by group; LKJ in
# dimension 2: r = 2 Beta(eta, eta) - 1), as an N x n matrix of responses.
ref_simulate <- function(model, group, trials, n) {
  N <- nrow(model$X)
  G <- max(group)
  beta <- ref_priors(model$b_prior, n)
  sd <- ref_priors(model$sd_prior, n)
  r <- if (model$correlated) {
    2 * rbeta(n, model$cor_eta, model$cor_eta) - 1
  } else {
    rep(0, n)
  }
  z1 <- matrix(rnorm(G * n), G)
  z2 <- matrix(rnorm(G * n), G)
  u1 <- sweep(z1, 2, sd[1, ], `*`)
  u2 <- sweep(sweep(z1, 2, r, `*`) + sweep(z2, 2, sqrt(1 - r^2), `*`),
              2, sd[2, ], `*`)
  eta <- model$X %*% beta + model$Z[, 1] * u1[group, ] +
    model$Z[, 2] * u2[group, ]
  s <- model$sigma_prior
  sigma <- rep(ref_prior(s$kind, s$p1, s$p2, s$p3, n), each = N)
  inv_link <- switch(model$link + 1L, identity, plogis, pnorm, exp)
  mu <- inv_link(eta)
  y <- switch(model$family + 1L,
    rnorm(N * n, mu, sigma),
    rbinom(N * n, 1, mu),
    rbinom(N * n, trials, mu),
    rpois(N * n, mu),
    rlnorm(N * n, mu, sigma)
  )
  matrix(y, N)
}

# Per data set: mean and variance of the response (as a share of trials) and
# the between-group variance of its group means.
dataset_stats <- function(y, group, trials) {
  share <- y / trials
  col_var <- function(m) (colSums(m^2) - nrow(m) * colMeans(m)^2) / (nrow(m) - 1)
  group_means <- rowsum(share, group) / as.vector(table(group))
  list(mean = colMeans(share), var = col_var(share),
       between = col_var(group_means))
}

# ---- Samplers, through constant and single-parameter designs -----------------

test_that("normal draws follow N(0, 1), including the ziggurat's tail", {
  # P = 0, Q = 0: y = sigma * z with sigma fixed at 1.
  spec <- fs_spec(fs_design(5000L), list(
    fs_model("gaussian", "identity", matrix(0, 5000, 0), matrix(0, 5000, 0),
             sigma_prior = fs_prior("constant", 1))
  ))
  z <- fs_response(fs_simulate(spec, 1000, 1), spec)
  n <- length(z)
  expect_fits(z[, 1:60], pnorm, qnorm, "normal")
  expect_mc_mean(z, 0, "normal mean")
  expect_mc_mean(z^2, 1, "normal variance")
  expect_mc_mean(z^4, 3, "normal fourth moment")
  # Beyond the ziggurat's base layer (its tail sampler): the tail mass, and
  # the mean excess E[|Z| - R | |Z| > R] = phi(R) / (1 - Phi(R)) - R.
  R <- 3.442619855899
  tail <- 2 * pnorm(-R)
  expect_lt(abs(mean(abs(z) > R) - tail), 5 * sqrt(tail / n))
  excess <- abs(z[abs(z) > R]) - R
  expect_mc_mean(excess, dnorm(R) / pnorm(-R) - R, "mean excess in the tail")
  expect_fits(excess, function(q) 1 - pnorm(-R - q) / pnorm(-R),
              function(p) -qnorm((1 - p) * pnorm(-R)) - R, "tail")
})

test_that("every prior kind draws its distribution exactly", {
  # Row j has X[j, j] = 1 and nothing else, so y_j = beta_j.
  priors <- fs_priors(
    fs_prior("normal", 1, 2),
    fs_prior("student_t", 0.8, 0, 1), # chi-square with shape < 1: gamma boost
    fs_prior("student_t", 3, 1, 2),
    fs_prior("student_t", 30, -1, 0.5),
    fs_prior("half_normal", 2),
    fs_prior("half_student_t", 1.5, 1.5),
    fs_prior("exponential", 0.5),
    fs_prior("constant", 3)
  )
  spec <- fs_spec(fs_design(8L), list(
    fs_model("gaussian", "identity", diag(8), matrix(0, 8, 0), b_prior = priors)
  ))
  y <- fs_response(fs_simulate(spec, 20000, 2), spec)
  expect_fits(y[1, ], function(q) pnorm(q, 1, 2), function(p) qnorm(p, 1, 2),
              "normal(1, 2)")
  for (j in 2:4) {
    df <- priors$p1[j]
    loc <- priors$p2[j]
    scale <- priors$p3[j]
    expect_fits(y[j, ], function(q) pt((q - loc) / scale, df),
                function(p) loc + scale * qt(p, df),
                sprintf("student_t(%g, %g, %g)", df, loc, scale))
  }
  expect_fits(y[5, ], function(q) 2 * pnorm(q / 2) - 1,
              function(p) 2 * qnorm((1 + p) / 2), "half_normal(2)")
  expect_fits(y[6, ], function(q) 2 * pt(q / 1.5, 1.5) - 1,
              function(p) 1.5 * qt((1 + p) / 2, 1.5), "half_student_t(1.5, 1.5)")
  expect_fits(y[7, ], function(q) pexp(q, 0.5), function(p) qexp(p, 0.5),
              "exponential(0.5)")
  expect_true(all(y[8, ] == 3))
})

test_that("group-level sd and sigma take their priors", {
  # Z = I (one group): y_j = sd_j * z_j. Compared with the same products
  # simulated in R, and E[y_j^2] = E[sd_j^2].
  priors <- fs_priors(
    fs_prior("half_normal", 2),
    fs_prior("half_student_t", 5, 1.5),
    fs_prior("exponential", 0.5),
    fs_prior("constant", 0.7)
  )
  spec <- fs_spec(fs_design(4L), list(
    fs_model("gaussian", "identity", matrix(0, 4, 0), diag(4), sd_prior = priors)
  ))
  n <- 20000
  y <- fs_response(fs_simulate(spec, n, 3), spec)
  withr::local_seed(3)
  expect_same_distribution(y[1, ], abs(rnorm(n, 0, 2)) * rnorm(n), "half_normal(2)")
  expect_same_distribution(y[2, ], 1.5 * abs(rt(n, 5)) * rnorm(n), "half_t(5, 1.5)")
  expect_same_distribution(y[3, ], rexp(n, 0.5) * rnorm(n), "exponential(0.5)")
  expect_fits(y[4, ], function(q) pnorm(q, 0, 0.7), function(p) qnorm(p, 0, 0.7),
              "constant(0.7)")
  expect_mc_mean(y[1, ]^2, 4, "E[half_normal(2)^2]")
  expect_mc_mean(y[2, ]^2, 1.5^2 * 5 / 3, "E[half_t(5, 1.5)^2]")
  expect_mc_mean(y[3, ]^2, 2 / 0.5^2, "E[exponential(0.5)^2]")

  # sigma priors, gaussian and lognormal (two models of one set)
  spec <- fs_spec(fs_design(1L), list(
    fs_model("gaussian", "identity", matrix(0, 1, 0), matrix(0, 1, 0),
             sigma_prior = fs_prior("exponential", 1)),
    fs_model("lognormal", "identity", matrix(0, 1, 0), matrix(0, 1, 0),
             sigma_prior = fs_prior("half_student_t", 3, 1))
  ))
  batch <- fs_simulate(spec, 20000, 4)
  y <- as.vector(fs_response(batch, spec))
  gauss <- y[batch$model == 1]
  logn <- y[batch$model == 2]
  expect_true(all(logn > 0))
  expect_same_distribution(gauss, rexp(20000, 1) * rnorm(20000), "sigma exponential(1)")
  expect_same_distribution(log(logn), abs(rt(20000, 3)) * rnorm(20000),
                           "lognormal sigma half_t(3, 1)")
})

test_that("poisson draws are exact for small and large rates", {
  # One group of 50-row blocks; block b has intercept log(lambda_b), no
  # group effects, so every row is an independent Poisson(lambda_b) draw.
  # 100,000 draws per rate: a shift of the mean by 0.1 at lambda = 30 is 6 SE.
  lambdas <- c(0.5, 4, 10, 30, 500, 1e6)
  B <- length(lambdas)
  X <- diag(B)[rep(seq_len(B), each = 200), ]
  priors <- do.call(fs_priors, lapply(log(lambdas), function(m) fs_prior("constant", m)))
  spec <- fs_spec(fs_design(200L * B), list(
    fs_model("poisson", "log", X, matrix(0, 200 * B, 0), b_prior = priors)
  ))
  y <- fs_response(fs_simulate(spec, 500, 5), spec)
  expect_whole(y)
  y <- round(y)
  for (b in seq_len(B)) {
    draws <- as.vector(y[X[, b] == 1, ])
    lambda <- lambdas[b]
    expect_fits(draws, function(q) ppois(q, lambda), function(p) qpois(p, lambda),
                sprintf("poisson(%g)", lambda))
    expect_mc_mean(draws, lambda, sprintf("poisson(%g) mean", lambda))
    expect_mc_mean((draws - lambda)^2, lambda, sprintf("poisson(%g) variance", lambda))
  }
})

test_that("binomial draws are exact for small and large numbers of trials", {
  # Blocks of 100 rows (100,000 draws each) with their own trials and
  # success probability (logit link, constant intercept): inversion (n p
  # small), symmetry (p > 1/2) and the beta-order-statistic reduction (n p
  # large).
  cases <- data.frame(n = c(1, 7, 200, 2000, 3000), p = c(0.3, 0.8, 0.3, 0.6, 0.004))
  B <- nrow(cases)
  rows <- rep(seq_len(B), each = 100)
  X <- diag(B)[rows, ]
  priors <- do.call(fs_priors, lapply(qlogis(cases$p), function(m) fs_prior("constant", m)))
  spec <- fs_spec(fs_design(100L * B, trials = cases$n[rows]), list(
    fs_model("binomial", "logit", X, matrix(0, 100 * B, 0), b_prior = priors)
  ))
  y <- fs_response(fs_simulate(spec, 1000, 6), spec)
  expect_whole(y)
  y <- round(y)
  for (b in seq_len(B)) {
    draws <- as.vector(y[rows == b, ])
    n <- cases$n[b]
    p <- cases$p[b]
    expect_true(all(draws >= 0 & draws <= n))
    expect_fits(draws, function(q) pbinom(q, n, p), function(x) qbinom(x, n, p),
                sprintf("binomial(%g, %g)", n, p))
    expect_mc_mean(draws, n * p, sprintf("binomial(%g, %g) mean", n, p))
    expect_mc_mean((draws - n * p)^2, n * p * (1 - p),
                   sprintf("binomial(%g, %g) variance", n, p))
  }
})

# ---- Families ----------------------------------------------------------------

fs_template <- withr::with_seed(11, {
  G <- 20L
  per <- 8L
  x <- round(rnorm(G * per), 2)
  list(G = G, per = per, N = G * per, x = x, group = rep(seq_len(G), each = per),
       trials = sample(1:20, G * per, replace = TRUE))
})

test_that("every family matches a plain-R simulation of the same model", {
  tp <- fs_template
  X <- cbind(1, tp$x)
  slope_sd <- fs_priors(fs_prior("half_normal", 0.5), fs_prior("half_normal", 0.5))
  logit_b <- fs_priors(fs_prior("normal", 0.5, 0.5), fs_prior("normal", 0, 0.5))
  cases <- list(
    gaussian = fs_model(
      "gaussian", "identity", X, X,
      b_prior = fs_priors(fs_prior("student_t", 6, 1, 0.5), fs_prior("normal", 0.5, 0.5)),
      sd_prior = fs_priors(fs_prior("half_normal", 1), fs_prior("exponential", 2)),
      correlated = TRUE, cor_eta = 2, sigma_prior = fs_prior("half_normal", 0.5)
    ),
    bernoulli_logit = fs_model("bernoulli", "logit", X, X, logit_b, slope_sd),
    bernoulli_probit = fs_model("bernoulli", "probit", X, X, logit_b, slope_sd),
    binomial_logit = fs_model("binomial", "logit", X, X, logit_b, slope_sd),
    poisson_log = fs_model(
      "poisson", "log", X, X,
      b_prior = fs_priors(fs_prior("normal", 1, 0.3), fs_prior("normal", 0, 0.3)),
      sd_prior = fs_priors(fs_prior("half_normal", 0.3), fs_prior("half_normal", 0.3))
    ),
    lognormal = fs_model(
      "lognormal", "identity", X, X,
      b_prior = fs_priors(fs_prior("normal", 0, 0.5), fs_prior("normal", 0, 0.3)),
      sd_prior = fs_priors(fs_prior("half_normal", 0.3), fs_prior("half_normal", 0.3)),
      sigma_prior = fs_prior("half_normal", 0.2)
    )
  )
  n <- 4000
  withr::local_seed(12)
  for (name in names(cases)) {
    model <- cases[[name]]
    trials <- if (name == "binomial_logit") tp$trials else rep(1L, tp$N)
    spec <- fs_spec(
      fs_design(rep(tp$per, tp$G), covariates = cbind(tp$x), trials = trials),
      list(model), center = 0.2, scale = 1.5
    )
    batch <- fs_simulate(spec, n, 13)
    y <- fs_response(batch, spec)
    if (model$family %in% 1:3) {
      expect_whole(y)
      y <- round(y)
    }
    ours <- dataset_stats(y, tp$group, trials)
    ref <- dataset_stats(ref_simulate(model, tp$group, trials, n), tp$group, trials)
    for (stat in names(ours)) {
      expect_same_mean(ours[[stat]], ref[[stat]], paste(name, stat))
      expect_same_mean(ours[[stat]]^2, ref[[stat]]^2, paste(name, stat, "squared"))
    }
  }
  # logit and probit differ at this prior (plogis(0.5) = 0.62, pnorm(0.5) = 0.69)
  expect_gt(abs(pnorm(0.5) - plogis(0.5)), 0.05)
})

# ---- Correlated group effects (LKJ) ------------------------------------------

# E[rhat^2] for the sample correlation of G pairs whose correlation r has
# (r + 1) / 2 ~ Beta(a, a): E[rhat^2 | r] = r^2 + (1 - r^2)(1 - 2 r^2) / G + O(G^-2).
lkj_rhat2 <- function(a, G) {
  integrate(function(b) {
    r <- 2 * b - 1
    (r^2 + (1 - r^2) * (1 - 2 * r^2) / G) * dbeta(b, a, a)
  }, 0, 1)$value
}

col_cor <- function(a, b) {
  a <- sweep(a, 2, colMeans(a))
  b <- sweep(b, 2, colMeans(b))
  colSums(a * b) / sqrt(colSums(a^2) * colSums(b^2))
}

test_that("correlated group effects follow LKJ(eta); uncorrelated ones are independent", {
  # Groups of 3 rows with Z = I_3 (or its first two columns), sigma 0: the
  # rows of group g are u_g exactly, and the correlation of u across the G
  # groups estimates the data set's correlation.
  G <- 200L
  Z3 <- diag(3)[rep(1:3, G), ]
  Z2 <- Z3[, 1:2]
  X0 <- matrix(0, 3 * G, 0)
  sd2 <- fs_priors(fs_prior("constant", 2), fs_prior("constant", 0.5))
  sd3 <- fs_priors(fs_prior("constant", 1), fs_prior("constant", 1), fs_prior("constant", 1))
  models <- list(
    fs_model("gaussian", "identity", X0, Z2, sd_prior = sd2, correlated = TRUE, cor_eta = 1),
    fs_model("gaussian", "identity", X0, Z2, sd_prior = sd2, correlated = TRUE, cor_eta = 4),
    fs_model("gaussian", "identity", X0, Z3, sd_prior = sd3, correlated = TRUE, cor_eta = 1.5),
    fs_model("gaussian", "identity", X0, Z3, sd_prior = sd3, correlated = TRUE, cor_eta = 0.5),
    fs_model("gaussian", "identity", X0, Z2, sd_prior = sd2, correlated = FALSE)
  )
  spec <- fs_spec(fs_design(rep(3L, G)), models)
  batch <- fs_simulate(spec, 10000, 14)
  y <- fs_response(batch, spec)
  u <- lapply(1:3, function(j) y[seq(j, 3 * G, by = 3), , drop = FALSE])
  r12 <- col_cor(u[[1]], u[[2]])
  r13 <- col_cor(u[[1]], u[[3]])
  r23 <- col_cor(u[[2]], u[[3]])

  # sd scales L z: u_1 ~ N(0, 2^2), u_2 ~ N(0, 0.5^2) whatever the correlation
  var_of <- function(m) (colSums(m^2) - G * colMeans(m)^2) / (G - 1)
  for (k in c(1, 2, 5)) {
    expect_mc_mean(var_of(u[[1]])[batch$model == k], 4, sprintf("var u1, model %d", k))
    expect_mc_mean(var_of(u[[2]])[batch$model == k], 0.25, sprintf("var u2, model %d", k))
  }
  expect_true(all(y[seq(3, 3 * G, by = 3), batch$model %in% c(1, 2, 5)] == 0))

  # Q = 2: (r + 1) / 2 ~ Beta(eta, eta), Var(r) = 1 / (2 eta + 1)
  withr::local_seed(15)
  for (k in 1:2) {
    eta <- models[[k]]$cor_eta
    rhat <- r12[batch$model == k]
    expect_mc_mean(rhat, 0, sprintf("mean correlation, eta = %g", eta))
    expect_mc_mean(rhat^2, lkj_rhat2(eta, G), sprintf("E[r^2], eta = %g", eta))
    expect_lt(abs(lkj_rhat2(eta, G) - 1 / (2 * eta + 1)), 0.005)
    # the same estimate from a plain-R simulation of the LKJ draw
    m <- 4000
    r <- 2 * rbeta(m, eta, eta) - 1
    z1 <- matrix(rnorm(G * m), G)
    z2 <- matrix(rnorm(G * m), G)
    ref <- col_cor(z1, sweep(z1, 2, r, `*`) + sweep(z2, 2, sqrt(1 - r^2), `*`))
    expect_same_distribution(rhat, ref, sprintf("correlation, eta = %g", eta))
  }
  # Q = 3: each correlation has (r + 1) / 2 ~ Beta(eta - 1 + Q / 2, same)
  for (k in 3:4) {
    a <- models[[k]]$cor_eta - 1 + 3 / 2
    for (pair in list(r12 = r12, r13 = r13, r23 = r23)) {
      rhat <- pair[batch$model == k]
      expect_mc_mean(rhat, 0, sprintf("Q = 3 mean correlation, a = %g", a))
      expect_mc_mean(rhat^2, lkj_rhat2(a, G), sprintf("Q = 3 E[r^2], a = %g", a))
    }
  }
  # uncorrelated: the sample correlation of independent normals, E[rhat^2] = 1 / (G - 1)
  rhat <- r12[batch$model == 5]
  expect_mc_mean(rhat, 0, "uncorrelated mean")
  expect_mc_mean(rhat^2, 1 / (G - 1), "uncorrelated E[r^2]")
})

# ---- Design: missing responses, fixed and resampled groups ----------------------

test_that("a fixed design reproduces the template; missing responses are masked", {
  sizes <- c(3L, 5L, 2L, 4L)
  N <- sum(sizes)
  covariates <- cbind(seq_len(N) / 10, (seq_len(N) %% 3) - 1)
  observed <- c(TRUE, FALSE, TRUE, TRUE, TRUE, FALSE, TRUE, TRUE, FALSE, TRUE,
                TRUE, TRUE, TRUE, FALSE)
  Z <- matrix(1, N, 1)
  spec <- fs_spec(
    fs_design(sizes, covariates, observed = observed),
    list(fs_model("poisson", "log", cbind(rep(1, N)), Z,
                  b_prior = fs_priors(fs_prior("normal", 1, 0.5)),
                  sd_prior = fs_priors(fs_prior("half_normal", 0.5))))
  )
  n <- 50
  batch <- fs_simulate(spec, n, 16)
  f <- fs_features(batch)
  expect_identical(batch$n_features, 3L)
  expect_identical(batch$group_offsets,
                   as.integer(c(0, cumsum(rep(sizes, n)))))
  expect_identical(batch$dataset_offsets, as.integer(seq(0, 4 * n, by = 4)))
  expect_identical(batch$mask, rep(observed, n))
  expect_identical(batch$source_row, rep(seq_len(N) - 1L, n))
  masked <- !batch$mask
  expect_true(all(f[masked, ] == 0))
  expect_equal(f[!masked, 2:3], covariates[rep(seq_len(N), n)[!masked], ],
               tolerance = 1e-7)
  expect_true(all(f[!masked, 1] >= 0)) # counts with center 0
})

test_that("resampled designs draw whole template groups, uniformly", {
  sizes <- 1:6 # the size identifies the template group
  N <- sum(sizes)
  template_group <- rep(seq_along(sizes), sizes)
  within <- sequence(sizes)
  covariates <- cbind(template_group * 10 + within)
  observed <- !(template_group == 4 & within == 2)
  spec <- fs_spec(
    fs_design(sizes, covariates, observed = observed, resample = TRUE,
              groups = c(3, 9)),
    list(fs_model("bernoulli", "logit", cbind(rep(1, N)), matrix(1, N, 1),
                  b_prior = fs_priors(fs_prior("normal", 0, 1)),
                  sd_prior = fs_priors(fs_prior("half_normal", 1))))
  )
  n <- 3000
  batch <- fs_simulate(spec, n, 17)
  n_groups <- diff(batch$dataset_offsets)
  expect_true(all(n_groups >= 3 & n_groups <= 9))
  expect_setequal(unique(n_groups), 3:9)
  expect_lt(max(abs(tabulate(n_groups, 9)[3:9] / n - 1 / 7)), 5 * sqrt(1 / 7 * 6 / 7 / n))

  drawn <- diff(batch$group_offsets) # = template group index
  expect_true(all(drawn %in% sizes))
  share <- tabulate(drawn, 6) / length(drawn)
  expect_lt(max(abs(share - 1 / 6)), 5 * sqrt(1 / 6 * 5 / 6 / length(drawn)))
  template_rows <- unlist(lapply(drawn, function(t) sum(sizes[seq_len(t - 1)]) + seq_len(t)))
  f <- fs_features(batch)
  expect_identical(batch$source_row + 1L, template_rows)
  expect_identical(batch$mask, observed[template_rows])
  expect_equal(f[batch$mask, 2], covariates[template_rows[batch$mask], 1])
  expect_true(all(f[!batch$mask, ] == 0))
  expect_true(all(f[batch$mask, 1] %in% c(0, 1)))
})

# ---- Features ---------------------------------------------------------------------

test_that("feature 1 is (y / trials - center) / scale, the rest the covariates", {
  tp <- fs_template
  covariates <- cbind(tp$x, tp$x^2)
  # constant response 5: every feature 1 equals (5 - 2) / 4
  spec <- fs_spec(
    fs_design(rep(tp$per, tp$G), covariates),
    list(fs_model("gaussian", "identity", cbind(rep(1, tp$N)), matrix(0, tp$N, 0),
                  b_prior = fs_priors(fs_prior("constant", 5)))),
    center = 2, scale = 4
  )
  f <- fs_features(fs_simulate(spec, 10, 18))
  expect_true(all(f[, 1] == 0.75))
  expect_equal(f[, 2:3], covariates[rep(seq_len(tp$N), 10), ], tolerance = 1e-7)

  # binomial shares with varying trials: inverting the scaling gives whole
  # counts in [0, trials], and cpp_formula_features() maps them back to the
  # very same features
  spec <- fs_spec(
    fs_design(rep(tp$per, tp$G), covariates, trials = tp$trials),
    list(fs_model("binomial", "probit", cbind(1, tp$x), matrix(1, tp$N, 1),
                  b_prior = fs_priors(fs_prior("normal", 0, 1), fs_prior("normal", 0, 1)),
                  sd_prior = fs_priors(fs_prior("half_normal", 1)))),
    center = 0.3, scale = 0.2
  )
  batch <- fs_simulate(spec, 20, 19)
  y <- fs_response(batch, spec)
  expect_whole(y)
  y <- round(y)
  expect_true(all(y >= 0 & y <= tp$trials))
  again <- deepbmc:::cpp_formula_features(
    spec$scaling, as.vector(y), rep(tp$trials, 20), covariates[rep(seq_len(tp$N), 20), ]
  )
  expect_identical(again, fs_features(batch))
})

test_that("cpp_formula_features() computes the documented formula", {
  scaling <- list(response_center = 0.5, response_scale = 2)
  y <- c(1, NA, 3, 0, 7.25)
  trials <- c(2L, 1L, 4L, 1L, 1L)
  covariates <- cbind(c(0.1, 0.2, 0.3, 0.4, 0.5), c(-1, 0, 1, 2, 1e6))
  expected <- cbind((y / trials - 0.5) / 2, covariates)
  expected[2, ] <- 0
  out <- deepbmc:::cpp_formula_features(scaling, y, trials, covariates)
  expect_equal(out, expected, tolerance = 1e-7)
  out0 <- deepbmc:::cpp_formula_features(scaling, y, trials, matrix(0, 5, 0))
  expect_equal(out0, expected[, 1, drop = FALSE], tolerance = 1e-7)
  expect_error(deepbmc:::cpp_formula_features(scaling, y, trials[-1], covariates),
               "one entry")
  expect_error(deepbmc:::cpp_formula_features(list(response_center = 0, response_scale = 0),
                                              y, trials, covariates), "response_scale")
})

test_that("extreme linear predictors still give finite features", {
  N <- 4L
  models <- lapply(c(200, 1000, -1000), function(b) {
    fs_model("poisson", "log", cbind(rep(1, N)), matrix(0, N, 0),
             b_prior = fs_priors(fs_prior("constant", b)))
  })
  models[[4]] <- fs_model("lognormal", "identity", cbind(rep(1, N)), matrix(0, N, 0),
                          b_prior = fs_priors(fs_prior("constant", 800)),
                          sigma_prior = fs_prior("constant", 1))
  batch <- fs_simulate(fs_spec(fs_design(N), models), 40, 20)
  expect_true(all(is.finite(batch$values)))
  expect_true(all(batch$values[rep(batch$model, each = N) == 3] == 0))
})

# ---- Determinism and errors -----------------------------------------------------

test_that("batches depend on the seed only, not on the number of threads", {
  tp <- fs_template
  spec <- fs_spec(
    fs_design(rep(tp$per, tp$G), cbind(tp$x), trials = tp$trials, resample = TRUE,
              groups = c(5, 30), observed = rep(c(TRUE, TRUE, FALSE, TRUE), 40)),
    list(
      fs_model("binomial", "logit", cbind(1, tp$x), cbind(1, tp$x),
               b_prior = fs_priors(fs_prior("normal", 0, 1), fs_prior("student_t", 3, 0, 1)),
               sd_prior = fs_priors(fs_prior("half_normal", 1), fs_prior("half_student_t", 3, 1)),
               correlated = TRUE, cor_eta = 2),
      fs_model("binomial", "probit", cbind(rep(1, tp$N)), matrix(1, tp$N, 1),
               b_prior = fs_priors(fs_prior("normal", 0, 1)),
               sd_prior = fs_priors(fs_prior("exponential", 1)))
    )
  )
  one <- fs_simulate(spec, 300, 21, threads = 1)
  two <- fs_simulate(spec, 300, 21, threads = 2)
  expect_identical(one, two)
  other <- fs_simulate(spec, 300, 22, threads = 2)
  expect_false(identical(one$values, other$values))
})

test_that("a per-row offset adds to the linear predictor (issue 19)", {
  # poisson log-rates b0 + offset with b0 = log(2) fixed and no group
  # effects (Q = 0): each row's count is Poisson(2 * exposure)
  exposure <- rep(c(0.5, 1, 4, 10), 5)
  n <- length(exposure)
  spec <- fs_spec(
    fs_design(rep(4L, 5)),
    list(fs_model("poisson", "log", cbind(rep(1, n)), matrix(0, n, 0),
                  b_prior = fs_priors(fs_prior("constant", log(2)))))
  )
  spec$models[[1]]$offset <- log(exposure)
  y <- fs_response(fs_simulate(spec, 2000, 23), spec)
  expect_whole(y)
  for (i in c(1, 2, 3, 4, 20)) {
    expect_mc_mean(y[i, ], 2 * exposure[[i]], paste("mean count of row", i))
    expect_lt(abs(var(y[i, ]) / (2 * exposure[[i]]) - 1), 0.15)
  }
  # zero offsets are no offsets: the same draws as without the element
  zero <- spec
  zero$models[[1]]$offset <- rep(0, n)
  none <- spec
  none$models[[1]]$offset <- NULL
  expect_identical(fs_simulate(zero, 50, 24), fs_simulate(none, 50, 24))
  # resampled designs take each drawn row's own offset
  resampled <- spec
  resampled$design$resample <- TRUE
  resampled$design$groups <- c(3L, 8L)
  batch <- fs_simulate(resampled, 3000, 25)
  share <- fs_features(batch)[, 1]
  for (row in c(0L, 3L)) {
    expect_mc_mean(share[batch$source_row == row], 2 * exposure[[row + 1]],
                   paste("resampled mean count of template row", row + 1))
  }
})

test_that("an observation-level effect adds N(0, sd_obs^2) per row (issue 19)", {
  # Poisson counts with log-rate 1 + u_g + e_i, u_g ~ N(0, 0.5^2) per group
  # and e_i ~ N(0, 0.7^2) per row: the rate is lognormal, so (plain R)
  # E[y] = exp(1 + s2 / 2), Var(y) = E[y] + exp(2 + 2 s2) - E[y]^2 with
  # s2 = 0.5^2 + 0.7^2, and two rows of a group share only u_g:
  # Cov = exp(2 + 2 * 0.25 + 0.49) - E[y]^2.
  n <- 20L
  olre_model <- function(olre) {
    model <- fs_model("poisson", "log", cbind(rep(1, n)), cbind(rep(1, n)),
                      b_prior = fs_priors(fs_prior("constant", 1)),
                      sd_prior = fs_priors(fs_prior("constant", 0.5)))
    model$olre <- olre
    model$olre_prior <- fs_prior("constant", 0.7)
    model
  }
  s2 <- 0.5^2 + 0.7^2
  mean_y <- exp(1 + s2 / 2)
  var_y <- mean_y + exp(2 + 2 * s2) - mean_y^2
  cov_y <- exp(2 + 2 * 0.25 + 0.49) - mean_y^2
  moments <- function(y) {
    list(mean = y[1, ], var = (y[1, ] - mean_y)^2,
         cov = (y[1, ] - mean_y) * (y[2, ] - mean_y))
  }
  spec <- fs_spec(fs_design(rep(5L, 4)), list(olre_model(TRUE)))
  y <- fs_response(fs_simulate(spec, 20000, 31), spec)
  expect_whole(y)
  m <- moments(y)
  expect_mc_mean(m$mean, mean_y, "mean count with an OLRE")
  expect_mc_mean(m$var, var_y, "variance of counts with an OLRE")
  expect_mc_mean(m$cov, cov_y, "covariance within a group with an OLRE")
  # the mutant without the OLRE: the same comparison rejects its variance
  mutant <- fs_spec(fs_design(rep(5L, 4)), list(olre_model(FALSE)))
  m0 <- moments(fs_response(fs_simulate(mutant, 20000, 31), mutant))
  se <- sd(m0$var) / sqrt(length(m0$var))
  expect_gt(abs(mean(m0$var) - var_y), 5 * se)
  # sd_obs from its prior once per data set: Half-Normal(0, 0.4) gives
  # E[exp(e_i)] = E[exp(sd^2 / 2)], by quadrature in plain R (0.4 keeps the
  # variance of the counts finite)
  half <- spec
  half$models[[1]]$olre_prior <- fs_prior("half_normal", 0.4)
  half$models[[1]]$sd_prior <- fs_priors(fs_prior("constant", 0))
  yh <- fs_response(fs_simulate(half, 20000, 32), half)
  target <- exp(1) * stats::integrate(function(s) {
    2 * exp(s^2 / 2 + stats::dnorm(s, 0, 0.4, log = TRUE))
  }, 0, Inf)$value
  expect_mc_mean(yh[1, ], target, "mean count with a half-normal sd_obs")
  # resampled designs: a template row drawn twice gets two effects
  resampled <- fs_spec(fs_design(5L, resample = TRUE, groups = c(2L, 2L)),
                       list(olre_model(TRUE)))
  resampled$models[[1]]$X <- cbind(rep(1, 5))
  resampled$models[[1]]$Z <- cbind(rep(1, 5))
  resampled$models[[1]]$sd_prior <- fs_priors(fs_prior("constant", 0))
  batch <- fs_simulate(resampled, 5000, 33)
  expect_identical(length(batch$source_row), 5000L * 10L)
  yr <- matrix(fs_features(batch)[, 1], ncol = 5000)
  expect_identical(batch$source_row[1:10], rep(0:4, 2))
  expect_mc_mean((yr[1, ] - exp(1 + 0.49 / 2)) * (yr[6, ] - exp(1 + 0.49 / 2)),
                 0, "covariance of one template row drawn twice")
  expect_mc_mean((yr[1, ] - exp(1 + 0.49 / 2))^2,
                 exp(1 + 0.49 / 2) + exp(2 + 2 * 0.49) - exp(2 + 0.49),
                 "variance of a resampled row with an OLRE")
  # the prior is checked like other SD priors
  bad <- spec
  bad$models[[1]]$olre_prior <- fs_prior("normal", 0, 1)
  expect_error(fs_simulate(bad, 1, 1), "olre_prior")
})

test_that("inconsistent specs give R errors, never a crash", {
  N <- 6L
  good <- fs_spec(
    fs_design(c(2L, 4L), cbind(seq_len(N))),
    list(fs_model("poisson", "log", cbind(1, seq_len(N)), matrix(1, N, 1),
                  b_prior = fs_priors(fs_prior("normal", 0, 1), fs_prior("normal", 0, 1)),
                  sd_prior = fs_priors(fs_prior("half_normal", 1))))
  )
  expect_length(fs_simulate(good, 3, 1)$model, 3)
  # good with the element at `path` (a list of names and indices) replaced
  set_in <- function(x, path, value) {
    if (length(path) == 1) {
      x[[path[[1]]]] <- value
    } else {
      x[[path[[1]]]] <- set_in(x[[path[[1]]]], path[-1], value)
    }
    x
  }
  bad <- function(path, value, spec = good) set_in(spec, path, value)
  m <- list("models", 1)
  cases <- list(
    list(bad(c(m, list("X")), cbind(1, seq_len(N - 1))), "X has 5 rows"),
    list(bad(c(m, list("Z")), matrix(1, N + 1, 1)), "Z has 7 rows"),
    list(bad(c(m, list("X")), seq_len(N)), "numeric matrix"),
    # the first codes past the registries'
    list(bad(c(m, list("family")), length(deepbmc:::formula_families)),
         "unknown family"),
    list(bad(c(m, list("link")), -1L), "unknown link"),
    list(bad(c(m, list("link")), 1L), "does not take"),
    list(bad(c(m, list("b_prior", "kind")),
             c(1L, length(deepbmc:::prior_codes))), "unknown prior"),
    list(bad(c(m, list("b_prior", "p2")), c(1, -1)), "invalid prior"),
    list(bad(c(m, list("b_prior")), fs_priors(fs_prior("normal", 0, 1))),
         "one prior per column"),
    list(bad(c(m, list("sd_prior")), fs_priors(fs_prior("normal", 0, 1))), "a scale needs"),
    list(bad(c(m, list("sd_prior", "p1")), c(-1)), "invalid prior"),
    list(bad(c("design", "group_offsets"), c(0L, 2L, 5L)), "group_offsets"),
    list(bad(c("design", "group_offsets"), c(0L, 4L, 2L, 6L)), "group_offsets"),
    list(bad(c("design", "group_offsets"), 0L), "group_offsets"),
    list(bad(c("design", "observed"), c(NA, rep(TRUE, N - 1))), "NA"),
    list(bad(c("design", "observed"), rep(FALSE, N)), "no observed"),
    list(bad(c("design", "trials"), c(0L, rep(1L, N - 1))), "trials"),
    list(bad(c("design", "trials"), rep(1L, N - 1)), "trials"),
    list(bad(c("design", "covariate_features"), cbind(c(1:5, NaN))), "finite"),
    list(bad(c("design", "groups"), c(0L, 3L), bad(c("design", "resample"), TRUE)),
         "group counts"),
    list(bad(c("scaling", "response_scale"), 0), "response_scale"),
    list(bad("models", list()), "at least one model"),
    list(bad("scaling", NULL), "missing element 'scaling'"),
    list(bad(c(m, list("offset")), c(rep(0, N - 1), Inf)), "offset must be finite"),
    list(bad(c(m, list("offset")), c(rep(0, N - 1), NA)), "offset must be finite"),
    list(bad(c(m, list("offset")), rep(0, N + 1)), "one value per row")
  )
  for (case in cases) {
    expect_error(fs_simulate(case[[1]], 2, 1), case[[2]])
  }
  # correlated group effects need a positive LKJ eta
  Z2 <- cbind(1, seq_len(N))
  lkj <- bad(c(m, list("Z")), Z2)
  lkj <- bad(c(m, list("sd_prior")), spec = lkj,
             fs_priors(fs_prior("half_normal", 1), fs_prior("half_normal", 1)))
  lkj <- bad(c(m, list("correlated")), TRUE, spec = lkj)
  expect_length(fs_simulate(lkj, 2, 1)$model, 2)
  expect_error(fs_simulate(bad(c(m, list("cor_eta")), 0, spec = lkj), 2, 1), "cor_eta")
  # gaussian needs a scale prior for sigma
  gauss <- bad(c(m, list("link")), 0L, spec = bad(c(m, list("family")), 0L))
  no_scale <- bad(c(m, list("sigma_prior")), fs_prior("normal", 0, 1), spec = gauss)
  expect_error(fs_simulate(no_scale, 2, 1), "sigma_prior")
  expect_length(fs_simulate(good, 3, 1)$model, 3)
})
