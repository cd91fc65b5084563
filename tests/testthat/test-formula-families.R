# Formula models from end to end, family by family: models written with
# hier_model() and hier_prior(), combined with model_set() and drawn with
# simulate_datasets(). They are compared with an independent plain-R
# simulation of the same models, written here from the documented semantics
# (?hier_model, ?hier_prior, the header of src/formula_models.h) with rnorm,
# rbinom, rpois, rlnorm and so on, never with the package.
# test-formula-simulator.R checks the C++ simulator on specs built by hand.
# This file checks the whole path from formulas: parsing, model matrices,
# priors, compilation, simulation and the data frames that come back.
#
# Each model's moments are compared over many data sets:
#   * the mean and the variance of the response (as a share of trials for
#     binomial) over all rows and data sets;
#   * the mean, within data sets, of the between-group variance of the group
#     means;
#   * the mean per-data-set OLS slope of the response on x;
#   * with a group-level slope, the mean squared correlation of the groups'
#     OLS intercepts and slopes. Through E[r^2] this is sensitive to the LKJ
#     correlation, which the other moments average out.
# A difference passes when it is under 5 Monte Carlo standard errors of the
# two simulations combined. The SEs are estimated over data sets; for the
# variance they come from the delta method.

# Seeds: R's generator for the reference and the template, and
# simulate_datasets().
ff_seeds <- list(r = 501, sim = 502)

# ---- Template design -----------------------------------------------------------

# 15 unbalanced groups of 3 to 8 rows (90 in all). x is a numeric covariate in
# [-1, 1] with distinct values; cond is a two-level factor; n gives binomial
# trial counts from 1 to 12. There is one response column per family. Rows are
# shuffled, so a group's rows are not contiguous in the template. `id` is
# the template row: it is carried into the simulated data frames like any
# other column.
ff_template <- function(seed = ff_seeds$r) {
  withr::local_seed(seed)
  sizes <- c(3, 4, 5, 5, 6, 6, 6, 6, 6, 6, 7, 7, 7, 8, 8)
  N <- sum(sizes)
  data <- data.frame(
    g = rep(sprintf("s%02d", seq_along(sizes)), sizes),
    x = sample(seq(-1, 1, by = 0.01), N),
    cond = factor(ifelse(sequence(sizes) %% 2 == 0, "b", "a")),
    n = sample(1:12, N, replace = TRUE)
  )
  data$y <- stats::rnorm(N, 1, 1)
  data$yb <- stats::rbinom(N, 1, 0.4)
  data$k <- stats::rbinom(N, data$n, 0.4)
  data$cnt <- stats::rpois(N, 3)
  data$rt <- stats::rlnorm(N, -0.5, 0.4)
  data <- data[sample(N), ]
  # Proportions for the beta family, without drawing: the template's other
  # columns stay what they were before it.
  data$prop <- stats::plogis(2 * data$x + 0.3 * (data$cond == "b"))
  data$id <- seq_len(N)
  rownames(data) <- NULL
  data
}

# The same template with some responses missing: scattered rows and a whole
# group (s01, 3 rows).
ff_template_missing <- function() {
  data <- ff_template()
  missing <- c(2, 9, 17, 30, 44, 61, 75, 88)
  missing <- union(missing, which(data$g == "s01"))
  for (response in c("y", "yb", "k", "cnt", "rt", "prop")) {
    data[[response]][missing] <- NA
  }
  data
}

# ---- Models -----------------------------------------------------------------

# Each family's two models. Each model gives its formula and its priors, all
# of them as strings: `b` by model-matrix column (Intercept for the
# intercept), `sd` by group-level effect, `cor` and `sigma`. The same strings
# go to hier_prior() and to the reference simulation. Priors on sd and sigma
# that are written as normal(0, s) or student_t(nu, 0, s) are their half
# versions, as documented. Log-scale models (poisson, lognormal) keep narrow
# half-normal priors on their scales. Then the fourth moments of the response
# that the SEs of the variance need stay finite: E[exp(c s^2)] is finite for
# s ~ Half-Normal(tau) only when c < 1 / (2 tau^2), and never for an
# exponential s.
ff_cases <- function() {
  list(
    gaussian = list(
      family = gaussian(), response = "y", ref_family = "gaussian",
      link = "identity",
      models = list(
        M1 = list(
          formula = y ~ 1 + cond + (1 | g),
          b = c(Intercept = "student_t(8, 1, 0.5)", condb = "normal(-0.5, 0.3)"),
          sd = c(Intercept = "student_t(10, 0, 0.5)"),
          sigma = "half_normal_variance(0.3)"
        ),
        M2 = list(
          formula = y ~ 1 + x + cond + (1 + x | g),
          b = c(Intercept = "normal(1, 0.5)", x = "normal(0.8, 0.3)",
                condb = "normal(0, 0.3)"),
          sd = c(Intercept = "half_student_t(8, 0.6)", x = "exponential(1)"),
          cor = "lkj(1.5)",
          sigma = "exponential(4)"
        )
      ),
      # A simulator that ignored the correlation would be caught by the
      # squared intercept-slope correlation.
      mutant = list(model = "M2", change = function(model, data) {
        model$cor <- NULL
        list(model = model, data = data)
      })
    ),
    bernoulli_logit = list(
      family = "bernoulli", response = "yb", ref_family = "bernoulli",
      link = "logit",
      models = list(
        M1 = list(
          formula = yb ~ 1 + (1 | g),
          b = c(Intercept = "normal(0, 1)"),
          sd = c(Intercept = "half_normal(1)")
        ),
        M2 = list(
          formula = yb ~ 1 + x + cond + (1 + x || g),
          b = c(Intercept = "normal(0.5, 0.5)", x = "normal(1, 0.5)",
                condb = "normal(-0.5, 0.5)"),
          sd = c(Intercept = "half_normal(1)", x = "half_normal(1.5)")
        )
      )
    ),
    bernoulli_probit = list(
      # binomial() without trials() is Bernoulli
      family = binomial(link = "probit"), response = "yb",
      ref_family = "bernoulli", link = "probit",
      models = list(
        M1 = list(
          formula = yb ~ 1 + x + (1 | g),
          b = c(Intercept = "normal(0, 0.5)", x = "normal(0.5, 0.3)"),
          sd = c(Intercept = "half_normal(0.5)")
        ),
        M2 = list(
          formula = yb ~ 1 + x + cond + (1 + x | g),
          b = c(Intercept = "normal(-0.3, 0.5)", x = "normal(0.7, 0.3)",
                condb = "normal(0.5, 0.3)"),
          sd = c(Intercept = "half_normal(0.8)", x = "half_normal(0.8)"),
          cor = "lkj(1)"
        )
      ),
      # With a logit link, the slope on the probability scale is flatter.
      mutant = list(model = "M2", change = function(model, data) {
        model$link <- "logit"
        list(model = model, data = data)
      })
    ),
    binomial_logit = list(
      family = binomial(), response = "k", ref_family = "binomial",
      link = "logit",
      models = list(
        M1 = list(
          formula = k | trials(n) ~ 0 + cond + (1 | g),
          b = c(conda = "normal(-0.5, 0.5)", condb = "normal(0.5, 0.5)"),
          sd = c(Intercept = "half_normal(0.8)")
        ),
        M2 = list(
          formula = k | trials(n) ~ 1 + x + (1 + x || g),
          b = c(Intercept = "normal(0, 0.5)", x = "normal(-0.8, 0.4)"),
          sd = c(Intercept = "half_normal(0.6)", x = "half_normal(1)")
        )
      ),
      # One trial per row instead of n: shares vary far more.
      mutant = list(model = "M1", change = function(model, data) {
        data$n <- 1L
        list(model = model, data = data)
      })
    ),
    poisson_log = list(
      family = poisson(), response = "cnt", ref_family = "poisson",
      link = "log",
      models = list(
        M1 = list(
          formula = cnt ~ 1 + x + (1 | g),
          b = c(Intercept = "normal(1, 0.3)", x = "normal(0.5, 0.2)"),
          sd = c(Intercept = "half_normal(0.2)")
        ),
        M2 = list(
          formula = cnt ~ 1 + x + cond + (1 + x | g),
          b = c(Intercept = "normal(1, 0.3)", x = "normal(0.3, 0.2)",
                condb = "normal(-0.4, 0.2)"),
          sd = c(Intercept = "half_normal(0.2)", x = "half_normal(0.2)"),
          cor = "lkj(2)"
        )
      )
    ),
    lognormal = list(
      family = "lognormal", response = "rt", ref_family = "lognormal",
      link = "identity",
      models = list(
        M1 = list(
          formula = rt ~ 1 + cond + (1 | g),
          b = c(Intercept = "normal(-0.5, 0.3)", condb = "normal(0.3, 0.2)"),
          sd = c(Intercept = "half_normal(0.2)"),
          sigma = "normal(0, 0.15)"
        ),
        M2 = list(
          formula = rt ~ 1 + x + (1 + x || g),
          b = c(Intercept = "normal(-0.5, 0.3)", x = "normal(0.4, 0.2)"),
          sd = c(Intercept = "half_normal(0.2)", x = "half_normal(0.2)"),
          sigma = "half_normal(0.15)"
        )
      )
    ),
    # nu above 4, so that the fourth moments the variance's SE needs exist.
    student = list(
      family = "student", response = "y", ref_family = "student",
      link = "identity",
      models = list(
        M1 = list(
          formula = y ~ 1 + x + (1 | g),
          b = c(Intercept = "normal(1, 0.5)", x = "uniform(0.2, 1)"),
          sd = c(Intercept = "uniform(0.1, 0.8)"),
          sigma = "gamma(20, 40)",
          aux = c(nu = "uniform(5, 8)")
        ),
        M2 = list(
          formula = y ~ 1 + cond + (1 + x | g),
          b = c(Intercept = "normal(1, 0.5)", condb = "normal(0, 0.3)"),
          sd = c(Intercept = "half_normal(0.5)", x = "beta(2, 4)"),
          cor = "lkj(2)",
          sigma = "exponential(2)",
          aux = c(nu = "constant(6)")
        )
      ),
      # A normal instead of the Student-t has a smaller variance.
      mutant = list(model = "M1", change = function(model, data) {
        model$family <- "gaussian"
        list(model = model, data = data)
      })
    ),
    negbinomial = list(
      family = "negbinomial", response = "cnt", ref_family = "negbinomial",
      link = "log",
      models = list(
        M1 = list(
          formula = cnt ~ 1 + x + (1 | g),
          b = c(Intercept = "normal(1, 0.3)", x = "normal(0.5, 0.2)"),
          sd = c(Intercept = "half_normal(0.2)"),
          aux = c(shape = "gamma(8, 2)")
        ),
        M2 = list(
          formula = cnt ~ 1 + cond + (1 | g),
          b = c(Intercept = "normal(1, 0.3)", condb = "normal(-0.4, 0.2)"),
          sd = c(Intercept = "gamma(4, 20)"),
          aux = c(shape = "uniform(1, 3)")
        )
      ),
      # Poisson counts have no overdispersion.
      mutant = list(model = "M1", change = function(model, data) {
        model$family <- "poisson"
        list(model = model, data = data)
      })
    ),
    gamma = list(
      family = Gamma(link = "log"), response = "rt", ref_family = "gamma",
      link = "log",
      models = list(
        M1 = list(
          formula = rt ~ 1 + cond + (1 | g),
          b = c(Intercept = "normal(-0.5, 0.3)", condb = "normal(0.3, 0.2)"),
          sd = c(Intercept = "half_normal(0.2)"),
          aux = c(shape = "gamma(10, 1)")
        ),
        M2 = list(
          formula = rt ~ 1 + x + (1 + x || g),
          b = c(Intercept = "normal(-0.5, 0.3)", x = "normal(0.4, 0.2)"),
          sd = c(Intercept = "half_normal(0.2)", x = "half_normal(0.2)"),
          aux = c(shape = "uniform(4, 12)")
        )
      ),
      # shape read as a scale: the variance is far larger.
      mutant = list(model = "M1", change = function(model, data) {
        model$shape_as_scale <- TRUE
        list(model = model, data = data)
      })
    ),
    beta = list(
      family = "beta", response = "prop", ref_family = "beta",
      link = "logit",
      models = list(
        M1 = list(
          formula = prop ~ 1 + x + (1 | g),
          b = c(Intercept = "normal(0, 0.5)", x = "normal(1, 0.5)"),
          sd = c(Intercept = "beta(2, 5)"),
          aux = c(phi = "gamma(20, 1)")
        ),
        M2 = list(
          formula = prop ~ 1 + cond + (1 + x || g),
          b = c(Intercept = "normal(0.3, 0.5)", condb = "normal(-0.3, 0.3)"),
          sd = c(Intercept = "half_normal(0.5)", x = "half_normal(0.5)"),
          aux = c(phi = "uniform(5, 30)")
        )
      )
    ),
    poisson_sqrt = list(
      family = poisson(link = "sqrt"), response = "cnt",
      ref_family = "poisson", link = "sqrt",
      models = list(
        M1 = list(
          formula = cnt ~ 1 + x + (1 | g),
          b = c(Intercept = "normal(1.7, 0.2)", x = "normal(0.3, 0.1)"),
          sd = c(Intercept = "half_normal(0.2)")
        ),
        M2 = list(
          formula = cnt ~ 1 + cond + (1 | g),
          b = c(Intercept = "normal(1.7, 0.2)", condb = "normal(-0.3, 0.1)"),
          sd = c(Intercept = "half_normal(0.3)")
        )
      ),
      # The log link's mean exp(eta) is far from eta^2.
      mutant = list(model = "M1", change = function(model, data) {
        model$link <- "log"
        list(model = model, data = data)
      })
    )
  )
}

# The priors of one model as hier_prior() objects. Each string is passed as
# a plain variable: hier_prior() deparses any call it is given (so that
# hier_prior(normal(0, 1)) works), and that includes model$b[[coef]].
ff_priors <- function(model) {
  priors <- list()
  add <- function(p) priors[[length(priors) + 1]] <<- p
  for (coef in names(model$b)) {
    text <- model$b[[coef]]
    add(if (coef == "Intercept") {
      hier_prior(text, class = "Intercept")
    } else {
      hier_prior(text, class = "b", coef = coef)
    })
  }
  for (coef in names(model$sd)) {
    text <- model$sd[[coef]]
    add(hier_prior(text, class = "sd", coef = coef))
  }
  if (!is.null(model$cor)) {
    text <- model$cor
    add(hier_prior(text, class = "cor"))
  }
  if (!is.null(model$sigma)) {
    text <- model$sigma
    add(hier_prior(text, class = "sigma"))
  }
  if (!is.null(model$aux)) {
    text <- model$aux[[1]]
    add(hier_prior(text, class = names(model$aux)))
  }
  do.call(c, priors)
}

ff_hier_model <- function(case, model, data) {
  hier_model(model$formula, data, family = case$family,
             prior = ff_priors(model))
}

ff_model_set <- function(case, data, ...) {
  models <- lapply(case$models, ff_hier_model, case = case, data = data)
  do.call(model_set, c(models, list(...)))
}

# ---- Plain-R reference simulation ---------------------------------------------

# n draws from the prior written in `text`, as documented for hier_prior().
# `bounded` for sd and sigma, where normal() and student_t() centred at 0 are
# their half versions.
ff_draw <- function(text, n, bounded = FALSE) {
  half <- function(draws) if (bounded) abs(draws) else draws
  distributions <- list(
    constant = function(value) rep(value, n),
    normal = function(mu, sigma) half(stats::rnorm(n, mu, sigma)),
    student_t = function(nu, mu, sigma) half(mu + sigma * stats::rt(n, nu)),
    half_normal = function(sigma) abs(stats::rnorm(n, 0, sigma)),
    half_student_t = function(nu, sigma) sigma * abs(stats::rt(n, nu)),
    exponential = function(rate) stats::rexp(n, rate),
    half_normal_variance = function(sigma) sqrt(abs(stats::rnorm(n, 0, sigma))),
    uniform = function(lower, upper) stats::runif(n, lower, upper),
    gamma = function(shape, rate) stats::rgamma(n, shape, rate),
    beta = function(a, b) stats::rbeta(n, a, b),
    # Q = 2: (r + 1) / 2 ~ Beta(eta, eta)
    lkj = function(eta) 2 * stats::rbeta(n, eta, eta) - 1
  )
  eval(str2lang(text), distributions, baseenv())
}

# Model-matrix columns by name, written out for the template's covariates.
ff_columns <- function(data) {
  list(
    Intercept = rep(1, nrow(data)),
    x = data$x,
    conda = as.double(data$cond == "a"),
    condb = as.double(data$cond == "b")
  )
}

# n data sets of `model` on the rows of `data`, as a rows x n matrix of
# responses. Each data set draws its parameters from the priors, its group
# effects u_1 = sd_1 z_1 and u_2 = sd_2 (r z_1 + sqrt(1 - r^2) z_2) (r = 0
# when they are uncorrelated), its linear predictor and its responses.
ff_reference <- function(model, data, n) {
  N <- nrow(data)
  group <- as.integer(factor(data$g))
  G <- max(group)
  columns <- ff_columns(data)
  eta <- matrix(0, N, n)
  for (coef in names(model$b)) {
    eta <- eta + outer(columns[[coef]], ff_draw(model$b[[coef]], n))
  }
  effects <- names(model$sd)
  z1 <- matrix(stats::rnorm(G * n), G)
  u1 <- sweep(z1, 2, ff_draw(model$sd[[1]], n, bounded = TRUE), `*`)
  eta <- eta + columns[[effects[[1]]]] * u1[group, , drop = FALSE]
  if (length(effects) == 2) {
    r <- if (is.null(model$cor)) rep(0, n) else ff_draw(model$cor, n)
    z2 <- matrix(stats::rnorm(G * n), G)
    u2 <- sweep(
      sweep(z1, 2, r, `*`) + sweep(z2, 2, sqrt(1 - r^2), `*`),
      2, ff_draw(model$sd[[2]], n, bounded = TRUE), `*`
    )
    eta <- eta + columns[[effects[[2]]]] * u2[group, , drop = FALSE]
  }
  sigma <- if (!is.null(model$sigma)) {
    rep(ff_draw(model$sigma, n, bounded = TRUE), each = N)
  }
  # nu, shape or phi
  aux <- if (!is.null(model$aux)) {
    rep(ff_draw(model$aux[[1]], n, bounded = TRUE), each = N)
  }
  mu <- switch(model$link,
    identity = eta, logit = stats::plogis(eta), probit = stats::pnorm(eta),
    log = exp(eta), sqrt = eta^2
  )
  gamma_rate <- if (isTRUE(model$shape_as_scale)) 1 / (aux * mu) else aux / mu
  # Vectors of length N (trials) recycle down the columns: row i gets its own.
  y <- switch(model$family,
    gaussian = stats::rnorm(N * n, mu, sigma),
    bernoulli = stats::rbinom(N * n, 1, mu),
    binomial = stats::rbinom(N * n, data$n, mu),
    poisson = stats::rpois(N * n, mu),
    lognormal = stats::rlnorm(N * n, mu, sigma),
    student = mu + sigma * stats::rt(N * n, aux),
    negbinomial = stats::rnbinom(N * n, size = aux, mu = mu),
    gamma = stats::rgamma(N * n, aux, gamma_rate),
    beta = stats::rbeta(N * n, mu * aux, (1 - mu) * aux)
  )
  matrix(as.double(y), N)
}

# ---- Moments ------------------------------------------------------------------

col_var <- function(m) (colSums(m^2) - nrow(m) * colMeans(m)^2) / (nrow(m) - 1)

col_cor <- function(a, b) {
  a <- sweep(a, 2, colMeans(a))
  b <- sweep(b, 2, colMeans(b))
  colSums(a * b) / sqrt(colSums(a^2) * colSums(b^2))
}

# Statistics of each data set (one column of Y, responses of the rows whose
# covariate is x and group `group`), one row per data set. A binomial response
# is taken as a share of its trials.
ff_stats <- function(Y, x, group, trials) {
  Y <- Y / trials
  group <- as.integer(factor(group))
  sizes <- tabulate(group)
  means <- rowsum(Y, group, reorder = TRUE) / sizes
  xc <- x - mean(x)
  # per-group OLS of y on x
  x_mean <- as.vector(rowsum(x, group, reorder = TRUE)) / sizes
  xg <- x - x_mean[group]
  slopes <- rowsum(xg * Y, group, reorder = TRUE) /
    as.vector(rowsum(xg^2, group, reorder = TRUE))
  intercepts <- means - slopes * x_mean
  cbind(
    mean = colMeans(Y),
    square = colMeans(Y^2),
    between = col_var(means),
    slope = colSums(xc * Y) / sum(xc^2),
    # NaN when a data set's group slopes are all equal (all responses 0)
    cor2 = suppressWarnings(col_cor(intercepts, slopes))^2
  )
}

# Each moment of two simulations: the estimates and the difference in units
# of the combined standard error.
ff_compare <- function(ours, ref, moments) {
  mean_se <- function(v) {
    v <- v[is.finite(v)]
    c(mean(v), stats::sd(v) / sqrt(length(v)))
  }
  # Var(y) = E[y^2] - E[y]^2 over all rows and data sets (each data set has
  # the same rows); SE by the delta method from the per-data-set influence
  # square - 2 E[y] mean.
  variance_se <- function(s) {
    m <- mean(s[, "mean"])
    c(mean(s[, "square"]) - m^2,
      stats::sd(s[, "square"] - 2 * m * s[, "mean"]) / sqrt(nrow(s)))
  }
  estimate <- function(s, moment) {
    if (moment == "variance") variance_se(s) else mean_se(s[, moment])
  }
  out <- lapply(moments, function(moment) {
    a <- estimate(ours, moment)
    b <- estimate(ref, moment)
    data.frame(moment = moment, ours = a[[1]], reference = b[[1]],
               z = (a[[1]] - b[[1]]) / sqrt(a[[2]]^2 + b[[2]]^2))
  })
  do.call(rbind, out)
}

ff_moments <- function(model) {
  moments <- c("mean", "variance", "between", "slope")
  if ("x" %in% names(model$sd)) moments <- c(moments, "cor2")
  moments
}

# ---- Checks -----------------------------------------------------------------

# The family's support, for responses recovered from the simulator.
ff_expect_support <- function(y, family, trials, label) {
  y <- as.vector(y)
  ok <- switch(family,
    gaussian = is.finite(y),
    bernoulli = y %in% c(0, 1),
    binomial = y >= 0 & y <= trials & y == round(y),
    poisson = , negbinomial = y >= 0 & y == round(y) & is.finite(y),
    lognormal = , gamma = is.finite(y) & y > 0,
    student = is.finite(y),
    beta = y > 0 & y < 1
  )
  expect_true(all(ok), label = paste(label, "responses in the family's support"))
}

# Every simulated data frame has the template's rows, columns, covariates and
# grouping (in the simulator's row order, the same for every data set). The
# first frame is returned.
ff_expect_fixed_design <- function(frames, template, label) {
  first <- frames[[1]]
  N <- nrow(template)
  same_names <- vapply(frames, function(frame) {
    identical(names(frame), names(template))
  }, logical(1))
  expect_true(all(same_names), label = paste(label, "columns of every data set"))
  # column by column, as a rows x data sets matrix equal to the first's
  for (column in c("id", "g", "x", "cond", "n")) {
    values <- vapply(frames, function(frame) as.double(.subset2(frame, column)),
                     numeric(N))
    expect_true(all(values == as.double(first[[column]])),
                label = paste(label, column, "the same in every data set"))
  }
  expect_setequal(first$id, template$id)
  expect_identical(first$x, template$x[first$id])
  expect_identical(first$cond, template$cond[first$id])
  expect_identical(first$n, template$n[first$id])
  # the same partition into groups, relabelled
  pairs <- unique(data.frame(sim = first$g, template = template$g[first$id]))
  expect_identical(nrow(pairs), length(unique(template$g)))
  expect_false(anyDuplicated(pairs$sim) > 0 || anyDuplicated(pairs$template) > 0)
  first
}

# ---- Moments of every family -----------------------------------------------------

test_that("each family's models simulate as their plain-R reference does", {
  template <- ff_template()
  cases <- ff_cases()
  n_sims <- 4000
  n_ref <- 2000
  withr::local_seed(ff_seeds$r + 1)
  for (case_name in names(cases)) {
    case <- cases[[case_name]]
    set <- ff_model_set(case, template)
    # the formulas and priors came through as written
    for (model in set$models) {
      expect_identical(model$family,
                       list(family = case$ref_family, link = case$link))
      expect_true(all(model$prior$source == "user"),
                  label = paste(case_name, "every prior is the user's"))
    }
    sims <- simulate_datasets(set, n = n_sims,
                              seed = ff_seeds$sim + match(case_name, names(cases)))
    first <- ff_expect_fixed_design(sims$data, template, case_name)
    N <- nrow(template)
    Y <- vapply(sims$data, function(frame) {
      as.double(.subset2(frame, case$response))
    }, numeric(N))
    trials <- if (case$ref_family == "binomial") first$n else 1
    ff_expect_support(Y, case$ref_family, trials, case_name)
    # models drawn uniformly
    expect_lt(abs(mean(sims$model == 1) - 0.5), 5 * sqrt(0.25 / n_sims),
              label = paste(case_name, "share of M1"))

    for (k in seq_along(case$models)) {
      model <- case$models[[k]]
      model$family <- case$ref_family
      model$link <- case$link
      label <- paste(case_name, names(case$models)[[k]])
      ours <- ff_stats(Y[, sims$model == k, drop = FALSE], first$x, first$g,
                       trials)
      ref_y <- ff_reference(model, template, n_ref)
      ref_trials <- if (case$ref_family == "binomial") template$n else 1
      ref <- ff_stats(ref_y, template$x, template$g, ref_trials)
      gaps <- ff_compare(ours, ref, ff_moments(model))
      for (i in seq_len(nrow(gaps))) {
        expect_lt(
          abs(gaps$z[[i]]), 5,
          label = sprintf("%s %s: package %.5g, reference %.5g, |z|", label,
                          gaps$moment[[i]], gaps$ours[[i]],
                          gaps$reference[[i]])
        )
      }

      # The comparison has the power to catch a plausible simulator bug: a
      # reference with that bug differs by more than the tolerance.
      if (!is.null(case$mutant) && case$mutant$model == names(case$models)[[k]]) {
        wrong <- case$mutant$change(model, template)
        wrong_trials <- if (case$ref_family == "binomial") wrong$data$n else 1
        mutant <- ff_stats(ff_reference(wrong$model, wrong$data, n_ref),
                           wrong$data$x, wrong$data$g, wrong_trials)
        mutant_gaps <- ff_compare(ours, mutant, ff_moments(model))
        expect_gt(max(abs(mutant_gaps$z)), 5,
                  label = paste(label, "largest |z| against a wrong reference"))
      }
    }
  }
})

test_that("the Student-t's nu is drawn from its prior truncated at 1", {
  template <- ff_template()
  # y = t_nu exactly: no fixed or group effects, sigma 1
  priors <- c(hier_prior("constant(0)", class = "sd"),
              hier_prior("constant(1)", class = "sigma"))
  heavy <- function(nu_prior) {
    hier_model(y ~ 0 + (1 | g), template, family = "student",
               prior = c(priors, hier_prior(nu_prior, class = "nu")))
  }
  set <- model_set(heavy("uniform(0.5, 1.5)"), heavy("uniform(1, 1.5)"))
  sims <- simulate_datasets(set, n = 2000, seed = ff_seeds$sim + 20)
  N <- nrow(template)
  # the share of |t| > 10, which nu below 1 would more than double
  tail_share <- function(nu, n) mean(abs(stats::rt(n * N, rep(nu, each = N))) > 10)
  withr::local_seed(ff_seeds$r + 20)
  n_ref <- 4000
  truncated <- tail_share(stats::runif(n_ref, 1, 1.5), n_ref)
  untruncated <- tail_share(stats::runif(n_ref, 0.5, 1.5), n_ref)
  for (k in 1:2) {
    y <- unlist(lapply(sims$data[sims$model == k], `[[`, "y"))
    ours <- mean(abs(y) > 10)
    # data sets share nu, so the SE is over data sets
    per_set <- vapply(sims$data[sims$model == k], function(frame) {
      mean(abs(frame$y) > 10)
    }, numeric(1))
    se <- sqrt(stats::var(per_set) / length(per_set) * 2)
    expect_lt(abs(ours - truncated), 5 * se,
              label = paste("model", k, "tail share against truncated nu"))
    expect_gt(abs(ours - untruncated), 5 * se)
  }
  # a prior with (almost) no mass above 1 is refused
  expect_deepbmc_error(heavy("uniform(0.1, 1)"), "value", "prior")
  expect_deepbmc_error(heavy("beta(2, 2)"), "value", "prior")
  expect_deepbmc_error(heavy("exponential(10)"), "value", "prior")
})

# ---- Missing responses, resampled designs, scaling -------------------------------

test_that("missing responses in the template stay missing in every data set", {
  template <- ff_template_missing()
  cases <- ff_cases()
  for (case_name in names(cases)) {
    case <- cases[[case_name]]
    set <- ff_model_set(case, template)
    sims <- simulate_datasets(set, n = 200, seed = ff_seeds$sim + 10)
    expect_setequal(unique(sims$model), 1:2)
    missing <- vapply(sims$data, function(frame) {
      identical(is.na(frame[[case$response]]),
                is.na(template[[case$response]][frame$id]))
    }, logical(1))
    expect_true(all(missing),
                label = paste(case_name, "NA exactly where the template has NA"))
    observed <- unlist(lapply(sims$data, function(frame) {
      frame[[case$response]][!is.na(frame[[case$response]])]
    }))
    trials <- unlist(lapply(sims$data, function(frame) {
      frame$n[!is.na(frame[[case$response]])]
    }))
    expect_identical(length(observed),
                     200L * sum(!is.na(template[[case$response]])))
    ff_expect_support(observed, case$ref_family, trials, case_name)
    # the responses are simulated, not copied from the template
    copied <- vapply(sims$data, function(frame) {
      identical(frame[[case$response]], template[[case$response]][frame$id])
    }, logical(1))
    expect_false(any(copied), label = paste(case_name, "a template copied"))
  }
  # in a resampled design too
  set <- ff_model_set(cases$poisson_log, template, design = "resample",
                      groups = c(10, 20))
  sims <- simulate_datasets(set, n = 100, seed = ff_seeds$sim + 11)
  missing <- vapply(sims$data, function(frame) {
    identical(is.na(frame$cnt), is.na(template$cnt[frame$id]))
  }, logical(1))
  expect_true(all(missing),
              label = "resampled: NA exactly where the template has NA")
  expect_true(any(vapply(sims$data, function(frame) anyNA(frame$cnt), logical(1))))
})

test_that("resampled designs are made of copies of whole template groups", {
  template <- ff_template_missing()
  set <- ff_model_set(ff_cases()$gaussian, template, design = "resample",
                      groups = c(4, 9))
  expect_identical(set$groups, c(4L, 9L))
  n <- 300
  sims <- simulate_datasets(set, n = n, seed = ff_seeds$sim + 12)
  template_rows <- split(template$id, template$g) # increasing ids per group
  template_x <- vapply(template_rows, function(rows) {
    paste(template$x[rows], collapse = " ")
  }, character(1))
  n_groups <- integer(n)
  repeats <- 0
  checks <- vapply(seq_len(n), function(d) {
    frame <- sims$data[[d]]
    groups <- split(seq_len(nrow(frame)), frame$g)
    n_groups[[d]] <<- length(groups)
    # the template group each simulated group came from
    sources <- template$g[frame$id[vapply(groups, `[[`, 1L, 1L)]]
    group_x <- vapply(groups, function(rows) {
      paste(frame$x[rows], collapse = " ")
    }, character(1))
    # groups drawn with replacement: copies of one template group are
    # separate groups with their own effects, so their responses differ
    repeated <- setdiff(sources[duplicated(sources)], "s01") # s01: all NA
    distinct_copies <- TRUE
    if (length(repeated) > 0) {
      copy <- which(sources == repeated[[1]])[1:2]
      distinct_copies <- !identical(frame$y[groups[[copy[[1]]]]],
                                    frame$y[groups[[copy[[2]]]]])
      repeats <<- repeats + 1
    }
    c(
      columns = identical(names(frame), names(template)),
      # groups labelled 1, 2, ... in order, each on contiguous rows
      labels = identical(levels(frame$g), as.character(seq_along(groups))) &&
        identical(as.integer(frame$g), rep(seq_along(groups), lengths(groups))),
      # each group's x is that of a template group, in its row order
      x_of_a_template_group = all(group_x %in% template_x),
      # ... of the group its rows came from, all of them, in order
      x_of_its_source = identical(unname(group_x), unname(template_x[sources])),
      whole_groups = identical(frame$id, unname(unlist(template_rows[sources]))),
      x = identical(frame$x, template$x[frame$id]),
      cond = identical(frame$cond, template$cond[frame$id]),
      trials = identical(frame$n, template$n[frame$id]),
      missing = identical(is.na(frame$y), is.na(template$y[frame$id])),
      distinct_copies = distinct_copies
    )
  }, logical(10))
  for (check in rownames(checks)) {
    expect_true(all(checks[check, ]), label = paste("resampled data sets:", check))
  }
  expect_true(all(n_groups >= 4 & n_groups <= 9))
  expect_setequal(unique(n_groups), 4:9)
  # with up to 9 draws from 15 groups, repeats are common
  expect_gt(repeats, n / 10)
  # and unbalanced template groups make unbalanced simulated ones
  sizes <- unlist(lapply(sims$data, function(frame) as.vector(table(frame$g))))
  expect_setequal(unique(sizes), unique(lengths(template_rows)))
})

test_that("the scaling is the mean and SD of the observed template responses", {
  for (template in list(ff_template(), ff_template_missing())) {
    cases <- ff_cases()
    for (case_name in names(cases)) {
      case <- cases[[case_name]]
      set <- ff_model_set(case, template)
      response <- template[[case$response]]
      if (case$ref_family == "binomial") response <- response / template$n
      response <- response[!is.na(response)]
      expected <- list(response_center = mean(response),
                       response_scale = sd(response))
      expect_equal(deepbmc:::models_spec(set)$scaling, expected,
                   label = paste(case_name, "scaling"))
      expect_equal(set$scaling[c("response_center", "response_scale")],
                   expected)
      # the covariates the network sees are standardised with the template
      expect_equal(unname(set$scaling$input_center[["x"]]), mean(template$x))
      expect_equal(unname(set$scaling$input_scale[["x"]]), sd(template$x))
    }
  }
})

test_that("the family registry agrees with the C++ simulator", {
  registry <- deepbmc:::formula_families
  cpp <- deepbmc:::cpp_formula_families()
  codes <- vapply(registry, `[[`, integer(1), "code")
  # every family the simulator implements, each once
  expect_setequal(codes, seq_along(cpp$sigma) - 1L)
  link_codes <- deepbmc:::link_codes
  expect_setequal(link_codes, seq_len(ncol(cpp$takes_link)) - 1L)
  for (name in names(registry)) {
    entry <- registry[[name]]
    row <- entry$code + 1L
    expect_identical(entry$sigma, cpp$sigma[[row]], label = name)
    expect_identical(!is.null(entry$aux), cpp$aux[[row]], label = name)
    expect_identical(entry$aux_lower %||% 0, cpp$aux_lower[[row]], label = name)
    expect_setequal(link_codes[entry$links],
                    which(cpp$takes_link[row, ]) - 1L)
    # and every link it takes has a Stan likelihood
    expect_setequal(names(entry$stan_likelihood), entry$links)
    expect_true(is.function(entry$check_response), label = name)
    expect_true(entry$prior_scale %in%
                  c("response", "log_response", "linear_predictor"))
  }
})
