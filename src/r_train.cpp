// Glue: a chunk of training steps, and simulate-then-predict validation. R runs
// chunks in a loop so that progress, messages and interrupts stay on R's side.
#include <Rcpp.h>

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "r_convert.h"
#include "trainer.h"

using namespace deepbmc;

namespace {

// What a training run keeps between chunks: where its batches come from (a
// C++ model set, or stored simulations and the R vectors holding them), and
// the trainer's batch, gradient slots and workspaces, so that chunks after
// the first allocate nothing. Lives only while train_comparison() runs; fits
// never hold it.
struct TrainingSession {
  NetworkSpec spec;
  std::unique_ptr<ModelSet> models;
  std::unique_ptr<RPackedBatch> bank;
  std::unique_ptr<BatchSource> source;
  std::unique_ptr<Trainer> trainer;
};

// Stored simulations as a batch source: `source` is list(type = "stored",
// batch = <packed batch>, model = <1-based models, 0 for data sets left out>,
// n_models = K). Every observed value must be finite in float, checked here
// once.
void r_stored_source(TrainingSession& session, const Rcpp::List& source, uint64_t seed) {
  session.bank.reset(new RPackedBatch(Rcpp::List(r_element(source, "batch")), session.spec));
  const PackedBatch& bank = session.bank->view();
  const size_t n_rows = static_cast<size_t>(bank.group_offsets[bank.dataset_offsets[bank.n_datasets]]);
  for (size_t r = 0; r < n_rows; ++r) {
    if (bank.mask[r] != 1) continue;
    for (int j = 0; j < bank.n_features; ++j) {
      if (!std::isfinite(static_cast<float>(bank.values[r * bank.n_features + j]))) {
        Rcpp::stop("internal: stored simulations must hold values finite in float");
      }
    }
  }
  std::vector<int> models = r_ints(source, "model");
  for (int& m : models) m -= 1;
  const int n_models = r_int(source, "n_models");
  if (n_models != session.spec.config.n_models) {
    Rcpp::stop("internal: network and stored simulations do not match");
  }
  try {
    session.source.reset(new StoredSource(bank, std::move(models), n_models, seed));
  } catch (const std::invalid_argument& e) {
    Rcpp::stop("internal: %s", e.what());
  }
}

TrainingSession* session_of(SEXP session) {
  Rcpp::XPtr<TrainingSession> ptr(session);
  if (ptr.get() == nullptr) Rcpp::stop("internal: the training session is no longer valid");
  return ptr.get();
}

}  // namespace

// list(loss = "log" | "exponential" | "weighted_log", subsample = probability,
// weight_cap = number >= 1, log_sizes = flag, missing = r_missing_spec()'s
// list); NULL or missing elements: the defaults (log loss, no subsampling, no
// missing values).
TrainingMethod r_training_method(SEXP method, int n_features) {
  TrainingMethod out;
  if (Rf_isNull(method)) return out;
  const Rcpp::List m(method);
  if (m.containsElementNamed("loss")) {
    const std::string loss = Rcpp::as<std::string>(m["loss"]);
    if (loss == "exponential") out.loss = LossKind::exponential;
    else if (loss == "weighted_log") out.loss = LossKind::weighted_cross_entropy;
    else if (loss != "log") Rcpp::stop("internal: unknown loss '%s'", loss);
  }
  if (m.containsElementNamed("weight_cap")) {
    out.weight_cap = Rcpp::as<double>(m["weight_cap"]);
    if (!(out.weight_cap >= 1.0) || !std::isfinite(out.weight_cap)) {
      Rcpp::stop("internal: weight_cap must be at least 1");
    }
  }
  if (m.containsElementNamed("log_sizes")) out.log_sizes = Rcpp::as<bool>(m["log_sizes"]);
  if (m.containsElementNamed("subsample")) {
    out.subsample = Rcpp::as<double>(m["subsample"]);
    if (!(out.subsample >= 0.0 && out.subsample <= 1.0)) {
      Rcpp::stop("internal: subsample must be a probability");
    }
  }
  if (m.containsElementNamed("missing")) out.missing = r_missing_spec(m["missing"], n_features);
  return out;
}

// `models` is a model set's spec (models_spec()) for online training, or
// stored simulations (see r_stored_source()) for offline training.
// [[Rcpp::export]]
SEXP cpp_trainer_new(Rcpp::List config, Rcpp::List models, int batch_size, double seed,
                     int threads, SEXP method = R_NilValue) {
  if (batch_size < 1) Rcpp::stop("internal: batch_size must be at least 1");
  r_check_threads(threads);
  std::unique_ptr<TrainingSession> session(new TrainingSession());
  session->spec = r_network_spec(config);
  if (Rcpp::as<std::string>(models["type"]) == "stored") {
    r_stored_source(*session, models, r_seed(seed));
  } else {
    session->models = r_model_set(models);
    r_check_model_set(session->spec, *session->models);
    session->source.reset(new SimulatorSource(*session->models, r_seed(seed)));
  }
  session->trainer.reset(new Trainer(session->spec, *session->source, batch_size, threads,
                                     r_training_method(method, session->spec.config.input_dim),
                                     r_seed(seed)));
  return Rcpp::XPtr<TrainingSession>(session.release(), true);
}

// Runs `steps` steps from optimizer$step on, with the learning rate decaying
// over total_steps; returns the new weights and optimizer state, the batch
// loss and accuracy of every step done, whether training diverged (then
// fewer steps were done and the state is the last finite one), and the range
// of every input feature over all data sets this session simulated.
// [[Rcpp::export]]
Rcpp::List cpp_trainer_run(SEXP session, Rcpp::NumericVector weights, Rcpp::List optimizer,
                           int steps, double total_steps, double learning_rate) {
  TrainingSession* s = session_of(session);
  const size_t n_params = s->spec.n_params;
  const Rcpp::NumericVector m = optimizer["m"], v = optimizer["v"];
  if (static_cast<size_t>(weights.size()) != n_params ||
      static_cast<size_t>(m.size()) != n_params || static_cast<size_t>(v.size()) != n_params) {
    Rcpp::stop("internal: weights and optimizer state must match the network");
  }
  const double step = Rcpp::as<double>(optimizer["step"]);
  if (steps < 0 || !(total_steps >= 1) || !(learning_rate > 0) || !std::isfinite(learning_rate) ||
      !(step >= 0) || step != std::floor(step)) {
    Rcpp::stop("internal: invalid training settings");
  }
  std::vector<float> params(weights.begin(), weights.end());
  AdamState adam;
  adam.m.assign(m.begin(), m.end());
  adam.v.assign(v.begin(), v.end());
  adam.step = static_cast<int64_t>(step);
  AdamOptions options;
  options.learning_rate = learning_rate;
  options.total_steps = static_cast<int64_t>(total_steps);

  std::vector<StepStats> stats(steps);
  const int done = s->trainer->run(steps, params.data(), adam, options, stats.data());

  Rcpp::NumericVector loss(done), accuracy(done);
  for (int i = 0; i < done; ++i) {
    loss[i] = stats[i].loss;
    accuracy[i] = stats[i].accuracy;
  }
  const int dim = s->spec.config.input_dim;
  Rcpp::NumericVector seen_lo(dim), seen_hi(dim);
  s->trainer->seen_ranges(seen_lo.begin(), seen_hi.begin());
  return Rcpp::List::create(
      Rcpp::Named("weights") = Rcpp::NumericVector(params.begin(), params.end()),
      Rcpp::Named("optimizer") = Rcpp::List::create(
          Rcpp::Named("m") = Rcpp::NumericVector(adam.m.begin(), adam.m.end()),
          Rcpp::Named("v") = Rcpp::NumericVector(adam.v.begin(), adam.v.end()),
          Rcpp::Named("step") = static_cast<double>(adam.step)),
      Rcpp::Named("loss") = loss, Rcpp::Named("accuracy") = accuracy,
      Rcpp::Named("diverged") = done < steps,
      Rcpp::Named("input_range") =
          Rcpp::List::create(Rcpp::Named("lo") = seen_lo, Rcpp::Named("hi") = seen_hi));
}

// One-shot form of the two above.
// [[Rcpp::export]]
Rcpp::List cpp_train(Rcpp::List config, Rcpp::NumericVector weights, Rcpp::List optimizer,
                     Rcpp::List models, int steps, double total_steps, int batch_size,
                     double learning_rate, double seed, int threads,
                     SEXP method = R_NilValue) {
  const SEXP session = PROTECT(cpp_trainer_new(config, models, batch_size, seed, threads, method));
  Rcpp::List result;
  try {
    result = cpp_trainer_run(session, weights, optimizer, steps, total_steps, learning_rate);
  } catch (...) {
    UNPROTECT(1);
    throw;
  }
  UNPROTECT(1);
  return result;
}

// [[Rcpp::export]]
Rcpp::List cpp_validate(Rcpp::List config, Rcpp::NumericVector weights, Rcpp::List models, int n,
                        double seed, int threads, SEXP missing = R_NilValue) {
  const NetworkSpec spec = r_network_spec(config);
  const std::unique_ptr<ModelSet> model_set = r_model_set(models);
  r_check_model_set(spec, *model_set);
  r_check_threads(threads);
  if (static_cast<size_t>(weights.size()) != spec.n_params || n < 0) {
    Rcpp::stop("internal: invalid validation arguments");
  }
  const std::vector<float> params(weights.begin(), weights.end());
  const int k = spec.config.n_models;
  std::vector<double> logits(static_cast<size_t>(n) * k), obs(n);
  std::vector<int> model(n), groups(n);
  validate_simulated(spec, params.data(), *model_set, n, r_seed(seed), threads, logits.data(),
                     model.data(), groups.data(), obs.data(),
                     r_missing_spec(missing, spec.config.input_dim));
  Rcpp::NumericMatrix logit_out(n, k);
  Rcpp::IntegerVector model_out(n);
  for (int i = 0; i < n; ++i) {
    model_out[i] = model[i] + 1;
    for (int j = 0; j < k; ++j) logit_out(i, j) = logits[static_cast<size_t>(i) * k + j];
  }
  return Rcpp::List::create(Rcpp::Named("logits") = logit_out, Rcpp::Named("model") = model_out,
                            Rcpp::Named("groups") = Rcpp::IntegerVector(groups.begin(), groups.end()),
                            Rcpp::Named("obs") = Rcpp::NumericVector(obs.begin(), obs.end()));
}

// Simulates data set `index` of model `model` (1-based) with the training
// stream of (seed, step) and subsamples it with probability `prob`, as a
// training step does; returns the data (rows x features), the mask and the
// group offsets, for the tests of subsample_dataset.
// [[Rcpp::export]]
Rcpp::List cpp_subsample_check(Rcpp::List models, int model, double seed, double step,
                               int index, double prob, bool log_sizes = false) {
  const std::unique_ptr<ModelSet> model_set = r_model_set(models);
  if (model < 1 || model > model_set->n_models() || index < 0 || !(step >= 0) ||
      !(prob >= 0 && prob <= 1)) {
    Rcpp::stop("internal: invalid subsample check arguments");
  }
  Dataset<float> data;
  Rng rng(stream_key(r_seed(seed), StreamPurpose::train, static_cast<uint64_t>(step), index));
  model_set->simulate(model - 1, rng, data);
  Rng sub(stream_key(r_seed(seed), StreamPurpose::subsample, static_cast<uint64_t>(step), index));
  subsample_dataset(data, prob, sub, log_sizes);
  return Rcpp::List::create(
      Rcpp::Named("x") = Rcpp::NumericVector(data.x.begin(), data.x.end()),
      Rcpp::Named("mask") = Rcpp::LogicalVector(data.mask.begin(), data.mask.end()),
      Rcpp::Named("group_offsets") = Rcpp::IntegerVector(data.offsets[0].begin(), data.offsets[0].end()));
}

// The values missing_values() `missing` takes from every data set of a packed
// batch, drawn as validate() draws them for simulated data set i (stream
// (seed, missing, kValidationMissingStep, i)): the batch's new row mask and
// per-value presence (row-major, NULL when every value of an observed row is
// present).
// [[Rcpp::export]]
Rcpp::List cpp_apply_missing(Rcpp::List batch, Rcpp::List missing, double seed) {
  const int dim = r_int(batch, "n_features");
  const RPackedBatch packed(batch, dim);
  const PackedBatch& view = packed.view();
  const MissingSpec spec = r_missing_spec(missing, dim);
  const uint64_t key = r_seed(seed);
  const int n_rows = view.group_offsets[view.dataset_offsets[view.n_datasets]];
  Rcpp::LogicalVector mask(n_rows);
  Rcpp::LogicalVector present(static_cast<R_xlen_t>(n_rows) * dim);
  bool partial = false;
  Dataset<double> data;
  for (int b = 0; b < view.n_datasets; ++b) {
    unpack_dataset(view, b, data);  // finiteness is checked where the values are used
    Rng rng(stream_key(key, StreamPurpose::missing, kValidationMissingStep, static_cast<uint64_t>(b)));
    apply_missing(data, spec, rng);
    const int r0 = view.group_offsets[view.dataset_offsets[b]];
    for (int r = 0; r < data.rows(); ++r) {
      mask[r0 + r] = data.mask[r];
      for (int j = 0; j < dim; ++j) {
        const bool p = data.mask[r] && data.value_present(r, j);
        present[static_cast<R_xlen_t>(r0 + r) * dim + j] = p;
        partial = partial || (data.mask[r] && !p);
      }
    }
  }
  return Rcpp::List::create(Rcpp::Named("mask") = mask,
                            Rcpp::Named("present") = partial ? SEXP(present) : R_NilValue);
}

// Delivers an interrupt that arrived while interrupts were suspended, now,
// where the caller can catch it (R itself would deliver it at some later
// check, wherever that happens to be).
// [[Rcpp::export]]
void cpp_deliver_interrupt() { Rcpp::checkUserInterrupt(); }

// The bank indices (1-based) that offline training takes for each slot of
// steps 0..steps-1 (steps x batch_size), for the tests of the order.
// [[Rcpp::export]]
Rcpp::IntegerMatrix cpp_stored_order(Rcpp::IntegerVector model, int n_models, int batch_size,
                                     int steps, double seed) {
  PackedBatch bank;  // only its size is read when choosing data sets
  bank.n_datasets = model.size();
  std::vector<int> models(model.begin(), model.end());
  for (int& m : models) m -= 1;
  if (batch_size < 1 || steps < 0) Rcpp::stop("internal: invalid sizes");
  std::unique_ptr<StoredSource> source;
  try {
    source.reset(new StoredSource(bank, std::move(models), n_models, r_seed(seed)));
  } catch (const std::invalid_argument& e) {
    Rcpp::stop("internal: %s", e.what());
  }
  Rcpp::IntegerMatrix out(steps, batch_size);
  std::vector<int> index(batch_size);
  for (int s = 0; s < steps; ++s) {
    source->begin_step(s, batch_size);
    for (int b = 0; b < batch_size; ++b) out(s, b) = source->slot_index(b) + 1;
  }
  return out;
}
