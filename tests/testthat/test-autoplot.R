test_tier("fast")
# autoplot() and plot() methods (R/autoplot.R): every plot builds without
# warnings and draws the table it claims to.

skip_if_not_installed("ggplot2")

plot_validation <- function() {
  if (is.null(api_cache$validation)) {
    api_cache$validation <- validate(api_fit(), n = 400, seed = 5, boot = 30)
  }
  api_cache$validation
}

# Builds a plot, failing on any warning, and returns the built data.
built <- function(plot) {
  expect_s3_class(plot, "ggplot")
  expect_no_warning(result <- ggplot2::ggplot_build(plot))
  result
}

# The data of the first layer drawn by a geom of class `geom`.
layer_of <- function(built_plot, geom) {
  geoms <- vapply(built_plot$plot$layers, function(l) class(l$geom)[[1]],
                  character(1))
  built_plot$data[[which(geoms == geom)[[1]]]]
}

test_that("the calibration plot draws calibration_curve() with the diagonal", {
  v <- plot_validation()
  plot <- ggplot2::autoplot(v)
  b <- built(plot)
  curve <- calibration_curve(v)
  points <- layer_of(b, "GeomPoint")
  expect_identical(nrow(points), nrow(curve))
  # one panel per model, in model order
  expect_identical(as.integer(points$PANEL), as.integer(curve$model))
  expect_equal(points$x, curve$mean_pmp)
  expect_equal(points$y, curve$observed)
  ranges <- layer_of(b, "GeomLinerange")
  expect_equal(ranges$ymin, curve$conf_low)
  expect_equal(ranges$ymax, curve$conf_high)
  diagonal <- layer_of(b, "GeomAbline")
  expect_true(all(diagonal$slope == 1 & diagonal$intercept == 0))
  # the histogram of the PMPs: its bars count each model's PMPs
  bars <- layer_of(b, "GeomRect")
  expect_true(all(bars$ymax > 0 & bars$ymax <= 0.2 + 1e-12))
  expect_equal(max(bars$ymax), 0.2)
  m1_bars <- bars[bars$PANEL == 2, ]
  counts <- tabulate(pmin(floor(v$pmp[, "M1"] * 50) + 1, 50), 50)
  expect_equal(m1_bars$ymax, 0.2 * counts[counts > 0] / max(counts))
  # the ECE with its interval and the calibration test's verdict in each
  # panel, on lines of their own so that three panels have room
  labels <- layer_of(b, "GeomText")$label
  ece <- v$estimates[v$estimates$metric == "ece", ]
  test <- v$calibration_test
  verdict <- ifelse(
    test$p_value < 0.01, "miscalibrated (p < 0.01)",
    paste0("calibrated (p = ", format.pval(test$p_value, digits = 2), ")")
  )
  expect_identical(
    labels,
    paste0("ECE ", formatC(ece$estimate, digits = 3, format = "f"), "\n[",
           formatC(ece$conf_low, digits = 3, format = "f"), ", ",
           formatC(ece$conf_high, digits = 3, format = "f"), "]\n",
           verdict)
  )
  # ticks that do not run into the neighbouring panel's
  expect_identical(b$layout$panel_params[[1]]$x$get_labels(),
                   c("0", "0.5", "1"))
  # an ordinary ggplot: restyling works
  restyled <- plot + ggplot2::theme_minimal() + ggplot2::labs(title = "Mine")
  expect_identical(built(restyled)$plot$labels$title, "Mine")
})

test_that("the confusion heat map shows row shares and counts", {
  v <- plot_validation()
  b <- built(ggplot2::autoplot(v, type = "confusion"))
  tiles <- layer_of(b, "GeomTile")
  text <- layer_of(b, "GeomText")
  expect_identical(nrow(tiles), 4L)
  shares <- prop.table(v$confusion, 1)
  # as.data.frame() of the table: true varies fastest
  expected_labels <- paste0(
    formatC(as.vector(shares), digits = 3, format = "f"), "\n(",
    as.vector(v$confusion), ")"
  )
  expect_identical(text$label, expected_labels)
  # darker for larger shares: the fill is monotone in the share
  fill_order <- order(as.vector(shares))
  lightness <- colSums(grDevices::col2rgb(tiles$fill))
  expect_true(all(diff(lightness[fill_order]) <= 0))
})

test_that("the PMP histograms split each model's PMPs by true model", {
  v <- plot_validation()
  b <- built(ggplot2::autoplot(v, type = "pmp"))
  bars <- layer_of(b, "GeomBar")
  # every data set appears once per panel
  expect_equal(sum(bars$count), 2 * v$n)
  in_panel_2 <- bars[bars$PANEL == 2, ]
  expect_equal(sum(in_panel_2$count), v$n)
  # M1's PMPs of true M1 data sets, counted in 30 bins
  true_m1 <- v$pmp[v$model == 2, "M1"]
  group_m1 <- in_panel_2[in_panel_2$group == 2, ]
  expected <- as.vector(table(cut(true_m1, seq(0, 1, length.out = 31),
                                  include.lowest = TRUE)))
  expect_equal(group_m1$count, expected)
  # stacked, so that no colour is a blend of two models': each bin's top is
  # the sum of its counts
  top <- tapply(bars$ymax, list(bars$PANEL, bars$x), max)
  total <- tapply(bars$count, list(bars$PANEL, bars$x), sum)
  expect_equal(top, total)
})

test_that("the size sweep heat map shows the chosen metric", {
  fit <- api_fit()
  sweep <- validate_sizes(fit, groups = c(2, 10), obs = c(1, 5, 20), n = 50,
                          seed = 3)
  for (metric in c("ece", "accuracy", "log_score", "brier", "mce")) {
    b <- built(ggplot2::autoplot(sweep, metric = metric))
    tiles <- layer_of(b, "GeomTile")
    expect_identical(nrow(tiles), 6L)
    expect_identical(layer_of(b, "GeomText")$label,
                     formatC(sweep[[metric]], digits = 3, format = "f"))
  }
  expect_deepbmc_error(ggplot2::autoplot(sweep, metric = "speed"), "value",
                       "metric")
})

test_that("the training history shows the loss per step and the holdout loss", {
  fit <- api_fit()
  history <- training_history(fit)
  b <- built(ggplot2::autoplot(fit))
  lines <- b$data[[1]]
  expect_equal(lines$y, history$loss[history$set == "training"])
  b_acc <- built(ggplot2::autoplot(fit, metric = "accuracy"))
  expect_equal(b_acc$data[[1]]$y, history$accuracy[history$set == "training"])
  expect_equal(deepbmc:::running_mean(c(1, 2, 3, 4, 10), 2),
               c(1, 1.5, 2.5, 3.5, 7))

  with_holdout <- train_comparison(
    api_models(), api_network(), epochs = 3, iterations = 5, batch_size = 8,
    holdout = 40, seed = 2, progress = FALSE
  )
  b <- built(ggplot2::autoplot(with_holdout))
  points <- layer_of(b, "GeomPoint")
  expect_equal(points$x, c(5, 10, 15))
  expect_equal(points$y, with_holdout$holdout_history$loss)
})

test_that("plot() draws the autoplot and checks its arguments", {
  v <- plot_validation()
  pdf(NULL)
  on.exit(grDevices::dev.off())
  drawn <- withVisible(plot(v, type = "confusion"))
  expect_false(drawn$visible)
  expect_s3_class(drawn$value, "ggplot")
  expect_s3_class(plot(api_fit()), "ggplot")
  expect_deepbmc_error(ggplot2::autoplot(v, type = "roc"), "value", "type")
  expect_deepbmc_error(ggplot2::autoplot(v, bins = 3), "type")
})
