# Scaling, memory and floating-point rate of the core, for bench/bench.R.

# Floating-point operations of one forward pass of a two-level network on a
# data set of `groups` groups of `obs` observations, counted from the layer
# sizes: a dense layer on r rows with in inputs and out outputs costs
# 2 r in out. Equivariant mixing layers take their pooled input once per set
# (a vector-matrix product), their element input once per element. Backward
# costs about twice the forward pass, so a training step about three times.
network_flops <- function(config, groups, obs) {
  dense <- function(rows, widths) {
    sum(2 * rows * head(widths, -1) * widths[-1])
  }
  stack <- function(rows, input, width, depth) {
    dense(rows, c(input, rep(width, depth)))
  }
  rows <- list(c(elements = groups * obs, sets = groups),
               c(elements = groups, sets = 1))
  width <- config$input_dim
  total <- 0
  for (k in 1:2) {
    n <- rows[[k]]
    s1 <- config$s1[[k]]
    s2 <- config$s2[[k]]
    s3 <- config$s3[[k]]
    depth <- config$n_dense
    for (e in seq_len(config$n_equivariant)) {
      total <- total + stack(n[["elements"]], width, s1, depth) +
        stack(n[["sets"]], s1, s2, depth) +
        2 * n[["elements"]] * width * s3 + 2 * n[["sets"]] * s2 * s3 +
        stack(n[["elements"]], s3, s3, depth - 1)
      width <- s3
    }
    total <- total + stack(n[["elements"]], width, s1, depth) +
      stack(n[["sets"]], s1, s2, depth) +
      2 * n[["sets"]] * s2 * config$summary_dim[[k]]
    width <- config$summary_dim[[k]]
  }
  head_in <- width + 2
  total + stack(1, head_in, config$head_units, config$head_layers) +
    2 * config$head_units * config$n_models
}

# Peak single-precision rate of one core: FMA units x SIMD lanes x 2 flops,
# at the clock /proc/cpuinfo reports (no turbo information on a VM).
peak_gflops_per_core <- function(kernels) {
  mhz <- tryCatch(
    as.numeric(sub(".*: ", "", grep("cpu MHz", readLines("/proc/cpuinfo"),
                                     value = TRUE)[[1]])),
    error = function(e) NA_real_
  )
  flops_per_cycle <- if (identical(kernels, "avx2")) 2 * 8 * 2 else 2 * 4 * 2
  list(ghz = mhz / 1000, gflops = mhz / 1000 * flops_per_cycle,
       flops_per_cycle = flops_per_cycle)
}

# Peak resident set size (VmHWM, MB) of R code run in a fresh process. With
# `then`, the peak is reset after `code` (Linux: writing 5 to
# /proc/self/clear_refs) and the result also holds the resident set at that
# point (`before`) and the peak while `then` runs (`during`): the memory that
# `then` itself needs on top of what `code` left behind.
peak_memory_mb <- function(code, then = NULL) {
  script <- tempfile(fileext = ".R")
  rss <- function(field) {
    sprintf("cat(sub('[^0-9]*([0-9]+).*', '\\\\1', grep('^%s', readLines('/proc/self/status'), value = TRUE)), '\\n')",
            field)
  }
  writeLines(c(
    "suppressPackageStartupMessages(library(deepbmc))",
    code,
    rss("VmHWM"),
    if (!is.null(then)) c(
      "invisible(gc())",
      "writeLines('5', '/proc/self/clear_refs')",
      rss("VmRSS"),
      then,
      rss("VmHWM")
    )
  ), script)
  out <- system2(file.path(R.home("bin"), "Rscript"), script, stdout = TRUE,
                 stderr = FALSE)
  values <- as.numeric(utils::tail(out, if (is.null(then)) 1 else 3)) / 1024
  if (is.null(then)) return(values)
  list(peak = max(values[[1]], values[[3]]), before = values[[2]], during = values[[3]])
}
