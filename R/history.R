# The holdout set evaluated after every epoch, and the training history as one
# tidy data frame.
#
# Training is online, so the per-step training loss is measured on a fresh
# batch of 32 or so data sets: unbiased but noisy. The holdout set (BayesFlow's
# validation_sims) is one fixed set of simulations, so its loss changes only
# when the network does and epochs can be compared directly.

#' Training history of a trained network
#'
#' Collects the per-step training loss and accuracy and the holdout loss and
#' accuracy measured after every epoch (see the `holdout` argument of
#' [train_comparison()]) in one data frame, ready for plotting learning
#' curves, e.g. with ggplot2:
#' `ggplot(training_history(fit), aes(step, loss, colour = set)) + geom_line()`.
#'
#' Training rows describe the batch of freshly simulated data sets of one
#' step, so they are noisy; holdout rows describe the same fixed set of
#' simulated data sets every time, so they show the network's progress more
#' smoothly. Both are in double precision. Online training never reuses a data
#' set, so the two measure the same thing and a widening gap between them
#' does not indicate overfitting as it would with a fixed training set.
#'
#' @param fit A trained network from [train_comparison()].
#'
#' @return A data frame with one row per training step, then one row per
#'   holdout evaluation, each part ordered by step, and columns
#'   * `step`: the training step (integer), counted over all phases of
#'     training (see `init` in [train_comparison()]); a holdout row gives the
#'     step after which it was measured, the last step of its epoch;
#'   * `epoch`: the epoch of the step within its phase (integer);
#'   * `phase`: the phase of training (integer; 1 for a fit trained by one
#'     call of [train_comparison()]);
#'   * `set`: `"training"` or `"holdout"` (a factor with these levels);
#'   * `loss`: mean log loss, the mean negative log posterior probability of
#'     the true model;
#'   * `accuracy`: share of data sets whose most probable model is the true
#'     one.
#'
#'   A fit trained with `holdout = 0`, or saved by a version of deepbmc
#'   without holdout sets, gives training rows only.
#'
#' @seealso [validate()] for a thorough check of the final network.
#' @export
#' @examples
#' models <- normal_nested_models(groups = 10, obs = 10)
#' fit <- train_comparison(models, epochs = 2, iterations = 10, holdout = 50,
#'                         seed = 1)
#' history <- training_history(fit)
#' head(history)
#' history[history$set == "holdout", ]
#'
#' # Mean training loss per epoch next to the holdout loss
#' training <- history[history$set == "training", ]
#' tapply(training$loss, training$epoch, mean)
training_history <- function(fit) {
  check_fit(fit, weights = FALSE)
  sets <- c("training", "holdout")
  parts <- list(fit$history, fit_holdout_history(fit))
  rows <- lapply(seq_along(parts), function(i) {
    part <- parts[[i]]
    part <- part[order(part$step), , drop = FALSE]
    data.frame(
      step = as.integer(part$step),
      epoch = as.integer(part$epoch),
      phase = as.integer(part$phase %||% rep(1L, nrow(part))),
      set = factor(rep(sets[[i]], nrow(part)), levels = sets),
      loss = as.double(part$loss),
      accuracy = as.double(part$accuracy)
    )
  })
  history <- do.call(rbind, rows)
  rownames(history) <- NULL
  history
}

# Fits of format version 1 predate holdout sets; they read as having none.
fit_holdout_history <- function(fit) {
  fit$holdout_history %||% empty_history()
}

fit_holdout_size <- function(fit) {
  fit$training$holdout %||% 0L
}

# A seed for the holdout set that differs from the training seed (seeds lie in
# [0, 2^52], and an offset of half the range modulo 2^52 moves every seed,
# 2^52 itself included) and follows from it, so the fit's seed alone
# reproduces everything. Different seeds alone would already keep the holdout
# set apart from validate(fit, seed = fit$training$seed), which simulates with
# the training seed; the training batches come from another stream purpose
# in C++ anyway.
holdout_seed <- function(seed) {
  (seed + 2^51) %% 2^52
}

# The holdout set as one packed batch (the format of R/data.R) with the true
# models in `model`, or NULL without a holdout set. Packed once, it is only
# read by cpp_predict() after every epoch.
simulate_holdout <- function(fit) {
  n <- fit_holdout_size(fit)
  if (n == 0) {
    return(NULL)
  }
  cpp_simulate(models_spec(fit$models), n, fit$training$holdout_seed,
               fit$training$threads)
}

# One row of the holdout history: the network's mean log loss and accuracy on
# the holdout set with its current weights, after `step` steps. Computed in
# double from the logits. A diverged network (non-finite logits) gets NaN
# rather than an error, so that training still returns; check_fit() reports
# its weights when it is used.
evaluate_holdout <- function(fit, batch, step) {
  logits <- evaluate_batch(fit, batch, fit$training$threads)$logits
  true <- as.integer(batch$model)
  if (all(is.finite(logits))) {
    log_pmp <- log_softmax_rows(logits)
    loss <- -mean(log_pmp[cbind(seq_along(true), true)])
    accuracy <- mean(max.col(logits, ties.method = "first") == true)
  } else {
    loss <- NaN
    accuracy <- NaN
  }
  data.frame(
    step = as.integer(step),
    epoch = as.integer(step %/% fit$training$iterations),
    loss = loss,
    accuracy = accuracy
  )
}
