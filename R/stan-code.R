# Stan programs for bridge sampling: generated from formula models, shipped in
# inst/stan for the built-in Study 1 models, and the data lists they read.
#
# Bridge sampling estimates the normalising constant of exp(target). That
# constant is the marginal likelihood only if target is the complete log joint
# density, so every program here writes each density with `target +=
# *_lpdf()` (which keeps all normalising constants; `~` drops them) and adds
# the normalising constants of truncated half-distributions (log(2) for
# half-normal and half-Student-t). Jacobians of Stan's constraining transforms
# are not written: Stan adds them when sampling and bridgesampling works on
# the unconstrained scale.

#' Stan programs of the models
#'
#' Shows the Stan program that [bridge_compare()] runs for a model: the
#' complete log joint density of the model, written for bridge sampling. For
#' formula models ([hier_model()]) the program is generated from the same
#' parsed specification (model matrices, family, link and priors) that drives
#' deepbmc's C++ simulator, so both describe one model; for the built-in Study
#' 1 models ([normal_nested_models()]) the programs ship with the package in
#' `inst/stan`.
#'
#' Every density is written with `target +=` and all normalising constants,
#' including those of truncated half-distributions, because `~` drops
#' constants and so biases Bayes factors between models with different
#' parameters. Priors fixed with `constant()` are numbers in the program, not
#' parameters. Group-level effects are non-centred: \eqn{u_g = \mathrm{diag}(sd)
#' L z_g} with \eqn{z_g \sim N(0, I)} and \eqn{L} the Cholesky factor of the
#' correlation matrix (LKJ prior) when the effects are correlated. A
#' `half_normal_variance(s)` prior, a Half-Normal(0, s) prior on the variance,
#' is written as the implied density of the standard deviation.
#'
#' The programs use the array syntax of Stan before 2.26 (`int g[N];`), which
#' rstan 2.21 needs and later versions up to 2.32 accept.
#'
#' @param x A model from [hier_model()], a model set from [model_set()] or
#'   [normal_nested_models()], or a trained network from [train_comparison()].
#' @param model For model sets and networks: the name or index of one model;
#'   `NULL` for all.
#'
#' @return A string of class `"deepbmc_stan_code"` (printed as the program),
#'   or for several models a named list of them.
#' @seealso [bridge_compare()]
#' @export
#' @examples
#' m1 <- hier_model(weight ~ 1 + Time + (1 | Chick), ChickWeight)
#' stan_code(m1)
#' stan_code(normal_nested_models(), model = "M1")
stan_code <- function(x, model = NULL) {
  if (inherits(x, "deepbmc_hier_model")) {
    return(new_stan_code(formula_stan_code(x)))
  }
  if (inherits(x, "deepbmc_fit")) {
    x <- x$models
  }
  check_class(x, "deepbmc_models",
              "a model, a model set or a network from {.fun train_comparison}",
              "x", rlang::current_env())
  programs <- stan_programs(x)
  if (is.null(model)) {
    return(lapply(programs, function(p) new_stan_code(p$code)))
  }
  index <- check_model_index(model, x$model_names)
  new_stan_code(programs[[index]]$code)
}

new_stan_code <- function(code) {
  structure(code, class = "deepbmc_stan_code")
}

#' @export
print.deepbmc_stan_code <- function(x, ...) {
  cat(unclass(x), sep = "")
  invisible(x)
}

# The Stan programs of a model set: a named list (one per model) of
# list(code, name, data), where data(dataset, arg, group, response) gives the
# program's data list for one data set in the form post_prob() accepts
# (`arg` names it in errors; `group` and `response` are post_prob()'s column
# arguments, NULL by default).
stan_programs <- function(models, call = rlang::caller_env()) {
  UseMethod("stan_programs")
}

#' @export
stan_programs.default <- function(models, call = rlang::caller_env()) {
  abort_deepbmc(
    "deepbmc has no Stan programs for model sets of class
     {.cls {class(models)[[1]]}}; pass your own fits in {.arg fits}.",
    "type",
    call = call
  )
}

#' @export
stan_programs.deepbmc_normal_nested <- function(models,
                                                call = rlang::caller_env()) {
  programs <- lapply(c(M0 = "M0", M1 = "M1"), function(model) {
    list(
      code = study1_stan_code(model),
      name = paste0("study1_", tolower(model)),
      data = function(dataset, arg = "data", group = NULL, response = NULL) {
        study1_stan_data(study1_groups(dataset, arg, group = group,
                                       response = response))
      }
    )
  })
  stats::setNames(programs, models$model_names)
}

#' @export
stan_programs.deepbmc_formula_models <- function(models,
                                                 call = rlang::caller_env()) {
  programs <- lapply(seq_along(models$models), function(k) {
    model <- models$models[[k]]
    force(model)
    list(
      code = formula_stan_code(model, models$model_names[[k]]),
      name = paste0("deepbmc_", make.names(models$model_names[[k]])),
      # Formula models take their columns from the formulas.
      data = function(dataset, arg = "data", group = NULL, response = NULL) {
        formula_stan_data(model, dataset, arg = arg)
      }
    )
  })
  stats::setNames(programs, models$model_names)
}
