# An independent check of the Study 1 Stan programs: log marginal likelihoods
# of the nested normal models by numerical integration (moved here from
# bench/peer_bridge.R, which now calls these). Internal: used by the tests,
# data-raw/bridge_checks.R and the benchmarks.

# "M0" or "M1" from "M0"/"M1"/0/1.
study1_model_name <- function(model) {
  if (is.numeric(model)) model <- paste0("M", model)
  model <- toupper(as.character(model))
  if (length(model) != 1 || !model %in% c("M0", "M1")) {
    abort_deepbmc("{.arg model} must be {.val M0} or {.val M1}.", "value")
  }
  model
}

# The sufficient statistics of a Study 1 data set (groups as a list of
# numeric vectors): the number of groups L, of observations n_obs, the group
# sizes n and means m, and the pooled within-group sum of squares S.
study1_statistics <- function(groups) {
  n <- lengths(groups)
  list(
    L = length(groups), n_obs = sum(n), n = n,
    m = vapply(groups, mean, numeric(1)),
    S = sum(vapply(groups, function(g) sum((g - mean(g))^2), numeric(1)))
  )
}

# ---------------------------------------------------------------------------
# Numerical integration
#
# Per group l with n_l observations, mean m_l and within-group sum of squares
# S_l = sum_n (x_ln - m_l)^2:
#   prod_n N(x_ln | theta_l, sigma2)
#     = (2 pi sigma2)^(-n_l/2) exp(-(S_l + n_l (m_l - theta_l)^2) / (2 sigma2))
#     = (2 pi sigma2)^(-(n_l-1)/2) n_l^(-1/2) exp(-S_l / (2 sigma2))
#       * N(m_l | theta_l, sigma2 / n_l).
# Integrating theta_l ~ N(mu, tau2) out turns the last factor into
# N(m_l | mu, v_l) with v_l = tau2 + sigma2 / n_l. For M0 (mu = 0) that is
# the likelihood given the variances. For M1, mu ~ N(0, 1) integrates out in
# closed form: with A = 1 + sum_l 1/v_l and B = sum_l m_l / v_l,
#   int prod_l N(m_l | mu, v_l) N(mu | 0, 1) dmu
#     = prod_l N(m_l | 0, v_l) * A^(-1/2) * exp(B^2 / (2 A)).
# What remains is the integral over the two variances against their priors,
# 2 N(sigma2 | 0, 1) and 2 N(tau2 | 0, 1) on (0, Inf). It is computed on the
# log scale, u = log sigma2 and w = log tau2 (Jacobian sigma2 * tau2), where
# the integrand is smooth and decays at both ends, by the trapezoidal rule on a
# 2D grid (log-sum-exp) that covers everything within `drop` log units of the
# maximum; the trapezoidal rule converges exponentially fast for such
# integrands, and the grid is refined until two resolutions agree to `tol`.

# log p(x | sigma2, tau2, M) + log priors + log Jacobian, at u = log sigma2 and
# w = log tau2 (vectors of equal length), from the sufficient statistics.
study1_log_integrand <- function(u, w, stats, model) {
  sigma2 <- exp(u)
  tau2 <- exp(w)
  n <- stats$n
  m <- stats$m
  # within-group part (does not depend on tau2 or mu)
  within <- -0.5 * (stats$n_obs - stats$L) * (log(2 * pi) + u) -
    0.5 * sum(log(n)) - stats$S / (2 * sigma2)
  # v[k, l] = tau2[k] + sigma2[k] / n[l]
  v <- outer(tau2, rep(1, stats$L)) + outer(sigma2, 1 / n)
  m_mat <- matrix(m, nrow = length(u), ncol = stats$L, byrow = TRUE)
  between <- rowSums(-0.5 * (log(2 * pi) + log(v)) - m_mat^2 / (2 * v))
  if (model == "M1") {
    A <- 1 + rowSums(1 / v)
    B <- rowSums(m_mat / v)
    between <- between - 0.5 * log(A) + B^2 / (2 * A)
  }
  prior <- 2 * log(2) + stats::dnorm(sigma2, log = TRUE) +
    stats::dnorm(tau2, log = TRUE)
  within + between + prior + u + w
}

# Trapezoidal rule on the log scale over the box [u_lim] x [w_lim] with `k`
# points per dimension.
study1_grid_log_ml <- function(stats, model, u_lim, w_lim, k) {
  u <- seq(u_lim[[1]], u_lim[[2]], length.out = k)
  w <- seq(w_lim[[1]], w_lim[[2]], length.out = k)
  grid <- expand.grid(u = u, w = w)
  f <- study1_log_integrand(grid$u, grid$w, stats, model)
  weights <- outer(trapezoid_weights(k), trapezoid_weights(k))
  list(
    log_ml = log_sum_exp(f + log(as.vector(weights))) +
      log(diff(u[1:2])) + log(diff(w[1:2])),
    f = matrix(f, k, k)
  )
}

trapezoid_weights <- function(k) c(0.5, rep(1, k - 2), 0.5)

# log p(x | M) for Study 1 by numerical integration
#
# @param x One data set: a matrix (rows = groups) or a list of numeric
#   vectors (one per group).
# @param model "M0" or "M1".
# @param drop The grid covers the region where the log integrand is within
#   `drop` of its maximum (the rest contributes less than exp(-drop)).
# @param tol Required agreement (log scale) between two grid resolutions.
# @return The log marginal likelihood (a number), with attributes `mode`
#   (posterior mode of log sigma2 and log tau2), `limits` and `points`.
study1_log_ml_numeric <- function(x, model, drop = 40, tol = 1e-8) {
  model <- study1_model_name(model)
  stats <- study1_statistics(study1_groups(x))
  m <- stats$m
  f1 <- function(p) -study1_log_integrand(p[[1]], p[[2]], stats, model)
  start <- c(log(max(stats$S / max(stats$n_obs - stats$L, 1), 1e-8)),
             log(max(stats::var(m), 1e-4)))
  opt <- stats::optim(start, f1, method = "BFGS",
                      control = list(reltol = 1e-14, maxit = 1000))
  top <- -opt$value
  # Limits: walk out from the mode along each axis, maximising over the other
  # variable, until the profile is `drop` below the maximum.
  profile_u <- function(u) -stats::optimize(function(w) f1(c(u, w)),
                                            opt$par[[2]] + c(-60, 20))$objective
  profile_w <- function(w) -stats::optimize(function(u) f1(c(u, w)),
                                            opt$par[[1]] + c(-30, 30))$objective
  find_limit <- function(profile, centre, direction) {
    step <- 0.01
    at <- centre
    repeat {
      at <- at + direction * step
      if (profile(at) < top - drop) return(at)
      step <- step * 1.5
      if (abs(at - centre) > 200) return(at)
    }
  }
  u_lim <- c(find_limit(profile_u, opt$par[[1]], -1),
             find_limit(profile_u, opt$par[[1]], 1))
  w_lim <- c(find_limit(profile_w, opt$par[[2]], -1),
             find_limit(profile_w, opt$par[[2]], 1))
  k <- 101
  previous <- study1_grid_log_ml(stats, model, u_lim, w_lim, k)$log_ml
  repeat {
    k <- 2 * k - 1
    current <- study1_grid_log_ml(stats, model, u_lim, w_lim, k)
    if (abs(current$log_ml - previous) < tol || k > 3300) break
    previous <- current$log_ml
  }
  edge <- max(current$f[c(1, k), ], current$f[, c(1, k)])
  if (edge > top - drop + 1) warning("The grid may not cover the integrand.")
  structure(
    current$log_ml,
    mode = c(log_sigma2 = opt$par[[1]], log_tau2 = opt$par[[2]]),
    limits = rbind(log_sigma2 = u_lim, log_tau2 = w_lim),
    points = k,
    change = abs(current$log_ml - previous)
  )
}

# Second opinion: nested stats::integrate over the same log-scale integrand
# (scaled by its maximum), slower than the grid.
study1_log_ml_integrate <- function(x, model) {
  model <- study1_model_name(model)
  fit <- study1_log_ml_numeric(x, model)
  stats <- study1_statistics(study1_groups(x))
  lim <- attr(fit, "limits")
  mode <- attr(fit, "mode")
  top <- study1_log_integrand(mode[[1]], mode[[2]], stats, model)
  inner <- function(w) {
    vapply(w, function(wi) {
      stats::integrate(function(u) {
        exp(study1_log_integrand(u, rep(wi, length(u)), stats, model) - top)
      }, lim[1, 1], lim[1, 2], rel.tol = 1e-10, subdivisions = 1000L)$value
    }, numeric(1))
  }
  outer <- stats::integrate(inner, lim[2, 1], lim[2, 2], rel.tol = 1e-10,
                            subdivisions = 1000L)$value
  top + log(outer)
}

