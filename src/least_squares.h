// Least-squares statistics of a data set (NetworkConfig::statistics =
// least_squares, issue 29): fixed summaries, computed from the data alone,
// that go to the head beside the learned ones. They give the head what a
// DeepSet with mean pooling struggles to find on "does this covariate
// matter?" questions (t-statistics of a covariate, between-group spreads and
// correlations of per-group regression estimates), while the learned
// summaries keep everything else.
//
// Feature 0 is the response; features 1..C are covariates (the layout of
// formula models, write_features() in formula_models.h; a one-feature data
// set has C = 0). Rows that are observed with every feature present count
// ("complete rows"); groups are level 1's sets (offsets[0]). With P = 1 + C
// coefficient slots (slot 0 the intercept, slot c covariate c):
//   A. between regression: the groups' mean responses on an intercept and
//      the groups' mean covariates that vary between groups (J groups):
//      per slot [sq(t), sq(beta), log se] (3P), then log s (1);
//   B. within regression: deviations of the response from its group mean on
//      the deviations of the covariates that vary within groups, without
//      intercept (residual df N - J - pB): per covariate [sq(t), sq(beta),
//      log se] (3C), then log s (1);
//   C. per-group regressions of the response on an intercept and the
//      covariates that vary within groups, in every group where the
//      regression is identified with a residual df: per slot the mean over
//      groups of the estimate and the log of its SD over groups [sq(mean),
//      log sd] (2P), the Fisher z of the correlation over groups of every
//      pair of slots (P(P-1)/2), the mean over groups of the log residual SD
//      and the share of groups used (2);
//   D. per joint term (a model term with several columns, such as a factor
//      with three or more levels; NetworkConfig::statistics_terms): the
//      Wald statistic of its columns jointly over their number, F, in the
//      between and in the within regression [log(1 + F_between),
//      log(1 + F_within)] (2 per joint term). The evidence for such a term
//      grows with F, a quadratic form of the separate t-statistics that the
//      head would otherwise have to assemble from them (issue 29,
//      ChickWeight's Diet);
//   E. the random-intercept (feasible GLS) regression of the response on an
//      intercept and every covariate that varies, with the variances
//      estimated by moments (Swamy-Arora): sigma^2 the within regression's
//      residual variance, tau^2 = max(0, s_A^2 - sigma^2 mean_g(1/n_g)) from
//      the between regression's s_A^2, and each row quasi-demeaned by
//      lambda_g = 1 - sqrt(sigma^2 / (sigma^2 + n_g tau^2)), so the estimate
//      weighs the between and the within information as a mixed model does:
//      per slot [sq(t), sq(beta), log se] (3P), log(1 + tau^2 / sigma^2)
//      (1), and log(1 + F) per joint term (n_joint);
//   F. the per-group estimates of block C corrected for their noise: their
//      covariance over groups minus the mean of each group's sampling
//      covariance sigma_g^2 (X_g'X_g)^-1 (the random effects' covariance by
//      moments): per slot log(1 + v / n) with v the corrected variance
//      (floor 0) and n the mean sampling variance (P), and the Fisher z of
//      every pair's corrected correlation (P(P-1)/2), 0 where a corrected
//      variance is not positive. Ratios, not logs of variances that are
//      often estimated as 0, keep these inputs in a narrow range.
// Blocks D, E and F are in version 2 (NetworkConfig::statistics_version);
// version 1, every fit with statistics before them, has A, B and C only.
// sq(v) = sign(v) log(1 + |v|) (squash_centre() of standardize.h); logs are
// of max(v, 1e-8). A slot whose column is not in a regression, or a
// regression without enough data, gives 0. Whether a covariate varies
// (between: variance of the group means; within: pooled within variance)
// is decided per data set against 1e-10 (1 + mean^2): for a fixed design
// the same choice in every simulation and in the real data.
//
// No parameters and no backward pass: the statistics are constants to the
// weights (input gradients through them are not provided, network.cpp).
// Everything in double whatever T is.
#pragma once
#include <algorithm>
#include <cmath>
#include <vector>

#include <Eigen/Dense>

#include "dataset.h"
#include "standardize.h"

namespace deepbmc {

// Widths of the blocks (p = input_dim coefficient slots, n_joint joint terms).
inline int least_squares_width_v1(int p) {
  return (3 * p + 1) + (3 * (p - 1) + 1) + (2 * p + p * (p - 1) / 2 + 2);
}
inline int least_squares_width(int input_dim, int n_joint, int version) {
  const int p = input_dim;
  if (version < 2) return least_squares_width_v1(p);
  return least_squares_width_v1(p) + 2 * n_joint + (3 * p + 1 + n_joint) + (p + p * (p - 1) / 2);
}

// The joint terms of statistics_terms (one term id per covariate 1..C,
// empty: every covariate its own term): the covariates (feature indices) of
// every term with two or more, in the order of the terms' ids.
inline std::vector<std::vector<int>> least_squares_joint_terms(const std::vector<int>& terms) {
  std::vector<std::vector<int>> joint;
  if (terms.empty()) return joint;
  const int n_ids = *std::max_element(terms.begin(), terms.end()) + 1;
  for (int id = 0; id < n_ids; ++id) {
    std::vector<int> columns;
    for (size_t j = 0; j < terms.size(); ++j) {
      if (terms[j] == id) columns.push_back(static_cast<int>(j) + 1);
    }
    if (columns.size() >= 2) joint.push_back(columns);
  }
  return joint;
}

// One ordinary least-squares fit, accumulated row by row from its cross
// products: reset(p), then per row fill row(0..p-1) and add(y), then
// solve(df). XtX keeps its lower triangle only (rankUpdate() fills only that,
// and LDLT reads only that). Its buffers are reused from fit to fit, so a
// warmed-up network allocates nothing per data set.
class OlsAccumulator {
 public:
  Eigen::VectorXd row;  // the current row's regressors (p)

  void reset(int p) {
    xtx_.setZero(p, p);
    xty_.setZero(p);
    row.resize(p);
    yty_ = 0.0;
  }
  void add(double y) {
    if (row.size() > 0) xtx_.selfadjointView<Eigen::Lower>().rankUpdate(row);
    xty_ += y * row;
    yty_ += y * y;
  }
  // beta, standard errors and residual SD with df residual degrees of
  // freedom; false when there are none or XtX is (numerically) singular.
  bool solve(double df) {
    const Eigen::Index p = xtx_.rows();
    if (df < 1.0) return false;
    beta.resize(p);
    se.resize(p);
    if (p == 0) {
      sigma = std::sqrt(std::max(yty_, 0.0) / df);
      return true;
    }
    ldlt_.compute(xtx_);
    const double largest = ldlt_.vectorD().cwiseAbs().maxCoeff();
    if (!(largest > 0.0) || ldlt_.vectorD().minCoeff() <= 1e-10 * largest) return false;
    beta = ldlt_.solve(xty_);
    sigma = std::sqrt(std::max(yty_ - beta.dot(xty_), 0.0) / df);
    // se_k = sigma sqrt((XtX)^-1_kk); the whole inverse (p is small) for the
    // joint Wald statistics
    inverse_.setIdentity(p, p);
    ldlt_.solveInPlace(inverse_);
    for (Eigen::Index k = 0; k < p; ++k) se[k] = sigma * std::sqrt(std::max(inverse_(k, k), 0.0));
    return true;
  }

  // After a successful solve(): the Wald statistic of the coefficients
  // `slots` jointly over their number, b' V^-1 b / k with V = sigma^2
  // (XtX)^-1 restricted to them; 0 without residual variation.
  double wald_f(const std::vector<int>& slots) {
    const Eigen::Index k = static_cast<Eigen::Index>(slots.size());
    if (k == 0 || !(sigma > 0.0)) return 0.0;
    sub_.resize(k, k);
    sub_beta_.resize(k);
    for (Eigen::Index a = 0; a < k; ++a) {
      sub_beta_[a] = beta[slots[a]];
      for (Eigen::Index b = 0; b < k; ++b) sub_(a, b) = inverse_(slots[a], slots[b]);
    }
    sub_ldlt_.compute(sub_);
    if (sub_ldlt_.info() != Eigen::Success || !(sub_ldlt_.vectorD().minCoeff() > 0.0)) return 0.0;
    sub_solved_ = sub_ldlt_.solve(sub_beta_);
    return std::max(sub_beta_.dot(sub_solved_), 0.0) / (sigma * sigma * static_cast<double>(k));
  }

  // After a successful solve(): (XtX)^-1.
  const Eigen::MatrixXd& inverse() const { return inverse_; }

  Eigen::VectorXd beta, se;
  double sigma = 0.0;

 private:
  Eigen::MatrixXd xtx_, inverse_, sub_;
  Eigen::VectorXd xty_, sub_beta_, sub_solved_;
  double yty_ = 0.0;
  Eigen::LDLT<Eigen::MatrixXd> ldlt_, sub_ldlt_;
};

// Reused buffers, one per Workspace, so that a warmed-up network allocates
// nothing per data set.
struct LeastSquaresScratch {
  std::vector<int> group_n;         // complete rows per group
  std::vector<double> group_means;  // groups x D
  std::vector<uint8_t> complete;    // per row
  std::vector<double> grand, between_ss, within_ss;  // D each
  std::vector<int> between, within;  // covariates (1..C) varying between / within groups
  std::vector<int> slot;             // block C: the slot of each estimate column
  std::vector<int> term_slots;       // block D: a joint term's slots in one fit
  std::vector<int> varying;          // block E: covariates varying at all
  Eigen::MatrixXd noise, transform, noise_half, noise_g;  // block F: sampling covariances (pc x pc)
  std::vector<double> estimates;     // usable groups x P (block C)
  std::vector<double> log_sds;       // usable groups
  std::vector<double> mean;          // block C: mean estimate per column
  Eigen::MatrixXd cov;               // block C: their covariance over groups (lower)
  // one per block: each keeps its sizes from data set to data set (Eigen
  // reallocates on a change of size)
  OlsAccumulator between_fit, within_fit, group_fit, mixed_fit;
};

namespace least_squares_detail {

inline double safe_log(double v) { return std::log(std::max(v, 1e-8)); }

// [sq(t), sq(beta), log se] of coefficient k of a fit into out[0..2].
inline void write_coefficient(const OlsAccumulator& fit, Eigen::Index k, double* out) {
  const double se = fit.se[k], beta = fit.beta[k];
  const double t = se > 0.0 ? beta / se : 0.0;
  out[0] = squash_centre(t);
  out[1] = squash_centre(beta);
  out[2] = safe_log(se);
}

}  // namespace least_squares_detail

// least_squares_forward
//   data (rows x D, groups offsets[0]), joint terms (least_squares_joint_terms)
//   -> out (least_squares_width(D, joint.size())), overwritten; see the top
//   of the file.
template <class T>
void least_squares_forward(const Dataset<T>& data, const std::vector<std::vector<int>>& joint,
                           int version, LeastSquaresScratch& s, double* out) {
  using least_squares_detail::safe_log;
  using least_squares_detail::write_coefficient;
  const int dim = data.dim, p = dim, c = dim - 1;
  const int n_joint = static_cast<int>(joint.size());
  const bool v2 = version >= 2;
  std::fill(out, out + least_squares_width(dim, n_joint, version), 0.0);
  double* out_a = out;
  double* out_b = out_a + 3 * p + 1;
  double* out_c = out_b + 3 * c + 1;
  double* out_d = out + least_squares_width_v1(p);
  double* out_e = out_d + 2 * n_joint;
  double* out_f = out_e + 3 * p + 1 + n_joint;
  // The slots of a joint term's columns among a fit's regressors (the
  // columns in `in_fit`, the first at slot `first`).
  auto joint_slots = [&](const std::vector<int>& columns, const std::vector<int>& in_fit,
                         int first) -> const std::vector<int>& {
    s.term_slots.clear();
    for (size_t k = 0; k < in_fit.size(); ++k) {
      if (std::find(columns.begin(), columns.end(), in_fit[k]) != columns.end()) {
        s.term_slots.push_back(first + static_cast<int>(k));
      }
    }
    return s.term_slots;
  };
  const std::vector<int>& offsets = data.offsets[0];
  const int n_groups = static_cast<int>(offsets.size()) - 1;
  auto value = [&](int r, int j) {
    return static_cast<double>(data.x[static_cast<size_t>(r) * dim + j]);
  };
  auto group_mean = [&](int g) { return s.group_means.data() + static_cast<size_t>(g) * dim; };

  // Complete rows, group sizes and means.
  s.complete.assign(data.rows(), 0);
  s.group_n.assign(n_groups, 0);
  s.group_means.assign(static_cast<size_t>(n_groups) * dim, 0.0);
  int n_total = 0, n_used_groups = 0;
  for (int g = 0; g < n_groups; ++g) {
    double* mean = group_mean(g);
    for (int r = offsets[g]; r < offsets[g + 1]; ++r) {
      if (!data.mask[r]) continue;
      bool all = true;
      for (int j = 0; j < dim && all; ++j) all = data.value_present(r, j);
      if (!all) continue;
      s.complete[r] = 1;
      s.group_n[g] += 1;
      for (int j = 0; j < dim; ++j) mean[j] += value(r, j);
    }
    if (s.group_n[g] == 0) continue;
    for (int j = 0; j < dim; ++j) mean[j] /= s.group_n[g];
    n_total += s.group_n[g];
    n_used_groups += 1;
  }
  if (n_total == 0) return;

  // Which covariates vary between and within groups.
  s.grand.assign(dim, 0.0);
  s.between_ss.assign(dim, 0.0);
  s.within_ss.assign(dim, 0.0);
  for (int g = 0; g < n_groups; ++g) {
    if (s.group_n[g] == 0) continue;
    for (int j = 0; j < dim; ++j) s.grand[j] += group_mean(g)[j];
  }
  for (int j = 0; j < dim; ++j) s.grand[j] /= n_used_groups;
  for (int g = 0; g < n_groups; ++g) {
    if (s.group_n[g] == 0) continue;
    const double* mean = group_mean(g);
    for (int j = 0; j < dim; ++j) {
      s.between_ss[j] += (mean[j] - s.grand[j]) * (mean[j] - s.grand[j]);
    }
    for (int r = offsets[g]; r < offsets[g + 1]; ++r) {
      if (!s.complete[r]) continue;
      for (int j = 0; j < dim; ++j) {
        const double d = value(r, j) - mean[j];
        s.within_ss[j] += d * d;
      }
    }
  }
  s.between.clear();
  s.within.clear();
  for (int j = 1; j < dim; ++j) {
    const double tiny = 1e-10 * (1.0 + s.grand[j] * s.grand[j]);
    if (n_used_groups > 1 && s.between_ss[j] / n_used_groups > tiny) s.between.push_back(j);
    if (s.within_ss[j] / n_total > tiny) s.within.push_back(j);
  }
  const int pa = 1 + static_cast<int>(s.between.size());
  const int pb = static_cast<int>(s.within.size());
  const int pc = 1 + pb;

  // A. Between regression on the group means.
  s.between_fit.reset(pa);
  for (int g = 0; g < n_groups; ++g) {
    if (s.group_n[g] == 0) continue;
    const double* mean = group_mean(g);
    s.between_fit.row[0] = 1.0;
    for (int k = 1; k < pa; ++k) s.between_fit.row[k] = mean[s.between[k - 1]];
    s.between_fit.add(mean[0]);
  }
  const bool between_solved = s.between_fit.solve(n_used_groups - pa);
  if (between_solved) {
    write_coefficient(s.between_fit, 0, out_a);
    for (int k = 1; k < pa; ++k) write_coefficient(s.between_fit, k, out_a + 3 * s.between[k - 1]);
    out_a[3 * p] = safe_log(s.between_fit.sigma);
    for (size_t t = 0; t < joint.size() && v2; ++t) {
      out_d[2 * t] = std::log1p(s.between_fit.wald_f(joint_slots(joint[t], s.between, 1)));
    }
  }

  // B. Within regression on the deviations from the group means.
  s.within_fit.reset(pb);
  for (int g = 0; g < n_groups; ++g) {
    const double* mean = group_mean(g);
    for (int r = offsets[g]; r < offsets[g + 1]; ++r) {
      if (!s.complete[r]) continue;
      for (int k = 0; k < pb; ++k) s.within_fit.row[k] = value(r, s.within[k]) - mean[s.within[k]];
      s.within_fit.add(value(r, 0) - mean[0]);
    }
  }
  const bool within_solved = s.within_fit.solve(n_total - n_used_groups - pb);
  if (within_solved) {
    for (int k = 0; k < pb; ++k) write_coefficient(s.within_fit, k, out_b + 3 * (s.within[k] - 1));
    out_b[3 * c] = safe_log(s.within_fit.sigma);
    for (size_t t = 0; t < joint.size() && v2; ++t) {
      out_d[2 * t + 1] = std::log1p(s.within_fit.wald_f(joint_slots(joint[t], s.within, 0)));
    }
  }

  // E. The random-intercept regression (needs the within residual variance).
  if (v2 && within_solved) {
    const double sigma2 = s.within_fit.sigma * s.within_fit.sigma;
    double tau2 = 0.0;
    if (between_solved) {
      double mean_inverse_n = 0.0;
      for (int g = 0; g < n_groups; ++g) {
        if (s.group_n[g] > 0) mean_inverse_n += 1.0 / s.group_n[g];
      }
      mean_inverse_n /= n_used_groups;
      tau2 = std::max(0.0, s.between_fit.sigma * s.between_fit.sigma - sigma2 * mean_inverse_n);
    }
    s.varying.clear();
    for (int j = 1; j < dim; ++j) {
      const bool in_between = std::find(s.between.begin(), s.between.end(), j) != s.between.end();
      const bool in_within = std::find(s.within.begin(), s.within.end(), j) != s.within.end();
      if (in_between || in_within) s.varying.push_back(j);
    }
    const int pe = 1 + static_cast<int>(s.varying.size());
    OlsAccumulator& mixed = s.mixed_fit;
    mixed.reset(pe);
    for (int g = 0; g < n_groups; ++g) {
      if (s.group_n[g] == 0) continue;
      const double* mean = group_mean(g);
      const double lambda =
          sigma2 > 0.0 ? 1.0 - std::sqrt(sigma2 / (sigma2 + s.group_n[g] * tau2)) : 0.0;
      for (int r = offsets[g]; r < offsets[g + 1]; ++r) {
        if (!s.complete[r]) continue;
        mixed.row[0] = 1.0 - lambda;
        for (int k = 1; k < pe; ++k) {
          mixed.row[k] = value(r, s.varying[k - 1]) - lambda * mean[s.varying[k - 1]];
        }
        mixed.add(value(r, 0) - lambda * mean[0]);
      }
    }
    if (mixed.solve(n_total - pe)) {
      write_coefficient(mixed, 0, out_e);
      for (int k = 1; k < pe; ++k) write_coefficient(mixed, k, out_e + 3 * s.varying[k - 1]);
      out_e[3 * p] = sigma2 > 0.0 ? std::log1p(tau2 / sigma2) : 0.0;
      for (int t = 0; t < n_joint; ++t) {
        out_e[3 * p + 1 + t] = std::log1p(mixed.wald_f(joint_slots(joint[t], s.varying, 1)));
      }
    }
  }

  // C. Per-group regressions on an intercept and the within-varying
  // covariates, centred within the group for conditioning (the intercept is
  // then moved back to x = 0).
  s.estimates.clear();
  s.log_sds.clear();
  s.noise.setZero(pc, pc);
  for (int g = 0; g < n_groups; ++g) {
    if (s.group_n[g] <= pc) continue;
    const double* mean = group_mean(g);
    OlsAccumulator& ols = s.group_fit;
    ols.reset(pc);
    for (int r = offsets[g]; r < offsets[g + 1]; ++r) {
      if (!s.complete[r]) continue;
      ols.row[0] = 1.0;
      for (int k = 1; k < pc; ++k) ols.row[k] = value(r, s.within[k - 1]) - mean[s.within[k - 1]];
      ols.add(value(r, 0) - mean[0]);
    }
    if (!ols.solve(s.group_n[g] - pc)) continue;
    double intercept = mean[0] + ols.beta[0];
    for (int k = 1; k < pc; ++k) intercept -= ols.beta[k] * mean[s.within[k - 1]];
    s.estimates.push_back(intercept);
    for (int k = 1; k < pc; ++k) s.estimates.push_back(ols.beta[k]);
    s.log_sds.push_back(safe_log(ols.sigma));
    if (v2) {
      // the sampling covariance of (intercept at x = 0, slopes): the
      // estimates are transform * beta, transform = identity but for row 0
      // (1, -mean_1, ..., -mean_C)
      s.transform.setIdentity(pc, pc);
      for (int k = 1; k < pc; ++k) s.transform(0, k) = -mean[s.within[k - 1]];
      // two products into kept buffers: a chained product would allocate
      // its intermediate for every group of every data set
      s.noise_half.noalias() = s.transform * ols.inverse();
      s.noise_g.noalias() = s.noise_half * s.transform.transpose();
      s.noise += (ols.sigma * ols.sigma) * s.noise_g;
    }
  }
  const int used = static_cast<int>(s.log_sds.size());
  if (used == 0) return;
  auto estimate = [&](int i, int k) { return s.estimates[static_cast<size_t>(i) * pc + k]; };
  s.slot.resize(pc);
  s.slot[0] = 0;
  for (int k = 1; k < pc; ++k) s.slot[k] = s.within[k - 1];
  s.mean.assign(pc, 0.0);
  for (int i = 0; i < used; ++i) {
    for (int k = 0; k < pc; ++k) s.mean[k] += estimate(i, k);
  }
  for (int k = 0; k < pc; ++k) s.mean[k] /= used;
  s.cov.setZero(pc, pc);
  for (int i = 0; i < used; ++i) {
    for (int k = 0; k < pc; ++k) {
      for (int l = 0; l <= k; ++l) {
        s.cov(k, l) += (estimate(i, k) - s.mean[k]) * (estimate(i, l) - s.mean[l]);
      }
    }
  }
  for (int k = 0; k < pc; ++k) {
    out_c[2 * s.slot[k]] = squash_centre(s.mean[k]);
    if (used > 1) out_c[2 * s.slot[k] + 1] = safe_log(std::sqrt(s.cov(k, k) / (used - 1)));
  }
  // Fisher z of each pair's correlation, pairs (a < b) of slots in row-major
  // order of the upper triangle
  if (used > 2) {
    for (int k = 0; k < pc; ++k) {
      for (int l = 0; l < k; ++l) {
        const double denom = std::sqrt(s.cov(k, k) * s.cov(l, l));
        if (!(denom > 0.0)) continue;
        const double r = std::clamp(s.cov(k, l) / denom, -0.999, 0.999);
        const int a = std::min(s.slot[k], s.slot[l]), b = std::max(s.slot[k], s.slot[l]);
        out_c[2 * p + a * p - a * (a + 1) / 2 + (b - a - 1)] = std::atanh(r);
      }
    }
  }
  double mean_log_sd = 0.0;
  for (double v : s.log_sds) mean_log_sd += v;
  out_c[2 * p + p * (p - 1) / 2] = mean_log_sd / used;
  out_c[2 * p + p * (p - 1) / 2 + 1] = static_cast<double>(used) / n_used_groups;

  // F. The covariance of the estimates corrected for their noise.
  if (!v2 || used < 2) return;
  auto corrected = [&](int k, int l) { return s.cov(k, l) / (used - 1) - s.noise(k, l) / used; };
  for (int k = 0; k < pc; ++k) {
    const double noise = s.noise(k, k) / used;
    if (noise > 0.0) out_f[s.slot[k]] = std::log1p(std::max(corrected(k, k), 0.0) / noise);
  }
  if (used > 2) {
    for (int k = 0; k < pc; ++k) {
      for (int l = 0; l < k; ++l) {
        const double vk = corrected(k, k), vl = corrected(l, l);
        if (!(vk > 0.0 && vl > 0.0)) continue;
        const double r = std::clamp(corrected(k, l) / std::sqrt(vk * vl), -0.999, 0.999);
        const int a = std::min(s.slot[k], s.slot[l]), b = std::max(s.slot[k], s.slot[l]);
        out_f[p + a * p - a * (a + 1) / 2 + (b - a - 1)] = std::atanh(r);
      }
    }
  }
}

}  // namespace deepbmc
