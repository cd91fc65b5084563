# The network and results behind vignette("recognition-memory"): the SDT and
# 2HTM models of sdt_mpt_models() on MPTinR::d.broeder (Broeder & Schuetz,
# 2009, experiment 3: 40 participants, old/new recognition under five base
# rates of old items).
#
#   R_LIBS=... Rscript data-raw/recognition_memory.R
#
# 1. Starts from the network of bench/recognition_memory.R (the paper's size
#    and network; about 15 minutes, run first if
#    bench/results/recognition_memory_fit.rds is missing) and fine-tunes it
#    to d.broeder's 50% condition: 40 participants x 60 trials, 30 old and
#    30 new (38 to 40 participants, for leaving one out; about 3 minutes).
# 2. Validates it at that design (about a minute).
# 3. PMPs and Bayes factors of the network, the paper's robustness checks,
#    and bridge sampling on the same data (about 2 minutes with compilation).
# Writes inst/extdata/recognition_fit.rds and
# inst/extdata/recognition_results.rds. About 8 minutes on 2 cores.

suppressPackageStartupMessages(library(deepbmc))
say <- function(...) cat(..., "\n", sep = "")
threads <- 2L
started <- proc.time()[["elapsed"]]

base_file <- file.path("bench", "results", "recognition_memory_fit.rds")
if (!file.exists(base_file)) {
  say("Running bench/recognition_memory.R first (about 15 minutes)")
  status <- system2(file.path(R.home("bin"), "Rscript"),
                    file.path("bench", "recognition_memory.R"))
  stopifnot(status == 0)
}
base <- readRDS(base_file)

# d.broeder holds counts: one row per participant, and per base-rate
# condition (10, 25, 50, 75 and 90% old items, 60 trials each) four columns:
# hits, misses, false alarms, correct rejections. The 50% condition (columns
# 9 to 12) has the models' design, 30 old and 30 new items; its counts
# become trials in the form the models read.
broeder_trials <- function(counts) {
  do.call(rbind, lapply(seq_len(nrow(counts)), function(i) {
    n <- counts[i, ]
    data.frame(
      participant = i,
      stimulus = rep(c(1L, 1L, 0L, 0L), n),
      response = rep(c(1L, 0L, 1L, 0L), n)
    )
  }))
}
data("d.broeder", package = "MPTinR", envir = environment())
counts <- d.broeder[, 9:12]
colnames(counts) <- c("hits", "misses", "false_alarms", "correct_rejections")
stopifnot(all(counts[, 1] + counts[, 2] == 30),
          all(counts[, 3] + counts[, 4] == 30))
broeder <- broeder_trials(counts)
say("d.broeder, 50% condition: ", nrow(counts), " participants x ",
    nrow(broeder) / nrow(counts), " trials; mean hit rate ",
    round(mean(counts[, 1] / 30), 3), ", false-alarm rate ",
    round(mean(counts[, 3] / 30), 3))

# 38 to 40 participants: leaving one out needs 39.
design <- sdt_mpt_models(participants = c(38, 40), trials = 60)
tuned <- system.time(fit <- train_comparison(
  design, init = base, epochs = 4, iterations = 1000,
  learning_rate = 2e-4, holdout = 1000, seed = 2009, threads = threads,
  progress = FALSE
))[["elapsed"]]
say("Fine-tuned to 40 x 60 in ", round(tuned), " s")
fit_file <- file.path("inst", "extdata", "recognition_fit.rds")
saveRDS(fit, fit_file, compress = "xz")

validation <- validate(fit, n = 4000, groups = 40, seed = 20091,
                       threads = threads)
say("Validation at 40 x 60: accuracy ",
    round(validation$metrics$accuracy, 4), ", ECE ",
    paste(round(validation$metrics$ece, 4), collapse = ", "))

pmp <- post_prob(fit, broeder)
bf <- bayes_factor(fit, broeder, model1 = "sdt", model2 = "mpt")
# No added missing trials: the network was not trained with any.
robust <- robustness_checks(fit, broeder,
                            checks = c("observations", "groups",
                                       "leave_one_out"),
                            n = 100, seed = 7, threads = threads)
say("Network: PMP ", paste(names(pmp), signif(pmp, 4),
                           collapse = ", "))
print(robust)

bridge <- NULL
if (requireNamespace("rstan", quietly = TRUE) &&
      requireNamespace("bridgesampling", quietly = TRUE)) {
  bridge <- bridge_compare(fit, broeder, seed = 3, cores = 2)
  print(bridge)
}

# The paper-size results of bench/recognition_memory.R travel with these,
# for the vignette.
paper_size <- readRDS(file.path("bench", "results", "recognition_memory.rds"))
paper_size$estimates <- NULL
saveRDS(list(
  paper_size = paper_size, counts = counts, validation = summary(validation),
  calibration = calibration_curve(validation),
  accuracy = validation$metrics$accuracy, ece = validation$metrics$ece,
  pmp = pmp, bayes_factor = bf, robustness = robust, bridge = bridge,
  finetune_seconds = tuned,
  seconds = proc.time()[["elapsed"]] - started, date = Sys.time()
), file.path("inst", "extdata", "recognition_results.rds"), compress = "xz")
say("Wrote ", fit_file, " (", round(file.size(fit_file) / 1024), " KB) and ",
    "inst/extdata/recognition_results.rds in ",
    round((proc.time()[["elapsed"]] - started) / 60, 1), " min")
