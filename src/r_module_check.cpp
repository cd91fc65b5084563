// Glue for the layer-by-layer finite-difference tests: runs one module of
// level `level` (1-based) of `config` forward, then backward from a given output gradient,
// in double precision.
#include <Rcpp.h>

#include "deepset.h"
#include "r_convert.h"

using namespace deepbmc;

static void fill_node(Node<double>& node, const Rcpp::NumericMatrix& m) {
  node.shape(m.nrow(), m.ncol(), true);
  for (int r = 0; r < m.nrow(); ++r) {
    for (int c = 0; c < m.ncol(); ++c) node.val.mat()(r, c) = m(r, c);
  }
}

static Rcpp::NumericMatrix to_r(const Tensor<double>& t) {
  Rcpp::NumericMatrix out(t.rows, t.cols);
  for (int r = 0; r < t.rows; ++r) {
    for (int c = 0; c < t.cols; ++c) out(r, c) = t.mat()(r, c);
  }
  return out;
}

static void set_grad(Node<double>& node, const Rcpp::NumericMatrix& dout) {
  if (dout.nrow() != node.val.rows || dout.ncol() != node.val.cols) {
    Rcpp::stop("internal: dout must be %d x %d", node.val.rows, node.val.cols);
  }
  for (int r = 0; r < dout.nrow(); ++r) {
    for (int c = 0; c < dout.ncol(); ++c) node.grad.mat()(r, c) = dout(r, c);
  }
}

// module: "dense", "set_mean", "pool" (the level's pooling layer inside its
// invariant module, with its weights), "broadcast_dense", "invariant",
// "equivariant" or "level". Returns out, and the gradients of sum(out * dout) with respect
// to the weights (full vector), x and (for broadcast_dense) pooled.
// [[Rcpp::export]]
Rcpp::List cpp_module_check(Rcpp::List config, std::string module, Rcpp::NumericVector weights,
                            Rcpp::NumericMatrix x, Rcpp::IntegerVector offsets,
                            Rcpp::LogicalVector mask, Rcpp::NumericMatrix dout,
                            Rcpp::NumericMatrix pooled, int level_number = 1) {
  const NetworkSpec spec = r_network_spec(config);
  if (static_cast<size_t>(weights.size()) != spec.n_params) Rcpp::stop("internal: wrong number of weights");
  const std::vector<double> values(weights.begin(), weights.end());
  Weights<double> params;
  params.value = values.data();
  std::vector<double> grads(spec.n_params, 0.0);
  if (level_number < 1 || level_number > spec.n_levels()) Rcpp::stop("internal: no level %d", level_number);
  const int k = level_number - 1;
  const LevelSpec& level = spec.levels[k];
  const Activation act = spec.config.activation;

  std::vector<int> offs(offsets.begin(), offsets.end());
  std::vector<uint8_t> row_mask(mask.begin(), mask.end());
  if (offs.empty() || offs.front() != 0 || offs.back() != x.nrow() ||
      static_cast<int>(row_mask.size()) != x.nrow()) {
    Rcpp::stop("internal: offsets and mask must match x");
  }
  for (size_t s = 1; s < offs.size(); ++s) {
    if (offs[s] < offs[s - 1]) Rcpp::stop("internal: offsets must not decrease");
  }
  // Input widths each module expects.
  const EquivariantSpec* first_eq = level.equivariant.empty() ? nullptr : &level.equivariant[0];
  int expected_cols = level.in_dim;
  if (module == "invariant" && first_eq != nullptr) expected_cols = spec.config.s3[k];
  if (module == "set_mean") expected_cols = x.ncol();
  if (module == "pool") expected_cols = spec.config.s1[k];
  if (x.ncol() != expected_cols) Rcpp::stop("internal: x must have %d columns", expected_cols);
  if ((module == "dense" || module == "broadcast_dense" || module == "equivariant") &&
      first_eq == nullptr) {
    Rcpp::stop("internal: module '%s' needs n_equivariant >= 1", module);
  }
  if (module == "broadcast_dense" &&
      (pooled.nrow() != static_cast<int>(offs.size()) - 1 || pooled.ncol() != spec.config.s2[k])) {
    Rcpp::stop("internal: pooled must be n_sets x s2");
  }
  std::vector<int> counts(offs.size() - 1, 0);
  for (size_t s = 0; s + 1 < offs.size(); ++s) {
    for (int r = offs[s]; r < offs[s + 1]; ++r) counts[s] += row_mask[r];
  }
  Partition part;
  part.offsets = offs.data();
  part.n_sets = static_cast<int>(counts.size());
  part.mask = row_mask.data();
  part.counts = counts.data();

  Node<double> in, pool_in, out, per_set;
  fill_node(in, x);
  const Node<double>* result = &out;
  InvariantCache<double> inv;
  EquivariantCache<double> eq;
  LevelCache<double> lev;

  if (module == "dense") {
    dense_forward(out, in, params, level.equivariant.at(0).pooled.s1.at(0), act, true);
    set_grad(out, dout);
    dense_backward(in, out, params, grads.data(), level.equivariant[0].pooled.s1[0], act);
  } else if (module == "set_mean") {
    set_mean_forward(out, in, part, true);
    set_grad(out, dout);
    set_mean_backward(in, out, part);
  } else if (module == "pool") {
    const InvariantSpec& inv_spec = level.invariant;
    if (inv_spec.pooling == Pooling::mean_cov) {
      set_mean_cov_forward(out, inv.proj, in, params, inv_spec.projection, part, true);
      set_grad(out, dout);
      set_mean_cov_backward(in, inv.proj, out, params, grads.data(), inv_spec.projection, part);
    } else if (inv_spec.pooling == Pooling::mean_logvar) {
      set_mean_logvar_forward(out, inv.proj, inv.centre, in, params, inv_spec.projection, part,
                              true);
      set_grad(out, dout);
      set_mean_logvar_backward(in, inv.proj, inv.centre, out, params, grads.data(),
                               inv_spec.projection, part);
    } else {
      set_mean_forward(out, in, part, true);
      set_grad(out, dout);
      set_mean_backward(in, out, part);
    }
  } else if (module == "broadcast_dense") {
    fill_node(pool_in, pooled);
    const DenseSpec& d = level.equivariant.at(0).s3.at(0);
    broadcast_dense_forward(out, per_set, in, pool_in, params, d, part, act, true);
    set_grad(out, dout);
    broadcast_dense_backward(in, pool_in, per_set, out, params, grads.data(), d, part, act,
                             true);
  } else if (module == "invariant") {
    Node<double>& top =
        invariant_forward(inv, in, level.invariant, params, part, act, true);
    set_grad(top, dout);
    invariant_backward(inv, in, level.invariant, params, grads.data(), part, act, true);
    result = &top;
  } else if (module == "equivariant") {
    Node<double>& top = equivariant_forward(eq, in, level.equivariant.at(0), params,
                                            part, act, true);
    set_grad(top, dout);
    equivariant_backward(eq, in, level.equivariant[0], params, grads.data(), part, act,
                         true);
    result = &top;
  } else if (module == "level") {
    Node<double>& top = level_forward(lev, in, level, params, part, act, true);
    set_grad(top, dout);
    level_backward(lev, in, level, params, grads.data(), part, act, true);
    result = &top;
  } else {
    Rcpp::stop("unknown module '%s'", module);
  }
  return Rcpp::List::create(Rcpp::Named("out") = to_r(result->val),
                            Rcpp::Named("dweights") = Rcpp::NumericVector(grads.begin(), grads.end()),
                            Rcpp::Named("dx") = to_r(in.grad),
                            Rcpp::Named("dpooled") = to_r(pool_in.grad));
}
