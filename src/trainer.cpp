#include "trainer.h"

#include <tbb/enumerable_thread_specific.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "loss.h"
#include "network.h"
#include "parallel.h"

namespace deepbmc {
namespace {

int argmax(const double* x, int k) { return static_cast<int>(std::max_element(x, x + k) - x); }

// Parameters are summed in blocks: enough work per task, and the order of the
// final norm sum is fixed whatever the thread count.
constexpr size_t kParamBlock = 4096;

// Data sets per gradient slot. Each task handles one fixed run of data sets
// and adds their gradients into its own slot, in order; the slots are then
// summed in order. Results therefore do not depend on the thread count, and
// zeroing and summing the slots touches batch / kSlotSize parameter vectors
// rather than one per data set (15 MB per step for the Study 1 network).
constexpr int kSlotSize = 4;

// First row of set s of level `level` (sets of level 0 are groups of rows).
int first_row(const Dataset<float>& d, int level, int s) {
  for (int k = level; k >= 0; --k) s = d.offsets[k][s];
  return s;
}

// Keeps `keep` of the present elements among `present` (indices), chosen at
// random by a partial Fisher-Yates shuffle; calls drop(e) for the others.
template <class Drop>
void keep_random(std::vector<int>& present, int keep, Rng& rng, const Drop& drop) {
  const int n = static_cast<int>(present.size());
  for (int i = 0; i < keep && i < n - 1; ++i) {
    std::swap(present[i], present[rng.uniform_int(i, n - 1)]);
  }
  for (int i = keep; i < n; ++i) drop(present[i]);
}

// A mean log loss above this means training has blown up, even while every
// number is still finite: chance is log(K), and a network whose logits are
// off by a thousand on average has left any useful state (too large a
// learning rate does this long before weights overflow).
constexpr double kDivergedLoss = 1000.0;

}  // namespace

void subsample_dataset(Dataset<float>& d, double prob, Rng& rng, bool log_sizes) {
  if (!(prob > 0.0)) return;
  const int n_levels = d.levels();
  std::vector<int> present;
  // Top level: its single set's elements are rows (one level) or sets of the
  // level below, each a contiguous run of rows.
  if (rng.uniform() < prob) {
    const int top = n_levels - 1;
    const int n_elements = d.offsets[top].back();
    auto rows_of = [&](int e, int* begin, int* end) {
      *begin = top == 0 ? e : first_row(d, top - 1, e);
      *end = top == 0 ? e + 1 : first_row(d, top - 1, e + 1);
    };
    present.clear();
    for (int e = 0; e < n_elements; ++e) {
      int begin, end;
      rows_of(e, &begin, &end);
      for (int r = begin; r < end; ++r) {
        if (d.mask[r]) {
          present.push_back(e);
          break;
        }
      }
    }
    if (!present.empty()) {
      const int n = static_cast<int>(present.size());
      const int keep =
          log_sizes ? std::min(n, std::max(1, static_cast<int>(std::lround(
                                                  std::exp(rng.uniform() * std::log(n + 0.5))))))
                    : rng.uniform_int(1, n);
      keep_random(present, keep, rng, [&](int e) {
        int begin, end;
        rows_of(e, &begin, &end);
        std::fill(d.mask.begin() + begin, d.mask.begin() + end, uint8_t(0));
      });
    }
  }
  // Observations within groups (data with groups only).
  if (n_levels >= 2 && rng.uniform() < prob) {
    const int n_groups = static_cast<int>(d.offsets[0].size()) - 1;
    int largest = 1;
    for (int g = 0; g < n_groups; ++g) largest = std::max(largest, d.offsets[0][g + 1] - d.offsets[0][g]);
    const double share = log_sizes ? std::exp(-rng.uniform() * std::log(largest + 0.5))
                                   : 1.0 - rng.uniform();  // (0, 1]
    for (int g = 0; g < n_groups; ++g) {
      present.clear();
      for (int r = d.offsets[0][g]; r < d.offsets[0][g + 1]; ++r) {
        if (d.mask[r]) present.push_back(r);
      }
      if (present.empty()) continue;
      const int keep = std::max(1, static_cast<int>(std::ceil(share * present.size())));
      keep_random(present, keep, rng, [&](int r) { d.mask[r] = 0; });
    }
  }
}

struct Trainer::Impl {
  const NetworkSpec& spec;
  BatchSource& source;
  int batch_size;
  uint64_t seed;
  TrainingMethod method;
  tbb::task_arena arena;
  std::vector<Dataset<float>> batch;
  int n_slots;
  std::vector<float> grad_slots;  // n_slots x n_params
  std::vector<float> grads;
  std::vector<double> logits, dlogits, losses, block_norms;
  std::vector<uint8_t> correct;
  // Per batch slot, the range of every feature over the data sets the slot
  // has simulated (batch_size x n_features): each task writes only its own.
  int dim;
  std::vector<double> seen_lo, seen_hi;
  // The state before the last update, to return to if it was not finite.
  std::vector<float> last_params, last_m, last_v;
  tbb::enumerable_thread_specific<Workspace<float>> workspaces;
  Network<float> net;  // re-pointed at the parameters every step

  Impl(const NetworkSpec& s, BatchSource& m, int b, int threads, const TrainingMethod& tm,
       uint64_t sd)
      : spec(s), source(m), batch_size(b), seed(sd), method(tm), arena(arena_threads(threads)),
        batch(b),
        n_slots((b + kSlotSize - 1) / kSlotSize),
        grad_slots(static_cast<size_t>(n_slots) * s.n_params), grads(s.n_params),
        logits(static_cast<size_t>(b) * s.config.n_models), dlogits(logits.size()),
        losses(b), block_norms((s.n_params + kParamBlock - 1) / kParamBlock), correct(b),
        dim(m.n_features()),
        seen_lo(static_cast<size_t>(b) * dim, std::numeric_limits<double>::infinity()),
        seen_hi(static_cast<size_t>(b) * dim, -std::numeric_limits<double>::infinity()),
        net(s, nullptr) {}

  // One training step; false (and nothing updated) when it diverged.
  bool step(float* params, AdamState& adam, const AdamOptions& options, StepStats& stats) {
    const int k = spec.config.n_models;
    const size_t n_params = spec.n_params;
    net.set_params(params);
    const int64_t step_index = adam.step;
    source.begin_step(step_index, batch_size);

    parallel_for_each(arena, n_slots, [&](int slot_index) {
      Workspace<float>& ws = workspaces.local();
      float* slot = &grad_slots[static_cast<size_t>(slot_index) * n_params];
      std::fill(slot, slot + n_params, 0.0f);
      const int end = std::min(batch_size, (slot_index + 1) * kSlotSize);
      for (int b = slot_index * kSlotSize; b < end; ++b) {
        const int model = source.fill(step_index, b, batch[b]);
        batch[b].widen_ranges(&seen_lo[static_cast<size_t>(b) * dim],
                              &seen_hi[static_cast<size_t>(b) * dim]);
        if (method.subsample > 0.0) {
          Rng sub(stream_key(seed, StreamPurpose::subsample, static_cast<uint64_t>(step_index), b));
          subsample_dataset(batch[b], method.subsample, sub, method.log_sizes);
        }
        if (method.missing.active()) {
          Rng miss(stream_key(seed, StreamPurpose::missing, static_cast<uint64_t>(step_index), b));
          apply_missing(batch[b], method.missing, miss);
        }
        double* z = &logits[static_cast<size_t>(b) * k];
        double* dz = &dlogits[static_cast<size_t>(b) * k];
        net.forward(batch[b], ws, true, z);
        // The log loss is reported whatever the training loss, so that
        // histories of different methods compare.
        losses[b] = cross_entropy(z, k, model, 1.0 / batch_size, dz);
        if (method.loss != LossKind::cross_entropy) {
          loss_and_grad(method.loss, z, k, model, 1.0 / batch_size, dz, method.weight_cap);
        }
        correct[b] = argmax(z, k) == model;
        net.backward(batch[b], ws, dz, slot);
      }
    });

    const int n_blocks = static_cast<int>(block_norms.size());
    parallel_for_each(arena, n_blocks, [&](int block) {
      const size_t begin = block * kParamBlock;
      const size_t end = std::min(n_params, begin + kParamBlock);
      double norm = 0.0;
      for (size_t i = begin; i < end; ++i) {
        float sum = 0.0f;
        for (int s = 0; s < n_slots; ++s) sum += grad_slots[static_cast<size_t>(s) * n_params + i];
        grads[i] = sum;
        norm += static_cast<double>(sum) * sum;
      }
      block_norms[block] = norm;
    });
    double norm = 0.0;
    for (double block : block_norms) norm += block;
    double loss = 0.0, right = 0.0;
    for (int b = 0; b < batch_size; ++b) {
      loss += losses[b];
      right += correct[b];
    }
    if (!std::isfinite(norm) || !(loss / batch_size <= kDivergedLoss)) return false;

    last_params.assign(params, params + n_params);
    last_m = adam.m;
    last_v = adam.v;
    adam_update(params, grads.data(), n_params, std::sqrt(norm), adam, options);
    if (!all_finite(params, n_params) || !all_finite(adam.v.data(), n_params)) {
      std::copy(last_params.begin(), last_params.end(), params);
      adam.m.swap(last_m);
      adam.v.swap(last_v);
      adam.step -= 1;
      return false;
    }
    stats.loss = loss / batch_size;
    stats.accuracy = right / batch_size;
    return true;
  }

  static bool all_finite(const float* x, size_t n) {
    // One pass without early exit, which the compiler vectorises: x - x is
    // 0 for finite x and NaN for infinities and NaN.
    float sum = 0.0f;
    for (size_t i = 0; i < n; ++i) sum += x[i] - x[i];
    return sum == 0.0f;
  }
};

Trainer::Trainer(const NetworkSpec& spec, BatchSource& source, int batch_size, int threads,
                 const TrainingMethod& method, uint64_t seed)
    : impl_(new Impl(spec, source, batch_size, threads, method, seed)) {}

Trainer::~Trainer() = default;

int Trainer::run(int n_steps, float* params, AdamState& adam, const AdamOptions& options,
                 StepStats* stats) {
  for (int i = 0; i < n_steps; ++i) {
    if (!impl_->step(params, adam, options, stats[i])) return i;
  }
  return n_steps;
}

void Trainer::seen_ranges(double* lo, double* hi) const {
  const int dim = impl_->dim;
  std::fill(lo, lo + dim, std::numeric_limits<double>::infinity());
  std::fill(hi, hi + dim, -std::numeric_limits<double>::infinity());
  for (int b = 0; b < impl_->batch_size; ++b) {
    for (int j = 0; j < dim; ++j) {
      lo[j] = std::min(lo[j], impl_->seen_lo[static_cast<size_t>(b) * dim + j]);
      hi[j] = std::max(hi[j], impl_->seen_hi[static_cast<size_t>(b) * dim + j]);
    }
  }
}

int simulate_indexed(const ModelSet& models, uint64_t seed, int64_t index, Dataset<float>& out) {
  Rng rng(stream_key(seed, StreamPurpose::simulate, 0, static_cast<uint64_t>(index)));
  const int model = rng.uniform_int(0, models.n_models() - 1);
  out.present.clear();  // simulators write every value
  models.simulate(model, rng, out);
  return model;
}

void simulate_many(const ModelSet& models, int n, uint64_t seed, int threads,
                   std::vector<Dataset<float>>& data, int* model) {
  data.resize(n);
  tbb::task_arena arena(arena_threads(threads));
  parallel_for_each(arena, n, [&](int i) { model[i] = simulate_indexed(models, seed, i, data[i]); });
}

// Unpacks (or simulates) data set i with unpack(i, Dataset&) -> finite?, then
// predicts it, on the thread that evaluates it. finite[i] = 0 marks data sets not
// predicted because a value was not finite. With ranges, also writes the
// smallest and largest observed value of every feature of data set i to
// ranges->lo / ranges->hi (row i of n x n_features, row-major).
template <class Unpack>
static void predict_each(const NetworkSpec& spec, const float* params, int n, int threads,
                         const Unpack& unpack, double* logits, uint8_t* finite,
                         const FeatureRanges* ranges = nullptr, double* head_inputs = nullptr) {
  const Network<float> net(spec, params);
  const int k = spec.config.n_models;
  const int dim = spec.config.input_dim;
  struct Local {
    Dataset<float> data;
    Workspace<float> ws;
  };
  tbb::enumerable_thread_specific<Local> locals;
  tbb::task_arena arena(arena_threads(threads));
  parallel_for_each(arena, n, [&](int i) {
    Local& local = locals.local();
    finite[i] = unpack(i, local.data);
    if (!finite[i]) return;
    net.forward(local.data, local.ws, false, logits + static_cast<size_t>(i) * k);
    if (head_inputs != nullptr) {
      const int width = spec.head_input_dim();
      const float* h = local.ws.head_input.val.data.data();
      std::copy(h, h + width, head_inputs + static_cast<size_t>(i) * width);
    }
    if (ranges != nullptr) {
      double* lo = ranges->lo + static_cast<size_t>(i) * dim;
      double* hi = ranges->hi + static_cast<size_t>(i) * dim;
      std::fill(lo, lo + dim, std::numeric_limits<double>::infinity());
      std::fill(hi, hi + dim, -std::numeric_limits<double>::infinity());
      local.data.widen_ranges(lo, hi);
    }
  });
}

void predict_packed(const NetworkSpec& spec, const float* params, const PackedBatch& batch,
                    int threads, double* logits, uint8_t* finite, const FeatureRanges& ranges,
                    double* head_inputs) {
  predict_each(
      spec, params, batch.n_datasets, threads,
      [&](int i, Dataset<float>& out) { return unpack_dataset(batch, i, out); }, logits, finite,
      &ranges, head_inputs);
}

void predict_matrices(const NetworkSpec& spec, const float* params, const MatrixBatch& batch,
                      int threads, double* logits, uint8_t* finite, const FeatureRanges& ranges) {
  predict_each(
      spec, params, batch.n_datasets(), threads,
      [&](int i, Dataset<float>& out) { return unpack_matrix(batch, i, out); }, logits, finite,
      &ranges);
}

void validate_simulated(const NetworkSpec& spec, const float* params, const ModelSet& models,
                        int n, uint64_t seed, int threads, double* logits, int* model,
                        int* groups, double* obs_per_group, const MissingSpec& missing) {
  std::vector<uint8_t> finite(n);  // simulated values are always finite
  predict_each(
      spec, params, n, threads,
      [&](int i, Dataset<float>& out) {
        model[i] = simulate_indexed(models, seed, i, out);
        const int n_groups = static_cast<int>(out.offsets[0].size()) - 1;
        groups[i] = n_groups;
        obs_per_group[i] = n_groups > 0 ? static_cast<double>(out.rows()) / n_groups : 0.0;
        if (missing.active()) {
          Rng miss(stream_key(seed, StreamPurpose::missing, kValidationMissingStep,
                              static_cast<uint64_t>(i)));
          apply_missing(out, missing, miss);
        }
        return true;
      },
      logits, finite.data());
}

}  // namespace deepbmc
