// The four hierarchical evidence-accumulation models of the paper's
// application (Wieschen, Voss & Radev, 2020; Elsemueller et al., 2024):
//   0 basic diffusion   alpha = 2, no inter-trial variability
//   1 basic Levy flight alpha free in [1, 2]
//   2 full diffusion    alpha = 2, with s_z, s_v, s_t
//   3 full Levy flight  alpha free, with s_z, s_v, s_t
// A data set: participants (groups) x trials (observations), each trial
// (stimulus 0/1, rt in seconds, response 0/1). A trial that reaches the step
// limit before a bound has no decision: it is written as a missing trial
// (mask 0), as a censored trial of real data would be.
//
// The network reads a trial as (stimulus, log rt, correct), correct =
// (response == stimulus): the same information, but the accuracy of a
// response needs no XOR of two inputs and the rt's long right tail no
// saturating units, so training learns from the start (R codes users' data
// the same way: R/models-evidence-accumulation.R). An rt below 1 ms, which
// only simulation gives (a start point outside the bounds, or the
// non-decision time's variability exceeding it), is read as 1 ms.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "accumulator.h"
#include "simulators.h"

namespace deepbmc {

// Draws of the paper's hyperpriors, once per data set.
struct AccumulatorHyperparameters {
  double mu_a, sigma_a, mu_zr, sigma_zr, mu_v0, sigma_v0, mu_v1, sigma_v1, mu_t0, sigma_t0,
      mu_alpha, sigma_alpha;
};

AccumulatorHyperparameters draw_accumulator_hyperparameters(Rng& rng);

// One participant of model `model` (0-3) given the hyperparameters.
AccumulatorParameters draw_accumulator_participant(const AccumulatorHyperparameters& h,
                                                   int model, Rng& rng);

constexpr float kMinCodedRt = 0.001f;

inline void code_accumulator_trial(uint8_t stimulus, float rt, uint8_t response, float* x) {
  x[0] = static_cast<float>(stimulus);
  x[1] = std::log(std::max(rt, kMinCodedRt));
  x[2] = response == stimulus ? 1.0f : 0.0f;
}

class EvidenceAccumulationModels : public ModelSet {
 public:
  EvidenceAccumulationModels(SizeRange participants, SizeRange trials, double stimulus_share,
                             int max_steps);
  int n_models() const override { return 4; }
  int n_features() const override { return 3; }
  int n_levels() const override { return 2; }
  void simulate(int model, Rng& rng, Dataset<float>& out) const override;

 private:
  SizeRange participants_;
  SizeRange trials_;
  double stimulus_share_;
  int max_steps_;
};

// Trials of given participants (tests and benchmarks): participant j's n
// trials, stimulus[i] given, from the stream (seed, j), on `threads` threads
// (one participant per task). rt, response and decided hold
// n_participants x n values, participant after participant.
void simulate_participants(const AccumulatorParameters* participants, int n_participants,
                           int n, const uint8_t* stimulus, int max_steps, uint64_t seed,
                           int threads, float* rt, uint8_t* response, uint8_t* decided);

}  // namespace deepbmc
