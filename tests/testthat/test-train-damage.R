test_tier("full")
# Random single-bit flips in a saved fit: each either gives the same PMPs or
# a deepbmc or read error, never other PMPs silently (full tier: 60 flips,
# each a save, a read and a prediction; split from test-train.R).

# Whether readRDS() reads `file` without crashing R, tried in a forked child.
readable_in_fork <- function(file) {
  job <- parallel::mcparallel(
    tryCatch({
      readRDS(file)
      TRUE
    }, error = function(e) TRUE),
    silent = TRUE
  )
  # a child that crashed delivers nothing, and mccollect() warns about it:
  # that crash is the outcome asked about here
  isTRUE(suppressWarnings(parallel::mccollect(job, wait = TRUE))[[1]])
}

test_that("damaged saved files never give other probabilities silently", {
  skip_on_os("windows") # forks
  # R's readRDS() aborts in the forked child on some flips, which the
  # sanitizer (make sanitize) reports as a crash of the test process.
  skip_if(nzchar(Sys.getenv("SANITIZE_LIB")),
          "make sanitize: readRDS() aborts on some damaged files")
  fit <- api_fit()
  sets <- list(groups_to_matrix(api_groups(1)), api_groups(2))
  expected <- post_prob(fit, sets)
  path <- withr::local_tempfile(fileext = ".rds")
  saveRDS(fit, path, compress = FALSE)
  bytes <- readBin(path, "raw", file.size(path))
  withr::local_seed(42)
  outcomes <- character()
  for (trial in seq_len(60)) {
    flipped <- bytes
    at <- sample(length(bytes), 1)
    flipped[at] <- xor(flipped[at], as.raw(bitwShiftL(1L, sample(0:7, 1))))
    damaged <- withr::local_tempfile(fileext = ".rds")
    writeBin(flipped, damaged)
    if (!readable_in_fork(damaged)) {
      # R's own readRDS() crashes on some flipped bits (a header or length
      # field): before deepbmc sees anything, so not what is tested here.
      outcomes <- c(outcomes, "read crash")
      next
    }
    # R may warn while reading a damaged file (a flipped builtin's name):
    # then the damage is not silent, whatever deepbmc does next.
    read_warned <- FALSE
    result <- tryCatch(
      {
        loaded <- withCallingHandlers(
          readRDS(damaged),
          warning = function(w) {
            read_warned <<- TRUE
            invokeRestart("muffleWarning")
          }
        )
        pmp <- suppressWarnings(post_prob(loaded, sets))
        if (identical(pmp, expected)) {
          "same"
        } else if (read_warned) {
          "different after a read warning"
        } else {
          "different"
        }
      },
      deepbmc_error = function(e) "deepbmc error",
      error = function(e) "read error"
    )
    outcomes <- c(outcomes, result)
  }
  # a flipped bit may leave the answer unchanged (e.g. in a history row) or
  # make the file unreadable, but never change the probabilities silently
  expect_false("different" %in% outcomes)
  expect_true("deepbmc error" %in% outcomes)
})
