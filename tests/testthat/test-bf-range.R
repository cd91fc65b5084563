test_tier("fast")
# Log Bayes factors beyond the range a fit was checked over (issue 14):
# against exact Study 1 log BFs computed here by numerical integration.

# log p(x | M) of a Study 1 data set (a list of groups) by a 2D trapezoidal
# rule over u = log sigma^2 and w = log tau^2, with theta_l integrated out
# (and mu under M1) in closed form:
#   x_ln ~ N(theta_l, sigma2), theta_l ~ N(mu, tau2), sigma2, tau2 ~
#   Half-Normal(0, 1); M0: mu = 0, M1: mu ~ N(0, 1).
# Group l's likelihood is (2 pi sigma2)^(-(n_l - 1) / 2) n_l^(-1/2)
# exp(-S_l / (2 sigma2)) N(m_l | mu, tau2 + sigma2 / n_l); integrating mu ~
# N(0, 1) gives prod_l N(m_l | 0, v_l) A^(-1/2) exp(B^2 / (2 A)) with
# A = 1 + sum 1 / v_l, B = sum m_l / v_l.
exact_log_ml <- function(groups, model, n_grid = 161) {
  n <- lengths(groups)
  m <- vapply(groups, mean, 0)
  S <- sum(vapply(groups, function(g) sum((g - mean(g))^2), 0))
  N <- sum(n)
  L <- length(groups)
  f <- function(u, w) {
    s2 <- exp(u)
    t2 <- exp(w)
    v <- outer(t2, rep(1, L)) + outer(s2, 1 / n)
    mm <- matrix(m, length(u), L, byrow = TRUE)
    ll <- -0.5 * (N - L) * (log(2 * pi) + u) - 0.5 * sum(log(n)) -
      S / (2 * s2) + rowSums(-0.5 * log(2 * pi * v) - mm^2 / (2 * v))
    if (model == 1) {
      A <- 1 + rowSums(1 / v)
      B <- rowSums(mm / v)
      ll <- ll - 0.5 * log(A) + B^2 / (2 * A)
    }
    ll + 2 * log(2) + dnorm(s2, log = TRUE) + dnorm(t2, log = TRUE) + u + w
  }
  mode <- stats::optim(c(0, -1), function(p) -f(p[1], p[2]))$par
  grid_u <- seq(mode[1] - 6, mode[1] + 6, length.out = n_grid)
  grid_w <- seq(mode[2] - 12, min(mode[2] + 8, 4), length.out = n_grid)
  g <- expand.grid(u = grid_u, w = grid_w)
  value <- f(g$u, g$w)
  top <- max(value)
  top + log(sum(exp(value - top))) + log(diff(grid_u[1:2])) +
    log(diff(grid_w[1:2]))
}

exact_log_bf <- function(data) {
  vapply(data, function(d) {
    groups <- split(d, row(d))
    exact_log_ml(groups, 1) - exact_log_ml(groups, 0)
  }, numeric(1))
}

bf_range_models <- function() normal_nested_models(groups = 10, obs = 10)

bf_range_fit <- local({
  fit <- NULL
  function() {
    if (is.null(fit)) {
      fit <<- train_comparison(bf_range_models(), epochs = 1,
                               iterations = 2000, seed = 14, threads = 2,
                               progress = FALSE)
    }
    fit
  }
})

# Data sets with overwhelming evidence for M1: a grand mean far from 0.
strong_sets <- function(n, seed) {
  set.seed(seed)
  lapply(seq_len(n), function(i) {
    mu <- 2 + 0.5 * i
    theta <- rnorm(10, mu, 0.3)
    matrix(rnorm(100, rep(theta, 10), 1), nrow = 10)
  })
}

test_that("the numerical integration is converged", {
  x <- strong_sets(1, 3)[[1]]
  groups <- split(x, row(x))
  for (model in 0:1) {
    expect_equal(exact_log_ml(groups, model, 321), exact_log_ml(groups, model),
                 tolerance = 1e-8)
  }
})

test_that("saturated log Bayes factors of strong evidence are flagged", {
  fit <- bf_range_fit()
  range <- checked_range(fit)
  expect_s3_class(range, "data.frame")
  expect_identical(range$source, c("training", "training"))
  upper <- range$upper[range$model1 == "M1"]
  expect_gt(upper, 1)

  strong <- strong_sets(4, 7)
  exact <- exact_log_bf(strong)
  expect_true(all(exact > 15))
  network <- bayes_factor(fit, strong, model1 = "M1", model2 = "M0")
  # the network saturates: far below the exact values ...
  expect_true(all(c(network) < exact - 8))
  # ... and says so
  expect_identical(attr(network, "beyond_checked"), rep(TRUE, 4))
  expect_equal(attr(network, "checked_range")[["upper"]], upper)
  one <- bayes_factor(fit, strong[[1]], model1 = "M1", model2 = "M0")
  expect_true(one$beyond_checked)
  expect_output(print(one), paste0(
    "log Bayes factor in favor of M1 over M0: > ",
    formatC(upper, digits = 1, format = "f")
  ), fixed = TRUE)
  expect_output(print(one), "a bound, not an estimate")
  reverse <- bayes_factor(fit, strong, model1 = "M0", model2 = "M1")
  expect_identical(attr(reverse, "beyond_checked"), rep(TRUE, 4))
  comparison <- compare_models(fit, strong[[1]])
  expect_identical(comparison$model, c("M1", "M0"))
  expect_identical(comparison$beyond_checked, c(FALSE, TRUE))
  expect_equal(comparison$checked_bound, c(NA, -upper))
  expect_output(print(comparison), paste("<", formatC(-upper, digits = 1,
                                                          format = "f")),
                fixed = TRUE)
  many <- compare_models(fit, strong)
  expect_identical(many$beyond_checked, rep(c(FALSE, TRUE), 4))
})

test_that("within the checked range, log Bayes factors agree with exact ones", {
  fit <- bf_range_fit()
  sims <- simulate_datasets(bf_range_models(), n = 60, seed = 5)
  exact <- exact_log_bf(sims$data)
  network <- bayes_factor(fit, sims, model1 = "M1", model2 = "M0")
  within <- !attr(network, "beyond_checked")
  expect_gt(sum(within), 40)
  error <- abs(c(network) - exact)[within]
  # Stated tolerance: median error below 0.3, and 80% of the data sets
  # within max(0.5, 10%) of the exact value (the issue's goal). The range
  # does not catch every miss: a network value inside it can still be too
  # small for a data set with strong evidence (see bench/bf_accuracy.md).
  expect_lt(stats::median(error), 0.3)
  expect_gt(mean(error <= pmax(0.5, 0.1 * abs(exact[within]))), 0.8)

  # Reference-checked: validate() against the exact values on the first 40,
  # then the range it vouches for holds on the other 20.
  first <- 1:40
  v <- validate(fit, data = sims$data[first], true_model = sims$model[first],
                reference_log_bf = exact[first], boot = 0)
  expect_equal(v$metrics$log_bf_error, mean(abs(c(network)[first] - exact[first])))
  bins <- v$log_bf_bins
  expect_identical(sum(bins$n), 40L)
  expect_output(print(v), "by bins of the reference")
  recovery <- bayes_factor_recovery(v)
  expect_equal(recovery$reference, exact[first])
  expect_equal(recovery$network, c(network)[first])
  checked <- update_checked_range(fit, v, min_n = 5)
  range <- checked_range(checked)
  expect_identical(range$source, c("reference", "reference"))
  # on the reference data sets, every value inside the new range agreed
  again <- bayes_factor(checked, sims$data[first], model1 = "M1", model2 = "M0")
  ok <- !attr(again, "beyond_checked")
  expect_true(all(abs(c(again) - exact[first])[ok] <=
                    pmax(1, 0.1 * abs(exact[first][ok]))))
  expect_lt(max(range$upper), upper_before <- max(checked_range(fit)$upper))
  # on others, mostly: 40 references cannot rule out every miss
  later <- bayes_factor(checked, sims$data[-first], model1 = "M1", model2 = "M0")
  ok <- !attr(later, "beyond_checked")
  expect_lt(stats::median(abs(c(later) - exact[-first])[ok]), 0.3)
  # the strong-evidence data sets stay flagged
  strong <- bayes_factor(checked, strong_sets(4, 7), model1 = "M1", model2 = "M0")
  expect_identical(attr(strong, "beyond_checked"), rep(TRUE, 4))
  # the fit stays a valid fit, and saved fits keep their range
  path <- tempfile(fileext = ".rds")
  saveRDS(checked, path)
  expect_identical(checked_range(readRDS(path)), range)
  damaged <- checked
  damaged$checked_range$upper[2, 1] <- 100
  expect_error(post_prob(damaged, sims$data[[1]]), class = "deepbmc_error_fit")
})

test_that("the blind test is a mean Bayes factor with an interval", {
  fit <- bf_range_fit()
  v <- validate(fit, n = 400, seed = 8, boot = 50)
  m0 <- v$model == 1
  expect_equal(v$metrics$blind_bf, mean(exp(v$logits[m0, 2] - v$logits[m0, 1])))
  row <- v$estimates[v$estimates$metric == "blind_bf", ]
  expect_true(row$conf_low <= row$estimate && row$estimate <= row$conf_high)
  # 1 for correct Bayes factors: within a generous interval here
  expect_lt(abs(v$metrics$blind_bf - 1), 0.5)
  expect_true(is.na(v$metrics$log_bf_error))
  expect_output(print(v), "Blind BF: ")
})

test_that("fits without a checked range are read and never flagged", {
  fit <- bf_range_fit()
  old <- fit
  old$checked_range <- NULL
  old$format_version <- 3L
  old$training$method <- NULL
  old$checksum <- deepbmc:::fit_checksum(old)
  x <- strong_sets(1, 7)
  network <- bayes_factor(old, x[[1]], model1 = "M1", model2 = "M0")
  expect_identical(network$beyond_checked, NA)
  expect_null(checked_range(old))
  expect_identical(compare_models(old, x[[1]])$beyond_checked, c(NA, NA))
  expect_equal(network$bf, bayes_factor(fit, x[[1]], model1 = "M1", model2 = "M0")$bf)
  expect_identical(attr(bayes_factor(old, x, model1 = "M1", model2 = "M0"),
                        "beyond_checked"), NA)
})

test_that("update_checked_range() checks its arguments", {
  fit <- bf_range_fit()
  expect_deepbmc_error(update_checked_range(fit, list()), "type", "checks")
  v <- validate(fit, n = 50, seed = 1, boot = 0)
  expect_deepbmc_error(update_checked_range(fit, v), "value", "checks")
  expect_deepbmc_error(update_checked_range(fit, v, tolerance = -1), "value",
                       "tolerance")
  expect_deepbmc_error(
    validate(fit, data = list(matrix(0, 10, 10)), true_model = 1,
             reference_log_bf = c(1, 2)),
    "mismatch", "reference_log_bf"
  )
  expect_deepbmc_error(
    validate(fit, n = 10, reference_log_bf = 1), "mismatch", "reference_log_bf"
  )
})
