test_tier("fast")
# One verdict per data set (R/trust.R, issue 30): the trust column of
# compare_models() and post_prob(trust = TRUE), each reason raised by the
# case it names; PMPs printed as bounds where the log BF is one; the
# fallback's checks (bridge sampling itself: test-stan-formula.R, full tier).

trust_models <- function() normal_nested_models(groups = 10, obs = 10)

trust_fit <- local({
  fit <- NULL
  function() {
    if (is.null(fit)) {
      fit <<- train_comparison(trust_models(), api_network(), epochs = 3,
                               iterations = 1000, holdout = 200, seed = 1,
                               progress = FALSE)
    }
    fit
  }
})

# A prediction as predict_logits() returns it, written by hand.
hand_prediction <- function(logits, member_logits = NULL, n = nrow(logits)) {
  list(logits = logits, member_logits = member_logits,
       outside_sizes = rep(FALSE, n), outside_inputs = rep(FALSE, n))
}

test_that("typical data from the candidates are trusted", {
  fit <- trust_fit()
  expect_length(fit$verdict$problems, 0)
  expect_true(all(fit$checked_range$upper > 1, na.rm = TRUE))
  sims <- simulate_datasets(fit$models, n = 20, seed = 3)
  table <- compare_models(fit, sims)
  flagged <- unique(table$data_set[table$trust != "ok"])
  # only strong evidence beyond the checked range is flagged here
  beyond <- unique(table$data_set[table$beyond_checked])
  expect_setequal(flagged, beyond)
  expect_true(all(table$trust[table$data_set %in% beyond] ==
                    "beyond the checked range"))
  trust <- attr(post_prob(fit, sims, trust = TRUE), "trust")
  expect_equal(trust, table$trust[table$rank == 1])
  expect_null(attr(post_prob(fit, sims), "trust"))
})

test_that("every reason is raised by the case it names", {
  fit <- trust_fit()
  one <- simulate_datasets(fit$models, n = 1, seed = 8)$data[[1]]
  # sizes the network never saw (and values it never saw)
  bigger <- rbind(one, one[1:2, ])
  expect_match(
    suppressWarnings(compare_models(fit, bigger))$trust[[1]],
    "outside the trained sizes", fixed = TRUE
  )
  noise <- matrix(stats::runif(100, -40, 40), nrow = 10)
  table <- suppressWarnings(compare_models(fit, noise, misspecification = TRUE))
  # the smallest p-value 2,000 reference data sets of the closest model give
  expect_match(table$trust[[1]], "misspecified \\(p (<|=) 0\\.001\\)")
  expect_match(table$trust[[1]], "outside the trained inputs", fixed = TRUE)
  # the same p-value as the test alone (one evaluation of the data inside)
  alone <- suppressWarnings(misspecification_test(fit, noise))
  expect_match(table$trust[[1]], paste0(
    "misspecified (p ", deepbmc:::format_p_value(alone$p_value), ")"
  ), fixed = TRUE)

  # a network at chance: a failed training check
  stuck <- suppressWarnings(train_comparison(
    trust_models(), api_network(), epochs = 3, iterations = 100,
    learning_rate = 1e-7, seed = 2, progress = FALSE
  ))
  table <- suppressWarnings(compare_models(stuck, one))
  expect_match(table$trust[[1]], "training check failed", fixed = TRUE)

  # a checked range too narrow to vouch for any evidence (set by hand, with
  # the checksum made again, as training would write it)
  narrow <- fit
  narrow$checked_range$upper[] <- c(NA, 0.3, 0.4, NA)
  narrow$checksum <- deepbmc:::fit_checksum(narrow)
  table <- compare_models(narrow, one)
  expect_match(table$trust[[1]], "checked range too narrow", fixed = TRUE)
  expect_output(print(narrow), "Checked range: too narrow", fixed = TRUE)
  expect_no_match(paste(capture.output(print(fit)), collapse = "\n"),
                  "Checked range")
  bf <- bayes_factor(narrow, one, model1 = table$model[[1]],
                     model2 = table$model[[2]])
  if (!bf$beyond_checked) {
    expect_output(print(bf), "too narrow to vouch for any evidence",
                  fixed = TRUE)
  }
  bf <- bayes_factor(fit, one, model1 = table$model[[1]],
                     model2 = table$model[[2]])
  expect_no_match(paste(capture.output(print(bf)), collapse = "\n"),
                  "too narrow")
})

test_that("members disagree when their PMPs spread beyond the limit", {
  fit <- trust_fit()
  log_prior <- log(c(0.5, 0.5))
  agree <- list(matrix(c(0, 1), 1), matrix(c(0, 1.1), 1))
  split <- list(matrix(c(0, 3), 1), matrix(c(0, -3), 1))
  ok <- deepbmc:::data_set_trust(
    fit, hand_prediction(deepbmc:::ensemble_logits(agree), agree), log_prior
  )
  expect_equal(as.vector(ok), "ok")
  apart <- deepbmc:::data_set_trust(
    fit, hand_prediction(deepbmc:::ensemble_logits(split), split), log_prior
  )
  # PMPs 0.953 and 0.047: sd 0.64
  expect_equal(as.vector(apart), sprintf("members disagree (sd %.2f)",
                                         sd(stats::plogis(c(3, -3)))))
  expect_true(attr(apart, "about_network"))
  # misspecification alone is about the candidates: no fallback
  one <- list(matrix(c(0, 1), 1))
  wrong <- deepbmc:::data_set_trust(
    fit, hand_prediction(one[[1]]), log_prior, p_value = 0.001
  )
  expect_equal(as.vector(wrong), "misspecified (p = 0.001)")
  expect_false(attr(wrong, "about_network"))
})

test_that("printed PMPs are bounds where the log BF is one, never contradicting it", {
  # a checked range of +-1.5 (set by hand, checksum made again), and groups
  # with means far from 0: M1 beyond doubt, its log BF beyond the range
  fit <- trust_fit()
  fit$checked_range$upper[] <- c(NA, 1.5, 1.5, NA)
  fit$checksum <- deepbmc:::fit_checksum(fit)
  strong <- matrix(seq(1, 5, length.out = 100), nrow = 10)
  x <- compare_models(fit, strong)
  expect_true(x$beyond_checked[[2]])
  printed <- capture.output(print(x))
  loser <- x$model[[2]]
  row <- printed[grepl(paste0("^", loser, " "), printed)]
  bound <- stats::plogis(x$checked_bound[[2]])
  expect_true(x$pmp[[2]] < bound)
  expect_match(row, paste("<", deepbmc:::format_probability(bound, 3)),
               fixed = TRUE)
  expect_match(row, paste("<", formatC(x$checked_bound[[2]], digits = 1,
                                       format = "f")), fixed = TRUE)
  winner <- printed[grepl(paste0("^", x$model[[1]], " "), printed)]
  expect_match(winner, ">", fixed = TRUE)
  # under an unequal prior the bound moves with the prior odds
  prior <- stats::setNames(c(0.9, 0.1), fit$models$model_names)
  y <- compare_models(fit, strong, prior_prob = prior)
  if (isTRUE(y$beyond_checked[[2]])) {
    expect_true(y$pmp[[2]] < stats::plogis(
      y$checked_bound[[2]] + log(prior[[y$model[[2]]]] / prior[[y$model[[1]]]])
    ))
  }
})

test_that("the fallback and its settings are checked before any work", {
  fit <- trust_fit()
  x <- simulate_datasets(fit$models, n = 1, seed = 8)$data[[1]]
  expect_error(compare_models(fit, x, fallback = "stan"), "fallback",
               class = "deepbmc_error_value")
  expect_error(compare_models(fit, x, fallback = NA), "fallback",
               class = "deepbmc_error_value")
  expect_error(compare_models(fit, x, bridge = list(draws = 10, iter = 5)),
               "iter", class = "deepbmc_error_value")
  expect_error(compare_models(fit, x, bridge = list(1000)),
               "named list", class = "deepbmc_error_type")
  expect_error(compare_models(fit, x, misspecification = "yes"),
               "misspecification", class = "deepbmc_error")
  expect_error(post_prob(fit, x, trust = NA), "trust", class = "deepbmc_error")

  # models defined by an R simulator have no likelihood to sample
  simulate_one <- function() {
    data.frame(group = rep(1:5, each = 5), y = stats::rnorm(25))
  }
  set <- simulator_models(a = simulate_one, b = simulate_one)
  expect_error(deepbmc:::check_fallback("bridge", set),
               "no likelihood to sample", class = "deepbmc_error_mismatch")
  expect_equal(deepbmc:::check_fallback("none", set), "none")
})
