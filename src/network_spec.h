// The architecture as data: widths from the user's configuration, and where each
// dense layer's weights live in one flat parameter vector.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "activation.h"

namespace deepbmc {

// Weights W (in x out, row-major) at params[w], bias (out) at params[b].
struct DenseSpec {
  int in = 0;
  int out = 0;
  size_t w = 0;
  size_t b = 0;
};

// InvariantModule(x) = s2(mean over the set(s1(x))). Each dense stack is
// named after its width in hierarchical_network() (BayesFlow's s1, s2, s3), so
// one name means one stack in R and C++.
struct InvariantSpec {
  std::vector<DenseSpec> s1;  // per element, before pooling (width s1)
  std::vector<DenseSpec> s2;  // per set, after pooling (width s2)
};

// EquivariantModule(x)_i = s3(concat[x_i, InvariantModule(x)]); s3[0] has
// in = element width + pooled width and its weight rows are split accordingly.
struct EquivariantSpec {
  InvariantSpec pooled;
  std::vector<DenseSpec> s3;  // per element, the equivariant mix (width s3)
  int in_dim = 0;
};

// DeepSet level: equivariant modules, an invariant module, a linear summary.
struct LevelSpec {
  std::vector<EquivariantSpec> equivariant;
  InvariantSpec invariant;
  DenseSpec summary;
  int in_dim = 0;
};

struct NetworkConfig {
  int input_dim = 1;
  int n_models = 2;
  Activation activation = Activation::elu;
  std::vector<int> s1, s2, s3, summary_dim;  // one entry per level, innermost first
  int n_dense = 2;
  int n_equivariant = 2;
  int head_units = 64;
  int head_layers = 3;
};

struct NetworkSpec {
  NetworkConfig config;
  std::vector<LevelSpec> levels;
  std::vector<DenseSpec> head;  // dense layers with the activation
  DenseSpec logits;             // linear, to n_models
  size_t n_params = 0;

  int n_levels() const { return static_cast<int>(levels.size()); }
  // Head input: the top summary plus sqrt(mean set size) for every level.
  int head_input_dim() const { return config.summary_dim.back() + n_levels(); }
  std::vector<DenseSpec> all_dense() const;
};

// Throws std::invalid_argument with a readable message on impossible sizes.
NetworkSpec build_network_spec(const NetworkConfig& config);

// Glorot-normal weights (Keras' truncated form), zero biases.
template <class T>
void init_glorot_normal(const NetworkSpec& spec, uint64_t seed, T* params);

}  // namespace deepbmc
