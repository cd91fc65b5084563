// Study 1 of Elsemueller et al. (2024), model M1: hierarchical normal model
// with a free grand mean (see R/models-normal-nested.R).
//
//   x_ln    ~ N(theta_l, sigma2)        observation n of group l
//   theta_l ~ N(mu, tau2)               group means
//   mu      ~ N(0, 1)
//   sigma2  ~ Half-Normal(0, 1)         prior on the VARIANCE, not the SD
//   tau2    ~ Half-Normal(0, 1)         prior on the VARIANCE, not the SD
//
// Written for bridge sampling (bridgesampling::bridge_sampler()), which
// estimates the normalising constant of exp(target) over the parameters.
// That constant is the marginal likelihood p(x | M1) only if target is the
// complete log joint density log p(x, parameters | M1). Therefore:
// * every density is added with `target += *_lpdf(...)`, which keeps all
//   normalising constants; `y ~ normal(...)` would drop the constants
//   (-0.5 log(2 pi), -log(sd)) and shift log p(x | M1) by an unknown amount;
// * the Half-Normal(0, 1) priors are normal densities truncated to (0, Inf):
//   their density is 2 N(. | 0, 1), so each adds log(2). The `<lower=0>`
//   constraint only restricts the support, it does not renormalise;
// * the Jacobians of the log transforms of sigma2 and tau2 are not written
//   here: Stan adds them when sampling, and bridgesampling works on the
//   unconstrained scale and accounts for them itself.
// The result is the exact log marginal likelihood, not one up to a constant,
// so log Bayes factors between study1_m0.stan and this program are exact too.
// bench/peer_bridge.R checks it against numerical integration.
//
// Data layout: all observations in one vector `x` with the group of each in
// `group`, so groups may have different sizes (unbalanced designs); a
// balanced L x N data set is passed as L * N observations with
// group = rep(1:L, each = N) (see study1_stan_data() in bench/peer_bridge.R).
//
// Parameterisation: centred, with the group means theta_l as parameters.
// With Study 1's sizes (N = 50 observations per group) the data pin down each
// theta_l, and the centred form samples 2-3.5 times faster than the
// non-centred theta_l = mu + sqrt(tau2) * z_l (which correlates every z_l
// with tau2), with about 10 times the effective sample size and a third of the
// bridge sampling error. Both give the same marginal likelihood: the
// non-centred form is a change of variables whose prior is stated directly on
// z_l, so nothing else changes. For groups of very few observations the
// non-centred form would be the better choice.
//
// Array syntax: `int group[n_obs]` is the pre-2.26 syntax that rstan 2.21
// (Debian 12's r-cran-rstan) requires; it is still accepted (deprecated) up
// to Stan 2.32. Stan >= 2.33 needs `array[n_obs] int group`.
data {
  int<lower=1> L;                        // number of groups
  int<lower=1> n_obs;                    // number of observations, all groups
  int<lower=1, upper=L> group[n_obs];    // group of each observation
  vector[n_obs] x;                       // observations
}
parameters {
  real mu;                               // grand mean
  real<lower=0> sigma2;                  // within-group variance
  real<lower=0> tau2;                    // between-group variance
  vector[L] theta;                       // group means
}
model {
  // priors, with log(2) for the truncation of each half-normal
  target += normal_lpdf(sigma2 | 0, 1) + log(2.0);
  target += normal_lpdf(tau2 | 0, 1) + log(2.0);
  target += normal_lpdf(mu | 0, 1);
  // group means
  target += normal_lpdf(theta | mu, sqrt(tau2));
  // observations
  target += normal_lpdf(x | theta[group], sqrt(sigma2));
}
