// Validation study 2 of Elsemueller et al. (2024), model MPT: latent-trait
// two-high-threshold model of old/new recognition (see
// R/models-recognition-memory.R and src/recognition_memory.cpp).
//
//   an old item is detected with probability d_m, else participant m
//   guesses "old" with probability g_m; a new item is never detected, so
//   p_hit = d_m + (1 - d_m) g_m,  p_fa = (1 - d_m) g_m
//   d_m = Phi(d'_m), g_m = Phi(g'_m)
//   (d'_m, g'_m) ~ MVN(mu, Sigma),  Sigma = diag(lambda) Q diag(lambda)
//   mu_d, mu_g ~ N(0, 0.25)                     (second argument: SD)
//   Q ~ inverse-Wishart(3, I),  lambda_j ~ U(0, 2)
//
// Written for bridge sampling, like recognition_sdt.stan (see there for the
// reasons): every density with `target += *_lpdf(...)` and its normalising
// constant (inv_wishart_lpdf and uniform_lpdf included), the trial-level
// likelihood without binomial coefficients, and no Jacobians of Stan's
// constraining transforms (of lambda and Q).
//
// Participant traits are non-centred: (d', g')_m = mu + diag(lambda) L_Q
// z_m with L_Q the Cholesky factor of Q and z_m ~ N(0, I), because
// diag(lambda) L_Q is the Cholesky factor of Sigma. As in the SDT program
// the prior is stated on z directly, so no Jacobian is needed and the
// marginal likelihood is unchanged.
//
// The log probabilities are sums in log space of normal_lcdf terms, which
// stay finite where Phi() rounds to 0 or 1:
//   log p_hit       = log_sum_exp(log d, log(1 - d) + log g)
//   log(1 - p_hit)  = log(1 - d) + log(1 - g)
//   log p_fa        = log(1 - d) + log g
//   log(1 - p_fa)   = log_sum_exp(log d, log(1 - d) + log(1 - g))
// with log Phi(x) = normal_lcdf(x | 0, 1), log(1 - Phi(x)) =
// normal_lcdf(-x | 0, 1).
//
// Array syntax: pre-2.26 (`int hits[M]`), for rstan 2.21.
data {
  int<lower=1> M;                        // participants
  int<lower=0> n_old[M];                 // old items per participant
  int<lower=0> hits[M];                  // "old" responses to old items
  int<lower=0> n_new[M];                 // new items per participant
  int<lower=0> false_alarms[M];          // "old" responses to new items
}
transformed data {
  matrix[2, 2] identity = diag_matrix(rep_vector(1, 2));
}
parameters {
  vector[2] mu;                          // mean probit (detection, guessing)
  vector<lower=0, upper=2>[2] lambda;    // scale factors of Sigma
  cov_matrix[2] Q;                       // unscaled covariance of the traits
  matrix[2, M] z;                        // standardised participant traits
}
model {
  matrix[2, M] eta = rep_matrix(mu, M)
                     + diag_pre_multiply(lambda, cholesky_decompose(Q)) * z;
  target += normal_lpdf(mu | 0, 0.25);
  target += uniform_lpdf(lambda | 0, 2);
  target += inv_wishart_lpdf(Q | 3, identity);
  target += normal_lpdf(to_vector(z) | 0, 1);
  for (m in 1:M) {
    real log_d = normal_lcdf(eta[1, m] | 0, 1);
    real log_not_d = normal_lcdf(-eta[1, m] | 0, 1);
    real log_g = normal_lcdf(eta[2, m] | 0, 1);
    real log_not_g = normal_lcdf(-eta[2, m] | 0, 1);
    int misses = n_old[m] - hits[m];
    int correct_rejections = n_new[m] - false_alarms[m];
    // a count of 0 contributes nothing (0 * -inf would be NaN)
    if (hits[m] > 0)
      target += hits[m] * log_sum_exp(log_d, log_not_d + log_g);
    if (misses > 0)
      target += misses * (log_not_d + log_not_g);
    if (false_alarms[m] > 0)
      target += false_alarms[m] * (log_not_d + log_g);
    if (correct_rejections > 0)
      target += correct_rejections
                * log_sum_exp(log_d, log_not_d + log_not_g);
  }
}
