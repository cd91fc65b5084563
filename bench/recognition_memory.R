# Study 2 of the paper (issue 18): the hierarchical SDT model against the
# latent-trait 2HTM model at the paper's size, 25 participants x 50 trials
# (25 old, 25 new items), with the paper's network sizes (level 1 8/32/32,
# summary 10; level 2 64/64/64, summary 128; head 3 x 128).
#
#   R_LIBS=... Rscript bench/recognition_memory.R
#   DEEPBMC_BENCH_SCALE=0.1 Rscript bench/recognition_memory.R   a quick trial
#   RECOGNITION_BRIDGE_N=k   data sets for bridge sampling (default 20)
#
# 1. online training, timed (2 threads);
# 2. validate() on 5,000 new data sets: accuracy and ECE (10 bins per model,
#    and the paper's 15 bins on PMP(SDT));
# 3. bridge sampling (rstan + bridgesampling, deepbmc's Stan programs) on
#    RECOGNITION_BRIDGE_N simulated data sets beside the network: PMP differences,
#    decisions, divergent transitions, seconds per data set, and the
#    break-even in data sets (training + inference against bridge sampling,
#    compilation left out);
# 4. the paper's out-of-distribution check: data sets of uniformly random
#    responses, PMPs of both methods.
# Results: bench/results/recognition_memory.md and .rds, and the fit in
# bench/results/recognition_memory_fit.rds. About 35 minutes on 2 cores
# (training about 20, bridge sampling about 13).

suppressPackageStartupMessages(library(deepbmc))

env_num <- function(name, default) {
  value <- Sys.getenv(name)
  if (nzchar(value)) as.numeric(value) else default
}
say <- function(...) cat(..., "\n", sep = "")
timed <- function(expr) {
  start <- proc.time()[["elapsed"]]
  value <- force(expr)
  list(value = value, seconds = proc.time()[["elapsed"]] - start)
}

scale <- env_num("DEEPBMC_BENCH_SCALE", 1)
settings <- list(
  participants = 25L, trials = 50L,
  epochs = max(1L, as.integer(round(40 * scale))), iterations = 1000L,
  learning_rate = 1e-3, batch_size = 64L,
  n_test = max(500L, as.integer(round(5000 * min(1, 4 * scale)))),
  n_bridge = as.integer(env_num("RECOGNITION_BRIDGE_N", 20)),
  n_ood = 100L, n_ood_bridge = 3L,
  threads = 2L, seed = 18L, test_seed = 1818L, bridge_seed = 181818L
)
results_dir <- file.path("bench", "results")
dir.create(results_dir, showWarnings = FALSE, recursive = TRUE)

models <- sdt_mpt_models(participants = settings$participants,
                         trials = settings$trials)
network <- hierarchical_network(
  s1 = c(8, 64), s2 = c(32, 64), s3 = c(32, 64), summary_dim = c(10, 128),
  head_units = 128, head_layers = 3
)
say("# SDT against 2HTM at ", settings$participants, " x ", settings$trials,
    " (scale ", scale, ")")
say("Machine: ", sub(".*: ", "", grep("model name", readLines("/proc/cpuinfo"),
                                       value = TRUE)[[1]]),
    ", threads = ", settings$threads)

train <- timed(train_comparison(
  models, network = network, epochs = settings$epochs,
  iterations = settings$iterations, batch_size = settings$batch_size,
  learning_rate = settings$learning_rate, holdout = 1000,
  seed = settings$seed, threads = settings$threads, progress = FALSE
))
fit <- train$value
saveRDS(fit, file.path(results_dir, "recognition_memory_fit.rds"))
say("1. trained ", fit$training$steps_done, " steps (",
    fit$training$steps_done * settings$batch_size, " data sets) in ",
    round(train$seconds), " s")
print(fit$holdout_history, digits = 4, row.names = FALSE)

# The paper's calibration error: 15 equal-width bins on PMP(SDT) (with two
# models one-vs-rest gives the same value for both).
ece_bins <- function(pmp, truth, bins) {
  bin <- pmin(floor(pmp * bins), bins - 1)
  sum(vapply(split(seq_along(pmp), bin), function(i) {
    length(i) * abs(mean(truth[i]) - mean(pmp[i]))
  }, numeric(1))) / length(pmp)
}
test <- timed(validate(fit, n = settings$n_test, seed = settings$test_seed,
                       threads = settings$threads))
check <- test$value
pmp_sdt <- check$pmp[, "sdt"]
truth_sdt <- as.numeric(check$model == 1L)
ece15 <- ece_bins(pmp_sdt, truth_sdt, 15)
say("2. held-out ", settings$n_test, " data sets (", round(test$seconds),
    " s): accuracy ", format(round(check$metrics$accuracy, 4), nsmall = 4),
    "; ECE (10 bins) ", paste(names(check$metrics$ece),
                              format(round(check$metrics$ece, 4), nsmall = 4),
                              collapse = ", "),
    "; ECE (15 bins on PMP(SDT)) ", format(round(ece15, 4), nsmall = 4),
    " (paper: 0.931 and 0.0103)")
infer <- timed(post_prob(fit, simulate_datasets(models, n = 1000, seed = 5)$data,
                         threads = settings$threads))
infer_seconds <- infer$seconds / 1000

bridge <- NULL
break_even <- NA_integer_
ood <- data.frame()
has_stan <- requireNamespace("rstan", quietly = TRUE) &&
  requireNamespace("bridgesampling", quietly = TRUE)
if (has_stan && settings$n_bridge > 0) {
  sims <- simulate_datasets(models, n = settings$n_bridge,
                            seed = settings$bridge_seed)
  run <- timed(bridge_compare(fit, sims, seed = 1, cores = 2))
  bridge <- run$value
  agreement <- summary(bridge)
  truth <- sims$model_names[sims$model]
  bridge_pick <- vapply(split(bridge, bridge$data_set), function(d) {
    d$model[which.max(d$pmp_bridge)]
  }, character(1))
  net_pick <- vapply(split(bridge, bridge$data_set), function(d) {
    d$model[which.max(d$pmp_network)]
  }, character(1))
  per_set <- agreement$seconds_per_data_set
  break_even <- floor(train$seconds / (per_set - infer_seconds)) + 1
  say("3. bridge sampling on ", settings$n_bridge, " data sets (",
      round(run$seconds), " s in all, compilation ",
      paste(round(attr(bridge, "compile_seconds")), collapse = " + "), " s)")
  print(agreement)
  say("   accuracy: network ", mean(net_pick == truth), ", bridge sampling ",
      mean(bridge_pick == truth), "; finite network log BFs: ",
      all(is.finite(bridge$log_bf_network)), "; finite bridge log BFs: ",
      all(is.finite(bridge$log_bf_bridge)))
  say("   break-even: from data set ", break_even, " on (paper 15); at 100 ",
      "data sets deepbmc ", round(train$seconds + 100 * infer_seconds),
      " s, bridge sampling ", round(100 * per_set), " s")
}

# Out of distribution: every response "old" or "new" with probability 1/2,
# whatever the item. Neither model expects it (both give old items more
# "old" answers), and the two tell it apart only by how they fail.
uniform_data <- function(seed) {
  set.seed(seed)
  n <- settings$participants * settings$trials
  data.frame(
    participant = rep(seq_len(settings$participants), each = settings$trials),
    stimulus = rep(rep(1:0, length.out = settings$trials),
                   settings$participants),
    response = rbinom(n, 1, 0.5)
  )
}
ood_sets <- lapply(seq_len(settings$n_ood), uniform_data)
ood_net <- post_prob(fit, ood_sets, threads = settings$threads)
say("4. out of distribution, ", settings$n_ood,
    " data sets of uniform responses: network PMP(SDT) median ",
    signif(median(ood_net[, "sdt"]), 4), ", range ",
    paste(signif(range(ood_net[, "sdt"]), 4), collapse = " to "))
if (has_stan && settings$n_ood_bridge > 0) {
  ood <- bridge_compare(fit, ood_sets[seq_len(settings$n_ood_bridge)],
                        seed = 2, cores = 2)
  say("   bridge sampling PMP(SDT) on the first ", settings$n_ood_bridge, ": ",
      paste(signif(ood$pmp_bridge[ood$model == "sdt"], 4), collapse = ", "),
      "; network ", paste(signif(ood$pmp_network[ood$model == "sdt"], 4),
                          collapse = ", "))
}

results <- list(
  settings = settings, train_seconds = train$seconds,
  holdout_history = fit$holdout_history, accuracy = check$metrics$accuracy,
  ece = check$metrics$ece, ece15 = ece15, estimates = check$estimates,
  infer_seconds = infer_seconds, bridge = bridge, break_even = break_even,
  bridge_summary = if (!is.null(bridge)) summary(bridge),
  ood_network = ood_net, ood_bridge = ood, date = Sys.time()
)
saveRDS(results, file.path(results_dir, "recognition_memory.rds"))

md <- c(
  "# SDT against 2HTM at the paper's size (bench/recognition_memory.R)",
  "",
  sprintf("Run %s, scale %g, %d threads. Network: the paper's study 2 sizes.",
          format(Sys.time(), "%Y-%m-%d"), scale, settings$threads),
  "",
  sprintf("- training: %d x %d steps of %d data sets online, %.0f s",
          settings$epochs, settings$iterations, settings$batch_size,
          train$seconds),
  sprintf("- held-out %d data sets: accuracy %.4f (paper 0.931); ECE (10 bins) %s; ECE (15 bins on PMP(SDT)) %.4f (paper 0.0103)",
          settings$n_test, check$metrics$accuracy,
          paste(sprintf("%s %.4f", names(check$metrics$ece),
                        check$metrics$ece), collapse = ", "), ece15),
  sprintf("- inference: %.2f ms per data set", 1000 * infer_seconds),
  if (!is.null(bridge)) {
    s <- summary(bridge)
    c(sprintf("- bridge sampling on %d data sets: mean |PMP difference| %.4f (max %.3f), decision agreement %.2f, divergent transitions %d, largest R-hat %.3f, %.1f s per data set (both models)",
              s$n_data_sets, s$mean_abs_diff, s$max_abs_diff,
              s$decision_agreement, s$divergent, s$max_rhat,
              s$seconds_per_data_set),
      sprintf("- break-even: from data set %d on (paper 15)",
              floor(train$seconds / (s$seconds_per_data_set - infer_seconds)) + 1))
  },
  sprintf("- out of distribution (%d data sets of uniform responses): network PMP(SDT) median %.4f, range %.4f to %.4f%s",
          settings$n_ood, median(ood_net[, "sdt"]), min(ood_net[, "sdt"]),
          max(ood_net[, "sdt"]),
          if (nrow(ood) > 0) {
            sprintf("; bridge sampling on %d of them: %s",
                    settings$n_ood_bridge,
                    paste(sprintf("%.4f", ood$pmp_bridge[ood$model == "sdt"]),
                          collapse = ", "))
          } else "")
)
writeLines(md, file.path(results_dir, "recognition_memory.md"))
say("Wrote bench/results/recognition_memory.md and .rds")
