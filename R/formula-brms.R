# A formula model as brms states it: the formula and the priors that make
# brms::brm() fit the model the network was trained on, so that a check
# against brms + bridgesampling compares the same models.

#' The brms formula and priors of a formula model
#'
#' `brms_formula()` and `brms_prior()` give what [brms::brm()] needs to fit
#' the same model as a [hier_model()]: the same formula, family and priors,
#' every prior stated (deepbmc's defaults included), so that marginal
#' likelihoods from brms and bridgesampling are those of the models the
#' network compares.
#'
#' deepbmc's `Intercept` prior is on the intercept of the model matrix as
#' written; brms's class `Intercept` is on the intercept of centred
#' covariates. So the formula is rewritten with `0 + Intercept`, where brms's
#' intercept is the ordinary one (a coefficient of class `b`), and its prior
#' becomes one of `b` with `coef = "Intercept"`. Half-normal and half
#' Student-t priors are written as brms writes them for parameters bounded at
#' zero (`normal(0, s)`, `student_t(nu, 0, s)`). Priors with no brms
#' equivalent are an error: `half_normal_variance()`, and `uniform()` and
#' `beta()`, whose support brms would need as bounds of the parameter (brms
#' 2.18 cannot bound a single coefficient, and bounds an SD only at 0). brms
#' bounds the Student-t's `nu` below at 1, as deepbmc does. A
#' `cbind(successes, failures)` response becomes `successes | trials(successes
#' + failures)`; offsets stay `offset()` terms; a model without a group-level
#' term has none in brms either; an observation-level effect stays
#' `(1 | obs)`, its SD's prior one of class `"sd"` with `group = "obs"`. A two-level factor response of a bernoulli
#' model is read by brms as deepbmc reads it (first level 0).
#'
#' The formula is built from the model's terms, with every column as one
#' symbol, never by pasting names into text. brms reads only syntactic
#' column names (such as `Days` or `log_rt`, not `my days`); a model with
#' others is an error of class `"deepbmc_error_value"` that names them.
#'
#' @param model A model from [hier_model()].
#'
#' @return `brms_formula()`: a formula for [brms::brm()]. `brms_prior()`: a
#'   `brmsprior` object from [brms::set_prior()]; `brms_family()`: the family
#'   from [brms::brmsfamily()] (both need brms installed).
#' @seealso [bridge_compare()], which runs deepbmc's own Stan programs.
#' @export
#' @examples
#' data(sleepstudy, package = "lme4")
#' model <- hier_model(Reaction ~ 1 + Days + (1 + Days | Subject), sleepstudy)
#' brms_formula(model)
#' if (requireNamespace("brms", quietly = TRUE)) {
#'   brms_prior(model)
#' }
#' \dontrun{
#' fit <- brms::brm(brms_formula(model), data = sleepstudy,
#'                  family = brms_family(model), prior = brms_prior(model),
#'                  save_pars = brms::save_pars(all = TRUE))
#' brms::bridge_sampler(fit)
#' }
brms_formula <- function(model) {
  check_hier_model(model)
  formula <- brms_formula_call(model)
  # brms reads only syntactic names (it pastes them into formula text of
  # its own): others are refused here, with what to do, rather than there.
  columns <- all.vars(formula)
  unreadable <- columns[columns != make.names(columns)]
  if (length(unreadable) > 0) {
    abort_deepbmc(
      c(
        "{cli::qty(unreadable)}{.arg model} uses column{?s}
         {.val {unreadable}}, whose name{?s} brms cannot read.",
        i = "{cli::qty(unreadable)}brms needs syntactic names (letters,
             digits, {.code .} and {.code _}, starting with a letter); rename
             the column{?s} in the data and the formula, and build the model
             again."
      ),
      "value"
    )
  }
  formula
}

# The formula of brms_formula() for any column names.
brms_formula_call <- function(model) {
  # Built as a call from symbols and the model's parsed terms, never by
  # pasting column names into text: a column name is one symbol however it
  # is spelt, and nothing in it is parsed or run.
  response <- model$formula[[2]]
  if (!is.null(model$failures)) {
    # glm's cbind(successes, failures) is brms's successes | trials(total).
    successes <- as.name(model$response)
    response <- call("|", successes,
                     call("trials", call("+", successes, model$failures)))
  }
  fixed <- stats::terms(model$fixed_terms$terms)
  intercept <- attr(fixed, "intercept") == 1
  variables <- as.list(attr(fixed, "variables"))[-1]
  offsets <- variables[attr(fixed, "offset")]
  group_term <- NULL
  if (!is.null(model$group) && ncol(model$z) > 0) {
    random <- stats::terms(model$random_terms$terms)
    random_rhs <- sum_of_terms(c(
      list(if (attr(random, "intercept") == 1) 1 else 0),
      term_calls(random)
    ))
    bar <- if (model$correlated) "|" else "||"
    group_term <- call("(", call(bar, random_rhs, as.name(model$group)))
  }
  olre_term <- if (!is.null(model$olre)) {
    call("(", call("|", 1, as.name(model$olre)))
  }
  rhs <- c(
    if (intercept) list(0, quote(Intercept)) else list(0),
    term_calls(fixed), offsets, list(group_term, olre_term)
  )
  stats::as.formula(call("~", response, sum_of_terms(rhs)),
                    env = globalenv())
}

# The terms of a terms object as calls: each term its variables joined by
# `:`, in the order of the term labels (which R derives from the same
# `factors` matrix).
term_calls <- function(terms) {
  factors <- attr(terms, "factors")
  if (length(factors) == 0) {
    return(list())
  }
  variables <- as.list(attr(terms, "variables"))[-1]
  lapply(seq_len(ncol(factors)), function(j) {
    Reduce(function(a, b) call(":", a, b), variables[factors[, j] > 0])
  })
}

# `a + b + c` from a list of expressions (NULLs dropped), as the parser
# groups a sum: from the left.
sum_of_terms <- function(terms) {
  terms <- Filter(Negate(is.null), terms)
  Reduce(function(a, b) call("+", a, b), terms)
}

#' @rdname brms_formula
#' @export
brms_prior <- function(model) {
  check_hier_model(model)
  check_installed_package("brms", "to state priors for brms")
  table <- model$prior
  rows <- lapply(seq_len(nrow(table)), function(i) {
    row <- table[i, ]
    class <- row$class
    coef <- row$coef
    group <- ""
    if (class == "Intercept") {
      class <- "b"
      coef <- "Intercept"
    }
    if (class %in% c("sd", "cor")) {
      # The OLRE's SD is brms's sd of group `obs`, its column.
      group <- if (nzchar(row$group %||% "")) row$group else model$group
    }
    brms::set_prior(brms_distribution(row), class = class, coef = coef,
                    group = group)
  })
  do.call(c, rows)
}

#' @rdname brms_formula
#' @export
brms_family <- function(model) {
  check_hier_model(model)
  check_installed_package("brms", "to state the family for brms")
  brms::brmsfamily(family_info(model$family)$brms, link = model$family$link)
}

# A prior row's distribution in brms's notation, with its parameters in full
# precision (the `prior` column rounds them for printing).
brms_distribution <- function(row, call = rlang::caller_env()) {
  p <- c(row$p1, row$p2, row$p3)
  # Each number on its own: format() of a vector pads 3 to "3.0" beside 0.2.
  p <- vapply(p[!is.na(p)], format, character(1), digits = 15, trim = TRUE)
  name <- row$distribution
  no_equivalent <- function(why) {
    abort_deepbmc(
      c(
        "{.fun {name}} priors have no brms equivalent: {why}.",
        i = "State the prior of class {.val {row$class}} with another
             distribution (e.g. {.fun normal}, {.fun exponential},
             {.fun gamma}) to compare with brms."
      ),
      "value",
      call = call
    )
  }
  args <- switch(
    name,
    half_normal = c("0", p),
    half_student_t = c(p[[1]], "0", p[[2]]),
    half_normal_variance = no_equivalent(
      "brms puts priors on SDs, not variances"
    ),
    uniform = ,
    beta = no_equivalent(
      "brms would need their support as bounds of the parameter"
    ),
    p
  )
  name <- switch(name, half_normal = "normal", half_student_t = "student_t",
                 name)
  paste0(name, "(", paste(args, collapse = ", "), ")")
}

check_hier_model <- function(model, arg = rlang::caller_arg(model),
                             call = rlang::caller_env()) {
  if (!inherits(model, "deepbmc_hier_model")) {
    abort_deepbmc(
      c(
        "{.arg {arg}} must be a model from {.fun hier_model}.",
        x = "You supplied {describe_value(model)}."
      ),
      "type",
      call = call
    )
  }
  invisible(model)
}
