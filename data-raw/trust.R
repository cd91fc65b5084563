# The results behind vignette("trust"): can a PMP be trusted?
#
#   R_LIBS=... Rscript data-raw/trust.R
#
# 1. Real counts, right and wrong families (lme4::grouseticks, 403 chicks in
#    118 broods): two gaussian models (with and without height) and two count
#    models (poisson with an observation-level effect, negative binomial),
#    each pair trained at the data's design (3 x 1000 steps, about 90 s per
#    pair), then misspecification_test() and compare_models() on the real
#    counts and on data simulated from each set.
# 2. The fallback: a Study 1 network (20 groups of 20, 3 x 1000 steps) and
#    compare_models(fallback = "bridge") on three data sets, one typical, one
#    with evidence beyond the checked range, one with more groups than
#    trained on (compiles the two Study 1 Stan programs: about 2 minutes;
#    bridge sampling about a minute).
# 3. The ensemble study of bench/ensembles.R, copied from
#    bench/results/ensembles.rds (run that first: about 16 minutes).
# Writes inst/extdata/trust_results.rds. About 10 minutes on 2 cores.

suppressPackageStartupMessages(library(deepbmc))
say <- function(...) cat(..., "\n", sep = "")
threads <- 2L
started <- proc.time()[["elapsed"]]
results <- list()

# ---- 1. grouseticks: gaussian against count models ---------------------------

data(grouseticks, package = "lme4")
ticks <- grouseticks
ticks$height <- (ticks$HEIGHT - mean(ticks$HEIGHT)) / 100

gaussian_priors <- c(
  hier_prior("normal(6, 5)", class = "Intercept"),
  hier_prior("normal(0, 5)", class = "b"),
  hier_prior("normal(0, 5)", class = "sd"),
  hier_prior("exponential(0.2)", class = "sigma")
)
count_priors <- c(
  hier_prior("normal(1, 1.5)", class = "Intercept"),
  hier_prior("normal(0, 1)", class = "b"),
  hier_prior("normal(0, 1)", class = "sd")
)
sets <- list(
  gaussian = suppressMessages(model_set(
    no_height = hier_model(TICKS ~ 1 + YEAR + (1 | BROOD), ticks,
                           prior = gaussian_priors),
    height = hier_model(TICKS ~ 1 + YEAR + height + (1 | BROOD), ticks,
                        prior = gaussian_priors)
  )),
  counts = suppressMessages(model_set(
    poisson_olre = hier_model(TICKS ~ 1 + YEAR + height + (1 | BROOD) +
                                (1 | INDEX), ticks, family = poisson(),
                              prior = count_priors),
    negbinomial = hier_model(TICKS ~ 1 + YEAR + height + (1 | BROOD), ticks,
                             family = "negbinomial",
                             prior = c(count_priors,
                                       hier_prior("gamma(2, 0.1)",
                                                  class = "shape")))
  ))
)
results$grouseticks <- lapply(names(sets), function(name) {
  set <- sets[[name]]
  began <- proc.time()[["elapsed"]]
  fit <- train_comparison(set, epochs = 3, iterations = 1000, seed = 1,
                          threads = threads, progress = FALSE)
  seconds <- proc.time()[["elapsed"]] - began
  real <- misspecification_test(fit, ticks, threads = threads)
  table <- compare_models(fit, ticks, misspecification = TRUE,
                          threads = threads)
  sims <- simulate_datasets(set, n = 200, seed = 2, threads = threads)
  simulated <- misspecification_test(fit, sims, threads = threads)
  say(name, ": trained in ", round(seconds), " s; real-data p = ",
      signif(real$p_value, 3), "; flagged among 200 simulated: ",
      mean(simulated$p_value < 0.05))
  list(set = name, seconds = seconds, real = real, table = table,
       simulated_flagged = mean(simulated$p_value < 0.05),
       accuracy = validate(fit, n = 1000, seed = 3,
                           threads = threads)$metrics$accuracy)
})
names(results$grouseticks) <- names(sets)

# ---- 2. the fallback to bridge sampling --------------------------------------

if (requireNamespace("rstan", quietly = TRUE) &&
      requireNamespace("bridgesampling", quietly = TRUE)) {
  models <- normal_nested_models(groups = 20, obs = 20)
  fit <- train_comparison(models, epochs = 3, iterations = 1000, seed = 1,
                          threads = threads, progress = FALSE)
  sims <- simulate_datasets(models, n = 200, seed = 4)
  logits <- post_prob(fit, sims, log = TRUE)
  log_bf <- logits[, "M1"] - logits[, "M0"]
  typical <- which.min(abs(log_bf - 1))
  strong <- which.max(log_bf)
  more_groups <- simulate_datasets(normal_nested_models(groups = 26, obs = 20),
                                   n = 1, seed = 5)$data[[1]]
  data <- list(sims$data[[typical]], sims$data[[strong]], more_groups)
  began <- proc.time()[["elapsed"]]
  fallback <- suppressWarnings(compare_models(
    fit, data, fallback = "bridge", threads = threads
  ))
  results$fallback <- list(
    table = fallback, network = suppressWarnings(compare_models(fit, data)),
    seconds = proc.time()[["elapsed"]] - began,
    checked_range = checked_range(fit)
  )
  say("fallback: ", round(results$fallback$seconds), " s")
}

# ---- 3. ensembles on Study 1 ------------------------------------------------

ensembles <- file.path("bench", "results", "ensembles.rds")
if (file.exists(ensembles)) {
  results$ensembles <- readRDS(ensembles)
}

results$seconds <- proc.time()[["elapsed"]] - started
results$machine <- Sys.info()[["nodename"]]
results$date <- Sys.Date()
saveRDS(results, file.path("inst", "extdata", "trust_results.rds"))
say("done in ", round(results$seconds), " s")
