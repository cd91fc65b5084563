#' A hierarchical model stated as a formula
#'
#' Describes one candidate model with lme4/brms syntax, its family and its
#' priors, on the design of your data set: its covariates, grouping, group
#' sizes and missing responses are taken as they are. Combine several models
#' with [model_set()] and train a network with [train_comparison()]; deepbmc
#' compiles them into a fast C++ simulator, so no simulation code is needed.
#'
#' Formulas: fixed effects with numeric and factor covariates and
#' interactions, intercept on (`1 +`, the default) or off (`0 +`); one
#' group-level term `(1 | g)`, `(1 + x | g)` (correlated effects) or
#' `(1 + x || g)` (uncorrelated), or none (`y ~ 1 + x`: a model without group
#' effects, which takes its grouping from the other models of its
#' [model_set()]). An observation-level effect for overdispersion, as lme4
#' and brms users write it, may join them: a term `(1 | obs)` whose column
#' `obs` has a distinct value in every row (such as `cbpp$obs <-
#' 1:nrow(cbpp)`, after rows with missing covariates are dropped) adds
#' \eqn{e_i \sim N(0, sd_{obs}^2)} to the linear predictor of each row,
#' `count ~ 1 + x + (1 | g) + (1 | obs)`; it takes an intercept only, there
#' is at most one, and it is not the grouping: a model with no other
#' group-level term (`count ~ 1 + x + (1 | obs)`) takes its grouping from
#' the other models of its set. Its SD's prior is class `"sd"` with
#' `group = "obs"` ([hier_prior()]), by default that of a group-level
#' intercept. Offsets, known parts of the linear predictor such as
#' `offset(log(exposure))` of a Poisson rate, are added to it as in lme4 and
#' brms (several are summed). Binomial responses give their trials as
#' `y | trials(n)` (brms) or their successes and failures as
#' `cbind(y, failures)` (glm and lme4; the failures a column or columns and
#' numbers joined by `+` and `-`, such as `cbind(incidence, size -
#' incidence)`), the same model. Bernoulli responses are 0 and 1, logical,
#' or a factor (or strings) with two levels, of which the first is failure
#' (0) and the second success (1), as in [stats::glm()]. Nested or crossed
#' grouping factors and smooths are not supported yet.
#'
#' Families and links, with brms's parameterisations: `gaussian` and
#' `student` (identity; the Student-t has degrees of freedom `nu`),
#' `bernoulli` and `binomial` (logit or probit), `poisson` (log or sqrt),
#' `negbinomial` (log; variance \eqn{\mu + \mu^2 / shape}), `lognormal`
#' (for response times; the linear predictor is the mean of the log
#' response), `Gamma` (log; shape `shape`, mean \eqn{\mu}) and `beta`
#' (logit or probit; precision `phi`, responses strictly between 0 and 1).
#' Use `family = "bernoulli"`, `binomial(link = "probit")`, `poisson()`,
#' `Gamma(link = "log")`, `"negbinomial"` and so on (brms's family objects
#' work too); `binomial()` without `trials()` is Bernoulli. Links whose mean
#' can leave the family's range (`poisson(link = "identity")`, Gamma's
#' inverse link) are not offered: a prior draw would give a negative rate.
#'
#' Default priors are weakly informative on the scale of the data, after
#' rstanarm: intercept \eqn{N(m, (2.5 s)^2)}, coefficient \eqn{j}
#' \eqn{N(0, (2.5 s / sd(x_j))^2)}, group-level SDs Half-Normal(0,
#' \eqn{s}) for intercepts and Half-Normal(0, \eqn{s / sd(z_j)}) for the
#' slope of covariate \eqn{z_j} (both on the response's scale per unit of
#' the covariate, as rstanarm's autoscale),
#' correlations LKJ(1) and `sigma` Exponential(\eqn{1 / s}), where \eqn{m}
#' and \eqn{s} are the mean and SD of the response (of its logarithm for
#' lognormal) for gaussian and lognormal models, and \eqn{m = 0},
#' \eqn{s = 1} on the logit, probit or log scale otherwise (for `Gamma`, of
#' the log response); `nu`, `shape` and `phi` get Gamma(2, 0.1), brms's
#' default for `nu`. For model comparison priors matter: Bayes factors depend
#' on them, so state the ones you mean with [hier_prior()]. A message says
#' which classes kept their defaults (once per session; print the model to
#' see them all).
#'
#' @param formula A two-sided formula with at most one group-level term
#'   (besides one observation-level term `(1 | obs)`).
#' @param data A data frame with the response, covariates, offsets and
#'   grouping column: the design simulations follow. Responses may be `NA`
#'   (missing);
#'   rows with `NA` in a covariate, the grouping column or the trials are
#'   dropped with a message, as lme4 and brms do; covariates must be finite.
#' @param family A family: a string (`"gaussian"`, `"student"`,
#'   `"bernoulli"`, `"binomial"`, `"poisson"`, `"negbinomial"`,
#'   `"lognormal"`, `"Gamma"`, `"beta"`) or a family object such as
#'   `gaussian()` or `binomial(link = "probit")`.
#' @param prior Priors from [hier_prior()], or brms priors from
#'   `brms::prior()` or `brms::set_prior()` (their `group` names the
#'   grouping column or the column of an observation-level effect, as
#'   [hier_prior()]'s; rows without a prior keep the defaults); `NULL` uses
#'   the defaults.
#'
#' @return A model, a list of class `"deepbmc_hier_model"` holding the parsed
#'   formula (`response`, `trials`, `failures`, `group` (`NULL` without a
#'   group-level term), `fixed`, `random`, `correlated`, `olre` (the column
#'   of the observation-level effect, or `NULL`)), the
#'   `response_levels` of a factor response, the `family` (`family`,
#'   `link`), the model matrices `x` (fixed effects) and `z` (group-level
#'   effects; no columns without a group-level term) and the `offset` of the
#'   rows of `data`, the
#'   resolved `prior` table and `data`. Print it to see the model with all its
#'   priors.
#' @seealso [model_set()], [hier_prior()]
#' @export
#' @examples
#' # Chick weights over time, 50 chicks (datasets::ChickWeight)
#' m0 <- hier_model(weight ~ 1 + (1 + Time | Chick), ChickWeight)
#' m1 <- hier_model(
#'   weight ~ 1 + Time + (1 + Time | Chick), ChickWeight,
#'   prior = hier_prior("normal(0, 10)", class = "b")
#' )
#' m1
hier_model <- function(formula, data, family = gaussian(), prior = NULL) {
  parsed <- parse_hier_formula(formula)
  family <- check_family(family, has_trials = has_trials(parsed))
  checked <- check_model_data(data, parsed)
  data <- checked$data
  parsed <- checked$parsed
  parsed$response_levels <- response_levels(data[[parsed$response]], family,
                                            parsed$response)
  frame <- model_frames(parsed, data)
  response <- response_numbers(parsed, data)
  check_response_values(response, frame$trials, family)
  defaults <- default_priors(family, response, frame$x, frame$z,
                             parsed$correlated, group = parsed$group,
                             olre = parsed$olre)
  prior_table <- resolve_priors(defaults, prior)
  check_aux_prior(prior_table, family)
  inform_default_priors(prior_table)
  structure(
    c(
      parsed,
      list(
        formula = formula,
        family = family,
        x = frame$x,
        z = frame$z,
        fixed_terms = frame$fixed_terms,
        random_terms = frame$random_terms,
        trials_values = frame$trials,
        offset = frame$offset,
        prior = prior_table,
        data = data
      )
    ),
    class = "deepbmc_hier_model"
  )
}

# Bayes factors depend on the priors, so the classes left at their defaults
# are named (once per session, as rlang's "regularly" messages are: a set of
# models built in a loop would repeat it).
inform_default_priors <- function(prior_table) {
  defaults <- unique(prior_table$class[prior_table$source == "default"])
  if (length(defaults) == 0) {
    return(invisible(NULL))
  }
  cli::cli_inform(
    c(
      "i" = "Default priors for class{?es} {.val {defaults}}: weakly
             informative on the scale of the data (see {.fun hier_model}).",
      " " = "Bayes factors depend on priors: print the model to see them,
             and state the ones you mean with {.fun hier_prior}."
    ),
    class = "deepbmc_default_prior_message",
    .frequency = "regularly",
    .frequency_id = "deepbmc_default_priors"
  )
}

check_model_data <- function(data, parsed, call = rlang::caller_env()) {
  if (!is.data.frame(data)) {
    abort_deepbmc(
      c(
        "{.arg data} must be a data frame.",
        x = "You supplied {describe_value(data)}."
      ),
      "type",
      call = call
    )
  }
  data <- as.data.frame(data)
  # Before the column checks, which refuse a grouping column with NA.
  data <- drop_rows_missing_covariates(data, parsed, call)
  bar_columns <- vapply(parsed$bar_terms, `[[`, character(1), "group")
  missing_columns <- setdiff(bar_columns, names(data))
  if (length(missing_columns) > 0) {
    abort_deepbmc(
      c(
        "{.arg data} lacks column{?s} {.val {missing_columns}} that the
         model formulas use.",
        i = "Columns of {.arg data}: {.val {names(data)}}."
      ),
      "data",
      call = call
    )
  }
  # Whether a term is an observation-level effect depends on the rows kept.
  parsed <- resolve_group_terms(parsed, data, call)
  check_formula_columns(list(parsed), data, "data", call)
  if (is.null(parsed$group)) {
    return(list(data = data, parsed = parsed))
  }
  group <- data[[parsed$group]]
  if (length(unique(group)) < 2) {
    abort_deepbmc(
      c(
        "The grouping column {.val {parsed$group}} must have at least two
         groups.",
        x = "It has {length(unique(group))}."
      ),
      "data",
      call = call
    )
  }
  list(data = data, parsed = parsed)
}

# Whether the response has trials: `y | trials(n)` or `cbind(y, failures)`.
has_trials <- function(parsed) {
  !is.null(parsed$trials) || !is.null(parsed$failures)
}

# The columns that give the trials: the trials column, or the columns of the
# failures of `cbind(successes, failures)`.
trials_columns <- function(parsed) {
  c(parsed$trials, all.vars(parsed$failures))
}

# Rows with NA in a covariate, the grouping column or the trials are left
# out with a message, as lme4 and brms do (na.omit); NA responses stay, as
# missing responses of the design. Inf remains an error (design_matrix()).
# With `cbind(successes, failures)`, failures missing beside a missing
# response are part of that missing response (`size - successes`); beside
# an observed one they are missing trials.
drop_rows_missing_covariates <- function(data, parsed, call) {
  bar_columns <- unlist(lapply(parsed$bar_terms, function(term) {
    c(all.vars(term$terms), term$group)
  }))
  columns <- unique(c(all.vars(parsed$fixed), all.vars(parsed$random),
                      parsed$group, bar_columns, parsed$trials))
  incomplete <- Reduce(`|`, lapply(columns, function(column) {
    is.na(data[[column]])
  }), rep(FALSE, nrow(data)))
  failure_columns <- setdiff(all.vars(parsed$failures), columns)
  if (length(failure_columns) > 0 && all(failure_columns %in% names(data))) {
    observed <- !is.na(data[[parsed$response]])
    missing_failures <- is.na(count_expression_values(parsed$failures, data))
    incomplete <- incomplete | (observed & missing_failures)
    columns <- c(columns, failure_columns)
  }
  if (!any(incomplete)) {
    return(data)
  }
  if (all(incomplete)) {
    abort_deepbmc(
      "Every row of {.arg data} has a missing covariate, group or trials
       value.",
      "data",
      call = call
    )
  }
  affected <- columns[vapply(columns, function(column) {
    anyNA(data[[column]])
  }, logical(1))]
  cli::cli_inform(
    c(
      "i" = "Dropped {sum(incomplete)} row{?s} of {.arg data} with missing
             values in {.val {affected}}; {sum(!incomplete)} remain{?s/}.",
      " " = "Missing responses are kept as missing observations."
    ),
    class = "deepbmc_dropped_rows_message"
  )
  data <- data[!incomplete, , drop = FALSE]
  rownames(data) <- NULL
  data
}

# Model matrices of the fixed and group-level effects, and the trials, for
# the rows of `data` (in their order). Covariates must be finite.
model_frames <- function(parsed, data, fixed_terms = NULL, random_terms = NULL,
                         arg = "data", call = rlang::caller_env()) {
  fixed <- design_matrix(parsed$fixed, data, fixed_terms, arg, call)
  random <- design_matrix(parsed$random, data, random_terms, arg, call)
  trials <- rep(1L, nrow(data))
  if (!is.null(parsed$failures)) {
    trials <- cbind_trials(parsed, data, arg, call)
  } else if (!is.null(parsed$trials)) {
    trials <- data[[parsed$trials]]
    if (!is.numeric(trials) || anyNA(trials) || any(trials < 1) ||
          any(trials != round(trials)) || any(trials > max_trials)) {
      abort_deepbmc(
        "The trials column {.val {parsed$trials}} of {.arg {arg}} must hold
         whole numbers from 1 to {format_count(max_trials)}.",
        "data",
        call = call
      )
    }
    trials <- as.integer(trials)
  }
  list(x = fixed$matrix, z = random$matrix, fixed_terms = fixed$terms,
       random_terms = random$terms, trials = trials, offset = fixed$offset)
}

# The trials of `cbind(successes, failures)`: successes + failures where the
# response is observed, and 1 where it is missing (a masked row, whose trials
# nothing reads).
cbind_trials <- function(parsed, data, arg, call) {
  for (column in all.vars(parsed$failures)) {
    if (!is.numeric(data[[column]])) {
      abort_deepbmc(
        c(
          "The failures of {.code cbind()} must be numbers: column
           {.val {column}} of {.arg {arg}} is not.",
          x = "It is {describe_value(data[[column]])}."
        ),
        "data",
        call = call
      )
    }
  }
  successes <- data[[parsed$response]]
  if (!is.numeric(successes) && !is.logical(successes)) {
    abort_supplied(
      "The successes {.val {parsed$response}} of {.arg {arg}} must be
       counts.",
      successes, "data", call = call
    )
  }
  successes <- as.double(successes)
  failures <- count_expression_values(parsed$failures, data)
  observed <- !is.na(successes)
  bad <- observed & (is.na(failures) | !is.finite(failures) | failures < 0 |
                       failures != round(failures))
  if (any(bad)) {
    abort_deepbmc(
      c(
        "The failures {.code {deparse1(parsed$failures)}} of {.arg {arg}}
         must be whole numbers of at least 0 where the successes are
         observed.",
        x = "{cli::qty(sum(bad))}Row{?s} {utils::head(which(bad), 5)}
             {cli::qty(sum(bad))}{?is/are} not."
      ),
      "data",
      call = call
    )
  }
  trials <- rep(1, length(successes))
  trials[observed] <- successes[observed] + failures[observed]
  if (any(trials < 1 | trials > max_trials)) {
    abort_deepbmc(
      "Successes plus failures of {.arg {arg}} must be whole numbers from 1
       to {format_count(max_trials)}.",
      "data",
      call = call
    )
  }
  as.integer(trials)
}

# The levels of a categorical response of a bernoulli model: the first is
# failure (0), the second success (1), as glm() reads factors. NULL for
# numeric and logical responses, which are used as they are.
response_levels <- function(response, family, name,
                            call = rlang::caller_env()) {
  if (!is.factor(response) && !is.character(response)) {
    return(NULL)
  }
  if (family$family != "bernoulli") {
    abort_deepbmc(
      c(
        "The response {.val {name}} is categorical; only bernoulli models
         take a two-level factor response.",
        i = "A {.val {family$family}} model needs a numeric response;
             binomial counts are written {.code cbind(successes, failures)}
             or {.code successes | trials(n)}."
      ),
      "data",
      call = call
    )
  }
  levels <- if (is.factor(response)) {
    levels(response)
  } else {
    sort(unique(response[!is.na(response)]))
  }
  if (length(levels) != 2) {
    abort_deepbmc(
      c(
        "A categorical response of a bernoulli model must have two levels:
         failure, then success.",
        x = "{.val {name}} has {length(levels)} level{?s}.",
        i = if (length(levels) > 2) {
          "Drop unused levels with {.fn droplevels}, or recode the response
           as 0 and 1."
        }
      ),
      "data",
      call = call
    )
  }
  levels
}

# The response of `data` as numbers. A categorical response (of a model with
# `response_levels`) codes the template's first level as 0 and its second as
# 1, by label, so new data may have their levels in another order; numbers
# and logicals are taken as they are.
response_numbers <- function(model, data, arg = "data",
                             call = rlang::caller_env()) {
  values <- data[[model$response]]
  levels <- model$response_levels
  if (!is.factor(values) && !is.character(values)) {
    return(as.double(values))
  }
  if (is.null(levels)) {
    abort_supplied(
      "The response {.val {model$response}} of {.arg {arg}} must be numeric,
       as in the models' data.",
      values, "data", call = call
    )
  }
  text <- as.character(values)
  unknown <- setdiff(unique(text[!is.na(text)]), levels)
  if (length(unknown) > 0) {
    abort_deepbmc(
      c(
        "The response {.val {model$response}} of {.arg {arg}} has
         level{?s} {.val {unknown}} that the models' data do not have.",
        i = "Its levels are {.val {levels}} (failure, success)."
      ),
      "data",
      call = call
    )
  }
  as.double(match(text, levels) - 1L)
}

# The model matrix of a one-sided formula for `data`. Given the stored terms
# of the template (with factor levels and contrasts), new data get the same
# columns.
design_matrix <- function(formula, data, stored = NULL, arg, call) {
  if (is.null(stored)) {
    frame <- stats::model.frame(formula, data, na.action = stats::na.pass,
                                drop.unused.levels = TRUE)
    terms <- stats::terms(frame)
    xlevels <- stats::.getXlevels(terms, frame)
  } else {
    terms <- stored$terms
    xlevels <- stored$xlevels
    frame <- tryCatch(
      stats::model.frame(terms, data, na.action = stats::na.pass,
                         xlev = xlevels),
      error = function(e) {
        abort_deepbmc(
          c(
            "{.arg {arg}} does not fit the model's design.",
            x = cli_escape(conditionMessage(e))
          ),
          "data",
          call = call
        )
      }
    )
  }
  variables <- all.vars(formula)
  for (column in variables) {
    values <- data[[column]]
    if (is.numeric(values) && any(!is.finite(values))) {
      abort_deepbmc(
        "The covariate {.val {column}} of {.arg {arg}} must be finite (no
         NA, NaN or Inf).",
        "data",
        call = call
      )
    }
    if (!is.numeric(values) && anyNA(values)) {
      abort_deepbmc(
        "The covariate {.val {column}} of {.arg {arg}} has missing values.",
        "data",
        call = call
      )
    }
  }
  offset <- stats::model.offset(frame)
  if (is.null(offset)) {
    offset <- rep(0, nrow(frame))
  } else if (any(!is.finite(offset))) {
    abort_deepbmc(
      c(
        "The offset of {.arg {arg}} must be finite.",
        x = "{cli::qty(sum(!is.finite(offset)))}It is not in row{?s}
             {utils::head(which(!is.finite(offset)), 5)}; {.code log()} of a
             zero exposure is {.code -Inf}."
      ),
      "data",
      call = call
    )
  }
  contrasts <- stored$contrasts
  matrix <- stats::model.matrix(terms, frame, contrasts.arg = contrasts)
  contrasts <- attr(matrix, "contrasts")
  attr(matrix, "assign") <- NULL
  attr(matrix, "contrasts") <- NULL
  storage.mode(matrix) <- "double"
  list(matrix = matrix, offset = as.double(offset),
       terms = list(terms = terms, xlevels = xlevels, contrasts = contrasts))
}

check_response_values <- function(response, trials, family,
                                  call = rlang::caller_env()) {
  observed <- !is.na(response)
  y <- as.double(response[observed])
  problem <- family_info(family)$check_response(y, trials[observed])
  if (!is.null(problem)) {
    abort_deepbmc(
      "Observed responses of a {.val {family$family}} model {problem}.",
      "data",
      call = call
    )
  }
  invisible(TRUE)
}

#' @export
print.deepbmc_hier_model <- function(x, ...) {
  # A model without a group-level term knows its groups only in a set.
  groups <- if (!is.null(x$group)) {
    paste0(" in ", length(unique(x$data[[x$group]])), " groups (", x$group,
           ")")
  }
  n_missing <- sum(is.na(x$data[[x$response]]))
  effects <- if (ncol(x$z) == 0) {
    "none"
  } else {
    paste(coef_name(colnames(x$z)), collapse = ", ")
  }
  cat(
    "<deepbmc_hier_model> ", x$family$family, "(", x$family$link, ")\n",
    "Formula: ", deparse1(x$formula), "\n",
    if (!is.null(x$response_levels)) {
      paste0("Response: ", x$response, " = ", x$response_levels[[2]],
             " (1) vs ", x$response_levels[[1]], " (0)\n")
    },
    "Data: ", format_count(nrow(x$data)), " observations", groups,
    if (n_missing > 0) paste0(", ", n_missing, " missing responses"), "\n",
    "Group-level effects: ", effects,
    if (ncol(x$z) > 1) {
      if (x$correlated) " (correlated)" else " (uncorrelated)"
    },
    if (!is.null(x$olre)) {
      paste0("\nObservation-level effect: (1 | ", x$olre, ")")
    },
    if (any(x$offset != 0)) "\nOffset: known per observation",
    "\nPriors:\n",
    sep = ""
  )
  # The group tells the OLRE's SD from the grouping's.
  columns <- c("prior", "class", "coef", if (!is.null(x$olre)) "group",
               "source")
  shown <- x$prior[columns]
  print(shown, row.names = FALSE, right = FALSE)
  invisible(x)
}
