# Whether a training run looks done, from its holdout set: the default
# holdout size, the checks after training and the warning that reports them.
#
# Online training never reuses a data set, so a holdout loss that is still
# falling means more steps would still help, and one at chance means the
# network has not found what tells the models apart. Neither shows in the
# PMPs themselves, which look plausible either way.

# Held-out data sets by default (`holdout = NULL`): online, 5% of the data
# sets of one epoch, at most 500 and none below 100 (too few to judge by),
# a multiple of the number of models; offline none, because they would be
# taken from the user's stored simulations.
default_holdout <- function(models, simulations, iterations, batch_size) {
  if (!is.null(simulations)) {
    return(0L)
  }
  n_models <- models$n_models
  n <- min(500, floor(0.05 * iterations * batch_size))
  per_set <- as.double(models$groups[[2]]) * models$obs[[2]]
  n <- min(n, floor(max_batch_observations / per_set))
  n <- n %/% n_models * n_models
  if (n < 100) 0L else as.integer(n)
}

# The holdout losses at chance: within 2% of log(n_models), the loss of
# uniform PMPs on a balanced holdout set.
at_chance <- function(loss, n_models) {
  loss >= 0.98 * log(n_models)
}

# What the last phase's holdout history and the final PMPs on the holdout set
# say is not done: a named character vector of problems (empty if none);
# NULL when there is nothing to judge by: judged only after 3 or more
# evaluated epochs of 100 or more data sets.
# `pmp` and `true` are the final PMPs and the true models of the holdout set.
training_problems <- function(fit, pmp, true, level = calibration_alpha,
                              draws = 200) {
  holdout <- with_phase_column(fit_holdout_history(fit))
  holdout <- holdout[holdout$phase == max(c(holdout$phase, 0L)), ,
                     drop = FALSE]
  loss <- holdout$loss[order(holdout$step)]
  epochs <- length(loss)
  if (epochs < 3 || fit_holdout_size(fit) < 100 || !all(is.finite(loss))) {
    return(NULL)
  }
  n_models <- fit$models$n_models
  chance <- log(n_models)
  problems <- character(0)
  stuck <- at_chance(loss, n_models)
  if (stuck[[epochs]]) {
    problems[["chance"]] <- sprintf(
      paste("The holdout loss is no better than chance after %d epochs",
            "(%.3f; uniform PMPs give %.3f): the network has not learned to",
            "tell the models apart."),
      epochs, loss[[epochs]], chance
    )
  } else if (sum(stuck) >= max(2, epochs / 2)) {
    problems[["chance"]] <- sprintf(
      paste("The holdout loss sat at chance (%.3f) for %d of %d epochs",
            "before it fell: training likely stopped short of what the",
            "network can learn."),
      chance, sum(stuck), epochs
    )
  }
  if (epochs >= 4 && !stuck[[epochs]]) {
    earlier <- floor(0.75 * epochs)
    drop <- min(loss[seq_len(earlier)]) - loss[[epochs]]
    if (drop > max(0.01, 0.03 * loss[[epochs]])) {
      problems[["falling"]] <- sprintf(
        paste("The holdout loss was still falling clearly at the end:",
              "%.4f after epoch %d, %.4f after epoch %d."),
        min(loss[seq_len(earlier)]), which.min(loss[seq_len(earlier)]),
        loss[[epochs]], epochs
      )
    }
  }
  if (!is.null(pmp) && !stuck[[epochs]]) {
    test <- holdout_calibration(pmp, true, fit$training$holdout_seed, draws)
    flagged <- test$p_value < level
    if (any(flagged)) {
      problems[["calibration"]] <- sprintf(
        paste("The PMPs are not calibrated on the %d holdout data sets:",
              "ECE %s (p < %s against calibrated PMPs)."),
        length(true),
        paste0(sprintf("%.3f", test$ece[flagged]), " for ",
               names(test$ece)[flagged], collapse = ", "),
        format(level)
      )
    }
  }
  problems
}

# ECE per model of the holdout PMPs (10 bins, as validate()) with the p-value
# of validate()'s calibration test; R's generator is seeded locally from the
# holdout seed, so the user's stream is untouched and the check reproducible.
holdout_calibration <- function(pmp, true, seed, draws, bins = 10L) {
  bin <- bin_index(pmp, bins)
  gap <- pmp - one_hot(true, ncol(pmp))
  ece <- vapply(seq_len(ncol(pmp)), function(k) {
    binned_errors(bin[, k], gap[, k], bins)$ece
  }, numeric(1))
  names(ece) <- colnames(pmp)
  null <- with_local_seed(seed, null_ece(pmp, bins, draws))
  p_value <- (1 + colSums(sweep(null, 2, ece, `>=`))) / (1 + nrow(null))
  list(ece = ece, p_value = p_value)
}

# The final PMPs of the holdout set, for training_problems(); NULL if the
# network's outputs are no longer finite.
holdout_pmp <- function(fit, batch) {
  logits <- evaluate_batch(fit, batch, fit$training$threads)$logits
  if (!all(is.finite(logits))) {
    return(NULL)
  }
  pmp <- exp(log_softmax_rows(logits))
  colnames(pmp) <- fit$models$model_names
  pmp
}

# Warns, with class "deepbmc_training_warning", when the fit's training
# check (fit$verdict, R/verdict.R) found problems, with advice on what to do;
# returns the problems invisibly. Diverged training has its own warning
# (warn_stopped()).
warn_training_problems <- function(fit) {
  problems <- fit$verdict$problems
  problems <- problems[names(problems) != "diverged"]
  if (length(problems) == 0) {
    return(invisible(character(0)))
  }
  advice <- c(
    i = "Train longer: {.code train_comparison(models, init = fit, epochs =
         ...)} continues from this network with a new learning-rate
         schedule.",
    i = if ("chance" %in% names(problems)) {
      "A network stuck at chance often needs a larger
       {.arg learning_rate} (now {format(fit$training$learning_rate)}) or
       wider layers ({.fun hierarchical_network})."
    },
    i = "Check the result with {.fun validate} before using its PMPs."
  )
  cli::cli_warn(
    c("Training may not be done.",
      stats::setNames(cli_escape(problems), rep("!", length(problems))),
      advice),
    class = "deepbmc_training_warning"
  )
  invisible(problems)
}
