# Compiled Stan models, cached by a hash of their program in the session and
# optionally on disk, recompiled when their compiled code is stale.

stan_cache <- new.env(parent = emptyenv())

# The compiled model of `code`: from the session cache, else from the
# directory getOption("deepbmc.stan_cache"), else compiled (and stored in
# both). Stale models (compiled code not loadable) are recompiled. Returns
# list(model, seconds) with the compilation seconds (0 when cached).
stan_compiled <- function(code, name = "deepbmc_model",
                          cache_dir = getOption("deepbmc.stan_cache")) {
  key <- rlang::hash(code)
  cached <- stan_cache[[key]]
  if (!is.null(cached) && stan_model_ok(cached)) {
    return(list(model = cached, seconds = 0))
  }
  file <- if (!is.null(cache_dir)) {
    file.path(cache_dir, paste0(name, "-", key, ".rds"))
  }
  if (!is.null(file) && file.exists(file)) {
    stored <- tryCatch(readRDS(file), error = function(e) NULL)
    if (inherits(stored, "stanmodel") && stan_model_ok(stored)) {
      stan_cache[[key]] <- stored
      return(list(model = stored, seconds = 0))
    }
  }
  seconds <- system.time(model <- stan_compile(code, name))[["elapsed"]]
  stan_cache[[key]] <- model
  if (!is.null(file)) {
    dir.create(cache_dir, showWarnings = FALSE, recursive = TRUE)
    saveRDS(model, file)
  }
  list(model = model, seconds = seconds)
}

stan_compile <- function(code, name) {
  restore <- use_system_boost()
  on.exit(restore())
  cli::cli_inform(c(i = "Compiling the Stan program {.val {name}}."))
  rstan::stan_model(model_code = code, model_name = name, save_dso = TRUE)
}

# Whether a stanmodel's compiled code is loaded or can be loaded from the
# copy saved inside it (rstan reloads it after readRDS() on the same
# platform).
stan_model_ok <- function(model) {
  is_valid <- tryCatch(utils::getFromNamespace("is_sm_valid", "rstan"),
                       error = function(e) NULL)
  if (is.null(is_valid)) {
    return(TRUE)
  }
  isTRUE(tryCatch(is_valid(model), error = function(e) FALSE))
}

# The model itself when usable, else recompiled from its program (in a
# worker that received a model whose compiled code it cannot load).
stan_model_valid <- function(model) {
  if (stan_model_ok(model)) {
    return(model)
  }
  stan_compiled(model@model_code, model@model_name)$model
}

# Debian's r-cran-bh ships no headers (they come with libboost-dev in
# /usr/include): point rstan there unless BH has them or boost_lib is set.
# Returns a function that restores the option.
use_system_boost <- function() {
  bh <- system.file("include", "boost", package = "BH")
  if (!nzchar(bh) && !nzchar(rstan::rstan_options("boost_lib")) &&
        dir.exists("/usr/include/boost")) {
    rstan::rstan_options(boost_lib = "/usr/include")
    return(function() rstan::rstan_options(boost_lib = ""))
  }
  function() invisible()
}
