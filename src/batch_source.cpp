#include "batch_source.h"

#include <numeric>
#include <stdexcept>
#include <utility>

#include "rng.h"

namespace deepbmc {

int SimulatorSource::fill(int64_t step, int slot, Dataset<float>& out) const {
  Rng rng(stream_key(seed_, StreamPurpose::train, static_cast<uint64_t>(step), slot));
  const int model = slot % models_.n_models();
  out.present.clear();  // simulators write every value; missing ones come later
  models_.simulate(model, rng, out);
  return model;
}

StoredSource::StoredSource(const PackedBatch& bank, std::vector<int> models, int n_models,
                           uint64_t seed)
    : bank_(bank), n_models_(n_models), seed_(seed), by_model_(n_models),
      cached_pass_(n_models, -1), cached_order_(n_models) {
  if (static_cast<int>(models.size()) != bank.n_datasets) {
    throw std::invalid_argument("stored simulations need one model per data set");
  }
  for (int i = 0; i < bank.n_datasets; ++i) {
    if (models[i] == kNotInBank) continue;
    if (models[i] < 0 || models[i] >= n_models) {
      throw std::invalid_argument("stored simulations have a model outside the model set");
    }
    by_model_[models[i]].push_back(i);
  }
  for (int k = 0; k < n_models; ++k) {
    if (by_model_[k].empty()) {
      throw std::invalid_argument("stored simulations need data sets of every model");
    }
  }
}

int StoredSource::index_of(int k, int64_t j) {
  const std::vector<int>& all = by_model_[k];
  const int64_t n = static_cast<int64_t>(all.size());
  const int64_t pass = j / n;
  if (cached_pass_[k] != pass) {
    // Fisher-Yates from the pass's own stream.
    std::vector<int>& order = cached_order_[k];
    order = all;
    Rng rng(stream_key(seed_, StreamPurpose::shuffle, static_cast<uint64_t>(pass), k));
    for (int64_t i = n - 1; i > 0; --i) {
      const int64_t swap = rng.uniform_int(0, static_cast<int>(i));
      std::swap(order[i], order[swap]);
    }
    cached_pass_[k] = pass;
  }
  return cached_order_[k][j % n];
}

void StoredSource::begin_step(int64_t step, int batch_size) {
  slot_index_.resize(batch_size);
  for (int b = 0; b < batch_size; ++b) {
    const int k = b % n_models_;
    // Slots of model k per step, and the position of slot b among them.
    const int per_step = (batch_size - 1 - k) / n_models_ + 1;
    slot_index_[b] = index_of(k, step * per_step + b / n_models_);
  }
}

int StoredSource::fill(int64_t step, int slot, Dataset<float>& out) const {
  const int index = slot_index_[slot];
  // Stored values were checked when they were stored; a value that is not
  // finite in float still cannot reach the network.
  if (!unpack_dataset(bank_, index, out)) {
    throw std::invalid_argument("a stored simulation holds values that are not finite in float");
  }
  (void)step;
  return slot % n_models_;
}

}  // namespace deepbmc
