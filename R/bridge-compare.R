# Checking a trained network against the gold standard: posterior model
# probabilities by rstan + bridgesampling on chosen data sets, beside the
# network's, in parallel over data sets through future.apply.

#' Check a network against bridge sampling
#'
#' For one data set or a list of them, computes posterior model probabilities
#' by bridge sampling (rstan + bridgesampling) for every model of the
#' network's model set and sets them beside the network's. A careful user
#' trusts an amortized answer after seeing it agree with the gold standard on
#' a few data sets; this makes that one call.
#'
#' **Stan programs.** For formula models the programs are generated from the
#' same specification that drives the simulator; for the built-in Study 1
#' models they ship with the package. See [stan_code()]. Each program is
#' compiled once per R session (compiling takes about a minute); compiled
#' models are kept in a cache keyed by a hash of the program and are
#' recompiled when a stored model's compiled code is no longer loaded (after
#' `saveRDS()`/`readRDS()` on another platform or in a fresh process). With
#' `options(deepbmc.stan_cache = dir)` compiled models are also saved in
#' `dir` and reused by later sessions.
#'
#' **Your own fits.** Instead of deepbmc's programs you can pass your own
#' `stanfit` or `brmsfit` objects in `fits`, one per model for each data set;
#' their programs must keep all normalising constants (`target +=` rather
#' than `~`), as brms does with `save_pars(all = TRUE)`, and the same priors
#' as the network's models (for brms, `0 + Intercept` puts the intercept
#' prior where deepbmc has it; see `vignette("bridge-sampling", package =
#' "deepbmc")`). deepbmc then runs [bridgesampling::bridge_sampler()] on
#' them, loading brms for `brmsfit` objects.
#'
#' **Parallel.** Data sets are processed with [future.apply::future_lapply()]
#' when future.apply is installed: sequentially by default, in parallel after
#' `future::plan(multisession)`, on a cluster with `plan(cluster)` or a
#' scheduler with future.batchtools, with no change to the call. Each data
#' set's results depend only on `seed` and its position, not on the plan.
#' Inside a data set, `cores` runs the chains in parallel; with parallel
#' workers keep `cores = 1`.
#'
#' **Settings.** The defaults (4 chains of 1,000 warm-up and 5,000 kept
#' draws, `adapt_delta = 0.95`) give log marginal likelihoods with Monte
#' Carlo errors of about 0.01 for the Study 1 models; check the `logml_error`
#' column and increase `draws` if it is large.
#'
#' rstan and bridgesampling are needed (and future.apply for parallel work).
#' On Debian, whose r-cran-bh package ships no Boost headers, deepbmc points
#' rstan to the system's Boost headers (`rstan_options(boost_lib =
#' "/usr/include")`) while compiling.
#'
#' @inheritParams post_prob.deepbmc_fit
#' @param fit A trained network from [train_comparison()].
#' @param data One data set, or a list of data sets, in any form
#'   [post_prob()] accepts for the fit (see [deepbmc_data]); for formula
#'   models data frames with the formulas' columns.
#' @param ... Must be empty.
#' @param fits Optional: your own fits instead of deepbmc's Stan programs.
#'   For one data set a list of `stanfit` or `brmsfit` objects, one per model
#'   in the order (or with the names) of the fit's models; for several data
#'   sets a list of such lists.
#' @param chains,iter_warmup,draws MCMC settings: number of chains, warm-up
#'   iterations and kept draws per chain.
#' @param adapt_delta Target acceptance rate of the sampler (higher means
#'   smaller steps and fewer divergent transitions).
#' @param seed Seed of data set `i` is `seed + i - 1`, for the sampler and
#'   for the bridge sampler.
#' @param cores Cores for the chains (and the bridge sampler) of one data set.
#' @param method Bridge sampling method, `"normal"` or `"warp3"`.
#'
#' @return A data frame of class `"deepbmc_bridge_comparison"` with one row
#'   per data set and model: `data_set`, `model`, `pmp_network`,
#'   `pmp_bridge`, `log_bf_network` and `log_bf_bridge` (log Bayes factor of
#'   the model against the first model), `logml` (log marginal likelihood by
#'   bridge sampling), `logml_error` (its approximate Monte Carlo standard
#'   error, the coefficient of variation of bridgesampling's
#'   [bridgesampling::error_measures()]), `percentage_error` (as
#'   bridgesampling reports it), `sample_seconds`, `bridge_seconds`,
#'   `divergent` (divergent transitions after warm-up), `max_rhat`,
#'   `min_ess` (smallest effective sample size) and `bridge_iterations`.
#'   Attribute `compile_seconds` holds the seconds spent compiling each
#'   program in this call (0 for cached programs), and `network_checksum`
#'   identifies the network of `fit` (see [update_checked_range()]). Use
#'   `summary()` for the agreement and `autoplot()` for plots.
#' @seealso [stan_code()], [post_prob.deepbmc_fit()]
#' @export
#' @examples
#' \donttest{
#' # Compiles two Stan programs (about a minute each) and runs MCMC.
#' if (interactive() && requireNamespace("rstan", quietly = TRUE) &&
#'       requireNamespace("bridgesampling", quietly = TRUE)) {
#'   models <- normal_nested_models(groups = 10, obs = 10)
#'   fit <- train_comparison(models, epochs = 2, iterations = 100, seed = 1)
#'   sims <- simulate_datasets(models, n = 2, seed = 2)
#'   check <- bridge_compare(fit, sims, draws = 1000)
#'   check
#'   summary(check)
#' }
#' }
bridge_compare <- function(fit, data, ..., fits = NULL, prior_prob = NULL,
                           group = NULL, response = NULL, chains = 4,
                           iter_warmup = 1000, draws = 5000,
                           adapt_delta = 0.95, seed = 1, cores = 1,
                           method = c("normal", "warp3"),
                           threads = default_threads()) {
  check_dots_empty(...)
  check_fit(fit)
  model_names <- fit$models$model_names
  prior_prob <- check_prior_prob(
    prior_prob %||% unname(fit$models$prior_prob), model_names,
    arg = "prior_prob"
  )
  chains <- check_whole_number(chains, max = max_chains)
  iter_warmup <- check_whole_number(iter_warmup, min = 10, max = max_warmup)
  draws <- check_whole_number(draws, min = 10, max = max_draws)
  adapt_delta <- check_positive_number(adapt_delta)
  if (adapt_delta >= 1) {
    abort_deepbmc(
      c("{.arg adapt_delta} must be below 1.",
        x = "You supplied {describe_value(adapt_delta)}."),
      "value"
    )
  }
  seed <- check_whole_number(seed, min = 0, max = max_stan_seed)
  cores <- check_whole_number(cores, max = max_cores)
  method <- check_choice(method, c("normal", "warp3"))
  threads <- check_threads(threads)
  check_bridge_packages(stan = is.null(fits))

  # The network's answer (also checks the data).
  if (inherits(data, "deepbmc_simulations")) {
    data <- simulations_data(data, arg = "data")
  }
  logits <- predict_logits(fit, data, group, response, threads)
  datasets <- if (logits$single) list(data) else data
  fits <- check_user_fits(fits, length(datasets), model_names,
                          logits$single)

  settings <- list(chains = chains, iter_warmup = iter_warmup, draws = draws,
                   adapt_delta = adapt_delta, cores = cores, method = method)
  compile_seconds <- stats::setNames(rep(0, length(model_names)), model_names)
  programs <- NULL
  if (is.null(fits)) {
    programs <- stan_programs(fit$models)
    # The data lists first, so that bad data fail before any compilation.
    stan_data <- lapply(seq_along(datasets), function(i) {
      lapply(programs, function(p) {
        p$data(datasets[[i]], arg = paste0("data[[", i, "]]"), group = group,
               response = response)
      })
    })
    compiled <- lapply(programs, function(p) stan_compiled(p$code, p$name))
    compile_seconds[] <- vapply(compiled, `[[`, numeric(1), "seconds")
    stan_models <- lapply(compiled, `[[`, "model")
    jobs <- lapply(seq_along(datasets), function(i) {
      list(index = i, seed = seed + i - 1, data = stan_data[[i]])
    })
    results <- bridge_map(jobs, stan_worker(stan_models, settings))
  } else {
    jobs <- lapply(seq_along(datasets), function(i) {
      list(index = i, seed = seed + i - 1, fits = fits[[i]])
    })
    results <- bridge_map(jobs, fits_worker(settings))
  }

  network_log_pmp <- prediction_log_pmp(logits, log(prior_prob))
  table <- do.call(rbind, lapply(seq_along(results), function(i) {
    rows <- results[[i]]
    rows$data_set <- i
    rows$model <- model_names
    log_prior <- log(prior_prob)
    log_pmp_network <- network_log_pmp[i, ]
    log_pmp_bridge <- log_softmax_rows(
      matrix(rows$logml + log_prior, nrow = 1)
    )
    rows$pmp_network <- exp(as.vector(log_pmp_network))
    rows$pmp_bridge <- exp(as.vector(log_pmp_bridge))
    rows$log_bf_network <- unname(logits$logits[i, ] - logits$logits[i, 1])
    rows$log_bf_bridge <- rows$logml - rows$logml[[1]]
    rows
  }))
  columns <- c("data_set", "model", "pmp_network", "pmp_bridge",
               "log_bf_network", "log_bf_bridge", "logml", "logml_error",
               "percentage_error", "sample_seconds", "bridge_seconds",
               "divergent", "max_rhat", "min_ess", "bridge_iterations")
  table <- table[columns]
  rownames(table) <- NULL
  warn_unconverged_bridge(table)
  structure(table, class = c("deepbmc_bridge_comparison", "data.frame"),
            compile_seconds = compile_seconds, settings = settings,
            network_checksum = network_checksum(fit),
            prior_prob = stats::setNames(prior_prob, model_names))
}

check_bridge_packages <- function(stan = TRUE, call = rlang::caller_env()) {
  if (stan) {
    check_installed_package("rstan", "to run Stan programs", call = call)
  }
  check_installed_package("bridgesampling", "for bridge sampling",
                          call = call)
  invisible(TRUE)
}

# `fits` as a list with one list of fits per data set, each in model order.
check_user_fits <- function(fits, n_datasets, model_names, single,
                            call = rlang::caller_env()) {
  if (is.null(fits)) {
    return(NULL)
  }
  is_fit <- function(x) inherits(x, c("stanfit", "brmsfit"))
  if (!is.list(fits) || is_fit(fits)) {
    abort_deepbmc(
      c("{.arg fits} must be a list of {.cls stanfit} or {.cls brmsfit}
         objects, one per model.",
        x = "You supplied {describe_value(fits)}."),
      "type",
      call = call
    )
  }
  if (single || (length(fits) > 0 && all(vapply(fits, is_fit, logical(1))))) {
    fits <- list(fits)
  }
  if (length(fits) != n_datasets) {
    abort_deepbmc(
      c("{.arg fits} must hold one list of fits per data set.",
        x = "It has {length(fits)} for {n_datasets} data set{?s}."),
      "mismatch",
      call = call
    )
  }
  fits <- lapply(seq_along(fits), function(i) {
    set <- fits[[i]]
    ok <- is.list(set) && length(set) == length(model_names) &&
      all(vapply(set, is_fit, logical(1)))
    if (!ok) {
      abort_deepbmc(
        c("{.arg fits[[{i}]]} must be a list of {length(model_names)}
           {.cls stanfit} or {.cls brmsfit} objects, one per model
           ({.val {model_names}}).",
          x = "It is {describe_value(set)}."),
        "type",
        call = call
      )
    }
    if (!is.null(names(set)) && all(names(set) %in% model_names)) {
      set <- set[model_names]
    }
    set
  })
  # brms registers its bridge_sampler() method only when its namespace is
  # loaded, which reading a brmsfit from a file does not do.
  is_brmsfit <- function(set) vapply(set, inherits, logical(1), "brmsfit")
  if (any(unlist(lapply(fits, is_brmsfit)))) {
    check_installed_package("brms", "to bridge-sample brmsfit objects",
                            call = call)
  }
  fits
}

# Bridge sampling's iterative scheme stops at 1,000 iterations
# (bridge_sampler()'s maxiter) when it has not converged, and its estimate
# is then unreliable: on lme4::grouseticks' observation-level model it moved
# by 2 nats between seeds with 67-100% estimated error
# (bench/results/grouseticks_gap.md). Warns, with class
# "deepbmc_bridge_warning", naming the model fits whose estimate did not
# converge or whose estimated error (coefficient of variation of the
# marginal likelihood) exceeds 10%.
bridge_error_limit <- 0.1
bridge_iteration_limit <- 1000

warn_unconverged_bridge <- function(table) {
  bad <- (!is.na(table$bridge_iterations) &
            table$bridge_iterations >= bridge_iteration_limit) |
    (!is.na(table$logml_error) & table$logml_error > bridge_error_limit)
  if (!any(bad)) {
    return(invisible(FALSE))
  }
  flagged <- table[bad, , drop = FALSE]
  lines <- sprintf(
    "%s on data set %d: %d iterations, estimated error %s",
    cli_escape(flagged$model), as.integer(flagged$data_set),
    as.integer(flagged$bridge_iterations),
    ifelse(is.na(flagged$logml_error), "unknown",
           sprintf("%.0f%%", 100 * flagged$logml_error))
  )
  cli::cli_warn(
    c(
      "Bridge sampling did not give a reliable marginal likelihood for
       {sum(bad)} model fit{?s}; the bridge PMPs of {?its/their} data
       set{?s} are unreliable.",
      stats::setNames(utils::head(lines, 10), rep("!", min(length(lines), 10))),
      i = "Draw more ({.arg draws}, {.arg chains}) or try
           {.code method = \"warp3\"}; a model with a latent value per
           observation may need its latent values integrated out."
    ),
    class = "deepbmc_bridge_warning"
  )
  invisible(TRUE)
}
