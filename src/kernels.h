// Hand-vectorized float kernels for dense layers whose widths are multiples of
// 8, in a baseline build and an AVX2 + FMA build chosen at run time: CRAN-style
// builds may not use -march=native, yet most machines have AVX2.
#pragma once

namespace deepbmc {

struct KernelTable {
  // out (n x o) = in (n x i) W (i x o) + bias, then ELU if apply_elu; o % 8 == 0
  void (*dense_forward)(const float* in, int n, int i, const float* w, int o, const float* bias,
                        float* out, bool apply_elu);
  // g (n) *= ELU'(x), from the ELU output y (n)
  void (*elu_backward)(float* g, const float* y, long n);
  // dw (i x o) += in^T g, db (o) += colsums(g); o % 8 == 0
  void (*weight_grad)(const float* in, int n, int i, const float* g, int o, float* dw, float* db);
  // dinp (n x i) += g (n x o) W^T from wt = W^T (o x ldw); i % 8 == 0
  void (*input_grad)(const float* g, int n, int o, const float* wt, int ldw, int i, float* dinp);
  // sums (c) = scale * column sums of x (n x c); c % 8 == 0
  void (*column_sums)(const float* x, int n, int c, float scale, float* sums);
};

constexpr int kKernelLanes = 8;

const KernelTable& kernels();

// "auto" (AVX2 when the processor has it), "avx2" or "baseline"; returns the
// name of the kernels now in use. Call only while no training or prediction runs.
const char* select_kernels(const char* which);

// Whether the AVX2 kernels are the ones in use (other hand-vectorised code,
// such as the simulators' lane loops, follows the same choice).
bool avx2_kernels_active();

}  // namespace deepbmc
