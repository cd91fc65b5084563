test_tier("fast")
# robustness_checks() (R/robustness.R): the perturbed copies are what each
# check says, PMPs agree with post_prob() on the same copies, results follow
# the seed, and bad arguments are classed errors.

robust_fit <- local({
  fit <- NULL
  function() {
    if (is.null(fit)) {
      models <- evidence_accumulation_models(participants = c(3, 6),
                                             trials = 30)
      fit <<- train_comparison(
        models, network = hierarchical_network(summary_dim = c(8, 8)),
        epochs = 1, iterations = 20, batch_size = 8, seed = 1, threads = 1,
        missing = missing_values(share = c(0, 0.2),
                                 features = c("rt", "response"))
      )
    }
    fit
  }
})

robust_data <- function() {
  models <- evidence_accumulation_models(participants = 5, trials = 30)
  simulate_datasets(models, n = 1, seed = 4)$data[[1]]
}

test_that("each check perturbs the data as documented", {
  fit <- robust_fit()
  data <- robust_data()
  r <- robustness_checks(fit, data, n = 6, added_missing = c(2, 5),
                         missing_features = c("rt", "response"), seed = 9,
                         threads = 1)
  expect_s3_class(r, "deepbmc_robustness")
  tab <- r$replicates
  expect_identical(as.vector(table(tab$check)[c("observations", "groups",
                                                "leave_one_out", "missing")]),
                   c(6L, 6L, 5L, 12L))
  expect_identical(tab$replicate[tab$check == "leave_one_out"],
                   as.character(1:5))
  pmp <- as.matrix(tab[fit$models$model_names])
  expect_equal(unname(rowSums(pmp)), rep(1, nrow(tab)), tolerance = 1e-12)
  expect_identical(as.character(tab$best),
                   fit$models$model_names[max.col(pmp, "first")])
  expect_equal(r$observed, post_prob(fit, data, threads = 1))
  # leave-one-out rows are the PMPs of the data without that participant
  without_3 <- data[data$participant != 3, ]
  expect_equal(unname(pmp[tab$check == "leave_one_out", ][3, ]),
               unname(post_prob(fit, without_3, threads = 1)))
  # summaries: mean PMPs of each check's rows
  s <- r$summary
  obs_rows <- tab$check == "observations"
  expect_equal(s$mean_pmp[s$label == "observations"],
               unname(colMeans(pmp[obs_rows, ])))
  expect_equal(sum(s$share_best[s$label == "groups"]), 1)
  expect_setequal(unique(s$label),
                  c("observations", "groups", "leave_one_out",
                    "missing (+2 per group)", "missing (+5 per group)"))
  # the same seed gives the same replicates, another seed others
  again <- robustness_checks(fit, data, n = 6, added_missing = c(2, 5),
                             missing_features = c("rt", "response"),
                             seed = 9, threads = 1)
  expect_identical(again$replicates, r$replicates)
  other <- robustness_checks(fit, data, checks = "observations", n = 6,
                             seed = 10, threads = 1)
  expect_false(identical(other$replicates[fit$models$model_names],
                         tab[obs_rows, fit$models$model_names]))
  expect_output(print(r), "Mean PMP per model")
})

test_that("the missing check makes the stated number of trials missing", {
  fit <- robust_fit()
  data <- robust_data()
  # with one replicate the PMPs must equal those of a copy with exactly k
  # more missing trials per participant; check through the same seed
  r <- robustness_checks(fit, data, checks = "missing", n = 1,
                         added_missing = 4,
                         missing_features = c("rt", "response"), seed = 3,
                         threads = 1)
  copy <- withr::with_seed(3, {
    groups <- split(seq_len(nrow(data)), factor(data$participant,
                                                levels = unique(data$participant)))
    hit <- unlist(lapply(groups, function(g) {
      observed <- g[stats::complete.cases(data[g, c("stimulus", "rt", "response")])]
      observed[sample.int(length(observed), 4)]
    }))
    d <- data
    d[hit, c("rt", "response")] <- NA
    d
  })
  expect_identical(as.vector(tapply(is.na(copy$rt), copy$participant, sum)),
                   rep(4L, 5) + as.vector(tapply(is.na(data$rt),
                                                 data$participant, sum)))
  expect_equal(unname(unlist(r$replicates[1, fit$models$model_names])),
               unname(post_prob(fit, copy, threads = 1)))
})

test_that("bad arguments are classed errors naming the argument", {
  fit <- robust_fit()
  data <- robust_data()
  expect_deepbmc_error(robustness_checks(fit, data[0, ]), "data")
  expect_deepbmc_error(robustness_checks(fit, as.matrix(data)), "data")
  expect_deepbmc_error(robustness_checks(fit, data, checks = "jackknife"),
                       "value", "checks")
  expect_deepbmc_error(robustness_checks(fit, data, n = 0), "value", "n")
  expect_deepbmc_error(robustness_checks(fit, data, n = NA_real_), "value",
                       "n")
  expect_deepbmc_error(robustness_checks(fit, data, added_missing = 31),
                       "value", "added_missing")
  expect_deepbmc_error(robustness_checks(fit, data, added_missing = "a"),
                       "type", "added_missing")
  expect_deepbmc_error(robustness_checks(fit, data, added_missing = 2,
                                         missing_features = "colour"),
                       "value", "missing_features")
  expect_deepbmc_error(robustness_checks(fit, data, group = "subject"),
                       "value", "group")
  bad <- data
  bad$participant[[1]] <- NA
  expect_deepbmc_error(robustness_checks(fit, bad), "data")
  expect_deepbmc_error(robustness_checks(api_fit(), data), "mismatch")
})
