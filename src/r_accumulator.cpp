// Glue: the evidence-accumulation simulator's trials for given participant
// parameters, and its alpha-stable draws (tests, benchmarks and
// simulate_trials()).
#include <Rcpp.h>

#include <vector>

#include "accumulator.h"
#include "evidence_accumulation.h"
#include "r_convert.h"

using namespace deepbmc;

// `parameters`: a list of equal-length numeric vectors a, zr, v0, v1, t0,
// alpha, sz, sv, st (one element per participant, checked in R); `stimulus`:
// a 0/1 integer matrix, trials x participants.
// [[Rcpp::export]]
Rcpp::List cpp_accumulator_trials(Rcpp::List parameters, Rcpp::IntegerMatrix stimulus,
                                  int max_steps, double seed, int threads) {
  r_check_threads(threads);
  const int n = stimulus.nrow(), n_participants = stimulus.ncol();
  auto column = [&](const char* name) {
    const Rcpp::NumericVector v(r_element(parameters, name));
    if (v.size() != n_participants) Rcpp::stop("internal: '%s' needs one value per participant", name);
    return v;
  };
  const Rcpp::NumericVector a = column("a"), zr = column("zr"), v0 = column("v0"),
                            v1 = column("v1"), t0 = column("t0"), alpha = column("alpha"),
                            sz = column("sz"), sv = column("sv"), st = column("st");
  std::vector<AccumulatorParameters> people(n_participants);
  for (int j = 0; j < n_participants; ++j) {
    AccumulatorParameters& p = people[j];
    p.threshold = a[j];
    p.start_ratio = zr[j];
    p.drift[0] = v0[j];
    p.drift[1] = v1[j];
    p.t0 = t0[j];
    p.alpha = alpha[j];
    p.start_range = sz[j];
    p.drift_sd = sv[j];
    p.t0_range = st[j];
  }
  const size_t total = static_cast<size_t>(n) * n_participants;
  std::vector<uint8_t> stim(total), response(total), decided(total);
  std::vector<float> rt(total);
  for (size_t i = 0; i < total; ++i) stim[i] = stimulus[i] != 0;
  simulate_participants(people.data(), n_participants, n, stim.data(), max_steps, r_seed(seed),
                        threads, rt.data(), response.data(), decided.data());
  return Rcpp::List::create(
      Rcpp::Named("rt") = Rcpp::NumericVector(rt.begin(), rt.end()),
      Rcpp::Named("response") = Rcpp::IntegerVector(response.begin(), response.end()),
      Rcpp::Named("decided") = Rcpp::LogicalVector(decided.begin(), decided.end()));
}

// n symmetric alpha-stable draws with unit scale, the simulator's own.
// [[Rcpp::export]]
Rcpp::NumericVector cpp_alpha_stable(int n, double alpha, double seed) {
  if (n < 0 || !(alpha >= 1.0 && alpha <= 2.0)) Rcpp::stop("internal: invalid alpha-stable draw");
  std::vector<float> out(n);
  Rng rng(stream_key(r_seed(seed), StreamPurpose::simulate, 0, 0));
  accumulator_kernel().alpha_stable(alpha, rng, out.data(), n);
  return Rcpp::NumericVector(out.begin(), out.end());
}

// Participant parameters drawn from the hierarchical priors of model `model`
// (0-based): n data sets of `participants` each, from the streams (seed, i);
// columns a, zr, v0, v1, t0, alpha, sz, sv, st, one row per participant.
// [[Rcpp::export]]
Rcpp::NumericMatrix cpp_accumulator_participants(int model, int n, int participants,
                                                 double seed) {
  if (model < 0 || model > 3 || n < 0 || participants < 1) {
    Rcpp::stop("internal: invalid participant draw");
  }
  Rcpp::NumericMatrix out(n * participants, 9);
  for (int i = 0; i < n; ++i) {
    Rng rng(stream_key(r_seed(seed), StreamPurpose::simulate, 0, static_cast<uint64_t>(i)));
    const AccumulatorHyperparameters h = draw_accumulator_hyperparameters(rng);
    for (int j = 0; j < participants; ++j) {
      const AccumulatorParameters p = draw_accumulator_participant(h, model, rng);
      const int r = i * participants + j;
      const double values[9] = {p.threshold, p.start_ratio, p.drift[0], p.drift[1], p.t0,
                                p.alpha,     p.start_range, p.drift_sd, p.t0_range};
      for (int c = 0; c < 9; ++c) out(r, c) = values[c];
    }
  }
  Rcpp::colnames(out) = Rcpp::CharacterVector::create("a", "zr", "v0", "v1", "t0", "alpha",
                                                      "sz", "sv", "st");
  return out;
}
