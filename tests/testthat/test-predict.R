test_tier("fast")
# post_prob(), bayes_factor() and compare_models() (R/predict.R, R/compare.R,
# R/utils.R): probabilities, prior reweighting, Bayes factors and their
# stability for overwhelming evidence; checks of every argument.

predict_sets <- function() {
  list(
    groups_to_matrix(api_groups(21)),
    api_groups(22, sizes = c(12, 3, 8), mean = -1),
    groups_to_data_frame(api_groups(23, sizes = rep(5, 6), mean = 2)),
    withr::with_seed(24, matrix(stats::rnorm(60, mean = 0.1), nrow = 6))
  )
}

# Log-softmax written out for the tests: log p_k = z_k - log(sum_j exp(z_j)).
reference_log_pmp <- function(logits) {
  t(apply(logits, 1, function(z) {
    m <- max(z)
    z - (m + log(sum(exp(z - m))))
  }))
}

test_that("post_prob() returns probabilities that sum to one", {
  fit <- api_fit()
  pmp <- post_prob(fit, predict_sets())
  expect_identical(dim(pmp), c(4L, 2L))
  expect_identical(colnames(pmp), c("M0", "M1"))
  expect_true(all(pmp > 0 & pmp < 1))
  expect_equal(rowSums(pmp), rep(1, 4), tolerance = 1e-12)
  one <- post_prob(fit, predict_sets()[[1]])
  expect_type(one, "double")
  expect_named(one, c("M0", "M1"))
  expect_equal(sum(one), 1, tolerance = 1e-12)
  # the rows differ, so the probabilities are data-dependent
  expect_gt(diff(range(pmp[, "M1"])), 1e-3)
})

test_that("post_prob() is the softmax of the network's logits", {
  fit <- api_fit()
  sets <- predict_sets()
  logits <- deepbmc:::predict_logits(fit, sets, NULL, NULL, threads = 1)
  expect_false(logits$single)
  expect_equal(post_prob(fit, sets, log = TRUE), reference_log_pmp(logits$logits),
               tolerance = 1e-12)
  # threads do not change the result
  expect_identical(post_prob(fit, sets, threads = 1),
                   post_prob(fit, sets, threads = 2))
})

test_that("log = TRUE gives the logarithms of the probabilities", {
  fit <- api_fit()
  sets <- predict_sets()
  pmp <- post_prob(fit, sets)
  log_pmp <- post_prob(fit, sets, log = TRUE)
  expect_identical(dimnames(log_pmp), dimnames(pmp))
  expect_true(all(log_pmp < 0))
  expect_equal(log_pmp, log(pmp), tolerance = 1e-12)
  expect_equal(post_prob(fit, sets[[2]], log = TRUE), log(post_prob(fit, sets[[2]])),
               tolerance = 1e-12)
  prior <- c(0.9, 0.1)
  expect_equal(post_prob(fit, sets, log = TRUE, prior_prob = prior),
               log(post_prob(fit, sets, prior_prob = prior)), tolerance = 1e-12)
})

test_that("prior_prob reweights the uniform-prior probabilities", {
  fit <- api_fit()
  sets <- predict_sets()
  uniform <- post_prob(fit, sets)
  expect_equal(post_prob(fit, sets, prior_prob = c(0.5, 0.5)), uniform,
               tolerance = 1e-14)
  for (prior in list(c(0.8, 0.2), c(0.01, 0.99), c(1 / 3, 2 / 3))) {
    # Bayes' rule by hand: pmp_k(prior) is proportional to pmp_k(uniform) * prior_k
    unnormalised <- sweep(uniform, 2, prior, `*`)
    expected <- unnormalised / rowSums(unnormalised)
    got <- post_prob(fit, sets, prior_prob = prior)
    expect_equal(got, expected, tolerance = 1e-12)
    # posterior odds = Bayes factor x prior odds
    expect_equal(got[, 2] / got[, 1],
                 exp(c_bf(fit, sets, model1 = 2, model2 = 1)) *
                   prior[[2]] / prior[[1]],
                 tolerance = 1e-10)
  }
  # a larger prior on M1 raises its posterior probability
  expect_true(all(post_prob(fit, sets, prior_prob = c(0.3, 0.7))[, "M1"] >
                    uniform[, "M1"]))
})

test_that("model_names renames the columns only", {
  fit <- api_fit()
  x <- predict_sets()[[1]]
  named <- post_prob(fit, x, model_names = c("null", "effect"))
  expect_named(named, c("null", "effect"))
  expect_identical(unname(named), unname(post_prob(fit, x)))
  several <- post_prob(fit, predict_sets(), model_names = c("a", "b"))
  expect_identical(colnames(several), c("a", "b"))
})

test_that("bayes_factor() is the ratio of the uniform-prior probabilities", {
  fit <- api_fit()
  sets <- predict_sets()
  pmp <- post_prob(fit, sets)
  log_bf <- c_bf(fit, sets, model1 = "M1", model2 = "M0")
  expect_type(log_bf, "double")
  expect_length(log_bf, 4)
  expect_equal(log_bf, unname(log(pmp[, "M1"] / pmp[, "M0"])), tolerance = 1e-10)
  # antisymmetric, zero against itself
  expect_equal(c_bf(fit, sets, model1 = "M0", model2 = "M1"), -log_bf,
               tolerance = 1e-14)
  expect_identical(c_bf(fit, sets, model1 = "M1", model2 = "M1"),
                   rep(0, 4))
  # names and indices agree; the defaults are model1 = 1, model2 = 2
  expect_identical(c_bf(fit, sets, model1 = 2, model2 = 1), log_bf)
  expect_identical(c_bf(fit, sets, model1 = 2L, model2 = "M0"), log_bf)
  expect_identical(c_bf(fit, sets), -log_bf)
  # log = FALSE gives the Bayes factor itself (log is the generic's 3rd argument)
  expect_equal(c_bf(fit, sets, FALSE, model1 = "M1", model2 = "M0"),
               exp(log_bf), tolerance = 1e-14)
})

test_that("bayes_factor() flags values beyond the checked range", {
  fit <- api_fit()
  sets <- predict_sets()
  log_bf <- bayes_factor(fit, sets, model1 = "M1", model2 = "M0")
  bounds <- attr(log_bf, "checked_range")
  range <- checked_range(fit)
  expect_equal(bounds, c(lower = range$lower[range$model1 == "M1"],
                         upper = range$upper[range$model1 == "M1"]))
  expect_identical(attr(log_bf, "beyond_checked"),
                   c(log_bf) > bounds[["upper"]] | c(log_bf) < bounds[["lower"]])
  # the other way round: the same flags, the bounds negated and swapped
  reverse <- bayes_factor(fit, sets, model1 = "M0", model2 = "M1")
  expect_identical(attr(reverse, "beyond_checked"), attr(log_bf, "beyond_checked"))
  expect_equal(unname(attr(reverse, "checked_range")), -rev(unname(bounds)))
  # a model against itself is never flagged: there is nothing to check
  expect_identical(attr(bayes_factor(fit, sets, model1 = 1, model2 = 1),
                        "beyond_checked"), rep(NA, 4))
  # overwhelming logits are beyond any range
  strong <- shift_logits(fit, c(0, 2000))
  expect_true(all(attr(bayes_factor(strong, sets, model1 = 2, model2 = 1),
                       "beyond_checked")))
})

test_that("bayes_factor() for one data set is a printable deepbmc_bf", {
  fit <- api_fit()
  x <- predict_sets()[[2]]
  bf <- bayes_factor(fit, x, model1 = "M1", model2 = "M0")
  expect_s3_class(bf, "deepbmc_bf")
  expect_true(bf$log)
  expect_identical(attr(bf, "model_names"), c("M1", "M0"))
  pmp <- post_prob(fit, x)
  # unname(): for one data set `bf` carries the name of model1 (see report)
  expect_equal(unname(bf$bf), log(pmp[["M1"]] / pmp[["M0"]]), tolerance = 1e-10)
  expect_output(print(bf), paste0(
    "Estimated log Bayes factor in favor of M1 over M0: ",
    formatC(bf$bf, digits = 5, format = "f")
  ), fixed = TRUE)
  plain <- bayes_factor(fit, x, log = FALSE, model1 = 1, model2 = 2)
  expect_false(plain$log)
  expect_equal(unname(plain$bf), unname(exp(-bf$bf)), tolerance = 1e-12)
  expect_output(res <- print(plain), "^Estimated Bayes factor in favor of M0 over M1")
  expect_identical(res, plain)
})

test_that("overwhelming evidence gives finite log probabilities and Bayes factors", {
  fit <- api_fit()
  sets <- predict_sets()
  base_log_bf <- c_bf(fit, sets, model1 = "M1", model2 = "M0")
  # logits of M1 about 2000 above those of M0: probabilities of M0 near
  # exp(-2000), far below the smallest double
  strong <- shift_logits(fit, c(0, 2000))
  log_bf <- c_bf(strong, sets, model1 = "M1", model2 = "M0")
  expect_true(all(is.finite(log_bf)))
  # the shift is added to logits in single precision: error ~ 2000 * 2^-24
  expect_equal(log_bf - base_log_bf, rep(2000, 4), tolerance = 1e-3 / 2000)
  log_pmp <- post_prob(strong, sets, log = TRUE)
  expect_true(all(is.finite(log_pmp)))
  expect_equal(log_pmp[, "M0"], -log_bf, tolerance = 1e-12)
  expect_identical(unname(log_pmp[, "M1"]), rep(0, 4))
  pmp <- post_prob(strong, sets)
  expect_identical(unname(pmp), cbind(rep(0, 4), rep(1, 4)))
  expect_false(anyNA(pmp))
  # a prior on M0 that is itself extreme keeps everything finite
  log_pmp_prior <- post_prob(strong, sets, log = TRUE,
                             prior_prob = c(1 - 1e-300, 1e-300))
  expect_true(all(is.finite(log_pmp_prior)))
  expect_equal(log_pmp_prior[, "M1"] - log_pmp_prior[, "M0"],
               log_bf + log(1e-300), tolerance = 1e-12)

  # and the same the other way round
  weak <- shift_logits(fit, c(1500, -1500))
  expect_equal(c_bf(weak, sets, model1 = "M1", model2 = "M0") - base_log_bf,
               rep(-3000, 4), tolerance = 1e-3 / 3000)
  expect_true(all(is.finite(post_prob(weak, sets, log = TRUE))))

  # the Bayes factor itself overflows: Inf with a classed warning
  expect_warning(
    bf <- c_bf(strong, sets, log = FALSE, model1 = "M1", model2 = "M0"),
    class = "deepbmc_overflow_warning"
  )
  expect_identical(bf, rep(Inf, 4))
  expect_no_warning(
    tiny <- c_bf(strong, sets, log = FALSE, model1 = "M0", model2 = "M1")
  )
  expect_identical(tiny, rep(0, 4))
})

test_that("the log-sum-exp helpers are exact for extreme logits", {
  logits <- rbind(
    c(0, 0),
    c(1000, -1000),
    c(-1e5, -1e5 + 1),
    c(745, 0),
    c(-800, -750),
    c(1e300, 0)
  )
  lse <- deepbmc:::log_sum_exp_rows(logits)
  expect_true(all(is.finite(lse)))
  expect_equal(lse[1:5], c(log(2), 1000, -1e5 + 1 + log1p(exp(-1)),
                           745 + log1p(exp(-745)), -750 + log1p(exp(-50))),
               tolerance = 1e-15)
  expect_identical(lse[[6]], 1e300)
  log_pmp <- deepbmc:::log_softmax_rows(logits)
  expect_true(all(is.finite(log_pmp)))
  expect_equal(log_pmp[2, ], c(0, -2000))
  # inputs near -1e5 carry an absolute rounding error of ~1e-11
  expect_equal(log_pmp[3, ], c(-1 - log1p(exp(-1)), -log1p(exp(-1))),
               tolerance = 1e-10)
  expect_equal(exp(log_pmp[1:5, ]), exp(reference_log_pmp(logits[1:5, ])),
               tolerance = 1e-14)
  # ties and three models
  three <- deepbmc:::log_softmax_rows(rbind(c(5, 5, 5), c(-1e4, 0, -1e4)))
  expect_equal(three[1, ], rep(-log(3), 3), tolerance = 1e-15)
  expect_equal(three[2, ], c(-1e4, 0, -1e4))
})

test_that("compare_models() ranks the models, best first", {
  fit <- api_fit()
  for (x in predict_sets()) {
    comparison <- compare_models(fit, x)
    expect_s3_class(comparison, c("deepbmc_comparison", "data.frame"),
                    exact = TRUE)
    expect_named(comparison, c("model", "pmp", "log_pmp", "log_bf",
                               "beyond_checked", "checked_bound", "trust"))
    expect_identical(nrow(comparison), 2L)
    pmp <- post_prob(fit, x)
    expect_identical(comparison$model, names(sort(pmp, decreasing = TRUE)))
    expect_equal(comparison$pmp, unname(pmp[comparison$model]), tolerance = 1e-14)
    expect_equal(comparison$log_pmp, log(comparison$pmp), tolerance = 1e-12)
    expect_true(comparison$pmp[[1]] >= comparison$pmp[[2]])
    # log Bayes factors against the best: 0 for itself, negative otherwise
    expect_identical(comparison$log_bf[[1]], 0)
    expect_lt(comparison$log_bf[[2]], 0)
    expect_equal(comparison$log_bf[[2]],
                 unname(bayes_factor(fit, x, model1 = comparison$model[[2]],
                                     model2 = comparison$model[[1]])$bf),
                 tolerance = 1e-14)
    expect_identical(attr(comparison, "prior_prob"), c(M0 = 0.5, M1 = 0.5))
  }
})

test_that("compare_models() applies the prior and prints the ranking", {
  fit <- api_fit()
  x <- predict_sets()[[1]]
  # a prior that makes the less likely model (under a uniform prior) the best
  log_bf <- unname(bayes_factor(fit, x, model1 = "M1", model2 = "M0")$bf)
  favoured <- if (log_bf > 0) "M0" else "M1"
  prior <- if (favoured == "M0") c(0.999, 0.001) else c(0.001, 0.999)
  comparison <- compare_models(fit, x, prior_prob = prior)
  expect_identical(comparison$model[[1]], favoured)
  expect_equal(comparison$pmp,
               unname(post_prob(fit, x, prior_prob = prior)[comparison$model]),
               tolerance = 1e-14)
  # the Bayes factor does not depend on the prior: now positive for row 2
  expect_equal(comparison$log_bf[[2]], abs(log_bf), tolerance = 1e-14)
  expect_identical(attr(comparison, "prior_prob"), c(M0 = prior[[1]], M1 = prior[[2]]))

  out <- capture.output(res <- print(comparison))
  expect_identical(res, comparison)
  expect_match(out[[1]], "prior as given", fixed = TRUE)
  expect_match(out[[2]], paste("against", favoured), fixed = TRUE)
  expect_true(any(grepl(paste0("^", favoured, " +",
                               formatC(comparison$pmp[[1]], digits = 3, format = "f")),
                        out)))
  uniform_out <- capture.output(print(compare_models(fit, x)))
  expect_match(uniform_out[[1]], "uniform prior", fixed = TRUE)
  # tiny probabilities are shown in scientific notation, not as 0.000 (for
  # a fit without a checked range, which would show a bound instead:
  # test-trust.R)
  shifted <- shift_logits(fit, c(0, 50))
  shifted$checked_range <- NULL
  shifted$checksum <- deepbmc:::fit_checksum(shifted)
  strong <- compare_models(shifted, x)
  expect_output(print(strong), "M0 +[0-9.]+e-[0-9]+")
  # a log PMP of -0.0001 is 0.00, not -0.00
  expect_false(any(grepl("-0.00", capture.output(print(strong)),
                         fixed = TRUE)))
})

test_that("three models: probabilities, priors, Bayes factors and ranking agree", {
  fit <- three_model_fit()
  sets <- predict_sets()
  # centre the logits over the data sets so that the ranking of the models
  # differs between them
  logits <- deepbmc:::predict_logits(fit, sets, NULL, NULL, threads = 1)$logits
  fit <- shift_logits(fit, -colMeans(logits))
  pmp <- post_prob(fit, sets)
  expect_identical(colnames(pmp), c("A", "B", "C"))
  expect_equal(rowSums(pmp), rep(1, 4), tolerance = 1e-12)
  prior <- c(0.2, 0.5, 0.3)
  unnormalised <- sweep(pmp, 2, prior, `*`)
  expect_equal(post_prob(fit, sets, prior_prob = prior),
               unnormalised / rowSums(unnormalised), tolerance = 1e-12)
  # log Bayes factors chain: A:C = A:B + B:C
  ab <- c_bf(fit, sets, model1 = "A", model2 = "B")
  bc <- c_bf(fit, sets, model1 = "B", model2 = "C")
  ac <- c_bf(fit, sets, model1 = "A", model2 = "C")
  expect_equal(ac, ab + bc, tolerance = 1e-12)
  expect_equal(ac, unname(log(pmp[, "A"] / pmp[, "C"])), tolerance = 1e-10)
  expect_identical(c_bf(fit, sets, model1 = 3, model2 = 1), -ac)

  orders <- character(0)
  for (i in seq_along(sets)) {
    comparison <- compare_models(fit, sets[[i]])
    expect_identical(comparison$model,
                     names(sort(pmp[i, ], decreasing = TRUE)))
    expect_true(all(diff(comparison$pmp) <= 0))
    expect_identical(comparison$log_bf[[1]], 0)
    expect_true(all(comparison$log_bf[-1] < 0))
    best <- comparison$model[[1]]
    for (j in 2:3) {
      expect_equal(comparison$log_bf[[j]],
                   unname(log(pmp[i, comparison$model[[j]]] / pmp[i, best])),
                   tolerance = 1e-10)
    }
    orders <- c(orders, paste(comparison$model, collapse = ""))
  }
  # the data sets rank the models differently, so the order is not fixed
  expect_gt(length(unique(orders)), 1)
  # bad model indices for three models
  expect_deepbmc_error(bayes_factor(fit, sets, model1 = 4), "value", "model1")
  expect_deepbmc_error(post_prob(fit, sets, prior_prob = c(0.5, 0.5)), "type",
                       "prior_prob")
})

test_that("post_prob() and bayes_factor() are bridgesampling's generics", {
  expect_identical(deepbmc::post_prob, bridgesampling::post_prob)
  expect_identical(deepbmc::bayes_factor, bridgesampling::bayes_factor)
  fit <- api_fit()
  x <- predict_sets()[[1]]
  expect_identical(bridgesampling::post_prob(fit, x), post_prob(fit, x))
})

test_that("data outside the training sizes give a classed warning", {
  fit <- api_fit()
  # api_models(): 2 to 20 groups of 1 to 20 observations
  inside <- list(matrix(0.1, 2, 20), list(1, 2), matrix(0.3, 20, 1))
  expect_no_warning(post_prob(fit, inside))
  outside <- list(
    too_many_groups = matrix(0.1, 21, 3),
    too_few_groups = matrix(0.1, 1, 3),
    too_many_obs = list(c(0.1, 0.2, 0.3), seq(-1, 1, length.out = 21))
  )
  for (name in names(outside)) {
    expect_warning(post_prob(fit, outside[[name]]),
                   class = "deepbmc_extrapolation_warning", label = name)
  }
  # all-NA padding does not count as observations
  expect_no_warning(post_prob(fit, cbind(matrix(0.1, 3, 20), NA)))
  w <- expect_warning(post_prob(fit, c(outside, inside)),
                      class = "deepbmc_extrapolation_warning")
  expect_match(conditionMessage(w), "3 of 6 data sets", fixed = TRUE)
  # the advice names the training that covers them, numbers filled in
  expect_match(conditionMessage(w), "groups = c(1, 21)", fixed = TRUE)
  expect_match(conditionMessage(w), "more observations per group",
               fixed = TRUE)
  expect_no_match(conditionMessage(w), "missing_values", fixed = TRUE)
  expect_warning(bayes_factor(fit, outside[[1]]),
                 class = "deepbmc_extrapolation_warning")
  expect_warning(compare_models(fit, outside[[1]]),
                 class = "deepbmc_extrapolation_warning")
})

test_that("values the float network cannot represent are errors", {
  fit <- api_fit()
  x <- groups_to_matrix(api_groups(1))
  for (value in c(4e38, -1e300, .Machine$double.xmax)) {
    huge <- x
    huge[2, 1] <- value
    err <- expect_deepbmc_error(post_prob(fit, huge), "data", "data",
                                label = format(value))
    expect_match(conditionMessage(err), "single precision", fixed = TRUE)
    # in a list (the in-place path for matrices), the data set is named
    expect_deepbmc_error(post_prob(fit, list(x, x, huge)), "data",
                         "data[[3]]", label = format(value))
    expect_deepbmc_error(bayes_factor(fit, list(x, huge)), "data", "x2[[2]]")
    expect_deepbmc_error(compare_models(fit, groups_to_data_frame(
      list(c(1, 2), c(value, 3))
    )), "data", "data")
  }
  # the largest float itself is representable (and far outside training)
  edge <- x
  edge[1, 1] <- 3.4e38
  expect_warning(post_prob(fit, edge), class = "deepbmc_input_range_warning")
})

test_that("inputs far outside the training range give a classed warning", {
  fit <- api_fit()
  seen <- fit$input_range
  expect_named(seen, c("lo", "hi"))
  expect_true(all(is.finite(c(seen$lo, seen$hi))) && seen$lo < seen$hi)
  # the range of all training data: the same for any thread count, and
  # training longer (the same steps, then more) can only widen it
  train <- function(iterations, threads) {
    train_comparison(api_models(), api_network(), epochs = 1,
                     iterations = iterations, batch_size = 16, seed = 3,
                     threads = threads, progress = FALSE)$input_range
  }
  short <- train(5, 1L)
  expect_identical(train(5, 2L), short)
  long <- train(40, 2L)
  expect_true(long$lo <= short$lo && long$hi >= short$hi)
  expect_true(long$lo < short$lo || long$hi > short$hi)

  x <- groups_to_matrix(api_groups(1))
  expect_no_warning(post_prob(fit, x))
  expect_no_warning(post_prob(fit, x * 0 + seen$hi))
  width <- seen$hi - seen$lo
  for (value in c(seen$hi + 1.01 * width, seen$lo - 1.01 * width, 1e10, -1e30)) {
    far <- x
    far[3, 2] <- value
    w <- expect_warning(post_prob(fit, list(x, far)),
                        class = "deepbmc_input_range_warning",
                        label = format(value))
    expect_match(conditionMessage(w), "data[[2]], values", fixed = TRUE)
    expect_match(conditionMessage(w), "1 of 2 data sets", fixed = TRUE)
  }
  # just inside the margin: no warning
  near <- x
  near[3, 2] <- seen$hi + 0.99 * width
  expect_no_warning(post_prob(fit, near))
  # the same check on the in-place path for lists of complete matrices
  complete <- matrix(0.1, 3, 4)
  far <- complete
  far[1, 1] <- 1e10
  w <- expect_warning(post_prob(fit, list(complete, complete, far)),
                      class = "deepbmc_input_range_warning")
  expect_match(conditionMessage(w), "data[[3]]", fixed = TRUE)
  # probabilities are still returned, finite and summing to one
  pmp <- suppressWarnings(post_prob(fit, list(complete, far)))
  expect_equal(rowSums(pmp), c(1, 1))
})

test_that("arguments in the wrong order and classless fits are named errors", {
  fit <- api_fit()
  sims <- simulate_datasets(api_models(), n = 2, seed = 1)
  expect_deepbmc_error(post_prob(sims, fit), "type")
  expect_deepbmc_error(bayes_factor(sims, fit), "type")
  expect_deepbmc_error(post_prob(unclass(fit), sims), "fit", "x")
  expect_deepbmc_error(bayes_factor(unclass(fit), sims), "fit", "x1")
  # model names or indices in the generic's third place, which is log
  for (value in list("M1", 2, factor("M1"))) {
    err <- expect_deepbmc_error(bayes_factor(fit, sims, value, "M0"), "type",
                                "log")
    expect_match(conditionMessage(err), "model1 = \"M1\"", fixed = TRUE)
  }
  # other lists still reach bridgesampling's methods
  expect_error(post_prob(list(1, 2)), class = "error")
  expect_false(inherits(tryCatch(post_prob(list(1, 2)), error = identity),
                        "deepbmc_error"))
})

test_that("bad arguments are classed errors naming the argument", {
  fit <- api_fit()
  x <- predict_sets()[[1]]
  bad_priors <- list(
    type = list(c(1, 1, 1) / 3, 1, c("a", "b"), list(0.5, 0.5), TRUE),
    value = list(c(0.5, 0.6), c(1, 0), c(NA, 0.5), c(Inf, 0.5), c(-0.5, 1.5),
                 c(NaN, 1), c(0.2, 0.2))
  )
  for (what in names(bad_priors)) {
    for (prior in bad_priors[[what]]) {
      label <- paste(what, deparse(prior))
      expect_deepbmc_error(post_prob(fit, x, prior_prob = prior), what,
                           "prior_prob", label = label)
    }
  }
  expect_deepbmc_error(compare_models(fit, x, prior_prob = c(0.2, 0.2)),
                       "value", "prior_prob")
  expect_deepbmc_error(compare_models(fit, x, prior_prob = NA), "type",
                       "prior_prob")

  expect_deepbmc_error(post_prob(fit, x, model_names = "a"), "type",
                       "model_names")
  expect_deepbmc_error(post_prob(fit, x, model_names = 1:2), "type",
                       "model_names")
  for (names in list(c("a", "a"), c("a", NA), c("a", ""))) {
    expect_deepbmc_error(post_prob(fit, x, model_names = names), "value",
                         "model_names")
  }

  expect_deepbmc_error(post_prob(fit, x, log = NA), "type", "log")
  expect_deepbmc_error(post_prob(fit, x, log = "yes"), "type", "log")
  expect_deepbmc_error(bayes_factor(fit, x, log = c(TRUE, FALSE)), "type", "log")

  for (fun in c("post_prob", "bayes_factor", "compare_models")) {
    call_with <- function(threads) {
      do.call(fun, list(fit, x, threads = threads))
    }
    expect_deepbmc_error(call_with(0), "value", "threads", label = fun)
    expect_deepbmc_error(call_with(1.5), "value", "threads", label = fun)
    expect_deepbmc_error(call_with(Inf), "value", "threads", label = fun)
    expect_deepbmc_error(call_with(NA), "type", "threads", label = fun)
    expect_deepbmc_error(call_with("2"), "type", "threads", label = fun)
  }

  # unknown models, by name or index
  for (arg in c("model1", "model2")) {
    call_with <- function(model) {
      do.call(bayes_factor, c(list(fit, x), stats::setNames(list(model), arg)))
    }
    err <- expect_deepbmc_error(call_with("M3"), "value", arg)
    expect_match(conditionMessage(err), "\"M3\" is not one of", fixed = TRUE)
    expect_deepbmc_error(call_with(NA_character_), "type", arg)
    expect_deepbmc_error(call_with(3), "value", arg)
    expect_deepbmc_error(call_with(0), "value", arg)
    expect_deepbmc_error(call_with(1.5), "value", arg)
    expect_deepbmc_error(call_with(NA), "type", arg)
    expect_deepbmc_error(call_with(c(1, 2)), "type", arg)
    expect_deepbmc_error(call_with(c("M0", "M1")), "type", arg)
  }

  # misspelled or surplus arguments are not silently ignored
  err <- expect_deepbmc_error(post_prob(fit, x, prior = c(0.5, 0.5)), "type")
  expect_match(conditionMessage(err), "`prior`", fixed = TRUE)
  expect_deepbmc_error(bayes_factor(fit, x, TRUE, 1), "type")
  expect_deepbmc_error(bayes_factor(fit, x, modl1 = 1), "type", "modl1")
})

test_that("compare_models() stacks the rankings of several data sets", {
  fit <- three_model_fit()
  sets <- predict_sets()
  logits <- deepbmc:::predict_logits(fit, sets, NULL, NULL, threads = 1)$logits
  fit <- shift_logits(fit, -colMeans(logits))
  prior <- c(A = 0.2, B = 0.5, C = 0.3)
  for (prior_prob in list(NULL, prior)) {
    stacked <- compare_models(fit, sets, prior_prob = prior_prob)
    expect_s3_class(stacked, "data.frame", exact = TRUE)
    expect_named(stacked, c("data_set", "rank", "model", "pmp", "log_pmp",
                            "log_bf", "beyond_checked", "checked_bound", "trust"))
    expect_identical(nrow(stacked), 12L)
    expect_identical(stacked$data_set, rep(1:4, each = 3))
    expect_identical(stacked$rank, rep(1:3, times = 4))
    # each block is the one-data-set comparison
    for (i in seq_along(sets)) {
      one <- compare_models(fit, sets[[i]], prior_prob = prior_prob)
      block <- stacked[stacked$data_set == i, ]
      expect_identical(block$model, one$model)
      expect_equal(block$pmp, one$pmp, tolerance = 1e-12)
      expect_equal(block$log_pmp, one$log_pmp, tolerance = 1e-12)
      expect_equal(block$log_bf, one$log_bf, tolerance = 1e-12)
    }
    expected_prior <- prior_prob %||% rep(1 / 3, 3)
    expect_equal(attr(stacked, "prior_prob"),
                 stats::setNames(unname(expected_prior), c("A", "B", "C")))
  }
  # independent of the ranking code: the PMPs under the prior, by Bayes' rule
  uniform <- post_prob(fit, sets)
  stacked <- compare_models(fit, sets, prior_prob = prior)
  weighted <- sweep(uniform, 2, prior, `*`)
  weighted <- weighted / rowSums(weighted)
  for (i in seq_along(sets)) {
    block <- stacked[stacked$data_set == i, ]
    expect_equal(block$pmp, unname(sort(weighted[i, ], decreasing = TRUE)),
                 tolerance = 1e-10)
    expect_identical(block$model, names(sort(weighted[i, ], decreasing = TRUE)))
  }
})

test_that("only trained networks are accepted", {
  x <- predict_sets()[[1]]
  not_fits <- list(list(), api_models(), api_network(), "fit")
  for (object in not_fits) {
    # post_prob(object) would dispatch to bridgesampling's default method
    expect_deepbmc_error(deepbmc:::post_prob.deepbmc_fit(object, x), "fit", "x")
    expect_deepbmc_error(deepbmc:::bayes_factor.deepbmc_fit(object, x), "fit",
                         "x1")
    expect_deepbmc_error(compare_models(object, x), "fit", "fit")
  }
})

test_that("named prior probabilities are matched to the models by name", {
  fit <- api_fit()
  x <- predict_sets()[[1]]
  expect_identical(
    post_prob(fit, x, prior_prob = c(M1 = 0.9, M0 = 0.1)),
    post_prob(fit, x, prior_prob = c(0.1, 0.9))
  )
  expect_identical(
    compare_models(fit, x, prior_prob = c(M1 = 0.9, M0 = 0.1)),
    compare_models(fit, x, prior_prob = c(0.1, 0.9))
  )
  expect_deepbmc_error(
    post_prob(fit, x, prior_prob = c(M1 = 0.9, M2 = 0.1)),
    "value", "prior_prob"
  )
})

# Data sets as lists of group vectors: the general, packed path (a list of
# plain double matrices is read in place instead).
as_group_lists <- function(matrices) {
  lapply(matrices, function(m) lapply(seq_len(nrow(m)), function(g) m[g, ]))
}

test_that("many data sets are predicted in chunks with identical results", {
  fit <- api_fit()
  sims <- simulate_datasets(api_models(), n = 60, seed = 13)
  groups <- as_group_lists(sims$data)
  whole <- post_prob(fit, groups, log = TRUE)
  chunks <- deepbmc:::prediction_chunks(groups, max_values = 500)
  expect_gt(length(chunks), 3)
  expect_identical(unlist(chunks), seq_along(groups))
  withr::local_options(deepbmc.chunk_values = 500)
  expect_identical(post_prob(fit, groups, log = TRUE), whole)
  expect_equal(c_bf(fit, groups), unname(whole[, 1] - whole[, 2]),
               tolerance = 1e-12)
  # one warning for all chunks
  outside <- c(sims$data, list(matrix(0.1, 30, 3)))
  expect_warning(post_prob(fit, outside), class = "deepbmc_extrapolation_warning")
})

test_that("lists of matrices, read in place, give the packed path's results", {
  fit <- api_fit()
  sims <- simulate_datasets(api_models(), n = 40, seed = 14)
  expect_true(deepbmc:::uses_matrix_path(fit, sims$data))
  expect_false(deepbmc:::uses_matrix_path(fit, as_group_lists(sims$data)))
  in_place <- post_prob(fit, sims$data, log = TRUE, threads = 1)
  expect_identical(post_prob(fit, as_group_lists(sims$data), log = TRUE,
                             threads = 1), in_place)
  expect_identical(post_prob(fit, sims$data, log = TRUE, threads = 2),
                   in_place)
  # A missing value sends the list through the general path, where NA is an
  # unobserved value; the other data sets keep their probabilities.
  with_na <- sims$data
  with_na[[3]][1, 1] <- NA
  expect_false(all(deepbmc:::cpp_predict_matrices(
    fit$config, fit$weights, with_na, 1L
  )$finite))
  pmp_na <- post_prob(fit, with_na, log = TRUE)
  expect_identical(pmp_na[-3, ], in_place[-3, ])
  expect_identical(pmp_na[3, ], post_prob(fit, with_na[[3]], log = TRUE))
  # An infinite value is an error naming its data set.
  with_inf <- sims$data
  with_inf[[5]][2, 1] <- Inf
  expect_error(post_prob(fit, with_inf), "data\\[\\[5\\]\\]",
               class = "deepbmc_error")
  # Sizes outside training are found as on the general path.
  outside <- c(sims$data, list(matrix(0.1, 30, 3)))
  w <- expect_warning(post_prob(fit, outside),
                      class = "deepbmc_extrapolation_warning")
  expect_match(conditionMessage(w), "1 of 41 data sets", fixed = TRUE)
})
