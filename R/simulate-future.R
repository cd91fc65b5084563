# Simulating from models written in R (simulator_models()): the functions
# run through future.apply (or lapply() without it) on the main process or
# on workers, never on TBB threads. Determinism: the model of data set i is
# the i-th draw of a stream started from `seed`, and data set i runs on its
# own L'Ecuyer-CMRG stream (the i-th after that start), handed to
# future.apply as `future.seed`, so results do not depend on the plan, the
# workers or the chunking.

#' @export
simulate_batch.deepbmc_simulator_models <- function(models, n, seed, threads,
                                                    progress, call) {
  start <- lecuyer_start(seed)
  model <- with_preserved_seed({
    assign(".Random.seed", start, envir = globalenv())
    sample.int(models$n_models, n, replace = TRUE)
  })
  datasets <- run_simulators(models, model, start, progress, call)
  n_done <- length(datasets)
  list(
    batch = pack_datasets(datasets, models$n_features, call = call),
    model = model[seq_len(n_done)]
  )
}

# The L'Ecuyer-CMRG state that `seed` starts (inversion for normal draws and
# rejection sampling, whatever the user's settings), without touching the
# user's generator.
lecuyer_start <- function(seed) {
  with_preserved_seed({
    RNGkind("L'Ecuyer-CMRG", "Inversion", "Rejection")
    set.seed(as.integer(seed %% .Machine$integer.max))
    get(".Random.seed", envir = globalenv(), inherits = FALSE)
  })
}

# The streams of data sets `from + 1` to `from + count`, given the stream
# of data set `from` (`start` for from = 0).
next_streams <- function(stream, count) {
  streams <- vector("list", count)
  for (j in seq_len(count)) {
    stream <- parallel::nextRNGStream(stream)
    streams[[j]] <- stream
  }
  streams
}

# Runs the simulators for the data sets of `model` in rounds, and returns
# the data sets (internal form). A round sends one chunk per worker and
# rounds grow until one takes about `target_seconds`; between rounds the
# progress bar moves and an interrupt returns what is done. A failure stops
# at the first failing data set, with the ones before it in the error.
run_simulators <- function(models, model, start, progress, call,
                           target_seconds = 2) {
  n <- length(model)
  shipped <- simulator_globals(models$simulators)
  worker <- simulation_worker(models)
  workers <- simulation_workers()
  state <- new.env(parent = emptyenv())
  state$datasets <- vector("list", n)
  state$done <- 0L
  stream <- start
  bar <- NULL
  if (progress) {
    bar <- cli::cli_progress_bar(
      format = paste("Simulating {cli::pb_current}/{cli::pb_total} data sets",
                     "({cli::pb_percent}) | ETA {cli::pb_eta}"),
      total = n, clear = FALSE, .envir = environment()
    )
  }
  round <- min(n, 2L * workers)
  interrupted <- FALSE
  tryCatch(
    while (state$done < n) {
      index <- state$done + seq_len(min(round, n - state$done))
      seeds <- next_streams(stream, length(index))
      jobs <- lapply(index, function(i) list(index = i, model = model[[i]]))
      started <- proc.time()[["elapsed"]]
      results <- map_simulations(jobs, worker, seeds, shipped)
      seconds <- proc.time()[["elapsed"]] - started
      if (inherits(results, "error")) {
        fail_simulation(models, model, state, index[[1]], NA_integer_,
                        list(problem = "error", parent = results), call)
      }
      ok <- vapply(results, function(r) isTRUE(r$ok), logical(1))
      if (!all(ok)) {
        first <- which(!ok)[[1]]
        kept <- seq_len(first - 1L)
        state$datasets[index[kept]] <- lapply(results[kept], `[[`, "dataset")
        state$done <- state$done + length(kept)
        bad <- results[[first]]
        fail_simulation(models, model, state, index[[first]],
                        model[[index[[first]]]], bad, call)
      }
      state$datasets[index] <- lapply(results, `[[`, "dataset")
      state$done <- index[[length(index)]]
      stream <- seeds[[length(seeds)]]
      if (!is.null(bar)) {
        cli::cli_progress_update(id = bar, set = state$done)
      }
      per_set <- max(seconds, 1e-3) / length(index)
      round <- as.integer(max(workers, min(4 * round,
                                           floor(target_seconds / per_set))))
    },
    interrupt = function(e) interrupted <<- TRUE
  )
  if (!is.null(bar)) {
    cli::cli_progress_done(id = bar, result = if (interrupted) "failed" else
      "done")
  }
  datasets <- state$datasets[seq_len(state$done)]
  if (interrupted) {
    if (state$done == 0L) {
      abort_deepbmc("Simulation interrupted before any data set was done.",
                    "interrupted", call = call)
    }
    cli::cli_warn(
      c(
        "Simulation interrupted after {state$done} of {n} data sets.",
        i = "Returning the data sets simulated so far."
      ),
      class = "deepbmc_interrupted_warning",
      call = call
    )
  }
  datasets
}

# The error for data set `index`, with the data sets before it as
# simulations. `k` is its model (NA when the round failed as a whole) and
# `failure` what the worker sent back: list(problem, message, details,
# parent).
fail_simulation <- function(models, model, state, index, k, failure, call) {
  done <- index - 1L
  simulations <- if (done > 0L) {
    datasets <- state$datasets[seq_len(done)]
    new_simulations(pack_datasets(datasets, models$n_features),
                    model[seq_len(done)], models, NA_real_)
  }
  parent <- failure$parent
  if (!inherits(parent, "condition")) {
    parent <- NULL
  }
  if (is.na(k)) {
    # A worker that died (or was lost) breaks future's plan until it is set
    # again; every later call would fail the same way.
    dead_worker <- inherits(parent, "FutureError")
    abort_deepbmc(
      c(
        "Simulating data sets {index} onwards failed.",
        x = if (dead_worker) {
          "A parallel worker of the future plan died or cannot be reached."
        },
        i = if (dead_worker) {
          "Set the plan again before simulating again: for example
           {.code future::plan(future::sequential)}, or your
           {.code future::plan(...)} call once more."
        },
        i = "{done} data set{?s} simulated before {?it is/they are} kept in
             the error's {.field simulations} field."
      ),
      "simulation",
      model = NA_character_,
      index = index,
      problem = if (dead_worker) "worker" else failure$problem,
      simulations = simulations,
      parent = parent,
      call = call
    )
  }
  abort_simulation(models, k, index, failure$problem, failure$message,
                   simulations, parent = parent, details = failure$details,
                   time_limit = failure$time_limit, call = call)
}

# The function each worker runs on a job list(index, model): the model's
# simulator, then its output checked and converted there, so that workers
# send back packed values rather than data frames. Failures come back as
# values (list(ok = FALSE, ...)): an error would lose the whole round.
simulation_worker <- function(models) {
  set <- models[c("simulators", "model_names", "feature_names", "group",
                  "time_limit")]
  set$time_limit <- set$time_limit %||% Inf
  # The closure's frame travels to the workers: only `set` should.
  rm(models)
  function(job) {
    simulator <- set$simulators[[job$model]]
    # The time limit is set here, inside the future's expression.
    output <- call_simulator(simulator, set$time_limit)
    if (inherits(output, "deepbmc_time_limit")) {
      return(list(ok = FALSE, problem = "time_limit",
                  time_limit = set$time_limit))
    }
    if (inherits(output, "error")) {
      return(list(ok = FALSE, problem = "error",
                  message = conditionMessage(output),
                  parent = named_cause(output, set$model_names[[job$model]])))
    }
    convert_simulator_output(output, set)
  }
}

use_future_apply <- function() {
  !isFALSE(getOption("deepbmc.use_future")) &&
    requireNamespace("future.apply", quietly = TRUE)
}

# Parallel workers of the current future plan (1 without future).
simulation_workers <- function() {
  if (!use_future_apply()) {
    return(1L)
  }
  workers <- suppressWarnings(as.numeric(future::nbrOfWorkers()))
  if (!is.finite(workers) || workers < 1) 1L else as.integer(workers)
}

# Runs the jobs with their seeds, through future.apply when it is installed
# (each job on its own stream, whatever the plan); a failure of the
# machinery itself (a worker that died, globals too large) comes back as the
# error condition.
# (The option deepbmc.use_future = FALSE takes the lapply() path, for tests
# that it gives the same data sets.)
map_simulations <- function(jobs, worker, seeds, shipped,
                            use_future = use_future_apply()) {
  tryCatch(
    with_preserved_seed(
      if (use_future) {
        future.apply::future_lapply(
          jobs, worker,
          future.seed = seeds,
          future.globals = shipped$globals,
          future.packages = unique(c("deepbmc", shipped$packages))
        )
      } else {
        lapply(seq_along(jobs), function(j) {
          assign(".Random.seed", seeds[[j]], envir = globalenv())
          worker(jobs[[j]])
        })
      }
    ),
    error = function(e) e
  )
}

# What the simulators need on a worker beyond their own closures: the
# objects they use from the global environment (which a worker does not
# share; future finds them as it finds globals), and the packages of the
# functions they call. Objects found in a function's own enclosing
# environments travel with the function and are not exported again.
simulator_globals <- function(simulators) {
  globals <- stats::setNames(list(), character(0))
  packages <- character(0)
  if (!use_future_apply()) {
    return(list(globals = globals, packages = packages))
  }
  for (f in simulators) {
    env <- environment(f)
    if (is.null(env)) {
      next
    }
    holder <- new.env(parent = env)
    assign(".deepbmc_simulator", f, envir = holder)
    found <- future::getGlobalsAndPackages(quote(.deepbmc_simulator()),
                                           envir = holder)
    values <- as.list(found$globals)
    values[[".deepbmc_simulator"]] <- NULL
    for (name in names(values)) {
      if (identical(binding_environment(name, env), globalenv())) {
        globals[[name]] <- values[[name]]
      }
    }
    packages <- union(packages, found$packages)
  }
  list(globals = globals, packages = packages)
}

# The environment in which `name` is found from `env`, or NULL.
binding_environment <- function(name, env) {
  while (!identical(env, emptyenv())) {
    if (exists(name, envir = env, inherits = FALSE)) {
      return(env)
    }
    env <- parent.env(env)
  }
  NULL
}

# An error of a simulator, its call shown as the model's name (`flat()`)
# where it was the call of the simulator itself.
named_cause <- function(error, model) {
  if (identical(error$call, quote(simulator()))) {
    error$call <- call(model)
  }
  error
}
