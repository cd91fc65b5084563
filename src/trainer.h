// Online training and amortized inference: simulation, forward and backward run
// in parallel over the data sets of a batch; per-data-set random streams and
// gradient slots summed in index order make results identical for any number
// of threads.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "adam.h"
#include "dataset.h"
#include "loss.h"
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
};

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
  Trainer(const NetworkSpec& spec, const ModelSet& models, int batch_size, uint64_t seed,
          int threads, const TrainingMethod& method = TrainingMethod());
  ~Trainer();
  // Runs n_steps steps from adam.step on: simulate a fresh batch (model of slot
  // b is b mod K, so every batch is balanced; subsampled as the method says),
  // forward, backward of the method's loss, Adam update.
  void run(int n_steps, float* params, AdamState& adam, const AdamOptions& options,
           StepStats* stats);

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

// logits (n_datasets x n_models, row-major) of the data sets of a batch (see
// packed_batch.h), each unpacked on the thread that evaluates it. finite (one
// per data set) is set to 0 for data sets with a non-finite observed value,
// whose logits are left as they were, and to 1 for the others.
void predict_packed(const NetworkSpec& spec, const float* params, const PackedBatch& batch,
                    int threads, double* logits, uint8_t* finite);
void predict_matrices(const NetworkSpec& spec, const float* params, const MatrixBatch& batch,
                      int threads, double* logits, uint8_t* finite);

// Simulates data sets 0..n-1 of the stream `seed` (the same ones simulate_many
// returns) and predicts each at once, so memory does not grow with n.
void validate_simulated(const NetworkSpec& spec, const float* params, const ModelSet& models,
                        int n, uint64_t seed, int threads, double* logits, int* model,
                        int* groups, double* obs_per_group);

}  // namespace deepbmc
