#' Plots of validations, size sweeps and training histories
#'
#' `autoplot()` methods (for the generic in ggplot2, registered when ggplot2
#' is loaded) return ordinary ggplot objects that can be restyled with `+`;
#' `plot()` draws them. Every plot shows a table you can get on its own:
#' [calibration_curve()], the validation's `confusion_share`, its PMPs
#' (`as.data.frame(x, what = "data_sets")`), the rows of [validate_sizes()] and
#' [training_history()].
#'
#' * `type = "calibration"`: one panel per model with the calibration curve
#'   (mean PMP against observed share of the model, with Wilson intervals),
#'   the diagonal of perfect calibration, a histogram of the PMPs along the
#'   bottom and the ECE with its interval, as in BayesFlow's calibration plots.
#'   Points above the diagonal mean the network is underconfident there,
#'   points below overconfident.
#' * `type = "confusion"`: the confusion matrix as a heat map of row shares
#'   (how the data sets of each true model are classified), with counts.
#' * `type = "pmp"`: the distribution of each model's PMP, by true model. A
#'   good network piles the PMPs of the true model near 1.
#' * Size sweeps: a heat map of one metric over groups and observations.
#' * Fits: the training loss per step (faint) and its running mean, and the
#'   holdout loss after each epoch if the network was trained with `holdout`.
#'
#' @param object,x A validation from [validate()], a size sweep from
#'   [validate_sizes()] or a fit from [train_comparison()].
#' @param type Which plot of a validation.
#' @param metric Which metric of a size sweep (`"ece"`, the default,
#'   `"accuracy"`, `"log_score"`, `"brier"` or `"mce"`: the columns of the
#'   sweep), or (for fits) `"loss"` or `"accuracy"`.
#' @param ... Passed from `plot()` to `autoplot()`; otherwise unused.
#'
#' @return `autoplot()` returns a ggplot object; `plot()` draws it and returns
#'   it invisibly.
#' @name deepbmc_plots
#' @examples
#' if (requireNamespace("ggplot2", quietly = TRUE)) {
#'   library(ggplot2)
#'   models <- normal_nested_models(groups = 10, obs = 10)
#'   fit <- train_comparison(models, epochs = 2, iterations = 20, seed = 1)
#'   validation <- validate(fit, n = 300, seed = 2, boot = 50)
#'   autoplot(validation)
#'   autoplot(validation, type = "confusion")
#'   autoplot(validation, type = "pmp") + theme_minimal()
#'   plot(fit)
#' }
NULL

#' @rdname deepbmc_plots
#' @exportS3Method ggplot2::autoplot
autoplot.deepbmc_validation <- function(object,
                                        type = c("calibration", "confusion",
                                                 "pmp"),
                                        ...) {
  check_dots_empty(...)
  type <- check_choice(type, c("calibration", "confusion", "pmp"))
  switch(type,
    calibration = plot_calibration(object),
    confusion = plot_confusion(object),
    pmp = plot_pmp(object)
  )
}

#' @rdname deepbmc_plots
#' @exportS3Method ggplot2::autoplot
autoplot.deepbmc_size_sweep <- function(object, metric = "ece", ...) {
  check_dots_empty(...)
  metric <- check_choice(metric, sweep_metrics())
  plot_size_sweep(object, metric)
}

#' @rdname deepbmc_plots
#' @exportS3Method ggplot2::autoplot
autoplot.deepbmc_fit <- function(object, metric = c("loss", "accuracy"),
                                 ...) {
  check_dots_empty(...)
  metric <- check_choice(metric, c("loss", "accuracy"))
  plot_history(object, metric)
}

#' @rdname deepbmc_plots
#' @export
plot.deepbmc_validation <- function(x, ...) {
  draw_autoplot(x, ...)
}

#' @rdname deepbmc_plots
#' @export
plot.deepbmc_size_sweep <- function(x, ...) {
  draw_autoplot(x, ...)
}

#' @rdname deepbmc_plots
#' @export
plot.deepbmc_fit <- function(x, ...) {
  draw_autoplot(x, ...)
}

draw_autoplot <- function(x, ..., call = rlang::caller_env()) {
  check_installed_package("ggplot2", "to plot", call = call)
  plot <- ggplot2::autoplot(x, ...)
  print(plot)
  invisible(plot)
}

# --- Validation plots ---------------------------------------------------------

# Histograms of the PMPs are drawn along the bottom of each calibration panel,
# scaled so that the tallest bar is this high.
pmp_histogram_height <- 0.2

plot_calibration <- function(x) {
  curve <- calibration_curve(x)
  model_names <- colnames(x$pmp)
  histogram <- pmp_histogram(x$pmp, bins = 50)
  ece <- x$estimates[x$estimates$metric == "ece", ]
  # On separate lines, so that the label fits a panel of three or more.
  label <- data.frame(
    model = factor(ece$model, levels = model_names),
    text = paste0(
      "ECE ", formatC(ece$estimate, digits = 3, format = "f"),
      ifelse(
        is.na(ece$conf_low), "",
        paste0(
          "\n[", formatC(ece$conf_low, digits = 3, format = "f"), ", ",
          formatC(ece$conf_high, digits = 3, format = "f"), "]"
        )
      ),
      calibration_verdict_labels(x$calibration_test, ece$model)
    )
  )
  ggplot2::ggplot(curve, ggplot2::aes(x = .data$mean_pmp, y = .data$observed)) +
    ggplot2::geom_rect(
      data = histogram,
      ggplot2::aes(xmin = .data$lower, xmax = .data$upper, ymin = 0,
                   ymax = .data$height),
      inherit.aes = FALSE, fill = "grey75"
    ) +
    ggplot2::geom_abline(slope = 1, intercept = 0, linetype = "dashed",
                         colour = "grey40") +
    ggplot2::geom_linerange(
      ggplot2::aes(ymin = .data$conf_low, ymax = .data$conf_high),
      colour = "#1F4E79", alpha = 0.6
    ) +
    ggplot2::geom_line(colour = "#1F4E79") +
    ggplot2::geom_point(colour = "#1F4E79") +
    ggplot2::geom_text(
      data = label, ggplot2::aes(x = 0.03, y = 0.97, label = .data$text),
      inherit.aes = FALSE, hjust = 0, vjust = 1, size = 3, lineheight = 0.9
    ) +
    ggplot2::facet_wrap(ggplot2::vars(.data$model)) +
    # Ticks 0, 0.5, 1 and spaced panels: neighbouring "1.00" and "0.00" ran
    # together.
    ggplot2::scale_x_continuous(breaks = c(0, 0.5, 1),
                                labels = c("0", "0.5", "1")) +
    ggplot2::scale_y_continuous(breaks = c(0, 0.5, 1),
                                labels = c("0", "0.5", "1")) +
    ggplot2::coord_equal(xlim = c(0, 1), ylim = c(0, 1)) +
    ggplot2::theme(panel.spacing = ggplot2::unit(1.2, "lines")) +
    ggplot2::labs(
      x = "Predicted probability (mean PMP in bin)",
      y = "Observed share of the model",
      title = "Calibration of the posterior model probabilities",
      subtitle = paste0(
        format_count(x$n), " data sets, ", x$bins,
        " bins; bars: distribution of the PMPs"
      )
    )
}

# Per model, the calibration test's verdict as a line of the panel label
# ("" without a test): the level is the one print() states.
calibration_verdict_labels <- function(test, models,
                                       alpha = calibration_alpha) {
  row <- match(models, test$model)
  p <- test$p_value[row]
  ifelse(
    is.na(p), "",
    paste0("\n", ifelse(p < alpha, "miscalibrated", "calibrated"),
           " (p ", ifelse(p < alpha, paste("<", format(alpha)),
                          paste("=", format.pval(p, digits = 2))), ")")
  )
}

# Relative histogram heights of each model's PMPs, for drawing under a
# calibration curve.
pmp_histogram <- function(pmp, bins) {
  model_names <- colnames(pmp)
  tables <- lapply(seq_along(model_names), function(k) {
    counts <- tabulate(bin_index(pmp[, k], bins), nbins = bins)
    data.frame(
      model = factor(model_names[[k]], levels = model_names),
      lower = (seq_len(bins) - 1) / bins,
      upper = seq_len(bins) / bins,
      height = pmp_histogram_height * counts / max(counts)
    )
  })
  histogram <- do.call(rbind, tables)
  histogram[histogram$height > 0, ]
}

plot_confusion <- function(x) {
  model_names <- colnames(x$pmp)
  cells <- as.data.frame(x$confusion, responseName = "count",
                         stringsAsFactors = FALSE)
  shares <- as.data.frame(x$confusion_share, responseName = "share",
                          stringsAsFactors = FALSE)
  cells$share <- shares$share
  cells$true <- factor(cells$true, levels = rev(model_names))
  cells$predicted <- factor(cells$predicted, levels = model_names)
  cells$label <- paste0(
    formatC(cells$share, digits = 3, format = "f"), "\n(", cells$count, ")"
  )
  ggplot2::ggplot(
    cells,
    ggplot2::aes(x = .data$predicted, y = .data$true, fill = .data$share)
  ) +
    ggplot2::geom_tile(colour = "white") +
    ggplot2::geom_text(ggplot2::aes(label = .data$label), size = 3.5) +
    ggplot2::scale_fill_gradient(low = "white", high = "#1F4E79",
                                 limits = c(0, 1), na.value = "grey90") +
    ggplot2::coord_equal() +
    ggplot2::labs(
      x = "Predicted model (highest PMP)", y = "True model",
      fill = "Share of\ntrue model",
      title = "Confusion matrix",
      subtitle = paste0(
        "Accuracy ", formatC(x$metrics$accuracy, digits = 3, format = "f"),
        " on ", format_count(x$n), " data sets; counts in brackets"
      )
    )
}

plot_pmp <- function(x) {
  model_names <- colnames(x$pmp)
  long <- data.frame(
    pmp_of = factor(rep(paste("PMP of", model_names), each = nrow(x$pmp)),
                    levels = paste("PMP of", model_names)),
    pmp = as.vector(x$pmp),
    true = factor(model_names[rep(x$model, times = ncol(x$pmp))],
                  levels = model_names)
  )
  ggplot2::ggplot(long, ggplot2::aes(x = .data$pmp, fill = .data$true)) +
    # Stacked, not overlaid: blended colours of three or more models
    # matched no entry of the legend.
    ggplot2::geom_histogram(
      breaks = seq(0, 1, length.out = 31), position = "stack",
      colour = "white", linewidth = 0.1
    ) +
    ggplot2::facet_wrap(ggplot2::vars(.data$pmp_of)) +
    ggplot2::labs(
      x = "Posterior model probability", y = "Data sets",
      fill = "True model",
      title = "Posterior model probabilities by true model"
    )
}

# --- Size sweeps and training ---------------------------------------------------

# Axis and legend titles: the registry's labels (R/metrics.R), and those of
# the training history.
metric_label <- function(metric) {
  if (metric == "loss") {
    return("Log loss")
  }
  entry <- validation_metrics[[metric]]
  entry$long_label %||% entry$label
}

plot_size_sweep <- function(x, metric) {
  cells <- as.data.frame(unclass(x))[c("groups", "obs", metric)]
  names(cells)[[3]] <- "value"
  cells$groups <- factor(cells$groups, levels = sort(unique(cells$groups)))
  cells$obs <- factor(cells$obs, levels = sort(unique(cells$obs)))
  cells$label <- formatC(cells$value, digits = 3, format = "f")
  training <- attr(x, "training_sizes")
  ggplot2::ggplot(
    cells,
    ggplot2::aes(x = .data$obs, y = .data$groups, fill = .data$value)
  ) +
    ggplot2::geom_tile(colour = "white") +
    ggplot2::geom_text(ggplot2::aes(label = .data$label), size = 3) +
    ggplot2::scale_fill_gradient(low = "white", high = "#1F4E79") +
    ggplot2::labs(
      x = "Observations per group", y = "Groups",
      fill = metric_label(metric),
      title = paste(metric_label(metric), "across data set sizes"),
      # Two lines: one was cut off at the width of a vignette figure.
      subtitle = paste0(
        format_count(x$n[[1]]), " simulated data sets per cell\ntrained on ",
        format_range(training$groups), " groups x ",
        format_range(training$obs), " observations"
      )
    )
}

plot_history <- function(fit, metric) {
  history <- training_history(fit)
  history$value <- history[[metric]]
  training <- history[history$set == "training", ]
  holdout <- history[history$set == "holdout", ]
  # The mean over a window of about 2% of the steps shows the trend through
  # the noise of single batches; within each phase, since a new phase (other
  # sizes, a new schedule) starts a new curve.
  window <- max(1L, round(nrow(training) / 50))
  training$smooth <- unlist(lapply(
    split(training$value, training$phase), running_mean, window = window
  ), use.names = FALSE)
  plot <- ggplot2::ggplot(training, ggplot2::aes(x = .data$step)) +
    ggplot2::geom_line(
      ggplot2::aes(y = .data$value, group = .data$phase),
      colour = "grey70", linewidth = 0.3
    ) +
    ggplot2::geom_line(
      ggplot2::aes(y = .data$smooth, colour = "training (running mean)",
                   group = .data$phase)
    )
  if (nrow(holdout) > 0) {
    plot <- plot +
      ggplot2::geom_line(
        data = holdout,
        ggplot2::aes(y = .data$value, colour = "holdout", group = .data$phase)
      ) +
      ggplot2::geom_point(
        data = holdout,
        ggplot2::aes(y = .data$value, colour = "holdout")
      )
  }
  phases <- fit_phases(fit)
  subtitle <- NULL
  if (nrow(phases) > 1) {
    # A dashed line where each phase after the first starts; each phase
    # labelled with its sizes in its middle, so that no label runs off the
    # panel.
    starts <- data.frame(
      step = phases$first_step - 0.5,
      middle = (phases$first_step + phases$last_step) / 2,
      label = paste0("phase ", phases$phase, "\n",
                     format_phase_sizes(phases))
    )
    plot <- plot +
      ggplot2::geom_vline(
        data = starts[-1, , drop = FALSE],
        ggplot2::aes(xintercept = .data$step),
        linetype = "dashed", colour = "grey40"
      ) +
      ggplot2::geom_text(
        data = starts,
        ggplot2::aes(x = .data$middle, y = Inf, label = .data$label),
        inherit.aes = FALSE, hjust = 0.5, vjust = 1.2, size = 3,
        colour = "grey30"
      )
    subtitle <- paste(nrow(phases), "phases (groups x observations)")
  }
  plot +
    ggplot2::scale_colour_manual(
      values = c("training (running mean)" = "#1F4E79", holdout = "#C55A11")
    ) +
    ggplot2::labs(
      x = "Step", y = metric_label(metric),
      colour = NULL, title = "Training history", subtitle = subtitle
    )
}

# Mean of the last `window` values at each position (fewer at the start).
running_mean <- function(x, window) {
  sums <- cumsum(x)
  lagged <- c(rep(0, window), sums)[seq_along(x)]
  counts <- pmin(seq_along(x), window)
  (sums - lagged) / counts
}
