# Missing data (issue 16): how networks see missing values, and missing values
# drawn into simulated data sets for training and validation.
#
# In real data, NA in a feature is a missing value, never a number: the packed
# batch (R/data.R) carries a per-value presence mask `present` (row-major like
# `values`) when some observed row lacks a value, and a row without any value
# is an absent row. Networks trained with `missing = missing_values(...)` see
# missing values through their coding (the fit's `config$missing_coding`);
# fits without it have no coding and drop incomplete rows with a warning.

#' Missing values for training and validation
#'
#' Describes which values of simulated data sets go missing, so that
#' [train_comparison()] trains a network on data with missing values (a fresh
#' pattern for every simulated data set) and [validate()] and
#' [validate_missing()] measure it on such data. Real data passed to
#' [post_prob()] and friends need no such description: `NA` there is always
#' a missing value.
#'
#' An observation that loses all its features counts exactly as if it were
#' absent, and a group that loses all its observations as an absent group:
#' pooling and the size inputs of the network skip them. With several
#' features, an observation can lose some of them (`features`), and the
#' network sees the others through its `coding`:
#'
#' * `"indicator"` (the default): the network reads, for every feature j, the
#'   value times its presence indicator and the indicator itself,
#'   `[x * present, present]`, so no value a feature can take is confused
#'   with a missing one.
#' * `"placeholder"`: a missing value is replaced by a constant per feature,
#'   or by the mean of that feature's observed values in the observation's
#'   group (`"group_mean"`), as the application of Elsemüller et al. (2024)
#'   does (missing response -1, missing response time the participant's
#'   mean). Such a placeholder can collide with real values; it is there for
#'   comparison.
#'
#' With one feature a value is missing exactly when its observation is, so
#' both codings are the plain input and a missing value is an absent
#' observation.
#'
#' @param share The probability that an observation goes missing: one number
#'   in `[0, 1)`, or a range `c(lo, hi)` from which every data set draws its
#'   own probability uniformly. Each observation goes missing independently
#'   (missing completely at random).
#' @param features Names of the features a missing observation loses
#'   (together); `NULL` (the default) for all of them. For example
#'   `c("rt", "response")` when a trial's response and response time are
#'   missing but its condition is known. Checked against the model set's
#'   features; for one-feature model sets without named features the feature
#'   is called `"y"`. For formula model sets the features are the response
#'   and the `inputs` by their column names, and a missing response takes the
#'   whole observation (covariates alone carry no evidence), so `features`
#'   must include the response.
#' @param counts Instead of `share`: per group, the number of missing
#'   observations is `round(X)` for `X` drawn from a normal distribution with
#'   `c(mean = , sd = )` truncated to `[0, n]` (`n` the group's observations),
#'   as in the paper's application (`c(mean = 28.5, sd = 13.5)` of 900
#'   trials).
#' @param pattern Instead of `share` or `counts`: a function of one data set
#'   (a data frame with the group column and the features) that returns which
#'   values are missing, as a logical vector (one per row: that observation
#'   loses `features`) or a logical matrix with one column per feature in
#'   `features` (one per value). It runs in R, so it works for [validate()]
#'   and for training on stored `simulations`, where it is applied once to
#'   every stored data set; online training, which simulates on C++ threads,
#'   cannot call it. It must take the data set as its one argument
#'   (`function(data)`).
#' @param coding How the network sees missing values: `"indicator"` or
#'   `"placeholder"` (see Details). Training sets it; [validate()] and
#'   [validate_missing()] use the fit's coding.
#' @param placeholder For `coding = "placeholder"`: per feature (a named list
#'   or vector, or one value for all) a number or `"group_mean"`; by default
#'   `"group_mean"` for every feature. Numbers must be finite in single
#'   precision (at most about `3.4e38` in size), where the network computes;
#'   names and the number of values are checked against the model set's
#'   features when the spec is used.
#' @return An object of class `"deepbmc_missing"`.
#' @seealso [validate_missing()] for accuracy and calibration against the
#'   share of missing values.
#' @references Elsemüller, L., Schnuerch, M., Bürkner, P.-C., & Radev, S. T.
#'   (2024). A deep learning method for comparing Bayesian hierarchical models.
#'   *Psychological Methods*. \doi{10.1037/met0000645}
#' @export
#' @examples
#' # Up to 30% of the observations missing, a share drawn per data set
#' missing_values(share = c(0, 0.3))
#'
#' # The paper's application: about 28 of 900 trials missing per participant
#' missing_values(counts = c(mean = 28.5, sd = 13.5))
#'
#' models <- normal_nested_models(groups = 10, obs = 10)
#' fit <- train_comparison(models, epochs = 1, iterations = 20, seed = 1,
#'                         missing = missing_values(share = c(0, 0.3)))
#' validate(fit, n = 200, seed = 2, boot = 0,
#'          missing = missing_values(share = 0.2))
#'
#' # Any other pattern, for validation: the first 3 observations of every
#' # group missing
#' first_three <- function(data) {
#'   stats::ave(seq_len(nrow(data)), data$group, FUN = seq_along) <= 3
#' }
#' validate(fit, n = 200, seed = 2, boot = 0,
#'          missing = missing_values(pattern = first_three))
missing_values <- function(share = c(0, 0.3), features = NULL, counts = NULL,
                           pattern = NULL, coding = "indicator",
                           placeholder = NULL) {
  call <- rlang::current_env()
  if (!is.null(counts) && !is.null(pattern)) {
    abort_deepbmc("Give {.arg counts} or {.arg pattern}, not both.",
                  "mismatch")
  }
  if ((!is.null(counts) || !is.null(pattern)) && !missing(share)) {
    abort_deepbmc(
      "Give {.arg share}, {.arg counts} or {.arg pattern}, only one of them.",
      "mismatch"
    )
  }
  kind <- if (!is.null(counts)) "counts" else if (!is.null(pattern)) {
    "pattern"
  } else {
    "share"
  }
  if (kind == "share") {
    share <- check_missing_share(share, call)
  } else {
    share <- NULL
  }
  if (kind == "counts") {
    counts <- check_missing_counts(counts, call)
  }
  if (kind == "pattern" && !is.function(pattern)) {
    abort_deepbmc(
      c(
        "{.arg pattern} must be a function of one data set.",
        x = "You supplied {describe_value(pattern)}."
      ),
      "type"
    )
  }
  if (kind == "pattern") {
    check_pattern_arguments(pattern, call)
  }
  if (!is.null(features)) {
    if (!is.character(features) || length(features) == 0 || anyNA(features) ||
          anyDuplicated(features) > 0) {
      abort_deepbmc(
        c(
          "{.arg features} must be distinct feature names, or NULL for all.",
          x = "You supplied {describe_value(features)}."
        ),
        "type"
      )
    }
  }
  if (!is.character(coding) || length(coding) != 1) {
    abort_supplied(
      "{.arg coding} must be one coding: {.val indicator} or
       {.val placeholder}.",
      coding, "type"
    )
  }
  coding <- check_choice(coding, c("indicator", "placeholder"))
  if (!is.null(placeholder)) {
    if (coding != "placeholder") {
      abort_deepbmc(
        "{.arg placeholder} goes with {.code coding = \"placeholder\"}.",
        "mismatch"
      )
    }
    placeholder <- check_placeholder(placeholder, call)
  }
  structure(
    list(kind = kind, share = share, counts = counts, pattern = pattern,
         features = features, coding = coding, placeholder = placeholder),
    class = "deepbmc_missing"
  )
}

check_missing_share <- function(share, call) {
  ok <- is.numeric(share) && !is.object(share) && length(share) %in% 1:2 &&
    !anyNA(share) && all(share >= 0 & share < 1)
  if (!ok) {
    abort_deepbmc(
      c(
        "{.arg share} must be a probability in [0, 1), or a range c(lo, hi)
         of them.",
        x = "You supplied {describe_value(share)}."
      ),
      "value",
      call = call
    )
  }
  share <- as.double(rep_len(share, 2))
  if (share[[1]] > share[[2]]) {
    abort_deepbmc("{.arg share} must be c(lo, hi) with lo <= hi.", "value",
                  call = call)
  }
  share
}

check_missing_counts <- function(counts, call) {
  ok <- is.numeric(counts) && !is.object(counts) && length(counts) == 2 &&
    all(is.finite(counts))
  if (ok && !is.null(names(counts))) {
    ok <- setequal(names(counts), c("mean", "sd"))
    if (ok) counts <- counts[c("mean", "sd")]
  }
  if (!ok || counts[[2]] <= 0) {
    abort_deepbmc(
      c(
        "{.arg counts} must be c(mean = , sd = ) of the missing observations
         per group, with sd > 0.",
        x = "You supplied {describe_value(counts)}."
      ),
      "value",
      call = call
    )
  }
  c(mean = as.double(counts[[1]]), sd = as.double(counts[[2]]))
}

# A pattern is called with one data set: it must take one argument.
check_pattern_arguments <- function(pattern, call) {
  arguments <- formals(args(pattern))
  names <- names(arguments) %||% character(0)
  required <- names[vapply(arguments, function(a) {
    is.symbol(a) && identical(as.character(a), "")
  }, logical(1)) & names != "..."]
  if ((length(names) == 0) || length(required) > 1) {
    abort_deepbmc(
      c(
        "{.arg pattern} must be a function of one data set: it is called
         with one argument.",
        x = if (length(names) == 0) {
          "It takes no arguments."
        } else {
          "It requires {length(required)} arguments: {.arg {required}}."
        },
        i = "Write it as {.code function(data) ...}."
      ),
      "value",
      call = call
    )
  }
  invisible(pattern)
}

# A named or unnamed list or vector of numbers and "group_mean"; kept as a
# list, resolved per feature by missing_for_models(). The network computes
# in single precision: a placeholder must be a number there.
check_placeholder <- function(placeholder, call) {
  values <- as.list(placeholder)
  ok <- length(values) > 0 && !is.object(placeholder) &&
    all(vapply(values, function(v) {
      length(v) == 1 && !is.object(v) &&
        ((is.numeric(v) && is.finite(v) && abs(v) <= max_float) ||
           identical(v, "group_mean"))
    }, logical(1)))
  if (!ok) {
    abort_deepbmc(
      c(
        "{.arg placeholder} must give, per feature, a finite number (at most
         about {format(max_float, digits = 3)} in size, the network's single
         precision) or {.val group_mean}.",
        x = "You supplied {describe_value(placeholder)}."
      ),
      "value",
      call = call
    )
  }
  given <- names(values)
  if (!is.null(given) && (any(is.na(given) | !nzchar(given)) ||
                            anyDuplicated(given) > 0)) {
    abort_deepbmc(
      c(
        "{.arg placeholder} must name every feature once, or name none.",
        x = "Its names are {.val {given}}."
      ),
      "value",
      call = call
    )
  }
  values
}

#' @export
print.deepbmc_missing <- function(x, ...) {
  what <- switch(x$kind,
    share = if (x$share[[1]] == x$share[[2]]) {
      paste0("each observation missing with probability ", x$share[[1]])
    } else {
      paste0("each observation missing with a probability drawn per data ",
             "set from U(", x$share[[1]], ", ", x$share[[2]], ")")
    },
    counts = paste0("per group round(TN(", x$counts[["mean"]], ", ",
                    x$counts[["sd"]], "; 0, n)) observations missing"),
    pattern = "missing values from a user function (run in R)"
  )
  features <- if (is.null(x$features)) {
    "all features"
  } else {
    paste("features", paste(x$features, collapse = ", "))
  }
  cat("<deepbmc_missing> ", what, "\n", "  losing ", features, "; ",
      x$coding, " coding\n", sep = "")
  invisible(x)
}

# Checks `missing` (NULL or a missing_values() object) against the model set
# and resolves it: the feature flags, the coding and the placeholders in the
# models' feature order.
missing_for_models <- function(missing, models, arg = "missing",
                               call = rlang::caller_env()) {
  if (is.null(missing)) {
    return(NULL)
  }
  if (!inherits(missing, "deepbmc_missing")) {
    abort_deepbmc(
      c(
        "{.arg {arg}} must come from {.fun missing_values}.",
        x = "You supplied {describe_value(missing)}."
      ),
      "type",
      call = call
    )
  }
  names <- missing_feature_names(models)
  features <- missing$features %||% names
  unknown <- setdiff(features, names)
  if (length(unknown) > 0) {
    abort_deepbmc(
      c(
        "{.arg {arg}} names features the models do not have:
         {.val {unknown}}.",
        i = "The models' features: {.val {names}}."
      ),
      "mismatch",
      call = call
    )
  }
  missing$flags <- missing_feature_flags(models, features, arg, call)
  missing$feature_names <- names
  # Placeholders are checked against the features even where they do not
  # apply, so that a misspelt name is never silently ignored.
  placeholder_values <- if (missing$coding == "placeholder") {
    missing_placeholder_values(missing$placeholder, names, call)
  }
  if (!partial_observations(models)) {
    # Every missing value takes its whole observation: nothing to code.
    missing$coding <- "none"
    missing$placeholder <- NULL
  }
  if (missing$coding == "placeholder") {
    missing$placeholder_values <- placeholder_values
  }
  missing
}

# The placeholder of each feature (NA for the group mean) from the user's
# values (NULL: the group mean everywhere), checked against the features.
missing_placeholder_values <- function(placeholder, names, call) {
  given <- placeholder %||% list("group_mean")
  if (is.null(names(given))) {
    if (length(given) == 1) {
      given <- rep(given, length(names))
    }
    if (length(given) != length(names)) {
      abort_deepbmc(
        c(
          "{.arg placeholder} needs one value per feature
           ({length(names)}), or names.",
          x = "It has {length(given)} values.",
          i = "The models' features: {.val {names}}."
        ),
        "mismatch",
        call = call
      )
    }
    names(given) <- names
  }
  unknown <- setdiff(names(given), names)
  if (length(unknown) > 0) {
    abort_deepbmc(
      c(
        "{.arg placeholder} names features the models do not have:
         {.val {unknown}}.",
        i = "The models' features: {.val {names}}."
      ),
      "mismatch",
      call = call
    )
  }
  vapply(names, function(name) {
    value <- given[[name]] %||% "group_mean"
    if (identical(value, "group_mean")) NA_real_ else as.double(value)
  }, numeric(1), USE.NAMES = FALSE)
}

# The network configuration with the coding of a resolved spec (a fit
# trained without one has neither element).
missing_config <- function(config, missing) {
  if (is.null(missing)) {
    return(config)
  }
  config$missing_coding <- missing$coding
  if (missing$coding == "placeholder") {
    config$placeholder <- missing$placeholder_values
  }
  config
}

# Whether the missing-coding fields of a configuration are ones
# missing_config() can write: a known coding, and for the placeholder coding
# one number per feature (NaN for the group mean).
valid_missing_coding <- function(coding, n_features) {
  kind <- coding$missing_coding %||% "none"
  if (!is.character(kind) || length(kind) != 1 ||
        !kind %in% c("none", "indicator", "placeholder")) {
    return(FALSE)
  }
  placeholder <- coding$placeholder
  if (kind == "placeholder") {
    return(is.double(placeholder) && length(placeholder) == n_features)
  }
  is.null(placeholder)
}

# The fit's coding ("none" for fits trained without missing values).
fit_missing_coding <- function(fit) {
  fit$config$missing_coding %||% "none"
}

# What the C++ core draws (r_missing_spec() in src/r_convert.h); NULL when
# nothing is drawn there (no spec, or a pattern applied in R).
missing_core_spec <- function(missing) {
  if (is.null(missing) || missing$kind == "pattern") {
    return(NULL)
  }
  list(
    kind = missing$kind,
    share = missing$share %||% c(0, 0),
    counts = unname(missing$counts %||% c(0, 1)),
    features = missing$flags
  )
}

# What a fit keeps of its spec: plain data only (a pattern function is not
# kept, only that there was one).
missing_record <- function(missing) {
  if (is.null(missing)) {
    return(NULL)
  }
  record <- unclass(missing)
  record$pattern <- NULL
  record$has_pattern <- missing$kind == "pattern"
  record
}

# Applies a resolved spec to a packed batch in R: share and counts through
# the core's draws (the ones validate() makes for simulated data set i), a
# pattern by calling it on every data set. `seed` keys the draws; a pattern
# runs with R's generator seeded from it, so it is deterministic too.
apply_missing_batch <- function(batch, missing, models, seed,
                                call = rlang::caller_env()) {
  if (is.null(missing)) {
    return(batch)
  }
  if (missing$kind != "pattern") {
    drawn <- cpp_apply_missing(batch, missing_core_spec(missing), seed)
    batch$mask <- drawn$mask
    batch$present <- drawn$present
    return(batch)
  }
  n_features <- batch$n_features
  # (group_column() is for sets with named features.)
  group <- if (is.null(model_feature_names(models))) "group" else
    group_column(models)
  frames <- batch_data_frames(batch, missing$feature_names, group)
  present <- batch$present %||% rep(batch$mask, each = n_features)
  present <- present & rep(batch$mask, each = n_features)
  first_row <- batch$group_offsets[batch$dataset_offsets + 1L]
  columns <- which(missing$flags)
  with_local_seed(seed, {
    for (b in seq_along(frames)) {
      frame <- frames[[b]]
      result <- tryCatch(missing$pattern(frame), error = function(e) {
        abort_deepbmc(
          "The {.arg pattern} of {.arg missing} failed on data set {b}.",
          "value", parent = e, call = call
        )
      })
      rows <- nrow(frame)
      ok <- is.logical(result) && !anyNA(result) &&
        (identical(length(result), rows) && is.null(dim(result)) ||
           identical(dim(result), c(rows, length(columns))))
      if (!ok) {
        abort_deepbmc(
          c(
            "The {.arg pattern} of {.arg missing} must return a logical
             vector with one value per row, or a logical matrix with one
             column per feature in {.arg features}, without NA.",
            x = "For data set {b} ({rows} rows) it returned
                 {describe_value(result)}."
          ),
          "value",
          call = call
        )
      }
      hit <- if (is.null(dim(result))) {
        matrix(result, rows, length(columns))
      } else {
        result
      }
      # Row r of data set b is row first_row[[b]] + r - 1 (0-based) of the
      # batch; its values are cells index + 1 to index + n_features.
      index <- (first_row[[b]] + seq_len(rows) - 1L) * n_features
      for (k in seq_along(columns)) {
        cells <- index[hit[, k]] + columns[[k]]
        present[cells] <- FALSE
      }
    }
  })
  any_present <- .colSums(present, n_features, length(batch$mask)) > 0
  batch$mask <- batch$mask & any_present
  present <- present & rep(batch$mask, each = n_features)
  batch$values[!present] <- 0
  partial <- batch$mask & .colSums(present, n_features, length(batch$mask)) <
    n_features
  batch$present <- if (n_features > 1 && any(partial)) present
  batch
}

# Data sets with values missing within observed rows, for a fit without
# missing-data coding: those rows are dropped, with a warning, so that no
# missing value is read as a number. Returns the batch.
drop_incomplete_rows <- function(batch, arg = "data", warn = TRUE,
                                 call = rlang::caller_env()) {
  present <- batch$present
  if (is.null(present)) {
    return(batch)
  }
  n_features <- batch$n_features
  complete <- .colSums(present, n_features, length(batch$mask)) == n_features
  incomplete <- batch$mask & !complete
  if (warn) warn_incomplete_rows(sum(incomplete), arg, call)
  batch$mask <- batch$mask & complete
  batch$present <- NULL
  if (!warn) attr(batch, "dropped") <- sum(incomplete)
  batch
}

warn_incomplete_rows <- function(n, arg, call) {
  cli::cli_warn(
    c(
      "Dropped {n} observation{?s} of {.arg {arg}} with some but not all
       features missing.",
      i = "The network was trained without missing values; train it with
           {.code missing = missing_values(...)} in {.fun train_comparison}
           to use them."
    ),
    class = "deepbmc_missing_warning",
    call = call
  )
}

# A prepared batch (prepare_datasets()) as this fit's network reads it:
# unchanged for fits with missing-data coding, otherwise without incomplete
# rows (and sizes recounted); data sets left without any observation are an
# error.
prepare_for_coding <- function(fit, prepared, arg, call) {
  if (is.null(prepared$batch$present) || fit_missing_coding(fit) != "none") {
    return(prepared)
  }
  prepared$batch <- drop_incomplete_rows(prepared$batch, warn = FALSE)
  sizes <- batch_sizes(prepared$batch)
  if (any(sizes$groups == 0)) {
    abort_deepbmc(
      c(
        "{.arg {arg}} has a data set without any observation whose features
         are all observed.",
        i = "Train the network with {.code missing = missing_values(...)} to
             use observations with missing features."
      ),
      "data",
      problem = "empty",
      call = call
    )
  }
  warn_incomplete_rows(attr(prepared$batch, "dropped"), arg, call)
  attr(prepared$batch, "dropped") <- NULL
  prepared$sizes <- sizes
  prepared
}

# The training source (training_source() in R/train.R) with the resolved spec
# (`missing`): a pattern is applied here, once, to every stored data set
# (and so to the holdout set drawn from them); it cannot run online. Stored
# simulations with incomplete rows and no spec lose those rows, as data do
# for a network without missing-data coding.
missing_source <- function(source, missing, models, seed,
                           call = rlang::caller_env()) {
  source$missing <- missing
  stored <- source$name == "simulations"
  if (is.null(missing)) {
    if (stored && !is.null(source$spec$batch$present)) {
      source$spec$batch <- drop_incomplete_rows(source$spec$batch,
                                                "simulations", call = call)
      if (!is.null(source$holdout)) {
        source$holdout <- drop_incomplete_rows(source$holdout, warn = FALSE)
      }
    }
    return(source)
  }
  if (missing$kind != "pattern") {
    return(source)
  }
  if (!stored) {
    abort_deepbmc(
      c(
        "A {.arg pattern} function in {.arg missing} runs in R and cannot
         draw missing values for online training.",
        i = "Train on stored simulations ({.arg simulations} from
             {.fun simulate_datasets}), or describe the missing values by
             {.arg share} or {.arg counts}, which the C++ simulation draws."
      ),
      "mismatch",
      call = call
    )
  }
  model <- source$spec$batch$model
  source$spec$batch <- apply_missing_batch(source$spec$batch, missing, models,
                                           seed, call)
  source$spec$batch$model <- model
  if (length(source$held_out) > 0) {
    source$holdout <- packed_subset(source$spec$batch, source$held_out)
  }
  source
}

# The holdout set of a training run with the missing values of its spec,
# drawn from the holdout seed (a pattern is already in stored holdout sets).
missing_holdout <- function(holdout, missing, fit) {
  if (is.null(holdout) || is.null(missing) || missing$kind == "pattern") {
    return(holdout)
  }
  model <- holdout$model
  holdout <- apply_missing_batch(holdout, missing, fit$models,
                                 fit$training$holdout_seed)
  holdout$model <- model
  holdout
}

# The model set whose sizes data are checked against: a network trained with
# missing values has seen groups of any size below the design's (missing
# observations make groups smaller), so only the upper ends apply.
size_check_models <- function(fit) {
  models <- fit$models
  if (!is.null(fit$training$missing)) {
    models$obs[[1]] <- 1L
  }
  models
}
