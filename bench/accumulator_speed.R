# Speed of the evidence-accumulation simulator (issue 17): simulated trials
# per second for each of the four models at the paper's design (40
# participants x 900 trials, participant parameters from each model's
# priors), on 1 and 2 threads; and the basic diffusion model against
# rtdists::rdiffusion() simulating the same data set (the same
# per-participant parameters and stimuli). Also the AVX2 lane loop against
# the baseline build. About 2 minutes.
#
#   R_LIBS=... Rscript bench/accumulator_speed.R

suppressPackageStartupMessages(library(deepbmc))
say <- function(...) cat(..., "\n", sep = "")

participants <- 40L
trials <- 900L
reps <- 3L
results_dir <- file.path("bench", "results")
dir.create(results_dir, showWarnings = FALSE, recursive = TRUE)

draw_parameters <- function(model, seed) {
  as.data.frame(deepbmc:::cpp_accumulator_participants(model, 1L,
                                                       participants, seed))
}
set.seed(17)
stimulus <- matrix(rbinom(participants * trials, 1, 0.5), trials,
                   participants)
best_time <- function(f) {
  min(vapply(seq_len(reps), function(i) system.time(f())[["elapsed"]],
             numeric(1)))
}

say("# Evidence-accumulation simulator speed")
say("Machine: ", sub(".*: ", "", grep("model name", readLines("/proc/cpuinfo"),
                                       value = TRUE)[[1]]),
    "; best of ", reps, " runs; one data set of ", participants, " x ",
    trials, " trials")
names <- c("basic_diffusion", "basic_levy", "full_diffusion", "full_levy")
rows <- list()
for (m in 0:3) {
  pars <- draw_parameters(m, 100 + m)
  for (threads in 1:2) {
    seconds <- best_time(function() {
      deepbmc:::accumulator_trials(pars, stimulus, seed = 1, threads = threads)
    })
    sims <- deepbmc:::accumulator_trials(pars, stimulus, seed = 1)
    steps <- sum((sims$rt - rep(pars$t0, each = trials)) / 0.001, na.rm = TRUE)
    rows[[length(rows) + 1]] <- data.frame(
      model = names[[m + 1]], threads = threads, seconds = seconds,
      trials_per_second = participants * trials / seconds,
      mean_rt = mean(sims$rt, na.rm = TRUE)
    )
  }
}
speed <- do.call(rbind, rows)
print(speed, digits = 3, row.names = FALSE)

# The basic diffusion model against rtdists (exact sampling by inversion of
# the first-passage time distribution; one thread), on the same data sets:
# the same per-participant parameters and stimuli. The Euler loop's cost
# grows with the decision times, rdiffusion's hardly, so one parameter draw
# says little: 10 draws from the prior, each data set timed once.
comparison <- NULL
per_draw <- NULL
if (requireNamespace("rtdists", quietly = TRUE)) {
  rtdists_once <- function(pars) {
    for (j in seq_len(participants)) {
      for (s in 0:1) {
        n <- sum(stimulus[, j] == s)
        rtdists::rdiffusion(n, a = pars$a[[j]], v = if (s == 1) pars$v1[[j]] else pars$v0[[j]],
                            t0 = pars$t0[[j]], z = pars$zr[[j]] * pars$a[[j]],
                            s = 1)
      }
    }
  }
  timed <- function(f) system.time(f())[["elapsed"]]
  per_draw <- do.call(rbind, lapply(100:109, function(seed) {
    pars <- draw_parameters(0L, seed)
    sims <- deepbmc:::accumulator_trials(pars, stimulus, seed = 1)
    data.frame(
      seed = seed,
      mean_decision_time = mean(sims$rt - rep(pars$t0, each = trials),
                                na.rm = TRUE),
      rtdists = timed(function() rtdists_once(pars)),
      deepbmc_1 = timed(function() {
        deepbmc:::accumulator_trials(pars, stimulus, seed = 1, threads = 1)
      }),
      deepbmc_2 = timed(function() {
        deepbmc:::accumulator_trials(pars, stimulus, seed = 1, threads = 2)
      })
    )
  }))
  totals <- colSums(per_draw[c("rtdists", "deepbmc_1", "deepbmc_2")])
  comparison <- data.frame(
    simulator = c("rtdists::rdiffusion", "deepbmc, 1 thread",
                  "deepbmc, 2 threads"),
    seconds = unname(totals),
    speedup = totals[["rtdists"]] / unname(totals)
  )
  say("")
  say("Basic diffusion, the same 10 data sets (parameters from the prior):")
  print(per_draw, digits = 3, row.names = FALSE)
  print(comparison, digits = 3, row.names = FALSE)
  say("Speed-up on 2 threads per data set: median ",
      round(median(per_draw$rtdists / per_draw$deepbmc_2), 1), ", range ",
      paste(round(range(per_draw$rtdists / per_draw$deepbmc_2), 1),
            collapse = " to "))
}

# AVX2 lane loop against the baseline build (same numbers, see the tests).
pars <- draw_parameters(3L, 103)
kernels <- c("baseline", "avx2")
isa <- vapply(kernels, function(k) {
  used <- deepbmc:::cpp_select_kernels(k)
  if (used != k) return(NA_real_)
  best_time(function() deepbmc:::accumulator_trials(pars, stimulus, seed = 1))
}, numeric(1))
deepbmc:::cpp_select_kernels("auto")
say("")
say("Full Levy flight, 1 thread: baseline ", round(isa[["baseline"]], 3),
    " s, AVX2 ", round(isa[["avx2"]], 3), " s (",
    round(isa[["baseline"]] / isa[["avx2"]], 1), "x)")

saveRDS(list(speed = speed, rtdists = comparison, rtdists_per_draw = per_draw,
             isa = isa,
             date = Sys.time()),
        file.path(results_dir, "accumulator_speed.rds"))
md <- c(
  "# Evidence-accumulation simulator speed (bench/accumulator_speed.R)",
  "",
  paste0("One data set of ", participants, " participants x ", trials,
         " trials, best of ", reps, " runs."),
  "",
  "| model | threads | seconds | trials/s | mean RT (s) |",
  "|---|---|---|---|---|",
  sprintf("| %s | %d | %.3f | %.0f | %.3f |", speed$model, speed$threads,
          speed$seconds, speed$trials_per_second, speed$mean_rt),
  "",
  if (!is.null(comparison)) {
    c("| basic diffusion, the same 10 data sets | seconds | speed-up over rtdists |",
      "|---|---|---|",
      sprintf("| %s | %.3f | %.1f |", comparison$simulator,
              comparison$seconds, comparison$speedup),
      "",
      sprintf("Per data set on 2 threads: median speed-up %.1f (range %.1f to %.1f); mean decision times %.2f to %.2f s.",
              median(per_draw$rtdists / per_draw$deepbmc_2),
              min(per_draw$rtdists / per_draw$deepbmc_2),
              max(per_draw$rtdists / per_draw$deepbmc_2),
              min(per_draw$mean_decision_time),
              max(per_draw$mean_decision_time)))
  },
  "",
  sprintf("Lane loop, full Levy flight, 1 thread: baseline %.3f s, AVX2 %.3f s (%.1fx).",
          isa[["baseline"]], isa[["avx2"]], isa[["baseline"]] / isa[["avx2"]])
)
writeLines(md, file.path(results_dir, "accumulator_speed.md"))
