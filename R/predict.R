# Posterior model probabilities and Bayes factors from a trained network.
#
# The C++ core returns logits (unnormalised log-probabilities). Everything
# after that stays in double and in log space: a log PMP is a logit minus a
# log-sum-exp, and a log Bayes factor is a difference of logits, so results
# are finite however confident the network is.

#' Posterior model probabilities from a trained network
#'
#' Computes the posterior probabilities of the candidate models for one or
#' more data sets with a network trained by [train_comparison()]: one forward
#' pass per data set, in milliseconds. This is a method for the generic
#' [bridgesampling::post_prob()], so the output reads like bridgesampling's.
#'
#' The network is trained with equal numbers of data sets from every model, so
#' its probabilities are posterior probabilities under a uniform prior over the
#' models. Other prior probabilities need no retraining: with logits
#' \eqn{z_k}, the log posterior probability under the prior \eqn{\pi} is
#' \deqn{\log p(M_k \mid x) = z_k + \log \pi_k -
#'   \log \sum_j \exp(z_j + \log \pi_j),}
#' computed with log-sum-exp in double precision, so probabilities are never
#' `NaN`; with `log = TRUE` even probabilities too small for a double
#' (below about `1e-308`) are returned exactly as their logarithms.
#'
#' @param x A trained network from [train_comparison()].
#' @param data One data set, or a list of data sets; see [deepbmc_data] for
#'   the accepted forms (matrix with groups in rows, data frame, list of
#'   numeric vectors per group).
#' @param ... Must be empty; it exists for compatibility with the generic.
#' @param prior_prob Prior model probabilities: a numeric vector with one
#'   positive probability per model, summing to one; names, if given, are
#'   matched to the model names. `NULL` uses those of the model set (see
#'   [model_set()]) or, without any, a uniform prior.
#' @param model_names Names for the models in the output; `NULL` uses those of
#'   the model set (e.g. `c("M0", "M1")`).
#' @param group,response Names of the group and response columns when `data`
#'   are data frames; see [deepbmc_data].
#' @param log Return log probabilities?
#' @param trust Add the attribute `trust`, one verdict per data set: `"ok"`
#'   or why its PMPs should not be trusted as they are (see
#'   [compare_models()], which reports it as a column and can add the
#'   misspecification test).
#' @inheritParams deepbmc_threads
#'
#' @return For one data set, a named numeric vector with one probability per
#'   model. For several data sets, a numeric matrix with one row per data set
#'   and one column per model. With `log = TRUE`, natural logarithms of the
#'   probabilities. For an ensemble (`members` in [train_comparison()]),
#'   the mean of the members' probabilities, with the attribute `member_sd`:
#'   their standard deviation across members, of the same shape, which
#'   shows how far the networks disagree about each data set.
#'
#'   A warning of class `"deepbmc_extrapolation_warning"` says when data sets
#'   have more or fewer groups, or observations per group, than the network
#'   was trained on: its probabilities may then be unreliable.
#'
#' @section Probabilities near 0 and 1:
#' The PMPs are calibrated on data like the training data: among data sets
#' given a PMP of 0.9, about 90% come from that model. In the tails this says
#' only that the evidence is strong. A PMP of \eqn{1 - 10^{-6}} and one of
#' \eqn{1 - 10^{-12}} are both "beyond doubt" for every decision, but their
#' log odds, the log Bayes factors 13.8 and 27.6, are not learnt by a network
#' trained with the log loss: data sets it already classifies with such
#' confidence add almost no gradient, so its log odds saturate (on Study 1
#' the network says about 13 where the exact log Bayes factor is 30 to 100).
#' Tiny tail probabilities (`log = TRUE`) are therefore exact functions of the
#' network's logits but not estimates of the true posterior probabilities
#' beyond the fit's checked range of log Bayes factors ([checked_range()]),
#' which [bayes_factor()] and [compare_models()] flag.
#'
#' @seealso [bayes_factor.deepbmc_fit()], [compare_models()]
#' @method post_prob deepbmc_fit
#' @export
#' @examples
#' models <- normal_nested_models(groups = 10, obs = 10)
#' fit <- train_comparison(models, epochs = 1, iterations = 20, seed = 1)
#'
#' # One data set: 10 groups (rows) of 10 observations
#' x <- matrix(rnorm(100, mean = 0.5), nrow = 10)
#' post_prob(fit, x)
#' post_prob(fit, x, prior_prob = c(0.8, 0.2))
#' post_prob(fit, x, log = TRUE)
#'
#' # Several data sets: one row each
#' sims <- simulate_datasets(models, n = 5, seed = 2)
#' post_prob(fit, sims$data)
post_prob.deepbmc_fit <- function(x, data, ..., prior_prob = NULL,
                                  model_names = NULL, group = NULL,
                                  response = NULL, log = FALSE,
                                  threads = default_threads(),
                                  trust = FALSE) {
  check_dots_empty(...)
  check_fit(x)
  warn_verdict(x)
  trust <- check_flag(trust)
  model_names <- check_model_names(model_names, x$models$model_names)
  prior_prob <- check_prior_prob(
    prior_prob %||% unname(x$models$prior_prob), model_names,
    arg = "prior_prob"
  )
  log <- check_flag(log)
  threads <- check_threads(threads)
  prediction <- predict_logits(x, data, group, response, threads)

  # `log` is an argument here, hence base::log() for the function.
  log_prior <- base::log(prior_prob)
  log_pmp <- prediction_log_pmp(prediction, log_prior)
  result <- if (log) log_pmp else exp(log_pmp)
  colnames(result) <- model_names
  spread <- member_spread(prediction, log_prior)
  if (prediction$single) {
    result <- result[1, ]
    if (!is.null(spread)) {
      spread <- spread[1, ]
    }
  }
  if (!is.null(spread)) {
    if (is.matrix(spread)) {
      colnames(spread) <- model_names
    } else {
      names(spread) <- model_names
    }
    attr(result, "member_sd") <- spread
  }
  if (trust) {
    attr(result, "trust") <- as.vector(data_set_trust(x, prediction, log_prior))
  }
  result
}

#' Bayes factors from a trained network
#'
#' Computes the Bayes factor of one model over another for one or more data
#' sets with a network trained by [train_comparison()]. This is a method for
#' the generic [bridgesampling::bayes_factor()].
#'
#' The log Bayes factor of `model1` over `model2` is the difference of their
#' logits, \eqn{z_1 - z_2}: the prior model probabilities cancel. It is
#' computed in double precision and is finite whenever the logits are. Because
#' Bayes factors of well separated models can exceed the largest double, the
#' default is `log = TRUE`, unlike bridgesampling's.
#'
#' A network learns log Bayes factors only as far as its training data
#' constrain them; beyond that its values saturate (see [checked_range()]).
#' Values beyond the fit's checked range are flagged: printed as
#' `"> upper"` or `"< lower"`, and marked in the result. There they are
#' lower bounds of the evidence in magnitude, not estimates: the true log
#' Bayes factor is usually larger in magnitude.
#'
#' The method's arguments follow the generic, whose third argument is `log`:
#' name `model1` and `model2` in calls (`bayes_factor(fit, x, model1 = "M1",
#' model2 = "M0")`).
#'
#' @param x1 A trained network from [train_comparison()].
#' @param x2 One data set, or a list of data sets; see [deepbmc_data].
#' @param log Return the natural logarithm of the Bayes factor? The default
#'   `TRUE` avoids overflow.
#' @param ... Must be empty; it exists for compatibility with the generic.
#' @param model1,model2 The models compared (Bayes factor in favour of
#'   `model1` over `model2`), by index or by name.
#' @param group,response Names of the group and response columns when the data
#'   are data frames; see [deepbmc_data].
#' @inheritParams deepbmc_threads
#'
#' @return For one data set, an object of class `"deepbmc_bf"`: a list with
#'   `bf` (the (log) Bayes factor), `log`, `beyond_checked` (is the log Bayes
#'   factor beyond the fit's checked range? `NA` for fits without one) and
#'   `checked_range` (its bounds `c(lower, upper)` for this pair of models),
#'   and the attribute `model_names`, printed like bridgesampling's Bayes
#'   factors. For several data sets, a numeric vector with one (log) Bayes
#'   factor per data set and the attributes `beyond_checked` (one flag per
#'   data set) and `checked_range`.
#'
#' @seealso [post_prob.deepbmc_fit()], [compare_models()]
#' @method bayes_factor deepbmc_fit
#' @export
#' @examples
#' models <- normal_nested_models(groups = 10, obs = 10)
#' fit <- train_comparison(models, epochs = 1, iterations = 20, seed = 1)
#' x <- matrix(rnorm(100, mean = 0.5), nrow = 10)
#'
#' bayes_factor(fit, x)
#' bayes_factor(fit, x, model1 = "M1", model2 = "M0")
#' bayes_factor(fit, x, log = FALSE, model1 = "M1", model2 = "M0")
bayes_factor.deepbmc_fit <- function(x1, x2, log = TRUE, ..., model1 = 1,
                                     model2 = 2, group = NULL, response = NULL,
                                     threads = default_threads()) {
  if (is.character(log) || is.numeric(log) || is.factor(log)) {
    # bayes_factor(fit, x, "M1", "M0"): the generic's third argument is log.
    abort_supplied(
      c(
        "{.arg log} must be {.code TRUE} or {.code FALSE}.",
        i = "Models are compared by name: {.code bayes_factor(fit, data,
             model1 = \"M1\", model2 = \"M0\")}; the third argument is
             {.arg log}, as in bridgesampling's generic."
      ),
      log, "type"
    )
  }
  check_dots_empty(...)
  check_fit(x1)
  warn_verdict(x1)
  log <- check_flag(log)
  model_names <- x1$models$model_names
  model1 <- check_model_index(model1, model_names)
  model2 <- check_model_index(model2, model_names)
  threads <- check_threads(threads)
  prediction <- predict_logits(x1, x2, group, response, threads, arg = "x2")

  # unname(): a one-row logit matrix would otherwise pass a column name on.
  log_bf <- unname(prediction$logits[, model1] - prediction$logits[, model2])
  bounds <- checked_bounds(x1, model1, model2)
  beyond <- beyond_bounds(log_bf, bounds)
  bf <- if (log) log_bf else exp(log_bf)
  if (!log && any(is.infinite(bf))) {
    cli::cli_warn(
      c(
        "Some Bayes factors are too large to represent and are {.val {Inf}}.",
        i = "Use {.code log = TRUE} for their logarithms."
      ),
      class = "deepbmc_overflow_warning"
    )
  }
  if (!prediction$single) {
    attr(bf, "beyond_checked") <- beyond
    attr(bf, "checked_range") <- bounds
    return(bf)
  }
  structure(
    list(bf = bf, log = log, beyond_checked = beyond, checked_range = bounds),
    model_names = model_names[c(model1, model2)],
    class = "deepbmc_bf"
  )
}

#' @export
print.deepbmc_bf <- function(x, ...) {
  model_names <- attr(x, "model_names")
  beyond <- isTRUE(x$beyond_checked)
  value <- if (beyond) {
    bounds <- x$checked_range
    log_bf <- if (x$log) x$bf else log(x$bf)
    bound <- if (log_bf > bounds[["upper"]]) bounds[["upper"]] else bounds[["lower"]]
    paste0(if (bound > 0) "> " else "< ",
           formatC(if (x$log) bound else exp(bound), digits = 1,
                   format = if (x$log) "f" else "g"))
  } else {
    formatC(x$bf, digits = 5, format = "f")
  }
  cat(
    "Estimated ", if (x$log) "log " else NULL, "Bayes factor in favor of ",
    model_names[[1]], " over ", model_names[[2]], ": ", value, "\n",
    sep = ""
  )
  narrow <- narrow_bound(x)
  if (!beyond && !is.na(narrow)) {
    cat(
      "  (the fit was checked only up to ", formatC(narrow, digits = 2,
                                                     format = "f"),
      " in this direction, too narrow to vouch for any evidence; see ",
      "?checked_range)\n",
      sep = ""
    )
  }
  if (beyond) {
    cat(
      "  (the network says ", formatC(x$bf, digits = 5, format = "f"),
      ", beyond the log BF range [",
      formatC(x$checked_range[["lower"]], digits = 1, format = "f"), ", ",
      formatC(x$checked_range[["upper"]], digits = 1, format = "f"),
      "] it was checked over: a bound, not an estimate; see ?checked_range)\n",
      sep = ""
    )
  }
  invisible(x)
}

# The magnitude of the checked bound in the direction of a Bayes factor's
# sign when it is below narrow_range_limit (R/trust.R), else NA.
narrow_bound <- function(x) {
  bounds <- x$checked_range
  if (anyNA(bounds)) {
    return(NA_real_)
  }
  log_bf <- if (x$log) x$bf else log(x$bf)
  bound <- if (log_bf >= 0) bounds[["upper"]] else -bounds[["lower"]]
  if (bound < narrow_range_limit) bound else NA_real_
}

# Logits (data sets x models, double) for user data, plus whether the user
# gave a single data set and the sizes of the data sets. Warns when data sizes
# or input values fall outside what the network was trained on.
predict_logits <- function(fit, data, group, response, threads,
                           arg = "data", call = rlang::caller_env(),
                           summaries = FALSE) {
  if (inherits(data, "deepbmc_simulations")) {
    batch <- simulations_batch(data, arg = arg, call = call)
    # Simulations whose packed values mean what they mean to this network
    # go to C++ as they are; others through their user-facing forms, which
    # are matched to the network's model set by name.
    if (is.null(group) && is.null(response) && encodes_like(data, fit$models)) {
      return(predict_batch_logits(fit, batch, threads, arg, call, summaries))
    }
    data <- simulations_data(data, arg = arg, call = call)
  }
  if (!summaries && is.null(group) && is.null(response) &&
        uses_matrix_path(fit, data)) {
    prediction <- predict_matrix_logits(fit, data, threads, arg, call)
    if (!is.null(prediction)) {
      return(prediction)
    }
  }
  # Many data sets are converted and evaluated a chunk at a time, so that
  # memory holds the packed copy of one chunk, not of all the data.
  parts <- lapply(prediction_chunks(data), function(rows) {
    chunk <- if (length(rows) == length(data)) data else data[rows]
    prepared <- prepare_datasets(fit$models, chunk, group, response, arg,
                                 call)
    prepared <- prepare_for_coding(fit, prepared, arg, call)
    result <- evaluate_batch(fit, prepared$batch, threads, summaries)
    if (summaries) {
      result$summaries <- cbind(result$summaries, data_moments(prepared$batch))
      result$group_summaries <- group_moments(prepared$batch)
    }
    labels <- dataset_labels(arg, rows, prepared$single)
    check_representable(result$finite, labels, call)
    result$logits <- check_logits(result$logits, nrow(prepared$sizes), fit,
                                  call)
    c(result, list(single = prepared$single, sizes = prepared$sizes,
                   labels = labels))
  })
  bind <- function(part) do.call(rbind, lapply(parts, `[[`, part))
  sizes <- bind("sizes")
  outside_sizes <- warn_outside_training(sizes, size_check_models(fit), call)
  outside_inputs <- warn_outside_inputs(
    fit, bind("input_lo"), bind("input_hi"),
    unlist(lapply(parts, `[[`, "labels")), call
  )
  logits <- bind("logits")
  colnames(logits) <- fit$models$model_names
  member_logits <- if (!is.null(parts[[1]]$member_logits)) {
    lapply(seq_len(n_members(fit)), function(m) {
      named_logits(do.call(rbind, lapply(parts, function(part) {
        part$member_logits[[m]]
      })), fit)
    })
  }
  list(logits = logits, member_logits = member_logits,
       single = parts[[1]]$single, sizes = sizes,
       outside_sizes = outside_sizes, outside_inputs = outside_inputs,
       summaries = if (summaries) bind("summaries"),
       group_summaries = if (summaries) bind_group_moments(parts))
}

# Logits with the models' names on their columns.
named_logits <- function(logits, fit) {
  colnames(logits) <- fit$models$model_names
  logits
}

# The members' logits of an evaluation, named; NULL for a single network.
named_member_logits <- function(result, fit) {
  if (is.null(result$member_logits)) {
    return(NULL)
  }
  lapply(result$member_logits, named_logits, fit = fit)
}

# predict_logits() for a packed batch of stored simulations, read in place.
predict_batch_logits <- function(fit, batch, threads, arg, call,
                                 summaries = FALSE) {
  if (!is.null(batch$present) && fit_missing_coding(fit) == "none") {
    batch <- drop_incomplete_rows(batch, arg, call = call)
  }
  sizes <- batch_sizes(batch)
  result <- evaluate_batch(fit, batch, threads, summaries)
  labels <- dataset_labels(arg, seq_len(nrow(sizes)), FALSE)
  check_representable(result$finite, labels, call)
  logits <- check_logits(result$logits, nrow(sizes), fit, call)
  outside_sizes <- warn_outside_training(sizes, size_check_models(fit), call)
  outside_inputs <- warn_outside_inputs(fit, result$input_lo, result$input_hi,
                                        labels, call)
  colnames(logits) <- fit$models$model_names
  list(logits = logits, member_logits = named_member_logits(result, fit),
       single = FALSE, sizes = sizes,
       outside_sizes = outside_sizes, outside_inputs = outside_inputs,
       summaries = if (summaries) cbind(result$summaries, data_moments(batch)),
       group_summaries = if (summaries) group_moments(batch))
}

# How errors and warnings name data sets: `data` for a single one,
# `data[[i]]` for the elements of a list.
dataset_labels <- function(arg, index, single) {
  if (single) arg else paste0(arg, "[[", index, "]]")
}

# Whether `data` is a list of several plain double matrices (groups in rows)
# for a network whose model set reads them (reads_plain_matrices()): the
# form simulate_datasets() gives for the Study 1 models, which C++ reads in
# place.
uses_matrix_path <- function(fit, data) {
  is.list(data) && !is.data.frame(data) && length(data) > 1 &&
    reads_plain_matrices(fit$models) &&
    all(vapply(data, is.matrix, logical(1))) &&
    all(vapply(data, is.double, logical(1))) &&
    !any(vapply(data, is.object, logical(1))) &&
    all(vapply(data, length, integer(1)) > 0L)
}

# predict_logits() for such a list: each data set is converted on the thread
# that evaluates it, with no packed copy. NULL when a data set has values
# that are missing or not finite in single precision: the general path then
# treats NA as missing and names the first data set with a bad value.
predict_matrix_logits <- function(fit, data, threads, arg, call) {
  result <- evaluate_matrices(fit, data, threads)
  if (!all(result$finite)) {
    return(NULL)
  }
  logits <- check_logits(result$logits, length(data), fit, call)
  dims <- vapply(data, dim, integer(2))
  sizes <- data.frame(groups = dims[1, ], min_obs = dims[2, ],
                      max_obs = dims[2, ], mean_obs = as.double(dims[2, ]))
  outside_sizes <- warn_outside_training(sizes, size_check_models(fit), call)
  outside_inputs <- warn_outside_inputs(
    fit, result$input_lo, result$input_hi,
    dataset_labels(arg, seq_along(data), FALSE), call
  )
  colnames(logits) <- fit$models$model_names
  list(logits = logits, member_logits = named_member_logits(result, fit),
       single = FALSE, sizes = sizes, outside_sizes = outside_sizes,
       outside_inputs = outside_inputs)
}

# Index chunks of a list of many data sets, each with about `max_values`
# values (2^22, 32 MB as doubles, unless the option deepbmc.chunk_values
# says otherwise); a single chunk for one data set or a modest list.
prediction_chunks <- function(data,
                              max_values = getOption("deepbmc.chunk_values",
                                                     2^22)) {
  if (is.data.frame(data) || !is.list(data) || length(data) < 2 ||
        !all(vapply(data, function(d) is.matrix(d) || is.data.frame(d) ||
                      is.list(d), logical(1)))) {
    return(list(seq_along(data)))
  }
  values <- vapply(data, function(d) {
    as.double(if (is.data.frame(d)) nrow(d) else length(unlist(d)))
  }, numeric(1))
  if (sum(values) <= max_values) {
    return(list(seq_along(data)))
  }
  chunk <- cumsum(values) %/% max_values
  unname(split(seq_along(data), chunk))
}

# The network computes in single precision: values beyond about 3.4e38 would
# become infinite there and give meaningless probabilities, so they are
# errors. (R has already refused NaN and infinite values.)
check_representable <- function(finite, labels, call) {
  if (all(finite)) {
    return(invisible(TRUE))
  }
  bad <- labels[!finite]
  abort_deepbmc(
    c(
      "{.arg {bad[[1]]}} holds values the network cannot represent.",
      x = "The network computes in single precision, whose largest value is
           about {format(max_float, digits = 3)}; rescale the data.",
      i = if (length(bad) > 1) "{length(bad)} data sets are affected."
    ),
    "data",
    call = call
  )
}

# The logits of `fit` for `n_datasets` data sets, checked: non-finite ones
# are an error that blames diverged training when the fit's history shows
# it, and the scale of the data otherwise.
check_logits <- function(logits, n_datasets, fit, call) {
  n_models <- fit$models$n_models
  if (!is.matrix(logits) || !identical(dim(logits), c(n_datasets, n_models))) {
    abort_deepbmc(
      "Internal error: the network returned logits of the wrong shape.",
      "numeric",
      call = call
    )
  }
  if (!all(is.finite(logits))) {
    if (training_diverged(fit)) {
      abort_deepbmc(
        c(
          "The network returned non-finite outputs: its training diverged.",
          i = "A network whose training diverged is not trained enough to
               be used; train again with a smaller {.arg learning_rate}."
        ),
        "numeric",
        call = call
      )
    }
    abort_deepbmc(
      c(
        "The network returned non-finite outputs.",
        i = "The network computes in single precision; rescale data with
             huge values (beyond about 1e30)."
      ),
      "numeric",
      call = call
    )
  }
  storage.mode(logits) <- "double"
  logits
}

# Whether the training of `fit` diverged, in any phase: stopped as diverged
# or with a loss in its history that is not finite.
training_diverged <- function(fit) {
  # (Read with care: only part of a fit is checked before use.)
  field <- function(part, name) {
    if (is.list(part) && !is.null(names(part))) part[[name]]
  }
  stopped <- c(field(fit$training, "stopped"), field(fit$phases, "stopped"))
  loss <- field(fit$history, "loss")
  any(stopped %in% "diverged") || (is.numeric(loss) && !all(is.finite(loss)))
}

# Which data sets (or size ranges) reach beyond the sizes `models` were
# trained on: fewer or more groups, fewer or more observations per group.
outside_training <- function(models, min_groups, max_groups, min_obs,
                             max_obs) {
  min_groups < models$groups[[1]] | max_groups > models$groups[[2]] |
    min_obs < models$obs[[1]] | max_obs > models$obs[[2]]
}

warn_outside_training <- function(sizes, models, call) {
  outside <- outside_training(models, sizes$groups, sizes$groups,
                              sizes$min_obs, sizes$max_obs)
  if (any(outside)) {
    n_outside <- sum(outside)
    n_total <- length(outside)
    training_sizes <- format_sizes(models)
    cli::cli_warn(
      c(
        "{n_outside} of {n_total} data set{?s} lie{?s/} outside the sizes the
         network was trained on; its probabilities may be unreliable there.",
        i = "Trained on {training_sizes}.",
        size_advice(sizes, models)
      ),
      class = "deepbmc_extrapolation_warning",
      call = call
    )
  }
  invisible(outside)
}

# What training would cover data of these sizes: the call to make, with the
# numbers filled in. Fewer observations per group come from training with
# missing observations (the size check then starts at 1); other group counts
# from a model set with those groups (for formula sets, a resampled design).
size_advice <- function(sizes, models) {
  advice <- character()
  min_obs <- min(sizes$min_obs)
  if (min_obs < models$obs[[1]]) {
    share <- ceiling(10 * (1 - min_obs / models$obs[[1]])) / 10
    advice <- c(advice, paste0(
      "For fewer observations per group, train with {.code missing = ",
      "missing_values(share = c(0, ", min(share, 0.9), "))}."
    ))
  }
  groups <- range(sizes$groups)
  if (max(sizes$max_obs) > models$obs[[2]]) {
    advice <- c(advice, "For more observations per group, train on a model
                         set that has them.")
  }
  if (groups[[1]] < models$groups[[1]] || groups[[2]] > models$groups[[2]]) {
    wanted <- c(min(groups[[1]], models$groups[[1]]),
                max(groups[[2]], models$groups[[2]]))
    advice <- c(advice, if (inherits(models, "deepbmc_formula_models")) {
      paste0(
        "For other numbers of groups, train on {.code model_set(..., ",
        "design = \"resample\", groups = c(", wanted[[1]], ", ",
        wanted[[2]], "))}."
      )
    } else {
      paste0(
        "For other numbers of groups, train on a model set with ",
        "{.code groups = c(", wanted[[1]], ", ", wanted[[2]], ")}."
      )
    })
  }
  stats::setNames(advice, rep("i", length(advice)))
}

# Input values far outside every value the network saw in training (fit$
# input_range, per feature): beyond the training range by more than the
# range's own width. A network extrapolates there by whatever its last layers
# happen to do, so its probabilities mean little. Fits trained before
# deepbmc recorded the range are not checked.
warn_outside_inputs <- function(fit, input_lo, input_hi, labels, call) {
  seen <- fit$input_range
  if (is.null(seen) || length(labels) == 0) {
    return(invisible(rep(FALSE, length(labels))))
  }
  input_lo <- matrix(input_lo, nrow = length(labels))
  input_hi <- matrix(input_hi, nrow = length(labels))
  width <- pmax(seen$hi - seen$lo, 1e-6 * pmax(1, abs(seen$lo), abs(seen$hi)))
  below <- sweep(input_lo, 2, seen$lo - width, `<`)
  above <- sweep(input_hi, 2, seen$hi + width, `>`)
  far <- below | above
  far[is.na(far)] <- FALSE
  outside <- rowSums(far) > 0
  if (!any(far)) {
    return(invisible(outside))
  }
  features <- input_feature_names(fit$models)
  cell <- which(far, arr.ind = TRUE)
  cell <- cell[order(cell[, 1], cell[, 2]), , drop = FALSE]
  shown <- utils::head(cell, 3)
  details <- vapply(seq_len(nrow(shown)), function(i) {
    d <- shown[i, 1]
    j <- shown[i, 2]
    sprintf(
      "%s, %s: values from %s to %s; trained on %s to %s.",
      labels[[d]], features[[j]],
      format(input_lo[d, j], digits = 3), format(input_hi[d, j], digits = 3),
      format(seen$lo[[j]], digits = 3), format(seen$hi[[j]], digits = 3)
    )
  }, character(1))
  # Feature names and labels are the user's text: shown, never interpreted.
  details <- cli_escape(details)
  n_far <- length(unique(cell[, 1]))
  cli::cli_warn(
    c(
      "{n_far} of {length(labels)} data set{?s} hold{?s/} input values far
       outside anything the network saw in training; its probabilities mean
       little there.",
      stats::setNames(details, rep("x", length(details))),
      i = "Check the data's units and scale, or train on models whose
           simulations cover such values."
    ),
    class = "deepbmc_input_range_warning",
    call = call
  )
  invisible(outside)
}

# Arguments in the wrong order or fits that lost their class would otherwise
# reach bridgesampling's methods, whose errors speak of marginal likelihoods.
# These methods say what is wrong; lists that do not look like fits go on to
# bridgesampling.

#' @export
post_prob.deepbmc_simulations <- function(x, ...) {
  abort_swapped_arguments("post_prob")
}

#' @export
bayes_factor.deepbmc_simulations <- function(x1, x2, log = FALSE, ...) {
  abort_swapped_arguments("bayes_factor")
}

#' @export
post_prob.list <- function(x, ...) {
  if (looks_like_fit(x)) abort_classless_fit("x")
  NextMethod()
}

#' @export
bayes_factor.list <- function(x1, x2, log = FALSE, ...) {
  if (looks_like_fit(x1)) abort_classless_fit("x1")
  NextMethod()
}

looks_like_fit <- function(x) {
  all(c("weights", "config", "models", "network") %in% names(x))
}

abort_swapped_arguments <- function(verb, call = rlang::caller_env()) {
  abort_deepbmc(
    c(
      "The first argument of {.fun {verb}} must be the trained network, the
       second the data.",
      x = "You gave simulated data sets first.",
      i = "Write {.code {verb}(fit, sims)}."
    ),
    "type",
    call = call
  )
}

abort_classless_fit <- function(arg, call = rlang::caller_env()) {
  abort_deepbmc(
    c(
      "{.arg {arg}} looks like a trained network that lost its class
       {.cls deepbmc_fit}.",
      i = "Use the object {.fun train_comparison} returned, or reload it with
           {.fun readRDS}."
    ),
    "fit",
    call = call
  )
}
