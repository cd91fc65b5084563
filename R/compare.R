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
#'   the model and prints as `"< bound"`. The attribute `prior_prob` holds
#'   the prior probabilities used.
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
                           response = NULL, threads = default_threads()) {
  check_fit(fit)
  warn_verdict(fit)
  prior_prob <- check_prior_prob(
    prior_prob %||% fit$models$prior_prob, fit$models$model_names,
    arg = "prior_prob"
  )
  threads <- check_threads(threads)
  prediction <- predict_logits(fit, data, group, response, threads)
  model_names <- fit$models$model_names
  comparison <- ranked_models(prediction$logits, prior_prob, model_names)
  comparison <- with_checked_flags(comparison, fit)
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
# PMPs under the prior and log Bayes factors against the data set's best
# model. Ties keep the models' order.
ranked_models <- function(logits, prior_prob, model_names) {
  n_sets <- nrow(logits)
  n_models <- ncol(logits)
  log_pmp <- log_softmax_rows(sweep(logits, 2, log(prior_prob), `+`))
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
  print(shown, right = TRUE)
  if (any(x$beyond_checked %in% TRUE)) {
    cat("< bound: beyond the log BF range the fit was checked over (the\n",
        "network's value is only a bound of the evidence); see ?checked_range\n",
        sep = "")
  }
  invisible(x)
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
