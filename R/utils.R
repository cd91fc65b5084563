# Small helpers used across the package.

# The default for NULL (base R has it only from 4.4.0).
`%||%` <- function(x, y) {
  if (is.null(x)) y else x
}

# log(sum(exp(x))) of a numeric vector without overflow.
log_sum_exp <- function(x) {
  top <- max(x)
  top + log(sum(exp(x - top)))
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

# Evaluates `code` and restores R's random number generator state afterwards,
# so that whatever `code` draws (or lets other packages draw) leaves the
# user's stream as it was. The generator's kinds are restored too, first,
# because RNGkind() reseeds: code that switches to L'Ecuyer-CMRG (parallel
# streams) must not leave a user without a seed on another generator.
with_preserved_seed <- function(code) {
  global_env <- globalenv()
  had_seed <- exists(".Random.seed", envir = global_env, inherits = FALSE)
  if (had_seed) {
    saved <- get(".Random.seed", envir = global_env, inherits = FALSE)
  }
  # (Asking for the kinds may create a seed; it goes again on exit.)
  kinds <- RNGkind()
  on.exit({
    if (!identical(RNGkind(), kinds)) {
      # (A user's "Rounding" sampler warns again when it is set back.)
      suppressWarnings(RNGkind(kinds[[1]], kinds[[2]], kinds[[3]]))
    }
    if (had_seed) {
      assign(".Random.seed", saved, envir = global_env)
    } else if (exists(".Random.seed", envir = global_env, inherits = FALSE)) {
      rm(".Random.seed", envir = global_env)
    }
  })
  code
}

# Evaluates `code` with R's random number generator seeded from `seed` (a
# whole number up to 2^52, reduced to what set.seed() takes) and restores the
# user's generator state afterwards, so that results are reproducible without
# touching the user's stream.
with_local_seed <- function(seed, code) {
  with_preserved_seed({
    set.seed(as.integer(seed %% .Machine$integer.max))
    code
  })
}

# Text shown literally in a cli message: braces doubled, so that cli does
# not read them as code to interpolate.
cli_escape <- function(x) {
  gsub("}", "}}", gsub("{", "{{", x, fixed = TRUE), fixed = TRUE)
}

# Numbers with `digits` fixed decimals, without the "-0.00" of a small
# negative value (adding 0 turns the -0 of round() into 0).
format_fixed <- function(x, digits) {
  formatC(round(x, digits) + 0, digits = digits, format = "f")
}
