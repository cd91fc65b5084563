# Per-data-set standardisation (issue 29): the default network against
# hierarchical_network(standardize = "dataset"), same seed and training
# budget, on three questions:
#   orthodont: nlme::Orthodont, does Sex matter?
#     distance ~ age + (1 | Subject)  vs  distance ~ age + Sex + (1 | Subject)
#     (Bayes-optimal accuracy 0.705; exact PMP(Sex) on the real data 0.914)
#   oxboys: nlme::Oxboys, random slopes of age?
#     height ~ age + (1 | Subject)  vs  height ~ age + (1 + age || Subject)
#     (bridge sampling: log BF 104 for the slopes)
#   study1: the built-in normal_nested_models(), "is the grand mean 0?" (the
#     centre input carries exactly that), at a short budget
# For each: validation accuracy and log score on 2,000 fresh data sets
# (validate(fit, n = 2000)), the PMP of the second model on the real data,
# and the seconds of training.
#
#   R_LIBS=... Rscript bench/standardize.R [question ...] [--seed=N]
#
# Results: bench/results/standardize.md, written from every row measured so
# far (bench/results/standardize.rds; a row is replaced when its question,
# network and seed are run again). Results depend on the seed only, not on
# the threads. The default run (all three questions, seed 1) takes about
# 7 minutes on 2 cores: 1 to 1.5 minutes per network (formula sets 10 x 500
# steps, Study 1 4 x 500 steps at 50 x 50), plus validation; the table's
# second seed for the formula sets was run as
#   Rscript bench/standardize.R orthodont oxboys --seed=2

suppressPackageStartupMessages(library(deepbmc))
say <- function(...) cat(..., "\n", sep = "")

args <- commandArgs(trailingOnly = TRUE)
seed_arg <- grep("^--seed=", args, value = TRUE)
seed <- if (length(seed_arg)) as.integer(sub("^--seed=", "", seed_arg)) else 1L
args <- setdiff(args, seed_arg)
questions <- if (length(args)) args else c("orthodont", "oxboys", "study1")
threads <- 2L
store <- "bench/results/standardize.rds"
previous <- if (file.exists(store)) readRDS(store) else NULL
if (!is.null(previous) && is.null(previous$seed)) previous$seed <- 1L

orthodont <- as.data.frame(nlme::Orthodont)
orthodont$Subject <- factor(as.character(orthodont$Subject))
orthodont$Sex <- factor(as.character(orthodont$Sex))
source("bench/formula_designs.R")
oxboys <- oxboys_data()

setups <- list(
  orthodont = function() {
    priors <- c(
      hier_prior("normal(20, 10)", class = "Intercept"),
      hier_prior("normal(0, 3)", class = "b"),
      hier_prior("half_normal(5)", class = "sd"),
      hier_prior("exponential(0.5)", class = "sigma")
    )
    list(
      models = suppressMessages(model_set(
        no_sex = hier_model(distance ~ age + (1 | Subject), orthodont, prior = priors),
        sex = hier_model(distance ~ age + Sex + (1 | Subject), orthodont, prior = priors)
      )),
      data = orthodont, epochs = 10, iterations = 500,
      reference = "exact PMP(sex) 0.914; Bayes-optimal accuracy 0.705"
    )
  },
  oxboys = function() {
    list(
      models = oxboys_slope_models(oxboys),
      data = oxboys, epochs = 10, iterations = 500,
      reference = "issue 29: bridge sampling log BF 104 for the slopes (its priors)"
    )
  },
  study1 = function() {
    list(models = normal_nested_models(), data = NULL, epochs = 4, iterations = 500,
         reference = "built-in Study 1, no real data")
  }
)

rows <- list()
for (question in questions) {
  setup <- setups[[question]]()
  for (standardize in c("none", "dataset")) {
    network <- hierarchical_network(standardize = standardize)
    started <- proc.time()[["elapsed"]]
    fit <- train_comparison(setup$models, network = network, epochs = setup$epochs,
                            iterations = setup$iterations, holdout = 0,
                            seed = seed, threads = threads, progress = FALSE)
    seconds <- proc.time()[["elapsed"]] - started
    validation <- validate(fit, n = 2000, seed = 2, threads = threads, boot = 0)
    pmp <- if (is.null(setup$data)) NA_real_ else {
      unname(post_prob(fit, setup$data)[[2]])
    }
    row <- data.frame(
      question = question, network = standardize, seed = seed,
      steps = setup$epochs * setup$iterations,
      accuracy = validation$metrics$accuracy,
      log_score = validation$metrics$log_score,
      pmp_second = pmp, seconds = round(seconds),
      reference = setup$reference
    )
    print(row)
    if (!is.null(previous)) {
      previous <- previous[!(previous$question == question &
                               previous$network == standardize &
                               previous$seed == seed), , drop = FALSE]
    }
    previous <- rbind(previous, row)
    saveRDS(previous, store)
  }
}
table <- previous[order(match(previous$question, names(setups)), previous$seed,
                        match(previous$network, c("none", "dataset"))), ]

lines <- c(
  "# Per-data-set standardisation (issue 29)",
  "",
  paste0("Machine: ", Sys.info()[["nodename"]], ", ", parallel::detectCores(),
         " cores (", threads, " threads); ", format(Sys.time(), "%Y-%m-%d"), ". ",
         "Command: `R_LIBS=... Rscript bench/standardize.R`."),
  "",
  "Default network (Study 1 architecture) with `standardize = \"none\"` against",
  "`\"dataset\"`, same seed and budget, batch 32, learning rate 5e-4;",
  "accuracy and log score (mean -log PMP of the true model) on 2,000 fresh",
  "data sets (`validate(fit, n = 2000, seed = 2)`, the same data",
  "sets for every network and training seed); PMP of the second model (sex / slopes) on the",
  "real data; seconds of training (wall clock, 2 threads, shared machine).",
  "",
  "| question | network | seed | steps | accuracy | log score | real-data PMP | seconds | reference |",
  "|---|---|---|---|---|---|---|---|---|",
  sprintf("| %s | %s | %d | %d | %.3f | %.3f | %s | %d | %s |", table$question, table$network,
          as.integer(table$seed),
          as.integer(table$steps), table$accuracy, table$log_score,
          ifelse(is.na(table$pmp_second), "-", sprintf("%.3f", table$pmp_second)),
          as.integer(table$seconds), table$reference)
)
dir.create("bench/results", showWarnings = FALSE, recursive = TRUE)
writeLines(lines, "bench/results/standardize.md")
writeLines(lines)
