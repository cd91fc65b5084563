# Ensembles against one network on Study 1 (issue 30), against exact PMPs.
#
#   R_LIBS=... Rscript bench/ensembles.R            train + evaluate (~16 min)
#   R_LIBS=... Rscript bench/ensembles.R --report   rewrite ensembles.md
#
# normal_nested_models(groups = 50, obs = 50), batch 32, learning rate 5e-4,
# 2 threads, members trained one after another:
# * single:        one network, 10 x 1000 steps (the default schedule);
# * equal_time:    5 members of 2 x 1000 steps each, the same total steps;
# * equal_budget:  5 members of 10 x 1000 steps each, 5 times the steps.
# Evaluated on the 600 data sets of bench/bf_accuracy.R (seed 1414) whose
# exact PMPs are cached in bench/results/study1_exact_50x50_n600_seed1414.rds:
# mean |PMP(M1) - exact|, log score (mean -log PMP of the true model), and
# whether the members' spread predicts the error (Spearman correlation of
# member_sd with |PMP - exact|); ECE from validate(n = 4000). Each member of
# the equal-budget ensemble is also scored alone: the single networks an
# ensemble averages.

suppressPackageStartupMessages(library(deepbmc))

results_dir <- file.path("bench", "results")
rds_path <- file.path(results_dir, "ensembles.rds")
md_path <- file.path(results_dir, "ensembles.md")
seed <- 30
threads <- 2
models <- normal_nested_models(groups = 50, obs = 50)
exact <- readRDS(file.path(results_dir, "study1_exact_50x50_n600_seed1414.rds"))
sims <- simulate_datasets(models, n = 600, seed = 1414)
stopifnot(identical(as.integer(sims$model), as.integer(exact$model)))
exact_pmp <- stats::plogis(exact$log_bf)

designs <- list(
  single = list(members = 1, epochs = 10),
  equal_time = list(members = 5, epochs = 2),
  equal_budget = list(members = 5, epochs = 10)
)

score <- function(pmp, member_sd = NULL) {
  true <- sims$model
  p_true <- ifelse(true == 2, pmp, 1 - pmp)
  error <- abs(pmp - exact_pmp)
  c(
    mean_abs_error = mean(error),
    log_score = -mean(log(p_true)),
    exact_log_score = -mean(log(ifelse(true == 2, exact_pmp, 1 - exact_pmp))),
    accuracy = mean((pmp > 0.5) == (true == 2)),
    spread_error_cor = if (is.null(member_sd)) NA_real_ else
      stats::cor(member_sd, error, method = "spearman")
  )
}

run <- function() {
  rows <- list()
  for (name in names(designs)) {
    design <- designs[[name]]
    started <- proc.time()[["elapsed"]]
    fit <- train_comparison(models, epochs = design$epochs, iterations = 1000,
                            members = design$members, seed = seed,
                            threads = threads, progress = FALSE)
    seconds <- proc.time()[["elapsed"]] - started
    pmp <- post_prob(fit, sims, threads = threads)
    validation <- validate(fit, n = 4000, seed = 1415, threads = threads)
    rows[[name]] <- c(
      list(design = name, members = design$members,
           steps_per_member = design$epochs * 1000, seconds = seconds,
           ece = mean(validation$metrics$ece)),
      as.list(score(pmp[, "M1"], attr(pmp, "member_sd")[, "M1"]))
    )
    if (name == "equal_budget") {
      alone <- lapply(fit$members, function(member) {
        score(post_prob(member, sims, threads = threads)[, "M1"])
      })
      rows$members_alone <- alone
    }
    cat(name, "done in", round(seconds), "s\n")
  }
  saveRDS(list(rows = rows, machine = Sys.info()[["nodename"]],
               date = Sys.Date()), rds_path)
}

report <- function() {
  result <- readRDS(rds_path)
  rows <- result$rows
  alone <- do.call(rbind, rows$members_alone)
  rows$members_alone <- NULL
  table <- do.call(rbind, lapply(rows, as.data.frame))
  fmt <- function(x, d) formatC(x, digits = d, format = "f")
  lines <- c(
    "# Ensembles against one network on Study 1",
    "",
    sprintf("`Rscript bench/ensembles.R`, %s, machine `%s`, 2 threads, members one after another.",
            format(result$date), result$machine),
    "50 groups x 50 observations; 600 test data sets (seed 1414) with exact PMPs by quadrature.",
    "",
    "| design | members | steps per member | s | mean abs(PMP - exact) | log score (exact %s) | accuracy | ECE (validate, 4000) | Spearman(member_sd, error) |",
    "|---|---|---|---|---|---|---|---|---|"
  )
  header <- length(lines) - 1
  lines[[header]] <- sprintf(lines[[header]], fmt(table$exact_log_score[[1]], 4))
  for (i in seq_len(nrow(table))) {
    r <- table[i, ]
    lines <- c(lines, sprintf(
      "| %s | %d | %d | %.0f | %s | %s | %s | %s | %s |", r$design, r$members,
      r$steps_per_member, r$seconds, fmt(r$mean_abs_error, 4),
      fmt(r$log_score, 4), fmt(r$accuracy, 3), fmt(r$ece, 4),
      if (is.na(r$spread_error_cor)) "-" else fmt(r$spread_error_cor, 2)
    ))
  }
  lines <- c(
    lines, "",
    sprintf(paste("The 5 members of `equal_budget` alone: mean abs(PMP - exact)",
                  "%s to %s (mean %s), log score %s to %s."),
            fmt(min(alone[, "mean_abs_error"]), 4),
            fmt(max(alone[, "mean_abs_error"]), 4),
            fmt(mean(alone[, "mean_abs_error"]), 4),
            fmt(min(alone[, "log_score"]), 4), fmt(max(alone[, "log_score"]), 4))
  )
  writeLines(lines, md_path)
  cat(lines, sep = "\n")
}

args <- commandArgs(trailingOnly = TRUE)
if (!("--report" %in% args)) {
  run()
}
report()
