# Stored simulations ("deepbmc_simulations"), what simulate_datasets()
# returns: one packed batch (R/data.R) and the true models, plain R data that
# saveRDS()/readRDS() keep exactly. The user-facing data sets are built from
# the batch on access (`sims$data`, `sims[["data"]]`); post_prob(),
# validate() and offline training read the batch itself.
#
# Elements:
# * `batch`: list(values, n_features, group_offsets, dataset_offsets, mask[,
#   source_row]) as cpp_simulate() returns it;
# * `model`: the true model of each data set, 1-based integers;
# * `model_names`, `feature_names` (input_feature_names() of the set: the
#   columns of the packed values), `seed`;
# * `models`: the model set, which simulated_data() needs to rebuild data
#   frames (formula models) and post_prob() to check the encoding;
# * `checksum`: simulations_checksum() of all the above, checked at every use
#   (simulations_batch()), so that changed values, masks, offsets, models or
#   seeds are an error rather than silently trained or validated on.
# Objects saved by earlier versions hold `data` (a list of data sets)
# instead of `batch` and `models`; they are still read. Objects saved before
# checksums existed (issue 28) have none: they are read as they are, with a
# message of class "deepbmc_unchecked_message" once per session; subsetting
# (`sims[seq_along(sims)]`) gives them one.

new_simulations <- function(batch, model, models, seed) {
  sims <- structure(
    list(
      batch = batch,
      model = as.integer(model),
      model_names = models$model_names,
      feature_names = input_feature_names(models),
      seed = seed,
      models = models,
      checksum = NULL
    ),
    class = "deepbmc_simulations"
  )
  with_simulations_checksum(sims)
}

with_simulations_checksum <- function(sims) {
  sims[["checksum"]] <- simulations_checksum(sims)
  sims
}

# A checksum of everything stored simulations hold, from the values alone
# as fit_checksum() is (R/fit.R): the packed values as the network reads them
# (in single precision, so that saveRDS(ascii = TRUE) keeps it), masks and
# offsets as bytes, and the true models, names, seed and model set (as C++
# reads it and as R encodes data for it) through value_hash(). Linear in the
# size of the batch, and fast: about 0.1 s for 10 million values.
simulations_checksum <- function(sims) {
  batch <- .subset2(sims, "batch")
  models <- .subset2(sims, "models")
  int_bytes <- function(x) {
    if (is.null(x)) NULL else writeBin(as.integer(x), raw(), size = 4,
                                       endian = "little")
  }
  logical_bytes <- function(x) if (is.null(x)) NULL else as.raw(x %in% TRUE)
  described <- list(
    model = .subset2(sims, "model"),
    model_names = .subset2(sims, "model_names"),
    feature_names = .subset2(sims, "feature_names"),
    seed = .subset2(sims, "seed"),
    n_features = batch$n_features,
    parts = sort(names(batch)),
    encoding = if (is.list(models)) input_encoding(models),
    spec = if (is.list(models)) model_set_fingerprint(models)
  )
  rlang::hash(list(
    value_bytes(described),
    values = if (!is.null(batch$values)) {
      writeBin(as.double(batch$values), raw(), size = 4, endian = "little")
    },
    mask = logical_bytes(batch$mask),
    present = logical_bytes(batch$present),
    group_offsets = int_bytes(batch$group_offsets),
    dataset_offsets = int_bytes(batch$dataset_offsets),
    source_row = int_bytes(batch$source_row)
  ))
}

#' Stored simulations
#'
#' [simulate_datasets()] returns its data sets packed into one batch: the
#' values of all observations in one numeric vector, row after row, with
#' integer offsets of the groups and data sets and one logical per
#' observation that marks it as observed. These functions and methods work
#' with that object.
#'
#' * `sims$data` (or `sims[["data"]]`) gives the data sets in the forms
#'   [post_prob()] accepts (see [deepbmc_data]); they are built from the
#'   batch at each access, so keep the result rather than asking again in a
#'   loop, or subset first: `sims[1:10]$data`.
#' * `length(sims)` is the number of data sets; `sims[i]` keeps data sets
#'   `i` (any index vector) as simulations; `c(a, b)` joins simulations of
#'   the same models.
#' * `simulations_batch(sims)` returns the packed batch itself, a list with
#'   `values`, `n_features`, `group_offsets`, `dataset_offsets` (0-based)
#'   and `mask` (and, for formula models, `source_row`), checked for
#'   consistency.
#' * `simulations_sizes(sims)` gives the range of the number of groups and of
#'   observed observations per group over the data sets.
#'
#' **Integrity.** Simulations carry a checksum of everything they hold (the
#' values as the network reads them, in single precision, the masks and
#' offsets, the true models, the seed and the model set). Every use checks
#' it: training, [resume_training()], [validate()], [post_prob()], `$data`,
#' printing, subsetting and joining. Changed simulations (edited values,
#' masks, offsets, seeds or true models, removed or retyped parts, a damaged
#' file) are an error of class `"deepbmc_error_data"`; `[` and `c()` give
#' their results a new checksum. [saveRDS()] and [readRDS()] keep it, also in
#' ASCII. Simulations saved by versions of deepbmc before checksums have
#' none: they are read as they are, with a message of class
#' `"deepbmc_unchecked_message"` once per session, and
#' `sims <- sims[seq_along(sims)]` gives them one.
#'
#' **Memory.** A data set takes 8 bytes per value (`n_features` values per
#' observation), 4 bytes per observation for the mask (and 4 more for
#' `source_row` with formula models), 4 bytes per group and 8 bytes for its
#' offset and true model. A Study 1 data set of 50 groups x 50 observations
#' takes 2,500 x 8 + 2,500 x 4 + 50 x 4 + 8 = 30,208 bytes, so 100,000 of
#' them take about 3 GB. [saveRDS()] writes them compressed.
#'
#' @param x,sims Simulations from [simulate_datasets()].
#' @param i Indices of data sets (positive, negative or logical).
#' @param name `"data"` for the data sets, or the name of an element.
#' @param ... For `c()`: simulations of the same models; otherwise unused.
#' @param arg,call For `simulations_batch()`: the argument name and the call
#'   that errors name (for functions that call it on their own argument).
#'
#' @return `simulations_batch()`: the packed batch. `simulations_sizes()`: a
#'   list with integer ranges `groups` and `obs`. `[` and `c()`: simulations.
#' @name simulations
#' @seealso [simulate_datasets()]
#' @examples
#' models <- normal_nested_models(groups = c(3, 5), obs = c(2, 4))
#' sims <- simulate_datasets(models, n = 6, seed = 1)
#' length(sims)
#' sims[1:2]$data
#' str(simulations_batch(sims[1]))
#' simulations_sizes(sims)
#' both <- c(sims, simulate_datasets(models, n = 3, seed = 2))
#' length(both)
NULL

#' @rdname simulations
#' @export
`$.deepbmc_simulations` <- function(x, name) {
  simulations_element(x, name)
}

#' @rdname simulations
#' @export
`[[.deepbmc_simulations` <- function(x, name, ...) {
  if (is.character(name) && length(name) == 1) {
    return(simulations_element(x, name))
  }
  # Positions address the elements, as for any list (str() and other tools
  # walk a list by position).
  .subset2(x, name, ...)
}

simulations_element <- function(x, name) {
  if (identical(name, "data") && !"data" %in% names(x)) {
    return(simulations_data(x))
  }
  .subset2(x, name, exact = TRUE)
}

# The data sets in their user-facing forms.
simulations_data <- function(x, arg = "sims", call = rlang::caller_env()) {
  batch <- simulations_batch(x, arg = arg, call = call)
  simulated_data(.subset2(x, "models"), batch)
}

#' @importFrom utils str
#' @export
str.deepbmc_simulations <- function(object, ...) {
  utils::str(unclass(object), ...)
}

#' @rdname simulations
#' @export
length.deepbmc_simulations <- function(x) {
  length(.subset2(x, "model"))
}

#' @rdname simulations
#' @export
`[.deepbmc_simulations` <- function(x, i, ...) {
  batch <- simulations_batch(x)
  n <- length(x)
  index <- seq_len(n)[i]
  if (anyNA(index)) {
    abort_deepbmc(
      "Indices of simulations must lie within the {n} data set{?s}.",
      "value"
    )
  }
  x$batch <- subset_batch(batch, index)
  x$model <- .subset2(x, "model")[index]
  with_simulations_checksum(x)
}

# Data sets `index` of a packed batch, in that order.
subset_batch <- function(batch, index) {
  dataset_offsets <- batch$dataset_offsets
  group_offsets <- batch$group_offsets
  n_features <- batch$n_features
  # Groups of the kept data sets, then their rows, as runs.
  first_group <- dataset_offsets[index]
  n_groups <- dataset_offsets[index + 1L] - first_group
  groups <- sequence(n_groups, from = first_group + 1L)
  group_sizes <- diff(group_offsets)[groups]
  rows <- sequence(group_sizes, from = group_offsets[groups] + 1L)
  values <- sequence(rep.int(n_features, length(rows)),
                     from = (rows - 1L) * n_features + 1L)
  subset <- list(
    values = batch$values[values],
    n_features = n_features,
    group_offsets = c(0L, cumsum(group_sizes)),
    dataset_offsets = c(0L, cumsum(n_groups)),
    mask = batch$mask[rows]
  )
  if (!is.null(batch$source_row)) {
    subset$source_row <- batch$source_row[rows]
  }
  if (!is.null(batch$present)) {
    subset$present <- batch$present[values]
  }
  subset
}

#' @rdname simulations
#' @export
c.deepbmc_simulations <- function(...) {
  parts <- list(...)
  is_sims <- vapply(parts, inherits, logical(1), "deepbmc_simulations")
  if (!all(is_sims)) {
    abort_deepbmc(
      "Only simulations from {.fun simulate_datasets} can be joined.",
      "type"
    )
  }
  first <- parts[[1]]
  key <- simulations_models_key(first)
  for (part in parts[-1]) {
    if (!identical(simulations_models_key(part), key)) {
      abort_deepbmc(
        c(
          "Simulations of different models cannot be joined.",
          i = "Join simulations of the same model set (same models, sizes
               aside, and the same features)."
        ),
        "mismatch"
      )
    }
  }
  batches <- lapply(parts, simulations_batch)
  rows <- vapply(batches, function(b) length(b$mask), numeric(1))
  groups <- vapply(batches, function(b) length(b$group_offsets) - 1,
                   numeric(1))
  if (sum(rows) > .Machine$integer.max) {
    abort_deepbmc(
      "The joined simulations would hold more than
       {format_count(.Machine$integer.max)} observations.",
      "value"
    )
  }
  row_shift <- c(0, cumsum(rows))
  group_shift <- c(0, cumsum(groups))
  batch <- list(
    values = unlist(lapply(batches, `[[`, "values"), use.names = FALSE),
    n_features = batches[[1]]$n_features,
    group_offsets = c(0L, unlist(lapply(seq_along(batches), function(k) {
      as.integer(batches[[k]]$group_offsets[-1] + row_shift[[k]])
    }), use.names = FALSE)),
    dataset_offsets = c(0L, unlist(lapply(seq_along(batches), function(k) {
      as.integer(batches[[k]]$dataset_offsets[-1] + group_shift[[k]])
    }), use.names = FALSE)),
    mask = unlist(lapply(batches, `[[`, "mask"), use.names = FALSE)
  )
  if (all(vapply(batches, function(b) !is.null(b$source_row), logical(1)))) {
    batch$source_row <- unlist(lapply(batches, `[[`, "source_row"),
                               use.names = FALSE)
  }
  if (any(vapply(batches, function(b) !is.null(b$present), logical(1)))) {
    batch$present <- unlist(lapply(batches, function(b) {
      b$present %||% rep(TRUE, length(b$values))
    }), use.names = FALSE)
  }
  joined <- first
  joined$batch <- batch
  joined$model <- unlist(lapply(parts, function(p) .subset2(p, "model")),
                         use.names = FALSE)
  joined$seed <- unique(unlist(lapply(parts, function(p) .subset2(p, "seed")),
                               use.names = FALSE))
  with_simulations_checksum(joined)
}

# What must agree for simulations to be joined: the models' names and
# encoding and, for sets of R simulators, their code.
simulations_models_key <- function(x) {
  models <- .subset2(x, "models")
  list(
    model_names = .subset2(x, "model_names"),
    encoding = if (!is.null(models)) value_hash(input_encoding(models)),
    code = if (!is.null(models$simulators)) {
      lapply(models$simulators, deparse)
    }
  )
}

#' @rdname simulations
#' @export
simulations_batch <- function(sims, arg = rlang::caller_arg(sims),
                              call = rlang::caller_env()) {
  problem <- simulations_problem(sims)
  if (!is.null(problem)) {
    abort_deepbmc(
      c(
        "{.arg {arg}} are not valid simulations: {problem}.",
        i = "Use the object {.fun simulate_datasets} returned, or reload it
             with {.fun readRDS}."
      ),
      "data",
      call = call
    )
  }
  check_simulations_checksum(sims, arg = arg, call = call)
  batch <- .subset2(sims, "batch")
  if (is.null(batch)) {
    # An object of an earlier version: its data sets, packed now.
    converted <- as_datasets(.subset2(sims, "data"), arg = arg, call = call)
    batch <- pack_datasets(converted$datasets, call = call)
  }
  batch
}

# The checksum of stored simulations against their contents: a classed
# error when they differ; objects saved before checksums existed are read
# with a message, once per session.
check_simulations_checksum <- function(sims, arg, call) {
  checksum <- .subset2(sims, "checksum")
  if (is.null(checksum)) {
    cli::cli_inform(
      c(
        "i" = "Stored simulations saved by an earlier version of deepbmc
               carry no checksum, so changes to them cannot be detected.",
        " " = "Give them one with {.code sims <- sims[seq_along(sims)]}, or
               simulate them again with {.fun simulate_datasets}."
      ),
      class = "deepbmc_unchecked_message",
      .frequency = "once",
      .frequency_id = "deepbmc_simulations_without_checksum"
    )
    return(invisible(sims))
  }
  computed <- tryCatch(simulations_checksum(sims), error = function(e) NA)
  if (!identical(checksum, computed)) {
    abort_deepbmc(
      c(
        "{.arg {arg}} have been changed since they were simulated, or their
         file is damaged: their checksum does not match.",
        i = "Simulate them again with {.fun simulate_datasets}, or load an
             undamaged copy; subset and join simulations with {.code [} and
             {.fun c}, which keep them checked."
      ),
      "data",
      call = call
    )
  }
  invisible(sims)
}

# What is wrong with a simulations object, or NULL. Cheap checks (linear in
# the size of the batch) of everything C++ relies on, so that a damaged
# object is a classed error rather than a crash.
simulations_problem <- function(x) {
  if (!inherits(x, "deepbmc_simulations") || !is.list(x)) {
    return("not a simulations object")
  }
  model <- .subset2(x, "model")
  if (!is.integer(model) || anyNA(model) || length(model) == 0) {
    return("`model` is not a vector of model indices")
  }
  names <- .subset2(x, "model_names")
  if (!is.character(names) || any(model < 1L | model > length(names))) {
    return("`model` does not index `model_names`")
  }
  seed <- .subset2(x, "seed")
  if (!is.null(seed) && !is.numeric(seed)) {
    return("`seed` is not a seed")
  }
  features <- .subset2(x, "feature_names")
  if (!is.null(features) && !is.character(features)) {
    return("`feature_names` are not names")
  }
  checksum <- .subset2(x, "checksum")
  if (!is.null(checksum) &&
        (!is.character(checksum) || length(checksum) != 1)) {
    return("`checksum` is not a checksum")
  }
  batch <- .subset2(x, "batch")
  if (is.null(batch)) {
    data <- .subset2(x, "data")
    if (!is.list(data) || length(data) != length(model)) {
      return("it holds neither a packed batch nor one data set per model")
    }
    return(NULL)
  }
  models <- .subset2(x, "models")
  if (!is.null(models) && (!inherits(models, "deepbmc_models") ||
                             !is.null(model_set_problem(models)) ||
                             !identical(models$model_names, names))) {
    return("its model set is damaged or does not match `model_names`")
  }
  batch_problem(batch, length(model)) %||% batch_values_problem(batch)
}

batch_problem <- function(batch, n_sets) {
  if (!is.list(batch) ||
        !all(c("values", "n_features", "group_offsets", "dataset_offsets",
               "mask") %in% names(batch))) {
    return("its batch lacks parts")
  }
  d <- batch$n_features
  if (!is.integer(d) || length(d) != 1 || is.na(d) || d < 1) {
    return("`n_features` is not a positive whole number")
  }
  mask <- batch$mask
  values <- batch$values
  if (!is.logical(mask) || anyNA(mask) || !is.double(values) ||
        length(values) != as.double(length(mask)) * d) {
    return("its values and mask do not fit together")
  }
  present <- batch$present
  if (!is.null(present) && (!is.logical(present) || anyNA(present) ||
                              length(present) != length(values))) {
    return("its values and presence mask do not fit together")
  }
  offsets_ok <- function(o, n_parts, end) {
    is.integer(o) && length(o) == n_parts + 1 && !anyNA(o) && o[[1]] == 0L &&
      o[[length(o)]] == end && all(diff(o) >= 0L)
  }
  groups <- batch$group_offsets
  sets <- batch$dataset_offsets
  if (!offsets_ok(sets, n_sets, length(groups) - 1L) ||
        !offsets_ok(groups, length(groups) - 1L, length(mask)) ||
        any(diff(sets) == 0L)) {
    return("its offsets do not describe the data sets")
  }
  source_row <- batch$source_row
  if (!is.null(source_row) &&
        (!is.integer(source_row) || length(source_row) != length(mask))) {
    return("its source rows do not fit its rows")
  }
  NULL
}

# What is wrong with the observed values of a well-formed packed batch, or
# NULL (see first_unrepresentable()).
batch_values_problem <- function(batch) {
  set <- first_unrepresentable(batch)
  if (is.null(set)) {
    return(NULL)
  }
  paste0("its data set ", set, " holds a value that is not a finite number ",
         "in single precision (NA, NaN, infinite or beyond about ",
         format(max_float, digits = 3), ")")
}

# The first data set of a well-formed packed batch with an observed value
# the network cannot read, or NULL: it reads them in single precision, so
# each must be finite there (|x| at most max_float, R/limits.R). Values
# outside observations (absent rows, missing values) are not read.
first_unrepresentable <- function(batch) {
  values <- batch$values
  bad <- !is.finite(values) | abs(values) > max_float
  if (!any(bad)) {
    return(NULL)
  }
  observed <- rep(batch$mask, each = batch$n_features)
  if (!is.null(batch$present)) {
    observed <- observed & batch$present
  }
  bad <- bad & observed
  if (!any(bad)) {
    return(NULL)
  }
  # 0-based row, then its group and data set (1-based).
  row <- (which(bad)[[1]] - 1L) %/% batch$n_features
  group <- findInterval(row, batch$group_offsets)
  findInterval(group - 1L, batch$dataset_offsets)
}

#' @rdname simulations
#' @export
simulations_sizes <- function(sims) {
  sizes <- batch_sizes(simulations_batch(sims))
  present <- sizes$groups > 0
  if (!any(present)) {
    return(list(groups = c(0L, 0L), obs = c(0L, 0L)))
  }
  list(
    groups = as.integer(range(sizes$groups)),
    obs = as.integer(c(min(sizes$min_obs[present]),
                       max(sizes$max_obs[present])))
  )
}

# `sims` as simulations of `models`: the same model names and encoding, or
# a classed error (for offline training and validation).
check_simulations <- function(sims, models, arg = rlang::caller_arg(sims),
                              call = rlang::caller_env()) {
  if (!inherits(sims, "deepbmc_simulations")) {
    abort_deepbmc(
      c(
        "{.arg {arg}} must be simulations from {.fun simulate_datasets}.",
        x = "You supplied {describe_value(sims)}."
      ),
      "type",
      call = call
    )
  }
  simulations_batch(sims, arg = arg, call = call)
  if (!identical(.subset2(sims, "model_names"), models$model_names)) {
    abort_deepbmc(
      c(
        "{.arg {arg}} were simulated from other models.",
        x = "Simulated: {.val {sims$model_names}}; models: {.val
             {models$model_names}}."
      ),
      "mismatch",
      call = call
    )
  }
  if (!encodes_like(sims, models)) {
    abort_deepbmc(
      c(
        "{.arg {arg}} encode their data otherwise than the models do.",
        i = "Simulate them from the same model set."
      ),
      "mismatch",
      call = call
    )
  }
  invisible(sims)
}

# Whether the packed values of `sims` are what `models` would make of the
# same data (input_encoding()).
encodes_like <- function(sims, models) {
  own <- .subset2(sims, "models")
  !is.null(own) && !is.null(.subset2(sims, "batch")) &&
    identical(value_hash(input_encoding(own)),
              value_hash(input_encoding(models)))
}

#' @export
print.deepbmc_simulations <- function(x, ...) {
  # Checked first: a damaged object is a classed error, not one from below.
  batch <- simulations_batch(x)
  n <- length(x)
  names <- .subset2(x, "model_names")
  counts <- tabulate(.subset2(x, "model"), nbins = length(names))
  seed <- .subset2(x, "seed")
  sizes <- simulations_sizes(x)
  missing <- mean(!batch$mask)
  cat(
    "<deepbmc_simulations> ", n, " simulated data set",
    if (n == 1) "" else "s", " (",
    paste0(names, ": ", counts, collapse = ", "), "), seed",
    if (length(seed) > 1) "s", " ",
    paste(format(seed, scientific = FALSE), collapse = ", "), "\n",
    "Sizes: ", format_range(sizes$groups), " groups x ",
    format_range(sizes$obs), " observations per group",
    if (missing > 0) {
      paste0(" (", format(100 * missing, digits = 2), "% missing)")
    },
    "\n",
    "Features: ", paste(.subset2(x, "feature_names") %||% "values",
                        collapse = ", "),
    "; packed in ", format_bytes(batch_bytes(batch)), "\n",
    "Elements: $data (the data sets, unpacked on access), ",
    "$model (true model index), $batch (packed)\n",
    sep = ""
  )
  invisible(x)
}

# Bytes of the vectors of a packed batch.
batch_bytes <- function(batch) {
  8 * length(batch$values) + 4 * length(batch$mask) +
    4 * length(batch$group_offsets) + 4 * length(batch$dataset_offsets) +
    4 * length(batch$source_row)
}

format_bytes <- function(bytes) {
  units <- c("bytes", "kB", "MB", "GB", "TB")
  power <- max(0, min(length(units) - 1, floor(log(max(bytes, 1), 1000))))
  paste(format(bytes / 1000^power, digits = 3), units[[power + 1]])
}
