# The poolings of hierarchical_network(pooling = ): how each level's invariant
# modules pool their per-element vectors over a set. One row per pooling, in
# the order of the C++ enum Pooling (src/network_spec.h); test-pooling.R
# checks the names against cpp_pooling_methods().
pooling_methods <- data.frame(
  name = c("mean", "mean_cov", "mean_logvar"),
  description = c(
    "mean",
    "mean and low-rank second moment",
    "mean and log variances of learned directions"
  ),
  # the pooled width, as a multiple of the level's s1 width
  width = c(1L, 2L, 2L),
  stringsAsFactors = FALSE
)

# One pooling per level from one value (every level) or one per level, with
# classed errors naming the argument.
check_pooling <- function(pooling, n_levels, arg = rlang::caller_arg(pooling),
                          call = rlang::caller_env()) {
  choices <- pooling_methods$name
  if (!is.character(pooling) || anyNA(pooling) || !all(pooling %in% choices)) {
    abort_deepbmc(
      c(
        "{.arg {arg}} must be one of {.or {.val {choices}}}, or one of them per
         hierarchy level.",
        x = "You supplied {describe_value(pooling)}."
      ),
      "value",
      call = call
    )
  }
  if (!length(pooling) %in% c(1L, n_levels)) {
    abort_deepbmc(
      c(
        "{.arg {arg}} must have one entry, or one per hierarchy level
         ({n_levels}).",
        x = "It has {length(pooling)}."
      ),
      "mismatch",
      call = call
    )
  }
  rep_len(pooling, n_levels)
}
