test_tier("full")
# Every family's simulator against a plain-R reference simulation of the same
# models, 4,000 data sets per case, with mutants the comparison must reject
# (full tier; split from test-formula-families.R).

test_that("each family's models simulate as their plain-R reference does", {
  template <- ff_template()
  cases <- ff_cases()
  n_sims <- 4000
  n_ref <- 2000
  withr::local_seed(ff_seeds$r + 1)
  for (case_name in names(cases)) {
    case <- cases[[case_name]]
    set <- ff_model_set(case, template)
    # the formulas and priors came through as written
    for (model in set$models) {
      expect_identical(model$family,
                       list(family = case$ref_family, link = case$link))
      expect_true(all(model$prior$source == "user"),
                  label = paste(case_name, "every prior is the user's"))
    }
    sims <- simulate_datasets(set, n = n_sims,
                              seed = ff_seeds$sim + match(case_name, names(cases)))
    first <- ff_expect_fixed_design(sims$data, template, case_name)
    N <- nrow(template)
    Y <- vapply(sims$data, function(frame) {
      as.double(.subset2(frame, case$response))
    }, numeric(N))
    trials <- if (case$ref_family == "binomial") first$n else 1
    ff_expect_support(Y, case$ref_family, trials, case_name)
    # models drawn uniformly
    expect_lt(abs(mean(sims$model == 1) - 0.5), 5 * sqrt(0.25 / n_sims),
              label = paste(case_name, "share of M1"))

    for (k in seq_along(case$models)) {
      model <- case$models[[k]]
      model$family <- case$ref_family
      model$link <- case$link
      label <- paste(case_name, names(case$models)[[k]])
      ours <- ff_stats(Y[, sims$model == k, drop = FALSE], first$x, first$g,
                       trials)
      ref_y <- ff_reference(model, template, n_ref)
      ref_trials <- if (case$ref_family == "binomial") template$n else 1
      ref <- ff_stats(ref_y, template$x, template$g, ref_trials)
      gaps <- ff_compare(ours, ref, ff_moments(model))
      for (i in seq_len(nrow(gaps))) {
        expect_lt(
          abs(gaps$z[[i]]), 5,
          label = sprintf("%s %s: package %.5g, reference %.5g, |z|", label,
                          gaps$moment[[i]], gaps$ours[[i]],
                          gaps$reference[[i]])
        )
      }

      # The comparison has the power to catch a plausible simulator bug: a
      # reference with that bug differs by more than the tolerance.
      if (!is.null(case$mutant) && case$mutant$model == names(case$models)[[k]]) {
        wrong <- case$mutant$change(model, template)
        wrong_trials <- if (case$ref_family == "binomial") wrong$data$n else 1
        mutant <- ff_stats(ff_reference(wrong$model, wrong$data, n_ref),
                           wrong$data$x, wrong$data$g, wrong_trials)
        mutant_gaps <- ff_compare(ours, mutant, ff_moments(model))
        expect_gt(max(abs(mutant_gaps$z)), 5,
                  label = paste(label, "largest |z| against a wrong reference"))
      }
    }
  }
})
