// How the observations' values become the first layer's input when values can
// be missing within an observed row (Dataset::present; MissingCoding in
// network_spec.h). No parameters; a forward/backward pair so that input
// gradients (the gradient checks) pass through it.
//
// Rows with mask 0 are absent: pooling skips them whatever their input holds,
// so their input rows are written as 0.
#pragma once
#include <cmath>
#include <stdexcept>
#include <vector>

#include "dataset.h"
#include "network_spec.h"
#include "tensor.h"

namespace deepbmc {

// Per group of data and feature j, the mean of the observed values of j (0 if
// none), and their number: the placeholder "group_mean" (n_groups x dim each).
// x: the values read (data.x, or its standardised copy, standardize.h).
template <class T>
void group_feature_means(const Dataset<T>& data, const std::vector<T>& x,
                         std::vector<double>& mean, std::vector<int>& count) {
  const int dim = data.dim;
  const std::vector<int>& groups = data.offsets[0];
  const int n_groups = static_cast<int>(groups.size()) - 1;
  mean.assign(static_cast<size_t>(n_groups) * dim, 0.0);
  count.assign(mean.size(), 0);
  for (int g = 0; g < n_groups; ++g) {
    for (int r = groups[g]; r < groups[g + 1]; ++r) {
      if (!data.mask[r]) continue;
      for (int j = 0; j < dim; ++j) {
        if (!data.value_present(r, j)) continue;
        mean[static_cast<size_t>(g) * dim + j] += x[static_cast<size_t>(r) * dim + j];
        count[static_cast<size_t>(g) * dim + j] += 1;
      }
    }
    for (int j = 0; j < dim; ++j) {
      const size_t i = static_cast<size_t>(g) * dim + j;
      if (count[i] > 0) mean[i] /= count[i];
    }
  }
}

// input_coding_forward
//   x (rows x D), mask (rows), present (rows x D or empty)  ->  input:
//   none / one feature: (rows x D) = x
//   indicator:          (rows x 2D) = [x * p, p], p = present (1 where empty)
//   placeholder:        (rows x D) = x where present, else placeholder[j], or
//                       the group's mean of observed values of j if NaN
// coding none with a row lacking some but not all values is an error: the
// network would read the missing value as 0 (R drops such rows first).
// x_in is data.x, or its standardised copy (standardize.h; the placeholders are
// then written as they are, in the standardised scale: 0 is the data set's
// mean, and the group mean is that of the standardised values).
template <class T>
void input_coding_forward(Tensor<T>& input, const Dataset<T>& data, const std::vector<T>& x_in,
                          const NetworkSpec& spec, std::vector<double>& means,
                          std::vector<int>& counts) {
  const int rows = data.rows(), dim = data.dim;
  if (spec.indicator_coding()) {
    const int width = 2 * dim;
    for (int r = 0; r < rows; ++r) {
      T* out = input.data.data() + static_cast<size_t>(r) * width;
      const T* x = x_in.data() + static_cast<size_t>(r) * dim;
      for (int j = 0; j < dim; ++j) {
        const T p = data.mask[r] && data.value_present(r, j) ? T(1) : T(0);
        out[j] = x[j] * p;
        out[dim + j] = p;
      }
    }
    return;
  }
  std::copy(x_in.begin(), x_in.begin() + static_cast<size_t>(rows) * dim, input.data.begin());
  if (data.present.empty() || dim == 1) return;
  if (!spec.placeholder_coding()) {
    for (int r = 0; r < rows; ++r) {
      if (!data.mask[r]) continue;
      for (int j = 0; j < dim; ++j) {
        if (!data.value_present(r, j)) {
          throw std::invalid_argument(
              "values missing within an observation need a network trained with missing-data "
              "coding");
        }
      }
    }
    return;
  }
  const std::vector<double>& placeholder = spec.config.placeholder;
  bool uses_means = false;
  for (double p : placeholder) uses_means = uses_means || std::isnan(p);
  if (uses_means) group_feature_means(data, x_in, means, counts);
  const std::vector<int>& groups = data.offsets[0];
  for (int g = 0; g + 1 < static_cast<int>(groups.size()); ++g) {
    for (int r = groups[g]; r < groups[g + 1]; ++r) {
      if (!data.mask[r]) continue;
      for (int j = 0; j < dim; ++j) {
        if (data.value_present(r, j)) continue;
        input.data[static_cast<size_t>(r) * dim + j] = static_cast<T>(
            std::isnan(placeholder[j]) ? means[static_cast<size_t>(g) * dim + j] : placeholder[j]);
      }
    }
  }
}

// input_coding_backward
//   dinput (rows x coded width) -> dx (rows x D):
//   none: dx = dinput; indicator: dx[r, j] = dinput[r, j] p[r, j];
//   placeholder: dx[r, j] = dinput[r, j] for present values, 0 for missing
//   ones, plus for a group-mean placeholder dinput[m, j] / count(g, j) for
//   every missing value m of the group, on each observed value of j.
template <class T>
void input_coding_backward(Tensor<T>& dx, const Tensor<T>& dinput, const Dataset<T>& data,
                           const NetworkSpec& spec, const std::vector<int>& counts) {
  const int rows = data.rows(), dim = data.dim;
  dx.shape(rows, dim);
  if (spec.indicator_coding()) {
    for (int r = 0; r < rows; ++r) {
      for (int j = 0; j < dim; ++j) {
        const bool p = data.mask[r] && data.value_present(r, j);
        dx.data[static_cast<size_t>(r) * dim + j] =
            p ? dinput.data[static_cast<size_t>(r) * 2 * dim + j] : T(0);
      }
    }
    return;
  }
  std::copy(dinput.data.begin(), dinput.data.begin() + dx.size(), dx.data.begin());
  if (data.present.empty() || dim == 1 || !spec.placeholder_coding()) return;
  const std::vector<double>& placeholder = spec.config.placeholder;
  const std::vector<int>& groups = data.offsets[0];
  for (int g = 0; g + 1 < static_cast<int>(groups.size()); ++g) {
    for (int j = 0; j < dim; ++j) {
      T missing_grad = T(0);
      for (int r = groups[g]; r < groups[g + 1]; ++r) {
        if (data.mask[r] && !data.value_present(r, j)) {
          missing_grad += dinput.data[static_cast<size_t>(r) * dim + j];
          dx.data[static_cast<size_t>(r) * dim + j] = T(0);
        }
      }
      if (!std::isnan(placeholder[j])) continue;
      const int count = counts[static_cast<size_t>(g) * dim + j];
      if (count == 0) continue;
      for (int r = groups[g]; r < groups[g + 1]; ++r) {
        if (data.mask[r] && data.value_present(r, j)) {
          dx.data[static_cast<size_t>(r) * dim + j] += missing_grad / T(count);
        }
      }
    }
  }
}

}  // namespace deepbmc
