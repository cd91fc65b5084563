# post_prob() and bayes_factor() are bridgesampling's generics, imported and
# re-exported rather than redefined: deepbmc registers methods on them, so
# `library(deepbmc); post_prob(fit, data)` works without attaching
# bridgesampling, and attaching bridgesampling or brms later masks nothing
# (the function is the same object).

#' @importFrom bridgesampling post_prob
#' @export
bridgesampling::post_prob

#' @importFrom bridgesampling bayes_factor
#' @export
bridgesampling::bayes_factor
