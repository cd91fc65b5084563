// Glue: converts the plain R lists the R code passes into core structs. The
// only place besides the r_*.cpp entry points that sees Rcpp.
#pragma once
#include <Rcpp.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "dataset.h"
#include "network_spec.h"
#include "simulators.h"

namespace deepbmc {

inline int r_int(const Rcpp::List& x, const char* name) {
  if (!x.containsElementNamed(name)) Rcpp::stop("internal: missing element '%s'", name);
  return Rcpp::as<int>(x[name]);
}

inline std::vector<int> r_ints(const Rcpp::List& x, const char* name) {
  if (!x.containsElementNamed(name)) Rcpp::stop("internal: missing element '%s'", name);
  return Rcpp::as<std::vector<int>>(x[name]);
}

inline uint64_t r_seed(double seed) {
  if (!std::isfinite(seed) || seed < 0 || seed > 4503599627370496.0 || seed != std::floor(seed)) {
    Rcpp::stop("internal: seed must be a whole number in [0, 2^52]");
  }
  return static_cast<uint64_t>(seed);
}

inline NetworkSpec r_network_spec(const Rcpp::List& config) {
  NetworkConfig c;
  c.input_dim = r_int(config, "input_dim");
  c.n_models = r_int(config, "n_models");
  const std::string act = Rcpp::as<std::string>(config["activation"]);
  if (!parse_activation(act, &c.activation)) Rcpp::stop("unknown activation '%s'", act);
  c.s1 = r_ints(config, "s1");
  c.s2 = r_ints(config, "s2");
  c.s3 = r_ints(config, "s3");
  c.summary_dim = r_ints(config, "summary_dim");
  c.n_dense = r_int(config, "n_dense");
  c.n_equivariant = r_int(config, "n_equivariant");
  c.head_units = r_int(config, "head_units");
  c.head_layers = r_int(config, "head_layers");
  try {
    return build_network_spec(c);
  } catch (const std::invalid_argument& e) {
    Rcpp::stop(e.what());
  }
}

// The packed batch format and the built-in simulators hold two-level data.
inline void r_check_levels(const NetworkSpec& spec, int data_levels) {
  if (spec.n_levels() != data_levels) {
    Rcpp::stop("the network has %d levels but the data have %d", spec.n_levels(), data_levels);
  }
}

inline void r_check_model_set(const NetworkSpec& spec, const ModelSet& models) {
  if (models.n_models() != spec.config.n_models || models.n_features() != spec.config.input_dim) {
    Rcpp::stop("internal: network and model set do not match");
  }
  r_check_levels(spec, models.n_levels());
}

inline void r_check_threads(int threads) {
  if (threads < 1) Rcpp::stop("internal: threads must be at least 1");
}

inline SizeRange r_size_range(const Rcpp::List& x, const char* name) {
  const std::vector<int> range = r_ints(x, name);
  if (range.size() != 2 || range[0] < 1 || range[1] < range[0]) {
    Rcpp::stop("internal: '%s' must be c(min, max) with 1 <= min <= max", name);
  }
  return SizeRange{range[0], range[1]};
}

inline std::unique_ptr<ModelSet> r_model_set(const Rcpp::List& spec) {
  const std::string type = Rcpp::as<std::string>(spec["type"]);
  if (type == "normal_nested") {
    return std::unique_ptr<ModelSet>(
        new NormalNestedModels(r_size_range(spec, "groups"), r_size_range(spec, "obs")));
  }
  Rcpp::stop("unknown model set type '%s'", type);
}

// Packed batch (see R/data.R): values row-major, 0-based group and data-set
// offsets, a row mask. Unobserved values become 0 so they cannot leak NaN.
template <class T>
std::vector<Dataset<T>> r_datasets(const Rcpp::List& batch, const NetworkSpec& spec) {
  r_check_levels(spec, 2);
  const Rcpp::NumericVector values = batch["values"];
  const int dim = r_int(batch, "n_features");
  const std::vector<int> groups = r_ints(batch, "group_offsets");
  const std::vector<int> sets = r_ints(batch, "dataset_offsets");
  const Rcpp::LogicalVector mask = batch["mask"];
  const int n_rows = mask.size();
  if (dim != spec.config.input_dim) {
    Rcpp::stop("internal: the data have %d features but the network expects %d", dim,
               spec.config.input_dim);
  }
  if (static_cast<R_xlen_t>(n_rows) * dim != values.size()) {
    Rcpp::stop("internal: values must have n_rows x n_features entries");
  }
  if (groups.empty() || groups.front() != 0 || groups.back() != n_rows || sets.empty() ||
      sets.front() != 0 || sets.back() != static_cast<int>(groups.size()) - 1) {
    Rcpp::stop("internal: malformed batch offsets");
  }
  for (size_t g = 1; g < groups.size(); ++g) {
    if (groups[g] < groups[g - 1]) Rcpp::stop("internal: group offsets must not decrease");
  }
  std::vector<Dataset<T>> out(sets.size() - 1);
  for (size_t b = 0; b + 1 < sets.size(); ++b) {
    const int g0 = sets[b], g1 = sets[b + 1];
    if (g1 <= g0) Rcpp::stop("internal: every data set needs at least one group");
    const int r0 = groups[g0], r1 = groups[g1];
    Dataset<T>& d = out[b];
    d.dim = dim;
    d.x.resize(static_cast<size_t>(r1 - r0) * dim);
    d.mask.resize(r1 - r0);
    for (int r = r0; r < r1; ++r) {
      const int observed = mask[r] == TRUE;
      d.mask[r - r0] = static_cast<uint8_t>(observed);
      for (int j = 0; j < dim; ++j) {
        const double v = values[static_cast<R_xlen_t>(r) * dim + j];
        if (observed && !std::isfinite(v)) Rcpp::stop("internal: observed values must be finite");
        d.x[static_cast<size_t>(r - r0) * dim + j] = observed ? static_cast<T>(v) : T(0);
      }
    }
    d.offsets.assign(2, std::vector<int>());
    for (int g = g0; g <= g1; ++g) d.offsets[0].push_back(groups[g] - r0);
    d.offsets[1] = {0, g1 - g0};
  }
  return out;
}

}  // namespace deepbmc
