# The Stan programs of the recognition-memory models (inst/stan/
# recognition_sdt.stan and recognition_mpt.stan) and the data list they read.

#' @export
stan_programs.deepbmc_recognition_memory <- function(models,
                                                     call = rlang::caller_env()) {
  programs <- lapply(c(sdt = "sdt", mpt = "mpt"), function(model) {
    list(
      code = recognition_stan_code(model),
      name = paste0("recognition_", model),
      data = function(dataset, arg = "data", group = NULL, response = NULL) {
        recognition_stan_data(dataset, arg = arg, group = group)
      }
    )
  })
  stats::setNames(programs, models$model_names)
}

# The text of inst/stan/recognition_sdt.stan or recognition_mpt.stan.
recognition_stan_code <- function(model) {
  file <- paste0("recognition_", model, ".stan")
  path <- system.file("stan", file, package = "deepbmc")
  if (!nzchar(path)) {
    abort_deepbmc("Internal error: cannot find {.file {file}}.", "value")
  }
  paste0(paste(readLines(path, warn = FALSE), collapse = "\n"), "\n")
}

# The data list of both programs for one data set in a form post_prob()
# accepts for these models (a data frame with the participant column,
# `stimulus` and `response`, or a list of per-participant matrices): counts
# per participant. Both programs write the likelihood of the trials from
# these counts, which are sufficient statistics of it. A trial with a missing
# stimulus or response says nothing about the rates and is dropped, as are
# participants left without trials.
recognition_stan_data <- function(dataset, arg = "data", group = NULL,
                                  call = rlang::caller_env()) {
  features <- c("stimulus", "response")
  converted <- as_feature_datasets(dataset, features, group = group,
                                   default_group = "participant", arg = arg,
                                   call = call)
  if (!converted$single) {
    abort_deepbmc(
      c("{.arg {arg}} must be one data set.",
        x = "It holds {length(converted$datasets)} data sets."),
      "data",
      call = call
    )
  }
  converted <- converted$datasets[[1]]
  trials <- matrix(converted$values, ncol = 2L, byrow = TRUE,
                   dimnames = list(NULL, features))
  participant <- rep.int(seq_along(converted$sizes), converted$sizes)
  complete <- stats::complete.cases(trials)
  trials <- trials[complete, , drop = FALSE]
  participant <- participant[complete]
  if (nrow(trials) == 0) {
    abort_deepbmc(
      "{.arg {arg}} has no trial with both a stimulus and a response.",
      "data",
      call = call
    )
  }
  for (feature in features) {
    check_coded_column(trials[, feature], TRUE, feature, arg, call)
  }
  # Participants numbered 1, 2, ... over those with a complete trial.
  participant <- match(participant, unique(participant))
  n <- max(participant)
  old <- trials[, "stimulus"] == 1
  said_old <- trials[, "response"] == 1
  list(
    M = n,
    n_old = tabulate(participant[old], nbins = n),
    hits = tabulate(participant[old & said_old], nbins = n),
    n_new = tabulate(participant[!old], nbins = n),
    false_alarms = tabulate(participant[!old & said_old], nbins = n)
  )
}
