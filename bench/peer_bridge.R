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
# deepbmc:::study1_centred()).
#
# The machinery lives in the package (R/study1-stan.R, R/bridge-*.R,
# R/study1-numeric.R; user-facing: deepbmc::bridge_compare()); the functions
# below are thin wrappers that keep this script's interface.
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
# rstan::rstan_options(boost_lib = "/usr/include") is set; deepbmc does that
# while compiling when BH ships no headers.

# ---------------------------------------------------------------------------
# Wrappers around the package's internal functions

study1_log_ml_numeric <- function(x, model, drop = 40, tol = 1e-8) {
  deepbmc:::study1_log_ml_numeric(x, model, drop = drop, tol = tol)
}

study1_log_ml_integrate <- function(x, model) {
  deepbmc:::study1_log_ml_integrate(x, model)
}

study1_centred <- function(x, threshold = 3) {
  deepbmc:::study1_centred(x, threshold = threshold)
}

study1_stan_data <- function(x, centred = study1_centred(x)) {
  deepbmc:::study1_stan_data(x, centred = centred)
}

#' Compiled Study 1 models, compiled once per R session (deepbmc's cache)
#'
#' @return A list with `models` (stanmodel objects named M0 and M1) and
#'   `compile_seconds` (elapsed seconds of each compilation in this session;
#'   0 when the model came from the cache before).
study1_stan_models <- function() {
  compiled <- lapply(c(M0 = "M0", M1 = "M1"), function(model) {
    first <- deepbmc:::stan_compiled(deepbmc:::study1_stan_code(model),
                                     paste0("study1_", tolower(model)))
    if (first$seconds > 0) .peer_seconds[[model]] <- first$seconds
    first
  })
  list(
    models = lapply(compiled, `[[`, "model"),
    compile_seconds = c(M0 = .peer_seconds$M0 %||% 0,
                        M1 = .peer_seconds$M1 %||% 0)
  )
}

.peer_seconds <- new.env(parent = emptyenv())
`%||%` <- function(x, y) if (is.null(x)) y else x

#' log p(x | M) by rstan + bridgesampling
#'
#' Samples the posterior with rstan (`chains` chains of `iter_warmup` warm-up
#' and `draws` post-warm-up iterations each) and runs
#' bridgesampling::bridge_sampler() on the fit (normal proposal), through the
#' package's internal functions (the per-model step of bridge_compare()).
#'
#' @return A list with `logml`, `error` (approximate standard error of
#'   `logml`), `percentage`, `sample_seconds`, `bridge_seconds`,
#'   `compile_seconds` (0 when the model was cached), `divergent`,
#'   `max_rhat`, `min_n_eff`, `niter`, `centred` and the `fit` (only with
#'   `keep_fit = TRUE`).
bridge_log_ml <- function(x, model, chains = 4, iter_warmup = 1000,
                          draws = 12500, seed = 1, cores = 2,
                          adapt_delta = 0.95, centred = NA, keep_fit = FALSE) {
  model <- deepbmc:::study1_model_name(model)
  compiled <- deepbmc:::stan_compiled(deepbmc:::study1_stan_code(model),
                                      paste0("study1_", tolower(model)))
  if (is.na(centred)) centred <- study1_centred(x)
  data <- study1_stan_data(x, centred)
  sample_seconds <- system.time(
    fit <- rstan::sampling(
      compiled$model, data = data, chains = chains,
      iter = iter_warmup + draws, warmup = iter_warmup, cores = cores,
      seed = seed, refresh = 0, control = list(adapt_delta = adapt_delta)
    )
  )[["elapsed"]]
  settings <- list(method = "normal", cores = cores)
  res <- deepbmc:::bridge_one_fit(fit, seed, settings, sample_seconds)
  out <- list(
    logml = res$logml,
    error = res$logml_error,
    percentage = res$percentage_error,
    sample_seconds = res$sample_seconds,
    bridge_seconds = res$bridge_seconds,
    compile_seconds = compiled$seconds,
    divergent = res$divergent,
    max_rhat = res$max_rhat,
    min_n_eff = res$min_ess,
    niter = res$bridge_iterations,
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
  compile_seconds <- c(M0 = 0, M1 = 0)
  rows <- list()
  for (i in seq_along(datasets)) {
    for (model in c("M0", "M1")) {
      res <- bridge_log_ml(datasets[[i]], model, seed = seed + i - 1,
                           cores = cores, ...)
      compile_seconds[[model]] <- compile_seconds[[model]] +
        res$compile_seconds
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
