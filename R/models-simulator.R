#' Models you bring yourself: simulators written in R
#'
#' Builds a model set from R functions, one per model, each of which
#' simulates one data set from the model's prior predictive distribution.
#' Such models need no likelihood: anything you can simulate, deepbmc can
#' compare. Simulate a bank of data sets with [simulate_datasets()] (through
#' future, so in parallel or on a cluster if you like), train on it with
#' `train_comparison(models, simulations = sims)`, and use the network with
#' [post_prob()] on data of the same form.
#'
#' **What a function returns.** Each call returns one data set, in one of
#' two forms:
#' * a data frame with the group column (`group`) and one numeric column per
#'   feature, one row per observation (the form most simulators write);
#' * a list of per-group matrices, one row per observation and one named
#'   column per feature.
#'
#' Every model returns the same features (in any column order: they are
#' matched by name) and nothing else: no other columns. Features are numbers
#' (integers and logicals are read as numbers); `NA` marks a missing value,
#' and an observation with a missing feature is left out (masked) as a whole.
#' Categorical features are coded as numbers (for example 0 and 1). The
#' number of groups and their sizes may vary from call to call and between
#' the groups of a data set; groups are told apart by the values of the group
#' column (numbers, strings or factor levels) and rows need not be sorted.
#'
#' **Checks.** Unless you give `features`, `simulator_models()` calls each
#' function once (with a fixed seed, leaving your random numbers as they
#' were) to learn the feature names from the first model and to check that
#' every model returns data sets of the same form. Errors in the functions
#' and malformed output are errors of class `"deepbmc_error_simulation"`,
#' here and in [simulate_datasets()].
#'
#' **Sizes.** The size ranges of the set (`groups` and `obs`) are those of
#' the data sets seen so far: the first calls here (or none when `features`
#' are given), and after training the simulations the network was trained
#' on, whose ranges the fit keeps. [post_prob()] warns (class
#' `"deepbmc_extrapolation_warning"`) for data with fewer or more groups, or
#' observations per group, than any training data set had. The sizes are not
#' settings: `validate(fit, groups = ...)` does not apply, simulate data sets
#' of the sizes you want and pass them as `data`.
#'
#' **Time limit.** A function that never returns would hold
#' `simulator_models()` and [simulate_datasets()] until you interrupt them.
#' With `time_limit`, each call gets that many seconds (elapsed time, on
#' whichever process runs it, under every future plan); a call that takes
#' longer stops with an error of class `"deepbmc_error_simulation"` whose
#' `problem` is `"time_limit"`, naming the model, the data set and the limit.
#' R checks the limit between R-level steps (including [Sys.sleep()]), so
#' compiled code that runs long without returning to R is stopped only when
#' it does.
#'
#' **Parallel workers** get the functions with the objects they use from
#' your global environment (found as future finds globals) and the packages
#' they call; objects they reach otherwise (say, through [get()]) must be
#' loaded in the functions themselves.
#'
#' Sets of R simulators have no C++ simulator: they are trained on stored
#' simulations only, and `validate(fit)` simulates its data sets in R.
#'
#' @param ... Functions, one per model, named by the model
#'   (`flat = sim_flat`); unnamed ones are called `M1`, `M2`, .... Each takes
#'   no required arguments and returns one simulated data set.
#' @param group Name of the group column of the data frames.
#' @param features Names of the features; `NULL` takes them from the columns
#'   of the first model's output (all but `group`, in their order). With
#'   `features` given, the functions are not called here.
#' @param prior_prob Prior model probabilities used by [post_prob()],
#'   [bayes_factor()] and [compare_models()] when they are not given there;
#'   `NULL` for uniform. Training does not depend on them.
#' @param time_limit The most seconds one call of a function may take (see
#'   Time limit); `Inf` (the default) for no limit. [simulate_datasets()]
#'   can set another for its call.
#'
#' @return A model set, a list of class
#'   `c("deepbmc_simulator_models", "deepbmc_models")` with elements `type`
#'   (`"simulator"`), `simulators` (the functions), `model_names`,
#'   `n_models`, `feature_names`, `n_features`, `group`, `n_levels` (2),
#'   `groups` and `obs` (size ranges seen so far), `sizes_known` and
#'   `prior_prob`.
#'
#' @seealso [simulate_datasets()], [train_comparison()], [deepbmc_data]
#' @export
#' @examples
#' # Observations (x, y) in groups, with or without a slope of y on x
#' sim_model <- function(slope) {
#'   function() {
#'     n_groups <- sample(5:10, 1)
#'     size <- sample(5:20, n_groups, replace = TRUE)
#'     group <- rep(seq_len(n_groups), size)
#'     x <- rnorm(length(group))
#'     b <- if (slope) rnorm(1) else 0
#'     u <- rnorm(n_groups, sd = 0.5)
#'     data.frame(group = group, x = x, y = b * x + u[group] + rnorm(length(x)))
#'   }
#' }
#' models <- simulator_models(flat = sim_model(FALSE), slope = sim_model(TRUE))
#' models
#' sims <- simulate_datasets(models, n = 20, seed = 1)
#' sims
#' head(sims$data[[1]])
simulator_models <- function(..., group = "group", features = NULL,
                             prior_prob = NULL, time_limit = Inf) {
  simulators <- list(...)
  if (length(simulators) < 2) {
    abort_deepbmc(
      c(
        "{.fun simulator_models} needs at least two models to compare.",
        x = "You supplied {length(simulators)}."
      ),
      "value"
    )
  }
  model_names <- names(simulators) %||% rep("", length(simulators))
  unnamed <- is.na(model_names) | model_names == ""
  model_names[unnamed] <- paste0("M", seq_along(simulators))[unnamed]
  if (anyDuplicated(model_names)) {
    abort_deepbmc(
      c(
        "Model names must be unique.",
        x = "{.val {unique(model_names[duplicated(model_names)])}} occur{?s}
             more than once."
      ),
      "value"
    )
  }
  for (k in seq_along(simulators)) {
    check_simulator_function(simulators[[k]], model_names[[k]])
  }
  names(simulators) <- model_names
  group <- check_name(group, "group")
  if (!is.null(features)) {
    features <- check_feature_names(features, group)
  }
  prior_prob <- if (!is.null(prior_prob)) {
    stats::setNames(check_prior_prob(prior_prob, model_names), model_names)
  }
  time_limit <- check_time_limit(time_limit)
  set <- structure(
    list(
      type = "simulator",
      simulators = simulators,
      model_names = model_names,
      n_models = length(simulators),
      feature_names = features,
      n_features = length(features),
      group = group,
      n_levels = 2L,
      groups = c(1L, .Machine$integer.max),
      obs = c(1L, .Machine$integer.max),
      sizes_known = FALSE,
      prior_prob = prior_prob,
      time_limit = time_limit
    ),
    class = c("deepbmc_simulator_models", "deepbmc_models")
  )
  if (is.null(features)) {
    set <- probe_simulators(set)
  }
  set
}

check_simulator_function <- function(f, name, call = rlang::caller_env()) {
  if (!is.function(f)) {
    abort_deepbmc(
      c(
        "The simulator of model {.val {name}} must be a function.",
        x = "It is {describe_value(f)}."
      ),
      "type",
      call = call
    )
  }
  arguments <- formals(f)
  required <- names(arguments)[vapply(arguments, function(a) {
    is.symbol(a) && identical(as.character(a), "")
  }, logical(1))]
  required <- setdiff(required, "...")
  if (length(required) > 0) {
    abort_deepbmc(
      c(
        "The simulator of model {.val {name}} must work without arguments.",
        x = "It requires {.arg {required}}.",
        i = "Give them defaults, or wrap the call:
             {.code function() my_simulator(n = 50)}."
      ),
      "value",
      call = call
    )
  }
  invisible(f)
}

check_name <- function(x, arg, call = rlang::caller_env()) {
  if (!is.character(x) || length(x) != 1 || is.na(x) || !nzchar(x)) {
    abort_deepbmc(
      c(
        "{.arg {arg}} must be a single column name.",
        x = "You supplied {describe_value(x)}."
      ),
      "type",
      call = call
    )
  }
  x
}

check_feature_names <- function(features, group, arg = "features",
                                call = rlang::caller_env()) {
  if (!is.character(features) || length(features) == 0 || anyNA(features) ||
        any(!nzchar(features)) || is.object(features)) {
    abort_deepbmc(
      c(
        "{.arg {arg}} must be non-empty column names.",
        x = "You supplied {describe_value(features)}."
      ),
      "type",
      call = call
    )
  }
  if (anyDuplicated(features) || group %in% features) {
    abort_deepbmc(
      c(
        "{.arg {arg}} must be distinct names other than the group column
         {.field {group}}.",
        x = "You supplied {.field {features}}."
      ),
      "value",
      call = call
    )
  }
  unname(features)
}

# One call of every simulator (seeded, the user's stream kept): the feature
# names from the first model's output, every output checked against them,
# and the size ranges of those data sets.
probe_simulators <- function(set, call = rlang::caller_env()) {
  outputs <- vector("list", set$n_models)
  for (k in seq_len(set$n_models)) {
    simulator <- set$simulators[[k]]
    output <- with_local_seed(k, call_simulator(simulator,
                                                set$time_limit %||% Inf))
    if (inherits(output, "deepbmc_time_limit")) {
      abort_simulation(set, k, NA_integer_, "time_limit", NULL, NULL,
                       time_limit = set$time_limit, call = call)
    }
    if (inherits(output, "error")) {
      abort_simulation(set, k, NA_integer_, "error",
                       conditionMessage(output), NULL,
                       parent = named_cause(output, set$model_names[[k]]),
                       call = call)
    }
    if (k == 1) {
      set$feature_names <- output_features(output, set, call)
      set$n_features <- length(set$feature_names)
    }
    outputs[[k]] <- output
  }
  datasets <- lapply(seq_len(set$n_models), function(k) {
    converted <- convert_simulator_output(outputs[[k]], set)
    if (!isTRUE(converted$ok)) {
      abort_simulation(set, k, NA_integer_, converted$problem,
                       converted$message, NULL, details = converted$details,
                       call = call)
    }
    converted$dataset
  })
  batch <- pack_datasets(datasets, set$n_features)
  with_training_sizes(set, batch_size_ranges(batch))
}

# Feature names from a first output: the columns other than the group
# column, or the column names of the first group's matrix.
output_features <- function(output, set, call) {
  model <- set$model_names[[1]]
  names <- if (is.data.frame(output)) {
    if (!set$group %in% names(output)) {
      abort_simulation(set, 1L, NA_integer_, "group",
                       paste0("It has no group column `", set$group,
                              "`; its columns are ",
                              paste0("`", names(output), "`",
                                     collapse = ", "), "."),
                       NULL, call = call)
    }
    setdiff(names(output), set$group)
  } else if (is.list(output) && length(output) > 0 &&
               is.matrix(output[[1]])) {
    colnames(output[[1]])
  }
  if (length(names) == 0 || anyNA(names) || any(!nzchar(names)) ||
        anyDuplicated(names)) {
    abort_simulation(
      set, 1L, NA_integer_, "columns",
      paste(
        "Its features have no names. Return a data frame with the group",
        "column and one named column per feature, or give `features`."
      ),
      NULL, call = call
    )
  }
  names
}

# One simulator output in the internal form of a data set, or what is wrong
# with it: list(ok, dataset) or list(ok = FALSE, problem, message). Runs on
# future workers, so it returns rather than signals.
convert_simulator_output <- function(output, set) {
  tryCatch(
    list(
      ok = TRUE,
      dataset = check_float_dataset(as_feature_dataset(
        output, set$feature_names, group = NULL, default_group = set$group,
        strict = TRUE, arg = "output", call = NULL
      ))
    ),
    deepbmc_error = function(e) {
      list(ok = FALSE, problem = e$problem %||% "type",
           message = cli::ansi_strip(rlang::cnd_header(e)),
           details = cli::ansi_strip(rlang::cnd_body(e)))
    }
  )
}

# A simulated data set (internal form) whose values the network can read:
# finite in single precision (R simulators cannot return infinite values).
check_float_dataset <- function(dataset) {
  if (isTRUE(any(abs(dataset$values) > max_float, na.rm = TRUE))) {
    abort_deepbmc(
      c(
        "{.arg output} holds values beyond about
         {format(max_float, digits = 3)}, which the network cannot read.",
        i = "The network computes in single precision; rescale the data."
      ),
      "data",
      problem = "float",
      call = NULL
    )
  }
  dataset
}

# The error for a failed or malformed simulation of data set `index` (NA
# for the calls in simulator_models()), with the simulations done before it.
abort_simulation <- function(set, k, index, problem, message, simulations,
                             parent = NULL, details = NULL, time_limit = NULL,
                             call = rlang::caller_env()) {
  model <- set$model_names[[k]]
  where <- if (is.na(index)) {
    "in its first call, in {.fun simulator_models}"
  } else {
    "at data set {index}"
  }
  what <- switch(problem,
    error = "failed",
    time_limit = "did not return within {.arg time_limit} = {time_limit}
      second{?s}",
    "returned no valid data set"
  )
  done <- if (is.null(simulations)) 0L else length(simulations)
  # The checks' own lines, already formatted, indented and kept literal.
  details <- stats::setNames(cli_escape(details), rep(" ", length(details)))
  abort_deepbmc(
    c(
      paste0("The simulator of model {.val {model}} ", what, " ", where, "."),
      # An error of the function itself is shown as the cause.
      x = if (is.null(parent) && !is.null(message)) "{message}",
      details,
      i = if (!is.na(index)) {
        "{done} data set{?s} simulated before it {?is/are} kept in the
         error's {.field simulations} field (see {.fun simulate_datasets})."
      },
      i = if (identical(problem, "time_limit")) {
        "It was stopped there. Raise {.arg time_limit} if it needs longer,
         or check that it ends."
      } else if (!identical(problem, "error")) {
        "See {.fun simulator_models} for the data sets a simulator returns."
      }
    ),
    "simulation",
    model = model,
    index = index,
    problem = problem,
    time_limit = time_limit,
    simulations = simulations,
    parent = parent,
    call = call
  )
}

# Group and observation ranges of a packed batch (observed rows per group).
batch_size_ranges <- function(batch) {
  sizes <- batch_sizes(batch)
  present <- sizes$groups > 0
  list(
    groups = as.integer(range(sizes$groups[present])),
    obs = as.integer(c(min(sizes$min_obs[present]),
                       max(sizes$max_obs[present])))
  )
}

#' @export
models_spec.deepbmc_simulator_models <- function(models, ...,
                                                 call = rlang::caller_env()) {
  check_cpp_simulator(models, call = call)
}

#' @export
has_cpp_simulator.deepbmc_simulator_models <- function(models) {
  FALSE
}

#' @export
with_training_sizes.deepbmc_simulator_models <- function(models, sizes) {
  models$groups <- as.integer(sizes$groups)
  models$obs <- as.integer(sizes$obs)
  models$sizes_known <- TRUE
  models
}

#' @export
model_set_fingerprint.deepbmc_simulator_models <- function(models) {
  list(type = models$type, model_names = models$model_names,
       feature_names = models$feature_names, group = models$group)
}

#' @export
print.deepbmc_simulator_models <- function(x, ...) {
  cat(
    "<deepbmc_models> ", x$n_models, " models simulated in R\n",
    "Models: ", paste(x$model_names, collapse = ", "), "\n",
    "Data: ", format_sizes(x), if (isTRUE(x$sizes_known)) " seen so far",
    "\n",
    "Features per observation: ", paste(x$feature_names, collapse = ", "),
    "; groups in column ", x$group, "\n",
    sep = ""
  )
  if (!is.null(x$prior_prob)) {
    cat("Prior model probabilities: ",
        paste0(names(x$prior_prob), " ", format(x$prior_prob, digits = 3),
               collapse = ", "), "\n", sep = "")
  }
  invisible(x)
}

# A simulator's output, its error, or (when it ran out of time) an error of
# class "deepbmc_time_limit". The limit is set here, in whatever process
# calls the simulator: future resets time limits around a future's
# expression, so one set outside it would not hold on a worker. A limit
# that stopped the call shows as an error after `time_limit` seconds (R's
# message for it is translated, so the clock tells).
call_simulator <- function(simulator, time_limit) {
  if (!is.finite(time_limit)) {
    return(tryCatch(simulator(), error = function(e) e))
  }
  on.exit(setTimeLimit(elapsed = Inf), add = TRUE)
  started <- proc.time()[["elapsed"]]
  setTimeLimit(elapsed = time_limit, transient = TRUE)
  output <- tryCatch(simulator(), error = function(e) e)
  setTimeLimit(elapsed = Inf)
  if (inherits(output, "error") &&
        proc.time()[["elapsed"]] - started >= time_limit) {
    class(output) <- c("deepbmc_time_limit", class(output))
  }
  output
}

# A limit in seconds for one call of a simulator: a positive number, or Inf
# for none.
check_time_limit <- function(x, arg = rlang::caller_arg(x),
                             call = rlang::caller_env()) {
  if (is.numeric(x) && length(x) == 1 && !is.object(x) && !is.na(x) &&
        x == Inf) {
    return(Inf)
  }
  if (is.numeric(x) && length(x) == 1 && !is.object(x) && !is.na(x) &&
        is.finite(x) && x > 0) {
    return(as.double(x))
  }
  abort_supplied(
    "{.arg {arg}} must be a positive number of seconds, or {.code Inf} for
     no limit.",
    x, if (is.numeric(x) && length(x) == 1 && !is.object(x)) "value" else
      "type",
    call = call
  )
}
