# Acceptance checks of bridge_compare() (issue 6), precomputed for the
# vignette "Checking the network against bridge sampling".
#
# Run from the package root with deepbmc, rstan and bridgesampling installed:
#   Rscript data-raw/bridge_checks.R
# It takes about 40 minutes on 2 cores (two network trainings, four Stan
# compilations, MCMC and bridge sampling on 30 data sets) and writes
# inst/extdata/bridge_checks.rds, which the vignette reads.
#
# 1. Study 1: the network of the core issue (normal_nested_models(50, 50),
#    10 epochs of 1,000 steps, seed 2026) against bridge sampling on 20
#    simulated data sets, and the log marginal likelihoods of both Study 1
#    Stan programs against numerical integration (deepbmc's internal
#    study1_log_ml_numeric(): 2-D quadrature over the two variances with mu
#    and the group means integrated analytically).
# 2. A formula pair on the design of lme4::sleepstudy: gaussian
#    Reaction ~ 1 + Days + (1 | Subject) against Reaction ~ 1 + (1 | Subject),
#    network against bridge sampling on 10 simulated data sets.

# BRIDGE_CHECKS_PARTS=formula (or study1) reruns one part and keeps the other
# from the existing file. BRIDGE_CHECKS_FORMULA_EPOCHS sets the formula
# network's training epochs (default 100, as in the shipped file; 20 epochs
# left a mean |PMP difference| of 0.05 to 0.09, 60 epochs 0.039).

suppressPackageStartupMessages(library(deepbmc))
stopifnot(requireNamespace("rstan"), requireNamespace("bridgesampling"))
output <- file.path("inst", "extdata", "bridge_checks.rds")
stopifnot(dir.exists(dirname(output)))
cores <- 2
started <- Sys.time()
parts <- strsplit(Sys.getenv("BRIDGE_CHECKS_PARTS", "study1,formula"),
                  ",")[[1]]
`%||%` <- function(x, y) if (is.null(x)) y else x
previous <- if (file.exists(output)) readRDS(output)
# Files from the first version of this script, which ran both parts at once.
if (!is.null(previous) && !is.list(previous$created)) {
  previous$created <- list(study1 = previous$created,
                           formula = previous$created)
  previous$minutes <- list(both = previous$total_minutes)
  previous$train_seconds <- as.list(previous$train_seconds)
  previous$stan_code <- NULL
  previous$total_minutes <- NULL
}

if ("study1" %in% parts) {
# --- Study 1 ---------------------------------------------------------------
cat("Study 1: training\n")
study1_models <- normal_nested_models(50, 50)
study1_train_seconds <- system.time(
  study1_fit <- train_comparison(study1_models, epochs = 10,
                                 iterations = 1000, threads = 2, seed = 2026)
)[["elapsed"]]
study1_sims <- simulate_datasets(study1_models, n = 20, seed = 606)
cat("Study 1: bridge sampling\n")
study1 <- bridge_compare(study1_fit, study1_sims, seed = 1, cores = cores)
print(study1)
print(summary(study1))

cat("Study 1: numerical integration\n")
study1$logml_numeric <- mapply(function(i, model) {
  as.numeric(deepbmc:::study1_log_ml_numeric(study1_sims$data[[i]], model))
}, study1$data_set, study1$model)
study1$true_model <- study1_sims$model_names[study1_sims$model[
  study1$data_set
]]
cat("Max |log ML bridge - numeric|:",
    format(max(abs(study1$logml - study1$logml_numeric))), "\n")

}

if ("formula" %in% parts) {
# --- Formula pair on the sleepstudy design -----------------------------------
formula_epochs <- as.integer(Sys.getenv("BRIDGE_CHECKS_FORMULA_EPOCHS", "100"))
cat("Formula pair: training,", formula_epochs, "epochs\n")
data(sleepstudy, package = "lme4")
formula_models <- model_set(
  intercept = hier_model(Reaction ~ 1 + (1 | Subject), sleepstudy),
  days = hier_model(Reaction ~ 1 + Days + (1 | Subject), sleepstudy,
                    prior = hier_prior("normal(0, 10)", class = "b"))
)
formula_train_seconds <- system.time(
  formula_fit <- train_comparison(formula_models, epochs = formula_epochs,
                                  iterations = 1000, threads = 2, seed = 2026)
)[["elapsed"]]
formula_sims <- simulate_datasets(formula_models, n = 10, seed = 607)
if (!is.null(previous$formula)) {
  # Early diagnostic: the new network against the bridge-sampling PMPs of the
  # previous run (bridge sampling does not depend on the network).
  early <- as.vector(t(post_prob(formula_fit, formula_sims)))
  cat("Mean |PMP difference| against the previous bridge results:",
      format(mean(abs(early - previous$formula$pmp_bridge))), "\n")
}
cat("Formula pair: bridge sampling\n")
formula <- bridge_compare(formula_fit, formula_sims, seed = 1, cores = cores)
formula$true_model <- formula_sims$model_names[formula_sims$model[
  formula$data_set
]]
print(formula)
print(summary(formula))
}

# --- Save compactly ------------------------------------------------------------
keep <- function(x) {
  out <- as.data.frame.data.frame(x)
  attr(out, "compile_seconds") <- attr(x, "compile_seconds")
  attr(out, "settings") <- attr(x, "settings")
  attr(out, "prior_prob") <- attr(x, "prior_prob")
  out
}
results <- previous %||% list()
if ("study1" %in% parts) {
  results$study1 <- keep(study1)
  results$train_seconds[["study1"]] <- study1_train_seconds
  results$training$study1 <- "normal_nested_models(50, 50); train_comparison(epochs = 10, iterations = 1000, threads = 2, seed = 2026)"
  results$created$study1 <- format(Sys.time(), tz = "UTC", usetz = TRUE)
  results$minutes$study1 <- as.numeric(difftime(Sys.time(), started,
                                                units = "mins"))
}
if ("formula" %in% parts) {
  results$formula <- keep(formula)
  results$train_seconds[["formula"]] <- formula_train_seconds
  results$training$formula <- sprintf("sleepstudy pair; train_comparison(epochs = %d, iterations = 1000, threads = 2, seed = 2026)", formula_epochs)
  results$created$formula <- format(Sys.time(), tz = "UTC", usetz = TRUE)
  results$minutes$formula <- as.numeric(difftime(Sys.time(), started,
                                                 units = "mins"))
}
results <- c(results[setdiff(names(results), c("versions", "platform"))], list(
  versions = vapply(c("deepbmc", "rstan", "bridgesampling"),
                    function(p) as.character(utils::packageVersion(p)),
                    character(1)),
  platform = R.version$platform
))
saveRDS(results, output, compress = "xz")
cat("Saved", output, "after",
    format(as.numeric(difftime(Sys.time(), started, units = "mins")),
           digits = 3), "minutes\n")
