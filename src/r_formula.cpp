// Glue: features of a real data set for formula models, computed by the same
// write_features() the simulator uses, so real and simulated data match.
#include <Rcpp.h>

#include <vector>

#include "formula_models.h"
#include "r_convert.h"

using namespace deepbmc;

// Returns the n x F feature matrix: column 1 the standardized response as a
// share of trials, columns 2..F the covariate features. Rows with a missing
// response are all 0 (the caller drops or masks them).
// [[Rcpp::export]]
Rcpp::NumericMatrix cpp_formula_features(Rcpp::List scaling, Rcpp::NumericVector y,
                                         Rcpp::IntegerVector trials,
                                         Rcpp::NumericMatrix covariate_features) {
  const FeatureScaling s = r_feature_scaling(scaling);
  const int n = y.size();
  const int n_cov = covariate_features.ncol();
  if (trials.size() != n || covariate_features.nrow() != n) {
    Rcpp::stop("internal: y, trials and covariate_features need one entry (row) per observation");
  }
  Rcpp::NumericMatrix out(n, n_cov + 1);
  std::vector<double> cov(n_cov);
  std::vector<float> row(n_cov + 1);
  for (int i = 0; i < n; ++i) {
    if (ISNAN(y[i])) continue;  // stays 0
    if (trials[i] == NA_INTEGER || trials[i] < 1) {
      Rcpp::stop("internal: trials must be at least 1 where the response is observed");
    }
    for (int j = 0; j < n_cov; ++j) cov[j] = covariate_features(i, j);
    write_features(s, y[i], trials[i], cov.data(), n_cov, row.data());
    for (int j = 0; j <= n_cov; ++j) out(i, j) = row[j];
  }
  return out;
}

// The simulator's families and links by code, for the test that R's family
// registry agrees with it: whether each family has sigma, a second parameter
// (nu, shape or phi) and its lower bound, and which links it takes
// (families x links).
// [[Rcpp::export]]
Rcpp::List cpp_formula_families() {
  Rcpp::LogicalVector sigma(kFamilies), aux(kFamilies);
  Rcpp::NumericVector aux_lower(kFamilies);
  Rcpp::LogicalMatrix takes_link(kFamilies, kLinks);
  for (int f = 0; f < kFamilies; ++f) {
    sigma[f] = family_has_sigma(static_cast<Family>(f));
    aux[f] = family_has_aux(static_cast<Family>(f));
    aux_lower[f] = family_aux_lower(static_cast<Family>(f));
    for (int l = 0; l < kLinks; ++l) {
      takes_link(f, l) = family_takes_link(static_cast<Family>(f), static_cast<Link>(l));
    }
  }
  return Rcpp::List::create(Rcpp::Named("sigma") = sigma, Rcpp::Named("aux") = aux,
                            Rcpp::Named("aux_lower") = aux_lower,
                            Rcpp::Named("takes_link") = takes_link);
}
