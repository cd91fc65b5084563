# Data of formula model sets: real data frames into the network's features
# (through the same C++ function as the simulations), and simulated batches
# back into data frames of the template's form.

#' @export
prepare_datasets.deepbmc_formula_models <- function(models, data, group,
                                                    response, arg, call) {
  if (inherits(data, "deepbmc_simulations")) {
    data <- data$data
  }
  single <- is.data.frame(data)
  datasets <- if (single) list(data) else data
  if (!is.null(group) || !is.null(response)) {
    datasets <- map_formula_columns(models, datasets, group, response, call)
  }
  if (!is.list(datasets) || length(datasets) == 0 ||
        !all(vapply(datasets, is.data.frame, logical(1)))) {
    abort_deepbmc(
      c(
        "{.arg {arg}} must be a data frame, or a list of data frames, with
         the columns of the models' formulas.",
        x = "You supplied {describe_value(data)}."
      ),
      "data",
      call = call
    )
  }
  converted <- lapply(seq_along(datasets), function(i) {
    label <- if (single) arg else paste0(arg, "[[", i, "]]")
    formula_features(models, datasets[[i]], label, call)
  })
  sizes <- lapply(converted, `[[`, "sizes")
  observed <- lapply(sizes, as.integer)
  list(
    batch = list(
      values = unlist(lapply(converted, `[[`, "values"), use.names = FALSE),
      n_features = models$n_features,
      group_offsets = c(0L, cumsum(unlist(observed, use.names = FALSE))),
      dataset_offsets = c(0L, cumsum(lengths(observed))),
      mask = rep.int(TRUE, sum(unlist(observed, use.names = FALSE)))
    ),
    single = single,
    sizes = data.frame(
      groups = lengths(observed),
      min_obs = vapply(observed, min, integer(1)),
      max_obs = vapply(observed, max, integer(1)),
      mean_obs = vapply(observed, mean, numeric(1))
    )
  )
}

# One data frame into feature rows (row-major values) and group sizes, with
# rows of missing responses and groups without responses left out.
formula_features <- function(models, data, arg, call) {
  template <- models$models[[1]]
  check_formula_columns(models$models, data, arg, call)
  response <- data[[template$response]]
  group <- data[[template$group]]
  check_covariate_types(models, data, arg, call)
  keep <- !is.na(response)
  data <- data[keep, , drop = FALSE]
  group <- group[keep]
  order_rows <- group_order(group)
  data <- data[order_rows, , drop = FALSE]
  y <- response_numbers(template, data, arg, call)
  frames <- lapply(models$models, function(model) {
    frame <- model_frames(
      model, data, fixed_terms = model$fixed_terms,
      random_terms = model$random_terms, arg = arg, call = call
    )
    check_response_values(y, frame$trials, model$family, call = call)
    frame
  })
  covariates <- input_columns(models, frames)
  scaling <- models$scaling
  standardized <- standardize_inputs(covariates, scaling)
  share <- y / frames[[1]]$trials
  standardized_response <- (share - scaling$response_center) /
    scaling$response_scale
  if (isTRUE(any(abs(standardized_response) > max_float)) ||
        isTRUE(any(abs(standardized) > max_float))) {
    abort_deepbmc(
      c(
        "{.arg {arg}} holds values the network cannot represent.",
        x = "Standardised with the template's mean and SD, some responses or
             covariates are beyond about {format(max_float, digits = 3)},
             the largest single-precision number."
      ),
      "data",
      call = call
    )
  }
  features <- cpp_formula_features(
    scaling[c("response_center", "response_scale")],
    y, frames[[1]]$trials,
    unname(standardized)
  )
  list(
    values = as.double(t(features)),
    # order_rows sorts by factor level, so the counts follow the rows.
    sizes = tabulate(as.integer(factor(group)))
  )
}

# The columns every data frame for formula models (`models`, parsed
# formulas) needs: all columns the formulas name, a numeric or logical
# response (or a categorical one, which response_numbers() checks) with at
# least one observed value, and a grouping column without missing values.
# One check for the template, new data and Stan data alike.
check_formula_columns <- function(models, data, arg, call) {
  first <- models[[1]]
  needed <- unique(c(first$response, trials_columns(first), first$group,
                     unlist(lapply(models, function(model) {
                       c(all.vars(model$fixed), all.vars(model$random))
                     }))))
  missing_columns <- setdiff(needed, names(data))
  if (length(missing_columns) > 0) {
    abort_deepbmc(
      c(
        "{.arg {arg}} lacks column{?s} {.val {missing_columns}} that the
         model formulas use.",
        i = "Columns of {.arg {arg}}: {.val {names(data)}}."
      ),
      "data",
      call = call
    )
  }
  response <- data[[first$response]]
  if (!is.numeric(response) && !is.logical(response) &&
        !is.factor(response) && !is.character(response)) {
    abort_deepbmc(
      c(
        "The response {.val {first$response}} of {.arg {arg}} must be
         numeric (or, for bernoulli models, a two-level factor).",
        x = "It is {describe_value(response)}."
      ),
      "data",
      call = call
    )
  }
  if (all(is.na(response))) {
    abort_deepbmc(
      "The response {.val {first$response}} of {.arg {arg}} has no
       observed value.",
      "data",
      call = call
    )
  }
  if (!is.null(first$group) && anyNA(data[[first$group]])) {
    abort_deepbmc(
      "The grouping column {.val {first$group}} of {.arg {arg}} has missing
       values.",
      "data",
      call = call
    )
  }
  invisible(TRUE)
}

# Covariates of new data must be of the kind the template's were: numbers
# where the template had numbers, categories (factor, character, logical)
# where it had categories. model.frame() would otherwise build other model
# matrix columns, or fail deep inside.
check_covariate_types <- function(models, data, arg, call) {
  template <- models$models[[1]]$data
  variables <- unique(unlist(lapply(models$models, function(model) {
    c(all.vars(model$fixed), all.vars(model$random))
  })))
  for (column in variables) {
    expected <- is.numeric(template[[column]])
    values <- data[[column]]
    if (is.numeric(values) != expected ||
          (!expected && !(is.factor(values) || is.character(values) ||
                            is.logical(values)))) {
      abort_deepbmc(
        c(
          "The covariate {.field {column}} of {.arg {arg}} must be
           {if (expected) 'numeric' else 'categorical (a factor or
           strings)'}, as in the models' data.",
          x = "It is {describe_value(values)}."
        ),
        "data",
        call = call
      )
    }
  }
  invisible(TRUE)
}

# Data frames of the template's columns for the rows each simulated data set
# took from the template, with the simulated response (recovered from the
# standardised float feature: exactly for counts, to about 1e-7 SDs
# otherwise, which can put a beta response near 1 at 1; such values are
# moved just inside the family's support).
#' @export
simulated_data.deepbmc_formula_models <- function(models, batch) {
  template <- models$models[[1]]
  data <- template$data
  group <- data[[template$group]]
  order_rows <- group_order(group)
  sorted <- data[order_rows, , drop = FALSE]
  trials <- template$trials_values[order_rows]
  n_features <- batch$n_features
  share <- batch$values[seq(1, length(batch$values), by = n_features)] *
    models$scaling$response_scale + models$scaling$response_center
  rows <- batch$source_row + 1L
  response <- share * trials[rows]
  info <- family_info(template$family)
  if (info$discrete) {
    response <- round(response)
  }
  if (!is.null(info$support)) {
    inside <- 1e-6 * models$scaling$response_scale
    response <- pmin(pmax(response, info$support[[1]] + inside),
                     info$support[[2]] - inside)
  }
  response[!batch$mask] <- NA_real_
  # A categorical response comes back in the template's levels and type.
  levels <- template$response_levels
  if (!is.null(levels)) {
    response <- levels[response + 1]
    if (is.factor(data[[template$response]])) {
      response <- factor(response, levels = levels)
    }
  }
  row_set <- rep.int(seq_len(length(batch$dataset_offsets) - 1),
                     diff(batch$group_offsets[batch$dataset_offsets + 1L]))
  # Each simulated group gets its own label, so resampled copies of one
  # template group stay distinct groups.
  group_index <- rep.int(seq_len(length(batch$group_offsets) - 1),
                         diff(batch$group_offsets))
  # unname(): a list of data sets like every other set's, so that subsets
  # and joins of simulations rebuild the same list.
  unname(lapply(split(seq_along(rows), row_set), function(i) {
    frame <- sorted[rows[i], , drop = FALSE]
    frame[[template$response]] <- response[i]
    # cbind(successes, failures) with failures a column: the failures
    # follow the simulated successes, so that the trials stay the template's
    # (an expression such as `size - successes` does so by itself).
    if (is.name(template$failures)) {
      observed <- !is.na(response[i])
      frame[[as.character(template$failures)]][observed] <-
        trials[rows[i]][observed] - response[i][observed]
    }
    first_group <- min(group_index[i])
    frame[[template$group]] <- factor(group_index[i] - first_group + 1L)
    rownames(frame) <- NULL
    frame
  }))
}

# Data frames whose group or response column has another name than in the
# models' formulas (`group = "id"`, `response = "rt"`): that column renamed to
# the formula's name.
map_formula_columns <- function(models, datasets, group, response, call) {
  template <- models$models[[1]]
  targets <- c(group = template$group, response = template$response)
  given <- list(group = group, response = response)
  for (role in names(given)) {
    column <- given[[role]]
    if (is.null(column)) {
      next
    }
    if (!is.character(column) || length(column) != 1 || is.na(column)) {
      abort_supplied(
        "{.arg {role}} must be the name of a column of the data.",
        column, "type", call = call
      )
    }
    datasets <- lapply(datasets, function(data) {
      if (!is.data.frame(data) || !column %in% names(data)) {
        abort_deepbmc(
          "{.arg {role}} names column {.val {column}}, which the data do not
           have.",
          "data",
          call = call
        )
      }
      if (column != targets[[role]]) {
        data[[targets[[role]]]] <- NULL
        names(data)[names(data) == column] <- targets[[role]]
      }
      data
    })
  }
  datasets
}
