// Model sets: K candidate models, each able to write one simulated data set.
// Simulators run on worker threads: they draw only from the Rng they are given
// and never touch R.
#pragma once
#include <memory>
#include <string>

#include "dataset.h"
#include "rng.h"

namespace deepbmc {

class ModelSet {
 public:
  virtual ~ModelSet() = default;
  virtual int n_models() const = 0;
  virtual int n_features() const = 0;
  virtual int n_levels() const = 0;
  // Writes one data set from the prior predictive of model `model` (0-based).
  virtual void simulate(int model, Rng& rng, Dataset<float>& out) const = 0;
};

struct SizeRange {
  int min = 1;
  int max = 1;
  int draw(Rng& rng) const { return min == max ? min : rng.uniform_int(min, max); }
};

// Study 1 of Elsemueller et al.: x_ln ~ N(theta_l, sigma^2), theta_l ~ N(mu, tau^2),
// sigma^2, tau^2 ~ Half-Normal(0, 1) on the variances; M0: mu = 0, M1: mu ~ N(0, 1).
// Groups and observations per group are drawn per data set from their ranges.
class NormalNestedModels : public ModelSet {
 public:
  NormalNestedModels(SizeRange groups, SizeRange obs) : groups_(groups), obs_(obs) {}
  int n_models() const override { return 2; }
  int n_features() const override { return 1; }
  int n_levels() const override { return 2; }
  void simulate(int model, Rng& rng, Dataset<float>& out) const override;

 private:
  SizeRange groups_;
  SizeRange obs_;
};

}  // namespace deepbmc
