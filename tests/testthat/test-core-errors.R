test_tier("fast")
# Malformed input to the internal entry points is an R error, never a crash or
# a silent wrong answer.

err_config <- core_config(input_dim = 1L, n_models = 2L)
err_weights <- deepbmc:::cpp_network_init(err_config, 1)
err_models <- list(type = "normal_nested", groups = c(2L, 4L), obs = c(2L, 5L))
err_data <- pack_batch(list(
  list(c(0.1, -0.3, 0.8), list(x = c(1.2, NA), mask = c(TRUE, FALSE))),
  list(c(0.5, 0.2), c(-1, 0, 1))
))

# Calls deepbmc:::<fun>(<args>) in a fresh R process (plain Rscript), so that a
# crash fails the test instead of ending the test run. Returns "ok", "error"
# or "crash".
call_isolated <- function(fun, args) {
  pkg <- system.file(package = "deepbmc")
  if (!file.exists(file.path(pkg, "Meta", "package.rds"))) skip("deepbmc is not installed")
  input <- tempfile(fileext = ".rds")
  output <- tempfile(fileext = ".rds")
  on.exit(unlink(c(input, output)), add = TRUE)
  saveRDS(list(lib = dirname(pkg), fun = fun, args = args, output = output), input)
  script <- paste0(
    "job <- readRDS('", input, "'); ",
    "ns <- loadNamespace('deepbmc', lib.loc = c(job$lib, .libPaths())); ",
    "result <- tryCatch({ do.call(get(job$fun, envir = ns), job$args); 'ok' }, ",
    "error = function(e) 'error'); ",
    "saveRDS(result, job$output)"
  )
  rscript <- file.path(R.home("bin"), "Rscript")
  status <- suppressWarnings(system2(rscript, c("--vanilla", "-e", shQuote(script)),
                                     stdout = FALSE, stderr = FALSE))
  if (status != 0 || !file.exists(output)) return("crash")
  readRDS(output)
}

test_that("the error data are valid to begin with", {
  expect_equal(dim(predict_core(err_config, err_weights, err_data, 1L)), c(2L, 2L))
  expect_length(deepbmc:::cpp_loss_grad(err_config, err_weights, err_data, 1:2)$grad,
                length(err_weights))
})

test_that("malformed batch offsets are errors", {
  bad <- list(
    start = within(err_data, group_offsets[1] <- 1L),
    end = within(err_data, group_offsets[length(group_offsets)] <- 9L),
    decreasing = within(err_data, group_offsets[3] <- 1L),
    set_start = within(err_data, dataset_offsets[1] <- 1L),
    set_end = within(err_data, dataset_offsets[3] <- 3L),
    empty_set = within(err_data, dataset_offsets <- c(0L, 0L, 4L)),
    set_beyond = within(err_data, dataset_offsets <- c(0L, 5L, 4L)),
    no_offsets = within(err_data, group_offsets <- integer(0)),
    values = within(err_data, values <- values[-1]),
    features = within(err_data, n_features <- 0L),
    na_features = within(err_data, n_features <- NA_integer_)
  )
  for (name in names(bad)) {
    expect_error(predict_core(err_config, err_weights, bad[[name]], 1L),
                 label = paste("predict", name))
    expect_error(deepbmc:::cpp_loss_grad(err_config, err_weights, bad[[name]], 1:2),
                 label = paste("loss_grad", name))
  }
  expect_error(predict_core(err_config, err_weights, err_data[-2], 1L), "n_features")
})

test_that("observed values must be finite; unobserved ones may be anything", {
  for (v in c(NA, NaN, Inf, -Inf)) {
    bad <- err_data
    bad$values[2] <- v
    expect_error(predict_core(err_config, err_weights, bad, 1L), "finite")
    expect_error(deepbmc:::cpp_loss_grad(err_config, err_weights, bad, 1:2), "finite")
    ok <- err_data
    ok$values[5] <- v # row 5 is unobserved
    expect_true(all(is.finite(predict_core(err_config, err_weights, ok, 1L))))
  }
})

test_that("weights and optimizer state of the wrong length are errors", {
  short <- err_weights[-1]
  long <- c(err_weights, 0)
  opt <- fresh_optimizer(length(err_weights))
  for (w in list(short, long)) {
    expect_error(predict_core(err_config, w, err_data, 1L), "weights")
    expect_error(deepbmc:::cpp_loss_grad(err_config, w, err_data, 1:2), "weights")
    expect_error(deepbmc:::cpp_train(err_config, w, opt, err_models, 1L, 1, 2L, 1e-3, 1, 1L))
    expect_error(deepbmc:::cpp_validate(err_config, w, err_models, 2L, 1, 1L))
    expect_error(deepbmc:::cpp_module_check(err_config, "dense", w, matrix(0, 2, 1), c(0L, 2L),
                                            c(TRUE, TRUE), matrix(0, 2, 3), matrix(0, 0, 0)),
                 "weights")
  }
  bad_opt <- opt
  bad_opt$v <- bad_opt$v[-1]
  expect_error(deepbmc:::cpp_train(err_config, err_weights, bad_opt, err_models, 1L, 1, 2L,
                                   1e-3, 1, 1L), "optimizer")
})

test_that("impossible network configurations are errors", {
  bad <- list(
    activation = modifyList(err_config, list(activation = "swish")),
    widths = modifyList(err_config, list(s2 = 4L)),
    zero_width = modifyList(err_config, list(s1 = c(3L, 0L))),
    one_model = modifyList(err_config, list(n_models = 1L)),
    no_input = modifyList(err_config, list(input_dim = 0L)),
    no_dense = modifyList(err_config, list(n_dense = 0L)),
    four_levels = modifyList(err_config, list(s1 = rep(2L, 4), s2 = rep(2L, 4), s3 = rep(2L, 4),
                                              summary_dim = rep(2L, 4))),
    missing = err_config[names(err_config) != "head_units"],
    extra = c(err_config, list(n_heads = 2L)),
    renamed = stats::setNames(err_config, sub("head_units", "head_width", names(err_config))),
    unnamed = unname(err_config)
  )
  for (name in names(bad)) {
    expect_error(deepbmc:::cpp_network_size(bad[[name]]), label = paste("size", name))
    expect_error(deepbmc:::cpp_network_init(bad[[name]], 1), label = paste("init", name))
  }
  expect_error(deepbmc:::cpp_network_init(bad$activation, 1), "swish")
  expect_error(predict_core(bad$activation, err_weights, err_data, 1L), "activation")
})

test_that("seeds must be whole numbers in [0, 2^52]", {
  for (seed in list(-1, 1.5, NA_real_, Inf, 2^53)) {
    expect_error(deepbmc:::cpp_network_init(err_config, seed), "seed")
    expect_error(deepbmc:::cpp_simulate(err_models, 2L, seed, 1L), "seed")
    expect_error(deepbmc:::cpp_validate(err_config, err_weights, err_models, 2L, seed, 1L), "seed")
    expect_error(deepbmc:::cpp_train(err_config, err_weights, fresh_optimizer(length(err_weights)),
                                     err_models, 1L, 1, 2L, 1e-3, seed, 1L), "seed")
  }
  expect_length(deepbmc:::cpp_network_init(err_config, 0), length(err_weights))
  expect_length(deepbmc:::cpp_network_init(err_config, 2^52), length(err_weights))
})

test_that("invalid training, simulation and model-set arguments are errors", {
  opt <- fresh_optimizer(length(err_weights))
  train <- function(...) {
    args <- modifyList(list(config = err_config, weights = err_weights, optimizer = opt,
                            models = err_models, steps = 1L, total_steps = 1,
                            batch_size = 2L, learning_rate = 1e-3, seed = 1, threads = 1L),
                       list(...))
    do.call(deepbmc:::cpp_train, args)
  }
  expect_length(train()$loss, 1)
  expect_error(train(steps = -1L))
  expect_error(train(batch_size = 0L))
  expect_error(train(threads = 0L))
  expect_error(train(total_steps = 0))
  expect_error(train(total_steps = NaN))
  # the network must match the model set (2 models, 1 feature)
  expect_error(train(config = modifyList(err_config, list(n_models = 3L)),
                     weights = deepbmc:::cpp_network_init(modifyList(err_config, list(n_models = 3L)), 1)),
               "match")

  bad_models <- list(
    type = modifyList(err_models, list(type = "poisson")),
    reversed = modifyList(err_models, list(groups = c(4L, 2L))),
    zero = modifyList(err_models, list(obs = c(0L, 3L))),
    length = modifyList(err_models, list(obs = 3L))
  )
  for (name in names(bad_models)) {
    expect_error(deepbmc:::cpp_simulate(bad_models[[name]], 2L, 1, 1L), label = name)
    expect_error(train(models = bad_models[[name]]), label = name)
    expect_error(deepbmc:::cpp_validate(err_config, err_weights, bad_models[[name]], 2L, 1, 1L),
                 label = name)
  }
  expect_error(deepbmc:::cpp_simulate(err_models, -1L, 1, 1L))
  expect_error(deepbmc:::cpp_simulate(err_models, 2L, 1, 0L))
  expect_error(deepbmc:::cpp_validate(err_config, err_weights, err_models, -1L, 1, 1L))
  expect_error(deepbmc:::cpp_validate(err_config, err_weights, err_models, 2L, 1, 0L))
})

test_that("loss_grad needs one label per data set", {
  expect_error(deepbmc:::cpp_loss_grad(err_config, err_weights, err_data, 1L), "label")
  expect_error(deepbmc:::cpp_loss_grad(err_config, err_weights, err_data, c(1L, 2L, 1L)), "label")
})

test_that("module_check rejects malformed arguments", {
  check <- function(module = "dense", x = matrix(0, 4, 1), offsets = c(0L, 1L, 4L),
                    mask = rep(TRUE, 4), dout = matrix(0, 4, 3), pooled = matrix(0, 0, 0),
                    config = err_config) {
    deepbmc:::cpp_module_check(config, module, deepbmc:::cpp_network_init(config, 1), x,
                               offsets, mask, dout, pooled)
  }
  expect_equal(dim(check()$out), c(4L, 3L))
  expect_error(check(module = "attention"), "module")
  expect_error(check(offsets = c(0L, 1L, 5L)))
  expect_error(check(offsets = c(1L, 4L)))
  expect_error(check(mask = rep(TRUE, 3)))
  expect_error(check(dout = matrix(0, 4, 2)), "dout")
  expect_error(check(module = "equivariant", dout = matrix(0, 4, 4),
                     config = modifyList(err_config, list(n_equivariant = 0L))))
})

# --- known src/ bugs ----------------------------------------------------------

test_that("loss_grad rejects labels outside 1..n_models", {
  expect_error(deepbmc:::cpp_loss_grad(err_config, err_weights, err_data, c(1L, 3L)), "label")
  expect_error(deepbmc:::cpp_loss_grad(err_config, err_weights, err_data, c(0L, 1L)), "label")
})

test_that("loss_grad rejects an NA label without crashing", {
  expect_identical(
    call_isolated("cpp_loss_grad", list(err_config, err_weights, err_data, c(1L, NA))),
    "error"
  )
})

test_that("loss_grad rejects data with the wrong number of features", {
  two <- err_data
  two$n_features <- 2L
  two$values <- rep(0.5, 2 * length(two$mask))
  expect_error(predict_core(err_config, err_weights, two, 1L), "features")
  expect_error(deepbmc:::cpp_loss_grad(err_config, err_weights, two, 1:2), "features")
})

test_that("a network whose depth differs from the data's is an error", {
  # one level: the network would summarise only the first group
  one <- modifyList(err_config, list(s1 = 3L, s2 = 4L, s3 = 3L, summary_dim = 2L))
  w1 <- deepbmc:::cpp_network_init(one, 1)
  expect_error(predict_core(one, w1, err_data, 1L))
  expect_error(deepbmc:::cpp_loss_grad(one, w1, err_data, 1:2))
  # three levels: reads a third partition the data do not have
  three <- modifyList(err_config, list(s1 = rep(3L, 3), s2 = rep(4L, 3), s3 = rep(3L, 3),
                                       summary_dim = rep(2L, 3)))
  w3 <- deepbmc:::cpp_network_init(three, 1)
  expect_identical(call_isolated("cpp_predict", list(three, w3, err_data, 1L)), "error")
  expect_identical(call_isolated("cpp_loss_grad", list(three, w3, err_data, 1:2)), "error")
  # the simulators write 2-level data sets too
  expect_identical(call_isolated("cpp_validate", list(three, w3, err_models, 4L, 1, 1L)), "error")
  expect_identical(call_isolated("cpp_train", list(three, w3, fresh_optimizer(length(w3)),
                                                   err_models, 1L, 1, 4L, 1e-3, 1, 1L)),
                   "error")
  expect_error(deepbmc:::cpp_validate(one, w1, err_models, 4L, 1, 1L))
})

test_that("module_check rejects offsets and shapes that do not fit", {
  w <- err_weights
  expect_error(deepbmc:::cpp_module_check(err_config, "set_mean", w, matrix(0, 8, 1),
                                          c(0L, 5L, 3L, 8L), rep(TRUE, 8), matrix(0, 3, 1),
                                          matrix(0, 0, 0)))
  expect_error(deepbmc:::cpp_module_check(err_config, "dense", w, matrix(0, 4, 2), c(0L, 4L),
                                          rep(TRUE, 4), matrix(0, 4, 3), matrix(0, 0, 0)))
  expect_error(deepbmc:::cpp_module_check(err_config, "broadcast_dense", w, matrix(0, 4, 1),
                                          c(0L, 4L), rep(TRUE, 4), matrix(0, 4, 3),
                                          matrix(0, 1, 1)))
})

test_that("invalid threads and optimizer settings are errors", {
  expect_error(predict_core(err_config, err_weights, err_data, 0L))
  opt <- fresh_optimizer(length(err_weights))
  expect_error(deepbmc:::cpp_train(err_config, err_weights, opt, err_models, 1L, 1, 2L,
                                   NaN, 1, 1L))
  opt$step <- NA_real_
  expect_error(deepbmc:::cpp_train(err_config, err_weights, opt, err_models, 1L, 1, 2L,
                                   1e-3, 1, 1L))
})
