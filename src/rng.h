// Counter-based random streams: every data set gets its own generator, keyed by
// (seed, step, index, purpose), so results never depend on thread count or on how
// TBB splits the work.
#pragma once
#include <cmath>
#include <cstdint>

namespace deepbmc {

inline uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// Purposes keep streams for different jobs apart even at equal (seed, step, index).
// validate() reuses the simulate stream on purpose: its data sets are the ones
// simulate_datasets() returns for the same seed.
// shuffle orders the stored simulations of offline training; subsample draws
// which groups and observations a training data set keeps (their own streams,
// so that training without them is unchanged); missing draws the missing
// values of missing_values() (its own stream for the same reason).
enum class StreamPurpose : uint64_t {
  init = 1,
  train = 2,
  simulate = 3,
  shuffle = 4,
  subsample = 5,
  missing = 6  // which values of a training or validation data set go missing
};

inline uint64_t stream_key(uint64_t seed, StreamPurpose purpose, uint64_t step,
                           uint64_t index) {
  uint64_t s = seed ^ (static_cast<uint64_t>(purpose) * 0xD1B54A32D192ED03ULL);
  uint64_t k = splitmix64(s);
  s = k ^ (step * 0xA24BAED4963EE407ULL);
  k = splitmix64(s);
  s = k ^ (index * 0x9FB21C651E98DF25ULL);
  return splitmix64(s);
}

// xoshiro256++ (Blackman & Vigna), seeded from one 64-bit key by splitmix64.
class Rng {
 public:
  explicit Rng(uint64_t key) {
    for (auto& word : s_) word = splitmix64(key);
  }

  uint64_t next() {
    const uint64_t result = rotl(s_[0] + s_[3], 23) + s_[0];
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  // Uniform on [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

  // Uniform whole number in [lo, hi].
  int uniform_int(int lo, int hi) {
    const uint64_t span = static_cast<uint64_t>(hi - lo) + 1;
    return lo + static_cast<int>(uniform() * static_cast<double>(span));
  }

  // Standard normal by Box-Muller; the second value of each pair is kept.
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double u1 = 1.0 - uniform();  // (0, 1]: log stays finite
    const double u2 = uniform();
    const double radius = std::sqrt(-2.0 * std::log(u1));
    const double angle = 6.283185307179586476925 * u2;
    spare_ = radius * std::sin(angle);
    has_spare_ = true;
    return radius * std::cos(angle);
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
  double spare_ = 0.0;
  bool has_spare_ = false;
};

}  // namespace deepbmc
