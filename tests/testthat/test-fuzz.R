test_tier("fast")
# Malformed input through every export: each call either works (and then
# any probabilities it returns are finite and sum to one) or fails with a
# classed deepbmc error; warnings, if any, are deepbmc's own classes. Calls
# are built from valid arguments with one argument replaced by a generated
# bad value, so that every argument's check is reached.

# Values that are wrong for most arguments, and some that are merely odd.
fuzz_values <- function() {
  e <- new.env()
  list(
    NULL, NA, NA_real_, NA_integer_, NA_character_, NaN, Inf, -Inf, 0, -1,
    0.5, 1e300, -1e300, .Machine$integer.max + 1, 2^60, TRUE, FALSE, "",
    "text", "1", c(1, 2), numeric(0), character(0), integer(0), list(),
    list(1), list(NULL), list(list()), factor("a"), 1i, as.raw(1), e,
    function() 1, quote(x), quote(f(x)), ~ x, matrix(0, 0, 0),
    matrix("a", 2, 2), matrix(NA_real_, 2, 2), matrix(Inf, 2, 2),
    data.frame(), data.frame(a = "x"), Sys.Date(), rep(1, 1e5),
    structure(list(), class = "deepbmc_fit"),
    structure(list(), class = "deepbmc_models"),
    structure(1, class = "deepbmc_network")
  )
}

# Data sets that are wrong in more specific ways than fuzz_values().
fuzz_data <- function() {
  good <- matrix(stats::rnorm(12), 3)
  list(
    list(good, "x"), list(good, NULL), list(good, list()), list(list(1, "a")),
    list(good, matrix(NA_real_, 2, 2)), good * NaN, good * Inf,
    rbind(good, NA), cbind(good, Inf), matrix(1e39, 2, 2),
    matrix(c(1, NA, NaN, 2), 2), data.frame(group = c(1, 1, NA), y = 1:3),
    data.frame(group = 1:3, y = c("a", "b", "c")),
    data.frame(group = 1:3, y = c(1, Inf, 2)),
    data.frame(group = 1:3, y = c(NA, NA, NA)), data.frame(group = 1, y = 1)[0, ],
    data.frame(g = 1:2, value = 1:2, extra = 1:2),
    list(c(1, 2), "three"), list(c(1, 2), list(3)), list(NA, NA),
    list(list(c(1, 2)), list(list(3))), array(1, c(2, 2, 2)),
    structure(list(data = list(good)), class = "deepbmc_simulations"),
    structure(list(), class = "deepbmc_simulations")
  )
}

# Runs `call` and returns "ok", "deepbmc error", or a description of what
# went wrong: another error, a foreign warning, or bad probabilities.
fuzz_outcome <- function(call, pmp_of = NULL) {
  foreign <- NULL
  result <- withCallingHandlers(
    tryCatch(
      list(value = force(call)),
      deepbmc_error = function(e) list(deepbmc_error = e),
      error = function(e) list(other_error = e)
    ),
    warning = function(w) {
      if (!any(grepl("^deepbmc_", class(w)))) foreign <<- w
      invokeRestart("muffleWarning")
    },
    message = function(m) invokeRestart("muffleMessage")
  )
  if (!is.null(result$other_error)) {
    return(paste("unclassed error:", conditionMessage(result$other_error)))
  }
  if (!is.null(foreign)) {
    return(paste("foreign warning:", conditionMessage(foreign)))
  }
  if (!is.null(result$deepbmc_error)) {
    return("deepbmc error")
  }
  if (!is.null(pmp_of)) {
    pmp <- pmp_of(result$value)
    if (!is.null(pmp)) {
      pmp <- as.matrix(pmp)
      if (!is.numeric(pmp) || anyNA(pmp) || any(!is.finite(pmp)) ||
            any(pmp < 0) || any(abs(rowSums(pmp) - 1) > 1e-9)) {
        return("returned probabilities that are not finite or do not sum to one")
      }
    }
  }
  "ok"
}

# Every argument of `fun` but those in `skip` in turn replaced by `per_arg`
# of `values` drawn at random (all of them for the arguments in `all_for`),
# the others kept at `valid`; returns one outcome per call, named by argument
# and value.
fuzz_function <- function(name, fun, valid, values, pmp_of = NULL,
                          per_arg = 8, all_for = character(0),
                          skip = character(0)) {
  outcomes <- character()
  for (arg in setdiff(names(valid), skip)) {
    drawn <- if (arg %in% all_for) seq_along(values) else
      sort(sample(length(values), min(per_arg, length(values))))
    for (i in drawn) {
      args <- valid
      args[arg] <- list(values[[i]])
      outcome <- fuzz_outcome(do.call(fun, args, quote = TRUE), pmp_of)
      outcomes[paste0(name, "(", arg, " = <value ", i, ">)")] <- outcome
    }
  }
  outcomes
}

expect_all_classed <- function(outcomes) {
  bad <- outcomes[outcomes != "ok" & outcomes != "deepbmc error"]
  expect(
    length(bad) == 0,
    paste0(length(bad), " of ", length(outcomes), " fuzzed calls went wrong:\n",
           paste0(names(bad), ": ", bad, collapse = "\n"))
  )
  invisible(outcomes)
}

test_that("model and network builders refuse malformed input with classed errors", {
  withr::local_seed(1)
  values <- fuzz_values()
  outcomes <- c(
    fuzz_function("normal_nested_models", normal_nested_models,
                  list(groups = 3, obs = 4), values),
    fuzz_function("hierarchical_network", hierarchical_network,
                  list(s1 = c(2, 2), s2 = c(2, 2), s3 = c(2, 2),
                       summary_dim = c(2, 2), n_dense = 1, n_equivariant = 1,
                       head_units = 2, head_layers = 1, activation = "elu"),
                  values),
    fuzz_function("hier_prior", hier_prior,
                  list(prior = "normal(0, 1)", class = "b", coef = ""),
                  c(values, list("normal(0, 1", "normal(,)", "normal(0, 1)(2)",
                                 "normal(0, 1); q()", "1 + 1", "normal(0, -Inf)",
                                 "lkj(0)", "constant(NaN)", "normal(0, 1e400)")),
                  per_arg = 20),
    fuzz_function("hier_model", hier_model,
                  list(formula = weight ~ 1 + Time + (1 | Chick),
                       data = ChickWeight, family = "gaussian", prior = NULL),
                  c(values, list(weight ~ Time, weight ~ (1 | Chick) + (1 | Diet),
                                 weight ~ system("true") + (1 | Chick),
                                 ~ (1 | Chick), Time ~ weight + (1 | Chick) + 0,
                                 "weight ~ 1 + (1 | Chick)")),
                  per_arg = 15),
    fuzz_function("model_set", function(...) model_set(...),
                  list(a = hier_model(weight ~ 1 + (1 | Chick), ChickWeight),
                       b = hier_model(weight ~ Time + (1 | Chick), ChickWeight),
                       prior_prob = NULL, inputs = NULL, design = "fixed",
                       groups = NULL),
                  values)
  )
  expect_gt(length(outcomes), 150)
  expect_all_classed(outcomes)
})

test_that("training, simulation and validation refuse malformed input", {
  withr::local_seed(2)
  values <- fuzz_values()
  # only values that fail fast, so that no fuzzed call trains for long
  quick <- values[!vapply(values, function(v) {
    is.numeric(v) && length(v) == 1 && !is.na(v) && v >= 1 && v <= 1e6
  }, logical(1))]
  models <- normal_nested_models(groups = 3, obs = 3)
  fit <- api_fit()
  outcomes <- c(
    fuzz_function("train_comparison", train_comparison,
                  list(models = models, network = api_network(), epochs = 1,
                       iterations = 2, batch_size = 2, learning_rate = 1e-3,
                       holdout = 0, threads = 1, seed = 1, progress = FALSE),
                  quick),
    fuzz_function("simulate_datasets", simulate_datasets,
                  list(models = models, n = 2, seed = 1, threads = 1), quick),
    fuzz_function("validate", validate,
                  list(fit = fit, n = 20, groups = NULL, obs = NULL, seed = 1,
                       threads = 1, bins = 5, boot = 2, level = 0.9),
                  quick, pmp_of = function(v) v$pmp),
    fuzz_function("validate_sizes", validate_sizes,
                  list(fit = fit, groups = 3, obs = 3, n = 10, seed = 1,
                       threads = 1, bins = 5),
                  quick),
    fuzz_function("training_history", training_history, list(fit = fit),
                  values),
    fuzz_function("calibration_curve", calibration_curve,
                  list(x = matrix(c(0.2, 0.8, 0.6, 0.4), 2, byrow = TRUE),
                       true_model = c(1L, 2L)),
                  values),
    fuzz_function("stan_code", stan_code,
                  list(x = models, model = "M1"), values)
  )
  expect_gt(length(outcomes), 200)
  expect_all_classed(outcomes)
})

test_that("post_prob(), bayes_factor() and compare_models() never return bad probabilities", {
  withr::local_seed(3)
  fit <- api_fit()
  good <- groups_to_matrix(api_groups(1))
  inputs <- c(fuzz_values(), fuzz_data())
  # The first argument picks the method of bridgesampling's generics: a
  # number there is bridgesampling's business (a log marginal likelihood).
  # Fits are damaged below instead.
  outcomes <- c(
    fuzz_function("post_prob", post_prob,
                  list(x = fit, data = good, prior_prob = NULL,
                       model_names = NULL, log = FALSE, threads = 1),
                  inputs, all_for = "data", skip = "x",
                  pmp_of = function(v) if (is.numeric(v)) {
                    if (is.matrix(v)) v else matrix(v, 1)
                  }),
    fuzz_function("bayes_factor", bayes_factor,
                  list(x1 = fit, x2 = good, log = TRUE, model1 = 1,
                       model2 = 2, threads = 1),
                  inputs, all_for = "x2", skip = "x1"),
    fuzz_function("compare_models", compare_models,
                  list(fit = fit, data = good, prior_prob = NULL, threads = 1),
                  inputs, all_for = "data", pmp_of = function(v) {
                    matrix(v$pmp, ncol = fit$models$n_models, byrow = TRUE)
                  })
  )
  expect_gt(length(outcomes), 250)
  expect_all_classed(outcomes)
  # damaged fits, built by replacing one element of a fit at random
  parts <- setdiff(names(fit), "format_version")
  damaged <- character()
  for (i in seq_len(60)) {
    bad <- fit
    part <- sample(parts, 1)
    bad[[part]] <- sample(inputs, 1)[[1]]
    damaged[paste("fit with", part, i)] <- fuzz_outcome(
      post_prob(bad, good),
      pmp_of = function(v) matrix(v, 1)
    )
  }
  expect_all_classed(damaged)
})

test_that("names with braces and parentheses are text everywhere (issue 28)", {
  withr::local_seed(4)
  sentinel <- tempfile()
  names <- c("{x}", "rate{x}", "a}b{", "{{", "}", "f(x)", "(1 | g)",
             "Subject) + (1 | g", sprintf("{system('touch %s')}", sentinel),
             sprintf("x) + I(system('touch %s')) + (1", sentinel))
  fit <- api_fit()
  good <- groups_to_matrix(api_groups(1))
  outcomes <- character()
  for (i in seq_along(names)) {
    name <- names[[i]]
    label <- function(what) paste0(what, " (name ", i, ")")
    # simulators: the name as a model, a feature and the group column
    simulator <- function(mu, feature = "y", group = "group") {
      force(mu)
      function() {
        data <- data.frame(rep(1:2, each = 3), stats::rnorm(6, mu))
        names(data) <- c(group, feature)
        data
      }
    }
    outcomes[label("simulator_models(<model name>)")] <- fuzz_outcome(
      simulate_datasets(
        do.call(simulator_models,
                stats::setNames(list(simulator(0), simulator(1)),
                                c(name, "b"))),
        n = 2, seed = 1
      )
    )
    outcomes[label("simulator_models(<feature>)")] <- fuzz_outcome(
      simulate_datasets(simulator_models(a = simulator(0, feature = name),
                                         b = simulator(1, feature = name)),
                        n = 2, seed = 1)
    )
    outcomes[label("simulator_models(<group>)")] <- fuzz_outcome(
      simulate_datasets(simulator_models(a = simulator(0, group = name),
                                         b = simulator(1, group = name),
                                         group = name),
                        n = 2, seed = 1)
    )
    # a failing simulator whose error message quotes the name
    outcomes[label("simulator error")] <- fuzz_outcome(
      do.call(simulator_models,
              stats::setNames(list(function() stop(name), simulator(1)),
                              c(name, "b")))
    )
    # the name as model names, a model to compare and a data column
    outcomes[label("post_prob(model_names)")] <- fuzz_outcome(
      post_prob(fit, good, model_names = c(name, "b"), threads = 1),
      pmp_of = function(v) matrix(v, 1)
    )
    outcomes[label("bayes_factor(model1)")] <- fuzz_outcome(
      bayes_factor(fit, good, model1 = name, threads = 1)
    )
    frame <- groups_to_data_frame(api_groups(1))
    frame[[name]] <- 1
    outcomes[label("post_prob(<extra column>)")] <- fuzz_outcome(
      post_prob(fit, frame, threads = 1)
    )
    outcomes[label("post_prob(group)")] <- fuzz_outcome(
      post_prob(fit, groups_to_data_frame(api_groups(1)), group = name,
                threads = 1)
    )
    # formula models: the name as a covariate and as the group column
    data <- data.frame(y = stats::rnorm(12), x = stats::rnorm(12),
                       g = rep(1:4, each = 3))
    names(data)[2:3] <- c(name, paste0(name, "_g"))
    formula <- stats::as.formula(call(
      "~", quote(y),
      call("+", as.name(name), call("(", call("|", 1, as.name(names(data)[3]))))
    ))
    outcomes[label("hier_model()")] <- fuzz_outcome(
      suppressMessages(brms_formula(hier_model(formula, data)))
    )
    outcomes[label("hier_prior(coef)")] <- fuzz_outcome(
      suppressMessages(hier_model(formula, data,
                                  prior = hier_prior("normal(0, 1)",
                                                     class = "b", coef = name)))
    )
    outcomes[label("hier_prior(<unknown coef>)")] <- fuzz_outcome(
      hier_model(y ~ 1 + (1 | g), data.frame(y = 1:4 + 0.5, g = c(1, 1, 2, 2)),
                 prior = hier_prior("normal(0, 1)", class = "b", coef = name))
    )
    outcomes[label("hier_prior(<distribution>)")] <- fuzz_outcome(
      hier_prior(paste0("`", name, "`(0, 1)"), class = "b")
    )
    outcomes[label("missing_values(features)")] <- fuzz_outcome(
      train_comparison(normal_nested_models(groups = 3, obs = 3), api_network(),
                       epochs = 1, iterations = 1, batch_size = 2,
                       threads = 1, seed = 1, progress = FALSE,
                       missing = missing_values(features = name))
    )
  }
  expect_gt(length(outcomes), 100)
  expect_all_classed(outcomes)
  expect_false(file.exists(sentinel))
})
