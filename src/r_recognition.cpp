// Glue for the tests of the recognition-memory simulator: its inverse-Wishart
// draws and per-participant response rates, from one stream.
#include <Rcpp.h>

#include "r_convert.h"
#include "recognition_memory.h"

using namespace deepbmc;

// n draws of Q ~ inverse-Wishart(df, I_2), as an n x 3 matrix (q11, q12, q22).
// [[Rcpp::export]]
Rcpp::NumericMatrix cpp_inverse_wishart_2(int n, double df, double seed) {
  Rcpp::NumericMatrix out(n, 3);
  Rng rng(stream_key(r_seed(seed), StreamPurpose::simulate, 0, 0));
  double q[3];
  for (int i = 0; i < n; ++i) {
    inverse_wishart_2(df, rng, q);
    for (int j = 0; j < 3; ++j) out(i, j) = q[j];
  }
  return out;
}
