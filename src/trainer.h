// Online training and amortized inference: simulation, forward and backward run
// in parallel over the data sets of a batch; per-data-set random streams and
// gradient slots summed in index order make results identical for any number
// of threads.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "adam.h"
#include "batch_source.h"
#include "dataset.h"
#include "network_spec.h"
#include "packed_batch.h"
#include "simulators.h"

namespace deepbmc {

struct StepStats {
  double loss = 0.0;      // mean cross-entropy over the batch
  double accuracy = 0.0;  // share of the batch whose largest logit is the true model
};

class Trainer {
 public:
  // The source (which must outlive the trainer) provides every batch.
  Trainer(const NetworkSpec& spec, BatchSource& source, int batch_size, int threads);
  ~Trainer();
  // Runs up to n_steps steps from adam.step on: a batch from the source
  // (balanced over the models), forward, backward, Adam update. Training has diverged when a step's gradient is not finite, its
  // mean loss is not below 1000 (kDivergedLoss), or its update would make a
  // weight or Adam's state non-finite: run()
  // then stops before that update, so params and adam keep the last finite
  // state, and returns the number of steps done (n_steps when none diverged).
  int run(int n_steps, float* params, AdamState& adam, const AdamOptions& options,
          StepStats* stats);

  // The smallest and largest observed value of every feature (n_features
  // each) over all data sets simulated for training so far.
  void seen_ranges(double* lo, double* hi) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Writes data set `index` of the stream `seed`: its model is drawn uniformly,
// then its data from that model's prior predictive. Returns the 0-based model.
int simulate_indexed(const ModelSet& models, uint64_t seed, int64_t index, Dataset<float>& out);

// n simulated data sets and their models (0-based).
void simulate_many(const ModelSet& models, int n, uint64_t seed, int threads,
                   std::vector<Dataset<float>>& data, int* model);

// Per data set and feature, the smallest and largest observed input value:
// n_datasets x n_features, row-major, one array each.
struct FeatureRanges {
  double* lo = nullptr;
  double* hi = nullptr;
};

// logits (n_datasets x n_models, row-major) of the data sets of a batch (see
// packed_batch.h), each unpacked on the thread that evaluates it. finite (one
// per data set) is set to 0 for data sets with an observed value that is not
// finite in single precision (NaN, infinite, or beyond about 3.4e38), whose
// logits and ranges are left as they were, and to 1 for the others.
void predict_packed(const NetworkSpec& spec, const float* params, const PackedBatch& batch,
                    int threads, double* logits, uint8_t* finite, const FeatureRanges& ranges);
void predict_matrices(const NetworkSpec& spec, const float* params, const MatrixBatch& batch,
                      int threads, double* logits, uint8_t* finite, const FeatureRanges& ranges);

// Simulates data sets 0..n-1 of the stream `seed` (the same ones simulate_many
// returns) and predicts each at once, so memory does not grow with n.
void validate_simulated(const NetworkSpec& spec, const float* params, const ModelSet& models,
                        int n, uint64_t seed, int threads, double* logits, int* model,
                        int* groups, double* obs_per_group);

}  // namespace deepbmc
