// Batches of data sets as R hands them over, as views of R's memory, so that
// each data set can be unpacked on the thread that evaluates it instead of
// all of them up front on one thread:
// - PackedBatch (R/data.R): observation rows of n_features doubles,
//   row-major, data set after data set; a row mask; group offsets over rows
//   and data-set offsets over groups. Any data set shape, missing values.
// - MatrixBatch: one column-major matrix per data set, groups in rows and
//   observations in columns, every value observed (the common balanced form,
//   passed without any packing).
#pragma once
#include <cmath>
#include <cstddef>
#include <vector>

#include "dataset.h"

namespace deepbmc {

struct PackedBatch {
  const double* values = nullptr;        // n_rows x n_features, row-major
  const int* mask = nullptr;             // n_rows; 1 = observed (an R logical)
  // Optional per-value presence (n_rows x n_features, row-major, R logicals;
  // null: every value of an observed row is present). A row is observed when
  // its mask is 1 and at least one of its values is present.
  const int* present = nullptr;
  const int* group_offsets = nullptr;    // n_groups + 1 row offsets, from 0
  const int* dataset_offsets = nullptr;  // n_datasets + 1 group offsets, from 0
  int n_features = 0;
  int n_datasets = 0;
};

// Copies data set b of the batch into `out`, reusing its capacity. Unobserved
// values become 0 so that they cannot leak NaN. Returns false when an observed
// value is not finite as a T: NaN, infinite, or (for float) beyond the float
// range, which a cast would turn into an infinity (out is then incomplete).
template <class T>
bool unpack_dataset(const PackedBatch& batch, int b, Dataset<T>& out) {
  const int dim = batch.n_features;
  const int g0 = batch.dataset_offsets[b], g1 = batch.dataset_offsets[b + 1];
  const int r0 = batch.group_offsets[g0], r1 = batch.group_offsets[g1];
  out.dim = dim;
  out.x.resize(static_cast<size_t>(r1 - r0) * dim);
  out.mask.resize(r1 - r0);
  out.source_row.clear();
  out.present.clear();
  bool finite = true;
  bool partial = false;  // some observed row lacks a value
  for (int r = r0; r < r1; ++r) {
    bool observed = batch.mask[r] == 1;
    const int* p = batch.present == nullptr ? nullptr : batch.present + static_cast<size_t>(r) * dim;
    if (observed && p != nullptr) {
      int n_present = 0;
      for (int j = 0; j < dim; ++j) n_present += p[j] == 1;
      observed = n_present > 0;
      partial = partial || (observed && n_present < dim);
    }
    out.mask[r - r0] = static_cast<uint8_t>(observed);
    const double* row = batch.values + static_cast<size_t>(r) * dim;
    T* dest = out.x.data() + static_cast<size_t>(r - r0) * dim;
    for (int j = 0; j < dim; ++j) {
      const bool value = observed && (p == nullptr || p[j] == 1);
      dest[j] = value ? static_cast<T>(row[j]) : T(0);
      if (!std::isfinite(dest[j])) finite = false;
    }
  }
  if (partial) {
    out.present.assign(static_cast<size_t>(r1 - r0) * dim, 0);
    for (int r = r0; r < r1; ++r) {
      if (!out.mask[r - r0]) continue;
      for (int j = 0; j < dim; ++j) {
        out.present[static_cast<size_t>(r - r0) * dim + j] =
            batch.present[static_cast<size_t>(r) * dim + j] == 1;
      }
    }
  }
  out.offsets.resize(2);
  out.offsets[0].resize(g1 - g0 + 1);
  for (int g = g0; g <= g1; ++g) out.offsets[0][g - g0] = batch.group_offsets[g] - r0;
  out.offsets[1].assign({0, g1 - g0});
  return finite;
}

struct MatrixBatch {
  std::vector<const double*> values;  // per data set: groups x obs, column-major
  std::vector<int> groups, obs;
  int n_datasets() const { return static_cast<int>(values.size()); }
};

// Copies data set b of the batch into `out` (one feature, each group's
// observations contiguous), reusing its capacity. Returns false when a value
// is not finite as a T (out is then incomplete).
template <class T>
bool unpack_matrix(const MatrixBatch& batch, int b, Dataset<T>& out) {
  const int n_groups = batch.groups[b], per_group = batch.obs[b];
  const double* values = batch.values[b];
  out.resize_balanced(1, n_groups, per_group);
  out.source_row.clear();
  bool finite = true;
  for (int g = 0; g < n_groups; ++g) {
    T* dest = out.x.data() + static_cast<size_t>(g) * per_group;
    for (int j = 0; j < per_group; ++j) {
      dest[j] = static_cast<T>(values[g + static_cast<size_t>(j) * n_groups]);
      if (!std::isfinite(dest[j])) finite = false;
    }
  }
  return finite;
}

}  // namespace deepbmc
