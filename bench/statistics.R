# Networks on formula questions (issue 29): the paper's network against
# hierarchical_network(statistics = "least_squares") (and with
# standardize = "dataset"), same seed, in the default training budget
# (train_comparison()'s defaults: 10 epochs of 1,000 online steps, batch 32),
# on
#   orthodont, sleepstudy, machines, chickweight: the exact references of
#     bench/exact_lmm.R ("does this covariate matter?" on four real designs):
#     accuracy and mean |PMP - exact| on its 1,000 simulated data sets
#     (regenerated from their seeds), PMP on the real data against the exact;
#   oxboys: random slopes of age (nlme::Oxboys): accuracy on 6,000 fresh data
#     sets and the PMP of the slopes on the real data (bridge sampling: log BF
#     104 for the slopes, issue 29);
#   sleepcor: lme4::sleepstudy, correlated against uncorrelated random
#     intercepts and slopes: accuracy on 2,000 fresh data sets (goal 0.65);
#   twofeature: the R-simulator pair of test-models-simulator.R (y with or
#     without a slope on x, known variances, exact PMPs in closed form),
#     trained on 10,000 stored simulations (the default 10 passes); mean
#     |PMP - exact| on 1,000 held-out data sets (goal 0.03);
#   twofeature_missing: the same, trained with missing_values(share = c(0,
#     0.3), features = "y") and checked on held-out data sets with 30% of
#     the responses missing (the exact PMPs drop those rows);
#   twofeature_32k, twofeature_missing_32k: the same trained on 32,000
#     stored simulations, so that the default 10 passes are the default
#     budget of 10,000 steps (32 data sets per step).
#
#   R_LIBS=... Rscript bench/statistics.R [question ...] [--networks=a,b]
#     [--seed=N] [--epochs=N] [--report]
#
# --epochs: another budget than the default 10 epochs (rows keep their
# steps, so runs at several budgets stand side by side).
#
# Results: bench/results/statistics.md, written from every row measured so
# far (bench/results/statistics.rds; a row is replaced when its question,
# network and seed are run again). Each network trains in 1.5 to 4 minutes on
# 2 cores (10,000 steps); all questions and the three networks take about an
# hour.

suppressPackageStartupMessages(library(deepbmc))
source("bench/formula_designs.R")

args <- commandArgs(trailingOnly = TRUE)
option <- function(name, default) {
  hit <- grep(paste0("^--", name, "="), args, value = TRUE)
  if (length(hit)) sub(paste0("^--", name, "="), "", hit) else default
}
seed <- as.integer(option("seed", "1"))
epochs <- as.integer(option("epochs", "10"))
network_names <- strsplit(option("networks", "paper,statistics,both"), ",")[[1]]
questions <- args[!grepl("^--", args)]
if (!length(questions)) {
  questions <- c(names(exact_lmm_designs), "oxboys", "sleepcor", "twofeature",
                 "twofeature_missing", "twofeature_32k", "twofeature_missing_32k")
}
if ("--report" %in% args) questions <- character(0)
threads <- 2L
store <- "bench/results/statistics.rds"
previous <- if (file.exists(store)) readRDS(store) else NULL

networks <- list(
  paper = hierarchical_network(),
  standardize = hierarchical_network(standardize = "dataset"),
  statistics = hierarchical_network(statistics = "least_squares"),
  both = hierarchical_network(standardize = "dataset", statistics = "least_squares")
)

oxboys <- oxboys_data()
sleep <- sleepstudy_data()

exact_setup <- function(name) {
  force(name)
  function() {
    design <- exact_lmm_designs[[name]]
    reference <- readRDS(file.path("bench", "results",
                                   paste0("exact_lmm_", name, ".rds")))
    models <- suppressMessages(exact_lmm_set(design))
    list(
      models = models, data = design$data,
      check = function(fit) {
        sims <- simulate_datasets(models, n = reference$n, seed = reference$seed,
                                  threads = 1)
        stopifnot(identical(sims$model, reference$model))
        pmp <- post_prob(fit, sims, threads = threads)[, 2]
        list(accuracy = mean(ifelse(pmp > 0.5, 2L, 1L) == reference$model),
             pmp_error = mean(abs(pmp - reference$pmp[, 2])),
             optimal = reference$bayes_optimal_accuracy,
             real_pmp = unname(post_prob(fit, design$data)[[2]]),
             real_reference = reference$real_pmp[[2]])
      }
    )
  }
}

by_validation <- function(fit, data, optimal = NA_real_, real_reference = NA_real_) {
  validation <- validate(fit, n = 6000, seed = 2, threads = threads, boot = 0)
  list(accuracy = validation$metrics$accuracy, pmp_error = NA_real_,
       optimal = optimal, real_pmp = unname(post_prob(fit, data)[[2]]),
       real_reference = real_reference)
}

# The two-feature pair (test-models-simulator.R): y = b0 + b1 x + u_g + e,
# b0 ~ N(0, 1), u_g ~ N(0, 0.5^2), e ~ N(0, 1), b1 = 0 or b1 ~ N(0, 0.5^2);
# the response first among the features.
lm_simulator <- function(slope) {
  force(slope)
  function() {
    n_groups <- sample(4:8, 1)
    sizes <- sample(3:12, n_groups, replace = TRUE)
    group <- rep(seq_len(n_groups), sizes)
    x <- stats::rnorm(length(group))
    b1 <- if (slope) stats::rnorm(1, sd = 0.5) else 0
    y <- stats::rnorm(1) + b1 * x + stats::rnorm(n_groups, sd = 0.5)[group] +
      stats::rnorm(length(x))
    data.frame(group = group, y = y, x = x)
  }
}
lm_log_ml <- function(frame, slope) {
  keep <- !is.na(frame$y)
  y <- frame$y[keep]
  x <- frame$x[keep]
  group <- frame$group[keep]
  cov <- 1 + 0.25 * outer(group, group, `==`) + diag(length(y))
  if (slope) cov <- cov + 0.25 * tcrossprod(x)
  root <- chol(cov)
  z <- backsolve(root, y, transpose = TRUE)
  -0.5 * length(y) * log(2 * pi) - sum(log(diag(root))) - 0.5 * sum(z^2)
}
twofeature_setup <- function(missing, n = 10000) {
  force(missing)
  force(n)
  function() {
    models <- simulator_models(flat = lm_simulator(FALSE), slope = lm_simulator(TRUE),
                               features = c("y", "x"))
    sims <- simulate_datasets(models, n = n, seed = 11)
    held_out <- simulate_datasets(models, n = 1000, seed = 12)
    frames <- held_out$data
    if (missing) {
      set.seed(13)
      frames <- lapply(frames, function(frame) {
        frame$y[stats::runif(nrow(frame)) < 0.3] <- NA
        frame
      })
    }
    exact <- vapply(frames, function(frame) {
      stats::plogis(lm_log_ml(frame, TRUE) - lm_log_ml(frame, FALSE))
    }, numeric(1))
    list(
      models = models, simulations = sims,
      missing = if (missing) missing_values(share = c(0, 0.3), features = "y"),
      check = function(fit) {
        pmp <- post_prob(fit, frames, threads = threads)[, 2]
        list(accuracy = mean(ifelse(pmp > 0.5, 2L, 1L) == held_out$model),
             pmp_error = mean(abs(pmp - exact)),
             optimal = mean(pmax(exact, 1 - exact)),
             real_pmp = NA_real_, real_reference = NA_real_)
      }
    )
  }
}

setups <- c(
  lapply(stats::setNames(nm = names(exact_lmm_designs)), exact_setup),
  list(
    oxboys = function() {
      list(models = oxboys_slope_models(oxboys), data = oxboys,
           check = function(fit) by_validation(fit, oxboys, real_reference = 1))
    },
    sleepcor = function() {
      list(models = sleepstudy_correlation_models(sleep), data = sleep,
           check = function(fit) by_validation(fit, sleep))
    },
    twofeature = twofeature_setup(missing = FALSE),
    twofeature_missing = twofeature_setup(missing = TRUE),
    twofeature_32k = twofeature_setup(missing = FALSE, n = 32000),
    twofeature_missing_32k = twofeature_setup(missing = TRUE, n = 32000)
  )
)

for (question in questions) {
  setup <- setups[[question]]()
  for (name in network_names) {
    started <- proc.time()[["elapsed"]]
    fit <- train_comparison(setup$models, network = networks[[name]],
                            simulations = setup$simulations, missing = setup$missing,
                            epochs = epochs, seed = seed, threads = threads,
                            progress = FALSE)
    seconds <- proc.time()[["elapsed"]] - started
    checked <- setup$check(fit)
    row <- data.frame(
      question = question, network = name, seed = seed,
      steps = fit$training$steps_done, seconds = round(seconds),
      accuracy = checked$accuracy, optimal = checked$optimal,
      pmp_error = checked$pmp_error, real_pmp = checked$real_pmp,
      real_reference = checked$real_reference
    )
    print(row)
    if (!is.null(previous)) {
      previous <- previous[!(previous$question == question &
                               previous$network == name &
                               previous$seed == seed &
                               previous$steps == row$steps), , drop = FALSE]
    }
    previous <- rbind(previous, row)
    saveRDS(previous, store)
  }
}

table <- previous[order(match(previous$question, names(setups)), previous$seed,
                        previous$steps, match(previous$network, names(networks))), ]
number <- function(x, digits = 3) {
  ifelse(is.na(x), "-", formatC(x, digits = digits, format = "f"))
}
lines <- c(
  "<!-- Written by bench/statistics.R; edit the preamble there. -->",
  "# Networks on formula questions (issue 29)",
  "",
  paste0("Machine: ", Sys.info()[["nodename"]], ", ", parallel::detectCores(),
         " cores (", threads, " threads); ", format(Sys.time(), "%Y-%m-%d"), ". ",
         "Command: `R_LIBS=... Rscript bench/statistics.R`."),
  "",
  "Networks: `paper` = `hierarchical_network()`; `standardize` = with",
  "`standardize = \"dataset\"`; `statistics` = with `statistics =",
  "\"least_squares\"`; `both` = with both. Default training budget (10 x 1,000",
  "online steps, batch 32, learning rate 5e-4). Accuracy and mean |PMP - exact|",
  "on the 1,000 simulated data sets of bench/results/exact_lmm.md for the four",
  "exact designs and on 1,000 held-out data sets for the two-feature pair",
  "(trained on 10,000 stored simulations, 10 passes, or on 32,000 for the",
  "`_32k` rows, 10 passes = 10,000 steps); accuracy on 6,000 fresh data sets",
  "(`validate(n = 6000, seed = 2)`) for oxboys and sleepcor. The statistics",
  "are of version 2 (with the joint Wald statistics of multi-column terms,",
  "the random-intercept regression and the noise-corrected per-group",
  "moments). Real-data PMP: of the second model (effect,",
  "slopes, correlated); reference: the exact PMP, or 1 for Oxboys (bridge",
  "sampling's log BF 104). Seconds: training, wall clock, 2 threads.",
  "",
  "| question | network | seed | steps | seconds | accuracy | Bayes-optimal | mean abs(PMP - exact) | real-data PMP | reference |",
  "|---|---|---|---|---|---|---|---|---|---|",
  sprintf("| %s | %s | %d | %d | %d | %s | %s | %s | %s | %s |", table$question,
          table$network, as.integer(table$seed), as.integer(table$steps),
          as.integer(table$seconds),
          number(table$accuracy), number(table$optimal), number(table$pmp_error),
          number(table$real_pmp), number(table$real_reference))
)
dir.create("bench/results", showWarnings = FALSE, recursive = TRUE)
writeLines(lines, "bench/results/statistics.md")
writeLines(lines)
