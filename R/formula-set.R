#' A set of candidate formula models
#'
#' Collects the models to compare. All models describe the same data set:
#' the same data frame, response and grouping column. A model without a
#' group-level term (`y ~ 1 + x`) takes the grouping column of the set's
#' other models: its simulations keep the template's groups, without group
#' effects, so the network compares it with hierarchical models of the same
#' data; at least one model of a set must have a group-level term. The set
#' compiles them once into plain numbers (model matrices, index vectors,
#' prior codes) that the C++ simulator reads, so training, [validate()] and
#' [simulate_datasets()] work as for the built-in models.
#'
#' **Network inputs.** Each observation enters the network as its response
#' followed by the covariate features named in `inputs`: by default every
#' non-intercept model-matrix column of any model, such as `x` or
#' `conditionB`, and the offset of any model whose offset differs between
#' rows, named as written (`offset(log(exposure))`), since the models'
#' predictions depend on it. All are standardised with the mean and SD of the
#' template data; the same scaling is kept in the set and applied to real
#' data in [post_prob()], through the same C++ code as the simulations.
#' Binomial responses enter as shares of trials; two-level factor responses
#' of bernoulli models as 0 (first level) and 1 (second level).
#'
#' **Designs.** With `design = "fixed"` every simulated data set has the
#' template's design: its groups, sizes, covariates and missing responses.
#' With `design = "resample"` each simulated data set draws its number of
#' groups from `groups` and fills them with groups of the template drawn with
#' replacement (with their sizes, covariates and missing responses), so that
#' the network learns to handle designs like the template's, not only the
#' template itself.
#'
#' **Comparing subsets of the data.** A network answers for the sizes it was
#' trained on, and [post_prob()] warns outside them. To compare the models on
#' a subset of the groups as well, train on `design = "resample"` with
#' `groups = c(min, max)` covering it; for fewer observations per group (the
#' first days of a study, a few missing responses), train with
#' `train_comparison(..., missing = missing_values(share = c(0, p)))`, which
#' drops each observation with a probability up to `p` in every simulated
#' data set. The warning gives both calls with the numbers your data need.
#'
#' @param ... Models from [hier_model()], named (`null = m0, effect = m1`);
#'   unnamed models are called `M1`, `M2`, and so on. Built-in model sets
#'   such as [normal_nested_models()] may join them: their models become
#'   formula models on the same design (for the nested normal models,
#'   `y ~ 0 + (1 | g)` and `y ~ 1 + (1 | g)` with the paper's priors), named
#'   after the argument and the model (`study1 = normal_nested_models()` adds
#'   `study1_M0` and `study1_M1`); their own sizes are replaced by the
#'   template's.
#' @param prior_prob Prior model probabilities used by [post_prob()],
#'   [bayes_factor()] and [compare_models()] when they are not given there;
#'   `NULL` for uniform. Training does not depend on them.
#' @param inputs Model-matrix column names (and offsets, such as
#'   `"offset(log(exposure))"`) that enter the network as covariate features;
#'   `NULL` for all non-intercept columns and all non-constant offsets of all
#'   models.
#'   `character(0)` gives the network the response only.
#' @param design `"fixed"` or `"resample"`; see Designs.
#' @param groups With `design = "resample"`: the number of groups per
#'   simulated data set, a fixed number or a range `c(min, max)`; `NULL` uses
#'   the template's number of groups.
#'
#' @return A model set, a list of class
#'   `c("deepbmc_formula_models", "deepbmc_models")` with `models` (the
#'   models), `model_names`, `n_models`, `n_features`, `n_levels` (2),
#'   `inputs`, `design`, `groups` and `obs` (size ranges), `prior_prob`,
#'   `scaling` (centres and scales of the features) and `compiled` (what the
#'   C++ simulator reads).
#' @seealso [hier_model()], [train_comparison()]
#' @export
#' @examples
#' set <- model_set(
#'   null = hier_model(weight ~ 1 + (1 | Chick), ChickWeight),
#'   time = hier_model(weight ~ 1 + Time + (1 | Chick), ChickWeight)
#' )
#' set
#' sims <- simulate_datasets(set, n = 2, seed = 1)
#' head(sims$data[[1]])
model_set <- function(..., prior_prob = NULL, inputs = NULL,
                      design = c("fixed", "resample"), groups = NULL) {
  models <- expand_builtin_models(list(...))
  if (length(models) < 2) {
    abort_deepbmc(
      c(
        "{.fun model_set} needs at least two models to compare.",
        x = "You supplied {length(models)}."
      ),
      "value"
    )
  }
  for (i in seq_along(models)) {
    check_class(models[[i]], "deepbmc_hier_model",
                "a model from {.fun hier_model}", paste0("..", i),
                rlang::current_env())
  }
  model_names <- names(models) %||% rep("", length(models))
  model_names[model_names == ""] <- paste0("M", seq_along(models))[
    model_names == ""
  ]
  if (anyDuplicated(model_names)) {
    abort_deepbmc("Model names must be unique.", "value")
  }
  names(models) <- model_names
  models <- share_grouping(models)
  check_same_design(models)
  prior_prob <- if (is.null(prior_prob)) {
    NULL
  } else {
    stats::setNames(check_prior_prob(prior_prob, model_names), model_names)
  }
  design <- check_choice(design, c("fixed", "resample"))
  template <- models[[1]]
  n_template_groups <- length(unique(template$data[[template$group]]))
  if (!is.null(groups) && design == "fixed") {
    abort_deepbmc(
      "{.arg groups} applies to {.code design = \"resample\"} only.",
      "mismatch"
    )
  }
  groups <- if (is.null(groups)) {
    rep(as.integer(n_template_groups), 2)
  } else {
    check_range(groups, max = max_resampled_groups)
  }
  available <- available_inputs(models)
  inputs <- check_inputs(inputs, available)

  set <- list(
    type = "formula",
    models = models,
    model_names = model_names,
    n_models = length(models),
    n_features = 1L + length(inputs),
    n_levels = 2L,
    inputs = inputs,
    design = design,
    groups = groups,
    prior_prob = prior_prob
  )
  compiled <- compile_model_set(set)
  set$obs <- compiled$obs_range
  set$scaling <- compiled$scaling
  set$compiled <- compiled$spec
  structure(set, class = c("deepbmc_formula_models", "deepbmc_models"))
}

# Built-in model sets among the arguments become formula models on the
# design of the formula models' template: the nested normal models of Study 1
# are `y ~ 0 + (1 | g)` and `y ~ 1 + (1 | g)` with Half-Normal(0, 1) priors on
# both variances and N(0, 1) on the grand mean. Their models are named
# `<argument>_<model>` (e.g. `study1_M0`), or by model name when unnamed.
expand_builtin_models <- function(models, call = rlang::caller_env()) {
  is_builtin <- vapply(models, inherits, logical(1), "deepbmc_models")
  if (!any(is_builtin)) {
    return(models)
  }
  formula_models <- models[!is_builtin]
  is_formula <- vapply(formula_models, inherits, logical(1),
                       "deepbmc_hier_model")
  if (!any(is_formula)) {
    abort_deepbmc(
      c(
        "Built-in model sets join formula models in {.fun model_set}, which
         give the design.",
        i = "Use the built-in set on its own, or add a {.fun hier_model}."
      ),
      "type",
      call = call
    )
  }
  is_grouped <- vapply(formula_models, function(model) {
    inherits(model, "deepbmc_hier_model") && !is.null(model$group)
  }, logical(1))
  if (!any(is_grouped)) {
    abort_no_grouping(call)
  }
  template <- formula_models[[which(is_grouped)[[1]]]]
  arg_names <- names(models) %||% rep("", length(models))
  expanded <- list()
  for (i in seq_along(models)) {
    if (!is_builtin[[i]]) {
      expanded <- c(expanded, stats::setNames(models[i], arg_names[[i]]))
      next
    }
    as_formula <- as_hier_models(models[[i]], template, call)
    prefix <- if (nzchar(arg_names[[i]])) paste0(arg_names[[i]], "_") else ""
    names(as_formula) <- paste0(prefix, names(as_formula))
    expanded <- c(expanded, as_formula)
  }
  expanded
}

# A built-in model set as formula models on the template's design.
as_hier_models <- function(models, template, call) {
  UseMethod("as_hier_models")
}

#' @export
as_hier_models.default <- function(models, template, call) {
  abort_deepbmc(
    "Model sets of class {.cls {class(models)[[1]]}} cannot join formula
     models.",
    "type",
    call = call
  )
}

#' @export
as_hier_models.deepbmc_normal_nested <- function(models, template, call) {
  if (!template$family$family %in% "gaussian") {
    abort_deepbmc(
      "The nested normal models describe a gaussian response; the formula
       models' family is {.val {template$family$family}}.",
      "mismatch",
      call = call
    )
  }
  response <- as.name(template$response)
  group <- as.name(template$group)
  variances <- c(
    hier_prior("half_normal_variance(1)", class = "sd"),
    hier_prior("half_normal_variance(1)", class = "sigma")
  )
  list(
    M0 = hier_model(
      eval(bquote(.(response) ~ 0 + (1 | .(group)))), template$data,
      prior = variances
    ),
    M1 = hier_model(
      eval(bquote(.(response) ~ 1 + (1 | .(group)))), template$data,
      prior = c(variances, hier_prior("normal(0, 1)", class = "Intercept"))
    )
  )
}

# Models without a group-level term take the grouping of the set's other
# models: the network reads data in groups, and their simulations keep the
# template's groups (with no group effects). A set without any grouping has
# nothing to read them by.
share_grouping <- function(models, call = rlang::caller_env()) {
  groups <- unlist(lapply(models, `[[`, "group"))
  if (length(groups) == 0) {
    abort_no_grouping(call)
  }
  for (k in seq_along(models)) {
    if (is.null(models[[k]]$group)) {
      model <- models[[k]]
      model$group <- groups[[1]]
      if (!groups[[1]] %in% names(model$data)) {
        abort_deepbmc(
          c(
            "Model {.val {names(models)[[k]]}} has no group-level term and
             its data lack the grouping column {.val {groups[[1]]}} of the
             other models.",
            i = "Build every model with the same {.arg data}."
          ),
          "mismatch",
          call = call
        )
      }
      if (anyNA(model$data[[groups[[1]]]])) {
        # The grouped models dropped these rows; this one kept them.
        abort_deepbmc(
          c(
            "Model {.val {names(models)[[k]]}} has no group-level term and
             its data have rows without a group {.val {groups[[1]]}}.",
            i = "Drop the rows with a missing group from {.arg data} before
                 building the models."
          ),
          "mismatch",
          call = call
        )
      }
      models[[k]] <- model
    }
  }
  models
}

abort_no_grouping <- function(call) {
  abort_deepbmc(
    c(
      "No model of the set has a group-level term such as {.code (1 | g)},
       so the set has no grouping.",
      i = "The network reads data group by group: give at least one model
           a group-level term; models without one take its grouping."
    ),
    "value",
    call = call
  )
}

check_same_design <- function(models, call = rlang::caller_env()) {
  first <- models[[1]]
  for (model in models[-1]) {
    same <- identical(model$data, first$data) &&
      identical(model$response, first$response) &&
      identical(model$trials, first$trials) &&
      identical(model$failures, first$failures) &&
      identical(model$trials_values, first$trials_values) &&
      identical(model$group, first$group)
    if (!same) {
      abort_deepbmc(
        c(
          "All models of a set must describe the same data: the same data
           frame, response, trials and grouping column.",
          i = "Build every model with the same {.arg data}."
        ),
        "mismatch",
        call = call
      )
    }
  }
  invisible(TRUE)
}

available_inputs <- function(models) {
  columns <- unique(unlist(lapply(models, function(model) {
    c(colnames(model$x), colnames(model$z), offset_input_name(model))
  })))
  setdiff(columns, "(Intercept)")
}

# The model term of each network input of a formula model set, such as
# "Diet" for the inputs Diet2, Diet3 and Diet4: the term label of the first
# model whose fixed effects have the column, and the input's own name for
# the rest (group-level and offset columns).
input_terms <- function(set) {
  labels <- stats::setNames(set$inputs, set$inputs)
  for (model in rev(set$models)) {
    columns <- fixed_column_terms(model)
    found <- intersect(set$inputs, names(columns))
    labels[found] <- columns[found]
  }
  unname(labels)
}

# The term label of each column of a model's fixed-effects matrix, from its
# stored terms ("assign" of stats::model.matrix(), which the model drops).
fixed_column_terms <- function(model) {
  stored <- model$fixed_terms
  frame <- stats::model.frame(stored$terms, model$data, na.action = stats::na.pass,
                              xlev = stored$xlevels)
  matrix <- stats::model.matrix(stored$terms, frame, contrasts.arg = stored$contrasts)
  labels <- c("(Intercept)", attr(stored$terms, "term.labels"))
  stats::setNames(labels[attr(matrix, "assign") + 1L], colnames(matrix))
}

# The name of a model's offset among the network inputs, such as
# `"offset(log(exposure))"`; NULL when its offset is the same for every row
# of the template, so that the network would learn nothing from it.
offset_input_name <- function(model) {
  offset <- model$offset
  if (is.null(offset) || length(unique(offset)) < 2) {
    return(NULL)
  }
  fixed <- model$fixed_terms$terms
  variables <- as.list(attr(fixed, "variables"))[-1]
  paste(vapply(variables[attr(fixed, "offset")], deparse1, character(1)),
        collapse = " + ")
}

check_inputs <- function(inputs, available, call = rlang::caller_env()) {
  if (is.null(inputs)) {
    return(available)
  }
  if (!is.character(inputs) || anyNA(inputs)) {
    abort_deepbmc(
      c(
        "{.arg inputs} must be model-matrix column names.",
        x = "You supplied {describe_value(inputs)}."
      ),
      "type",
      call = call
    )
  }
  unknown <- setdiff(inputs, available)
  if (length(unknown) > 0) {
    abort_deepbmc(
      c(
        "{.arg inputs} names column{?s} {.val {unknown}} that no model has.",
        i = "Available: {.val {available}}."
      ),
      "value",
      call = call
    )
  }
  unique(inputs)
}

# Covariate feature columns of a model set for the rows of `data`: the
# `inputs` columns of the models' matrices (recomputed for new data with the
# template's terms), before standardisation.
input_columns <- function(set, frames) {
  n_rows <- nrow(frames[[1]]$x)
  offsets <- lapply(seq_along(frames), function(k) {
    name <- offset_input_name(set$models[[k]])
    if (!is.null(name)) {
      matrix(frames[[k]]$offset, ncol = 1, dimnames = list(NULL, name))
    }
  })
  columns <- lapply(set$inputs, function(input) {
    for (k in seq_along(frames)) {
      frame <- frames[[k]]
      for (matrix in list(frame$x, frame$z, offsets[[k]])) {
        if (input %in% colnames(matrix)) {
          return(matrix[, input])
        }
      }
    }
  })
  matrix(as.double(unlist(columns, use.names = FALSE)), nrow = n_rows,
         ncol = length(set$inputs), dimnames = list(NULL, set$inputs))
}

# Everything the C++ simulator reads, from the template data.
compile_model_set <- function(set) {
  template <- set$models[[1]]
  data <- template$data
  group <- data[[template$group]]
  order_rows <- group_order(group)
  group_sizes <- as.vector(table(factor(group)[order_rows]))
  response <- response_numbers(template, data)[order_rows]
  trials <- template$trials_values[order_rows]
  observed <- !is.na(response)

  frames <- lapply(set$models, function(model) {
    list(x = model$x[order_rows, , drop = FALSE],
         z = model$z[order_rows, , drop = FALSE],
         offset = model$offset[order_rows])
  })
  covariates <- input_columns(set, frames)
  share <- response[observed] / trials[observed]
  scaling <- list(
    response_center = mean(share),
    response_scale = positive_sd(share),
    input_center = colMeans(covariates),
    input_scale = apply(covariates, 2, positive_sd)
  )
  standardized <- standardize_inputs(covariates, scaling)

  models <- lapply(seq_along(set$models), function(k) {
    model <- set$models[[k]]
    compile_model(model, frames[[k]])
  })
  observed_per_group <- tapply(observed, rep(seq_along(group_sizes),
                                             group_sizes), sum)
  list(
    spec = list(
      type = "formula",
      design = list(
        group_offsets = c(0L, cumsum(as.integer(group_sizes))),
        observed = observed,
        trials = as.integer(trials),
        covariate_features = unname(standardized),
        resample = set$design == "resample",
        groups = set$groups
      ),
      scaling = scaling[c("response_center", "response_scale")],
      models = unname(models)
    ),
    scaling = scaling,
    obs_range = as.integer(range(observed_per_group[observed_per_group > 0]))
  )
}

# Row order that makes each group's rows contiguous, groups in factor-level
# order and rows in their original order within a group: the layout of the
# template, of real data and of simulations alike.
group_order <- function(group) {
  order(as.integer(factor(group)), seq_along(group))
}

# Covariate columns standardised with the template's centres and scales.
standardize_inputs <- function(covariates, scaling) {
  centred <- sweep(covariates, 2, scaling$input_center, `-`)
  sweep(centred, 2, scaling$input_scale, `/`)
}

positive_sd <- function(x) {
  spread <- if (length(x) > 1) stats::sd(x) else 0
  if (is.finite(spread) && spread > 0) spread else 1
}

compile_model <- function(model, frame) {
  prior <- model$prior
  # Tables saved before priors had groups: every row is the grouping's.
  groups <- prior$group %||% rep("", nrow(prior))
  olre <- model$olre
  prior_of <- function(class, coef, olre_sd = FALSE) {
    # The OLRE's SD and the grouping's intercept SD share class and coef.
    own <- if (olre_sd) groups == olre else
      !(nzchar(groups) & groups %in% olre)
    row <- prior[prior$class == class & prior$coef == coef & own, ,
                 drop = FALSE]
    if (nrow(row) != 1) {
      abort_deepbmc("Internal error: no unique prior for {class} {coef}.",
                    "value")
    }
    row
  }
  stack <- function(rows) {
    rows <- do.call(rbind, c(list(prior[0, ]), rows))
    list(
      kind = unname(prior_codes[rows$distribution]),
      p1 = as.double(rows$p1), p2 = as.double(rows$p2),
      p3 = as.double(rows$p3)
    )
  }
  b_rows <- lapply(colnames(frame$x), function(column) {
    if (column == "(Intercept)") prior_of("Intercept", "") else
      prior_of("b", column)
  })
  sd_rows <- lapply(colnames(frame$z), function(column) {
    prior_of("sd", coef_name(column))
  })
  info <- family_info(model$family)
  # Families without sigma or a second parameter: a placeholder the
  # simulator ignores.
  no_prior <- list(kind = 0L, p1 = 0, p2 = NA_real_, p3 = NA_real_)
  sigma_prior <- if (info$sigma) {
    stack(list(prior_of("sigma", "")))
  } else {
    no_prior
  }
  aux_prior <- if (!is.null(info$aux)) {
    stack(list(prior_of(info$aux, "")))
  } else {
    no_prior
  }
  cor_row <- prior[prior$class == "cor", , drop = FALSE]
  list(
    family = info$code,
    link = unname(link_codes[[model$family$link]]),
    X = unname(frame$x),
    Z = unname(frame$z),
    offset = as.double(frame$offset),
    b_prior = stack(b_rows),
    sd_prior = stack(sd_rows),
    correlated = model$correlated && ncol(frame$z) >= 2,
    cor_eta = if (nrow(cor_row) == 1) cor_row$p1 else 1,
    sigma_prior = sigma_prior,
    aux_prior = aux_prior,
    # e_i ~ N(0, sd^2) per row: the observation-level effect, if any.
    olre = !is.null(olre),
    olre_prior = if (is.null(olre)) {
      no_prior
    } else {
      stack(list(prior_of("sd", "Intercept", olre_sd = TRUE)))
    }
  )
}

#' @export
models_spec.deepbmc_formula_models <- function(models, ...) {
  spec <- models$compiled
  spec$design$groups <- models$groups
  spec
}

#' @export
with_sizes.deepbmc_formula_models <- function(models, groups = NULL,
                                              obs = NULL, ...) {
  if (!is.null(obs) && !identical(as.integer(obs), models$obs)) {
    abort_deepbmc(
      c(
        "Formula models take their observations per group from the template
         data; {.arg obs} cannot change them.",
        i = "Build the models on data of the sizes you want."
      ),
      "mismatch"
    )
  }
  if (!is.null(groups) && !identical(as.integer(groups), models$groups)) {
    if (models$design != "resample") {
      abort_deepbmc(
        c(
          "With {.code design = \"fixed\"}, the number of groups is the
           template's ({models$groups[[1]]}).",
          i = "Use {.code model_set(..., design = \"resample\")} to vary it."
        ),
        "mismatch"
      )
    }
    models$groups <- as.integer(groups)
  }
  models
}

#' @export
print.deepbmc_formula_models <- function(x, ...) {
  template <- x$models[[1]]
  cat(
    "<deepbmc_models> ", x$n_models, " formula models of ",
    template$response, " in groups of ", template$group, "\n",
    "Design: ", x$design, "; ", format_sizes(x), "\n",
    "Network inputs: ", paste(c(template$response, x$inputs), collapse = ", "),
    " (standardised)\n",
    sep = ""
  )
  for (k in seq_len(x$n_models)) {
    model <- x$models[[k]]
    cat(
      "  ", x$model_names[[k]], ": ", deparse1(model$formula), "  [",
      model$family$family, "(", model$family$link, ")]\n",
      sep = ""
    )
    cat(strwrap(prior_summary_line(model$prior), indent = 4, exdent = 6,
                width = max(40, getOption("width") - 2)), sep = "\n")
  }
  if (!is.null(x$prior_prob)) {
    cat("Prior model probabilities: ",
        paste0(names(x$prior_prob), " ", format(x$prior_prob, digits = 3),
               collapse = ", "), "\n", sep = "")
  }
  defaults <- vapply(x$models, function(model) {
    any(model$prior$source == "default")
  }, logical(1))
  if (any(defaults)) {
    cat("* default prior\n")
  }
  invisible(x)
}
