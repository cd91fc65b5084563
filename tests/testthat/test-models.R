test_tier("fast")
# normal_nested_models() (R/models-normal-nested.R, R/models.R): the model set
# of Study 1, its size ranges, checks and printing.

test_that("normal_nested_models() returns the documented model set", {
  models <- normal_nested_models()
  expect_s3_class(models, c("deepbmc_normal_nested", "deepbmc_models"),
                  exact = TRUE)
  expect_identical(models$type, "normal_nested")
  expect_identical(models$groups, c(50L, 50L))
  expect_identical(models$obs, c(50L, 50L))
  expect_identical(models$n_models, 2L)
  expect_identical(models$model_names, c("M0", "M1"))
  expect_identical(models$n_features, 1L)
  expect_identical(models$n_levels, 2L)

  ranged <- normal_nested_models(groups = c(5, 40), obs = c(10L, 30L))
  expect_identical(ranged$groups, c(5L, 40L))
  expect_identical(ranged$obs, c(10L, 30L))
  # a degenerate range is a fixed size
  expect_identical(normal_nested_models(groups = c(7, 7))$groups, c(7L, 7L))
  # the smallest possible data sets: one group of one observation
  expect_identical(normal_nested_models(groups = 1, obs = 1)$obs, c(1L, 1L))
})

test_that("models_spec() passes only the simulator settings to C++", {
  spec <- deepbmc:::models_spec(normal_nested_models(c(2, 9), 4))
  expect_identical(
    spec,
    list(type = "normal_nested", groups = c(2L, 9L), obs = c(4L, 4L))
  )
  expect_deepbmc_error(deepbmc:::models_spec(list(groups = 1)), "type")
})

test_that("impossible sizes are classed errors naming the argument", {
  # Every form of bad input for `groups`; `obs` goes through the same checker,
  # so a few cases show that it is checked and named too.
  value_errors <- list(
    zero = 0, negative = -3, reversed = c(5, 2), fraction = 2.5,
    fraction_range = c(2, 3.5), na_real = NA_real_, na_int = NA_integer_,
    na_in_range = c(2, NA), inf = Inf, minus_inf = -Inf, nan = NaN,
    huge = 2^31
  )
  type_errors <- list(
    logical_na = NA, logical = TRUE, character = "5", empty = numeric(0),
    three = c(1, 2, 3), null = NULL, list = list(5), factor = factor(5),
    date = as.Date("2020-01-01"), complex = 1i
  )
  obs_cases <- c("zero", "reversed", "fraction", "na_real", "inf",
                 "logical_na", "character", "three")
  for (arg in c("groups", "obs")) {
    call_with <- function(value) {
      do.call(normal_nested_models, stats::setNames(list(value), arg))
    }
    for (name in names(value_errors)) {
      if (arg == "obs" && !name %in% obs_cases) next
      expect_deepbmc_error(call_with(value_errors[[name]]), "value", arg,
                           label = paste(arg, name))
    }
    for (name in names(type_errors)) {
      if (arg == "obs" && !name %in% obs_cases) next
      expect_deepbmc_error(call_with(type_errors[[name]]), "type", arg,
                           label = paste(arg, name))
    }
  }
})

test_that("data sets of more than 10 million observations are refused", {
  # exactly 10 million is allowed
  expect_s3_class(normal_nested_models(groups = 1e4, obs = 1e3),
                  "deepbmc_models")
  err <- expect_deepbmc_error(
    normal_nested_models(groups = c(10, 1e4), obs = 1001),
    "value", "groups"
  )
  expect_match(conditionMessage(err), "`obs`", fixed = TRUE)
  expect_match(conditionMessage(err), "10,010,000", fixed = TRUE)
})

test_that("errors are reported from the user's call", {
  err <- expect_deepbmc_error(normal_nested_models(groups = 0), "value")
  expect_identical(conditionCall(err)[[1]], quote(normal_nested_models))
})

test_that("printing shows the models and the sizes", {
  expect_output(print(normal_nested_models()),
                "50 groups x 50 observations per group", fixed = TRUE)
  out <- capture.output(res <- print(normal_nested_models(c(5, 40), c(10, 30))))
  expect_identical(res, normal_nested_models(c(5, 40), c(10, 30)))
  expect_match(out[[1]], "Nested hierarchical normal models", fixed = TRUE)
  expect_true(any(grepl("5-40 groups x 10-30 observations per group", out,
                        fixed = TRUE)))
  expect_true(any(grepl("^  M0: .*theta_l ~ N\\(0, tau\\^2\\)", out)))
  expect_true(any(grepl("^  M1: .*mu ~ N\\(0, 1\\)", out)))
})
