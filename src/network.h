// The hierarchical invariant network: one DeepSet level per hierarchy level
// (observations within groups, then groups), then the PMP head on the top
// summary and the data-set sizes. Works on one data set at a time; the trainer
// runs many in parallel, each with its own Workspace.
#pragma once
#include <vector>

#include "dataset.h"
#include "deepset.h"
#include "input_coding.h"
#include "least_squares.h"
#include "network_spec.h"
#include "standardize.h"

namespace deepbmc {

template <class T>
struct Workspace {
  Node<T> input;  // level-1 elements: observations, coded (rows x coded_input_dim)
  Tensor<T> x_grad;  // d loss / d data.x (rows x dim), with backward's input_grad
  // standardize = dataset: the z-scores the input coding reads (rows x dim),
  // the data set's statistics, and d loss / d z (rows x dim, input_grad only)
  std::vector<T> z;
  Standardization stats;
  Tensor<T> z_grad;
  std::vector<double> centre_grad, log_scale_grad;
  std::vector<double> feature_means;  // group-mean placeholders (input_coding.h)
  std::vector<int> feature_counts;
  std::vector<LevelCache<T>> levels;
  std::vector<std::vector<int>> counts;         // per level: present elements per set
  std::vector<std::vector<uint8_t>> set_masks;  // per level: set has a present element
  // statistics = least_squares: the data set's statistics and their buffers
  std::vector<double> statistics;
  LeastSquaresScratch statistics_scratch;
  Node<T> head_input;  // (1 x head_input_dim): summary, sizes, scale inputs, statistics
  std::vector<Node<T>> head;
  Node<T> logits;  // raw head output (1 x spec.head_outputs())
  Node<T> rates;   // (1 x n_models * n_levels) with rates from the summary
  std::vector<double> size_factors;  // per level: n_l / size_reference[l] (size-scaled head)
  std::vector<double> pre_transform;  // (n_models) logits before the output transform
};

template <class T>
class Network {
 public:
  // Keeps a pointer to params (null: set later with set_params); float
  // networks also keep every weight matrix transposed, for the vectorized
  // input-gradient kernel.
  Network(const NetworkSpec& spec, const T* params);

  // Points the network at new parameter values (after an optimizer step),
  // reusing the transposed copy's storage.
  void set_params(const T* params);

  // forward: data -> logits (n_models, double). training keeps zeroed
  // gradient buffers for a following backward().
  void forward(const Dataset<T>& data, Workspace<T>& ws, bool training, double* logits) const;

  // backward: dlogits (n_models) -> adds d loss / d params into grads; with
  // input_grad also fills ws.input.grad and ws.x_grad, the gradient with
  // respect to data.x through the input coding (used by gradient checks);
  // not for a network with statistics, whose gradient with respect to the
  // data would need the statistics' own (std::invalid_argument).
  void backward(const Dataset<T>& data, Workspace<T>& ws, const double* dlogits, T* grads,
                bool input_grad = false) const;

  const NetworkSpec& spec() const { return spec_; }

 private:
  Partition partition(const Dataset<T>& data, const Workspace<T>& ws, int level) const;
  void head_output_forward(Workspace<T>& ws, double* logits) const;
  void head_output_backward(Workspace<T>& ws, const double* dlogits) const;
  const NetworkSpec& spec_;
  std::vector<DenseSpec> dense_;  // every dense layer, for the transposition
  std::vector<T> transposed_;
  Weights<T> params_;
};

}  // namespace deepbmc
