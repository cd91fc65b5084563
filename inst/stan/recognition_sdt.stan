// Validation study 2 of Elsemueller et al. (2024), model SDT: hierarchical
// signal detection model of old/new recognition (see
// R/models-recognition-memory.R and src/recognition_memory.cpp).
//
//   response "old" to an old item  ~ Bernoulli(Phi(h_m))   hit
//   response "old" to a new item   ~ Bernoulli(Phi(f_m))   false alarm
//   h_m = mu_h + sigma_h z_hm,  f_m = mu_f + sigma_f z_fm,  z ~ N(0, 1)
//   mu_h ~ N(1, 0.5),  mu_f ~ N(-1, 0.5)          (second argument: SD)
//   sigma_h, sigma_f ~ Gamma(1, 1)                (shape 1, rate 1)
// for participant m.
//
// Written for bridge sampling (bridgesampling::bridge_sampler()), which
// estimates the normalising constant of exp(target) over the parameters.
// That constant is the marginal likelihood only if target is the complete
// log joint density. Therefore:
// * every density is added with `target += *_lpdf(...)`, which keeps all
//   normalising constants (`~` would drop them);
// * the likelihood is that of the trials, a product of Bernoulli
//   probabilities, written from counts (hits of n_old old items, false
//   alarms of n_new new items) but WITHOUT the binomial coefficients that
//   binomial_lpmf() would add: the network sees the trials in their order,
//   so its Bayes factors are ratios of trial-level marginal likelihoods.
//   (The coefficients are the same under recognition_mpt.stan, so Bayes
//   factors would not change with them, but the log marginal likelihoods
//   would not be those of the data);
// * the participant effects are non-centred: the prior is stated on z
//   directly, a change of variables that needs no Jacobian and keeps the
//   marginal likelihood, and avoids the funnel of h_m ~ N(mu_h, sigma_h)
//   when sigma_h is near 0;
// * the Jacobians of the log transforms of sigma_h and sigma_f are not
//   written here: Stan adds them when sampling, and bridgesampling works on
//   the unconstrained scale and accounts for them itself.
//
// log Phi(x) is normal_lcdf(x | 0, 1), and log(1 - Phi(x)) is written as
// normal_lcdf(-x | 0, 1): log(1 - Phi(x)) computed directly is -inf from
// x of about 8.3 on, while the lower tail of normal_lcdf stays finite far
// beyond any value the posterior reaches.
//
// Array syntax: `int hits[M]` is the pre-2.26 syntax that rstan 2.21
// requires; it is still accepted (deprecated) up to Stan 2.32.
functions {
  // log Pr(k of n Bernoulli trials with probability Phi(x) are 1, in a
  // given order); a count of 0 contributes nothing (0 * -inf would be NaN).
  real probit_trials(int k, int n, real x) {
    real lp = 0;
    if (k > 0) lp += k * normal_lcdf(x | 0, 1);
    if (n - k > 0) lp += (n - k) * normal_lcdf(-x | 0, 1);
    return lp;
  }
}
data {
  int<lower=1> M;                        // participants
  int<lower=0> n_old[M];                 // old items per participant
  int<lower=0> hits[M];                  // "old" responses to old items
  int<lower=0> n_new[M];                 // new items per participant
  int<lower=0> false_alarms[M];          // "old" responses to new items
}
parameters {
  real mu_h;                             // mean probit hit rate
  real mu_f;                             // mean probit false-alarm rate
  real<lower=0> sigma_h;                 // SD of probit hit rates
  real<lower=0> sigma_f;                 // SD of probit false-alarm rates
  vector[M] z_h;                         // standardised participant effects
  vector[M] z_f;
}
model {
  vector[M] h = mu_h + sigma_h * z_h;    // probit hit rates
  vector[M] f = mu_f + sigma_f * z_f;    // probit false-alarm rates
  target += normal_lpdf(mu_h | 1, 0.5);
  target += normal_lpdf(mu_f | -1, 0.5);
  target += gamma_lpdf(sigma_h | 1, 1);
  target += gamma_lpdf(sigma_f | 1, 1);
  target += normal_lpdf(z_h | 0, 1);
  target += normal_lpdf(z_f | 0, 1);
  for (m in 1:M) {
    target += probit_trials(hits[m], n_old[m], h[m]);
    target += probit_trials(false_alarms[m], n_new[m], f[m]);
  }
}
