// Samplers for the distributions of the formula models, drawing only from the
// Rng they are given (so they run on worker threads and stay reproducible), and
// the inverse link functions. Every sampler is exact: its output follows the
// named distribution up to floating-point rounding, with no approximation.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "rng.h"

namespace deepbmc {

// Uniform on the open interval (0, 1), so that log() and pow(, 1/a) stay finite.
inline double open_uniform(Rng& rng) {
  return (static_cast<double>(rng.next() >> 11) + 0.5) * 0x1.0p-53;
}

// Standard normal by the ziggurat method (Marsaglia & Tsang 2000) in
// Doornik's (2005) form, 128 layers, with the layer index and the uniform
// taken from disjoint bits of one draw so that they are independent. ~99% of
// draws cost one 64-bit draw, a compare and a multiply, ~5x faster than the
// Box-Muller of Rng::normal (which needs log, sqrt and sincos); the response
// loops draw one normal per row, so this sets their speed. Exact: the
// rejection steps and the tail sampler (Marsaglia 1964) restore the density.
class ZigguratNormal {
 public:
  ZigguratNormal() {
    double f = std::exp(-0.5 * kTailStart * kTailStart);
    edge_[0] = kLayerArea / f;  // base layer: rectangle plus tail, as wide as its area needs
    edge_[1] = kTailStart;
    edge_[kLayers] = 0.0;
    for (int i = 2; i < kLayers; ++i) {
      edge_[i] = std::sqrt(-2.0 * std::log(kLayerArea / edge_[i - 1] + f));
      f = std::exp(-0.5 * edge_[i] * edge_[i]);
    }
    for (int i = 0; i < kLayers; ++i) inner_ratio_[i] = edge_[i + 1] / edge_[i];
  }

  double draw(Rng& rng) const {
    for (;;) {
      const uint64_t bits = rng.next();
      const int layer = static_cast<int>(bits & (kLayers - 1));
      const double u = 2.0 * (static_cast<double>(bits >> 11) * 0x1.0p-53) - 1.0;  // [-1, 1)
      if (std::fabs(u) < inner_ratio_[layer]) return u * edge_[layer];  // inside the layer's core
      if (layer == 0) return tail(rng, u < 0.0);
      const double x = u * edge_[layer];
      const double f0 = std::exp(-0.5 * (edge_[layer] * edge_[layer] - x * x));
      const double f1 = std::exp(-0.5 * (edge_[layer + 1] * edge_[layer + 1] - x * x));
      if (f1 + rng.uniform() * (f0 - f1) < 1.0) return x;
    }
  }

 private:
  static constexpr int kLayers = 128;
  static constexpr double kTailStart = 3.442619855899;
  static constexpr double kLayerArea = 9.91256303526217e-3;

  // Beyond kTailStart by Marsaglia's exponential rejection.
  static double tail(Rng& rng, bool negative) {
    double x, y;
    do {
      x = std::log(1.0 - rng.uniform()) / kTailStart;
      y = std::log(1.0 - rng.uniform());
    } while (-2.0 * y < x * x);
    return negative ? x - kTailStart : kTailStart - x;
  }

  double edge_[kLayers + 1];
  double inner_ratio_[kLayers];
};

// The tables are built once, when the library loads.
inline const ZigguratNormal kZigguratNormal;

inline double standard_normal(Rng& rng) { return kZigguratNormal.draw(rng); }

// Exponential(rate) by inversion: -log(U) / rate.
inline double exponential(double rate, Rng& rng) { return -std::log(open_uniform(rng)) / rate; }

// Gamma(shape, 1) by Marsaglia & Tsang (2000): a squeeze-and-reject method on a
// transformed normal that accepts ~96% of proposals for every shape >= 1 and
// needs one normal and one uniform per proposal. For shape < 1 it draws
// Gamma(shape + 1) and multiplies by U^(1 / shape) (their "boost"), which is
// exact because X * U^(1/a) ~ Gamma(a) when X ~ Gamma(a + 1).
inline double gamma(double shape, Rng& rng) {
  if (shape < 1.0) {
    return gamma(shape + 1.0, rng) * std::pow(open_uniform(rng), 1.0 / shape);
  }
  const double d = shape - 1.0 / 3.0;
  const double c = 1.0 / std::sqrt(9.0 * d);
  for (;;) {
    const double x = standard_normal(rng);
    double v = 1.0 + c * x;
    if (v <= 0.0) continue;
    v = v * v * v;
    const double u = open_uniform(rng);
    const double x2 = x * x;
    if (u < 1.0 - 0.0331 * x2 * x2) return d * v;  // squeeze: no log needed
    if (std::log(u) < 0.5 * x2 + d * (1.0 - v + std::log(v))) return d * v;
  }
}

// Beta(a, b) as X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b): exact for all
// shapes and cheap enough here (a few draws per data set).
inline double beta(double a, double b, Rng& rng) {
  const double x = gamma(a, rng);
  const double y = gamma(b, rng);
  return x / (x + y);
}

// Chi-square(df) = 2 Gamma(df / 2).
inline double chi_square(double df, Rng& rng) { return 2.0 * gamma(0.5 * df, rng); }

// Student t(df) as Z / sqrt(V / df), Z ~ N(0, 1), V ~ chi-square(df): the
// definition of the distribution, exact for any df > 0.
inline double student_t(double df, Rng& rng) {
  const double z = standard_normal(rng);
  return z / std::sqrt(chi_square(df, rng) / df);
}

namespace detail {

// log(k!) for a small whole number k, summed directly (PTRS needs it below
// 10 only). std::lgamma is avoided: glibc's writes the global signgam, a data
// race on worker threads.
inline double log_factorial_small(double k) {
  double s = 0.0;
  for (int i = 2; i <= static_cast<int>(k); ++i) s += std::log(static_cast<double>(i));
  return s;
}

// log P(K = k) for K ~ Poisson(lambda). For k >= 10 the terms k log(lambda),
// lambda and log(k!) (each ~ k log k) nearly cancel, so it is written as
// (k - lambda) - k log1p((k - lambda) / lambda) - log(sqrt(2 pi k)) - series,
// which keeps full precision even for lambda ~ 1e15.
inline double log_poisson_pmf(double k, double lambda) {
  if (k < 10.0) return k * std::log(lambda) - lambda - log_factorial_small(k);
  const double d = k - lambda;
  const double k2 = k * k;
  // Stirling for log(k!) = k log k - k + 0.5 log(2 pi k) + series(k).
  const double series =
      (1.0 / 12.0 - (1.0 / 360.0 - (1.0 / 1260.0 - 1.0 / (1680.0 * k2)) / k2) / k2) / k;
  return d - k * std::log1p(d / lambda) - 0.5 * std::log(6.283185307179586476925 * k) - series;
}

// Poisson by inversion (sequential search from 0): one uniform and ~lambda
// steps, the fastest exact method for small lambda. A uniform beyond the
// rounded total probability (chance ~1e-16) is redrawn rather than returned
// as a made-up count.
inline double poisson_inversion(double lambda, Rng& rng) {
  const double p0 = std::exp(-lambda);
  for (;;) {
    const double u = rng.uniform();
    double p = p0, cdf = p0;
    int k = 0;
    while (u >= cdf && k < 1000) {
      ++k;
      p *= lambda / k;
      cdf += p;
    }
    if (u < cdf) return k;
  }
}

// Poisson by PTRS, transformed rejection with squeeze (Hörmann 1993, "The
// transformed rejection method for generating Poisson random variables"):
// exact for lambda >= 10, ~1.1 uniform pairs per draw whatever lambda, and no
// setup cost worth caching. Counts are kept as doubles so that no lambda can
// overflow an integer type.
inline double poisson_ptrs(double lambda, Rng& rng) {
  const double slam = std::sqrt(lambda);
  const double b = 0.931 + 2.53 * slam;
  const double a = -0.059 + 0.02483 * b;
  const double log_inv_alpha = std::log(1.1239 + 1.1328 / (b - 3.4));
  const double vr = 0.9277 - 3.6224 / (b - 2.0);
  for (;;) {
    const double u = rng.uniform() - 0.5;
    const double v = rng.uniform();
    const double us = 0.5 - std::fabs(u);
    const double k = std::floor((2.0 * a / us + b) * u + lambda + 0.43);
    if (us >= 0.07 && v <= vr) return k;  // squeeze: certainly accepted
    if (k < 0.0 || (us < 0.013 && v > us)) continue;
    if (std::log(v) + log_inv_alpha - std::log(a / (us * us) + b) <= log_poisson_pmf(k, lambda)) {
      return k;
    }
  }
}

// Binomial(n, p) by inversion for p <= 1/2 and n p small (sequential search
// from 0 with the pmf recurrence; ~n p + 1 steps). Redraws on rounding
// overshoot like poisson_inversion.
inline int binomial_inversion(int n, double p, Rng& rng) {
  const double q = 1.0 - p;
  const double ratio = p / q;
  const double p0 = std::exp(n * std::log1p(-p));
  for (;;) {
    const double u = rng.uniform();
    double pk = p0, cdf = p0;
    int k = 0;
    while (u >= cdf && k < n) {
      pk *= ratio * (n - k) / (k + 1);
      ++k;
      cdf += pk;
    }
    if (u < cdf) return k;
  }
}

}  // namespace detail

// Poisson(lambda), exact for every lambda: inversion below 10, PTRS above.
// lambda = 0 gives 0; an infinite lambda gives infinity.
inline double poisson(double lambda, Rng& rng) {
  if (!(lambda > 0.0)) return 0.0;
  if (lambda < 10.0) return detail::poisson_inversion(lambda, rng);
  if (!(lambda < std::numeric_limits<double>::infinity())) return lambda;
  return detail::poisson_ptrs(lambda, rng);
}

// Binomial(n, p), exact for every n and p, by Knuth's order-statistic
// reduction (TAOCP vol. 2, 3.4.1): the i-th smallest of n uniforms is
// X ~ Beta(i, n + 1 - i); if X > p the successes are Binomial(i - 1, p / X)
// among the uniforms below X, else i plus Binomial(n - i, (p - X) / (1 - X))
// among those above. Halving n this way until n min(p, 1 - p) <= 20 costs
// O(log n) beta draws; inversion finishes in ~20 steps without underflow.
inline int binomial(int n, double p, Rng& rng) {
  if (n <= 0 || !(p > 0.0)) return 0;
  if (!(p < 1.0)) return n;
  int successes = 0;
  while (n * std::min(p, 1.0 - p) > 20.0) {
    const int i = n / 2 + 1;
    const double x = beta(i, n + 1 - i, rng);
    if (p < x) {
      n = i - 1;
      p /= x;
    } else {
      successes += i;
      n -= i;
      p = (p - x) / (1.0 - x);
    }
  }
  if (p <= 0.5) return successes + detail::binomial_inversion(n, p, rng);
  return successes + n - detail::binomial_inversion(n, 1.0 - p, rng);
}

// Bernoulli(p): U < p.
inline int bernoulli(double p, Rng& rng) { return rng.uniform() < p ? 1 : 0; }

// Lower Cholesky factor L (row-major q x q, written to `chol`) of a q x q
// correlation matrix R ~ LKJ(eta), density proportional to det(R)^(eta - 1),
// by the onion method (Lewandowski, Kurowicka & Joe 2009, section 3.2): the
// matrix grows one row at a time; row k of L is (sqrt(y) w, sqrt(1 - y)) with
// y ~ Beta(k / 2, beta_k) and w uniform on the unit sphere in R^k (normalized
// normals). Building L directly needs no decomposition and is exact.
inline void lkj_cholesky(double eta, int q, Rng& rng, double* chol) {
  std::fill(chol, chol + static_cast<size_t>(q) * q, 0.0);
  if (q <= 0) return;
  chol[0] = 1.0;
  if (q == 1) return;
  double b = eta + 0.5 * (q - 2);
  const double r12 = 2.0 * beta(b, b, rng) - 1.0;
  chol[q] = r12;
  chol[q + 1] = std::sqrt(std::max(0.0, 1.0 - r12 * r12));
  for (int k = 2; k < q; ++k) {
    b -= 0.5;
    const double y = beta(0.5 * k, b, rng);
    double* row = chol + static_cast<size_t>(k) * q;
    double norm2 = 0.0;
    do {
      norm2 = 0.0;
      for (int j = 0; j < k; ++j) {
        row[j] = standard_normal(rng);
        norm2 += row[j] * row[j];
      }
    } while (!(norm2 > 0.0));
    const double scale = std::sqrt(y / norm2);
    for (int j = 0; j < k; ++j) row[j] *= scale;
    row[k] = std::sqrt(std::max(0.0, 1.0 - y));
  }
}

// Inverse logit, stable for large |eta|: exp() only of a non-positive number.
inline double inv_logit(double eta) {
  if (eta >= 0.0) return 1.0 / (1.0 + std::exp(-eta));
  const double e = std::exp(eta);
  return e / (1.0 + e);
}

// Standard normal CDF (inverse probit) as 0.5 erfc(-eta / sqrt 2): unlike
// 0.5 (1 + erf(...)) it keeps full relative precision in the lower tail.
inline double inv_probit(double eta) { return 0.5 * std::erfc(-eta * 0.70710678118654752440); }

}  // namespace deepbmc
