# Shared builders for the tests of the exported R API (test-models.R,
# test-network.R, test-train.R, test-data.R, test-predict.R, test-validate.R,
# test-simulate.R). The tests of the C++ core use helper-core.R.

# A network small enough that a few training steps take milliseconds.
api_network <- function(activation = "elu") {
  hierarchical_network(
    s1 = c(4, 4), s2 = c(4, 4), s3 = c(4, 4), summary_dim = c(2, 2),
    n_dense = 1, n_equivariant = 1, head_units = 4, head_layers = 1,
    activation = activation
  )
}

# Wide size ranges, so that the hand-made test data (ragged groups, dropped
# groups, single observations) lie inside them and give no extrapolation
# warning.
api_models <- function() {
  normal_nested_models(groups = c(2, 20), obs = c(1, 20))
}

api_cache <- new.env(parent = emptyenv())

# A briefly trained fit, built once per test run and shared by the files. Its
# probabilities are far from useful but depend on the data, which is all the
# tests of data formats, post_prob() and bayes_factor() need.
api_fit <- function() {
  if (is.null(api_cache$fit)) {
    api_cache$fit <- train_comparison(
      api_models(), api_network(),
      epochs = 2, iterations = 10, batch_size = 16, learning_rate = 1e-2,
      threads = 2, seed = 11, progress = FALSE
    )
  }
  api_cache$fit
}

# The fit with `shift` added to the bias of the output layer, whose n_models
# values are the last weights (layers are stored in allocation order, W then
# b; see ref_forward() in helper-core.R). Shifting it moves the logits by
# exactly `shift`, which makes arbitrarily overwhelming evidence.
shift_logits <- function(fit, shift) {
  n <- length(fit$weights)
  bias <- n - fit$models$n_models + seq_len(fit$models$n_models)
  fit$weights[bias] <- fit$weights[bias] + shift
  with_checksum(fit)
}

# A fit edited on purpose by a test, accepted as trained: its checksum
# recomputed (edited fits are errors otherwise, which test-train.R checks).
with_checksum <- function(fit) {
  fit$checksum <- deepbmc:::fit_checksum(fit)
  fit
}

# A fit as format version 2 wrote it: without the parts later versions
# added (checksum, input range, checked range, phases, the phase columns,
# training$stopped and training$method). Only such fits may lack a checksum.
as_version_2 <- function(fit) {
  fit$checksum <- NULL
  fit$input_range <- NULL
  fit$checked_range <- NULL
  fit$verdict <- NULL
  fit$phases <- NULL
  fit$history$phase <- NULL
  fit$holdout_history$phase <- NULL
  fit$training$stopped <- NULL
  fit$training$method <- NULL
  fit$format_version <- 2L
  fit
}

# A data set with `sizes[i]` observations in group i, as a list of vectors.
api_groups <- function(seed, sizes = c(6, 2, 9, 4), mean = 0.3) {
  withr::with_seed(seed, {
    lapply(sizes, function(n) stats::rnorm(n, mean = mean + stats::rnorm(1, sd = 0.5)))
  })
}

# The same groups as a matrix with one row per group, padded with NA.
groups_to_matrix <- function(groups) {
  width <- max(lengths(groups))
  t(vapply(groups, function(g) c(g, rep(NA_real_, width - length(g))),
           numeric(width)))
}

# The same groups as a data frame in long form.
groups_to_data_frame <- function(groups) {
  data.frame(
    group = rep(seq_along(groups), lengths(groups)),
    y = unlist(groups)
  )
}

# Expects an error of class c("deepbmc_error_<what>", "deepbmc_error") whose
# message names the argument `arg` (as `arg`, the way cli shows arguments).
expect_deepbmc_error <- function(object, what, arg = NULL, label = NULL) {
  label <- label %||% rlang::expr_label(rlang::enexpr(object))
  err <- expect_error(
    object,
    class = paste0("deepbmc_error_", what),
    label = label
  )
  if (inherits(err, "condition")) {
    expect_s3_class(err, "deepbmc_error")
    if (!is.null(arg)) {
      expect_match(conditionMessage(err), paste0("`", arg, "`"),
                   fixed = TRUE, label = paste("message of", label))
    }
  }
  invisible(err)
}

# TRUE if `x` (or anything inside it, attributes and environments' contents
# excluded) is of typeof `type`.
contains_type <- function(x, type) {
  if (typeof(x) == type) {
    return(TRUE)
  }
  parts <- c(if (is.list(x)) unclass(x), attributes(x))
  any(vapply(parts, contains_type, logical(1), type = type))
}

`%||%` <- function(x, y) if (is.null(x)) y else x

# A fit with three models, built by hand from api_fit(): no built-in model
# set has more than two, but post_prob(), bayes_factor() and compare_models()
# work for any number. Its weights are a fresh initialisation.
three_model_fit <- function() {
  fit <- api_fit()
  fit$models$n_models <- 3L
  fit$models$model_names <- c("A", "B", "C")
  fit$config$n_models <- 3L
  fit$weights <- deepbmc:::cpp_network_init(fit$config, 17)
  fit$optimizer <- NULL
  # a checked range of log BFs for three models: +-5 for every pair
  upper <- matrix(5, 3, 3, dimnames = list(c("A", "B", "C"), c("A", "B", "C")))
  diag(upper) <- NA
  fit$checked_range$upper <- upper
  with_checksum(fit)
}

# The cheapest reliable configuration found for Study 1 with 50 groups of 50
# observations (Bayes-optimal accuracy about 0.89): a small tanh network,
# 300 steps of 32 data sets, learning rate 1e-3. Over training seeds 1 to 20
# its accuracy on validate(n = 2000, seed = 2024) was 0.8845 to 0.8960 (and
# 0.866 to 0.887 on other validation seeds); the same small network with the
# default ELU activation stayed at about 0.70 for 1 seed in 20, and the
# paper's network with 200 steps for 1 seed in 3. Training takes ~2-4 s on 2
# idle cores.
study1_network <- function() {
  hierarchical_network(
    s1 = c(8, 16), s2 = c(16, 32), s3 = c(8, 16), summary_dim = c(8, 8),
    n_equivariant = 1, head_units = 32, head_layers = 2, activation = "tanh"
  )
}

study1_fit <- function() {
  if (is.null(api_cache$study1)) {
    api_cache$study1 <- train_comparison(
      normal_nested_models(groups = 50, obs = 50), study1_network(),
      epochs = 3, iterations = 100, batch_size = 32, learning_rate = 1e-3,
      threads = 2, seed = 1, progress = FALSE
    )
  }
  api_cache$study1
}

# Log Bayes factors of several data sets as a plain vector, without the
# attributes beyond_checked and checked_range (issue 14).
c_bf <- function(...) c(bayes_factor(...))

# Study 1 written as formulas, with the paper's priors: Half-Normal(0, 1) on
# both variances, mu ~ N(0, 1) in M1.
study1_formula_set <- function() {
  # The template gives the design (50 groups of 50) and, through its mean and
  # SD, the scaling of the network's inputs: mean 0 and SD 1 keep the inputs
  # as the built-in models present them, so that the two runs are comparable.
  y <- as.vector(scale(withr::with_seed(12, stats::rnorm(2500))))
  template <- data.frame(g = rep(1:50, each = 50), y = y)
  variances <- c(hier_prior("half_normal_variance(1)", class = "sd"),
                 hier_prior("half_normal_variance(1)", class = "sigma"))
  model_set(
    M0 = hier_model(y ~ 0 + (1 | g), template, prior = variances),
    M1 = hier_model(y ~ 1 + (1 | g), template,
                    prior = c(variances, hier_prior("normal(0, 1)",
                                                    class = "Intercept")))
  )
}

# `fun` (train_comparison or resume_training) whose training chunks signal
# an interrupt (the condition R signals on Ctrl-C) on every call after the
# first `after` calls: copies of `fun` and run_training() get an enclosing
# environment holding the wrapped chunk runner, the namespace is untouched.
interrupting_after <- function(fun, after) {
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
  stopifnot("cpp_trainer_run" %in% all.names(body(ns$run_training)))
  mock$run_training <- ns$run_training
  environment(mock$run_training) <- mock
  fun <- ns[[fun]]
  environment(fun) <- mock
  fun
}

# `new` as a fit saved before the network setting `setting` existed (issue
# 29's standardize, pooling, statistics): without the element in its network,
# checksum recomputed. It checks, predicts on `data` exactly as `new`, and
# starts a new phase with `network` (the setting spelled out). Returns it.
expect_fit_without_setting_reads_as_before <- function(new, setting, data, network) {
  expect_null(new$config[[setting]])
  old <- new
  old$network[[setting]] <- NULL
  old$checksum <- deepbmc:::fit_checksum(old)
  expect_no_error(deepbmc:::check_fit(old))
  expect_identical(post_prob(old, data), post_prob(new, data))
  expect_no_error(train_comparison(new$models, network = network, init = old, epochs = 1,
                                   iterations = 2, holdout = 0, threads = 1, seed = 3,
                                   progress = FALSE))
  old
}
