#' Compare the models for one data set
#'
#' Ranks the candidate models for one data set, best first, as
#' `loo::loo_compare()` does: posterior model probabilities, their logarithms,
#' and each model's log Bayes factor against the best model.
#'
#' @inheritParams post_prob.deepbmc_fit
#' @param fit A trained network from [train_comparison()].
#' @param data One data set; see [deepbmc_data].
#'
#' @return A data frame of class `"deepbmc_comparison"` with one row per
#'   model, ordered by posterior probability (best first) and columns `model`,
#'   `pmp` (posterior model probability), `log_pmp` and `log_bf` (log Bayes
#'   factor of the model against the first row: 0 for the best model and
#'   negative for the others when the prior is uniform). The attribute
#'   `prior_prob` holds the prior probabilities used.
#'
#' @seealso [post_prob.deepbmc_fit()], [bayes_factor.deepbmc_fit()]
#' @export
#' @examples
#' models <- normal_nested_models(groups = 10, obs = 10)
#' fit <- train_comparison(models, epochs = 1, iterations = 20, seed = 1)
#' x <- matrix(rnorm(100, mean = 0.5), nrow = 10)
#' compare_models(fit, x)
compare_models <- function(fit, data, prior_prob = NULL, group = NULL,
                           response = NULL, threads = 2) {
  check_fit(fit)
  prior_prob <- check_prior_prob(prior_prob, fit$models$model_names)
  threads <- check_threads(threads)
  prediction <- predict_logits(fit, data, group, response, threads)
  if (!prediction$single) {
    abort_deepbmc(
      c(
        "{.fun compare_models} compares the models for one data set.",
        x = "{.arg data} holds {nrow(prediction$logits)} data sets.",
        i = "Use {.fun post_prob} or {.fun bayes_factor} for several data sets."
      ),
      "data"
    )
  }
  logits <- prediction$logits[1, ]
  log_pmp <- log_softmax_rows(matrix(logits + log(prior_prob), nrow = 1))[1, ]
  order_best <- order(log_pmp, decreasing = TRUE)
  best <- order_best[[1]]
  comparison <- data.frame(
    model = fit$models$model_names[order_best],
    pmp = exp(log_pmp[order_best]),
    log_pmp = log_pmp[order_best],
    log_bf = logits[order_best] - logits[[best]],
    row.names = NULL
  )
  attr(comparison, "prior_prob") <- stats::setNames(
    prior_prob,
    fit$models$model_names
  )
  class(comparison) <- c("deepbmc_comparison", "data.frame")
  comparison
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
    log_pmp = formatC(x$log_pmp, digits = 2, format = "f"),
    log_bf = formatC(x$log_bf, digits = 2, format = "f"),
    row.names = x$model
  )
  print(shown, right = TRUE)
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
