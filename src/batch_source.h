// Where the trainer's batches come from, kept apart from the training step as
// llm.c keeps its data loader apart from forward/backward/update. The step
// asks a source for the data set of every batch slot and does not know which
// source it is:
// - SimulatorSource: online, a fresh simulation per slot and step from a C++
//   model set;
// - StoredSource: offline, passes over a bank of stored simulations (packed,
//   see packed_batch.h), each model's data sets in an order reshuffled per
//   pass from the seed.
// Both are balanced over the models (slot b holds model b mod K) and decide
// each slot's data set from (seed, step, slot) alone, so results never depend
// on the thread count.
#pragma once
#include <cstdint>
#include <vector>

#include "dataset.h"
#include "packed_batch.h"
#include "simulators.h"

namespace deepbmc {

class BatchSource {
 public:
  virtual ~BatchSource() = default;
  virtual int n_models() const = 0;
  virtual int n_features() const = 0;
  virtual int n_levels() const = 0;
  // On the main thread, before the slots of step `step` are filled.
  virtual void begin_step(int64_t step, int batch_size) {}
  // Writes the data set of slot `slot` at step `step` into `out` and returns
  // its model (0-based). Called from worker threads, concurrently for
  // different slots of one step.
  virtual int fill(int64_t step, int slot, Dataset<float>& out) const = 0;
};

class SimulatorSource : public BatchSource {
 public:
  SimulatorSource(const ModelSet& models, uint64_t seed) : models_(models), seed_(seed) {}
  int n_models() const override { return models_.n_models(); }
  int n_features() const override { return models_.n_features(); }
  int n_levels() const override { return models_.n_levels(); }
  int fill(int64_t step, int slot, Dataset<float>& out) const override;

 private:
  const ModelSet& models_;
  uint64_t seed_;
};

// A bank of stored data sets (a packed batch whose data sets have the given
// 0-based models; kNotInBank leaves a data set out, e.g. for a holdout set). Slot b of step s holds model k = b mod K; model k's slots,
// counted over the steps, walk through its data sets in passes, each pass in
// an order drawn from (seed, k, pass). The bank's memory is not copied: it
// must outlive the source.
class StoredSource : public BatchSource {
 public:
  static constexpr int kNotInBank = -1;
  StoredSource(const PackedBatch& bank, std::vector<int> models, int n_models, uint64_t seed);
  int n_models() const override { return n_models_; }
  int n_features() const override { return bank_.n_features; }
  int n_levels() const override { return 2; }
  void begin_step(int64_t step, int batch_size) override;
  int fill(int64_t step, int slot, Dataset<float>& out) const override;

  // The bank index of the j-th data set model k draws (0-based). Passes are
  // reached in increasing order, so one cached order per model suffices.
  int index_of(int k, int64_t j);
  // The bank index of slot `slot` of the current step.
  int slot_index(int slot) const { return slot_index_[slot]; }

 private:
  PackedBatch bank_;
  int n_models_;
  uint64_t seed_;
  std::vector<std::vector<int>> by_model_;  // bank indices of each model
  std::vector<int64_t> cached_pass_;        // per model: pass of cached_order_
  std::vector<std::vector<int>> cached_order_;
  std::vector<int> slot_index_;  // bank index of each slot of the current step
};

}  // namespace deepbmc
