test_tier("fast")
# Transfer learning (train_comparison(init = fit)), training phases and
# resume_training() (issue 16).
#
# The property of continued training tested here: a run interrupted after any
# number of steps and resumed with resume_training() gives exactly (identical())
# the weights, Adam state, training and holdout histories, input range and
# checked range of the uninterrupted run. It holds because C++ derives every
# random number from (seed, step, data set) and the learning rate from the
# step, so a new trainer session continues the same streams.

transfer_network <- function() api_network()

small_models <- function() normal_nested_models(groups = 10, obs = 5)
large_models <- function() normal_nested_models(groups = 10, obs = 20)

transfer_train <- function(models = small_models(), ..., epochs = 3,
                           iterations = 7, holdout = 60, seed = 21,
                           train = train_comparison) {
  train(
    models, ..., epochs = epochs, iterations = iterations, batch_size = 8,
    learning_rate = 1e-2, holdout = holdout, threads = 2, seed = seed,
    progress = FALSE
  )
}

transfer_cache <- new.env(parent = emptyenv())

# A pretrained fit at 10 x 5 and its fine-tuned successor at 10 x 20.
pretrained_fit <- function() {
  if (is.null(transfer_cache$pretrained)) {
    transfer_cache$pretrained <- transfer_train(network = transfer_network())
  }
  transfer_cache$pretrained
}

finetuned_fit <- function() {
  if (is.null(transfer_cache$finetuned)) {
    transfer_cache$finetuned <- transfer_train(
      large_models(), init = pretrained_fit(), epochs = 2, iterations = 5,
      holdout = 40, seed = 22
    )
  }
  transfer_cache$finetuned
}

# Everything of a fit that training decides, the time it took excepted.
trained_state <- function(fit) {
  phases <- fit$phases
  phases$seconds <- NULL
  list(
    weights = fit$weights, optimizer = fit$optimizer, history = fit$history,
    holdout_history = fit$holdout_history, input_range = fit$input_range,
    checked_range = fit$checked_range, phases = phases,
    steps_done = fit$training$steps_done, stopped = fit$training$stopped,
    checksum = fit$checksum, format_version = fit$format_version
  )
}

# --- Resuming interrupted training ------------------------------------------

test_that("a run interrupted and resumed equals the uninterrupted run", {
  full <- pretrained_fit()
  # Chunks are 2 steps, then grow but stop at every epoch's end (7 steps), so
  # 21 steps take at least 4 chunks: these interrupts stop before the first
  # step, inside an epoch and at the ends of epochs.
  for (after in 0:3) {
    train <- interrupting_after("train_comparison", after)
    expect_warning(
      partial <- transfer_train(network = transfer_network(), train = train),
      class = "deepbmc_interrupted_warning"
    )
    expect_identical(partial$training$stopped, "interrupted")
    expect_lt(partial$training$steps_done, 21L)
    resumed <- resume_training(partial, progress = FALSE)
    expect_identical(trained_state(resumed), trained_state(full),
                     label = paste("resumed after", after, "chunks"))
    expect_true(is.na(resumed$training$stopped))
  }
})

test_that("resuming twice, with other threads, still equals the uninterrupted run", {
  full <- pretrained_fit()
  expect_warning(
    partial <- transfer_train(network = transfer_network(),
                              train = interrupting_after("train_comparison", 1)),
    class = "deepbmc_interrupted_warning"
  )
  expect_warning(
    partial2 <- interrupting_after("resume_training", 2)(partial,
                                                         progress = FALSE),
    class = "deepbmc_interrupted_warning"
  )
  expect_gt(partial2$training$steps_done, partial$training$steps_done)
  resumed <- resume_training(partial2, progress = FALSE, threads = 1)
  state <- trained_state(resumed)
  expect_identical(state, trained_state(full))
  expect_identical(resumed$training$threads, 1L)
})

test_that("an interrupted fine-tuning phase resumes to the uninterrupted one", {
  full <- finetuned_fit()
  train <- interrupting_after("train_comparison", 2)
  expect_warning(
    partial <- transfer_train(large_models(), init = pretrained_fit(),
                              epochs = 2, iterations = 5, holdout = 40,
                              seed = 22, train = train),
    class = "deepbmc_interrupted_warning"
  )
  expect_identical(nrow(partial$phases), 2L)
  expect_identical(partial$phases$stopped, c(NA, "interrupted"))
  resumed <- resume_training(partial, progress = FALSE)
  expect_identical(trained_state(resumed), trained_state(full))
})

test_that("training on stored simulations resumes to the uninterrupted run", {
  models <- small_models()
  sims <- simulate_datasets(models, n = 120, seed = 4)
  run <- function(train = train_comparison) {
    train(models, transfer_network(), simulations = sims, epochs = 3,
          iterations = 6, batch_size = 8, learning_rate = 1e-2, holdout = 20,
          threads = 2, seed = 8, progress = FALSE)
  }
  full <- run()
  expect_warning(partial <- run(interrupting_after("train_comparison", 2)),
                 class = "deepbmc_interrupted_warning")
  expect_deepbmc_error(resume_training(partial, progress = FALSE), "value",
                       "simulations")
  expect_deepbmc_error(
    resume_training(partial, simulate_datasets(models, n = 50, seed = 4),
                    progress = FALSE),
    "mismatch", "simulations"
  )
  resumed <- resume_training(partial, sims, progress = FALSE)
  expect_identical(trained_state(resumed), trained_state(full))
})

test_that("resume_training() refuses fits it cannot resume", {
  fit <- pretrained_fit()
  err <- expect_deepbmc_error(resume_training(fit), "value", "fit")
  expect_match(conditionMessage(err), "init = fit", fixed = TRUE)
  diverged <- fit
  diverged$training$stopped <- "diverged"
  diverged$optimizer$step <- 3L
  diverged <- with_checksum(diverged)
  err <- expect_deepbmc_error(resume_training(diverged), "value", "fit")
  expect_match(conditionMessage(err), "learning_rate", fixed = TRUE)
  expect_deepbmc_error(resume_training(list()), "fit", "fit")
  expect_warning(
    partial <- transfer_train(network = transfer_network(),
                              train = interrupting_after("train_comparison", 1)),
    class = "deepbmc_interrupted_warning"
  )
  expect_deepbmc_error(
    resume_training(partial, simulations = simulate_datasets(small_models(),
                                                             10, seed = 1)),
    "value", "simulations"
  )
  expect_deepbmc_error(resume_training(partial, progress = NA), "type",
                       "progress")
})

# --- init = fit -------------------------------------------------------------

test_that("init must be an undamaged fit", {
  models <- small_models()
  expect_deepbmc_error(train_comparison(models, init = 3), "type", "init")
  expect_deepbmc_error(train_comparison(models, init = list(weights = 1)),
                       "type", "init")
  damaged <- pretrained_fit()
  damaged$weights[[1]] <- damaged$weights[[1]] + 1
  expect_deepbmc_error(train_comparison(models, init = damaged), "fit",
                       "init")
  no_phases <- pretrained_fit()
  no_phases$phases$first_step <- no_phases$phases$first_step + 1L
  expect_deepbmc_error(train_comparison(models, init = no_phases), "fit",
                       "init")
})

test_that("init with another architecture, features or models fails", {
  init <- pretrained_fit()
  models <- small_models()
  err <- expect_deepbmc_error(
    train_comparison(models, hierarchical_network(), init = init,
                     progress = FALSE),
    "mismatch", "init"
  )
  expect_match(conditionMessage(err), "`network`", fixed = TRUE)
  expect_deepbmc_error(
    train_comparison(models, transfer_network(), init = init,
                     method = "size_subsample", progress = FALSE),
    "mismatch", "init"
  )

  # R simulators: the same sizes, one feature, other names of models or
  # features
  simulator <- function(mean, feature) {
    function() {
      group <- rep(1:4, each = 5)
      values <- stats::rnorm(20, mean = mean + stats::rnorm(4)[group])
      stats::setNames(data.frame(group, values), c("group", feature))
    }
  }
  other_names <- simulator_models(A = simulator(0, "values"),
                                  B = simulator(1, "values"))
  err <- expect_deepbmc_error(
    train_comparison(other_names,
                     simulations = simulate_datasets(other_names, 20, seed = 1),
                     init = init, progress = FALSE),
    "mismatch", "init"
  )
  expect_match(conditionMessage(err), "other models", fixed = TRUE)
  other_features <- simulator_models(M0 = simulator(0, "y"),
                                     M1 = simulator(1, "y"))
  err <- expect_deepbmc_error(
    train_comparison(other_features,
                     simulations = simulate_datasets(other_features, 20,
                                                     seed = 1),
                     init = init, progress = FALSE),
    "mismatch", "init"
  )
  expect_match(conditionMessage(err), "other features", fixed = TRUE)

  # the same names and feature: a network trained online fine-tunes on an R
  # simulator's stored simulations
  same <- simulator_models(M0 = simulator(0, "values"),
                           M1 = simulator(1, "values"))
  fit <- train_comparison(same, simulations = simulate_datasets(same, 40,
                                                                seed = 1),
                          init = init, epochs = 1, batch_size = 8,
                          seed = 3, progress = FALSE)
  expect_identical(fit$phases$source, c("simulator", "simulations"))
  expect_identical(fit$phases$simulations, c(NA, 40L))
})

test_that("a fine-tuned fit starts from init's weights and records its phases", {
  init <- pretrained_fit()
  fit <- finetuned_fit()
  expect_identical(fit$format_version, 6L)
  expect_identical(fit$network, init$network)
  expect_identical(fit$config, init$config)
  expect_identical(fit$models, large_models())
  expect_false(identical(fit$weights, init$weights))
  # One step of the new phase from init's weights, by the C++ core directly:
  # init's weights, a fresh Adam state, the phase's own schedule and stream.
  first <- deepbmc:::cpp_train(
    fit$config, init$weights, fresh_optimizer(length(init$weights)),
    deepbmc:::models_spec(large_models()), steps = 10L, total_steps = 10,
    batch_size = 8L, learning_rate = 1e-2,
    seed = deepbmc:::phase_seed(22, 2L), threads = 1L
  )
  expect_identical(fit$weights, first$weights)
  expect_identical(fit$optimizer$step, 10L)
  expect_identical(fit$training$steps_done, 10L)

  phases <- fit$phases
  expect_identical(phases$phase, 1:2)
  expect_identical(phases$steps, c(21L, 10L))
  expect_identical(phases$first_step, c(1L, 22L))
  expect_identical(phases$last_step, c(21L, 31L))
  expect_identical(phases$epochs, c(3L, 2L))
  expect_identical(phases$iterations, c(7L, 5L))
  expect_identical(phases$seed, c(21, 22))
  expect_identical(phases$obs_max, c(5L, 20L))
  expect_identical(phases$groups_max, c(10L, 10L))
  expect_identical(phases$stopped, c(NA_character_, NA_character_))
  expect_identical(fit$training$init,
                   list(checksum = init$checksum, steps = 21L, phases = 1L,
                        format_version = 6L))

  # histories: init's, then the new phase's, numbered over both phases
  expect_identical(fit$history[1:21, ], init$history)
  expect_identical(fit$history$step, 1:31)
  expect_identical(fit$history$phase, rep(1:2, c(21, 10)))
  expect_identical(fit$history$epoch[22:31], rep(1:2, each = 5))
  expect_identical(fit$history$loss[22:31], first$loss)
  expect_identical(fit$holdout_history$step, c(7L, 14L, 21L, 26L, 31L))
  expect_identical(fit$holdout_history$phase, c(1L, 1L, 1L, 2L, 2L))
  history <- training_history(fit)
  expect_identical(names(history),
                   c("step", "epoch", "phase", "set", "loss", "accuracy"))
  expect_identical(history$phase[history$set == "holdout"],
                   c(1L, 1L, 1L, 2L, 2L))

  # the input range widens init's; the checked range is the new one
  expect_true(all(fit$input_range$lo <= init$input_range$lo))
  expect_true(all(fit$input_range$hi >= init$input_range$hi))
  expect_false(is.null(fit$checked_range))

  expect_output(print(fit),
                "Trained in 2 phases: 21 steps at 10 x 5, then 10 at 10 x 20",
                fixed = TRUE)
  expect_output(print(summary(fit)), "Trained in 2 phases", fixed = TRUE)
  expect_output(print(init), "Trained: 21 of 21 steps", fixed = TRUE)
  expect_false(any(grepl("phases", capture.output(print(init)))))
})

test_that("the same call continues training with a new stream", {
  init <- pretrained_fit()
  again <- transfer_train(init = init)
  expect_identical(again$phases$steps, c(21L, 21L))
  expect_identical(again$history$step, 1:42)
  # the second phase's batches differ from the first's, though the seed is
  # the same: it starts from init's weights, and the losses after its first
  # step differ from those of a run from init with the first phase's stream
  same_stream <- deepbmc:::cpp_train(
    init$config, init$weights, fresh_optimizer(length(init$weights)),
    deepbmc:::models_spec(small_models()), steps = 21L, total_steps = 21,
    batch_size = 8L, learning_rate = 1e-2, seed = 21, threads = 1L
  )
  expect_false(identical(again$history$loss[22:42], same_stream$loss))
  seeds <- vapply(1:6, function(p) deepbmc:::phase_seed(21, p), numeric(1))
  expect_identical(seeds[[1]], 21)
  expect_identical(anyDuplicated(seeds), 0L)
  expect_true(all(seeds >= 0 & seeds <= 2^52 & seeds == floor(seeds)))
  expect_identical(deepbmc:::phase_seed(2^52, 3) <= 2^52, TRUE)
})

test_that("a size-scaled head keeps init's reference sizes", {
  init <- transfer_train(network = transfer_network(),
                         method = "size_subsample", holdout = 0)
  fit <- transfer_train(large_models(), init = init, epochs = 1,
                        iterations = 5, holdout = 0)
  expect_identical(fit$training$method$name, "size_subsample")
  expect_identical(fit$config$size_reference, init$config$size_reference)
  expect_identical(fit$config$size_reference, c(50, 10))
  # a fresh fit at the larger size has its own
  expect_identical(
    transfer_train(large_models(), network = transfer_network(),
                   method = "size_subsample", epochs = 1, iterations = 1,
                   holdout = 0)$config$size_reference,
    c(200, 10)
  )
  pmp <- post_prob(fit, simulate_datasets(large_models(), 3, seed = 1))
  expect_equal(rowSums(pmp), rep(1, 3))
})

test_that("a fit fine-tuned at a larger size predicts there", {
  fit <- finetuned_fit()
  data <- simulate_datasets(large_models(), 5, seed = 2)
  expect_no_warning(pmp <- post_prob(fit, data))
  expect_equal(rowSums(pmp), rep(1, 5))
  expect_true(all(is.finite(unlist(bayes_factor(fit, data)))))
})

test_that("pretraining helps a few fine-tuning steps at the target size", {
  # Pretrain at 10 x 5 for 300 steps, then 40 steps at 10 x 20, against 40
  # steps at 10 x 20 from random weights, both measured on the same 400
  # data sets at 10 x 20. With this margin (the pretrained network's loss
  # is well below the fresh one's for every seed tried) the comparison is
  # robust to seeds.
  network <- transfer_network()
  target <- large_models()
  holdout <- simulate_datasets(target, 400, seed = 99)
  pretrained <- train_comparison(small_models(), network, epochs = 3,
                                 iterations = 100, batch_size = 16,
                                 learning_rate = 1e-2, seed = 5,
                                 progress = FALSE)
  tuned <- train_comparison(target, init = pretrained, epochs = 1,
                            iterations = 40, batch_size = 16,
                            learning_rate = 5e-3, seed = 6,
                            progress = FALSE)
  fresh <- train_comparison(target, network, epochs = 1, iterations = 40,
                            batch_size = 16, learning_rate = 5e-3, seed = 6,
                            progress = FALSE)
  log_loss <- function(fit) {
    pmp <- post_prob(fit, holdout)
    -mean(log(pmp[cbind(seq_len(nrow(pmp)), holdout$model)]))
  }
  expect_lt(log_loss(tuned), log_loss(fresh) - 0.05)
})

test_that("a fit of two phases survives saveRDS() and readRDS()", {
  fit <- finetuned_fit()
  path <- withr::local_tempfile(fileext = ".rds")
  saveRDS(fit, path)
  loaded <- readRDS(path)
  expect_identical(loaded, fit)
  data <- simulate_datasets(large_models(), 3, seed = 5)
  expect_identical(post_prob(loaded, data), post_prob(fit, data))
  expect_identical(training_history(loaded), training_history(fit))
  # and trains on as init
  more <- transfer_train(large_models(), init = loaded, epochs = 1,
                         iterations = 3, holdout = 0)
  expect_identical(more$phases$phase, 1:3)
  expect_identical(more$training$init$checksum, fit$checksum)
})

# A fit as format version 4 wrote it: no phases, no phase columns.
as_version_4 <- function(fit) {
  fit$phases <- NULL
  fit$history$phase <- NULL
  fit$holdout_history$phase <- NULL
  fit$format_version <- 4L
  fit$checksum <- deepbmc:::fit_checksum(fit)
  fit
}

test_that("fits of format version 4 read as one phase and work as init", {
  old <- as_version_4(pretrained_fit())
  # the same checksum as version 5 gave (version 6 added the settings)
  as_version_5 <- pretrained_fit()
  as_version_5$format_version <- 5L
  expect_identical(old$checksum, deepbmc:::fit_checksum(as_version_5))
  expect_silent(deepbmc:::check_fit(old))
  history <- training_history(old)
  expect_identical(unique(history$phase), 1L)
  phases <- deepbmc:::fit_phases(old)
  expect_identical(phases$steps, 21L)
  expect_identical(phases$last_step, 21L)
  expect_output(print(old), "Trained: 21 of 21 steps", fixed = TRUE)

  fit <- transfer_train(large_models(), init = old, epochs = 2,
                        iterations = 5, holdout = 40, seed = 22)
  expect_identical(fit$format_version, 6L)
  expect_identical(fit$training$init$format_version, 4L)
  # the same as from the version-5 fit, which holds the same network
  expect_identical(trained_state(fit)[c("weights", "history", "phases",
                                       "holdout_history")],
                   trained_state(finetuned_fit())[c("weights", "history",
                                                   "phases",
                                                   "holdout_history")])

  # an interrupted version-4 fit resumes
  expect_warning(
    partial <- transfer_train(network = transfer_network(),
                              train = interrupting_after("train_comparison", 1)),
    class = "deepbmc_interrupted_warning"
  )
  resumed <- resume_training(as_version_4(partial), progress = FALSE)
  expect_identical(resumed$format_version, 6L)
  expect_identical(trained_state(resumed), trained_state(pretrained_fit()))
})

test_that("autoplot() marks the phases", {
  skip_if_not_installed("ggplot2")
  fit <- finetuned_fit()
  plot <- ggplot2::autoplot(fit)
  expect_s3_class(plot, "ggplot")
  built <- ggplot2::ggplot_build(plot)
  vlines <- Filter(function(d) "xintercept" %in% names(d), built$data)
  expect_length(vlines, 1)
  expect_identical(vlines[[1]]$xintercept, 21.5)
  labels <- Filter(function(d) "label" %in% names(d), built$data)
  expect_identical(labels[[1]]$label,
                   c("phase 1\n10 x 5", "phase 2\n10 x 20"))
  # each label in the middle of its phase (steps 1-21, then 22-31)
  expect_equal(labels[[1]]$x, c(11, 26.5))
  # one phase: no lines
  built <- ggplot2::ggplot_build(ggplot2::autoplot(pretrained_fit()))
  expect_length(Filter(function(d) "xintercept" %in% names(d), built$data), 0)
})
