// Adam with cosine learning-rate decay and global-norm gradient clipping, the
// defaults of BayesFlow (Keras: beta1 0.9, beta2 0.999, epsilon 1e-7, clipnorm 1).
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

namespace deepbmc {

struct AdamState {
  std::vector<float> m;
  std::vector<float> v;
  int64_t step = 0;  // updates done so far
};

struct AdamOptions {
  double learning_rate = 5e-4;
  int64_t total_steps = 1;  // cosine decay reaches 0 here
  double beta1 = 0.9;
  double beta2 = 0.999;
  double epsilon = 1e-7;
  double clip_norm = 1.0;
};

inline double cosine_learning_rate(const AdamOptions& opt, int64_t step) {
  const double progress =
      std::min(1.0, static_cast<double>(step) / static_cast<double>(opt.total_steps));
  return opt.learning_rate * 0.5 * (1.0 + std::cos(3.14159265358979323846 * progress));
}

// adam_update: params (n) -= lr_t * mhat / (sqrt(vhat) + eps), with grads (n)
// first scaled so that their global L2 norm is at most clip_norm. grad_norm is
// the norm before clipping, summed by the caller in a fixed order.
inline void adam_update(float* params, const float* grads, size_t n, double grad_norm,
                        AdamState& state, const AdamOptions& opt) {
  const double lr = cosine_learning_rate(opt, state.step);
  state.step += 1;
  const double clip = grad_norm > opt.clip_norm ? opt.clip_norm / grad_norm : 1.0;
  const double correction1 = 1.0 - std::pow(opt.beta1, static_cast<double>(state.step));
  const double correction2 = 1.0 - std::pow(opt.beta2, static_cast<double>(state.step));
  const float b1 = static_cast<float>(opt.beta1), b2 = static_cast<float>(opt.beta2);
  const float scale = static_cast<float>(clip);
  const float step_size = static_cast<float>(lr / correction1);
  const float root_c2 = static_cast<float>(std::sqrt(correction2));
  const float eps = static_cast<float>(opt.epsilon);
  float* m = state.m.data();
  float* v = state.v.data();
  for (size_t i = 0; i < n; ++i) {
    const float g = grads[i] * scale;
    m[i] = b1 * m[i] + (1 - b1) * g;
    v[i] = b2 * v[i] + (1 - b2) * g * g;
    params[i] -= step_size * m[i] / (std::sqrt(v[i]) / root_c2 + eps);
  }
}

}  // namespace deepbmc
