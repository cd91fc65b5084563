# Accuracy of network log Bayes factors against exact ones on Study 1
# (issue 14), for several training methods side by side.
#
#   R_LIBS=... Rscript bench/bf_accuracy.R [method ...]   train + evaluate
#   R_LIBS=... Rscript bench/bf_accuracy.R --report        rewrite bf_accuracy.md
#
# For every method: train on normal_nested_models(groups = 50, obs = 50) with
# the default schedule (10 x 1000 steps, batch 32, learning rate 5e-4), seed
# BF_SEED, 2 threads; then on 600 fresh data sets (simulate_datasets(seed =
# BF_TEST_SEED)) compare log BF(M1 vs M0) with the exact value from the
# package's numerical integration (deepbmc:::study1_log_ml_numeric), binned by
# the exact value as in the issue; plus accuracy, ECE and log score from
# validate(fit, n = 5000) and the training time.
#
# Results: bench/results/bf_accuracy_<method>.rds (raw log BFs, table,
# metrics); trained fits are kept in BF_FIT_DIR (default /tmp/bf14_fits) so
# that a rerun evaluates without training (BF_RETRAIN=1 trains again). The
# exact reference is cached in bench/results/study1_exact_*.rds (about 6 min
# to compute on one core). Each training takes 3-6 minutes at 2 threads on a
# quiet 2-core machine.

suppressPackageStartupMessages(library(deepbmc))

env_num <- function(name, default) {
  value <- Sys.getenv(name)
  if (nzchar(value)) as.numeric(value) else default
}

settings <- list(
  groups = env_num("BF_GROUPS", 50), obs = env_num("BF_OBS", 50),
  epochs = env_num("BF_EPOCHS", 10), iterations = env_num("BF_ITERATIONS", 1000),
  seed = env_num("BF_SEED", 14), test_seed = env_num("BF_TEST_SEED", 1414),
  n_test = env_num("BF_N_TEST", 600), n_validate = env_num("BF_N_VALIDATE", 5000),
  threads = 2
)
results_dir <- file.path("bench", "results")
fit_dir <- Sys.getenv("BF_FIT_DIR", "/tmp/bf14_fits")
dir.create(results_dir, showWarnings = FALSE, recursive = TRUE)
dir.create(fit_dir, showWarnings = FALSE, recursive = TRUE)
tm <- deepbmc:::training_method
`%||%` <- function(x, y) if (is.null(x)) y else x

# The methods compared (names are file names).
methods <- list(
  classifier = "classifier",
  # Jeffrey & Wandelt (2024): l-POP transform + exponential loss
  evidence_network = tm(loss = "exponential", output = "lpop", output_power = 2,
                        name = "evidence_network"),
  exponential = tm(loss = "exponential"),
  log_lpop2 = tm(output = "lpop", output_power = 2),
  size_subsample = tm(size_scaled = TRUE, subsample = 0.5),
  subsample = tm(subsample = 0.5),
  size_subsample_exp = tm(loss = "exponential", size_scaled = TRUE, subsample = 0.5),
  summary_rates_subsample = tm(size_scaled = TRUE, rates = "summary", subsample = 0.5),
  laplace_subsample = tm(size_scaled = TRUE, rates = "laplace", subsample = 0.5),
  weighted = tm(loss = "weighted_log"),
  weighted_summary_subsample = tm(loss = "weighted_log", size_scaled = TRUE, rates = "summary",
                                  subsample = 0.5),
  weighted10_summary_subsample = tm(loss = "weighted_log", size_scaled = TRUE,
                                    rates = "summary", subsample = 0.5, weight_cap = 10),
  summary_logsub = tm(size_scaled = TRUE, rates = "summary", subsample = 0.7, log_sizes = TRUE)
)

describe_method <- function(method) {
  m <- deepbmc:::check_training_method(method)
  paste0(
    "loss ", m$loss, ", output ", m$output,
    if (m$output == "lpop") paste0(" (power ", m$output_power, ")"),
    if (m$size_scaled) paste0(", size-scaled head (rates from the ", m$rates, ")"),
    if (m$loss == "weighted_log") paste0(" (weight cap ", m$weight_cap %||% 50, ")"),
    if (m$subsample > 0) paste0(", subsample ", m$subsample,
                                if (isTRUE(m$log_sizes)) " (log-uniform sizes)")
  )
}

# ---- exact reference --------------------------------------------------------

exact_path <- file.path(results_dir, sprintf(
  "study1_exact_%dx%d_n%d_seed%d.rds", settings$groups, settings$obs,
  settings$n_test, settings$test_seed
))

study1_exact <- function(sims) {
  t(vapply(sims$data, function(x) {
    groups <- unname(split(x, row(x)))
    c(
      m0 = as.numeric(deepbmc:::study1_log_ml_numeric(groups, "M0")),
      m1 = as.numeric(deepbmc:::study1_log_ml_numeric(groups, "M1"))
    )
  }, numeric(2)))
}

models <- normal_nested_models(groups = settings$groups, obs = settings$obs)
sims <- simulate_datasets(models, n = settings$n_test, seed = settings$test_seed)
if (file.exists(exact_path)) {
  exact <- readRDS(exact_path)
} else {
  started <- proc.time()[["elapsed"]]
  ml <- study1_exact(sims)
  exact <- data.frame(model = sims$model, log_ml0 = ml[, "m0"],
                      log_ml1 = ml[, "m1"], log_bf = ml[, "m1"] - ml[, "m0"])
  attr(exact, "seconds") <- proc.time()[["elapsed"]] - started
  saveRDS(exact, exact_path)
}

# ---- tables -----------------------------------------------------------------

bin_breaks <- c(-Inf, 0, 5, 10, 20, 50, Inf)
bin_labels <- c("below 0", "0 to 5", "5 to 10", "10 to 20", "20 to 50", "above 50")

# Within max(10% relative, 0.5 absolute) of the exact value: the issue's goal.
within_goal <- function(network, exact) abs(network - exact) <= pmax(0.1 * abs(exact), 0.5)

bf_table <- function(network, exact) {
  bin <- cut(exact, bin_breaks, labels = bin_labels)
  rows <- lapply(levels(bin), function(b) {
    i <- which(bin == b)
    if (length(i) == 0) {
      return(data.frame(bin = b, n = 0L, median_exact = NA, median_network = NA,
                        mean_abs_error = NA, median_rel_error = NA, within_goal = NA))
    }
    data.frame(
      bin = b, n = length(i), median_exact = median(exact[i]),
      median_network = median(network[i]),
      mean_abs_error = mean(abs(network[i] - exact[i])),
      median_rel_error = median(abs(network[i] - exact[i]) / pmax(abs(exact[i]), 1)),
      within_goal = mean(within_goal(network[i], exact[i]))
    )
  })
  do.call(rbind, rows)
}

# ---- one method -------------------------------------------------------------

run_method <- function(name) {
  method <- methods[[name]]
  fit_path <- file.path(fit_dir, paste0(name, ".rds"))
  if (file.exists(fit_path) && !nzchar(Sys.getenv("BF_RETRAIN"))) {
    fit <- readRDS(fit_path)
  } else {
    fit <- train_comparison(
      models, epochs = settings$epochs, iterations = settings$iterations,
      batch_size = 32, learning_rate = 5e-4, threads = settings$threads,
      seed = settings$seed, progress = FALSE, method = method
    )
    saveRDS(fit, fit_path)
  }
  network <- bayes_factor(fit, sims$data, model1 = "M1", model2 = "M0",
                          threads = settings$threads)
  validation <- validate(fit, n = settings$n_validate, seed = settings$test_seed + 1,
                         boot = 0, threads = settings$threads)
  m0 <- validation$model == 1
  blind <- exp(validation$logits[m0, 2] - validation$logits[m0, 1])
  result <- list(
    name = name, description = describe_method(method), settings = settings,
    seconds = fit$training$seconds, log_bf = network, exact = exact$log_bf,
    table = bf_table(network, exact$log_bf),
    max_network = max(network), max_exact = max(exact$log_bf),
    accuracy = validation$metrics$accuracy, ece = validation$metrics$ece,
    log_score = validation$metrics$log_score,
    blind_mean = mean(blind), blind_se = sd(blind) / sqrt(length(blind))
  )
  saveRDS(result, file.path(results_dir, paste0("bf_accuracy_", name, ".rds")))
  result
}

format_result <- function(r) {
  t <- r$table
  fmt <- function(x, d = 1) ifelse(is.na(x), "-", formatC(x, digits = d, format = "f"))
  c(
    sprintf("### %s (%s)", r$name, r$description),
    "",
    sprintf(
      "Training %.0f s; validate(n = %d): accuracy %.3f, ECE %.4f / %.4f, log score %.4f; largest network log BF %.1f (exact %.1f); blind test mean exp(log BF) on M0 data %.2f +- %.2f.",
      r$seconds, r$settings$n_validate, r$accuracy, r$ece[[1]], r$ece[[2]],
      r$log_score, r$max_network, r$max_exact, r$blind_mean, r$blind_se
    ),
    "",
    "| exact log BF (M1 vs M0) | data sets | median exact | median network | mean abs error | median rel error | within 10% / 0.5 |",
    "|---|---|---|---|---|---|---|",
    sprintf("| %s | %d | %s | %s | %s | %s | %s |", t$bin, t$n, fmt(t$median_exact),
            fmt(t$median_network), fmt(t$mean_abs_error, 2), fmt(t$median_rel_error, 3),
            ifelse(is.na(t$within_goal), "-", sprintf("%.0f%%", 100 * t$within_goal))),
    ""
  )
}

args <- commandArgs(trailingOnly = TRUE)
if (identical(args, "--report")) {
  files <- list.files(results_dir, "^bf_accuracy_.*[.]rds$", full.names = TRUE)
  results <- lapply(files, readRDS)
  order <- match(vapply(results, `[[`, "", "name"), names(methods))
  results <- results[order(ifelse(is.na(order), 1e3, order))]
  writeLines(unlist(lapply(results, format_result)))
} else {
  todo <- if (length(args) > 0) args else names(methods)
  unknown <- setdiff(todo, names(methods))
  if (length(unknown) > 0) stop("unknown methods: ", paste(unknown, collapse = ", "))
  for (name in todo) {
    result <- run_method(name)
    writeLines(format_result(result))
  }
  # Stop inside this expression: R reads a script as it goes, and a child
  # process that exits can move the shared file offset (seen as a parse error
  # after the last line).
  quit(save = "no")
}
