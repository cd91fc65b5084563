// Row-major activation storage that keeps its capacity between calls, so the
// training step stops allocating once every buffer has seen its largest shape.
#pragma once
#include <Eigen/Core>
#include <vector>

namespace deepbmc {

template <class T>
using RowMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using MatrixMap = Eigen::Map<RowMatrix<T>>;
template <class T>
using ConstMatrixMap = Eigen::Map<const RowMatrix<T>>;
template <class T>
using RowVectorMap = Eigen::Map<Eigen::Matrix<T, 1, Eigen::Dynamic>>;
template <class T>
using ConstRowVectorMap = Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>>;

template <class T>
struct Tensor {
  std::vector<T> data;
  int rows = 0;
  int cols = 0;

  void shape(int r, int c) {
    rows = r;
    cols = c;
    const size_t n = static_cast<size_t>(r) * c;
    if (data.size() < n) data.resize(n);
  }
  void zero() { std::fill(data.begin(), data.begin() + size(), T(0)); }
  size_t size() const { return static_cast<size_t>(rows) * cols; }
  MatrixMap<T> mat() { return MatrixMap<T>(data.data(), rows, cols); }
  ConstMatrixMap<T> mat() const { return ConstMatrixMap<T>(data.data(), rows, cols); }
};

// A value and the gradient of the loss with respect to it, of the same shape.
template <class T>
struct Node {
  Tensor<T> val;
  Tensor<T> grad;
  // Shapes the value; when training, also a zeroed gradient that backward
  // passes add into.
  void shape(int r, int c, bool training) {
    val.shape(r, c);
    if (!training) return;
    grad.shape(r, c);
    grad.zero();
  }
};

}  // namespace deepbmc
