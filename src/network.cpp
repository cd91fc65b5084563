#include "network.h"

#include <cmath>
#include <stdexcept>

#include "loss.h"

namespace deepbmc {

template <class T>
Network<T>::Network(const NetworkSpec& spec, const T* params)
    : spec_(spec), dense_(spec.all_dense()) {
  if (params != nullptr) set_params(params);
}

template <class T>
void Network<T>::set_params(const T* params) {
  params_.value = params;
  if (!is_float<T>) return;
  transposed_.resize(spec_.n_params);
  for (const DenseSpec& d : dense_) {
    MatrixMap<T>(transposed_.data() + d.w, d.out, d.in) = weight(params_, d).transpose();
  }
  params_.transposed = transposed_.data();
}

template <class T>
Partition Network<T>::partition(const Dataset<T>& data, const Workspace<T>& ws, int level) const {
  Partition part;
  part.offsets = data.offsets[level].data();
  part.n_sets = static_cast<int>(data.offsets[level].size()) - 1;
  part.mask = level == 0 ? data.mask.data() : ws.set_masks[level - 1].data();
  part.counts = ws.counts[level].data();
  return part;
}

template <class T>
void Network<T>::forward(const Dataset<T>& data, Workspace<T>& ws, bool training,
                         double* logits) const {
  const int n_levels = spec_.n_levels();
  const Activation act = spec_.config.activation;
  if (data.levels() != n_levels || data.dim != spec_.config.input_dim) {
    throw std::invalid_argument("the data's levels or features do not match the network");
  }
  ws.levels.resize(n_levels);
  ws.counts.resize(n_levels);
  ws.set_masks.resize(n_levels);

  ws.input.shape(data.rows(), spec_.coded_input_dim(), training);
  if (spec_.standardized()) standardize_forward(ws.z, ws.stats, data);
  input_coding_forward(ws.input.val, data, spec_.standardized() ? ws.z : data.x, spec_,
                       ws.feature_means, ws.feature_counts);

  const Node<T>* elements = &ws.input;
  const uint8_t* mask = data.mask.data();
  for (int k = 0; k < n_levels; ++k) {
    const std::vector<int>& offsets = data.offsets[k];
    const int n_sets = static_cast<int>(offsets.size()) - 1;
    ws.counts[k].resize(n_sets);
    ws.set_masks[k].resize(n_sets);
    for (int s = 0; s < n_sets; ++s) {
      int count = 0;
      for (int r = offsets[s]; r < offsets[s + 1]; ++r) count += mask[r];
      ws.counts[k][s] = count;
      ws.set_masks[k][s] = count > 0;
    }
    const Partition part = partition(data, ws, k);
    elements = &level_forward(ws.levels[k], *elements, spec_.levels[k], params_, part, act,
                              training);
    mask = ws.set_masks[k].data();
  }

  // Head input: the single top-level summary, then sqrt(mean present set size)
  // per level (sqrt of observations per group, sqrt of groups), as the paper's
  // "direct conditions".
  const int summary_dim = spec_.config.summary_dim.back();
  ws.head_input.shape(1, spec_.head_input_dim(), training);
  auto h0 = ws.head_input.val.mat();
  h0.leftCols(summary_dim) = elements->val.mat().row(0);
  for (int k = 0; k < n_levels; ++k) {
    double present = 0.0, total = 0.0;
    for (int count : ws.counts[k]) {
      present += count > 0;
      total += count;
    }
    // The Laplace form keeps every size dependence explicit: its head sees 0.
    h0(0, summary_dim + k) =
        static_cast<T>(present > 0 && !spec_.laplace() ? std::sqrt(total / present) : 0.0);
  }
  // standardize = dataset: squash(c_j) for every feature, then log s_j.
  if (spec_.standardized()) {
    const int dim = spec_.config.input_dim, at = summary_dim + n_levels;
    for (int j = 0; j < dim; ++j) {
      h0(0, at + j) = static_cast<T>(squash_centre(ws.stats.centre[j]));
      h0(0, at + dim + j) = static_cast<T>(std::log(ws.stats.scale[j]));
    }
  }
  if (spec_.has_statistics()) {
    const int at = summary_dim + n_levels + spec_.n_scale_inputs();
    ws.statistics.resize(spec_.n_statistics_inputs());
    least_squares_forward(data, spec_.statistics_joint_terms, spec_.config.statistics_version,
                          ws.statistics_scratch,
                          ws.statistics.data());
    for (int j = 0; j < spec_.n_statistics_inputs(); ++j) {
      h0(0, at + j) = static_cast<T>(ws.statistics[j]);
    }
  }

  ws.head.resize(spec_.head.size());
  const Node<T>* h = &ws.head_input;
  for (size_t i = 0; i < spec_.head.size(); ++i) {
    dense_forward(ws.head[i], *h, params_, spec_.head[i], act, training);
    h = &ws.head[i];
  }
  dense_forward(ws.logits, *h, params_, spec_.logits, Activation::linear, training);
  if (spec_.separate_rates()) {
    dense_forward(ws.rates, *elements, params_, spec_.rates, Activation::linear, training);
  }
  head_output_forward(ws, logits);
}

// head_output_forward
//   raw (1 x head_outputs), rates g (n_models x n_levels, level-major: the
//   head's outputs after the first n_models, or the summary's rate layer,
//   followed there by a of the same shape for the Laplace form)
//   -> pre (n_models): pre_k = raw_k + sum_l f_l g[n_models l + k]
//   (+ log(f_l) a[n_models l + k]) with f_l = size_factors[l];
//   logits (n_models) = pre, or lpop(pre).
template <class T>
void Network<T>::head_output_forward(Workspace<T>& ws, double* logits) const {
  const int k = spec_.config.n_models;
  const int n_levels = spec_.n_levels();
  const T* raw = ws.logits.val.data.data();
  const T* rate = spec_.separate_rates() ? ws.rates.val.data.data() : raw + k;
  ws.size_factors.assign(spec_.size_scaled() ? n_levels : 0, 0.0);
  for (size_t l = 0; l < ws.size_factors.size(); ++l) {
    double present = 0.0;
    for (int count : ws.counts[l]) present += count;
    // at least one present element per level (an all-missing data set is
    // never predicted), so log(f) stays finite
    ws.size_factors[l] = std::max(present, 1.0) / spec_.config.size_reference[l];
  }
  const T* log_rate = rate + k * n_levels;
  ws.pre_transform.resize(k);
  for (int j = 0; j < k; ++j) {
    double pre = raw[j];
    for (size_t l = 0; l < ws.size_factors.size(); ++l) {
      pre += ws.size_factors[l] * rate[k * l + j];
      if (spec_.laplace()) pre += std::log(ws.size_factors[l]) * log_rate[k * l + j];
    }
    ws.pre_transform[j] = pre;
    logits[j] = spec_.config.output == OutputTransform::lpop
                    ? lpop_forward(pre, spec_.config.output_power)
                    : pre;
  }
}

// head_output_backward
//   dlogits (n_models) -> raw.grad (1 x head_outputs), rate grads: dpre_k =
//   dlogits_k * lpop'(pre_k) (or dlogits_k), raw.grad[k] = dpre_k,
//   dg[n_models l + k] = f_l dpre_k, da[n_models l + k] = log(f_l) dpre_k.
template <class T>
void Network<T>::head_output_backward(Workspace<T>& ws, const double* dlogits) const {
  const int k = spec_.config.n_models;
  T* raw_grad = ws.logits.grad.data.data();
  const int n_levels = spec_.n_levels();
  T* rate_grad = spec_.separate_rates() ? ws.rates.grad.data.data() : raw_grad + k;
  for (int j = 0; j < k; ++j) {
    const double dpre = spec_.config.output == OutputTransform::lpop
                            ? dlogits[j] * lpop_grad(ws.pre_transform[j], spec_.config.output_power)
                            : dlogits[j];
    raw_grad[j] = static_cast<T>(dpre);
    for (size_t l = 0; l < ws.size_factors.size(); ++l) {
      rate_grad[k * l + j] = static_cast<T>(ws.size_factors[l] * dpre);
      if (spec_.laplace()) {
        rate_grad[k * (n_levels + l) + j] = static_cast<T>(std::log(ws.size_factors[l]) * dpre);
      }
    }
  }
}

template <class T>
void Network<T>::backward(const Dataset<T>& data, Workspace<T>& ws, const double* dlogits,
                          T* grads, bool input_grad) const {
  const int n_levels = spec_.n_levels();
  const Activation act = spec_.config.activation;
  if (input_grad && spec_.has_statistics()) {
    throw std::invalid_argument("input gradients do not pass through the network's statistics");
  }
  head_output_backward(ws, dlogits);

  const size_t n_head = spec_.head.size();
  dense_backward(n_head == 0 ? ws.head_input : ws.head[n_head - 1], ws.logits, params_, grads,
                 spec_.logits, Activation::linear);
  for (size_t i = n_head; i-- > 0;) {
    Node<T>& inp = i == 0 ? ws.head_input : ws.head[i - 1];
    dense_backward(inp, ws.head[i], params_, grads, spec_.head[i], act);
  }
  const int summary_dim = spec_.config.summary_dim.back();
  ws.levels[n_levels - 1].summary.grad.mat().row(0) +=
      ws.head_input.grad.mat().leftCols(summary_dim);
  if (spec_.separate_rates()) {
    dense_backward(ws.levels[n_levels - 1].summary, ws.rates, params_, grads, spec_.rates,
                   Activation::linear);
  }

  for (int k = n_levels; k-- > 0;) {
    Node<T>& elements = k == 0 ? ws.input : ws.levels[k - 1].summary;
    level_backward(ws.levels[k], elements, spec_.levels[k], params_, grads,
                   partition(data, ws, k), act, k > 0 || input_grad);
  }
  if (!input_grad) return;
  if (!spec_.standardized()) {
    input_coding_backward(ws.x_grad, ws.input.grad, data, spec_, ws.feature_counts);
    return;
  }
  // Through the standardisation: d loss / d z from the input coding, and the
  // head's gradients w.r.t. its scale inputs, d/dc through the squashing.
  input_coding_backward(ws.z_grad, ws.input.grad, data, spec_, ws.feature_counts);
  const int dim = spec_.config.input_dim, at = summary_dim + n_levels;
  ws.centre_grad.resize(dim);
  ws.log_scale_grad.resize(dim);
  for (int j = 0; j < dim; ++j) {
    ws.centre_grad[j] = static_cast<double>(ws.head_input.grad.data[at + j]) *
                        squash_centre_grad(ws.stats.centre[j]);
    ws.log_scale_grad[j] = static_cast<double>(ws.head_input.grad.data[at + dim + j]);
  }
  standardize_backward(ws.x_grad, ws.z_grad, ws.z, ws.stats, ws.centre_grad, ws.log_scale_grad,
                       data);
}

template class Network<float>;
template class Network<double>;

}  // namespace deepbmc
