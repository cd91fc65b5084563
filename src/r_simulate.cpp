// Glue: simulated data sets returned as one packed batch (format in R/data.R).
#include <Rcpp.h>

#include <algorithm>

#include "r_convert.h"
#include "trainer.h"

using namespace deepbmc;

// [[Rcpp::export]]
Rcpp::List cpp_simulate(Rcpp::List models, int n, double seed, int threads) {
  const std::unique_ptr<ModelSet> model_set = r_model_set(models);
  if (n < 0 || threads < 1) Rcpp::stop("internal: invalid simulation sizes");
  std::vector<Dataset<float>> data;
  std::vector<int> model(n);
  simulate_many(*model_set, n, r_seed(seed), threads, data, model.data());

  size_t n_values = 0, n_rows = 0, n_groups = 0;
  for (const auto& d : data) {
    n_values += d.x.size();
    n_rows += d.rows();
    n_groups += d.offsets[0].size() - 1;
  }
  Rcpp::NumericVector values(n_values);
  Rcpp::LogicalVector mask(n_rows);
  Rcpp::IntegerVector group_offsets(n_groups + 1), dataset_offsets(n + 1);
  size_t v = 0, r = 0, g = 0;
  for (int b = 0; b < n; ++b) {
    const Dataset<float>& d = data[b];
    dataset_offsets[b] = static_cast<int>(g);
    std::copy(d.x.begin(), d.x.end(), values.begin() + v);
    for (int i = 0; i < d.rows(); ++i) mask[r + i] = d.mask[i] != 0;
    for (size_t j = 0; j + 1 < d.offsets[0].size(); ++j) {
      group_offsets[g++] = static_cast<int>(r) + d.offsets[0][j];
    }
    v += d.x.size();
    r += d.rows();
  }
  group_offsets[g] = static_cast<int>(r);
  dataset_offsets[n] = static_cast<int>(g);
  for (int b = 0; b < n; ++b) model[b] += 1;
  Rcpp::List batch = Rcpp::List::create(
      Rcpp::Named("values") = values, Rcpp::Named("n_features") = model_set->n_features(),
      Rcpp::Named("group_offsets") = group_offsets, Rcpp::Named("dataset_offsets") = dataset_offsets,
      Rcpp::Named("mask") = mask, Rcpp::Named("model") = Rcpp::IntegerVector(model.begin(), model.end()));
  const bool has_source_rows = std::all_of(data.begin(), data.end(), [](const Dataset<float>& d) {
    return d.source_row.size() == static_cast<size_t>(d.rows());
  });
  if (n > 0 && has_source_rows) {
    Rcpp::IntegerVector source_row(n_rows);
    size_t row = 0;
    for (const auto& d : data) {
      std::copy(d.source_row.begin(), d.source_row.end(), source_row.begin() + row);
      row += d.source_row.size();
    }
    batch.push_back(source_row, "source_row");
  }
  return batch;
}

// Builds the model set of a fit and checks it against the network: an error
// (from the spec's reader or the simulator's constructor) says what is wrong.
// [[Rcpp::export]]
bool cpp_check_model_set(Rcpp::List config, Rcpp::List models) {
  const NetworkSpec spec = r_network_spec(config);
  const std::unique_ptr<ModelSet> model_set = r_model_set(models);
  r_check_model_set(spec, *model_set);
  return true;
}
