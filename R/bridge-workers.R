# Bridge sampling of one data set, every model, on a future.apply worker:
# the jobs bridge_compare() sends out and what each sends back.

# lapply() through future.apply when it is installed.
bridge_map <- function(jobs, fun) {
  if (requireNamespace("future.apply", quietly = TRUE)) {
    # Every job seeds its own draws (job$seed); future.apply's own use of
    # R's generator must not advance the user's stream either.
    with_preserved_seed(
      future.apply::future_lapply(jobs, fun, future.seed = TRUE,
                                  future.packages = "deepbmc")
    )
  } else {
    if (length(jobs) > 1) {
      cli::cli_inform(
        c(i = "Install {.pkg future.apply} to check data sets in parallel."),
        .frequency = "once", .frequency_id = "deepbmc_future_apply"
      )
    }
    lapply(jobs, fun)
  }
}

# Workers for bridge_map(): closures over only what they need, so that
# futures send the compiled models and settings, not the caller's frame.
stan_worker <- function(stan_models, settings) {
  force(stan_models)
  force(settings)
  function(job) bridge_dataset_stan(job, stan_models, settings)
}

fits_worker <- function(settings) {
  force(settings)
  function(job) bridge_dataset_fits(job, settings)
}

# One data set, every model, with deepbmc's compiled programs.
bridge_dataset_stan <- function(job, stan_models, settings) {
  rows <- lapply(seq_along(stan_models), function(k) {
    model <- stan_model_valid(stan_models[[k]])
    sample_seconds <- system.time(
      stanfit <- suppressWarnings(rstan::sampling(
        model, data = job$data[[k]], chains = settings$chains,
        iter = settings$iter_warmup + settings$draws,
        warmup = settings$iter_warmup, cores = settings$cores,
        seed = job$seed, refresh = 0,
        control = list(adapt_delta = settings$adapt_delta)
      ))
    )[["elapsed"]]
    bridge_one_fit(stanfit, job$seed, settings, sample_seconds)
  })
  do.call(rbind, rows)
}

# One data set, every model, with the user's fits.
bridge_dataset_fits <- function(job, settings) {
  rows <- lapply(job$fits, function(one) {
    bridge_one_fit(one, job$seed, settings, NA_real_)
  })
  do.call(rbind, rows)
}

# Bridge sampling and diagnostics of one stanfit or brmsfit.
bridge_one_fit <- function(fit, seed, settings, sample_seconds) {
  if (inherits(fit, "brmsfit")) {
    # In a parallel worker too: brms's bridge_sampler() method.
    loadNamespace("brms")
  }
  # bridge_sampler() draws from R's generator: seeded locally, so that the
  # user's random stream is left as it was (also in sequential futures,
  # which run in the user's session).
  bridge_seconds <- system.time(
    bridge <- tryCatch(
      with_local_seed(seed, bridgesampling::bridge_sampler(
        fit, method = settings$method, cores = settings$cores, silent = TRUE
      )),
      error = function(e) {
        abort_deepbmc(
          c("Bridge sampling failed.",
            x = cli_escape(conditionMessage(e)),
            i = "A fit read from a file or sent to another process has lost
                 its compiled model; refit it in this session."),
          "fit",
          call = NULL
        )
      }
    )
  )[["elapsed"]]
  errors <- bridgesampling::error_measures(bridge)
  stanfit <- if (inherits(fit, "brmsfit")) fit$fit else fit
  sampler <- rstan::get_sampler_params(stanfit, inc_warmup = FALSE)
  summary <- rstan::summary(stanfit)$summary
  data.frame(
    logml = bridge$logml,
    logml_error = if (is.null(errors$cv)) NA_real_ else errors$cv,
    percentage_error = errors$percentage,
    sample_seconds = sample_seconds,
    bridge_seconds = bridge_seconds,
    divergent = sum(vapply(sampler, function(s) sum(s[, "divergent__"]),
                           numeric(1))),
    max_rhat = max(summary[, "Rhat"], na.rm = TRUE),
    min_ess = min(summary[, "n_eff"], na.rm = TRUE),
    bridge_iterations = bridge$niter,
    stringsAsFactors = FALSE
  )
}
