test_tier("fast")
# Results depend on the seed only: not on the number of threads, nor on how
# training is split into chunks.

determinism_models <- list(type = "normal_nested", groups = c(5L, 15L), obs = c(3L, 20L))

train_study1 <- function(steps = 10L, seed = 7, threads = 2L, weights = NULL,
                         optimizer = NULL, total_steps = 10) {
  config <- study1_config()
  if (is.null(weights)) weights <- deepbmc:::cpp_network_init(config, 1)
  if (is.null(optimizer)) optimizer <- fresh_optimizer(length(weights))
  deepbmc:::cpp_train(
    config, weights, optimizer, determinism_models,
    steps = as.integer(steps), total_steps = total_steps, batch_size = 16L,
    learning_rate = 1e-3, seed = seed, threads = as.integer(threads)
  )
}

test_that("network initialisation is reproducible and Glorot-normal", {
  config <- study1_config()
  w <- deepbmc:::cpp_network_init(config, 5)
  expect_length(w, deepbmc:::cpp_network_size(config))
  expect_identical(deepbmc:::cpp_network_init(config, 5), w)
  expect_false(identical(deepbmc:::cpp_network_init(config, 6), w))

  # per layer: weights with sd sqrt(2 / (in + out)), truncated at two standard
  # deviations of the untruncated normal; zero biases
  # the layer shapes of the Study 1 network, in allocation order
  shapes <- list()
  width <- 1L
  for (k in 1:2) {
    for (e in 1:2) {
      shapes <- c(shapes, list(c(width, config$s1[k]), c(config$s1[k], config$s1[k]),
                               c(config$s1[k], config$s2[k]), c(config$s2[k], config$s2[k]),
                               c(width + config$s2[k], config$s3[k]), c(config$s3[k], config$s3[k])))
      width <- config$s3[k]
    }
    shapes <- c(shapes, list(c(width, config$s1[k]), c(config$s1[k], config$s1[k]),
                             c(config$s1[k], config$s2[k]), c(config$s2[k], config$s2[k]),
                             c(config$s2[k], config$summary_dim[k])))
    width <- config$summary_dim[k]
  }
  shapes <- c(shapes, list(c(12L, 64L), c(64L, 64L), c(64L, 64L), c(64L, 2L)))
  read <- weight_reader(w)
  all_z <- numeric(0)
  for (s in shapes) {
    layer <- read(s[1], s[2])
    expect_true(all(layer$b == 0))
    sd <- sqrt(2 / (s[1] + s[2]))
    z <- as.vector(layer$w) / (sd / 0.87962566103423978)
    expect_lte(max(abs(z)), 2)
    all_z <- c(all_z, z)
  }
  expect_identical(environment(read)$pos, length(w))
  # standardised draws: mean 0, variance of N(0, 1) truncated at +-2 (0.774)
  n <- length(all_z)
  expect_lt(abs(mean(all_z)), 5 * sqrt(0.774 / n))
  expect_lt(abs(var(all_z) - 0.7737413), 5 * sqrt(2 / n))
})

test_that("training is identical with 1 and 2 threads", {
  one <- train_study1(threads = 1L)
  two <- train_study1(threads = 2L)
  expect_identical(two$weights, one$weights)
  expect_identical(two$optimizer, one$optimizer)
  expect_identical(two$loss, one$loss)
  expect_identical(two$accuracy, one$accuracy)
  expect_length(one$loss, 10)
  expect_true(all(is.finite(one$loss)))
  expect_identical(one$optimizer$step, 10)
  expect_false(identical(one$weights, deepbmc:::cpp_network_init(study1_config(), 1)))
})

test_that("training in two chunks equals training in one", {
  whole <- train_study1(steps = 10L)
  first <- train_study1(steps = 5L)
  second <- train_study1(steps = 5L, weights = first$weights, optimizer = first$optimizer)
  expect_identical(second$weights, whole$weights)
  expect_identical(second$optimizer, whole$optimizer)
  expect_identical(c(first$loss, second$loss), whole$loss)
  expect_identical(c(first$accuracy, second$accuracy), whole$accuracy)
})

test_that("training depends on the seed", {
  a <- train_study1(seed = 7)
  expect_identical(train_study1(seed = 7), a)
  b <- train_study1(seed = 8)
  expect_false(identical(b$weights, a$weights))
  expect_false(any(b$loss == a$loss))
})

test_that("simulation and validation are reproducible and use the same data sets", {
  config <- study1_config()
  w <- deepbmc:::cpp_network_init(config, 3)
  n <- 60L
  sim1 <- deepbmc:::cpp_simulate(determinism_models, n, 11, 1L)
  sim2 <- deepbmc:::cpp_simulate(determinism_models, n, 11, 2L)
  expect_identical(sim2, sim1)
  expect_identical(deepbmc:::cpp_simulate(determinism_models, n, 11, 2L), sim1)
  expect_false(identical(deepbmc:::cpp_simulate(determinism_models, n, 12, 2L)$values, sim1$values))

  val1 <- deepbmc:::cpp_validate(config, w, determinism_models, n, 11, 1L)
  val2 <- deepbmc:::cpp_validate(config, w, determinism_models, n, 11, 2L)
  expect_identical(val2, val1)
  expect_identical(deepbmc:::cpp_validate(config, w, determinism_models, n, 11, 2L), val1)
  expect_false(identical(deepbmc:::cpp_validate(config, w, determinism_models, n, 12, 2L)$model,
                         val1$model))

  # validation with seed s predicts the data sets that simulation with seed s
  # returns: same models, same sizes, same logits
  expect_identical(val1$model, sim1$model)
  groups <- diff(sim1$dataset_offsets)
  expect_identical(val1$groups, groups)
  rows <- diff(sim1$group_offsets[sim1$dataset_offsets + 1L])
  expect_equal(val1$obs, rows / groups)
  expect_identical(predict_core(config, w, sim1, 2L), val1$logits)
  expect_identical(predict_core(config, w, sim1, 1L), val1$logits)
})

test_that("a prefix of a simulation stream is the smaller simulation", {
  big <- deepbmc:::cpp_simulate(determinism_models, 20L, 21, 2L)
  small <- deepbmc:::cpp_simulate(determinism_models, 5L, 21, 2L)
  expect_identical(small$model, big$model[1:5])
  n_rows <- small$group_offsets[length(small$group_offsets)]
  expect_identical(small$values, big$values[seq_len(n_rows)])
})
