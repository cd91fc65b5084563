# Conversion between user data and the packed batch format of the C++ core.
#
# Packed batch (a plain list, both directions):
# * `values`: observations row by row, `n_features` values per row; 0 where
#   the row is not observed;
# * `n_features`: features per observation (D);
# * `group_offsets`: 0-based row offsets, length G + 1 (group g holds rows
#   group_offsets[g] to group_offsets[g + 1] - 1);
# * `dataset_offsets`: 0-based group offsets, length B + 1;
# * `mask`: one logical per row, TRUE = observed.
#
# The user-facing forms of one data set (one feature per observation):
# * a numeric matrix, one row per group, one column per observation, NA for
#   missing values (so groups of unequal size fit in one matrix);
# * a data frame with a group column and a response column;
# * a list of numeric vectors, one per group.
# Several data sets are a list of such data sets. Each data set is first
# turned into `list(values, sizes)` (values group after group, and the number
# of rows of each group); `pack_datasets()` then concatenates all of them in
# one vectorised pass.

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

# Groups without any observed value carry no information and would make the
# pooled mean undefined, so they are left out.
drop_empty_groups <- function(dataset, arg, call) {
  group_index <- rep.int(seq_along(dataset$sizes), dataset$sizes)
  observed <- tabulate(group_index[!is.na(dataset$values)],
                       nbins = length(dataset$sizes))
  if (sum(observed) == 0) {
    abort_deepbmc(
      "{.arg {arg}} has no observed value.",
      "data",
      call = call
    )
  }
  keep <- observed > 0
  if (!all(keep)) {
    dataset <- list(
      values = dataset$values[keep[group_index]],
      sizes = dataset$sizes[keep]
    )
  }
  dataset$observed <- observed[keep]
  dataset
}

# Concatenates data sets (from as_datasets()) into one packed batch.
pack_datasets <- function(datasets, call = rlang::caller_env()) {
  values <- unlist(lapply(datasets, `[[`, "values"), use.names = FALSE)
  group_sizes <- lapply(datasets, `[[`, "sizes")
  sizes <- unlist(group_sizes, use.names = FALSE)
  n_groups <- lengths(group_sizes)
  if (length(values) > max_batch_rows) {
    abort_deepbmc(
      "The data hold more than {format_count(max_batch_rows)} observations; pass
       fewer data sets at a time.",
      "data",
      call = call
    )
  }
  # One scan when nothing is missing, the usual case.
  if (anyNA(values)) {
    missing <- is.na(values)
    values[missing] <- 0
    mask <- !missing
  } else {
    mask <- rep.int(TRUE, length(values))
  }
  list(
    values = as.double(values),
    n_features = 1L,
    group_offsets = c(0L, cumsum(as.integer(sizes))),
    dataset_offsets = c(0L, cumsum(n_groups)),
    mask = mask
  )
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
