# Level and power of misspecification_test() (issue 30) on four model sets.
#
#   R_LIBS=... Rscript bench/misspecification.R          measure (~20 min)
#   R_LIBS=... Rscript bench/misspecification.R levy     one set again
#   R_LIBS=... Rscript bench/misspecification.R --report rewrite the .md
#
# For each set: a trained network (Study 1 at the paper's 50 x 50, default
# schedule, about 2 minutes; lme4::sleepstudy's flat vs linear gaussian
# models of vignette("formula-models"), 3 x 1000 steps; the shipped SDT/2HTM
# network of vignette("recognition-memory") and the Levy-flight network of
# vignette("levy-flights")); the test at its defaults (n = 4000 reference
# data sets, level 0.05, seed 1); the share flagged among 1,000 data sets
# simulated from each candidate model (seed 2; the issue's goal: 0.03-0.07)
# and among 200 data sets from each alternative no candidate produces.

suppressPackageStartupMessages(library(deepbmc))
say <- function(...) cat(..., "\n", sep = "")
threads <- 2L
results_dir <- file.path("bench", "results")
rds_path <- file.path(results_dir, "misspecification.rds")
md_path <- file.path(results_dir, "misspecification.md")
n_alternative <- 200L

# The share flagged per candidate model among about 1,000 data sets each.
level_by_model <- function(fit) {
  n_models <- fit$models$n_models
  # in chunks of 1,000 data sets (seeds 2, 3, ...): the Levy-flight design
  # holds 16,320 trials per data set
  chunks <- lapply(seq_len(n_models), function(i) {
    sims <- simulate_datasets(fit$models, n = 1000L, seed = 1 + i,
                              threads = threads, progress = FALSE)
    result <- suppressWarnings(misspecification_test(fit, sims, threads = threads))
    result$model <- sims$model
    result
  })
  result <- do.call(rbind, chunks)
  sims <- list(model = result$model)
  flagged <- tapply(result$verdict == "misspecified", sims$model, mean)
  counts <- tabulate(sims$model, n_models)
  data.frame(model = fit$models$model_names, n = counts,
             flagged = as.numeric(flagged),
             flagged_data_part = as.numeric(tapply(result$p_data_set < 0.05, sims$model, mean)),
             flagged_group_part = as.numeric(tapply(result$p_groups < 0.05, sims$model, mean)))
}

power <- function(fit, alternatives, ...) {
  do.call(rbind, lapply(names(alternatives), function(name) {
    data <- alternatives[[name]]
    result <- suppressWarnings(misspecification_test(fit, data, threads = threads, ...))
    data.frame(alternative = name, n = nrow(result),
               flagged = mean(result$verdict == "misspecified"),
               flagged_data_part = mean(result$p_data_set < 0.05),
               flagged_group_part = mean(result$p_groups < 0.05))
  }))
}

timed <- function(code) {
  started <- proc.time()[["elapsed"]]
  value <- code
  list(value = value, seconds = proc.time()[["elapsed"]] - started)
}

study1 <- function() {
  models <- normal_nested_models(groups = 50, obs = 50)
  fit <- train_comparison(models, seed = 1, threads = threads, progress = FALSE)
  set.seed(11)
  groups <- function(draw) lapply(1:n_alternative, function(i) {
    t(vapply(1:50, function(g) draw(), numeric(50)))
  })
  alternatives <- list(
    `t(3) noise` = groups(function() stats::rt(50, df = 3)),
    `Cauchy noise` = groups(function() stats::rt(50, df = 1)),
    `tenfold scale` = groups(function() stats::rnorm(50, sd = 10)),
    `bimodal group effects` = lapply(1:n_alternative, function(i) {
      t(vapply(1:50, function(g) stats::rnorm(50, sample(c(-3, 3), 1)), numeric(50)))
    }),
    `uniform noise` = groups(function() stats::runif(50, -5, 5))
  )
  list(fit = fit, alternatives = alternatives)
}

sleepstudy_set <- function() {
  data(sleepstudy, package = "lme4")
  priors <- c(
    hier_prior("normal(300, 50)", class = "Intercept"),
    hier_prior("normal(0, 10)", class = "b"),
    hier_prior("normal(0, 40)", class = "sd", coef = "Intercept"),
    hier_prior("normal(0, 8)", class = "sd", coef = "Days"),
    hier_prior("lkj(2)", class = "cor"),
    hier_prior("exponential(0.03)", class = "sigma")
  )
  models <- suppressMessages(model_set(
    flat = hier_model(Reaction ~ 1 + (1 + Days | Subject), sleepstudy,
                      prior = priors[-2, ]),
    linear = hier_model(Reaction ~ 1 + Days + (1 + Days | Subject), sleepstudy,
                        prior = priors)
  ))
  fit <- train_comparison(models, epochs = 3, iterations = 1000, seed = 1,
                          threads = threads, progress = FALSE)
  set.seed(12)
  subject_mean <- ave(sleepstudy$Reaction, sleepstudy$Subject)
  with_reaction <- function(make) lapply(1:n_alternative, function(i) {
    d <- sleepstudy
    d$Reaction <- make()
    d
  })
  n <- nrow(sleepstudy)
  subjects <- as.integer(sleepstudy$Subject)
  alternatives <- list(
    `t(2) residuals` = with_reaction(function() subject_mean + 30 * stats::rt(n, 2)),
    `lognormal, sd 0.8` = with_reaction(function() 300 * exp(stats::rnorm(n, 0, 0.8))),
    `bimodal subjects` = with_reaction(function() {
      stats::rnorm(n, c(150, 450)[sample(2, 18, TRUE)][subjects], 20)
    }),
    `uniform 0-1000 ms` = with_reaction(function() stats::runif(n, 0, 1000))
  )
  list(fit = fit, alternatives = alternatives)
}

recognition_set <- function() {
  fit <- readRDS(system.file("extdata", "recognition_fit.rds", package = "deepbmc"))
  set.seed(13)
  coin <- lapply(1:n_alternative, function(i) {
    do.call(rbind, lapply(1:40, function(p) {
      data.frame(participant = p, stimulus = rep(c(1L, 0L), each = 30),
                 response = stats::rbinom(60, 1, 0.5))
    }))
  })
  always_old <- lapply(1:n_alternative, function(i) {
    do.call(rbind, lapply(1:40, function(p) {
      data.frame(participant = p, stimulus = rep(c(1L, 0L), each = 30),
                 response = stats::rbinom(60, 1, 0.9))
    }))
  })
  list(fit = fit, alternatives = list(`coin-flip responses` = coin,
                                      `"old" at 90%, whatever the item` = always_old))
}

levy_set <- function() {
  fit <- readRDS(system.file("extdata", "levy_fit.rds", package = "deepbmc"))
  sims <- simulate_datasets(fit$models, n = n_alternative, seed = 14,
                            threads = threads, progress = FALSE)
  set.seed(14)
  contaminate <- function(share) lapply(sims$data, function(d) {
    hit <- stats::runif(nrow(d)) < share
    d$rt[hit] <- stats::runif(sum(hit), 0.1, 3)
    d$response[hit] <- stats::rbinom(sum(hit), 1, 0.5)
    d
  })
  random_responses <- lapply(sims$data, function(d) {
    d$response <- stats::rbinom(nrow(d), 1, 0.5)
    d
  })
  list(fit = fit, alternatives = list(
    `10% contaminant trials` = contaminate(0.1),
    `30% contaminant trials` = contaminate(0.3),
    `random responses` = random_responses
  ))
}

# All sets, or those named on the command line (the others are kept from
# the last run).
run <- function(only = NULL) {
  sets <- list(study1 = study1, sleepstudy = sleepstudy_set,
               recognition = recognition_set, levy = levy_set)
  out <- if (length(only) > 0 && file.exists(rds_path)) readRDS(rds_path)$sets else list()
  for (name in if (length(only) > 0) only else names(sets)) {
    say("== ", name)
    set <- timed(sets[[name]]())
    reference <- timed(misspecification_test(set$value$fit,
                                             simulate_datasets(set$value$fit$models, n = 1, seed = 99),
                                             threads = threads))
    level <- timed(level_by_model(set$value$fit))
    alt <- timed(power(set$value$fit, set$value$alternatives))
    out[[name]] <- list(level = level$value, power = alt$value,
                        setup_seconds = set$seconds,
                        reference_seconds = reference$seconds,
                        per_data_set_ms = 1000 * alt$seconds /
                          sum(alt$value$n))
    print(level$value)
    print(alt$value)
    # after every set, so that a failure keeps what was measured
    saveRDS(list(sets = out[intersect(names(sets), names(out))],
                 machine = Sys.info()[["nodename"]], date = Sys.Date()),
            rds_path)
  }
}

report <- function() {
  result <- readRDS(rds_path)
  f <- function(x) formatC(x, digits = 3, format = "f")
  lines <- c(
    "# misspecification_test(): level and power",
    "",
    sprintf("`Rscript bench/misspecification.R`, %s, machine `%s`, 2 threads; defaults (4,000 reference data sets, level 0.05).",
            format(result$date), result$machine),
    "`flagged`: the combined test; `data part`, `group part`: each part alone at 0.05.",
    "",
    "## Level: data sets from the candidate models (goal 0.03-0.07)",
    "",
    "| set | model | n | flagged | data part | group part |",
    "|---|---|---|---|---|---|"
  )
  rows <- function(part, first) {
    unlist(lapply(names(result$sets), function(name) {
      r <- result$sets[[name]][[part]]
      sprintf("| %s | %s | %d | %s | %s | %s |", name, r[[first]], r$n,
              f(r$flagged), f(r$flagged_data_part), f(r$flagged_group_part))
    }))
  }
  lines <- c(lines, rows("level", "model"), "",
             "## Power: data no candidate produces", "",
             "| set | alternative | n | flagged | data part | group part |",
             "|---|---|---|---|---|---|", rows("power", "alternative"))
  lines <- c(lines, "", "## Cost", "",
             "| set | reference simulations (s, once per fit) | per data set afterwards (ms) |",
             "|---|---|---|")
  for (name in names(result$sets)) {
    s <- result$sets[[name]]
    lines <- c(lines, sprintf("| %s | %.0f | %.1f |", name, s$reference_seconds,
                              s$per_data_set_ms))
  }
  writeLines(lines, md_path)
  cat(lines, sep = "\n")
}

args <- commandArgs(trailingOnly = TRUE)
if (!("--report" %in% args)) {
  run(setdiff(args, "--report"))
}
report()
