// One data set of a hierarchical model, stored packed: observation rows are
// contiguous within their group, so level-1 work on a group stays in cache.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace deepbmc {

template <class T>
struct Dataset {
  int dim = 0;                // features per observation
  std::vector<T> x;           // rows x dim, row-major; unobserved rows hold 0
  std::vector<uint8_t> mask;  // one per row; 1 = observed
  // Per-value presence (rows x dim, row-major; 1 = observed) when some
  // observed row lacks a feature; empty when every feature of every observed
  // row is present, the common case, which then costs nothing. A row without
  // any present feature is never kept here as present: its mask is 0 (an
  // absent row), so pooling and the size inputs skip it. Missing values hold 0.
  std::vector<uint8_t> present;
  // offsets[k] partitions the elements of level k into the sets of level k
  // (size n_sets + 1, starting at 0). offsets[0] splits observation rows into
  // groups; offsets[1] = {0, n_groups} for a two-level data set. A third level
  // is one more partition.
  std::vector<std::vector<int>> offsets;
  // Optional: for simulators that copy rows of a template design (formula
  // models), the template row of each row, so that R can rebuild the
  // simulated data in the template's form. Empty otherwise.
  std::vector<int> source_row;

  int rows() const { return static_cast<int>(mask.size()); }
  bool value_present(int r, int j) const {
    return present.empty() || present[static_cast<size_t>(r) * dim + j] != 0;
  }

  // Widens lo[j] / hi[j] (dim each) to the smallest and largest observed
  // value of feature j, so that ranges accumulate over data sets.
  void widen_ranges(double* lo, double* hi) const {
    for (int r = 0; r < rows(); ++r) {
      if (!mask[r]) continue;
      const T* row = x.data() + static_cast<size_t>(r) * dim;
      for (int j = 0; j < dim; ++j) {
        if (!value_present(r, j)) continue;
        const double v = static_cast<double>(row[j]);
        lo[j] = v < lo[j] ? v : lo[j];
        hi[j] = v > hi[j] ? v : hi[j];
      }
    }
  }
  int levels() const { return static_cast<int>(offsets.size()); }

  // Shape for groups of equal size, every value observed; reuses capacity so
  // that simulating into the same Dataset allocates nothing once warmed up.
  void resize_balanced(int features, int n_groups, int per_group) {
    dim = features;
    const int n_rows = n_groups * per_group;
    x.resize(static_cast<size_t>(n_rows) * dim);
    mask.assign(n_rows, 1);
    present.clear();
    offsets.resize(2);
    offsets[0].resize(n_groups + 1);
    for (int g = 0; g <= n_groups; ++g) offsets[0][g] = g * per_group;
    offsets[1].assign({0, n_groups});
  }
};

}  // namespace deepbmc
