#include "formula_models.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "distributions.h"

namespace deepbmc {
namespace {

void require(bool ok, const std::string& message) {
  if (!ok) throw std::invalid_argument(message);
}

bool finite(double x) { return std::isfinite(x); }

}  // namespace

// The links each family is simulated with (see the header): gaussian,
// lognormal and student take eta as their (log-)mean, counts of successes and
// beta responses a probability through logit or probit, poisson a rate
// through log or sqrt, negbinomial and gamma a mean through log. Links whose
// mean can leave the family's range (poisson's identity, gamma's inverse) are
// not offered: a prior draw would give an impossible data set.
bool family_takes_link(Family f, Link l) {
  switch (f) {
    case Family::gaussian:
    case Family::lognormal:
    case Family::student:
      return l == Link::identity;
    case Family::bernoulli:
    case Family::binomial:
    case Family::beta:
      return l == Link::logit || l == Link::probit;
    case Family::poisson:
      return l == Link::log || l == Link::sqrt;
    case Family::negbinomial:
    case Family::gamma:
      return l == Link::log;
  }
  return false;
}

bool family_has_sigma(Family f) {
  return f == Family::gaussian || f == Family::lognormal || f == Family::student;
}

bool family_has_aux(Family f) {
  return f == Family::student || f == Family::negbinomial || f == Family::gamma ||
         f == Family::beta;
}

double family_aux_lower(Family f) { return f == Family::student ? 1.0 : 0.0; }

namespace {

bool valid_family(Family f) {
  const int code = static_cast<int>(f);
  return code >= static_cast<int>(Family::gaussian) && code <= static_cast<int>(Family::beta);
}

bool valid_link(Link l) {
  const int code = static_cast<int>(l);
  return code >= static_cast<int>(Link::identity) && code <= static_cast<int>(Link::sqrt);
}

void validate_matrix(const Matrix& m, int rows, const std::string& name) {
  require(m.rows == rows, name + " has " + std::to_string(m.rows) + " rows, the template " +
                              std::to_string(rows));
  require(m.cols >= 0 && m.values.size() == static_cast<size_t>(m.rows) * m.cols,
          name + " must hold rows x cols values");
  require(std::all_of(m.values.begin(), m.values.end(), finite),
          name + " must have finite entries");
}

// Parameters valid for the prior's kind; `nonnegative` for scales (sd,
// sigma), whose priors must not put mass below 0.
void validate_prior(const Prior& p, const std::string& name, bool nonnegative) {
  const int code = static_cast<int>(p.kind);
  require(code >= static_cast<int>(PriorKind::constant) &&
              code <= static_cast<int>(PriorKind::beta),
          name + ": unknown prior code " + std::to_string(code));
  const std::string bad = name + ": invalid prior parameters";
  switch (p.kind) {
    case PriorKind::constant:
      require(finite(p.p1), bad);
      require(!nonnegative || p.p1 >= 0.0, name + ": a scale cannot be negative");
      break;
    case PriorKind::normal:
      require(finite(p.p1) && finite(p.p2) && p.p2 >= 0.0, bad);
      break;
    case PriorKind::student_t:
      require(finite(p.p1) && p.p1 > 0.0 && finite(p.p2) && finite(p.p3) && p.p3 >= 0.0, bad);
      break;
    case PriorKind::half_normal:
    case PriorKind::half_normal_variance:
      require(finite(p.p1) && p.p1 >= 0.0, bad);
      break;
    case PriorKind::half_student_t:
      require(finite(p.p1) && p.p1 > 0.0 && finite(p.p2) && p.p2 >= 0.0, bad);
      break;
    case PriorKind::exponential:
      require(finite(p.p1) && p.p1 > 0.0, bad);
      break;
    case PriorKind::uniform:
      require(finite(p.p1) && finite(p.p2) && p.p2 > p.p1, bad);
      require(!nonnegative || p.p1 >= 0.0, name + ": a scale's uniform prior must start at 0 or above");
      break;
    case PriorKind::gamma:
    case PriorKind::beta:
      require(finite(p.p1) && p.p1 > 0.0 && finite(p.p2) && p.p2 > 0.0, bad);
      break;
  }
  require(!nonnegative || (p.kind != PriorKind::normal && p.kind != PriorKind::student_t),
          name + ": a scale needs a prior on positive values (not normal or student_t)");
}

void validate_design(const TemplateDesign& d) {
  const std::vector<int>& off = d.group_offsets;
  require(d.n_rows >= 1, "the template design has no rows");
  require(d.n_groups >= 1 && off.size() == static_cast<size_t>(d.n_groups) + 1,
          "group_offsets must have n_groups + 1 entries");
  require(off.front() == 0 && off.back() == d.n_rows,
          "group_offsets must start at 0 and end at the number of rows");
  for (size_t g = 1; g < off.size(); ++g) {
    require(off[g] > off[g - 1], "group_offsets must increase (every group needs a row)");
  }
  require(d.observed.size() == static_cast<size_t>(d.n_rows), "observed needs one entry per row");
  require(std::any_of(d.observed.begin(), d.observed.end(), [](char o) { return o != 0; }),
          "the template has no observed response");
  require(d.trials.size() == static_cast<size_t>(d.n_rows), "trials needs one entry per row");
  require(std::all_of(d.trials.begin(), d.trials.end(), [](int t) { return t >= 1; }),
          "trials must be at least 1");
  validate_matrix(d.covariate_features, d.n_rows, "covariate_features");
  if (d.resample) {
    require(d.groups.min >= 1 && d.groups.max >= d.groups.min,
            "resampled group counts must be c(min, max) with 1 <= min <= max");
  }
}

void validate_model(const FormulaModel& m, int n_rows, const std::string& name) {
  require(valid_family(m.family),
          name + ": unknown family code " + std::to_string(static_cast<int>(m.family)));
  require(valid_link(m.link),
          name + ": unknown link code " + std::to_string(static_cast<int>(m.link)));
  require(family_takes_link(m.family, m.link), name + ": the family does not take this link");
  validate_matrix(m.X, n_rows, name + ": X");
  validate_matrix(m.Z, n_rows, name + ": Z");
  require(m.offset.empty() || m.offset.size() == static_cast<size_t>(n_rows),
          name + ": offset needs one value per row (or none)");
  require(std::all_of(m.offset.begin(), m.offset.end(), finite),
          name + ": offset must be finite");
  require(m.b_prior.size() == static_cast<size_t>(m.X.cols),
          name + ": b_prior needs one prior per column of X");
  require(m.sd_prior.size() == static_cast<size_t>(m.Z.cols),
          name + ": sd_prior needs one prior per column of Z");
  for (size_t j = 0; j < m.b_prior.size(); ++j) {
    validate_prior(m.b_prior[j], name + ": b_prior " + std::to_string(j + 1), false);
  }
  for (size_t j = 0; j < m.sd_prior.size(); ++j) {
    validate_prior(m.sd_prior[j], name + ": sd_prior " + std::to_string(j + 1), true);
  }
  if (m.correlated && m.Z.cols >= 2) {
    require(finite(m.cor_eta) && m.cor_eta > 0.0, name + ": cor_eta must be positive");
  }
  if (family_has_sigma(m.family)) validate_prior(m.sigma_prior, name + ": sigma_prior", true);
  if (m.olre) validate_prior(m.olre_prior, name + ": olre_prior", true);
  if (family_has_aux(m.family)) {
    validate_prior(m.aux_prior, name + ": aux_prior", true);
    require(m.aux_prior.kind != PriorKind::constant || m.aux_prior.p1 > 0.0,
            name + ": nu, shape and phi must be positive");
    // R checks that at least 1% of the prior lies above the bound; these
    // are the priors with none.
    const double lower = family_aux_lower(m.family);
    const Prior& a = m.aux_prior;
    require(lower == 0.0 || !((a.kind == PriorKind::constant && a.p1 < lower) ||
                              (a.kind == PriorKind::uniform && a.p2 <= lower) ||
                              a.kind == PriorKind::beta),
            name + ": the prior of nu has no mass above 1");
  }
}

double inverse_link(Link link, double eta) {
  switch (link) {
    case Link::identity:
      return eta;
    case Link::logit:
      return inv_logit(eta);
    case Link::probit:
      return inv_probit(eta);
    case Link::log:
      return std::exp(eta);
    case Link::sqrt:
      return eta * eta;
  }
  return eta;
}

// One response from the family given the linear predictor, sigma and the
// second parameter `aux` (nu, shape or phi). Draws of the second parameter
// near 0 give extreme but valid responses (a Gamma(shape) with a tiny shape
// is 0 in double precision); write_features() keeps them finite.
double draw_response(const FormulaModel& m, double eta, double sigma, double aux, int trials,
                     Rng& rng) {
  const double mu = inverse_link(m.link, eta);
  switch (m.family) {
    case Family::gaussian:
      return mu + sigma * standard_normal(rng);
    case Family::bernoulli:
      return bernoulli(mu, rng);
    case Family::binomial:
      return binomial(trials, mu, rng);
    case Family::poisson:
      return poisson(mu, rng);
    case Family::lognormal:
      return std::exp(mu + sigma * standard_normal(rng));
    case Family::student:
      return mu + sigma * student_t(aux, rng);
    case Family::negbinomial:
      return poisson(gamma(aux, rng) * mu / aux, rng);
    case Family::gamma:
      return gamma(aux, rng) * mu / aux;
    case Family::beta:
      return beta(mu * aux, (1.0 - mu) * aux, rng);
  }
  return 0.0;
}

// The second parameter from its prior truncated at the family's lower bound,
// by rejection. R refuses priors with less than 1% above the bound, so the cap
// is never reached in practice (0.99^10000 < 1e-43); the bound stands in.
double draw_aux(const FormulaModel& m, Rng& rng) {
  const double lower = family_aux_lower(m.family);
  if (lower == 0.0) return m.aux_prior.draw(rng);
  for (int attempt = 0; attempt < 10000; ++attempt) {
    const double value = m.aux_prior.draw(rng);
    if (value >= lower) return value;
  }
  return lower;
}

double dot(const double* a, const double* b, int n) {
  double s = 0.0;
  for (int j = 0; j < n; ++j) s += a[j] * b[j];
  return s;
}

// Storage for one data set's parameters (beta, sd, the Cholesky factor, z,
// u): on the stack for the usual small models, on the heap only for large
// ones, so that simulating allocates nothing.
class ParameterBuffer {
 public:
  explicit ParameterBuffer(size_t n) {
    if (n > kStack) {
      heap_.resize(n);
      data_ = heap_.data();
    }
  }
  double* data() { return data_; }

 private:
  static constexpr size_t kStack = 512;
  double stack_[kStack];
  std::vector<double> heap_;
  double* data_ = stack_;
};

}  // namespace

double Prior::draw(Rng& rng) const {
  switch (kind) {
    case PriorKind::constant:
      return p1;
    case PriorKind::normal:
      return p1 + p2 * standard_normal(rng);
    case PriorKind::student_t:
      return p2 + p3 * student_t(p1, rng);
    case PriorKind::half_normal:
      return p1 * std::fabs(standard_normal(rng));
    case PriorKind::half_student_t:
      return p2 * std::fabs(student_t(p1, rng));
    case PriorKind::exponential:
      return exponential(p1, rng);
    case PriorKind::half_normal_variance:
      return std::sqrt(p1 * std::fabs(standard_normal(rng)));
    case PriorKind::uniform:
      return p1 + (p2 - p1) * rng.uniform();
    case PriorKind::gamma:
      return gamma(p1, rng) / p2;
    case PriorKind::beta:
      return beta(p1, p2, rng);
  }
  return p1;
}

void validate_feature_scaling(const FeatureScaling& scaling) {
  require(finite(scaling.response_center), "response_center must be finite");
  require(finite(scaling.response_scale) && scaling.response_scale > 0.0,
          "response_scale must be positive and finite");
}

FormulaModels::FormulaModels(TemplateDesign design, FeatureScaling scaling,
                             std::vector<FormulaModel> models)
    : design_(std::move(design)), scaling_(scaling), models_(std::move(models)) {
  validate_design(design_);
  validate_feature_scaling(scaling_);
  require(!models_.empty(), "a formula model set needs at least one model");
  for (size_t k = 0; k < models_.size(); ++k) {
    validate_model(models_[k], design_.n_rows, "model " + std::to_string(k + 1));
  }
}

void FormulaModels::simulate(int model, Rng& rng, Dataset<float>& out) const {
  const FormulaModel& m = models_[model];
  const TemplateDesign& d = design_;
  const std::vector<int>& template_offsets = d.group_offsets;
  const int dim = n_features();
  const int n_cov = dim - 1;

  // 1. Design. Resampled: offsets[0][g + 1] first holds the template group of
  // drawn group g; it becomes that group's end row as the rows are written.
  out.offsets.resize(2);
  std::vector<int>& offsets = out.offsets[0];
  int n_groups = d.n_groups;
  int n_rows = d.n_rows;
  if (d.resample) {
    n_groups = d.groups.draw(rng);
    offsets.resize(n_groups + 1);
    offsets[0] = 0;
    n_rows = 0;
    for (int g = 0; g < n_groups; ++g) {
      const int t = rng.uniform_int(0, d.n_groups - 1);
      offsets[g + 1] = t;
      n_rows += template_offsets[t + 1] - template_offsets[t];
    }
  } else {
    offsets.assign(template_offsets.begin(), template_offsets.end());
  }
  out.offsets[1].assign({0, n_groups});
  out.dim = dim;
  out.x.resize(static_cast<size_t>(n_rows) * dim);
  out.mask.resize(n_rows);
  out.source_row.resize(n_rows);

  // 2. Parameters.
  const int P = m.X.cols, Q = m.Z.cols;
  const bool use_chol = m.correlated && Q >= 2;
  ParameterBuffer buffer(static_cast<size_t>(P) + 3 * Q + (use_chol ? Q * Q : 0));
  double* beta = buffer.data();
  double* sd = beta + P;
  double* z = sd + Q;
  double* u = z + Q;
  double* chol = u + Q;
  for (int j = 0; j < P; ++j) beta[j] = m.b_prior[j].draw(rng);
  for (int j = 0; j < Q; ++j) sd[j] = m.sd_prior[j].draw(rng);
  if (use_chol) lkj_cholesky(m.cor_eta, Q, rng, chol);
  const double sigma = family_has_sigma(m.family) ? m.sigma_prior.draw(rng) : 0.0;
  const double aux = family_has_aux(m.family) ? draw_aux(m, rng) : 0.0;
  // Last, so that models without an OLRE keep their streams.
  const double sd_obs = m.olre ? m.olre_prior.draw(rng) : 0.0;

  float* x = out.x.data();
  uint8_t* mask = out.mask.data();
  int* source_row = out.source_row.data();
  int row_out = 0;
  for (int g = 0; g < n_groups; ++g) {
    const int t = d.resample ? offsets[g + 1] : g;
    const int r0 = template_offsets[t], r1 = template_offsets[t + 1];
    if (d.resample) offsets[g + 1] = offsets[g] + (r1 - r0);

    // 3. Group effects u = sd .* (L z).
    for (int j = 0; j < Q; ++j) z[j] = standard_normal(rng);
    for (int j = 0; j < Q; ++j) {
      u[j] = sd[j] * (use_chol ? dot(chol + static_cast<size_t>(j) * Q, z, j + 1) : z[j]);
    }

    // 4.-5. Responses and features, in template row order.
    for (int i = r0; i < r1; ++i, ++row_out) {
      float* feature = x + static_cast<size_t>(row_out) * dim;
      source_row[row_out] = i;
      if (!d.observed[i]) {
        mask[row_out] = 0;
        std::fill(feature, feature + dim, 0.0f);
        continue;
      }
      mask[row_out] = 1;
      double eta = (m.offset.empty() ? 0.0 : m.offset[i]) + dot(m.X.row(i), beta, P) +
                   dot(m.Z.row(i), u, Q);
      // Per simulated row, so a template row drawn twice gets two effects.
      if (m.olre) eta += sd_obs * standard_normal(rng);
      const double y = draw_response(m, eta, sigma, aux, d.trials[i], rng);
      write_features(scaling_, y, d.trials[i], d.covariate_features.row(i), n_cov, feature);
    }
  }
}

}  // namespace deepbmc
