# One verdict per data set (issue 30): whether a PMP can be trusted, as the
# `trust` column of compare_models() and, on request, of post_prob().
# Each reason is cheap to check once the network has answered, except the
# misspecification test, which simulates reference data sets once per fit
# (R/misspecification.R) and so is asked for.
#
# The reasons, in the order they are listed:
#   training check failed      the fit's verdict (R/verdict.R) found problems
#   misspecified (p = ...)     misspecification_test() rejects the data set
#   beyond the checked range   a log BF against the best model lies beyond
#                              what the fit vouches for (R/checked-range.R)
#   checked range too narrow   the fit vouches for no log BF of the best
#                              model against another beyond
#                              +-narrow_range_limit, so even a log BF
#                              inside it says nothing
#   members disagree (sd ...)  an ensemble's members' PMPs differ by more
#                              than member_sd_limit (standard deviation)
#   outside the trained sizes  more or fewer groups or observations than
#   outside the trained inputs values far outside those of training

# A checked range whose bound is below 1 (a Bayes factor of e, "barely worth
# a mention" on Jeffreys' scale) vouches for no evidence at all.
narrow_range_limit <- 1

# Members whose PMPs have a standard deviation above 0.1 disagree on the
# answer (bench/results/ensembles.md: the spread ranks the error).
member_sd_limit <- 0.1

# The trust verdict of each data set of a prediction (predict_logits()):
# "ok", or its reasons joined by "; ". `p_value` holds the misspecification
# test's p-values (NULL when not run) and `level` its level.
data_set_trust <- function(fit, prediction, log_prior, p_value = NULL,
                           level = 0.05) {
  logits <- prediction$logits
  n <- nrow(logits)
  reasons <- replicate(n, character(0), simplify = FALSE)
  # Data sets with reasons about the network, which another method may
  # resolve; misspecification is about the candidates, which bridge
  # sampling would rank the same way.
  about_network <- rep(FALSE, n)
  add <- function(flagged, text, network = TRUE) {
    text <- rep_len(text, n)
    for (i in which(flagged)) {
      reasons[[i]] <<- c(reasons[[i]], text[[i]])
    }
    if (network) {
      about_network <<- about_network | flagged
    }
  }
  add(rep(length(fit$verdict$problems) > 0, n), "training check failed")
  if (!is.null(p_value)) {
    add(p_value < level, sprintf("misspecified (p %s)",
                                 format_p_value(p_value)), network = FALSE)
  }
  log_pmp <- prediction_log_pmp(prediction, log_prior)
  best <- max.col(log_pmp, ties.method = "first")
  upper <- fit$checked_range$upper
  if (!is.null(upper)) {
    bound <- upper[best, , drop = FALSE]
    log_bf <- logits[cbind(seq_len(n), best)] - logits
    others <- col(logits) != best
    beyond <- others & log_bf > bound
    narrow <- others & bound < narrow_range_limit
    add(rowSums(beyond, na.rm = TRUE) > 0, "beyond the checked range")
    add(rowSums(narrow, na.rm = TRUE) > 0, "checked range too narrow")
  }
  spread <- member_spread(prediction, log_prior)
  if (!is.null(spread)) {
    largest <- apply(spread, 1, max)
    add(largest > member_sd_limit,
        sprintf("members disagree (sd %.2f)", largest))
  }
  add(prediction$outside_sizes %||% rep(FALSE, n), "outside the trained sizes")
  add(prediction$outside_inputs %||% rep(FALSE, n),
      "outside the trained inputs")
  verdicts <- vapply(reasons, function(r) {
    if (length(r) == 0) "ok" else paste(r, collapse = "; ")
  }, character(1))
  structure(verdicts, about_network = about_network)
}

# "= 0.012" or "< 0.001", to follow "p".
format_p_value <- function(p) {
  ifelse(p < 0.001, "< 0.001", paste("=", formatC(p, digits = 3, format = "f")))
}

# The line of print(fit) for a checked range too narrow to vouch for any
# evidence (none otherwise).
format_narrow_range_line <- function(fit) {
  upper <- fit$checked_range$upper
  if (is.null(upper) || !any(upper < narrow_range_limit, na.rm = TRUE)) {
    return(NULL)
  }
  paste0("Checked range: too narrow; the fit vouches for no log BF beyond ",
         formatC(min(upper, na.rm = TRUE), digits = 2, format = "f"),
         " for some pair of models (below ", narrow_range_limit,
         "); see ?checked_range\n")
}

# Fallbacks for data sets whose trust is not "ok".
fallback_choices <- c("none", "bridge")

# Before any work: a fallback to bridge sampling needs Stan programs for the
# models and the packages that run them. Models defined by a simulator have
# no likelihood to sample, so the error says what to do instead.
check_fallback <- function(fallback, models, call = rlang::caller_env()) {
  fallback <- check_choice(fallback, fallback_choices, arg = "fallback",
                           call = call)
  if (fallback == "none") {
    return(fallback)
  }
  programs <- tryCatch(stan_programs(models, call = call),
                       deepbmc_error = function(e) NULL)
  if (is.null(programs)) {
    abort_deepbmc(
      c(
        "{.code fallback = \"bridge\"} needs Stan programs for the models, and
         deepbmc has none for this model set (models defined by a simulator
         have no likelihood to sample).",
        i = "For data sets flagged in the {.field trust} column instead:
             train an ensemble ({.arg members} in {.fun train_comparison}) to
             see whether networks agree, train on data sets of the flagged
             design, or add a candidate model that could produce such data;
             {.fun validate} at that design shows how far the network can be
             trusted there."
      ),
      "mismatch",
      call = call
    )
  }
  check_bridge_packages(call = call)
  fallback
}

# Settings compare_models() passes on to bridge_compare(); bridge_compare()
# checks their values.
bridge_settings <- c("chains", "iter_warmup", "draws", "adapt_delta", "seed",
                     "cores", "method")

check_bridge_settings <- function(bridge, arg = rlang::caller_arg(bridge),
                                  call = rlang::caller_env()) {
  if (!is.list(bridge) || is.object(bridge) ||
        (length(bridge) > 0 && (is.null(names(bridge)) ||
                                  anyNA(names(bridge)) ||
                                  anyDuplicated(names(bridge)) > 0))) {
    abort_supplied(
      "{.arg {arg}} must be a named list of settings of {.fun bridge_compare}.",
      bridge, "type",
      call = call
    )
  }
  unknown <- setdiff(names(bridge), bridge_settings)
  if (length(unknown) > 0) {
    # names are the user's text: shown, never interpreted
    abort_deepbmc(
      c(
        "{.arg {arg}} may only set {.field {bridge_settings}}.",
        x = "It also sets {.val {unknown}}."
      ),
      "value",
      call = call
    )
  }
  bridge
}

# The comparison table with the data sets flagged for reasons about the
# network (`flagged`, indices) answered by bridge sampling: their rows ranked
# by the bridge PMPs, with `method` "bridge sampling" (else "network") and
# the reason kept in `trust`. `datasets` is the list of data sets the
# table's data_set indices refer to.
with_bridge_fallback <- function(comparison, fit, datasets, flagged,
                                 prior_prob, group, response, threads,
                                 bridge = list()) {
  comparison$method <- rep("network", nrow(comparison))
  if (length(flagged) == 0) {
    return(comparison)
  }
  cli::cli_inform(
    "Answering {length(flagged)} flagged data set{?s} by bridge sampling."
  )
  bridge <- do.call(bridge_compare, c(
    list(fit, datasets[flagged], prior_prob = prior_prob, group = group,
         response = response, threads = threads),
    bridge
  ))
  model_names <- fit$models$model_names
  log_prior <- log(prior_prob)
  replaced <- lapply(seq_along(flagged), function(j) {
    rows <- bridge[bridge$data_set == j, , drop = FALSE]
    logml <- matrix(rows$logml[match(model_names, rows$model)], nrow = 1)
    log_pmp <- log_softmax_rows(logml + matrix(log_prior, nrow = 1))
    ranked <- ranked_models(logml, log_pmp, model_names)
    ranked$data_set <- flagged[[j]]
    old <- comparison[comparison$data_set == flagged[[j]], , drop = FALSE]
    ranked$beyond_checked <- NA
    ranked$checked_bound <- NA_real_
    ranked$trust <- paste0(old$trust[[1]], "; answered by bridge sampling")
    ranked$method <- "bridge sampling"
    if (!is.null(old$member_sd)) {
      ranked$member_sd <- NA_real_
    }
    ranked[names(comparison)]
  })
  kept <- comparison[!comparison$data_set %in% flagged, , drop = FALSE]
  comparison <- rbind(kept, do.call(rbind, replaced))
  comparison <- comparison[order(comparison$data_set, comparison$rank), ,
                           drop = FALSE]
  rownames(comparison) <- NULL
  comparison
}
