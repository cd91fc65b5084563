// Float sin, log and exp on 8 lanes (GCC/clang vector extensions), without
// branches: the evidence-accumulation simulator's Euler loop calls them every
// step, where std::sin and friends would not vectorise. Included inside
// accumulator_body.h, so once per instruction-set build, each copy in its own
// namespace (no include guard on purpose). Accuracy is a few float ulps on the
// ranges stated; nothing here reads or writes global state.

typedef float vfloat __attribute__((vector_size(32)));
typedef int32_t vint __attribute__((vector_size(32)));
typedef uint32_t vuint __attribute__((vector_size(32)));
static const int kLaneCount = 8;

#define DEEPBMC_LANE static inline __attribute__((always_inline))

DEEPBMC_LANE vfloat vsplat(float x) { return vfloat{x, x, x, x, x, x, x, x}; }
DEEPBMC_LANE vint vsplat_int(int32_t x) { return vint{x, x, x, x, x, x, x, x}; }
DEEPBMC_LANE vfloat vload(const float* p) {
  vfloat v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}
DEEPBMC_LANE void vstore(float* p, vfloat v) { __builtin_memcpy(p, &v, sizeof v); }
DEEPBMC_LANE vint vload_int(const int32_t* p) {
  vint v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}
DEEPBMC_LANE void vstore_int(int32_t* p, vint v) { __builtin_memcpy(p, &v, sizeof v); }
// mask lanes (all bits set or none) choose a, the others b
DEEPBMC_LANE vfloat vselect(vint mask, vfloat a, vfloat b) {
  return (vfloat)((mask & (vint)a) | (~mask & (vint)b));
}
DEEPBMC_LANE vint vselect_int(vint mask, vint a, vint b) { return (mask & a) | (~mask & b); }
DEEPBMC_LANE vfloat vabs(vfloat x) { return (vfloat)((vint)x & vsplat_int(0x7fffffff)); }

// sqrt(x) for normal floats x > 0 as x / sqrt(x), with 1 / sqrt(x) from the
// classic bit-level first guess and three Newton steps (relative error a few
// float ulps). Not sqrtf: that stays scalar because of errno, and vector sqrt
// instructions differ between builds; these plain multiplies round alike in
// every build.
DEEPBMC_LANE vfloat vsqrt(vfloat x) {
  vfloat r = (vfloat)(vsplat_int(0x5f375a86) - ((vint)x >> 1));
  const vfloat half_x = 0.5f * x;
  r = r * (1.5f - half_x * r * r);
  r = r * (1.5f - half_x * r * r);
  r = r * (1.5f - half_x * r * r);
  return x * r;
}

// sin(x) for |x| <= pi / 2 by its Taylor polynomial to degree 11: absolute
// error below 6e-8 at the ends and a relative error of float rounding near 0,
// where the alpha-stable draws need it.
DEEPBMC_LANE vfloat vsin_half_period(vfloat x) {
  const vfloat z = x * x;
  vfloat p = vsplat(-2.5052108e-8f);
  p = p * z + 2.7557319e-6f;
  p = p * z - 1.9841270e-4f;
  p = p * z + 8.3333333e-3f;
  p = p * z - 1.6666667e-1f;
  return x + x * z * p;
}

// Natural log of normal floats x > 0, Cephes' logf: x = m 2^e with m in
// [sqrt(1/2), sqrt(2)), then a polynomial in m - 1.
DEEPBMC_LANE vfloat vlog(vfloat x) {
  const vint bits = (vint)x;
  vint e = ((bits >> 23) & 0xff) - 126;
  vfloat m = (vfloat)((bits & (int32_t)0x807fffff) | 0x3f000000);  // [0.5, 1)
  const vint low = m < 0.70710678f;
  e += low;  // low is -1 where set
  m = vselect(low, m + m, m) - 1.0f;
  const vfloat z = m * m;
  vfloat y = vsplat(7.0376836292e-2f);
  y = y * m - 1.1514610310e-1f;
  y = y * m + 1.1676998740e-1f;
  y = y * m - 1.2420140846e-1f;
  y = y * m + 1.4249322787e-1f;
  y = y * m - 1.6668057665e-1f;
  y = y * m + 2.0000714765e-1f;
  y = y * m - 2.4999993993e-1f;
  y = y * m + 3.3333331174e-1f;
  y = y * m * z;
  const vfloat fe = __builtin_convertvector(e, vfloat);
  y += fe * -2.12194440e-4f;
  y += z * -0.5f;
  return m + y + fe * 0.693359375f;
}

// e^x, Cephes' expf, with x clamped to [-87, 88] so that the result is a
// finite normal float: x = n log(2) + r, |r| <= log(2) / 2, a polynomial in r,
// and n written into the exponent bits.
DEEPBMC_LANE vfloat vexp(vfloat x) {
  x = vselect(x < -87.0f, vsplat(-87.0f), x);
  x = vselect(x > 88.0f, vsplat(88.0f), x);
  const vfloat t = x * 1.44269504088896341f + 0.5f;
  // floor(t) without SSE4.1: truncate, then step down where that rounded up
  vint n = __builtin_convertvector(t, vint);
  n += (vint)(__builtin_convertvector(n, vfloat) > t);  // -1 where truncation rounded up
  const vfloat fn = __builtin_convertvector(n, vfloat);
  x -= fn * 0.693359375f;
  x -= fn * -2.12194440e-4f;
  const vfloat z = x * x;
  vfloat y = vsplat(1.9875691500e-4f);
  y = y * x + 1.3981999507e-3f;
  y = y * x + 8.3334519073e-3f;
  y = y * x + 4.1665795894e-2f;
  y = y * x + 1.6666665459e-1f;
  y = y * x + 5.0000001201e-1f;
  y = y * z + x + 1.0f;
  return y * (vfloat)((n + 127) << 23);
}
