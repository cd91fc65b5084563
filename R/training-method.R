# Training methods: the loss the network is trained with, how its head turns
# outputs into logits, and whether training also sees smaller designs
# (issue 14: log Bayes factors that stay accurate when the evidence is
# strong). Every method trains logits that are log evidences up to a shared
# constant, so post_prob() (softmax of the logits) and bayes_factor()
# (differences of logits) read every fit the same way.

# The methods train_comparison(method =) offers; "classifier" is the method
# of Elsemueller et al. (2024). "size_subsample" (a size-scaled head and half
# the training data sets subsampled to smaller designs) was the best of the
# methods measured on exact Study 1 log BFs (bench/bf_accuracy.md): about
# half the error at log BFs 10 to 50, PMPs as well calibrated. The others
# (Jeffrey & Wandelt's l-POP-exponential loss, the weighted log loss, other
# rate sources) did worse and stay internal, for the benchmarks.
training_method_presets <- function() {
  list(
    classifier = list(
      loss = "log", output = "linear", output_power = 2,
      size_scaled = FALSE, rates = "head", subsample = 0
    ),
    size_subsample = list(
      loss = "log", output = "linear", output_power = 2,
      size_scaled = TRUE, rates = "head", subsample = 0.5
    )
  )
}

# A method from its parts (internal; the benchmarks combine parts freely).
# loss: "log", "exponential" or "weighted_log" (the log loss weighted by
# the network's own confidence, see loss.h, its weight capped at weight_cap);
# output: "linear" or "lpop" with exponent
# output_power in [1, 4]; size_scaled: logits = c + sum over levels of
# (present elements / training maximum) * rate, with the rates from the head
# (rates = "head") or linear in the top summary (rates = "summary", blind to
# the sizes), or the Laplace form c + sum_l (f_l g_l + log(f_l) a_l) with
# nothing else seeing the sizes (rates = "laplace"); subsample: probability, per
# data set and level, of training on a random subset of its groups and of
# its observations, of uniform sizes or (log_sizes) log-uniform ones.
training_method <- function(loss = "log", output = "linear", output_power = 2,
                            size_scaled = FALSE, rates = "head", subsample = 0,
                            weight_cap = 50, log_sizes = FALSE,
                            name = "custom") {
  structure(
    list(
      name = name, loss = loss, output = output,
      output_power = output_power, size_scaled = size_scaled, rates = rates,
      subsample = subsample, weight_cap = weight_cap, log_sizes = log_sizes
    ),
    class = "deepbmc_training_method"
  )
}

check_training_method <- function(method, arg = rlang::caller_arg(method),
                                  call = rlang::caller_env()) {
  presets <- training_method_presets()
  if (is.character(method) && length(method) == 1 && !is.na(method) &&
        method %in% names(presets)) {
    return(do.call(training_method, c(presets[[method]], name = method)))
  }
  if (!inherits(method, "deepbmc_training_method")) {
    abort_deepbmc(
      c(
        "{.arg {arg}} must be one of {.or {.val {names(presets)}}}.",
        x = "You supplied {describe_value(method)}."
      ),
      "value",
      call = call
    )
  }
  ok <- is.character(method$loss) && length(method$loss) == 1 &&
    method$loss %in% c("log", "exponential", "weighted_log") &&
    is.character(method$output) && length(method$output) == 1 &&
    method$output %in% c("linear", "lpop") &&
    is.numeric(method$output_power) && length(method$output_power) == 1 &&
    is.finite(method$output_power) && method$output_power >= 1 &&
    method$output_power <= 4 &&
    is.logical(method$size_scaled) && length(method$size_scaled) == 1 &&
    !is.na(method$size_scaled) &&
    is.character(method$rates) && length(method$rates) == 1 &&
    method$rates %in% c("head", "summary", "laplace") &&
    is.numeric(method$subsample) && length(method$subsample) == 1 &&
    is.finite(method$subsample) && method$subsample >= 0 &&
    method$subsample <= 1 &&
    is.numeric(method$weight_cap %||% 50) && length(method$weight_cap %||% 50) == 1 &&
    is.finite(method$weight_cap %||% 50) && (method$weight_cap %||% 50) >= 1
  if (!ok) {
    abort_deepbmc("{.arg {arg}} is not a valid training method.", "value",
                  call = call)
  }
  method
}

# The optional head elements of the configuration the C++ network reads
# (r_network_spec() in src/r_convert.h; test-network.R checks its table
# cpp_network_head_fields() agrees). A fit of the default method has none of
# them, so its configuration is the one network_config() writes and fits
# saved before training methods existed read the same way.
network_head_fields <- c(
  output = "character", output_power = "double", size_reference = "double",
  rates = "character",
  # the missing-data coding (missing_config() in R/missing.R)
  missing_coding = "character", placeholder = "double",
  # the standardisation (network_config() in R/network.R)
  standardize = "character",
  # the pooling per level (network_config() in R/network.R)
  pooling = "character",
  # the fixed statistics, their layout and the model term of each covariate
  # (network_config() in R/network.R)
  statistics = "character", statistics_terms = "integer",
  statistics_version = "integer"
)

# The head settings of `method` added to the configuration the C++ core
# reads (prediction needs them as much as training).
method_config <- function(config, method, models) {
  plain_head <- method$output == "linear" && !isTRUE(method$size_scaled)
  if (plain_head) {
    return(config)
  }
  config$output <- method$output
  config$output_power <- as.double(method$output_power)
  if (method$size_scaled) {
    # per level, innermost first: observations, then groups. A phase that
    # starts from a trained network keeps that network's references
    # (init_method(), R/transfer.R), as they are part of what its weights
    # mean.
    max_groups <- as.double(models$groups[[2]])
    config$size_reference <- method$size_reference %||%
      c(max_groups * models$obs[[2]], max_groups)[seq_len(models$n_levels)]
  }
  config$rates <- method$rates
  config
}

# What the trainer needs of a fit's method (fits from before methods existed
# were trained with the log loss and no subsampling).
method_trainer_spec <- function(method) {
  if (is.null(method)) {
    return(NULL)
  }
  list(loss = method$loss, subsample = as.double(method$subsample),
       weight_cap = as.double(method$weight_cap %||% 50),
       log_sizes = isTRUE(method$log_sizes))
}
