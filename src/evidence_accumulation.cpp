#include "evidence_accumulation.h"

#include <cmath>
#include <stdexcept>
#include <vector>

#include "distributions.h"
#include "parallel.h"

namespace deepbmc {

namespace {

constexpr double kDt = 0.001;

// N(mean, sd) truncated to (lo, inf) with mean >= lo, by rejection: every
// such use here accepts at least half of the proposals.
double normal_above(double mean, double sd, double lo, Rng& rng) {
  for (;;) {
    const double x = mean + sd * standard_normal(rng);
    if (x > lo) return x;
  }
}

// N(mean, sd) truncated to [lo, hi], by rejection from the uniform on [lo, hi]
// against the density relative to its largest value there: exact, and it
// accepts often enough for any mean and sd the hyperpriors give (the mode's
// neighbourhood of width ~sd holds a fixed share of the proposals' mass).
double normal_between(double mean, double sd, double lo, double hi, Rng& rng) {
  const double mode = std::min(std::max(mean, lo), hi);
  const double mode_term = (mode - mean) * (mode - mean);
  for (;;) {
    const double x = lo + (hi - lo) * rng.uniform();
    const double log_ratio = -((x - mean) * (x - mean) - mode_term) / (2.0 * sd * sd);
    if (std::log(open_uniform(rng)) < log_ratio) return x;
  }
}

double gamma_shape_scale(double shape, double scale, Rng& rng) { return scale * gamma(shape, rng); }

}  // namespace

// Gamma shapes come from N(5, 1), truncated to positive values (the paper's
// normal is positive with probability 1 - 3e-7).
AccumulatorHyperparameters draw_accumulator_hyperparameters(Rng& rng) {
  AccumulatorHyperparameters h;
  h.mu_a = normal_above(5.0, 1.0, 0.0, rng);
  h.sigma_a = normal_above(0.4, 0.15, 0.0, rng);
  h.mu_zr = 0.25 * standard_normal(rng);
  h.sigma_zr = normal_above(0.0, 0.05, 0.0, rng);
  h.mu_v0 = normal_above(5.0, 1.0, 0.0, rng);
  h.sigma_v0 = normal_above(0.5, 0.25, 0.0, rng);
  h.mu_v1 = normal_above(5.0, 1.0, 0.0, rng);
  h.sigma_v1 = normal_above(0.5, 0.25, 0.0, rng);
  h.mu_t0 = normal_above(5.0, 1.0, 0.0, rng);
  h.sigma_t0 = normal_above(0.1, 0.05, 0.0, rng);
  h.mu_alpha = 1.65 + 0.15 * standard_normal(rng);
  h.sigma_alpha = normal_above(0.3, 0.1, 0.0, rng);
  return h;
}

// Every participant draws every parameter, whatever the model, so that a
// model's switches only fix values (alpha = 2, no variability).
AccumulatorParameters draw_accumulator_participant(const AccumulatorHyperparameters& h,
                                                   int model, Rng& rng) {
  AccumulatorParameters p;
  p.threshold = gamma_shape_scale(h.mu_a, h.sigma_a, rng);
  p.start_ratio = 1.0 / (1.0 + std::exp(-(h.mu_zr + h.sigma_zr * standard_normal(rng))));
  p.drift[0] = -gamma_shape_scale(h.mu_v0, h.sigma_v0, rng);
  p.drift[1] = gamma_shape_scale(h.mu_v1, h.sigma_v1, rng);
  p.t0 = gamma_shape_scale(h.mu_t0, h.sigma_t0, rng);
  p.alpha = normal_between(h.mu_alpha, h.sigma_alpha, 1.0, 2.0, rng);
  p.start_range = beta(1.0, 3.0, rng);
  p.drift_sd = normal_above(0.0, 2.0, 0.0, rng);
  p.t0_range = normal_above(0.0, 0.3, 0.0, rng);
  const bool levy = model == 1 || model == 3;
  const bool full = model == 2 || model == 3;
  if (!levy) p.alpha = 2.0;
  if (!full) p.start_range = p.drift_sd = p.t0_range = 0.0;
  return p;
}

EvidenceAccumulationModels::EvidenceAccumulationModels(SizeRange participants, SizeRange trials,
                                                       double stimulus_share, int max_steps)
    : participants_(participants),
      trials_(trials),
      stimulus_share_(stimulus_share),
      max_steps_(max_steps) {
  if (!(stimulus_share >= 0.0 && stimulus_share <= 1.0)) {
    throw std::invalid_argument("stimulus_share must be in [0, 1]");
  }
  if (max_steps < 1) throw std::invalid_argument("max_steps must be positive");
}

void EvidenceAccumulationModels::simulate(int model, Rng& rng, Dataset<float>& out) const {
  const int n_groups = participants_.draw(rng);
  const int per_group = trials_.draw(rng);
  const int n = n_groups * per_group;
  out.resize_balanced(3, n_groups, per_group);
  const AccumulatorHyperparameters h = draw_accumulator_hyperparameters(rng);
  // scratch for one data set: a few allocations per data set, none per trial
  std::vector<AccumulatorParameters> participants(n_groups);
  std::vector<int> participant(n);
  std::vector<uint8_t> stimulus(n), response(n), decided(n);
  std::vector<float> rt(n);
  for (int g = 0; g < n_groups; ++g) {
    participants[g] = draw_accumulator_participant(h, model, rng);
    for (int t = 0; t < per_group; ++t) {
      const int i = g * per_group + t;
      participant[i] = g;
      stimulus[i] = rng.uniform() < stimulus_share_ ? 1 : 0;
    }
  }
  TrialPlan plan;
  plan.participants = participants.data();
  plan.participant = participant.data();
  plan.stimulus = stimulus.data();
  plan.n_trials = n;
  plan.dt = kDt;
  plan.max_steps = max_steps_;
  plan.rt = rt.data();
  plan.response = response.data();
  plan.decided = decided.data();
  run_trials(plan, rng);
  float* x = out.x.data();
  for (int i = 0; i < n; ++i) {
    const bool keep = decided[i] != 0;
    out.mask[i] = keep ? 1 : 0;
    if (keep) {
      code_accumulator_trial(stimulus[i], rt[i], response[i], x + 3 * i);
    } else {
      std::fill(x + 3 * i, x + 3 * i + 3, 0.0f);
    }
  }
}

void simulate_participants(const AccumulatorParameters* participants, int n_participants,
                           int n, const uint8_t* stimulus, int max_steps, uint64_t seed,
                           int threads, float* rt, uint8_t* response, uint8_t* decided) {
  tbb::task_arena arena(arena_threads(threads));
  parallel_for_each(arena, n_participants, [&](int j) {
    std::vector<int> participant(n, 0);
    TrialPlan plan;
    plan.participants = participants + j;
    plan.participant = participant.data();
    plan.stimulus = stimulus + static_cast<size_t>(j) * n;
    plan.n_trials = n;
    plan.dt = kDt;
    plan.max_steps = max_steps;
    plan.rt = rt + static_cast<size_t>(j) * n;
    plan.response = response + static_cast<size_t>(j) * n;
    plan.decided = decided + static_cast<size_t>(j) * n;
    Rng rng(stream_key(seed, StreamPurpose::simulate, 0, static_cast<uint64_t>(j)));
    run_trials(plan, rng);
  });
}

}  // namespace deepbmc
