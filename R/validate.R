#' Validate a trained network on held-out data sets
#'
#' Checks how well a trained network recovers the true models of data sets it
#' has never seen, and how well its posterior model probabilities (PMPs) are
#' calibrated: a calibrated network's PMP of 0.8 is right 80% of the time.
#' By default `validate()` simulates `n` fresh data sets from the models (in
#' parallel in C++, independent of the training data; for models written in R,
#' [simulator_models()], with [simulate_datasets()] and so through future);
#' alternatively it takes held-out data sets you simulated elsewhere, with
#' their true models.
#'
#' Metrics, all computed in double precision from the logits:
#' * `accuracy`: share of data sets whose most probable model is the true one;
#' * `recall` (per model): share of the model's data sets that the network
#'   attributes to it;
#' * `log_score`: mean negative log PMP of the true model (the log loss);
#' * `brier`: mean over data sets of \eqn{\sum_k (p_k - 1[k = true])^2},
#'   0 at best and 2 at worst;
#' * `ece` (per model): expected calibration error, one model against the
#'   rest as in BayesFlow. The PMPs of model \eqn{k} are cut into `bins`
#'   equal-width bins over \[0, 1\] and
#'   \eqn{ECE_k = \sum_b (n_b / n) |\bar{y}_b - \bar{p}_b|} over the non-empty
#'   bins \eqn{b} with \eqn{n_b} data sets, where \eqn{\bar{y}_b} is the share
#'   whose true model is \eqn{k} and \eqn{\bar{p}_b} their mean PMP of
#'   \eqn{k};
#' * `mce` (per model): maximum calibration error,
#'   \eqn{\max_b |\bar{y}_b - \bar{p}_b|};
#' * `blind_bf`: Jeffrey & Wandelt's (2024) blind test of the Bayes factors,
#'   which needs no reference values: over the data sets of the first model
#'   \eqn{M}, the mean Bayes factor of the other models against \eqn{M}
#'   (exactly 1 for correct Bayes factors, since
#'   \eqn{E_M[p(x \mid M_k) / p(x \mid M)] = 1}). Its interval is wide: it is
#'   dominated by the few data sets that favour another model;
#' * `log_bf_error`: with `reference_log_bf`, the mean absolute difference
#'   between the network's log Bayes factors against the first model and the
#'   reference values (`NA` without references). `log_bf_bins` then has the
#'   agreement by bins of the reference value, [bayes_factor_recovery()] the
#'   data for a plot, and [update_checked_range()] turns it into the range
#'   of log Bayes factors the fit vouches for.
#'
#' Every metric comes with a percentile bootstrap interval from `boot`
#' resamples of the data sets. ECE and MCE are biased upwards in finite
#' samples (noise in a bin always adds to the gap, never cancels it), and
#' resampling adds the same bias again, so for a well calibrated network
#' their intervals sit above the estimate and may even exclude it. Their
#' intervals describe the spread, not a range for the true calibration
#' error. For that question the ECE is compared with the ECEs of a perfectly
#' calibrated network with the same PMPs (true models drawn from the PMPs
#' themselves; Bröcker & Smith, 2007): a small p-value says the network is
#' miscalibrated, not merely evaluated on few data sets, and `print()` flags
#' it.
#'
#' @param fit A trained network from [train_comparison()].
#' @param n Number of data sets to simulate. Ignored when `data` is given.
#' @param groups,obs Sizes of the simulated data sets, as in
#'   [normal_nested_models()]: a fixed number or a range `c(min, max)`. `NULL`
#'   (the default) uses the sizes the network was trained on; other sizes
#'   test how it extrapolates and give a warning.
#' @param seed A whole number in `[0, 2^52]` for the simulations and the
#'   bootstrap; `NULL` draws one from R's random number generator.
#' @inheritParams deepbmc_threads
#' @param bins Number of equal-width bins for the calibration errors. The
#'   default 10 follows BayesFlow; the paper reports ECE with 15 bins.
#' @param boot Number of bootstrap resamples for the intervals (and of draws
#'   from a calibrated network for the calibration test); 0 skips both.
#' @param level Confidence level of the intervals.
#' @param data Held-out data sets you simulated yourself: a list of data sets
#'   in any form of [deepbmc_data], or the result of [simulate_datasets()].
#' @param true_model With `data`: the true model of each data set, by index or
#'   by name. Not needed for [simulate_datasets()] results, which carry them.
#' @param reference_log_bf With `data`: reference log Bayes factors of the
#'   data sets, e.g. exact ones from numerical integration or from bridge
#'   sampling. For two models a numeric vector (log Bayes factor of the
#'   second model over the first, one per data set); for any number of models
#'   a matrix with one row per data set and one column per model of log
#'   marginal likelihoods (or log Bayes factors against any one model). `NA`
#'   marks data sets without a reference.
#' @param simulations Held-out simulations from [simulate_datasets()], the
#'   same as passing them as `data`.
#' @param missing `NULL`, or missing values from [missing_values()] to take
#'   out of every held-out data set before it is predicted (drawn from
#'   `seed`; the same for the same seed whether the data sets are simulated in
#'   C++ or in R). The network reads them with the coding it was trained with;
#'   the `coding` of `missing` does not apply here.
#'
#' @return A list of class `"deepbmc_validation"` with
#' * `model`: true model index of each data set (integer);
#' * `predicted`: index of the most probable model;
#' * `logits`, `log_pmp`, `pmp`: matrices with one row per data set and one
#'   column per model;
#' * `groups`, `obs`: number of groups and mean observations per group of each
#'   data set;
#' * `metrics`: a list with `accuracy`, `log_score`, `brier` and, named by
#'   model, `ece`, `mce` and `recall`;
#' * `estimates`: a data frame with one row per metric (and model), with
#'   columns `metric`, `model` (`NA` for metrics of the whole comparison),
#'   `estimate`, `conf_low` and `conf_high`;
#' * `confusion`: a table of true (rows) against predicted (columns) models;
#'   `confusion_share`: the same as shares of each row;
#' * `calibration`: the binned calibration data, as [calibration_curve()]
#'   returns it;
#' * `calibration_test`: a data frame with one row per model: `ece`,
#'   `null_median` and `null_upper` (median and `level` quantile of the ECE of
#'   a calibrated network with these PMPs) and `p_value`;
#' * `n`, `bins`, `boot`, `level`, `seed` and `source` (`"simulated"` or
#'   `"data"`);
#' * `reference_log_bf`: `NULL`, or the reference log Bayes factors against
#'   the first model (one row per data set, one column per model);
#' * `log_bf_bins`: `NULL`, or the agreement of the log Bayes factors by bins
#'   of the reference value (see [log_bf_agreement()]);
#' * `network_checksum`: identifies the network of `fit` (its weights,
#'   architecture and model set), so that [update_checked_range()] applies
#'   the validation to that network only.
#'
#' `as.data.frame()` and `summary()` give the `estimates` table;
#' `as.data.frame(x, what = "data_sets")` gives one row per data set with its
#' true and predicted model, sizes and PMPs.
#'
#' @references Bröcker, J., & Smith, L. A. (2007). Increasing the reliability
#'   of reliability diagrams. *Weather and Forecasting, 22*(3), 651–661.
#'   \doi{10.1175/WAF993.1}
#' @seealso [calibration_curve()] for the reliability diagram data,
#'   [validate_sizes()] for accuracy and calibration across data set sizes,
#'   `autoplot()` and `plot()` methods for plots.
#' @export
#' @examples
#' models <- normal_nested_models(groups = 10, obs = 10)
#' fit <- train_comparison(models, epochs = 1, iterations = 20, seed = 1)
#' validation <- validate(fit, n = 200, seed = 2, boot = 50)
#' validation
#' summary(validation)
#'
#' # Held-out data sets simulated elsewhere, with their true models
#' sims <- simulate_datasets(models, n = 100, seed = 3)
#' validate(fit, data = sims$data, true_model = sims$model, boot = 0)
validate <- function(fit, n = 5000, groups = NULL, obs = NULL, seed = NULL,
                     threads = default_threads(), bins = 10, boot = 200,
                     level = 0.95, data = NULL, true_model = NULL,
                     reference_log_bf = NULL, simulations = NULL,
                     missing = NULL) {
  check_fit(fit)
  missing <- missing_for_models(missing, fit$models)
  if (!is.null(simulations)) {
    if (!is.null(data)) {
      abort_deepbmc(
        "Give held-out data sets as {.arg data} or {.arg simulations}, not
         both.",
        "mismatch"
      )
    }
    check_class(simulations, "deepbmc_simulations",
                "simulations from {.fun simulate_datasets}", "simulations",
                rlang::current_env())
    data <- simulations
  }
  seed <- check_seed(seed)
  threads <- check_threads(threads)
  bins <- check_whole_number(bins, max = max_bins)
  boot <- check_whole_number(boot, min = 0, max = max_bootstrap)
  level <- check_level(level)

  if (is.null(data)) {
    n <- check_whole_number(n, max = max_simulations)
    if (!is.null(true_model)) {
      abort_deepbmc(
        c(
          "{.arg true_model} goes with {.arg data}.",
          i = "Without {.arg data}, {.fun validate} simulates data sets and
               knows their true models."
        ),
        "mismatch"
      )
    }
    models <- validation_models(fit$models, groups, obs)
    held_out <- simulate_for_validation(fit, models, n, seed, threads,
                                        missing = missing)
  } else {
    if (!is.null(groups) || !is.null(obs)) {
      abort_deepbmc(
        c(
          "{.arg groups} and {.arg obs} set the sizes of simulated data sets.",
          i = "With {.arg data}, the sizes are those of your data sets."
        ),
        "mismatch"
      )
    }
    held_out <- predict_for_validation(fit, data, true_model, threads,
                                       missing = missing, seed = seed)
  }
  if (!is.null(reference_log_bf)) {
    if (is.null(data)) {
      abort_deepbmc(
        c(
          "{.arg reference_log_bf} goes with {.arg data}.",
          i = "Give the data sets the reference values belong to."
        ),
        "mismatch"
      )
    }
    held_out$reference <- check_reference_log_bf(
      reference_log_bf, length(held_out$model), fit$models$model_names
    )
  }
  validation <- validation_from_logits(
    held_out,
    model_names = fit$models$model_names,
    settings = list(bins = bins, boot = boot, level = level, seed = seed)
  )
  validation$network_checksum <- network_checksum(fit)
  validation
}

# The fit's model set at the sizes asked for, with a warning when they leave
# the training sizes.
validation_models <- function(models, groups, obs,
                              call = rlang::caller_env()) {
  if (!is.null(groups)) {
    groups <- check_range(groups, call = call)
  }
  if (!is.null(obs)) {
    obs <- check_range(obs, call = call)
  }
  resized <- with_sizes(models, groups = groups, obs = obs)
  if (outside_training(models, resized$groups[[1]], resized$groups[[2]],
                       resized$obs[[1]], resized$obs[[2]])) {
    training_sizes <- format_sizes(models)
    validation_sizes <- format_sizes(resized)
    cli::cli_warn(
      c(
        "Validating on sizes outside those the network was trained on.",
        i = "Trained on {training_sizes}; validating on {validation_sizes}."
      ),
      class = "deepbmc_extrapolation_warning",
      call = call
    )
  }
  resized
}

simulate_for_validation <- function(fit, models, n, seed, threads,
                                    missing = NULL,
                                    call = rlang::caller_env()) {
  in_r <- !is.null(missing) &&
    (missing$kind == "pattern" || partial_without_coding(fit, missing))
  if (!has_cpp_simulator(models) || in_r) {
    # Simulated in R (the same data sets as in C++ for the same seed), then
    # read like held-out simulations.
    sims <- simulate_datasets(models, n, seed = seed, progress = interactive())
    held_out <- withCallingHandlers(
      predict_for_validation(fit, sims, NULL, threads, missing = missing,
                             seed = seed, call = call),
      # The sizes were checked above; missing values asked for make groups
      # smaller than the design, which is no extrapolation to warn about.
      deepbmc_extrapolation_warning = function(w) {
        if (!is.null(missing)) invokeRestart("muffleWarning")
      }
    )
    held_out$source <- "simulated"
    return(held_out)
  }
  # C++ simulates and predicts one data set at a time on each thread, so no
  # batch of n data sets is ever held: only the size of one data set is
  # bounded (by the model set), not n times it.
  result <- evaluate_simulated(fit, models_spec(models), n, seed, threads,
                               missing_core_spec(missing))
  list(
    logits = check_logits(result$logits, n, fit, call),
    model = as.integer(result$model),
    groups = as.integer(result$groups),
    obs = as.double(result$obs),
    source = "simulated"
  )
}

# Values missing within observations, for a network trained without
# missing-data coding: the C++ validation cannot read them (it stopped with an
# internal error), while data sets simulated in R drop those observations
# with a warning of class "deepbmc_missing_warning", as data do.
partial_without_coding <- function(fit, missing) {
  identical(fit_missing_coding(fit), "none") && !all(missing$flags)
}

predict_for_validation <- function(fit, data, true_model, threads,
                                   missing = NULL, seed = NULL,
                                   call = rlang::caller_env()) {
  model_names <- fit$models$model_names
  if (inherits(data, "deepbmc_simulations")) {
    if (!identical(data$model_names, model_names)) {
      abort_deepbmc(
        c(
          "{.arg data} were simulated from other models than the network
           compares.",
          x = "Simulated: {.val {data$model_names}}; network: {.val
               {model_names}}."
        ),
        "mismatch",
        call = call
      )
    }
    if (is.null(true_model)) {
      true_model <- data$model
    }
  }
  if (is.null(true_model)) {
    abort_deepbmc(
      c(
        "{.arg true_model} is needed with {.arg data}.",
        i = "Give the true model of each data set, by index or name."
      ),
      "type",
      call = call
    )
  }
  prediction <- if (is.null(missing)) {
    predict_logits(fit, data, group = NULL, response = NULL,
                   threads = threads, call = call)
  } else {
    # The data sets packed, then given the missing values of `missing`.
    batch <- validation_batch(fit, data, call)
    batch <- apply_missing_batch(batch, missing, fit$models, seed, call)
    predict_batch_logits(fit, batch, threads, "data", call)
  }
  n <- nrow(prediction$logits)
  true_model <- check_true_model(true_model, model_names, n, call = call)
  list(
    logits = prediction$logits,
    model = true_model,
    groups = as.integer(prediction$sizes$groups),
    obs = as.double(prediction$sizes$mean_obs),
    source = "data"
  )
}

# Metrics, intervals, calibration data and the calibration test from the
# logits and true models of held-out data sets.
validation_from_logits <- function(held_out, model_names, settings) {
  logits <- held_out$logits
  colnames(logits) <- model_names
  log_pmp <- log_softmax_rows(logits)
  pmp <- exp(log_pmp)
  true <- held_out$model
  bins <- settings$bins
  boot <- settings$boot
  level <- settings$level

  inputs <- prepare_metrics(pmp, log_pmp, true, bins, held_out$reference)
  estimate <- metric_values(inputs)
  # The bootstrap and the calibration test draw from R's generator, seeded
  # from `seed` so that a validation is reproducible as a whole.
  resampled <- with_local_seed(settings$seed, {
    list(
      boot = if (boot > 0) bootstrap_metrics(inputs, boot),
      null = if (boot > 0) null_ece(pmp, bins, boot)
    )
  })
  ece <- estimate[paste0("ece_", model_names)]
  confusion <- confusion_matrix(pmp, true, model_names)
  metrics <- lapply(names(validation_metrics), function(name) {
    if (validation_metrics[[name]]$per_model) {
      stats::setNames(unname(estimate[paste0(name, "_", model_names)]),
                      model_names)
    } else {
      estimate[[name]]
    }
  })
  names(metrics) <- names(validation_metrics)

  structure(
    list(
      model = true,
      predicted = max.col(logits, ties.method = "first"),
      logits = logits,
      log_pmp = log_pmp,
      pmp = pmp,
      groups = held_out$groups,
      obs = held_out$obs,
      metrics = metrics,
      estimates = metric_table(estimate, resampled$boot, model_names, level),
      confusion = confusion,
      confusion_share = confusion_shares(confusion),
      calibration = calibration_data(pmp, true, bins, level),
      calibration_test = calibration_test(ece, resampled$null, model_names,
                                          level),
      n = length(true),
      bins = bins,
      boot = boot,
      level = level,
      seed = settings$seed,
      source = held_out$source,
      reference_log_bf = held_out$reference,
      log_bf_bins = if (!is.null(held_out$reference)) {
        log_bf_agreement(
          bayes_factor_recovery_table(log_pmp - log_pmp[, 1],
                                      held_out$reference, model_names)
        )
      }
    ),
    class = "deepbmc_validation"
  )
}

# One row per metric (and model) with its estimate and percentile interval,
# in the order of metric_columns().
metric_table <- function(estimate, replicates, model_names, level) {
  per_model <- vapply(validation_metrics, `[[`, logical(1), "per_model")
  times <- ifelse(per_model, length(model_names), 1L)
  metric <- rep(names(validation_metrics), times)
  model <- unlist(lapply(per_model, function(p) {
    if (p) model_names else NA_character_
  }), use.names = FALSE)
  columns <- metric_columns(model_names)
  probs <- c((1 - level) / 2, 1 - (1 - level) / 2)
  interval <- if (is.null(replicates)) {
    matrix(NA_real_, nrow = length(columns), ncol = 2)
  } else {
    t(apply(replicates[, columns, drop = FALSE], 2, stats::quantile,
            probs = probs, na.rm = TRUE, names = FALSE))
  }
  data.frame(
    metric = metric,
    model = model,
    estimate = unname(estimate[columns]),
    conf_low = interval[, 1],
    conf_high = interval[, 2]
  )
}

confusion_shares <- function(confusion) {
  totals <- rowSums(confusion)
  shares <- sweep(unclass(confusion), 1, pmax(totals, 1), `/`)
  shares[totals == 0, ] <- NA_real_
  as.table(shares)
}

calibration_test <- function(ece, null, model_names, level) {
  if (is.null(null)) {
    return(data.frame(
      model = model_names, ece = unname(ece), null_median = NA_real_,
      null_upper = NA_real_, p_value = NA_real_
    ))
  }
  data.frame(
    model = model_names,
    ece = unname(ece),
    null_median = apply(null, 2, stats::median),
    null_upper = apply(null, 2, stats::quantile, probs = level,
                       names = FALSE),
    # (1 + count) / (1 + draws): the observed value counts as one draw, so
    # the p-value is never 0 (Davison & Hinkley, 1997).
    p_value = (1 + colSums(sweep(null, 2, ece, `>=`))) / (1 + nrow(null)),
    row.names = NULL
  )
}

# Binned calibration data of every model, stacked.
calibration_data <- function(pmp, true, bins, level) {
  model_names <- colnames(pmp)
  tables <- lapply(seq_len(ncol(pmp)), function(k) {
    table <- calibration_table(pmp[, k], true == k, bins, level)
    cbind(model = factor(model_names[[k]], levels = model_names), table)
  })
  do.call(rbind, tables)
}

#' @export
print.deepbmc_validation <- function(x, digits = 3, ...) {
  source_text <- if (identical(x$source, "data")) "held-out" else "simulated"
  boot_text <- if (x$boot > 0) {
    paste0(
      "; ", format(100 * x$level), "% intervals from ", format_count(x$boot),
      " bootstrap resamples"
    )
  } else {
    ""
  }
  cat(
    "<deepbmc_validation> ", format_count(x$n), " ", source_text, " data ",
    if (x$n == 1) "set" else "sets",
    if (x$source == "simulated") {
      paste0(", seed ", format(x$seed, scientific = FALSE))
    },
    boot_text, "\n",
    sep = ""
  )
  estimates <- x$estimates
  overall <- estimates[is.na(estimates$model), ]
  width <- max(nchar(vapply(validation_metrics, `[[`, "", "label"))) + 2
  # metrics that need what this validation lacks (reference values) are NA
  overall <- overall[!is.na(overall$estimate), ]
  for (i in seq_len(nrow(overall))) {
    metric <- validation_metrics[[overall$metric[[i]]]]
    cat(
      formatC(paste0(metric$label, ":"), width = -width),
      format_estimate(overall[i, ], digits + metric$extra_digits),
      if (!is.null(metric$note)) paste0(" ", metric$note),
      "\n",
      sep = ""
    )
  }
  cat("Per model (ECE and MCE with ", x$bins, " bins):\n", sep = "")
  per_model <- estimates[!is.na(estimates$model), ]
  model_names <- colnames(x$pmp)
  shown_metrics <- unique(per_model$metric)
  shown <- vapply(
    shown_metrics,
    function(name) {
      rows <- per_model[per_model$metric == name, ]
      vapply(seq_len(nrow(rows)), function(i) {
        format_estimate(rows[i, ], digits + validation_metrics[[name]]$extra_digits)
      }, character(1))
    },
    character(length(model_names))
  )
  labels <- vapply(validation_metrics[shown_metrics], `[[`, "", "label")
  shown <- matrix(shown, nrow = length(model_names),
                  dimnames = list(model_names, labels))
  print(noquote(shown), right = TRUE)
  print_calibration_verdict(x$calibration_test)
  cat("Confusion matrix (rows: true, columns: predicted):\n")
  print(x$confusion)
  if (!is.null(x$log_bf_bins)) {
    cat("Log BF against ", model_names[[1]], " by bins of the reference:\n",
        sep = "")
    print(x$log_bf_bins, digits = digits, row.names = FALSE)
  }
  invisible(x)
}

format_estimate <- function(row, digits) {
  text <- formatC(row$estimate, digits = digits, format = "f")
  if (is.na(row$conf_low)) {
    return(text)
  }
  paste0(
    text, " [", formatC(row$conf_low, digits = digits, format = "f"), ", ",
    formatC(row$conf_high, digits = digits, format = "f"), "]"
  )
}

# A calibration p-value below 0.01 means the observed ECE is larger than a
# calibrated network would show on this many data sets in 99% of draws.
calibration_alpha <- 0.01

print_calibration_verdict <- function(test, alpha = calibration_alpha) {
  if (all(is.na(test$p_value))) {
    return(invisible())
  }
  flagged <- test$p_value < alpha
  if (any(flagged)) {
    cat(
      "Miscalibrated (p < ", format(alpha), "): ",
      paste0(
        test$model[flagged], " (ECE ",
        formatC(test$ece[flagged], digits = 4, format = "f"),
        ", calibrated networks: ",
        formatC(test$null_upper[flagged], digits = 4, format = "f"),
        " or less; p = ", format.pval(test$p_value[flagged], digits = 2), ")",
        collapse = ", "
      ),
      "\n",
      sep = ""
    )
  } else {
    cat(
      "Calibration: consistent with calibrated PMPs at the ",
      format(100 * alpha), "% level (p = ",
      paste(format.pval(test$p_value, digits = 2), collapse = ", "), ")\n",
      sep = ""
    )
  }
  invisible(flagged)
}

#' Summaries and tables of a validation
#'
#' `summary()` and `as.data.frame()` turn a validation from [validate()] into
#' a tidy table with one row per metric and model: the estimate and its
#' percentile bootstrap interval.
#'
#' @param object,x A validation from [validate()].
#' @param row.names,optional Unused; for compatibility with the generic.
#' @param what `"metrics"` for the table of metrics, `"data_sets"` for one row
#'   per data set with its true and predicted model, sizes and PMPs.
#' @param ... Unused.
#'
#' @return A data frame. For metrics: columns `metric`, `model` (`NA` for
#'   `accuracy`, `log_score` and `brier`, which describe the whole
#'   comparison), `estimate`, `conf_low` and `conf_high`; `summary()` adds the
#'   class `"summary.deepbmc_validation"` for printing. For data sets: columns
#'   `true`, `predicted` (factors), `groups`, `obs` and one `pmp_<model>`
#'   column per model.
#' @export
#' @examples
#' models <- normal_nested_models(groups = 10, obs = 10)
#' fit <- train_comparison(models, epochs = 1, iterations = 20, seed = 1)
#' validation <- validate(fit, n = 200, seed = 2, boot = 50)
#' summary(validation)
#' head(as.data.frame(validation, what = "data_sets"))
as.data.frame.deepbmc_validation <- function(x, row.names = NULL,
                                             optional = FALSE, ...,
                                             what = c("metrics",
                                                      "data_sets")) {
  what <- check_choice(what, c("metrics", "data_sets"))
  if (what == "metrics") {
    return(x$estimates)
  }
  model_names <- colnames(x$pmp)
  pmp <- x$pmp
  colnames(pmp) <- paste0("pmp_", model_names)
  data.frame(
    true = factor(model_names[x$model], levels = model_names),
    predicted = factor(model_names[x$predicted], levels = model_names),
    groups = x$groups,
    obs = x$obs,
    pmp,
    check.names = FALSE
  )
}

#' @rdname as.data.frame.deepbmc_validation
#' @export
summary.deepbmc_validation <- function(object, ...) {
  table <- object$estimates
  attr(table, "validation") <- list(
    n = object$n, bins = object$bins, boot = object$boot,
    level = object$level
  )
  class(table) <- c("summary.deepbmc_validation", "data.frame")
  table
}

#' @export
print.summary.deepbmc_validation <- function(x, digits = 4, ...) {
  settings <- attr(x, "validation")
  cat(
    "Validation on ", format_count(settings$n), " data sets; ECE and MCE with ",
    settings$bins, " bins",
    if (settings$boot > 0) {
      paste0(
        "; ", format(100 * settings$level), "% percentile bootstrap intervals (",
        format_count(settings$boot), " resamples)"
      )
    },
    "\n",
    sep = ""
  )
  shown <- data.frame(
    metric = x$metric,
    model = ifelse(is.na(x$model), "", x$model),
    estimate = formatC(x$estimate, digits = digits, format = "f"),
    conf_low = formatC(x$conf_low, digits = digits, format = "f"),
    conf_high = formatC(x$conf_high, digits = digits, format = "f")
  )
  print(shown, row.names = FALSE, right = TRUE)
  invisible(x)
}

# Held-out data (simulations or data sets of the fit's models) as one packed
# batch in the fit's encoding.
validation_batch <- function(fit, data, call) {
  if (inherits(data, "deepbmc_simulations")) {
    if (encodes_like(data, fit$models)) {
      return(simulations_batch(data, arg = "data", call = call))
    }
    data <- simulations_data(data, arg = "data", call = call)
  }
  prepare_datasets(fit$models, data, NULL, NULL, "data", call)$batch
}
