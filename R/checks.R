# Input validation shared by the exported functions.
#
# Every checker names the offending argument, says what was expected and what
# was given, and signals an error of class `c("deepbmc_error_<what>",
# "deepbmc_error")` from the user's call (`call`), so that bad input never
# reaches the C++ core. Checkers return the cleaned value (e.g. as integer), so
# callers write `x <- check_whole_number(x)`.
#
# Error classes used throughout the package:
# * `deepbmc_error_type`: wrong type, class or length of an argument.
# * `deepbmc_error_value`: right type but an impossible value (NA, Inf, not a
#   whole number, out of range, min > max).
# * `deepbmc_error_data`: user data that cannot be converted to data sets.
# * `deepbmc_error_fit`: an object that is not a usable trained network.
# * `deepbmc_error_version`: a fit saved by an unknown version of deepbmc.
# * `deepbmc_error_mismatch`: arguments that do not fit together (e.g. a
#   network with 3 levels for 2-level models).
# * `deepbmc_error_numeric`: the network produced non-finite outputs.
# * `deepbmc_error_missing_package`: a suggested package needed for the
#   request is not installed.

abort_deepbmc <- function(message, what, ..., call = rlang::caller_env(),
                          .envir = parent.frame()) {
  cli::cli_abort(
    message,
    class = c(paste0("deepbmc_error_", what), "deepbmc_error"),
    ...,
    call = call,
    .envir = .envir
  )
}

# The usual shape of an input error: what was expected, then what came.
# The description of `supplied` is substituted, never read as cli markup.
abort_supplied <- function(expected, supplied, what,
                           call = rlang::caller_env(),
                           .envir = parent.frame()) {
  env <- rlang::env(.envir, .supplied = describe_value(supplied))
  abort_deepbmc(c(expected, x = "You supplied {(.supplied)}."), what,
                call = call, .envir = env)
}

# The values the user passed, for error messages: at most the first
# `max`, so that a message about a long vector stays short (and fast).
format_supplied <- function(x, max = 5) {
  shown <- format(unclass(utils::head(as.vector(x), max)), trim = TRUE)
  text <- paste(shown, collapse = ", ")
  if (length(x) > max) {
    text <- paste0(text, ", ... (", format_count(length(x)), " values)")
  }
  text
}

# Short description of what the user passed, for error messages.
describe_value <- function(x) {
  if (is.null(x)) {
    return("`NULL`")
  }
  if (is.atomic(x) && length(x) == 1) {
    # unclass(): a method of format() must not run on a damaged object.
    return(paste0("`", format(unclass(x)), "`"))
  }
  cls <- paste(class(x), collapse = "/")
  article <- if (grepl("^[aeiou]", cls)) "an " else "a "
  paste0(article, cls, " of length ", length(x))
}

check_whole_number <- function(x, arg = rlang::caller_arg(x), min = 1,
                               max = .Machine$integer.max,
                               call = rlang::caller_env()) {
  if (!is.numeric(x) || length(x) != 1 || is.object(x)) {
    abort_supplied(
      "{.arg {arg}} must be a single whole number.",
      x, "type",
      call = call
    )
  }
  check_whole_values(x, arg = arg, min = min, max = max, call = call)
  if (max <= .Machine$integer.max) as.integer(x) else as.double(x)
}

# Value checks for numeric vectors already known to be numeric.
check_whole_values <- function(x, arg, min, max, call) {
  if (anyNA(x)) {
    abort_deepbmc(
      "{.arg {arg}} must not be missing (NA).",
      "value",
      call = call
    )
  }
  if (any(!is.finite(x)) || any(x != round(x))) {
    abort_deepbmc(
      c(
        "{.arg {arg}} must hold whole numbers only.",
        x = "You supplied {.code {format_supplied(x)}}."
      ),
      "value",
      call = call
    )
  }
  if (any(x < min) || any(x > max)) {
    range_text <- if (is.finite(max)) {
      paste("between", format_count(min), "and", format_count(max))
    } else {
      paste("at least", format_count(min))
    }
    abort_deepbmc(
      c(
        "{.arg {arg}} must be {range_text}.",
        x = "You supplied {.code {format_supplied(x)}}."
      ),
      "value",
      call = call
    )
  }
  invisible(x)
}

# A size that is either fixed (one number) or drawn per data set from a range
# c(min, max); returned as an integer vector c(min, max).
check_range <- function(x, arg = rlang::caller_arg(x), min = 1,
                        max = .Machine$integer.max,
                        call = rlang::caller_env()) {
  if (!is.numeric(x) || !length(x) %in% 1:2 || is.object(x)) {
    abort_supplied(
      "{.arg {arg}} must be a single whole number or a range
         {.code c(min, max)}.",
      x, "type",
      call = call
    )
  }
  check_whole_values(x, arg = arg, min = min, max = max, call = call)
  if (length(x) == 2 && x[[1]] > x[[2]]) {
    abort_deepbmc(
      c(
        "{.arg {arg}} must be a range {.code c(min, max)} with min <= max.",
        x = "You supplied {.code c({x[[1]]}, {x[[2]]})}."
      ),
      "value",
      call = call
    )
  }
  as.integer(rep_len(x, 2))
}

# A vector of layer widths, one per hierarchy level.
check_widths <- function(x, arg = rlang::caller_arg(x), max = max_layer_width,
                         call = rlang::caller_env()) {
  if (!is.numeric(x) || length(x) < 1 || is.object(x) || is.matrix(x)) {
    abort_supplied(
      "{.arg {arg}} must be a numeric vector of layer widths, one per level.",
      x, "type",
      call = call
    )
  }
  check_whole_values(x, arg = arg, min = 1, max = max, call = call)
  as.integer(x)
}

# Size ranges of a model set (check_range() results) whose largest data set
# fits in max_dataset_observations (R/limits.R); `unit` names what is counted
# ("observations", "trials").
check_dataset_capacity <- function(groups, obs, unit = "observations",
                                   groups_arg = rlang::caller_arg(groups),
                                   obs_arg = rlang::caller_arg(obs),
                                   call = rlang::caller_env()) {
  largest <- as.double(groups[[2]]) * obs[[2]]
  if (largest > max_dataset_observations) {
    abort_deepbmc(
      c(
        "A data set may hold at most
         {format_count(max_dataset_observations)} {unit}.",
        x = "{.arg {groups_arg}} up to {groups[[2]]} and {.arg {obs_arg}} up to
             {obs[[2]]} allow {format_count(largest)}."
      ),
      "value",
      call = call
    )
  }
  invisible(largest)
}

# A single finite number strictly between `lower` and `upper`; `what` says
# what it is in messages ("positive number").
check_number_in <- function(x, lower, upper, what, arg, call) {
  if (!is.numeric(x) || length(x) != 1 || is.object(x)) {
    abort_supplied(
      "{.arg {arg}} must be a single {what}.",
      x, "type",
      call = call
    )
  }
  if (is.na(x) || !is.finite(x) || x <= lower || x >= upper) {
    abort_deepbmc(
      c(
        "{.arg {arg}} must be a finite {what}.",
        x = "You supplied {.code {format_supplied(x)}}."
      ),
      "value",
      call = call
    )
  }
  as.double(x)
}

check_positive_number <- function(x, arg = rlang::caller_arg(x),
                                  call = rlang::caller_env()) {
  check_number_in(x, 0, Inf, "positive number", arg, call)
}

# Rates of at least max_learning_rate (R/limits.R) are refused.
check_learning_rate <- function(x, arg = rlang::caller_arg(x),
                                call = rlang::caller_env()) {
  force(arg)
  x <- check_positive_number(x, arg = arg, call = call)
  if (x >= max_learning_rate) {
    abort_deepbmc(
      c(
        "{.arg {arg}} must be below {max_learning_rate}.",
        x = "You supplied {.code {format_supplied(x)}}.",
        i = "Adam's learning rates are usually between 1e-4 and 1e-2; the
             default is 5e-4."
      ),
      "value",
      call = call
    )
  }
  x
}

check_flag <- function(x, arg = rlang::caller_arg(x),
                       call = rlang::caller_env()) {
  if (!is.logical(x) || length(x) != 1 || is.na(x)) {
    abort_supplied(
      "{.arg {arg}} must be {.code TRUE} or {.code FALSE}.",
      x, "type",
      call = call
    )
  }
  x
}

check_threads <- function(threads, arg = rlang::caller_arg(threads),
                          call = rlang::caller_env()) {
  # Any count up to max_threads is allowed: the arena caps it at the cores
  # (src/parallel.h), and results do not depend on the thread count.
  check_whole_number(threads, arg = arg, min = 1, max = max_threads,
                     call = call)
}

# Seeds travel to C++ as doubles holding whole numbers in [0, 2^52], which a
# double represents exactly. `NULL` draws one from R's RNG (as ranger does),
# so `set.seed()` makes training reproducible too.
check_seed <- function(seed, arg = rlang::caller_arg(seed),
                       call = rlang::caller_env()) {
  if (is.null(seed)) {
    return(as.double(sample.int(.Machine$integer.max, 1)))
  }
  check_whole_number(seed, arg = arg, min = 0, max = max_seed, call = call)
}

check_models <- function(models, arg = rlang::caller_arg(models),
                         call = rlang::caller_env()) {
  check_class(models, "deepbmc_models",
              "a model set such as {.fun normal_nested_models}", arg, call)
  problem <- model_set_problem(models)
  if (!is.null(problem)) {
    abort_deepbmc(
      c(
        "{.arg {arg}} is not a valid model set: {problem}.",
        i = "Build model sets with their constructors, such as
             {.fun normal_nested_models} or {.fun model_set}."
      ),
      "type",
      call = call
    )
  }
  invisible(models)
}

# What is wrong with the parts of a model set that every one has (see
# R/models.R), or NULL when nothing is.
model_set_problem <- function(models) {
  if (!is.list(models)) {
    return("it is not a list")
  }
  count <- function(x, min) {
    is.numeric(x) && length(x) == 1 && !is.na(x) && x >= min && x == round(x)
  }
  if (!count(models$n_models, 2)) {
    return("the number of models is not a whole number of at least 2")
  }
  names <- models$model_names
  if (!is.character(names) || length(names) != models$n_models ||
        anyNA(names) || any(!nzchar(names)) || anyDuplicated(names)) {
    return(paste("the model names are not", models$n_models,
                 "distinct, non-empty names"))
  }
  if (!count(models$n_features, 1) || !count(models$n_levels, 1)) {
    return("the number of features or levels is not a positive whole number")
  }
  for (size in c("groups", "obs")) {
    range <- models[[size]]
    if (!is.numeric(range) || length(range) != 2 || anyNA(range) ||
          any(range < 1) || range[[1]] > range[[2]]) {
      return(paste0("`", size, "` is not a size range c(min, max)"))
    }
  }
  NULL
}

check_network <- function(network, arg = rlang::caller_arg(network),
                          call = rlang::caller_env()) {
  check_class(network, "deepbmc_network",
              "a network built by {.fun hierarchical_network}", arg, call)
}

# `what` is cli markup saying what `x` must be.
check_class <- function(x, class, what, arg, call) {
  if (!inherits(x, class)) {
    abort_deepbmc(
      c(
        paste0("{.arg {arg}} must be ", what, "."),
        x = "You supplied {describe_value(x)}."
      ),
      "type",
      call = call
    )
  }
  invisible(x)
}

# Fits are plain R lists saved with saveRDS(), so anything can come back from
# disk: check the class, the format version and that the weights still match
# the architecture before handing them to C++.
check_fit <- function(fit, arg = rlang::caller_arg(fit),
                      call = rlang::caller_env(), weights = TRUE) {
  if (!inherits(fit, "deepbmc_fit")) {
    abort_supplied(
      "{.arg {arg}} must be a trained network from {.fun train_comparison}.",
      fit, "fit",
      call = call
    )
  }
  check_format_version(fit$format_version, arg = arg, call = call)
  needed <- c("models", "network", "config", "weights", "history", "training")
  # Version 1 predates holdout sets; such fits read as having none.
  if (fit$format_version >= 2) {
    needed <- c(needed, "holdout_history")
  }
  if (fit$format_version >= 3) {
    needed <- c(needed, "checksum")
  }
  if (fit$format_version >= 5) {
    needed <- c(needed, "phases")
  }
  missing_parts <- setdiff(needed, names(fit))
  if (length(missing_parts) > 0) {
    abort_deepbmc(
      c(
        "{.arg {arg}} is not a complete deepbmc fit.",
        x = "It lacks {.field {missing_parts}}."
      ),
      "fit",
      call = call
    )
  }
  # print(), summary() and training_history() read these columns.
  histories <- intersect(c("history", "holdout_history"), names(fit))
  columns <- c("step", "epoch", "loss", "accuracy")
  for (part in histories) {
    if (!is.data.frame(fit[[part]]) ||
        !all(columns %in% names(fit[[part]]))) {
      abort_deepbmc(
        c(
          "{.arg {arg}} is not a complete deepbmc fit.",
          x = "Its {.field {part}} is not a data frame with columns
               {.field {columns}}."
        ),
        "fit",
        call = call
      )
    }
  }
  check_fit_vintage(fit, arg = arg, call = call)
  check_fit_training(fit, arg = arg, call = call)
  check_fit_phases(fit, arg = arg, call = call)
  check_fit_models(fit, arg = arg, call = call)
  check_fit_checked_range(fit, arg = arg, call = call)
  if (!is.null(fit$verdict) && !valid_verdict(fit$verdict)) {
    abort_deepbmc(
      c(
        "{.arg {arg}} is damaged: its training verdict is not the one
         training writes.",
        i = "Train the network again, or load an undamaged copy."
      ),
      "fit",
      call = call
    )
  }
  if (weights) {
    check_fit_weights(fit, arg = arg, call = call)
    check_fit_checksum(fit, arg = arg, call = call)
    check_fit_members(fit, arg = arg, call = call)
  } else if (!is.null(fit$checksum) && usable_weights(fit)) {
    # print(), summary() and training_history() read fits whose weights are
    # unusable (diverged, damaged), but a fit with usable weights that was
    # changed since training shows nothing true either.
    check_fit_checksum(fit, arg = arg, call = call)
  }
  invisible(fit)
}

# Only fits of format versions 1 and 2 may lack a checksum, and a fit of
# those versions holds none of the parts later versions added: a fit that
# claims an old version but has them is a current fit whose version was
# changed (and whose checksum was removed), so nothing vouches for it.
check_fit_vintage <- function(fit, arg, call) {
  if (!is.null(fit$checksum)) {
    return(invisible(fit))
  }
  training <- if (is.list(fit$training)) fit$training
  later <- c(
    input_range = !is.null(fit$input_range),
    checked_range = !is.null(fit$checked_range),
    verdict = !is.null(fit$verdict),
    members = !is.null(fit$members),
    phases = !is.null(fit$phases),
    `training$stopped` = !is.null(training$stopped),
    `training$method` = !is.null(training$method),
    `history$phase` = is.list(fit$history) && !is.null(fit$history$phase)
  )
  if (any(later)) {
    abort_deepbmc(
      c(
        "{.arg {arg}} has no checksum, which only fits saved before deepbmc
         recorded them may lack (format versions 1 and 2).",
        x = "It claims format version {fit$format_version} but holds
             {.field {names(later)[later]}}, which later versions added: it
             was changed since it was trained, or its file is damaged.",
        i = "Train the network again, or load an undamaged copy."
      ),
      "fit",
      call = call
    )
  }
  invisible(fit)
}

# The training settings that print(), summary(), training_history() and
# resume_training() read, checked for type and range: cheap, so done at every
# use (the checksum covers their values since format version 6).
check_fit_training <- function(fit, arg, call) {
  training <- fit$training
  damaged <- function(field, what) {
    abort_deepbmc(
      c(
        "{.arg {arg}} is damaged: its training setting {.field {field}} is
         not {what}.",
        i = "Train the network again, or load an undamaged copy."
      ),
      "fit",
      call = call
    )
  }
  if (!is.list(training) || is.object(training)) {
    damaged("training", "a list of settings")
  }
  whole <- function(x, min, max) {
    is.numeric(x) && length(x) == 1 && !is.na(x) && !is.object(x) &&
      x >= min && x <= max && x == round(x)
  }
  limits <- list(epochs = max_epochs, iterations = max_iterations,
                 batch_size = max_batch_size)
  for (field in names(limits)) {
    if (!whole(training[[field]], 1, limits[[field]])) {
      damaged(field, paste("a whole number from 1 to",
                           format_count(limits[[field]])))
    }
  }
  if (!whole(training$steps_done, 0, .Machine$integer.max)) {
    damaged("steps_done", "a whole number of steps")
  }
  if (!whole(training$seed, 0, max_seed)) {
    damaged("seed", "a seed")
  }
  if (!is.null(training$holdout) &&
        !whole(training$holdout, 0, .Machine$integer.max)) {
    damaged("holdout", "a whole number of data sets")
  }
  rate <- training$learning_rate
  if (!is.numeric(rate) || length(rate) != 1 || is.na(rate) ||
        !is.finite(rate) || rate <= 0) {
    damaged("learning_rate", "a positive number")
  }
  seconds <- training$seconds
  if (!is.null(seconds) && (!is.numeric(seconds) || length(seconds) != 1)) {
    damaged("seconds", "a number")
  }
  stopped <- training$stopped
  if (!is.null(stopped) && (length(stopped) != 1 ||
                              !(is.character(stopped) || is.na(stopped)))) {
    damaged("stopped", "a reason or NA")
  }
  invisible(fit)
}

# The parts of a fit's model set and configuration that R reads, checked for
# shape and for agreement with each other: cheap, so done at every use.
check_fit_models <- function(fit, arg, call) {
  damaged <- function(problem) {
    abort_deepbmc(
      c(
        "{.arg {arg}} is damaged: {problem}",
        i = "Train the network again, or load an undamaged copy."
      ),
      "fit",
      call = call
    )
  }
  models <- fit$models
  if (!inherits(models, "deepbmc_models")) {
    damaged("its model set is not a deepbmc model set.")
  }
  problem <- model_set_problem(models)
  if (!is.null(problem)) {
    damaged(paste0("in its model set, ", problem, "."))
  }
  if (!inherits(fit$network, "deepbmc_network")) {
    damaged("its network is not an architecture from hierarchical_network().")
  }
  # The missing-value coding may come from an earlier phase (init), so it is
  # checked on its own; the checksum covers it like the rest.
  expected <- tryCatch(
    method_config(network_config(fit$network, models, call = call),
                  fit$training$method %||% training_method(), models),
    error = function(e) NULL
  )
  config <- fit$config
  if (!is.list(config) || is.object(config)) {
    damaged("its configuration is not a list.")
  }
  coding <- config[intersect(names(config), missing_coding_fields)]
  config[missing_coding_fields] <- NULL
  # fits with statistics of version 1 have neither element (network_config())
  if (is.null(config$statistics_version) && is.list(expected)) {
    expected[c("statistics_version", "statistics_terms")] <- NULL
  }
  if (is.null(expected) || !identical(config, expected) ||
        !valid_missing_coding(coding, models$n_features)) {
    damaged("its configuration does not match its network and model set.")
  }
  invisible(fit)
}

# A fit's checked range (R/checked-range.R) is NULL or a K x K numeric
# matrix of upper bounds in `upper`.
check_fit_checked_range <- function(fit, arg, call) {
  range <- fit$checked_range
  if (is.null(range)) {
    return(invisible(fit))
  }
  k <- fit$models$n_models
  upper <- if (is.list(range)) range$upper
  if (!is.matrix(upper) || !is.numeric(upper) ||
        !identical(dim(upper), c(as.integer(k), as.integer(k))) ||
        any(is.infinite(upper)) ||
        any(!is.na(upper[row(upper) != col(upper)]) &
              upper[row(upper) != col(upper)] < 0, na.rm = TRUE)) {
    abort_deepbmc(
      c(
        "{.arg {arg}} is damaged: its checked range of log Bayes factors is
         not a {k} x {k} matrix of bounds.",
        i = "Train the network again, or load an undamaged copy."
      ),
      "fit",
      call = call
    )
  }
  invisible(fit)
}

# Fits since format version 3 carry a checksum (fit_checksum()); older ones
# have their model set built and checked by the C++ core instead, so that a
# damaged one is a classed error rather than an error from deep inside.
check_fit_checksum <- function(fit, arg, call) {
  if (!is.null(fit$checksum)) {
    checksum <- tryCatch(fit_checksum(fit), error = function(e) NA)
    if (!identical(fit$checksum, checksum)) {
      abort_deepbmc(
        c(
          "{.arg {arg}} has been changed since it was trained, or its file is
           damaged: its checksum does not match.",
          i = "Train the network again, or load an undamaged copy; change
               prior probabilities or model names through the arguments of
               {.fun post_prob} instead of editing the fit."
        ),
        "fit",
        call = call
      )
    }
    return(invisible(fit))
  }
  tryCatch(
    cpp_check_model_set(fit$config, models_spec(fit$models)),
    error = function(e) {
      abort_deepbmc(
        "The model set of {.arg {arg}} is damaged.",
        "fit",
        parent = e,
        call = call
      )
    }
  )
  invisible(fit)
}

check_format_version <- function(version, arg, call) {
  if (!is.numeric(version) || length(version) != 1 || is.na(version)) {
    abort_deepbmc(
      c(
        "{.arg {arg}} has no valid format version.",
        i = "It was not created by {.fun train_comparison} or was damaged."
      ),
      "version",
      call = call
    )
  }
  if (!version %in% fit_format_versions) {
    # as.character(): cli pluralises by the length of a character vector but
    # needs a single number otherwise.
    abort_deepbmc(
      c(
        "{.arg {arg}} has format version {version}, which this version of
         deepbmc ({utils::packageVersion('deepbmc')}) cannot read.",
        i = "Known format version{?s}: {as.character(fit_format_versions)}.",
        i = if (version > max(fit_format_versions)) {
          "It was saved by a newer deepbmc; update the package."
        }
      ),
      "version",
      call = call
    )
  }
  invisible(version)
}

usable_weights <- function(fit) {
  tryCatch(
    {
      check_fit_weights(fit, arg = "fit", call = NULL)
      TRUE
    },
    deepbmc_error = function(e) FALSE
  )
}

check_fit_weights <- function(fit, arg, call) {
  expected <- tryCatch(
    cpp_network_size(fit$config),
    error = function(e) {
      abort_deepbmc(
        "The network configuration in {.arg {arg}} is invalid.",
        "fit",
        parent = e,
        call = call
      )
    }
  )
  if (!is.double(fit$weights) || length(fit$weights) != expected) {
    abort_deepbmc(
      c(
        "The weights in {.arg {arg}} do not match its architecture.",
        x = "Expected {expected} numeric weights, found {length(fit$weights)}."
      ),
      "fit",
      call = call
    )
  }
  if (!all(is.finite(fit$weights))) {
    abort_deepbmc(
      c(
        "{.arg {arg}} has non-finite weights, so training diverged.",
        i = "Train again with a smaller {.arg learning_rate}."
      ),
      "numeric",
      call = call
    )
  }
  invisible(fit)
}

# Prior model probabilities must be a proper distribution, as in
# bridgesampling; strictly positive so that every log prior is finite.
check_prior_prob <- function(prior_prob, model_names,
                             arg = rlang::caller_arg(prior_prob),
                             call = rlang::caller_env()) {
  n_models <- length(model_names)
  if (is.null(prior_prob)) {
    return(rep(1 / n_models, n_models))
  }
  if (!is.numeric(prior_prob) || length(prior_prob) != n_models) {
    abort_supplied(
      "{.arg {arg}} must be a numeric vector with one probability per
         model ({n_models}).",
      prior_prob, "type",
      call = call
    )
  }
  if (anyNA(prior_prob) || !all(is.finite(prior_prob)) ||
      any(prior_prob <= 0)) {
    abort_deepbmc(
      c(
        "{.arg {arg}} must hold positive finite probabilities.",
        x = "You supplied {.code {format_supplied(prior_prob)}}."
      ),
      "value",
      call = call
    )
  }
  if (!isTRUE(all.equal(sum(prior_prob), 1))) {
    abort_deepbmc(
      c(
        "{.arg {arg}} must sum to one.",
        x = "It sums to {format(sum(prior_prob))}.",
        i = "Use {.code prior_prob / sum(prior_prob)} for relative weights."
      ),
      "value",
      call = call
    )
  }
  # Named priors are matched to the models by name, never by position.
  if (!is.null(names(prior_prob))) {
    if (!setequal(names(prior_prob), model_names) || anyDuplicated(names(prior_prob))) {
      abort_deepbmc(
        c(
          "The names of {.arg {arg}} must be the model names.",
          i = "Models: {.val {model_names}}.",
          x = "You supplied names {.val {names(prior_prob)}}."
        ),
        "value",
        call = call
      )
    }
    prior_prob <- prior_prob[model_names]
  }
  unname(as.double(prior_prob))
}

check_model_names <- function(model_names, default,
                              arg = rlang::caller_arg(model_names),
                              call = rlang::caller_env()) {
  if (is.null(model_names)) {
    return(default)
  }
  if (!is.character(model_names) || length(model_names) != length(default)) {
    abort_supplied(
      "{.arg {arg}} must be a character vector with one name per model
         ({length(default)}).",
      model_names, "type",
      call = call
    )
  }
  if (anyNA(model_names) || any(model_names == "") ||
      anyDuplicated(model_names)) {
    abort_deepbmc(
      "{.arg {arg}} must hold distinct, non-empty names.",
      "value",
      call = call
    )
  }
  model_names
}

# A model chosen by its 1-based index or by its name.
check_model_index <- function(model, model_names,
                              arg = rlang::caller_arg(model),
                              call = rlang::caller_env()) {
  if (is.character(model) && length(model) == 1 && !is.na(model)) {
    index <- match(model, model_names)
    if (is.na(index)) {
      abort_deepbmc(
        c(
          "{.arg {arg}} must name one of the models.",
          x = "{.val {model}} is not one of {.val {model_names}}."
        ),
        "value",
        call = call
      )
    }
    return(index)
  }
  if (!is.numeric(model) || length(model) != 1) {
    abort_supplied(
      "{.arg {arg}} must be a model index or a model name.",
      model, "type",
      call = call
    )
  }
  check_whole_number(model, arg = arg, min = 1, max = length(model_names),
                     call = call)
}

# The true model of each of `n` data sets, by index or name, as indices.
check_true_model <- function(true_model, model_names, n,
                             arg = rlang::caller_arg(true_model),
                             call = rlang::caller_env()) {
  if (is.factor(true_model)) {
    true_model <- as.character(true_model)
  }
  if (length(true_model) != n) {
    abort_deepbmc(
      c(
        "{.arg {arg}} must give one model per data set.",
        x = "{n} data set{?s}, but {length(true_model)} true model{?s}."
      ),
      "mismatch",
      call = call
    )
  }
  if (is.character(true_model)) {
    index <- match(true_model, model_names)
    unknown <- unique(true_model[is.na(index)])
    if (length(unknown) > 0) {
      abort_deepbmc(
        c(
          "{.arg {arg}} must name models of the network.",
          x = "Unknown: {.val {unknown}}.",
          i = "Models: {.val {model_names}}."
        ),
        "value",
        call = call
      )
    }
    return(index)
  }
  if (!is.numeric(true_model) || is.object(true_model)) {
    abort_supplied(
      "{.arg {arg}} must be model indices or names.",
      true_model, "type",
      call = call
    )
  }
  check_whole_values(true_model, arg = arg, min = 1,
                     max = length(model_names), call = call)
  as.integer(true_model)
}

check_level <- function(level, arg = rlang::caller_arg(level),
                        call = rlang::caller_env()) {
  check_number_in(level, 0, 1, "number strictly between 0 and 1", arg, call)
}

# rlang's checks, with deepbmc's error classes: unused arguments in `...`
# (misspelled names above all) and suggested packages that are not
# installed (rlang offers to install them in interactive sessions).
check_dots_empty <- function(..., call = rlang::caller_env()) {
  tryCatch(
    rlang::check_dots_empty(),
    rlib_error_dots_nonempty = function(e) {
      dot_names <- names(list(...))
      n_dots <- ...length()
      abort_deepbmc(
        c(
          "{n_dots} unused argument{?s} in {.arg ...}.",
          i = if (!is.null(dot_names) && any(dot_names != "")) {
            "Check the spelling of {.arg {dot_names[dot_names != '']}}."
          }
        ),
        "type",
        call = call
      )
    }
  )
}

check_installed_package <- function(package, purpose,
                                    call = rlang::caller_env()) {
  tryCatch(
    rlang::check_installed(package, reason = purpose, call = call),
    rlib_error_package_not_found = function(e) {
      abort_deepbmc(
        c(
          "The package {.pkg {package}} is needed {purpose}.",
          i = "Install it with {.code install.packages(\"{package}\")}."
        ),
        "missing_package",
        parent = e,
        call = call
      )
    }
  )
  invisible(TRUE)
}
