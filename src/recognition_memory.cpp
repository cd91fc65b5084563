#include "recognition_memory.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "distributions.h"

namespace deepbmc {

void inverse_wishart_2(double df, Rng& rng, double* q) {
  // Bartlett: W = A A' with A lower triangular, A11^2 ~ chi2(df),
  // A22^2 ~ chi2(df - 1), A21 ~ N(0, 1); then Q = W^-1.
  const double a11 = std::sqrt(chi_square(df, rng));
  const double a22 = std::sqrt(chi_square(df - 1.0, rng));
  const double a21 = standard_normal(rng);
  const double w11 = a11 * a11, w12 = a11 * a21, w22 = a21 * a21 + a22 * a22;
  const double det = w11 * w22 - w12 * w12;
  q[0] = w22 / det;
  q[1] = -w12 / det;
  q[2] = w11 / det;
}

void draw_recognition_rates(int model, int n, Rng& rng, double* p_hit, double* p_fa) {
  if (model == 0) {
    const double mu_h = 1.0 + 0.5 * standard_normal(rng);
    const double sigma_h = gamma(1.0, rng);
    const double mu_f = -1.0 + 0.5 * standard_normal(rng);
    const double sigma_f = gamma(1.0, rng);
    for (int m = 0; m < n; ++m) {
      p_hit[m] = inv_probit(mu_h + sigma_h * standard_normal(rng));
      p_fa[m] = inv_probit(mu_f + sigma_f * standard_normal(rng));
    }
    return;
  }
  const double mu_d = 0.25 * standard_normal(rng);
  const double mu_g = 0.25 * standard_normal(rng);
  const double lambda_d = 2.0 * rng.uniform();
  const double lambda_g = 2.0 * rng.uniform();
  double q[3];
  inverse_wishart_2(3.0, rng, q);
  // Sigma = diag(lambda) Q diag(lambda) and its Cholesky factor
  const double s11 = lambda_d * lambda_d * q[0];
  const double s12 = lambda_d * lambda_g * q[1];
  const double s22 = lambda_g * lambda_g * q[2];
  const double l11 = std::sqrt(s11);
  const double l21 = l11 > 0.0 ? s12 / l11 : 0.0;
  const double l22 = std::sqrt(std::max(0.0, s22 - l21 * l21));
  for (int m = 0; m < n; ++m) {
    const double z1 = standard_normal(rng), z2 = standard_normal(rng);
    const double d = inv_probit(mu_d + l11 * z1);
    const double g = inv_probit(mu_g + l21 * z1 + l22 * z2);
    p_hit[m] = d + (1.0 - d) * g;
    p_fa[m] = (1.0 - d) * g;
  }
}

RecognitionMemoryModels::RecognitionMemoryModels(SizeRange participants, SizeRange trials,
                                                 double old_share)
    : participants_(participants), trials_(trials), old_share_(old_share) {
  if (participants.min < 1 || participants.max < participants.min || trials.min < 1 ||
      trials.max < trials.min) {
    throw std::invalid_argument("impossible sizes");
  }
  if (!(old_share >= 0.0 && old_share <= 1.0)) {
    throw std::invalid_argument("the share of old items must be in [0, 1]");
  }
}

void RecognitionMemoryModels::simulate(int model, Rng& rng, Dataset<float>& out) const {
  const int n_groups = participants_.draw(rng);
  const int per_group = trials_.draw(rng);
  out.resize_balanced(2, n_groups, per_group);
  std::vector<double> p_hit(n_groups), p_fa(n_groups);
  draw_recognition_rates(model, n_groups, rng, p_hit.data(), p_fa.data());
  const int n_old = static_cast<int>(std::lround(old_share_ * per_group));
  float* x = out.x.data();
  for (int g = 0; g < n_groups; ++g) {
    for (int t = 0; t < per_group; ++t) {
      const bool old_item = t < n_old;
      *x++ = old_item ? 1.0f : 0.0f;
      *x++ = static_cast<float>(bernoulli(old_item ? p_hit[g] : p_fa[g], rng));
    }
  }
}

}  // namespace deepbmc
