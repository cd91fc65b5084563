#' Non-nested models of recognition memory: signal detection or two high
#' thresholds
#'
#' The two hierarchical models of validation study 2 in Elsemüller et al.
#' (2024): a signal detection model (SDT) and a latent-trait
#' two-high-threshold multinomial processing tree model (2HTM), for old/new
#' recognition data. Neither model is a special case of the other.
#'
#' @section The models:
#' Each participant sees old and new items and answers "old" or "new".
#' * `sdt`: hit and false-alarm rates on the probit scale vary normally over
#'   participants, \eqn{p_{hit} = \Phi(h_m)}, \eqn{h_m \sim N(\mu_h,
#'   \sigma_h)}, \eqn{p_{fa} = \Phi(f_m)}, \eqn{f_m \sim N(\mu_f,
#'   \sigma_f)}, with \eqn{\mu_h \sim N(1, 0.5)}, \eqn{\mu_f \sim N(-1,
#'   0.5)} and \eqn{\sigma_h, \sigma_f \sim} Gamma(1, 1).
#' * `mpt`: an old item is detected with probability \eqn{d}; otherwise (and
#'   for every new item) the participant guesses "old" with probability
#'   \eqn{g}, so \eqn{p_{hit} = d + (1 - d) g} and \eqn{p_{fa} = (1 - d) g}.
#'   \eqn{d = \Phi(d')} and \eqn{g = \Phi(g')} with
#'   \eqn{(d', g') \sim MVN((\mu_d, \mu_g), \Sigma)},
#'   \eqn{\mu_d, \mu_g \sim N(0, 0.25)},
#'   \eqn{\Sigma = diag(\lambda) Q\, diag(\lambda)},
#'   \eqn{Q \sim} inverse-Wishart\eqn{(3, I)}, \eqn{\lambda_j \sim U(0, 2)}.
#'
#' Second arguments of \eqn{N} are standard deviations; the priors are those
#' of the paper's simulator.
#'
#' @param participants Participants (groups) per data set: a whole number, or
#'   a range `c(min, max)` drawn per data set.
#' @param trials Trials per participant, as for `participants`.
#' @param old Share of old items among a participant's trials, in `[0, 1]`;
#'   `round(old * trials)` of them are old.
#'
#' @return A model set of class
#'   `c("deepbmc_recognition_memory", "deepbmc_models")`. Its data sets are
#'   data frames with the columns `participant`, `stimulus` (1 = old item)
#'   and `response` (1 = "old"). Data passed to [post_prob()] code both
#'   0 or 1 (`NA` for a missing value); other values are an error of class
#'   `"deepbmc_error_value"`.
#'
#' @references Elsemüller, L., Schnuerch, M., Bürkner, P.-C., & Radev, S. T.
#'   (2024). A deep learning method for comparing Bayesian hierarchical models.
#'   *Psychological Methods*. \doi{10.1037/met0000645}
#'
#' @seealso [train_comparison()], [evidence_accumulation_models()] for the
#'   paper's application.
#' @export
#' @examples
#' models <- sdt_mpt_models(participants = 5, trials = 20)
#' models
#' sims <- simulate_datasets(models, n = 2, seed = 1, threads = 1)
#' head(sims$data[[1]])
sdt_mpt_models <- function(participants = 25, trials = 50, old = 0.5) {
  participants <- check_range(participants)
  trials <- check_range(trials)
  if (!is.numeric(old) || length(old) != 1 || is.object(old) || is.na(old) ||
        old < 0 || old > 1) {
    abort_supplied(
      "{.arg old} must be a share, a single number in [0, 1].",
      old, "value"
    )
  }
  check_dataset_capacity(participants, trials, "trials")
  structure(
    list(
      type = "recognition_memory",
      groups = participants,
      obs = trials,
      old_share = as.double(old),
      n_models = 2L,
      model_names = c("sdt", "mpt"),
      n_features = 2L,
      n_levels = 2L,
      feature_names = c("stimulus", "response"),
      group = "participant"
    ),
    class = c("deepbmc_recognition_memory", "deepbmc_models")
  )
}

#' @export
models_spec.deepbmc_recognition_memory <- function(models, ...) {
  list(
    type = "recognition_memory",
    groups = models$groups,
    obs = models$obs,
    old_share = models$old_share
  )
}

#' @export
with_sizes.deepbmc_recognition_memory <- function(models, groups = NULL,
                                                  obs = NULL, ...) {
  sdt_mpt_models(
    participants = groups %||% models$groups,
    trials = obs %||% models$obs,
    old = models$old_share
  )
}

#' @export
print.deepbmc_recognition_memory <- function(x, ...) {
  cat(
    "<deepbmc_models> Hierarchical models of old/new recognition memory\n",
    "Data: ", format_range(x$groups), " participants x ",
    format_range(x$obs), " trials (", format(x$old_share),
    " of them old items)\n",
    "Trial: stimulus (1 = old), response (1 = \"old\")\n",
    "  ", x$model_names[[1]], ": signal detection, probit hit and ",
    "false-alarm rates\n",
    "  ", x$model_names[[2]], ": two-high-threshold MPT, latent-trait ",
    "detection and guessing\n",
    sep = ""
  )
  invisible(x)
}

# Users' data frames (participant, stimulus, response) as the network reads
# them: the default conversion, then a check that every observed stimulus
# and response is coded 0 or 1 (the network would read 0.5 as a number it
# was never trained on).
#' @export
prepare_datasets.deepbmc_recognition_memory <- function(models, data, group,
                                                        response, arg, call) {
  prepared <- NextMethod()
  batch <- prepared$batch
  values <- matrix(batch$values, ncol = 2L, byrow = TRUE)
  present <- matrix(batch$present %||% TRUE, nrow = nrow(values), ncol = 2L,
                    byrow = TRUE) & batch$mask
  check_coded_column(values[, 1], present[, 1], "stimulus", arg, call)
  check_coded_column(values[, 2], present[, 2], "response", arg, call)
  prepared
}
