#' Priors for formula models
#'
#' States a prior for one class of parameters of a [hier_model()], in the
#' style of brms: `hier_prior("normal(0, 0.5)", class = "b", coef = "x")`.
#' Combine several with `c()`.
#'
#' Classes:
#' * `"Intercept"`: the intercept (of the model matrix as written, not of
#'   centred covariates);
#' * `"b"`: fixed-effect coefficients, all or one (`coef`, a column name of
#'   the model matrix such as `"x"` or `"conditionB"`);
#' * `"sd"`: standard deviations of the group-level effects, all or one
#'   (`coef = "Intercept"` or a covariate's column name), of all grouping
#'   columns or one (`group`); the SD of an observation-level effect
#'   `(1 | obs)` is `hier_prior(exponential(1), class = "sd", group = "obs")`,
#'   as brms writes it (a prior of class `"sd"` without `group` applies to it
#'   too);
#' * `"cor"`: the correlation matrix of correlated group-level effects;
#' * `"sigma"`: the residual standard deviation (gaussian, student) or the
#'   standard deviation on the log scale (lognormal);
#' * `"nu"`, `"shape"`, `"phi"`: the family's second parameter, as brms names
#'   it: the degrees of freedom of `student`, the shape of `negbinomial`
#'   (variance \eqn{\mu + \mu^2 / shape}) and of `Gamma`, the precision of
#'   `beta`.
#'
#' Distributions, written as in Stan and brms:
#' * `normal(mu, sigma)`, `student_t(nu, mu, sigma)` for `Intercept` and `b`;
#' * `uniform(lower, upper)` for any class but `cor` (`lower >= 0` for the
#'   positive classes);
#' * `half_normal(sigma)`, `half_student_t(nu, sigma)`, `exponential(rate)`,
#'   `gamma(shape, rate)` and `beta(a, b)` for the positive classes `sd`,
#'   `sigma`, `nu`, `shape` and `phi`; `normal(0, sigma)` and
#'   `student_t(nu, 0, sigma)` are read as their half versions there, as brms
#'   does for parameters bounded at zero; `half_normal_variance(sigma)` puts a
#'   Half-Normal(0, sigma) prior on the *variance* (the square of the SD), as
#'   the paper's Study 1 does;
#' * `lkj(eta)` for `cor`;
#' * `constant(value)` fixes a parameter (for example `constant(0)` to turn a
#'   coefficient off).
#'
#' Priors must be proper: the network is trained on simulations from them.
#' Unset classes get the defaults described in [hier_model()].
#'
#' @param prior The distribution, as a string (`"normal(0, 1)"`) or an
#'   unevaluated call (`normal(0, 1)`).
#' @param class The parameter class, as a string or unquoted as in brms's
#'   `prior()` (`class = b`).
#' @param coef For `b` and `sd`: one coefficient (a model-matrix column
#'   name); `""` (the default) for all coefficients of the class. Unquoted
#'   names (`coef = Days`) are taken as names unless a variable of that name
#'   exists.
#' @param group For `sd` and `cor`: the grouping column the prior is for, as
#'   in brms (the grouping factor, or the column of an observation-level
#'   effect `(1 | obs)`); `""` (the default) for all. Unquoted like `coef`.
#'
#' @return A data frame of class `"deepbmc_prior"` with columns `prior`,
#'   `class`, `coef` and `group`, one row per prior.
#' @seealso [hier_model()]
#' @export
#' @examples
#' hier_prior("normal(0, 0.5)", class = "b")
#' c(
#'   hier_prior(normal(0, 1), class = "Intercept"),
#'   hier_prior(exponential(2), class = "sd", coef = "Intercept"),
#'   hier_prior(lkj(2), class = "cor")
#' )
#' # the SD of an observation-level effect (1 | obs)
#' hier_prior(exponential(1), class = "sd", group = "obs")
hier_prior <- function(prior, class = c("b", "Intercept", "sd", "cor",
                                        "sigma", "nu", "shape", "phi"),
                       coef = "", group = "") {
  # class = b and coef = Days unquoted, as brms's prior() takes them: a bare
  # class name is the class; a bare name that is no variable is the name.
  class_expr <- substitute(class)
  if (is.name(class_expr) && as.character(class_expr) %in% prior_classes) {
    class <- as.character(class_expr)
  }
  env <- parent.frame()
  coef <- unquoted_name(substitute(coef), coef, env)
  group <- unquoted_name(substitute(group), group, env)
  # normal(0, 1) written as a call is taken as it stands; anything else, such
  # as a string or paste0(...) computing one, is evaluated.
  expr <- substitute(prior)
  is_distribution_call <- is.call(expr) && is.name(expr[[1]]) &&
    as.character(expr[[1]]) %in% names(prior_arity)
  text <- if (is_distribution_call) deparse1(expr) else prior
  if (!is.character(text) || length(text) != 1 || is.na(text)) {
    abort_deepbmc(
      c(
        "{.arg prior} must be a distribution such as {.code normal(0, 1)},
         as a string or a call.",
        x = "You supplied {describe_value(prior)}."
      ),
      "type"
    )
  }
  class <- check_choice(class, prior_classes)
  check_prior_target(coef, "coef", class, c("b", "sd"))
  check_prior_target(group, "group", class, c("sd", "cor"))
  parsed <- parse_distribution(text, class)
  # In full precision: the model reads its parameters from this text (4
  # digits, as printed, would change normal(0, 0.123456) silently).
  exact <- format_distribution(parsed$name, parsed$args, digits = 15)
  new_prior(data.frame(prior = exact, class = class, coef = coef,
                       group = group))
}

# A bare name given for `coef` or `group` (`coef = Days`) is that name,
# unless a character variable of that name exists; anything else is `value`.
unquoted_name <- function(expr, value, env) {
  if (is.name(expr) &&
        !exists(as.character(expr), envir = env, mode = "character")) {
    return(as.character(expr))
  }
  value
}

# `coef` and `group` are single strings, non-empty only for the classes they
# apply to.
check_prior_target <- function(value, arg, class, classes,
                               call = rlang::caller_env()) {
  if (!is.character(value) || length(value) != 1 || is.na(value)) {
    abort_deepbmc(
      c(
        "{.arg {arg}} must be a single string.",
        x = "You supplied {describe_value(value)}."
      ),
      "type",
      call = call
    )
  }
  if (nzchar(value) && !class %in% classes) {
    abort_deepbmc(
      "{.arg {arg}} only applies to the classes {.val {classes}}.",
      "value",
      call = call
    )
  }
  invisible(value)
}

prior_classes <- c("b", "Intercept", "sd", "cor", "sigma", "nu", "shape",
                   "phi")

# Classes of parameters bounded at zero.
positive_classes <- c("sd", "sigma", "nu", "shape", "phi")

new_prior <- function(table) {
  class(table) <- c("deepbmc_prior", "data.frame")
  table
}

#' @export
c.deepbmc_prior <- function(...) {
  parts <- list(...)
  for (part in parts) {
    if (!inherits(part, "deepbmc_prior")) {
      abort_deepbmc(
        "Only priors from {.fun hier_prior} can be combined with them.",
        "type"
      )
    }
  }
  parts <- lapply(parts, function(part) {
    part <- as.data.frame.data.frame(part)
    # Priors saved before hier_prior() had `group` are for all groups.
    if (is.null(part$group)) part$group <- rep("", nrow(part))
    part
  })
  new_prior(do.call(rbind, parts))
}

#' @export
print.deepbmc_prior <- function(x, ...) {
  shown <- as.data.frame.data.frame(x)
  print(shown, row.names = FALSE, right = FALSE)
  invisible(x)
}

# Codes of the C++ prior distributions (src/formula_models.h).
prior_codes <- c(
  constant = 0L, normal = 1L, student_t = 2L, half_normal = 3L,
  half_student_t = 4L, exponential = 5L, half_normal_variance = 6L,
  uniform = 7L, gamma = 8L, beta = 9L
)

# Number and meaning of the arguments of each distribution.
prior_arity <- c(
  constant = 1L, normal = 2L, student_t = 3L, half_normal = 1L,
  half_student_t = 2L, exponential = 1L, half_normal_variance = 1L,
  uniform = 2L, gamma = 2L, beta = 2L, lkj = 1L
)

# The distribution in `text` for parameters of `class`, checked and turned
# into list(name, args, text) with `name` a C++ prior code name (or "lkj").
parse_distribution <- function(text, class, arg = "prior",
                               call = rlang::caller_env()) {
  expr <- tryCatch(str2lang(text), error = function(e) NULL)
  # `problem` is plain text that may quote the user's distribution name:
  # shown as it is, never read as cli markup.
  fail <- function(problem) {
    abort_deepbmc(
      c(
        "{.arg {arg}} {.code {text}} is not a valid prior for class
         {.val {class}}.",
        x = cli_escape(problem)
      ),
      "value",
      call = call
    )
  }
  if (!is.call(expr) || !is.name(expr[[1]])) {
    fail("Write a distribution call such as normal(0, 1).")
  }
  name <- as.character(expr[[1]])
  if (!name %in% names(prior_arity)) {
    fail(paste0(
      "Unknown distribution ", name, "; use one of ",
      paste(names(prior_arity), collapse = ", "), "."
    ))
  }
  # The arguments are read as numbers written out, never evaluated: a prior
  # string is data, not code (`normal(system("..."), 1)` is an error).
  args <- vapply(as.list(expr)[-1], numeric_literal, numeric(1))
  if (!is.null(names(expr)) && any(nzchar(names(expr)[-1]))) {
    fail("Give the numbers by position, without argument names.")
  }
  if (length(args) != prior_arity[[name]] || anyNA(args) ||
        any(!is.finite(args))) {
    fail(paste0(
      name, "() takes ", prior_arity[[name]], " finite number",
      if (prior_arity[[name]] == 1) "" else "s",
      " written out, such as normal(0, 2.5)."
    ))
  }
  bounded <- class %in% positive_classes
  if (bounded && name == "normal") {
    if (args[[1]] != 0) fail("Half-distributions must be centred at 0.")
    name <- "half_normal"
    args <- args[[2]]
  }
  if (bounded && name == "student_t") {
    if (args[[2]] != 0) fail("Half-distributions must be centred at 0.")
    name <- "half_student_t"
    args <- args[c(1, 3)]
  }
  allowed <- if (class == "cor") {
    "lkj"
  } else if (bounded) {
    c("half_normal", "half_student_t", "exponential", "half_normal_variance",
      "gamma", "beta", "uniform", "constant")
  } else {
    c("normal", "student_t", "uniform", "constant")
  }
  if (!name %in% allowed) {
    fail(paste0("Use ", paste0(allowed, "()", collapse = ", "), "."))
  }
  scale_position <- switch(name,
    normal = 2, student_t = c(1, 3), half_normal = 1, half_student_t = 1:2,
    exponential = 1, half_normal_variance = 1, lkj = 1, gamma = 1:2,
    beta = 1:2, uniform = integer(0), constant = integer(0)
  )
  if (any(args[scale_position] <= 0)) {
    fail("Scales, degrees of freedom, shapes, rates and eta must be positive.")
  }
  if (name == "uniform" && args[[2]] <= args[[1]]) {
    fail("The upper bound of uniform() must exceed the lower.")
  }
  if (bounded && name %in% c("constant", "uniform") && args[[1]] < 0) {
    fail(paste0("Parameters of class ", class, " cannot be negative."))
  }
  if (class %in% c("nu", "shape", "phi") && name == "constant" &&
        args[[1]] == 0) {
    fail(paste0(class, " must be positive."))
  }
  list(name = name, args = args, text = format_distribution(name, args))
}

# The value of a number written out in parsed code (`2.5`, `-1`, `1e-3`,
# `+2`), or NA for anything else: names, calls, strings, vectors.
numeric_literal <- function(expr) {
  sign <- 1
  while (is.call(expr) && length(expr) == 2 &&
           (identical(expr[[1]], as.name("-")) ||
              identical(expr[[1]], as.name("+")))) {
    if (identical(expr[[1]], as.name("-"))) sign <- -sign
    expr <- expr[[2]]
  }
  if (is.numeric(expr) && length(expr) == 1 && !is.object(expr)) {
    return(sign * as.double(expr))
  }
  NA_real_
}

format_distribution <- function(name, args, digits = 4) {
  # Each number on its own: format() of a vector pads 0 to "0.0" beside 2.5.
  shown <- vapply(args, format, character(1), digits = digits, trim = TRUE)
  paste0(name, "(", paste(shown, collapse = ", "), ")")
}

# Weakly informative defaults on the scale of the data, after rstanarm:
# the intercept normal(m, 2.5 s), coefficient j normal(0, 2.5 s / sd(x_j)),
# group-level SDs half_normal(s / sd(z_j)) (sd(z_j) = 1 for the intercept,
# and for the SD of an observation-level effect),
# sigma exponential(1 / s) and lkj(1), where
# m and s are the mean and SD of the response (of its logarithm for
# lognormal and Gamma) for gaussian, student, lognormal and Gamma models, and
# m = 0, s = 1 on the linear-predictor scale of the other families; nu, shape
# and phi gamma(2, 0.1) (default_aux_prior).
default_priors <- function(family, response, x, z, correlated, group = NULL,
                           olre = NULL) {
  location <- 0
  scale <- 1
  info <- family_info(family)
  if (info$prior_scale != "linear_predictor") {
    values <- if (info$prior_scale == "log_response") log(response) else
      response
    values <- values[is.finite(values)]
    location <- mean(values)
    scale <- if (length(values) > 1 && stats::sd(values) > 0) {
      stats::sd(values)
    } else {
      1
    }
  }
  rows <- list()
  for (column in colnames(x)) {
    if (column == "(Intercept)") {
      rows[[length(rows) + 1]] <- prior_row(
        "Intercept", "", "normal", c(location, 2.5 * scale)
      )
    } else {
      spread <- stats::sd(x[, column])
      spread <- if (is.finite(spread) && spread > 0) spread else 1
      rows[[length(rows) + 1]] <- prior_row(
        "b", column, "normal", c(0, 2.5 * scale / spread)
      )
    }
  }
  # The SD of a group-level slope is on the scale of the response per unit
  # of its covariate, as the slope itself.
  for (column in colnames(z)) {
    spread <- if (column == "(Intercept)") 1 else stats::sd(z[, column])
    spread <- if (is.finite(spread) && spread > 0) spread else 1
    rows[[length(rows) + 1]] <- prior_row(
      "sd", coef_name(column), "half_normal", scale / spread, group = group
    )
  }
  # An observation-level effect is a group-level intercept, one per row.
  if (!is.null(olre)) {
    rows[[length(rows) + 1]] <- prior_row("sd", "Intercept", "half_normal",
                                          scale, group = olre)
  }
  if (correlated && ncol(z) >= 2) {
    rows[[length(rows) + 1]] <- prior_row("cor", "", "lkj", 1, group = group)
  }
  if (info$sigma) {
    rows[[length(rows) + 1]] <- prior_row("sigma", "", "exponential",
                                          1 / scale)
  }
  if (!is.null(info$aux)) {
    rows[[length(rows) + 1]] <- prior_row(info$aux, "", "gamma",
                                          unname(default_aux_prior))
  }
  table <- do.call(rbind, rows)
  table$source <- "default"
  table
}

# log P(X >= lower) under a prior (a row of the prior table), for the
# truncation of nu at 1.
prior_log_mass_above <- function(row, lower) {
  p1 <- row$p1
  p2 <- row$p2
  switch(row$distribution,
    constant = if (p1 >= lower) 0 else -Inf,
    half_normal = log(2) + stats::pnorm(-lower / p1, log.p = TRUE),
    half_student_t = log(2) + stats::pt(-lower / p2, p1, log.p = TRUE),
    exponential = -p1 * lower,
    # sd >= lower when the variance sd^2 >= lower^2
    half_normal_variance = log(2) + stats::pnorm(-lower^2 / p1, log.p = TRUE),
    uniform = log(max(0, p2 - max(p1, lower)) / (p2 - p1)),
    gamma = stats::pgamma(lower, p1, p2, lower.tail = FALSE, log.p = TRUE),
    beta = if (lower < 1) {
      stats::pbeta(lower, p1, p2, lower.tail = FALSE, log.p = TRUE)
    } else {
      -Inf
    }
  )
}

# The second parameter's prior must leave some mass above its lower bound
# (nu >= 1): the simulator draws from the truncated prior by rejection.
check_aux_prior <- function(prior_table, family, call = rlang::caller_env()) {
  info <- family_info(family)
  lower <- info$aux_lower %||% 0
  if (is.null(info$aux) || lower == 0) {
    return(invisible(TRUE))
  }
  row <- prior_table[prior_table$class == info$aux, , drop = FALSE]
  if (exp(prior_log_mass_above(row, lower)) < 0.01) {
    abort_deepbmc(
      c(
        "{.arg prior}: {.code {row$prior}} on {.val {info$aux}} puts less
         than 1% of its mass above {lower}.",
        i = "{.val {info$aux}} is at least {lower}, as in brms: its prior is
             truncated there."
      ),
      "value",
      call = call
    )
  }
  invisible(TRUE)
}

# `group`: the grouping column of an sd or cor prior ("" for other classes).
prior_row <- function(class, coef, name, args, group = NULL) {
  args <- c(args, rep(NA_real_, 3 - length(args)))
  data.frame(
    class = class, coef = coef, group = group %||% "", distribution = name,
    p1 = args[[1]], p2 = args[[2]], p3 = args[[3]],
    prior = format_distribution(name, args[!is.na(args)])
  )
}

# A model's priors on one line, as `class[coef] ~ distribution`, defaults
# starred: what print(<model set>) shows under each model.
prior_summary_line <- function(table) {
  target <- ifelse(nzchar(table$coef),
                   paste0(table$class, "[", table$coef, "]"), table$class)
  # With an observation-level effect, two SDs share a coefficient name.
  groups <- table$group %||% rep("", nrow(table))
  if (length(unique(groups[table$class == "sd"])) > 1) {
    olre <- table$class == "sd" & nzchar(groups)
    target[olre] <- paste0("sd[", groups[olre], ":", table$coef[olre], "]")
  }
  star <- ifelse(table$source == "default", "*", "")
  paste0("priors: ", paste0(target, " ~ ", table$prior, star,
                            collapse = ", "))
}

# Model-matrix column names as brms writes coefficients.
coef_name <- function(column) {
  ifelse(column == "(Intercept)", "Intercept", column)
}

# The defaults with the user's priors applied: a class-wide prior replaces
# the defaults of its class, a prior for one coefficient replaces that one.
# Priors for classes or coefficients the model does not have are errors.
resolve_priors <- function(defaults, prior, call = rlang::caller_env()) {
  if (is.null(prior)) {
    return(defaults)
  }
  if (inherits(prior, "brmsprior")) {
    prior <- from_brms_prior(prior, call)
    if (is.null(prior)) {
      return(defaults)
    }
  }
  if (!inherits(prior, "deepbmc_prior")) {
    abort_deepbmc(
      c(
        "{.arg prior} must be made with {.fun hier_prior}.",
        x = "You supplied {describe_value(prior)}."
      ),
      "type",
      call = call
    )
  }
  # Priors saved before hier_prior() had `group` are for all groups.
  if (is.null(prior$group)) prior$group <- rep("", nrow(prior))
  # Class-wide priors first, so that priors for one coefficient or group
  # win.
  prior <- prior[order(nzchar(prior$coef) + nzchar(prior$group)), ,
                 drop = FALSE]
  table <- defaults
  for (i in seq_len(nrow(prior))) {
    class <- prior$class[[i]]
    coef <- prior$coef[[i]]
    group <- prior$group[[i]]
    target <- table$class == class & (!nzchar(coef) | table$coef == coef) &
      (!nzchar(group) | table$group == group)
    if (!any(target)) {
      in_class <- table$class == class
      available <- unique(table$coef[in_class & nzchar(table$coef)])
      groups <- unique(table$group[in_class & nzchar(table$group)])
      abort_deepbmc(
        c(
          "{.arg prior} sets a prior on class {.val {class}}
           {if (nzchar(coef)) paste0('coefficient ', coef)}
           {if (nzchar(group)) paste0('of group ', group)}, which the model
           does not have.",
          i = if (nzchar(group) && length(groups) > 0 &&
                    !group %in% groups) {
            "Groups of class {.val {class}}: {.val {groups}}."
          } else if (length(available) > 0) {
            "Coefficients of class {.val {class}}: {.val {available}}."
          } else if (!any(table$class == class)) {
            "Classes of this model: {.val {unique(table$class)}}."
          }
        ),
        "value",
        call = call
      )
    }
    parsed <- parse_distribution(prior$prior[[i]], class, call = call)
    args <- c(parsed$args, rep(NA_real_, 3 - length(parsed$args)))
    table$distribution[target] <- parsed$name
    table$p1[target] <- args[[1]]
    table$p2[target] <- args[[2]]
    table$p3[target] <- args[[3]]
    table$prior[target] <- parsed$text
    table$source[target] <- "user"
  }
  table
}

# brms's prior() and set_prior() objects (class "brmsprior": a data frame with
# the columns prior, class, coef, group, resp, dpar, nlpar, lb, ub, source)
# as hier_prior() rows. Their texts are parsed as data like any other prior.
# Rows without a prior (brms's flat defaults) are left to deepbmc's defaults;
# what deepbmc models cannot have (distributional parameters, bounds,
# non-linear parameters) is an error rather than silently dropped.
from_brms_prior <- function(prior, call = rlang::caller_env()) {
  table <- as.data.frame.data.frame(prior)
  column <- function(name) {
    value <- table[[name]] %||% rep("", nrow(table))
    value[is.na(value)] <- ""
    as.character(value)
  }
  text <- column("prior")
  class <- column("class")
  class[class == "L"] <- "cor"
  # With brms's `0 + Intercept`, the intercept is coefficient "Intercept".
  coef <- column("coef")
  ordinary_intercept <- class == "b" & coef == "Intercept"
  class[ordinary_intercept] <- "Intercept"
  coef[ordinary_intercept] <- ""
  text <- sub("^lkj_corr_cholesky\\(", "lkj(", text)
  # Bounds are the support of a uniform prior (as brms_prior() writes them),
  # nothing else: a truncated prior is another model.
  bounds <- paste0("uniform(", column("lb"), ", ", column("ub"), ")")
  bounded <- nzchar(column("lb")) | nzchar(column("ub"))
  uniform_bounds <- bounded &
    gsub(" ", "", bounds) == gsub(" ", "", text)
  unsupported <- nzchar(column("resp")) | nzchar(column("dpar")) |
    nzchar(column("nlpar")) | (bounded & !uniform_bounds)
  if (any(unsupported)) {
    abort_deepbmc(
      c(
        "{.arg prior} has brms priors for response, distributional or
         non-linear parameters, or with bounds other than a uniform prior's,
         which formula models do not have.",
        x = "Rows: {which(unsupported)}."
      ),
      "value",
      call = call
    )
  }
  keep <- nzchar(text)
  if (!all(class[keep] %in% prior_classes)) {
    bad <- unique(class[keep][!class[keep] %in% prior_classes])
    abort_deepbmc(
      c(
        "{.arg prior} has brms priors of classes formula models do not
         have: {.val {bad}}.",
        i = "Classes: {.val {prior_classes}}."
      ),
      "value",
      call = call
    )
  }
  # brms's group names the grouping column: the grouping factor's or an
  # observation-level effect's.
  group <- column("group")
  rows <- lapply(which(keep), function(i) {
    hier_prior(text[[i]], class = class[[i]], coef = coef[[i]],
               group = group[[i]])
  })
  if (length(rows) == 0) {
    return(NULL)
  }
  do.call(c, rows)
}
