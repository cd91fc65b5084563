# Transfer learning and continued training (issue 16): training that starts
# from a trained network (train_comparison(init = fit)), the phases of a fit's
# training, and resuming a run that was interrupted (resume_training()).
#
# A fit's training is a sequence of phases. Each phase has its own Adam state
# (fresh at its start), its own cosine schedule over its own epochs *
# iterations steps, and its own settings; `fit$training` holds the settings of
# the last phase and `fit$optimizer$step` counts that phase's steps. The
# `phases` table (format version 5) has one row per phase, and the histories
# number steps globally (cumulatively over the phases) with a `phase` column.
# Fits of format versions 1 to 4 read as one phase.
#
# Randomness: C++ draws every training batch from (seed, step, data set), and
# each phase restarts its step count at 0. Phase p therefore trains on the
# stream of phase_seed(seed, p), so that repeating a call with the same seed
# (to continue training) never repeats the data sets of an earlier phase.
# Phase 1 uses `seed` itself, as fits always did.

# Columns of the phases table, with their types.
phase_columns <- c(
  phase = "integer", steps = "integer", first_step = "integer",
  last_step = "integer", epochs = "integer", iterations = "integer",
  batch_size = "integer", learning_rate = "double", seed = "double",
  source = "character", simulations = "integer",
  groups_min = "integer", groups_max = "integer", obs_min = "integer",
  obs_max = "integer", seconds = "double", stopped = "character"
)

# The seed of the training stream of phase `phase` (a whole number in
# [0, 2^52]): `seed` for the first phase, then offsets by an odd multiple of
# a large constant, exact in double arithmetic (seed + (phase - 1) * step
# stays below 2^53 for any plausible number of phases).
phase_seed <- function(seed, phase = 1L) {
  phase <- phase %||% 1L
  if (phase <= 1L) {
    return(seed)
  }
  (seed + (phase - 1) * 2654435761 * 1024) %% 2^52
}

# The seed the C++ trainer of a fit's current phase uses.
training_stream_seed <- function(fit) {
  phase_seed(fit$training$seed, nrow(fit_phases(fit)))
}

# One row of the phases table for a phase with these settings and sizes.
phase_row <- function(phase, first_step, training, models, steps = 0L,
                      seconds = 0, stopped = NA_character_) {
  data.frame(
    phase = as.integer(phase),
    steps = as.integer(steps),
    first_step = as.integer(first_step),
    last_step = as.integer(first_step + steps - 1L),
    epochs = as.integer(training$epochs),
    iterations = as.integer(training$iterations),
    batch_size = as.integer(training$batch_size),
    learning_rate = as.double(training$learning_rate),
    seed = as.double(training$seed),
    source = as.character(training$source %||% "simulator"),
    simulations = as.integer(training$simulations %||% NA_integer_),
    groups_min = size_bound(models$groups, 1L),
    groups_max = size_bound(models$groups, 2L),
    obs_min = size_bound(models$obs, 1L),
    obs_max = size_bound(models$obs, 2L),
    seconds = as.double(seconds),
    stopped = as.character(stopped %||% NA_character_),
    stringsAsFactors = FALSE
  )
}

# End `i` of a size range, NA for sets that do not know their sizes yet
# (simulator_models() before training).
size_bound <- function(range, i) {
  if (length(range) >= i) as.integer(range[[i]]) else NA_integer_
}

# The phases table of a fit; fits before format version 5 read as one phase.
fit_phases <- function(fit) {
  if (!is.null(fit$phases)) {
    return(fit$phases)
  }
  training <- fit$training
  phase_row(1L, 1L, training, fit$models,
            steps = training$steps_done %||% nrow(fit$history),
            seconds = training$seconds %||% NA_real_,
            stopped = training$stopped %||% NA_character_)
}

# A history (training or holdout) with its `phase` column; histories before
# format version 5 are of phase 1.
with_phase_column <- function(history, phase = 1L) {
  if (is.null(history$phase)) {
    history$phase <- rep(as.integer(phase), nrow(history))
  }
  history
}

# The fit in the layout of this version (6): the phases table and the phase
# columns of the histories added to fits before version 5, and the version
# raised, so that the checksum the caller recomputes covers the training
# settings.
upgrade_fit <- function(fit) {
  if (fit$format_version >= fit_format_version) {
    return(fit)
  }
  if (fit$format_version < 5L) {
    fit$phases <- fit_phases(fit)
    fit$history <- with_phase_column(fit$history)
    fit$holdout_history <- with_phase_column(fit_holdout_history(fit))
  }
  # Version 6: the checksum (recomputed by the caller) covers the training
  # settings; what the fit was trained on is not known.
  fit$format_version <- fit_format_version
  fit
}

# The phase being trained (the last one) and the number of steps of the
# phases before it, which the histories add to the phase's own steps.
current_phase <- function(fit) {
  phases <- fit_phases(fit)
  last <- nrow(phases)
  list(phase = phases$phase[[last]], offset = phases$first_step[[last]] - 1L)
}

# The current phase's row brought up to date with the training state.
close_phase <- function(fit) {
  phases <- fit_phases(fit)
  last <- nrow(phases)
  steps <- as.integer(fit$optimizer$step)
  phases$steps[[last]] <- steps
  phases$last_step[[last]] <- phases$first_step[[last]] + steps - 1L
  phases$seconds[[last]] <- as.double(fit$training$seconds)
  phases$stopped[[last]] <- as.character(
    fit$training$stopped %||% NA_character_
  )
  fit$phases <- phases
  fit
}

# --- init = fit -------------------------------------------------------------

# `init` as a fit: of the right class, not damaged (check_fit()).
check_init <- function(init, call = rlang::caller_env()) {
  if (!inherits(init, "deepbmc_fit")) {
    abort_supplied(
      "{.arg init} must be a trained network from {.fun train_comparison}.",
      init, "type",
      call = call
    )
  }
  check_fit(init, arg = "init", call = call)
}

# The training method of a phase that starts from `init`: `method` (NULL for
# init's own), with the size references of a size-scaled head kept from
# init. Those references are the sizes the head's rates are relative to
# (R/training-method.R); they are part of what the weights mean, so a phase
# at other sizes keeps them, and the network extrapolates linearly in the
# share of init's training design, as it was trained to.
init_method <- function(method, init, call = rlang::caller_env()) {
  method <- method %||% init$training$method %||% "classifier"
  method <- check_training_method(method, arg = "method", call = call)
  reference <- init$config$size_reference
  if (isTRUE(method$size_scaled) && !is.null(reference)) {
    method$size_reference <- reference
  }
  method
}

# Errors unless a network with `config` for `models` can start from init's
# weights: the same model names in the same order, the same features and the
# same architecture and head (everything in the configuration the C++ core
# reads; with init's size references, see init_method()).
check_init_matches <- function(init, models, network, config,
                               call = rlang::caller_env()) {
  mismatch <- function(problem, hint) {
    abort_deepbmc(c(problem, i = hint), "mismatch", call = call)
  }
  if (!identical(as.character(init$models$model_names),
                 as.character(models$model_names))) {
    mismatch(
      "{.arg init} was trained on other models than {.arg models}:
       {.val {init$models$model_names}}, not
       {.val {models$model_names}}.",
      "A network can start from {.arg init} only for the same models, in
       the same order."
    )
  }
  init_features <- input_feature_names(init$models)
  features <- input_feature_names(models)
  if (!identical(as.integer(init$models$n_features),
                 as.integer(models$n_features)) ||
        !identical(init_features, features)) {
    mismatch(
      "{.arg init} reads other features than {.arg models} give:
       {.val {init_features}}, not {.val {features}}.",
      "The network's inputs are the features; they must be the same, in the
       same order."
    )
  }
  if (!identical(network_with_settings(init$network),
                 network_with_settings(network))) {
    mismatch(
      "{.arg network} is not the architecture of {.arg init}.",
      "Leave {.arg network} = NULL to keep {.arg init}'s architecture."
    )
  }
  # How missing values are coded may change between phases as long as the
  # network's input keeps its width (init_missing_config()).
  fields <- setdiff(union(names(init$config), names(config)),
                    missing_coding_fields)
  differ <- fields[!vapply(fields, function(field) {
    identical(init$config[[field]], config[[field]])
  }, logical(1))]
  if (length(differ) > 0) {
    mismatch(
      "{.arg init}'s network has another configuration: {.field {differ}}
       differ{?s/}.",
      "Use the training method of {.arg init}
       ({.val {init$training$method$name %||% 'classifier'}}): the head's
       form is part of what its weights mean."
    )
  }
  invisible(init)
}

# Fields of the configuration that say how missing values are coded.
missing_coding_fields <- c("missing_coding", "placeholder")

# The configuration of a phase that starts from `init`, as far as missing
# values go. Without `missing` the phase keeps init's coding (and draws no
# missing values). With `missing`, its coding may differ from init's when the
# network's input keeps its width: with one feature every coding is the plain
# input, and a placeholder replaces values in place. The paper's recipe,
# pretraining on complete data and fine-tuning with missing values, needs an
# indicator-coded network from the start when there are several features.
init_missing_config <- function(config, init, missing,
                                call = rlang::caller_env()) {
  if (is.null(missing)) {
    config[missing_coding_fields] <- NULL
    for (field in intersect(missing_coding_fields, names(init$config))) {
      config[[field]] <- init$config[[field]]
    }
    return(config)
  }
  if (coded_input_width(config) != coded_input_width(init$config)) {
    abort_deepbmc(
      c(
        "{.arg missing} codes missing values by {.val {missing$coding}};
         {.arg init} was trained with coding
         {.val {init$config$missing_coding %||% 'none'}}, so its input has
         another width.",
        i = "Pretrain with {.code missing = missing_values(share = 0)} (no
             values go missing, but the network gets presence indicators),
             or fine-tune with the coding of {.arg init}."
      ),
      "mismatch",
      call = call
    )
  }
  config
}

# Width of the network's input: presence indicators double it with several
# features (src/input_coding.h).
coded_input_width <- function(config) {
  width <- as.integer(config$input_dim)
  if (identical(config$missing_coding, "indicator") && width > 1L) {
    width <- 2L * width
  }
  width
}

# The fit a phase that starts from `init` begins as: init's weights with a
# fresh Adam state, its histories and phases, its input range (which the new
# phase widens) and where it came from.
start_from_init <- function(fit, init) {
  phases <- fit_phases(init)
  previous <- sum(phases$steps)
  phase <- nrow(phases) + 1L
  fit$weights <- init$weights
  fit$input_range <- init$input_range
  fit$history <- with_phase_column(init$history)
  fit$holdout_history <- with_phase_column(fit_holdout_history(init))
  fit$training$init <- list(
    checksum = init$checksum %||% NA_character_,
    steps = as.integer(previous),
    phases = nrow(phases),
    format_version = as.integer(init$format_version)
  )
  fit$phases <- rbind(
    phases,
    phase_row(phase, previous + 1L, fit$training, fit$models)
  )
  rownames(fit$phases) <- NULL
  fit$checksum <- fit_checksum(fit)
  fit
}

# --- resume_training() ------------------------------------------------------

#' Resume training that was interrupted
#'
#' Continues the training of a network whose training was stopped early by
#' an interrupt (Ctrl-C, Esc in RStudio; see [train_comparison()]) up to the
#' planned `epochs * iterations` steps of its last phase, with its own Adam
#' state, learning-rate schedule, seed and settings.
#'
#' The result is the one the uninterrupted run would have given: weights,
#' Adam state, training and holdout histories, input range and checked range
#' are identical (bit for bit), since every batch is simulated from the seed,
#' the step and the data set's index and the learning rate follows from the
#' step. Only the recorded training time differs. This holds for any number
#' of interrupts and resumes, and for any number of threads.
#'
#' To train a network that finished its training further, start a new phase
#' from it with `train_comparison(models, init = fit)` instead.
#'
#' The fit's checksum covers its training settings (seed, epochs,
#' iterations, batch size, learning rate, ...) and Adam's state, so a fit
#' edited since it was trained is an error of class `"deepbmc_error_fit"`
#' rather than a run that differs from the one it promises.
#'
#' @param fit A fit from [train_comparison()] whose training was interrupted
#'   (`fit$training$stopped` is `"interrupted"`).
#' @param simulations For a fit trained on stored simulations, the same
#'   simulations from [simulate_datasets()]; `NULL` for fits trained online.
#'   The fit records their checksum (`training$simulations_checksum`), so
#'   other simulations, even of the same number (reordered, changed), are an
#'   error of class `"deepbmc_error_mismatch"`. Fits saved before deepbmc
#'   recorded it (format version 5 and older) check the number only.
#' @param progress Show progress, as in [train_comparison()]: a bar in
#'   interactive sessions, status lines in others?
#' @inheritParams deepbmc_threads
#'
#' @return The fit trained to the end of its schedule (or interrupted again,
#'   with a warning of class `"deepbmc_interrupted_warning"`).
#' @seealso [train_comparison()] for `init`, which starts a new phase.
#' @export
#' @examples
#' models <- normal_nested_models(groups = 10, obs = 10)
#' # Press Ctrl-C (Esc in RStudio) during training to stop it early ...
#' fit <- train_comparison(models, epochs = 2, iterations = 20, seed = 1)
#' # ... and continue where it stopped:
#' if (identical(fit$training$stopped, "interrupted")) {
#'   fit <- resume_training(fit)
#' }
#' fit
resume_training <- function(fit, simulations = NULL,
                            progress = TRUE,
                            threads = default_threads()) {
  check_fit(fit)
  if (!is.null(fit$members)) {
    abort_deepbmc(
      c(
        "{.arg fit} is an ensemble; {.fun resume_training} resumes a single
         network.",
        i = "An ensemble is returned only when all its members have
             finished. Train on with {.code train_comparison(models, init =
             fit)}, which fine-tunes every member."
      ),
      "value"
    )
  }
  check_fit_optimizer(fit)
  progress <- check_flag(progress)
  threads <- check_threads(threads)
  stopped <- fit$training$stopped %||% NA_character_
  total_steps <- as.double(fit$training$epochs) * fit$training$iterations
  done <- fit$optimizer$step
  if (identical(stopped, "diverged")) {
    abort_deepbmc(
      c(
        "{.arg fit}'s training diverged; resuming it would diverge again.",
        i = "Train again with a smaller {.arg learning_rate} (it was
             {format(fit$training$learning_rate)})."
      ),
      "value"
    )
  }
  if (done >= total_steps || identical(stopped, "converged") ||
        is.na(stopped) && fit$format_version >= 3) {
    abort_deepbmc(
      c(
        "{.arg fit} finished its training ({format_count(done)} of
         {format_count(total_steps)} steps); there is nothing to resume.",
        i = "To train it further, start a new phase from it:
             {.code train_comparison(fit$models, init = fit)}."
      ),
      "value"
    )
  }
  fit <- upgrade_fit(fit)
  fit$training$threads <- threads
  source <- resume_source(fit, simulations)
  fit$training$stopped <- NA_character_
  fit$checksum <- fit_checksum(fit)
  run_training(fit, total_steps = as.integer(total_steps),
               progress = progress, source = source)
}

# Adam's state, which a resumed run continues from: two vectors of the
# weights' length and the number of steps done.
check_fit_optimizer <- function(fit, arg = "fit", call = rlang::caller_env()) {
  optimizer <- fit$optimizer
  n <- length(fit$weights)
  ok <- is.list(optimizer) && is.double(optimizer$m) &&
    is.double(optimizer$v) && length(optimizer$m) == n &&
    length(optimizer$v) == n && is.numeric(optimizer$step) &&
    length(optimizer$step) == 1 && !is.na(optimizer$step) &&
    optimizer$step >= 0 && optimizer$step == round(optimizer$step) &&
    all(is.finite(optimizer$m)) && all(is.finite(optimizer$v))
  if (!ok) {
    abort_deepbmc(
      c(
        "{.arg {arg}} is damaged: its optimizer state is not Adam's state
         for its weights, so its training cannot be resumed.",
        i = "Start a new phase from it instead:
             {.code train_comparison(models, init = fit)}."
      ),
      "fit",
      call = call
    )
  }
  invisible(fit)
}

# The training source of a fit to resume: its model set's simulator, or the
# stored simulations it was trained on (the same number of them).
resume_source <- function(fit, simulations, call = rlang::caller_env()) {
  settings <- fit$training
  offline <- identical(settings$source, "simulations")
  if (offline && is.null(simulations)) {
    abort_deepbmc(
      c(
        "{.arg fit} was trained on stored simulations; pass them as
         {.arg simulations}.",
        i = "They must be the same simulations, to resume the run as it
             was."
      ),
      "value",
      call = call
    )
  }
  if (!offline && !is.null(simulations)) {
    abort_deepbmc(
      c(
        "{.arg fit} was trained online, from its models' simulator;
         {.arg simulations} must be NULL.",
        x = "You supplied {describe_value(simulations)}."
      ),
      "value",
      call = call
    )
  }
  source <- training_source(fit$models, simulations, settings$holdout,
                            settings$seed, call = call)
  source <- missing_source(source, resumed_missing(fit, call), fit$models,
                           settings$seed, call = call)
  if (offline && !identical(as.integer(source$n_simulations),
                            as.integer(settings$simulations))) {
    abort_deepbmc(
      c(
        "{.arg simulations} are not the ones {.arg fit} was trained on.",
        x = "{.arg fit} trained on {settings$simulations} data sets; these
             give {source$n_simulations}."
      ),
      "mismatch",
      call = call
    )
  }
  # Fits since format version 6 record the checksum of their simulations;
  # older ones only their number.
  recorded <- settings$simulations_checksum
  if (offline && is.character(recorded) && !is.na(recorded) &&
        !identical(source$digest, recorded)) {
    abort_deepbmc(
      c(
        "{.arg simulations} are not the ones {.arg fit} was trained on.",
        x = "Their checksum differs from the one {.arg fit} recorded: other,
             reordered or changed data sets, or other true models.",
        i = "Resume with the same simulations, to continue the run as it
             was."
      ),
      "mismatch",
      call = call
    )
  }
  source
}

# --- Printing and checks ----------------------------------------------------

# "50 x 10" or "10-50 x 5-20": groups x observations of a phase.
format_phase_sizes <- function(phases) {
  range_text <- function(lo, hi) {
    ifelse(lo == hi, format_count(lo), paste0(lo, "-", hi))
  }
  paste0(range_text(phases$groups_min, phases$groups_max), " x ",
         range_text(phases$obs_min, phases$obs_max))
}

# "Phases: 2,000 steps at 50 x 10, then 1,000 at 50 x 100", or NULL for a
# fit trained in one phase.
format_phases_line <- function(phases) {
  if (is.null(phases) || nrow(phases) < 2) {
    return(NULL)
  }
  sizes <- format_phase_sizes(phases)
  steps <- vapply(phases$steps, format_count, character(1))
  parts <- paste0(steps, c(" steps", rep("", nrow(phases) - 1)), " at ",
                  sizes)
  paste0("Trained in ", nrow(phases), " phases: ",
         paste(parts, collapse = ", then "), "\n")
}

# A fit of format version 5 has a phases table with the columns of
# phase_columns whose steps follow on from each other.
check_fit_phases <- function(fit, arg, call) {
  if (fit$format_version < 5) {
    return(invisible(fit))
  }
  phases <- fit$phases
  ok <- is.data.frame(phases) && nrow(phases) >= 1 &&
    all(names(phase_columns) %in% names(phases)) &&
    is.numeric(phases$steps) && is.numeric(phases$first_step) &&
    !anyNA(phases$steps) && !anyNA(phases$first_step) &&
    identical(as.double(phases$first_step),
              as.double(cumsum(c(1, phases$steps))[seq_len(nrow(phases))]))
  if (!ok) {
    abort_deepbmc(
      c(
        "{.arg {arg}} is not a complete deepbmc fit.",
        x = "Its {.field phases} is not a table of its training phases."
      ),
      "fit",
      call = call
    )
  }
  invisible(fit)
}

# A row of the holdout history from evaluate_holdout(), which numbers steps
# within the current phase, numbered over all phases and with its phase.
in_phase <- function(row, fit) {
  phase <- current_phase(fit)
  row$step <- as.integer(row$step + phase$offset)
  row$phase <- as.integer(phase$phase)
  row
}

# The missing-value spec a stopped run drew from, rebuilt from what the fit
# keeps of it (missing_record()), so that a resumed run draws the same values.
# A pattern function is not kept in fits, so such a run cannot be resumed.
resumed_missing <- function(fit, call = rlang::caller_env()) {
  record <- fit$training$missing
  if (is.null(record)) {
    return(NULL)
  }
  if (isTRUE(record$has_pattern)) {
    abort_deepbmc(
      c(
        "{.arg fit} drew its missing values from a {.arg pattern} function,
         which fits do not keep, so its run cannot be resumed exactly.",
        i = "Start a new phase instead:
             {.code train_comparison(models, init = fit, simulations = ...,
             missing = missing_values(pattern = ...))}."
      ),
      "value",
      call = call
    )
  }
  record$has_pattern <- NULL
  structure(record, class = "deepbmc_missing")
}
