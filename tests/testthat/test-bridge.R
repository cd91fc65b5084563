test_tier("fast")
# bridge_compare(), stan_code() and their helpers without running Stan: the
# generated programs, the data lists, argument checks, summary and plots.
# The compiled programs are tested in test-stan-formula.R.

bridge_design <- function(n_groups = 6, per_group = 5, seed = 3) {
  set.seed(seed)
  n <- n_groups * per_group
  data.frame(
    y = round(stats::rnorm(n, 1, 2), 3),
    x = round(stats::rnorm(n), 3),
    g = factor(rep(seq_len(n_groups), each = per_group)),
    n = 4L,
    k = stats::rbinom(n, 4, 0.4),
    count = stats::rpois(n, 3),
    b = stats::rbinom(n, 1, 0.5),
    rt = round(exp(stats::rnorm(n, -0.5, 0.3)), 3)
  )
}

test_that("stan_code() writes complete densities for every family", {
  d <- bridge_design()
  cases <- list(
    gaussian = hier_model(y ~ x + (1 + x | g), d),
    bernoulli = hier_model(b ~ x + (1 | g), d, family = "bernoulli"),
    binomial = hier_model(k | trials(n) ~ x + (1 | g), d,
                          family = binomial(link = "probit")),
    poisson = hier_model(count ~ x + (1 + x || g), d, family = poisson()),
    lognormal = hier_model(rt ~ x + (1 | g), d, family = "lognormal")
  )
  likelihood <- c(
    gaussian = "normal_lpdf(y | eta", bernoulli = "bernoulli_logit_lpmf",
    binomial = "binomial_lpmf(y | trials, Phi(eta))",
    poisson = "poisson_log_lpmf", lognormal = "lognormal_lpdf(y | eta"
  )
  for (family in names(cases)) {
    code <- stan_code(cases[[family]])
    expect_s3_class(code, "deepbmc_stan_code")
    expect_true(grepl(likelihood[[family]], code, fixed = TRUE),
                label = family)
    # No sampling statements: `~` would drop normalising constants.
    expect_false(grepl("~", sub("^(//[^\n]*\n)*", "", code)), label = family)
  }
  gaussian <- stan_code(cases$gaussian)
  expect_match(gaussian, "lkj_corr_cholesky_lpdf(L_cor | 1)", fixed = TRUE)
  expect_match(gaussian, "+ log(2)", fixed = TRUE)
  expect_output(print(gaussian), "target \\+= normal_lpdf")
})

test_that("constant priors become numbers and variance priors densities", {
  d <- bridge_design()
  model <- hier_model(
    y ~ x + (1 | g), d,
    prior = c(hier_prior("constant(0.25)", class = "b", coef = "x"),
              hier_prior("half_normal_variance(2)", class = "sd"),
              hier_prior("half_student_t(3, 1.5)", class = "sigma"))
  )
  code <- stan_code(model)
  expect_match(code, "beta[2] = 0.25;", fixed = TRUE)
  expect_match(code, "vector[1] b;", fixed = TRUE)
  expect_match(code, "normal_lpdf(square(sd_free[1]) | 0, 2) + 2 * log(2)",
               fixed = TRUE)
  expect_match(code, "student_t_lpdf(sigma_free[1] | 3, 0, 1.5) + log(2)",
               fixed = TRUE)
  # The implied densities of the SD are proper.
  sd_density <- function(s) 2 * stats::dnorm(s^2, 0, 2) * 2 * s
  expect_equal(stats::integrate(sd_density, 0, Inf)$value, 1,
               tolerance = 1e-6)
  half_t <- function(s) 2 * stats::dt(s / 1.5, 3) / 1.5
  expect_equal(stats::integrate(half_t, 0, Inf)$value, 1, tolerance = 1e-6)
})

test_that("stan_code() covers model sets, fits and the Study 1 programs", {
  d <- bridge_design()
  set <- model_set(
    null = hier_model(y ~ 1 + (1 | g), d),
    slope = hier_model(y ~ 1 + x + (1 | g), d)
  )
  codes <- stan_code(set)
  expect_named(codes, c("null", "slope"))
  expect_identical(stan_code(set, model = "slope"), codes$slope)
  expect_identical(stan_code(set, model = 1), codes$null)
  study1 <- stan_code(normal_nested_models(), model = "M1")
  expect_match(study1, "target += normal_lpdf(mu | 0, 1);", fixed = TRUE)
  expect_error(stan_code(set, model = "other"),
               class = "deepbmc_error_value")
  expect_error(stan_code(list()), class = "deepbmc_error_type")
  # Study 1 joined as formulas: half_normal_variance priors, no intercept
  # in M0.
  joined <- model_set(study1 = normal_nested_models(),
                      other = hier_model(y ~ 1 + x + (1 | g), d))
  m0 <- stan_code(joined, model = "study1_M0")
  expect_false(grepl("matrix[N, 1] X", m0, fixed = TRUE))
  expect_match(m0, "normal_lpdf(square(sd_free[1]) | 0, 1)", fixed = TRUE)
})

test_that("formula_stan_data() follows the model's design", {
  d <- bridge_design()
  d$y[c(2, 7)] <- NA
  d$f <- factor(rep(c("a", "b", "c"), length.out = nrow(d)))
  model <- hier_model(y ~ x + f + (1 + x | g), d)
  data <- deepbmc:::formula_stan_data(model, d)
  expect_equal(data$N, nrow(d) - 2)
  expect_equal(data$G, 6)
  expect_equal(dim(data$X), c(nrow(d) - 2, 4))
  expect_equal(dim(data$Z), c(nrow(d) - 2, 2))
  expect_equal(data$y, d$y[!is.na(d$y)])
  binomial <- hier_model(k | trials(n) ~ 1 + (1 | g), d, family = "binomial")
  data <- deepbmc:::formula_stan_data(binomial, d)
  expect_type(data$y, "integer")
  expect_equal(data$trials, rep(4L, nrow(d)))
  expect_equal(dim(data$X), c(nrow(d), 1))
  expect_error(deepbmc:::formula_stan_data(model, d[c("y", "g")]),
               class = "deepbmc_error_data")
})

test_that("Study 1 data lists accept the forms of post_prob()", {
  x <- matrix(c(1, 2, NA, 4, 5, 6), nrow = 2, byrow = TRUE)
  data <- deepbmc:::study1_stan_data(x)
  expect_equal(data$x, c(1, 2, 4, 5, 6))
  expect_equal(data$group, c(1, 1, 2, 2, 2))
  expect_equal(data$L, 2)
  frame <- data.frame(group = c(1, 1, 2, 2, 2), y = c(1, 2, 4, 5, 6))
  expect_equal(deepbmc:::study1_stan_data(frame)$x, data$x)
  renamed <- stats::setNames(frame, c("subject", "score"))
  expect_equal(
    deepbmc:::study1_groups(renamed, group = "subject", response = "score"),
    list(c(1, 2), c(4, 5, 6))
  )
  groups <- list(c(1, 2), c(4, 5, 6))
  expect_equal(deepbmc:::study1_stan_data(groups)$group, data$group)
})

test_that("bridge_compare() checks its arguments", {
  fit <- api_fit()
  x <- matrix(stats::rnorm(20), nrow = 4)
  expect_error(bridge_compare(list(), x), class = "deepbmc_error_fit")
  expect_error(bridge_compare(fit, x, chains = 0),
               class = "deepbmc_error_value")
  expect_error(bridge_compare(fit, x, adapt_delta = 1.2),
               class = "deepbmc_error_value")
  expect_error(bridge_compare(fit, x, method = "other"),
               class = "deepbmc_error_value")
  expect_error(bridge_compare(fit, x, extra = 1), class = "deepbmc_error")
  skip_if_not_installed("bridgesampling")
  expect_error(bridge_compare(fit, x, fits = "fit"),
               class = "deepbmc_error_type")
  expect_error(bridge_compare(fit, x, fits = list(1, 2)),
               class = "deepbmc_error_type")
})

# A bridge comparison table as bridge_compare() returns it.
fake_bridge_comparison <- function() {
  rows <- expand.grid(model = c("M0", "M1"), data_set = 1:4,
                      stringsAsFactors = FALSE)[c("data_set", "model")]
  pmp <- c(0.9, 0.1, 0.2, 0.8, 0.6, 0.4, 0.05, 0.95)
  bridge <- c(0.88, 0.12, 0.25, 0.75, 0.45, 0.55, 0.04, 0.96)
  rows$pmp_network <- pmp
  rows$pmp_bridge <- bridge
  ref <- rep(c(1, 3, 5, 7), each = 2)
  rows$log_bf_network <- log(pmp) - log(pmp[ref])
  rows$log_bf_bridge <- log(bridge) - log(bridge[ref])
  rows$logml <- log(bridge) - 100
  rows$logml_error <- 0.01
  rows$percentage_error <- "1%"
  rows$sample_seconds <- 2
  rows$bridge_seconds <- 0.5
  rows$divergent <- c(0, 0, 1, 0, 0, 0, 0, 0)
  rows$max_rhat <- 1.001
  rows$min_ess <- 1000
  rows$bridge_iterations <- 5
  structure(rows, class = c("deepbmc_bridge_comparison", "data.frame"),
            compile_seconds = c(M0 = 40, M1 = 41))
}

test_that("summary() of a bridge comparison measures agreement", {
  x <- fake_bridge_comparison()
  s <- summary(x)
  expect_equal(s$n_data_sets, 4)
  expect_equal(s$mean_abs_diff, mean(abs(x$pmp_network - x$pmp_bridge)))
  expect_equal(s$max_abs_diff, 0.15)
  expect_equal(s$decision_agreement, 0.75)
  m1 <- x$model == "M1"
  expect_equal(s$log_bf_cor,
               stats::cor(x$log_bf_network[m1], x$log_bf_bridge[m1]))
  expect_equal(s$divergent, 1)
  expect_equal(s$seconds_per_data_set, 5)
  # the largest log BF gap, network minus bridge sampling (issue 14)
  gap <- x$log_bf_network[m1] - x$log_bf_bridge[m1]
  expect_equal(s$max_log_bf_gap, gap[which.max(abs(gap))])
  expect_identical(s$max_log_bf_gap_data_set, 3L)
  expect_identical(s$max_log_bf_gap_model, "M1")
  expect_equal(sum(s$log_bf_bins$n), 4)
  expect_output(print(s), "Largest log BF gap: -0.606 (network - bridge; data set 3, M1)",
                fixed = TRUE)
  recovery <- bayes_factor_recovery(x)
  expect_equal(recovery$network, x$log_bf_network[m1])
  expect_equal(recovery$reference, x$log_bf_bridge[m1])
  expect_output(print(s), "Same decision: +75%")
  expect_output(print(x), "4 data sets, 2 models")
})

test_that("print() of a bridge comparison keeps log MLs apart and its columns subset", {
  x <- fake_bridge_comparison()
  x$logml[1:2] <- c(-887.21, -886.63)
  # fixed decimals: with 3 significant digits both showed as -887
  expect_output(print(x), "-887.21", fixed = TRUE)
  expect_output(print(x), "-886.63", fixed = TRUE)
  # a subset of the columns prints as a data frame (it was an error)
  part <- x[, c("model", "pmp_bridge")]
  expect_output(print(part), "pmp_bridge")
  expect_identical(nrow(x[x$model == "M1", c("data_set", "pmp_network")]), 4L)
})

test_that("autoplot() shows network against bridge sampling", {
  skip_if_not_installed("ggplot2")
  x <- fake_bridge_comparison()
  p <- ggplot2::autoplot(x)
  expect_s3_class(p, "ggplot")
  expect_equal(nrow(p$data), 8)
  b <- ggplot2::autoplot(x, type = "log_bf")
  expect_equal(nrow(b$data), 4)
  expect_error(ggplot2::autoplot(x, type = "other"),
               class = "deepbmc_error_value")
})

test_that("bridge estimates that did not converge are named in a classed warning", {
  table <- data.frame(
    data_set = c(1L, 1L, 2L, 2L), model = c("pois", "{olre}", "pois", "{olre}"),
    logml = c(-832.7, -824.5, -900, -899), logml_error = c(0.004, 0.67, 0.005, 0.02),
    bridge_iterations = c(6, 1001, 7, 9)
  )
  w <- tryCatch(deepbmc:::warn_unconverged_bridge(table),
                deepbmc_bridge_warning = function(w) w)
  expect_s3_class(w, "deepbmc_bridge_warning")
  expect_match(conditionMessage(w), "1 model fit", fixed = TRUE)
  expect_match(conditionMessage(w), "{olre} on data set 1: 1001 iterations, estimated error 67%",
               fixed = TRUE)
  # an estimate with a large error is flagged even when it converged
  table$bridge_iterations[[2]] <- 12
  expect_warning(deepbmc:::warn_unconverged_bridge(table), "estimated error 67%",
                 class = "deepbmc_bridge_warning")
  table$logml_error[[2]] <- 0.05
  expect_no_warning(expect_false(deepbmc:::warn_unconverged_bridge(table)))
  table$bridge_iterations[[3]] <- 1000
  expect_warning(deepbmc:::warn_unconverged_bridge(table), "pois on data set 2",
                 class = "deepbmc_bridge_warning")
})
