# The model-set interface shared by all built-in model sets.
#
# A model set is a list of class c("deepbmc_<type>", "deepbmc_models") with at
# least `type`, `n_models`, `model_names`, `n_features` (features per
# observation), `n_levels` (hierarchy levels the data have) and the size
# ranges `groups` and `obs`. The C++ simulators only see `models_spec()`.

# The plain list the C++ simulators read; one method per model set.
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
  paste0(
    format_range(models$groups), " groups x ",
    format_range(models$obs), " observations per group"
  )
}

# The same models simulating data sets of other sizes (validate() and
# validate_sizes() evaluate a network off its training sizes). `groups` and
# `obs` are a fixed size or a range c(min, max); NULL keeps the model set's.
with_sizes <- function(models, groups = NULL, obs = NULL, ...) {
  UseMethod("with_sizes")
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
