# Builders shared by test-formula-families.R (fast tier) and
# test-formula-families-reference.R (full tier): the template design, the
# cases, the plain-R reference simulation and the moment comparison. What
# they check and how is described at the top of test-formula-families.R.

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
