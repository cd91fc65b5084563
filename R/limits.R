# Every size cap of the package, with the reason for it. The checkers quote
# these constants in their errors (check_whole_values() prints its `max` with
# format_count()), so a message always states the limit in force.

# --- Data -------------------------------------------------------------------

# Observations in one data set (groups x observations per group). A simulated
# data set is held in memory as a whole and the C++ core indexes its rows
# with int; 1e7 doubles are 80 MB. Also the largest size validate_sizes()
# accepts for groups or observations per group.
max_dataset_observations <- 1e7

# Observations in one packed batch handed to C++ (prediction input): its rows
# are indexed with int.
max_batch_rows <- .Machine$integer.max

# Observations in one simulated batch (batch_size or holdout data sets of the
# largest size): all live in memory at once, 5e7 doubles are 400 MB, and C++
# indexes their rows with int.
max_batch_observations <- 5e7

# Observations per data set for training. Training keeps every activation of
# a data set for the backward pass, and the cost per observation grows once
# those leave the cache: about a microsecond per observation and step on one
# core, 30 s per step for a batch of 32 data sets of a million observations.
# Data sets that large are refused for training (prediction has no such
# limit).
max_training_observations <- 250000

# Groups per simulated data set of formula models with design = "resample":
# every group gets its own random effects, drawn and held per data set; the
# paper's data sets have 50 groups.
max_resampled_groups <- 1e5

# Binomial trials per row of formula-model data: trial counts and simulated
# successes are ints in C++, and a million per row is far inside that.
max_trials <- 1e6

# --- Network ----------------------------------------------------------------

# Weights of a network. Training keeps one gradient per data set of a batch,
# so weights cost batch_size times their size in memory; 1e7 float weights
# and a batch of 32 take 1.3 GB.
max_network_weights <- 1e7

# Width of a dense layer (s1, s2, s3, summary_dim, head_units): the paper's
# widest is 128, and 4096 x 4096 weights are already 64 MB per layer.
max_layer_width <- 4096

# Dense layers per stack, equivariant modules per level, head layers: the
# paper uses 2 to 3; deeper stacks of this architecture do not train better.
max_layers <- 16

# --- Training ---------------------------------------------------------------

# Epochs and iterations per epoch (each checked alone); their product is
# capped by max_training_steps.
max_epochs <- 1e6
max_iterations <- 1e6

# Training steps in all (epochs x iterations): the step counter is an int in
# C++ and in the fit.
max_training_steps <- .Machine$integer.max

# Data sets per training batch: gradients are kept per data set, so memory
# grows with the batch (see max_network_weights).
max_batch_size <- 65536

# Held-out data sets scored after every epoch.
max_holdout <- 1e5

# Adam's learning rates are usually 1e-4 to 1e-2; at 1 and above the weights
# leave any useful range within a few steps (and from about 1e4 become
# non-finite), so such rates are errors rather than diverged fits.
max_learning_rate <- 1

# --- Simulation and validation ----------------------------------------------

# Data sets from simulate_datasets() and validate(): they are returned (or
# scored) in memory at once.
max_simulations <- 1e7

# Data sets per size of validate_sizes(), which simulates that many for every
# cell of its grid.
max_simulations_per_size <- 1e6

# Bootstrap resamples of validate(): each recomputes every metric.
max_bootstrap <- 1e5

# Calibration bins: more than the data sets can fill leave empty bins.
max_bins <- 1000

# --- Bridge sampling ----------------------------------------------------------

# Stan chains and cores of bridge_compare().
max_chains <- 64
max_cores <- 64

# Warm-up iterations and draws per chain of bridge_compare().
max_warmup <- 1e6
max_draws <- 1e7

# Stan seeds are int; bridge_compare() adds the data set's index (up to a
# million) to the seed, which must stay an int.
max_stan_seed <- .Machine$integer.max - 1e6

# --- Numbers ----------------------------------------------------------------

# Seeds travel to C++ as doubles holding whole numbers in [0, 2^52], which a
# double represents exactly (checked again in C++ by r_seed()).
max_seed <- 2^52

# The largest finite single-precision number: the network computes in float,
# so larger inputs would become infinite there.
max_float <- 3.4028234663852886e38

# Threads per call: results do not depend on the count, and the arena caps it
# at the number of cores anyway; this only refuses absurd requests.
max_threads <- 1024
