# Orthodont's Sex question by brms + bridgesampling, as a check of the exact
# marginal likelihoods of bench/exact_lmm.R (issue 29). Takes 4 to 6 minutes
# (two Stan compilations, 2 chains x 10,000 draws each, 5 bridge sampling
# repetitions). Writes bench/results/exact_lmm_brms.md.
#
# The models are deepbmc's: `0 + Intercept` gives brms the intercept of the
# uncentred model matrix (brms's default Intercept is that of centred
# covariates), with Intercept ~ normal(20, 10), b ~ normal(0, 3),
# sd ~ half_normal(5) (normal(0, 5) on a positive parameter) and
# sigma ~ exponential(0.5).
#
# Run from the package root: Rscript bench/exact_lmm_brms.R

suppressMessages({
  library(brms)
  library(bridgesampling)
})
rstan::rstan_options(boost_lib = "/usr/include")
source("tests/testthat/helper-exact-lmm.R")

orthodont <- as.data.frame(nlme::Orthodont)
priors <- c(
  prior(normal(20, 10), class = b, coef = Intercept),
  prior(normal(0, 3), class = b),
  prior(normal(0, 5), class = sd),
  prior(exponential(0.5), class = sigma)
)
started <- proc.time()[["elapsed"]]
bridge_log_ml <- function(formula) {
  fit <- brm(formula, orthodont, prior = priors, chains = 2, cores = 1,
             iter = 12000, warmup = 2000, save_pars = save_pars(all = TRUE),
             refresh = 0, seed = 29, silent = 2)
  bridge_sampler(fit, silent = TRUE, repetitions = 5)$logml
}
bridge <- list(
  null = bridge_log_ml(distance ~ 0 + Intercept + age + (1 | Subject)),
  sex = bridge_log_ml(distance ~ 0 + Intercept + age + Sex + (1 | Subject))
)
seconds <- proc.time()[["elapsed"]] - started

exact <- c(
  null = exact_lmm_log_ml(orthodont$distance,
                          stats::model.matrix(~ age, orthodont),
                          orthodont$Subject, c(20, 0), c(10, 3),
                          half_normal_prior(5), exponential_prior(0.5)),
  sex = exact_lmm_log_ml(orthodont$distance,
                         stats::model.matrix(~ age + Sex, orthodont),
                         orthodont$Subject, c(20, 0, 0), c(10, 3, 3),
                         half_normal_prior(5), exponential_prior(0.5))
)
log_bf <- bridge$sex - bridge$null
writeLines(c(
  "<!-- Written by bench/exact_lmm_brms.R. -->",
  "# Orthodont's Sex question: exact against brms + bridgesampling",
  "",
  paste0("- date: ", format(Sys.time(), "%Y-%m-%d %H:%M UTC", tz = "UTC"),
         "; brms ", utils::packageVersion("brms"), ", bridgesampling ",
         utils::packageVersion("bridgesampling")),
  "",
  "| | log ML null | log ML Sex | log BF | PMP(Sex) |",
  "|---|---|---|---|---|",
  sprintf("| exact (plain R quadrature) | %.4f | %.4f | %.4f | %.4f |",
          exact[["null"]], exact[["sex"]], exact[["sex"]] - exact[["null"]],
          stats::plogis(exact[["sex"]] - exact[["null"]])),
  sprintf(paste("| brms + bridgesampling, mean (SD) of 5 repetitions |",
                "%.4f (%.4f) | %.4f (%.4f) | %.4f (%.4f) | %.4f |"),
          mean(bridge$null), stats::sd(bridge$null), mean(bridge$sex),
          stats::sd(bridge$sex), mean(log_bf), stats::sd(log_bf),
          stats::plogis(mean(log_bf))),
  "",
  sprintf("brms took %.0f seconds.", seconds)
), file.path("bench", "results", "exact_lmm_brms.md"))
