# Where the gap between the network and bridge sampling on lme4::grouseticks
# comes from (issue 29). bench/grouseticks.R gives PMP(poisson_olre) 0.32 from
# the network and 0.937 from brms + bridgesampling. This script trains the same
# network (same models, priors, calls and seeds as grouseticks.R; results do
# not depend on threads) and measures:
#   A. where the real data lie among the models' prior predictives: six plain
#      statistics of 2,000 simulated data sets per model, the real data's
#      percentile under each model, and the network's PMPs on the simulated
#      sets nearest the real data on those statistics (with the share of each
#      true model among them, a crude ABC estimate of the PMPs);
#   B. network against brms + bridge sampling (fitted exactly as in
#      grouseticks.R, compiled once on the real data and re-used through
#      update(newdata = )) on simulated data sets nearest the real data, 3 per
#      model at least, more while the time budget allows.
#
#   R_LIBS=... Rscript bench/grouseticks_gap.R
#
# Environment: GROUSETICKS_GAP_THREADS (threads for training, default 1),
# GROUSETICKS_GAP_MINUTES (budget of the whole run; measurement B starts no
# data set that would not end within it; default 40), GROUSETICKS_GAP_FIT (an
# .rds path: the trained fit is read from it if it exists, else saved there).
# Results: bench/results/grouseticks_gap.md. About 35 to 40 minutes on 1 core
# (the budget): training about 6, measurement A under 1, brms on the real data
# 3 (compiling) and about 1.5 per simulated data set (17 sets in the recorded
# run, made with GROUSETICKS_GAP_MINUTES=36: 2090 s).

source("bench/grouseticks_models.R")
run_started <- proc.time()[["elapsed"]]
elapsed <- function() proc.time()[["elapsed"]] - run_started
threads <- as.integer(Sys.getenv("GROUSETICKS_GAP_THREADS", "1"))
budget <- 60 * as.numeric(Sys.getenv("GROUSETICKS_GAP_MINUTES", "40"))
fit_path <- Sys.getenv("GROUSETICKS_GAP_FIT", "")
model_names <- models$model_names

# Training: the two calls of grouseticks.R (validation left out).
started <- proc.time()[["elapsed"]]
if (nzchar(fit_path) && file.exists(fit_path)) {
  fit <- readRDS(fit_path)
  train_note <- paste0("read from ", fit_path)
} else {
  first_phase <- train_comparison(models, epochs = 30, patience = 3,
                                  learning_rate = 1e-3, seed = 1,
                                  threads = threads, progress = FALSE)
  fit <- train_comparison(models, init = first_phase, epochs = 5,
                          learning_rate = 2e-4, seed = 5, threads = threads,
                          progress = FALSE)
  if (nzchar(fit_path)) saveRDS(fit, fit_path)
  train_note <- paste0(first_phase$training$steps_done, " + 5000 steps on ",
                       threads, " thread", if (threads > 1) "s")
}
train_seconds <- proc.time()[["elapsed"]] - started
network_real <- as.vector(post_prob(fit, ticks, threads = 1))

record("# Where the grouseticks gap comes from")
record("")
record("Machine: ", Sys.info()[["nodename"]], ", ",
       parallel::detectCores(), " cores; ", format(Sys.time(), "%Y-%m-%d"),
       ". Command: `Rscript bench/grouseticks_gap.R`.")
record("")
record("Network trained as in bench/grouseticks.R (", train_note, ", ",
       round(train_seconds), " s); holdout loss at the end ",
       format(utils::tail(fit$holdout_history$loss, 1), digits = 3),
       ". Its PMPs on the real data: ",
       paste0(model_names, " ", format(network_real, digits = 3),
              collapse = ", "), ".")

# ---------------------------------------------------------------------------
# A. Where the real data lie
# ---------------------------------------------------------------------------

per_model <- 2000
sims <- simulate_datasets(models, n = 6600, seed = 11, threads = 1)
keep <- unlist(lapply(seq_len(models$n_models), function(k) {
  which(sims$model == k)[seq_len(per_model)]
}))
stopifnot(!anyNA(keep))
sim_data <- sims$data[keep]
sim_model <- sims$model[keep]

skewness <- function(x) {
  m2 <- mean((x - mean(x))^2)
  if (m2 == 0) return(0)
  mean((x - mean(x))^3) / m2^1.5
}
statistics <- function(d) {
  y <- d$TICKS
  l <- log1p(y)
  brood_means <- stats::ave(l, d$BROOD)
  c(
    zero_share = mean(y == 0),
    log_var_mean = if (mean(y) > 0) log(stats::var(y) / mean(y)) else 0,
    mean_log1p = mean(l),
    skew_log1p = skewness(l),
    max_count = max(y),
    brood_share = if (stats::var(l) > 0) {
      stats::var(brood_means) / stats::var(l)
    } else {
      0
    }
  )
}
stat_labels <- c(
  zero_share = "share of zero counts",
  log_var_mean = "log(variance / mean)",
  mean_log1p = "mean log(1 + count)",
  skew_log1p = "skewness of log(1 + count)",
  max_count = "max count",
  brood_share = "between-brood share of variance of log(1 + count)"
)
real_stats <- statistics(ticks)
sim_stats <- t(vapply(sim_data, statistics, numeric(length(real_stats))))

# Percentile with ties split: 50 is the median of the prior predictive.
percentile <- function(sim, real) {
  100 * (mean(sim < real) + 0.5 * mean(sim == real))
}
record("")
record("## A. Where the real data lie")
record("")
record("Prior predictive: ", per_model, " simulated data sets per model ",
       "(simulate_datasets(models, 6600, seed = 11), the first ", per_model,
       " of each model). Percentile of the real data's value among each ",
       "model's simulations (ties split; below 2.5 or above 97.5 is the ",
       "tail), with the simulations' median in brackets.")
record("")
record("| statistic | real data | ",
       paste(model_names, collapse = " | "), " |")
record("|---|---|", strrep("---|", models$n_models))
for (s in names(real_stats)) {
  cells <- vapply(seq_len(models$n_models), function(k) {
    values <- sim_stats[sim_model == k, s]
    paste0(format(percentile(values, real_stats[[s]]), digits = 3,
                  nsmall = 1), " (", format(stats::median(values),
                                            digits = 3), ")")
  }, character(1))
  record("| ", stat_labels[[s]], " | ", format(real_stats[[s]], digits = 3),
         " | ", paste(cells, collapse = " | "), " |")
}

# Nearest simulated sets: statistics standardized by the median and MAD of
# all simulations (the max count on the log scale: prior predictive counts
# reach millions), Euclidean distance.
transform <- function(x) {
  x[, "max_count"] <- log1p(x[, "max_count"])
  x
}
all_t <- transform(sim_stats)
centre <- apply(all_t, 2, stats::median)
spread <- apply(all_t, 2, stats::mad)
scale_stats <- function(x) sweep(sweep(x, 2, centre), 2, spread, "/")
z_sim <- scale_stats(all_t)
z_real <- scale_stats(transform(matrix(real_stats, nrow = 1,
                                       dimnames = list(NULL,
                                                       names(real_stats)))))
distance_to <- function(z) sqrt(rowSums(sweep(z_sim, 2, z)^2))
d_real <- distance_to(z_real[1, ])
order_real <- order(d_real)

network_sim <- post_prob(fit, sim_data, threads = 1)
accuracy <- mean(max.col(network_sim) == sim_model)

# How far the real data are from the simulations, against simulated sets:
# the distance to the 50th nearest simulation, for the real data and for 300
# simulated sets (themselves left out).
set.seed(12)
probe <- sample(length(sim_data), 300)
kth <- function(d, k) sort(d)[k]
probe_50 <- vapply(probe, function(i) {
  d <- distance_to(z_sim[i, ])
  kth(d[-i], 50)
}, numeric(1))
real_50 <- kth(d_real, 50)

record("")
record("Network on all ", length(sim_data), " simulated sets: accuracy ",
       format(accuracy, digits = 3), ". Distance (standardized statistics) ",
       "from the real data to its 50th nearest simulation: ",
       format(real_50, digits = 3), "; for 300 simulated sets the same ",
       "distance has median ", format(stats::median(probe_50), digits = 3),
       " and 95th percentile ", format(stats::quantile(probe_50, 0.95),
                                       digits = 3), " (the real data's is at ",
       "percentile ", format(percentile(probe_50, real_50), digits = 3),
       ").")
record("")
record("Simulated sets nearest the real data (all models pooled, uniform ",
       "model prior as in training): the share of each true model among ",
       "them (a crude ABC estimate of the PMPs on these statistics) and the ",
       "network's mean PMP on them.")
record("")
record("| nearest | max distance | ",
       paste0("true ", model_names, " share", collapse = " | "), " | ",
       paste0("network mean PMP ", model_names, collapse = " | "), " |")
record("|---|---|", strrep("---|", 2 * models$n_models))
for (k in c(20, 50, 200)) {
  near <- order_real[seq_len(k)]
  share <- tabulate(sim_model[near], models$n_models) / k
  mean_pmp <- colMeans(network_sim[near, , drop = FALSE])
  record("| ", k, " | ", format(d_real[near[k]], digits = 3), " | ",
         paste(format(share, digits = 2), collapse = " | "), " | ",
         paste(format(mean_pmp, digits = 2), collapse = " | "), " |")
}
record("")
record("The 50 nearest within each model's own simulations: the network's ",
       "mean PMPs there (what it says on data like the real one that model ",
       "made).")
record("")
record("| true model | distance, 1st / 50th | ",
       paste0("mean PMP ", model_names, collapse = " | "),
       " | network picks the true model |")
record("|---|---|", strrep("---|", models$n_models), "---|")
for (m in seq_len(models$n_models)) {
  own <- which(sim_model == m)
  near <- own[order(d_real[own])][1:50]
  mean_pmp <- colMeans(network_sim[near, , drop = FALSE])
  record("| ", model_names[[m]], " | ",
         format(d_real[near[1]], digits = 3), " / ",
         format(d_real[near[50]], digits = 3), " | ",
         paste(format(mean_pmp, digits = 2), collapse = " | "), " | ",
         format(mean(max.col(network_sim[near, , drop = FALSE]) == m),
                digits = 2), " |")
}
a_seconds <- elapsed()

# ---------------------------------------------------------------------------
# B. Network against bridge sampling on simulated data sets
# ---------------------------------------------------------------------------

bridge_pmp <- function(logml) {
  exp(logml - max(logml)) / sum(exp(logml - max(logml)))
}
brms_available <- requireNamespace("brms", quietly = TRUE) &&
  requireNamespace("bridgesampling", quietly = TRUE)
b_rows <- list()
if (brms_available) {
  restore <- deepbmc:::use_system_boost()
  # The fits of grouseticks.R on the real data (cores = 1): they compile the
  # three models and check the bridge PMPs 0.937 there.
  started <- proc.time()[["elapsed"]]
  base_fits <- lapply(models$models, function(model) {
    suppressMessages(suppressWarnings(brms::brm(
      brms_formula(model), data = ticks, family = brms_family(model),
      prior = brms_prior(model), save_pars = brms::save_pars(all = TRUE),
      chains = 2, iter = 3000, warmup = 1000, seed = 3, refresh = 0,
      cores = 1, control = list(adapt_delta = 0.95)
    )))
  })
  logml_of <- function(brm_fit) {
    tryCatch(suppressMessages(suppressWarnings(
      bridgesampling::bridge_sampler(brm_fit, silent = TRUE, seed = 4)$logml
    )), error = function(e) NA_real_)
  }
  real_logml <- vapply(base_fits, logml_of, numeric(1))
  real_seconds <- proc.time()[["elapsed"]] - started
  bridge_real <- bridge_pmp(real_logml)

  # Candidates: the simulated sets nearest the real data within each model,
  # taken in turn (nearest poisson, nearest poisson_olre, nearest negbinomial,
  # second nearest poisson, ...).
  nearest_own <- lapply(seq_len(models$n_models), function(m) {
    own <- which(sim_model == m)
    own[order(d_real[own])][1:20]
  })
  candidates <- as.vector(do.call(rbind, nearest_own))
  set_seconds <- numeric()
  for (i in candidates) {
    expected <- if (length(set_seconds)) max(set_seconds) else 150
    if (length(set_seconds) >= 3 * models$n_models &&
        elapsed() + expected > budget) {
      break
    }
    if (elapsed() + expected > budget + 600) break
    started <- proc.time()[["elapsed"]]
    d <- sim_data[[i]]
    logml <- vapply(base_fits, function(base) {
      refit <- tryCatch(suppressMessages(suppressWarnings(stats::update(
        base, newdata = d, recompile = FALSE,
        save_pars = brms::save_pars(all = TRUE), chains = 2, iter = 3000,
        warmup = 1000, seed = 3, refresh = 0, cores = 1,
        control = list(adapt_delta = 0.95)
      ))), error = function(e) NULL)
      if (is.null(refit)) NA_real_ else logml_of(refit)
    }, numeric(1))
    set_seconds <- c(set_seconds, proc.time()[["elapsed"]] - started)
    b_rows[[length(b_rows) + 1]] <- list(
      index = i, model = sim_model[[i]], distance = d_real[[i]],
      network = network_sim[i, ], bridge = bridge_pmp(logml),
      seconds = utils::tail(set_seconds, 1)
    )
    say("  set ", i, " (", model_names[[sim_model[[i]]]], ") in ",
        round(utils::tail(set_seconds, 1)), " s; elapsed ",
        round(elapsed()), " s")
  }
  restore()
}

record("")
record("## B. Network against brms + bridge sampling")
record("")
if (!brms_available) {
  record("brms or bridgesampling not installed: not run.")
} else {
  record("brms fits as in grouseticks.R (2 chains of 3000 iterations, 1000 ",
         "warmup, adapt_delta 0.95, seed 3; bridge_sampler seed 4), on 1 ",
         "core. Real data (compiles the three models): ", round(real_seconds),
         " s; bridge PMPs ", paste0(model_names, " ",
                                    format(bridge_real, digits = 3),
                                    collapse = ", "), ".")
  record("")
  record("Simulated data sets: those nearest the real data (standardized ",
         "statistics of A) within each model's simulations, in turn, while ",
         "the time budget allowed: ", length(b_rows), " sets, ",
         round(mean(set_seconds)), " s each for the three refits and bridge ",
         "sampling. PMPs as poisson / poisson_olre / negbinomial.")
  record("")
  record("| set | true model | distance | network PMPs | bridge PMPs | ",
         "max abs difference | network's PMP of the true model | bridge's |")
  record("|---|---|---|---|---|---|---|---|")
  fmt3 <- function(p) paste(formatC(p, format = "f", digits = 3),
                            collapse = " / ")
  diffs <- matrix(NA_real_, length(b_rows), models$n_models)
  for (r in seq_along(b_rows)) {
    row <- b_rows[[r]]
    diffs[r, ] <- abs(row$network - row$bridge)
    record("| ", row$index, " | ", model_names[[row$model]], " | ",
           format(row$distance, digits = 2), " | ", fmt3(row$network), " | ",
           fmt3(row$bridge), " | ",
           formatC(max(diffs[r, ]), format = "f", digits = 3), " | ",
           formatC(row$network[[row$model]], format = "f", digits = 3), " | ",
           formatC(row$bridge[[row$model]], format = "f", digits = 3), " |")
  }
  record("| real data | | 0 | ", fmt3(network_real), " | ",
         fmt3(bridge_real), " | ",
         formatC(max(abs(network_real - bridge_real)), format = "f",
                 digits = 3), " | | |")
  if (length(b_rows)) {
    true_net <- vapply(b_rows, function(r) r$network[[r$model]], numeric(1))
    true_bridge <- vapply(b_rows, function(r) r$bridge[[r$model]],
                          numeric(1))
    entropy <- function(p) {
      p <- p[p > 0]
      -sum(p * log(p))
    }
    record("")
    record("Over the ", length(b_rows), " simulated sets: mean |network - ",
           "bridge| per model ",
           paste0(model_names, " ",
                  format(colMeans(diffs, na.rm = TRUE), digits = 2),
                  collapse = ", "),
           "; mean of the largest per set ",
           format(mean(apply(diffs, 1, max), na.rm = TRUE), digits = 2),
           "; sets with a difference above 0.1: ",
           sum(apply(diffs, 1, max) > 0.1, na.rm = TRUE), ". Mean PMP of ",
           "the true model: network ", format(mean(true_net), digits = 3),
           ", bridge ", format(mean(true_bridge, na.rm = TRUE), digits = 3),
           ". Mean entropy of the PMPs (nats; 0 is certain, ",
           format(log(models$n_models), digits = 3), " uniform): network ",
           format(mean(vapply(b_rows, function(r) entropy(r$network),
                              numeric(1))), digits = 3),
           ", bridge ",
           format(mean(vapply(b_rows, function(r) entropy(r$bridge),
                              numeric(1)), na.rm = TRUE), digits = 3), ".")
  }
}
record("")
record("Run time ", round(elapsed()), " s (training ", round(train_seconds),
       " s, measurement A ", round(a_seconds - train_seconds), " s, ",
       "measurement B ", round(elapsed() - a_seconds), " s).")

dir.create("bench/results", showWarnings = FALSE, recursive = TRUE)
writeLines(lines, "bench/results/grouseticks_gap.md")
