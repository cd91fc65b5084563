// Symmetric alpha-stable draws by Chambers, Mallows & Stuck (1976) on 8 lanes
// (lane_math_body.h; included inside accumulator_body.h, no include guard).
// With phi = pi (u - 1/2) ~ U(-pi/2, pi/2) and W = -log(v) ~ Exp(1),
//   X = sin(alpha phi) / cos(phi)^(1/alpha) * (cos((1 - alpha) phi) / W)^((1 - alpha) / alpha)
// is alpha-stable with beta = 0 and unit scale: at alpha = 2 it is
// 2 sqrt(W) sin(phi) ~ N(0, 2), at alpha = 1 the Cauchy tan(phi).
// Every angle is written through h = |u - 1/2| and m = 1/2 - h = min(u, 1 - u),
// both exact in float, so that the cosines that go to 0 at the ends (where
// the big jumps come from) keep their relative precision.

// Uniforms on (0, 1) from the top 23 bits: (k + 1/2) 2^-23, exact in float,
// never 0 or 1.
DEEPBMC_LANE vfloat vopen_unit(vuint r) {
  return (__builtin_convertvector((vint)(r >> 9), vfloat) + 0.5f) * 1.1920928955078125e-7f;
}

// alpha in [1, 2]; alpha_minus_1, inv_alpha and tail_power = (1 - alpha) / alpha
// are passed so that callers compute them once per trial.
DEEPBMC_LANE vfloat valpha_stable(vfloat alpha, vfloat alpha_minus_1, vfloat inv_alpha,
                                  vfloat tail_power, vfloat u, vfloat v) {
  const float pi = 3.14159265358979f;
  const vfloat centred = u - 0.5f;
  const vfloat h = vabs(centred);  // |phi| / pi, in (0, 1/2)
  const vfloat m = 0.5f - h;       // cos(phi) = sin(pi m)
  // sin(alpha |phi|) with alpha h in (0, 1): angles past pi / 2 fold back
  const vfloat ah = alpha * h;
  const vfloat folded = vselect(ah > 0.5f, 1.0f - ah, ah);
  const vfloat sin_a = vsin_half_period(folded * pi);
  const vfloat cos_phi = vsin_half_period(m * pi);
  // cos((alpha - 1) |phi|) = sin(pi (1/2 - (alpha - 1) h)), (alpha - 1) h < 1/2
  const vfloat cos_b = vsin_half_period((0.5f - alpha_minus_1 * h) * pi);
  // W enters only through log(cos_b / W): one log fewer than log(cos_b) - log(W)
  const vfloat w = -vlog(v);
  const vfloat log_size = -inv_alpha * vlog(cos_phi) + tail_power * vlog(cos_b / w);
  const vfloat size = sin_a * vexp(log_size);
  // the sign of phi
  return (vfloat)((vint)size | ((vint)centred & vsplat_int(static_cast<int32_t>(0x80000000u))));
}

// Two independent N(0, 2) draws per lane (the alpha = 2 distribution of
// valpha_stable() above, unit scale) by Box-Muller: with phi and W as above
// and a random sign s, 2 sqrt(W) (sin(phi), s cos(phi)) is a pair of
// independent N(0, 2) values, because (s cos(phi), sin(phi)) is uniform on the
// circle. The first value is CMS's alpha = 2 draw itself; the second comes for
// one more sine. That is half the random words and about a sixth of the
// arithmetic per value. `sign_bit` is a random word whose bit 8 (below the 23
// bits vopen_unit() reads) gives s.
DEEPBMC_LANE void vnormal_pair(vfloat u, vfloat v, vuint sign_bit, vfloat& first,
                               vfloat& second) {
  const float pi = 3.14159265358979f;
  const vfloat centred = u - 0.5f;
  const vfloat h = vabs(centred);
  const vfloat m = 0.5f - h;
  const vfloat radius = 2.0f * vsqrt(-vlog(v));
  const vint sign_mask = vsplat_int(static_cast<int32_t>(0x80000000u));
  const vfloat sin_phi = vsin_half_period(h * pi);
  const vfloat cos_phi = vsin_half_period(m * pi);
  first = radius * (vfloat)((vint)sin_phi | ((vint)centred & sign_mask));
  second = radius * (vfloat)((vint)cos_phi | ((vint)(sign_bit << 23) & sign_mask));
}
