#include "network_spec.h"

#include <cmath>
#include <stdexcept>

#include "least_squares.h"
#include "rng.h"

namespace deepbmc {
namespace {

struct Allocator {
  size_t next = 0;
  DenseSpec dense(int in, int out) {
    DenseSpec d;
    d.in = in;
    d.out = out;
    d.w = next;
    next += static_cast<size_t>(in) * out;
    d.b = next;
    next += out;
    return d;
  }
  std::vector<DenseSpec> stack(int in, int width, int depth) {
    std::vector<DenseSpec> layers;
    for (int i = 0; i < depth; ++i) layers.push_back(dense(i == 0 ? in : width, width));
    return layers;
  }
};

void require(bool ok, const std::string& message) {
  if (!ok) throw std::invalid_argument(message);
}

void append(std::vector<DenseSpec>& all, const std::vector<DenseSpec>& more) {
  all.insert(all.end(), more.begin(), more.end());
}

// An invariant module of width s1 -> s2: the s1 stack, the projection of
// mean_cov or mean_logvar pooling (which double the pooled width), the s2
// stack.
InvariantSpec invariant_spec(Allocator& alloc, int in, int s1, int s2, int depth,
                             Pooling pooling) {
  InvariantSpec inv;
  inv.pooling = pooling;
  inv.s1 = alloc.stack(in, s1, depth);
  int pooled = s1;
  if (pooling == Pooling::mean_cov) {
    inv.projection = alloc.dense(s1, 2 * s1);
    pooled = 2 * s1;
  } else if (pooling == Pooling::mean_logvar) {
    inv.projection = alloc.dense(s1, s1);
    pooled = 2 * s1;
  }
  inv.s2 = alloc.stack(pooled, s2, depth);
  return inv;
}

void append_invariant(std::vector<DenseSpec>& all, const InvariantSpec& inv) {
  append(all, inv.s1);
  if (inv.pooling != Pooling::mean) all.push_back(inv.projection);
  append(all, inv.s2);
}

}  // namespace

NetworkSpec build_network_spec(const NetworkConfig& config) {
  const size_t n_levels = config.s1.size();
  require(n_levels >= 1 && n_levels <= 3, "the network needs 1 to 3 levels");
  require(config.s2.size() == n_levels && config.s3.size() == n_levels &&
              config.summary_dim.size() == n_levels,
          "s1, s2, s3 and summary_dim need one entry per level");
  require(config.input_dim >= 1, "input_dim must be at least 1");
  require(config.n_models >= 2, "at least two models are needed");
  require(config.n_dense >= 1 && config.n_equivariant >= 0, "n_dense >= 1, n_equivariant >= 0");
  require(config.head_units >= 1 && config.head_layers >= 0, "head sizes must be positive");
  for (size_t k = 0; k < n_levels; ++k) {
    require(config.s1[k] >= 1 && config.s2[k] >= 1 && config.s3[k] >= 1 &&
                config.summary_dim[k] >= 1,
            "layer widths must be at least 1");
  }

  require(config.output_power >= 1.0 && config.output_power <= 4.0,
          "output_power must be in [1, 4]");
  require(config.size_reference.empty() || config.size_reference.size() == n_levels,
          "size_reference needs one entry per level");
  for (double r : config.size_reference) {
    require(std::isfinite(r) && r > 0.0, "size_reference entries must be positive");
  }

  require(config.missing_coding != MissingCoding::placeholder ||
              config.placeholder.size() == static_cast<size_t>(config.input_dim),
          "placeholder coding needs one placeholder per feature");
  for (double p : config.placeholder) {
    require(!std::isinf(p), "placeholders must be finite or NaN (the group mean)");
  }

  require(config.pooling.empty() || config.pooling.size() == n_levels,
          "pooling needs one entry per level");

  require(config.statistics_version == 1 || config.statistics_version == 2,
          "statistics_version must be 1 or 2");
  require(config.statistics_terms.empty() ||
              (config.statistics == Statistics::least_squares && config.statistics_version == 2 &&
               config.statistics_terms.size() == static_cast<size_t>(config.input_dim - 1)),
          "statistics_terms needs least-squares statistics of version 2 and one term per "
          "covariate");
  for (int id : config.statistics_terms) {
    require(id >= 0 && id < config.input_dim, "statistics_terms ids must be in 0..input_dim-1");
  }

  NetworkSpec spec;
  spec.config = config;
  spec.statistics_joint_terms = least_squares_joint_terms(config.statistics_terms);
  Allocator alloc;
  int width = spec.coded_input_dim();
  for (size_t k = 0; k < n_levels; ++k) {
    LevelSpec level;
    level.in_dim = width;
    const Pooling pooling = config.pooling.empty() ? Pooling::mean : config.pooling[k];
    for (int e = 0; e < config.n_equivariant; ++e) {
      EquivariantSpec eq;
      eq.in_dim = width;
      eq.pooled = invariant_spec(alloc, width, config.s1[k], config.s2[k], config.n_dense, pooling);
      eq.s3 = alloc.stack(width + config.s2[k], config.s3[k], config.n_dense);
      level.equivariant.push_back(eq);
      width = config.s3[k];
    }
    level.invariant = invariant_spec(alloc, width, config.s1[k], config.s2[k], config.n_dense, pooling);
    level.summary = alloc.dense(config.s2[k], config.summary_dim[k]);
    width = config.summary_dim[k];
    spec.levels.push_back(level);
  }
  spec.head = alloc.stack(spec.head_input_dim(), config.head_units, config.head_layers);
  spec.logits = alloc.dense(config.head_layers > 0 ? config.head_units : spec.head_input_dim(),
                            spec.head_outputs());
  if (spec.separate_rates()) {
    spec.rates = alloc.dense(config.summary_dim.back(), spec.n_rates());
  }
  spec.n_params = alloc.next;
  return spec;
}

int NetworkSpec::n_statistics_inputs() const {
  return has_statistics()
             ? least_squares_width(config.input_dim, static_cast<int>(statistics_joint_terms.size()),
                                   config.statistics_version)
             : 0;
}

std::vector<DenseSpec> NetworkSpec::all_dense() const {
  std::vector<DenseSpec> all;
  for (const auto& level : levels) {
    for (const auto& eq : level.equivariant) {
      append_invariant(all, eq.pooled);
      append(all, eq.s3);
    }
    append_invariant(all, level.invariant);
    all.push_back(level.summary);
  }
  append(all, head);
  all.push_back(logits);
  if (separate_rates()) all.push_back(rates);
  return all;
}

template <class T>
void init_glorot_normal(const NetworkSpec& spec, uint64_t seed, T* params) {
  // Keras draws from a normal truncated at two standard deviations and widens
  // it so that the truncated draws keep variance 2 / (fan_in + fan_out).
  const double truncation_correction = 0.87962566103423978;
  const auto layers = spec.all_dense();
  for (size_t i = 0; i < layers.size(); ++i) {
    const DenseSpec& d = layers[i];
    Rng rng(stream_key(seed, StreamPurpose::init, 0, i));
    const double sd = std::sqrt(2.0 / (d.in + d.out)) / truncation_correction;
    for (size_t j = 0; j < static_cast<size_t>(d.in) * d.out; ++j) {
      double z;
      do z = rng.normal(); while (std::fabs(z) > 2.0);
      params[d.w + j] = static_cast<T>(sd * z);
    }
    for (int j = 0; j < d.out; ++j) params[d.b + j] = T(0);
  }
}

template void init_glorot_normal<float>(const NetworkSpec&, uint64_t, float*);
template void init_glorot_normal<double>(const NetworkSpec&, uint64_t, double*);

}  // namespace deepbmc
