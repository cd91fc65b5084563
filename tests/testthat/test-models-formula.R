test_tier("fast")
# Formula models (R/formula-parse.R, R/formula-priors.R, R/formula-model.R,
# R/formula-set.R, R/formula-data.R): parsing, priors, compilation, data
# conversion and simulation through the R API, against computations written
# out here.

# A small unbalanced design: 12 groups of 3 to 8 rows, a numeric covariate, a
# two-level factor, a count response, binomial trials and a few missing
# responses.
formula_data <- function() {
  withr::local_seed(101)
  sizes <- rep(3:8, 2)
  group <- rep(sprintf("g%02d", seq_along(sizes)), sizes)
  n <- length(group)
  data <- data.frame(
    subject = group,
    x = round(stats::rnorm(n), 2),
    condition = factor(rep(c("a", "b"), length.out = n)),
    y = stats::rnorm(n, 5, 2),
    count = stats::rpois(n, 3),
    hits = NA_real_,
    n_trials = sample(5:9, n, replace = TRUE),
    rt = stats::rlnorm(n, -0.5, 0.3),
    correct = stats::rbinom(n, 1, 0.7)
  )
  data$hits <- stats::rbinom(n, data$n_trials, 0.6)
  data$y[c(4, 17)] <- NA
  # shuffle rows so that groups are not contiguous in the template
  data[sample(n), ]
}

test_that("formulas parse into response, fixed and group-level parts", {
  parsed <- deepbmc:::parse_hier_formula(y ~ x * condition + (1 + x | subject))
  expect_identical(parsed$response, "y")
  expect_null(parsed$trials)
  expect_identical(parsed$group, "subject")
  expect_true(parsed$correlated)
  expect_identical(deparse1(parsed$fixed), "~x * condition")
  expect_identical(deparse1(parsed$random), "~1 + x")

  uncorrelated <- deepbmc:::parse_hier_formula(y ~ 0 + (1 + x || subject))
  expect_false(uncorrelated$correlated)
  expect_identical(deparse1(uncorrelated$fixed), "~0")
  only_group <- deepbmc:::parse_hier_formula(y ~ (1 | subject))
  expect_identical(deparse1(only_group$fixed), "~1")
  binomial <- deepbmc:::parse_hier_formula(hits | trials(n_trials) ~ x + (1 | subject))
  expect_identical(binomial$response, "hits")
  expect_identical(binomial$trials, "n_trials")
})

test_that("hier_model() builds the model matrices of the data", {
  data <- formula_data()
  m <- hier_model(y ~ x + condition + (1 + x | subject), data)
  expect_s3_class(m, "deepbmc_hier_model")
  expect_identical(m$family, list(family = "gaussian", link = "identity"))
  expect_identical(colnames(m$x), c("(Intercept)", "x", "conditionb"))
  expect_identical(colnames(m$z), c("(Intercept)", "x"))
  expect_equal(unname(m$x[, "conditionb"]), as.double(data$condition == "b"))
  expect_equal(unname(m$z[, "x"]), data$x)
  no_intercept <- hier_model(y ~ 0 + (1 | subject), data)
  expect_identical(ncol(no_intercept$x), 0L)
  interaction <- hier_model(y ~ x * condition + (1 | subject), data)
  expect_equal(unname(interaction$x[, "x:conditionb"]),
               data$x * (data$condition == "b"))
  expect_identical(hier_model(correct ~ x + (1 | subject), data,
                              family = binomial())$family,
                   list(family = "bernoulli", link = "logit"))
  expect_identical(hier_model(correct ~ x + (1 | subject), data,
                              family = binomial(link = "probit"))$family$link,
                   "probit")
  expect_identical(hier_model(count ~ x + (1 | subject), data,
                              family = poisson)$family$family, "poisson")
  binom <- hier_model(hits | trials(n_trials) ~ x + (1 | subject), data,
                      family = "binomial")
  expect_identical(binom$trials_values, as.integer(data$n_trials))
})

test_that("default priors follow the documented scales of the data", {
  data <- formula_data()
  m <- hier_model(y ~ x + condition + (1 + x | subject), data)
  prior <- m$prior
  y <- data$y[!is.na(data$y)]
  s <- sd(y)
  row <- function(class, coef = "") prior[prior$class == class & prior$coef == coef, ]
  expect_identical(row("Intercept")$distribution, "normal")
  expect_equal(c(row("Intercept")$p1, row("Intercept")$p2), c(mean(y), 2.5 * s))
  expect_equal(row("b", "x")$p2, 2.5 * s / sd(data$x))
  expect_equal(row("b", "conditionb")$p2,
               2.5 * s / sd(as.double(data$condition == "b")))
  expect_identical(row("sd", "Intercept")$distribution, "half_normal")
  expect_equal(row("sd", "Intercept")$p1, s)
  # slopes' SDs scaled by their covariate, as the slopes' priors are
  expect_equal(row("sd", "x")$p1, s / sd(data$x))
  expect_identical(row("cor")$distribution, "lkj")
  expect_equal(row("cor")$p1, 1)
  expect_equal(row("sigma")$p1, 1 / s)
  expect_true(all(prior$source == "default"))
  # on the link scale for other families: location 0, scale 1
  p <- hier_model(count ~ x + (1 | subject), data, family = poisson())$prior
  expect_equal(p$p2[p$class == "Intercept"], 2.5)
  expect_false("sigma" %in% p$class)
  ln <- hier_model(rt ~ 1 + (1 | subject), data, family = "lognormal")$prior
  expect_equal(ln$p1[ln$class == "Intercept"], mean(log(data$rt)))
})

test_that("user priors replace defaults by class, then by coefficient", {
  data <- formula_data()
  m <- hier_model(
    y ~ x + condition + (1 + x | subject), data,
    prior = c(
      hier_prior("normal(0, 3)", class = "b", coef = "x"),
      hier_prior(student_t(3, 0, 2), class = "b"),
      hier_prior("normal(0, 1)", class = "sd"),
      hier_prior(lkj(2), class = "cor"),
      hier_prior("constant(1)", class = "sigma")
    )
  )
  prior <- m$prior
  row <- function(class, coef = "") prior[prior$class == class & prior$coef == coef, ]
  expect_identical(row("b", "x")$prior, "normal(0, 3)")
  expect_identical(row("b", "conditionb")$prior, "student_t(3, 0, 2)")
  # normal(0, s) on an SD is its half version
  expect_identical(row("sd", "x")$distribution, "half_normal")
  expect_equal(row("sd", "x")$p1, 1)
  expect_equal(row("cor")$p1, 2)
  expect_identical(row("sigma")$distribution, "constant")
  expect_identical(row("Intercept")$source, "default")
  expect_identical(row("b", "x")$source, "user")
  out <- capture.output(print(m))
  expect_match(out[[1]], "gaussian(identity)", fixed = TRUE)
  expect_true(any(grepl("student_t\\(3, 0, 2\\) +b +conditionb +user", out)))
  expect_true(any(grepl("lkj\\(2\\) +cor", out)))
})

test_that("bad specifications are classed errors that say what is wrong", {
  data <- formula_data()
  expect_deepbmc_error(hier_model(y ~ x + (1 | subject), data, family = "weibull"),
                       "value")
  expect_deepbmc_error(hier_model(y ~ x + (1 | subject), data,
                                  family = poisson(link = "identity")), "value")
  expect_deepbmc_error(hier_model(missing_column ~ x + (1 | subject), data),
                       "data", "data")
  expect_deepbmc_error(hier_model(y ~ x + (1 | subject), transform(data, y = NA)),
                       "data")
  expect_deepbmc_error(hier_model(y ~ x + (1 | subject), data[0, ]), "data")
  expect_deepbmc_error(hier_model(y ~ x + (1 | subject), as.list(data)), "type",
                       "data")
  # a model without a group-level term is one (issue 19), but a set needs one
  err <- expect_deepbmc_error(
    model_set(hier_model(y ~ x, data), hier_model(y ~ 1, data)), "value"
  )
  expect_match(conditionMessage(err), "No model of the set has a group-level")
  expect_deepbmc_error(hier_model(~ x + (1 | subject), data), "type", "formula")
  expect_deepbmc_error(hier_model(log(y) ~ x + (1 | subject), data), "value",
                       "formula")
  err <- expect_deepbmc_error(
    hier_model(y ~ x + (1 | subject) + (1 | condition), data), "value"
  )
  expect_match(conditionMessage(err), "nested or crossed")
  expect_deepbmc_error(hier_model(y ~ x + (1 | subject / condition), data),
                       "value")
  # offsets are terms (issue 19), but with the same allow-list, and fixed
  expect_deepbmc_error(hier_model(y ~ x + offset(system("x")) + (1 | subject),
                                  data), "value", "formula")
  expect_deepbmc_error(hier_model(y ~ x + (1 + offset(x) | subject), data),
                       "value", "formula")
  expect_deepbmc_error(hier_model(y ~ s(x) + (1 | subject), data), "value")
  expect_deepbmc_error(hier_model(hits | trials(n_trials) ~ x + (1 | subject),
                                  data), "value")
  # binomial() without trials() is Bernoulli, as in glm(): counts above 1 fail
  err <- expect_deepbmc_error(hier_model(hits ~ x + (1 | subject), data,
                                         family = "binomial"), "data")
  expect_match(conditionMessage(err), "bernoulli")
  # a prior on a class the model does not have
  expect_deepbmc_error(hier_model(count ~ x + (1 | subject), data, family = poisson(),
                                  prior = hier_prior("exponential(1)", class = "sigma")),
                       "value", "prior")
  expect_deepbmc_error(hier_model(y ~ x + (1 | subject), data,
                                  prior = hier_prior("lkj(2)", class = "cor")),
                       "value", "prior")
  expect_deepbmc_error(hier_model(y ~ x + (1 | subject), data,
                                  prior = hier_prior("normal(0, 1)", class = "b",
                                                     coef = "z")),
                       "value", "prior")
  expect_deepbmc_error(hier_prior("normal(0)", class = "b"), "value", "prior")
  expect_deepbmc_error(hier_prior("normal(0, -1)", class = "b"), "value", "prior")
  expect_deepbmc_error(hier_prior("normal(1, 1)", class = "sd"), "value", "prior")
  expect_deepbmc_error(hier_prior("cauchy(0, 1)", class = "b"), "value", "prior")
  expect_deepbmc_error(hier_prior("lkj(1)", class = "b"), "value", "prior")
  expect_deepbmc_error(hier_prior("normal(0, 1)", class = "tau"), "value", "class")
  # nu, shape and phi belong to the families that have them
  expect_deepbmc_error(hier_model(y ~ x + (1 | subject), data,
                                  prior = hier_prior("gamma(2, 1)", class = "nu")),
                       "value", "prior")
  expect_deepbmc_error(hier_prior(3, class = "b"), "type", "prior")
  # computed strings are evaluated, calls of distributions taken as written
  scale <- 2.5
  expect_identical(hier_prior(paste0("normal(0, ", scale, ")"), class = "b")$prior,
                   "normal(0, 2.5)")
  expect_identical(hier_prior(normal(0, 2.5), class = "b"),
                   hier_prior("normal(0, 2.5)", class = "b"))
  expect_deepbmc_error(hier_model(y ~ x + (1 | subject), data, prior = "normal(0, 1)"),
                       "type", "prior")
  # one group, non-finite covariates, bad responses
  one_group <- transform(data, subject = "s")
  err <- expect_deepbmc_error(hier_model(y ~ x + (1 | subject), one_group), "data")
  expect_match(conditionMessage(err), "at least two groups")
  bad_x <- data
  bad_x$x[3] <- Inf
  expect_deepbmc_error(hier_model(y ~ x + (1 | subject), bad_x), "data", "data")
  # NA is not an error but a dropped row (issue 19; tested below)
  bad_x$x[3] <- NA
  expect_message(hier_model(y ~ x + (1 | subject), bad_x),
                 class = "deepbmc_dropped_rows_message")
  expect_deepbmc_error(hier_model(y ~ x + (1 | subject), data, family = poisson()),
                       "data")
  expect_deepbmc_error(hier_model(y ~ x + (1 | subject), transform(data, y = y - 10),
                                  family = "lognormal"),
                       "data")
})

test_that("prior strings and formulas are read as data, never run as code", {
  marker <- withr::local_tempfile()
  run <- sprintf("system('touch %s')", marker)
  hostile_priors <- c(
    sprintf("normal(%s, 1)", run),
    sprintf("normal(0, {%s; 1})", run),
    sprintf("normal(0, (function() {%s; 1})())", run),
    sprintf("student_t(3, 0, file.create('%s') + 1)", marker),
    "normal(0, pi)", "normal(0, x)", "normal(0, 1:2)", "normal(0, '1')",
    "normal(0, c(1))", "normal(0, 1 + 1)", "normal(mean = 0, 1)"
  )
  for (text in hostile_priors) {
    expect_deepbmc_error(hier_prior(text, class = "b"), "value", "prior",
                         label = text)
  }
  # written as a call, the same text is refused the same way
  expect_deepbmc_error(hier_prior(normal(system("true"), 1), class = "b"),
                       "value", "prior")
  # numbers written out, with signs and exponents, are fine
  expect_identical(hier_prior("normal(-1.5e-1, +2)", class = "b")$prior,
                   "normal(-0.15, 2)")
  expect_identical(hier_prior("student_t(3L, 0, 1)", class = "b")$prior,
                   "student_t(3, 0, 1)")

  data <- formula_data()
  hostile_terms <- list(
    bquote(y ~ system(.(sprintf("touch %s", marker))) + (1 | subject)),
    bquote(y ~ I(file.create(.(marker))) + x + (1 | subject)),
    bquote(y ~ x + (1 + I(file.create(.(marker))) | subject)),
    quote(y ~ get("x") + (1 | subject)),
    quote(y ~ eval(x) + (1 | subject))
  )
  for (formula in hostile_terms) {
    formula <- eval(formula)
    expect_deepbmc_error(hier_model(formula, data), "value", "formula",
                         label = deparse1(formula))
  }
  expect_false(file.exists(marker))
  # the functions lme4-style formulas need still work
  model <- hier_model(y ~ log(abs(x) + 1) + I(x^2) + factor(condition) +
                        (1 + x | subject), data)
  expect_identical(ncol(model$x), 4L)
})

test_that("user text in Stan comments cannot start Stan code", {
  data <- formula_data()
  data$x2 <- data$x
  names(data)[names(data) == "x2"] <- "x\n}\nmodel { target += 1; }\n//"
  formula <- stats::as.formula(
    paste("y ~ `", names(data)[ncol(data)], "` + (1 | subject)", sep = ""),
    env = baseenv()
  )
  code <- stan_code(model_set(a = hier_model(y ~ 1 + (1 | subject), data),
                              b = hier_model(formula, data)), model = "b")
  lines <- strsplit(code, "\n", fixed = TRUE)[[1]]
  expect_false(any(grepl("^\\s*model \\{ target", lines)))
  expect_identical(sum(grepl("^model \\{", lines)), 1L)
})

test_that("model_set() compiles the models for the simulator", {
  data <- formula_data()
  set <- model_set(
    null = hier_model(y ~ 1 + (1 + x | subject), data),
    effect = hier_model(y ~ 1 + condition + (1 + x | subject), data),
    prior_prob = c(effect = 0.3, null = 0.7)
  )
  expect_s3_class(set, c("deepbmc_formula_models", "deepbmc_models"), exact = TRUE)
  expect_identical(set$model_names, c("null", "effect"))
  expect_identical(set$inputs, c("x", "conditionb"))
  expect_identical(set$n_features, 3L)
  expect_identical(set$prior_prob, c(null = 0.7, effect = 0.3))
  expect_identical(set$groups, c(12L, 12L))
  spec <- deepbmc:::models_spec(set)
  design <- spec$design
  # rows sorted by group, offsets by group size
  order_rows <- order(data$subject)
  expect_identical(design$group_offsets,
                   c(0L, cumsum(as.integer(table(data$subject)))))
  expect_identical(design$observed, !is.na(data$y[order_rows]))
  expect_identical(set$obs, range(as.integer(tapply(!is.na(data$y), data$subject, sum))))
  x_std <- (data$x - mean(data$x)) / sd(data$x)
  b <- as.double(data$condition == "b")
  b_std <- (b - mean(b)) / sd(b)
  expect_equal(design$covariate_features, cbind(x_std, b_std)[order_rows, ],
               ignore_attr = TRUE)
  y <- data$y[!is.na(data$y)]
  expect_equal(spec$scaling, list(response_center = mean(y), response_scale = sd(y)))
  effect <- spec$models[[2]]
  expect_identical(effect$family, 0L)
  expect_equal(effect$X[, 2], b[order_rows])
  expect_equal(effect$Z[, 2], data$x[order_rows])
  expect_true(effect$correlated)
  expect_identical(effect$b_prior$kind, c(1L, 1L))
  expect_identical(effect$sd_prior$kind, c(3L, 3L))
  expect_identical(spec$models[[1]]$sigma_prior$kind, 5L)

  only_x <- model_set(hier_model(y ~ 1 + (1 | subject), data),
                      hier_model(y ~ x + (1 | subject), data), inputs = character(0))
  expect_identical(only_x$model_names, c("M1", "M2"))
  expect_identical(only_x$n_features, 1L)
  resampled <- model_set(hier_model(y ~ 1 + (1 | subject), data),
                         hier_model(y ~ x + (1 | subject), data),
                         design = "resample", groups = c(5, 20))
  expect_identical(deepbmc:::models_spec(resampled)$design$groups, c(5L, 20L))
  expect_output(print(set), "Network inputs: y, x, conditionb")

  m <- hier_model(y ~ 1 + (1 | subject), data)
  other <- hier_model(y ~ 1 + (1 | subject), data[-1, ])
  expect_deepbmc_error(model_set(m), "value")
  expect_deepbmc_error(model_set(m, other), "mismatch")
  expect_deepbmc_error(model_set(normal_nested_models(), normal_nested_models()),
                       "type")
  expect_deepbmc_error(model_set(hier_model(count ~ 1 + (1 | subject), data,
                                            family = poisson()),
                                 normal_nested_models()), "mismatch")
  expect_deepbmc_error(model_set(m, "m"), "type")
  expect_deepbmc_error(model_set(a = m, a = m), "value")
  expect_deepbmc_error(model_set(m, m, inputs = "zz"), "value", "inputs")
  expect_deepbmc_error(model_set(m, m, groups = 5), "mismatch", "groups")
  expect_deepbmc_error(model_set(m, m, prior_prob = c(0.5, 0.6)), "value",
                       "prior_prob")
})

test_that("simulations come back as data frames of the template's design", {
  data <- formula_data()
  set <- model_set(
    hier_model(count ~ 1 + (1 | subject), data, family = poisson()),
    hier_model(count ~ x + (1 | subject), data, family = poisson())
  )
  sims <- simulate_datasets(set, n = 20, seed = 4)
  sorted <- data[order(data$subject), ]
  for (i in seq_along(sims$data)) {
    frame <- sims$data[[i]]
    expect_identical(names(frame), names(data))
    expect_identical(nrow(frame), nrow(data))
    expect_equal(frame$x, sorted$x)
    expect_true(all(frame$count >= 0 & frame$count == round(frame$count)))
    expect_identical(nlevels(frame$subject), 12L)
  }
  # resampled designs: groups are copies of template groups
  resampled <- model_set(
    hier_model(count ~ 1 + (1 | subject), data, family = poisson()),
    hier_model(count ~ x + (1 | subject), data, family = poisson()),
    design = "resample", groups = c(3, 6)
  )
  sims <- simulate_datasets(resampled, n = 30, seed = 5)
  template_groups <- split(data$x, data$subject)
  for (frame in sims$data) {
    groups <- split(frame$x, frame$subject)
    expect_true(length(groups) >= 3 && length(groups) <= 6)
    for (g in groups) {
      expect_true(any(vapply(template_groups, identical, logical(1), g)))
    }
  }
})

test_that("real data take the same path as simulations", {
  data <- formula_data()
  set <- model_set(
    null = hier_model(y ~ 1 + (1 + x | subject), data),
    effect = hier_model(y ~ 1 + condition + (1 + x | subject), data)
  )
  fit <- train_comparison(set, hierarchical_network(), epochs = 1,
                          iterations = 5, batch_size = 8, seed = 3,
                          progress = FALSE)
  # the network's view of the template, rebuilt by hand
  prepared <- deepbmc:::prepare_datasets(set, data, NULL, NULL, "data",
                                         rlang::current_env())
  kept <- data[!is.na(data$y), ]
  kept <- kept[order(kept$subject), ]
  y <- data$y[!is.na(data$y)]
  b <- as.double(data$condition == "b")
  expected <- cbind(
    (kept$y - mean(y)) / sd(y),
    (kept$x - mean(data$x)) / sd(data$x),
    (as.double(kept$condition == "b") - mean(b)) / sd(b)
  )
  # features are single precision, as the network computes
  expect_equal(matrix(prepared$batch$values, ncol = 3, byrow = TRUE), expected,
               tolerance = 1e-6)
  expect_identical(prepared$batch$group_offsets,
                   c(0L, cumsum(as.integer(table(kept$subject)))))
  expect_true(prepared$single)

  # simulated data sets through post_prob() give the logits validate() sees
  v <- validate(fit, n = 50, seed = 8, boot = 0)
  sims <- simulate_datasets(set, n = 50, seed = 8)
  expect_identical(sims$model, v$model)
  expect_equal(post_prob(fit, sims, log = TRUE), v$log_pmp, tolerance = 1e-4)
  # the set's prior probabilities are the default
  weighted <- model_set(set$models$null, set$models$effect,
                        prior_prob = c(0.8, 0.2))
  fit_weighted <- fit
  fit_weighted$models <- weighted
  fit_weighted <- with_checksum(fit_weighted)
  uniform <- post_prob(fit, data)
  expected_pmp <- uniform * c(0.8, 0.2) / sum(uniform * c(0.8, 0.2))
  expect_equal(unname(post_prob(fit_weighted, data)), unname(expected_pmp),
               tolerance = 1e-12)

  # subsets of the design: the warning says which training covers them
  few_groups <- data[data$subject %in% c("g01", "g02", "g03"), ]
  w <- expect_warning(post_prob(fit, few_groups),
                      class = "deepbmc_extrapolation_warning")
  expect_match(conditionMessage(w),
               "design = \"resample\", groups = c(3, 12)", fixed = TRUE)
  observed <- data[!is.na(data$y), ]
  first_rows <- observed[!duplicated(observed$subject), ]
  w <- expect_warning(post_prob(fit, first_rows),
                      class = "deepbmc_extrapolation_warning")
  expect_match(conditionMessage(w), "missing = missing_values(share = c(0, ",
               fixed = TRUE)
  # and that training does: missing observations cover fewer per group
  fit_missing <- train_comparison(
    set, hierarchical_network(), epochs = 1, iterations = 5, batch_size = 8,
    seed = 3, progress = FALSE, missing = missing_values(share = c(0, 0.9))
  )
  expect_no_warning(post_prob(fit_missing, first_rows))

  # data that do not fit the models
  expect_deepbmc_error(post_prob(fit, data[, c("subject", "y")]), "data", "data")
  bad <- data
  bad$condition <- as.character(bad$condition)
  bad$condition[1] <- "z"
  expect_deepbmc_error(post_prob(fit, bad), "data", "data")
  expect_deepbmc_error(post_prob(fit, list(data, 1)), "data", "data")
  # other column names are mapped with group = and response =
  renamed <- data
  names(renamed)[names(renamed) == "subject"] <- "id"
  names(renamed)[names(renamed) == "y"] <- "outcome"
  expect_identical(post_prob(fit, renamed, group = "id", response = "outcome"),
                   uniform)
  expect_identical(post_prob(fit, data, group = "subject"), uniform)
  expect_deepbmc_error(post_prob(fit, data, group = "nope"), "data", "group")
  expect_deepbmc_error(post_prob(fit, data, response = 1), "type", "response")
  expect_deepbmc_error(post_prob(fit, transform(data, y = NA_real_)), "data", "data")
})

test_that("the Study 1 pair as formulas simulates as the built-in models do", {
  set <- study1_formula_set()
  formula_sims <- simulate_datasets(set, n = 3000, seed = 21)
  builtin_sims <- simulate_datasets(normal_nested_models(50, 50), n = 3000,
                                    seed = 22)
  # per data set: grand mean, SD of group means, mean within-group SD
  statistics <- function(groups) {
    means <- vapply(groups, mean, numeric(1))
    c(mean(means), sd(means), mean(vapply(groups, sd, numeric(1))))
  }
  formula_stats <- t(vapply(formula_sims$data, function(frame) {
    statistics(split(frame$y, frame$g))
  }, numeric(3)))
  builtin_stats <- t(vapply(builtin_sims$data, function(x) {
    statistics(split(x, row(x)))
  }, numeric(3)))
  for (k in 1:2) {
    for (j in 1:3) {
      test <- suppressWarnings(stats::ks.test(
        formula_stats[formula_sims$model == k, j],
        builtin_stats[builtin_sims$model == k, j]
      ))
      expect_gt(test$p.value, 1e-3, label = paste("model", k, "statistic", j))
    }
  }
  # and not merely similar: M0's grand means are centred more tightly
  expect_lt(sd(formula_stats[formula_sims$model == 1, 1]),
            sd(formula_stats[formula_sims$model == 2, 1]) / 2)
})

test_that("built-in model sets join formula models on their design", {
  data <- formula_data()
  effect <- hier_model(y ~ 1 + x + (1 | subject), data)
  set <- model_set(effect = effect, study1 = normal_nested_models())
  expect_identical(set$model_names, c("effect", "study1_M0", "study1_M1"))
  m0 <- set$models$study1_M0
  expect_identical(deparse1(m0$formula), "y ~ 0 + (1 | subject)")
  expect_identical(m0$prior$distribution, c("half_normal_variance",
                                            "half_normal_variance"))
  m1 <- set$models$study1_M1
  expect_identical(m1$prior$prior[m1$prior$class == "Intercept"], "normal(0, 1)")
  # the same models as written by hand
  variances <- c(hier_prior("half_normal_variance(1)", class = "sd"),
                 hier_prior("half_normal_variance(1)", class = "sigma"))
  by_hand <- model_set(
    effect = effect,
    study1_M0 = hier_model(y ~ 0 + (1 | subject), data, prior = variances),
    study1_M1 = hier_model(y ~ 1 + (1 | subject), data,
                           prior = c(variances, hier_prior("normal(0, 1)",
                                                           class = "Intercept")))
  )
  expect_identical(deepbmc:::models_spec(set), deepbmc:::models_spec(by_hand))
  unnamed <- model_set(effect = effect, normal_nested_models())
  expect_identical(unnamed$model_names, c("effect", "M0", "M1"))
  # an unnamed formula model would also be called M1
  expect_deepbmc_error(model_set(effect, normal_nested_models()), "value")
})

test_that("priors keep their parameters in full precision", {
  data <- data.frame(y = c(1, 2, 3, 4), x = c(0, 1, 0, 1), g = c(1, 1, 2, 2))
  prior <- hier_prior("normal(0, 0.123456789)", class = "b")
  model <- hier_model(y ~ x + (1 | g), data, prior = prior)
  expect_identical(model$prior$p2[model$prior$class == "b"], 0.123456789)
  # printing rounds
  expect_identical(model$prior$prior[model$prior$class == "b"],
                   "normal(0, 0.1235)")
})

test_that("rows with missing covariates or groups are dropped with a message", {
  data <- formula_data()
  holes <- data
  holes$x[c(2, 5)] <- NA
  holes$subject[7] <- NA
  expect_message(
    model <- hier_model(y ~ x + (1 | subject), holes),
    "Dropped 3 rows", class = "deepbmc_dropped_rows_message"
  )
  kept <- data[-c(2, 5, 7), ]
  rownames(kept) <- NULL
  expect_identical(nrow(model$data), nrow(kept))
  expect_identical(model$x, hier_model(y ~ x + (1 | subject), kept)$x)
  # missing responses are not dropped: they are missing observations
  expect_silent(missing_y <- hier_model(y ~ x + (1 | subject),
                                        transform(data, y = replace(y, 1, NA))))
  expect_identical(nrow(missing_y$data), nrow(data))
  # Inf is still an error, and so is a data set with nothing left
  expect_deepbmc_error(
    hier_model(y ~ x + (1 | subject), transform(data, x = replace(x, 1, Inf))),
    "data"
  )
  expect_deepbmc_error(
    suppressMessages(hier_model(y ~ x + (1 | subject), transform(data, x = NA))),
    "data"
  )
})

test_that("uniform, gamma and beta priors and the families' second parameters", {
  data <- formula_data()
  # parsed as written, in full precision
  expect_identical(hier_prior(uniform(-1, 2.5), class = "b")$prior,
                   "uniform(-1, 2.5)")
  expect_identical(hier_prior(gamma(2, 0.1), class = "nu")$prior,
                   "gamma(2, 0.1)")
  expect_identical(hier_prior(beta(2, 5), class = "sd")$prior, "beta(2, 5)")
  # each where its support fits the class
  expect_deepbmc_error(hier_prior("uniform(2, 1)", class = "b"), "value", "prior")
  expect_deepbmc_error(hier_prior("uniform(-1, 1)", class = "sd"), "value", "prior")
  expect_deepbmc_error(hier_prior("gamma(2, 1)", class = "b"), "value", "prior")
  expect_deepbmc_error(hier_prior("beta(2, 1)", class = "Intercept"), "value",
                       "prior")
  expect_deepbmc_error(hier_prior("gamma(0, 1)", class = "shape"), "value", "prior")
  expect_deepbmc_error(hier_prior("beta(1, -1)", class = "phi"), "value", "prior")
  expect_deepbmc_error(hier_prior("constant(0)", class = "phi"), "value", "prior")
  expect_deepbmc_error(hier_prior("uniform(0, 1)", class = "cor"), "value", "prior")

  # the families with a second parameter get its default prior, and only they
  student <- suppressMessages(
    hier_model(y ~ x + (1 | subject), data, family = "student")
  )
  expect_identical(student$family, list(family = "student", link = "identity"))
  nu <- student$prior[student$prior$class == "nu", ]
  expect_identical(c(nu$distribution, nu$p1, nu$p2), c("gamma", "2", "0.1"))
  expect_true("sigma" %in% student$prior$class)
  negbin <- suppressMessages(
    hier_model(count ~ x + (1 | subject), data, family = "negbinomial")
  )
  expect_identical(setdiff(negbin$prior$class, c("Intercept", "b", "sd")),
                   "shape")
  expect_identical(
    suppressMessages(hier_model(rt ~ x + (1 | subject), data,
                                family = Gamma(link = "log")))$family,
    list(family = "gamma", link = "log")
  )
  # Gamma's default: intercept on the log scale of the response
  gamma_model <- suppressMessages(
    hier_model(rt ~ x + (1 | subject), data, family = Gamma(link = "log"))
  )
  expect_equal(gamma_model$prior$p1[gamma_model$prior$class == "Intercept"],
               mean(log(data$rt)))
  expect_deepbmc_error(
    hier_model(y ~ x + (1 | subject), data, family = "gaussian",
               prior = hier_prior("gamma(2, 1)", class = "shape")),
    "value", "prior"
  )
  # responses outside the family's support and links it does not take
  expect_deepbmc_error(hier_model(y ~ x + (1 | subject), data, family = "beta"),
                       "data")
  expect_deepbmc_error(hier_model(y ~ x + (1 | subject), data, family = Gamma()),
                       "value", "family")
  expect_deepbmc_error(
    hier_model(count ~ x + (1 | subject), data, family = poisson("identity")),
    "value", "family"
  )
  expect_deepbmc_error(
    hier_model(count + 0.5 ~ x + (1 | subject), data, family = "negbinomial"),
    "value", "formula"
  )
  expect_deepbmc_error(
    hier_model(y ~ x + (1 | subject), transform(data, y = y + 0.5),
               family = "negbinomial"),
    "data"
  )
})

test_that("hier_model() says which priors are defaults", {
  data <- formula_data()
  withr::local_options(rlib_message_verbosity = "verbose")
  expect_message(
    hier_model(y ~ x + (1 | subject), data),
    class = "deepbmc_default_prior_message"
  )
  message <- tryCatch(
    hier_model(y ~ x + (1 | subject), data,
               prior = hier_prior(normal(0, 1), class = "b")),
    deepbmc_default_prior_message = conditionMessage
  )
  expect_match(message, "\"Intercept\", \"sd\", and \"sigma\"", fixed = TRUE)
  expect_no_message(
    hier_model(y ~ x + (1 | subject), data,
               prior = c(hier_prior(normal(0, 1), class = "b"),
                         hier_prior(normal(5, 2), class = "Intercept"),
                         hier_prior(exponential(1), class = "sd"),
                         hier_prior(exponential(1), class = "sigma"))),
    class = "deepbmc_default_prior_message"
  )
})

# ---- Formula parity with lme4 and brms (issue 19) --------------------------

# A Monte Carlo mean within 5 standard errors of its expectation.
expect_mc_mean <- function(draws, target, label) {
  se <- stats::sd(draws) / sqrt(length(draws))
  expect_lt(abs(mean(draws) - target), 5 * se, label = label)
}

test_that("cbind(successes, failures) is the model of successes | trials()", {
  skip_if_not_installed("lme4")
  cbpp <- lme4::cbpp
  fit_model <- function(formula) {
    hier_model(formula, cbpp, family = binomial())
  }
  as_cbind <- fit_model(cbind(incidence, size - incidence) ~ period + (1 | herd))
  as_trials <- fit_model(incidence | trials(size) ~ period + (1 | herd))
  expect_identical(as_cbind$response, "incidence")
  expect_identical(as_cbind$family, list(family = "binomial", link = "logit"))
  expect_identical(as_cbind$trials_values, as.integer(cbpp$size))
  expect_identical(as_cbind$prior, as_trials$prior)
  set_cbind <- model_set(
    null = fit_model(cbind(incidence, size - incidence) ~ 1 + (1 | herd)),
    period = as_cbind
  )
  set_trials <- model_set(
    null = fit_model(incidence | trials(size) ~ 1 + (1 | herd)),
    period = as_trials
  )
  # the simulator, the Stan data and the features of real data are the same
  expect_identical(set_cbind$compiled, set_trials$compiled)
  expect_identical(deepbmc:::formula_stan_data(as_cbind, cbpp),
                   deepbmc:::formula_stan_data(as_trials, cbpp))
  features <- function(set, data) {
    deepbmc:::prepare_datasets(set, data, NULL, NULL, "data",
                               rlang::current_env())$batch$values
  }
  other <- transform(cbpp, size = size + 3L)
  expect_identical(features(set_cbind, other), features(set_trials, other))
  expect_false(identical(features(set_cbind, other), features(set_cbind, cbpp)))
  # simulated successes are counts within the trials
  sims <- simulate_datasets(set_cbind, n = 40, seed = 4)
  successes <- unlist(lapply(sims$data, `[[`, "incidence"))
  size <- unlist(lapply(sims$data, `[[`, "size"))
  expect_true(all(successes == round(successes)))
  expect_true(all(successes >= 0 & successes <= size))
  expect_true(any(successes > 0 & successes < size))
  expect_identical(sims$data, simulate_datasets(set_trials, n = 40, seed = 4)$data)

  # failures as a column follow the simulated successes
  cbpp$healthy <- cbpp$size - cbpp$incidence
  set_column <- model_set(
    null = fit_model(cbind(incidence, healthy) ~ 1 + (1 | herd)),
    period = fit_model(cbind(incidence, healthy) ~ period + (1 | herd))
  )
  expect_identical(set_column$compiled, set_trials$compiled)
  for (d in simulate_datasets(set_column, n = 5, seed = 4)$data) {
    expect_identical(d$incidence + d$healthy, as.double(d$size))
  }
  # failures missing beside an observed response are missing trials
  holes <- cbpp
  holes$healthy[3] <- NA
  holes$incidence[5] <- NA
  expect_message(
    dropped <- hier_model(cbind(incidence, healthy) ~ 1 + (1 | herd), holes,
                          family = binomial()),
    "Dropped 1 row", class = "deepbmc_dropped_rows_message"
  )
  expect_identical(nrow(dropped$data), nrow(cbpp) - 1L)
  expect_identical(sum(is.na(dropped$data$incidence)), 1L)

  # the failures are data: arithmetic of columns, nothing run
  expect_deepbmc_error(fit_model(cbind(incidence, log(size)) ~ 1 + (1 | herd)),
                       "value", "data")
  ran <- FALSE
  expect_deepbmc_error(
    fit_model(cbind(incidence, (function() ran <<- TRUE)()) ~ 1 + (1 | herd)),
    "value"
  )
  expect_false(ran)
  expect_deepbmc_error(fit_model(cbind(incidence) ~ 1 + (1 | herd)), "value")
  expect_deepbmc_error(fit_model(cbind(incidence, size, 2) ~ 1 + (1 | herd)),
                       "value")
  expect_deepbmc_error(
    hier_model(cbind(incidence, size - incidence) ~ 1 + (1 | herd),
               transform(cbpp, size = incidence - 1L), family = binomial()),
    "data", "data"
  )
  expect_deepbmc_error(
    hier_model(cbind(incidence, size - incidence) ~ 1 + (1 | herd), cbpp),
    "value"
  )
  expect_deepbmc_error(
    fit_model(cbind(incidence, period) ~ 1 + (1 | herd)), "data"
  )
})

test_that("two-level factor responses of bernoulli models are coded as glm codes them", {
  data <- formula_data()
  data$correct[c(3, 9)] <- NA
  data$answer <- factor(ifelse(data$correct == 1, "right", "wrong"),
                        levels = c("wrong", "right"))
  as_factor <- hier_model(answer ~ x + (1 | subject), data, family = binomial())
  as_numbers <- hier_model(correct ~ x + (1 | subject), data,
                           family = "bernoulli")
  expect_identical(as_factor$response_levels, c("wrong", "right"))
  expect_identical(as_factor$family, as_numbers$family)
  # the first level is failure, as in glm()
  observed <- !is.na(data$answer)
  glm_y <- stats::glm(answer ~ x, family = binomial(), data = data)$y
  expect_equal(deepbmc:::response_numbers(as_factor, data)[observed],
               unname(glm_y))
  out <- capture.output(print(as_factor))
  expect_true(any(grepl("answer = right (1) vs wrong (0)", out, fixed = TRUE)))

  set_factor <- model_set(
    hier_model(answer ~ 1 + (1 | subject), data, family = "bernoulli"),
    as_factor
  )
  set_numbers <- model_set(
    hier_model(correct ~ 1 + (1 | subject), data, family = "bernoulli"),
    as_numbers
  )
  expect_identical(set_factor$compiled, set_numbers$compiled)
  fit <- train_comparison(set_factor, api_network(), epochs = 1,
                          iterations = 3, batch_size = 8, seed = 3,
                          progress = FALSE)
  pmp <- post_prob(fit, data)
  expect_identical(post_prob(fit, transform(data, answer = correct)), pmp)
  expect_identical(post_prob(fit, transform(data, answer = correct == 1)), pmp)
  expect_identical(
    post_prob(fit, transform(data, answer = as.character(answer))), pmp
  )
  # levels are matched by label, not by their order in the new data
  expect_identical(
    post_prob(fit, transform(data, answer = factor(answer, c("right", "wrong")))),
    pmp
  )
  flipped <- transform(data, answer = factor(answer, c("right", "wrong"),
                                             c("wrong", "right")))
  expect_false(identical(post_prob(fit, flipped), pmp))
  new_level <- data
  new_level$answer <- as.character(new_level$answer)
  new_level$answer[1] <- "maybe"
  err <- expect_deepbmc_error(post_prob(fit, new_level), "data", "data")
  expect_match(conditionMessage(err), "maybe")
  # simulations come back in the template's levels
  sims <- simulate_datasets(set_factor, n = 4, seed = 2)
  expect_identical(levels(sims$data[[1]]$answer), c("wrong", "right"))
  expect_equal(post_prob(fit, sims), post_prob(fit, lapply(sims$data, function(d) {
    transform(d, answer = as.double(answer == "right"))
  })))
  # the strings of a character response are sorted, as factor() sorts them
  strings <- hier_model(answer ~ 1 + (1 | subject),
                        transform(data, answer = as.character(answer)),
                        family = "bernoulli")
  expect_identical(strings$response_levels, c("right", "wrong"))

  # what is not a two-level bernoulli response is a classed error
  three <- transform(data, answer = factor(answer, c("wrong", "right", "both")))
  expect_deepbmc_error(hier_model(answer ~ 1 + (1 | subject), three,
                                  family = "bernoulli"), "data")
  one <- transform(data, answer = "right")
  expect_deepbmc_error(hier_model(answer ~ 1 + (1 | subject), one,
                                  family = "bernoulli"), "data")
  err <- expect_deepbmc_error(hier_model(answer ~ 1 + (1 | subject), data),
                              "data")
  expect_match(conditionMessage(err), "bernoulli")
  numeric_fit <- train_comparison(set_numbers, api_network(), epochs = 1,
                                  iterations = 1, batch_size = 4, seed = 3,
                                  progress = FALSE)
  expect_deepbmc_error(
    post_prob(numeric_fit, transform(data, correct = answer)), "data", "data"
  )
})

test_that("models without a group-level term have no between-group variance", {
  # 40 groups of 5; y = b0 + b1 x + e, sigma = 1, and in the hierarchical
  # model a group intercept of SD 1
  withr::local_seed(31)
  data <- data.frame(g = rep(sprintf("g%02d", 1:40), each = 5),
                     x = round(stats::rnorm(200), 2), y = stats::rnorm(200))
  priors <- c(hier_prior("normal(0, 1)", class = "Intercept"),
              hier_prior("normal(0, 1)", class = "b"),
              hier_prior("constant(1)", class = "sigma"))
  flat <- hier_model(y ~ 1 + x, data, prior = priors)
  expect_null(flat$group)
  expect_identical(dim(flat$z), c(200L, 0L))
  expect_false(any(flat$prior$class %in% c("sd", "cor")))
  out <- capture.output(print(flat))
  expect_true(any(grepl("Group-level effects: none", out, fixed = TRUE)))
  expect_true(any(grepl("^Data: 200 observations$", out)))
  hier <- hier_model(y ~ 1 + x + (1 | g), data,
                     prior = c(priors, hier_prior("constant(1)", class = "sd")))
  set <- model_set(flat = flat, hier = hier)
  expect_identical(set$models$flat$group, "g")
  expect_identical(dim(set$compiled$models[[1]]$Z), c(200L, 0L))
  expect_identical(set$inputs, "x")
  expect_true(any(grepl("flat: y ~ 1 + x", capture.output(print(set)),
                        fixed = TRUE)))

  # Group means of the residuals of lm(y ~ x) in each simulated data set:
  # E|means|^2 = tr(A (I - H) V (I - H) A') with A the group averaging, H the
  # hat matrix and V = I (+ the group blocks for the group intercepts).
  sims <- simulate_datasets(set, n = 300, seed = 6)
  simulated_by <- set$model_names[sims$model]
  rows <- order(data$g)
  X <- cbind(1, data$x[rows])
  groups <- outer(data$g[rows], unique(data$g[rows]), `==`) * 1
  A <- t(groups) / 5
  M <- A %*% (diag(200) - X %*% solve(crossprod(X), t(X)))
  expected <- c(flat = sum(M^2), hier = sum(M^2) + sum((M %*% groups)^2)) / 39
  spread <- vapply(sims$data, function(d) {
    r <- stats::lm.fit(cbind(1, d$x), d$y)$residuals
    stats::var(tapply(r, d$g, mean))
  }, numeric(1))
  for (name in names(expected)) {
    expect_mc_mean(spread[simulated_by == name], expected[[name]],
                   paste("between-group variance of", name))
  }
  expect_gt(mean(spread[simulated_by == "hier"]),
            3 * mean(spread[simulated_by == "flat"]))

  fit <- train_comparison(set, api_network(), epochs = 1, iterations = 3,
                          batch_size = 8, seed = 3, progress = FALSE)
  pmp <- post_prob(fit, data)
  expect_equal(sum(pmp), 1)
  expect_identical(names(pmp), c("flat", "hier"))
  # Stan data without groups
  stan_data <- deepbmc:::formula_stan_data(flat, data)
  expect_identical(names(stan_data), c("N", "X", "y"))
  # the grouping must come from somewhere
  expect_deepbmc_error(model_set(flat, hier_model(y ~ 1, data)), "value")
  expect_deepbmc_error(
    model_set(hier_model(y ~ x, data[c("x", "y")]), hier), "mismatch"
  )
  holes <- transform(data, g = replace(g, 2, NA))
  err <- expect_deepbmc_error(
    model_set(hier_model(y ~ x, holes),
              suppressMessages(hier_model(y ~ x + (1 | g), holes))),
    "mismatch"
  )
  expect_match(conditionMessage(err), "rows without a group")
})

test_that("offsets add to the linear predictor and reach the network", {
  withr::local_seed(41)
  data <- data.frame(g = rep(1:20, each = 5), x = round(stats::rnorm(100), 2),
                     exposure = rep(c(0.5, 1, 2, 4, 8), 20))
  data$count <- stats::rpois(100, data$exposure)
  priors <- c(hier_prior("constant(0.5)", class = "Intercept"),
              hier_prior("constant(0.3)", class = "sd"))
  base <- hier_model(count ~ 1 + offset(log(exposure)) + (1 | g), data,
                     family = poisson(), prior = priors)
  expect_equal(base$offset, log(data$exposure))
  effect <- hier_model(count ~ 1 + x + offset(log(exposure)) + (1 | g), data,
                       family = poisson(), prior = priors)
  set <- model_set(base = base, effect = effect)
  expect_identical(set$inputs, c("offset(log(exposure))", "x"))
  rows <- order(data$g)
  expect_equal(set$compiled$models[[1]]$offset, log(data$exposure)[rows])
  # E[count] = exposure * exp(0.5 + 0.3^2 / 2) in the base model
  sims <- simulate_datasets(set, n = 400, seed = 9)
  base_sims <- sims$data[set$model_names[sims$model] == "base"]
  counts <- do.call(cbind, lapply(base_sims, `[[`, "count"))
  sorted_exposure <- data$exposure[rows]
  for (e in unique(sorted_exposure)) {
    expect_mc_mean(colMeans(counts[sorted_exposure == e, , drop = FALSE]),
                   e * exp(0.5 + 0.3^2 / 2), paste("mean count at exposure", e))
  }
  # the network sees the standardised offset, of new data too
  features <- function(data) {
    matrix(deepbmc:::prepare_datasets(set, data, NULL, NULL, "data",
                                      rlang::current_env())$batch$values,
           ncol = 3, byrow = TRUE)
  }
  scaled <- (log(sorted_exposure) - mean(log(data$exposure))) /
    stats::sd(log(data$exposure))
  expect_equal(features(data)[, 2], scaled, tolerance = 1e-6)
  doubled <- transform(data, exposure = 2 * exposure)
  expect_equal(features(doubled)[, 2],
               scaled + log(2) / stats::sd(log(data$exposure)),
               tolerance = 1e-6)
  # Stan data and brms carry it
  expect_equal(deepbmc:::formula_stan_data(base, data)$eta_offset,
               as.array(log(data$exposure)))
  expect_identical(
    deparse1(brms_formula(effect)),
    "count ~ 0 + Intercept + x + offset(log(exposure)) + (1 | g)"
  )
  # an offset the same in every row tells the network nothing
  data$one <- 1
  constant <- model_set(
    hier_model(count ~ 1 + offset(log(one)) + (1 | g), data, family = poisson()),
    hier_model(count ~ 1 + x + (1 | g), data, family = poisson())
  )
  expect_identical(constant$inputs, "x")
  # offsets must be finite
  zero <- transform(data, exposure = replace(exposure, 4, 0))
  expect_deepbmc_error(
    hier_model(count ~ 1 + offset(log(exposure)) + (1 | g), zero,
               family = poisson()),
    "data", "data"
  )
  fit <- train_comparison(set, api_network(), epochs = 1, iterations = 2,
                          batch_size = 8, seed = 3, progress = FALSE)
  expect_deepbmc_error(post_prob(fit, zero), "data", "data")
})

test_that("observation-level effects (1 | obs) parse, take priors and print (issue 19)", {
  data <- formula_data()
  data$obs <- seq_len(nrow(data))
  m <- hier_model(count ~ 1 + x + (1 | subject) + (1 | obs), data,
                  family = poisson())
  expect_identical(m$group, "subject")
  expect_identical(m$olre, "obs")
  expect_identical(colnames(m$z), "(Intercept)")
  sd_rows <- m$prior[m$prior$class == "sd", ]
  expect_identical(sd_rows$group, c("subject", "obs"))
  # the default is a group-level intercept's
  expect_identical(sd_rows$prior, c("half_normal(1)", "half_normal(1)"))
  expect_output(print(m), "Observation-level effect: (1 | obs)", fixed = TRUE)
  # a prior for the OLRE's SD (group = its column), and one for all SDs
  p <- hier_model(count ~ 1 + x + (1 | subject) + (1 | obs), data,
                  family = poisson(),
                  prior = c(hier_prior(exponential(2), class = "sd",
                                       group = obs),
                            hier_prior(exponential(3), class = "sd")))
  expect_identical(p$prior$prior[p$prior$class == "sd"],
                   c("exponential(3)", "exponential(2)"))
  spec <- deepbmc:::compile_model(p, list(x = p$x, z = p$z))
  expect_true(spec$olre)
  expect_identical(spec$olre_prior$p1, 2)
  expect_identical(spec$sd_prior$p1, 3)
  expect_deepbmc_error(hier_prior(exponential(2), class = "b", group = "obs"),
                       "value")
  expect_deepbmc_error(
    hier_model(count ~ 1 + (1 | subject) + (1 | obs), data,
               family = poisson(),
               prior = hier_prior(exponential(2), class = "sd",
                                  group = "nope")),
    "value", "prior"
  )
  # with no other group-level term, the set's grouping is another model's
  alone <- hier_model(count ~ 1 + x + (1 | obs), data, family = poisson())
  expect_null(alone$group)
  expect_identical(alone$olre, "obs")
  set <- model_set(olre = alone, group = hier_model(
    count ~ 1 + x + (1 | subject), data, family = poisson()
  ))
  expect_identical(set$models$olre$group, "subject")
  sims <- simulate_datasets(set, n = 2, seed = 1)
  expect_length(sims$data, 2)
  expect_deepbmc_error(
    model_set(alone, hier_model(count ~ 1 + (1 | obs), data,
                                family = poisson())),
    "value"
  )
  # a column unique after dropping rows with missing covariates
  gappy <- data
  gappy$x[[1]] <- NA
  gappy$obs[[1]] <- gappy$obs[[2]]
  expect_identical(
    suppressMessages(hier_model(count ~ 1 + x + (1 | subject) + (1 | obs),
                                gappy, family = poisson()))$olre,
    "obs"
  )
})

test_that("other second group-level terms stay errors (issue 19)", {
  data <- formula_data()
  data$obs <- seq_len(nrow(data))
  data$obs2 <- rev(data$obs)
  err <- expect_deepbmc_error(
    hier_model(count ~ 1 + (1 | subject) + (1 + x | obs), data,
               family = poisson()), "value"
  )
  expect_match(conditionMessage(err), "takes an intercept only")
  # a column with repeated values is a second grouping factor
  data$pair <- (data$obs + 1) %/% 2
  err <- expect_deepbmc_error(
    hier_model(count ~ 1 + (1 | subject) + (1 | pair), data,
               family = poisson()), "value"
  )
  expect_match(conditionMessage(err), "nested or crossed")
  for (formula in list(count ~ 1 + (1 | subject) + (1 | obs) + (1 | obs2),
                       count ~ 1 + (1 | obs) + (1 | obs2))) {
    err <- expect_deepbmc_error(hier_model(formula, data, family = poisson()),
                                "value")
    expect_match(conditionMessage(err), "Only one observation-level term")
  }
  expect_deepbmc_error(
    hier_model(count ~ 1 + (1 | subject) + (1 | missing_column), data,
               family = poisson()), "data", "data"
  )
})
