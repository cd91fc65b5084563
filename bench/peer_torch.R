# Peer 1, PyTorch: runs bench/torch_reference.py (the Study 1 hierarchical
# DeepSet in PyTorch with deepbmc's layer sizes, initialisation, optimiser,
# schedule and online simulation) and returns its throughput. Sourced by
# bench/bench.R; needs python3 with torch (Debian: python3-torch) and is
# skipped with a message elsewhere. Adds no package dependencies: jsonlite is
# used only if installed.
#
#   source(file.path("bench", "peer_torch.R"))
#   peer <- torch_peer(threads = 2)
#   peer$train_datasets_per_s; peer$infer_datasets_per_s

# Path of the peer script, next to this file when sourced, else bench/.
torch_peer_script <- local({
  here <- tryCatch(dirname(sys.frame(1)$ofile), error = function(e) NULL)
  candidates <- c(
    if (!is.null(here)) file.path(here, "torch_reference.py"),
    file.path("bench", "torch_reference.py")
  )
  found <- candidates[file.exists(candidates)]
  if (length(found)) normalizePath(found[[1]]) else file.path("bench", "torch_reference.py")
})

# The first python3 that can import torch: $DEEPBMC_PYTHON, python3 on the
# PATH, then Debian's /usr/bin/python3 (python3-torch installs there, which a
# pyenv or conda python3 earlier on the PATH cannot see). Returns NULL with
# NA with attribute "why" if none can.
find_torch_python <- function() {
  candidates <- unique(Filter(nzchar, c(
    Sys.getenv("DEEPBMC_PYTHON"),
    unname(Sys.which("python3")),
    if (file.exists("/usr/bin/python3")) "/usr/bin/python3"
  )))
  if (!length(candidates)) {
    return(structure(NA_character_, why = "no python3 found"))
  }
  for (python in candidates) {
    status <- suppressWarnings(system2(
      python, c("-c", shQuote("import torch")), stdout = FALSE, stderr = FALSE
    ))
    if (identical(as.integer(status), 0L)) {
      return(python)
    }
  }
  structure(NA_character_, why = paste0(
    "python3 without torch (tried ", paste(candidates, collapse = ", "),
    "); install python3-torch"
  ))
}

# Flat JSON object (numbers, strings, booleans) -> named list, without jsonlite.
parse_flat_json <- function(text) {
  if (requireNamespace("jsonlite", quietly = TRUE)) {
    return(jsonlite::fromJSON(text, simplifyVector = TRUE))
  }
  pairs <- regmatches(
    text,
    gregexpr('"[^"]+"\\s*:\\s*("[^"]*"|[-+0-9.eE]+|true|false|null)', text)
  )[[1]]
  keys <- sub('^"([^"]+)".*$', "\\1", pairs)
  values <- sub('^"[^"]+"\\s*:\\s*', "", pairs)
  parsed <- lapply(values, function(v) {
    if (grepl('^"', v)) {
      sub('^"(.*)"$', "\\1", v)
    } else if (v %in% c("true", "false")) {
      v == "true"
    } else if (v == "null") {
      NA
    } else {
      as.numeric(v)
    }
  })
  stats::setNames(parsed, keys)
}

# Runs the PyTorch peer once on `threads` threads: `steps` timed training steps
# of batch 32 (after 5 warm-up steps) and inference on `infer` data sets, at
# L = groups, N = obs. `...` adds command-line options, e.g.
# `accuracy_steps = 500` or `mix = "broadcast"`. Returns the script's JSON as a
# list (train_datasets_per_s, infer_datasets_per_s,
# infer_with_sim_datasets_per_s, n_params, blas, ...) or NULL with a message
# saying why the peer was skipped.
#
# blas_dir: a directory with another libblas.so.3 for torch (prepended to
# LD_LIBRARY_PATH for this run only), e.g. OpenBLAS unpacked with
#   apt-get download libopenblas0-openmp && dpkg -x libopenblas0-openmp_*.deb DIR
#   blas_dir = "DIR/usr/lib/x86_64-linux-gnu/openblas-openmp"
# Debian's python3-torch otherwise uses the system's libblas.so.3, which is
# the slow, single-threaded reference BLAS unless OpenBLAS is installed.
# env: more environment variables for the run, e.g.
# c(OMP_WAIT_POLICY = "PASSIVE"), which keeps torch's OpenMP threads from
# spinning when other processes load the cores.
torch_peer <- function(threads, steps = 200, infer = 5000, groups = 50, obs = 50,
                       ..., blas_dir = Sys.getenv("DEEPBMC_TORCH_BLAS_DIR"),
                       env = character(), script = torch_peer_script,
                       timeout = 3600) {
  skip <- function(why) {
    message("PyTorch peer skipped: ", why)
    NULL
  }
  if (!file.exists(script)) {
    return(skip(paste("cannot find", script)))
  }
  python <- find_torch_python()
  if (is.na(python)) {
    return(skip(attr(python, "why")))
  }
  extra <- list(...)
  extra_args <- unlist(Map(function(name, value) {
    c(paste0("--", gsub("_", "-", name)), as.character(value))
  }, names(extra), extra), use.names = FALSE)
  args <- c(
    shQuote(script),
    "--threads", as.integer(threads), "--steps", as.integer(steps),
    "--infer", as.integer(infer), "--groups", as.integer(groups),
    "--obs", as.integer(obs), extra_args
  )
  env <- if (length(env)) paste0(names(env), "=", shQuote(env)) else character()
  if (nzchar(blas_dir)) {
    if (!file.exists(file.path(blas_dir, "libblas.so.3"))) {
      return(skip(paste("no libblas.so.3 in blas_dir", blas_dir)))
    }
    old <- Sys.getenv("LD_LIBRARY_PATH")
    env <- c(env, paste0("LD_LIBRARY_PATH=", shQuote(paste(c(blas_dir, if (nzchar(old)) old),
                                                       collapse = ":"))))
  }
  err_file <- tempfile("torch_peer_", fileext = ".log")
  on.exit(unlink(err_file), add = TRUE)
  out <- tryCatch(
    suppressWarnings(system2(python, args, stdout = TRUE, stderr = err_file,
                             env = env, timeout = timeout)),
    error = function(e) structure(character(), status = conditionMessage(e))
  )
  status <- attr(out, "status")
  json <- grep("^\\s*\\{", out, value = TRUE)
  if (!is.null(status) && !identical(suppressWarnings(as.integer(status)), 0L) || !length(json)) {
    err <- if (file.exists(err_file)) readLines(err_file, warn = FALSE) else character()
    return(skip(paste0(
      "the script failed (status ", if (is.null(status)) "?" else status, ")",
      if (length(err)) paste0(": ", paste(utils::tail(err, 3), collapse = " | "))
    )))
  }
  result <- parse_flat_json(json[[length(json)]])
  result$python <- python
  result
}
