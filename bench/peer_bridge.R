# The gold-standard peer of deepbmc for Study 1 (Elsemueller et al. 2024):
# log marginal likelihoods by rstan + bridgesampling, checked against an
# independent numerical integration.
#
# Models (see R/models-normal-nested.R):
#   x_ln ~ N(theta_l, sigma2), theta_l ~ N(mu, tau2),
#   sigma2, tau2 ~ Half-Normal(0, 1) on the VARIANCES,
#   M0: mu = 0;  M1: mu ~ N(0, 1).
# The Stan programs are inst/stan/study1_m0.stan and inst/stan/study1_m1.stan
# (complete log joint densities, so bridge sampling gives exact log marginal
# likelihoods; group means centred or non-centred per data set, see
# study1_centred()).
#
# Functions:
#   study1_log_ml_numeric(x, model)   log p(x | M) by 2D quadrature (numeric)
#   bridge_log_ml(x, model, ...)      log p(x | M) by rstan + bridgesampling
#   bridge_peer(datasets, cores = 2)  both models on many data sets, tidy
#   study1_stan_models()              compiled models (cached) + compile seconds
#
# `x` is one data set as deepbmc uses them: a numeric matrix (rows = groups,
# columns = observations) or a list of numeric vectors (one per group, sizes
# may differ). `model` is "M0" or "M1" (or 0/1).
#
# Run as a script (`Rscript bench/peer_bridge.R` from the package root, with
# deepbmc installed) to check bridge sampling against numerical integration on
# 5 simulated Study 1 data sets (L = N = 50); sourcing only defines the
# functions. Set PEER_N to change the number of data sets and PEER_CORES the
# number of cores (default 2).
#
# rstan setup on Debian 12 (R 4.2): `apt-get install -y r-cran-rstan` gives
# rstan 2.21.7 / StanHeaders 2.21.0-7. Debian's r-cran-bh is an empty shim
# that depends on libboost-dev (headers in /usr/include/boost), so rstan stops
# with "Boost not found; call install.packages('BH')" unless
# rstan::rstan_options(boost_lib = "/usr/include") is set; use_system_boost()
# below does that when BH ships no headers.

# ---------------------------------------------------------------------------
# Data helpers

# A data set as a list of numeric vectors, one per group.
study1_groups <- function(x) {
  if (is.matrix(x)) {
    groups <- lapply(seq_len(nrow(x)), function(l) as.numeric(x[l, ]))
  } else if (is.list(x)) {
    groups <- lapply(x, as.numeric)
  } else {
    stop("`x` must be a matrix (rows = groups) or a list of numeric vectors.")
  }
  if (length(groups) < 1 || any(lengths(groups) < 1)) {
    stop("Every data set needs at least one group with at least one ",
         "observation.")
  }
  if (anyNA(unlist(groups))) stop("`x` must not contain missing values.")
  groups
}

# "M0" or "M1" from "M0"/"M1"/0/1.
study1_model_name <- function(model) {
  if (is.numeric(model)) model <- paste0("M", model)
  model <- toupper(as.character(model))
  if (length(model) != 1 || !model %in% c("M0", "M1")) {
    stop("`model` must be \"M0\" or \"M1\".")
  }
  model
}

# The data list of the Stan programs: observations in one vector with their
# group index (so that unbalanced groups work), and the parameterisation of
# the group means (centred: TRUE/FALSE).
study1_stan_data <- function(x, centred = study1_centred(x)) {
  groups <- study1_groups(x)
  list(
    L = length(groups),
    n_obs = sum(lengths(groups)),
    group = rep(seq_along(groups), lengths(groups)),
    x = unlist(groups, use.names = FALSE),
    centred = as.integer(centred)
  )
}

# Whether to sample the group means centred (theta_l as parameters) or
# non-centred (theta_l = mu + sqrt(tau2) * z_l); both give the same marginal
# likelihood. Centred is better when the data of a group pin its mean down
# well relative to the spread of the means (n_l tau2 / sigma2 large);
# non-centred when tau2 may be near zero compared with sigma2 / n_l (the
# funnel of the centred form: divergent transitions and biased bridge
# estimates). The choice uses moment estimates of the variances:
#   info = median(n_l) * tau2_hat / sigma2_hat, centred if info > 3,
# with sigma2_hat the pooled within-group variance and tau2_hat the variance
# of the group means minus mean(sigma2_hat / n_l). On 19 test data sets (5 to
# 50 groups, 1 to 50 observations per group) every centred fit with
# divergences had info < 1.6, and no non-centred fit had any; at info > 3
# centred had 1.3 to 18 times the smallest effective sample size of the
# non-centred fits. At Study 1's sizes (N = 50) info < 3 for about 4% of data
# sets (the prior gives P(50 tau2 / sigma2 < 3) = 0.038).
study1_centred <- function(x, threshold = 3) {
  groups <- study1_groups(x)
  n <- lengths(groups)
  if (sum(n) <= length(n) || length(n) < 2) return(FALSE)
  m <- vapply(groups, mean, numeric(1))
  sigma2 <- sum(vapply(groups, function(g) sum((g - mean(g))^2), numeric(1))) /
    (sum(n) - length(n))
  tau2 <- stats::var(m) - mean(sigma2 / n)
  isTRUE(stats::median(n) * tau2 / sigma2 > threshold)
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

log_sum_exp <- function(a) {
  top <- max(a)
  top + log(sum(exp(a - top)))
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

#' log p(x | M) for Study 1 by numerical integration
#'
#' @param x One data set: a matrix (rows = groups) or a list of numeric
#'   vectors (one per group).
#' @param model "M0" or "M1".
#' @param drop The grid covers the region where the log integrand is within
#'   `drop` of its maximum (the rest contributes less than exp(-drop)).
#' @param tol Required agreement (log scale) between two grid resolutions.
#' @return The log marginal likelihood (a number), with attributes `mode`
#'   (posterior mode of log sigma2 and log tau2), `limits` and `points`.
study1_log_ml_numeric <- function(x, model, drop = 40, tol = 1e-8) {
  model <- study1_model_name(model)
  groups <- study1_groups(x)
  n <- lengths(groups)
  m <- vapply(groups, mean, numeric(1))
  stats <- list(
    L = length(groups), n_obs = sum(n), n = n, m = m,
    S = sum(vapply(groups, function(g) sum((g - mean(g))^2), numeric(1)))
  )
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
  groups <- study1_groups(x)
  n <- lengths(groups)
  stats <- list(
    L = length(groups), n_obs = sum(n), n = n,
    m = vapply(groups, mean, numeric(1)),
    S = sum(vapply(groups, function(g) sum((g - mean(g))^2), numeric(1)))
  )
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

# ---------------------------------------------------------------------------
# rstan + bridgesampling

# Debian's r-cran-bh ships no headers (they come from libboost-dev in
# /usr/include); tell rstan where they are unless BH has them or the user has
# set boost_lib already.
use_system_boost <- function() {
  bh <- system.file("include", "boost", package = "BH")
  if (!nzchar(bh) && !nzchar(rstan::rstan_options("boost_lib")) &&
      dir.exists("/usr/include/boost")) {
    rstan::rstan_options(boost_lib = "/usr/include")
  }
  invisible()
}

# Where the Stan programs are: `stan_dir` if given, else inst/stan in the
# working directory (the package root), else the installed package.
study1_stan_file <- function(model, stan_dir = getOption("deepbmc.stan_dir")) {
  file <- paste0("study1_", tolower(model), ".stan")
  candidates <- c(
    if (!is.null(stan_dir)) file.path(stan_dir, file),
    file.path("inst", "stan", file),
    system.file("stan", file, package = "deepbmc")
  )
  found <- candidates[nzchar(candidates) & file.exists(candidates)]
  if (!length(found)) stop("Cannot find the Stan program ", file, ".")
  normalizePath(found[[1]])
}

.peer_cache <- new.env(parent = emptyenv())

#' Compiled Study 1 models, compiled once per R session
#'
#' @return A list with `models` (stanmodel objects named M0 and M1) and
#'   `compile_seconds` (elapsed seconds of each compilation; 0 once cached).
study1_stan_models <- function(stan_dir = getOption("deepbmc.stan_dir")) {
  use_system_boost()
  for (model in c("M0", "M1")) {
    if (is.null(.peer_cache[[model]])) {
      file <- study1_stan_file(model, stan_dir)
      seconds <- system.time(
        compiled <- rstan::stan_model(file,
                                      model_name = paste0("study1_", model))
      )[["elapsed"]]
      .peer_cache[[model]] <- compiled
      .peer_cache[[paste0(model, "_seconds")]] <- seconds
    }
  }
  list(
    models = list(M0 = .peer_cache$M0, M1 = .peer_cache$M1),
    compile_seconds = c(M0 = .peer_cache$M0_seconds,
                        M1 = .peer_cache$M1_seconds)
  )
}

#' log p(x | M) by rstan + bridgesampling
#'
#' Samples the posterior with rstan (`chains` chains of `iter_warmup` warm-up
#' and `draws` post-warm-up iterations each, adapt_delta 0.95) and runs
#' bridgesampling::bridge_sampler() on the fit (normal proposal, default
#' method).
#'
#' @param x One data set (matrix with rows = groups, or list of vectors).
#' @param model "M0" or "M1".
#' @param seed Seed of the sampler; the bridge sampler uses R's RNG, seeded
#'   with the same value.
#' @param cores Cores for the chains and for the bridge sampler.
#' @param centred Parameterisation of the group means: TRUE (centred), FALSE
#'   (non-centred) or NA to choose with study1_centred().
#' @return A list with `logml`, `error` (coefficient of variation of the
#'   marginal likelihood estimate from bridgesampling::error_measures(), which
#'   is approximately the standard error of `logml`), `re2` (its square),
#'   `percentage` (error_measures' percentage string), `sample_seconds`,
#'   `bridge_seconds`, `compile_seconds` (0 when the model was cached),
#'   `divergent` (divergent transitions after warm-up), `max_rhat`,
#'   `min_n_eff`, `niter` (bridge sampler iterations), `centred` and the
#'   `fit` (only with `keep_fit = TRUE`).
bridge_log_ml <- function(x, model, chains = 4, iter_warmup = 1000,
                          draws = 12500, seed = 1, cores = 2,
                          adapt_delta = 0.95, centred = NA, keep_fit = FALSE) {
  model <- study1_model_name(model)
  cached <- !is.null(.peer_cache[[model]])
  compiled <- study1_stan_models()
  stan_model <- compiled$models[[model]]
  if (is.na(centred)) centred <- study1_centred(x)
  data <- study1_stan_data(x, centred)
  sample_seconds <- system.time(
    fit <- rstan::sampling(
      stan_model, data = data, chains = chains, iter = iter_warmup + draws,
      warmup = iter_warmup, cores = cores, seed = seed, refresh = 0,
      control = list(adapt_delta = adapt_delta)
    )
  )[["elapsed"]]
  set.seed(seed)
  bridge_seconds <- system.time(
    bridge <- bridgesampling::bridge_sampler(fit, cores = cores, silent = TRUE)
  )[["elapsed"]]
  errors <- bridgesampling::error_measures(bridge)
  sampler <- rstan::get_sampler_params(fit, inc_warmup = FALSE)
  summary <- rstan::summary(fit)$summary
  out <- list(
    logml = bridge$logml,
    error = errors$cv,
    re2 = errors$re2,
    percentage = errors$percentage,
    sample_seconds = sample_seconds,
    bridge_seconds = bridge_seconds,
    compile_seconds = if (cached) 0 else compiled$compile_seconds[[model]],
    divergent = sum(vapply(sampler, function(s) sum(s[, "divergent__"]),
                           numeric(1))),
    max_rhat = max(summary[, "Rhat"], na.rm = TRUE),
    min_n_eff = min(summary[, "n_eff"], na.rm = TRUE),
    niter = bridge$niter,
    centred = as.logical(centred)
  )
  if (keep_fit) out$fit <- fit
  out
}

#' Bridge sampling on many data sets, both models
#'
#' @param datasets A list of data sets (each a matrix or a list of vectors),
#'   or a deepbmc_simulations object (from deepbmc::simulate_datasets()).
#' @param cores Cores for rstan's chains and the bridge sampler.
#' @param seed Seed of data set i is `seed + i - 1`.
#' @param ... Passed to bridge_log_ml() (chains, iter_warmup, draws, ...).
#' @return A data frame with one row per data set and model: `dataset`,
#'   `model`, `logml`, `error` (approximate standard error of logml),
#'   `seconds` (sampling + bridging), `sample_seconds`, `bridge_seconds`,
#'   `divergent`, `max_rhat`, `centred`. Attribute `compile_seconds` holds
#'   the one-off compilation times (0 if the models were compiled before the
#'   call).
bridge_peer <- function(datasets, cores = 2, seed = 1, ...) {
  if (inherits(datasets, "deepbmc_simulations")) datasets <- datasets$data
  if (is.matrix(datasets)) datasets <- list(datasets)
  before <- c(M0 = is.null(.peer_cache$M0), M1 = is.null(.peer_cache$M1))
  compile_seconds <- study1_stan_models()$compile_seconds * before
  rows <- list()
  for (i in seq_along(datasets)) {
    for (model in c("M0", "M1")) {
      res <- bridge_log_ml(datasets[[i]], model, seed = seed + i - 1,
                           cores = cores, ...)
      rows[[length(rows) + 1]] <- data.frame(
        dataset = i, model = model, logml = res$logml, error = res$error,
        seconds = res$sample_seconds + res$bridge_seconds,
        sample_seconds = res$sample_seconds,
        bridge_seconds = res$bridge_seconds,
        divergent = res$divergent, max_rhat = res$max_rhat,
        centred = res$centred,
        stringsAsFactors = FALSE
      )
    }
  }
  out <- do.call(rbind, rows)
  attr(out, "compile_seconds") <- compile_seconds
  out
}

# ---------------------------------------------------------------------------
# Script: bridge sampling vs numerical integration on simulated data sets.

if (sys.nframe() == 0L) {
  suppressPackageStartupMessages(library(deepbmc))
  n_sets <- as.integer(Sys.getenv("PEER_N", "5"))
  cores <- as.integer(Sys.getenv("PEER_CORES", "2"))
  sims <- deepbmc::simulate_datasets(normal_nested_models(50, 50), n = n_sets,
                                     seed = 1)
  models <- study1_stan_models()
  cat("Compile seconds: M0", round(models$compile_seconds[["M0"]], 1),
      ", M1", round(models$compile_seconds[["M1"]], 1), "\n")
  peer <- bridge_peer(sims, cores = cores)
  peer$numeric <- mapply(function(i, model) {
    as.numeric(study1_log_ml_numeric(sims$data[[i]], model))
  }, peer$dataset, peer$model)
  peer$difference <- peer$logml - peer$numeric
  peer$true_model <- sims$model_names[sims$model[peer$dataset]]
  print(peer, digits = 6, row.names = FALSE)
  per_set <- tapply(peer$seconds, peer$dataset, sum)
  cat("\nSeconds per data set (both models, sampling + bridging): ",
      paste(sprintf("%.1f", per_set), collapse = ", "),
      "; mean ", sprintf("%.1f", mean(per_set)), "\n", sep = "")
  cat("Max |bridge - numeric|:", signif(max(abs(peer$difference)), 3), "\n")
  ok <- all(abs(peer$difference) < 0.1)
  cat(if (ok) "OK" else "FAILED", ": |bridge - numeric| < 0.1 for all\n")
  if (!ok) quit(status = 1)
}
