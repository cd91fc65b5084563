// The Euler loop of the evidence-accumulation simulator, included twice by
// accumulator.cpp: once for the baseline instruction set and once for AVX2
// (each copy in its own namespace, chosen at run time). Eight trials run side
// by side in vector lanes; each block of kStepsPerCheck steps has no branch
// and no allocation, and between blocks a scalar pass records finished trials
// and starts the next ones in their lanes, so the lanes stay busy.

#include "lane_math_body.h"
#include "alpha_stable_body.h"

static_assert(kLaneCount == kAccumulatorLanes, "one trial per vector lane");

// xoshiro128++ on 8 lanes at once.
struct LaneRng {
  vuint s0, s1, s2, s3;
};

DEEPBMC_LANE vuint vrotl(vuint x, int k) { return (x << k) | (x >> (32 - k)); }

DEEPBMC_LANE vuint lane_next(LaneRng& g) {
  const vuint result = vrotl(g.s0 + g.s3, 7) + g.s0;
  const vuint t = g.s1 << 9;
  g.s2 ^= g.s0;
  g.s3 ^= g.s1;
  g.s1 ^= g.s2;
  g.s0 ^= g.s3;
  g.s2 ^= t;
  g.s3 = vrotl(g.s3, 11);
  return result;
}

static LaneRng seed_lanes(Rng& rng) {
  alignas(32) uint32_t words[4][kLaneCount];
  for (int l = 0; l < kLaneCount; ++l) {
    const uint64_t a = rng.next(), b = rng.next();
    words[0][l] = static_cast<uint32_t>(a);
    words[1][l] = static_cast<uint32_t>(a >> 32) | 1u;  // never an all-zero state
    words[2][l] = static_cast<uint32_t>(b);
    words[3][l] = static_cast<uint32_t>(b >> 32);
  }
  LaneRng g;
  __builtin_memcpy(&g.s0, words[0], sizeof g.s0);
  __builtin_memcpy(&g.s1, words[1], sizeof g.s1);
  __builtin_memcpy(&g.s2, words[2], sizeof g.s2);
  __builtin_memcpy(&g.s3, words[3], sizeof g.s3);
  return g;
}

// Lanes' trial state between blocks of steps.
struct Lanes {
  alignas(32) float x[kLaneCount], upper[kLaneCount], drift_step[kLaneCount],
      noise_scale[kLaneCount];
  alignas(32) float alpha[kLaneCount], alpha_minus_1[kLaneCount], inv_alpha[kLaneCount],
      tail_power[kLaneCount];
  alignas(32) int32_t steps[kLaneCount], active[kLaneCount];  // active: -1 or 0
  int trial[kLaneCount];                                      // -1: idle
  double t0[kLaneCount];
};

// kStepsPerCheck Euler steps of every lane; finished lanes stay where they
// stopped (their draws are made and discarded, which keeps the block
// branch-free).
static void step_block(Lanes& s, LaneRng& g, int32_t max_steps) {
  vfloat x = vload(s.x);
  const vfloat upper = vload(s.upper), drift = vload(s.drift_step),
               scale = vload(s.noise_scale), alpha = vload(s.alpha),
               alpha_minus_1 = vload(s.alpha_minus_1), inv_alpha = vload(s.inv_alpha),
               tail_power = vload(s.tail_power);
  vint steps = vload_int(s.steps), active = vload_int(s.active);
  const vint limit = vsplat_int(max_steps);
  for (int k = 0; k < kStepsPerCheck; ++k) {
    const vfloat u = vopen_unit(lane_next(g));
    const vfloat v = vopen_unit(lane_next(g));
    const vfloat xi = valpha_stable(alpha, alpha_minus_1, inv_alpha, tail_power, u, v);
    const vfloat moved = x + drift + scale * xi;
    x = vselect(active, moved, x);
    steps -= active;
    active = active & (moved > 0.0f) & (moved < upper) & (steps < limit);
  }
  vstore(s.x, x);
  vstore_int(s.steps, steps);
  vstore_int(s.active, active);
}

// The same for blocks in which every lane has alpha = 2: Gaussian increments
// two steps per Box-Muller pair (vnormal_pair), the same Euler step and the
// same stopping rule. Which block runs is decided once per block, outside the
// step loop, so the steps stay branch-free.
static_assert(kStepsPerCheck % 2 == 0, "Gaussian blocks take steps in pairs");
static void step_block_gaussian(Lanes& s, LaneRng& g, int32_t max_steps) {
  vfloat x = vload(s.x);
  const vfloat upper = vload(s.upper), drift = vload(s.drift_step),
               scale = vload(s.noise_scale);
  vint steps = vload_int(s.steps), active = vload_int(s.active);
  const vint limit = vsplat_int(max_steps);
  auto step = [&](vfloat xi) {
    const vfloat moved = x + drift + scale * xi;
    x = vselect(active, moved, x);
    steps -= active;
    active = active & (moved > 0.0f) & (moved < upper) & (steps < limit);
  };
  for (int k = 0; k < kStepsPerCheck; k += 2) {
    const vuint word = lane_next(g);
    const vfloat u = vopen_unit(word);
    const vfloat v = vopen_unit(lane_next(g));
    vfloat first, second;
    vnormal_pair(u, v, word, first, second);
    step(first);
    step(second);
  }
  vstore(s.x, x);
  vstore_int(s.steps, steps);
  vstore_int(s.active, active);
}

static bool all_lanes_gaussian(const Lanes& s) {
  for (int l = 0; l < kLaneCount; ++l) {
    if (s.alpha[l] != 2.0f) return false;
  }
  return true;
}

// Runs the trials of `plan` (accumulator.h); deterministic given rng.
static void run_trials(const TrialPlan& plan, Rng& rng) {
  LaneRng g = seed_lanes(rng);
  Lanes s;
  for (int l = 0; l < kLaneCount; ++l) {
    s.x[l] = 0.0f;
    s.upper[l] = 1.0f;
    s.drift_step[l] = s.noise_scale[l] = 0.0f;
    s.alpha[l] = 2.0f;
    s.alpha_minus_1[l] = 1.0f;
    s.inv_alpha[l] = 0.5f;
    s.tail_power[l] = -0.5f;
    s.steps[l] = s.active[l] = 0;
    s.trial[l] = -1;
    s.t0[l] = 0.0;
  }
  int next_trial = 0, running = 0;
  // Starts trials in lane l until one needs steps (a start point outside the
  // bounds decides at once, with RT t0) or none are left.
  auto start = [&](int l) {
    while (next_trial < plan.n_trials) {
      const int i = next_trial++;
      const TrialParameters tp = draw_trial(plan, i, rng);
      const float x0 = static_cast<float>(tp.start), a = static_cast<float>(tp.threshold);
      if (!(x0 > 0.0f && x0 < a)) {
        plan.rt[i] = static_cast<float>(tp.t0);
        plan.response[i] = x0 >= a ? 1 : 0;
        plan.decided[i] = 1;
        continue;
      }
      s.x[l] = x0;
      s.upper[l] = a;
      s.drift_step[l] = static_cast<float>(tp.drift * plan.dt);
      s.noise_scale[l] = static_cast<float>(std::pow(plan.dt, 1.0 / tp.alpha) * M_SQRT1_2);
      s.alpha[l] = static_cast<float>(tp.alpha);
      s.alpha_minus_1[l] = static_cast<float>(tp.alpha - 1.0);
      s.inv_alpha[l] = static_cast<float>(1.0 / tp.alpha);
      s.tail_power[l] = static_cast<float>((1.0 - tp.alpha) / tp.alpha);
      s.steps[l] = 0;
      s.active[l] = -1;
      s.trial[l] = i;
      s.t0[l] = tp.t0;
      ++running;
      return;
    }
  };
  for (int l = 0; l < kLaneCount; ++l) start(l);
  while (running > 0) {
    if (all_lanes_gaussian(s)) {
      step_block_gaussian(s, g, plan.max_steps);
    } else {
      step_block(s, g, plan.max_steps);
    }
    for (int l = 0; l < kLaneCount; ++l) {
      if (s.active[l] || s.trial[l] < 0) continue;
      const int i = s.trial[l];
      const bool inside = s.x[l] > 0.0f && s.x[l] < s.upper[l];
      plan.rt[i] = static_cast<float>(s.t0[l] + s.steps[l] * plan.dt);
      plan.response[i] = s.x[l] >= s.upper[l] ? 1 : 0;
      plan.decided[i] = inside ? 0 : 1;
      s.trial[l] = -1;
      --running;
      start(l);
    }
  }
}

// n symmetric alpha-stable draws with unit scale (for the tests), drawn as the
// Euler loop draws them: Box-Muller pairs at alpha = 2, CMS otherwise.
static void alpha_stable_fill(double alpha, Rng& rng, float* out, int n) {
  LaneRng g = seed_lanes(rng);
  alignas(32) float block[kLaneCount];
  if (static_cast<float>(alpha) == 2.0f) {
    alignas(32) float partner[kLaneCount];
    for (int i = 0; i < n; i += 2 * kLaneCount) {
      const vuint word = lane_next(g);
      const vfloat u = vopen_unit(word);
      const vfloat v = vopen_unit(lane_next(g));
      vfloat first, second;
      vnormal_pair(u, v, word, first, second);
      vstore(block, first);
      vstore(partner, second);
      for (int l = 0; l < kLaneCount && i + l < n; ++l) out[i + l] = block[l];
      for (int l = 0; l < kLaneCount && i + kLaneCount + l < n; ++l) {
        out[i + kLaneCount + l] = partner[l];
      }
    }
    return;
  }
  const vfloat a = vsplat(static_cast<float>(alpha)),
               am1 = vsplat(static_cast<float>(alpha - 1.0)),
               inv = vsplat(static_cast<float>(1.0 / alpha)),
               tail = vsplat(static_cast<float>((1.0 - alpha) / alpha));
  for (int i = 0; i < n; i += kLaneCount) {
    const vfloat u = vopen_unit(lane_next(g));
    const vfloat v = vopen_unit(lane_next(g));
    vstore(block, valpha_stable(a, am1, inv, tail, u, v));
    for (int l = 0; l < kLaneCount && i + l < n; ++l) out[i + l] = block[l];
  }
}

static const AccumulatorKernel kernel = {run_trials, alpha_stable_fill};

#undef DEEPBMC_LANE
