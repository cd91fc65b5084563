test_tier("fast")

# Issue 28: user text is data (never run, never read as cli markup or
# formula text), and input checks that were missing.

# A path that a hostile name would create if it were run as code.
hostile_name <- function(sentinel) {
  sprintf("{system('touch %s')}", sentinel)
}

safety_network <- function() {
  hierarchical_network(
    s1 = c(4, 4), s2 = c(4, 4), s3 = c(4, 4), summary_dim = c(2, 2),
    n_dense = 1, n_equivariant = 1, head_units = 4, head_layers = 1
  )
}

test_that("feature names with braces reach the input-range warning as text (issue 28)", {
  sentinel <- tempfile()
  features <- c(hostile_name(sentinel), "rate{x}")
  simulator <- function(mu) {
    force(mu)
    function() {
      data <- data.frame(group = rep(1:3, each = 4), a = stats::rnorm(12, mu),
                         b = stats::rnorm(12))
      names(data)[2:3] <- features
      data
    }
  }
  models <- simulator_models(m0 = simulator(0), m1 = simulator(1))
  sims <- simulate_datasets(models, n = 16, seed = 1)
  fit <- train_comparison(models, safety_network(), simulations = sims,
                          epochs = 1, iterations = 2, batch_size = 8,
                          threads = 1, seed = 1, progress = FALSE)
  far <- sims$data[[1]]
  far[[features[[1]]]] <- far[[features[[1]]]] + 1e6
  far[["rate{x}"]] <- far[["rate{x}"]] + 1e6
  warning <- expect_warning(post_prob(fit, far, threads = 1),
                            class = "deepbmc_input_range_warning")
  expect_match(conditionMessage(warning), features[[1]], fixed = TRUE)
  expect_match(conditionMessage(warning), "rate{x}", fixed = TRUE)
  expect_false(file.exists(sentinel))
})

test_that("formula models show column names with braces as text (issue 28)", {
  sentinel <- tempfile()
  column <- hostile_name(sentinel)
  data <- data.frame(y = stats::rnorm(24), x = stats::rnorm(24),
                     g = rep(1:6, each = 4))
  names(data)[[2]] <- column
  slope <- stats::as.formula(
    call("~", quote(y), call("+", as.name(column), quote((1 | g))))
  )
  set <- suppressMessages(model_set(
    flat = hier_model(y ~ 1 + (1 | g), data),
    slope = hier_model(slope, data)
  ))
  sims <- simulate_datasets(set, n = 16, seed = 1, threads = 1)
  fit <- train_comparison(set, safety_network(), simulations = sims,
                          epochs = 1, iterations = 2, batch_size = 8,
                          threads = 1, seed = 1, progress = FALSE)
  far <- data
  far[[column]] <- far[[column]] + 1e6
  warning <- expect_warning(post_prob(fit, far, threads = 1),
                            class = "deepbmc_input_range_warning")
  expect_match(conditionMessage(warning), column, fixed = TRUE)
  expect_false(file.exists(sentinel))
})

test_that("an unknown prior distribution with braces in its name is quoted, not run (issue 28)", {
  sentinel <- tempfile()
  for (name in c(hostile_name(sentinel), "rate{x}")) {
    err <- expect_deepbmc_error(
      hier_prior(paste0("`", name, "`(0, 1)"), class = "b"), "value", "prior"
    )
    expect_match(conditionMessage(err), name, fixed = TRUE)
  }
  expect_false(file.exists(sentinel))
})

test_that("brms_formula() holds every column as one symbol and runs nothing (issue 28)", {
  skip_if_not_installed("lme4")
  sentinel <- tempfile()
  hostile <- sprintf("Subject) + I(system('touch %s')) + (1 | Subject",
                     sentinel)
  data <- lme4::sleepstudy
  names(data)[3] <- hostile
  formula <- stats::as.formula(call(
    "~", quote(Reaction),
    call("+", quote(Days), call("(", call("|", quote(1 + Days),
                                          as.name(hostile))))
  ))
  model <- suppressMessages(hier_model(formula, data))
  # the formula as brms_formula() builds it: the name is one symbol
  built <- deepbmc:::brms_formula_call(model)
  group_term <- built[[3]][[3]]
  expect_identical(group_term, call("(", call("|", quote(1 + Days),
                                              as.name(hostile))))
  expect_setequal(all.vars(built), c("Reaction", "Intercept", "Days", hostile))
  # brms reads syntactic names only: the others are a classed error
  err <- expect_deepbmc_error(brms_formula(model), "value", "model")
  expect_match(conditionMessage(err), "Subject) + I(system(", fixed = TRUE)
  expect_false(file.exists(sentinel))
  # names with spaces and parentheses: one symbol each, then the same error
  spaced <- lme4::sleepstudy
  names(spaced)[2:3] <- c("my days", "g(1)")
  model <- suppressMessages(
    hier_model(Reaction ~ `my days` + (1 + `my days` | `g(1)`), spaced)
  )
  built <- deepbmc:::brms_formula_call(model)
  expect_identical(
    deparse1(built),
    "Reaction ~ 0 + Intercept + `my days` + (1 + `my days` | `g(1)`)"
  )
  err <- expect_deepbmc_error(brms_formula(model), "value", "model")
  expect_match(conditionMessage(err), "my days", fixed = TRUE)
  expect_match(conditionMessage(err), "g(1)", fixed = TRUE)
  expect_false(file.exists(sentinel))
})

# Two features `a` and `b` in column "group"; every value distinct, so that a
# value that goes missing is identified by what it was.
two_feature_models <- function() {
  simulator <- function() {
    data.frame(group = rep(1:2, each = 3), a = stats::rnorm(6),
               b = stats::rnorm(6))
  }
  simulator_models(m0 = simulator, m1 = simulator)
}

two_feature_data <- function() {
  lapply(1:3, function(d) {
    data.frame(group = rep(1:2, each = 3), a = 100 * d + 1:6,
               b = 100 * d + 11:16)
  })
}

# The data sets after `missing` was applied, as data frames (missing values
# NA), through the same steps as validate() and stored simulations.
after_pattern <- function(models, data, missing, features = c("a", "b")) {
  batch <- deepbmc:::prepare_datasets(models, data, NULL, NULL, "data",
                                      rlang::current_env())$batch
  spec <- deepbmc:::missing_for_models(missing, models)
  batch <- deepbmc:::apply_missing_batch(batch, spec, models, seed = 1)
  deepbmc:::batch_data_frames(batch, features, "group")
}

test_that("missing_values(pattern = ) hides exactly the rows it selects (issue 28)", {
  models <- two_feature_models()
  data <- two_feature_data()
  # rows 1, 4 (the first of group 2) and 6 (the last) of every data set
  chosen <- c(1, 4, 6)
  pattern <- function(frame) seq_len(nrow(frame)) %in% chosen
  for (features in list(NULL, "b", c("a", "b"))) {
    lost <- features %||% c("a", "b")
    result <- after_pattern(
      models, data, missing_values(pattern = pattern, features = features)
    )
    expect_length(result, length(data))
    for (d in seq_along(data)) {
      # the expected data set: the chosen rows lose the features, nothing else
      expected <- data[[d]]
      expected[chosen, lost] <- NA
      expect_equal(result[[d]][c("a", "b")], expected[c("a", "b")],
                   ignore_attr = TRUE,
                   label = paste("data set", d, "losing",
                                 paste(lost, collapse = ", ")))
    }
  }
  # a matrix pattern: `a` missing in row 1, `b` in row 3 of every data set
  by_value <- function(frame) {
    cbind(seq_len(nrow(frame)) == 1, seq_len(nrow(frame)) == 3)
  }
  result <- after_pattern(models, data, missing_values(pattern = by_value))
  for (d in seq_along(data)) {
    expected <- data[[d]]
    expected$a[[1]] <- NA
    expected$b[[3]] <- NA
    expect_equal(result[[d]][c("a", "b")], expected[c("a", "b")],
                 ignore_attr = TRUE)
  }
  # one feature: the chosen observations are absent, no others
  one <- simulator_models(
    m0 = function() data.frame(group = rep(1:2, each = 3), a = stats::rnorm(6)),
    m1 = function() data.frame(group = rep(1:2, each = 3), a = stats::rnorm(6))
  )
  single <- lapply(data, `[`, c("group", "a"))
  result <- after_pattern(one, single, missing_values(pattern = pattern),
                          features = "a")
  for (d in seq_along(data)) {
    expected <- single[[d]]$a
    expected[chosen] <- NA
    expect_equal(result[[d]]$a, expected)
  }
})

# Simulators for the time limit: one that returns, one that never does.
quick_simulator <- function() {
  data.frame(group = rep(1:2, each = 3), y = stats::rnorm(6))
}
endless_simulator <- function() {
  repeat Sys.sleep(0.05)
}

test_that("a simulator that never returns is stopped by time_limit (issue 28)", {
  skip_if_not_installed("future")
  old_plan <- future::plan(future::sequential)
  withr::defer(future::plan(old_plan))
  # the first calls, in simulator_models()
  started <- proc.time()[["elapsed"]]
  err <- expect_deepbmc_error(
    simulator_models(a = quick_simulator, b = endless_simulator,
                     time_limit = 0.5),
    "simulation", "time_limit"
  )
  expect_identical(err$problem, "time_limit")
  expect_identical(err$model, "b")
  expect_identical(err$time_limit, 0.5)
  expect_match(conditionMessage(err), "0.5 seconds", fixed = TRUE)
  # simulate_datasets(), with the set's limit or its own
  models <- simulator_models(a = quick_simulator, b = endless_simulator,
                             features = "y", time_limit = 0.5)
  expect_identical(models$time_limit, 0.5)
  err <- expect_deepbmc_error(simulate_datasets(models, n = 10, seed = 1),
                              "simulation", "time_limit")
  expect_identical(err$problem, "time_limit")
  first_b <- which(simulate_datasets(
    simulator_models(a = quick_simulator, b = quick_simulator),
    n = 10, seed = 1
  )$model == 2)[[1]]
  expect_identical(err$index, first_b)
  expect_match(conditionMessage(err), paste("at data set", first_b),
               fixed = TRUE)
  expect_length(err$simulations$data, first_b - 1L)
  unlimited <- simulator_models(a = quick_simulator, b = endless_simulator,
                                features = "y")
  err <- expect_deepbmc_error(
    simulate_datasets(unlimited, n = 10, seed = 1, time_limit = 0.3),
    "simulation", "time_limit"
  )
  expect_identical(err$time_limit, 0.3)
  expect_lt(proc.time()[["elapsed"]] - started, 10)
  # the limit is lifted afterwards
  expect_silent(Sys.sleep(0.6))
  # the argument is checked
  expect_deepbmc_error(simulator_models(a = quick_simulator,
                                        b = quick_simulator, time_limit = 0),
                       "value", "time_limit")
  expect_deepbmc_error(simulate_datasets(models, n = 2, time_limit = "1"),
                       "type", "time_limit")
  expect_deepbmc_error(simulate_datasets(models, n = 2, time_limit = NA_real_),
                       "value", "time_limit")
})

test_that("time_limit holds on multisession workers, and a dead worker says how to recover (issue 28)", {
  skip_on_cran()
  skip_if_not_installed("future.apply")
  old_plan <- future::plan(future::multisession, workers = 2)
  withr::defer(future::plan(old_plan))
  models <- simulator_models(a = quick_simulator, b = endless_simulator,
                             features = "y", time_limit = 0.5)
  err <- expect_deepbmc_error(simulate_datasets(models, n = 10, seed = 1),
                              "simulation", "time_limit")
  expect_identical(err$problem, "time_limit")
  # a worker that dies: the error says how to get a working plan back
  killer <- simulator_models(
    a = quick_simulator,
    b = function() tools::pskill(Sys.getpid()),
    features = "y"
  )
  err <- expect_deepbmc_error(simulate_datasets(killer, n = 6, seed = 1),
                              "simulation")
  expect_identical(err$problem, "worker")
  expect_match(conditionMessage(err), "future::plan(future::sequential)",
               fixed = TRUE)
  future::plan(future::sequential)
  expect_s3_class(
    simulate_datasets(simulator_models(a = quick_simulator,
                                       b = quick_simulator),
                      n = 4, seed = 2),
    "deepbmc_simulations"
  )
})

test_that("missing_values() refuses placeholders, codings and patterns it cannot use (issue 28)", {
  for (value in list(1e39, -1e39, list(x = 1, y = 4e38))) {
    expect_deepbmc_error(
      missing_values(coding = "placeholder", placeholder = value),
      "value", "placeholder"
    )
  }
  expect_deepbmc_error(
    missing_values(coding = "placeholder", placeholder = c(x = 1, x = 2)),
    "value", "placeholder"
  )
  expect_s3_class(
    missing_values(coding = "placeholder", placeholder = c(x = 3e38)),
    "deepbmc_missing"
  )
  expect_deepbmc_error(missing_values(coding = c("indicator", "placeholder")),
                       "type", "coding")
  expect_deepbmc_error(missing_values(pattern = function() TRUE), "value",
                       "pattern")
  expect_deepbmc_error(missing_values(pattern = function(a, b) TRUE), "value",
                       "pattern")
  for (pattern in list(function(data) TRUE, function(...) TRUE,
                       function(data, share = 0.1) TRUE, is.na)) {
    expect_s3_class(missing_values(pattern = pattern), "deepbmc_missing")
  }
  # placeholders are checked against the features also where they do not
  # apply (formula models lose whole observations)
  data <- data.frame(y = stats::rnorm(12), x = stats::rnorm(12),
                     g = rep(1:3, each = 4))
  set <- suppressMessages(model_set(hier_model(y ~ 1 + (1 | g), data),
                                    hier_model(y ~ x + (1 | g), data)))
  train <- function(placeholder) {
    train_comparison(set, safety_network(), epochs = 1, iterations = 1,
                     batch_size = 2, threads = 1, seed = 1, progress = FALSE,
                     missing = missing_values(coding = "placeholder",
                                              placeholder = placeholder))
  }
  expect_deepbmc_error(train(list(rt = 1)), "mismatch", "placeholder")
  expect_deepbmc_error(train(c(1, 2, 3)), "mismatch", "placeholder")
})

test_that("recognition memory data must code stimulus and response 0 or 1 (issue 28)", {
  models <- sdt_mpt_models(participants = 3, trials = 4)
  fit <- train_comparison(models, safety_network(), epochs = 1,
                          iterations = 2, batch_size = 4, threads = 1,
                          seed = 1, progress = FALSE)
  data <- data.frame(participant = rep(1:3, each = 4),
                     stimulus = rep(0:1, 6), response = rep(c(0, 1, 1), 4))
  expect_length(post_prob(fit, data, threads = 1), 2)
  half <- transform(data, response = 0.5)
  err <- expect_deepbmc_error(post_prob(fit, half, threads = 1), "value",
                              "data")
  expect_match(conditionMessage(err), "response", fixed = TRUE)
  expect_deepbmc_error(post_prob(fit, transform(data, stimulus = 2),
                                 threads = 1),
                       "value", "data")
  # missing values are not codes
  holes <- data
  holes$response[[2]] <- NA
  expect_length(suppressWarnings(post_prob(fit, holes, threads = 1)), 2)
  # matrices without column names are read by position, with a message
  rlang::local_options(rlib_message_verbosity = "verbose")
  groups <- lapply(split(data[c("stimulus", "response")], data$participant),
                   function(g) unname(as.matrix(g)))
  expect_message(post_prob(fit, unname(groups), threads = 1),
                 class = "deepbmc_by_position_message")
  named <- lapply(split(data[c("stimulus", "response")], data$participant),
                  as.matrix)
  expect_no_message(post_prob(fit, unname(named), threads = 1),
                    class = "deepbmc_by_position_message")
})

test_that("data frames with columns of unequal length are refused (issue 28)", {
  uneven <- function(n) {
    structure(list(group = rep(1:2, each = 3), x = seq_len(n) / 10),
              class = "data.frame", row.names = 1:6)
  }
  for (n in c(4, 8)) {
    models <- simulator_models(a = function() uneven(n),
                               b = function() uneven(6), features = "x")
    err <- expect_deepbmc_error(simulate_datasets(models, n = 2, seed = 1),
                                "simulation")
    expect_identical(err$problem, "columns")
    expect_match(conditionMessage(err), paste(n, "values"), fixed = TRUE)
  }
  fit <- api_fit()
  frame <- unclass(groups_to_data_frame(api_groups(1)))
  frame$y <- frame$y[-1]
  frame <- structure(frame, class = "data.frame",
                     row.names = seq_along(frame$group))
  expect_deepbmc_error(post_prob(fit, frame, threads = 1), "data", "data")
})

test_that("simulators with several features name their matrix columns (issue 28)", {
  named <- function() {
    list(cbind(x = stats::rnorm(3), y = stats::rnorm(3)))
  }
  unnamed <- function() list(matrix(stats::rnorm(6), 3))
  models <- simulator_models(a = named, b = unnamed, features = c("x", "y"))
  err <- expect_deepbmc_error(simulate_datasets(models, n = 10, seed = 1),
                              "simulation")
  expect_identical(err$problem, "columns")
})

test_that("post_prob() says training diverged for a diverged fit (issue 28)", {
  fit <- api_fit()
  good <- groups_to_matrix(api_groups(1))
  # last-layer weights and biases that overflow single precision
  n <- length(fit$weights)
  overflowing <- fit
  overflowing$weights[(n - 9):n] <- 3e38
  err <- expect_deepbmc_error(
    post_prob(with_checksum(overflowing), good, threads = 1), "numeric"
  )
  expect_match(conditionMessage(err), "rescale")
  diverged <- overflowing
  diverged$training$stopped <- "diverged"
  diverged$phases$stopped[[nrow(diverged$phases)]] <- "diverged"
  err <- expect_deepbmc_error(
    post_prob(with_checksum(diverged), good, threads = 1), "numeric"
  )
  expect_match(conditionMessage(err), "training diverged", fixed = TRUE)
  expect_no_match(conditionMessage(err), "rescale")
  # a loss in the history that is not finite tells the same
  exploded <- overflowing
  exploded$history$loss[[nrow(exploded$history)]] <- NaN
  err <- expect_deepbmc_error(
    post_prob(with_checksum(exploded), good, threads = 1), "numeric"
  )
  expect_match(conditionMessage(err), "training diverged", fixed = TRUE)
  expect_deepbmc_error(bayes_factor(with_checksum(diverged), good,
                                    threads = 1),
                       "numeric")
})
