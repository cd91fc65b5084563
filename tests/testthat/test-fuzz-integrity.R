test_tier("fast")

# Integrity of stored simulations and fits (issue 28): checksums of stored
# simulations checked at every use, what a fit was trained on and with
# inside its checksum, validations tied to their network, and classed errors
# for damaged objects and inputs that once failed deep inside. The fuzz
# tests at the end damage simulations and fits in a loop: every use either
# works (untouched objects) or is a classed deepbmc error.

integrity_models <- function() api_models()

integrity_cache <- new.env(parent = emptyenv())

integrity_sims <- function() {
  if (is.null(integrity_cache$sims)) {
    integrity_cache$sims <- simulate_datasets(integrity_models(), n = 24,
                                              seed = 1, threads = 1)
  }
  integrity_cache$sims
}

integrity_train <- function(simulations = integrity_sims(), epochs = 1, ...) {
  train_comparison(integrity_models(), api_network(),
                   simulations = simulations, epochs = epochs, batch_size = 8,
                   learning_rate = 1e-2, seed = 3, threads = 1,
                   progress = FALSE, ...)
}

integrity_fit <- function() {
  if (is.null(integrity_cache$fit)) {
    integrity_cache$fit <- integrity_train()
  }
  integrity_cache$fit
}

# Simulations edited on purpose and given a valid checksum again, as if
# simulated so: for tests of what training makes of such data.
with_sims_checksum <- function(sims) {
  sims$checksum <- deepbmc:::simulations_checksum(sims)
  sims
}

# A fit trained on the stored simulations for 2 of its 6 steps.
interrupted_fit <- function() {
  if (is.null(integrity_cache$partial)) {
    expect_warning(
      integrity_cache$partial <- interrupting_after("train_comparison", 1)(
        integrity_models(), api_network(), simulations = integrity_sims(),
        epochs = 2, batch_size = 8, learning_rate = 1e-2, seed = 3,
        threads = 1, progress = FALSE
      ),
      class = "deepbmc_interrupted_warning"
    )
  }
  integrity_cache$partial
}

# --- stored simulations: checksum and values --------------------------------

test_that("changed stored simulations are refused by every use", {
  sims <- integrity_sims()
  fit <- api_fit()
  expect_type(sims$checksum, "character")
  edits <- list(
    value = function(s) { s$batch$values[5] <- s$batch$values[5] + 0.5; s },
    negated = function(s) { s$batch$values <- -s$batch$values; s },
    mask = function(s) { s$batch$mask[3] <- !s$batch$mask[3]; s },
    labels = function(s) { s$model <- 3L - s$model; s },
    one_label = function(s) { s$model[1] <- 3L - s$model[1]; s },
    seed = function(s) { s$seed <- s$seed + 1; s },
    models = function(s) {
      s$models <- normal_nested_models(groups = c(2, 20), obs = c(1, 19))
      s
    },
    offsets = function(s) {
      # the first group one row longer, the second one shorter
      s$batch$group_offsets[2] <- s$batch$group_offsets[2] + 1L
      s
    }
  )
  for (name in names(edits)) {
    edited <- edits[[name]](sims)
    expect_deepbmc_error(integrity_train(edited), "data", "simulations",
                         label = name)
    expect_deepbmc_error(validate(fit, data = edited, boot = 0), "data",
                         "data", label = name)
    expect_deepbmc_error(post_prob(fit, edited), "data", "data", label = name)
    expect_deepbmc_error(edited[1:2], "data", label = name)
  }
})

test_that("checksums survive saving, subsetting and joining", {
  sims <- integrity_sims()
  file <- withr::local_tempfile(fileext = ".rds")
  saveRDS(sims, file, ascii = TRUE)
  loaded <- readRDS(file)
  expect_identical(deepbmc:::simulations_checksum(loaded), sims$checksum)
  expect_identical(post_prob(api_fit(), loaded), post_prob(api_fit(), sims))
  part <- sims[c(3, 1)]
  expect_identical(part$checksum, deepbmc:::simulations_checksum(part))
  joined <- c(sims[1:2], sims[3:4])
  expect_identical(joined$checksum, sims[1:4]$checksum)
  expect_identical(post_prob(api_fit(), joined),
                   post_prob(api_fit(), sims[1:4]))
})

test_that("simulations saved without a checksum are read with a message", {
  old <- integrity_sims()
  old$checksum <- NULL
  rlang::local_options(rlib_message_verbosity = "verbose")
  expect_message(probs <- post_prob(api_fit(), old),
                 class = "deepbmc_unchecked_message")
  expect_identical(probs, post_prob(api_fit(), integrity_sims()))
  # subsetting gives them one
  expect_message(part <- old[seq_along(old)],
                 class = "deepbmc_unchecked_message")
  expect_identical(part$checksum, integrity_sims()$checksum)
})

test_that("values the network cannot read are refused where they are made", {
  # (simulator_models() tries each function once, with the same check)
  expect_error(
    simulator_models(
      a = function() data.frame(group = c(1, 1, 2), y = c(1, 2, 3)),
      b = function() data.frame(group = c(1, 1, 2), y = c(1, 2e39, 3))
    ),
    class = "deepbmc_error_simulation"
  )
  calls <- 0
  huge <- simulator_models(
    a = function() data.frame(group = c(1, 1, 2), y = c(1, 2, 3)),
    b = function() {
      calls <<- calls + 1
      data.frame(group = c(1, 1, 2), y = c(1, if (calls > 1) 2e39 else 2, 3))
    }
  )
  err <- expect_error(simulate_datasets(huge, n = 6, seed = 1),
                      class = "deepbmc_error_simulation")
  expect_s3_class(err, "deepbmc_error")
  expect_identical(err$model, "b")
  expect_identical(err$problem, "float")
  # the same check for any model set, by data set
  sims <- integrity_sims()
  batch <- sims$batch
  batch$values[batch$group_offsets[batch$dataset_offsets[4] + 1] + 1] <- 1e39
  err <- expect_error(
    deepbmc:::check_simulated_values(list(batch = batch, model = sims$model),
                                     sims$models),
    class = "deepbmc_error_simulation"
  )
  expect_identical(err$index, 4L)
  expect_length(err$simulations, 3L)
  # stored ones (damaged, or saved without a checksum) are refused at use,
  # by a classed error rather than an internal one
  for (value in list(1e39, -Inf, NaN, NA_real_)) {
    bad <- sims
    bad$batch$values[1] <- value
    bad <- with_sims_checksum(bad)
    expect_deepbmc_error(integrity_train(bad), "data", "simulations",
                         label = format(value))
    expect_deepbmc_error(post_prob(api_fit(), bad), "data", "data",
                         label = format(value))
  }
})

# --- what a fit was trained on and with (resume_training()) -----------------

test_that("resume_training() refuses other simulations of the same count", {
  partial <- interrupted_fit()
  sims <- integrity_sims()
  expect_identical(partial$training$simulations_checksum, sims$checksum)
  negated <- sims
  negated$batch$values <- -negated$batch$values
  others <- list(
    reordered = sims[c(2, 1, 3:24)],
    negated = with_sims_checksum(negated),
    other_seed = simulate_datasets(integrity_models(), n = 24, seed = 2,
                                   threads = 1)
  )
  for (name in names(others)) {
    expect_deepbmc_error(resume_training(partial, others[[name]],
                                         progress = FALSE, threads = 1),
                         "mismatch", "simulations", label = name)
  }
  # the same ones continue the run exactly
  resumed <- resume_training(partial, sims, progress = FALSE, threads = 1)
  expect_identical(resumed$weights, integrity_train(epochs = 2)$weights)
})

test_that("a fit's training settings and Adam state are in its checksum", {
  partial <- interrupted_fit()
  sims <- integrity_sims()
  expect_identical(partial$format_version, 6L)
  edits <- list(
    seed = function(f) { f$training$seed <- f$training$seed + 1; f },
    epochs = function(f) { f$training$epochs <- 3L; f },
    learning_rate = function(f) { f$training$learning_rate <- 5e-3; f },
    batch_size = function(f) { f$training$batch_size <- 4L; f },
    iterations = function(f) { f$training$iterations <- 2L; f },
    simulations = function(f) {
      f$training$simulations_checksum <- sims[2:1]$checksum
      f
    },
    adam = function(f) { f$optimizer$m[1] <- f$optimizer$m[1] + 1; f },
    adam_step = function(f) { f$optimizer$step <- 1L; f }
  )
  for (name in names(edits)) {
    edited <- edits[[name]](partial)
    expect_deepbmc_error(resume_training(edited, sims, progress = FALSE,
                                         threads = 1),
                         "fit", "fit", label = name)
    expect_deepbmc_error(post_prob(edited, api_groups(1)), "fit", "x",
                         label = name)
  }
})

test_that("fits of format version 5 keep their checksums and resume", {
  partial <- interrupted_fit()
  old <- partial
  old$format_version <- 5L
  old$training$simulations_checksum <- NULL
  old <- with_checksum(old)
  expect_silent(deepbmc:::check_fit(old))
  # its checksum does not cover the settings: a version-6 checksum claimed
  # by a version-5 fit does not match
  claimed <- partial
  claimed$format_version <- 5L
  expect_deepbmc_error(post_prob(claimed, api_groups(1)), "fit", "x")
  resumed <- resume_training(old, integrity_sims(), progress = FALSE,
                             threads = 1)
  expect_identical(resumed$format_version, 6L)
  expect_identical(resumed$weights, integrity_train(epochs = 2)$weights)
})

# --- fits that claim an old format version ----------------------------------

test_that("only genuinely old fits may lack a checksum", {
  fit <- api_fit()
  x <- api_groups(1)
  forged <- fit
  forged$format_version <- 2L
  forged$checksum <- NULL
  forged$weights <- forged$weights * 2
  expect_deepbmc_error(post_prob(forged, x), "fit", "x")
  forged$input_range <- NULL
  forged$training$stopped <- NULL
  expect_deepbmc_error(post_prob(forged, x), "fit", "x")
  # with its checksum kept, the claimed version does not match it
  claimed <- fit
  claimed$format_version <- 2L
  expect_deepbmc_error(post_prob(claimed, x), "fit", "x")
  # a fit as version 2 wrote it is read
  expect_equal(post_prob(as_version_2(fit), x), post_prob(fit, x))
})

# --- validations tied to their network (update_checked_range()) -------------

# A bridge_compare() result for two models, made by hand.
fake_bridge <- function(fit, network, reference) {
  n <- length(reference)
  structure(
    data.frame(data_set = rep(seq_len(n), each = 2),
               model = rep(fit$models$model_names, n),
               log_bf_network = as.vector(rbind(0, network)),
               log_bf_bridge = as.vector(rbind(0, reference))),
    class = c("deepbmc_bridge_comparison", "data.frame"),
    network_checksum = deepbmc:::network_checksum(fit)
  )
}

test_that("update_checked_range() takes checks of its own network only", {
  fit <- api_fit()
  sims <- integrity_sims()
  reference <- withr::with_seed(1, stats::rnorm(24))
  v <- validate(fit, data = sims, reference_log_bf = reference, boot = 0)
  expect_type(v$network_checksum, "character")
  expect_deepbmc_error(update_checked_range(integrity_fit(), v, min_n = 1),
                       "mismatch", "checks")
  updated <- update_checked_range(fit, v, min_n = 1)
  # the network is the same after the update, so its checks still apply
  expect_s3_class(update_checked_range(updated, v, min_n = 1), "deepbmc_fit")
  bridge <- fake_bridge(fit, reference / 2, reference)
  expect_s3_class(update_checked_range(fit, bridge, min_n = 1), "deepbmc_fit")
  expect_deepbmc_error(update_checked_range(integrity_fit(), bridge,
                                            min_n = 1),
                       "mismatch", "checks")
  # checks made before they recorded their network: a warning
  old <- v
  old$network_checksum <- NULL
  expect_warning(update_checked_range(fit, old, min_n = 1),
                 class = "deepbmc_unverified_warning")
})

test_that("update_checked_range() refuses non-finite or absent references", {
  fit <- api_fit()
  sims <- integrity_sims()
  reference <- withr::with_seed(1, stats::rnorm(24))
  v <- validate(fit, data = sims, reference_log_bf = reference, boot = 0)
  for (value in list(Inf, -Inf, NaN, NA_real_)) {
    bad <- v
    bad$reference_log_bf[, 2] <- value
    expect_deepbmc_error(update_checked_range(fit, bad, min_n = 1), "value",
                         "checks", label = format(value))
    bridge <- fake_bridge(fit, reference, rep(value, 24))
    expect_deepbmc_error(update_checked_range(fit, bridge, min_n = 1),
                         "value", "checks", label = format(value))
  }
  # NA marks data sets without a reference; all NA is an error
  some <- reference
  some[1:3] <- NA
  expect_s3_class(
    update_checked_range(fit, validate(fit, data = sims, boot = 0,
                                       reference_log_bf = some), min_n = 1),
    "deepbmc_fit"
  )
  expect_deepbmc_error(
    validate(fit, data = sims, reference_log_bf = rep(NA_real_, 24),
             boot = 0),
    "value", "reference_log_bf"
  )
})

# --- training on nothing observed -------------------------------------------

test_that("training on data sets with nothing observed is an error", {
  empty <- integrity_sims()
  empty$batch$mask[] <- FALSE
  expect_deepbmc_error(integrity_train(with_sims_checksum(empty)), "data",
                       "simulations")
  every_value <- missing_values(pattern = function(data) {
    rep(TRUE, nrow(data))
  })
  expect_deepbmc_error(integrity_train(missing = every_value), "data",
                       "missing")
  # online: every trial timed out
  timed_out <- evidence_accumulation_models(participants = 2, trials = 5,
                                            max_steps = 1)
  expect_deepbmc_error(
    train_comparison(timed_out, api_network(), epochs = 1, iterations = 3,
                     batch_size = 8, seed = 1, threads = 1,
                     progress = FALSE),
    "data", "models"
  )
  # some data sets without observations among others are fine
  some <- integrity_sims()
  first <- seq_len(some$batch$group_offsets[some$batch$dataset_offsets[2] + 1])
  some$batch$mask[first] <- FALSE
  expect_s3_class(integrity_train(with_sims_checksum(some)), "deepbmc_fit")
})

test_that("a missing-value pattern takes exactly the rows it marks", {
  # (it took the row before each: the first row of the batch never, the
  # last one of each data set never)
  models <- integrity_models()
  sims <- integrity_sims()
  first_rows <- missing_values(pattern = function(data) {
    seq_len(nrow(data)) == 1
  })
  missing <- deepbmc:::missing_for_models(first_rows, models)
  batch <- deepbmc:::apply_missing_batch(sims$batch, missing, models, 1)
  first <- sims$batch$group_offsets[sims$batch$dataset_offsets[-25] + 1] + 1
  expected <- sims$batch$mask
  expected[first] <- FALSE
  expect_identical(batch$mask, expected)
})

# --- classed errors for inputs that once failed deep inside -----------------

test_that("a failing missing-value pattern is a classed error", {
  boom <- missing_values(pattern = function(data) stop("boom"))
  err <- expect_deepbmc_error(integrity_train(missing = boom), "value",
                              "missing")
  expect_match(conditionMessage(err$parent), "boom")
  expect_deepbmc_error(validate(api_fit(), n = 10, missing = boom, boot = 0),
                       "value", "missing")
})

test_that("values missing within observations validate a network without coding", {
  # (the C++ validation stopped with an internal error; data sets simulated
  # in R drop those observations with a warning, as data do)
  models <- evidence_accumulation_models(participants = 2, trials = 5)
  fit <- train_comparison(models, api_network(), epochs = 1, iterations = 2,
                          batch_size = 8, seed = 1, threads = 1,
                          progress = FALSE)
  rt_only <- missing_values(share = 0.5, features = "rt")
  expect_warning(
    v <- validate(fit, n = 10, seed = 1, boot = 0, missing = rt_only),
    class = "deepbmc_missing_warning"
  )
  expect_s3_class(v, "deepbmc_validation")
  expect_warning(
    sweep <- validate_missing(fit, share = c(0, 0.5), n = 10, seed = 1,
                              features = "rt"),
    class = "deepbmc_missing_warning"
  )
  expect_identical(nrow(sweep), 2L)
})

test_that("log_bf_agreement() reads NA references as none", {
  fit <- api_fit()
  reference <- withr::with_seed(1, stats::rnorm(24))
  v <- validate(fit, data = integrity_sims(), reference_log_bf = reference,
                boot = 0)
  table <- bayes_factor_recovery(v)
  table$reference[1:3] <- NA
  expect_identical(sum(log_bf_agreement(table)$n), 21L)
  table$reference[] <- NA
  expect_deepbmc_error(log_bf_agreement(table), "value", "x")
  none <- v
  none$reference_log_bf[, 2] <- NA
  expect_deepbmc_error(log_bf_agreement(none), "value", "x")
  text <- table
  text$reference <- "a"
  expect_deepbmc_error(log_bf_agreement(text), "type", "x")
})

test_that("fits with edited training fields are classed errors everywhere", {
  fit <- api_fit()
  edits <- list(
    epochs = "x", iterations = NULL, batch_size = -1, learning_rate = NA,
    seed = "a", steps_done = NULL, holdout = 1.5, stopped = 3
  )
  for (field in names(edits)) {
    edited <- fit
    edited$training[field] <- list(edits[[field]])
    if (is.null(edits[[field]])) edited$training[[field]] <- NULL
    expect_deepbmc_error(print(edited), "fit", "x", label = field)
    expect_deepbmc_error(summary(edited), "fit", "object", label = field)
    expect_deepbmc_error(training_history(edited), "fit", "fit",
                         label = field)
  }
  # Adam's state, which only resuming reads
  partial <- interrupted_fit()
  partial$optimizer$m <- NULL
  expect_deepbmc_error(resume_training(with_checksum(partial),
                                       integrity_sims(), progress = FALSE),
                       "fit", "fit")
})

test_that("damaged simulations without a checksum are classed errors", {
  rlang::local_options(rlib_message_verbosity = "quiet")
  sims <- integrity_sims()
  sims$checksum <- NULL
  damage <- list(
    models = function(s) { s$models <- "a"; s },
    other_models = function(s) {
      s$models$model_names <- c("A", "B")
      s
    },
    seed = function(s) { s$seed <- "a"; s },
    features = function(s) { s$feature_names <- 1; s },
    checksum = function(s) { s$checksum <- 1; s }
  )
  for (name in names(damage)) {
    damaged <- damage[[name]](sims)
    expect_deepbmc_error(post_prob(api_fit(), damaged), "data", "data",
                         label = name)
    expect_deepbmc_error(integrity_train(damaged), "data", "simulations",
                         label = name)
  }
})

# --- fuzz: damaged simulations and edited fits, in a loop --------------------

# Runs `use`: TRUE if it worked, "deepbmc" if it failed with a classed deepbmc
# error, otherwise the unclassed error's message (a test failure).
use_outcome <- function(use) {
  tryCatch(
    {
      suppressWarnings(suppressMessages(use()))
      TRUE
    },
    deepbmc_error = function(e) "deepbmc",
    error = function(e) paste("unclassed:", conditionMessage(e))
  )
}

test_that("fuzz: every use of damaged simulations is a classed error", {
  sims <- integrity_sims()
  fit <- api_fit()
  uses <- list(
    train = function(s) integrity_train(s),
    validate = function(s) validate(fit, data = s, boot = 0),
    post_prob = function(s) post_prob(fit, s),
    data = function(s) s$data,
    print = function(s) utils::capture.output(print(s)),
    subset = function(s) s[1:3],
    join = function(s) c(s, s),
    sizes = function(s) simulations_sizes(s)
  )
  n_values <- length(sims$batch$values)
  damages <- list(
    value = function(s, k) {
      s$batch$values[k %% n_values + 1] <- k
      s
    },
    value_huge = function(s, k) {
      s$batch$values[k %% n_values + 1] <- c(1e39, Inf, NaN, NA)[(k - 1) %% 4 + 1]
      s
    },
    mask = function(s, k) {
      i <- k %% length(s$batch$mask) + 1
      s$batch$mask[i] <- !s$batch$mask[i]
      s
    },
    group_offsets = function(s, k) {
      i <- k %% (length(s$batch$group_offsets) - 2) + 2
      s$batch$group_offsets[i] <- s$batch$group_offsets[i] + (k %% 3) - 1L
      s
    },
    dataset_offsets = function(s, k) {
      i <- k %% (length(s$batch$dataset_offsets) - 2) + 2
      s$batch$dataset_offsets[i] <- s$batch$dataset_offsets[i] + 1L
      s
    },
    seed = function(s, k) {
      s$seed <- list(s$seed + k, "a", NULL, NA)[[(k - 1) %% 4 + 1]]
      s
    },
    labels = function(s, k) {
      i <- k %% length(s$model) + 1
      s$model[i] <- 3L - s$model[i]
      s
    },
    labels_swapped = function(s, k) {
      s$model <- 3L - s$model
      s
    },
    removed = function(s, k) {
      parts <- c("batch", "model", "model_names", "feature_names", "seed",
                 "models")
      s[[parts[[(k - 1) %% length(parts) + 1]]]] <- NULL
      s
    },
    removed_in_batch = function(s, k) {
      parts <- c("values", "n_features", "group_offsets", "dataset_offsets",
                 "mask")
      s$batch[[parts[[(k - 1) %% length(parts) + 1]]]] <- NULL
      s
    },
    type = function(s, k) {
      switch((k - 1) %% 6 + 1,
        s$model <- as.double(s$model),
        s$batch$values <- as.character(s$batch$values),
        s$batch$mask <- as.integer(s$batch$mask),
        s$batch$group_offsets <- as.double(s$batch$group_offsets),
        s$checksum <- 1,
        s$models <- unclass(s$models)
      )
      s
    }
  )
  for (use in names(uses)) {
    expect_identical(use_outcome(function() uses[[use]](sims)), TRUE,
                     label = paste("untouched,", use))
  }
  # Six variants of each damage, each tried by three of the uses in turn
  # (every use meets every damage), to keep the loop fast.
  for (damage in names(damages)) {
    for (k in 1:6) {
      damaged <- damages[[damage]](sims, k)
      for (use in names(uses)[((k - 1) * 3 + 0:2) %% length(uses) + 1]) {
        expect_identical(use_outcome(function() uses[[use]](damaged)),
                         "deepbmc",
                         label = paste0(damage, " (", k, "), ", use))
      }
    }
  }
  # a removed checksum is an object saved before checksums: read as it is
  legacy <- sims
  legacy$checksum <- NULL
  for (use in names(uses)) {
    expect_identical(use_outcome(function() uses[[use]](legacy)), TRUE,
                     label = paste("without checksum,", use))
  }
})

test_that("fuzz: every use of an edited fit is a classed error", {
  partial <- interrupted_fit()
  sims <- integrity_sims()
  x <- api_groups(1)
  reference <- withr::with_seed(1, stats::rnorm(24))
  checks <- validate(partial, data = sims, reference_log_bf = reference,
                     boot = 0)
  uses <- list(
    post_prob = function(f) post_prob(f, x),
    bayes_factor = function(f) bayes_factor(f, x),
    validate = function(f) validate(f, n = 8, seed = 1, boot = 0),
    checked_range = function(f) checked_range(f),
    update_checked_range = function(f) {
      update_checked_range(f, checks, min_n = 1)
    },
    resume = function(f) {
      resume_training(f, sims, progress = FALSE, threads = 1)
    },
    init = function(f) {
      train_comparison(integrity_models(), simulations = sims, init = f,
                       epochs = 1, batch_size = 8, seed = 5, threads = 1,
                       progress = FALSE)
    }
  )
  edits <- list(
    seed = function(f, k) {
      f$training$seed <- list(f$training$seed + k, "a", NULL, -1)[[k]]
      f
    },
    epochs = function(f, k) {
      f$training$epochs <- list(3L, 1L, "2", NULL)[[k]]
      f
    },
    learning_rate = function(f, k) {
      f$training$learning_rate <- list(1e-3, 0.5, -1, NA)[[k]]
      f
    },
    batch_size = function(f, k) {
      f$training$batch_size <- list(1e6, 4L, 0L, "8")[[k]]
      f
    },
    format_version = function(f, k) {
      f$format_version <- list(5L, 4L, 3L, 2L)[[k]]
      f
    },
    format_version_no_checksum = function(f, k) {
      f$format_version <- list(5L, 4L, 3L, 2L)[[k]]
      f$checksum <- NULL
      f
    },
    checksum = function(f, k) {
      f$checksum <- list(NULL, "0", 1, NA_character_)[[k]]
      f
    }
  )
  for (use in names(uses)) {
    expect_identical(use_outcome(function() uses[[use]](partial)), TRUE,
                     label = paste("untouched,", use))
  }
  # Each variant of an edit tried by four of the uses in turn (every use
  # meets every edit), to keep the loop fast.
  for (edit in names(edits)) {
    for (k in 1:4) {
      edited <- edits[[edit]](partial, k)
      for (use in names(uses)[((k - 1) * 4 + 0:3) %% length(uses) + 1]) {
        expect_identical(use_outcome(function() uses[[use]](edited)),
                         "deepbmc",
                         label = paste0(edit, " (", k, "), ", use))
      }
    }
  }
})
