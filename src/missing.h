// Missing values drawn for training and validation data sets
// (missing_values() in R/missing.R): after a batch source has filled a data
// set, some of its observations lose some or all of their features. Each data
// set draws from its own stream (StreamPurpose::missing), so the pattern
// depends on (seed, step, slot) alone, never on threads or chunking.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "dataset.h"
#include "rng.h"

namespace deepbmc {

struct MissingSpec {
  enum class Kind { none = 0, share = 1, counts = 2 };
  Kind kind = Kind::none;
  // share: every observed row goes missing with probability s, one
  // s ~ U(share_lo, share_hi) per data set (MCAR).
  double share_lo = 0.0, share_hi = 0.0;
  // counts: per group, round(TN(count_mean, count_sd; 0, n)) of its n observed
  // rows go missing, chosen uniformly (the paper's application).
  double count_mean = 0.0, count_sd = 1.0;
  // Features a missing observation loses (one flag per feature); empty: all,
  // which makes the row absent.
  std::vector<uint8_t> features;
  bool active() const { return kind != Kind::none; }
};

// Standard normal distribution function.
inline double normal_cdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

// round(X) for X ~ N(mean, sd) truncated to [0, n], by inversion: u uniform
// between F(0) and F(n), and the result the smallest k in 0..n with
// F(min(k + 1/2, n)) >= u. A mean below 0 is drawn as n - round(TN(n - mean))
// so that F is evaluated where it is accurate (below 1/2 at the lower end).
// When the interval holds no representable mass, the end nearer the mean.
inline int rounded_truncated_normal(double mean, double sd, int n, Rng& rng) {
  if (n <= 0) return 0;
  const bool mirrored = mean < 0.5 * n;
  const double m = mirrored ? n - mean : mean;  // m >= n / 2: mass near the lower end is small
  // Drawn for Y = n - X in the mirrored case, X otherwise; F is Y's cdf.
  auto cdf = [&](double t) { return normal_cdf((std::min(t, static_cast<double>(n)) - m) / sd); };
  const double lo = cdf(0.0), hi = cdf(static_cast<double>(n));
  const double u = rng.uniform();
  int k;
  if (!(hi - lo > 1e-300)) {
    k = n;  // Y's mass beyond n: Y = n
  } else {
    const double target = lo + u * (hi - lo);
    int a = 0, b = n;
    while (a < b) {
      const int c = a + (b - a) / 2;
      if (cdf(c + 0.5) >= target) b = c;
      else a = c + 1;
    }
    k = a;
  }
  return mirrored ? n - k : k;
}

// Marks the chosen rows of `d` missing in the spec's features: all features
// make the row absent (mask 0); some make d.present record the missing values
// (allocated only then) and zero them, and a row left with none is absent.
template <class T>
void apply_missing(Dataset<T>& d, const MissingSpec& spec, Rng& rng) {
  if (!spec.active()) return;
  const int rows = d.rows(), dim = d.dim;
  std::vector<uint8_t> hit(rows, 0);
  if (spec.kind == MissingSpec::Kind::share) {
    const double share = spec.share_lo + (spec.share_hi - spec.share_lo) * rng.uniform();
    for (int r = 0; r < rows; ++r) hit[r] = d.mask[r] && rng.uniform() < share;
  } else {
    std::vector<int> observed;
    const std::vector<int>& groups = d.offsets[0];
    for (size_t g = 0; g + 1 < groups.size(); ++g) {
      observed.clear();
      for (int r = groups[g]; r < groups[g + 1]; ++r) {
        if (d.mask[r]) observed.push_back(r);
      }
      const int n = static_cast<int>(observed.size());
      const int k = rounded_truncated_normal(spec.count_mean, spec.count_sd, n, rng);
      // partial Fisher-Yates: the first k of a random order
      for (int i = 0; i < k; ++i) {
        std::swap(observed[i], observed[rng.uniform_int(i, n - 1)]);
        hit[observed[i]] = 1;
      }
    }
  }
  bool all = spec.features.empty();
  if (!all) {
    all = true;
    for (int j = 0; j < dim; ++j) all = all && spec.features[j];
  }
  for (int r = 0; r < rows; ++r) {
    if (!hit[r]) continue;
    if (all) {
      d.mask[r] = 0;
      continue;
    }
    if (d.present.empty()) d.present.assign(static_cast<size_t>(rows) * dim, 1);
    int left = 0;
    for (int j = 0; j < dim; ++j) {
      const size_t i = static_cast<size_t>(r) * dim + j;
      if (spec.features[j]) {
        d.present[i] = 0;
        d.x[i] = T(0);
      }
      left += d.present[i];
    }
    if (left == 0) d.mask[r] = 0;
  }
}

}  // namespace deepbmc
