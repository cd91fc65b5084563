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
//   normalising constants; `y ~ normal(...)` would drop the terms that do
//   not depend on parameters (-0.5 log(2 pi) per density, over 2,500 of them in
//   Study 1) and shift log p(x | M1) by a data-size-dependent amount;
// * the Half-Normal(0, 1) priors are normal densities truncated to (0, Inf):
//   their density is 2 N(. | 0, 1), so each adds log(2). The `<lower=0>`
//   constraint only restricts the support, it does not renormalise;
// * the Jacobians of the log transforms of sigma2 and tau2 are not written
//   here: Stan adds them when sampling, and bridgesampling works on the
//   unconstrained scale and accounts for them itself.
// The result is the exact log marginal likelihood, not one up to a constant,
// so log Bayes factors between study1_m0.stan and this program are exact too.
// R/study1-numeric.R computes it by numerical integration; tests and
// data-raw/bridge_checks.R compare.
//
// Data layout: all observations in one vector `x` with the group of each in
// `group`, so groups may have different sizes (unbalanced designs); a
// balanced L x N data set is passed as L * N observations with
// group = rep(1:L, each = N) (see study1_stan_data() in R/stan-code.R).
//
// Parameterisation of the group means, chosen by the data variable
// `centred`:
// * centred = 1: eta = theta, eta_l ~ N(mu, tau2);
// * centred = 0: eta = z, z_l ~ N(0, 1), theta_l = mu + sqrt(tau2) * z_l.
// Both give the same marginal likelihood: the non-centred form is a change of
// variables whose prior is stated directly on z_l (no Jacobian needed), and
// int N(x | theta) N(theta | mu, tau2) dtheta
//   = int N(x | mu + sqrt(tau2) z) N(z | 0, 1) dz.
// Centred suits data that pin each theta_l down well relative to the spread
// of the group means (n_l tau2 / sigma2 large, as at Study 1's 50
// observations per group, where it samples 2-3.5 times faster with ~10 times
// the effective sample size and a third of the bridge sampling error);
// non-centred suits tau2 near zero relative to sigma2 / n_l or few
// observations per group, where the centred form has a funnel (divergent
// transitions, biased bridge estimates). study1_centred() in
// R/stan-code.R picks one per data set.
//
// Array syntax: `int group[n_obs]` is the pre-2.26 syntax that rstan 2.21
// (Debian 12's r-cran-rstan) requires; it is still accepted (deprecated) up
// to Stan 2.32. Stan >= 2.33 needs `array[n_obs] int group`.
data {
  int<lower=1> L;                        // number of groups
  int<lower=1> n_obs;                    // number of observations, all groups
  int<lower=1, upper=L> group[n_obs];    // group of each observation
  vector[n_obs] x;                       // observations
  int<lower=0, upper=1> centred;         // 1: centred, 0: non-centred
}
parameters {
  real mu;                               // grand mean
  real<lower=0> sigma2;                  // within-group variance
  real<lower=0> tau2;                    // between-group variance
  vector[L] eta;                         // theta (centred) or z (non-centred)
}
model {
  vector[L] theta;                       // group means
  // priors, with log(2) for the truncation of each half-normal
  target += normal_lpdf(sigma2 | 0, 1) + log(2.0);
  target += normal_lpdf(tau2 | 0, 1) + log(2.0);
  target += normal_lpdf(mu | 0, 1);
  // group means
  if (centred) {
    theta = eta;
    target += normal_lpdf(eta | mu, sqrt(tau2));
  } else {
    theta = mu + sqrt(tau2) * eta;
    target += normal_lpdf(eta | 0, 1);
  }
  // observations
  target += normal_lpdf(x | theta[group], sqrt(sigma2));
}
