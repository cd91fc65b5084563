# Network log Bayes factors against reference values (issue 14): the data of
# BayesFlow's bayes_factor_recovery plot, agreement by bins of the reference,
# and the reference values validate() takes.

#' Network against reference log Bayes factors
#'
#' The data of a Bayes factor recovery plot (as BayesFlow's
#' `bayes_factor_recovery`): one row per data set and model other than the
#' first, with the network's log Bayes factor of that model against the first
#' and a reference value, from [validate()] with `reference_log_bf` or from
#' [bridge_compare()]. `log_bf_agreement()` summarises it by bins of the
#' reference value. Agreement of the posterior model probabilities says
#' little here: two PMPs of 0.99998 and 0.9999999 differ by less than
#' 0.0001, while their log Bayes factors are 10.8 and 16.1.
#'
#' @param x A result of [validate()] with reference values, or of
#'   [bridge_compare()]; for `log_bf_agreement()` also a
#'   `bayes_factor_recovery()` table.
#' @param ... Unused.
#' @param breaks Bin edges of the reference log Bayes factor.
#'
#' @return `bayes_factor_recovery()`: a data frame with columns `data_set`,
#'   `model`, `reference_model` (the first model), `network`, `reference` and
#'   `error` (`network - reference`), ready for
#'   `ggplot2::ggplot(aes(reference, network)) + geom_point() +
#'   geom_abline()`. `log_bf_agreement()`: a data frame with one row per bin
#'   and pair of models, columns `model`, `bin`, `n`, `median_reference`,
#'   `median_network`, `mean_abs_error` and `max_abs_error`.
#' @seealso [checked_range()]
#' @export
#' @examples
#' models <- normal_nested_models(groups = 10, obs = 10)
#' fit <- train_comparison(models, epochs = 1, iterations = 20, seed = 1)
#' sims <- simulate_datasets(models, n = 50, seed = 2)
#' # Reference values would come from numerical integration or bridge
#' # sampling; here the network's own values plus noise stand in for them.
#' log_bf <- bayes_factor(fit, sims, model1 = "M1", model2 = "M0")
#' v <- validate(fit, data = sims, reference_log_bf = log_bf + rnorm(50),
#'               boot = 0)
#' head(bayes_factor_recovery(v))
#' log_bf_agreement(v)
bayes_factor_recovery <- function(x, ...) {
  check_dots_empty(...)
  bayes_factor_recovery_of(x, "x")
}

bayes_factor_recovery_of <- function(x, arg, call = rlang::caller_env()) {
  if (inherits(x, "deepbmc_validation")) {
    if (is.null(x$reference_log_bf)) {
      abort_deepbmc(
        c(
          "{.arg {arg}} has no reference log Bayes factors.",
          i = "Validate with {.code validate(fit, data = , reference_log_bf =
               )}."
        ),
        "value",
        call = call
      )
    }
    log_pmp <- x$log_pmp
    return(bayes_factor_recovery_table(log_pmp - log_pmp[, 1],
                                       x$reference_log_bf, colnames(log_pmp)))
  }
  if (inherits(x, "deepbmc_bridge_comparison")) {
    table <- as.data.frame.data.frame(x)
    first <- table$model[[1]]
    others <- table[table$model != first, , drop = FALSE]
    return(data.frame(
      data_set = others$data_set,
      model = others$model,
      reference_model = first,
      network = others$log_bf_network,
      reference = others$log_bf_bridge,
      error = others$log_bf_network - others$log_bf_bridge
    ))
  }
  abort_deepbmc(
    c(
      "{.arg {arg}} must be a result of {.fun validate} with reference
       values or of {.fun bridge_compare}.",
      x = "You supplied {describe_value(x)}."
    ),
    "type",
    call = call
  )
}

# Rows for every data set with a reference and every model but the first.
bayes_factor_recovery_table <- function(network, reference, model_names) {
  n <- nrow(network)
  k <- ncol(network)
  out <- data.frame(
    data_set = rep(seq_len(n), times = k - 1),
    model = rep(model_names[-1], each = n),
    reference_model = model_names[[1]],
    network = as.vector(network[, -1, drop = FALSE]),
    reference = as.vector(reference[, -1, drop = FALSE])
  )
  out$error <- out$network - out$reference
  out <- out[!is.na(out$reference), , drop = FALSE]
  out <- out[order(out$data_set), , drop = FALSE]
  rownames(out) <- NULL
  out
}

#' @rdname bayes_factor_recovery
#' @export
log_bf_agreement <- function(x, breaks = c(-Inf, -10, -5, 0, 5, 10, 20, 50,
                                           Inf)) {
  recovery <- if (is.data.frame(x) && !inherits(x, "deepbmc_bridge_comparison")
                  && all(c("network", "reference", "model") %in% names(x))) {
    x
  } else {
    bayes_factor_recovery_of(x, "x")
  }
  if (!is.numeric(breaks) || length(breaks) < 2 || anyNA(breaks) ||
        is.unsorted(breaks, strictly = TRUE)) {
    abort_deepbmc("{.arg breaks} must be increasing numbers.", "value")
  }
  if (!is.numeric(recovery$reference) || !is.numeric(recovery$network)) {
    abort_deepbmc(
      c(
        "{.arg x} must hold numeric columns {.field network} and
         {.field reference}.",
        x = "You supplied {describe_value(x)}."
      ),
      "type"
    )
  }
  # NA marks a data set without a reference: it belongs to no bin.
  recovery <- recovery[!is.na(recovery$reference), , drop = FALSE]
  if (nrow(recovery) == 0) {
    abort_deepbmc(
      c(
        "{.arg x} holds no reference log Bayes factor: all are NA.",
        i = "Give reference values for the data sets, e.g. from numerical
             integration or {.fun bridge_compare}."
      ),
      "value"
    )
  }
  labels <- bin_labels(breaks)
  bin <- cut(recovery$reference, breaks, labels = labels)
  rows <- lapply(unique(recovery$model), function(model) {
    lapply(labels, function(label) {
      i <- which(recovery$model == model & bin == label)
      error <- abs(recovery$error[i])
      data.frame(
        model = model, bin = label, n = length(i),
        median_reference = if (length(i)) stats::median(recovery$reference[i]) else NA_real_,
        median_network = if (length(i)) stats::median(recovery$network[i]) else NA_real_,
        mean_abs_error = if (length(i)) mean(error) else NA_real_,
        max_abs_error = if (length(i)) max(error) else NA_real_
      )
    })
  })
  out <- do.call(rbind, unlist(rows, recursive = FALSE))
  out[out$n > 0, , drop = FALSE]
}

bin_labels <- function(breaks) {
  lo <- utils::head(breaks, -1)
  hi <- breaks[-1]
  ifelse(is.infinite(lo), paste("below", hi),
         ifelse(is.infinite(hi), paste("above", lo), paste(lo, "to", hi)))
}

# Reference log BFs of `n` data sets as an n x K matrix against the first
# model: a vector (two models) of the second over the first, or an n x K
# matrix of log marginal likelihoods or log BFs against any common model.
check_reference_log_bf <- function(reference, n, model_names,
                                   arg = "reference_log_bf",
                                   call = rlang::caller_env()) {
  k <- length(model_names)
  if (!is.numeric(reference)) {
    abort_deepbmc(
      c("{.arg {arg}} must be numeric.",
        x = "You supplied {describe_value(reference)}."),
      "type", call = call
    )
  }
  if (is.null(dim(reference))) {
    if (k != 2 || length(reference) != n) {
      abort_deepbmc(
        c(
          "{.arg {arg}} must have one value per data set (two models) or be
           a matrix with one row per data set and one column per model.",
          x = "It has {length(reference)} value{?s} for {n} data set{?s} and
               {k} models."
        ),
        "mismatch", call = call
      )
    }
    reference <- cbind(0, as.double(reference))
    reference[is.na(reference[, 2]), 1] <- NA_real_
  } else if (!identical(dim(reference), c(as.integer(n), as.integer(k)))) {
    abort_deepbmc(
      c(
        "{.arg {arg}} must have one row per data set and one column per
         model.",
        x = "It is {nrow(reference)} x {ncol(reference)}; expected {n} x {k}."
      ),
      "mismatch", call = call
    )
  } else {
    reference <- unname(reference - reference[, 1])
    storage.mode(reference) <- "double"
  }
  if (any(is.infinite(reference) | is.nan(reference))) {
    abort_deepbmc("{.arg {arg}} must be finite (or NA where missing).",
                  "value", call = call)
  }
  if (all(is.na(reference[, -1]))) {
    abort_deepbmc(
      c(
        "{.arg {arg}} holds no reference value: all are NA.",
        i = "NA marks data sets without a reference; give at least one."
      ),
      "value", call = call
    )
  }
  colnames(reference) <- model_names
  reference
}
