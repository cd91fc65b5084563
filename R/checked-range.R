# The range of log Bayes factors over which a fit was checked (issue 14).
#
# A network trained with the log loss learns log Bayes factors only where
# its training data pull on them: a data set whose logit difference d already
# has PMP sigma(d) near 1 adds almost no gradient, since the Fisher
# information of the log odds of one data set is p_k p_j / (p_k + p_j)
# (sigma(d) sigma(-d) for two models). Beyond the value where all training
# data sets together carry less than about one unit of that information, the
# logit is free to saturate: on Study 1 this is where network log BFs stop
# following the exact ones (one unit is reached at about 9.5 for the default
# schedule, ten at about 6; see bench/bf_accuracy.md). So every fit carries, for every ordered pair of
# models (k, j), an upper bound of the log BF of k over j it can vouch for;
# the lower bound of k over j is minus the upper bound of j over k.
#
# `checked_range` of a fit is NULL (not known: a fit saved before format
# version 4, or training that stopped before it could be checked) or a list:
# * `upper`: a K x K matrix (dimnames the model names, diagonal NA);
# * `source`: "training" (from the information bound on `n` data sets
#   simulated after training, weighted as the `n_trained` training data
#   sets) or "reference" (after update_checked_range(), from `n` data sets
#   with reference log BFs);
# * `n`, `n_trained`, and for "reference" `tolerance`.

# Data sets simulated after training to estimate the information bound.
checked_range_n <- 1000L

# The information the training data sets beyond the bound must carry about
# the log odds: 10 units, a standard error of about 0.3 were it one number.
# With 1 unit the bound on Study 1 (50 x 50, default schedule) is 9.5, where
# the network's log BFs are already 1 to 3 too small; with 10 it is about 6.
checked_range_information <- 10

# The seed of the data sets the training bound is estimated on: a stream of
# its own, apart from training, the holdout set and validate(fit, seed = seed).
checked_range_seed <- function(seed) {
  (seed + 2^50) %% 2^52
}

# The information bound from the logits of data sets like those of training
# (n x K) and the number of data sets training saw.
information_range <- function(logits, n_trained, model_names) {
  k <- ncol(logits)
  log_pmp <- log_softmax_rows(logits)
  upper <- matrix(NA_real_, k, k, dimnames = list(model_names, model_names))
  for (a in seq_len(k)) {
    for (b in seq_len(k)[-a]) {
      d <- logits[, a] - logits[, b]
      # p_a p_b / (p_a + p_b), in log space
      log_w <- log_pmp[, a] + log_pmp[, b] -
        log_sum_exp_pairs(log_pmp[, a], log_pmp[, b])
      upper[a, b] <- information_bound(d, exp(log_w), n_trained)
    }
  }
  list(upper = upper, source = "training", n = nrow(logits),
       n_trained = as.double(n_trained))
}

log_sum_exp_pairs <- function(x, y) {
  top <- pmax(x, y)
  top + log(exp(x - top) + exp(y - top))
}

# The largest b >= 0 among the values d such that the training data sets with
# d >= b carry at least checked_range_information units of information:
# n_trained * mean(w * (d >= b)) >= checked_range_information. 0 when even
# d >= 0 carries less.
information_bound <- function(d, w, n_trained) {
  keep <- is.finite(d) & d >= 0
  if (!any(keep)) {
    return(0)
  }
  order <- order(d[keep], decreasing = TRUE)
  values <- d[keep][order]
  info <- n_trained * cumsum(w[keep][order]) / length(d)
  enough <- which(info >= checked_range_information)
  if (length(enough) == 0) {
    return(0)
  }
  values[[enough[[1]]]]
}

# The training bound of a freshly trained fit, from data sets simulated (or,
# offline, taken from the holdout set or the stored simulations) after
# training; NULL when the network is not finite.
training_checked_range <- function(fit, source) {
  n_trained <- as.double(fit$training$steps_done) * fit$training$batch_size
  if (n_trained == 0) {
    return(NULL)
  }
  threads <- fit$training$threads
  if (identical(source$name, "simulator")) {
    n <- checked_range_n
    models <- fit$models
    while (n > 100 && as.double(n) * models$groups[[2]] * models$obs[[2]] >
             max_batch_observations) {
      n <- n %/% 2L
    }
    logits <- evaluate_simulated(fit, models_spec(models), n,
                                 checked_range_seed(fit$training$seed),
                                 threads)$logits
  } else {
    batch <- source$holdout
    if (is.null(batch)) {
      bank <- source$spec$batch
      n_bank <- length(bank$model)
      batch <- packed_subset(bank, seq_len(min(n_bank, checked_range_n)))
    }
    logits <- evaluate_batch(fit, batch, threads)$logits
  }
  if (!all(is.finite(logits))) {
    return(NULL)
  }
  information_range(logits, n_trained, fit$models$model_names)
}

# The bounds c(lower, upper) of the log BF of model1 over model2 (indices),
# NA when the fit has no checked range.
checked_bounds <- function(fit, model1, model2) {
  upper <- fit$checked_range$upper
  if (is.null(upper) || model1 == model2) {
    return(c(lower = NA_real_, upper = NA_real_))
  }
  c(lower = -upper[model2, model1], upper = upper[model1, model2])
}

# Which log BFs lie beyond c(lower, upper): NA when the bounds are unknown.
beyond_bounds <- function(log_bf, bounds) {
  if (anyNA(bounds)) {
    return(rep(NA, length(log_bf)))
  }
  log_bf > bounds[["upper"]] | log_bf < bounds[["lower"]]
}

# Log BFs as text, with values beyond the checked range shown as "> upper" or
# "< lower".
format_log_bf <- function(log_bf, lower, upper, digits = 2) {
  text <- format_fixed(log_bf, digits)
  high <- !is.na(upper) & log_bf > upper
  low <- !is.na(lower) & log_bf < lower
  text[high] <- paste(">", formatC(upper[high], digits = 1, format = "f"))
  text[low] <- paste("<", formatC(lower[low], digits = 1, format = "f"))
  text
}

#' The range of log Bayes factors a network was checked over
#'
#' A network trained with the log loss learns log Bayes factors only as far
#' as its training data constrain them. Once a data set is classified with a
#' posterior probability near 1, it adds almost no gradient, so larger log
#' Bayes factors are not learnt and the network's values saturate, typically
#' somewhere between 10 and 25 while the true values go on growing with the
#' evidence. Every fit therefore knows a checked range of log Bayes factors
#' for every pair of models. [bayes_factor()] and [compare_models()] flag
#' values beyond it and print them as `"> upper"` or `"< lower"`.
#'
#' After training, the range comes from 1000 data sets simulated from the
#' models (offline: the holdout set, or the first 1000 stored simulations): it
#' ends where all training data sets with larger log Bayes factors together
#' carry less than ten units of Fisher information about the log odds
#' (\eqn{p_k p_j / (p_k + p_j)} per data set). This needs no reference values
#' and is a property of the training, not a measured accuracy. With reference
#' log Bayes factors, from [validate()] with `reference_log_bf` (e.g. exact
#' values from numerical integration) or from [bridge_compare()],
#' `update_checked_range()` replaces the range of every pair that the
#' references cover by the range of network values over which every
#' reference-checked data set agreed within the tolerance.
#'
#' @param fit A trained network from [train_comparison()].
#' @param checks A result of [validate()] with reference log Bayes factors, or
#'   of [bridge_compare()], made with `fit` itself: both record the network
#'   they checked (its weights, architecture and model set), and checks of
#'   another network are an error of class `"deepbmc_error_mismatch"`
#'   (results saved before they recorded it give a warning of class
#'   `"deepbmc_unverified_warning"`). Its reference values must be finite or
#'   `NA` (no reference for that data set, e.g. failed bridge sampling), and
#'   at least one must be given; otherwise the error is of class
#'   `"deepbmc_error_value"`.
#' @param tolerance Largest accepted difference between the network's and the
#'   reference log Bayes factor: `max(absolute, relative * |reference|)`,
#'   given as `c(absolute = , relative = )`.
#' @param min_n Fewest reference-checked data sets on one side (positive or
#'   negative log Bayes factors) for that side to get a range; with fewer, it
#'   keeps the range from training.
#'
#' @return `checked_range()`: a data frame with one row per ordered pair of
#'   models, columns `model1`, `model2` (log Bayes factor of `model1` over
#'   `model2`), `lower`, `upper` and `source` (`"training"` or
#'   `"reference"`); `NULL` for a fit saved before checked ranges existed (or
#'   whose training stopped before it was checked), for which values are
#'   never flagged (their flags are `NA`). `update_checked_range()`: the fit
#'   with its range replaced.
#' @seealso [bayes_factor_recovery()] for the data behind a reference check.
#' @export
#' @examples
#' models <- normal_nested_models(groups = 10, obs = 10)
#' fit <- train_comparison(models, epochs = 1, iterations = 20, seed = 1)
#' checked_range(fit)
checked_range <- function(fit) {
  check_fit(fit)
  range <- fit$checked_range
  if (is.null(range)) {
    return(NULL)
  }
  upper <- range$upper
  names <- fit$models$model_names
  k <- length(names)
  pairs <- expand.grid(model2 = seq_len(k), model1 = seq_len(k))
  pairs <- pairs[pairs$model1 != pairs$model2, ]
  data.frame(
    model1 = names[pairs$model1],
    model2 = names[pairs$model2],
    lower = -upper[cbind(pairs$model2, pairs$model1)],
    upper = upper[cbind(pairs$model1, pairs$model2)],
    source = range$pair_source[cbind(pairs$model1, pairs$model2)] %||%
      rep(range$source, nrow(pairs)),
    row.names = NULL
  )
}

#' @rdname checked_range
#' @export
update_checked_range <- function(fit, checks,
                                 tolerance = c(absolute = 1, relative = 0.1),
                                 min_n = 10) {
  check_fit(fit)
  if (!is.numeric(tolerance) || length(tolerance) != 2 || anyNA(tolerance) ||
        any(tolerance < 0) || any(!is.finite(tolerance))) {
    abort_deepbmc(
      "{.arg tolerance} must be two finite numbers >= 0 (absolute,
       relative).", "value"
    )
  }
  min_n <- check_whole_number(min_n, max = max_simulations)
  check_checks_network(checks, fit)
  recovery <- checked_recovery(bayes_factor_recovery_of(checks, "checks"))
  names <- fit$models$model_names
  if (!all(c(recovery$model, recovery$reference_model) %in% names)) {
    abort_deepbmc("{.arg checks} compare other models than {.arg fit}.",
                  "mismatch")
  }
  range <- fit$checked_range
  k <- length(names)
  if (is.null(range)) {
    range <- list(upper = matrix(NA_real_, k, k,
                                 dimnames = list(names, names)),
                  source = "training", n = 0L, n_trained = NA_real_)
  }
  pair_source <- range$pair_source %||%
    matrix(range$source, k, k, dimnames = list(names, names))
  tol <- function(reference) {
    pmax(tolerance[[1]], tolerance[[2]] * abs(reference))
  }
  for (model in unique(recovery$model)) {
    rows <- recovery[recovery$model == model, , drop = FALSE]
    a <- match(model, names)
    b <- match(rows$reference_model[[1]], names)
    ok <- abs(rows$network - rows$reference) <= tol(rows$reference)
    positive <- rows$network >= 0
    if (sum(positive) >= min_n) {
      range$upper[a, b] <- agreed_bound(rows$network[positive], ok[positive])
      pair_source[a, b] <- "reference"
    }
    if (sum(!positive) >= min_n) {
      range$upper[b, a] <- agreed_bound(-rows$network[!positive],
                                        ok[!positive])
      pair_source[b, a] <- "reference"
    }
  }
  range$pair_source <- pair_source
  range$source <- if (all(pair_source[!is.na(pair_source)] == "reference")) {
    "reference"
  } else {
    "mixed"
  }
  range$n <- length(unique(recovery$data_set))
  range$tolerance <- tolerance
  fit$checked_range <- range
  fit$checksum <- fit_checksum(fit)
  fit
}

# A validate() or bridge_compare() result measures the network it was made
# with, which it records (network_checksum(), R/fit.R): one of another
# network is refused. Results saved before they recorded it are used with a
# warning.
check_checks_network <- function(checks, fit, call = rlang::caller_env()) {
  recorded <- if (inherits(checks, "deepbmc_validation")) {
    checks$network_checksum
  } else if (inherits(checks, "deepbmc_bridge_comparison")) {
    attr(checks, "network_checksum", exact = TRUE)
  }
  if (!inherits(checks, c("deepbmc_validation",
                          "deepbmc_bridge_comparison"))) {
    return(invisible(checks))
  }
  if (is.null(recorded)) {
    cli::cli_warn(
      c(
        "{.arg checks} do not record the network they checked (they were
         made by an earlier version of deepbmc), so they cannot be matched
         to {.arg fit}.",
        i = "Make sure they come from this network, or run the check
             again."
      ),
      class = "deepbmc_unverified_warning",
      call = call
    )
    return(invisible(checks))
  }
  if (!identical(recorded, network_checksum(fit))) {
    abort_deepbmc(
      c(
        "{.arg checks} were made with another network than {.arg fit}.",
        x = "Their network checksum differs from that of {.arg fit}: other
             weights, architecture or models.",
        i = "Run {.fun validate} or {.fun bridge_compare} on {.arg fit}
             itself."
      ),
      "mismatch",
      call = call
    )
  }
  invisible(checks)
}

# The rows of a recovery table (bayes_factor_recovery_of()) with a reference:
# NA marks a data set without one (or whose bridge sampling failed); an
# infinite or NaN reference, or none at all, is an error.
checked_recovery <- function(recovery, arg = "checks",
                             call = rlang::caller_env()) {
  reference <- recovery$reference
  network <- recovery$network
  if (any(is.infinite(reference) | is.nan(reference)) ||
        any(!is.finite(network))) {
    abort_deepbmc(
      c(
        "{.arg {arg}} hold log Bayes factors that are infinite or NaN.",
        i = "References must be finite, or NA where a data set has none."
      ),
      "value",
      call = call
    )
  }
  recovery <- recovery[!is.na(reference), , drop = FALSE]
  if (nrow(recovery) == 0) {
    abort_deepbmc(
      c(
        "{.arg {arg}} hold no reference log Bayes factor: all are NA.",
        i = "Give reference values for the data sets, e.g. from numerical
             integration or {.fun bridge_compare}."
      ),
      "value",
      call = call
    )
  }
  recovery
}

# The largest value v (values >= 0) such that every data set with a value in
# [0, v] agreed; 0 when the smallest one did not.
agreed_bound <- function(values, ok) {
  order <- order(values)
  values <- values[order]
  ok <- ok[order]
  first_bad <- match(FALSE, ok)
  if (is.na(first_bad)) {
    return(max(values))
  }
  if (first_bad == 1) {
    return(0)
  }
  values[[first_bad - 1]]
}
