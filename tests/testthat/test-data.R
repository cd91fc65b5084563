test_tier("fast")
# Data formats (R/data.R): every accepted form of the same data gives the same
# posterior model probabilities; NA is masked, empty groups are dropped, and
# malformed data are classed errors naming the argument.

# The network pools in single precision, in an order that depends on how the
# data are laid out, so equal data in different layouts agree to ~1e-7.
format_tol <- 1e-6

test_that("the test fit's probabilities depend on the data (the checks have power)", {
  fit <- api_fit()
  a <- post_prob(fit, api_groups(1))
  b <- post_prob(fit, api_groups(2, mean = 2))
  c <- post_prob(fit, api_groups(1)[-1])
  expect_gt(abs(a[["M1"]] - b[["M1"]]), 1e-3)
  # dropping one observed group changes the result well beyond format_tol
  expect_gt(abs(a[["M1"]] - c[["M1"]]), 100 * format_tol)
})

test_that("matrix, data frame and list of groups give the same probabilities", {
  fit <- api_fit()
  groups <- api_groups(3)
  from_list <- post_prob(fit, groups)
  expect_named(from_list, c("M0", "M1"))

  mat <- groups_to_matrix(groups)
  expect_true(anyNA(mat))
  expect_equal(post_prob(fit, mat), from_list, tolerance = format_tol)

  df <- groups_to_data_frame(groups)
  expect_equal(post_prob(fit, df), from_list, tolerance = format_tol)
  # rows in any order, groups as characters or factors, other column names
  shuffled <- df[withr::with_seed(4, sample(nrow(df))), ]
  shuffled$group <- paste0("g", shuffled$group)
  expect_equal(post_prob(fit, shuffled), from_list, tolerance = format_tol)
  shuffled$group <- factor(shuffled$group, levels = c("unused", paste0("g", 4:1)))
  names(shuffled) <- c("subject", "rt")
  expect_equal(post_prob(fit, shuffled), from_list, tolerance = format_tol)
  # more than two columns: "group" and "y" by default, or named ones
  wide <- data.frame(id = seq_len(nrow(df)), y = df$y, group = df$group,
                     other = 0)
  expect_equal(post_prob(fit, wide), from_list, tolerance = format_tol)
  wide2 <- data.frame(a = df$y, cond = 1, b = df$group)
  expect_equal(post_prob(fit, wide2, group = "b", response = "a"), from_list,
               tolerance = format_tol)

  # one data set wrapped in a list of data sets: a one-row matrix
  for (one in list(list(mat), list(df), list(groups))) {
    wrapped <- post_prob(fit, one)
    expect_true(is.matrix(wrapped))
    expect_identical(dim(wrapped), c(1L, 2L))
    expect_identical(colnames(wrapped), c("M0", "M1"))
    expect_equal(wrapped[1, ], from_list, tolerance = format_tol)
  }
})

test_that("integer data equal the same numbers as doubles", {
  fit <- api_fit()
  int <- matrix(c(1L, -2L, 3L, 0L, 2L, 1L, -1L, 1L, 4L), nrow = 3)
  expect_equal(post_prob(fit, int), post_prob(fit, int * 1.0),
               tolerance = format_tol)
  expect_equal(post_prob(fit, list(1:3, c(0L, 2L))),
               post_prob(fit, list(c(1, 2, 3), c(0, 2))),
               tolerance = format_tol)
})

test_that("NA is masked wherever it is, not only as padding", {
  fit <- api_fit()
  groups <- api_groups(5, sizes = c(5, 5, 5))
  reference <- post_prob(fit, groups)
  holes <- groups
  holes[[1]] <- append(holes[[1]], NA, after = 2)
  holes[[3]] <- c(NA, holes[[3]], NA)
  expect_equal(post_prob(fit, holes), reference, tolerance = format_tol)
  mat <- groups_to_matrix(holes)
  expect_equal(post_prob(fit, mat), reference, tolerance = format_tol)
  df <- groups_to_data_frame(holes)
  expect_true(anyNA(df$y))
  expect_equal(post_prob(fit, df), reference, tolerance = format_tol)
  # NA is not read as 0
  zeros <- groups
  zeros[[1]] <- append(zeros[[1]], 0, after = 2)
  expect_gt(abs(post_prob(fit, zeros)[["M1"]] - reference[["M1"]]), 1e-5)
})

test_that("a group without observed values is dropped", {
  fit <- api_fit()
  groups <- api_groups(6)
  reference <- post_prob(fit, groups)
  mat <- groups_to_matrix(groups)
  # an all-NA row, first, in the middle and last
  for (at in c(0, 2, nrow(mat))) {
    after <- setdiff(seq_len(nrow(mat)), seq_len(at))
    padded <- rbind(mat[seq_len(at), , drop = FALSE], NA,
                    mat[after, , drop = FALSE])
    expect_identical(nrow(padded), nrow(mat) + 1L)
    expect_equal(post_prob(fit, padded), reference, tolerance = format_tol,
                 label = paste("NA row after", at))
  }
  # a list element that is NA, all NA, or empty
  for (empty in list(NA, c(NA_real_, NA_real_), numeric(0))) {
    expect_equal(post_prob(fit, c(groups[1:2], list(empty), groups[-(1:2)])),
                 reference, tolerance = format_tol)
  }
  # a group of a data frame whose responses are all NA
  df <- groups_to_data_frame(groups)
  df <- rbind(df, data.frame(group = 99, y = c(NA, NA)))
  expect_equal(post_prob(fit, df), reference, tolerance = format_tol)
})

test_that("several data sets give one row each, equal to one at a time", {
  fit <- api_fit()
  sets <- list(
    groups_to_matrix(api_groups(7)),
    groups_to_data_frame(api_groups(8, sizes = c(3, 12, 1))),
    api_groups(9, sizes = c(20, 1, 7, 7, 2, 5)),
    withr::with_seed(12, matrix(stats::rnorm(40, mean = 3), nrow = 4))
  )
  batch <- post_prob(fit, sets)
  expect_true(is.matrix(batch))
  expect_identical(dim(batch), c(4L, 2L))
  expect_identical(colnames(batch), c("M0", "M1"))
  for (i in seq_along(sets)) {
    expect_equal(batch[i, ], post_prob(fit, sets[[i]]), tolerance = format_tol,
                 label = paste("data set", i))
  }
  # the same data sets in another order give the rows in that order
  expect_equal(post_prob(fit, rev(sets)), batch[4:1, ], tolerance = format_tol)
  # a list of lists of groups is several data sets
  lists <- list(api_groups(10), api_groups(11, sizes = c(2, 2)))
  expect_identical(dim(post_prob(fit, lists)), c(2L, 2L))
})

test_that("simulations from simulate_datasets() are accepted as they are", {
  fit <- api_fit()
  sims <- simulate_datasets(normal_nested_models(c(3, 6), c(2, 8)), n = 5,
                            seed = 3)
  expect_identical(post_prob(fit, sims), post_prob(fit, sims$data))
  expect_identical(dim(post_prob(fit, sims)), c(5L, 2L))
})

test_that("packing and unpacking return the data with NA in place", {
  groups <- list(c(1.5, NA, -2), c(NA, NA), c(4, 5), 7)
  converted <- deepbmc:::as_datasets(groups)
  expect_true(converted$single)
  dataset <- converted$datasets[[1]]
  # the all-NA group is gone, the NA inside group 1 is kept and masked
  expect_identical(dataset$sizes, c(3L, 2L, 1L))
  expect_identical(dataset$observed, c(2L, 2L, 1L))
  batch <- deepbmc:::pack_datasets(converted$datasets)
  expect_identical(batch$values, c(1.5, 0, -2, 4, 5, 7))
  expect_identical(batch$mask, c(TRUE, FALSE, TRUE, TRUE, TRUE, TRUE))
  expect_identical(batch$group_offsets, c(0L, 3L, 5L, 6L))
  expect_identical(batch$dataset_offsets, c(0L, 3L))
  expect_identical(batch$n_features, 1L)
  expect_identical(deepbmc:::unpack_batch(batch),
                   list(list(c(1.5, NA, -2), c(4, 5), 7)))

  # two data sets, one of equal-sized groups (unpacked as a matrix)
  mat <- matrix(c(1, 2, NA, 4, 5, 6), nrow = 2, byrow = TRUE)
  two <- deepbmc:::as_datasets(list(mat, list(1, c(2, 3))))
  expect_false(two$single)
  packed <- deepbmc:::pack_datasets(two$datasets)
  expect_identical(packed$dataset_offsets, c(0L, 2L, 4L))
  expect_identical(deepbmc:::unpack_batch(packed),
                   list(mat, list(1, c(2, 3))))
  sizes <- deepbmc:::dataset_sizes(two$datasets)
  expect_identical(sizes$groups, c(2L, 2L))
  expect_identical(sizes$min_obs, c(2L, 1L))
  expect_identical(sizes$max_obs, c(3L, 2L))
})

test_that("malformed data are classed errors naming the argument", {
  fit <- api_fit()
  bad <- list(
    all_na_matrix = matrix(NA_real_, 3, 3),
    all_na_list = list(NA, c(NA, NA)),
    all_na_df = data.frame(group = 1:2, y = NA),
    inf = matrix(c(1, Inf, 2, 3), 2),
    minus_inf = list(c(1, 2), -Inf),
    nan = matrix(c(1, NaN), 1),
    nan_df = data.frame(group = 1:2, y = c(1, NaN)),
    character_matrix = matrix("a", 2, 2),
    logical_matrix = matrix(TRUE, 2, 2),
    empty_matrix = matrix(numeric(0), 0, 3),
    no_columns = matrix(numeric(0), 2, 0),
    empty_list = list(),
    vector = c(1, 2, 3),
    string = "a",
    null = NULL,
    number_and_set = list(matrix(1, 2, 2), 1:3),
    group_and_string = list(c(1, 2), "a"),
    character_response = data.frame(group = 1:3, y = c("a", "b", "c")),
    factor_response = data.frame(group = 1:2, y = factor(c(1, 2))),
    na_group = data.frame(group = c(1, NA, 2), y = 1:3),
    missing_columns = data.frame(a = 1, b = 2, c = 3),
    no_rows = data.frame(group = integer(0), y = numeric(0)),
    a_function = mean
  )
  for (name in names(bad)) {
    expect_deepbmc_error(post_prob(fit, bad[[name]]), "data", "data",
                         label = name)
  }
  # wrong column names given by the user
  df <- data.frame(g = 1:3, y = c(1, 2, 3))
  err <- expect_deepbmc_error(post_prob(fit, df, group = "h"), "data", "data")
  expect_match(conditionMessage(err), "no column h", fixed = TRUE)
  expect_deepbmc_error(post_prob(fit, df, group = "g", response = 2), "data",
                       "data")
  # within several data sets the message points at the bad one
  err <- expect_deepbmc_error(
    post_prob(fit, list(matrix(1, 2, 2), matrix(NA_real_, 2, 2))),
    "data", "data[[2]]"
  )
  # and the argument is named as in the function called
  expect_deepbmc_error(bayes_factor(fit, matrix(NA_real_, 2, 2)), "data", "x2")
  expect_deepbmc_error(compare_models(fit, list(1, "a")), "data", "data")
})

test_that("a data set may be as small as one observation in one group", {
  tiny_fit <- train_comparison(
    normal_nested_models(1, 1), api_network(), epochs = 1, iterations = 2,
    seed = 1, progress = FALSE
  )
  one <- post_prob(tiny_fit, matrix(0.5, 1, 1))
  expect_equal(sum(one), 1)
  expect_equal(post_prob(tiny_fit, list(0.5)), one, tolerance = format_tol)
  expect_equal(post_prob(tiny_fit, data.frame(group = "a", y = 0.5)), one,
               tolerance = format_tol)
})

test_that("a two-column data frame with the default names is read by name", {
  fit <- api_fit()
  df <- groups_to_data_frame(api_groups(30))
  expect_equal(post_prob(fit, df[, c("y", "group")]), post_prob(fit, df),
               tolerance = format_tol)
})
