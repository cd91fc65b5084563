# Benchmarks (not tests): throughput of training and inference, scaling,
# memory and floating-point rate, the Study 1 acceptance figures (accuracy and
# ECE after the paper's schedule), and the peers a user would pick instead:
# the same network in PyTorch and rstan + bridgesampling per data set.
# Run with `make bench`. Results go to the console and to bench/README.md.
#
# Environment:
#   BENCH_QUICK=1           skip the full training run and the bridge peer
#   BENCH_BRIDGE_N=k        data sets for the bridge sampling peer (default 3)
#   DEEPBMC_TORCH_BLAS_DIR  a directory with OpenBLAS's libblas.so.3, for a
#                           second PyTorch run with it (see bench/peer_torch.R)

suppressPackageStartupMessages(library(deepbmc))
source(file.path("bench", "scaling.R"))
source(file.path("bench", "peer_torch.R"))
source(file.path("bench", "peer_bridge.R"))

quick <- nzchar(Sys.getenv("BENCH_QUICK"))
`%||%` <- function(x, y) if (is.null(x)) y else x
# "OpenBLAS", "reference BLAS" or the library's file name, from the path that
# bench/torch_reference.py reports as loaded.
blas_name <- function(path) {
  if (is.null(path) || is.na(path) || !nzchar(path)) return("unknown")
  if (grepl("openblas", path, ignore.case = TRUE)) return("OpenBLAS")
  if (grepl("mkl", path, ignore.case = TRUE)) return("MKL")
  if (grepl("/blas/", path)) return("reference BLAS")
  basename(path)
}
out_file <- file.path("bench", "README.md")
lines <- c(
  "<!-- Written by bench/bench.R (make bench); edit the preamble there. -->",
  "# deepbmc benchmarks",
  "",
  "`make bench` runs bench/bench.R and rewrites this file. It measures, on one",
  "machine in one run: throughput of training and inference (1 and 2 threads),",
  "the floating-point rate against the machine's peak, scaling with data size,",
  "peak memory, the formula simulator, the Study 1 acceptance figures, and the",
  "peers: the same network in PyTorch (bench/torch_reference.py via",
  "bench/peer_torch.R; skipped without python3-torch) and rstan +",
  "bridgesampling per data set (bench/peer_bridge.R; skipped without rstan),",
  "and for models users bring themselves (bench/own_models.R): offline against",
  "online training, an R simulator on 1 and 2 future workers, and the memory",
  "of stored simulations.",
  "Set BENCH_QUICK=1 for a short run without the acceptance training and the",
  "bridge peer.",
  ""
)
say <- function(...) {
  line <- paste0(...)
  cat(line, "\n", sep = "")
  lines <<- c(lines, line)
}
elapsed <- function(expr) {
  started <- proc.time()[["elapsed"]]
  force(expr)
  proc.time()[["elapsed"]] - started
}
# Median of `reps` timings of `run()`, which returns the number of data sets it
# handled: the machine is shared, single timings vary by 20% or more.
median_rate <- function(run, reps = 3) {
  median(vapply(seq_len(reps), function(i) {
    seconds <- elapsed(n <- run())
    n / seconds
  }, numeric(1)))
}

cpu <- tryCatch(
  sub(".*: ", "", grep("model name", readLines("/proc/cpuinfo"), value = TRUE)[[1]]),
  error = function(e) "unknown"
)
say("## Run")
say("")
say("- date: ", format(Sys.time(), "%Y-%m-%d %H:%M %Z"))
say("- machine: ", cpu, ", ", parallel::detectCores(), " cores; ", R.version.string)
say("- float kernels: ", deepbmc:::cpp_select_kernels("auto"))
say("")

# Study 1 at L = N = 50 with the paper's architecture.
models <- normal_nested_models(groups = 50, obs = 50)
say("## Throughput, Study 1 network, L = N = 50, batch 32")
say("")
say("Median of 3 runs each.")
say("")
say("| threads | training data sets/s | inference data sets/s (post_prob) | validate data sets/s (simulate + infer + 200 bootstrap resamples) |")
say("|---|---|---|---|")
rates <- list()
sims <- simulate_datasets(models, n = 5000, seed = 2)
for (threads in c(1L, 2L)) {
  steps <- 300L
  train_rate <- median_rate(function() {
    fit <<- train_comparison(models, epochs = 1, iterations = steps,
                             threads = threads, seed = 1, progress = FALSE)
    steps * 32
  })
  infer_rate <- median_rate(function() {
    post_prob(fit, sims$data, threads = threads)
    length(sims$data)
  })
  validate_rate <- median_rate(function() {
    validate(fit, n = 5000, seed = 3, threads = threads)
    5000
  })
  say(sprintf("| %d | %.0f | %.0f | %.0f |", threads, train_rate, infer_rate,
              validate_rate))
  rates[[threads]] <- c(train = train_rate, infer = infer_rate)
}
say("")
say(sprintf("Speed-up from 1 to 2 threads: training %.2fx, inference %.2fx.",
            rates[[2]][["train"]] / rates[[1]][["train"]],
            rates[[2]][["infer"]] / rates[[1]][["infer"]]))
say("")

# The validation target: validate(fit, n = 5000) on a Study 1 network in under
# 5 s on 2 threads, with its default 200 bootstrap resamples and calibration
# test. Timed separately to show where the time goes.
validate_seconds <- median(vapply(1:3, function(i) {
  elapsed(validate(fit, n = 5000, seed = 3, threads = 2))
}, numeric(1)))
metric_seconds <- median(vapply(1:3, function(i) {
  elapsed(validate(fit, n = 5000, seed = 3, threads = 2, boot = 0))
}, numeric(1)))
say("## validate(fit, n = 5000), Study 1 network, 2 threads")
say("")
say(sprintf("- with 200 bootstrap resamples (the default): %.2f s (target < 5 s)",
            validate_seconds))
say(sprintf("- without bootstrap (boot = 0): %.2f s", metric_seconds))
say("")

# Achieved floating-point rate, counted from the layer sizes, against the
# machine's peak for the kernels in use.
kernels <- deepbmc:::cpp_select_kernels("auto")
peak <- peak_gflops_per_core(kernels)
flops <- network_flops(fit$config, 50, 50)
say("## Floating-point rate, Study 1 network, L = N = 50, 2 threads")
say("")
say(sprintf("- forward pass: %.1f MFLOP per data set (counted from the layer sizes); training step about 3x",
            flops / 1e6))
say(sprintf("- peak: %.2f GHz x %d flops/cycle (%s FMA, float) = %.1f GFLOP/s per core, %.1f on 2 cores",
            peak$ghz, peak$flops_per_cycle, kernels, peak$gflops, 2 * peak$gflops))
say(sprintf("- training: %.1f GFLOP/s (%.0f%% of peak); inference: %.1f GFLOP/s (%.0f%% of peak)",
            3 * flops * train_rate / 1e9, 100 * 3 * flops * train_rate / 1e9 / (2 * peak$gflops),
            flops * infer_rate / 1e9, 100 * flops * infer_rate / 1e9 / (2 * peak$gflops)))
say("")

# Time per data set should grow linearly with the number of observations.
say("## Scaling with data set size (inference, 2 threads)")
say("")
say("| groups x observations | data sets/s | microseconds per observation |")
say("|---|---|---|")
for (size in list(c(10, 10), c(25, 25), c(50, 50), c(100, 50), c(50, 100), c(100, 100))) {
  sized <- simulate_datasets(normal_nested_models(size[[1]], size[[2]]),
                             n = 2000, seed = 4)
  rate <- median_rate(function() {
    suppressWarnings(post_prob(fit, sized, threads = 2))
    2000
  })
  say(sprintf("| %d x %d | %.0f | %.3f |", size[[1]], size[[2]], rate,
              1e6 / (rate * size[[1]] * size[[2]])))
}
say("")

say("## Peak memory (resident set), Study 1 network, L = N = 50")
say("")
training_mb <- peak_memory_mb(
  "invisible(train_comparison(normal_nested_models(50, 50), epochs = 1, iterations = 200, seed = 1, threads = 2, progress = FALSE))"
)
baseline_mb <- peak_memory_mb("invisible(normal_nested_models(50, 50))")
inference_mb <- peak_memory_mb(
  c(
    "fit <- train_comparison(normal_nested_models(50, 50), epochs = 1, iterations = 2, seed = 1, progress = FALSE)",
    "data <- unlist(lapply(1:5, function(i) simulate_datasets(normal_nested_models(50, 50), n = 20000, seed = i)$data), recursive = FALSE)"
  ),
  then = c(
    "pmp <- post_prob(fit, data, threads = 2)",
    "stopifnot(nrow(pmp) == 1e5)"
  )
)
say(sprintf("- R with deepbmc loaded: %.0f MB", baseline_mb))
say(sprintf("- training (200 steps x 32 data sets): %.0f MB", training_mb))
say(sprintf("- inference on 100,000 data sets: the process holds %.0f MB with the data sets in R (their list alone is %.0f MB); post_prob() raises that to a peak of %.0f MB, i.e. %.0f MB for inference itself: a list of matrices is read in place, each data set converted on the thread that evaluates it (other forms of data are converted and evaluated in chunks of about 4 million values, option deepbmc.chunk_values)",
            inference_mb$before, 100000 * (2500 * 8 + 216) / 2^20, inference_mb$during,
            max(0, inference_mb$during - inference_mb$before)))
say("")

# Formula models: the issue's target is 20,000 simulated data sets/s for a
# gaussian random-intercept model with 50 groups x 10 observations on 2
# threads. cpp_simulate() is the C++ simulator plus packing the batch into R
# vectors; simulate_datasets() adds turning each into a data frame.
template <- data.frame(g = rep(1:50, each = 10), y = rnorm(500))
formula_set <- model_set(
  hier_model(y ~ 0 + (1 | g), template),
  hier_model(y ~ 1 + (1 | g), template)
)
say("## Formula models: gaussian random intercept, 50 groups x 10 observations")
say("")
say("Median of 3 runs of 20,000 data sets each (5,000 for simulate_datasets).")
say("")
say("| threads | C++ simulator via cpp_simulate (data sets/s) | simulate_datasets (data frames, data sets/s) |")
say("|---|---|---|")
spec <- deepbmc:::models_spec(formula_set)
for (threads in c(1L, 2L)) {
  cpp_rate <- median_rate(function() {
    deepbmc:::cpp_simulate(spec, 20000L, 1, threads)
    20000
  })
  frame_rate <- median_rate(function() {
    simulate_datasets(formula_set, n = 5000, seed = 1, threads = threads)
    5000
  })
  say(sprintf("| %d | %.0f | %.0f |", threads, cpp_rate, frame_rate))
}
say("")

if (!quick) {
  say("## Study 1 acceptance: 10 epochs x 1000 iterations x 32, 2 threads")
  say("")
  seconds <- elapsed(fit <- train_comparison(models, epochs = 10, iterations = 1000,
                                             threads = 2, seed = 2026,
                                             progress = FALSE))
  validation <- validate(fit, n = 5000, seed = 7, threads = 2, bins = 15)
  validation10 <- validate(fit, n = 5000, seed = 7, threads = 2)
  say(sprintf("- training: %.0f s (%.0f data sets/s)", seconds, 320000 / seconds))
  say(sprintf("- held-out accuracy (5000 data sets): %.4f (paper: 0.886)",
              validation$metrics$accuracy))
  say(sprintf("- ECE on PMP(M1), 15 bins: %.4f (paper: median 0.0139)",
              validation$metrics$ece[["M1"]]))
  say(sprintf("- log score: %.4f; Brier: %.4f", validation$metrics$log_score,
              validation$metrics$brier))
  say("- all metrics with 10 bins (BayesFlow's default) and 95% bootstrap intervals:")
  say("")
  say("| metric | model | estimate | 2.5% | 97.5% |")
  say("|---|---|---|---|---|")
  table <- as.data.frame(validation10)
  for (i in seq_len(nrow(table))) {
    say(sprintf("| %s | %s | %.4f | %.4f | %.4f |", table$metric[[i]],
                ifelse(is.na(table$model[[i]]), "", table$model[[i]]),
                table$estimate[[i]], table$conf_low[[i]], table$conf_high[[i]]))
  }
  say(sprintf("- calibration test p-values (M0, M1): %s",
              paste(format(validation10$calibration_test$p_value, digits = 2),
                    collapse = ", ")))
  say("")
}

# Peer 1: the same network in PyTorch on the same threads, right after
# deepbmc's own runs above (the throughput table), so both see the same
# machine state. Torch's training includes its online simulation, as
# deepbmc's does; inference times the network alone on pre-simulated data.
say("## Peer 1: the same network in PyTorch (bench/torch_reference.py)")
say("")
torch_configs <- list(list(label = "as installed", blas_dir = ""))
openblas_dir <- Sys.getenv("DEEPBMC_TORCH_BLAS_DIR")
if (nzchar(openblas_dir)) {
  torch_configs[[2]] <- list(label = "with OpenBLAS", blas_dir = openblas_dir)
}
torch_rows <- list()
for (config in torch_configs) {
  for (threads in c(1L, 2L)) {
    peer <- torch_peer(threads, steps = 60, infer = 2000, blas_dir = config$blas_dir,
                       env = c(OMP_WAIT_POLICY = "PASSIVE"))
    if (is.null(peer)) break
    torch_rows[[length(torch_rows) + 1]] <- data.frame(
      torch = config$label, blas = blas_name(peer$blas),
      threads = threads, params = peer$n_params,
      torch_train = peer$train_datasets_per_s, torch_infer = peer$infer_datasets_per_s,
      deepbmc_train = rates[[threads]][["train"]], deepbmc_infer = rates[[threads]][["infer"]]
    )
  }
}
if (length(torch_rows)) {
  torch_table <- do.call(rbind, torch_rows)
  say(sprintf("PyTorch %s on %s, Study 1 network with the same %s parameters, L = N = 50, batch 32; training 60 steps after 5 warm-up steps, inference on 2,000 data sets. deepbmc's rates are the medians above.",
              peer$torch_version %||% "", peer$python, format(torch_table$params[[1]], big.mark = ",")))
  say("")
  say("| torch | BLAS | threads | torch training data sets/s | deepbmc training | ratio (target >= 10) | torch inference data sets/s | deepbmc inference | ratio (target >= 20) |")
  say("|---|---|---|---|---|---|---|---|---|")
  for (i in seq_len(nrow(torch_table))) {
    row <- torch_table[i, ]
    say(sprintf("| %s | %s | %d | %.0f | %.0f | %.1f | %.0f | %.0f | %.1f |",
                row$torch, row$blas, row$threads, row$torch_train, row$deepbmc_train,
                row$deepbmc_train / row$torch_train, row$torch_infer, row$deepbmc_infer,
                row$deepbmc_infer / row$torch_infer))
  }
} else {
  say("Skipped: no python3 with torch (Debian: apt-get install python3-torch).")
}
say("")

# Peer 2: rstan + bridgesampling, both Study 1 models per data set, with the
# settings of bench/peer_bridge.R (4 chains x 12,500 draws after 1,000
# warm-up). Break-even: the number of data sets n from which deepbmc's
# training (the acceptance schedule above) plus n inferences takes less time
# than n bridge sampling runs; compilation is left out of the bridge side.
say("## Peer 2: rstan + bridgesampling per data set (bench/peer_bridge.R)")
say("")
bridge_n <- as.integer(Sys.getenv("BENCH_BRIDGE_N", "3"))
has_stan <- requireNamespace("rstan", quietly = TRUE) &&
  requireNamespace("bridgesampling", quietly = TRUE)
if (quick) {
  say("Skipped in quick mode (BENCH_QUICK).")
} else if (!has_stan) {
  say("Skipped: rstan or bridgesampling is not installed.")
} else {
  bridge_sims <- simulate_datasets(models, n = bridge_n, seed = 11)
  peer <- bridge_peer(bridge_sims, cores = 2)
  compile <- attr(peer, "compile_seconds")
  per_set <- tapply(peer$seconds, peer$dataset, sum)
  bridge_seconds <- mean(per_set)
  infer_seconds <- 1 / rates[[2]][["infer"]]
  break_even <- floor(seconds / (bridge_seconds - infer_seconds)) + 1
  say(sprintf("- compilation (once per model): M0 %.0f s, M1 %.0f s",
              compile[["M0"]], compile[["M1"]]))
  say(sprintf("- per data set, both models, sampling + bridge sampling, 2 cores: %s s; mean %.1f s",
              paste(sprintf("%.1f", per_set), collapse = ", "), bridge_seconds))
  say(sprintf("- largest R-hat %.3f, divergent transitions %d, largest approximate error of a log marginal likelihood %.4f",
              max(peer$max_rhat), sum(peer$divergent), max(peer$error)))
  say(sprintf("- deepbmc per data set: training %.0f s once (acceptance schedule, 320,000 data sets), then %.2f ms each",
              seconds, 1000 * infer_seconds))
  say(sprintf("- break-even: training + inference is cheaper than bridge sampling from data set %d on (target: 20 or earlier); at 100 data sets deepbmc takes %.0f s, bridge sampling %.0f s",
              break_even, seconds + 100 * infer_seconds, 100 * bridge_seconds))
}
say("")

# Issue 14: log Bayes factors against exact ones by bin of the exact value,
# before (the classifier, the default) and after (size_subsample), with the
# training time of each; about 25 minutes on a quiet 2-core machine. The full
# comparison of all methods is bench/bf_accuracy.md.
say("## Log Bayes factors against exact ones (bench/bf_accuracy.R)")
say("")
if (quick) {
  say("Skipped in quick mode (BENCH_QUICK).")
} else {
  bf_lines <- system2(file.path(R.home("bin"), "Rscript"),
                      c(file.path("bench", "bf_accuracy.R"), "classifier",
                        "size_subsample"),
                      stdout = TRUE, env = "BF_RETRAIN=1")
  for (line in bf_lines) say(line)
}
say("")
# Issue 16: transfer learning (pretrain at 50 x 10, fine-tune at 50 x 100)
# against direct training, at equal time and equal simulated observations,
# against exact PMPs; about 20 minutes. Writes bench/results/transfer.md/png.
say("## Transfer learning on Study 1 (bench/transfer.R)")
say("")
if (quick) {
  say("Skipped in quick mode (BENCH_QUICK).")
} else {
  transfer_lines <- system2(file.path(R.home("bin"), "Rscript"),
                            file.path("bench", "transfer.R"), stdout = TRUE)
  start <- grep("^Final checkpoint", transfer_lines)
  stop <- grep("^All checkpoints", transfer_lines)
  if (length(start) == 1 && length(stop) == 1) {
    for (line in transfer_lines[start:(stop - 2)]) say(line)
  }
  say("")
  say("All checkpoints and the plot: bench/results/transfer.md, transfer.png.")
  for (line in grep("took", transfer_lines, value = TRUE)) say("- ", line)
}
say("")
# Issue 16: missing values, indicator against placeholder coding on a
# two-feature model set (about 6 minutes), and validate_missing() on Study 1
# (about a minute). Write bench/results/missing_coding.md and
# validate_missing.png/rds.
say("## Missing values (bench/missing_coding.R, bench/validate_missing.R)")
say("")
if (quick) {
  say("Skipped in quick mode (BENCH_QUICK).")
} else {
  coding_lines <- system2(file.path(R.home("bin"), "Rscript"),
                          file.path("bench", "missing_coding.R"), stdout = TRUE)
  first <- grep("^# Missing values", coding_lines)
  if (length(first) == 1) {
    for (line in coding_lines[(first + 1):length(coding_lines)]) say(line)
  }
  sweep_lines <- system2(file.path(R.home("bin"), "Rscript"),
                         file.path("bench", "validate_missing.R"),
                         stdout = TRUE)
  say("")
  say("validate_missing() on Study 1 (bench/results/validate_missing.png):")
  say("")
  say("```")
  for (line in sweep_lines) say(line)
  say("```")
}
say("")
# Issue 17: the evidence-accumulation simulator's speed (about 2 minutes, also
# in quick mode) and the paper's application at 40 x 900: simulation,
# pretraining at 100 trials and fine-tuning with missing trials (about 45
# minutes). Write bench/results/accumulator_speed.md and
# evidence_accumulation.md.
say("## Evidence-accumulation models (bench/accumulator_speed.R, bench/evidence_accumulation.R)")
say("")
speed_lines <- system2(file.path(R.home("bin"), "Rscript"),
                       file.path("bench", "accumulator_speed.R"), stdout = TRUE)
say("```")
for (line in speed_lines) say(line)
say("```")
say("")
if (quick) {
  say("The pipeline is skipped in quick mode (BENCH_QUICK).")
} else {
  eam_lines <- system2(file.path(R.home("bin"), "Rscript"),
                       file.path("bench", "evidence_accumulation.R"),
                       stdout = TRUE)
  say("```")
  for (line in eam_lines) say(line)
  say("```")
}
say("")
# Issue 18: the paper's study 2, SDT against 2HTM at 25 x 50 (about 35
# minutes: training 20, bridge sampling on 20 data sets 15). Writes
# bench/results/recognition_memory.md.
say("## Recognition memory, SDT or MPT (bench/recognition_memory.R)")
say("")
if (quick) {
  say("Skipped in quick mode (BENCH_QUICK).")
} else {
  recognition_lines <- system2(file.path(R.home("bin"), "Rscript"),
                               file.path("bench", "recognition_memory.R"),
                               stdout = TRUE)
  say("```")
  for (line in recognition_lines) say(line)
  say("```")
}
say("")
# Models users bring themselves: offline training, R simulators through
# future, memory of stored simulations (bench/own_models.R, using say()).
source(file.path("bench", "own_models.R"), local = TRUE)

writeLines(lines, out_file)
cat("Results written to", out_file, "\n")
