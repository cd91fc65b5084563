# Transfer learning ablation on Study 1 (issue 16): does pretraining on cheap
# small data sets and fine-tuning at the target size beat training at the
# target size directly?
#
#   R_LIBS=... Rscript bench/transfer.R
#   DEEPBMC_BENCH_SCALE=0.05 Rscript bench/transfer.R    a quick trial run
#
# Target: normal_nested_models(groups = 50, obs = 100). Arms, all with the
# Study 1 network, batch 32, 2 threads:
# * direct: T seconds of training at 50 x 100 (learning rate 5e-4, the
#   package default, one cosine schedule);
# * transfer (equal time): 3/4 of T pretraining at 50 x 10 (5e-4), then 1/4
#   of T fine-tuning at 50 x 100 from the pretrained weights (2e-4: a smaller
#   rate so that the first large-data steps refine rather than undo the
#   pretrained weights; fresh Adam state and a new cosine schedule, as
#   train_comparison(init = ) does);
# * transfer (equal simulated observations): the same split of the direct
#   arm's number of simulated observations, 3/4 in pretraining at 50 x 10
#   (ten times as many data sets per observation budget) and 1/4 in
#   fine-tuning.
# Why 3/4: the pretraining data are 10x cheaper per data set, so most of the
# budget goes where it buys the most steps; the last quarter adapts the
# network to the target size's evidence.
#
# Steps follow from T and the per-step times of each size, measured first in
# the same run (the machine is shared: only ratios within one run are
# meaningful). Every arm is evaluated at 5 checkpoints (the ends of 5 equal
# segments of each phase's one schedule; cpp_train runs the steps of one
# schedule in pieces exactly as train_comparison() does) on one fixed set
# of n_test held-out data sets at 50 x 100 with exact PMPs from numerical
# integration (deepbmc:::study1_log_ml_numeric, cached in bench/results/).
# Reported: held-out log score (mean -log PMP of the true model) and mean
# |PMP(M1) - exact PMP(M1)|, against training seconds and simulated
# observations: bench/results/transfer.md (table) and transfer.png (plot).
#
# At full scale (T = 240 s) the run takes about 20 minutes on 2 threads:
# direct 4 min, transfer at equal time 4 min, transfer at equal observations
# about 7 min, the exact PMPs of 400 data sets about 3 min (once, cached).

suppressPackageStartupMessages(library(deepbmc))
`%||%` <- function(x, y) if (is.null(x)) y else x

env_num <- function(name, default) {
  value <- Sys.getenv(name)
  if (nzchar(value)) as.numeric(value) else default
}

scale <- env_num("DEEPBMC_BENCH_SCALE", 1)
settings <- list(
  seconds = 240 * scale,
  n_test = max(20, round(env_num("TRANSFER_N_TEST", 400) * min(1, 4 * scale))),
  test_seed = 1616, seed = 16, batch_size = 32L, threads = 2L,
  pretrain_share = 0.75, lr_pretrain = 5e-4, lr_finetune = 2e-4,
  checkpoints = 5L
)
results_dir <- file.path("bench", "results")
dir.create(results_dir, showWarnings = FALSE, recursive = TRUE)
started_all <- proc.time()[["elapsed"]]

target <- normal_nested_models(groups = 50, obs = 100)
small <- normal_nested_models(groups = 50, obs = 10)
network <- hierarchical_network()

# ---- exact PMPs of the held-out set ------------------------------------------

test <- simulate_datasets(target, n = settings$n_test, seed = settings$test_seed)
exact_path <- file.path(results_dir, sprintf(
  "study1_exact_50x100_n%d_seed%d.rds", settings$n_test, settings$test_seed
))
if (file.exists(exact_path)) {
  exact <- readRDS(exact_path)
} else {
  started <- proc.time()[["elapsed"]]
  ml <- t(vapply(test$data, function(x) {
    groups <- unname(split(x, row(x)))
    c(m0 = as.numeric(deepbmc:::study1_log_ml_numeric(groups, "M0")),
      m1 = as.numeric(deepbmc:::study1_log_ml_numeric(groups, "M1")))
  }, numeric(2)))
  log_bf <- ml[, "m1"] - ml[, "m0"]
  exact <- data.frame(model = test$model, log_bf = log_bf,
                      pmp1 = stats::plogis(log_bf))
  attr(exact, "seconds") <- proc.time()[["elapsed"]] - started
  saveRDS(exact, exact_path)
}
cat(sprintf("Exact PMPs of %d held-out data sets (%.0f s when computed)\n",
            nrow(exact), attr(exact, "seconds") %||% NA))

# ---- training in pieces -------------------------------------------------------

# A fit skeleton (0 steps) for the configuration and for post_prob().
skeleton <- suppressWarnings(train_comparison(
  target, network, epochs = 1, iterations = 1, seed = settings$seed,
  progress = FALSE
))
config <- skeleton$config
initial <- deepbmc:::cpp_network_init(config, settings$seed)
fresh <- function() list(m = numeric(length(initial)),
                         v = numeric(length(initial)), step = 0)

evaluate <- function(weights) {
  fit <- skeleton
  fit$weights <- weights
  fit$checksum <- deepbmc:::fit_checksum(fit)
  pmp <- post_prob(fit, test, threads = settings$threads)
  p_true <- pmp[cbind(seq_len(nrow(pmp)), test$model)]
  c(log_score = -mean(log(pmax(p_true, 1e-300))),
    pmp_error = mean(abs(pmp[, 2] - exact$pmp1)))
}

# Trains `steps` steps of one schedule at `models` from `weights`, evaluating
# after each of settings$checkpoints equal segments. Returns the rows and the
# final weights; `clock` and `obs` carry on from earlier phases.
run_phase <- function(arm, phase, models, weights, steps, learning_rate,
                      seed, clock = 0, obs = 0) {
  spec <- deepbmc:::models_spec(models)
  optimizer <- fresh()
  ends <- unique(round(seq_len(settings$checkpoints) * steps /
                         settings$checkpoints))
  rows <- list()
  per_obs <- settings$batch_size * models$groups[[2]] * models$obs[[2]]
  done <- 0
  for (end in ends) {
    started <- proc.time()[["elapsed"]]
    result <- deepbmc:::cpp_train(
      config, weights, optimizer, spec, steps = as.integer(end - done),
      total_steps = steps, batch_size = settings$batch_size,
      learning_rate = learning_rate, seed = seed, threads = settings$threads
    )
    clock <- clock + proc.time()[["elapsed"]] - started
    obs <- obs + (end - done) * per_obs
    weights <- result$weights
    optimizer <- result$optimizer
    done <- end
    rows[[length(rows) + 1]] <- data.frame(
      arm = arm, phase = phase, step = end, seconds = clock,
      observations = obs, t(evaluate(weights))
    )
  }
  list(rows = do.call(rbind, rows), weights = weights, clock = clock,
       obs = obs)
}

# Seconds per step at each size, in this run.
per_step <- function(models, steps = max(10, round(100 * min(1, 4 * scale)))) {
  spec <- deepbmc:::models_spec(models)
  time <- system.time(deepbmc:::cpp_train(
    config, initial, fresh(), spec, steps = as.integer(steps),
    total_steps = steps, batch_size = settings$batch_size,
    learning_rate = 5e-4, seed = 99, threads = settings$threads
  ))[["elapsed"]]
  time / steps
}
step_target <- per_step(target)
step_small <- per_step(small)
cat(sprintf("Seconds per step: %.4f at 50 x 100, %.4f at 50 x 10 (ratio %.1f)\n",
            step_target, step_small, step_target / step_small))

budget <- settings$seconds
direct_steps <- max(settings$checkpoints, round(budget / step_target))
time_pre <- max(settings$checkpoints,
                round(settings$pretrain_share * budget / step_small))
time_fine <- max(settings$checkpoints,
                 round((1 - settings$pretrain_share) * budget / step_target))
# Equal simulated observations: 50 x 10 data sets hold a tenth of the
# observations of 50 x 100 ones.
obs_pre <- round(settings$pretrain_share * direct_steps * 10)
obs_fine <- max(settings$checkpoints,
                round((1 - settings$pretrain_share) * direct_steps))

direct <- run_phase("direct", 1, target, initial, direct_steps,
                    settings$lr_pretrain, settings$seed)
arm_rows <- list(direct$rows)
for (arm in list(list("transfer, equal time", time_pre, time_fine),
                 list("transfer, equal observations", obs_pre, obs_fine))) {
  pre <- run_phase(arm[[1]], 1, small, initial, arm[[2]],
                   settings$lr_pretrain, settings$seed)
  fine <- run_phase(arm[[1]], 2, target, pre$weights, arm[[3]],
                    settings$lr_finetune, settings$seed + 1,
                    clock = pre$clock, obs = pre$obs)
  arm_rows <- c(arm_rows, list(pre$rows, fine$rows))
}
results <- do.call(rbind, arm_rows)
rownames(results) <- NULL
saveRDS(list(settings = settings, results = results,
             per_step = c(target = step_target, small = step_small),
             steps = c(direct = direct_steps, time_pre = time_pre,
                       time_fine = time_fine, obs_pre = obs_pre,
                       obs_fine = obs_fine)),
        file.path(results_dir, "transfer.rds"))

# ---- report ---------------------------------------------------------------

total <- proc.time()[["elapsed"]] - started_all
fmt <- function(x, digits) formatC(x, digits = digits, format = "f")
table_lines <- c(
  "| arm | phase | step | seconds | simulated observations (M) | log score | mean abs(PMP - exact) |",
  "|---|---|---|---|---|---|---|",
  sprintf("| %s | %s | %d | %s | %s | %s | %s |", results$arm,
          ifelse(results$phase == 1 & results$arm != "direct",
                 "pretrain 50 x 10", "50 x 100"),
          as.integer(results$step), fmt(results$seconds, 1),
          fmt(results$observations / 1e6, 1), fmt(results$log_score, 4),
          fmt(results$pmp_error, 4))
)
final <- results[!duplicated(results$arm, fromLast = TRUE), ]
md <- c(
  "<!-- Written by bench/transfer.R. -->",
  "# Transfer learning on Study 1: pretrain at 50 x 10, fine-tune at 50 x 100",
  "",
  sprintf("Run %s, scale %.2f (time budget T = %.0f s per equal-time arm), batch %d, %d threads; %d held-out data sets at 50 x 100 (seed %d) with exact PMPs.",
          format(Sys.time(), "%Y-%m-%d %H:%M UTC", tz = "UTC"), scale,
          budget, settings$batch_size, settings$threads, nrow(exact),
          settings$test_seed),
  sprintf("Seconds per step: %.4f at 50 x 100, %.4f at 50 x 10. Steps: direct %d; transfer at equal time %d + %d; at equal observations %d + %d. Learning rates %.0e (direct, pretraining), %.0e (fine-tuning); %.0f%% of the budget pretraining.",
          step_target, step_small, direct_steps, time_pre, time_fine,
          obs_pre, obs_fine, settings$lr_pretrain, settings$lr_finetune,
          100 * settings$pretrain_share),
  "",
  "Final checkpoint of each arm:",
  "",
  "| arm | seconds | simulated observations (M) | log score | mean abs(PMP - exact) |",
  "|---|---|---|---|---|",
  sprintf("| %s | %s | %s | %s | %s |", final$arm, fmt(final$seconds, 1),
          fmt(final$observations / 1e6, 1), fmt(final$log_score, 4),
          fmt(final$pmp_error, 4)),
  "",
  "All checkpoints:",
  "",
  table_lines,
  "",
  sprintf("Total run time: %.1f min.", total / 60)
)
writeLines(md, file.path(results_dir, "transfer.md"))
cat(md, sep = "\n")

if (requireNamespace("ggplot2", quietly = TRUE)) {
  long <- rbind(
    data.frame(results[c("arm", "seconds", "observations")],
               metric = "held-out log score", value = results$log_score),
    data.frame(results[c("arm", "seconds", "observations")],
               metric = "mean |PMP - exact PMP|", value = results$pmp_error)
  )
  long$observations <- long$observations / 1e6
  long <- rbind(
    transform(long, axis = "training seconds", x = seconds),
    transform(long, axis = "simulated observations (millions)",
              x = observations)
  )
  plot <- ggplot2::ggplot(long, ggplot2::aes(.data$x, .data$value,
                                             colour = .data$arm)) +
    ggplot2::geom_line() + ggplot2::geom_point() +
    ggplot2::facet_grid(ggplot2::vars(.data$metric), ggplot2::vars(.data$axis),
                        scales = "free") +
    ggplot2::labs(x = NULL, y = NULL, colour = NULL,
                  title = "Study 1 at 50 x 100: direct training vs pretraining at 50 x 10") +
    ggplot2::theme(legend.position = "bottom")
  ggplot2::ggsave(file.path(results_dir, "transfer.png"), plot, width = 9,
                  height = 6, dpi = 120)
}
cat(sprintf("Transfer learning bench took %.1f min\n", total / 60))
