// Study 2 of Elsemueller et al. (2024): two non-nested hierarchical models of
// old/new recognition memory, on trial-level binary data.
//   0 SDT   probit hit and false-alarm rates with normal participant effects:
//           h_m ~ N(mu_h, sigma_h), f_m ~ N(mu_f, sigma_f), mu_h ~ N(1, 0.5),
//           mu_f ~ N(-1, 0.5), sigma_h, sigma_f ~ Gamma(1, 1) (shape, scale);
//           p_hit = Phi(h_m), p_fa = Phi(f_m).
//   1 MPT   latent-trait two-high-threshold model: (d', g') ~ MVN(mu, Sigma),
//           mu_d, mu_g ~ N(0, 0.25), Sigma = diag(lambda) Q diag(lambda),
//           Q ~ inverse-Wishart(3, I), lambda_j ~ U(0, 2); d = Phi(d'),
//           g = Phi(g'); p_hit = d + (1 - d) g, p_fa = (1 - d) g.
// (Second arguments of N are standard deviations.) A data set: participants
// (groups) x trials, the first round(old_share * trials) of each participant
// old items; each trial is (stimulus 1 = old, response 1 = "old").
#pragma once
#include "simulators.h"

namespace deepbmc {

// The per-participant response probabilities (p_hit, p_fa) of model `model`
// for `n` participants of one data set, hyperparameters drawn first.
void draw_recognition_rates(int model, int n, Rng& rng, double* p_hit, double* p_fa);

// Q ~ inverse-Wishart(df, I_2), written as (q11, q12, q22): the inverse of a
// Wishart(df, I_2) draw by the Bartlett decomposition.
void inverse_wishart_2(double df, Rng& rng, double* q);

class RecognitionMemoryModels : public ModelSet {
 public:
  RecognitionMemoryModels(SizeRange participants, SizeRange trials, double old_share);
  int n_models() const override { return 2; }
  int n_features() const override { return 2; }
  int n_levels() const override { return 2; }
  void simulate(int model, Rng& rng, Dataset<float>& out) const override;

 private:
  SizeRange participants_;
  SizeRange trials_;
  double old_share_;
};

}  // namespace deepbmc
