#' Hierarchical evidence-accumulation models: diffusion or Lévy flights
#'
#' The four hierarchical models of the application in Elsemüller et al.
#' (2024), after Wieschen, Voss & Radev (2020): models of choices and
#' response times (RTs) in a two-choice task whose likelihood cannot be
#' evaluated, so that bridge sampling cannot compare them, but a network
#' trained on their simulations can.
#'
#' @section The models:
#' Each trial has a stimulus type (0 or 1). Evidence \eqn{x} starts at
#' \eqn{a z} and moves by the Euler scheme with \eqn{dt = 0.001} s,
#' \deqn{x \leftarrow x + v\,dt + dt^{1/\alpha}\xi,}{x <- x + v dt + dt^(1/alpha) xi,}
#' where \eqn{\xi} is symmetric alpha-stable with scale \eqn{1/\sqrt{2}}
#' (drawn exactly: by Chambers-Mallows-Stuck, and at \eqn{\alpha = 2} by
#' Box-Muller pairs, whose first value is the Chambers-Mallows-Stuck draw;
#' the Euler scheme is the same for all four models), until it leaves \eqn{(0, a)}; the
#' response is 1 at the upper bound and the RT is the decision time plus
#' \eqn{t_0}. With \eqn{\alpha = 2} this is a Wiener diffusion with unit
#' variance per second; with \eqn{\alpha < 2} the noise has heavy tails, so
#' evidence moves in jumps (Lévy flights).
#' * `basic_diffusion`: \eqn{\alpha = 2}, no inter-trial variability;
#' * `basic_levy`: \eqn{\alpha \in [1, 2]} free per participant;
#' * `full_diffusion`: \eqn{\alpha = 2}, with inter-trial variability of the
#'   start point (\eqn{z \sim U(z_r \pm s_z/2)}), the drift
#'   (\eqn{v \sim N(v_{stimulus}, s_v)}) and the non-decision time
#'   (\eqn{t_0 \sim U(t_0 \pm s_t/2)});
#' * `full_levy`: both.
#'
#' All four models use the same Euler scheme and the same noise sampler
#' (alpha-stable at \eqn{\alpha = 2} is the normal), so that a network can
#' only tell them apart by what the models say, not by how they are
#' discretised.
#'
#' Priors, as in the paper (Gamma(shape, scale); TN: truncated normal; second
#' arguments of N are standard deviations), per participant:
#' \eqn{a \sim} Gamma\eqn{(\mu_a, \sigma_a)},
#' \eqn{z_r =} logistic\eqn{(N(\mu_z, \sigma_z))},
#' \eqn{v_0 = -}Gamma\eqn{(\mu_{v0}, \sigma_{v0})} and
#' \eqn{v_1 =} Gamma\eqn{(\mu_{v1}, \sigma_{v1})} (drifts of opposite sign for
#' the two stimulus types), \eqn{t_0 \sim} Gamma\eqn{(\mu_t, \sigma_t)},
#' \eqn{\alpha \sim TN(\mu_\alpha, \sigma_\alpha; 1, 2)},
#' \eqn{s_z \sim} Beta(1, 3), \eqn{s_v \sim TN(0, 2; 0, \infty)},
#' \eqn{s_t \sim TN(0, 0.3; 0, \infty)}; per data set
#' \eqn{\mu_a, \mu_{v0}, \mu_{v1}, \mu_t \sim N(5, 1)} (truncated to positive
#' values), \eqn{\sigma_a \sim TN(0.4, 0.15)}, \eqn{\mu_z \sim N(0, 0.25)},
#' \eqn{\sigma_z \sim TN(0, 0.05)}, \eqn{\sigma_{v0}, \sigma_{v1} \sim
#' TN(0.5, 0.25)}, \eqn{\sigma_t \sim TN(0.1, 0.05)},
#' \eqn{\mu_\alpha \sim N(1.65, 0.15)}, \eqn{\sigma_\alpha \sim TN(0.3, 0.1)}
#' (all TN on \eqn{(0, \infty)}). The stimulus of each trial is 1 with
#' probability `stimulus`.
#'
#' @section Trials without a decision:
#' A trial still inside \eqn{(0, a)} after `max_steps` Euler steps has no
#' decision. The paper's code recorded it as an upper response with an RT of
#' 100 s + \eqn{t_0}; here it is a **missing trial**, left out of the data as
#' a censored trial of real data is, which is more honest and keeps RTs
#' meaningful. With the default priors such trials are very rare. A start
#' point outside \eqn{(0, a)} (possible when \eqn{s_z} is large) decides at
#' once, with RT \eqn{t_0}, as in the paper.
#'
#' @section What the network reads:
#' Data sets are data frames as real data come (`participant`, `stimulus`,
#' `rt` in seconds, `response`), but the network reads each trial as
#' (stimulus, log rt, correct), where correct is 1 when the response is the
#' one the stimulus drifts to. This is the same information; it spares the
#' network learning that accuracy is an exclusive-or of two inputs and
#' taming the RTs' long right tail, and it made training much faster in our
#' benchmarks (`bench/evidence_accumulation.R`). Observed stimuli and
#' responses must be 0 or 1 and RTs above 0 (errors of class
#' `"deepbmc_error_value"`); a missing response makes that trial's
#' correctness missing. Simulation can give RTs of 0 or less (a start point
#' outside the bounds with a short non-decision time, or a non-decision time
#' whose variability exceeds it, in 0.1\% of trials under the default
#' priors); they are read as 1 ms, and simulated data frames show them so.
#' Networks trained with deepbmc versions that read raw RTs are refused
#' (class `"deepbmc_error_version"`).
#'
#' @param participants Participants (groups) per data set: a whole number, or
#'   a range `c(min, max)` drawn per data set.
#' @param trials Trials per participant, as for `participants` (all
#'   participants of a data set have the same number).
#' @param stimulus Probability that a trial shows stimulus 1, in `[0, 1]`.
#' @param max_steps Euler steps after which a trial without a decision is
#'   stopped and counted as missing; the default (`1e5`) is 100 s.
#'
#' @return A model set of class
#'   `c("deepbmc_evidence_accumulation", "deepbmc_models")`. Its data sets
#'   are data frames with the columns `participant`, `stimulus` (0/1), `rt`
#'   (seconds) and `response` (0/1, 1 at the upper bound, the one stimulus 1
#'   drifts to).
#'
#' @references Elsemüller, L., Schnuerch, M., Bürkner, P.-C., & Radev, S. T.
#'   (2024). A deep learning method for comparing Bayesian hierarchical models.
#'   *Psychological Methods*. \doi{10.1037/met0000645}
#'
#'   Wieschen, E. M., Voss, A., & Radev, S. T. (2020). Jumping to conclusion?
#'   A Lévy flight model of decision making. *The Quantitative Methods for
#'   Psychology*, 16(2), 120-132. \doi{10.20982/tqmp.16.2.p120}
#'
#' @seealso [train_comparison()] with `missing = missing_values(...)` for
#'   data with missing trials; `vignette("levy-flights", package = "deepbmc")`.
#' @export
#' @examples
#' models <- evidence_accumulation_models(participants = 5, trials = 50)
#' models
#' sims <- simulate_datasets(models, n = 4, seed = 1, threads = 1)
#' head(sims$data[[1]])
evidence_accumulation_models <- function(participants = 40, trials = 900,
                                         stimulus = 0.5, max_steps = 1e5) {
  participants <- check_range(participants)
  trials <- check_range(trials)
  if (!is.numeric(stimulus) || length(stimulus) != 1 || is.object(stimulus) ||
        is.na(stimulus) || stimulus < 0 || stimulus > 1) {
    abort_supplied(
      "{.arg stimulus} must be a probability, a single number in [0, 1].",
      stimulus, "value"
    )
  }
  max_steps <- check_whole_number(max_steps, min = 1, max = 1e7)
  check_dataset_capacity(participants, trials, "trials")
  structure(
    list(
      type = "evidence_accumulation",
      groups = participants,
      obs = trials,
      stimulus_share = as.double(stimulus),
      max_steps = max_steps,
      n_models = 4L,
      model_names = accumulator_model_names,
      n_features = 3L,
      n_levels = 2L,
      feature_names = c("stimulus", "rt", "response"),
      group = "participant",
      trial_coding = accumulator_trial_coding
    ),
    class = c("deepbmc_evidence_accumulation", "deepbmc_models")
  )
}

accumulator_model_names <- c("basic_diffusion", "basic_levy",
                             "full_diffusion", "full_levy")

# How the network reads a trial (the C++ simulator writes the same:
# code_accumulator_trial() in src/evidence_accumulation.h): stimulus, log rt
# (rt floored at 1 ms) and whether the response matches the stimulus. Sets
# saved before the coding had a name were read as (stimulus, rt, response):
# their networks cannot be used with this coding.
accumulator_trial_coding <- "stimulus, log rt, correct"
accumulator_min_rt <- 0.001

check_trial_coding <- function(models, call = rlang::caller_env()) {
  if (!identical(models$trial_coding, accumulator_trial_coding)) {
    abort_deepbmc(
      c(
        "These evidence-accumulation models come from an earlier version of
         deepbmc, whose network read a trial as (stimulus, rt, response).",
        i = "Retrain with {.fun evidence_accumulation_models} of this
             version, which reads ({accumulator_trial_coding})."
      ),
      "version",
      call = call
    )
  }
  invisible(models)
}

#' @export
input_feature_names.deepbmc_evidence_accumulation <- function(models) {
  c("stimulus", "log rt", "correct")
}

# Users' data frames (participant, stimulus, rt, response) as the network
# reads them: the default conversion, then the trial coding. Observed
# stimuli and responses must be 0 or 1 and observed rts positive; an
# observed stimulus with a missing response gives a missing `correct`.
#' @export
prepare_datasets.deepbmc_evidence_accumulation <- function(models, data,
                                                           group, response,
                                                           arg, call) {
  check_trial_coding(models, call)
  prepared <- NextMethod()
  prepared$batch <- code_accumulator_batch(prepared$batch, arg, call)
  prepared
}

code_accumulator_batch <- function(batch, arg, call) {
  values <- matrix(batch$values, ncol = 3L, byrow = TRUE)
  present <- matrix(batch$present %||% TRUE, nrow = nrow(values), ncol = 3L,
                    byrow = TRUE) & batch$mask
  check_coded_column(values[, 1], present[, 1], "stimulus", arg, call)
  check_coded_column(values[, 3], present[, 3], "response", arg, call)
  rt <- values[present[, 2], 2]
  if (any(rt <= 0)) {
    abort_deepbmc(
      c(
        "Column {.field rt} of {.arg {arg}} must hold response times in
         seconds, above 0.",
        x = "{sum(rt <= 0)} observed trial{?s} {?has/have} an rt of 0 or
             less."
      ),
      "value",
      call = call
    )
  }
  correct_present <- present[, 1] & present[, 3]
  coded <- values
  coded[, 2] <- ifelse(present[, 2], log(pmax(values[, 2], accumulator_min_rt)),
                       0)
  coded[, 3] <- ifelse(correct_present, as.double(values[, 1] == values[, 3]),
                       0)
  batch$values <- as.double(t(coded))
  if (!is.null(batch$present)) {
    flags <- matrix(batch$present, ncol = 3L, byrow = TRUE)
    flags[, 3] <- flags[, 3] & flags[, 1]
    batch$present <- as.vector(t(flags))
  }
  batch
}

check_coded_column <- function(x, present, name, arg, call) {
  bad <- present & !(x %in% c(0, 1))
  if (any(bad)) {
    abort_deepbmc(
      c(
        "Column {.field {name}} of {.arg {arg}} must be coded 0 or 1.",
        x = "{sum(bad)} observed trial{?s} {?has/have} other values, such as
             {x[bad][[1]]}."
      ),
      "value",
      call = call
    )
  }
}

# Simulated data sets as users' data frames: rt in seconds and the response
# (rts below 1 ms show as 1 ms, see accumulator_trial_coding).
#' @export
simulated_data.deepbmc_evidence_accumulation <- function(models, batch) {
  values <- matrix(batch$values, ncol = 3L, byrow = TRUE)
  values[, 2] <- exp(values[, 2])
  values[, 3] <- ifelse(values[, 3] == 1, values[, 1], 1 - values[, 1])
  batch$values <- as.double(t(values))
  NextMethod()
}

#' @export
models_spec.deepbmc_evidence_accumulation <- function(models, ...) {
  check_trial_coding(models)
  accumulator_spec(models)
}

# A fit's checksum covers the spec without refusing the old coding, so that
# a fit of an earlier version is reported as such, not as damaged.
#' @export
model_set_fingerprint.deepbmc_evidence_accumulation <- function(models) {
  accumulator_spec(models)
}

accumulator_spec <- function(models) {
  spec <- list(
    type = "evidence_accumulation",
    groups = models$groups,
    obs = models$obs,
    stimulus_share = models$stimulus_share,
    max_steps = models$max_steps
  )
  spec$trial_coding <- models$trial_coding
  spec
}

#' @export
with_sizes.deepbmc_evidence_accumulation <- function(models, groups = NULL,
                                                     obs = NULL, ...) {
  evidence_accumulation_models(
    participants = groups %||% models$groups,
    trials = obs %||% models$obs,
    stimulus = models$stimulus_share,
    max_steps = models$max_steps
  )
}

#' @export
print.deepbmc_evidence_accumulation <- function(x, ...) {
  cat(
    "<deepbmc_models> Hierarchical evidence-accumulation models\n",
    "Data: ", format_range(x$groups), " participants x ",
    format_range(x$obs), " trials (stimulus 1 with probability ",
    format(x$stimulus_share), ")\n",
    "Trial: stimulus, rt (s), response; Euler dt = 0.001 s, at most ",
    format_count(x$max_steps), " steps\n",
    "  ", x$model_names[[1]], ": Wiener diffusion (alpha = 2)\n",
    "  ", x$model_names[[2]], ": Levy flight (alpha in [1, 2])\n",
    "  ", x$model_names[[3]], ": diffusion with inter-trial variability ",
    "(s_z, s_v, s_t)\n",
    "  ", x$model_names[[4]], ": Levy flight with inter-trial variability\n",
    sep = ""
  )
  invisible(x)
}

# Trials of given participants, from the simulator's own Euler loop (tests
# and benchmarks). `parameters`: a data frame with one row per participant
# and the columns a, zr, v0, v1, t0 and optionally alpha (2), sz, sv, st (0);
# `stimulus`: a trials x participants 0/1 matrix. Returns a data frame with
# participant, stimulus, rt and response; trials without a decision have NA
# rt and response.
accumulator_trials <- function(parameters, stimulus, seed, threads = default_threads(),
                               max_steps = 1e5) {
  n <- nrow(parameters)
  defaults <- list(alpha = 2, sz = 0, sv = 0, st = 0)
  for (name in names(defaults)) {
    if (is.null(parameters[[name]])) parameters[[name]] <- defaults[[name]]
  }
  columns <- c("a", "zr", "v0", "v1", "t0", "alpha", "sz", "sv", "st")
  values <- lapply(columns, function(name) as.double(parameters[[name]]))
  names(values) <- columns
  stimulus <- matrix(as.integer(stimulus), ncol = n)
  out <- cpp_accumulator_trials(values, stimulus, as.integer(max_steps),
                                as.double(seed), as.integer(threads))
  decided <- out$decided
  data.frame(
    participant = rep(seq_len(n), each = nrow(stimulus)),
    stimulus = as.vector(stimulus),
    rt = ifelse(decided, out$rt, NA_real_),
    response = ifelse(decided, out$response, NA_integer_)
  )
}
