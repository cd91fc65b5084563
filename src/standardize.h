// Per-data-set standardisation of the features (NetworkConfig::standardize =
// dataset, issue 29): before the input coding, every feature j of a data set
// is replaced by its z-score over the data set's observed values (mask 1 and
// present, all groups together), and the removed centre and log scale go to
// the head (network.cpp), so no information is lost: the DeepSets see the
// shape of the data, the head also sees where it lies and how wide it is.
// No parameters; a forward/backward pair (the layout of layers.h) so that
// input gradients (the gradient checks) pass through it.
//
// Statistics in double whatever T is. The scale is the population SD (divide
// by n, as batch normalisation does). A feature whose SD is at most
// standardize_tiny(c) = 1e-6 (1 + |c|) varies by no more than a few float
// rounding steps (float data hold 24 bits, 6e-8 relative): it is treated as
// constant, with scale 1 (log scale 0), so z = x - c, about 0; likewise a
// feature with fewer than two observed values. A floor max(sd, tiny) would
// instead feed the head log(1e-6) for a constant covariate and magnify its
// rounding noise a millionfold.
#pragma once
#include <cmath>
#include <vector>

#include "dataset.h"
#include "tensor.h"

namespace deepbmc {

// The statistics of one data set, dim entries each.
struct Standardization {
  std::vector<double> centre;     // c_j: mean of the observed values (0 if none)
  std::vector<double> scale;      // s_j: SD, or 1 for a constant feature
  std::vector<uint8_t> varies;    // s_j is the SD (depends on x), not the fixed 1
  std::vector<int> count;         // n_j: observed values
};

inline double standardize_tiny(double centre) { return 1e-6 * (1.0 + std::fabs(centre)); }

// The squashing of the centre for the head: sign(c) log1p(|c|), odd, monotone,
// about c near 0 and logarithmic for the wide locations of prior predictives.
// The log scale goes to the head as it is (already logarithmic).
inline double squash_centre(double c) { return std::copysign(std::log1p(std::fabs(c)), c); }
inline double squash_centre_grad(double c) { return 1.0 / (1.0 + std::fabs(c)); }

// standardize_forward
//   x (rows x D), mask (rows), present (rows x D or empty) -> z (rows x D):
//   z[r, j] = (x[r, j] - c_j) / s_j for observed values, 0 elsewhere (absent
//   rows and missing values, which the input coding and pooling never read
//   from z), and st: c, s, n (D each).
template <class T>
void standardize_forward(std::vector<T>& z, Standardization& st, const Dataset<T>& data) {
  const int rows = data.rows(), dim = data.dim;
  st.centre.assign(dim, 0.0);
  st.scale.assign(dim, 1.0);
  st.varies.assign(dim, 0);
  st.count.assign(dim, 0);
  for (int r = 0; r < rows; ++r) {
    if (!data.mask[r]) continue;
    for (int j = 0; j < dim; ++j) {
      if (!data.value_present(r, j)) continue;
      st.centre[j] += static_cast<double>(data.x[static_cast<size_t>(r) * dim + j]);
      st.count[j] += 1;
    }
  }
  for (int j = 0; j < dim; ++j) {
    if (st.count[j] > 0) st.centre[j] /= st.count[j];
  }
  std::vector<double>& ss = st.scale;  // sums of squares first
  std::fill(ss.begin(), ss.end(), 0.0);
  for (int r = 0; r < rows; ++r) {
    if (!data.mask[r]) continue;
    for (int j = 0; j < dim; ++j) {
      if (!data.value_present(r, j)) continue;
      const double d = static_cast<double>(data.x[static_cast<size_t>(r) * dim + j]) - st.centre[j];
      ss[j] += d * d;
    }
  }
  for (int j = 0; j < dim; ++j) {
    const double sd = st.count[j] > 1 ? std::sqrt(ss[j] / st.count[j]) : 0.0;
    st.varies[j] = sd > standardize_tiny(st.centre[j]);
    st.scale[j] = st.varies[j] ? sd : 1.0;
  }
  z.assign(static_cast<size_t>(rows) * dim, T(0));
  for (int r = 0; r < rows; ++r) {
    if (!data.mask[r]) continue;
    for (int j = 0; j < dim; ++j) {
      if (!data.value_present(r, j)) continue;
      const size_t i = static_cast<size_t>(r) * dim + j;
      z[i] = static_cast<T>((static_cast<double>(data.x[i]) - st.centre[j]) / st.scale[j]);
    }
  }
}

// standardize_backward
//   dz (rows x D), dc (D: d loss / d c_j), dlogs (D: d loss / d log s_j)
//   -> dx (rows x D), overwritten. Over the n observed values of feature j,
//   with g = dz, mean_g and mean_gz their means:
//     varying:  dx_r = (g_r - mean_g - z_r mean_gz) / s + dc / n + dlogs z_r / (n s)
//     constant: dx_r = g_r - mean_g + dc / n          (s = 1 does not depend on x)
//   and 0 for absent rows and missing values. (d c / d x_r = 1/n,
//   d s / d x_r = (x_r - c) / (n s); the c-terms of d s cancel.)
template <class T>
void standardize_backward(Tensor<T>& dx, const Tensor<T>& dz, const std::vector<T>& z,
                          const Standardization& st, const std::vector<double>& dc,
                          const std::vector<double>& dlogs, const Dataset<T>& data) {
  const int rows = data.rows(), dim = data.dim;
  dx.shape(rows, dim);
  std::vector<double> mean_g(dim, 0.0), mean_gz(dim, 0.0);
  for (int r = 0; r < rows; ++r) {
    if (!data.mask[r]) continue;
    for (int j = 0; j < dim; ++j) {
      if (!data.value_present(r, j)) continue;
      const size_t i = static_cast<size_t>(r) * dim + j;
      mean_g[j] += static_cast<double>(dz.data[i]);
      mean_gz[j] += static_cast<double>(dz.data[i]) * static_cast<double>(z[i]);
    }
  }
  for (int j = 0; j < dim; ++j) {
    if (st.count[j] == 0) continue;
    mean_g[j] /= st.count[j];
    mean_gz[j] /= st.count[j];
  }
  for (int r = 0; r < rows; ++r) {
    for (int j = 0; j < dim; ++j) {
      const size_t i = static_cast<size_t>(r) * dim + j;
      if (!data.mask[r] || !data.value_present(r, j)) {
        dx.data[i] = T(0);
        continue;
      }
      const double n = st.count[j], s = st.scale[j];
      const double g = dz.data[i], zi = z[i];
      double d = dc[j] / n;
      if (st.varies[j]) {
        d += (g - mean_g[j] - zi * mean_gz[j]) / s + dlogs[j] * zi / (n * s);
      } else {
        d += g - mean_g[j];
      }
      dx.data[i] = static_cast<T>(d);
    }
  }
}

}  // namespace deepbmc
