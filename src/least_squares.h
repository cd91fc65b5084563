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

// Reused buffers, one per Workspace, so that a warmed-up network allocates
// nothing per data set.
struct LeastSquaresScratch {
  std::vector<int> group_n;         // complete rows per group
  std::vector<double> group_means;  // groups x D
  std::vector<uint8_t> complete;    // per row
  std::vector<double> estimates;    // usable groups x P (block C)
  std::vector<double> log_sds;      // usable groups
};

namespace least_squares_detail {

inline double safe_log(double v) { return std::log(std::max(v, 1e-8)); }

// Ordinary least squares from the cross products XtX (p x p, its lower
// triangle: rankUpdate() fills only that, and LDLT reads only that), Xty (p),
// the response's sum of squares yty and the residual degrees of freedom:
// beta, standard errors, residual SD. False when the fit has no residual df
// or XtX is (numerically) singular.
struct OlsFit {
  Eigen::VectorXd beta, se;
  double sigma = 0.0;
};

inline bool ols_from_moments(const Eigen::MatrixXd& xtx, const Eigen::VectorXd& xty, double yty,
                             double df, OlsFit* fit) {
  const Eigen::Index p = xtx.rows();
  if (df < 1.0) return false;
  if (p == 0) {
    fit->beta.resize(0);
    fit->se.resize(0);
    fit->sigma = std::sqrt(std::max(yty, 0.0) / df);
    return true;
  }
  const Eigen::LDLT<Eigen::MatrixXd> ldlt(xtx);
  const Eigen::VectorXd d = ldlt.vectorD();
  const double largest = d.cwiseAbs().maxCoeff();
  if (!(largest > 0.0) || d.minCoeff() <= 1e-10 * largest) return false;
  fit->beta = ldlt.solve(xty);
  const double rss = std::max(yty - fit->beta.dot(xty), 0.0);
  fit->sigma = std::sqrt(rss / df);
  const Eigen::MatrixXd inverse = ldlt.solve(Eigen::MatrixXd::Identity(p, p));
  fit->se.resize(p);
  for (Eigen::Index k = 0; k < p; ++k) {
    fit->se[k] = fit->sigma * std::sqrt(std::max(inverse(k, k), 0.0));
  }
  return true;
}

// [sq(t), sq(beta), log se] of coefficient k of a fit into out[0..2].
inline void write_coefficient(const OlsFit& fit, Eigen::Index k, double* out) {
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
  using least_squares_detail::OlsFit;
  using least_squares_detail::ols_from_moments;
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

  // Complete rows, group sizes and means.
  s.complete.assign(data.rows(), 0);
  s.group_n.assign(n_groups, 0);
  s.group_means.assign(static_cast<size_t>(n_groups) * dim, 0.0);
  int n_total = 0, n_used_groups = 0;
  for (int g = 0; g < n_groups; ++g) {
    double* mean = s.group_means.data() + static_cast<size_t>(g) * dim;
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
  std::vector<int> between, within;  // covariate indices 1..C
  {
    std::vector<double> grand(dim, 0.0), between_ss(dim, 0.0), within_ss(dim, 0.0);
    for (int g = 0; g < n_groups; ++g) {
      if (s.group_n[g] == 0) continue;
      for (int j = 0; j < dim; ++j) grand[j] += s.group_means[static_cast<size_t>(g) * dim + j];
    }
    for (int j = 0; j < dim; ++j) grand[j] /= n_used_groups;
    for (int g = 0; g < n_groups; ++g) {
      if (s.group_n[g] == 0) continue;
      const double* mean = s.group_means.data() + static_cast<size_t>(g) * dim;
      for (int j = 0; j < dim; ++j) between_ss[j] += (mean[j] - grand[j]) * (mean[j] - grand[j]);
      for (int r = offsets[g]; r < offsets[g + 1]; ++r) {
        if (!s.complete[r]) continue;
        for (int j = 0; j < dim; ++j) {
          const double d = value(r, j) - mean[j];
          within_ss[j] += d * d;
        }
      }
    }
    for (int j = 1; j < dim; ++j) {
      const double tiny = 1e-10 * (1.0 + grand[j] * grand[j]);
      if (n_used_groups > 1 && between_ss[j] / n_used_groups > tiny) between.push_back(j);
      if (within_ss[j] / n_total > tiny) within.push_back(j);
    }
  }

  // A. Between regression on the group means.
  {
    const int pa = 1 + static_cast<int>(between.size());
    Eigen::MatrixXd xtx = Eigen::MatrixXd::Zero(pa, pa);
    Eigen::VectorXd xty = Eigen::VectorXd::Zero(pa), row(pa);
    double yty = 0.0;
    for (int g = 0; g < n_groups; ++g) {
      if (s.group_n[g] == 0) continue;
      const double* mean = s.group_means.data() + static_cast<size_t>(g) * dim;
      row[0] = 1.0;
      for (int k = 1; k < pa; ++k) row[k] = mean[between[k - 1]];
      xtx.selfadjointView<Eigen::Lower>().rankUpdate(row);
      xty += mean[0] * row;
      yty += mean[0] * mean[0];
    }
    OlsFit fit;
    if (ols_from_moments(xtx, xty, yty, n_used_groups - pa, &fit)) {
      write_coefficient(fit, 0, out_a);
      for (int k = 1; k < pa; ++k) write_coefficient(fit, k, out_a + 3 * between[k - 1]);
      out_a[3 * p] = safe_log(fit.sigma);
    }
  }

  // B. Within regression on the deviations from the group means.
  {
    const int pb = static_cast<int>(within.size());
    Eigen::MatrixXd xtx = Eigen::MatrixXd::Zero(pb, pb);
    Eigen::VectorXd xty = Eigen::VectorXd::Zero(pb), row(pb);
    double yty = 0.0;
    for (int g = 0; g < n_groups; ++g) {
      const double* mean = s.group_means.data() + static_cast<size_t>(g) * dim;
      for (int r = offsets[g]; r < offsets[g + 1]; ++r) {
        if (!s.complete[r]) continue;
        const double y = value(r, 0) - mean[0];
        for (int k = 0; k < pb; ++k) row[k] = value(r, within[k]) - mean[within[k]];
        if (pb > 0) xtx.selfadjointView<Eigen::Lower>().rankUpdate(row);
        xty += y * row;
        yty += y * y;
      }
    }
    OlsFit fit;
    if (ols_from_moments(xtx, xty, yty, n_total - n_used_groups - pb, &fit)) {
      for (int k = 0; k < pb; ++k) write_coefficient(fit, k, out_b + 3 * (within[k] - 1));
      out_b[3 * c] = safe_log(fit.sigma);
    }
  }

  // C. Per-group regressions on an intercept and the within-varying covariates.
  {
    const int pc = 1 + static_cast<int>(within.size());
    Eigen::MatrixXd xtx(pc, pc);
    Eigen::VectorXd xty(pc), row(pc);
    s.estimates.clear();
    s.log_sds.clear();
    OlsFit fit;
    for (int g = 0; g < n_groups; ++g) {
      if (s.group_n[g] <= pc) continue;
      // centred within the group for conditioning; the intercept is then
      // moved back to x = 0
      const double* mean = s.group_means.data() + static_cast<size_t>(g) * dim;
      xtx.setZero();
      xty.setZero();
      double yty = 0.0;
      for (int r = offsets[g]; r < offsets[g + 1]; ++r) {
        if (!s.complete[r]) continue;
        const double y = value(r, 0) - mean[0];
        row[0] = 1.0;
        for (int k = 1; k < pc; ++k) row[k] = value(r, within[k - 1]) - mean[within[k - 1]];
        xtx.selfadjointView<Eigen::Lower>().rankUpdate(row);
        xty += y * row;
        yty += y * y;
      }
        if (!ols_from_moments(xtx, xty, yty, s.group_n[g] - pc, &fit)) continue;
      double intercept = mean[0] + fit.beta[0];
      for (int k = 1; k < pc; ++k) intercept -= fit.beta[k] * mean[within[k - 1]];
      s.estimates.push_back(intercept);
      for (int k = 1; k < pc; ++k) s.estimates.push_back(fit.beta[k]);
      s.log_sds.push_back(safe_log(fit.sigma));
    }
    const int used = static_cast<int>(s.log_sds.size());
    if (used > 0) {
      // slot of each estimate column
      std::vector<int> slot(pc);
      slot[0] = 0;
      for (int k = 1; k < pc; ++k) slot[k] = within[k - 1];
      std::vector<double> mean(pc, 0.0), sd(pc, 0.0);
      for (int i = 0; i < used; ++i) {
        for (int k = 0; k < pc; ++k) mean[k] += s.estimates[static_cast<size_t>(i) * pc + k];
      }
      for (int k = 0; k < pc; ++k) mean[k] /= used;
      Eigen::MatrixXd cov = Eigen::MatrixXd::Zero(pc, pc);
      for (int i = 0; i < used; ++i) {
        for (int k = 0; k < pc; ++k) {
          for (int l = 0; l <= k; ++l) {
            cov(k, l) += (s.estimates[static_cast<size_t>(i) * pc + k] - mean[k]) *
                         (s.estimates[static_cast<size_t>(i) * pc + l] - mean[l]);
          }
        }
      }
      for (int k = 0; k < pc; ++k) {
        out_c[2 * slot[k]] = squash_centre(mean[k]);
        if (used > 1) {
          sd[k] = std::sqrt(cov(k, k) / (used - 1));
          out_c[2 * slot[k] + 1] = safe_log(sd[k]);
        }
      }
      // Fisher z of each pair's correlation, pairs (a < b) of slots in order
      if (used > 2) {
        for (int k = 0; k < pc; ++k) {
          for (int l = 0; l < k; ++l) {
            const double denom = std::sqrt(cov(k, k) * cov(l, l));
            if (!(denom > 0.0)) continue;
            const double r = std::clamp(cov(k, l) / denom, -0.999, 0.999);
            const int a = std::min(slot[k], slot[l]), b = std::max(slot[k], slot[l]);
            // index of pair (a, b), a < b, in row-major order of the upper triangle
            const int pair = a * p - a * (a + 1) / 2 + (b - a - 1);
            out_c[2 * p + pair] = std::atanh(r);
          }
        }
      }
      double mean_log_sd = 0.0;
      for (double v : s.log_sds) mean_log_sd += v;
      out_c[2 * p + p * (p - 1) / 2] = mean_log_sd / used;
      out_c[2 * p + p * (p - 1) / 2 + 1] = static_cast<double>(used) / n_used_groups;
    }
  }
}

}  // namespace deepbmc
