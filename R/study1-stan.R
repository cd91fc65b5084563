# The Study 1 Stan programs (inst/stan) and the data lists they read.

# The text of inst/stan/study1_m0.stan or study1_m1.stan.
study1_stan_code <- function(model) {
  file <- paste0("study1_", tolower(model), ".stan")
  path <- system.file("stan", file, package = "deepbmc")
  if (!nzchar(path)) {
    abort_deepbmc("Internal error: cannot find {.file {file}}.", "value")
  }
  paste0(paste(readLines(path, warn = FALSE), collapse = "\n"), "\n")
}

# One data set as a list of numeric vectors, one per group, without missing
# values (groups left without observations are dropped). `x` is any form
# post_prob() accepts for the nested normal models.
study1_groups <- function(x, arg = "data", call = rlang::caller_env(),
                          group = NULL, response = NULL) {
  if (is.list(x) && !is.data.frame(x) && length(x) > 0 &&
        all(vapply(x, function(g) is.numeric(g) && is.null(dim(g)),
                   logical(1)))) {
    groups <- lapply(x, as.double)
  } else {
    converted <- as_datasets(x, group = group, response = response,
                             arg = arg, call = call)
    dataset <- converted$datasets[[1]]
    groups <- split(dataset$values,
                    rep.int(seq_along(dataset$sizes), dataset$sizes))
  }
  groups <- lapply(groups, function(g) g[!is.na(g)])
  groups <- unname(groups[lengths(groups) > 0])
  if (length(groups) == 0) {
    abort_deepbmc("{.arg {arg}} has no observed value.", "data", call = call)
  }
  if (any(!is.finite(unlist(groups)))) {
    abort_deepbmc("{.arg {arg}} must have finite values.", "data", call = call)
  }
  groups
}

# The data list of the Study 1 programs: observations in one vector with
# their group index (unbalanced groups work), and the parameterisation of the
# group means.
study1_stan_data <- function(x, centred = study1_centred(x)) {
  groups <- study1_groups(x)
  list(
    L = length(groups),
    n_obs = sum(lengths(groups)),
    group = rep(seq_along(groups), lengths(groups)),
    x = unlist(groups, use.names = FALSE),
    centred = as.integer(centred)
  )
}

# Whether to sample the group means centred (theta_l as parameters) or
# non-centred (theta_l = mu + sqrt(tau2) * z_l); both give the same marginal
# likelihood. Centred is better when the data of a group pin its mean down
# well relative to the spread of the means (n_l tau2 / sigma2 large);
# non-centred when tau2 may be near zero compared with sigma2 / n_l (the
# funnel of the centred form: divergent transitions and biased bridge
# estimates). The choice uses moment estimates of the variances:
#   info = median(n_l) * tau2_hat / sigma2_hat, centred if info > 3,
# with sigma2_hat the pooled within-group variance and tau2_hat the variance
# of the group means minus mean(sigma2_hat / n_l). On 19 test data sets (5 to
# 50 groups, 1 to 50 observations per group) every centred fit with
# divergences had info < 1.6, and no non-centred fit had any; at info > 3
# centred had 1.3 to 18 times the smallest effective sample size of the
# non-centred fits (bench/peer_bridge.R).
study1_centred <- function(x, threshold = 3) {
  stats <- study1_statistics(study1_groups(x))
  if (stats$n_obs <= stats$L || stats$L < 2) return(FALSE)
  sigma2 <- stats$S / (stats$n_obs - stats$L)
  tau2 <- stats::var(stats$m) - mean(sigma2 / stats$n)
  isTRUE(stats::median(stats$n) * tau2 / sigma2 > threshold)
}
