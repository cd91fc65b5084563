# The trained network ("deepbmc_fit"): constructor, format version, methods.
#
# A fit keeps only plain R data (numeric weights, lists, a data frame), as
# ranger does, so saveRDS()/readRDS() round trips are exact and no stale
# external pointer can survive a reload. `format_version` changes whenever
# the layout or the meaning of the weights changes; check_fit() refuses
# versions it does not know.
#
# Versions:
# 1. The first layout.
# 2. Adds `holdout_history` and `training$holdout`, `training$holdout_seed`.
#    Version 1 fits are still read, as fits without a holdout set.
# 3. Adds `checksum` (see fit_checksum()), `input_range` (the range of every
#    input feature in training) and `training$stopped`. Fits of versions 1
#    and 2 are still read; without a checksum their model set is checked in
#    C++ at every use instead.
# 4. Adds `checked_range` (the range of log Bayes factors the fit vouches
#    for, R/checked-range.R; in the checksum) and `training$method`. Fits of
#    versions 1 to 3 are still read: they were trained as classifiers and
#    have no checked range, so their log BFs are never flagged (flags NA).
# 5. Adds `phases` (one row per training phase, R/transfer.R), the `phase`
#    column of `history` and `holdout_history` (whose steps count over all
#    phases) and `training$init` (where a fit trained with init = came from).
#    Fits of versions 1 to 4 are still read, as trained in one phase; the
#    checksum is unchanged, so theirs stay valid.
# 6. The checksum also covers what the fit was trained with and on (issue
#    28): the training settings (fit_training_fields) and Adam's state, which
#    resume_training() continues from, and the new
#    `training$simulations_checksum` (the checksum of the stored simulations
#    trained on, NA online). Fits of versions 1 to 5 are still read with
#    their checksums, which cover neither; resume_training() upgrades them.
#    Only fits of versions 1 and 2 may lack a checksum, and only if they hold
#    none of the parts later versions added (check_fit_vintage()).

fit_format_version <- 6L
fit_format_versions <- 1:6

# The training settings in the checksum of a version 6 fit: everything
# resume_training() reads to continue a run, and what print() and summary()
# report. Not `threads` (results do not depend on it, and resuming may
# change it), nor the running `steps_done` and `seconds`.
fit_training_fields <- c(
  "epochs", "iterations", "batch_size", "learning_rate", "holdout",
  "holdout_seed", "seed", "method", "missing", "source", "simulations",
  "simulations_checksum", "patience", "stopped", "init"
)

new_deepbmc_fit <- function(models, network, config, weights, optimizer,
                            history, holdout_history, training) {
  fit <- structure(
    list(
      models = models,
      network = network,
      config = config,
      weights = weights,
      optimizer = optimizer,
      history = history,
      holdout_history = holdout_history,
      training = training,
      input_range = NULL,
      checked_range = NULL,
      checksum = NULL,
      phases = NULL,
      format_version = fit_format_version
    ),
    class = "deepbmc_fit"
  )
  # One phase of the steps done so far; training with init = replaces it.
  fit$phases <- phase_row(1L, 1L, training, models,
                          steps = optimizer$step %||% 0L)
  fit$checksum <- fit_checksum(fit)
  fit
}

# A checksum of everything that decides what a fit answers: weights,
# architecture and configuration, the model set as C++ reads it
# (model_set_fingerprint(): for R simulators their names and features) and
# as R converts data for it, and the training input range. It is computed from
# the values alone (numbers as doubles, strings as UTF-8), never from R's
# serialisation, so it survives saveRDS(), readRDS() and other R versions,
# while any changed value (a damaged file, an edited fit) changes it.
fit_checksum <- function(fit) {
  models <- fit$models
  parts <- list(
    # As the network uses them: in single precision.
    weights = single_precision(fit$weights),
    config = fit$config,
    network = unclass(fit$network),
    spec = model_set_fingerprint(models),
    models = models[c("model_names", "n_models", "n_features", "n_levels",
                      "groups", "obs", "prior_prob", "inputs", "scaling")],
    input_range = fit$input_range
  )
  # Version 4 added the checked range; fits without one (all older fits)
  # keep their checksums.
  if (!is.null(fit$checked_range)) {
    parts$checked_range <- fit$checked_range
  }
  # The training verdict (R/verdict.R) came later; fits without one keep
  # their checksums.
  if (!is.null(fit$verdict)) {
    parts$verdict <- fit$verdict
  }
  # An ensemble's members (R/ensemble.R), each vouched for by its own
  # checksum.
  if (!is.null(fit$members)) {
    parts$members <- member_checksums(fit)
  }
  # Version 6 added the training settings and Adam's state.
  if (isTRUE(fit$format_version >= 6)) {
    training <- if (is.list(fit$training)) fit$training
    parts$training <- lapply(stats::setNames(nm = fit_training_fields),
                             function(field) training[[field]])
    optimizer <- if (is.list(fit$optimizer)) fit$optimizer
    # Adam's moments in single precision, as the weights, so that ASCII
    # serialisation (16 digits) keeps the checksum.
    parts$optimizer <- list(m = single_precision(optimizer$m),
                            v = single_precision(optimizer$v),
                            step = optimizer$step)
  }
  value_hash(parts)
}

# A checksum of the network alone: weights, architecture, configuration and
# model set, the parts that decide the network's outputs. validate() records
# it, so that update_checked_range() applies a validation only to the network
# it measured, whatever else of the fit changed since (the checked range
# itself, a format upgrade).
network_checksum <- function(fit) {
  models <- fit$models
  parts <- list(
    weights = single_precision(fit$weights),
    config = fit$config,
    network = unclass(fit$network),
    spec = model_set_fingerprint(models),
    models = models[c("model_names", "n_models", "n_features", "n_levels",
                      "groups", "obs", "prior_prob", "inputs", "scaling")]
  )
  if (!is.null(fit$members)) {
    parts$members <- member_checksums(fit)
  }
  value_hash(parts)
}

# The checksums of an ensemble's members, as they are stored (each member's
# own is checked by check_fit()).
member_checksums <- function(fit) {
  vapply(fit$members, function(member) {
    if (is.list(member) && is.character(member$checksum) &&
          length(member$checksum) == 1) member$checksum else NA_character_
  }, character(1))
}

# A hash of the values in nested lists of atomic vectors. Every vector
# becomes raw bytes (integers and logicals read as doubles, since only values
# count) behind a tag with its kind, length and names, in depth-first order;
# rlang::hash() then hashes that list of raw vectors. Bytes, not the vectors
# themselves: how R stores a vector (ALTREP, attributes) must not matter.
value_hash <- function(x) {
  rlang::hash(value_bytes(x))
}

# Weights as the float network sees them, for value_bytes().
single_precision <- function(x) {
  structure(list(x), class = "deepbmc_single")
}

value_bytes <- function(x) {
  if (inherits(x, "deepbmc_single")) {
    values <- as.double(x[[1]])
    return(list(charToRaw("f"), writeBin(values, raw(), size = 4,
                                         endian = "little")))
  }
  tag <- function(kind, n, names) {
    c(charToRaw(kind), writeBin(as.double(n), raw(), endian = "little"),
      if (!is.null(names)) writeBin(enc2utf8(as.character(names)), raw()))
  }
  if (is.null(x)) {
    return(list(tag("0", 0, NULL)))
  }
  if (is.list(x)) {
    parts <- lapply(unname(x), value_bytes)
    return(c(list(tag("l", length(x), names(x))),
             unlist(parts, recursive = FALSE)))
  }
  if (is.numeric(x) || is.logical(x)) {
    # 15 significant digits: ASCII serialisation keeps 16, so a fit saved with
    # saveRDS(ascii = TRUE) keeps its checksum; no change below that can
    # change what the float network computes.
    return(list(tag("d", length(x), names(x)),
                writeBin(signif(as.double(x), 15), raw(), endian = "little")))
  }
  text <- enc2utf8(as.character(x))
  text[is.na(text)] <- "\001NA"
  list(tag("c", length(x), names(x)), writeBin(text, raw()))
}

# Mean loss and accuracy over the last epoch, or over the last `iterations`
# steps if training stopped within an epoch.
final_performance <- function(fit) {
  history <- fit$history
  if (nrow(history) == 0) {
    return(list(loss = NA_real_, accuracy = NA_real_, steps = 0L))
  }
  last <- utils::tail(history, fit$training$iterations)
  list(
    loss = mean(last$loss),
    accuracy = mean(last$accuracy),
    steps = nrow(last)
  )
}

# The last holdout evaluation of the last phase, or NULL without one (an
# earlier phase's holdout set is another one, often of other sizes).
final_holdout <- function(fit) {
  holdout_history <- with_phase_column(fit_holdout_history(fit))
  last_phase <- current_phase(fit)$phase
  holdout_history <- holdout_history[holdout_history$phase == last_phase, ,
                                     drop = FALSE]
  if (nrow(holdout_history) == 0) {
    return(NULL)
  }
  last <- holdout_history[which.max(holdout_history$step), ]
  list(
    n = fit_holdout_size(fit),
    loss = last$loss,
    accuracy = last$accuracy,
    epoch = last$epoch
  )
}

format_holdout_line <- function(holdout) {
  if (is.null(holdout)) {
    return(NULL)
  }
  paste0(
    "Holdout (", format_count(holdout$n), " data ",
    if (holdout$n == 1) "set" else "sets", "): loss ",
    formatC(holdout$loss, digits = 4, format = "f"), ", accuracy ",
    formatC(holdout$accuracy, digits = 3, format = "f"), " after epoch ",
    holdout$epoch, "\n"
  )
}

data_sets_per_second <- function(fit) {
  seconds <- fit$training$seconds
  if (seconds <= 0) {
    return(NA_real_)
  }
  fit$training$steps_done * fit$training$batch_size / seconds
}

#' Summarise a trained network
#'
#' `print()` shows a short description of a network trained by
#' [train_comparison()]; `summary()` adds the architecture and the training
#' history's last epoch. Both show the last holdout loss and accuracy when the
#' network was trained with a holdout set.
#'
#' @param object,x A fit from [train_comparison()].
#' @param ... Unused.
#'
#' @return `summary()` returns a list of class `"summary.deepbmc_fit"` with
#'   elements `models`, `network`, `n_weights`, `steps_done`, `total_steps`,
#'   `final_loss`, `final_accuracy` (means over the last epoch), `holdout`
#'   (`NULL` without holdout evaluations, otherwise a list with the number
#'   `n` of holdout data sets and the `loss`, `accuracy` and `epoch` of the
#'   last evaluation), `batch_size`, `learning_rate`, `seconds`,
#'   `data_sets_per_second`, `seed` and `stopped` (`NA`, `"interrupted"`,
#'   `"diverged"` or `"converged"`). `print()` returns `x` invisibly.
#' @export
#' @examples
#' models <- normal_nested_models(groups = 10, obs = 10)
#' fit <- train_comparison(models, epochs = 1, iterations = 20, seed = 1)
#' fit
#' summary(fit)
summary.deepbmc_fit <- function(object, ...) {
  check_fit(object, weights = FALSE)
  final <- final_performance(object)
  structure(
    list(
      models = object$models,
      network = object$network,
      n_weights = length(object$weights),
      steps_done = object$training$steps_done,
      total_steps = object$training$epochs * object$training$iterations,
      final_loss = final$loss,
      final_accuracy = final$accuracy,
      holdout = final_holdout(object),
      batch_size = object$training$batch_size,
      learning_rate = object$training$learning_rate,
      seconds = object$training$seconds,
      data_sets_per_second = data_sets_per_second(object),
      seed = object$training$seed,
      stopped = object$training$stopped %||% NA_character_,
      phases = fit_phases(object)
    ),
    class = "summary.deepbmc_fit"
  )
}

#' @rdname summary.deepbmc_fit
#' @export
print.summary.deepbmc_fit <- function(x, ...) {
  cat(
    "<deepbmc_fit> Trained model comparison network\n",
    "Models: ", paste(x$models$model_names, collapse = ", "),
    " (", class(x$models)[[1]], "; ", format_sizes(x$models), ")\n",
    sep = ""
  )
  cat(format(x$network), sep = "\n")
  cat(
    "Weights: ", format_count(x$n_weights), "\n",
    format_training_lines(x),
    sep = ""
  )
  invisible(x)
}

format_training_lines <- function(x) {
  paste0(
    "Training: ", format_count(x$steps_done), " of ",
    format_count(x$total_steps), " steps x ", x$batch_size,
    " data sets, learning rate ", format(x$learning_rate), ", seed ",
    format(x$seed, scientific = FALSE), "\n",
    "Last epoch: loss ", formatC(x$final_loss, digits = 4, format = "f"),
    ", accuracy ", formatC(x$final_accuracy, digits = 3, format = "f"), "\n",
    format_holdout_line(x$holdout),
    format_stopped_line(x$stopped),
    format_phases_line(x$phases),
    "Time: ", format_seconds(x$seconds), " (",
    format_count(round(x$data_sets_per_second)),
    " data sets/s)\n"
  )
}

#' @rdname summary.deepbmc_fit
#' @export
print.deepbmc_fit <- function(x, ...) {
  check_fit(x, weights = FALSE)
  final <- final_performance(x)
  total_steps <- x$training$epochs * x$training$iterations
  cat(
    "<deepbmc_fit> Network comparing ", x$models$n_models, " models (",
    paste(x$models$model_names, collapse = ", "), ")\n",
    "Data: ", format_sizes(x$models), "\n",
    "Network: ", x$network$n_levels, " levels, ",
    format_count(length(x$weights)), " weights; standardisation: ",
    switch(network_setting(x$network, "standardize"), none = "none", dataset = "per data set"),
    format_network_choices(x$network, x$models),
    "\n",
    "Trained: ", format_count(x$training$steps_done), " of ",
    format_count(total_steps), " steps in ",
    format_seconds(x$training$seconds), "; last epoch loss ",
    formatC(final$loss, digits = 4, format = "f"), ", accuracy ",
    formatC(final$accuracy, digits = 3, format = "f"), "\n",
    format_holdout_line(final_holdout(x)),
    format_stopped_line(x$training$stopped),
    format_verdict_line(x$verdict),
    format_narrow_range_line(x),
    format_members_line(x),
    format_phases_line(fit_phases(x)),
    sep = ""
  )
  invisible(x)
}

# Why training stopped early, if it did (fits before format version 3 do not
# record it).
format_stopped_line <- function(stopped) {
  if (is.null(stopped) || is.na(stopped)) {
    return(NULL)
  }
  switch(stopped,
    interrupted = "Stopped early: interrupted\n",
    converged = "Stopped early: the holdout loss stopped falling\n",
    diverged = paste0(
      "Stopped early: training diverged (last finite state kept); ",
      "train again with a smaller learning rate\n"
    ),
    paste0("Stopped early: ", stopped, "\n")
  )
}

format_seconds <- function(seconds) {
  if (is.na(seconds)) {
    return("NA")
  }
  if (seconds < 60) {
    return(paste0(formatC(seconds, digits = 1, format = "f"), " s"))
  }
  if (seconds < 3600) {
    return(paste0(formatC(seconds / 60, digits = 1, format = "f"), " min"))
  }
  paste0(formatC(seconds / 3600, digits = 1, format = "f"), " h")
}
