test_tier("fast")
# The float computation (vectorized kernels where widths are multiples of 8,
# Eigen otherwise) against the double reference, for each kernel set.

# Ragged groups of 1 to 20 rows (so the 4-row blocks of the kernels get
# remainders), some rows masked, four data sets.
kernel_datasets <- function(n_features, seed) {
  set.seed(seed)
  make <- function(sizes) {
    lapply(sizes, function(n) {
      list(x = matrix(rnorm(n * n_features), n, n_features),
           mask = runif(n) > 0.2 | seq_len(n) == 1)
    })
  }
  list(make(c(5, 3, 9, 1, 12)), make(c(7, 7, 2)), make(c(4, 13)),
       make(c(1, 1, 1, 6, 20, 3)))
}

# Widths: multiples of 8 (o = 8, 16 and 24 cover the 16-wide, 8-wide and
# mixed column blocks); not multiples of 8 (Eigen fallback); the paper's.
kernel_configs <- list(
  multiple_of_8 = core_config(
    input_dim = 1L, n_models = 3L, s1 = c(8L, 8L), s2 = c(24L, 16L),
    s3 = c(8L, 16L), summary_dim = c(8L, 8L), head_units = 8L,
    n_equivariant = 2L, head_layers = 2L
  ),
  multiple_of_8_input_8 = core_config(
    input_dim = 8L, n_models = 2L, s1 = c(8L, 16L), s2 = c(16L, 8L),
    s3 = c(16L, 8L), summary_dim = c(8L, 16L), head_units = 16L,
    n_equivariant = 2L, head_layers = 1L
  ),
  multiple_of_8_tanh = core_config(
    input_dim = 1L, n_models = 2L, activation = "tanh", s1 = c(8L, 8L),
    s2 = c(16L, 8L), s3 = c(8L, 8L), summary_dim = c(8L, 8L), head_units = 8L,
    n_equivariant = 1L, head_layers = 1L
  ),
  not_multiple_of_8 = core_config(
    input_dim = 1L, n_models = 3L, s1 = c(5L, 7L), s2 = c(6L, 9L),
    s3 = c(7L, 5L), summary_dim = c(3L, 6L), head_units = 10L,
    n_equivariant = 2L, head_layers = 2L
  ),
  study1 = study1_config()
)

expect_float_close_to_double <- function(config, label) {
  datasets <- kernel_datasets(config$input_dim, 71)
  if (config$input_dim > 1) datasets <- datasets[1:2]
  data <- pack_batch(datasets, config$input_dim)
  labels <- rep_len(seq_len(config$n_models), length(datasets))
  w <- deepbmc:::cpp_network_init(config, 72)
  set.seed(73)
  w <- w + rnorm(length(w), sd = 0.05) # non-zero biases

  ref <- deepbmc:::cpp_loss_grad(config, w, data, labels, double_precision = TRUE)
  flt <- deepbmc:::cpp_loss_grad(config, w, data, labels, double_precision = FALSE)
  pred <- predict_core(config, w, data, 1L)

  expect_lt(rel_to_max(flt$logits, ref$logits), 1e-5, label = paste(label, "logits"))
  expect_lt(rel_to_max(pred, ref$logits), 1e-5, label = paste(label, "predict"))
  expect_lt(abs(flt$loss - ref$loss), 1e-5 * max(1, ref$loss), label = paste(label, "loss"))
  expect_lt(rel_to_max(flt$grad, ref$grad), 2e-5, label = paste(label, "grad"))
  expect_lt(rel_to_max(flt$input_grad, ref$input_grad), 1e-4,
            label = paste(label, "input_grad"))
  expect_true(all(flt$input_grad[!rep(data$mask, each = config$input_dim)] == 0))
  flt
}

test_that("cpp_select_kernels switches kernel sets and reports the one in use", {
  withr::defer(deepbmc:::cpp_select_kernels("auto"))
  expect_identical(deepbmc:::cpp_select_kernels("baseline"), "baseline")
  best <- deepbmc:::cpp_select_kernels("auto")
  expect_true(best %in% c("baseline", "avx2"))
  expect_identical(deepbmc:::cpp_select_kernels("avx2"), best)
  expect_identical(deepbmc:::cpp_select_kernels("auto"), best)
})

test_that("float computation agrees with double: baseline kernels", {
  expect_identical(local_kernels("baseline"), "baseline")
  for (name in names(kernel_configs)) {
    expect_float_close_to_double(kernel_configs[[name]], paste("baseline", name))
  }
})

test_that("float computation agrees with double: AVX2 kernels", {
  kernels <- local_kernels("avx2")
  if (kernels != "avx2") skip("the processor has no AVX2 + FMA")
  for (name in names(kernel_configs)) {
    expect_float_close_to_double(kernel_configs[[name]], paste("avx2", name))
  }
})

test_that("both kernel sets give close results on kernel widths", {
  config <- kernel_configs$multiple_of_8
  data <- pack_batch(kernel_datasets(1L, 81), 1L)
  w <- deepbmc:::cpp_network_init(config, 82)
  labels <- rep_len(1:3, 4)
  local_kernels("baseline")
  base <- deepbmc:::cpp_loss_grad(config, w, data, labels, double_precision = FALSE)
  if (local_kernels("avx2") != "avx2") skip("the processor has no AVX2 + FMA")
  avx <- deepbmc:::cpp_loss_grad(config, w, data, labels, double_precision = FALSE)
  expect_lt(rel_to_max(avx$logits, base$logits), 1e-5)
  expect_lt(rel_to_max(avx$grad, base$grad), 2e-5)
})
