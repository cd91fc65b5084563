# A fit's training verdict (issue 30): what the training check found, kept
# in the fit (fit$verdict) so that every use of the fit shows it, also after
# readRDS(), instead of one warning at the end of training that is easily
# missed. A list of
#   checked:  TRUE when the check could judge (a holdout set of 100 or more
#             data sets and 3 or more epochs of its history, or diverged
#             training), FALSE when it could not;
#   problems: a named character vector, empty when none were found; names
#             from verdict_labels.
# Fits trained before the verdict existed have none (NULL); the checksum
# covers it when it is there (fit_checksum()).

# The problems a verdict may name, with the short label print() shows.
verdict_labels <- c(
  chance = "no better than chance",
  falling = "holdout loss still falling",
  calibration = "PMPs not calibrated",
  diverged = "training diverged"
)

# The verdict of a fit that has just been trained; `holdout` is the packed
# holdout set (NULL without one). An interrupt while the check runs leaves
# the verdict unjudged rather than losing the fit.
training_verdict <- function(fit, holdout) {
  unjudged <- list(checked = FALSE, problems = character(0))
  stopped <- fit$training$stopped
  if (identical(stopped, "diverged")) {
    return(list(checked = TRUE, problems = c(
      diverged = "Training diverged; the last finite state of the network was kept."
    )))
  }
  if (is.null(holdout) || identical(stopped, "interrupted")) {
    return(unjudged)
  }
  tryCatch(
    {
      pmp <- holdout_pmp(fit, holdout)
      problems <- training_problems(fit, pmp, as.integer(holdout$model))
      if (is.null(problems)) unjudged else list(checked = TRUE, problems = problems)
    },
    interrupt = function(e) unjudged
  )
}

# Whether a stored verdict has the form training_verdict() writes.
valid_verdict <- function(verdict) {
  is.list(verdict) && !is.object(verdict) &&
    identical(names(verdict), c("checked", "problems")) &&
    is.logical(verdict$checked) && length(verdict$checked) == 1 &&
    !is.na(verdict$checked) && is.character(verdict$problems) &&
    !anyNA(verdict$problems) &&
    (length(verdict$problems) == 0 ||
       all(names(verdict$problems) %in% names(verdict_labels))) &&
    (verdict$checked || length(verdict$problems) == 0)
}

# The line of print(fit) that states the verdict (none for fits without one).
format_verdict_line <- function(verdict) {
  if (is.null(verdict)) {
    return(NULL)
  }
  if (!verdict$checked) {
    return(paste0("Training check: not made (it needs a holdout set of 100 or more ",
                  "data sets and 3 or more epochs); check with validate()\n"))
  }
  if (length(verdict$problems) == 0) {
    return("Training check: passed on the holdout set\n")
  }
  paste0("Training check: FAILED (",
         paste(verdict_labels[names(verdict$problems)], collapse = "; "),
         "); its PMPs may be wrong\n")
}

# Warns, with class "deepbmc_verdict_warning", when a fit's training check
# found problems: at every use of the fit's PMPs and Bayes factors.
warn_verdict <- function(fit, call = rlang::caller_env()) {
  problems <- fit$verdict$problems
  if (length(problems) == 0) {
    return(invisible(FALSE))
  }
  headline <- if ("chance" %in% names(problems)) {
    "This network was no better than chance on its holdout set: its PMPs
     say nothing about the data."
  } else {
    "This network's training check found problems: its PMPs may be wrong."
  }
  cli::cli_warn(
    c(headline,
      stats::setNames(cli_escape(unname(problems)), rep("!", length(problems))),
      i = "Train longer with {.code train_comparison(models, init = fit)}
           and check the result with {.fun validate}."),
    class = "deepbmc_verdict_warning",
    call = call
  )
  invisible(TRUE)
}
