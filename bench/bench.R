# Benchmarks (not tests): throughput of training and inference, and the
# Study 1 acceptance figures (accuracy and ECE after the paper's schedule).
# Run with `make bench`; BENCH_QUICK=1 skips the full training run. Results go
# to the console and to bench/results.md.

suppressPackageStartupMessages(library(deepbmc))

quick <- nzchar(Sys.getenv("BENCH_QUICK"))
out_file <- file.path("bench", "results.md")
lines <- character()
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
say("# deepbmc benchmarks")
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
}
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

writeLines(lines, out_file)
cat("Results written to", out_file, "\n")
