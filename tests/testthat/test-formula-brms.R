test_tier("fast")
# Formula models as brms states them (R/formula-brms.R) and brms priors as
# deepbmc priors (from_brms_prior() in R/formula-priors.R).

brms_sleep <- function(formula = Reaction ~ 1 + Days + (1 + Days | Subject),
                       ...) {
  hier_model(formula, lme4::sleepstudy, ...)
}

test_that("brms_formula() writes the intercept as brms's 0 + Intercept", {
  skip_if_not_installed("lme4")
  expect_identical(
    deparse1(brms_formula(brms_sleep())),
    "Reaction ~ 0 + Intercept + Days + (1 + Days | Subject)"
  )
  expect_identical(
    deparse1(brms_formula(brms_sleep(Reaction ~ 0 + Days + (1 | Subject)))),
    "Reaction ~ 0 + Days + (1 | Subject)"
  )
  expect_identical(
    deparse1(brms_formula(brms_sleep(Reaction ~ Days + (Days || Subject)))),
    "Reaction ~ 0 + Intercept + Days + (1 + Days || Subject)"
  )
  expect_deepbmc_error(brms_formula(lme4::sleepstudy), "type", "model")
  expect_deepbmc_error(brms_prior("normal(0, 1)"), "type", "model")
})

test_that("brms_prior() states every prior, and reads back as the same model", {
  skip_if_not_installed("lme4")
  skip_if_not_installed("brms")
  model <- brms_sleep(prior = c(
    hier_prior(student_t(3, 0, 20), class = "b"),
    hier_prior(half_student_t(4, 30), class = "sd", coef = "Days")
  ))
  prior <- brms_prior(model)
  expect_s3_class(prior, "brmsprior")
  expect_identical(nrow(prior), nrow(model$prior))
  intercept <- prior[prior$coef == "Intercept" & prior$class == "b", ]
  expect_identical(intercept$prior,
                   paste0("normal(", format(model$prior$p1[[1]], digits = 15),
                          ", ", format(model$prior$p2[[1]], digits = 15), ")"))
  expect_identical(prior$prior[prior$class == "sd" & prior$coef == "Days"],
                   "student_t(4, 0, 30)")
  expect_identical(unique(prior$group[prior$class %in% c("sd", "cor")]),
                   "Subject")
  # the brms priors, given back to hier_model(), give the same model
  again <- brms_sleep(prior = prior)
  expect_equal(again$prior[c("class", "coef", "distribution", "p1", "p2",
                             "p3")],
               model$prior[c("class", "coef", "distribution", "p1", "p2",
                             "p3")])
  # and brms accepts them for its formula (it checks every prior's class
  # and coefficient against the model's parameters)
  code <- brms::make_stancode(brms_formula(model), data = lme4::sleepstudy,
                              prior = prior)
  expect_match(code, "student_t_lpdf(sd_1[2] | 4, 0, 30)", fixed = TRUE)
  # priors without a brms equivalent are errors
  variance <- brms_sleep(Reaction ~ 1 + (1 | Subject), prior = hier_prior(
    half_normal_variance(100), class = "sd"
  ))
  expect_deepbmc_error(brms_prior(variance), "value")
})

test_that("brms's prior() and unquoted classes are read as data", {
  skip_if_not_installed("lme4")
  expect_identical(hier_prior(normal(0, 10), class = b),
                   hier_prior("normal(0, 10)", class = "b"))
  expect_identical(hier_prior(normal(0, 10), class = b, coef = Days),
                   hier_prior("normal(0, 10)", class = "b", coef = "Days"))
  # a character variable named by coef is still read
  slope <- "Days"
  expect_identical(hier_prior(normal(0, 10), class = "b", coef = slope)$coef,
                   "Days")
  skip_if_not_installed("brms")
  model <- brms_sleep(prior = brms::prior(normal(0, 10), class = b) +
                        brms::prior(exponential(0.1), class = sigma))
  b_row <- model$prior[model$prior$class == "b", ]
  expect_identical(c(b_row$p1, b_row$p2), c(0, 10))
  expect_identical(model$prior$source[model$prior$class == "sigma"], "user")
  expect_identical(model$prior$source[model$prior$class == "sd"],
                   c("default", "default"))
  # brms's flat defaults leave deepbmc's defaults
  flat <- brms::get_prior(Reaction ~ Days + (1 | Subject),
                          data = lme4::sleepstudy)
  flat <- flat[!nzchar(flat$prior), ]
  expect_identical(brms_sleep(Reaction ~ Days + (1 | Subject),
                              prior = flat)$prior,
                   brms_sleep(Reaction ~ Days + (1 | Subject))$prior)
  # what formula models do not have is an error, not dropped
  expect_deepbmc_error(
    brms_sleep(prior = brms::prior(normal(0, 1), class = b, dpar = sigma)),
    "value", "prior"
  )
  # prior texts are parsed, never run
  expect_deepbmc_error(
    brms_sleep(prior = brms::set_prior("stop('ran')", class = "b")),
    "value"
  )
})

test_that("the newer families and priors reach brms as brms states them", {
  skip_if_not_installed("lme4")
  skip_if_not_installed("brms")
  model <- brms_sleep(
    Reaction ~ 1 + Days + (1 | Subject), family = "student",
    prior = c(hier_prior(student_t(3, 0, 20), class = "b", coef = "Days"),
              hier_prior(gamma(2, 0.05), class = "sd"),
              hier_prior(gamma(3, 0.2), class = "nu"))
  )
  family <- brms_family(model)
  expect_s3_class(family, "brmsfamily")
  expect_identical(c(family$family, family$link), c("student", "identity"))
  prior <- brms_prior(model)
  expect_identical(prior$prior[prior$class == "nu"], "gamma(3, 0.2)")
  expect_identical(prior$prior[prior$class == "sd" & prior$coef == "Intercept"],
                   "gamma(2, 0.05)")
  # read back: the same model
  again <- brms_sleep(Reaction ~ 1 + Days + (1 | Subject), family = "student",
                      prior = prior)
  columns <- c("class", "coef", "distribution", "p1", "p2", "p3")
  expect_equal(again$prior[columns], model$prior[columns])
  code <- brms::make_stancode(brms_formula(model), data = lme4::sleepstudy,
                              family = family, prior = prior)
  expect_match(code, "gamma_lpdf(nu | 3, 0.2)", fixed = TRUE)
  # priors whose support brms would need as bounds are errors, not a
  # different model
  bounded <- brms_sleep(prior = hier_prior(uniform(-20, 40), class = "b"))
  expect_deepbmc_error(brms_prior(bounded), "value")
  bounded <- brms_sleep(prior = hier_prior(beta(2, 2), class = "sd"))
  expect_deepbmc_error(brms_prior(bounded), "value")
  # brms bounds other than a uniform prior's support are another model
  truncated <- brms::set_prior("normal(0, 10)", class = "b", lb = 0)
  expect_deepbmc_error(brms_sleep(prior = truncated), "value", "prior")
  uniform <- brms::set_prior("uniform(-20, 40)", class = "b", lb = -20,
                             ub = 40)
  expect_identical(
    brms_sleep(prior = uniform)$prior$prior[2], "uniform(-20, 40)"
  )
  # the other families' names
  counts <- data.frame(y = rep(0:5, 4), g = rep(1:4, each = 6))
  expect_identical(
    brms_family(hier_model(y ~ 1 + (1 | g), counts, family = "negbinomial"))$family,
    "negbinomial"
  )
  expect_identical(
    brms_family(hier_model(y ~ 1 + (1 | g), transform(counts, y = y + 1),
                           family = Gamma(link = "log")))$family,
    "gamma"
  )
})

test_that("brms_formula() states cbind(), offsets and models without groups (issue 19)", {
  skip_if_not_installed("lme4")
  cbpp <- lme4::cbpp
  cbpp$exposure <- cbpp$size / 10
  as_cbind <- hier_model(cbind(incidence, size - incidence) ~ period + (1 | herd),
                         cbpp, family = binomial())
  expect_identical(
    deparse1(brms_formula(as_cbind)),
    "incidence | trials(incidence + (size - incidence)) ~ 0 + Intercept + period + (1 | herd)"
  )
  flat <- hier_model(incidence ~ 1 + period + offset(log(exposure)), cbpp,
                     family = poisson())
  expect_identical(
    deparse1(brms_formula(flat)),
    "incidence ~ 0 + Intercept + period + offset(log(exposure))"
  )
  answer <- transform(lme4::sleepstudy,
                      slow = factor(Reaction > 300, c(FALSE, TRUE), c("no", "yes")))
  expect_identical(
    deparse1(brms_formula(hier_model(slow ~ Days + (1 | Subject), answer,
                                     family = "bernoulli"))),
    "slow ~ 0 + Intercept + Days + (1 | Subject)"
  )
  skip_if_not_installed("brms")
  # brms reads the data as deepbmc does: the trials, the offset, the 0/1
  # coding of the factor's levels
  standata <- function(model, data, family) {
    suppressMessages(brms::make_standata(brms_formula(model), data = data,
                                         family = family,
                                         prior = brms_prior(model)))
  }
  cbind_data <- standata(as_cbind, cbpp, stats::binomial())
  expect_equal(as.vector(cbind_data$trials), cbpp$size)
  expect_equal(as.vector(cbind_data$Y), cbpp$incidence)
  flat_data <- standata(flat, cbpp, stats::poisson())
  expect_equal(as.vector(flat_data$offsets), log(cbpp$exposure))
  expect_null(flat_data$J_1)
  slow <- hier_model(slow ~ Days + (1 | Subject), answer, family = "bernoulli")
  expect_equal(as.vector(standata(slow, answer, brms::bernoulli())$Y),
               deepbmc:::response_numbers(slow, answer))
})

test_that("observation-level effects map to brms and back (issue 19)", {
  skip_if_not_installed("brms")
  data <- data.frame(g = factor(rep(1:6, each = 4)), x = seq(-1, 1, length.out = 24))
  data$obs <- seq_len(nrow(data))
  data$count <- rep(c(0, 2, 5, 1), 6)
  model <- hier_model(
    count ~ 1 + x + (1 | g) + (1 | obs), data, family = poisson(),
    prior = c(hier_prior(exponential(2), class = "sd", group = "obs"),
              hier_prior(normal(0, 0.5), class = "sd", group = "g"))
  )
  expect_identical(deparse1(brms_formula(model)),
                   "count ~ 0 + Intercept + x + (1 | g) + (1 | obs)")
  prior <- brms_prior(model)
  sd_rows <- prior[prior$class == "sd", ]
  expect_identical(sd_rows$group, c("g", "obs"))
  expect_identical(sd_rows$prior, c("normal(0, 0.5)", "exponential(2)"))
  again <- hier_model(count ~ 1 + x + (1 | g) + (1 | obs), data,
                      family = poisson(), prior = prior)
  columns <- c("class", "coef", "group", "distribution", "p1", "p2", "prior")
  expect_equal(again$prior[columns], model$prior[columns])
  # brms's own prior() with group = the OLRE column
  theirs <- hier_model(count ~ 1 + x + (1 | g) + (1 | obs), data,
                       family = poisson(),
                       prior = brms::prior(exponential(4), class = sd,
                                           group = obs))
  sd_theirs <- theirs$prior[theirs$prior$class == "sd", ]
  expect_identical(sd_theirs$prior, c("half_normal(1)", "exponential(4)"))
  expect_identical(sd_theirs$source, c("default", "user"))
})
