// The three set modules of a DeepSet level and the level itself, each a
// forward/backward pair built from the layers in layers.h.
#pragma once
#include <vector>

#include "layers.h"

namespace deepbmc {

template <class T>
struct InvariantCache {
  std::vector<Node<T>> s1;  // per element before pooling, each (n x s1)
  Node<T> pooled;           // (n_sets x s1), mean_cov: (n_sets x 2 s1)
  Tensor<T> proj;           // mean_cov: the projection u (n x 2 s1); mean_logvar: (n x s1)
  Tensor<T> centre;         // mean_logvar: the set means of u (n_sets x s1)
  std::vector<Node<T>> s2;  // per set after pooling, each (n_sets x s2)
};

template <class T>
struct EquivariantCache {
  InvariantCache<T> pooled;
  Node<T> per_set;          // (n_sets x s3): pooled share of the first s3 layer
  std::vector<Node<T>> s3;  // per element, the equivariant mix, each (n x s3)
};

template <class T>
struct LevelCache {
  std::vector<EquivariantCache<T>> equivariant;
  InvariantCache<T> invariant;
  Node<T> summary;  // (n_sets x summary_dim)
};

// invariant_forward
//   x (n x in) -> s2(pool over each set of s1(x)) (n_sets x s2), pool = the
//   set mean, or the mean beside a low-rank second moment (mean_cov) or
//   log variances (mean_logvar)
template <class T>
Node<T>& invariant_forward(InvariantCache<T>& c, const Node<T>& x, const InvariantSpec& spec,
                                 const Weights<T>& params, const Partition& part, Activation act,
                                 bool training) {
  c.s1.resize(spec.s1.size());
  c.s2.resize(spec.s2.size());
  const Node<T>* h = &x;
  for (size_t i = 0; i < spec.s1.size(); ++i) {
    dense_forward(c.s1[i], *h, params, spec.s1[i], act, training);
    h = &c.s1[i];
  }
  if (spec.pooling == Pooling::mean_cov) {
    set_mean_cov_forward(c.pooled, c.proj, *h, params, spec.projection, part, training);
  } else if (spec.pooling == Pooling::mean_logvar) {
    set_mean_logvar_forward(c.pooled, c.proj, c.centre, *h, params, spec.projection, part,
                            training);
  } else {
    set_mean_forward(c.pooled, *h, part, training);
  }
  h = &c.pooled;
  for (size_t i = 0; i < spec.s2.size(); ++i) {
    dense_forward(c.s2[i], *h, params, spec.s2[i], act, training);
    h = &c.s2[i];
  }
  return c.s2.back();
}

// invariant_backward: from c.s2.back().grad, adds into grads and x.grad
template <class T>
void invariant_backward(InvariantCache<T>& c, Node<T>& x, const InvariantSpec& spec,
                        const Weights<T>& params, T* grads, const Partition& part, Activation act,
                        bool input_grad) {
  for (size_t i = spec.s2.size(); i-- > 0;) {
    Node<T>& inp = i == 0 ? c.pooled : c.s2[i - 1];
    dense_backward(inp, c.s2[i], params, grads, spec.s2[i], act);
  }
  if (spec.pooling == Pooling::mean_cov) {
    set_mean_cov_backward(c.s1.back(), c.proj, c.pooled, params, grads, spec.projection, part);
  } else if (spec.pooling == Pooling::mean_logvar) {
    set_mean_logvar_backward(c.s1.back(), c.proj, c.centre, c.pooled, params, grads,
                             spec.projection, part);
  } else {
    set_mean_backward(c.s1.back(), c.pooled, part);
  }
  for (size_t i = spec.s1.size(); i-- > 0;) {
    Node<T>& inp = i == 0 ? x : c.s1[i - 1];
    dense_backward(inp, c.s1[i], params, grads, spec.s1[i], act, i > 0 || input_grad);
  }
}

// equivariant_forward
//   x (n x in) -> s3(concat[x_i, invariant(x)[set(i)]]) (n x s3)
template <class T>
Node<T>& equivariant_forward(EquivariantCache<T>& c, const Node<T>& x,
                                   const EquivariantSpec& spec, const Weights<T>& params,
                                   const Partition& part, Activation act, bool training) {
  c.s3.resize(spec.s3.size());
  const Node<T>& pooled = invariant_forward(c.pooled, x, spec.pooled, params, part, act, training);
  broadcast_dense_forward(c.s3[0], c.per_set, x, pooled, params, spec.s3[0], part, act,
                          training);
  for (size_t i = 1; i < spec.s3.size(); ++i) {
    dense_forward(c.s3[i], c.s3[i - 1], params, spec.s3[i], act, training);
  }
  return c.s3.back();
}

// equivariant_backward: from c.s3.back().grad, adds into grads and x.grad
template <class T>
void equivariant_backward(EquivariantCache<T>& c, Node<T>& x, const EquivariantSpec& spec,
                          const Weights<T>& params, T* grads, const Partition& part, Activation act,
                          bool input_grad) {
  for (size_t i = spec.s3.size(); i-- > 1;) {
    dense_backward(c.s3[i - 1], c.s3[i], params, grads, spec.s3[i], act);
  }
  broadcast_dense_backward(x, c.pooled.s2.back(), c.per_set, c.s3[0], params, grads,
                           spec.s3[0], part, act, input_grad);
  invariant_backward(c.pooled, x, spec.pooled, params, grads, part, act, input_grad);
}

// level_forward (one DeepSet level)
//   x (n x in) -> equivariant modules -> invariant module -> linear summary
//   (n_sets x summary_dim)
template <class T>
Node<T>& level_forward(LevelCache<T>& c, const Node<T>& x, const LevelSpec& spec,
                             const Weights<T>& params, const Partition& part, Activation act,
                             bool training) {
  c.equivariant.resize(spec.equivariant.size());
  const Node<T>* h = &x;
  for (size_t e = 0; e < spec.equivariant.size(); ++e) {
    h = &equivariant_forward(c.equivariant[e], *h, spec.equivariant[e], params, part, act,
                             training);
  }
  const Node<T>& pooled = invariant_forward(c.invariant, *h, spec.invariant, params, part, act,
                                            training);
  dense_forward(c.summary, pooled, params, spec.summary, Activation::linear, training);
  return c.summary;
}

// level_backward: from c.summary.grad, adds into grads and x.grad
template <class T>
void level_backward(LevelCache<T>& c, Node<T>& x, const LevelSpec& spec, const Weights<T>& params,
                    T* grads, const Partition& part, Activation act, bool input_grad) {
  dense_backward(c.invariant.s2.back(), c.summary, params, grads, spec.summary,
                 Activation::linear);
  const size_t n_eq = spec.equivariant.size();
  Node<T>& last = n_eq == 0 ? x : c.equivariant[n_eq - 1].s3.back();
  invariant_backward(c.invariant, last, spec.invariant, params, grads, part, act,
                     n_eq > 0 || input_grad);
  for (size_t e = n_eq; e-- > 0;) {
    Node<T>& inp = e == 0 ? x : c.equivariant[e - 1].s3.back();
    equivariant_backward(c.equivariant[e], inp, spec.equivariant[e], params, grads, part, act,
                         e > 0 || input_grad);
  }
}

}  // namespace deepbmc
