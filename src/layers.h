// Layers as forward/backward pairs (the layout of karpathy/llm.c): shapes in the
// comment, caches named for what they hold, parameter gradients added with +=.
// Backward functions ADD into the input gradient, so a node read by two layers
// (the input of an equivariant module) collects both contributions.
//
// double runs through Eigen and is the reference the gradient checks use;
// float takes the vectorized kernels of kernels.h where the widths allow.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "activation.h"
#include "kernels.h"
#include "network_spec.h"
#include "tensor.h"

namespace deepbmc {

// The flat parameter vector and, for the float kernels, every weight matrix
// transposed at the same offset (W^T is out x in); transposed may be null.
template <class T>
struct Weights {
  const T* value = nullptr;
  const T* transposed = nullptr;
};

// Elements of one level split into sets: set s holds elements
// offsets[s] .. offsets[s + 1] - 1; mask marks present elements; counts[s] is
// the number of present elements of set s.
struct Partition {
  const int* offsets = nullptr;
  int n_sets = 0;
  const uint8_t* mask = nullptr;
  const int* counts = nullptr;
};

template <class T>
ConstMatrixMap<T> weight(const Weights<T>& params, const DenseSpec& d) {
  return ConstMatrixMap<T>(params.value + d.w, d.in, d.out);
}
template <class T>
ConstRowVectorMap<T> bias(const Weights<T>& params, const DenseSpec& d) {
  return ConstRowVectorMap<T>(params.value + d.b, d.out);
}

template <class T>
constexpr bool is_float = std::is_same<T, float>::value;

inline bool kernel_width(int width) { return width % kKernelLanes == 0; }

// out (n x o) = f(in (n x i) W (i x o) + b) with W given by pointer and row
// stride o; shared by dense_forward and the per-set part of broadcast_dense.
template <class T>
void affine_forward(T* out, const T* in, int n, int i, const T* w, int o, const T* b,
                    Activation act) {
  if constexpr (is_float<T>) {
    if (kernel_width(o) && (act == Activation::elu || act == Activation::linear)) {
      kernels().dense_forward(in, n, i, w, o, b, out, act == Activation::elu);
      return;
    }
  }
  MatrixMap<T> y(out, n, o);
  y.noalias() = ConstMatrixMap<T>(in, n, i) * ConstMatrixMap<T>(w, i, o);
  y.rowwise() += ConstRowVectorMap<T>(b, o);
  activation_forward(out, static_cast<size_t>(n) * o, act);
}

// g (n x o) *= f'(pre-activation), from the output y
template <class T>
void pre_activation_grad(Tensor<T>& g, const Tensor<T>& y, Activation act) {
  if constexpr (is_float<T>) {
    if (act == Activation::elu) {
      kernels().elu_backward(g.data.data(), y.data.data(), static_cast<long>(g.size()));
      return;
    }
  }
  activation_backward(g.data.data(), y.data.data(), g.size(), act);
}

// sums (c) = scale * column sums of rows begin .. begin + n - 1 of x (rows x c)
template <class T>
void scaled_column_sums(const Tensor<T>& x, int begin, int n, T scale, T* sums) {
  const int c = x.cols;
  const T* rows = x.data.data() + static_cast<size_t>(begin) * c;
  if constexpr (is_float<T>) {
    if (kernel_width(c)) {
      kernels().column_sums(rows, n, c, scale, sums);
      return;
    }
  }
  RowVectorMap<T>(sums, c) = ConstMatrixMap<T>(rows, n, c).colwise().sum() * scale;
}

// dW (i x o) += x^T g, db (o) += colsums(g)
template <class T>
void affine_weight_grad(T* dw, T* db, const Tensor<T>& x, const Tensor<T>& g) {
  const int i = x.cols, o = g.cols;
  if constexpr (is_float<T>) {
    if (kernel_width(o)) {
      kernels().weight_grad(x.data.data(), x.rows, i, g.data.data(), o, dw, db);
      return;
    }
  }
  MatrixMap<T>(dw, i, o).noalias() += x.mat().transpose() * g.mat();
  RowVectorMap<T>(db, o) += g.mat().colwise().sum();
}

// dx (n x i) += g (n x o) W^T for the first i rows of W ((i + extra) x o),
// read as W^T from transposed weights when the float kernels apply
template <class T>
void affine_input_grad(Tensor<T>& dx, const Tensor<T>& g, const Weights<T>& params,
                       const DenseSpec& d) {
  const int i = dx.cols, o = g.cols;
  if constexpr (is_float<T>) {
    if (kernel_width(i) && params.transposed != nullptr) {
      kernels().input_grad(g.data.data(), g.rows, o, params.transposed + d.w, d.in, i,
                           dx.data.data());
      return;
    }
  }
  dx.mat().noalias() += g.mat() * ConstMatrixMap<T>(params.value + d.w, i, o).transpose();
}

// dense_forward
//   inp (n x in), W (in x out), b (out)  ->  out (n x out) = f(inp W + b)
template <class T>
void dense_forward(Node<T>& out, const Node<T>& inp, const Weights<T>& params, const DenseSpec& d,
                   Activation act, bool training) {
  out.shape(inp.val.rows, d.out, training);
  affine_forward(out.val.data.data(), inp.val.data.data(), inp.val.rows, d.in,
                 params.value + d.w, d.out, params.value + d.b, act);
}

// dense_backward
//   out.grad (n x out) is turned into the pre-activation gradient g in place;
//   dW += inp^T g, db += colsums(g), inp.grad += g W^T (skipped if !input_grad)
template <class T>
void dense_backward(Node<T>& inp, Node<T>& out, const Weights<T>& params, T* grads,
                    const DenseSpec& d, Activation act, bool input_grad = true) {
  pre_activation_grad(out.grad, out.val, act);
  affine_weight_grad(grads + d.w, grads + d.b, inp.val, out.grad);
  if (input_grad) affine_input_grad(inp.grad, out.grad, params, d);
}

// set_mean_forward
//   inp (n_elements x c)  ->  out (n_sets x c): mean over each set's present
//   elements; a set with none gets a zero row (and is masked one level up).
template <class T>
void set_mean_forward(Node<T>& out, const Node<T>& inp, const Partition& part,
                      bool training) {
  out.shape(part.n_sets, inp.val.cols, training);
  auto y = out.val.mat();
  const auto x = inp.val.mat();
  for (int s = 0; s < part.n_sets; ++s) {
    const int begin = part.offsets[s];
    const int size = part.offsets[s + 1] - begin;
    const int count = part.counts[s];
    if (count == size && size > 0) {
      scaled_column_sums(inp.val, begin, size, T(1) / T(size), out.val.data.data() + static_cast<size_t>(s) * out.val.cols);
      continue;
    }
    y.row(s).setZero();
    for (int r = begin; r < begin + size; ++r) {
      if (part.mask[r]) y.row(s) += x.row(r);
    }
    if (count > 0) y.row(s) /= T(count);
  }
}

// set_mean_backward
//   inp.grad[r] += out.grad[set(r)] / count(set(r)) for present elements r
template <class T>
void set_mean_backward(Node<T>& inp, const Node<T>& out, const Partition& part) {
  auto dx = inp.grad.mat();
  const auto dy = out.grad.mat();
  for (int s = 0; s < part.n_sets; ++s) {
    const int count = part.counts[s];
    if (count == 0) continue;
    const auto share = (dy.row(s) / T(count)).eval();
    for (int r = part.offsets[s]; r < part.offsets[s + 1]; ++r) {
      if (part.mask[r]) dx.row(r) += share;
    }
  }
}

// set_mean_cov_forward (pooling "mean_cov"): the set mean beside a low-rank
// second moment. Why this form: the evidence for a correlation between two
// per-group quantities a_g, b_g is a cross-group product (cov(a, b)); a
// mean of per-element vectors is linear in them and gives gradient descent
// no first-order path to it. mean_i (h_i p_j + c_j)(h_i q_j + e_j) is a
// learned bilinear form of h_i (it spans h_i h_i^T projected to 2d
// directions, plus the linear terms through the biases), costs O(n d^2) like
// a dense layer, needs no centring pass, and is a mean over present elements,
// so it is permutation invariant and masking-correct by construction; the
// centred covariance of a fixed projection would need a second pass and
// throws information away. k = d product terms keep the pooled width at 2d.
// Float runs the same Eigen code as double (no vector kernel: the layer is
// one per invariant module and small next to the dense stacks).
//   inp h (n x d), P (d x 2d) and c (2d) at d  ->
//   proj u (n x 2d) = h P + c on present rows, 0 on absent ones;
//   out (n_sets x 2d): out[s] = [mean_r h_r, mean_r u_r[0:d] * u_r[d:2d]]
//   over the present rows r of set s; a set with none gets a zero row.
template <class T>
void set_mean_cov_forward(Node<T>& out, Tensor<T>& proj, const Node<T>& inp,
                          const Weights<T>& params, const DenseSpec& d, const Partition& part,
                          bool training) {
  const int w = inp.val.cols;
  out.shape(part.n_sets, 2 * w, training);
  proj.shape(inp.val.rows, 2 * w);
  const auto x = inp.val.mat();
  const auto p = weight(params, d);
  const auto c = bias(params, d);
  auto u = proj.mat();
  auto y = out.val.mat();
  for (int s = 0; s < part.n_sets; ++s) {
    y.row(s).setZero();
    for (int r = part.offsets[s]; r < part.offsets[s + 1]; ++r) {
      if (!part.mask[r]) {
        u.row(r).setZero();
        continue;
      }
      u.row(r).noalias() = x.row(r) * p;
      u.row(r) += c;
      y.row(s).head(w) += x.row(r);
      y.row(s).tail(w) += u.row(r).head(w).cwiseProduct(u.row(r).tail(w));
    }
    if (part.counts[s] > 0) y.row(s) /= T(part.counts[s]);
  }
}

// set_mean_cov_backward
//   g = out.grad (n_sets x 2d); for each present row r of set s (count n_s):
//   du_r = [g_s[d:2d] * u_r[d:2d], g_s[d:2d] * u_r[0:d]] / n_s (1 x 2d);
//   dP += h_r^T du_r, dc += du_r, inp.grad[r] += g_s[0:d] / n_s + du_r P^T
template <class T>
void set_mean_cov_backward(Node<T>& inp, const Tensor<T>& proj, const Node<T>& out,
                           const Weights<T>& params, T* grads, const DenseSpec& d,
                           const Partition& part) {
  const int w = inp.val.cols;
  const auto x = inp.val.mat();
  const auto u = proj.mat();
  const auto g = out.grad.mat();
  const auto p = weight(params, d);
  MatrixMap<T> dp(grads + d.w, d.in, d.out);
  RowVectorMap<T> dc(grads + d.b, d.out);
  auto dx = inp.grad.mat();
  Eigen::Matrix<T, 1, Eigen::Dynamic> du(2 * w);
  for (int s = 0; s < part.n_sets; ++s) {
    const int count = part.counts[s];
    if (count == 0) continue;
    const T inv = T(1) / T(count);
    for (int r = part.offsets[s]; r < part.offsets[s + 1]; ++r) {
      if (!part.mask[r]) continue;
      du.head(w) = g.row(s).tail(w).cwiseProduct(u.row(r).tail(w)) * inv;
      du.tail(w) = g.row(s).tail(w).cwiseProduct(u.row(r).head(w)) * inv;
      dp.noalias() += x.row(r).transpose() * du;
      dc += du;
      dx.row(r) += g.row(s).head(w) * inv;
      dx.row(r).noalias() += du * p.transpose();
    }
  }
}

// set_mean_logvar_forward (pooling "mean_logvar"): the set mean beside the
// log variances of d learned directions. Why: when the evidence is an even
// function of a cross-group covariance (a correlation of either sign against
// none), the mean of a second moment (mean_cov) still has the same
// expectation under both models, so a near-linear head after it gets no
// first-order signal either. Log variances do: for directions a, b, a + b,
// a - b, log var(a + b) + log var(a - b) - log var(a) - log var(b)
// = log(4 (1 - rho^2)) is linear in the pooled outputs and its mean differs
// between the models. The variance is centred within the set, so the
// projection's bias cancels (it is allocated, as for every dense layer, and
// unused); eps = 0.01 bounds the log of a set with one element.
//   inp h (n x d), Q (d x d) at d  ->  proj u (n x d) = h Q on present rows,
//   0 on absent ones; out (n_sets x 2d): out[s] = [m1, log(eps + v)] with
//   m1 = mean_r h_r, v = mean_r u_r^2 - (mean_r u_r)^2 (at least 0) over the
//   present rows r of set s; a set with none gets a zero row. The centred
//   mean of u is kept in centre (n_sets x d) for the backward pass.
constexpr double kLogvarEps = 0.01;

template <class T>
void set_mean_logvar_forward(Node<T>& out, Tensor<T>& proj, Tensor<T>& centre,
                             const Node<T>& inp, const Weights<T>& params, const DenseSpec& d,
                             const Partition& part, bool training) {
  const int w = inp.val.cols;
  out.shape(part.n_sets, 2 * w, training);
  proj.shape(inp.val.rows, w);
  centre.shape(part.n_sets, w);
  const auto x = inp.val.mat();
  const auto q = weight(params, d);
  auto u = proj.mat();
  auto y = out.val.mat();
  auto mu = centre.mat();
  for (int s = 0; s < part.n_sets; ++s) {
    y.row(s).setZero();
    mu.row(s).setZero();
    for (int r = part.offsets[s]; r < part.offsets[s + 1]; ++r) {
      if (!part.mask[r]) {
        u.row(r).setZero();
        continue;
      }
      u.row(r).noalias() = x.row(r) * q;
      y.row(s).head(w) += x.row(r);
      mu.row(s) += u.row(r);
      y.row(s).tail(w) += u.row(r).cwiseProduct(u.row(r));
    }
    const int count = part.counts[s];
    if (count == 0) continue;
    y.row(s) /= T(count);
    mu.row(s) /= T(count);
    for (int j = 0; j < w; ++j) {
      const T v = std::max(y(s, w + j) - mu(s, j) * mu(s, j), T(0));
      y(s, w + j) = std::log(T(kLogvarEps) + v);
    }
  }
}

// set_mean_logvar_backward
//   g = out.grad (n_sets x 2d); for each present row r of set s (count n_s):
//   du_r = g_s[d:2d] / (eps + v_s) * 2 (u_r - m_s) / n_s with m_s the mean
//   of u over the set and eps + v_s = exp(out[s, d:2d]);
//   dQ += h_r^T du_r, inp.grad[r] += g_s[0:d] / n_s + du_r Q^T. (Where v was
//   clamped at 0 the gradient is that of the unclamped variance.)
template <class T>
void set_mean_logvar_backward(Node<T>& inp, const Tensor<T>& proj, const Tensor<T>& centre,
                              const Node<T>& out, const Weights<T>& params, T* grads,
                              const DenseSpec& d, const Partition& part) {
  const int w = inp.val.cols;
  const auto x = inp.val.mat();
  const auto u = proj.mat();
  const auto mu = centre.mat();
  const auto y = out.val.mat();
  const auto g = out.grad.mat();
  const auto q = weight(params, d);
  MatrixMap<T> dq(grads + d.w, d.in, d.out);
  auto dx = inp.grad.mat();
  Eigen::Matrix<T, 1, Eigen::Dynamic> dv(w), du(w);
  for (int s = 0; s < part.n_sets; ++s) {
    const int count = part.counts[s];
    if (count == 0) continue;
    const T inv = T(1) / T(count);
    for (int j = 0; j < w; ++j) dv(j) = g(s, w + j) / std::exp(y(s, w + j)) * T(2) * inv;
    for (int r = part.offsets[s]; r < part.offsets[s + 1]; ++r) {
      if (!part.mask[r]) continue;
      du = dv.cwiseProduct(u.row(r) - mu.row(s));
      dq.noalias() += x.row(r).transpose() * du;
      dx.row(r) += g.row(s).head(w) * inv;
      dx.row(r).noalias() += du * q.transpose();
    }
  }
}

// broadcast_dense_forward: the first dense layer of an equivariant module on
// concat[x_i, pooled(set(i))]. Its weights split into rows for x (W_x) and rows
// for the pooled vector (W_p); the pooled share is one product per set.
//   x (n x in), pooled (n_sets x p)  ->  per_set (n_sets x out) = pooled W_p + b
//                                         out (n x out) = f(x W_x + per_set[set(i)])
template <class T>
void broadcast_dense_forward(Node<T>& out, Node<T>& per_set, const Node<T>& x,
                             const Node<T>& pooled, const Weights<T>& params, const DenseSpec& d,
                             const Partition& part, Activation act, bool training) {
  const int in = x.val.cols;
  const int p = pooled.val.cols;
  const T* w_x = params.value + d.w;
  const T* w_p = w_x + static_cast<size_t>(in) * d.out;
  per_set.shape(part.n_sets, d.out, training);
  affine_forward(per_set.val.data.data(), pooled.val.data.data(), part.n_sets, p, w_p, d.out,
                 params.value + d.b, Activation::linear);
  out.shape(x.val.rows, d.out, training);
  for (int s = 0; s < part.n_sets; ++s) {
    const int begin = part.offsets[s];
    affine_forward(out.val.data.data() + static_cast<size_t>(begin) * d.out,
                   x.val.data.data() + static_cast<size_t>(begin) * in,
                   part.offsets[s + 1] - begin, in, w_x, d.out,
                   per_set.val.data.data() + static_cast<size_t>(s) * d.out, act);
  }
}

// broadcast_dense_backward
//   g = pre-activation gradient (n x out); per_set.grad[s] = sum of g over set s;
//   dW_x += x^T g, db += colsums(g), dW_p += pooled^T per_set.grad;
//   x.grad += g W_x^T, pooled.grad += per_set.grad W_p^T
template <class T>
void broadcast_dense_backward(Node<T>& x, Node<T>& pooled, Node<T>& per_set, Node<T>& out,
                              const Weights<T>& params, T* grads, const DenseSpec& d,
                              const Partition& part, Activation act, bool input_grad) {
  const int in = x.val.cols;
  const int p = pooled.val.cols;
  const size_t w_p_offset = d.w + static_cast<size_t>(in) * d.out;
  pre_activation_grad(out.grad, out.val, act);
  const auto dc = per_set.grad.mat();
  for (int s = 0; s < part.n_sets; ++s) {
    const int begin = part.offsets[s];
    scaled_column_sums(out.grad, begin, part.offsets[s + 1] - begin, T(1),
                       per_set.grad.data.data() + static_cast<size_t>(s) * d.out);
  }
  affine_weight_grad(grads + d.w, grads + d.b, x.val, out.grad);
  MatrixMap<T>(grads + w_p_offset, p, d.out).noalias() += pooled.val.mat().transpose() * dc;
  if (input_grad) affine_input_grad(x.grad, out.grad, params, d);
  pooled.grad.mat().noalias() +=
      dc * ConstMatrixMap<T>(params.value + w_p_offset, p, d.out).transpose();
}

}  // namespace deepbmc
