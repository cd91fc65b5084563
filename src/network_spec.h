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

// How an invariant module pools its per-element vectors h_i (width d = s1)
// over a set, one choice per level (hierarchical_network(pooling =), the
// registry pooling_methods in R/pooling.R; pooling_names() below gives the
// names in enum order and test-pooling.R checks that both agree):
//   mean      mean_i h_i (width d), every fit before issue 29;
//   mean_cov  [mean_i h_i, mean_i (u_i[0:d] * u_i[d:2d])] (width 2d) with
//             u_i = h_i P + c a learned affine projection (P d x 2d): a
//             low-rank second moment (set_mean_cov_forward() in layers.h);
//   mean_logvar  [mean_i h_i, log(eps + var_i(h_i Q))] (width 2d), Q d x d
//             learned: log variances of d learned directions
//             (set_mean_logvar_forward() in layers.h).
enum class Pooling { mean = 0, mean_cov = 1, mean_logvar = 2 };

// The registry's names, in enum order.
inline std::vector<std::string> pooling_names() { return {"mean", "mean_cov", "mean_logvar"}; }

// InvariantModule(x) = s2(pool over the set(s1(x))). Each dense stack is
// named after its width in hierarchical_network() (BayesFlow's s1, s2, s3), so
// one name means one stack in R and C++.
struct InvariantSpec {
  std::vector<DenseSpec> s1;  // per element, before pooling (width s1)
  std::vector<DenseSpec> s2;  // per set, after pooling (width s2)
  Pooling pooling = Pooling::mean;
  // mean_cov: s1 -> 2 s1, the affine projection u; mean_logvar: s1 -> s1
  // (its bias cancels in the variance and is not used)
  DenseSpec projection;
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

// How the head's outputs become logits (see loss.h): as they are, or through
// the leaky parity-odd power transform o + o |o|^(output_power - 1).
enum class OutputTransform { linear = 0, lpop = 1 };
enum class RateSource { head = 0, summary = 1, laplace = 2 };

// How the network sees values missing within an observed row (see
// input_coding.h): not at all (none: the row must be complete; R drops
// incomplete rows of such fits with a warning), through a presence
// indicator per feature next to the value (indicator), or as a placeholder
// (placeholder: the paper's coding, for comparison). With one feature a
// value is present exactly when its row is, so every coding is the plain
// input and a missing value is an absent row.
enum class MissingCoding { none = 0, indicator = 1, placeholder = 2 };

// Whether each data set's features are standardised before the input coding
// (standardize.h): not (none, every fit before issue 29), or by the mean and
// SD of the data set's observed values (dataset), whose squashed centre and
// log scale then go to the head as 2 * input_dim extra inputs.
enum class Standardize { none = 0, dataset = 1 };

// Fixed statistics of each data set fed to the head beside the learned
// summaries (least_squares.h): none (every fit before issue 29), or the
// least-squares statistics of the response (feature 0) on the covariates.
enum class Statistics { none = 0, least_squares = 1 };

struct NetworkConfig {
  int input_dim = 1;
  int n_models = 2;
  Activation activation = Activation::elu;
  std::vector<int> s1, s2, s3, summary_dim;  // one entry per level, innermost first
  int n_dense = 2;
  int n_equivariant = 2;
  int head_units = 64;
  int head_layers = 3;
  OutputTransform output = OutputTransform::linear;
  double output_power = 2.0;
  // Size-scaled head when not empty (one entry per level): the linear layer
  // gives n_models * (1 + n_levels) outputs, and
  //   logit_k = c_k + sum over levels l of (n_l / size_reference[l]) g_{k,l}
  // with n_l the present elements of level l in the data set (observations,
  // groups). Log Bayes factors grow about linearly with the amount of data
  // at a fixed effect, so the rates g are intensive quantities the head can
  // learn on small data sets, where labels are informative.
  std::vector<double> size_reference;
  // Where the rates g come from: extra outputs of the head's last layer
  // (head), or a linear layer on the top summary alone (summary), which does
  // not see the sizes, so the rates stay intensive by construction. laplace:
  // the form of a Laplace (BIC) expansion of each log evidence,
  //   logit_k = c_k + sum_l (f_l g_{k,l} + log(f_l) a_{k,l}),  f_l = n_l / reference_l,
  // with c from a head that does not see the sizes and g, a linear in the
  // summary, so that all dependence on the sizes is in this explicit form.
  RateSource rates = RateSource::head;
  MissingCoding missing_coding = MissingCoding::none;
  // placeholder coding: the value written for a missing value of each
  // feature (input_dim entries); NaN means the mean of the observed values of
  // that feature in the row's group (0 when the group has none).
  std::vector<double> placeholder;
  Standardize standardize = Standardize::none;
  // One pooling per level (innermost first); empty: mean at every level, as
  // every fit before issue 29.
  std::vector<Pooling> pooling;
  Statistics statistics = Statistics::none;
  // statistics = least_squares: the model term of each covariate (features
  // 1..input_dim-1, ids from 0), so that a term with several columns gets a
  // joint statistic (least_squares.h, block D); empty: every covariate its
  // own term, as every fit before the joint statistics.
  std::vector<int> statistics_terms;
  // The layout of the least-squares statistics (least_squares.h): 1 (blocks
  // A-C, fits before the joint, mixed-model and corrected statistics) or 2.
  int statistics_version = 1;
};

struct NetworkSpec {
  NetworkConfig config;
  std::vector<LevelSpec> levels;
  // the covariates of each term with several (least_squares_joint_terms())
  std::vector<std::vector<int>> statistics_joint_terms;
  std::vector<DenseSpec> head;  // dense layers with the activation
  DenseSpec logits;             // linear, to head_outputs()
  DenseSpec rates;              // linear, summary -> n_rates() (separate_rates() only)
  size_t n_params = 0;

  int n_levels() const { return static_cast<int>(levels.size()); }
  // Indicator coding applies from two features on (see MissingCoding).
  bool indicator_coding() const {
    return config.missing_coding == MissingCoding::indicator && config.input_dim > 1;
  }
  bool placeholder_coding() const {
    return config.missing_coding == MissingCoding::placeholder && config.input_dim > 1;
  }
  // Width of the first layer's input: [x * present, present] for indicator coding.
  int coded_input_dim() const { return config.input_dim * (indicator_coding() ? 2 : 1); }
  bool standardized() const { return config.standardize == Standardize::dataset; }
  // Extra head inputs of a standardised network: squashed centre, then log
  // scale, one per feature each (standardize.h).
  int n_scale_inputs() const { return standardized() ? 2 * config.input_dim : 0; }
  bool has_statistics() const { return config.statistics != Statistics::none; }
  // Extra head inputs of the fixed statistics (least_squares.h).
  int n_statistics_inputs() const;
  // Head input: the top summary, sqrt(mean set size) for every level, the
  // scale inputs, then the statistics.
  int head_input_dim() const {
    return config.summary_dim.back() + n_levels() + n_scale_inputs() + n_statistics_inputs();
  }
  bool size_scaled() const { return !config.size_reference.empty(); }
  bool separate_rates() const { return size_scaled() && config.rates != RateSource::head; }
  bool laplace() const { return size_scaled() && config.rates == RateSource::laplace; }
  // Rates per model and level: g, and for the Laplace form also a.
  int n_rates() const { return config.n_models * n_levels() * (laplace() ? 2 : 1); }
  // Outputs of the final linear layer: c (n_models), then g (n_models per
  // level) if size scaled with rates from the head.
  int head_outputs() const {
    return config.n_models * (1 + (size_scaled() && !separate_rates() ? n_levels() : 0));
  }
  std::vector<DenseSpec> all_dense() const;
};

// Throws std::invalid_argument with a readable message on impossible sizes.
NetworkSpec build_network_spec(const NetworkConfig& config);

// Glorot-normal weights (Keras' truncated form), zero biases.
template <class T>
void init_glorot_normal(const NetworkSpec& spec, uint64_t seed, T* params);

}  // namespace deepbmc
