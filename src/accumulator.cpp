#include "accumulator.h"

#include <cmath>

#include "distributions.h"
#include "kernels.h"

namespace deepbmc {

TrialParameters draw_trial(const TrialPlan& plan, int trial, Rng& rng) {
  const AccumulatorParameters& p = plan.participants[plan.participant[trial]];
  TrialParameters t;
  // every trial draws all three variabilities, so that the streams of the
  // basic and full models stay aligned
  const double z = p.start_ratio + p.start_range * (rng.uniform() - 0.5);
  t.t0 = p.t0 + p.t0_range * (rng.uniform() - 0.5);
  t.drift = p.drift[plan.stimulus[trial] ? 1 : 0] + p.drift_sd * standard_normal(rng);
  t.threshold = p.threshold;
  t.start = p.threshold * z;
  t.alpha = p.alpha;
  return t;
}

namespace accumulator_baseline {
#include "accumulator_body.h"
}  // namespace accumulator_baseline

}  // namespace deepbmc

#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
#define DEEPBMC_AVX2_ACCUMULATOR 1
// AVX2 without FMA: unfused multiply-adds round as the baseline build does,
// so both builds simulate the same data from the same seed.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2")
#endif
namespace deepbmc {
namespace accumulator_avx2 {
#include "accumulator_body.h"
}  // namespace accumulator_avx2
}  // namespace deepbmc
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif

namespace deepbmc {

const AccumulatorKernel& accumulator_kernel() {
#ifdef DEEPBMC_AVX2_ACCUMULATOR
  if (avx2_kernels_active()) return accumulator_avx2::kernel;
#endif
  return accumulator_baseline::kernel;
}

}  // namespace deepbmc
