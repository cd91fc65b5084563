# Benchmarks of models users bring themselves (issue 15): offline training
# from stored simulations against online training, simulate_datasets() of an
# R simulator on 1 and 2 future workers, and the memory of stored
# simulations. Sourced by bench/bench.R (which provides say()); also runs on
# its own: Rscript bench/own_models.R (about 3 minutes on 2 cores).
#
# Environment:
#   BENCH_OWN_REPS=k   timing repetitions (default 5; the median is quoted)

suppressPackageStartupMessages(library(deepbmc))

if (!exists("say", inherits = FALSE)) {
  say <- function(...) cat(paste0(...), "\n", sep = "")
}
own_elapsed <- function(expr) {
  started <- proc.time()[["elapsed"]]
  force(expr)
  proc.time()[["elapsed"]] - started
}
own_reps <- as.integer(Sys.getenv("BENCH_OWN_REPS", "5"))

# --- Offline against online training ----------------------------------------
# The Study 1 network at L = N = 50, batch 32, the same steps; runs alternate
# (online, offline, online, ...) so that both see the same load of a shared
# machine, and the medians are compared.
say("## Offline training from stored simulations, Study 1 network, L = N = 50, batch 32")
say("")
own_models_set <- normal_nested_models(groups = 50, obs = 50)
own_steps <- 150L
own_bank <- simulate_datasets(own_models_set, n = 4000, seed = 5)
say("| threads | online data sets/s | offline data sets/s | offline / online (target >= 0.90) |")
say("|---|---|---|---|")
for (threads in c(1L, 2L)) {
  times <- vapply(seq_len(own_reps), function(r) {
    online <- own_elapsed(train_comparison(
      own_models_set, epochs = 1, iterations = own_steps, seed = r,
      threads = threads, progress = FALSE
    ))
    offline <- own_elapsed(train_comparison(
      own_models_set, simulations = own_bank, epochs = 1,
      iterations = own_steps, seed = r, threads = threads, progress = FALSE
    ))
    c(online = online, offline = offline)
  }, numeric(2))
  rate <- 32 * own_steps / apply(times, 1, stats::median)
  say(sprintf("| %d | %.0f | %.0f | %.2f |", threads, rate[["online"]],
              rate[["offline"]], rate[["offline"]] / rate[["online"]]))
}
say("")

# --- simulate_datasets() of an R simulator through future -------------------
# A two-feature simulator written in R (a random-intercept regression, 20 to
# 40 groups of 10 to 30 observations, as in vignette("own-models")).
say("## simulate_datasets() of an R simulator, sequential against 2 future workers")
say("")
own_sim <- function(slope) {
  force(slope)
  function() {
    n_groups <- sample(20:40, 1)
    sizes <- sample(10:30, n_groups, replace = TRUE)
    group <- rep(seq_len(n_groups), sizes)
    x <- stats::rnorm(length(group))
    b <- if (slope) stats::rnorm(1, sd = 0.5) else 0
    u <- stats::rnorm(n_groups, sd = 0.5)
    data.frame(group = group, x = x,
               y = b * x + u[group] + stats::rnorm(length(x)))
  }
}
own_r_models <- simulator_models(flat = own_sim(FALSE), slope = own_sim(TRUE))
own_n <- 4000L
if (requireNamespace("future", quietly = TRUE) &&
      requireNamespace("future.apply", quietly = TRUE)) {
  future::plan(future::sequential)
  seq_seconds <- stats::median(vapply(seq_len(own_reps), function(r) {
    own_elapsed(own_seq <<- simulate_datasets(own_r_models, n = own_n,
                                              seed = 9, progress = FALSE))
  }, numeric(1)))
  future::plan(future::multisession, workers = 2)
  # the first call starts the workers; time the calls after it
  invisible(simulate_datasets(own_r_models, n = 10, seed = 1,
                              progress = FALSE))
  par_seconds <- stats::median(vapply(seq_len(own_reps), function(r) {
    own_elapsed(own_par <<- simulate_datasets(own_r_models, n = own_n,
                                              seed = 9, progress = FALSE))
  }, numeric(1)))
  # A control without deepbmc: the same number of jobs of pure R work (about
  # a millisecond each) through future.apply, so that a speed-up below 2 can
  # be told apart from a machine whose second core is busy.
  busy <- function(i) {
    s <- 0
    for (j in 1:20000) s <- s + j
    s
  }
  control_par <- own_elapsed(future.apply::future_lapply(
    seq_len(own_n), busy, future.seed = TRUE
  ))
  future::plan(future::sequential)
  control_seq <- own_elapsed(lapply(seq_len(own_n), busy))
  say(sprintf("%d data sets (20-40 groups x 10-30 observations, 2 features), median of %d runs:",
              own_n, own_reps))
  say("")
  say("| plan | seconds | data sets/s |")
  say("|---|---|---|")
  say(sprintf("| sequential | %.2f | %.0f |", seq_seconds, own_n / seq_seconds))
  say(sprintf("| multisession, 2 workers | %.2f | %.0f |", par_seconds,
              own_n / par_seconds))
  say("")
  say(sprintf("Speed-up %.2fx; identical data sets and models: %s.",
              seq_seconds / par_seconds,
              identical(own_seq$batch, own_par$batch) &&
                identical(own_seq$model, own_par$model)))
  say(sprintf("Control, %d jobs of pure R work through future.apply: speed-up %.2fx (load average %s when measured).",
              own_n, control_seq / control_par,
              tryCatch(strsplit(readLines("/proc/loadavg"), " ")[[1]][[1]],
                       error = function(e) "unknown")))
} else {
  say("Skipped: future or future.apply is not installed.")
}
say("")

# --- Memory of stored simulations -------------------------------------------
say("## Memory of stored simulations")
say("")
own_bytes <- function(sims) {
  # The object as saveRDS() would write it, uncompressed: the packed batch
  # plus the model labels and the model set.
  as.numeric(utils::object.size(unclass(sims)))
}
own_study1 <- own_bank[1:2000]
study1_per_set <- (own_bytes(own_bank) - own_bytes(own_study1)) / 2000
r_per_set <- (own_bytes(own_r_models_sims <- simulate_datasets(
  own_r_models, n = 1000, seed = 3, progress = FALSE
)) - own_bytes(own_r_models_sims[1:500])) / 500
r_rows <- length(simulations_batch(own_r_models_sims)$mask) / 1000
say("| data sets | bytes per data set | 100,000 data sets |")
say("|---|---|---|")
say(sprintf("| Study 1, 50 groups x 50 observations, 1 feature | %.0f | %.2f GB |",
            study1_per_set, study1_per_set * 1e5 / 1e9))
say(sprintf("| R simulator above, %.0f observations on average, 2 features | %.0f | %.2f GB |",
            r_rows, r_per_set, r_per_set * 1e5 / 1e9))
file <- tempfile(fileext = ".rds")
saveRDS(own_study1, file)
say("")
say(sprintf("Bytes per data set from the difference of 4,000 and 2,000 data sets (object.size()); saveRDS() of 2,000 Study 1 data sets writes %.1f MB (%.0f bytes per data set).",
            file.size(file) / 1e6, file.size(file) / 2000))
unlink(file)
say("")
