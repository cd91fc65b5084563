// Formula models: two-level generalized linear mixed models compiled in R from
// lme4/brms-style formulas (R/formula-model.R, R/formula-set.R) into plain numbers, simulated
// here from their prior predictive distributions.
//
// One FormulaModels object holds K candidate models that share one template
// design (the user's data set): its rows, sorted by group, their grouping,
// which responses are observed, binomial trial counts, and the covariate
// features the network sees. Each model has its own family, link, fixed-effect
// matrix X (rows x P), group-level matrix Z (rows x Q) and priors.
//
// Simulating one data set of model k:
//   1. Design: the template's groups as they are, or (resample) a number of
//      groups drawn uniformly from [groups_min, groups_max], each a template
//      group drawn uniformly with replacement, with all its rows.
//   2. Parameters from the priors: beta (P), sd (Q), the Cholesky factor L of
//      a Q x Q correlation matrix ~ LKJ(cor_eta) when correlated and Q >= 2
//      (else L = I), sigma for gaussian and lognormal.
//   3. Group effects: u_g = sd .* (L z_g), z_g ~ N(0, I_Q), per drawn group.
//   4. Linear predictor eta_i = offset_i + X_i beta + Z_i u_g(i) (Q may be 0:
//      a model without group-level effects), plus, with an observation-level
//      effect `(1 | obs)`, e_i = sd_obs * N(0, 1) drawn afresh for every
//      simulated (observed) row, sd_obs drawn once per data set after the
//      other parameters; mean mu_i = inv_link(eta_i);
//      response by family: gaussian N(mu, sigma); bernoulli(mu);
//      binomial(trials_i, mu); poisson(mu); lognormal(meanlog mu, sigma);
//      student mu + sigma t_nu; negbinomial Poisson(Gamma(shape, rate shape /
//      mu)) (mean mu, variance mu + mu^2 / shape); gamma Gamma(shape, rate
//      shape / mu); beta Beta(mu phi, (1 - mu) phi).
//   5. Features of row i: [(y_i / trials_i - response_center) / response_scale,
//      covariate_features(i, 0..F-2)], written by write_features(), the same
//      function that converts real data. Rows whose template response is
//      missing are masked (mask 0, features 0).
// Dataset::source_row gets the 0-based template row of every simulated row
// (rows keep the template order within a group).
#pragma once
#include <algorithm>
#include <cfloat>
#include <vector>

#include "dataset.h"
#include "rng.h"
#include "simulators.h"

namespace deepbmc {

enum class Family : int {
  gaussian = 0,
  bernoulli = 1,
  binomial = 2,
  poisson = 3,
  lognormal = 4,
  student = 5,
  negbinomial = 6,
  gamma = 7,
  beta = 8
};
enum class Link : int { identity = 0, logit = 1, probit = 2, log = 3, sqrt = 4 };
constexpr int kFamilies = 9;
constexpr int kLinks = 5;

// What the simulator implements for each family; R's family registry
// (R/formula-families.R) states the same, and a test checks that they agree.
bool family_takes_link(Family f, Link l);
bool family_has_sigma(Family f);
// The family's second parameter besides sigma, as brms names it: nu of the
// Student-t, shape of the negative binomial and Gamma, phi (precision) of the
// beta family.
bool family_has_aux(Family f);
// The lower bound of the second parameter: 1 for the Student-t's nu, as in
// brms (its prior is truncated there), 0 otherwise.
double family_aux_lower(Family f);

// Prior distributions by code, with up to three parameters:
//   constant(p1); normal(mean p1, sd p2); student_t(df p1, location p2,
//   scale p3); half_normal(scale p1) = |N(0, p1)|; half_student_t(df p1,
//   scale p2) = |t_df| * p2; exponential(rate p1); half_normal_variance(scale
//   p1) = sqrt(|N(0, p1)|), an SD whose square is Half-Normal (the prior on
//   variances of the paper's Study 1); uniform(lower p1, upper p2);
//   gamma(shape p1, rate p2); beta(p1, p2).
enum class PriorKind : int {
  constant = 0,
  normal = 1,
  student_t = 2,
  half_normal = 3,
  half_student_t = 4,
  exponential = 5,
  half_normal_variance = 6,
  uniform = 7,
  gamma = 8,
  beta = 9
};

struct Prior {
  PriorKind kind = PriorKind::constant;
  double p1 = 0.0, p2 = 0.0, p3 = 0.0;
  double draw(Rng& rng) const;
};

// Row-major dense matrix of doubles (rows x cols).
struct Matrix {
  int rows = 0, cols = 0;
  std::vector<double> values;
  const double* row(int i) const { return values.data() + static_cast<size_t>(i) * cols; }
};

struct FormulaModel {
  Family family = Family::gaussian;
  Link link = Link::identity;
  Matrix X;                      // rows x P, template rows in group order
  Matrix Z;                      // rows x Q; Q = 0 without group-level effects
  std::vector<double> offset;    // rows (template order), or empty for all 0
  std::vector<Prior> b_prior;    // P
  std::vector<Prior> sd_prior;   // Q
  bool correlated = false;
  double cor_eta = 1.0;
  Prior sigma_prior;             // families with sigma only
  Prior aux_prior;               // families with nu, shape or phi only
  bool olre = false;             // observation-level effect e_i ~ N(0, sd_obs^2)
  Prior olre_prior;              // its SD sd_obs, with olre only
};

struct TemplateDesign {
  int n_rows = 0, n_groups = 0;
  std::vector<int> group_offsets;  // G + 1, 0-based row offsets
  std::vector<char> observed;      // per row: response present in the template
  std::vector<int> trials;         // per row; 1 unless binomial
  Matrix covariate_features;       // rows x (F - 1), already standardized
  bool resample = false;
  SizeRange groups;                // drawn group count when resampling
};

struct FeatureScaling {
  double response_center = 0.0;
  double response_scale = 1.0;
};

// Throws std::invalid_argument unless the center is finite and the scale
// positive and finite.
void validate_feature_scaling(const FeatureScaling& scaling);

// Feature row of one observation: out[0] the standardized response (as a
// share of trials), out[1..] the covariate features. Used for simulations and
// for real data alike; inline because the simulator calls it for every row.
// Features are floats: a response beyond the float range (only from extreme
// prior draws, e.g. exp of a huge log-rate) is clamped to it, and a NaN (only
// from 0 * inf in such draws) becomes 0, so that no single data set can turn a
// whole training batch into NaN.
inline void write_features(const FeatureScaling& scaling, double y, int trials,
                           const double* covariate_features, int n_covariate_features,
                           float* out) {
  const double share = trials == 1 ? y : y / trials;
  double v = (share - scaling.response_center) / scaling.response_scale;
  if (v != v) v = 0.0;
  v = std::min(std::max(v, -static_cast<double>(FLT_MAX)), static_cast<double>(FLT_MAX));
  out[0] = static_cast<float>(v);
  for (int j = 0; j < n_covariate_features; ++j) {
    out[1 + j] = static_cast<float>(covariate_features[j]);
  }
}

// The constructor checks that design, scaling and models fit together and
// throws std::invalid_argument with a message naming the problem otherwise.
// Accepted family/link pairs: see family_takes_link(). Priors on sd, sd_obs,
// sigma and the second parameter must not put mass below 0: constant (>= 0),
// half_normal, half_student_t, exponential, half_normal_variance, uniform
// (lower >= 0), gamma or beta.
class FormulaModels : public ModelSet {
 public:
  FormulaModels(TemplateDesign design, FeatureScaling scaling, std::vector<FormulaModel> models);
  int n_models() const override { return static_cast<int>(models_.size()); }
  int n_features() const override { return 1 + design_.covariate_features.cols; }
  int n_levels() const override { return 2; }
  void simulate(int model, Rng& rng, Dataset<float>& out) const override;

 private:
  TemplateDesign design_;
  FeatureScaling scaling_;
  std::vector<FormulaModel> models_;
};

}  // namespace deepbmc
