# The paper's application (issue 17): four hierarchical evidence-accumulation
# models (diffusion or Levy flight, basic or with inter-trial variability) at
# the paper's size, 40 participants x 900 trials, trained as the paper did:
# pretraining on 100 trials per participant, then fine-tuning at 900 trials
# with missing trials (per participant round(TN(28.5, 13.5; 0, 900)) trials
# lose their rt and response, drawn afresh for every batch).
#
#   R_LIBS=... Rscript bench/evidence_accumulation.R
#   DEEPBMC_BENCH_SCALE=0.05 Rscript bench/evidence_accumulation.R   a quick trial
#
# Timed stages (2 threads, batch 32, the paper's network sizes):
# 1. simulate the pretraining data sets (40 x 100) into memory;
# 2. pretrain offline on them (lr 1e-3, cosine);
# 3. simulate the fine-tuning data sets (40 x 900);
# 4. fine-tune offline from the pretrained weights with missing trials
#    (lr 2e-4, cosine, fresh Adam state).
# The pipeline time is the sum of 1-4. Then validate() on n_test new data
# sets at 40 x 900 with missing trials: accuracy and per-model ECE (10 bins),
# the paper's 0.926 and 0.004-0.009. Results: bench/results/
# evidence_accumulation.md and .rds; the fit goes to
# bench/results/evidence_accumulation_fit.rds (data-raw/levy_flights.R
# fine-tunes it to the design of rtdists::speed_acc).
#
# Offline rather than online: at 900 trials a data set costs about 6.7 times
# as much to simulate as one training pass over it, so reusing stored data
# sets for several epochs buys far more steps per second (measured in the
# output). At full scale the pipeline takes about 42 minutes on 2 cores
# (2026-12-02, AMD EPYC: 41.7) and validation on 8,000 data sets 7 more; it
# needs about 7 GB of memory for the stored simulations.

suppressPackageStartupMessages(library(deepbmc))

env_num <- function(name, default) {
  value <- Sys.getenv(name)
  if (nzchar(value)) as.numeric(value) else default
}

scale <- env_num("DEEPBMC_BENCH_SCALE", 1)
settings <- list(
  participants = 40L, pretrain_trials = 100L, trials = 900L,
  n_pretrain = max(256, round(24000 * scale)), pretrain_epochs = 24L,
  n_finetune = max(128, round(9000 * scale)), finetune_epochs = 24L,
  lr_pretrain = 1e-3, lr_finetune = 2e-4,
  n_test = max(200, round(8000 * min(1, 4 * scale))),
  batch_size = 32L, threads = 2L, seed = 17L, test_seed = 1717L
)
missing_trials <- missing_values(counts = c(mean = 28.5, sd = 13.5),
                                 features = c("rt", "response"))
network <- hierarchical_network(
  s1 = c(8, 32), s2 = c(32, 128), s3 = c(16, 64), summary_dim = c(32, 64),
  head_units = 64, head_layers = 3
)
results_dir <- file.path("bench", "results")
dir.create(results_dir, showWarnings = FALSE, recursive = TRUE)

timed <- function(expr) {
  start <- proc.time()[["elapsed"]]
  value <- force(expr)
  list(value = value, seconds = proc.time()[["elapsed"]] - start)
}
say <- function(...) cat(..., "\n", sep = "")

# simulate_datasets() holds at most 5e7 observations per call: simulate in
# chunks (each from its own seed) and join them with c().
simulate_chunked <- function(models, n, seed, threads) {
  per_chunk <- floor(4e7 / (models$groups[[2]] * models$obs[[2]]))
  sizes <- diff(unique(c(seq(0, n, by = per_chunk), n)))
  parts <- lapply(seq_along(sizes), function(k) {
    simulate_datasets(models, n = sizes[[k]], seed = seed * 1000 + k,
                      threads = threads)
  })
  do.call(c, parts)
}

say("# Evidence-accumulation models at ", settings$participants, " x ",
    settings$trials, " (scale ", scale, ")")
say("Machine: ", sub(".*: ", "", grep("model name", readLines("/proc/cpuinfo"),
                                       value = TRUE)[[1]]),
    ", ", parallel::detectCores(), " cores; threads = ", settings$threads)

pre_models <- evidence_accumulation_models(settings$participants,
                                           settings$pretrain_trials)
target <- evidence_accumulation_models(settings$participants, settings$trials)

stage <- list()
sim_pre <- timed(simulate_chunked(pre_models, settings$n_pretrain,
                                  seed = settings$seed,
                                  threads = settings$threads))
stage$simulate_pretrain <- sim_pre$seconds
say("1. simulated ", settings$n_pretrain, " pretraining data sets in ",
    round(sim_pre$seconds), " s")

pre <- timed(train_comparison(
  pre_models, network, simulations = sim_pre$value,
  epochs = settings$pretrain_epochs, batch_size = settings$batch_size,
  learning_rate = settings$lr_pretrain, seed = settings$seed,
  threads = settings$threads, progress = FALSE,
  missing = missing_values(share = 0, features = c("rt", "response"))
))
rm(sim_pre)
invisible(gc())
stage$pretrain <- pre$seconds
say("2. pretrained ", nrow(pre$value$history), " steps in ",
    round(pre$seconds), " s")

sim_fine <- timed(simulate_chunked(target, settings$n_finetune,
                                   seed = settings$seed + 1L,
                                   threads = settings$threads))
stage$simulate_finetune <- sim_fine$seconds
say("3. simulated ", settings$n_finetune, " fine-tuning data sets in ",
    round(sim_fine$seconds), " s")

fine <- timed(train_comparison(
  target, init = pre$value, simulations = sim_fine$value,
  epochs = settings$finetune_epochs, batch_size = settings$batch_size,
  learning_rate = settings$lr_finetune, seed = settings$seed + 2L,
  threads = settings$threads, progress = FALSE, missing = missing_trials
))
rm(sim_fine)
invisible(gc())
stage$finetune <- fine$seconds
fit <- fine$value
say("4. fine-tuned ", fit$training$steps_done, " steps in ",
    round(fine$seconds), " s")
pipeline <- sum(unlist(stage))
say("Pipeline: ", round(pipeline), " s (", round(pipeline / 60, 1),
    " min); simulation ", round(stage$simulate_pretrain +
                                  stage$simulate_finetune), " s, network ",
    round(stage$pretrain + stage$finetune), " s")

saveRDS(fit, file.path(results_dir, "evidence_accumulation_fit.rds"))
test <- timed(validate(fit, n = settings$n_test, seed = settings$test_seed,
                       threads = settings$threads, missing = missing_trials))
check <- test$value
ece <- check$metrics$ece
say("Held-out (", settings$n_test, " data sets with missing trials, ",
    round(test$seconds), " s): accuracy ",
    format(round(check$metrics$accuracy, 4), nsmall = 4),
    "; ECE ", paste(names(ece), format(round(ece, 4), nsmall = 4),
                   collapse = ", "))
say("Goals: pipeline <= 45 min: ", pipeline <= 45 * 60,
    "; accuracy >= 0.926: ", check$metrics$accuracy >= 0.926,
    "; every ECE <= 0.01: ", all(ece <= 0.01))
print(check$confusion_share, digits = 3)

results <- list(
  settings = settings, stage_seconds = unlist(stage),
  pipeline_seconds = pipeline, test_seconds = test$seconds,
  accuracy = check$metrics$accuracy, ece = ece,
  estimates = check$estimates, confusion = check$confusion,
  calibration = check$calibration, recall = check$metrics$recall,
  history = training_history(fit), machine = Sys.info()[["nodename"]],
  date = Sys.time()
)
saveRDS(results, file.path(results_dir, "evidence_accumulation.rds"))

md <- c(
  "# Evidence-accumulation models at the paper's size (bench/evidence_accumulation.R)",
  "",
  paste0("Run ", format(Sys.time(), "%Y-%m-%d"), ", scale ", scale, ", ",
         settings$threads, " threads."),
  "",
  "| stage | data sets | epochs | seconds |",
  "|---|---|---|---|",
  sprintf("| simulate pretraining (40 x 100) | %d | | %.0f |",
          settings$n_pretrain, stage$simulate_pretrain),
  sprintf("| pretrain | | %d | %.0f |", settings$pretrain_epochs,
          stage$pretrain),
  sprintf("| simulate fine-tuning (40 x 900) | %d | | %.0f |",
          settings$n_finetune, stage$simulate_finetune),
  sprintf("| fine-tune with missing trials | | %d | %.0f |",
          settings$finetune_epochs, stage$finetune),
  sprintf("| **pipeline** | | | **%.0f (%.1f min)** |", pipeline,
          pipeline / 60),
  "",
  sprintf("Held-out: %d data sets at 40 x 900 with missing trials (%.0f s): accuracy %.4f (paper 0.926).",
          settings$n_test, test$seconds, check$metrics$accuracy),
  "",
  "| model | ECE (10 bins) | recall |",
  "|---|---|---|",
  sprintf("| %s | %.4f | %.3f |", names(ece), ece, check$metrics$recall)
)
writeLines(md, file.path(results_dir, "evidence_accumulation.md"))
say("Wrote bench/results/evidence_accumulation.md and .rds")
