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

// [[Rcpp::export]]
Rcpp::NumericMatrix cpp_predict(Rcpp::List config, Rcpp::NumericVector weights, Rcpp::List data,
                                int threads) {
  const NetworkSpec spec = r_network_spec(config);
  r_check_threads(threads);
  const std::vector<float> params = to_float(weights, spec.n_params);
  const std::vector<Dataset<float>> sets = r_datasets<float>(data, spec);
  const int k = spec.config.n_models;
  std::vector<double> logits(sets.size() * k);
  predict_many(spec, params.data(), sets, threads, logits.data());
  Rcpp::NumericMatrix out(static_cast<int>(sets.size()), k);
  for (size_t i = 0; i < sets.size(); ++i) {
    for (int j = 0; j < k; ++j) out(i, j) = logits[i * k + j];
  }
  return out;
}

template <class T>
static Rcpp::List loss_grad(const NetworkSpec& spec, const Rcpp::NumericVector& weights,
                            const Rcpp::List& data, const Rcpp::IntegerVector& labels) {
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
    loss += cross_entropy(logits.data(), k, labels[b] - 1, 1.0 / sets.size(), dlogits.data());
    net.backward(sets[b], ws, dlogits.data(), grads.data(), true);
    input_grad.insert(input_grad.end(), ws.input.grad.data.begin(),
                      ws.input.grad.data.begin() + ws.input.grad.size());
    for (int j = 0; j < k; ++j) logit_out(b, j) = logits[j];
  }
  return Rcpp::List::create(
      Rcpp::Named("loss") = loss / sets.size(),
      Rcpp::Named("grad") = Rcpp::NumericVector(grads.begin(), grads.end()),
      Rcpp::Named("input_grad") = Rcpp::NumericVector(input_grad.begin(), input_grad.end()),
      Rcpp::Named("logits") = logit_out);
}

// Mean cross-entropy over the data sets, its gradient with respect to the
// weights and to the observed values (row-major, data set after data set).
// [[Rcpp::export]]
Rcpp::List cpp_loss_grad(Rcpp::List config, Rcpp::NumericVector weights, Rcpp::List data,
                         Rcpp::IntegerVector labels, bool double_precision = true) {
  const NetworkSpec spec = r_network_spec(config);
  if (static_cast<size_t>(weights.size()) != spec.n_params) Rcpp::stop("internal: wrong number of weights");
  return double_precision ? loss_grad<double>(spec, weights, data, labels)
                          : loss_grad<float>(spec, weights, data, labels);
}

// Chooses the float kernels: "auto", "avx2" or "baseline" (tests compare both
// with the double reference). Returns the name of the kernels in use.
// [[Rcpp::export]]
std::string cpp_select_kernels(std::string which) { return select_kernels(which.c_str()); }
