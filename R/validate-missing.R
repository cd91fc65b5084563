#' Accuracy and calibration against the share of missing values
#'
#' Simulates `n` data sets for every share of missing values, takes that
#' share of the observations out of each (missing completely at random, in
#' `features`), and measures the network on them with the metrics of
#' [validate()]: accuracy, log score and Brier score, and the calibration
#' error of every model. This is the robustness figure of Elsemüller et al.
#' (2024) for their application: a network trained with
#' `missing = missing_values(...)` should stay calibrated over the shares it
#' was trained on. The same `seed` gives the same data sets for every share,
#' so that the differences between shares come from the missing values alone.
#'
#' @param fit A trained network from [train_comparison()].
#' @param share Shares of missing observations, each in `[0, 1)`.
#' @param n Simulated data sets per share.
#' @param features Names of the features a missing observation loses; `NULL`
#'   for all (see [missing_values()]).
#' @inheritParams validate
#' @return A data frame of class `"deepbmc_missing_sweep"` with one row per
#'   share: `share`, `n`, then the metrics of [validate()] (`accuracy`,
#'   `log_score`, `brier`, `ece_<model>`, `mce_<model>`, ...). `autoplot()`
#'   plots a metric against the share (for per-model metrics one line per
#'   model).
#' @seealso [validate_sizes()] for the same across data set sizes.
#' @export
#' @examples
#' models <- normal_nested_models(groups = 10, obs = 10)
#' fit <- train_comparison(models, epochs = 1, iterations = 20, seed = 1,
#'                         missing = missing_values(share = c(0, 0.5)))
#' sweep <- validate_missing(fit, share = c(0, 0.25, 0.5), n = 200, seed = 2)
#' sweep
#' if (requireNamespace("ggplot2", quietly = TRUE)) {
#'   ggplot2::autoplot(sweep, metric = "ece")
#' }
validate_missing <- function(fit, share = seq(0, 0.5, 0.05), n = 1000,
                             features = NULL, seed = NULL,
                             threads = default_threads(), bins = 10) {
  check_fit(fit)
  ok <- is.numeric(share) && !is.object(share) && length(share) >= 1 &&
    !anyNA(share) && all(share >= 0 & share < 1)
  if (!ok) {
    abort_deepbmc(
      c(
        "{.arg share} must be a vector of shares in [0, 1).",
        x = "You supplied {describe_value(share)}."
      ),
      "value"
    )
  }
  share <- sort(unique(as.double(share)))
  n <- check_whole_number(n, max = max_simulations_per_size)
  seed <- check_seed(seed)
  threads <- check_threads(threads)
  bins <- check_whole_number(bins, max = max_bins)
  models <- fit$models
  # Resolved once, so that bad features fail before any simulation.
  missing_for_models(missing_values(share = 0, features = features), models,
                     arg = "features")
  names <- models$model_names
  rows <- lapply(share, function(s) {
    missing <- missing_for_models(
      missing_values(share = s, features = features), models
    )
    held_out <- simulate_for_validation(fit, models, n, seed, threads,
                                        missing = missing)
    logits <- held_out$logits
    colnames(logits) <- names
    log_pmp <- log_softmax_rows(logits)
    values <- metric_values(prepare_metrics(exp(log_pmp), log_pmp,
                                            held_out$model, bins))
    data.frame(share = s, n = n, as.list(values), check.names = FALSE)
  })
  sweep <- do.call(rbind, rows)
  attr(sweep, "features") <- features
  attr(sweep, "coding") <- fit_missing_coding(fit)
  attr(sweep, "training_missing") <- fit$training$missing
  attr(sweep, "bins") <- bins
  attr(sweep, "seed") <- seed
  attr(sweep, "model_names") <- names
  class(sweep) <- c("deepbmc_missing_sweep", "data.frame")
  sweep
}

# A subset is a plain data frame: the print method needs every column and the
# attributes that `[` drops.
#' @export
`[.deepbmc_missing_sweep` <- function(x, ...) {
  out <- NextMethod()
  if (is.data.frame(out)) {
    class(out) <- setdiff(class(out), "deepbmc_missing_sweep")
  }
  out
}

#' @export
print.deepbmc_missing_sweep <- function(x, digits = 3, ...) {
  names <- attr(x, "model_names")
  trained <- attr(x, "training_missing")
  cat(
    "<deepbmc_missing_sweep> ", nrow(x), " shares of missing observations x ",
    format_count(x$n[[1]]), " simulated data sets; ECE with ",
    attr(x, "bins"), " bins\n",
    "Network: ", if (is.null(trained)) {
      "trained without missing values"
    } else {
      paste0("trained with missing values (",
             if (identical(trained$coding, "none")) {
               "whole observations"
             } else {
               paste(trained$coding, "coding")
             }, ")")
    }, "\n",
    sep = ""
  )
  columns <- c("share", "accuracy", "log_score", "brier",
               paste0("ece_", names))
  shown <- as.data.frame(unclass(x))[intersect(columns, names(x))]
  shown[-1] <- lapply(shown[-1], formatC, digits = digits, format = "f")
  print(shown, row.names = FALSE, right = TRUE)
  invisible(x)
}

#' @rdname validate_missing
#' @param object A `"deepbmc_missing_sweep"`.
#' @param metric For `autoplot()`: a metric of [validate()] without the model
#'   suffix (`"accuracy"`, `"log_score"`, `"brier"`, `"ece"`, `"mce"`).
#' @param ... Not used.
#' @exportS3Method ggplot2::autoplot
autoplot.deepbmc_missing_sweep <- function(object, metric = "ece", ...) {
  check_dots_empty(...)
  metric <- check_choice(metric, c("accuracy", "log_score", "brier", "ece",
                                   "mce"))
  check_installed_package("ggplot2", "plot a missing-data sweep")
  names <- attr(object, "model_names")
  frame <- as.data.frame(unclass(object))
  per_model <- isTRUE(validation_metrics[[metric]]$per_model)
  columns <- paste0(metric, "_", names)
  # With two models the one-vs-rest calibration errors are equal: one line.
  same <- per_model && all(vapply(frame[columns], function(column) {
    isTRUE(all.equal(column, frame[[columns[[1]]]], tolerance = 1e-10))
  }, logical(1)))
  long <- if (per_model && !same) {
    do.call(rbind, lapply(names, function(name) {
      data.frame(share = frame$share, value = frame[[paste0(metric, "_", name)]],
                 model = name)
    }))
  } else if (same) {
    data.frame(share = frame$share, value = frame[[columns[[1]]]],
               model = paste(names, collapse = " = "))
  } else {
    data.frame(share = frame$share, value = frame[[metric]], model = "all")
  }
  trained <- attr(object, "training_missing")
  subtitle <- paste0(
    format_count(object$n[[1]]), " data sets per share; trained ",
    if (is.null(trained)) "without missing values" else
      paste0("with missing values (", trained$coding, ")")
  )
  plot <- ggplot2::ggplot(long, ggplot2::aes(x = .data$share, y = .data$value))
  plot <- if (per_model) {
    plot + ggplot2::geom_line(ggplot2::aes(colour = .data$model)) +
      ggplot2::geom_point(ggplot2::aes(colour = .data$model))
  } else {
    plot + ggplot2::geom_line(colour = "#1F4E79") +
      ggplot2::geom_point(colour = "#1F4E79")
  }
  if (metric %in% c("ece", "mce", "brier", "log_score")) {
    plot <- plot + ggplot2::expand_limits(y = 0)
  }
  plot + ggplot2::labs(
    x = "Share of missing observations", y = metric_label(metric),
    colour = "Model", title = paste(metric_label(metric),
                                    "against missing values"),
    subtitle = subtitle
  )
}
