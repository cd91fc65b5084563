# The network and results behind vignette("levy-flights"): the four
# evidence-accumulation models on rtdists::speed_acc (Wagenmakers et al.,
# 2008; lexical decision with speed or accuracy emphasis).
#
#   R_LIBS=... Rscript data-raw/levy_flights.R
#
# 1. Starts from the network of bench/evidence_accumulation.R (40 x 900,
#    pretrained at 100 trials, fine-tuned with missing trials; about 45
#    minutes, run first if bench/results/evidence_accumulation_fit.rds is
#    missing) and fine-tunes it to the design of speed_acc: 12 to 17
#    participants (16 in the data; the bootstraps and leave-one-out checks
#    need 15 and 16) x 960 trials per emphasis condition, with missing trials
#    as in training (about 7 minutes).
# 2. Validates it at 16 x 960 with missing trials (about 3 minutes).
# 3. PMPs, Bayes factors and the paper's robustness checks for each emphasis
#    condition (about a minute).
# Writes inst/extdata/levy_fit.rds (the fine-tuned network) and
# inst/extdata/levy_results.rds. About 12 minutes in all on 2 cores.

suppressPackageStartupMessages(library(deepbmc))
say <- function(...) cat(..., "\n", sep = "")
threads <- 2L
started <- proc.time()[["elapsed"]]

base_file <- file.path("bench", "results", "evidence_accumulation_fit.rds")
if (!file.exists(base_file)) {
  say("Running bench/evidence_accumulation.R first (about 45 minutes)")
  status <- system2(file.path(R.home("bin"), "Rscript"),
                    file.path("bench", "evidence_accumulation.R"))
  stopifnot(status == 0)
}
base <- readRDS(base_file)

# speed_acc as the models read it: participant 2 did fewer than half the
# trials (384 and 418 instead of 960) and is left out; censored trials (an
# uninterpretable response, RT below 180 ms or above 3 s) are missing trials:
# their stimulus stays, their rt and response are NA.
speed_acc_data <- function(condition) {
  d <- rtdists::speed_acc
  d <- d[d$condition == condition & d$id != "2", ]
  out <- data.frame(
    participant = as.integer(as.character(d$id)),
    stimulus = as.integer(d$stim_cat == "word"),
    rt = d$rt,
    response = as.integer(d$response == "word")
  )
  out$rt[d$censor] <- NA
  out$response[d$censor] <- NA
  out
}
data <- list(speed = speed_acc_data("speed"),
             accuracy = speed_acc_data("accuracy"))
say("speed_acc: ", length(unique(data$speed$participant)), " participants x ",
    nrow(data$speed) / 16, " trials per condition; missing trials: ",
    sum(is.na(data$speed$rt)), " (speed), ", sum(is.na(data$accuracy$rt)),
    " (accuracy)")

missing_trials <- missing_values(counts = c(mean = 28.5, sd = 13.5),
                                 features = c("rt", "response"))
design <- evidence_accumulation_models(participants = c(12, 17), trials = 960)
n_sims <- 3000L
chunk <- 1000L
sims <- do.call(c, lapply(seq_len(n_sims / chunk), function(k) {
  simulate_datasets(design, n = chunk, seed = 1700 + k, threads = threads)
}))
fit <- train_comparison(design, init = base, simulations = sims, epochs = 8,
                        learning_rate = 2e-4, seed = 171, threads = threads,
                        progress = FALSE, missing = missing_trials)
rm(sims)
invisible(gc())
say("Fine-tuned to the speed_acc design in ",
    round(proc.time()[["elapsed"]] - started), " s")

check <- validate(fit, n = 2000, groups = 16, obs = 960, seed = 1717,
                  threads = threads, missing = missing_trials)
say("Validation at 16 x 960 with missing trials: accuracy ",
    round(check$metrics$accuracy, 4), ", ECE ",
    paste(round(check$metrics$ece, 4), collapse = " / "))

analyse <- function(frame, seed) {
  list(
    pmp = post_prob(fit, frame, threads = threads),
    log_bf = vapply(fit$models$model_names, function(m) {
      bayes_factor(fit, frame, model1 = m, model2 = "basic_diffusion",
                   threads = threads)$bf
    }, numeric(1)),
    robustness = robustness_checks(fit, frame, n = 100,
                                   added_missing = c(10, 30, 60),
                                   missing_features = c("rt", "response"),
                                   seed = seed, threads = threads)
  )
}
results <- list(
  speed = analyse(data$speed, 1),
  accuracy = analyse(data$accuracy, 2)
)
for (condition in names(results)) {
  say("")
  say("== ", condition, " emphasis")
  print(round(results[[condition]]$pmp, 4))
  print(results[[condition]]$robustness)
}

bench <- readRDS(file.path("bench", "results", "evidence_accumulation.rds"))
# The vignette needs the validation's summaries, not its per-data-set rows.
validation <- list(
  accuracy = check$metrics$accuracy, ece = check$metrics$ece,
  recall = check$metrics$recall, confusion_share = check$confusion_share,
  calibration = check$calibration, n = check$n
)
# Histories and the optimizer state are not needed to predict; the shipped
# network keeps its weights and what check_fit() verifies.
saveRDS(fit, file.path("inst", "extdata", "levy_fit.rds"), compress = "xz")
saveRDS(
  list(
    results = results, validation = validation,
    paper_size = bench[c("settings", "stage_seconds", "pipeline_seconds",
                         "accuracy", "ece", "recall", "calibration")],
    fine_tune_seconds = fit$training$seconds,
    date = Sys.Date()
  ),
  file.path("inst", "extdata", "levy_results.rds"), compress = "xz"
)
say("Wrote inst/extdata/levy_fit.rds (",
    round(file.size(file.path("inst", "extdata", "levy_fit.rds")) / 1024),
    " KB) and levy_results.rds (",
    round(file.size(file.path("inst", "extdata", "levy_results.rds")) / 1024),
    " KB) in ", round((proc.time()[["elapsed"]] - started) / 60, 1), " min")
