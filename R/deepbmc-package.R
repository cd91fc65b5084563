#' deepbmc: amortized Bayesian comparison of hierarchical models
#'
#' Compares Bayesian hierarchical models with a hierarchical invariant neural
#' network (Elsemüller et al., 2024): the network is trained as a classifier on
#' data sets simulated from every candidate model and then returns posterior
#' model probabilities and Bayes factors for new data sets in milliseconds,
#' also for models whose likelihood is intractable.
#'
#' The workflow:
#' 1. choose the candidate models, e.g. [normal_nested_models()];
#' 2. train a network with [train_comparison()] (optionally choosing the
#'    architecture with [hierarchical_network()]);
#' 3. check it on fresh simulations with [validate()];
#' 4. analyse data with [post_prob()], [bayes_factor()] and [compare_models()].
#'
#' @section Conditions:
#' Errors are signalled with classes `c("deepbmc_error_<what>",
#' "deepbmc_error")`, where `<what>` is one of `type` (wrong type or length
#' of an argument), `value` (impossible value: `NA`, infinite, not whole, out
#' of range), `data` (data that cannot be read as data sets), `fit` (not a
#' usable trained network), `version` (a fit saved in an unknown format),
#' `mismatch` (arguments that do not fit together) and `numeric` (non-finite
#' network outputs). Warnings: `deepbmc_interrupted_warning` (training
#' stopped early), `deepbmc_extrapolation_warning` (data sizes outside the
#' training range) and `deepbmc_overflow_warning` (a Bayes factor too large
#' for a double).
#'
#' @references Elsemüller, L., Schnuerch, M., Bürkner, P.-C., & Radev, S. T.
#'   (2024). A deep learning method for comparing Bayesian hierarchical models.
#'   *Psychological Methods*. \doi{10.1037/met0000645}
#'
#' @keywords internal
"_PACKAGE"

## usethis namespace: start
#' @useDynLib deepbmc, .registration = TRUE
#' @importFrom Rcpp sourceCpp
#' @importFrom RcppParallel RcppParallelLibs
#' @importFrom rlang .data
#' @importFrom stats gaussian
## usethis namespace: end
NULL
