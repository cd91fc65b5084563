// Glue: converts the plain R lists the R code passes into core structs. The
// only place besides the r_*.cpp entry points that sees Rcpp.
#pragma once
#include <Rcpp.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "dataset.h"
#include "evidence_accumulation.h"
#include "formula_models.h"
#include "missing.h"
#include "network_spec.h"
#include "packed_batch.h"
#include "recognition_memory.h"
#include "simulators.h"

namespace deepbmc {

// Readers of one named element of a list from R; a missing one is an error.
inline SEXP r_element(const Rcpp::List& x, const char* name) {
  if (!x.containsElementNamed(name)) Rcpp::stop("internal: missing element '%s'", name);
  return x[name];
}

inline int r_int(const Rcpp::List& x, const char* name) {
  return Rcpp::as<int>(r_element(x, name));
}

inline std::vector<int> r_ints(const Rcpp::List& x, const char* name) {
  return Rcpp::as<std::vector<int>>(r_element(x, name));
}

inline double r_double(const Rcpp::List& x, const char* name) {
  return Rcpp::as<double>(r_element(x, name));
}

inline std::string r_string(const Rcpp::List& x, const char* name) {
  return Rcpp::as<std::string>(r_element(x, name));
}

inline uint64_t r_seed(double seed) {
  if (!std::isfinite(seed) || seed < 0 || seed > 4503599627370496.0 || seed != std::floor(seed)) {
    Rcpp::stop("internal: seed must be a whole number in [0, 2^52]");
  }
  return static_cast<uint64_t>(seed);
}

// The elements of the network configuration list, in the order R's
// network_config() writes them (network_config_fields in R/network.R, which
// test-network.R checks against this table): a count, widths (one per
// level), or the activation.
struct NetworkConfigField {
  const char* name;
  int NetworkConfig::*count;
  std::vector<int> NetworkConfig::*widths;
};

inline const std::vector<NetworkConfigField>& network_config_fields() {
  static const std::vector<NetworkConfigField> fields = {
      {"input_dim", &NetworkConfig::input_dim, nullptr},
      {"n_models", &NetworkConfig::n_models, nullptr},
      {"activation", nullptr, nullptr},
      {"s1", nullptr, &NetworkConfig::s1},
      {"s2", nullptr, &NetworkConfig::s2},
      {"s3", nullptr, &NetworkConfig::s3},
      {"summary_dim", nullptr, &NetworkConfig::summary_dim},
      {"n_dense", &NetworkConfig::n_dense, nullptr},
      {"n_equivariant", &NetworkConfig::n_equivariant, nullptr},
      {"head_units", &NetworkConfig::head_units, nullptr},
      {"head_layers", &NetworkConfig::head_layers, nullptr},
  };
  return fields;
}

// The optional elements that describe the output head of a training method
// (network_head_fields in R/training-method.R): a fit of the default method,
// and every fit saved before methods existed, has none of them and a plain
// linear head. Likewise the missing-data coding (missing_values(), issue 16):
// a fit without missing_coding has none. And the standardisation
// (hierarchical_network(standardize =), issue 29): a fit without it has none.
// And the pooling of each level (hierarchical_network(pooling =), issue 29):
// only a network with a level not pooled by the mean has it. And the fixed
// statistics (hierarchical_network(statistics =), issue 29): only a network
// with some has it; statistics_version 2 every such network since the joint,
// mixed-model and corrected statistics (older ones read as version 1), and
// statistics_terms one of version 2 whose model set has a term with several
// columns.
inline const std::vector<std::string>& network_head_fields() {
  static const std::vector<std::string> fields = {"output",         "output_power",
                                                  "size_reference", "rates",
                                                  "missing_coding", "placeholder",
                                                  "standardize",    "pooling",
                                                  "statistics",     "statistics_terms",
                                                  "statistics_version"};
  return fields;
}

// Exactly the elements of network_config_fields(), each read by name, plus
// any of network_head_fields(): a missing or an unknown element is an error,
// never a default.
inline NetworkSpec r_network_spec(const Rcpp::List& config) {
  const std::vector<NetworkConfigField>& fields = network_config_fields();
  const std::vector<std::string>& head = network_head_fields();
  size_t n_head = 0;
  for (const std::string& name : head) n_head += config.containsElementNamed(name.c_str());
  if (static_cast<size_t>(config.size()) != fields.size() + n_head) {
    Rcpp::stop("internal: the network configuration needs exactly %d elements (and optional head "
               "elements), not %d",
               static_cast<int>(fields.size()), static_cast<int>(config.size()));
  }
  NetworkConfig c;
  for (const NetworkConfigField& field : fields) {
    if (field.count != nullptr) {
      c.*field.count = r_int(config, field.name);
    } else if (field.widths != nullptr) {
      c.*field.widths = r_ints(config, field.name);
    } else {
      const std::string act = r_string(config, field.name);
      if (!parse_activation(act, &c.activation)) Rcpp::stop("unknown activation '%s'", act);
    }
  }
  if (config.containsElementNamed("output")) {
    const std::string output = r_string(config, "output");
    if (output == "lpop") c.output = OutputTransform::lpop;
    else if (output != "linear") Rcpp::stop("unknown output transform '%s'", output);
  }
  if (config.containsElementNamed("output_power")) c.output_power = r_double(config, "output_power");
  if (config.containsElementNamed("size_reference")) {
    c.size_reference = Rcpp::as<std::vector<double>>(config["size_reference"]);
  }
  if (config.containsElementNamed("rates")) {
    const std::string rates = r_string(config, "rates");
    if (rates == "summary") c.rates = RateSource::summary;
    else if (rates == "laplace") c.rates = RateSource::laplace;
    else if (rates != "head") Rcpp::stop("unknown rate source '%s'", rates);
  }
  if (config.containsElementNamed("missing_coding")) {
    const std::string coding = r_string(config, "missing_coding");
    if (coding == "indicator") c.missing_coding = MissingCoding::indicator;
    else if (coding == "placeholder") c.missing_coding = MissingCoding::placeholder;
    else if (coding != "none") Rcpp::stop("unknown missing-data coding '%s'", coding);
  }
  if (config.containsElementNamed("placeholder")) {
    c.placeholder = Rcpp::as<std::vector<double>>(config["placeholder"]);  // NA: group mean
  }
  if (config.containsElementNamed("standardize")) {
    const std::string standardize = r_string(config, "standardize");
    if (standardize == "dataset") c.standardize = Standardize::dataset;
    else if (standardize != "none") Rcpp::stop("unknown standardisation '%s'", standardize);
  }
  if (config.containsElementNamed("pooling")) {
    const std::vector<std::string> names = pooling_names();
    for (const std::string& pooling : Rcpp::as<std::vector<std::string>>(config["pooling"])) {
      size_t i = 0;
      while (i < names.size() && names[i] != pooling) ++i;
      if (i == names.size()) Rcpp::stop("unknown pooling '%s'", pooling);
      c.pooling.push_back(static_cast<Pooling>(i));
    }
  }
  if (config.containsElementNamed("statistics")) {
    const std::string statistics = r_string(config, "statistics");
    if (statistics == "least_squares") c.statistics = Statistics::least_squares;
    else if (statistics != "none") Rcpp::stop("unknown statistics '%s'", statistics);
  }
  if (config.containsElementNamed("statistics_terms")) {
    c.statistics_terms = r_ints(config, "statistics_terms");
  }
  if (config.containsElementNamed("statistics_version")) {
    c.statistics_version = r_int(config, "statistics_version");
  }
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

// --- Formula model sets (the spec list models_spec() builds for them) -----

// A logical vector without NA.
inline std::vector<char> r_flags(const Rcpp::List& x, const char* name) {
  const Rcpp::LogicalVector v(r_element(x, name));
  std::vector<char> out(v.size());
  for (R_xlen_t i = 0; i < v.size(); ++i) {
    if (v[i] == NA_LOGICAL) Rcpp::stop("internal: '%s' must not contain NA", name);
    out[i] = v[i] != 0;
  }
  return out;
}

inline bool r_flag(const Rcpp::List& x, const char* name) {
  const std::vector<char> v = r_flags(x, name);
  if (v.size() != 1) Rcpp::stop("internal: '%s' must be TRUE or FALSE", name);
  return v[0] != 0;
}

// An R numeric matrix (column-major) as a row-major Matrix.
inline Matrix r_matrix(const Rcpp::List& x, const char* name) {
  const SEXP s = r_element(x, name);
  if (!Rf_isMatrix(s) || (TYPEOF(s) != REALSXP && TYPEOF(s) != INTSXP)) {
    Rcpp::stop("internal: '%s' must be a numeric matrix", name);
  }
  const Rcpp::NumericMatrix m(s);
  Matrix out;
  out.rows = m.nrow();
  out.cols = m.ncol();
  out.values.resize(static_cast<size_t>(out.rows) * out.cols);
  for (int i = 0; i < out.rows; ++i) {
    for (int j = 0; j < out.cols; ++j) out.values[static_cast<size_t>(i) * out.cols + j] = m(i, j);
  }
  return out;
}

// list(kind, p1, p2, p3) of equal lengths: one prior per element.
inline std::vector<Prior> r_priors(const Rcpp::List& x, const char* name) {
  const Rcpp::List list(r_element(x, name));
  const std::vector<int> kind = r_ints(list, "kind");
  const Rcpp::NumericVector p1(r_element(list, "p1")), p2(r_element(list, "p2")),
      p3(r_element(list, "p3"));
  const R_xlen_t n = static_cast<R_xlen_t>(kind.size());
  if (p1.size() != n || p2.size() != n || p3.size() != n) {
    Rcpp::stop("internal: '%s' needs kind, p1, p2 and p3 of equal length", name);
  }
  std::vector<Prior> out(kind.size());
  for (R_xlen_t j = 0; j < n; ++j) {
    out[j].kind = static_cast<PriorKind>(kind[j]);  // range checked by FormulaModels
    out[j].p1 = p1[j];
    out[j].p2 = p2[j];
    out[j].p3 = p3[j];
  }
  return out;
}

inline FeatureScaling r_feature_scaling(const Rcpp::List& scaling) {
  FeatureScaling out;
  out.response_center = r_double(scaling, "response_center");
  out.response_scale = r_double(scaling, "response_scale");
  try {
    validate_feature_scaling(out);
  } catch (const std::invalid_argument& e) {
    Rcpp::stop("internal: %s", e.what());
  }
  return out;
}

inline TemplateDesign r_template_design(const Rcpp::List& design) {
  TemplateDesign out;
  out.group_offsets = r_ints(design, "group_offsets");
  out.n_groups = static_cast<int>(out.group_offsets.size()) - 1;
  out.observed = r_flags(design, "observed");
  out.n_rows = static_cast<int>(out.observed.size());
  out.trials = r_ints(design, "trials");
  out.covariate_features = r_matrix(design, "covariate_features");
  out.resample = r_flag(design, "resample");
  if (out.resample || design.containsElementNamed("groups")) {
    const std::vector<int> groups = r_ints(design, "groups");
    if (groups.size() != 2) Rcpp::stop("internal: 'groups' must be c(min, max)");
    out.groups = SizeRange{groups[0], groups[1]};  // checked by FormulaModels if resampled
  }
  return out;
}

inline FormulaModel r_formula_model(const Rcpp::List& model) {
  FormulaModel out;
  out.family = static_cast<Family>(r_int(model, "family"));  // codes checked by FormulaModels
  out.link = static_cast<Link>(r_int(model, "link"));
  out.X = r_matrix(model, "X");
  out.Z = r_matrix(model, "Z");
  // Optional: specs without offset terms (and hand-built ones) have none.
  if (model.containsElementNamed("offset")) {
    out.offset = Rcpp::as<std::vector<double>>(model["offset"]);
  }
  out.b_prior = r_priors(model, "b_prior");
  out.sd_prior = r_priors(model, "sd_prior");
  out.correlated = r_flag(model, "correlated");
  out.cor_eta = r_double(model, "cor_eta");
  const std::vector<Prior> sigma = r_priors(model, "sigma_prior");
  if (sigma.size() != 1) Rcpp::stop("internal: 'sigma_prior' must hold one prior");
  out.sigma_prior = sigma[0];
  // Fits saved before the families with a second parameter have none.
  if (model.containsElementNamed("aux_prior")) {
    const std::vector<Prior> aux = r_priors(model, "aux_prior");
    if (aux.size() != 1) Rcpp::stop("internal: 'aux_prior' must hold one prior");
    out.aux_prior = aux[0];
  }
  // Fits saved before observation-level effects have none.
  if (model.containsElementNamed("olre")) {
    out.olre = r_flag(model, "olre");
    const std::vector<Prior> olre = r_priors(model, "olre_prior");
    if (olre.size() != 1) Rcpp::stop("internal: 'olre_prior' must hold one prior");
    out.olre_prior = olre[0];
  }
  return out;
}

inline std::unique_ptr<ModelSet> r_formula_models(const Rcpp::List& spec) {
  TemplateDesign design = r_template_design(Rcpp::List(r_element(spec, "design")));
  const FeatureScaling scaling = r_feature_scaling(Rcpp::List(r_element(spec, "scaling")));
  const Rcpp::List models(r_element(spec, "models"));
  std::vector<FormulaModel> parsed;
  for (R_xlen_t k = 0; k < models.size(); ++k) {
    parsed.push_back(r_formula_model(Rcpp::List(models[k])));
  }
  try {
    return std::unique_ptr<ModelSet>(
        new FormulaModels(std::move(design), scaling, std::move(parsed)));
  } catch (const std::invalid_argument& e) {
    Rcpp::stop("internal: invalid formula model set: %s", e.what());
  }
}

inline std::unique_ptr<ModelSet> r_model_set(const Rcpp::List& spec) {
  const std::string type = Rcpp::as<std::string>(spec["type"]);
  if (type == "normal_nested") {
    return std::unique_ptr<ModelSet>(
        new NormalNestedModels(r_size_range(spec, "groups"), r_size_range(spec, "obs")));
  }
  if (type == "formula") return r_formula_models(spec);
  if (type == "evidence_accumulation") {
    try {
      return std::unique_ptr<ModelSet>(new EvidenceAccumulationModels(
          r_size_range(spec, "groups"), r_size_range(spec, "obs"),
          r_double(spec, "stimulus_share"), r_int(spec, "max_steps")));
    } catch (const std::invalid_argument& e) {
      Rcpp::stop("internal: invalid evidence-accumulation models: %s", e.what());
    }
  }
  if (type == "recognition_memory") {
    try {
      return std::unique_ptr<ModelSet>(new RecognitionMemoryModels(
          r_size_range(spec, "groups"), r_size_range(spec, "obs"), r_double(spec, "old_share")));
    } catch (const std::invalid_argument& e) {
      Rcpp::stop("internal: invalid recognition-memory models: %s", e.what());
    }
  }
  Rcpp::stop("unknown model set type '%s'", type);
}

// A packed batch from R (see R/data.R and packed_batch.h), its offsets
// checked; it holds the R vectors the view points into.
class RPackedBatch {
 public:
  // For a network: two levels (checked before the batch is read) and its
  // number of features.
  RPackedBatch(const Rcpp::List& batch, const NetworkSpec& spec)
      : RPackedBatch(batch, (r_check_levels(spec, 2), spec.config.input_dim)) {}
  // A batch of `input_dim` features per row.
  RPackedBatch(const Rcpp::List& batch, int input_dim)
      : values_(batch["values"]),
        mask_(batch["mask"]),
        groups_(r_ints(batch, "group_offsets")),
        sets_(r_ints(batch, "dataset_offsets")) {
    if (batch.containsElementNamed("present") && !Rf_isNull(batch["present"])) {
      present_ = Rcpp::LogicalVector(batch["present"]);
      if (present_.size() != values_.size()) {
        Rcpp::stop("internal: present must have one entry per value");
      }
      view_.present = present_.begin();
    }
    const int dim = r_int(batch, "n_features");
    const int n_rows = mask_.size();
    if (dim != input_dim) {
      Rcpp::stop("internal: the data have %d features but the network expects %d", dim,
                 input_dim);
    }
    if (static_cast<R_xlen_t>(n_rows) * dim != values_.size()) {
      Rcpp::stop("internal: values must have n_rows x n_features entries");
    }
    if (groups_.empty() || groups_.front() != 0 || groups_.back() != n_rows || sets_.empty() ||
        sets_.front() != 0 || sets_.back() != static_cast<int>(groups_.size()) - 1) {
      Rcpp::stop("internal: malformed batch offsets");
    }
    for (size_t g = 1; g < groups_.size(); ++g) {
      if (groups_[g] < groups_[g - 1]) Rcpp::stop("internal: group offsets must not decrease");
    }
    for (size_t b = 1; b < sets_.size(); ++b) {
      if (sets_[b] <= sets_[b - 1]) Rcpp::stop("internal: every data set needs at least one group");
    }
    view_.values = values_.begin();
    view_.mask = mask_.begin();
    view_.group_offsets = groups_.data();
    view_.dataset_offsets = sets_.data();
    view_.n_features = dim;
    view_.n_datasets = static_cast<int>(sets_.size()) - 1;
  }
  const PackedBatch& view() const { return view_; }

 private:
  Rcpp::NumericVector values_;
  Rcpp::LogicalVector mask_, present_;
  std::vector<int> groups_, sets_;
  PackedBatch view_;
};

// missing_values() as the C++ core reads it (missing_spec() in R/missing.R):
// NULL, or list(kind = "share" | "counts", share = c(lo, hi), counts =
// c(mean, sd), features = one logical per feature).
inline MissingSpec r_missing_spec(SEXP missing, int n_features) {
  MissingSpec out;
  if (Rf_isNull(missing)) return out;
  const Rcpp::List m(missing);
  const std::string kind = r_string(m, "kind");
  if (kind == "share") {
    out.kind = MissingSpec::Kind::share;
    const Rcpp::NumericVector share(r_element(m, "share"));
    if (share.size() != 2 || !(share[0] >= 0.0) || !(share[1] >= share[0]) || !(share[1] < 1.0)) {
      Rcpp::stop("internal: share must be c(lo, hi) with 0 <= lo <= hi < 1");
    }
    out.share_lo = share[0];
    out.share_hi = share[1];
  } else if (kind == "counts") {
    out.kind = MissingSpec::Kind::counts;
    const Rcpp::NumericVector counts(r_element(m, "counts"));
    if (counts.size() != 2 || !std::isfinite(counts[0]) || !(counts[1] > 0.0) ||
        !std::isfinite(counts[1])) {
      Rcpp::stop("internal: counts must be c(mean, sd) with sd > 0");
    }
    out.count_mean = counts[0];
    out.count_sd = counts[1];
  } else if (kind != "none") {
    Rcpp::stop("internal: unknown kind of missing values '%s'", kind);
  }
  const std::vector<char> features = r_flags(m, "features");
  if (static_cast<int>(features.size()) != n_features) {
    Rcpp::stop("internal: features must have one flag per feature");
  }
  out.features.assign(features.begin(), features.end());
  return out;
}

// Every data set of a packed batch, unpacked.
template <class T>
std::vector<Dataset<T>> r_datasets(const Rcpp::List& batch, const NetworkSpec& spec) {
  const RPackedBatch packed(batch, spec);
  std::vector<Dataset<T>> out(packed.view().n_datasets);
  for (size_t b = 0; b < out.size(); ++b) {
    if (!unpack_dataset(packed.view(), static_cast<int>(b), out[b])) {
      Rcpp::stop("internal: observed values must be finite");
    }
  }
  return out;
}

}  // namespace deepbmc
