test_tier("fast")
# The training verdict a fit keeps (R/verdict.R, issue 30): stored by
# training, shown by print() and at every use of the PMPs and Bayes factors,
# also after readRDS(); covered by the checksum; fits without one (trained
# before it existed) read as before.

stuck_fit <- function(...) {
  # A learning rate this small leaves the network at chance (as in
  # test-training-check.R).
  suppressWarnings(train_comparison(normal_nested_models(groups = 10, obs = 10),
                                    api_network(), epochs = 3, iterations = 100,
                                    learning_rate = 1e-7, seed = 2, progress = FALSE, ...))
}

test_that("a network at chance says so at every use, also after readRDS()", {
  fit <- stuck_fit()
  expect_true(fit$verdict$checked)
  expect_named(fit$verdict$problems, "chance")
  expect_output(print(fit), "Training check: FAILED (no better than chance)", fixed = TRUE)
  data <- simulate_datasets(fit$models, n = 2, seed = 5)
  expect_warning(post_prob(fit, data), "no better than chance", class = "deepbmc_verdict_warning")
  expect_warning(bayes_factor(fit, data, model1 = 2, model2 = 1),
                 class = "deepbmc_verdict_warning")
  expect_warning(compare_models(fit, data), class = "deepbmc_verdict_warning")
  saved <- withr::local_tempfile(fileext = ".rds")
  saveRDS(fit, saved)
  reloaded <- readRDS(saved)
  w <- tryCatch(post_prob(reloaded, data), deepbmc_verdict_warning = function(w) w)
  expect_s3_class(w, "deepbmc_verdict_warning")
  expect_match(conditionMessage(w), "say nothing about the data", fixed = TRUE)
  expect_match(conditionMessage(w), "init = fit", fixed = TRUE)
  # the PMPs themselves are still returned
  expect_identical(suppressWarnings(post_prob(reloaded, data)),
                   suppressWarnings(post_prob(fit, data)))
})

test_that("the verdict is covered by the checksum and checked for its form", {
  fit <- stuck_fit()
  data <- simulate_datasets(fit$models, n = 1, seed = 5)
  # hiding the problem breaks the checksum
  hidden <- fit
  hidden$verdict$problems <- character(0)
  expect_error(post_prob(hidden, data), class = "deepbmc_error_fit")
  removed <- fit
  removed$verdict <- NULL
  expect_error(post_prob(removed, data), class = "deepbmc_error_fit")
  # a verdict of another form, even with a checksum to match, is damage
  for (damage in list(list(checked = NA, problems = character(0)),
                      list(checked = TRUE, problems = c(lucky = "x")),
                      list(checked = FALSE, problems = c(chance = "x")),
                      list(problems = character(0), checked = TRUE),
                      "passed")) {
    damaged <- fit
    damaged$verdict <- damage
    damaged$checksum <- deepbmc:::fit_checksum(damaged)
    expect_error(post_prob(damaged, data), "training verdict", class = "deepbmc_error_fit")
  }
})

test_that("without a holdout set nothing is judged; fits without a verdict read as before", {
  fit <- stuck_fit(holdout = 0)
  expect_identical(fit$verdict, list(checked = FALSE, problems = character(0)))
  expect_output(print(fit), "Training check: not made", fixed = TRUE)
  data <- simulate_datasets(fit$models, n = 2, seed = 5)
  expect_no_warning(pmp <- post_prob(fit, data))
  # a fit from before the verdict: no line, no warning, same PMPs
  old <- stuck_fit()
  old$verdict <- NULL
  old$checksum <- deepbmc:::fit_checksum(old)
  expect_no_error(deepbmc:::check_fit(old))
  expect_false(any(grepl("Training check", capture.output(print(old)))))
  expect_no_warning(post_prob(old, data))
  # training on from a stuck fit judges the new phase on its own
  tuned <- suppressWarnings(train_comparison(old$models, init = old, epochs = 4,
                                             iterations = 250, learning_rate = 1e-3,
                                             seed = 4, threads = 2, progress = FALSE))
  expect_true(tuned$verdict$checked)
  expect_false("chance" %in% names(tuned$verdict$problems))
})

test_that("diverged training is a problem of the verdict", {
  fit <- stuck_fit()
  fit$training$stopped <- "diverged"
  verdict <- deepbmc:::training_verdict(fit, holdout = NULL)
  expect_identical(names(verdict$problems), "diverged")
  expect_true(deepbmc:::valid_verdict(verdict))
  expect_match(deepbmc:::format_verdict_line(verdict), "training diverged", fixed = TRUE)
  fit$training$stopped <- "interrupted"
  expect_identical(deepbmc:::training_verdict(fit, holdout = NULL),
                   list(checked = FALSE, problems = character(0)))
})
