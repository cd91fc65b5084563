# Small helpers used across the package.

# The default for NULL (base R has it only from 4.4.0).
`%||%` <- function(x, y) {
  if (is.null(x)) y else x
}

# Row-wise log-sum-exp of a numeric matrix, stable for any finite input:
# subtracting the row maximum keeps every exp() in (0, 1].
log_sum_exp_rows <- function(x) {
  row_max <- x[cbind(seq_len(nrow(x)), max.col(x, ties.method = "first"))]
  row_max + log(rowSums(exp(x - row_max)))
}

# Log-probabilities from logits (row-wise log-softmax), in double: never Inf
# or NaN for finite logits, and exact where exp() of the result underflows.
log_softmax_rows <- function(logits) {
  logits - log_sum_exp_rows(logits)
}

# Counts for messages: 1,000,000 rather than 1e+06.
format_count <- function(x) {
  format(x, big.mark = ",", scientific = FALSE, trim = TRUE)
}
