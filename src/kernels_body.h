// Dense-layer kernels on float, included twice by kernels.cpp: once for the
// baseline instruction set and once for AVX2 + FMA, each copy in its own
// namespace. The body therefore uses only builtins and its own functions, so no
// out-of-line template compiled for AVX2 can leak into baseline code.
//
// All matrices are row-major. The widths these kernels vectorize (o for the
// forward pass and weight gradients, i for input gradients) are multiples of
// 8 floats; callers fall back to Eigen for any other width.

typedef float vfloat __attribute__((vector_size(32)));
typedef int vint __attribute__((vector_size(32)));
static const int kLanes = 8;

static inline __attribute__((always_inline)) vfloat load(const float* p) {
  vfloat v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}
static inline __attribute__((always_inline)) void store(float* p, vfloat v) {
  __builtin_memcpy(p, &v, sizeof v);
}
static inline __attribute__((always_inline)) vfloat splat(float x) {
  return vfloat{x, x, x, x, x, x, x, x};
}
// Lanes where mask is set keep x, the others become 0.
static inline __attribute__((always_inline)) vfloat keep(vfloat x, vint mask) {
  return (vfloat)((vint)x & mask);
}

static inline __attribute__((always_inline)) vfloat vmax(vfloat a, vfloat b) {
  return a > b ? a : b;
}
static inline __attribute__((always_inline)) vfloat vmin(vfloat a, vfloat b) {
  return a < b ? a : b;
}

// ELU(x) = max(x, 0) + exp(min(x, 0)) - 1. The exponential of x <= 0 is
// 2^n p(r) with r = x - n log(2), |r| <= log(2) / 2, and p the degree-6
// polynomial closest to exp on that interval in relative error (3.1e-9, far
// below float rounding; fitted by Lawson's iteration with p(0) = p'(0) = 1).
// x is clamped at -20 first: exp(-20) - 1 already rounds to -1.0f, and the
// clamp keeps 2^n a normal float. 2^n p is formed by adding n to p's exponent
// field; n sits in the low mantissa bits of t, so t's bits shifted left by 23
// are n in the exponent field.
static inline __attribute__((always_inline)) vfloat elu(vfloat x) {
  const vfloat neg = vmax(vmin(x, splat(0.0f)), splat(-20.0f));
  const vfloat shifter = splat(12582912.0f);  // 1.5 * 2^23: adding it rounds to an integer
  const vfloat t = neg * splat(1.44269504088896341f) + shifter;
  const vfloat n = t - shifter;
  vfloat r = neg - n * splat(0.693359375f);  // log(2) in two parts, for an exact r
  r = r - n * splat(-2.12194440e-4f);
  vfloat p = splat(1.3814588672e-3f);
  p = p * r + splat(8.3687130034e-3f);
  p = p * r + splat(4.1668388123e-2f);
  p = p * r + splat(1.6666520665e-1f);
  p = p * r + splat(4.9999993447e-1f);
  p = p * r + splat(1.0f);
  p = p * r + splat(1.0f);
  const vfloat exp_neg = (vfloat)((vint)p + ((vint)t << 23));
  return vmax(x, splat(0.0f)) + (exp_neg - splat(1.0f));
}

// Accumulates out[r][c..c+8*C) over k for rows r0..r0+R; R x C accumulators
// live in registers while the weights stream from L1. R x C >= 8 independent
// sums hide the 4-cycle latency of FMA.
template <int R, int C, bool kElu>
static inline __attribute__((always_inline)) void dense_block(const float* in, int i,
                                                              const float* w, int o,
                                                              const float* bias, float* out,
                                                              int c) {
  vfloat acc[R][C];
#pragma GCC unroll 8
  for (int q = 0; q < C; ++q) {
    const vfloat b = load(bias + c + q * kLanes);
#pragma GCC unroll 8
    for (int p = 0; p < R; ++p) acc[p][q] = b;
  }
  for (int k = 0; k < i; ++k) {
    vfloat wk[C];
#pragma GCC unroll 8
    for (int q = 0; q < C; ++q) wk[q] = load(w + static_cast<long>(k) * o + c + q * kLanes);
#pragma GCC unroll 8
    for (int p = 0; p < R; ++p) {
      const vfloat x = splat(in[static_cast<long>(p) * i + k]);
#pragma GCC unroll 8
      for (int q = 0; q < C; ++q) acc[p][q] += x * wk[q];
    }
  }
#pragma GCC unroll 8
  for (int p = 0; p < R; ++p) {
#pragma GCC unroll 8
    for (int q = 0; q < C; ++q) {
      store(out + static_cast<long>(p) * o + c + q * kLanes, kElu ? elu(acc[p][q]) : acc[p][q]);
    }
  }
}

// Rows r0..r0+R of the output, in column blocks of 16 and then 8.
template <int R, bool kElu>
static inline __attribute__((always_inline)) void dense_rows(const float* in, int i,
                                                             const float* w, int o,
                                                             const float* bias, float* out) {
  int c = 0;
  for (; c + 2 * kLanes <= o; c += 2 * kLanes) dense_block<R, 2, kElu>(in, i, w, o, bias, out, c);
  for (; c < o; c += kLanes) dense_block<R, 1, kElu>(in, i, w, o, bias, out, c);
}

// out (n x o) = in (n x i) W (i x o) + bias, then ELU if kElu; blocks of 8 rows
// when o == 8 (8 x 1 accumulators), of 4 rows otherwise (4 x 2).
template <bool kElu>
static void dense_forward_impl(const float* in, int n, int i, const float* w, int o,
                               const float* bias, float* out) {
  int r = 0;
  if (o == kLanes) {
    for (; r + 8 <= n; r += 8) {
      dense_rows<8, kElu>(in + static_cast<long>(r) * i, i, w, o, bias, out + static_cast<long>(r) * o);
    }
  }
  for (; r + 4 <= n; r += 4) {
    dense_rows<4, kElu>(in + static_cast<long>(r) * i, i, w, o, bias, out + static_cast<long>(r) * o);
  }
  for (; r < n; ++r) {
    dense_rows<1, kElu>(in + static_cast<long>(r) * i, i, w, o, bias, out + static_cast<long>(r) * o);
  }
}

static void dense_forward(const float* in, int n, int i, const float* w, int o,
                          const float* bias, float* out, bool apply_elu) {
  if (apply_elu) {
    dense_forward_impl<true>(in, n, i, w, o, bias, out);
  } else {
    dense_forward_impl<false>(in, n, i, w, o, bias, out);
  }
}

// g (n) *= ELU'(x) = min(y, 0) + 1, from the ELU output y.
static void elu_backward(float* g, const float* y, long n) {
  long j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    const vfloat out = load(y + j);
    store(g + j, load(g + j) * (vmin(out, splat(0.0f)) + splat(1.0f)));
  }
  for (; j < n; ++j) g[j] *= (y[j] < 0.0f ? y[j] : 0.0f) + 1.0f;
}

// dw[k0..k0+K)[c..c+8*C) += sum over rows r of in[r][k] g[r][c..]: K x C
// accumulators for each of U interleaved row phases, so that at least 8
// independent sums hide the FMA latency even when K x C is small (the first
// layer has i = 1); the U partial sums are added at the end.
template <int K, int C>
static inline __attribute__((always_inline)) void weight_grad_block(const float* in, int n, int i,
                                                                    const float* g, int o,
                                                                    float* dw, int k0, int c) {
  constexpr int U = K * C >= 8 ? 1 : (K * C >= 4 ? 2 : 4);
  vfloat acc[U][K][C];
#pragma GCC unroll 8
  for (int p = 0; p < K; ++p) {
#pragma GCC unroll 8
    for (int q = 0; q < C; ++q) {
      acc[0][p][q] = load(dw + static_cast<long>(k0 + p) * o + c + q * kLanes);
#pragma GCC unroll 4
      for (int u = 1; u < U; ++u) acc[u][p][q] = splat(0.0f);
    }
  }
  int r = 0;
  for (; r + U <= n; r += U) {
#pragma GCC unroll 4
    for (int u = 0; u < U; ++u) {
      vfloat gr[C];
#pragma GCC unroll 8
      for (int q = 0; q < C; ++q) gr[q] = load(g + static_cast<long>(r + u) * o + c + q * kLanes);
      const float* x = in + static_cast<long>(r + u) * i + k0;
#pragma GCC unroll 8
      for (int p = 0; p < K; ++p) {
        const vfloat xp = splat(x[p]);
#pragma GCC unroll 8
        for (int q = 0; q < C; ++q) acc[u][p][q] += xp * gr[q];
      }
    }
  }
  for (; r < n; ++r) {
    const float* x = in + static_cast<long>(r) * i + k0;
#pragma GCC unroll 8
    for (int p = 0; p < K; ++p) {
#pragma GCC unroll 8
      for (int q = 0; q < C; ++q) {
        acc[0][p][q] += splat(x[p]) * load(g + static_cast<long>(r) * o + c + q * kLanes);
      }
    }
  }
#pragma GCC unroll 8
  for (int p = 0; p < K; ++p) {
#pragma GCC unroll 8
    for (int q = 0; q < C; ++q) {
#pragma GCC unroll 4
      for (int u = 1; u < U; ++u) acc[0][p][q] += acc[u][p][q];
      store(dw + static_cast<long>(k0 + p) * o + c + q * kLanes, acc[0][p][q]);
    }
  }
}

// dw (i x o) += in^T g, db (o) += column sums of g; g is (n x o).
static void weight_grad(const float* in, int n, int i, const float* g, int o, float* dw,
                        float* db) {
  for (int c = 0; c < o; c += kLanes) {
    vfloat bsum[4] = {load(db + c), splat(0.0f), splat(0.0f), splat(0.0f)};
    int r = 0;
    for (; r + 4 <= n; r += 4) {
#pragma GCC unroll 4
      for (int u = 0; u < 4; ++u) bsum[u] += load(g + static_cast<long>(r + u) * o + c);
    }
    for (; r < n; ++r) bsum[0] += load(g + static_cast<long>(r) * o + c);
    store(db + c, (bsum[0] + bsum[1]) + (bsum[2] + bsum[3]));
  }
  int c = 0;
  for (; c + 2 * kLanes <= o; c += 2 * kLanes) {
    int k = 0;
    for (; k + 4 <= i; k += 4) weight_grad_block<4, 2>(in, n, i, g, o, dw, k, c);
    for (; k < i; ++k) weight_grad_block<1, 2>(in, n, i, g, o, dw, k, c);
  }
  for (; c < o; c += kLanes) {
    int k = 0;
    for (; k + 8 <= i; k += 8) weight_grad_block<8, 1>(in, n, i, g, o, dw, k, c);
    for (; k + 4 <= i; k += 4) weight_grad_block<4, 1>(in, n, i, g, o, dw, k, c);
    for (; k < i; ++k) weight_grad_block<1, 1>(in, n, i, g, o, dw, k, c);
  }
}

// dinp[r0..r0+R)[c..c+8*C) += g[r] W^T: R x C accumulators over j < o.
template <int R, int C>
static inline __attribute__((always_inline)) void input_grad_block(const float* g, int o,
                                                                   const float* wt, int ldw,
                                                                   int i, float* dinp, int c) {
  vfloat acc[R][C];
#pragma GCC unroll 8
  for (int p = 0; p < R; ++p) {
#pragma GCC unroll 8
    for (int q = 0; q < C; ++q) acc[p][q] = load(dinp + static_cast<long>(p) * i + c + q * kLanes);
  }
  for (int j = 0; j < o; ++j) {
    vfloat wj[C];
#pragma GCC unroll 8
    for (int q = 0; q < C; ++q) wj[q] = load(wt + static_cast<long>(j) * ldw + c + q * kLanes);
#pragma GCC unroll 8
    for (int p = 0; p < R; ++p) {
      const vfloat s = splat(g[static_cast<long>(p) * o + j]);
#pragma GCC unroll 8
      for (int q = 0; q < C; ++q) acc[p][q] += s * wj[q];
    }
  }
#pragma GCC unroll 8
  for (int p = 0; p < R; ++p) {
#pragma GCC unroll 8
    for (int q = 0; q < C; ++q) store(dinp + static_cast<long>(p) * i + c + q * kLanes, acc[p][q]);
  }
}

template <int R>
static inline __attribute__((always_inline)) void input_grad_rows(const float* g, int o,
                                                                  const float* wt, int ldw,
                                                                  int i, float* dinp) {
  int c = 0;
  for (; c + 2 * kLanes <= i; c += 2 * kLanes) input_grad_block<R, 2>(g, o, wt, ldw, i, dinp, c);
  for (; c < i; c += kLanes) input_grad_block<R, 1>(g, o, wt, ldw, i, dinp, c);
}

// dinp (n x i) += g (n x o) W^T, with wt = W^T stored (o x ldw), of which the
// first i columns are used; blocks of 8 rows when i == 8, of 4 otherwise.
static void input_grad(const float* g, int n, int o, const float* wt, int ldw, int i,
                       float* dinp) {
  int r = 0;
  if (i == kLanes) {
    for (; r + 8 <= n; r += 8) {
      input_grad_rows<8>(g + static_cast<long>(r) * o, o, wt, ldw, i, dinp + static_cast<long>(r) * i);
    }
  }
  for (; r + 4 <= n; r += 4) {
    input_grad_rows<4>(g + static_cast<long>(r) * o, o, wt, ldw, i, dinp + static_cast<long>(r) * i);
  }
  for (; r < n; ++r) {
    input_grad_rows<1>(g + static_cast<long>(r) * o, o, wt, ldw, i, dinp + static_cast<long>(r) * i);
  }
}

// sums (c) = scale * column sums of x (n x c), written (not added); c % 8 == 0.
// Four row phases keep four independent sums per column block.
static void column_sums(const float* x, int n, int c, float scale, float* sums) {
  for (int j = 0; j < c; j += kLanes) {
    vfloat acc[4] = {splat(0.0f), splat(0.0f), splat(0.0f), splat(0.0f)};
    int r = 0;
    for (; r + 4 <= n; r += 4) {
#pragma GCC unroll 4
      for (int u = 0; u < 4; ++u) acc[u] += load(x + static_cast<long>(r + u) * c + j);
    }
    for (; r < n; ++r) acc[0] += load(x + static_cast<long>(r) * c + j);
    store(sums + j, ((acc[0] + acc[1]) + (acc[2] + acc[3])) * splat(scale));
  }
}

static const KernelTable table = {dense_forward, elu_backward, weight_grad, input_grad,
                                  column_sums};
