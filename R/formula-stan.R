# Stan programs generated from formula models, and their data lists: the
# complete log joint density of each model (see R/stan-code.R), from the
# same compiled specification that the C++ simulator reads.

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
    ),
    uniform = sprintf("uniform_lpdf(%s | %s, %s)", par, n(p1), n(p2)),
    gamma = sprintf("gamma_lpdf(%s | %s, %s)", par, n(p1), n(p2)),
    beta = sprintf("beta_lpdf(%s | %s, %s)", par, n(p1), n(p2))
  )
}

# The support of a prior narrower than its class's (the real line, or
# (0, Inf) for positive classes), as c(lower, upper) Stan literals, or NULL:
# the sampler must not leave it, so the parameter gets these bounds.
stan_prior_bounds <- function(kind, p1, p2, lower = NULL) {
  switch(names(prior_codes)[prior_codes == kind],
    uniform = c(stan_number(max(p1, lower)), stan_number(p2)),
    beta = c("0", "1"),
    NULL
  )
}

# Text from the user's data made safe for a `//` comment: control
# characters (line breaks above all) become spaces.
stan_comment <- function(text) {
  gsub("[[:cntrl:]]", " ", text)
}

# The parameters of one class (one prior per element): the declarations of
# its free parameters (a vector `free_name`, with `lower` bound if given, and
# scalars `free_name_<j>` for priors of narrower support), Stan code that
# fills the local vector `target_name` from them and constants, and their
# prior statements. A `lower` bound above 0 truncates the priors there (nu
# >= 1): their densities are divided by the mass above it.
stan_class_code <- function(priors, target_name, free_name, labels,
                            lower = NULL) {
  truncated <- !is.null(lower) && lower > 0
  assign <- character()
  lpdf <- character()
  bounded <- character()
  free <- 0L
  for (j in seq_along(priors$kind)) {
    kind <- priors$kind[[j]]
    if (kind == prior_codes[["constant"]]) {
      assign <- c(assign, sprintf("  %s[%d] = %s;  // %s (constant)",
                                  target_name, j, stan_number(priors$p1[[j]]),
                                  labels[[j]]))
      next
    }
    bounds <- stan_prior_bounds(kind, priors$p1[[j]], priors$p2[[j]], lower)
    if (is.null(bounds)) {
      free <- free + 1L
      par <- sprintf("%s[%d]", free_name, free)
    } else {
      par <- sprintf("%s_%d", free_name, j)
      bounded <- c(bounded, sprintf("  real<lower=%s, upper=%s> %s;",
                                    bounds[[1]], bounds[[2]], par))
    }
    assign <- c(assign, sprintf("  %s[%d] = %s;  // %s", target_name, j,
                                par, labels[[j]]))
    density <- stan_prior_lpdf(kind, priors$p1[[j]], priors$p2[[j]],
                               priors$p3[[j]], par)
    if (truncated) {
      row <- list(distribution = names(prior_codes)[prior_codes == kind],
                  p1 = priors$p1[[j]], p2 = priors$p2[[j]])
      density <- sprintf("%s - (%s)", density,
                         stan_number(prior_log_mass_above(row, lower)))
    }
    lpdf <- c(lpdf, sprintf("  target += %s;  // %s", density, labels[[j]]))
  }
  declare <- c(
    if (free > 0) {
      sprintf("  vector%s[%d] %s;",
              if (is.null(lower)) "" else sprintf("<lower=%s>", lower),
              free, free_name)
    },
    bounded
  )
  list(assign = assign, lpdf = lpdf, declare = declare)
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
  info <- family_info(model$family)
  has_sigma <- info$sigma
  correlated <- isTRUE(spec$correlated)
  has_offset <- has_offset_term(model)

  b <- stan_class_code(spec$b_prior, "beta", "b",
                       ifelse(x_names == "(Intercept)", "Intercept", x_names))
  sd <- stan_class_code(spec$sd_prior, "sd_g", "sd_free",
                        paste("sd of", z_names), lower = 0)
  sigma <- if (has_sigma) {
    stan_class_code(spec$sigma_prior, "sigma_v", "sigma_free", "sigma",
                    lower = 0)
  }
  has_olre <- isTRUE(spec$olre)
  olre <- if (has_olre) {
    stan_class_code(spec$olre_prior, "sd_obs_v", "sd_obs_free",
                    paste("sd of", stan_comment(model$olre)), lower = 0)
  }
  has_aux <- !is.null(info$aux)
  aux <- if (has_aux) {
    stan_class_code(spec$aux_prior, "aux_v", "aux_free", info$aux,
                    lower = info$aux_lower)
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
                  paste0(" ", stan_comment(model$prior$coef)), ""),
           if (has_olre) {
             ifelse(model$prior$group %in% model$olre,
                    paste0(" (", stan_comment(model$olre), ")"), "")
           }),
    "// The complete log joint density (target += with all normalising",
    if (q > 0) {
      "// constants) for bridge sampling; group-level effects non-centred."
    } else {
      "// constants) for bridge sampling; no group-level effects."
    },
    if (has_olre) {
      "// Observation-level effects sd_obs * z_obs, non-centred."
    }
  )

  y_decl <- sprintf("  %-36s// response", info$stan_response)
  data_block <- c(
    "data {",
    "  int<lower=1> N;                     // observations",
    if (q > 0) {
      c("  int<lower=1> G;                     // groups",
        "  int<lower=1, upper=G> g[N];         // group of each observation")
    },
    if (p > 0) sprintf("  matrix[N, %d] X;                    // %s", p,
                       paste(x_names, collapse = ", ")),
    if (q > 0) {
      sprintf("  matrix[N, %d] Z;                    // %s", q,
              paste(z_names, collapse = ", "))
    },
    if (has_offset) "  vector[N] eta_offset;               // offset",
    y_decl,
    if (info$trials) "  int<lower=1> trials[N];             // trials",
    "}"
  )
  parameters_block <- c(
    "parameters {",
    b$declare,
    sd$declare,
    if (correlated) sprintf("  cholesky_factor_corr[%d] L_cor;", q),
    sigma$declare,
    aux$declare,
    olre$declare,
    if (q > 0) {
      sprintf("  matrix[%d, G] z;                    // standardised group effects",
              q)
    },
    if (has_olre) {
      "  vector[N] z_obs;                    // standardised observation effects"
    },
    "}"
  )
  group_effects <- if (correlated) {
    "  u = (diag_pre_multiply(sd_g, L_cor) * z)';"
  } else {
    "  u = diag_pre_multiply(sd_g, z)';"
  }
  eta_terms <- c(if (p > 0) "X * beta", if (q > 0) "rows_dot_product(Z, u[g])",
                 if (has_offset) "eta_offset")
  # A model with neither coefficients, group effects nor offset has eta = 0.
  eta <- paste0("  eta = ", if (length(eta_terms) > 0) {
    paste(eta_terms, collapse = " + ")
  } else {
    "rep_vector(0, N)"
  }, ";")
  if (has_olre) {
    eta <- c(eta, "  eta += sd_obs_v[1] * z_obs;")
  }
  likelihood <- paste0("  target += ", info$stan_likelihood[[link]], ";")
  model_block <- c(
    "model {",
    if (p > 0) sprintf("  vector[%d] beta;", p),
    if (q > 0) sprintf("  vector[%d] sd_g;", q),
    if (has_sigma) "  vector[1] sigma_v;",
    if (has_aux) "  vector[1] aux_v;                    // nu, shape or phi",
    if (has_olre) "  vector[1] sd_obs_v;                 // sd of the OLRE",
    if (q > 0) {
      sprintf("  matrix[G, %d] u;                    // group effects", q)
    },
    "  vector[N] eta;",
    if (p > 0) b$assign,
    sd$assign,
    if (has_sigma) sigma$assign,
    if (has_aux) aux$assign,
    if (has_olre) olre$assign,
    "  // priors",
    b$lpdf,
    sd$lpdf,
    if (correlated) sprintf("  target += lkj_corr_cholesky_lpdf(L_cor | %s);",
                            stan_number(spec$cor_eta)),
    if (has_sigma) sigma$lpdf,
    if (has_aux) aux$lpdf,
    if (has_olre) olre$lpdf,
    if (q > 0) {
      c("  // group-level effects",
        "  target += std_normal_lpdf(to_vector(z));",
        group_effects)
    },
    if (has_olre) {
      c("  // observation-level effects",
        "  target += std_normal_lpdf(z_obs);")
    },
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
  check_formula_columns(list(model), data, arg, call)
  data <- data[!is.na(data[[model$response]]), , drop = FALSE]
  frame <- model_frames(model, data, fixed_terms = model$fixed_terms,
                        random_terms = model$random_terms, arg = arg,
                        call = call)
  y <- response_numbers(model, data, arg, call)
  check_response_values(y, frame$trials, model$family, call = call)
  out <- list(N = length(y))
  if (ncol(frame$z) > 0) {
    group <- factor(data[[model$group]])
    out$G <- nlevels(group)
    out$g <- as.integer(group)
    out$Z <- unname(frame$z)
  }
  if (ncol(frame$x) > 0) {
    out$X <- unname(frame$x)
  }
  if (has_offset_term(model)) {
    out$eta_offset <- as.array(frame$offset)
  }
  info <- family_info(model$family)
  out$y <- if (info$discrete) as.integer(round(y)) else y
  if (info$trials) {
    out$trials <- as.integer(frame$trials)
  }
  out
}

# Whether a model's formula has offset() terms (their values may be 0).
has_offset_term <- function(model) {
  length(attr(model$fixed_terms$terms, "offset")) > 0
}
