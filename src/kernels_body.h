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

// exp(x) for x <= 0 (clamped at -87): 2^n p(r) with r = x - n log(2), |r| <= log(2)/2,
// p a degree-7 polynomial (Cephes expf coefficients); relative error below 1e-7.
static inline __attribute__((always_inline)) vfloat exp_nonpositive(vfloat x) {
  const vint low = x < splat(-87.0f);
  x = keep(x, ~low) + keep(splat(-87.0f), low);
  const vfloat shifter = splat(12582912.0f);  // 1.5 * 2^23: adding it rounds to an integer
  const vfloat t = x * splat(1.44269504088896341f) + shifter;
  const vfloat n = t - shifter;
  vfloat r = x - n * splat(0.693359375f);
  r = r - n * splat(-2.12194440e-4f);
  vfloat p = splat(1.9875691500e-4f);
  p = p * r + splat(1.3981999507e-3f);
  p = p * r + splat(8.3334519073e-3f);
  p = p * r + splat(4.1665795894e-2f);
  p = p * r + splat(1.6666665459e-1f);
  p = p * r + splat(5.0000001201e-1f);
  p = p * r * r + r + splat(1.0f);
  // n sits in the low mantissa bits of t; move it into the exponent of 1.0f.
  const vint scale = (((vint)t - 0x4B400000) << 23) + 0x3F800000;
  return p * (vfloat)scale;
}

// ELU(x) = x for x > 0, exp(x) - 1 otherwise.
static inline __attribute__((always_inline)) vfloat elu(vfloat x) {
  const vint positive = x > splat(0.0f);
  return keep(x, positive) + (exp_nonpositive(keep(x, ~positive)) - splat(1.0f));
}

// Accumulates out[r][c..c+8*C) over k for rows r0..r0+R; R x C accumulators
// live in registers while the weights stream from L1.
template <int R, int C>
static inline __attribute__((always_inline)) void dense_block(const float* in, int i,
                                                              const float* w, int o,
                                                              const float* bias, float* out,
                                                              int c, bool apply_elu) {
  vfloat acc[R][C];
#pragma GCC unroll 4
  for (int q = 0; q < C; ++q) {
    const vfloat b = load(bias + c + q * kLanes);
#pragma GCC unroll 4
    for (int p = 0; p < R; ++p) acc[p][q] = b;
  }
  for (int k = 0; k < i; ++k) {
    vfloat wk[C];
#pragma GCC unroll 4
    for (int q = 0; q < C; ++q) wk[q] = load(w + static_cast<long>(k) * o + c + q * kLanes);
#pragma GCC unroll 4
    for (int p = 0; p < R; ++p) {
      const vfloat x = splat(in[static_cast<long>(p) * i + k]);
#pragma GCC unroll 4
      for (int q = 0; q < C; ++q) acc[p][q] += x * wk[q];
    }
  }
#pragma GCC unroll 4
  for (int p = 0; p < R; ++p) {
#pragma GCC unroll 4
    for (int q = 0; q < C; ++q) {
      store(out + static_cast<long>(p) * o + c + q * kLanes, apply_elu ? elu(acc[p][q]) : acc[p][q]);
    }
  }
}

template <int R>
static inline __attribute__((always_inline)) void dense_rows(const float* in, int i,
                                                             const float* w, int o,
                                                             const float* bias, float* out,
                                                             bool apply_elu) {
  int c = 0;
  for (; c + 2 * kLanes <= o; c += 2 * kLanes) dense_block<R, 2>(in, i, w, o, bias, out, c, apply_elu);
  for (; c < o; c += kLanes) dense_block<R, 1>(in, i, w, o, bias, out, c, apply_elu);
}

// out (n x o) = in (n x i) W (i x o) + bias, then ELU if apply_elu.
static void dense_forward(const float* in, int n, int i, const float* w, int o,
                          const float* bias, float* out, bool apply_elu) {
  int r = 0;
  for (; r + 4 <= n; r += 4) {
    dense_rows<4>(in + static_cast<long>(r) * i, i, w, o, bias, out + static_cast<long>(r) * o, apply_elu);
  }
  for (; r < n; ++r) {
    dense_rows<1>(in + static_cast<long>(r) * i, i, w, o, bias, out + static_cast<long>(r) * o, apply_elu);
  }
}

// g (n) *= ELU'(x) = min(y, 0) + 1, from the ELU output y.
static void elu_backward(float* g, const float* y, long n) {
  long j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    const vfloat out = load(y + j);
    store(g + j, load(g + j) * (keep(out, out < splat(0.0f)) + splat(1.0f)));
  }
  for (; j < n; ++j) g[j] *= (y[j] < 0.0f ? y[j] : 0.0f) + 1.0f;
}

// dw (i x o) += in^T g, db (o) += column sums of g; g is (n x o).
static void weight_grad(const float* in, int n, int i, const float* g, int o, float* dw,
                        float* db) {
  for (int c = 0; c < o; c += kLanes) {
    vfloat bsum = load(db + c);
    for (int r = 0; r < n; ++r) bsum += load(g + static_cast<long>(r) * o + c);
    store(db + c, bsum);
    int k = 0;
    for (; k + 4 <= i; k += 4) {
      vfloat acc[4];
#pragma GCC unroll 4
      for (int p = 0; p < 4; ++p) acc[p] = load(dw + static_cast<long>(k + p) * o + c);
      for (int r = 0; r < n; ++r) {
        const vfloat gr = load(g + static_cast<long>(r) * o + c);
        const float* x = in + static_cast<long>(r) * i + k;
#pragma GCC unroll 4
        for (int p = 0; p < 4; ++p) acc[p] += splat(x[p]) * gr;
      }
#pragma GCC unroll 4
      for (int p = 0; p < 4; ++p) store(dw + static_cast<long>(k + p) * o + c, acc[p]);
    }
    for (; k < i; ++k) {
      vfloat acc = load(dw + static_cast<long>(k) * o + c);
      for (int r = 0; r < n; ++r) acc += splat(in[static_cast<long>(r) * i + k]) * load(g + static_cast<long>(r) * o + c);
      store(dw + static_cast<long>(k) * o + c, acc);
    }
  }
}

// dinp (n x i) += g (n x o) W^T, with wt = W^T stored (o x ldw), of which the
// first i columns are used.
static void input_grad(const float* g, int n, int o, const float* wt, int ldw, int i,
                       float* dinp) {
  for (int r = 0; r < n; ++r) {
    const float* gr = g + static_cast<long>(r) * o;
    float* dr = dinp + static_cast<long>(r) * i;
    int c = 0;
    for (; c + 2 * kLanes <= i; c += 2 * kLanes) {
      vfloat a0 = load(dr + c), a1 = load(dr + c + kLanes);
      for (int j = 0; j < o; ++j) {
        const vfloat s = splat(gr[j]);
        a0 += s * load(wt + static_cast<long>(j) * ldw + c);
        a1 += s * load(wt + static_cast<long>(j) * ldw + c + kLanes);
      }
      store(dr + c, a0);
      store(dr + c + kLanes, a1);
    }
    for (; c < i; c += kLanes) {
      vfloat a0 = load(dr + c);
      for (int j = 0; j < o; ++j) a0 += splat(gr[j]) * load(wt + static_cast<long>(j) * ldw + c);
      store(dr + c, a0);
    }
  }
}

static const KernelTable table = {dense_forward, elu_backward, weight_grad, input_grad};
