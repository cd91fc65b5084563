// Evidence accumulation by the Euler scheme, for diffusion (alpha = 2) and
// Levy-flight (1 <= alpha < 2) models: per step
//   x <- x + v dt + dt^(1/alpha) xi,  xi ~ alpha-stable(alpha, beta = 0, scale = 1/sqrt(2)),
// from x0 = a z until x leaves (0, a) or max_steps steps are taken; the RT is
// t0 + steps dt and the response 1 at the upper bound. alpha = 2 is a Wiener
// process with unit variance per second. Every model runs the same Euler
// scheme with exact draws of its increments (Chambers-Mallows-Stuck for
// alpha < 2; at alpha = 2 Box-Muller pairs, whose first value is CMS's own
// alpha = 2 draw: alpha_stable_body.h), so that the models differ only in
// their parameters, never in how they are discretised.
#pragma once
#include <cstdint>

#include "rng.h"

namespace deepbmc {

// One participant's parameters. The *_range and drift_sd fields are the
// inter-trial variabilities: per trial z ~ U(start_ratio -+ start_range / 2),
// t0 ~ U(t0 -+ t0_range / 2), v ~ N(drift[stimulus], drift_sd).
struct AccumulatorParameters {
  double threshold = 1.0;    // a > 0
  double start_ratio = 0.5;  // z_r in (0, 1)
  double drift[2] = {-1.0, 1.0};
  double t0 = 0.3;
  double alpha = 2.0;  // in [1, 2]
  double start_range = 0.0;
  double drift_sd = 0.0;
  double t0_range = 0.0;
};

// What run_trials() simulates: trials of several participants, in order.
// decided[i] = 0 marks a trial stopped by max_steps before either bound (its
// rt and response are then what the loop ended with; callers treat them as
// missing).
struct TrialPlan {
  const AccumulatorParameters* participants = nullptr;
  const int* participant = nullptr;  // per trial, index into participants
  const uint8_t* stimulus = nullptr;  // per trial, 0 or 1
  int n_trials = 0;
  double dt = 0.001;
  int32_t max_steps = 100000;
  float* rt = nullptr;
  uint8_t* response = nullptr;
  uint8_t* decided = nullptr;
};

// One trial's parameters after its inter-trial variabilities.
struct TrialParameters {
  double start = 0.5, threshold = 1.0, drift = 0.0, t0 = 0.3, alpha = 2.0;
};

TrialParameters draw_trial(const TrialPlan& plan, int trial, Rng& rng);

constexpr int kAccumulatorLanes = 8;
constexpr int kStepsPerCheck = 16;

struct AccumulatorKernel {
  void (*run_trials)(const TrialPlan& plan, Rng& rng);
  // n symmetric alpha-stable draws (beta = 0, unit scale), the ones the
  // Euler loop makes
  void (*alpha_stable)(double alpha, Rng& rng, float* out, int n);
};

// The build for this processor (AVX2 or baseline), following select_kernels().
// Both give the same numbers: the AVX2 build does not fuse multiply-adds.
const AccumulatorKernel& accumulator_kernel();

// Simulates the plan's trials, drawing from rng only (results depend on its
// state and the plan, not on the instruction set).
inline void run_trials(const TrialPlan& plan, Rng& rng) { accumulator_kernel().run_trials(plan, rng); }

}  // namespace deepbmc
