# Ensembles (issue 30): `train_comparison(members = k)` trains k networks
# with seeds of their own (so, online, on simulations of their own) and
# returns one fit. The fit is member 1 with
#   members: the k members, each a complete fit of its own (member 1 too),
#            so that each can be checked, fine-tuned and used alone;
# and with what the ensemble vouches for: the input range and the checked
# range all its members share, and the members' verdicts merged. Its
# checksum covers the members' checksums. Every evaluation goes through
# R/evaluate.R, which averages the members' PMPs.
#
# Members train through future.apply when it is installed and a future plan
# with more than one worker is set (multisession, cluster, batchtools,
# mirai), so that training scales out to other cores or machines; otherwise
# one after another here. Every member's result depends only on its seed, so
# the plan never changes the ensemble.

# Largest ensemble.
max_members <- 100L

# The seed of member i: streams 2^40 apart, clear of the holdout
# (holdout_seed(): 2^51) and checked-range (2^50) streams of every member.
member_seeds <- function(seed, members) {
  (seed + (seq_len(members) - 1) * 2^40) %% max_seed
}

# The number of members to train: `members`, or by default those of `init`
# (1 without one). Fine-tuning an ensemble fine-tunes each of its members, so
# the sizes must agree.
check_members <- function(members, init, call = rlang::caller_env()) {
  init_members <- if (is.null(init)) 1L else n_members(init)
  if (is.null(members)) {
    return(init_members)
  }
  members <- check_whole_number(members, max = max_members, call = call)
  if (!is.null(init) && init_members > 1 && members != init_members) {
    abort_deepbmc(
      c(
        "{.arg members} must match {.arg init}'s ensemble, which has
         {init_members} members.",
        x = "You asked for {members}.",
        i = "Fine-tuning an ensemble fine-tunes each of its members; leave
             {.arg members} out to keep them all."
      ),
      "mismatch",
      call = call
    )
  }
  members
}

# Trains the members (the arguments of train_comparison() in `args`, with
# `seed` the ensemble's) and combines them.
train_ensemble <- function(args, init, members) {
  seeds <- member_seeds(args$seed, members)
  inits <- if (is.null(init)) {
    vector("list", members)
  } else if (n_members(init) == 1) {
    rep(list(init), members)
  } else {
    init$members
  }
  workers <- ensemble_workers()
  train_member <- function(i, progress) {
    member_args <- args
    member_args$seed <- seeds[[i]]
    member_args$init <- inits[[i]]
    member_args$members <- 1L
    member_args$progress <- progress
    do.call(train_comparison, member_args)
  }
  fits <- if (workers > 1) {
    if (args$progress) {
      cli::cli_inform(
        "Training {members} members on {workers} future workers."
      )
    }
    # A member's result depends only on its seed, an argument: the R
    # generator, which internal checks seed locally, plays no part, so
    # future's parallel streams are not needed and its check of them is off
    # (future.seed = NULL). The members' classed warnings reach the caller
    # as conditions relayed by future.
    future.apply::future_lapply(seq_len(members), train_member,
                                progress = FALSE, future.seed = NULL)
  } else {
    lapply(seq_len(members), function(i) {
      if (args$progress) {
        cli::cli_inform("Member {i} of {members}:")
      }
      train_member(i, args$progress)
    })
  }
  combine_members(fits)
}

# Workers of the current future plan, or 1 when future.apply is not
# installed or no plan with more than one worker is set.
ensemble_workers <- function() {
  if (!requireNamespace("future.apply", quietly = TRUE)) {
    return(1L)
  }
  as.integer(future::nbrOfWorkers())
}

# One fit from trained members (complete fits of one model set and network).
combine_members <- function(fits) {
  ensemble <- fits[[1]]
  ensemble$members <- fits
  ensemble$input_range <- shared_input_range(fits)
  ensemble$checked_range <- shared_checked_range(fits)
  ensemble$verdict <- merged_verdict(fits)
  ensemble$checksum <- fit_checksum(ensemble)
  ensemble
}

# Values every member was trained on: the intersection of their ranges.
shared_input_range <- function(fits) {
  ranges <- lapply(fits, `[[`, "input_range")
  if (any(vapply(ranges, is.null, logical(1)))) {
    return(NULL)
  }
  list(lo = do.call(pmax, lapply(ranges, `[[`, "lo")),
       hi = do.call(pmin, lapply(ranges, `[[`, "hi")))
}

# The log BFs every member vouches for. An ensemble's log BF, the log ratio
# of the members' mean PMPs, lies beyond a bound only when some member's
# does, so the smallest of the members' bounds is one the ensemble keeps.
shared_checked_range <- function(fits) {
  ranges <- lapply(fits, `[[`, "checked_range")
  if (any(vapply(ranges, is.null, logical(1)))) {
    return(NULL)
  }
  range <- ranges[[1]]
  upper <- do.call(pmin, lapply(ranges, `[[`, "upper"))
  dimnames(upper) <- dimnames(range$upper)
  range$upper <- upper
  range
}

# The members' verdicts in one: checked when every member was, with each
# problem once, naming the members that have it.
merged_verdict <- function(fits) {
  verdicts <- lapply(fits, `[[`, "verdict")
  if (any(vapply(verdicts, is.null, logical(1)))) {
    return(NULL)
  }
  checked <- all(vapply(verdicts, `[[`, logical(1), "checked"))
  problems <- character(0)
  for (kind in names(verdict_labels)) {
    having <- which(vapply(verdicts, function(verdict) {
      kind %in% names(verdict$problems)
    }, logical(1)))
    if (length(having) > 0) {
      first <- verdicts[[having[[1]]]]$problems[[kind]]
      problems[[kind]] <- paste0(
        "Member", if (length(having) > 1) "s", " ",
        paste(having, collapse = ", "), " of ", length(fits), ": ", first
      )
    }
  }
  list(checked = checked || length(problems) > 0, problems = problems)
}

# The line of print(fit) for an ensemble.
format_members_line <- function(fit) {
  if (is.null(fit$members)) {
    return(NULL)
  }
  seeds <- vapply(fit$members, function(member) member$training$seed,
                  numeric(1))
  paste0("Ensemble: ", length(fit$members), " members (PMPs averaged), ",
         "seeds ", paste(format(seeds, scientific = FALSE, trim = TRUE), collapse = ", "),
         "; the lines below are member 1's\n")
}

# An ensemble's members are complete fits of the same network and model set,
# the first of which is the fit itself; each passes check_fit().
check_fit_members <- function(fit, arg, call) {
  members <- fit$members
  if (is.null(members)) {
    return(invisible(fit))
  }
  damaged <- function(what) {
    abort_deepbmc(
      c(
        "{.arg {arg}} is damaged: {what}",
        i = "Train the ensemble again, or load an undamaged copy."
      ),
      "fit",
      call = call
    )
  }
  if (!is.list(members) || is.object(members) || length(members) < 2 ||
        length(members) > max_members) {
    damaged("its {.field members} are not a list of 2 or more fits.")
  }
  for (i in seq_along(members)) {
    member <- members[[i]]
    if (!inherits(member, "deepbmc_fit") || !is.null(member$members)) {
      damaged("member {i} is not a single trained network.")
    }
    check_fit(member, arg = paste0(arg, "$members[[", i, "]]"), call = call)
    if (!identical(member$config, fit$config) ||
          !identical(member$models$model_names, fit$models$model_names)) {
      damaged("member {i} is another network or compares other models.")
    }
  }
  if (!identical(members[[1]]$weights, fit$weights)) {
    damaged("its weights are not those of its first member.")
  }
  invisible(fit)
}
