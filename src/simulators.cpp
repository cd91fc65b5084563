#include "simulators.h"

#include <cmath>

namespace deepbmc {

void NormalNestedModels::simulate(int model, Rng& rng, Dataset<float>& out) const {
  const int n_groups = groups_.draw(rng);
  const int per_group = obs_.draw(rng);
  out.resize_balanced(1, n_groups, per_group);
  const double sigma = std::sqrt(std::fabs(rng.normal()));
  const double tau = std::sqrt(std::fabs(rng.normal()));
  const double mu = model == 0 ? 0.0 : rng.normal();
  float* x = out.x.data();
  for (int g = 0; g < n_groups; ++g) {
    const double theta = mu + tau * rng.normal();
    for (int n = 0; n < per_group; ++n) *x++ = static_cast<float>(theta + sigma * rng.normal());
  }
}

}  // namespace deepbmc
