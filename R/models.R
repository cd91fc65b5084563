# The model-set contract: what every model set is and the generics it
# implements. Adding a model family is one R file `models-<name>.R` with its
# constructor and the methods below where the defaults do not fit (plus its
# C++ simulator, if it has one, as a ModelSet subclass; see CONTRIBUTING.md).
# No code outside these methods asks which class a model set has.
#
# A model set is a list of class c("deepbmc_<type>", "deepbmc_models") with
# * `type`, `n_models`, `model_names` (distinct, non-empty);
# * `n_features`: features per observation (the network's input width);
# * `n_levels`: hierarchy levels of the data (2: observations in groups);
# * `groups`, `obs`: integer size ranges c(min, max) of the data sets it
#   simulates, or was trained on (post_prob() warns outside them);
# * optionally `feature_names` (the features' names in users' data, in the
#   order of the packed values), `group` (the group column of data frames),
#   `prior_prob` (default prior model probabilities).
#
# The generics, their defaults, and who implements them:
#
# | generic                 | default                                  | methods                     |
# |-------------------------|------------------------------------------|-----------------------------|
# | models_spec()           | classed error: no C++ simulator          | every set with a C++ simulator |
# | has_cpp_simulator()     | TRUE                                     | simulator_models(): FALSE   |
# | simulate_batch()        | cpp_simulate(models_spec()), in C++      | simulator_models(): R + future |
# | with_sizes()            | the set itself; other sizes an error     | sets whose sizes are settings |
# | with_training_sizes()   | the set itself                           | simulator_models(): the sizes of its simulations |
# | print()                 | names, sizes and features                | most sets                   |
# | model_feature_names()   | `feature_names`, or NULL (one unnamed)   |                             |
# | input_feature_names()   | feature names or "values" / "feature j"  | formula models              |
# | missing_feature_names() | feature names, or "y" / "x1", "x2", ...  | formula models: response and inputs |
# | missing_feature_flags() | the features named                       | formula models: the whole observation |
# | partial_observations()  | TRUE                                     | formula models: FALSE       |
# | group_column()          | `group`, or "group"                      |                             |
# | prepare_datasets()      | the data forms of R/data.R               | formula models              |
# | simulated_data()        | matrices / lists of groups, or data frames with the feature names | formula models, sets with special forms |
# | reads_plain_matrices()  | TRUE for one unnamed feature             | formula models: FALSE       |
# | input_encoding()        | type, features, scaling, inputs          |                             |
# | model_set_fingerprint() | models_spec(), or the names and features without one | simulator_models()  |
# | stan_programs()         | classed error: pass your own fits        | sets with Stan programs     |
#
# Only simulate_batch() and models_spec() reach C++; everything else is R.

# The plain list the C++ simulators read. Sets without a C++ simulator (R
# simulators, see simulator_models()) have none.
models_spec <- function(models, ...) {
  UseMethod("models_spec")
}

#' @export
models_spec.default <- function(models, ...) {
  abort_deepbmc(
    "Cannot simulate from an object of class {.cls {class(models)}}.",
    "type"
  )
}

# Whether the set simulates in C++ (training online, validate() simulating in
# C++); FALSE for sets whose data come from R.
has_cpp_simulator <- function(models) {
  UseMethod("has_cpp_simulator")
}

#' @export
has_cpp_simulator.default <- function(models) {
  TRUE
}

# A classed error, from the user's call, for sets without a C++ simulator
# (before online training, say).
check_cpp_simulator <- function(models, call = rlang::caller_env()) {
  if (has_cpp_simulator(models)) {
    return(invisible(models))
  }
  abort_deepbmc(
    c(
      "These models are simulators written in R; they have no C++ simulator
       to train online from.",
      i = "Simulate data sets first, {.code sims <- simulate_datasets(models,
           n = 50000)}, and train on them with
           {.code train_comparison(models, simulations = sims)}."
    ),
    "r_simulator",
    call = call
  )
}

# `n` data sets drawn from the models as list(batch, model): a packed batch
# (format in R/data.R) and the true model of each data set (1-based
# integers). Results depend on `seed` only.
simulate_batch <- function(models, n, seed, threads, progress, call) {
  UseMethod("simulate_batch")
}

#' @export
simulate_batch.default <- function(models, n, seed, threads, progress,
                                   call) {
  check_batch_size(models, n, arg = "n", call = call)
  batch <- cpp_simulate(models_spec(models), n, seed, threads)
  model <- as.integer(batch$model)
  batch$model <- NULL
  list(batch = batch, model = model)
}

# Ranges formatted as "50" or "10-99" for printing.
format_range <- function(range) {
  if (range[[1]] == range[[2]]) {
    format(range[[1]])
  } else {
    paste0(range[[1]], "-", range[[2]])
  }
}

# One line on the data sizes a model set simulates.
format_sizes <- function(models) {
  if (isFALSE(models$sizes_known)) {
    return("sizes as the simulators make them (not yet seen)")
  }
  paste0(
    format_range(models$groups), " groups x ",
    format_range(models$obs), " observations per group"
  )
}

# The same models simulating data sets of other sizes (validate() and
# validate_sizes() evaluate a network off its training sizes). `groups` and
# `obs` are a fixed size or a range c(min, max); NULL keeps the model set's.
# The default serves sets whose sizes are not settings: NULL (or the sizes
# they have) returns the set, anything else is an error.
with_sizes <- function(models, groups = NULL, obs = NULL, ...) {
  UseMethod("with_sizes")
}

#' @export
with_sizes.default <- function(models, groups = NULL, obs = NULL, ...) {
  same <- function(x, current) {
    is.null(x) || identical(as.integer(rep_len(x, 2)), as.integer(current))
  }
  if (!same(groups, models$groups) || !same(obs, models$obs)) {
    abort_deepbmc(
      c(
        "The sizes of these models' data sets are not a setting.",
        i = "Their simulators decide them; simulate data sets of the sizes
             you want and pass them as {.arg data}."
      ),
      "mismatch"
    )
  }
  models
}

# The set as trained on stored simulations whose sizes are `sizes`
# (simulations_sizes()): the default keeps the set's own ranges, which
# describe what its simulator makes; sets whose sizes are known only from
# their simulations take them from there.
with_training_sizes <- function(models, sizes) {
  UseMethod("with_training_sizes")
}

#' @export
with_training_sizes.default <- function(models, sizes) {
  models
}

#' @export
print.deepbmc_models <- function(x, ...) {
  features <- model_feature_names(x)
  cat(
    "<deepbmc_models> ", x$n_models, " models: ",
    paste(x$model_names, collapse = ", "), "\n",
    "Data: ", format_sizes(x), "\n",
    if (!is.null(features)) {
      paste0("Features per observation: ", paste(features, collapse = ", "),
             "\n")
    },
    sep = ""
  )
  invisible(x)
}

# Names of the features of an observation as users' data name them (data
# frame columns, matrix column names), in the order of the packed values;
# NULL for sets that read one unnamed number per observation.
model_feature_names <- function(models) {
  UseMethod("model_feature_names")
}

#' @export
model_feature_names.default <- function(models) {
  models$feature_names
}

# Names of the features of an observation as the network sees them, for
# messages: the model set's `feature_names` where it has them.
input_feature_names <- function(models) {
  UseMethod("input_feature_names")
}

#' @export
input_feature_names.default <- function(models) {
  models$feature_names %||%
    if (models$n_features == 1) "values" else
      paste("feature", seq_len(models$n_features))
}

#' @export
input_feature_names.deepbmc_formula_models <- function(models) {
  template <- models$models[[1]]
  paste(c(template$response, models$inputs), "(standardised)")
}

# Names by which missing_values(features = ) picks features (R/missing.R).
missing_feature_names <- function(models) {
  UseMethod("missing_feature_names")
}

#' @export
missing_feature_names.default <- function(models) {
  model_feature_names(models) %||%
    (if (models$n_features == 1) "y" else paste0("x", seq_len(models$n_features)))
}

#' @export
missing_feature_names.deepbmc_formula_models <- function(models) {
  c(models$models[[1]]$response, models$inputs)
}

# Which features a missing observation loses (one flag per feature), from
# the names given to missing_values(features = ).
missing_feature_flags <- function(models, features, arg, call) {
  UseMethod("missing_feature_flags")
}

#' @export
missing_feature_flags.default <- function(models, features, arg, call) {
  missing_feature_names(models) %in% features
}

# An observation of a formula model without its response carries no evidence
# about the models (its covariates are conditioned on), and formula data drop
# such rows: so a missing response is a missing observation, whole.
#' @export
missing_feature_flags.deepbmc_formula_models <- function(models, features,
                                                         arg, call) {
  response <- models$models[[1]]$response
  if (!response %in% features) {
    abort_deepbmc(
      c(
        "{.arg {arg}} must include the response {.val {response}} of the
         formula models.",
        i = "Covariates are conditioned on, not modelled: only a missing
             response makes a missing observation, and it takes the whole
             observation with it."
      ),
      "value",
      call = call
    )
  }
  rep(TRUE, models$n_features)
}

# Can an observation of these models' data lack some of its features but not
# all? If not, missing values are whole observations and need no coding.
partial_observations <- function(models) {
  UseMethod("partial_observations")
}

#' @export
partial_observations.default <- function(models) {
  TRUE
}

# Formula data drop rows whose response or a covariate is missing.
#' @export
partial_observations.deepbmc_formula_models <- function(models) {
  FALSE
}

# The default group column of data frames for sets with named features.
group_column <- function(models) {
  UseMethod("group_column")
}

#' @export
group_column.default <- function(models) {
  models$group %||% "group"
}

# Whether a list of plain double matrices (groups in rows, one number per
# observation) can go to C++ as it is (predict_matrix_logits()): so for sets
# that read one unnamed number per observation.
reads_plain_matrices <- function(models) {
  UseMethod("reads_plain_matrices")
}

#' @export
reads_plain_matrices.default <- function(models) {
  models$n_features == 1 && is.null(model_feature_names(models))
}

#' @export
reads_plain_matrices.deepbmc_formula_models <- function(models) {
  FALSE
}

# What decides how data become the network's input values: two sets with
# equal encodings turn the same data into the same packed values, so a
# packed batch simulated from one can be read by a network of the other
# without going back to the user-facing forms.
input_encoding <- function(models) {
  UseMethod("input_encoding")
}

#' @export
input_encoding.default <- function(models) {
  list(
    type = models$type,
    n_features = as.integer(models$n_features),
    features = input_feature_names(models),
    scaling = models$scaling,
    inputs = models$inputs
  )
}

# The part of a model set that a fit's checksum covers (fit_checksum()): for
# sets with a C++ simulator what C++ reads; for the others their names,
# features and group column (R functions are not values that hash the same
# across sessions and R versions, so their code is not included).
model_set_fingerprint <- function(models) {
  UseMethod("model_set_fingerprint")
}

#' @export
model_set_fingerprint.default <- function(models) {
  models_spec(models)
}
