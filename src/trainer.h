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
#include "loss.h"
#include "missing.h"
#include "network_spec.h"
#include "packed_batch.h"
#include "simulators.h"

namespace deepbmc {

// How the network is trained: the loss (loss.h) and the share of training
// data sets subsampled to smaller designs (see subsample_dataset).
struct TrainingMethod {
  LossKind loss = LossKind::cross_entropy;
  double subsample = 0.0;  // probability, per data set and per level, of subsampling
  double weight_cap = kWeightCap;  // of the weighted log loss
  bool log_sizes = false;  // subsampled sizes log-uniform rather than uniform
  // Missing values drawn into every training data set after subsampling
  // (stream (seed, missing, step, slot)).
  MissingSpec missing;
};

// The `step` of the missing-value streams of validation data sets (index: the
// data set), apart from every training step.
constexpr uint64_t kValidationMissingStep = ~uint64_t(0);

// Masks part of a data set so that training also sees the prior predictive of
// smaller designs: groups and observations within groups are exchangeable in a
// hierarchical model, so a random subset of them is a draw for the smaller
// design. With probability `prob` it keeps a uniform number 1..G of the G
// present top-level elements (groups of a two-level data set); independently
// with probability `prob`, in every group a share f ~ U(0, 1] (one f per data
// set) of its present rows, at least one. With log_sizes, the number of groups
// kept is exp(U(0, log G)) rounded, and f = exp(U(log(1 / n), 0)) with n the
// largest group, so small designs are drawn more often. Masked rows are never
// unmasked.
void subsample_dataset(Dataset<float>& data, double prob, Rng& rng, bool log_sizes = false);

struct StepStats {
  double loss = 0.0;      // mean cross-entropy (log loss) over the batch, whatever the training loss
  double accuracy = 0.0;  // share of the batch whose largest logit is the true model
};

class Trainer {
 public:
  // The source (which must outlive the trainer) provides every batch; the
  // method says how it is trained, and `seed` keys its subsampling stream.
  Trainer(const NetworkSpec& spec, BatchSource& source, int batch_size, int threads,
          const TrainingMethod& method = TrainingMethod(), uint64_t seed = 0);
  ~Trainer();
  // Runs up to n_steps steps from adam.step on: a batch from the source
  // (balanced over the models; subsampled as the method says), forward,
  // backward of the method's loss, Adam update. Training has diverged when a
  // step's gradient is not finite, its mean loss is not below 1000
  // (kDivergedLoss), or its update would make a weight or Adam's state
  // non-finite: run() then stops before that update, so params and adam keep
  // the last finite state, and returns the number of steps done (n_steps when
  // none diverged).
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
// logits and ranges are left as they were, and to 1 for the others. With
// head_inputs (n_datasets x spec.head_input_dim(), row-major), also what the
// head reads of each data set (its summary, sizes, scale inputs and
// statistics), for tests in the summary space (misspecification_test()).
void predict_packed(const NetworkSpec& spec, const float* params, const PackedBatch& batch,
                    int threads, double* logits, uint8_t* finite, const FeatureRanges& ranges,
                    double* head_inputs = nullptr);
void predict_matrices(const NetworkSpec& spec, const float* params, const MatrixBatch& batch,
                      int threads, double* logits, uint8_t* finite, const FeatureRanges& ranges);

// Simulates data sets 0..n-1 of the stream `seed` (the same ones simulate_many
// returns) and predicts each at once, so memory does not grow with n.
// With `missing`, data set i then loses values drawn from the stream (seed,
// missing, kValidationMissingStep, i); groups and obs_per_group are the sizes
// simulated, before any value went missing.
void validate_simulated(const NetworkSpec& spec, const float* params, const ModelSet& models,
                        int n, uint64_t seed, int threads, double* logits, int* model,
                        int* groups, double* obs_per_group,
                        const MissingSpec& missing = MissingSpec());

}  // namespace deepbmc
