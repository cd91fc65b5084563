#' Compare the models for one or many data sets
#'
#' Ranks the candidate models for a data set, best first, as
#' `loo::loo_compare()` does: posterior model probabilities, their logarithms,
#' and each model's log Bayes factor against the best model. For several data
#' sets the rankings are stacked into one tidy data frame.
#'
#' Prior model probabilities can be changed without retraining: the network,
#' trained with equal numbers of data sets per model, estimates the marginal
#' likelihoods up to a common constant, so the posterior probabilities under
#' another prior are the uniform-prior ones reweighted by the prior and
#' renormalised (see [post_prob.deepbmc_fit()]). Log Bayes factors do not
#' depend on the prior.
#'
#' @inheritParams post_prob.deepbmc_fit
#' @param fit A trained network from [train_comparison()].
#' @param data One data set, or a list of data sets; see [deepbmc_data].
#' @param misspecification Also run [misspecification_test()] (with its
#'   defaults) on every data set, so that `trust` flags data that no
#'   candidate model would produce? The first call for a fit simulates its
#'   reference data sets (seconds for small designs); later calls reuse them.
#' @param fallback `"none"` (the default), or `"bridge"` to answer the data
#'   sets whose `trust` doubts the network by [bridge_compare()] (rstan and
#'   bridgesampling) instead. A data set flagged only as misspecified keeps
#'   the network's answer: the fault is in the candidates, which bridge
#'   sampling would rank alike. Needs Stan programs for the models, which
#'   deepbmc has for its built-in likelihood models and formula model sets;
#'   for models defined by simulators the error says what to do instead.
#' @param bridge Settings of [bridge_compare()] for the fallback, as a named
#'   list (e.g. `list(draws = 2000, cores = 2)`): `chains`, `iter_warmup`,
#'   `draws`, `adapt_delta`, `seed`, `cores`, `method`.
#'
#' @section Can I trust this PMP?:
#' The `trust` column gives one verdict per data set: `"ok"`, or every
#' reason found to doubt it, joined by `"; "`:
#' * `training check failed`: the fit's training verdict found problems (see
#'   [train_comparison()]);
#' * `misspecified (p = ...)`: with `misspecification = TRUE`, the test
#'   rejects the data set at the 5% level: no candidate model looks like it,
#'   so PMPs, which only rank the candidates, mean little;
#' * `beyond the checked range`: a log Bayes factor against the best model
#'   lies beyond the range the fit vouches for ([checked_range()]): the
#'   evidence is strong, but its size is a bound, not an estimate;
#' * `checked range too narrow`: the fit vouches for no log Bayes factor of
#'   the best model beyond 1 (a Bayes factor of about 2.7), so even small
#'   values are unchecked;
#' * `members disagree (sd ...)`: an ensemble's members give PMPs with a
#'   standard deviation above 0.1: the networks do not agree on the answer;
#' * `outside the trained sizes`, `outside the trained inputs`: the data set
#'   has sizes or values the network never saw in training (these also
#'   warn).
#'
#' With `fallback = "bridge"` the data sets flagged for any reason but
#' misspecification are answered by bridge sampling and say so in the
#' columns `trust` and `method`.
#'
#' @return A data frame of class `"deepbmc_comparison"` with one row per
#'   model, ordered by posterior probability (best first) and columns `model`,
#'   `pmp` (posterior model probability), `log_pmp` and `log_bf` (log Bayes
#'   factor of the model against the first row: 0 for the best model and
#'   negative for the others when the prior is uniform), `beyond_checked`
#'   (is `log_bf` beyond the fit's checked range of log Bayes factors for
#'   this pair of models, see [checked_range()]? `NA` for fits without one)
#'   and `checked_bound` (the bound it is checked against: the smallest log
#'   Bayes factor against the best model the fit vouches for; `NA` for the
#'   best model). Beyond it, `log_bf` is only a bound of the evidence against
#'   the model and prints as `"< bound"`. For an ensemble (`members` in
#'   [train_comparison()]), `pmp` is the mean of the members' PMPs and
#'   `member_sd` their standard deviation across members. The attribute
#'   `prior_prob` holds the prior probabilities used. The column `trust`
#'   holds the data set's verdict (see the section below) and, with
#'   `fallback = "bridge"`, `method` says which method gave each row
#'   (`"network"` or `"bridge sampling"`).
#'
#'   For several data sets, a plain data frame with one row per data set and
#'   model, ordered by data set and then best first, with the columns
#'   `data_set` (index), `rank` (1 for the best model) and those above.
#'
#' @seealso [post_prob.deepbmc_fit()], [bayes_factor.deepbmc_fit()]
#' @export
#' @examples
#' models <- normal_nested_models(groups = 10, obs = 10)
#' fit <- train_comparison(models, epochs = 1, iterations = 20, seed = 1)
#' x <- matrix(rnorm(100, mean = 0.5), nrow = 10)
#' compare_models(fit, x)
#' compare_models(fit, x, prior_prob = c(M0 = 0.8, M1 = 0.2))
#'
#' sims <- simulate_datasets(models, n = 3, seed = 2)
#' compare_models(fit, sims)
compare_models <- function(fit, data, prior_prob = NULL, group = NULL,
                           response = NULL, threads = default_threads(),
                           misspecification = FALSE, fallback = "none",
                           bridge = list()) {
  check_fit(fit)
  warn_verdict(fit)
  prior_prob <- check_prior_prob(
    prior_prob %||% fit$models$prior_prob, fit$models$model_names,
    arg = "prior_prob"
  )
  threads <- check_threads(threads)
  misspecification <- check_flag(misspecification)
  fallback <- check_fallback(fallback, fit$models)
  bridge <- check_bridge_settings(bridge)
  if (inherits(data, "deepbmc_simulations") && fallback != "none") {
    data <- simulations_data(data, arg = "data")
  }
  # with the summaries the misspecification test reads, so that the data
  # are evaluated once
  prediction <- predict_logits(fit, data, group, response, threads,
                               summaries = misspecification)
  model_names <- fit$models$model_names
  log_prior <- log(prior_prob)
  log_pmp <- prediction_log_pmp(prediction, log_prior)
  comparison <- ranked_models(prediction$logits, log_pmp, model_names)
  spread <- member_spread(prediction, log_prior)
  if (!is.null(spread)) {
    # the rows of ranked_models(), by data set and then model
    comparison$member_sd <- spread[cbind(
      comparison$data_set, match(comparison$model, model_names)
    )]
  }
  comparison <- with_checked_flags(comparison, fit)
  p_value <- if (misspecification) {
    # misspecification_test()'s defaults
    defaults <- formals(misspecification_test)
    n <- max(defaults$n, 200 * fit$models$n_models)
    reference <- misspecification_reference(fit, n, defaults$seed, threads)
    misspecification_rows(fit, prediction, reference, defaults$level)$p_value
  }
  trust <- data_set_trust(fit, prediction, log_prior, p_value)
  comparison$trust <- trust[comparison$data_set]
  if (fallback == "bridge") {
    datasets <- if (prediction$single) list(data) else data
    comparison <- with_bridge_fallback(
      comparison, fit, datasets, which(attr(trust, "about_network")),
      prior_prob, group, response, threads, bridge
    )
  }
  attr(comparison, "prior_prob") <- stats::setNames(prior_prob, model_names)
  if (!prediction$single) {
    return(comparison)
  }
  comparison$data_set <- NULL
  comparison$rank <- NULL
  class(comparison) <- c("deepbmc_comparison", "data.frame")
  comparison
}

# Flags of the log BFs of a ranked table (against each data set's best
# model) beyond the fit's checked range.
with_checked_flags <- function(comparison, fit) {
  names <- fit$models$model_names
  upper <- fit$checked_range$upper
  model <- match(comparison$model, names)
  best <- model[!duplicated(comparison$data_set)][
    match(comparison$data_set, unique(comparison$data_set))
  ]
  bound <- if (is.null(upper)) {
    rep(NA_real_, nrow(comparison))
  } else {
    -upper[cbind(best, model)]
  }
  bound[model == best] <- NA_real_
  comparison$beyond_checked <- if (is.null(upper)) {
    rep(NA, nrow(comparison))
  } else {
    !is.na(bound) & comparison$log_bf < bound
  }
  comparison$checked_bound <- bound
  comparison
}

# The models for each data set (row of `logits`) ranked best first, stacked:
# PMPs under the prior (`log_pmp`) and log Bayes factors against the data
# set's best model. Ties keep the models' order.
ranked_models <- function(logits, log_pmp, model_names) {
  n_sets <- nrow(logits)
  n_models <- ncol(logits)
  data_set <- rep(seq_len(n_sets), times = n_models)
  model <- rep(seq_len(n_models), each = n_sets)
  ranked <- order(data_set, -log_pmp, model)
  best <- model[ranked][seq(1, by = n_models, length.out = n_sets)]
  best_logit <- logits[cbind(seq_len(n_sets), best)]
  data.frame(
    data_set = data_set[ranked],
    rank = rep(seq_len(n_models), times = n_sets),
    model = model_names[model[ranked]],
    pmp = exp(log_pmp[ranked]),
    log_pmp = log_pmp[ranked],
    log_bf = logits[ranked] - best_logit[data_set[ranked]]
  )
}

#' @export
print.deepbmc_comparison <- function(x, digits = 3, ...) {
  prior_prob <- attr(x, "prior_prob")
  uniform <- is.null(prior_prob) || isTRUE(all.equal(
    unname(prior_prob),
    rep(1 / length(prior_prob), length(prior_prob))
  ))
  cat(
    "Posterior model probabilities (",
    if (uniform) "uniform prior" else "prior as given",
    "), best first;\nlog_bf: log Bayes factor against ", x$model[[1]], "\n",
    sep = ""
  )
  shown <- data.frame(
    pmp = format_probability(x$pmp, digits),
    log_pmp = format_fixed(x$log_pmp, 2),
    log_bf = format_log_bf(x$log_bf, x$checked_bound %||% NA_real_, NA_real_),
    row.names = x$model
  )
  beyond <- x$beyond_checked %in% TRUE
  if (any(beyond)) {
    # PMPs as bounds where the log BF is one, so that the two never
    # disagree (a PMP of 1e-4 beside "log BF < -0.9" did).
    bounds <- pmp_bounds(x, prior_prob)
    shown$pmp[beyond] <- paste("<", format_probability(bounds$upper[beyond],
                                                       digits))
    shown$log_pmp[beyond] <- paste("<", format_fixed(log(bounds$upper[beyond]),
                                                     2))
    shown$pmp[[1]] <- format_lower_probability(bounds$best_lower, digits)
    shown$log_pmp[[1]] <- paste(">", format_fixed(log(bounds$best_lower), 2))
  }
  if (!is.null(x$member_sd)) {
    shown$member_sd <- formatC(x$member_sd, digits = digits, format = "f")
  }
  if (!is.null(x$method)) {
    shown$method <- x$method
  }
  print(shown, right = TRUE)
  if (any(beyond)) {
    cat("< bound: beyond the log BF range the fit was checked over (the\n",
        "network's value is only a bound of the evidence); see ?checked_range\n",
        sep = "")
  }
  if (!is.null(x$trust)) {
    cat("Trust: ", x$trust[[1]], "\n", sep = "")
  }
  invisible(x)
}

# Bounds of the PMPs of a ranked table whose log BFs against the best model
# are bounds: a model with log BF below b has PMP below plogis(b + log prior
# ratio) (its PMP and the best model's sum to at most 1), and the best model
# has at least what the others leave.
pmp_bounds <- function(x, prior_prob) {
  beyond <- x$beyond_checked %in% TRUE
  log_prior <- if (is.null(prior_prob)) {
    rep(0, nrow(x))
  } else {
    log(unname(prior_prob[x$model]))
  }
  upper <- stats::plogis(x$checked_bound + log_prior - log_prior[[1]])
  others <- ifelse(beyond, upper, x$pmp)
  list(upper = upper, best_lower = max(0, 1 - sum(others[-1])))
}

# A lower bound of a probability: "> 0.95", or "> 1 - 7.5e-05" near 1.
format_lower_probability <- function(p, digits) {
  if (1 - p >= 10^-digits) {
    return(paste(">", formatC(p, digits = digits, format = "f")))
  }
  paste("> 1 -", formatC(1 - p, digits = 1, format = "e"))
}

# Probabilities with fixed decimals, but tiny ones in scientific notation
# rather than as a misleading 0.000.
format_probability <- function(p, digits) {
  ifelse(
    p >= 10^-digits | p == 0,
    formatC(p, digits = digits, format = "f"),
    formatC(p, digits = 1, format = "e")
  )
}
