# Methods for bridge_compare() results: print, summary, plots.

#' @export
print.deepbmc_bridge_comparison <- function(x, digits = 3, ...) {
  columns <- c("data_set", "model", "pmp_network", "pmp_bridge", "logml",
               "logml_error", "divergent", "max_rhat")
  table <- as.data.frame.data.frame(x)
  if (!all(columns %in% names(table))) {
    # Some columns selected by `[`: a plain data frame.
    print(table, digits = digits, ...)
    return(invisible(x))
  }
  n_sets <- length(unique(table$data_set))
  cat("<deepbmc_bridge_comparison> ", n_sets, " data set",
      if (n_sets != 1) "s", ", ", length(unique(table$model)),
      " models: network vs bridge sampling\n", sep = "")
  # Log marginal likelihoods with fixed decimals: with significant digits,
  # -887.2 and -886.6 both show as -887.
  shown <- data.frame(
    data_set = table$data_set,
    model = table$model,
    pmp_network = format_probability(table$pmp_network, digits),
    pmp_bridge = format_probability(table$pmp_bridge, digits),
    logml = format_fixed(table$logml, 2),
    logml_error = formatC(table$logml_error, digits = 2, format = "g"),
    divergent = table$divergent,
    max_rhat = format_fixed(table$max_rhat, 3)
  )
  print(shown, row.names = FALSE, right = TRUE)
  invisible(x)
}

#' Agreement of a network with bridge sampling
#'
#' Summarises a [bridge_compare()] table: how far the network's posterior
#' model probabilities are from those of bridge sampling, how often both pick
#' the same model, how well their log Bayes factors correlate, and the MCMC
#' diagnostics.
#'
#' @param object A result of [bridge_compare()].
#' @param ... Unused.
#' @return A list of class `"summary.deepbmc_bridge_comparison"` with
#'   `n_data_sets`, `mean_abs_diff` and `max_abs_diff` (of the PMPs over all
#'   data sets and models), `decision_agreement` (share of data sets where both
#'   give the highest probability to the same model), `log_bf_cor`
#'   (correlation of the log Bayes factors against the first model; `NA` with
#'   fewer than three data sets), `max_log_bf_gap` (the largest absolute
#'   difference of the log Bayes factors against the first model, network
#'   minus bridge sampling: PMPs can agree to 0.001 while Bayes factors
#'   differ tenfold), `max_log_bf_gap_data_set` and `max_log_bf_gap_model`
#'   (where it is; `NA` with one model), `log_bf_bins` (the agreement by
#'   bins of the bridge-sampling value, see [log_bf_agreement()]),
#'   `max_logml_error`, `divergent` (total),
#'   `max_rhat` and `seconds_per_data_set` (sampling and bridge sampling).
#' @export
summary.deepbmc_bridge_comparison <- function(object, ...) {
  x <- as.data.frame.data.frame(object)
  difference <- abs(x$pmp_network - x$pmp_bridge)
  pick <- function(column) {
    vapply(split(x, x$data_set), function(d) d$model[which.max(d[[column]])],
           character(1))
  }
  others <- x[x$model != x$model[[1]], , drop = FALSE]
  gap <- others$log_bf_network - others$log_bf_bridge
  largest <- if (length(gap) > 0 && any(!is.na(gap))) which.max(abs(gap))
  seconds <- tapply(
    ifelse(is.na(x$sample_seconds), 0, x$sample_seconds) + x$bridge_seconds,
    x$data_set, sum
  )
  structure(
    list(
      n_data_sets = length(unique(x$data_set)),
      mean_abs_diff = mean(difference),
      max_abs_diff = max(difference),
      decision_agreement = mean(pick("pmp_network") == pick("pmp_bridge")),
      log_bf_cor = if (nrow(others) >= 3) {
        suppressWarnings(stats::cor(others$log_bf_network,
                                    others$log_bf_bridge))
      } else {
        NA_real_
      },
      max_log_bf_gap = if (is.null(largest)) NA_real_ else gap[[largest]],
      max_log_bf_gap_data_set = if (is.null(largest)) NA else others$data_set[[largest]],
      max_log_bf_gap_model = if (is.null(largest)) NA_character_ else others$model[[largest]],
      log_bf_bins = if (!is.null(largest)) log_bf_agreement(object),
      max_logml_error = max(x$logml_error, na.rm = TRUE),
      divergent = sum(x$divergent),
      max_rhat = max(x$max_rhat, na.rm = TRUE),
      seconds_per_data_set = mean(seconds)
    ),
    class = "summary.deepbmc_bridge_comparison"
  )
}

#' @export
print.summary.deepbmc_bridge_comparison <- function(x, digits = 3, ...) {
  f <- function(v) format(signif(v, digits))
  cat(
    "Network vs bridge sampling on ", x$n_data_sets, " data set",
    if (x$n_data_sets != 1) "s", "\n",
    "  |PMP difference|: mean ", f(x$mean_abs_diff), ", max ",
    f(x$max_abs_diff), "\n",
    "  Same decision:    ", f(100 * x$decision_agreement), "%\n",
    "  Cor of log BFs:   ", f(x$log_bf_cor), "\n",
    if (!is.na(x$max_log_bf_gap)) {
      paste0("  Largest log BF gap: ", f(x$max_log_bf_gap),
             " (network - bridge; data set ", x$max_log_bf_gap_data_set,
             ", ", x$max_log_bf_gap_model, ")\n")
    },
    "  Bridge sampling:  max error of log ML ", f(x$max_logml_error),
    ", divergent transitions ", x$divergent, ", max R-hat ",
    f(x$max_rhat), "\n",
    "  Seconds per data set (sampling + bridge): ",
    f(x$seconds_per_data_set), "\n",
    sep = ""
  )
  invisible(x)
}

#' Plots of a bridge-sampling check
#'
#' `type = "pmp"` plots the network's posterior model probabilities against
#' those of bridge sampling, one point per data set and model, with the
#' identity line; `type = "log_bf"` does the same for the log Bayes factors
#' of each model against the first. Points on the line mean agreement.
#'
#' @param object,x A result of [bridge_compare()].
#' @param type `"pmp"` or `"log_bf"`.
#' @param ... Passed from `plot()` to `autoplot()`; otherwise unused.
#' @return `autoplot()` returns a ggplot object; `plot()` draws it and returns
#'   it invisibly.
#' @name bridge_plots
NULL

#' @rdname bridge_plots
#' @exportS3Method ggplot2::autoplot
autoplot.deepbmc_bridge_comparison <- function(object,
                                               type = c("pmp", "log_bf"),
                                               ...) {
  check_dots_empty(...)
  check_installed_package("ggplot2", "to plot")
  type <- check_choice(type, c("pmp", "log_bf"))
  x <- as.data.frame.data.frame(object)
  if (type == "pmp") {
    x$network <- x$pmp_network
    x$bridge <- x$pmp_bridge
    labels <- c("PMP by bridge sampling", "PMP by the network")
    limits <- c(0, 1)
  } else {
    x <- x[x$model != x$model[[1]], , drop = FALSE]
    x$network <- x$log_bf_network
    x$bridge <- x$log_bf_bridge
    reference <- object$model[[1]]
    labels <- paste0(c("log BF against ", "log BF against "), reference,
                     c(" (bridge sampling)", " (network)"))
    limits <- range(c(x$network, x$bridge))
  }
  # Models in the order of the model set, as in every other table.
  x$model <- factor(x$model, levels = unique(object$model))
  n_sets <- length(unique(object$data_set))
  ggplot2::ggplot(x, ggplot2::aes(x = .data$bridge, y = .data$network,
                                  colour = .data$model)) +
    ggplot2::geom_abline(slope = 1, intercept = 0, colour = "grey50",
                         linetype = "dashed") +
    ggplot2::geom_point(alpha = 0.8) +
    ggplot2::coord_equal(xlim = limits, ylim = limits) +
    ggplot2::labs(
      x = labels[[1]], y = labels[[2]], colour = "Model",
      title = "Network against bridge sampling",
      subtitle = paste0(n_sets, " data set", if (n_sets != 1) "s",
                        "; dashed: perfect agreement")
    )
}

#' @rdname bridge_plots
#' @export
plot.deepbmc_bridge_comparison <- function(x, ...) {
  draw_autoplot(x, ...)
}
