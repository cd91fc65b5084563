// Element-wise activations. Backward passes use only the layer's output, so a
// dense layer caches its post-activation values and nothing else.
#pragma once
#include <Eigen/Core>
#include <string>

namespace deepbmc {

enum class Activation { linear = 0, elu = 1, relu = 2, tanh = 3 };

inline bool parse_activation(const std::string& name, Activation* out) {
  if (name == "elu") *out = Activation::elu;
  else if (name == "relu") *out = Activation::relu;
  else if (name == "tanh") *out = Activation::tanh;
  else if (name == "linear") *out = Activation::linear;
  else return false;
  return true;
}

// Flat 1-D views: Eigen vectorizes these expressions (exp included), which it
// does not do for the same expressions on a 2-D row-major map.
template <class T>
using FlatArray = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T>
using ConstFlatArray = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;

// activation_forward: y (n) = f(y) in place
template <class T>
void activation_forward(T* y, size_t n, Activation act) {
  FlatArray<T> a(y, static_cast<Eigen::Index>(n));
  switch (act) {
    case Activation::linear: break;
    // ELU(x) = x for x > 0, exp(x) - 1 otherwise, as max + (exp(min) - 1):
    // no select(), which Eigen would not vectorize.
    case Activation::elu: a = a.max(T(0)) + (a.min(T(0)).exp() - T(1)); break;
    case Activation::relu: a = a.max(T(0)); break;
    case Activation::tanh: a = a.tanh(); break;
  }
}

// activation_backward: dy (n) *= f'(x), written in terms of the output y = f(x)
template <class T>
void activation_backward(T* dy, const T* y, size_t n, Activation act) {
  FlatArray<T> d(dy, static_cast<Eigen::Index>(n));
  ConstFlatArray<T> o(y, static_cast<Eigen::Index>(n));
  switch (act) {
    case Activation::linear: break;
    // ELU'(x) = 1 for x > 0, exp(x) = y + 1 otherwise.
    case Activation::elu: d = d * (o.min(T(0)) + T(1)); break;
    case Activation::relu: d = (o > T(0)).select(d, T(0)); break;
    case Activation::tanh: d = d * (T(1) - o.square()); break;
  }
}

}  // namespace deepbmc
