#' Nested hierarchical normal models (Study 1)
#'
#' The two nested hierarchical normal models of Study 1 in Elsemüller et al.
#' (2024). Both describe observations \eqn{x_{ln}} (observation \eqn{n} of
#' group \eqn{l}) as
#' \deqn{x_{ln} \sim N(\theta_l, \sigma^2), \quad \theta_l \sim N(\mu, \tau^2),}
#' with Half-Normal(0, 1) priors on the variances \eqn{\sigma^2} and
#' \eqn{\tau^2} (not on the standard deviations). They differ in the grand
#' mean:
#' * `M0`: \eqn{\mu = 0};
#' * `M1`: \eqn{\mu \sim N(0, 1)}.
#'
#' The network trained on these models answers whether the grand mean differs
#' from zero, the hierarchical analogue of a one-sample t-test.
#'
#' @param groups Number of groups \eqn{L} per data set: a single positive whole
#'   number for a fixed size, or a range `c(min, max)`, in which case each
#'   simulated data set draws its number of groups uniformly from
#'   `min:max`.
#' @param obs Number of observations \eqn{N} per group, as for `groups`. With a
#'   range, each simulated data set draws one number of observations that all
#'   its groups share.
#'
#' @details
#' Sizes matter: the network sees \eqn{\sqrt{L}}{sqrt(L)} and
#' \eqn{\sqrt{N}}{sqrt(N)} as inputs and learns how the evidence grows with
#' them. Train with ranges that cover the data you want to analyse; data
#' outside the training ranges give a warning in [post_prob()]. A data set may
#' hold at most 10 million observations (`max(groups) * max(obs)`).
#'
#' @return A model set, a list of class
#'   `c("deepbmc_normal_nested", "deepbmc_models")` with elements `type`
#'   (`"normal_nested"`), `groups` and `obs` (integer ranges `c(min, max)`),
#'   `n_models` (2), `model_names` (`c("M0", "M1")`), `n_features` (1, one
#'   number per observation) and `n_levels` (2, observations within groups).
#'
#' @references Elsemüller, L., Schnuerch, M., Bürkner, P.-C., & Radev, S. T.
#'   (2024). A deep learning method for comparing Bayesian hierarchical models.
#'   *Psychological Methods*. \doi{10.1037/met0000645}
#'
#' @seealso [train_comparison()] to train a network on the models,
#'   [simulate_datasets()] to draw data sets from them.
#' @export
#' @examples
#' # The paper's fixed-size setting: 50 groups of 50 observations
#' normal_nested_models()
#'
#' # Between 5 and 40 groups, 10 to 30 observations per group
#' normal_nested_models(groups = c(5, 40), obs = c(10, 30))
normal_nested_models <- function(groups = 50, obs = 50) {
  groups <- check_range(groups)
  obs <- check_range(obs)
  check_dataset_capacity(groups, obs)
  structure(
    list(
      type = "normal_nested",
      groups = groups,
      obs = obs,
      n_models = 2L,
      model_names = c("M0", "M1"),
      n_features = 1L,
      n_levels = 2L
    ),
    class = c("deepbmc_normal_nested", "deepbmc_models")
  )
}

# Registered (though internal) so that dispatch works from any environment.
#' @export
models_spec.deepbmc_normal_nested <- function(models, ...) {
  list(type = "normal_nested", groups = models$groups, obs = models$obs)
}

#' @export
print.deepbmc_normal_nested <- function(x, ...) {
  cat(
    "<deepbmc_models> Nested hierarchical normal models\n",
    "Data: ", format_sizes(x), "\n",
    "  ", x$model_names[[1]], ": x_ln ~ N(theta_l, sigma^2), ",
    "theta_l ~ N(0, tau^2)\n",
    "  ", x$model_names[[2]], ": x_ln ~ N(theta_l, sigma^2), ",
    "theta_l ~ N(mu, tau^2), mu ~ N(0, 1)\n",
    "Priors: sigma^2 ~ Half-Normal(0, 1), tau^2 ~ Half-Normal(0, 1)\n",
    sep = ""
  )
  invisible(x)
}

#' @export
with_sizes.deepbmc_normal_nested <- function(models, groups = NULL, obs = NULL,
                                             ...) {
  normal_nested_models(
    groups = groups %||% models$groups,
    obs = obs %||% models$obs
  )
}
