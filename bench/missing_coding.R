# Indicator coding vs the paper's placeholder coding of missing values (issue
# 16), on one model set where missingness matters: observations (x, y) in
# groups, y with or without a slope on the covariate x; y goes missing while
# x is known. Both networks are trained on the same stored simulations, with
# the same missing-value draws (share ~ U(0, 0.5) per data set, in y only),
# the same architecture, steps and seed; they differ only in how the network
# sees a missing y: [x, y * p, 1, p] (indicator), y replaced by the group's
# mean of its observed y (placeholder, the paper's choice for response times)
# or by 0 (a placeholder that collides with real values).
# Then both are validated on the same held-out simulations with missing y.
#
# Run from the package sources with the package installed:
#   Rscript bench/missing_coding.R        (full scale, about 5-10 min on 2 cores)
#   BENCH_QUICK=1 Rscript bench/missing_coding.R
# Writes bench/results/missing_coding.md (and .rds).
library(deepbmc)

quick <- nzchar(Sys.getenv("BENCH_QUICK"))
threads <- 2
n_train <- if (quick) 1000 else 20000
n_test <- if (quick) 400 else 4000
epochs <- if (quick) 2 else 25
started <- Sys.time()

sim_model <- function(slope) {
  function() {
    n_groups <- sample(10:20, 1)
    size <- sample(10:20, n_groups, replace = TRUE)
    group <- rep(seq_len(n_groups), size)
    x <- rnorm(length(group))
    b <- if (slope) rnorm(1, sd = 0.5) else 0
    u <- rnorm(n_groups, sd = 0.5)
    data.frame(group = group, x = x, y = b * x + u[group] + rnorm(length(x)))
  }
}
models <- simulator_models(flat = sim_model(FALSE), slope = sim_model(TRUE))
t0 <- Sys.time()
train_sims <- simulate_datasets(models, n = n_train, seed = 1)
test_sims <- simulate_datasets(models, n = n_test, seed = 2)
simulate_seconds <- as.double(difftime(Sys.time(), t0, units = "secs"))

network <- hierarchical_network(
  s1 = c(16, 32), s2 = c(16, 32), s3 = c(16, 32), summary_dim = c(8, 8),
  head_units = 32
)
train <- function(coding, placeholder = NULL) {
  missing <- missing_values(share = c(0, 0.5), features = "y", coding = coding,
                            placeholder = placeholder)
  t0 <- Sys.time()
  fit <- train_comparison(models, network = network, simulations = train_sims,
                          epochs = epochs, missing = missing, seed = 3,
                          threads = threads, progress = FALSE)
  list(fit = fit, seconds = as.double(difftime(Sys.time(), t0, units = "secs")))
}
runs <- list(
  indicator = train("indicator"),
  `placeholder (group mean)` = train("placeholder"),
  # a constant inside the range of y: a missing y reads as y = 0
  `placeholder (0)` = train("placeholder", placeholder = c(x = 0, y = 0))
)

test_shares <- list(`U(0, 0.5)` = c(0, 0.5), `0` = 0, `0.25` = 0.25,
                    `0.5` = 0.5)
rows <- list()
for (coding in names(runs)) {
  for (label in names(test_shares)) {
    v <- validate(runs[[coding]]$fit, simulations = test_sims, seed = 4,
                  boot = 200, threads = threads,
                  missing = missing_values(share = test_shares[[label]],
                                           features = "y"))
    e <- v$estimates
    pick <- function(metric, model = NA) {
      row <- e$metric == metric & (if (is.na(model)) is.na(e$model) else
        e$model %in% model)
      sprintf("%.3f [%.3f, %.3f]", e$estimate[row], e$conf_low[row],
              e$conf_high[row])
    }
    rows[[length(rows) + 1]] <- data.frame(
      coding = coding, test_share = label,
      accuracy = pick("accuracy"), log_score = pick("log_score"),
      ece_flat = pick("ece", "flat"), ece_slope = pick("ece", "slope")
    )
  }
}
table <- do.call(rbind, rows)
total <- as.double(difftime(Sys.time(), started, units = "mins"))
saveRDS(list(table = table, runs = lapply(runs, `[[`, "seconds")),
        "bench/results/missing_coding.rds")

md <- c(
  "<!-- Written by bench/missing_coding.R -->",
  "# Missing values: indicator coding vs placeholder coding",
  "",
  paste0("- date: ", format(Sys.time(), "%Y-%m-%d %H:%M UTC", tz = "UTC"),
         if (quick) " (BENCH_QUICK)" else ""),
  "- models: simulator_models() flat vs slope: y = b x + u_group + e,",
  "  b = 0 or b ~ N(0, 0.5^2), u ~ N(0, 0.5^2), x ~ N(0, 1); 10-20 groups of",
  "  10-20 observations (x, y)",
  paste0("- training: ", n_train, " stored simulations, ", epochs,
         " epochs (one pass each), batch 32, seed 3, ", threads, " threads;",
         " missing_values(share = c(0, 0.5), features = \"y\") drawn afresh",
         " every step, identical for both codings"),
  "- placeholder (group mean): y replaced by the group's mean of its",
  "  observed y (the paper's coding for response times); placeholder (0):",
  "  y replaced by 0, a value y takes; indicator: [x, y * p, 1, p]",
  paste0("- held out: ", n_test, " other simulations, the same missing",
         " draws for both networks (validate(seed = 4)); 95% bootstrap",
         " intervals (200 resamples)"),
  sprintf("- time: simulation %.0f s; training %s s; whole script %.1f min",
          simulate_seconds,
          paste(sprintf("%.0f (%s)", vapply(runs, `[[`, 0, "seconds"),
                        names(runs)), collapse = ", "),
          total),
  "",
  "| coding | share of y missing (test) | accuracy | log score | ECE flat | ECE slope |",
  "|---|---|---|---|---|---|",
  sprintf("| %s | %s | %s | %s | %s | %s |", table$coding, table$test_share,
          table$accuracy, table$log_score, table$ece_flat, table$ece_slope)
)
writeLines(md, "bench/results/missing_coding.md")
cat(md, sep = "\n")
