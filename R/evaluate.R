# The one evaluation path (issue 30): every place that turns a fit and data
# into logits calls one of the three functions below, never the C++ core
# directly, so that a single network, a member of an ensemble and an
# ensemble (R/ensemble.R) are evaluated alike.
#
# An ensemble's logits are the logarithms of its members' mean PMPs under a
# uniform prior, log mean_m softmax(z_m): a valid set of logits (their
# softmax is the mean PMP), so that everything downstream (prior weights,
# Bayes factors, checked ranges, calibration) reads them as it reads one
# network's. The members' own logits come along in `member_logits` (a list,
# one n x K matrix per member), for the spread and for PMPs under a prior,
# which are the mean of the members' PMPs under that prior.

# Logits of a packed batch (R/data.R), with what cpp_predict() reports
# besides (finite, input_lo, input_hi and, with `summaries`, the head's
# inputs, which are member 1's).
evaluate_batch <- function(fit, batch, threads, summaries = FALSE) {
  members <- member_fits(fit)
  first <- cpp_predict(fit$config, fit$weights, batch, threads, summaries)
  with_members(first, members, function(member) {
    cpp_predict(member$config, member$weights, batch, threads)
  })
}

# Logits of a list of plain double matrices (groups in rows), read in place.
evaluate_matrices <- function(fit, data, threads) {
  members <- member_fits(fit)
  first <- cpp_predict_matrices(fit$config, fit$weights, data, threads)
  with_members(first, members, function(member) {
    cpp_predict_matrices(member$config, member$weights, data, threads)
  })
}

# Logits of n data sets simulated in C++ from `spec` with `seed`, one at a
# time per thread; every member sees the same data sets (same seed).
evaluate_simulated <- function(fit, spec, n, seed, threads, missing = NULL) {
  members <- member_fits(fit)
  first <- cpp_validate(fit$config, fit$weights, spec, n, seed, threads,
                        missing)
  with_members(first, members, function(member) {
    cpp_validate(member$config, member$weights, spec, n, seed, threads,
                 missing)
  })
}

# The networks of a fit: its members (R/ensemble.R), or the fit itself.
member_fits <- function(fit) {
  fit$members %||% list(fit)
}

# The number of networks in a fit: 1, or the size of its ensemble.
n_members <- function(fit) {
  max(1L, length(fit$members))
}

# `first` (the result for member 1) with the logits of the ensemble when
# there are other members, each evaluated by `evaluate`.
with_members <- function(first, members, evaluate) {
  if (length(members) == 1) {
    return(first)
  }
  others <- lapply(members[-1], evaluate)
  member_logits <- c(list(first$logits), lapply(others, `[[`, "logits"))
  if (!is.null(first$finite)) {
    for (other in others) {
      first$finite <- first$finite & other$finite
    }
  }
  first$logits <- ensemble_logits(member_logits)
  first$member_logits <- member_logits
  first
}

# log mean_m softmax(z_m), row-wise: NaN rows stay NaN (a member that is not
# finite makes the ensemble not finite).
ensemble_logits <- function(member_logits, log_prior = NULL) {
  log_pmp <- lapply(member_logits, function(logits) {
    if (!is.null(log_prior)) {
      logits <- sweep(logits, 2, log_prior, `+`)
    }
    log_softmax_rows(logits)
  })
  stacked <- simplify2array(log_pmp)
  dims <- dim(stacked)
  flat <- matrix(stacked, nrow = dims[[1]] * dims[[2]])
  result <- matrix(log_sum_exp_rows_finite(flat) - log(length(log_pmp)),
                   nrow = dims[[1]])
  dimnames(result) <- dimnames(member_logits[[1]])
  result
}

# Row-wise log-sum-exp that gives NaN (not an error) for rows with values
# that are not finite.
log_sum_exp_rows_finite <- function(x) {
  ok <- rowSums(!is.finite(x)) == 0
  out <- rep(NaN, nrow(x))
  if (any(ok)) {
    out[ok] <- log_sum_exp_rows(x[ok, , drop = FALSE])
  }
  out
}

# Log PMPs under the prior (n x K): the softmax of the prior-weighted logits
# for one network, the mean of the members' prior-weighted PMPs for an
# ensemble.
prediction_log_pmp <- function(prediction, log_prior) {
  if (is.null(prediction$member_logits)) {
    return(log_softmax_rows(sweep(prediction$logits, 2, log_prior, `+`)))
  }
  ensemble_logits(prediction$member_logits, log_prior)
}

# The members' disagreement per data set and model: the standard deviation
# across members of their PMPs under the prior (n x K); NULL for a single
# network.
member_spread <- function(prediction, log_prior) {
  member_logits <- prediction$member_logits
  if (is.null(member_logits)) {
    return(NULL)
  }
  pmp <- simplify2array(lapply(member_logits, function(logits) {
    exp(log_softmax_rows(sweep(logits, 2, log_prior, `+`)))
  }))
  spread <- apply(pmp, c(1, 2), stats::sd)
  dim(spread) <- dim(pmp)[1:2]
  dimnames(spread) <- dimnames(member_logits[[1]])
  spread
}
