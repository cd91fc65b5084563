# Overdispersed counts on real data no one here wrote (issue 19): tick counts
# on red grouse chicks, lme4::grouseticks (403 chicks in 118 broods), under
# three models a brms user would compare:
#   poisson:      TICKS ~ YEAR + HEIGHT + (1 | BROOD)
#   poisson_olre: the same with an observation-level effect (1 | INDEX)
#   negbinomial:  TICKS ~ YEAR + HEIGHT + (1 | BROOD), negative binomial
# with the same stated priors in deepbmc and in brms (brms_formula(),
# brms_prior(), brms_family()). deepbmc trains until the holdout loss stops
# falling (patience = 3, at most 30 epochs), settles it with 5 epochs at a
# small learning rate, then validate() and the PMPs of the real data; brms + bridgesampling fit the three models and give
# their PMPs beside the network's.
#
#   R_LIBS=... Rscript bench/grouseticks.R
#
# Results: bench/results/grouseticks.md. About 15 minutes on 2 cores
# (training 6 to 9, the three brms fits and bridge sampling about 5).

source("bench/grouseticks_models.R")
print(models)

started <- proc.time()[["elapsed"]]
fit <- train_comparison(models, epochs = 30, patience = 3,
                        learning_rate = 1e-3, seed = 1, threads = 2)
train_seconds <- proc.time()[["elapsed"]] - started
record("# Overdispersed counts: lme4::grouseticks")
record("")
record("Machine: ", Sys.info()[["nodename"]], ", ",
       parallel::detectCores(), " cores; ", format(Sys.time(), "%Y-%m-%d"))
record("")
record("Training: ", fit$training$steps_done, " steps (stopped: ",
       fit$training$stopped, ") in ", round(train_seconds), " s; holdout ",
       "loss by epoch ",
       paste(format(fit$holdout_history$loss, digits = 3), collapse = " "))

# Stopped while the cosine schedule's learning rate was still high: a short
# phase at a small rate settles it, as ?train_comparison recommends.
first_phase <- fit
started <- proc.time()[["elapsed"]]
fit <- train_comparison(models, init = first_phase, epochs = 5,
                        learning_rate = 2e-4, seed = 5, threads = 2)
settle_seconds <- proc.time()[["elapsed"]] - started
record("Settling phase: 5 x 1000 steps at learning rate 2e-4 in ",
       round(settle_seconds), " s; holdout loss ",
       paste(format(utils::tail(fit$holdout_history$loss, 5), digits = 3),
             collapse = " "))
validation_first <- validate(first_phase, n = 4000, seed = 2, threads = 2)
record("Validation of the first phase alone (4,000 data sets): accuracy ",
       format(validation_first$metrics$accuracy, digits = 3), ", ECE ",
       paste(format(validation_first$metrics$ece, digits = 2),
             collapse = " / "))
validation <- validate(fit, n = 4000, seed = 2, threads = 2)
record("Validation after settling (the same 4,000 data sets): accuracy ",
       format(validation$metrics$accuracy, digits = 3), ", ECE ",
       paste(format(validation$metrics$ece, digits = 2), collapse = " / "))

started <- proc.time()[["elapsed"]]
network <- as.vector(post_prob(fit, ticks))
network_seconds <- proc.time()[["elapsed"]] - started

brms_available <- requireNamespace("brms", quietly = TRUE) &&
  requireNamespace("bridgesampling", quietly = TRUE)
bridge <- NULL
if (brms_available) {
  restore <- deepbmc:::use_system_boost()
  started <- proc.time()[["elapsed"]]
  logml <- vapply(models$models, function(model) {
    brm_fit <- suppressMessages(suppressWarnings(brms::brm(
      brms_formula(model), data = ticks, family = brms_family(model),
      prior = brms_prior(model), save_pars = brms::save_pars(all = TRUE),
      chains = 2, iter = 3000, warmup = 1000, seed = 3, refresh = 0,
      cores = 2, control = list(adapt_delta = 0.95)
    )))
    suppressMessages(bridgesampling::bridge_sampler(brm_fit, silent = TRUE,
                                                    seed = 4)$logml)
  }, numeric(1))
  brms_seconds <- proc.time()[["elapsed"]] - started
  restore()
  bridge <- exp(logml - max(logml)) / sum(exp(logml - max(logml)))
}

record("")
record("| model | PMP network | PMP brms + bridge sampling |")
record("|---|---|---|")
for (k in seq_len(models$n_models)) {
  record("| ", models$model_names[[k]], " | ",
         format(network[[k]], digits = 4), " | ",
         if (is.null(bridge)) "not run" else format(bridge[[k]], digits = 4),
         " |")
}
record("")
record("Network inference ", format(network_seconds * 1000, digits = 3),
       " ms; brms (compile, sample, bridge sampling, 3 models) ",
       if (is.null(bridge)) "not run" else paste0(round(brms_seconds), " s"))

dir.create("bench/results", showWarnings = FALSE, recursive = TRUE)
writeLines(lines, "bench/results/grouseticks.md")
