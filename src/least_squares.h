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
//      and the share of groups used (2).
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

inline int least_squares_width(int input_dim) {
  const int p = input_dim, c = input_dim - 1;
  return (3 * p + 1) + (3 * c + 1) + (2 * p + p * (p - 1) / 2 + 2);
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
    // se_k = sigma sqrt((XtX)^-1_kk), column k of the inverse by one solve
    unit_.setZero(p);
    for (Eigen::Index k = 0; k < p; ++k) {
      unit_[k] = 1.0;
      column_ = ldlt_.solve(unit_);
      unit_[k] = 0.0;
      se[k] = sigma * std::sqrt(std::max(column_[k], 0.0));
    }
    return true;
  }

  Eigen::VectorXd beta, se;
  double sigma = 0.0;

 private:
  Eigen::MatrixXd xtx_;
  Eigen::VectorXd xty_, unit_, column_;
  double yty_ = 0.0;
  Eigen::LDLT<Eigen::MatrixXd> ldlt_;
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
  std::vector<double> estimates;     // usable groups x P (block C)
  std::vector<double> log_sds;       // usable groups
  std::vector<double> mean;          // block C: mean estimate per column
  Eigen::MatrixXd cov;               // block C: their covariance over groups (lower)
  // one per block: each keeps its sizes from data set to data set (Eigen
  // reallocates on a change of size)
  OlsAccumulator between_fit, within_fit, group_fit;
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
//   data (rows x D, groups offsets[0]) -> out (least_squares_width(D)),
//   overwritten; see the top of the file.
template <class T>
void least_squares_forward(const Dataset<T>& data, LeastSquaresScratch& s, double* out) {
  using least_squares_detail::safe_log;
  using least_squares_detail::write_coefficient;
  const int dim = data.dim, p = dim, c = dim - 1;
  const int width = least_squares_width(dim);
  std::fill(out, out + width, 0.0);
  double* out_a = out;
  double* out_b = out_a + 3 * p + 1;
  double* out_c = out_b + 3 * c + 1;
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
  if (s.between_fit.solve(n_used_groups - pa)) {
    write_coefficient(s.between_fit, 0, out_a);
    for (int k = 1; k < pa; ++k) write_coefficient(s.between_fit, k, out_a + 3 * s.between[k - 1]);
    out_a[3 * p] = safe_log(s.between_fit.sigma);
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
  if (s.within_fit.solve(n_total - n_used_groups - pb)) {
    for (int k = 0; k < pb; ++k) write_coefficient(s.within_fit, k, out_b + 3 * (s.within[k] - 1));
    out_b[3 * c] = safe_log(s.within_fit.sigma);
  }

  // C. Per-group regressions on an intercept and the within-varying
  // covariates, centred within the group for conditioning (the intercept is
  // then moved back to x = 0).
  s.estimates.clear();
  s.log_sds.clear();
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
}

}  // namespace deepbmc
