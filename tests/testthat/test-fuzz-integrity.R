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

integrity_train <- function(simulations = integrity_sims(), ...) {
  train_comparison(integrity_models(), api_network(),
                   simulations = simulations, epochs = 1, batch_size = 8,
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

# `fun` (train_comparison or resume_training) whose training chunks signal an
# interrupt after the first `after` chunks (as in test-transfer.R).
interrupted_after <- function(fun, after) {
  ns <- asNamespace("deepbmc")
  mock <- new.env(parent = ns)
  mock$calls <- 0L
  runner <- ns$cpp_trainer_run
  mock$cpp_trainer_run <- function(...) {
    mock$calls <- mock$calls + 1L
    if (mock$calls > after) {
      signalCondition(structure(list(message = "", call = NULL),
                                class = c("interrupt", "condition")))
    }
    runner(...)
  }
  mock$run_training <- ns$run_training
  environment(mock$run_training) <- mock
  fun <- ns[[fun]]
  environment(fun) <- mock
  fun
}

# A fit trained on the stored simulations for 2 of its 6 steps.
interrupted_fit <- function() {
  if (is.null(integrity_cache$partial)) {
    expect_warning(
      integrity_cache$partial <- interrupted_after("train_comparison", 1)(
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
