test_tier("fast")
# hierarchical_network() (R/network.R): the architecture, its checks, the
# configuration passed to C++, and format()/print().

test_that("the defaults are the paper's Study 1 network", {
  net <- hierarchical_network()
  expect_s3_class(net, "deepbmc_network", exact = TRUE)
  expect_identical(net$s1, c(8L, 32L))
  expect_identical(net$s2, c(32L, 128L))
  expect_identical(net$s3, c(16L, 64L))
  expect_identical(net$summary_dim, c(10L, 10L))
  expect_identical(net$n_dense, 2L)
  expect_identical(net$n_equivariant, 2L)
  expect_identical(net$head_units, 64L)
  expect_identical(net$head_layers, 3L)
  expect_identical(net$activation, "elu")
  expect_identical(net$n_levels, 2L)
  expect_identical(net$standardize, "none")
  # the configuration C++ reads is the one of the core tests' Study 1 builder
  config <- deepbmc:::network_config(net, normal_nested_models())
  expect_identical(config, study1_config())
})

test_that("arguments are stored as integers and any level count 1 to 3 works", {
  net <- hierarchical_network(
    s1 = 3, s2 = 4, s3 = 5, summary_dim = 6, n_dense = 1, n_equivariant = 3,
    head_units = 7, head_layers = 2, activation = "tanh"
  )
  expect_identical(net$n_levels, 1L)
  expect_identical(net$s3, 5L)
  expect_identical(net$n_equivariant, 3L)
  expect_identical(net$activation, "tanh")
  three <- hierarchical_network(s1 = 1:3, s2 = 1:3, s3 = 1:3,
                                summary_dim = c(2, 2, 2), activation = "relu")
  expect_identical(three$n_levels, 3L)
  expect_identical(three$summary_dim, c(2L, 2L, 2L))
  expect_identical(three$activation, "relu")
})

test_that("bad widths are classed errors naming the argument", {
  # Every form of bad input for `s1`; the other widths share its checker, so
  # a few cases show that they are checked and named too.
  values <- list(
    na = c(8, NA), zero = c(0, 8), negative = c(8, -1), fraction = c(8, 2.5),
    inf = c(8, Inf), too_wide = c(8, 4097)
  )
  types <- list(
    character = c("8", "32"), empty = integer(0), null = NULL,
    matrix = matrix(c(8, 32), 1), list = list(8, 32), logical = c(TRUE, TRUE),
    factor = factor(c(8, 32))
  )
  others <- c("na", "zero", "fraction", "inf", "character")
  for (arg in c("s1", "s2", "s3", "summary_dim")) {
    call_with <- function(value) {
      do.call(hierarchical_network, stats::setNames(list(value), arg))
    }
    for (name in names(values)) {
      if (arg != "s1" && !name %in% others) next
      expect_deepbmc_error(call_with(values[[name]]), "value", arg,
                           label = paste(arg, name))
    }
    for (name in names(types)) {
      if (arg != "s1" && !name %in% others) next
      expect_deepbmc_error(call_with(types[[name]]), "type", arg,
                           label = paste(arg, name))
    }
  }
})

test_that("widths of unequal lengths and more than 3 levels are refused", {
  err <- expect_deepbmc_error(hierarchical_network(s1 = 8), "mismatch", "s1")
  expect_match(conditionMessage(err), "`summary_dim`", fixed = TRUE)
  expect_deepbmc_error(hierarchical_network(summary_dim = c(1, 2, 3)),
                       "mismatch", "summary_dim")
  expect_deepbmc_error(
    hierarchical_network(s1 = 1:4, s2 = 1:4, s3 = 1:4, summary_dim = 1:4),
    "value", "s1"
  )
})

test_that("bad counts and activations are classed errors naming the argument", {
  limits <- c(n_dense = 16, n_equivariant = 16, head_units = 4096,
              head_layers = 16)
  for (arg in names(limits)) {
    call_with <- function(value) {
      do.call(hierarchical_network, stats::setNames(list(value), arg))
    }
    # the largest allowed value is accepted (nothing is built yet)
    expect_s3_class(call_with(limits[[arg]]), "deepbmc_network")
    values <- list(zero = 0, above = limits[[arg]] + 1, fraction = 1.5,
                   inf = Inf)
    for (name in names(values)) {
      expect_deepbmc_error(call_with(values[[name]]), "value", arg,
                           label = paste(arg, name))
    }
    types <- list(character = "2", two = c(1, 2), logical_na = NA)
    for (name in names(types)) {
      expect_deepbmc_error(call_with(types[[name]]), "type", arg,
                           label = paste(arg, name))
    }
  }
  for (bad in list("sigmoid", "ELU", NA_character_, c("relu", "tanh"), 1,
                   NULL)) {
    expect_deepbmc_error(hierarchical_network(activation = bad), "value",
                         "activation", label = deparse(bad))
  }
})

test_that("a network must have one level per hierarchy level of the models", {
  one_level <- hierarchical_network(s1 = 4, s2 = 4, s3 = 4, summary_dim = 2)
  err <- expect_deepbmc_error(
    deepbmc:::network_config(one_level, normal_nested_models()),
    "mismatch", "network"
  )
  expect_match(conditionMessage(err), "1 level;", fixed = TRUE)
  expect_deepbmc_error(
    train_comparison(normal_nested_models(5, 5), one_level, epochs = 1,
                     iterations = 1, seed = 1, progress = FALSE),
    "mismatch", "network"
  )
})

test_that("network_config() adds input width and outputs and sizes the weights", {
  net <- api_network()
  config <- deepbmc:::network_config(net, normal_nested_models())
  expect_identical(config$input_dim, 1L)
  expect_identical(config$n_models, 2L)
  expect_identical(config[names(config) %in% names(net)],
                   unclass(net)[names(config)[names(config) %in% names(net)]])
  # counted by hand (n_dense = 1, widths 4, summary 2; each layer in x out
  # weights plus out biases). Level 1 reads 1 input: equivariant module
  # (1*4+4) + (4*4+4) + ((1+4)*4+4) = 52, invariant module 20 + 20 = 40,
  # summary 4*2+2 = 10. Level 2 reads 2: 12 + 20 + 28 = 60, 40, 10. Head: the
  # summary plus sqrt(L) and sqrt(N), (2+2)*4+4 = 20; output 4*2+2 = 10.
  expect_equal(deepbmc:::cpp_network_size(config),
               52 + 40 + 10 + 60 + 40 + 10 + 20 + 10)
})

test_that("R and the C++ glue spell the configuration alike", {
  fields <- deepbmc:::network_config_fields
  expect_identical(deepbmc:::cpp_network_config_fields(), names(fields))
  config <- deepbmc:::network_config(api_network(), normal_nested_models())
  expect_identical(names(config), names(fields))
  expect_identical(unname(vapply(config, typeof, "")), unname(fields))
  # the fields other than the model set's sizes are the network's
  expect_true(all(setdiff(names(fields), c("input_dim", "n_models")) %in%
                    names(api_network())))
  # the optional head elements of training methods (issue 14)
  expect_identical(deepbmc:::cpp_network_head_fields(),
                   names(deepbmc:::network_head_fields))
})

test_that("format() and print() describe the architecture", {
  lines <- format(hierarchical_network())
  expect_type(lines, "character")
  expect_identical(lines[[1]], paste(
    "<deepbmc_network> Hierarchical invariant network, 2 levels, elu"
  ))
  expect_identical(lines[-1], c(
    "  2 equivariant modules per level, 2 dense layers per stack",
    "  level 1: s1 8, s2 32, s3 16, summary 10",
    "  level 2: s1 32, s2 128, s3 64, summary 10",
    "  head: 3 x 64",
    "  standardisation: none (features as they are)"
  ))
  small <- hierarchical_network(s1 = 3, s2 = 4, s3 = 5, summary_dim = 6,
                                n_dense = 1, n_equivariant = 1, head_units = 7,
                                head_layers = 2, activation = "relu")
  expect_identical(format(small), c(
    "<deepbmc_network> Hierarchical invariant network, 1 level, relu",
    "  1 equivariant module per level, 1 dense layer per stack",
    "  level 1: s1 3, s2 4, s3 5, summary 6",
    "  head: 2 x 7",
    "  standardisation: none (features as they are)"
  ))
  expect_output(res <- print(small), "level 1: s1 3, s2 4, s3 5, summary 6",
                fixed = TRUE)
  expect_identical(res, small)
})
