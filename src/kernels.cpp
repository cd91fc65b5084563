#include "kernels.h"

#include <cstring>

namespace deepbmc {
namespace kernels_baseline {
#include "kernels_body.h"
}  // namespace kernels_baseline
}  // namespace deepbmc

#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
#define DEEPBMC_AVX2_KERNELS 1
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif
namespace deepbmc {
namespace kernels_avx2 {
#include "kernels_body.h"
}  // namespace kernels_avx2
}  // namespace deepbmc
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif

namespace deepbmc {
namespace {

bool cpu_has_avx2() {
#ifdef DEEPBMC_AVX2_KERNELS
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

const KernelTable* best_kernels() {
#ifdef DEEPBMC_AVX2_KERNELS
  if (cpu_has_avx2()) return &kernels_avx2::table;
#endif
  return &kernels_baseline::table;
}

const KernelTable* active = best_kernels();

}  // namespace

const KernelTable& kernels() { return *active; }

const char* select_kernels(const char* which) {
  if (std::strcmp(which, "baseline") == 0) {
    active = &kernels_baseline::table;
  } else if (std::strcmp(which, "avx2") == 0 && cpu_has_avx2()) {
#ifdef DEEPBMC_AVX2_KERNELS
    active = &kernels_avx2::table;
#endif
  } else {
    active = best_kernels();
  }
  return active == &kernels_baseline::table ? "baseline" : "avx2";
}

bool avx2_kernels_active() { return active != &kernels_baseline::table; }

}  // namespace deepbmc
