# Second-moment pooling (issue 29, "learn what the data say"): the default
# network (mean pooling at both levels) against
# hierarchical_network(pooling = c("mean", "mean_cov")), same seed and
# training budget, on two questions:
#   sleepstudy: lme4::sleepstudy, are the random intercepts and slopes
#     correlated?
#       Reaction ~ Days + (1 + Days | Subject)  vs  (1 + Days || Subject)
#     (issue 29: the default network stays at chance, log loss 0.693; a
#     logistic regression on the correlation of per-subject OLS estimates
#     reaches accuracy 0.654)
#   study1: the built-in normal_nested_models() at a short budget, to check
#     that mean_cov does not hurt where the mean suffices
# For each: validation accuracy and log score on 2,000 fresh data sets
# (validate(fit, n = 2000, seed = 2)), the PMP of the correlated model on
# the real data, and the seconds of training.
#
#   R_LIBS=... Rscript bench/pooling.R [question ...] [--seed=N] [--epochs=N]
#     [--poolings=mean,mean_cov,...] [--standardize=dataset] [--report]
# (mean: the default; mean_cov: c("mean", "mean_cov"), second moments over
# groups; mean_cov_both: second moments within groups too; mean_logvar and
# mean_logvar_both: the same with log variances)
#
# Results: bench/results/pooling.md, written from every row measured so far
# (bench/results/pooling.rds; a row is replaced when its question, network,
# seed and steps are run again). Results depend on the seed only, not on the
# threads.

suppressPackageStartupMessages(library(deepbmc))

args <- commandArgs(trailingOnly = TRUE)
option <- function(name, default) {
  hit <- grep(paste0("^--", name, "="), args, value = TRUE)
  if (length(hit)) as.integer(sub(paste0("^--", name, "="), "", hit)) else default
}
seed <- option("seed", 1L)
epochs_arg <- option("epochs", NA_integer_)
questions <- grep("^--", args, value = TRUE, invert = TRUE)
if (!length(questions)) questions <- c("sleepstudy", "study1")
# --report: rewrite the table from the stored rows without training
if ("--report" %in% args) questions <- character(0)
standardize <- grep("^--standardize=", args, value = TRUE)
standardize <- if (length(standardize)) sub("^--standardize=", "", standardize) else "none"
threads <- 2L
store <- "bench/results/pooling.rds"
previous <- if (file.exists(store)) readRDS(store) else NULL

source("bench/formula_designs.R")
sleep <- sleepstudy_data()

setups <- list(
  sleepstudy = function() {
    list(
      models = sleepstudy_correlation_models(sleep),
      data = sleep, epochs = 10, iterations = 500,
      reference = "issue 29: OLS-correlation logistic regression, accuracy 0.654"
    )
  },
  study1 = function() {
    list(models = normal_nested_models(), data = NULL, epochs = 2, iterations = 500,
         reference = "built-in Study 1, no real data")
  }
)
poolings <- list(mean = "mean", mean_cov = c("mean", "mean_cov"),
                 mean_cov_both = c("mean_cov", "mean_cov"),
                 mean_logvar = c("mean", "mean_logvar"),
                 mean_logvar_both = c("mean_logvar", "mean_logvar"))
chosen <- grep("^--poolings=", args, value = TRUE)
chosen <- if (length(chosen)) strsplit(sub("^--poolings=", "", chosen), ",")[[1]] else names(poolings)
poolings <- poolings[chosen]

for (question in questions) {
  setup <- setups[[question]]()
  epochs <- if (is.na(epochs_arg)) setup$epochs else epochs_arg
  for (name in names(poolings)) {
    network <- hierarchical_network(pooling = poolings[[name]], standardize = standardize)
    started <- proc.time()[["elapsed"]]
    fit <- train_comparison(setup$models, network = network, epochs = epochs,
                            iterations = setup$iterations, holdout = 0,
                            seed = seed, threads = threads, progress = FALSE)
    seconds <- proc.time()[["elapsed"]] - started
    validation <- validate(fit, n = 2000, seed = 2, threads = threads, boot = 0)
    pmp <- if (is.null(setup$data)) NA_real_ else {
      unname(post_prob(fit, setup$data)[[2]])
    }
    row <- data.frame(
      question = question, pooling = paste(poolings[[name]], collapse = ", "),
      standardize = standardize,
      seed = seed, steps = epochs * setup$iterations,
      accuracy = validation$metrics$accuracy,
      log_score = validation$metrics$log_score,
      pmp_second = pmp, seconds = round(seconds),
      reference = setup$reference
    )
    print(row)
    if (!is.null(previous)) {
      previous <- previous[!(previous$question == row$question &
                               previous$pooling == row$pooling &
                               previous$standardize == row$standardize &
                               previous$seed == seed &
                               previous$steps == row$steps), , drop = FALSE]
    }
    previous <- rbind(previous, row)
    saveRDS(previous, store)
  }
}
table <- previous[order(match(previous$question, names(setups)), previous$steps,
                        previous$seed, previous$standardize, previous$pooling), ]

lines <- c(
  "# Second-moment pooling (issue 29)",
  "",
  paste0("Machine: ", Sys.info()[["nodename"]], ", ", parallel::detectCores(),
         " cores (", threads, " threads, shared with other jobs); ",
         format(Sys.time(), "%Y-%m-%d"), ". ",
         "Command: `R_LIBS=... Rscript bench/pooling.R`."),
  "",
  "Default network (Study 1 architecture) with mean pooling at both levels",
  "against `\"mean_cov\"` (mean of products of a learned projection) and",
  "`\"mean_logvar\"` (log variances of learned directions) over groups",
  "(level 2) or at both levels, same seed and budget, batch 32, learning",
  "rate 5e-4 (the defaults); rows were run with `--poolings=` and",
  "`--standardize=` / `--epochs=` as listed; accuracy and log score (mean -log PMP of the true model) on",
  "2,000 fresh data sets (`validate(fit, n = 2000, seed = 2)`, the same data",
  "sets for both networks); PMP of the second model (correlated / the",
  "alternative) on the real data; seconds of training (wall clock).",
  "",
  "| question | pooling | standardize | seed | steps | accuracy | log score | real-data PMP | seconds | reference |",
  "|---|---|---|---|---|---|---|---|---|---|",
  sprintf("| %s | %s | %s | %d | %d | %.3f | %.3f | %s | %d | %s |", table$question, table$pooling,
          table$standardize,
          as.integer(table$seed), as.integer(table$steps), table$accuracy, table$log_score,
          ifelse(is.na(table$pmp_second), "-", sprintf("%.3f", table$pmp_second)),
          as.integer(table$seconds), table$reference),
  "",
  "Seconds are wall clock on a machine shared with other jobs (load 5 to 6",
  "on its 2 cores during these runs), so they compare poorly between rows;",
  "the extra work of the pooling layers is small next to the dense stacks.",
  "",
  "## Findings",
  "",
  "* sleepstudy: no pooling lifts the network off chance at this budget",
  "  (5,000 steps): every variant ends at accuracy 0.51-0.53 and log score",
  "  0.691-0.693, and its PMP on the real data is 0.49-0.50. The training",
  "  loss falls to log 2 within the first few hundred steps and stays there",
  "  (also with learning rate 2e-3 and per-data-set standardisation, run",
  "  by hand: accuracy 0.517, log score 0.693). At 10,000 steps",
  "  (`--epochs=20`) the mean is still at chance (0.484, 0.6931) and",
  "  `c(\"mean\", \"mean_logvar\")` barely off it (0.530, 0.690; one seed,",
  "  SE of an accuracy about 0.011). The goal (accuracy >= 0.65)",
  "  is not met. Under these priors the signal is weak: a logistic",
  "  regression on the correlation of per-subject OLS estimates (intercept",
  "  at Days 0) reaches 0.60 in sample on 600 simulated data sets (an",
  "  ad-hoc check, not in this script), below the 0.654 quoted in issue 29,",
  "  whose priors may differ.",
  "* Study 1: second-moment pooling does not hurt; at 1,000 steps it learns",
  "  much faster (accuracy 0.694 -> 0.883 with `c(\"mean\", \"mean_cov\")`,",
  "  0.871 with `c(\"mean\", \"mean_logvar\")`), and at 2,000 steps the",
  "  networks are level (0.887 / 0.8875, log score 0.285 / 0.280).",
  "* So `\"mean\"` stays the default. One seed each; more seeds and longer",
  "  budgets on sleepstudy are the next step."
)
dir.create("bench/results", showWarnings = FALSE, recursive = TRUE)
writeLines(lines, "bench/results/pooling.md")
writeLines(lines)
