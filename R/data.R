# Conversion between user data and the packed batch format of the C++ core.
#
# Packed batch (a plain list, both directions):
# * `values`: observations row by row, `n_features` values per row; 0 where
#   the row is not observed;
# * `n_features`: features per observation (D);
# * `group_offsets`: 0-based row offsets, length G + 1 (group g holds rows
#   group_offsets[g] to group_offsets[g + 1] - 1);
# * `dataset_offsets`: 0-based group offsets, length B + 1;
# * `mask`: one logical per row, TRUE = observed (observation_mask());
# * optionally `present`: one logical per value (row-major like `values`),
#   TRUE = observed, when some observed row has a missing value (issue 16;
#   R/missing.R); the missing values hold 0;
# * optionally `source_row`: for formula models, the template row of each
#   row (0-based), from which simulated_data() rebuilds data frames.
# Memory: 8 bytes per value, 4 per row (mask), 4 per group and per data set.
#
# The user-facing forms of one data set, for sets that read one unnamed
# number per observation (the built-in Study 1 models):
# * a numeric matrix, one row per group, one column per observation, NA for
#   missing values (so groups of unequal size fit in one matrix);
# * a data frame with a group column and a response column;
# * a list of numeric vectors, one per group.
# For sets with named features (`feature_names`, see model_feature_names()):
# * a data frame with the group column and one column per feature, matched
#   by name;
# * a list of per-group matrices, rows = observations, columns = features
#   (by name when named, else in the set's order).
# Several data sets are a list of such data sets. Each data set is first
# turned into `list(values, sizes, observed)` (values row by row, group after
# group; the number of rows and of observed rows of each group);
# `pack_datasets()` then concatenates all of them in one vectorised pass.

#' Data formats for deepbmc
#'
#' [post_prob()], [bayes_factor()] and [compare_models()] read data sets of a
#' two-level hierarchical model (observations within groups, one number per
#' observation) in any of these forms:
#'
#' * **Matrix**: a numeric matrix with one row per group and one column per
#'   observation. `NA` marks a missing observation, so groups of different
#'   sizes are written as rows padded with `NA`.
#' * **Data frame**: one row per observation, with a column identifying the
#'   group (numbers, characters or a factor) and a numeric response column.
#'   Name the columns with the arguments `group` and `response`; by default
#'   the columns `"group"` and `"y"` are used, and a data frame with exactly
#'   two columns of other names is read as (group, response).
#' * **List of groups**: a list of numeric vectors, one per group, of any
#'   lengths.
#'
#' **Several data sets** are given as a list whose elements are each one data
#' set in one of the forms above (matrices, data frames, or lists of numeric
#' vectors); the result then has one row (or element) per data set. The rule
#' that tells the two kinds of list apart: a list of numeric vectors is *one*
#' data set; a list of matrices, data frames or lists is *several*. The
#' simulations returned by [simulate_datasets()] are accepted as they are.
#'
#' Missing values (`NA`) are left out of the computation: the network pools
#' over the observed values only. Groups with no observed value are dropped.
#' With several features per observation, an observation with every feature
#' `NA` is absent, and one with some features `NA` keeps the others: a network
#' trained with `missing = missing_values(...)` sees which values are missing
#' (see [missing_values()]); one trained without drops such observations with
#' a warning of class `"deepbmc_missing_warning"`.
#' Models with several named features read data frames with those columns,
#' or lists of per-group matrices with one column per feature: named
#' columns are matched by name, unnamed ones by position, with a message of
#' class `"deepbmc_by_position_message"` (at most every 8 hours).
#' A data set without any observed value, infinite values (`Inf`, `NaN`) and
#' non-numeric values are errors (class `"deepbmc_error_data"`).
#'
#' @name deepbmc_data
#' @examples
#' # One data set in three equivalent forms: 3 groups of sizes 4, 2 and 3
#' groups <- list(c(0.1, -0.3, 0.8, 0.2), c(1.2, 0.4), c(-0.5, 0.0, 0.3))
#' as_matrix <- rbind(
#'   c(0.1, -0.3, 0.8, 0.2),
#'   c(1.2, 0.4, NA, NA),
#'   c(-0.5, 0.0, 0.3, NA)
#' )
#' as_data_frame <- data.frame(
#'   group = rep(1:3, times = c(4, 2, 3)),
#'   y = unlist(groups)
#' )
#'
#' # Several data sets: a list of data sets
#' several <- list(as_matrix, as_data_frame, groups)
NULL

# Turns `data` into a list of data sets in the internal form list(values,
# sizes) and records whether the user gave a single data set.
as_datasets <- function(data, group = NULL, response = NULL,
                        arg = rlang::caller_arg(data),
                        call = rlang::caller_env()) {
  if (inherits(data, "deepbmc_simulations")) {
    data <- data$data
  }
  if (is_single_dataset(data)) {
    datasets <- list(as_dataset(data, group, response, arg, call))
    return(list(datasets = datasets, single = TRUE))
  }
  if (!is.list(data) || is.data.frame(data) || length(data) == 0) {
    abort_deepbmc(
      c(
        "{.arg {arg}} must be a data set or a non-empty list of data sets.",
        x = "You supplied {describe_value(data)}.",
        i = if (is.atomic(data) && is.null(dim(data))) {
          "For a single group, use a one-row matrix or {.code list(x)}."
        },
        i = "See {.topic deepbmc::deepbmc_data} for the accepted forms."
      ),
      "data",
      call = call
    )
  }
  # Primitives called by vapply() directly, with is.data.frame() only for
  # what is neither a matrix nor a list.
  is_dataset_form <- vapply(data, is.matrix, logical(1)) |
    vapply(data, is.list, logical(1))
  if (!all(is_dataset_form)) {
    is_dataset_form[!is_dataset_form] <-
      vapply(data[!is_dataset_form], is.data.frame, logical(1))
  }
  if (!all(is_dataset_form)) {
    bad <- which(!is_dataset_form)[[1]]
    abort_deepbmc(
      c(
        "{.arg {arg}} mixes data sets and groups.",
        x = "Element {bad} is {describe_value(data[[bad]])}.",
        i = "A list of numeric vectors is one data set (one vector per
             group); a list of matrices, data frames or lists is several data
             sets."
      ),
      "data",
      call = call
    )
  }
  # One by one, in order, so that the first faulty data set raises the
  # error. (Lists of complete matrices rarely come here: C++ reads them in
  # place, see predict_matrix_logits().)
  datasets <- lapply(seq_along(data), function(i) {
    as_dataset(data[[i]], group, response, paste0(arg, "[[", i, "]]"), call)
  })
  list(datasets = datasets, single = FALSE)
}

# A matrix, a data frame, or a list whose elements are all plain numeric (or
# all-NA) vectors.
is_single_dataset <- function(data) {
  if (is.matrix(data) || is.data.frame(data)) {
    return(TRUE)
  }
  # The first element settles most lists of data sets without a look at the
  # others.
  is.list(data) && length(data) > 0 && is_group_vector(data[[1]]) &&
    all(vapply(data, is_group_vector, logical(1)))
}

is_group_vector <- function(x) {
  is.null(dim(x)) && !is.list(x) && !is.object(x) &&
    (is.numeric(x) || (is.logical(x) && all(is.na(x))))
}

as_dataset <- function(data, group, response, arg, call) {
  if (is.matrix(data) && !is.data.frame(data)) {
    return(dataset_from_matrix(data, arg, call))
  }
  dataset <- if (is.data.frame(data)) {
    dataset_from_data_frame(data, group, response, arg, call)
  } else if (is.list(data)) {
    dataset_from_groups(data, arg, call)
  } else {
    abort_deepbmc(
      c(
        "{.arg {arg}} is not a data set.",
        x = "You supplied {describe_value(data)}.",
        i = "See {.topic deepbmc::deepbmc_data} for the accepted forms."
      ),
      "data",
      call = call
    )
  }
  drop_empty_groups(dataset, arg, call)
}

# A matrix with one group per row: values group after group (t() makes each
# group's observations contiguous), the groups' sizes (columns) and observed
# counts, groups without an observed value left out. Errors name `arg`.
# Written for speed on the common plain double matrix: one pass for NA, and
# without NA a finite sum rules out infinite values (a sum that overflows
# goes to the exact check); NaN is looked for among the missing values only.
dataset_from_matrix <- function(data, arg, call) {
  type <- typeof(data)
  if (!type %in% c("double", "integer") &&
        !(type == "logical" && all(is.na(data)))) {
    check_numeric_values(data, arg, call)
  }
  n_rows <- nrow(data)
  n_cols <- ncol(data)
  if (n_rows == 0 || n_cols == 0) {
    abort_deepbmc(
      "{.arg {arg}} is an empty matrix ({n_rows} x {n_cols}).",
      "data",
      call = call
    )
  }
  values <- t(unclass(data))
  storage.mode(values) <- "double"
  missing <- if (anyNA(values)) is.na(values)
  finite_sum <- is.finite(sum(values, na.rm = TRUE))
  if ((!finite_sum && any(is.infinite(values))) ||
        (!is.null(missing) && any(is.nan(values[missing])))) {
    check_numeric_values(values, arg, call)
  }
  observed <- if (is.null(missing)) {
    rep.int(n_cols, n_rows)
  } else {
    n_cols - as.integer(.colSums(missing, n_cols, n_rows))
  }
  if (sum(observed) == 0L) {
    abort_deepbmc("{.arg {arg}} has no observed value.", "data", call = call)
  }
  keep <- observed > 0L
  if (!all(keep)) {
    values <- values[, keep, drop = FALSE]
    observed <- observed[keep]
  }
  attributes(values) <- NULL
  list(values = values, sizes = rep.int(n_cols, length(observed)),
       observed = observed)
}

dataset_from_groups <- function(data, arg, call) {
  is_group <- vapply(data, is_group_vector, logical(1))
  if (!all(is_group)) {
    bad <- which(!is_group)[[1]]
    abort_deepbmc(
      c(
        "Group {bad} of {.arg {arg}} must be a numeric vector.",
        x = "It is {describe_value(data[[bad]])}."
      ),
      "data",
      call = call
    )
  }
  values <- as.double(unlist(data, use.names = FALSE))
  check_numeric_values(values, arg, call)
  list(values = values, sizes = lengths(data, use.names = FALSE))
}

dataset_from_data_frame <- function(data, group, response, arg, call) {
  columns <- data_frame_columns(data, group, response, arg, call)
  check_column_lengths(data, unlist(columns), arg, call)
  group_id <- data[[columns$group]]
  values <- data[[columns$response]]
  if (!is.numeric(values) && !(is.logical(values) && all(is.na(values)))) {
    abort_deepbmc(
      c(
        "The response column {.field {columns$response}} of {.arg {arg}}
         must be numeric.",
        x = "It is {describe_value(values)}."
      ),
      "data",
      call = call
    )
  }
  if (nrow(data) == 0) {
    abort_deepbmc("{.arg {arg}} has no rows.", "data", call = call)
  }
  if (anyNA(group_id)) {
    abort_deepbmc(
      "The group column {.field {columns$group}} of {.arg {arg}} must not
       contain NA.",
      "data",
      call = call
    )
  }
  values <- as.double(values)
  check_numeric_values(values, arg, call)
  # Groups in order of first appearance; rows of a group made contiguous
  # with one stable order() instead of a loop over groups.
  group_index <- match(group_id, unique(group_id))
  list(
    values = values[order(group_index)],
    sizes = tabulate(group_index)
  )
}

# A data frame built by hand (or by a simulator) may have columns of other
# lengths than its rows: they would be cut or padded silently.
check_column_lengths <- function(data, columns, arg, call) {
  counts <- lengths(unclass(data)[columns])
  uneven <- counts != nrow(data)
  if (any(uneven)) {
    abort_deepbmc(
      c(
        "The columns of {.arg {arg}} must all have its {nrow(data)} row{?s}.",
        x = "{.field {columns[uneven]}} ha{?s/ve} {counts[uneven]} value{?s}."
      ),
      "data",
      problem = "columns",
      call = call
    )
  }
  invisible(data)
}

data_frame_columns <- function(data, group, response, arg, call) {
  # Two columns without the default names are read as (group, response);
  # the default names, where present, win over position.
  default_names <- all(c("group", "y") %in% names(data))
  if (is.null(group) && is.null(response) && ncol(data) == 2 && !default_names) {
    return(list(group = names(data)[[1]], response = names(data)[[2]]))
  }
  group <- group %||% "group"
  response <- response %||% "y"
  for (column in c(group, response)) {
    if (!is.character(column) || length(column) != 1 ||
        !column %in% names(data)) {
      abort_deepbmc(
        c(
          "{.arg {arg}} has no column {.field {column}}.",
          i = "Its columns are {.field {names(data)}}.",
          i = "Name the group and response columns with the arguments
               {.arg group} and {.arg response}."
        ),
        "data",
        call = call
      )
    }
  }
  list(group = group, response = response)
}

check_numeric_values <- function(values, arg, call) {
  if (!is.numeric(values) && !(is.logical(values) && all(is.na(values)))) {
    abort_deepbmc(
      c(
        "{.arg {arg}} must hold numbers.",
        x = "It holds values of type {.cls {typeof(values)}}."
      ),
      "data",
      call = call
    )
  }
  # is.infinite() misses NaN; is.nan() catches it apart from NA.
  if (any(is.infinite(values)) || any(is.nan(values))) {
    abort_deepbmc(
      c(
        "{.arg {arg}} must not contain infinite or NaN values.",
        i = "Use NA for missing observations."
      ),
      "data",
      call = call
    )
  }
  invisible(values)
}

# Which rows of `values` (row-major, `n_features` values per row) are
# observed: a row with at least one value that is not NA (issue 16). A row
# with every feature NA is absent; NA in some features of a row makes those
# values missing (value_presence()).
observation_mask <- function(values, n_features = 1L) {
  if (n_features == 1L) {
    return(!is.na(values))
  }
  n_rows <- length(values) %/% n_features
  .colSums(!is.na(values), n_features, n_rows) > 0
}

# Groups without any observed value carry no information and would make the
# pooled mean undefined, so they are left out.
drop_empty_groups <- function(dataset, arg, call, n_features = 1L) {
  group_index <- rep.int(seq_along(dataset$sizes), dataset$sizes)
  present <- observation_mask(dataset$values, n_features)
  observed <- tabulate(group_index[present], nbins = length(dataset$sizes))
  if (sum(observed) == 0) {
    abort_deepbmc(
      "{.arg {arg}} has no observed value.",
      "data",
      problem = "empty",
      call = call
    )
  }
  keep <- observed > 0
  if (!all(keep)) {
    keep_rows <- keep[group_index]
    dataset <- list(
      values = dataset$values[rep(keep_rows, each = n_features)],
      sizes = dataset$sizes[keep]
    )
  }
  dataset$observed <- observed[keep]
  dataset
}

# Concatenates data sets (from as_datasets() or as_feature_datasets()) into
# one packed batch.
pack_datasets <- function(datasets, n_features = 1L,
                          call = rlang::caller_env()) {
  values <- unlist(lapply(datasets, `[[`, "values"), use.names = FALSE)
  group_sizes <- lapply(datasets, `[[`, "sizes")
  sizes <- unlist(group_sizes, use.names = FALSE)
  n_groups <- lengths(group_sizes)
  if (length(values) / n_features > max_batch_rows) {
    abort_deepbmc(
      "The data hold more than {format_count(max_batch_rows)} observations; pass
       fewer data sets at a time.",
      "data",
      call = call
    )
  }
  # One scan when nothing is missing, the usual case. With several features,
  # values missing in an observed row are kept apart as `present` (per
  # value, row-major), never as numbers.
  present <- NULL
  if (anyNA(values)) {
    mask <- observation_mask(values, n_features)
    if (n_features > 1L) {
      observed <- !is.na(values)
      if (any(observed[rep(mask, each = n_features)] == FALSE)) {
        present <- observed
      }
      values[!observed] <- 0
    } else {
      values[!mask] <- 0
    }
  } else {
    mask <- rep.int(TRUE, length(values) %/% n_features)
  }
  batch <- list(
    values = as.double(values),
    n_features = as.integer(n_features),
    group_offsets = c(0L, cumsum(as.integer(sizes))),
    dataset_offsets = c(0L, cumsum(n_groups)),
    mask = mask
  )
  if (!is.null(present)) {
    batch$present <- present
  }
  batch
}

# Sizes of each data set as the network sees them: groups with an observed
# value, and observed values per group.
dataset_sizes <- function(datasets) {
  observed <- lapply(datasets, `[[`, "observed")
  data.frame(
    groups = lengths(lapply(datasets, `[[`, "sizes")),
    min_obs = vapply(observed, min, integer(1)),
    max_obs = vapply(observed, max, integer(1)),
    mean_obs = vapply(observed, mean, numeric(1))
  )
}

# Back from a packed batch to the user-facing forms: a matrix (groups in rows)
# when all groups of a data set have the same size, otherwise a list of
# numeric vectors; with several features per observation each group is a
# matrix with one row per observation. Linear in the size of the batch: no
# factor() or sorting, and no per-group work for matrices.
unpack_batch <- function(batch) {
  n_features <- batch$n_features
  values <- batch$values
  if (!is.null(batch$mask) && !all(batch$mask)) {
    values[rep(!batch$mask, each = n_features)] <- NA_real_
  }
  if (!is.null(batch$present)) {
    values[!batch$present] <- NA_real_
  }
  group_offsets <- batch$group_offsets
  dataset_offsets <- batch$dataset_offsets
  group_sizes <- diff(group_offsets)
  lapply(seq_len(length(dataset_offsets) - 1L), function(b) {
    groups <- (dataset_offsets[[b]] + 1L):dataset_offsets[[b + 1L]]
    sizes <- group_sizes[groups]
    rows <- (group_offsets[[groups[[1]]]] + 1L):group_offsets[[
      groups[[length(groups)]] + 1L]]
    set_values <- if (n_features == 1) {
      values[rows]
    } else {
      values[(rows[[1]] - 1L) * n_features + seq_len(length(rows) * n_features)]
    }
    if (n_features == 1 && all(sizes == sizes[[1]])) {
      return(matrix(set_values, nrow = length(sizes), byrow = TRUE))
    }
    group <- rep.int(seq_along(sizes), sizes * n_features)
    # A factor from its codes directly: factor() would sort as strings.
    split_by <- structure(group, levels = as.character(seq_along(sizes)),
                          class = "factor")
    set <- unname(split(set_values, split_by))
    if (n_features > 1) {
      set <- lapply(set, matrix, ncol = n_features, byrow = TRUE)
    }
    set
  })
}

# Data sets of a model set as a packed batch, whether the user gave one data
# set, and the sizes the network sees. One method per kind of model set (the
# formula models' is in R/formula-data.R); the default reads the forms of
# [deepbmc_data]: one unnamed number per observation, or named features.
prepare_datasets <- function(models, data, group, response, arg, call) {
  UseMethod("prepare_datasets")
}

#' @export
prepare_datasets.default <- function(models, data, group, response, arg,
                                     call) {
  features <- model_feature_names(models)
  if (!is.null(features)) {
    if (!is.null(response)) {
      abort_deepbmc(
        c(
          "{.arg response} does not apply to these models: their data have
           the features {.field {features}}, matched by name.",
          i = "Name the columns of your data after the features."
        ),
        "mismatch",
        call = call
      )
    }
    converted <- as_feature_datasets(
      data, features, group = group, default_group = group_column(models),
      arg = arg, call = call
    )
    return(list(
      batch = pack_datasets(converted$datasets, length(features),
                            call = call),
      single = converted$single,
      sizes = dataset_sizes(converted$datasets)
    ))
  }
  if (models$n_features != 1) {
    abort_deepbmc(
      "Data with {models$n_features} features per observation cannot be
       converted from R for this model set.",
      "data",
      call = call
    )
  }
  converted <- as_datasets(data, group = group, response = response,
                           arg = arg, call = call)
  list(
    batch = pack_datasets(converted$datasets, call = call),
    single = converted$single,
    sizes = dataset_sizes(converted$datasets)
  )
}

# Simulated data sets of a model set in the form users pass to post_prob():
# one method per kind of model set. The default: for named features a data
# frame per data set (the group column, numbered 1, 2, ... in each data set,
# then the features; rows of missing observations NA), otherwise
# unpack_batch()'s matrices and lists of groups.
simulated_data <- function(models, batch) {
  UseMethod("simulated_data")
}

#' @export
simulated_data.default <- function(models, batch) {
  features <- if (!is.null(models)) model_feature_names(models)
  if (is.null(features)) {
    return(unpack_batch(batch))
  }
  batch_data_frames(batch, features, group_column(models))
}

# Data sets with named features (the model set's `features`, in the order of
# the packed values) as a list of data sets in the internal form, and whether
# the user gave a single one. One data set is a data frame or a list of
# per-group matrices (or, for one feature, numeric vectors); several are a
# list of such data sets. `group` is the user's group column (NULL: the
# model set's `default_group`, or else the only column that is not a
# feature). With `strict`, for simulator output, every column must be the
# group or a feature.
as_feature_datasets <- function(data, features, group = NULL,
                                default_group = "group", strict = FALSE,
                                arg = rlang::caller_arg(data),
                                call = rlang::caller_env()) {
  if (is_feature_dataset(data, features)) {
    dataset <- as_feature_dataset(data, features, group, default_group,
                                  strict, arg, call)
    if (!strict) inform_by_position(list(data), features, arg)
    return(list(datasets = list(dataset), single = TRUE))
  }
  if (!is.list(data) || is.data.frame(data) || length(data) == 0 ||
        is.object(data)) {
    abort_not_feature_data(
      "{.arg {arg}} must be a data set or a non-empty list of data sets.",
      data, features, call
    )
  }
  is_set <- vapply(data, function(d) is.data.frame(d) || is.list(d),
                   logical(1))
  if (!all(is_set)) {
    bad <- which(!is_set)[[1]]
    abort_deepbmc(
      c(
        "{.arg {arg}} mixes data sets and groups.",
        x = "Element {bad} is {describe_value(data[[bad]])}.",
        i = "A list of matrices is one data set (one matrix per group); a
             list of data frames or of lists of matrices is several data
             sets."
      ),
      "data",
      problem = "type",
      call = call
    )
  }
  datasets <- lapply(seq_along(data), function(i) {
    as_feature_dataset(data[[i]], features, group, default_group, strict,
                       paste0(arg, "[[", i, "]]"), call)
  })
  if (!strict) inform_by_position(data, features, arg)
  list(datasets = datasets, single = FALSE)
}

# Says (a classed message, at most every 8 hours) when groups given as
# matrices without column names are read by position as the features: with
# several features, columns in another order would silently mean other
# features.
inform_by_position <- function(datasets, features, arg) {
  unnamed <- function(dataset) {
    is.list(dataset) && !is.data.frame(dataset) &&
      any(vapply(dataset, function(x) {
        is.matrix(x) && is.null(colnames(x))
      }, logical(1)))
  }
  if (length(features) < 2 || !any(vapply(datasets, unnamed, logical(1)))) {
    return(invisible(FALSE))
  }
  cli::cli_inform(
    c(
      i = "The columns of matrices without column names in {.arg {arg}} are
           read by position, as the features {.field {features}}.",
      " " = "Name the columns ({.fun colnames}) to match them by name."
    ),
    class = "deepbmc_by_position_message",
    .frequency = "regularly",
    .frequency_id = "deepbmc_by_position"
  )
  invisible(TRUE)
}

# A data frame, or a list of per-group matrices (numeric vectors for one
# feature); an empty list is neither.
is_feature_dataset <- function(data, features) {
  if (is.data.frame(data)) {
    return(TRUE)
  }
  is.list(data) && !is.object(data) && length(data) > 0 &&
    all(vapply(data, is_feature_group, logical(1),
               n_features = length(features)))
}

is_feature_group <- function(x, n_features) {
  if (is.object(x) || is.list(x)) {
    return(FALSE)
  }
  if (is.matrix(x)) {
    return(TRUE)
  }
  n_features == 1 && is_group_vector(x)
}

# Data that are not data sets of models with these features.
abort_not_feature_data <- function(problem, data, features, call,
                                   .envir = parent.frame()) {
  env <- rlang::env(.envir, .supplied = describe_value(data),
                    .features = features)
  abort_deepbmc(
    c(
      problem,
      x = "You supplied {(.supplied)}.",
      i = "A data set of these models is a data frame with a group column
           and the columns {.field {(.features)}}, or a list of per-group
           matrices with those columns.",
      i = "See {.topic deepbmc::deepbmc_data} for the accepted forms."
    ),
    "data",
    problem = "type",
    call = call,
    .envir = env
  )
}

as_feature_dataset <- function(data, features, group, default_group, strict,
                               arg, call) {
  dataset <- if (is.data.frame(data)) {
    dataset_from_feature_frame(data, features, group, default_group, strict,
                               arg, call)
  } else if (is.list(data) && !is.object(data) && length(data) > 0 &&
               all(vapply(data, is_feature_group, logical(1),
                          n_features = length(features)))) {
    dataset_from_feature_groups(data, features, strict, arg, call)
  } else {
    abort_not_feature_data("{.arg {arg}} is not a data set.", data,
                           features, call)
  }
  drop_empty_groups(dataset, arg, call, n_features = length(features))
}

# Values a feature may hold: numbers, logicals (as 0 and 1) and NA.
is_feature_values <- function(x) {
  (is.numeric(x) || is.logical(x)) && !is.object(x) && is.null(dim(x))
}

dataset_from_feature_frame <- function(data, features, group, default_group,
                                       strict, arg, call) {
  columns <- names(data)
  group <- feature_group_column(columns, features, group, default_group,
                                strict, arg, call)
  missing_features <- setdiff(features, columns)
  if (length(missing_features) > 0) {
    abort_deepbmc(
      c(
        "{.arg {arg}} lacks the feature column{?s}
         {.field {missing_features}}.",
        i = "The models' features are {.field {features}}; its columns are
             {.field {columns}}."
      ),
      "data",
      problem = "columns",
      call = call
    )
  }
  others <- setdiff(columns, c(group, features))
  extra <- if (strict) {
    others
  } else {
    others[vapply(data[others], is_feature_values, logical(1))]
  }
  if (length(extra) > 0) {
    abort_deepbmc(
      c(
        paste0(
          "{.arg {arg}} has ", if (!strict) "numeric ", "column{?s}
           {.field {extra}} that {?is not a feature/are not features} of the
           models."
        ),
        i = "The models' features are {.field {features}}, their group
             column {.field {group}}.",
        i = if (!strict) {
          "{cli::qty(extra)}Drop or rename the column{?s}: deepbmc reads every numeric column
           as a feature, so that a misspelt name is not silently ignored."
        }
      ),
      "data",
      problem = "columns",
      call = call
    )
  }
  check_column_lengths(data, c(group, features), arg, call)
  for (feature in features) {
    if (!is_feature_values(data[[feature]])) {
      abort_deepbmc(
        c(
          "The feature column {.field {feature}} of {.arg {arg}} must be
           numeric.",
          x = "It is {describe_value(data[[feature]])}."
        ),
        "data",
        problem = "values",
        call = call
      )
    }
  }
  if (nrow(data) == 0) {
    abort_deepbmc("{.arg {arg}} has no rows.", "data", problem = "empty",
                  call = call)
  }
  group_id <- data[[group]]
  if (anyNA(group_id) || is.list(group_id) || !is.null(dim(group_id))) {
    abort_deepbmc(
      "The group column {.field {group}} of {.arg {arg}} must be a vector
       without NA.",
      "data",
      problem = "group",
      call = call
    )
  }
  # Groups in order of first appearance, rows of a group contiguous (a
  # stable order()), then one row-major vector: the transpose of the
  # observations x features matrix.
  group_index <- match(group_id, unique(group_id))
  rows <- order(group_index)
  values <- vapply(features, function(f) as.double(data[[f]][rows]),
                   numeric(nrow(data)))
  dim(values) <- c(nrow(data), length(features))
  values <- as.vector(t(values))
  check_feature_values(values, arg, call)
  list(values = values, sizes = tabulate(group_index))
}

# The group column of a data frame with named features: the user's, else
# the model set's default, else (unless `strict`) the only column that is
# not a feature.
feature_group_column <- function(columns, features, group, default_group,
                                 strict, arg, call) {
  if (!is.null(group)) {
    if (!is.character(group) || length(group) != 1 || is.na(group) ||
          !group %in% columns) {
      abort_deepbmc(
        c(
          "{.arg {arg}} has no column {.field {format(group)}} for the
           groups.",
          i = "Its columns are {.field {columns}}."
        ),
        "data",
        problem = "group",
        call = call
      )
    }
  } else if (default_group %in% columns) {
    group <- default_group
  } else {
    others <- setdiff(columns, features)
    if (strict || length(others) != 1) {
      abort_deepbmc(
        c(
          "{.arg {arg}} has no group column {.field {default_group}}.",
          i = "Its columns are {.field {columns}}.",
          i = if (!strict) "Name the group column with {.arg group}."
        ),
        "data",
        problem = "group",
        call = call
      )
    }
    group <- others
  }
  if (group %in% features) {
    abort_deepbmc(
      "The group column {.field {group}} of {.arg {arg}} is also a feature
       of the models.",
      "data",
      problem = "group",
      call = call
    )
  }
  group
}

# A list of groups: matrices with one row per observation and one column
# per feature (named columns matched by name), or numeric vectors for one
# feature.
dataset_from_feature_groups <- function(groups, features, strict, arg,
                                        call) {
  n_features <- length(features)
  parts <- lapply(seq_along(groups), function(g) {
    x <- groups[[g]]
    if (!is.matrix(x)) {
      x <- matrix(x, ncol = 1, dimnames = list(NULL, NULL))
    }
    if (!(is.numeric(x) || is.logical(x))) {
      abort_deepbmc(
        c(
          "Group {g} of {.arg {arg}} must be a numeric matrix.",
          x = "It holds values of type {.cls {typeof(x)}}."
        ),
        "data",
        problem = "values",
        call = call
      )
    }
    names <- colnames(x)
    if (is.null(names) && strict && n_features > 1) {
      # Simulators name their columns (simulator_models()): an unnamed
      # matrix could hold the features in any order.
      abort_deepbmc(
        c(
          "The columns of group {g} of {.arg {arg}} must be named after the
           features {.field {features}}.",
          x = "Its {ncol(x)} column{?s} {?has/have} no names."
        ),
        "data",
        problem = "columns",
        call = call
      )
    }
    if (is.null(names)) {
      if (ncol(x) != n_features) {
        abort_deepbmc(
          c(
            "Group {g} of {.arg {arg}} must have one column per feature
             ({.field {features}}).",
            x = "It has {ncol(x)} column{?s} without names."
          ),
          "data",
          problem = "columns",
          call = call
        )
      }
    } else {
      missing_features <- setdiff(features, names)
      extra <- setdiff(names, features)
      if (length(missing_features) > 0 || length(extra) > 0 ||
            anyDuplicated(names)) {
        abort_deepbmc(
          c(
            "The columns of group {g} of {.arg {arg}} must be the features
             {.field {features}}.",
            x = if (length(missing_features) > 0) {
              "It lacks {.field {missing_features}}."
            },
            x = if (length(extra) > 0) {
              "{.field {extra}} {?is not a feature/are not features} of the
               models."
            },
            x = if (anyDuplicated(names)) "Its column names repeat."
          ),
          "data",
          problem = "columns",
          call = call
        )
      }
      x <- x[, features, drop = FALSE]
    }
    storage.mode(x) <- "double"
    as.vector(t(x))
  })
  values <- unlist(parts, use.names = FALSE)
  check_feature_values(values, arg, call)
  list(values = values, sizes = lengths(parts) %/% n_features)
}

# Feature values may be NA (missing), never infinite or NaN.
check_feature_values <- function(values, arg, call) {
  if (any(is.infinite(values)) || any(is.nan(values))) {
    abort_deepbmc(
      c(
        "{.arg {arg}} must not contain infinite or NaN values.",
        i = "Use NA for missing observations."
      ),
      "data",
      problem = "finite",
      call = call
    )
  }
  invisible(values)
}

# Sizes of the data sets of a packed batch as the network sees them (as
# dataset_sizes() gives them for converted data): groups with an observed
# row, and observed rows per such group. Data sets with nothing observed
# have 0 groups and 0 observations.
batch_sizes <- function(batch) {
  n_sets <- length(batch$dataset_offsets) - 1L
  observed_rows <- c(0L, cumsum(as.integer(batch$mask)))
  per_group <- diff(observed_rows[batch$group_offsets + 1L])
  set <- rep.int(seq_len(n_sets), diff(batch$dataset_offsets))
  present <- per_group > 0L
  set <- set[present]
  per_group <- per_group[present]
  groups <- tabulate(set, nbins = n_sets)
  # Smallest and largest per data set from one order() by (set, size).
  ordered <- order(set, per_group)
  first <- ordered[!duplicated(set[ordered])]
  last <- rev(ordered)[!duplicated(set[rev(ordered)])]
  min_obs <- integer(n_sets)
  max_obs <- integer(n_sets)
  min_obs[set[first]] <- per_group[first]
  max_obs[set[last]] <- per_group[last]
  total <- numeric(n_sets)
  total[groups > 0] <- rowsum(as.double(per_group), set, reorder = TRUE)[, 1]
  data.frame(
    groups = groups,
    min_obs = min_obs,
    max_obs = max_obs,
    mean_obs = ifelse(groups > 0, total / pmax(groups, 1L), 0)
  )
}

# A packed batch with named features as one data frame per data set: the
# group column `group` (groups numbered from 1 in each data set), then the
# features in their packed order, missing rows as NA. Linear in the size of
# the batch.
batch_data_frames <- function(batch, features, group) {
  n_features <- length(features)
  values <- matrix(batch$values, ncol = n_features, byrow = TRUE)
  values[!batch$mask, ] <- NA_real_
  if (!is.null(batch$present)) {
    values[!matrix(batch$present, ncol = n_features, byrow = TRUE)] <- NA_real_
  }
  group_sizes <- diff(batch$group_offsets)
  groups_per_set <- diff(batch$dataset_offsets)
  set_of_group <- rep.int(seq_along(groups_per_set), groups_per_set)
  first_group <- batch$dataset_offsets[set_of_group] + 1L
  label <- rep.int(seq_along(group_sizes) - first_group + 1L, group_sizes)
  set_of_row <- rep.int(set_of_group, group_sizes)
  rows <- split(seq_along(label),
                structure(set_of_row, levels = as.character(seq_along(
                  groups_per_set)), class = "factor"))
  lapply(unname(rows), function(i) {
    frame <- data.frame(label[i], values[i, , drop = FALSE])
    names(frame) <- c(group, features)
    frame
  })
}
