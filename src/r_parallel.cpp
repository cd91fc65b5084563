// Glue: the thread count TBB really runs on (parallel.h), for the tests.
#include <Rcpp.h>

#include "parallel.h"
#include "r_convert.h"

using namespace deepbmc;

// [[Rcpp::export]]
int cpp_arena_concurrency(int threads) {
  r_check_threads(threads);
  return arena_concurrency(threads);
}
