# Parsing lme4/brms-style formulas of two-level models:
#   response ~ fixed terms + (random terms | group)   correlated group effects
#   response ~ fixed terms + (random terms || group)  uncorrelated
#   successes | trials(n) ~ ...                       binomial trial counts
#   cbind(successes, failures) ~ ...                  the same, as in glm
#   response ~ fixed terms                            no group-level effects
#   ... + offset(log(exposure)) + ...                 a known part of eta
# into a response, an optional trials column or failures expression, the
# fixed-effect formula (with its offsets), the group-level formula and the
# grouping factor. Only one grouping factor (two levels) is supported for
# now, besides one observation-level term `(1 | obs)` (resolve_group_terms());
# everything else gets an error that says so.

parse_hier_formula <- function(formula, call = rlang::caller_env()) {
  if (!inherits(formula, "formula") || length(formula) != 3) {
    abort_deepbmc(
      c(
        "{.arg formula} must be a two-sided formula such as
         {.code y ~ x + (1 | g)}.",
        x = "You supplied {describe_value(formula)}."
      ),
      "type",
      call = call
    )
  }
  lhs <- parse_response(formula[[2]], call)
  terms <- split_sum(formula[[3]])
  is_group_term <- vapply(terms, is_bar_term, logical(1))
  group_terms <- terms[is_group_term]
  fixed_terms <- terms[!is_group_term]
  check_supported_terms(c(fixed_terms, group_terms), call)

  bar_terms <- lapply(group_terms, function(term) {
    parsed <- parse_group_term(term, call)
    if ("offset" %in% called_functions(parsed$terms)) {
      abort_deepbmc(
        c(
          "{.fn offset} belongs to the fixed part of {.arg formula}.",
          x = "You wrote it inside {.code {deparse1(term)}}."
        ),
        "value",
        call = call
      )
    }
    parsed
  })
  # Without a group-level term the model has no group effects (Z has no
  # columns); model_set() takes the grouping from the set's other models.
  # With more, one must be an observation-level effect, which only the data
  # can tell (resolve_group_terms()).
  random <- list(terms = quote(0), group = NULL, correlated = FALSE)
  if (length(group_terms) == 1) {
    random <- bar_terms[[1]]
  }
  fixed_rhs <- if (length(fixed_terms) == 0) {
    # Only group-level terms: lme4 still adds an intercept unless told not to.
    quote(1)
  } else {
    Reduce(function(a, b) call("+", a, b), fixed_terms)
  }
  list(
    response = lhs$response,
    trials = lhs$trials,
    failures = lhs$failures,
    fixed = stats::as.formula(call("~", fixed_rhs), env = formula_env()),
    random = stats::as.formula(call("~", random$terms), env = formula_env()),
    group = random$group,
    correlated = random$correlated,
    olre = NULL,
    bar_terms = bar_terms,
    bar_exprs = group_terms
  )
}

# Which group-level term is which, now that the data are known: a term
# `(1 | obs)` whose column has a distinct value in every row is an
# observation-level effect (OLRE: e_i ~ N(0, sd^2) added to eta_i, for
# overdispersion), as lme4 and brms users write one; the other term, if any,
# is the grouping. Anything else is the one-grouping-factor error.
resolve_group_terms <- function(parsed, data, call = rlang::caller_env()) {
  terms <- parsed$bar_terms
  if (length(terms) == 0) {
    return(parsed)
  }
  columns <- vapply(terms, `[[`, character(1), "group")
  per_row <- vapply(columns, function(column) {
    column %in% names(data) && nrow(data) >= 2 &&
      !anyDuplicated(data[[column]])
  }, logical(1))
  intercept_only <- vapply(terms, function(term) {
    identical(term$terms, 1) || identical(term$terms, 1L)
  }, logical(1))
  is_olre <- per_row & intercept_only
  if (length(terms) == 1) {
    if (is_olre) {
      parsed$random <- stats::as.formula(~0, env = formula_env())
      parsed["group"] <- list(NULL)
      parsed$correlated <- FALSE
      parsed$olre <- columns[[1]]
    }
    return(parsed)
  }
  if (sum(is_olre) == 1 && !anyDuplicated(columns)) {
    main <- terms[[which(!is_olre)]]
    parsed$random <- stats::as.formula(call("~", main$terms),
                                       env = formula_env())
    parsed$group <- main$group
    parsed$correlated <- main$correlated
    parsed$olre <- columns[is_olre]
    return(parsed)
  }
  abort_group_terms(parsed$bar_exprs, per_row, intercept_only, call)
}

# The error for group-level terms beyond one grouping factor (and one
# observation-level effect), with what would make them work.
abort_group_terms <- function(group_terms, per_row = NULL,
                              intercept_only = NULL, call) {
  columns <- vapply(group_terms, function(term) {
    deparse1(strip_parens(term)[[3]])
  }, character(1))
  groups <- unique(columns)
  hint <- NULL
  with_slopes <- columns[per_row & !intercept_only]
  if (sum(per_row & intercept_only) > 1) {
    hint <- "Only one observation-level term {.code (1 | obs)} (a column
             with a distinct value per row) is supported."
  } else if (length(with_slopes) > 0) {
    hint <- "An observation-level term (column
             {.val {with_slopes[[1]]}} has a distinct
             value per row) takes an intercept only: {.code (1 | obs)}."
  }
  abort_deepbmc(
    c(
      "Only one group-level term {.code (... | group)} is supported for
       now, besides one observation-level term {.code (1 | obs)}.",
      x = if (length(groups) > 1) {
        "{.arg formula} has terms for {.val {groups}}: nested or crossed
         grouping factors are not supported yet."
      } else {
        "{.arg formula} has {length(group_terms)} terms for
         {.val {groups}}; write them as one, e.g.
         {.code (1 + x | g)}."
      },
      i = hint
    ),
    "value",
    call = call
  )
}

parse_response <- function(lhs, call) {
  if (is.call(lhs) && identical(lhs[[1]], as.name("cbind"))) {
    return(parse_cbind_response(lhs, call))
  }
  if (is.call(lhs) && identical(lhs[[1]], as.name("|"))) {
    addition <- lhs[[3]]
    if (!is.call(addition) || !identical(addition[[1]], as.name("trials")) ||
          length(addition) != 2 || !is.name(addition[[2]])) {
      abort_deepbmc(
        c(
          "The response of {.arg formula} may only carry
           {.code | trials(n)}, with {.code n} a column of {.arg data}.",
          x = "You wrote {.code {deparse1(lhs)}}."
        ),
        "value",
        call = call
      )
    }
    return(list(response = check_response_name(lhs[[2]], call),
                trials = as.character(addition[[2]])))
  }
  list(response = check_response_name(lhs, call), trials = NULL)
}

# glm's `cbind(successes, failures)`: successes a column, failures a column
# or a sum or difference of columns and numbers (`size - successes`); the
# trials are successes + failures. Failures are read as data by
# count_expression_values(), never evaluated.
parse_cbind_response <- function(lhs, call) {
  if (length(lhs) != 3 || any(nzchar(names(lhs) %||% ""))) {
    abort_deepbmc(
      c(
        "A {.code cbind()} response takes two unnamed arguments:
         {.code cbind(successes, failures)}.",
        x = "You wrote {.code {deparse1(lhs)}}."
      ),
      "value",
      call = call
    )
  }
  failures <- strip_parens(lhs[[3]])
  if (!is_count_expression(failures)) {
    abort_deepbmc(
      c(
        "The failures of {.code cbind(successes, failures)} must be a column
         of {.arg data}, or columns and numbers joined by {.code +} and
         {.code -} such as {.code size - successes}.",
        x = "You wrote {.code {deparse1(lhs[[3]])}}."
      ),
      "value",
      call = call
    )
  }
  list(response = check_response_name(lhs[[2]], call), trials = NULL,
       failures = failures)
}

# Whether `expr` is made only of names, finite numbers, parentheses and
# unary or binary + and -.
is_count_expression <- function(expr) {
  if (is.name(expr)) {
    return(nzchar(as.character(expr)))
  }
  if (is.numeric(expr) && length(expr) == 1) {
    return(is.finite(expr))
  }
  if (!is.call(expr)) {
    return(FALSE)
  }
  head <- expr[[1]]
  if (identical(head, as.name("("))) {
    return(length(expr) == 2 && is_count_expression(expr[[2]]))
  }
  if (!(identical(head, as.name("+")) || identical(head, as.name("-"))) ||
        !length(expr) %in% 2:3) {
    return(FALSE)
  }
  all(vapply(as.list(expr)[-1], is_count_expression, logical(1)))
}

# The value of a count expression for the rows of `data`, computed from its
# columns without evaluating code (non-numeric columns give NA).
count_expression_values <- function(expr, data) {
  if (is.name(expr)) {
    values <- data[[as.character(expr)]]
    if (!is.numeric(values) && !is.logical(values)) {
      return(rep(NA_real_, nrow(data)))
    }
    return(as.double(values))
  }
  if (is.numeric(expr)) {
    return(rep(as.double(expr), nrow(data)))
  }
  args <- lapply(as.list(expr)[-1], count_expression_values, data = data)
  op <- as.character(expr[[1]])
  if (op == "(") {
    return(args[[1]])
  }
  if (length(args) == 1) {
    return(if (op == "-") -args[[1]] else args[[1]])
  }
  if (op == "+") args[[1]] + args[[2]] else args[[1]] - args[[2]]
}

check_response_name <- function(lhs, call) {
  if (!is.name(lhs)) {
    abort_deepbmc(
      c(
        "The response of {.arg formula} must be a column name.",
        x = "You wrote {.code {deparse1(lhs)}}; transform the column in
             {.arg data} first."
      ),
      "value",
      call = call
    )
  }
  as.character(lhs)
}

# The terms of a sum `a + b + (c | g)`, keeping `0`, `1` and `-1`.
split_sum <- function(expr) {
  if (is.call(expr) && identical(expr[[1]], as.name("+")) &&
        length(expr) == 3) {
    return(c(split_sum(expr[[2]]), list(expr[[3]])))
  }
  if (is.call(expr) && identical(expr[[1]], as.name("-")) &&
        length(expr) == 3) {
    return(c(split_sum(expr[[2]]), list(call("-", expr[[3]]))))
  }
  list(expr)
}

strip_parens <- function(expr) {
  while (is.call(expr) && identical(expr[[1]], as.name("("))) {
    expr <- expr[[2]]
  }
  expr
}

is_bar_term <- function(term) {
  term <- strip_parens(term)
  is.call(term) && (identical(term[[1]], as.name("|")) ||
                      identical(term[[1]], as.name("||")))
}

parse_group_term <- function(term, call) {
  term <- strip_parens(term)
  group <- term[[3]]
  if (!is.name(group)) {
    abort_deepbmc(
      c(
        "The grouping factor must be one column of {.arg data}.",
        x = "You wrote {.code {deparse1(group)}}: nested ({.code a/b}) or
             interacted ({.code a:b}) grouping is not supported yet."
      ),
      "value",
      call = call
    )
  }
  list(
    terms = term[[2]],
    group = as.character(group),
    correlated = identical(term[[1]], as.name("|"))
  )
}

# Special terms of lme4, brms and mgcv that have no simulator yet.
unsupported_functions <- c(
  "s", "t2", "te", "gp", "mo", "me", "mi", "cs", "cse", "gr", "mm",
  "poly", "ns", "bs", "ar", "arma", "car"
)

# Functions a formula term may call. model.frame() evaluates the terms, so
# anything else (`system()`, `readRDS()`, ...) is refused before it can run:
# a formula is a description of the model, not code to execute.
formula_functions <- c(
  "+", "-", "*", "/", "^", ":", "(", "%in%", "I", "log", "log2", "log10",
  "log1p", "exp", "expm1", "sqrt", "abs", "sin", "cos", "tan", "factor",
  "as.factor", "ordered", "as.numeric", "as.double", "as.integer", "scale",
  "pmin", "pmax", "round", "floor", "ceiling", "offset"
)

# Where model.frame() evaluates the terms (only calls of formula_functions
# get there): base R, and stats's offset(), which marks offsets.
formula_env <- function() {
  env <- new.env(parent = baseenv())
  env$offset <- stats::offset
  env
}

# Names of the functions called anywhere in `expr`.
called_functions <- function(expr) {
  if (!is.call(expr)) {
    return(character(0))
  }
  head <- expr[[1]]
  own <- if (is.name(head)) as.character(head) else deparse1(head)
  c(own, unlist(lapply(as.list(expr)[-1], called_functions)))
}

check_supported_terms <- function(terms, call) {
  used <- unique(unlist(lapply(terms, called_functions)))
  # The bars of group-level terms are syntax; their contents are terms.
  used <- setdiff(used, c("|", "||"))
  found <- intersect(used, unsupported_functions)
  if (length(found) > 0) {
    abort_deepbmc(
      c(
        "{.arg formula} uses {.fn {found}}, which deepbmc does not support
         yet.",
        i = "Supported: fixed effects with numeric and factor covariates,
             interactions and offsets, and one group-level term
             {.code (... | g)} or {.code (... || g)}."
      ),
      "value",
      call = call
    )
  }
  unknown <- setdiff(used, formula_functions)
  if (length(unknown) > 0) {
    abort_deepbmc(
      c(
        "{.arg formula} calls {.code {unknown}}, which a model formula may
         not use.",
        i = "Terms may use columns of {.arg data}, arithmetic and
             {.fn {formula_functions[-(1:8)]}}; compute other covariates in
             {.arg data} first."
      ),
      "value",
      call = call
    )
  }
  invisible(TRUE)
}
