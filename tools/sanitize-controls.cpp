// Positive controls for `make sanitize` (tools/sanitize.sh): each entry point
// commits one error the sanitizers must report. The script compiles this file
// with the same flags as the package and calls each entry point in its own R
// process under the same runtime; if one of them is NOT reported, the setup is
// broken (flags not applied, runtime not preloaded, logs not written) and a
// clean run of the tests would prove nothing. Not part of the package.
#include <climits>
#include <cstring>
#include <thread>
#include <vector>

#include <R.h>
#include <Rinternals.h>

extern "C" {

// ASan: heap-buffer-overflow, one int past the end of new int[n].
SEXP control_heap_overflow(SEXP n_) {
  int n = Rf_asInteger(n_);
  int* p = new int[n];
  volatile int i = n;  // volatile: the compiler cannot see the bound
  p[i] = 1;
  int result = p[0];
  delete[] p;
  return Rf_ScalarInteger(result);
}

// ASan: the same overflow on a second thread, as deepbmc's kernels run on
// TBB worker threads (which are pthreads too).
SEXP control_thread_overflow(SEXP n_) {
  int n = Rf_asInteger(n_);
  int result = 0;
  std::thread worker([n, &result] {
    int* p = new int[n];
    volatile int i = n;
    p[i] = 2;
    result = p[0];
    delete[] p;
  });
  worker.join();
  return Rf_ScalarInteger(result);
}

// UBSan: signed integer overflow, INT_MAX + n for n >= 1.
SEXP control_signed_overflow(SEXP n_) {
  volatile int big = INT_MAX;
  int n = Rf_asInteger(n_);
  int sum = big + n;
  return Rf_ScalarInteger(sum);
}

// UBSan: the same overflow on a second thread.
SEXP control_thread_signed_overflow(SEXP n_) {
  int n = Rf_asInteger(n_);
  int sum = 0;
  std::thread worker([n, &sum] {
    volatile int big = INT_MAX;
    sum = big + n;
  });
  worker.join();
  return Rf_ScalarInteger(sum);
}

// UBSan: load of a misaligned int.
SEXP control_misaligned(SEXP offset_) {
  alignas(16) char buffer[32];
  std::memset(buffer, 1, sizeof buffer);
  volatile int offset = Rf_asInteger(offset_);
  int* p = reinterpret_cast<int*>(buffer + offset);
  int value = *p;
  return Rf_ScalarInteger(value);
}

// UBSan (float-cast-overflow): a double far outside int's range cast to int.
SEXP control_float_cast(SEXP x_) {
  volatile double x = Rf_asReal(x_) * 1e10;
  int value = static_cast<int>(x);
  return Rf_ScalarInteger(value);
}

// _GLIBCXX_ASSERTIONS: an index past size() but inside capacity(), which
// ASan cannot see (the memory is allocated).
SEXP control_vector_index(SEXP n_) {
  std::vector<int> v;
  v.reserve(16);
  v.resize(1);
  volatile int i = Rf_asInteger(n_);
  return Rf_ScalarInteger(v[i]);
}

}  // extern "C"
