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
  index <- model_index(model, x$model_names, "model")
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

# The index of one model given by name or number.
model_index <- function(model, model_names, arg, call = rlang::caller_env()) {
  index <- if (is.character(model) && length(model) == 1) {
    match(model, model_names)
  } else if (is.numeric(model) && length(model) == 1 && !is.na(model) &&
               model == round(model)) {
    if (model >= 1 && model <= length(model_names)) as.integer(model) else NA
  } else {
    NA
  }
  if (is.na(index)) {
    abort_deepbmc(
      c(
        "{.arg {arg}} must name or number one of the models.",
        x = "You supplied {describe_value(model)}.",
        i = "Models: {.val {model_names}}."
      ),
      "value",
      call = call
    )
  }
  index
}

# The Stan programs of a model set: a named list (one per model) of
# list(code, name, data), where data(dataset) gives the program's data list
# for one data set in the form post_prob() accepts.
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
      data = function(dataset) study1_stan_data(dataset)
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
      data = function(dataset) formula_stan_data(model, dataset)
    )
  })
  stats::setNames(programs, models$model_names)
}

# --- Study 1 ------------------------------------------------------------------

# The text of inst/stan/study1_m0.stan or study1_m1.stan.
study1_stan_code <- function(model) {
  file <- paste0("study1_", tolower(model), ".stan")
  path <- system.file("stan", file, package = "deepbmc")
  if (!nzchar(path)) {
    abort_deepbmc("Internal error: cannot find {.file {file}}.", "value")
  }
  paste0(paste(readLines(path, warn = FALSE), collapse = "\n"), "\n")
}

# One data set as a list of numeric vectors, one per group, without missing
# values (groups left without observations are dropped). `x` is any form
# post_prob() accepts for the nested normal models.
study1_groups <- function(x, arg = "data", call = rlang::caller_env(),
                          group = NULL, response = NULL) {
  if (is.list(x) && !is.data.frame(x) && length(x) > 0 &&
        all(vapply(x, function(g) is.numeric(g) && is.null(dim(g)),
                   logical(1)))) {
    groups <- lapply(x, as.double)
  } else {
    converted <- as_datasets(x, group = group, response = response,
                             arg = arg, call = call)
    dataset <- converted$datasets[[1]]
    groups <- split(dataset$values,
                    rep.int(seq_along(dataset$sizes), dataset$sizes))
  }
  groups <- lapply(groups, function(g) g[!is.na(g)])
  groups <- unname(groups[lengths(groups) > 0])
  if (length(groups) == 0) {
    abort_deepbmc("{.arg {arg}} has no observed value.", "data", call = call)
  }
  if (any(!is.finite(unlist(groups)))) {
    abort_deepbmc("{.arg {arg}} must have finite values.", "data", call = call)
  }
  groups
}

# The data list of the Study 1 programs: observations in one vector with
# their group index (unbalanced groups work), and the parameterisation of the
# group means.
study1_stan_data <- function(x, centred = study1_centred(x)) {
  groups <- study1_groups(x)
  list(
    L = length(groups),
    n_obs = sum(lengths(groups)),
    group = rep(seq_along(groups), lengths(groups)),
    x = unlist(groups, use.names = FALSE),
    centred = as.integer(centred)
  )
}

# Whether to sample the group means centred (theta_l as parameters) or
# non-centred (theta_l = mu + sqrt(tau2) * z_l); both give the same marginal
# likelihood. Centred is better when the data of a group pin its mean down
# well relative to the spread of the means (n_l tau2 / sigma2 large);
# non-centred when tau2 may be near zero compared with sigma2 / n_l (the
# funnel of the centred form: divergent transitions and biased bridge
# estimates). The choice uses moment estimates of the variances:
#   info = median(n_l) * tau2_hat / sigma2_hat, centred if info > 3,
# with sigma2_hat the pooled within-group variance and tau2_hat the variance
# of the group means minus mean(sigma2_hat / n_l). On 19 test data sets (5 to
# 50 groups, 1 to 50 observations per group) every centred fit with
# divergences had info < 1.6, and no non-centred fit had any; at info > 3
# centred had 1.3 to 18 times the smallest effective sample size of the
# non-centred fits (bench/peer_bridge.R).
study1_centred <- function(x, threshold = 3) {
  groups <- study1_groups(x)
  n <- lengths(groups)
  if (sum(n) <= length(n) || length(n) < 2) return(FALSE)
  m <- vapply(groups, mean, numeric(1))
  sigma2 <- sum(vapply(groups, function(g) sum((g - mean(g))^2),
                       numeric(1))) / (sum(n) - length(n))
  tau2 <- stats::var(m) - mean(sigma2 / n)
  isTRUE(stats::median(n) * tau2 / sigma2 > threshold)
}

# --- Formula models -----------------------------------------------------------

# Numbers as Stan literals, exactly (17 significant digits).
stan_number <- function(x) {
  out <- sprintf("%.17g", x)
  # Stan reads "1e+05" but not "inf"; priors are finite by construction.
  sub("e\\+", "e", out)
}

# The log density of prior `p` (a row of compile_model()'s prior tables:
# kind, p1, p2, p3) at the Stan expression `par`, with the normalising
# constants of truncated distributions. NULL for constants.
stan_prior_lpdf <- function(kind, p1, p2, p3, par) {
  n <- stan_number
  switch(names(prior_codes)[prior_codes == kind],
    constant = NULL,
    normal = sprintf("normal_lpdf(%s | %s, %s)", par, n(p1), n(p2)),
    student_t = sprintf("student_t_lpdf(%s | %s, %s, %s)", par, n(p1), n(p2),
                        n(p3)),
    # |N(0, p1)|: twice the normal density on (0, Inf).
    half_normal = sprintf("normal_lpdf(%s | 0, %s) + log(2)", par, n(p1)),
    # p2 * |t_p1|: twice the Student-t density on (0, Inf).
    half_student_t = sprintf("student_t_lpdf(%s | %s, 0, %s) + log(2)", par,
                             n(p1), n(p2)),
    exponential = sprintf("exponential_lpdf(%s | %s)", par, n(p1)),
    # sd = sqrt(v) with v ~ |N(0, p1)|: p(sd) = 2 N(sd^2 | 0, p1) * 2 sd.
    half_normal_variance = sprintf(
      "normal_lpdf(square(%s) | 0, %s) + 2 * log(2) + log(%s)", par, n(p1),
      par
    )
  )
}

# Text from the user's data made safe for a `//` comment: control
# characters (line breaks above all) become spaces.
stan_comment <- function(text) {
  gsub("[[:cntrl:]]", " ", text)
}

# The parameters of one class (one prior per element): Stan code that fills
# the local vector `target_name` from free parameters `free_name` and
# constants, and the prior statements of the free ones.
stan_class_code <- function(priors, target_name, free_name, labels) {
  assign <- character()
  lpdf <- character()
  free <- 0L
  for (j in seq_along(priors$kind)) {
    if (priors$kind[[j]] == prior_codes[["constant"]]) {
      assign <- c(assign, sprintf("  %s[%d] = %s;  // %s (constant)",
                                  target_name, j, stan_number(priors$p1[[j]]),
                                  labels[[j]]))
    } else {
      free <- free + 1L
      par <- sprintf("%s[%d]", free_name, free)
      assign <- c(assign, sprintf("  %s[%d] = %s;  // %s", target_name, j,
                                  par, labels[[j]]))
      lpdf <- c(lpdf, sprintf(
        "  target += %s;  // %s", stan_prior_lpdf(
          priors$kind[[j]], priors$p1[[j]], priors$p2[[j]], priors$p3[[j]],
          par
        ),
        labels[[j]]
      ))
    }
  }
  list(assign = assign, lpdf = lpdf, free = free)
}

# The Stan program of a formula model: its complete log joint density given
# the data list of formula_stan_data(), from the same compiled specification
# (compile_model()) that the C++ simulator reads.
formula_stan_code <- function(model, name = NULL) {
  spec <- compile_model(model, list(x = model$x, z = model$z))
  family <- model$family$family
  link <- model$family$link
  # Column names and factor levels come from the user's data and end up in
  # comments; a line break in one would turn the rest into Stan code.
  x_names <- stan_comment(colnames(model$x))
  z_names <- stan_comment(coef_name(colnames(model$z)))
  p <- length(x_names)
  q <- length(z_names)
  has_sigma <- family %in% c("gaussian", "lognormal")
  correlated <- isTRUE(spec$correlated)

  b <- stan_class_code(spec$b_prior, "beta", "b",
                       ifelse(x_names == "(Intercept)", "Intercept", x_names))
  sd <- stan_class_code(spec$sd_prior, "sd_g", "sd_free",
                        paste("sd of", z_names))
  sigma <- if (has_sigma) {
    stan_class_code(spec$sigma_prior, "sigma_v", "sigma_free", "sigma")
  }

  header <- c(
    paste0("// Generated by deepbmc ", utils::packageVersion("deepbmc"),
           if (!is.null(name)) paste0(" for model ", stan_comment(name)),
           "."),
    paste0("// ", stan_comment(deparse1(model$formula)), ", family ",
           family, "(", link, ")"),
    "// Priors:",
    paste0("//   ", model$prior$prior, " on ", model$prior$class,
           ifelse(nzchar(model$prior$coef),
                  paste0(" ", stan_comment(model$prior$coef)), "")),
    "// The complete log joint density (target += with all normalising",
    "// constants) for bridge sampling; group-level effects non-centred."
  )

  y_decl <- if (family %in% c("gaussian", "lognormal")) {
    "  vector[N] y;                        // response"
  } else if (family == "bernoulli") {
    "  int<lower=0, upper=1> y[N];         // response"
  } else {
    "  int<lower=0> y[N];                  // response"
  }
  data_block <- c(
    "data {",
    "  int<lower=1> N;                     // observations",
    "  int<lower=1> G;                     // groups",
    "  int<lower=1, upper=G> g[N];         // group of each observation",
    if (p > 0) sprintf("  matrix[N, %d] X;                    // %s", p,
                       paste(x_names, collapse = ", ")),
    sprintf("  matrix[N, %d] Z;                    // %s", q,
            paste(z_names, collapse = ", ")),
    y_decl,
    if (family == "binomial") "  int<lower=1> trials[N];             // trials",
    "}"
  )
  parameters_block <- c(
    "parameters {",
    if (b$free > 0) sprintf("  vector[%d] b;", b$free),
    if (sd$free > 0) sprintf("  vector<lower=0>[%d] sd_free;", sd$free),
    if (correlated) sprintf("  cholesky_factor_corr[%d] L_cor;", q),
    if (has_sigma && sigma$free > 0) "  vector<lower=0>[1] sigma_free;",
    sprintf("  matrix[%d, G] z;                    // standardised group effects",
            q),
    "}"
  )
  group_effects <- if (correlated) {
    "  u = (diag_pre_multiply(sd_g, L_cor) * z)';"
  } else {
    "  u = diag_pre_multiply(sd_g, z)';"
  }
  eta <- if (p > 0) {
    "  eta = X * beta + rows_dot_product(Z, u[g]);"
  } else {
    "  eta = rows_dot_product(Z, u[g]);"
  }
  likelihood <- switch(family,
    gaussian = "  target += normal_lpdf(y | eta, sigma_v[1]);",
    lognormal = "  target += lognormal_lpdf(y | eta, sigma_v[1]);",
    bernoulli = if (link == "logit") {
      "  target += bernoulli_logit_lpmf(y | eta);"
    } else {
      "  target += bernoulli_lpmf(y | Phi(eta));"
    },
    binomial = if (link == "logit") {
      "  target += binomial_logit_lpmf(y | trials, eta);"
    } else {
      "  target += binomial_lpmf(y | trials, Phi(eta));"
    },
    poisson = "  target += poisson_log_lpmf(y | eta);"
  )
  model_block <- c(
    "model {",
    if (p > 0) sprintf("  vector[%d] beta;", p),
    sprintf("  vector[%d] sd_g;", q),
    if (has_sigma) "  vector[1] sigma_v;",
    sprintf("  matrix[G, %d] u;                    // group effects", q),
    "  vector[N] eta;",
    if (p > 0) b$assign,
    sd$assign,
    if (has_sigma) sigma$assign,
    "  // priors",
    b$lpdf,
    sd$lpdf,
    if (correlated) sprintf("  target += lkj_corr_cholesky_lpdf(L_cor | %s);",
                            stan_number(spec$cor_eta)),
    if (has_sigma) sigma$lpdf,
    "  // group-level effects",
    "  target += std_normal_lpdf(to_vector(z));",
    group_effects,
    "  // observations",
    eta,
    likelihood,
    "}"
  )
  paste0(paste(c(header, data_block, parameters_block, model_block),
               collapse = "\n"), "\n")
}

# The data list of formula_stan_code() for one data frame: rows with a
# missing response are left out (they carry no likelihood), and so are
# groups left without rows (their effects integrate to one).
formula_stan_data <- function(model, data, arg = "data",
                              call = rlang::caller_env()) {
  if (!is.data.frame(data)) {
    abort_deepbmc(
      c(
        "{.arg {arg}} must be a data frame with the columns of the models'
         formulas.",
        x = "You supplied {describe_value(data)}."
      ),
      "data",
      call = call
    )
  }
  needed <- unique(c(model$response, model$trials, model$group,
                     all.vars(model$fixed), all.vars(model$random)))
  missing_columns <- setdiff(needed, names(data))
  if (length(missing_columns) > 0) {
    abort_deepbmc("{.arg {arg}} lacks column{?s} {.val {missing_columns}}.",
                  "data", call = call)
  }
  response <- data[[model$response]]
  keep <- !is.na(response)
  if (!any(keep)) {
    abort_deepbmc("{.arg {arg}} has no observed response.", "data",
                  call = call)
  }
  data <- data[keep, , drop = FALSE]
  group <- data[[model$group]]
  if (anyNA(group)) {
    abort_deepbmc(
      "The grouping column {.val {model$group}} of {.arg {arg}} has missing
       values.",
      "data",
      call = call
    )
  }
  frame <- model_frames(model, data, fixed_terms = model$fixed_terms,
                        random_terms = model$random_terms, arg = arg,
                        call = call)
  y <- as.double(data[[model$response]])
  check_response_values(y, frame$trials, model$family, call = call)
  group <- factor(group)
  out <- list(
    N = length(y),
    G = nlevels(group),
    g = as.integer(group),
    Z = unname(frame$z)
  )
  if (ncol(frame$x) > 0) {
    out$X <- unname(frame$x)
  }
  out$y <- if (model$family$family %in% c("gaussian", "lognormal")) {
    y
  } else {
    as.integer(round(y))
  }
  if (model$family$family == "binomial") {
    out$trials <- as.integer(frame$trials)
  }
  out
}
