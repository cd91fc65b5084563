test_tier("fast")
# The Study 1 simulator (nested hierarchical normal models) against moments
# derived by hand from the model:
#   x_ln ~ N(theta_l, sigma^2), theta_l ~ N(mu, tau^2),
#   sigma^2, tau^2 ~ Half-Normal(0, 1) (priors on the variances),
#   M0: mu = 0, M1: mu ~ N(0, 1).
# So E[sigma^2] = E[tau^2] = E|Z| = sqrt(2 / pi), and for L groups of N:
#   E[within-group variance]          = E[sigma^2]
#   E[between-group var. of means]    = E[tau^2] + E[sigma^2] / N
#   E[grand mean] = 0, E[grand mean^2] = [M1] 1 + E[tau^2] / L + E[sigma^2] / (L N)
# Tolerances are 5 Monte Carlo standard errors, estimated from the draws.

expect_mc_mean <- function(draws, target, label) {
  se <- sd(draws) / sqrt(length(draws))
  expect_lt(abs(mean(draws) - target), 5 * se, label = label)
}

test_that("the normal nested simulator has the moments the model implies", {
  L <- 50L
  N <- 50L
  n <- 4000L
  sim <- deepbmc:::cpp_simulate(
    list(type = "normal_nested", groups = c(L, L), obs = c(N, N)), n, 2024, 2L
  )
  expect_identical(sim$n_features, 1L)
  expect_length(sim$values, L * N * n)
  expect_true(all(sim$mask))
  expect_true(all(is.finite(sim$values)))
  expect_identical(sim$group_offsets, as.integer(seq(0, L * N * n, by = N)))
  expect_identical(sim$dataset_offsets, as.integer(seq(0, L * n, by = L)))
  expect_true(all(sim$model %in% 1:2))
  # the model is drawn uniformly
  expect_lt(abs(mean(sim$model == 2) - 0.5), 5 * sqrt(0.25 / n))

  x <- matrix(sim$values, N) # one column per group
  group_mean <- colMeans(x)
  within <- (colSums(x^2) - N * group_mean^2) / (N - 1) # per group
  within <- colMeans(matrix(within, L)) # per data set
  gm <- matrix(group_mean, L) # one column per data set
  grand <- colMeans(gm)
  between <- (colSums(gm^2) - L * grand^2) / (L - 1)
  m0 <- sim$model == 1
  m1 <- sim$model == 2
  e_var <- sqrt(2 / pi)

  expect_mc_mean(grand[m0], 0, "grand mean under M0")
  expect_mc_mean(grand[m1], 0, "grand mean under M1")
  expect_mc_mean(grand[m0]^2, e_var * (1 / L + 1 / (L * N)), "grand mean^2 under M0")
  expect_mc_mean(grand[m1]^2, 1 + e_var * (1 / L + 1 / (L * N)), "grand mean^2 under M1")
  expect_mc_mean(within, e_var, "within-group variance")
  expect_mc_mean(between, e_var * (1 + 1 / N), "between-group variance")
  expect_mc_mean(between[m0], e_var * (1 + 1 / N), "between-group variance under M0")
  expect_mc_mean(between[m1], e_var * (1 + 1 / N), "between-group variance under M1")

  # sigma^2 is half-normal on the variance (not the SD): the median of the
  # within-group variance (which estimates sigma^2 to ~3%) is that of |Z|,
  # qnorm(0.75) = 0.674; a half-normal SD would put 59% below it
  expect_lt(abs(mean(within < qnorm(0.75)) - 0.5), 5 * sqrt(0.25 / n))
  # M1 moves the grand mean far more often than M0
  expect_gt(mean(abs(grand[m1]) > 0.5), 0.5)
  expect_lt(mean(abs(grand[m0]) > 0.5), 0.01)
})

test_that("variable sizes stay in their ranges and cover both ends", {
  n <- 600L
  sim <- deepbmc:::cpp_simulate(
    list(type = "normal_nested", groups = c(2L, 6L), obs = c(1L, 4L)), n, 5, 2L
  )
  groups <- diff(sim$dataset_offsets)
  sizes <- diff(sim$group_offsets)
  expect_length(sizes, sum(groups))
  expect_setequal(unique(groups), 2:6)
  expect_setequal(unique(sizes), 1:4)
  # observations per group are drawn once per data set
  set_of_group <- rep(seq_len(n), groups)
  expect_true(all(tapply(sizes, set_of_group, function(s) length(unique(s))) == 1))
  # both sizes are uniform on their ranges
  expect_lt(max(abs(tabulate(groups, 6)[2:6] / n - 1 / 5)), 5 * sqrt(0.16 / n))
  per_set <- tapply(sizes, set_of_group, `[`, 1)
  expect_lt(max(abs(tabulate(per_set, 4) / n - 1 / 4)), 5 * sqrt(0.1875 / n))

  # a single size is allowed
  one <- deepbmc:::cpp_simulate(
    list(type = "normal_nested", groups = c(1L, 1L), obs = c(1L, 1L)), 10L, 5, 1L
  )
  expect_identical(one$group_offsets, 0:10)
  expect_identical(one$dataset_offsets, 0:10)
})
