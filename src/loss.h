// Training losses on the logits and the optional output transform of the
// head, each a forward/backward pair, in double with log-sum-exp, so that
// neither the loss nor log posterior model probabilities overflow.
//
// Every loss here is a strictly proper scoring rule for the model index whose
// minimiser (in expectation over data sets x and their true models) is
// z_i(x) - z_j(x) = log p(x | M_i) - log p(x | M_j) for every pair under
// balanced training: the logits are log evidences up to a shared constant,
// so softmax(z) are the posterior model probabilities under a uniform prior
// and pairwise log Bayes factors are consistent for any number of models
// (z_i - z_k = (z_i - z_j) + (z_j - z_k) holds by construction).
#pragma once
#include <algorithm>
#include <cmath>

namespace deepbmc {

inline double log_sum_exp(const double* z, int k) {
  const double top = *std::max_element(z, z + k);
  double sum = 0.0;
  for (int i = 0; i < k; ++i) sum += std::exp(z[i] - top);
  return top + std::log(sum);
}

// cross_entropy: logits (k), true class y -> -log softmax(logits)[y];
// dlogits (k) = scale * (softmax(logits) - onehot(y)).
inline double cross_entropy(const double* logits, int k, int y, double scale, double* dlogits) {
  const double lse = log_sum_exp(logits, k);
  for (int i = 0; i < k; ++i) {
    dlogits[i] = scale * (std::exp(logits[i] - lse) - (i == y ? 1.0 : 0.0));
  }
  return lse - logits[y];
}

// exp(u) up to kExpCap, then continued by its tangent: the loss stays finite
// and its gradient keeps the right sign when a network is badly wrong early
// in training (exp(u) of a float-converted gradient would overflow at u ~ 88).
constexpr double kExpCap = 25.0;
inline double capped_exp(double u) {
  return u <= kExpCap ? std::exp(u) : std::exp(kExpCap) * (1.0 + u - kExpCap);
}
inline double capped_exp_grad(double u) { return std::exp(std::min(u, kExpCap)); }

// exponential_loss (Jeffrey & Wandelt 2024, "Evidence Networks", eq. for the
// exponential loss, generalised to k models pairwise):
//   logits (k), true class y -> sum over j != y of exp((z_j - z_y) / 2);
//   dlogits[j] = scale * exp((z_j - z_y) / 2) / 2 for j != y,
//   dlogits[y] = -sum of the others.
// For two models it is their exp((1/2 - y) d) with d = z_1 - z_0. Pointwise
// its expectation p_y e^{(z_j - z_y)/2} + p_j e^{(z_y - z_j)/2} over each pair is
// minimal at z_y - z_j = log(p_y / p_j): the log Bayes factor, like the log
// loss, but the gradient of a correctly classified data set decays as
// e^{-|d|/2} rather than e^{-|d|}.
inline double exponential_loss(const double* logits, int k, int y, double scale,
                               double* dlogits) {
  double loss = 0.0, sum = 0.0;
  for (int j = 0; j < k; ++j) {
    if (j == y) continue;
    const double u = 0.5 * (logits[j] - logits[y]);
    loss += capped_exp(u);
    dlogits[j] = scale * 0.5 * capped_exp_grad(u);
    sum += dlogits[j];
  }
  dlogits[y] = -sum;
  return loss;
}

// confidence_weight: logits (k) -> w = 1 / (2 sqrt(p (1 - p))) with p the
// largest softmax probability, capped at `cap`; for two models
// w = cosh(d / 2) with d = z_1 - z_0. It depends on the data set only through
// the network's output, never on the true model.
constexpr double kWeightCap = 50.0;
inline double confidence_weight(const double* logits, int k, double cap = kWeightCap) {
  const double lse = log_sum_exp(logits, k);
  const double top = *std::max_element(logits, logits + k);
  const double log_p = top - lse;                          // log of the largest PMP
  const double log_rest = std::log(-std::expm1(log_p));    // log(1 - p), accurate near p = 1
  const double w = 0.5 * std::exp(-0.5 * (log_p + log_rest));
  return std::isfinite(w) ? std::min(w, cap) : cap;
}

// weighted_cross_entropy: logits (k), true class y -> w * cross_entropy, with
// w = confidence_weight(logits) held constant (no gradient through w):
// dlogits (k) = scale * w * (softmax(logits) - onehot(y)).
// Because w does not depend on the true model, the expected gradient given a
// data set, w (softmax(z) - p(M | x)), still vanishes exactly at the logits of
// the posterior model probabilities: the minimiser is that of the log loss.
// What changes is where the network spends its fit: the log loss's curvature
// p (1 - p) ~ e^{-|d|} at a data set with log Bayes factor d becomes
// ~ e^{-|d|/2} (up to the cap), like the exponential loss's, so confident data
// sets (strong evidence) keep pulling on the weights.
inline double weighted_cross_entropy(const double* logits, int k, int y, double scale,
                                     double* dlogits, double cap = kWeightCap) {
  const double w = confidence_weight(logits, k, cap);
  return w * cross_entropy(logits, k, y, scale * w, dlogits);
}

enum class LossKind { cross_entropy = 0, exponential = 1, weighted_cross_entropy = 2 };

// The loss `kind` of one data set and its gradient dlogits (k), scaled by
// `scale` (1 / batch size); weight_cap caps the weighted log loss's weight.
inline double loss_and_grad(LossKind kind, const double* logits, int k, int y, double scale,
                            double* dlogits, double weight_cap = kWeightCap) {
  switch (kind) {
    case LossKind::exponential:
      return exponential_loss(logits, k, y, scale, dlogits);
    case LossKind::weighted_cross_entropy:
      return weighted_cross_entropy(logits, k, y, scale, dlogits, weight_cap);
    default:
      return cross_entropy(logits, k, y, scale, dlogits);
  }
}

// lpop_forward: the leaky parity-odd power transform of Evidence Networks,
//   o (raw head output) -> z = o + o |o|^(p - 1)   (odd, increasing, z ~ o^p);
// lpop_grad: dz/do = 1 + p |o|^(p - 1). A head whose raw output grows linearly
// in a summary then gives logits that grow like its p-th power.
inline double lpop_forward(double o, double p) { return o + o * std::pow(std::fabs(o), p - 1.0); }
inline double lpop_grad(double o, double p) { return 1.0 + p * std::pow(std::fabs(o), p - 1.0); }

}  // namespace deepbmc
