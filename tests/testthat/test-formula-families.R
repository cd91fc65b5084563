test_tier("fast")
# Formula models from end to end, family by family: models written with
# hier_model() and hier_prior(), combined with model_set() and drawn with
# simulate_datasets(). They are compared with an independent plain-R
# simulation of the same models, written here from the documented semantics
# (?hier_model, ?hier_prior, the header of src/formula_models.h) with rnorm,
# rbinom, rpois, rlnorm and so on, never with the package.
# test-formula-simulator.R checks the C++ simulator on specs built by hand.
# This file checks the whole path from formulas: parsing, model matrices,
# priors, compilation, simulation and the data frames that come back.
#
# Each model's moments are compared over many data sets:
#   * the mean and the variance of the response (as a share of trials for
#     binomial) over all rows and data sets;
#   * the mean, within data sets, of the between-group variance of the group
#     means;
#   * the mean per-data-set OLS slope of the response on x;
#   * with a group-level slope, the mean squared correlation of the groups'
#     OLS intercepts and slopes. Through E[r^2] this is sensitive to the LKJ
#     correlation, which the other moments average out.
# A difference passes when it is under 5 Monte Carlo standard errors of the
# two simulations combined. The SEs are estimated over data sets; for the
# variance they come from the delta method.

# The builders are in helper-formula-families.R; the comparison of every
# family with the plain-R reference is in test-formula-families-reference.R
# (full tier).

test_that("the Student-t's nu is drawn from its prior truncated at 1", {
  template <- ff_template()
  # y = t_nu exactly: no fixed or group effects, sigma 1
  priors <- c(hier_prior("constant(0)", class = "sd"),
              hier_prior("constant(1)", class = "sigma"))
  heavy <- function(nu_prior) {
    hier_model(y ~ 0 + (1 | g), template, family = "student",
               prior = c(priors, hier_prior(nu_prior, class = "nu")))
  }
  set <- model_set(heavy("uniform(0.5, 1.5)"), heavy("uniform(1, 1.5)"))
  sims <- simulate_datasets(set, n = 2000, seed = ff_seeds$sim + 20)
  N <- nrow(template)
  # the share of |t| > 10, which nu below 1 would more than double
  tail_share <- function(nu, n) mean(abs(stats::rt(n * N, rep(nu, each = N))) > 10)
  withr::local_seed(ff_seeds$r + 20)
  n_ref <- 4000
  truncated <- tail_share(stats::runif(n_ref, 1, 1.5), n_ref)
  untruncated <- tail_share(stats::runif(n_ref, 0.5, 1.5), n_ref)
  for (k in 1:2) {
    y <- unlist(lapply(sims$data[sims$model == k], `[[`, "y"))
    ours <- mean(abs(y) > 10)
    # data sets share nu, so the SE is over data sets
    per_set <- vapply(sims$data[sims$model == k], function(frame) {
      mean(abs(frame$y) > 10)
    }, numeric(1))
    se <- sqrt(stats::var(per_set) / length(per_set) * 2)
    expect_lt(abs(ours - truncated), 5 * se,
              label = paste("model", k, "tail share against truncated nu"))
    expect_gt(abs(ours - untruncated), 5 * se)
  }
  # a prior with (almost) no mass above 1 is refused
  expect_deepbmc_error(heavy("uniform(0.1, 1)"), "value", "prior")
  expect_deepbmc_error(heavy("beta(2, 2)"), "value", "prior")
  expect_deepbmc_error(heavy("exponential(10)"), "value", "prior")
})

# ---- Missing responses, resampled designs, scaling -------------------------------

test_that("missing responses in the template stay missing in every data set", {
  template <- ff_template_missing()
  cases <- ff_cases()
  for (case_name in names(cases)) {
    case <- cases[[case_name]]
    set <- ff_model_set(case, template)
    sims <- simulate_datasets(set, n = 200, seed = ff_seeds$sim + 10)
    expect_setequal(unique(sims$model), 1:2)
    missing <- vapply(sims$data, function(frame) {
      identical(is.na(frame[[case$response]]),
                is.na(template[[case$response]][frame$id]))
    }, logical(1))
    expect_true(all(missing),
                label = paste(case_name, "NA exactly where the template has NA"))
    observed <- unlist(lapply(sims$data, function(frame) {
      frame[[case$response]][!is.na(frame[[case$response]])]
    }))
    trials <- unlist(lapply(sims$data, function(frame) {
      frame$n[!is.na(frame[[case$response]])]
    }))
    expect_identical(length(observed),
                     200L * sum(!is.na(template[[case$response]])))
    ff_expect_support(observed, case$ref_family, trials, case_name)
    # the responses are simulated, not copied from the template
    copied <- vapply(sims$data, function(frame) {
      identical(frame[[case$response]], template[[case$response]][frame$id])
    }, logical(1))
    expect_false(any(copied), label = paste(case_name, "a template copied"))
  }
  # in a resampled design too
  set <- ff_model_set(cases$poisson_log, template, design = "resample",
                      groups = c(10, 20))
  sims <- simulate_datasets(set, n = 100, seed = ff_seeds$sim + 11)
  missing <- vapply(sims$data, function(frame) {
    identical(is.na(frame$cnt), is.na(template$cnt[frame$id]))
  }, logical(1))
  expect_true(all(missing),
              label = "resampled: NA exactly where the template has NA")
  expect_true(any(vapply(sims$data, function(frame) anyNA(frame$cnt), logical(1))))
})

test_that("resampled designs are made of copies of whole template groups", {
  template <- ff_template_missing()
  set <- ff_model_set(ff_cases()$gaussian, template, design = "resample",
                      groups = c(4, 9))
  expect_identical(set$groups, c(4L, 9L))
  n <- 300
  sims <- simulate_datasets(set, n = n, seed = ff_seeds$sim + 12)
  template_rows <- split(template$id, template$g) # increasing ids per group
  template_x <- vapply(template_rows, function(rows) {
    paste(template$x[rows], collapse = " ")
  }, character(1))
  n_groups <- integer(n)
  repeats <- 0
  checks <- vapply(seq_len(n), function(d) {
    frame <- sims$data[[d]]
    groups <- split(seq_len(nrow(frame)), frame$g)
    n_groups[[d]] <<- length(groups)
    # the template group each simulated group came from
    sources <- template$g[frame$id[vapply(groups, `[[`, 1L, 1L)]]
    group_x <- vapply(groups, function(rows) {
      paste(frame$x[rows], collapse = " ")
    }, character(1))
    # groups drawn with replacement: copies of one template group are
    # separate groups with their own effects, so their responses differ
    repeated <- setdiff(sources[duplicated(sources)], "s01") # s01: all NA
    distinct_copies <- TRUE
    if (length(repeated) > 0) {
      copy <- which(sources == repeated[[1]])[1:2]
      distinct_copies <- !identical(frame$y[groups[[copy[[1]]]]],
                                    frame$y[groups[[copy[[2]]]]])
      repeats <<- repeats + 1
    }
    c(
      columns = identical(names(frame), names(template)),
      # groups labelled 1, 2, ... in order, each on contiguous rows
      labels = identical(levels(frame$g), as.character(seq_along(groups))) &&
        identical(as.integer(frame$g), rep(seq_along(groups), lengths(groups))),
      # each group's x is that of a template group, in its row order
      x_of_a_template_group = all(group_x %in% template_x),
      # ... of the group its rows came from, all of them, in order
      x_of_its_source = identical(unname(group_x), unname(template_x[sources])),
      whole_groups = identical(frame$id, unname(unlist(template_rows[sources]))),
      x = identical(frame$x, template$x[frame$id]),
      cond = identical(frame$cond, template$cond[frame$id]),
      trials = identical(frame$n, template$n[frame$id]),
      missing = identical(is.na(frame$y), is.na(template$y[frame$id])),
      distinct_copies = distinct_copies
    )
  }, logical(10))
  for (check in rownames(checks)) {
    expect_true(all(checks[check, ]), label = paste("resampled data sets:", check))
  }
  expect_true(all(n_groups >= 4 & n_groups <= 9))
  expect_setequal(unique(n_groups), 4:9)
  # with up to 9 draws from 15 groups, repeats are common
  expect_gt(repeats, n / 10)
  # and unbalanced template groups make unbalanced simulated ones
  sizes <- unlist(lapply(sims$data, function(frame) as.vector(table(frame$g))))
  expect_setequal(unique(sizes), unique(lengths(template_rows)))
})

test_that("the scaling is the mean and SD of the observed template responses", {
  for (template in list(ff_template(), ff_template_missing())) {
    cases <- ff_cases()
    for (case_name in names(cases)) {
      case <- cases[[case_name]]
      set <- ff_model_set(case, template)
      response <- template[[case$response]]
      if (case$ref_family == "binomial") response <- response / template$n
      response <- response[!is.na(response)]
      expected <- list(response_center = mean(response),
                       response_scale = sd(response))
      expect_equal(deepbmc:::models_spec(set)$scaling, expected,
                   label = paste(case_name, "scaling"))
      expect_equal(set$scaling[c("response_center", "response_scale")],
                   expected)
      # the covariates the network sees are standardised with the template
      expect_equal(unname(set$scaling$input_center[["x"]]), mean(template$x))
      expect_equal(unname(set$scaling$input_scale[["x"]]), sd(template$x))
    }
  }
})

test_that("the family registry agrees with the C++ simulator", {
  registry <- deepbmc:::formula_families
  cpp <- deepbmc:::cpp_formula_families()
  codes <- vapply(registry, `[[`, integer(1), "code")
  # every family the simulator implements, each once
  expect_setequal(codes, seq_along(cpp$sigma) - 1L)
  link_codes <- deepbmc:::link_codes
  expect_setequal(link_codes, seq_len(ncol(cpp$takes_link)) - 1L)
  for (name in names(registry)) {
    entry <- registry[[name]]
    row <- entry$code + 1L
    expect_identical(entry$sigma, cpp$sigma[[row]], label = name)
    expect_identical(!is.null(entry$aux), cpp$aux[[row]], label = name)
    expect_identical(entry$aux_lower %||% 0, cpp$aux_lower[[row]], label = name)
    expect_setequal(link_codes[entry$links],
                    which(cpp$takes_link[row, ]) - 1L)
    # and every link it takes has a Stan likelihood
    expect_setequal(names(entry$stan_likelihood), entry$links)
    expect_true(is.function(entry$check_response), label = name)
    expect_true(entry$prior_scale %in%
                  c("response", "log_response", "linear_predictor"))
  }
})
