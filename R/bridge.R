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
#'   program in this call (0 for cached programs). Use `summary()` for the
#'   agreement and `autoplot()` for plots.
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
                           method = c("normal", "warp3"), threads = 2) {
  check_dots_empty(...)
  check_fit(fit)
  model_names <- fit$models$model_names
  prior_prob <- check_prior_prob(
    prior_prob %||% unname(fit$models$prior_prob), model_names,
    arg = "prior_prob"
  )
  chains <- check_whole_number(chains, max = 64)
  iter_warmup <- check_whole_number(iter_warmup, min = 10, max = 1e6)
  draws <- check_whole_number(draws, min = 10, max = 1e7)
  adapt_delta <- check_positive_number(adapt_delta)
  if (adapt_delta >= 1) {
    abort_deepbmc(
      c("{.arg adapt_delta} must be below 1.",
        x = "You supplied {describe_value(adapt_delta)}."),
      "value"
    )
  }
  seed <- check_whole_number(seed, min = 0, max = .Machine$integer.max - 1e6)
  cores <- check_whole_number(cores, max = 64)
  method <- check_choice(method, c("normal", "warp3"))
  threads <- check_threads(threads)
  check_bridge_packages(stan = is.null(fits))

  # The network's answer (also checks the data).
  if (inherits(data, "deepbmc_simulations")) {
    data <- data$data
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
        if (inherits(fit$models, "deepbmc_normal_nested")) {
          study1_stan_data(study1_groups(
            datasets[[i]], paste0("data[[", i, "]]"), group = group,
            response = response
          ))
        } else {
          p$data(datasets[[i]])
        }
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

  table <- do.call(rbind, lapply(seq_along(results), function(i) {
    rows <- results[[i]]
    rows$data_set <- i
    rows$model <- model_names
    log_prior <- log(prior_prob)
    log_pmp_network <- log_softmax_rows(
      matrix(logits$logits[i, ] + log_prior, nrow = 1)
    )
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
  structure(table, class = c("deepbmc_bridge_comparison", "data.frame"),
            compile_seconds = compile_seconds, settings = settings,
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

# lapply() through future.apply when it is installed.
bridge_map <- function(jobs, fun) {
  if (requireNamespace("future.apply", quietly = TRUE)) {
    future.apply::future_lapply(jobs, fun, future.seed = TRUE,
                                future.packages = "deepbmc")
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
  set.seed(seed)
  bridge_seconds <- system.time(
    bridge <- tryCatch(
      bridgesampling::bridge_sampler(fit, method = settings$method,
                                     cores = settings$cores, silent = TRUE),
      error = function(e) {
        abort_deepbmc(
          c("Bridge sampling failed.",
            x = conditionMessage(e),
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

# --- Compiled models ------------------------------------------------------------

stan_cache <- new.env(parent = emptyenv())

# The compiled model of `code`: from the session cache, else from the
# directory getOption("deepbmc.stan_cache"), else compiled (and stored in
# both). Stale models (compiled code not loadable) are recompiled. Returns
# list(model, seconds) with the compilation seconds (0 when cached).
stan_compiled <- function(code, name = "deepbmc_model",
                          cache_dir = getOption("deepbmc.stan_cache")) {
  key <- rlang::hash(code)
  cached <- stan_cache[[key]]
  if (!is.null(cached) && stan_model_ok(cached)) {
    return(list(model = cached, seconds = 0))
  }
  file <- if (!is.null(cache_dir)) {
    file.path(cache_dir, paste0(name, "-", key, ".rds"))
  }
  if (!is.null(file) && file.exists(file)) {
    stored <- tryCatch(readRDS(file), error = function(e) NULL)
    if (inherits(stored, "stanmodel") && stan_model_ok(stored)) {
      stan_cache[[key]] <- stored
      return(list(model = stored, seconds = 0))
    }
  }
  seconds <- system.time(model <- stan_compile(code, name))[["elapsed"]]
  stan_cache[[key]] <- model
  if (!is.null(file)) {
    dir.create(cache_dir, showWarnings = FALSE, recursive = TRUE)
    saveRDS(model, file)
  }
  list(model = model, seconds = seconds)
}

stan_compile <- function(code, name) {
  restore <- use_system_boost()
  on.exit(restore())
  cli::cli_inform(c(i = "Compiling the Stan program {.val {name}}."))
  rstan::stan_model(model_code = code, model_name = name, save_dso = TRUE)
}

# Whether a stanmodel's compiled code is loaded or can be loaded from the
# copy saved inside it (rstan reloads it after readRDS() on the same
# platform).
stan_model_ok <- function(model) {
  is_valid <- tryCatch(utils::getFromNamespace("is_sm_valid", "rstan"),
                       error = function(e) NULL)
  if (is.null(is_valid)) {
    return(TRUE)
  }
  isTRUE(tryCatch(is_valid(model), error = function(e) FALSE))
}

# The model itself when usable, else recompiled from its program (in a
# worker that received a model whose compiled code it cannot load).
stan_model_valid <- function(model) {
  if (stan_model_ok(model)) {
    return(model)
  }
  stan_compiled(model@model_code, model@model_name)$model
}

# Debian's r-cran-bh ships no headers (they come with libboost-dev in
# /usr/include): point rstan there unless BH has them or boost_lib is set.
# Returns a function that restores the option.
use_system_boost <- function() {
  bh <- system.file("include", "boost", package = "BH")
  if (!nzchar(bh) && !nzchar(rstan::rstan_options("boost_lib")) &&
        dir.exists("/usr/include/boost")) {
    rstan::rstan_options(boost_lib = "/usr/include")
    return(function() rstan::rstan_options(boost_lib = ""))
  }
  function() invisible()
}

# --- Summary, print, plots ------------------------------------------------------

#' @export
print.deepbmc_bridge_comparison <- function(x, digits = 3, ...) {
  n_sets <- length(unique(x$data_set))
  cat("<deepbmc_bridge_comparison> ", n_sets, " data set",
      if (n_sets != 1) "s", ", ", length(unique(x$model)),
      " models: network vs bridge sampling\n", sep = "")
  shown <- as.data.frame.data.frame(x)[c(
    "data_set", "model", "pmp_network", "pmp_bridge", "logml",
    "logml_error", "divergent", "max_rhat"
  )]
  print(shown, digits = digits, row.names = FALSE)
  invisible(x)
}

#' Agreement of a network with bridge sampling
#'
#' Summarises a [bridge_compare()] table: how far the network's posterior
#' model probabilities are from those of bridge sampling, how often both pick
#' the same model, how well their log Bayes factors correlate, and the MCMC
#' diagnostics.
#'
#' @param object A result of [bridge_compare()].
#' @param ... Unused.
#' @return A list of class `"summary.deepbmc_bridge_comparison"` with
#'   `n_data_sets`, `mean_abs_diff` and `max_abs_diff` (of the PMPs over all
#'   data sets and models), `decision_agreement` (share of data sets where both
#'   give the highest probability to the same model), `log_bf_cor`
#'   (correlation of the log Bayes factors against the first model; `NA` with
#'   fewer than three data sets), `max_logml_error`, `divergent` (total),
#'   `max_rhat` and `seconds_per_data_set` (sampling and bridge sampling).
#' @export
summary.deepbmc_bridge_comparison <- function(object, ...) {
  x <- as.data.frame.data.frame(object)
  difference <- abs(x$pmp_network - x$pmp_bridge)
  pick <- function(column) {
    vapply(split(x, x$data_set), function(d) d$model[which.max(d[[column]])],
           character(1))
  }
  others <- x[x$model != x$model[[1]], , drop = FALSE]
  seconds <- tapply(
    ifelse(is.na(x$sample_seconds), 0, x$sample_seconds) + x$bridge_seconds,
    x$data_set, sum
  )
  structure(
    list(
      n_data_sets = length(unique(x$data_set)),
      mean_abs_diff = mean(difference),
      max_abs_diff = max(difference),
      decision_agreement = mean(pick("pmp_network") == pick("pmp_bridge")),
      log_bf_cor = if (nrow(others) >= 3) {
        suppressWarnings(stats::cor(others$log_bf_network,
                                    others$log_bf_bridge))
      } else {
        NA_real_
      },
      max_logml_error = max(x$logml_error, na.rm = TRUE),
      divergent = sum(x$divergent),
      max_rhat = max(x$max_rhat, na.rm = TRUE),
      seconds_per_data_set = mean(seconds)
    ),
    class = "summary.deepbmc_bridge_comparison"
  )
}

#' @export
print.summary.deepbmc_bridge_comparison <- function(x, digits = 3, ...) {
  f <- function(v) format(signif(v, digits))
  cat(
    "Network vs bridge sampling on ", x$n_data_sets, " data set",
    if (x$n_data_sets != 1) "s", "\n",
    "  |PMP difference|: mean ", f(x$mean_abs_diff), ", max ",
    f(x$max_abs_diff), "\n",
    "  Same decision:    ", f(100 * x$decision_agreement), "%\n",
    "  Cor of log BFs:   ", f(x$log_bf_cor), "\n",
    "  Bridge sampling:  max error of log ML ", f(x$max_logml_error),
    ", divergent transitions ", x$divergent, ", max R-hat ",
    f(x$max_rhat), "\n",
    "  Seconds per data set (sampling + bridge): ",
    f(x$seconds_per_data_set), "\n",
    sep = ""
  )
  invisible(x)
}

#' Plots of a bridge-sampling check
#'
#' `type = "pmp"` plots the network's posterior model probabilities against
#' those of bridge sampling, one point per data set and model, with the
#' identity line; `type = "log_bf"` does the same for the log Bayes factors
#' of each model against the first. Points on the line mean agreement.
#'
#' @param object,x A result of [bridge_compare()].
#' @param type `"pmp"` or `"log_bf"`.
#' @param ... Passed from `plot()` to `autoplot()`; otherwise unused.
#' @return `autoplot()` returns a ggplot object; `plot()` draws it and returns
#'   it invisibly.
#' @name bridge_plots
NULL

#' @rdname bridge_plots
#' @exportS3Method ggplot2::autoplot
autoplot.deepbmc_bridge_comparison <- function(object,
                                               type = c("pmp", "log_bf"),
                                               ...) {
  check_dots_empty(...)
  check_installed_package("ggplot2", "to plot")
  type <- check_choice(type, c("pmp", "log_bf"))
  x <- as.data.frame.data.frame(object)
  if (type == "pmp") {
    x$network <- x$pmp_network
    x$bridge <- x$pmp_bridge
    labels <- c("PMP by bridge sampling", "PMP by the network")
    limits <- c(0, 1)
  } else {
    x <- x[x$model != x$model[[1]], , drop = FALSE]
    x$network <- x$log_bf_network
    x$bridge <- x$log_bf_bridge
    reference <- object$model[[1]]
    labels <- paste0(c("log BF against ", "log BF against "), reference,
                     c(" (bridge sampling)", " (network)"))
    limits <- range(c(x$network, x$bridge))
  }
  ggplot2::ggplot(x, ggplot2::aes(x = .data$bridge, y = .data$network,
                                  colour = .data$model)) +
    ggplot2::geom_abline(slope = 1, intercept = 0, colour = "grey50",
                         linetype = "dashed") +
    ggplot2::geom_point(alpha = 0.8) +
    ggplot2::coord_equal(xlim = limits, ylim = limits) +
    ggplot2::labs(x = labels[[1]], y = labels[[2]], colour = "Model")
}

#' @rdname bridge_plots
#' @export
plot.deepbmc_bridge_comparison <- function(x, ...) {
  draw_autoplot(x, ...)
}
