// Glue: network initialisation, prediction and the gradient entry points the
// tests use. Thin: convert, call the core, convert back.
#include <Rcpp.h>

#include "kernels.h"
#include "loss.h"
#include "network.h"
#include "r_convert.h"
#include "trainer.h"

using namespace deepbmc;

// [[Rcpp::export]]
double cpp_network_size(Rcpp::List config) {
  return static_cast<double>(r_network_spec(config).n_params);
}

// The names r_network_spec() reads, in order (test-network.R checks them
// against R's network_config_fields).
// [[Rcpp::export]]
std::vector<std::string> cpp_network_config_fields() {
  std::vector<std::string> names;
  for (const NetworkConfigField& field : network_config_fields()) names.push_back(field.name);
  return names;
}

// The optional head elements r_network_spec() also reads (test-network.R
// checks them against R's network_head_fields).
// [[Rcpp::export]]
std::vector<std::string> cpp_network_head_fields() { return network_head_fields(); }

// The pooling names r_network_spec() reads, in enum order (test-pooling.R
// checks them against R's pooling_methods).
// [[Rcpp::export]]
std::vector<std::string> cpp_pooling_methods() { return pooling_names(); }

// [[Rcpp::export]]
Rcpp::NumericVector cpp_network_init(Rcpp::List config, double seed) {
  const NetworkSpec spec = r_network_spec(config);
  Rcpp::NumericVector weights(spec.n_params);
  init_glorot_normal(spec, r_seed(seed), weights.begin());
  return weights;
}

static std::vector<float> to_float(const Rcpp::NumericVector& x, size_t expected) {
  if (static_cast<size_t>(x.size()) != expected) {
    Rcpp::stop("internal: expected %d weights, got %d", static_cast<int>(expected),
               static_cast<int>(x.size()));
  }
  return std::vector<float>(x.begin(), x.end());
}

static Rcpp::NumericMatrix logits_matrix(const std::vector<double>& logits, int n, int k) {
  Rcpp::NumericMatrix out(n, k);
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < k; ++j) out(i, j) = logits[static_cast<size_t>(i) * k + j];
  }
  return out;
}

// What prediction returns to R: list(logits, finite, input_lo, input_hi),
// with NA logits and ranges for data sets whose values are not finite in
// single precision (finite FALSE), for R to report or to convert again.
static Rcpp::List prediction_result(const std::vector<double>& logits,
                                    const std::vector<uint8_t>& finite,
                                    const std::vector<double>& lo, const std::vector<double>& hi,
                                    int k, int dim) {
  const int n = static_cast<int>(finite.size());
  Rcpp::NumericMatrix lo_out(n, dim), hi_out(n, dim);
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < dim; ++j) {
      lo_out(i, j) = lo[static_cast<size_t>(i) * dim + j];
      hi_out(i, j) = hi[static_cast<size_t>(i) * dim + j];
    }
  }
  return Rcpp::List::create(Rcpp::Named("logits") = logits_matrix(logits, n, k),
                            Rcpp::Named("finite") = Rcpp::LogicalVector(finite.begin(), finite.end()),
                            Rcpp::Named("input_lo") = lo_out, Rcpp::Named("input_hi") = hi_out);
}

// With summaries, also what the head reads of each data set (a matrix,
// data sets in rows; NA where not finite).
// [[Rcpp::export]]
Rcpp::List cpp_predict(Rcpp::List config, Rcpp::NumericVector weights, Rcpp::List data,
                       int threads, bool summaries = false) {
  const NetworkSpec spec = r_network_spec(config);
  r_check_threads(threads);
  const std::vector<float> params = to_float(weights, spec.n_params);
  const RPackedBatch packed(data, spec);
  const int n = packed.view().n_datasets;
  const int k = spec.config.n_models;
  const int dim = spec.config.input_dim;
  std::vector<double> logits(static_cast<size_t>(n) * k, NA_REAL);
  std::vector<double> lo(static_cast<size_t>(n) * dim, NA_REAL), hi(lo);
  std::vector<uint8_t> finite(n);
  const int width = spec.head_input_dim();
  std::vector<double> head_inputs(summaries ? static_cast<size_t>(n) * width : 0, NA_REAL);
  predict_packed(spec, params.data(), packed.view(), threads, logits.data(), finite.data(),
                 FeatureRanges{lo.data(), hi.data()}, summaries ? head_inputs.data() : nullptr);
  Rcpp::List result = prediction_result(logits, finite, lo, hi, k, dim);
  if (summaries) {
    Rcpp::NumericMatrix out(n, width);
    for (int i = 0; i < n; ++i) {
      for (int j = 0; j < width; ++j) out(i, j) = head_inputs[static_cast<size_t>(i) * width + j];
    }
    result["summaries"] = out;
  }
  return result;
}

// A list of complete double matrices (groups in rows), read in place; the
// result as for cpp_predict().
// [[Rcpp::export]]
Rcpp::List cpp_predict_matrices(Rcpp::List config, Rcpp::NumericVector weights,
                                Rcpp::List data, int threads) {
  const NetworkSpec spec = r_network_spec(config);
  r_check_threads(threads);
  r_check_levels(spec, 2);
  if (spec.config.input_dim != 1) Rcpp::stop("internal: matrices hold one feature");
  const std::vector<float> params = to_float(weights, spec.n_params);
  MatrixBatch batch;
  for (R_xlen_t i = 0; i < data.size(); ++i) {
    SEXP m = data[i];
    if (TYPEOF(m) != REALSXP || !Rf_isMatrix(m) || Rf_nrows(m) < 1 || Rf_ncols(m) < 1) {
      Rcpp::stop("internal: data set %d is not a non-empty double matrix",
                 static_cast<int>(i) + 1);
    }
    batch.values.push_back(REAL(m));
    batch.groups.push_back(Rf_nrows(m));
    batch.obs.push_back(Rf_ncols(m));
  }
  const int n = batch.n_datasets();
  const int k = spec.config.n_models;
  std::vector<double> logits(static_cast<size_t>(n) * k, NA_REAL);
  std::vector<double> lo(n, NA_REAL), hi(n, NA_REAL);
  std::vector<uint8_t> finite(n);
  predict_matrices(spec, params.data(), batch, threads, logits.data(), finite.data(),
                   FeatureRanges{lo.data(), hi.data()});
  return prediction_result(logits, finite, lo, hi, k, 1);
}

template <class T>
static Rcpp::List loss_grad(const NetworkSpec& spec, const Rcpp::NumericVector& weights,
                            const Rcpp::List& data, const Rcpp::IntegerVector& labels,
                            LossKind kind) {
  std::vector<T> params(weights.begin(), weights.end());
  const std::vector<Dataset<T>> sets = r_datasets<T>(data, spec);
  const int k = spec.config.n_models;
  if (sets.empty()) Rcpp::stop("internal: no data sets");
  if (labels.size() != static_cast<R_xlen_t>(sets.size())) Rcpp::stop("internal: one label per data set");
  for (int label : labels) {
    if (label == NA_INTEGER || label < 1 || label > k) Rcpp::stop("internal: labels must be in 1..%d", k);
  }
  const Network<T> net(spec, params.data());
  Workspace<T> ws;
  std::vector<T> grads(spec.n_params, T(0));
  std::vector<double> logits(k), dlogits(k), input_grad;
  Rcpp::NumericMatrix logit_out(static_cast<int>(sets.size()), k);
  double loss = 0.0;
  for (size_t b = 0; b < sets.size(); ++b) {
    net.forward(sets[b], ws, true, logits.data());
    loss += loss_and_grad(kind, logits.data(), k, labels[b] - 1, 1.0 / sets.size(),
                          dlogits.data());
    // a network with statistics has no input gradient (network.h): empty
    const bool with_input = !spec.has_statistics();
    net.backward(sets[b], ws, dlogits.data(), grads.data(), with_input);
    if (with_input) {
      input_grad.insert(input_grad.end(), ws.x_grad.data.begin(),
                        ws.x_grad.data.begin() + ws.x_grad.size());
    }
    for (int j = 0; j < k; ++j) logit_out(b, j) = logits[j];
  }
  return Rcpp::List::create(
      Rcpp::Named("loss") = loss / sets.size(),
      Rcpp::Named("grad") = Rcpp::NumericVector(grads.begin(), grads.end()),
      Rcpp::Named("input_grad") = Rcpp::NumericVector(input_grad.begin(), input_grad.end()),
      Rcpp::Named("logits") = logit_out);
}

// Mean loss over the data sets ("log": cross-entropy, "exponential",
// "weighted_log": see loss.h), its gradient with respect to the weights and to the observed values
// (row-major, data set after data set).
// [[Rcpp::export]]
Rcpp::List cpp_loss_grad(Rcpp::List config, Rcpp::NumericVector weights, Rcpp::List data,
                         Rcpp::IntegerVector labels, bool double_precision = true,
                         std::string loss = "log") {
  const NetworkSpec spec = r_network_spec(config);
  if (static_cast<size_t>(weights.size()) != spec.n_params) Rcpp::stop("internal: wrong number of weights");
  LossKind kind = LossKind::cross_entropy;
  if (loss == "exponential") kind = LossKind::exponential;
  else if (loss == "weighted_log") kind = LossKind::weighted_cross_entropy;
  else if (loss != "log") Rcpp::stop("internal: unknown loss '%s'", loss);
  return double_precision ? loss_grad<double>(spec, weights, data, labels, kind)
                          : loss_grad<float>(spec, weights, data, labels, kind);
}

// Chooses the float kernels: "auto", "avx2" or "baseline" (tests compare both
// with the double reference). Returns the name of the kernels in use.
// [[Rcpp::export]]
std::string cpp_select_kernels(std::string which) { return select_kernels(which.c_str()); }

// The least-squares statistics (least_squares.h) of each data set of a packed
// batch, one row each: for the tests' reference computation in R.
// [[Rcpp::export]]
Rcpp::NumericMatrix cpp_least_squares_statistics(Rcpp::List config, Rcpp::List data) {
  const NetworkSpec spec = r_network_spec(config);
  const std::vector<Dataset<double>> sets = r_datasets<double>(data, spec);
  const int width = spec.n_statistics_inputs();
  Rcpp::NumericMatrix out(static_cast<int>(sets.size()), width);
  LeastSquaresScratch scratch;
  std::vector<double> row(width);
  for (size_t b = 0; b < sets.size(); ++b) {
    least_squares_forward(sets[b], spec.statistics_joint_terms, spec.config.statistics_version,
                          scratch, row.data());
    for (int j = 0; j < width; ++j) out(static_cast<int>(b), j) = row[j];
  }
  return out;
}
