// Softmax cross-entropy on the logits, in double with log-sum-exp, so that
// neither the loss nor log posterior model probabilities overflow.
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

}  // namespace deepbmc
