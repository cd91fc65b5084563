# Exact Bayes-optimal references for "does this covariate matter?" questions
# on real designs shipped with R packages (issue 29).
#
# Takes about 3 minutes on one core of the bench machine when it is idle, 5
# to 8 when its 2 cores are shared; the seconds per design are in the table
# it writes.
#
# For each design: the exact posterior model probability (PMP) of the model
# with the covariate on the real data, and 1,000 data sets simulated by
# deepbmc's simulate_datasets() from the model set (equal prior model
# probabilities) with their exact PMPs. The mean of max(PMP) over them is the
# Bayes-optimal accuracy: the expected accuracy of the best possible decision
# (a network trained on these simulations can at most reach it). The exact
# marginal likelihoods are plain R (tests/testthat/helper-exact-lmm.R), with
# the models exactly as deepbmc simulates them: the intercept of the
# uncentred model matrix, half_normal(s) the SD of |N(0, s^2)|,
# exponential(rate).
#
# Writes bench/results/exact_lmm_<design>.rds (the seed, the model set's
# formulas and priors, the true models, the simulated responses (for designs
# up to 200 observations; the sums of each data set's responses for all) and
# their log marginal likelihoods and PMPs; simulate_datasets(
# exact_lmm_set(exact_lmm_designs$<design>), n = 1000, seed = seed,
# threads = 1) regenerates the data sets) and bench/results/exact_lmm.md.
#
# Run from the package root with the package installed:
#   R_LIBS=/tmp/lib29a Rscript bench/exact_lmm.R

suppressMessages(library(deepbmc))
source("tests/testthat/helper-exact-lmm.R")

n_datasets <- 1000
max_stored_values <- 2e5

source("bench/formula_designs.R")

exact_lmm_reference <- function(design) {
  list(
    sd_prior = half_normal_prior(design$sd_scale),
    sigma_prior = exponential_prior(design$sigma_rate),
    beta_mean = function(x) c(design$intercept[1], rep(0, ncol(x) - 1)),
    beta_sd = function(x) c(design$intercept[2], rep(design$b_sd, ncol(x) - 1))
  )
}

run_design <- function(name, design) {
  started <- proc.time()[["elapsed"]]
  reference <- exact_lmm_reference(design)
  x <- list(null = fixed_matrix(design$null, design$data),
            effect = fixed_matrix(design$effect, design$data))
  real_log_ml <- vapply(x, function(x_model) {
    exact_lmm_log_ml(design$data[[design$response]], x_model,
                     design$data[[design$group]], reference$beta_mean(x_model),
                     reference$beta_sd(x_model), reference$sd_prior,
                     reference$sigma_prior)
  }, numeric(1))
  real_pmp <- exact_pmp(real_log_ml)

  set <- exact_lmm_set(design)
  sims <- simulate_datasets(set, n = n_datasets, seed = design$seed,
                            threads = 1)
  first <- sims$data[[1]]
  responses <- vapply(sims$data, function(data) data[[design$response]],
                      numeric(nrow(first)))
  x_sim <- list(null = fixed_matrix(design$null, first),
                effect = fixed_matrix(design$effect, first))
  # The shared grid's steps follow the posterior widths of log sigma and log
  # sd, about 1 / sqrt(2 n) and 1 / sqrt(2 G).
  n_groups <- length(unique(first[[design$group]]))
  step <- c(0.7 / sqrt(2 * nrow(first)), 0.7 / sqrt(2 * n_groups))
  grid_log_ml <- function(columns, step) {
    vapply(names(x_sim), function(model) {
      x_model <- x_sim[[model]]
      exact_lmm_log_ml_grid(
        responses[, columns, drop = FALSE],
        exact_lmm_design(x_model, first[[design$group]]),
        reference$beta_mean(x_model), reference$beta_sd(x_model),
        reference$sd_prior, reference$sigma_prior, step = step,
        prior_tail = c(1e-5, 1e-10), chunk = 2e6
      )
    }, numeric(length(columns)))
  }
  log_ml <- grid_log_ml(seq_len(n_datasets), step)
  pmp <- exp(log_ml - apply(log_ml, 1, exact_log_sum_exp))
  # Checks of the shared grid: the adaptive quadrature (converged to 1e-7)
  # and the grid at half the step, on the first data sets.
  checked <- seq_len(20)
  adaptive <- t(vapply(checked, function(i) {
    vapply(names(x_sim), function(model) {
      x_model <- x_sim[[model]]
      exact_lmm_log_ml(responses[, i], x_model, first[[design$group]],
                       reference$beta_mean(x_model),
                       reference$beta_sd(x_model), reference$sd_prior,
                       reference$sigma_prior)
    }, numeric(1))
  }, numeric(2)))
  finer <- grid_log_ml(checked, step / 2)
  effect_pmp <- function(log_ml) stats::plogis(log_ml[, 2] - log_ml[, 1])
  grid_error <- max(abs(effect_pmp(log_ml[checked, , drop = FALSE]) -
                          effect_pmp(adaptive)),
                    abs(effect_pmp(log_ml[checked, , drop = FALSE]) -
                          effect_pmp(finer)))
  truth <- sims$model
  decision <- ifelse(pmp[, 2] > 0.5, 2L, 1L)
  result <- list(
    design = name, question = design$question, seed = design$seed,
    n = n_datasets,
    formulas = list(null = design$null, effect = design$effect),
    priors = as.data.frame(exact_lmm_priors(design)),
    regenerate = sprintf(
      paste0("simulate_datasets(exact_lmm_set(exact_lmm_designs$%s), ",
             "n = %d, seed = %d, threads = 1)"),
      name, n_datasets, design$seed
    ),
    model = truth, model_names = sims$model_names,
    # Large designs' responses would make megabytes of incompressible
    # doubles: those are regenerated from the seed and checked against the
    # sums of their columns.
    responses = if (length(responses) <= max_stored_values) responses,
    response_sums = colSums(responses),
    log_ml = log_ml, pmp = pmp,
    real_log_ml = real_log_ml, real_pmp = real_pmp,
    bayes_optimal_accuracy = mean(apply(pmp, 1, max)),
    realised_accuracy = mean(decision == truth),
    from_effect = sum(truth == 2L),
    # Calibration: sum(1(effect) - PMP) / sqrt(sum(PMP (1 - PMP))) is
    # standard normal when the PMPs are those of deepbmc's simulations.
    calibration_z = sum((truth == 2L) - pmp[, 2]) /
      sqrt(sum(pmp[, 2] * (1 - pmp[, 2]))),
    grid_error = grid_error
  )
  result$seconds <- proc.time()[["elapsed"]] - started
  saveRDS(result, file.path("bench", "results",
                            paste0("exact_lmm_", name, ".rds")))
  result
}

results <- lapply(names(exact_lmm_designs), function(name) {
  message("design ", name)
  run_design(name, exact_lmm_designs[[name]])
})

format_row <- function(result) {
  design <- exact_lmm_designs[[result$design]]
  # A bar in a table cell would end the cell.
  formula_text <- function(formula) {
    gsub("|", "\\|", deparse1(formula), fixed = TRUE)
  }
  sprintf(
    paste("| %s | %s | `%s` vs `%s` | %.4f (log BF %.2f) | %.3f | %.3f |",
          "%d | %.2f | %.1e | %.0f |"),
    result$design, result$question, formula_text(design$effect),
    formula_text(design$null), result$real_pmp[["effect"]],
    diff(result$real_log_ml), result$bayes_optimal_accuracy,
    result$realised_accuracy, result$from_effect, result$calibration_z,
    result$grid_error, result$seconds
  )
}

priors_line <- function(result) {
  design <- exact_lmm_designs[[result$design]]
  sprintf(
    paste("- %s: Intercept ~ normal(%g, %g), b ~ normal(0, %g),",
          "sd ~ half_normal(%g), sigma ~ exponential(%g); seed %d"),
    result$design, design$intercept[1], design$intercept[2], design$b_sd,
    design$sd_scale, design$sigma_rate, design$seed
  )
}

writeLines(c(
  "<!-- Written by bench/exact_lmm.R; edit the preamble there. -->",
  "# Exact Bayes-optimal references for formula models (issue 29)",
  "",
  "Gaussian random-intercept models with the covariate's coefficients and",
  "the intercept integrated analytically and sigma and the group SD by",
  "quadrature (tests/testthat/helper-exact-lmm.R, plain R), of exactly the",
  "models deepbmc simulates: `Intercept` is the intercept of the uncentred",
  "model matrix, half_normal(s) is |N(0, s^2)|, exponential(rate). Equal",
  "prior model probabilities.",
  "",
  paste0("- date: ", format(Sys.time(), "%Y-%m-%d %H:%M UTC", tz = "UTC"),
         "; ", R.version.string),
  paste0("- data sets per design: ", n_datasets, ", from deepbmc's ",
         "simulate_datasets() (seeds below; the .rds files hold their ",
         "exact log marginal likelihoods and PMPs, and their responses up ",
         "to 200 observations per data set)"),
  "",
  paste("| design | question | effect vs null | exact PMP(effect) on the",
        "real data | Bayes-optimal accuracy (mean max PMP) | realised",
        "accuracy of the exact decision | data sets from the effect model |",
        "calibration z | grid check (max abs PMP difference, 20 data sets) |",
        "seconds |"),
  "|---|---|---|---|---|---|---|---|---|---|",
  vapply(results, format_row, character(1)),
  "",
  "Priors:",
  "",
  vapply(results, priors_line, character(1)),
  "",
  paste("The Bayes-optimal accuracy is the best any classifier trained on",
        "these simulations can reach on them in expectation; the realised",
        "accuracy is that of the exact PMPs' decisions on the 1,000 data sets",
        "(within sampling error of it). The calibration z is",
        "sum(1(effect) - PMP) / sqrt(sum(PMP (1 - PMP))), standard normal",
        "when the exact PMPs are the probabilities of the true model among",
        "deepbmc's simulations; it includes the randomness of the models'",
        "draw, so a seed that draws many more data sets from one model than",
        "500 moves it (Orthodont's seed 2901 draws 549, a 3.1 SD excess;",
        "over seeds 2801 to 3000 the counts are binomial(1000, 0.5)). The",
        "grid check compares the shared grid used for the 1,000 data sets",
        "with the adaptive quadrature and with the grid at half the step.")
), file.path("bench", "results", "exact_lmm.md"))
