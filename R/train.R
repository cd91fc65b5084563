#' Train a network to compare hierarchical models
#'
#' Trains a hierarchical invariant network as a classifier on data sets
#' simulated from the candidate models, with the log loss, so that its softmax
#' output approximates the posterior model probabilities under a uniform
#' prior over the models (Elsemüller et al., 2024). Training is online: every
#' step simulates a fresh batch, so the network never sees a data set twice and
#' cannot overfit. Simulation, forward and backward passes run in parallel in
#' C++.
#'
#' Optimisation uses Adam with the learning rate decaying from
#' `learning_rate` to zero along a cosine over all `epochs * iterations`
#' steps, and gradients clipped to a global norm of 1, as in the paper.
#' An "epoch" is only a unit of `iterations` steps; every step draws new data.
#' Results depend on `seed` but not on `threads`.
#'
#' With `holdout > 0`, a fixed set of `holdout` data sets is simulated before
#' training and the network's mean log loss and accuracy on it are measured
#' after every epoch, as BayesFlow does with `validation_sims`. Unlike the
#' per-step training loss, which comes from a new batch every step, these are
#' comparable across epochs. The holdout set is simulated from a seed derived
#' from `seed` (kept as `training$holdout_seed`), so it is reproducible and
#' never overlaps the training data or `validate(fit, seed = seed)`; it does
#' not change the training itself. See [training_history()].
#'
#' Press Ctrl-C (Esc in RStudio) to stop early: the steps done so far are kept
#' and returned with a warning of class `"deepbmc_interrupted_warning"`. Only
#' the chunk of steps in flight (about a quarter second) is lost; further
#' interrupts while the partial fit is put together are deferred until it is.
#'
#' *One recipe.* Train with the defaults (10 epochs of 1000 steps online,
#' a few minutes for small data sets on 2 cores) and read the warning below:
#' when it says training is not done, continue with
#' `train_comparison(models, init = fit, epochs = 10)` until it stops
#' saying so, then check the network with [validate()]. Or let the holdout
#' set decide: `epochs = 50, patience = 3` stops once its loss has stopped
#' falling over 3 epochs (the cosine schedule still spans all 50, so the
#' learning rate is not yet small then; a short phase with `init = fit` and a
#' smaller `learning_rate` can settle it). Shorter runs in the examples and
#' vignettes are for speed only.
#'
#' After training, the holdout set tells whether training looks done. When
#' its loss is still at chance, sat at chance for half the epochs or more, is
#' still falling clearly at the end (the last epoch's loss more than 3% and
#' 0.01 below the best of the first three quarters of the epochs), or the
#' final PMPs on it fail [validate()]'s calibration test at the 1% level,
#' a warning of class `"deepbmc_training_warning"` says which and what to
#' do. It needs 3 or more epochs and a holdout set of 100 or more data sets;
#' the default `holdout` gives one to online trainings of 2,000 or more data
#' sets per epoch.
#'
#' Training data without any observed value (stored `simulations` whose data
#' sets are all empty, missing values that take every value, or online
#' batches in which every observation is missing, such as trials that all
#' time out) teach the network nothing: training stops before it starts, or
#' after its first steps online, with an error of class
#' `"deepbmc_error_data"`.
#'
#' Training that diverges (a mean batch loss above 1000, or a loss,
#' gradient or weight that is no longer finite, typically from too large a
#' `learning_rate`) stops at once and
#' returns the network as it was before the step that diverged, with a
#' warning of class `"deepbmc_diverged_warning"`.
#'
#' @section Transfer learning and continued training:
#' With `init = fit`, training starts from the weights of the trained
#' network `fit` instead of random ones, as a new *phase* of its training:
#' with a fresh Adam state and a new cosine schedule from `learning_rate`
#' over the new `epochs * iterations` steps, on `models` at the same or
#' other sizes, with other simulator settings or on stored `simulations`.
#' `network = NULL` and `method = NULL` take `init`'s. The models must have
#' the same names in the same order and the same features, and the network
#' the same architecture and head: otherwise the call fails with an error of
#' class `"deepbmc_error_mismatch"`. A size-scaled head
#' (`method = "size_subsample"`) keeps the reference sizes of `init`'s first
#' phase, which its weights are relative to.
#'
#' The same call with the same models continues training for another
#' schedule. Phase `p` simulates its batches from a stream derived from
#' `seed` and `p`, so even the same `seed` never repeats an earlier phase's
#' data sets. The input range of the result widens `init`'s, and the checked
#' range is measured anew after the phase. The fit keeps every phase in
#' `phases`, numbers the steps of its histories over all phases (with a
#' `phase` column, see [training_history()]), shows the phases in `print()`
#' and `autoplot()`, and records `init` in `training$init`.
#'
#' *Recipe: pretrain on small data sets, fine-tune at the target size.*
#' Simulating and training cost about as much per observation, so steps on
#' data sets with 10 observations per group are about ten times cheaper than
#' steps with 100. Pretraining on many cheap small data sets and
#' fine-tuning on a few large ones can therefore reach a given accuracy at
#' the target size sooner than training there directly:
#' ```
#' small <- normal_nested_models(groups = 50, obs = 10)
#' target <- normal_nested_models(groups = 50, obs = 100)
#' pretrained <- train_comparison(small, epochs = 10, learning_rate = 5e-4)
#' fit <- train_comparison(target, init = pretrained, epochs = 3,
#'                         learning_rate = 2e-4)
#' ```
#' Use a smaller learning rate for fine-tuning than for pretraining, so
#' that the first steps at the new size do not undo the pretrained weights.
#' Whether it pays depends on what costs the time. `bench/transfer.R` in the
#' sources measures it on Study 1 at 50 x 100 against training directly
#' there: at equal training time (about 4 minutes on 2 threads) both ended
#' at the same held-out log score (0.305 and 0.307) and mean |PMP - exact
#' PMP| (0.018 and 0.022), because a step at 50 x 10 costs a quarter of one
#' at 50 x 100, not a tenth; at equal simulated observations transfer was
#' clearly closer to the exact PMPs (0.014 against 0.022) in twice the time.
#' So it pays when simulation is the expensive part (slow or R simulators),
#' or when one pretrained network serves several target designs. Check the
#' result at the target size with [validate()] either way; see
#' `vignette("missing-transfer")`.
#'
#' An interrupted run is continued, rather than restarted as a new phase,
#' with [resume_training()], which reproduces the uninterrupted run exactly.
#'
#' @param models A model set, e.g. from [normal_nested_models()].
#' @param network An architecture from [hierarchical_network()]; `NULL` uses
#'   [default_network()] for `models`: for formula model sets the paper's
#'   network with least-squares statistics, otherwise the paper's Study 1
#'   network.
#' @param simulations Stored simulations from [simulate_datasets()] of
#'   `models` to train on offline, in passes over them (each model's data
#'   sets in an order reshuffled every pass from `seed`, every batch balanced
#'   over the models), instead of simulating afresh every step. Needed for
#'   models without a C++ simulator, such as [simulator_models()]; for the
#'   others online training never reuses a data set and so cannot overfit,
#'   while a bank simulated once (for example on a cluster) can train many
#'   networks. With `holdout`, that many of them (drawn from `seed`) are held
#'   out instead of simulated.
#' @param epochs,iterations Training runs `epochs * iterations` steps.
#'   `iterations = NULL` means 1000 steps online and one pass over the
#'   `simulations` offline. The paper used 10 x 1000 for Study 1 with fixed
#'   sizes, and 20 to 40 epochs for variable sizes.
#' @param batch_size Data sets simulated per step, spread evenly over the
#'   models.
#' @param learning_rate Initial learning rate of Adam, positive and below 1.
#' @param holdout Number of held-out data sets (at most 100,000) on which the
#'   loss and accuracy are measured after every epoch, or 0 for none. `NULL`
#'   (the default) holds out 5% of the data sets of an epoch, at most 500,
#'   when training online (none if that is under 100), and none when
#'   training on stored `simulations`, whose data sets it would take away.
#'   A few hundred give a smooth learning curve at little cost (one forward
#'   pass over them per epoch) and let training warn when it is not done.
#' @param patience `NULL` (the default) to train all `epochs`, or a whole
#'   number: stop early, once the holdout loss has stopped falling, that is
#'   when its mean over the last `patience` epochs is no lower than over the
#'   `patience` epochs before (a smoothed form of keras's early stopping: the
#'   holdout loss of a few hundred data sets is noisy). Then
#'   `epochs` is an upper limit: `epochs = 100, patience = 3` trains until
#'   the network stops improving. Needs a holdout set. The fit keeps its last
#'   weights, and `training$stopped` is `"converged"`; a message says when.
#' @inheritParams deepbmc_threads
#' @param seed A whole number in `[0, 2^52]` that makes the initial weights
#'   and the simulations reproducible. `NULL` (the default) draws one from R's
#'   random number generator, so [set.seed()] works too; the seed used is kept
#'   in the result.
#' @param progress Show progress? In interactive sessions a progress bar
#'   with the current loss, data sets per second and the time left; in
#'   others (Rscript, batch jobs) a status line per epoch as a message, with
#'   the epoch's mean loss, the holdout loss and the time left, from 5
#'   seconds into training on and at most every 10 seconds; nothing while
#'   knitting a document. `FALSE` for none.
#' @param method How the network is trained. `"classifier"` (the default)
#'   is the method of the paper: the log loss on the logits.
#'   `"size_subsample"` makes the logits grow linearly with the share of the
#'   training design's groups and observations a data set has (log Bayes
#'   factors grow about linearly with the amount of data), and trains half
#'   the data sets on random subsets of their groups and observations, so
#'   that the network learns log Bayes factors on smaller designs, where they
#'   are moderate, and extrapolates to the full design. On Study 1 it halves
#'   the error of log Bayes factors between 10 and 50 (mean absolute error
#'   2.1 instead of 5.1 from 10 to 20, 9.6 instead of 20.7 from 20 to 50)
#'   with PMPs as well calibrated (ECE 0.0135 against 0.0125, log score
#'   0.299 against 0.300) and training about 25% slower; see
#'   `bench/bf_accuracy.md` in the sources. Neither method gets log Bayes
#'   factors right far beyond the range its fit was checked over: see
#'   [checked_range()]. Either way the outputs are logits of the posterior
#'   model probabilities. `NULL` (the default) means `"classifier"`, or
#'   `init`'s method with `init`.
#' @param init `NULL` (the default) to start from random weights, or a
#'   trained network from `train_comparison()` to start from its weights:
#'   see the section on transfer learning. An ensemble fine-tunes each of its
#'   members.
#' @param members The number of networks to train, each with a seed of its
#'   own (so, online, on simulations of its own): `NULL` (the default) trains
#'   one, or as many as `init` has. With 2 or more the result is an ensemble
#'   whose PMPs are the mean of its members' and whose [post_prob()] and
#'   [compare_models()] report how far the members disagree about each data
#'   set. With the future.apply package and a [future::plan()] of several
#'   workers (`plan(multisession)`, `plan(cluster)`, a batchtools or mirai
#'   plan) the members train on those workers, each with `threads` threads;
#'   otherwise one after another. The plan never changes the result.
#' @param missing `NULL` (the default), or missing values from
#'   [missing_values()] drawn afresh into every training data set (after the
#'   simulation or the stored data set, deterministic by `seed` and
#'   independent of `threads`), so that the network learns to compare models
#'   on data with missing values; it also sets how the network sees them
#'   (`coding`). A network trained without it drops observations with some but
#'   not all features missing, with a warning of class
#'   `"deepbmc_missing_warning"`. See [validate_missing()]. With `init`,
#'   `NULL` keeps `init`'s coding; a coding that changes the width of the
#'   network's input (presence indicators with several features) is an
#'   error, so pretrain with `missing_values(share = 0)` when fine-tuning
#'   will draw missing values.
#'
#' @return A trained network, a list of class `"deepbmc_fit"` with elements
#' * `models`, `network`: the arguments;
#' * `config`: the configuration the C++ core reads;
#' * `weights`: the trained weights, a numeric vector;
#' * `optimizer`: Adam's state (`m`, `v`, `step`) in the last phase;
#' * `history`: a data frame with one row per step and columns `step`
#'   (counted over all phases), `epoch` (within the phase), `loss` (mean log
#'   loss of the batch), `accuracy` (share of the batch classified correctly)
#'   and `phase`;
#' * `holdout_history`: a data frame with one row per completed epoch and the
#'   same columns, measured on the holdout set after the epoch's last step
#'   (`step`); no rows when `holdout = 0`;
#' * `training`: the settings (`epochs`, `iterations`, `batch_size`,
#'   `learning_rate`, `holdout`, `seed`, `threads`), the seed of the holdout
#'   set `holdout_seed` (`NA` without one), `source` (`"simulator"` or
#'   `"simulations"`), `simulations` (the number of stored simulations
#'   trained on, `NA` online) and `simulations_checksum` (their checksum,
#'   which [resume_training()] checks; `NA` online), `steps_done`, `seconds` of
#'   training (wall-clock time, holdout evaluations included) and `stopped`
#'   (`NA`, or `"interrupted"`, `"diverged"` or, with `patience`,
#'   `"converged"` when training stopped early), `patience`,
#'   all of the last phase, and with `init` where it came from, `init`
#'   (`init`'s `checksum`, its number of `steps` and of `phases`, and its
#'   `format_version`);
#' * `phases`: a data frame with one row per phase of training and columns
#'   `phase`, `steps` (done), `first_step`, `last_step` (in the histories'
#'   numbering), `epochs`, `iterations`, `batch_size`, `learning_rate`,
#'   `seed`, `source`, `simulations`, the training sizes `groups_min`,
#'   `groups_max`, `obs_min`, `obs_max`, `seconds` and `stopped`;
#' * `input_range`: the smallest and largest value of every input feature
#'   over all data sets the network was trained on (`lo`, `hi`), against
#'   which [post_prob()] checks new data;
#' * `checked_range`: the range of log Bayes factors the network vouches for,
#'   for every pair of models (see [checked_range()]); [bayes_factor()] and
#'   [compare_models()] flag values beyond it;
#' * `checksum`: a checksum of the weights, the configuration, the model
#'   set, the checked range, the verdict, the training settings (all of `training` but
#'   `threads`, `steps_done` and `seconds`) and Adam's state, checked at
#'   every use so that a damaged or edited fit is an error of class
#'   `"deepbmc_error_fit"`;
#' * `format_version`: the version of this layout;
#' * `verdict`: what the training check on the holdout set found,
#'   `checked` (`FALSE` without a holdout set of 100 or more data sets and 3
#'   or more epochs) and `problems` (named: `chance`, `falling`,
#'   `calibration`, `diverged`; empty when none), shown by `print()` and,
#'   when there are problems, by a warning of class
#'   `"deepbmc_verdict_warning"` at every use of the fit's PMPs and Bayes
#'   factors; covered by the checksum.
#'
#' * `members`: only for an ensemble (`members` of 2 or more), its members,
#'   each a fit as described here; the fit itself is its first member, with
#'   the input range and checked range all members share and their verdicts
#'   merged.
#'
#' It holds only plain R data, so [saveRDS()] and [readRDS()] return a fit
#' that gives identical results. Use it with [post_prob()],
#' [bayes_factor()], [compare_models()] and [validate()].
#'
#' @references Elsemüller, L., Schnuerch, M., Bürkner, P.-C., & Radev, S. T.
#'   (2024). A deep learning method for comparing Bayesian hierarchical models.
#'   *Psychological Methods*. \doi{10.1037/met0000645}
#' @export
#' @examples
#' models <- normal_nested_models(groups = 10, obs = 10)
#' # Far too short for useful probabilities, but quick
#' fit <- train_comparison(models, epochs = 1, iterations = 20, seed = 1)
#' fit
#'
#' # Measure the loss on 200 held-out data sets after each epoch
#' fit <- train_comparison(models, epochs = 2, iterations = 20, holdout = 200,
#'                         seed = 1)
#' fit$holdout_history
#'
#' # Continue training from it, at larger data sets
#' larger <- normal_nested_models(groups = 10, obs = 30)
#' fit2 <- train_comparison(larger, init = fit, epochs = 1, iterations = 20,
#'                          learning_rate = 2e-4, seed = 2)
#' fit2
#' fit2$phases
#'
#' # The paper's Study 1 schedule, 10 x 1000 steps at 50 groups of 50
#' # observations, takes a few minutes: see demo("study1", package = "deepbmc").
train_comparison <- function(models, network = NULL, simulations = NULL,
                             epochs = 10, iterations = NULL, batch_size = 32,
                             learning_rate = 5e-4, holdout = NULL,
                             threads = default_threads(),
                             seed = NULL, progress = TRUE,
                             method = NULL, init = NULL, missing = NULL,
                             patience = NULL, members = NULL) {
  check_models(models)
  if (!is.null(init)) {
    init <- check_init(init)
  }
  members <- check_members(members, init)
  if (members > 1) {
    return(train_ensemble(
      list(models = models, network = network, simulations = simulations,
           epochs = epochs, iterations = iterations, batch_size = batch_size,
           learning_rate = learning_rate, holdout = holdout,
           threads = check_threads(threads), seed = check_seed(seed),
           progress = check_flag(progress), method = method,
           missing = missing, patience = patience),
      init = init, members = members
    ))
  }
  if (is.null(network)) {
    network <- init$network %||% default_network(models)
  }
  check_network(network)
  epochs <- check_whole_number(epochs, max = max_epochs)
  batch_size <- check_whole_number(batch_size, max = max_batch_size)
  learning_rate <- check_learning_rate(learning_rate)
  if (!is.null(holdout)) {
    holdout <- check_whole_number(holdout, min = 0, max = max_holdout)
  }
  threads <- check_threads(threads)
  seed <- check_seed(seed)
  progress <- check_flag(progress)
  # Offline, the default holds none out (default_holdout()).
  source <- training_source(models, simulations, holdout %||% 0L, seed)
  if (!is.null(source$sizes)) {
    # Sets that know their sizes only from their data sets (simulator_models())
    # take those of the training data; built-in sets keep their own.
    models <- with_training_sizes(models, source$sizes)
  }
  # An epoch is one pass over stored simulations, or 1000 steps online.
  if (!is.null(iterations)) {
    iterations <- check_whole_number(iterations, max = max_iterations)
  }
  iterations <- iterations %||% source$steps_per_pass(batch_size)
  holdout <- holdout %||%
    default_holdout(models, simulations, iterations, batch_size)
  if (!is.null(patience)) {
    patience <- check_whole_number(patience, max = max_epochs)
    if (holdout == 0) {
      abort_deepbmc(
        c(
          "{.arg patience} stops training by the holdout loss, so it needs a
           holdout set.",
          i = "Set {.arg holdout} to a few hundred data sets."
        ),
        "mismatch"
      )
    }
  }
  total_steps <- as.double(epochs) * iterations
  if (total_steps > max_training_steps) {
    abort_deepbmc(
      c(
        "{.code epochs * iterations} must be at most
         {format_count(max_training_steps)}.",
        x = "You asked for {format_count(total_steps)} steps."
      ),
      "value"
    )
  }
  check_batch_size(models, batch_size)
  check_batch_size(models, holdout)
  if (is.null(simulations)) {
    check_training_size(models)
  }
  if (is.null(init)) {
    method <- check_training_method(method %||% "classifier")
  } else {
    method <- init_method(method, init)
  }
  config <- method_config(network_config(network, models), method, models)
  missing <- missing_for_models(missing, models)
  config <- missing_config(config, missing)
  if (!is.null(init)) {
    config <- init_missing_config(config, init, missing)
    # the head's inputs are init's: its layout of the statistics
    for (field in c("statistics_version", "statistics_terms")) {
      config[[field]] <- init$config[[field]]
    }
    check_init_matches(init, models, network, config)
  }
  source <- missing_source(source, missing, models, seed)
  if (identical(source$name, "simulations")) {
    check_observed_training(source$spec$batch, source$spec$model > 0L,
                            arg = if (!is.null(missing)) "missing" else
                              "simulations")
  }

  weights <- if (is.null(init)) cpp_network_init(config, seed) else init$weights
  fit <- new_deepbmc_fit(
    models = models,
    network = network,
    config = config,
    weights = weights,
    optimizer = list(
      m = numeric(length(weights)),
      v = numeric(length(weights)),
      step = 0L
    ),
    history = empty_history(),
    holdout_history = empty_history(),
    training = list(
      epochs = epochs,
      iterations = iterations,
      batch_size = batch_size,
      learning_rate = learning_rate,
      holdout = holdout,
      holdout_seed = if (holdout > 0) holdout_seed(seed) else NA_real_,
      seed = seed,
      threads = threads,
      method = method,
      missing = missing_record(missing),
      source = source$name,
      simulations = source$n_simulations,
      simulations_checksum = source$digest %||% NA_character_,
      steps_done = 0L,
      seconds = 0,
      patience = patience %||% NA_integer_
    )
  )
  if (is.null(init)) {
    fit$phases <- phase_row(1L, 1L, fit$training, models)
  } else {
    fit <- start_from_init(fit, init)
  }
  run_training(fit, total_steps = as.integer(total_steps), progress = progress,
               source = source)
}

# Where training batches come from, as the C++ trainer reads it (`spec`),
# with the holdout set (`holdout`, a packed batch with true models, or NULL to
# simulate one) and the number of steps of one pass over the data:
# * online, from the model set's C++ simulator: `spec` is models_spec();
# * offline, from stored simulations: `spec` is list(type = "stored", batch,
#   model, n_models), where the `holdout` data sets, drawn from the holdout
#   seed, have model 0 (left out) and form the holdout set.
training_source <- function(models, simulations, holdout, seed,
                            call = rlang::caller_env()) {
  if (is.null(simulations)) {
    return(list(
      name = "simulator", spec = models_spec(models), holdout = NULL,
      n_simulations = NA_integer_,
      steps_per_pass = function(batch_size) 1000L
    ))
  }
  bank <- check_training_simulations(simulations, models, holdout, call)
  model <- as.integer(bank$model)
  n <- length(model)
  held_out <- if (holdout > 0) {
    with_local_seed(holdout_seed(seed), sort(sample.int(n, holdout)))
  } else {
    integer(0)
  }
  training_model <- model
  training_model[held_out] <- 0L
  n_training <- n - length(held_out)
  check_observed_training(bank, training_model > 0L, call = call)
  list(
    name = "simulations",
    spec = list(type = "stored", batch = bank, model = training_model,
                n_models = as.integer(models$n_models)),
    holdout = if (length(held_out) > 0) packed_subset(bank, held_out),
    held_out = held_out,
    n_simulations = as.integer(n_training),
    # What the fit was trained on, for resume_training().
    digest = .subset2(simulations, "checksum") %||%
      simulations_checksum(simulations),
    sizes = training_size_ranges(bank, training_model > 0L),
    steps_per_pass = function(batch_size) {
      as.integer(max(1, n_training %/% batch_size))
    }
  )
}

# Stored simulations for training: of these models, with every model among
# the data sets left after the holdout. Returns their packed batch (with
# `model`): the object's own batch, read in place, when its values mean what
# they mean to these models (input_encoding()); otherwise (objects of earlier
# versions, or a model set that orders its features otherwise) the data sets
# in their user-facing forms, matched to the models by name and packed anew.
check_training_simulations <- function(simulations, models, holdout, call) {
  if (!inherits(simulations, "deepbmc_simulations")) {
    abort_deepbmc(
      c(
        "{.arg simulations} must be simulations from
         {.fun simulate_datasets}.",
        x = "You supplied {describe_value(simulations)}."
      ),
      "type",
      call = call
    )
  }
  batch <- simulations_batch(simulations, arg = "simulations", call = call)
  names <- .subset2(simulations, "model_names")
  if (!identical(names, models$model_names)) {
    abort_deepbmc(
      c(
        "{.arg simulations} come from other models than {.arg models}.",
        x = "Simulated: {.val {names}}; models: {.val {models$model_names}}."
      ),
      "mismatch",
      call = call
    )
  }
  if (!encodes_like(simulations, models)) {
    batch <- prepare_datasets(
      models, simulations_data(simulations, arg = "simulations", call = call),
      NULL, NULL, "simulations", call
    )$batch
  }
  if (!identical(as.integer(batch$n_features),
                 as.integer(models$n_features))) {
    abort_deepbmc(
      c(
        "{.arg simulations} have {batch$n_features} feature{?s} per
         observation; the models have {models$n_features}.",
        i = "Simulate them from these models."
      ),
      "mismatch",
      call = call
    )
  }
  batch$model <- .subset2(simulations, "model")
  counts <- tabulate(batch$model, nbins = models$n_models)
  if (length(batch$model) - holdout < models$n_models || any(counts == 0)) {
    abort_deepbmc(
      c(
        "{.arg simulations} must hold data sets of every model, beyond the
         {holdout} held out.",
        x = "Data sets per model: {paste(models$model_names, counts, sep = ': ',
             collapse = ', ')}."
      ),
      "value",
      call = call
    )
  }
  batch
}

# Training needs observed values: data sets in which everything is missing
# (every trial timed out, or missing values that take every value) teach the
# network nothing, and training on them alone would run to its end at chance
# without a word. `keep` marks the training data sets of `batch`; `arg`
# names what emptied them.
check_observed_training <- function(batch, keep, arg = "simulations",
                                    call = rlang::caller_env()) {
  sizes <- batch_sizes(batch)
  if (any(sizes$groups[keep] > 0L)) {
    return(invisible(batch))
  }
  abort_deepbmc(
    c(
      "The training data sets hold no observed value: every observation is
       missing.",
      x = if (arg == "missing") {
        "The missing values of {.arg missing} take all the values of
         {.arg simulations}."
      } else {
        "No data set of {.arg simulations} has an observed value."
      },
      i = "A network cannot learn from data sets without observations; check
           the simulations (e.g. trials that all time out) and the missing
           values."
    ),
    "data",
    call = call
  )
}

# The same for the batches of online training, from the range of inputs the
# first chunk of steps saw (infinite when it saw no observed value).
check_observed_online <- function(input_range, source, steps,
                                  call = rlang::caller_env()) {
  if (any(is.finite(input_range$lo))) {
    return(invisible(input_range))
  }
  abort_deepbmc(
    c(
      "The training data sets hold no observed value: every observation of
       the {steps} batch{?es} simulated so far is missing.",
      x = if (!is.null(source$missing)) {
        "The models simulate no observed value, or the missing values of
         {.arg missing} take all of them."
      } else {
        "The {.arg models} simulate no observed value."
      },
      i = "A network cannot learn from data sets without observations; check
           the models (e.g. trials that all time out, {.arg max_steps} of
           {.fun evidence_accumulation_models}) and the missing values."
    ),
    "data",
    call = call
  )
}

# Ranges of the number of groups and of observed observations per group
# over the data sets `keep` of a packed batch.
training_size_ranges <- function(batch, keep) {
  sizes <- batch_sizes(batch)[keep, , drop = FALSE]
  sizes <- sizes[sizes$groups > 0, , drop = FALSE]
  list(groups = as.integer(range(sizes$groups)),
       obs = as.integer(c(min(sizes$min_obs), max(sizes$max_obs))))
}

# The data sets `index` of a packed batch, as a packed batch (with their
# models when the batch has them).
packed_subset <- function(batch, index) {
  subset <- subset_batch(batch, index)
  subset$model <- batch$model[index]
  subset
}

# Simulated batches live in memory at once (and C++ indexes their rows with
# int), so their largest possible number of observations is capped.
check_batch_size <- function(models, n, arg = rlang::caller_arg(n),
                             max_observations = max_batch_observations,
                             call = rlang::caller_env()) {
  observations <- as.double(n) * models$groups[[2]] * models$obs[[2]]
  if (observations > max_observations) {
    abort_deepbmc(
      c(
        "{.arg {arg}} = {format_count(n)} data sets would hold up to
         {format_count(observations)} observations.",
        i = "At most {format_count(max_observations)} fit in one batch; use
             fewer data sets at a time."
      ),
      "value",
      call = call
    )
  }
  invisible(observations)
}

# Data sets too large to train on (max_training_observations, R/limits.R).
check_training_size <- function(models, call = rlang::caller_env()) {
  observations <- as.double(models$groups[[2]]) * models$obs[[2]]
  if (observations > max_training_observations) {
    abort_deepbmc(
      c(
        "The models simulate data sets of up to
         {format_count(observations)} observations
         ({models$groups[[2]]} groups x {models$obs[[2]]}), too many to
         train on.",
        i = "Training takes about a microsecond per observation and step on
             one core; at most {format_count(max_training_observations)}
             observations per data set are allowed.",
        i = "Train on fewer groups (e.g. {.code design = \"resample\"} with
             smaller {.arg groups}) or observations; the network then
             extrapolates by its size inputs, which {.fun validate_sizes}
             checks."
      ),
      "value",
      call = call
    )
  }
  invisible(observations)
}

# Training and holdout histories share these columns.
empty_history <- function() {
  data.frame(
    step = integer(0),
    epoch = integer(0),
    loss = numeric(0),
    accuracy = numeric(0),
    phase = integer(0)
  )
}

# Runs the remaining steps of `fit` up to `total_steps` in short chunks. Between
# chunks (on the main thread, never inside C++ worker threads) it updates the
# progress bar, evaluates the holdout set at the end of every epoch and gives R
# a chance to process an interrupt. The fit is replaced in one assignment per
# chunk, so an interrupt at any point leaves a consistent fit: at worst the
# chunk in flight is lost. Training stops early, with a warning, when it
# diverges (C++ then returns the last finite state).
run_training <- function(fit, total_steps, progress, source,
                         call = rlang::caller_env()) {
  settings <- fit$training
  first_step <- fit$optimizer$step
  if (first_step >= total_steps) {
    return(fit)
  }

  loss_text <- "-"
  rate_text <- "-"
  bar <- NULL
  # Interactive sessions get a bar; others (Rscript, batch jobs) a status
  # line per epoch, as a bar would only fill their logs; documents being
  # knitted neither.
  knitting <- isTRUE(getOption("knitr.in.progress"))
  status <- if (progress && !rlang::is_interactive() && !knitting) {
    new_status_lines(total_steps, settings$iterations, first_step)
  }
  if (progress && !knitting && is.null(status)) {
    bar <- cli::cli_progress_bar(
      # Fits 80 columns: a bar would push the numbers off narrow consoles.
      format = paste(
        "Training {cli::pb_current}/{cli::pb_total} steps ({cli::pb_percent})",
        "| loss {loss_text} | {rate_text} data sets/s | ETA {cli::pb_eta}"
      ),
      total = total_steps,
      clear = FALSE
    )
    cli::cli_progress_update(id = bar, set = first_step, force = TRUE)
  }

  # Grow chunks until one takes about a quarter second: short enough for a
  # responsive bar and Ctrl-C, long enough that R overhead does not matter.
  # Results do not depend on the chunking, since C++ derives the random
  # numbers from (seed, step, data set) and the learning rate from the step.
  # The session keeps the simulated batch and work buffers between chunks; it
  # lives only in this function, never in the fit.
  session <- cpp_trainer_new(
    fit$config, source$spec, settings$batch_size, training_stream_seed(fit),
    settings$threads,
    c(method_trainer_spec(settings$method),
      list(missing = missing_core_spec(source$missing)))
  )
  iterations <- settings$iterations
  chunk <- 2L
  target_seconds <- 0.25
  stopped <- NA_character_
  # History rows collect in lists and are bound once at the end; `fit` and
  # the lists change in one assignment per chunk, so an interrupt cannot leave
  # them out of step.
  state <- list(fit = fit, history = list(), holdout_history = list())
  finished <- NULL
  holdout <- NULL
  # Interrupts are allowed only while training. The clean-up runs with them
  # suspended, so a second Ctrl-C right after the first cannot lose the fit:
  # R defers it, and it is delivered and caught once the fit is complete.
  # (An interrupt condition signalled by R code is not deferred; it unwinds
  # to the outer tryCatch() and the clean-up simply runs again.)
  tryCatch(
    suspendInterrupts({
      tryCatch(
        allowInterrupts({
          # An interrupt while simulating returns the fit as is.
          holdout <- missing_holdout(source$holdout %||% simulate_holdout(fit),
                                     source$missing, fit)
          while (state$fit$optimizer$step < total_steps) {
            done <- state$fit$optimizer$step
            steps <- min(chunk, total_steps - done)
            if (!is.null(holdout)) {
              # Stop at the epoch's end, so the holdout set sees exactly the
              # weights after its last step.
              steps <- min(steps,
                           (done %/% iterations + 1L) * iterations - done)
            }
            started <- proc.time()[["elapsed"]]
            result <- cpp_trainer_run(
              session, state$fit$weights, state$fit$optimizer, steps,
              total_steps, settings$learning_rate
            )
            seconds <- proc.time()[["elapsed"]] - started
            if (done == first_step && identical(source$name, "simulator")) {
              check_observed_online(result$input_range, source, steps,
                                    call = call)
            }
            advanced <- advance_training(state, result, seconds)
            step <- advanced$fit$optimizer$step
            if (!is.null(holdout) && step %% iterations == 0L &&
                  !result$diverged) {
              evaluated <- proc.time()[["elapsed"]]
              advanced$holdout_history <- c(
                advanced$holdout_history,
                list(in_phase(evaluate_holdout(advanced$fit, holdout, step),
                              advanced$fit))
              )
              advanced$fit$training$seconds <- advanced$fit$training$seconds +
                proc.time()[["elapsed"]] - evaluated
            }
            state <- advanced
            if (result$diverged) {
              stopped <- "diverged"
              break
            }
            if (step %% iterations == 0L &&
                  holdout_stalled(state, settings$patience)) {
              stopped <- "converged"
              break
            }

            loss_text <- formatC(mean(result$loss), digits = 4, format = "f")
            rate <- steps * settings$batch_size / max(seconds, 1e-6)
            rate_text <- format_count(round(rate))
            if (!is.null(bar)) {
              cli::cli_progress_update(id = bar, set = step)
            }
            if (!is.null(status)) {
              status <- show_status_line(status, state, done, step, result$loss,
                                         rate)
            }
            # Only the training steps' time: evaluations would shrink chunks.
            chunk <- next_chunk_size(chunk, steps, seconds, target_seconds)
          }
        }),
        interrupt = function(e) stopped <<- "interrupted"
      )
      finished <- finish_training(state, stopped)
    }),
    interrupt = function(e) {
      if (is.na(stopped)) stopped <<- "interrupted"
    }
  )
  if (is.null(finished)) {
    finished <- finish_training(state, stopped)
  }
  if (!is.null(bar)) {
    # Here, where the bar's format ({loss_text}) can be evaluated; "failed"
    # keeps the bar where training stopped instead of showing 100%.
    outcome <- if (is.na(finished$training$stopped)) "done" else "failed"
    cli::cli_progress_done(id = bar, result = outcome)
  }
  # The fit is complete, so an interrupt deferred during the clean-up has
  # nothing left to stop.
  tryCatch(cpp_deliver_interrupt(), interrupt = function(e) NULL)
  finished$verdict <- training_verdict(finished, holdout)
  finished <- with_training_checked_range(finished, source)
  warn_stopped(finished, total_steps)
  warn_training_problems(finished)
  finished
}

# The fit with the range of log Bayes factors its training vouches for
# (R/checked-range.R); an interrupt while it is computed leaves it unknown
# (NULL) rather than losing the fit.
with_training_checked_range <- function(fit, source) {
  diverged <- identical(fit$training$stopped, "diverged")
  range <- if (!diverged) {
    tryCatch(training_checked_range(fit, source),
             interrupt = function(e) NULL)
  }
  fit$checked_range <- range
  fit$checksum <- fit_checksum(fit)
  fit
}

# The fit from the training state: histories bound, the reason training
# stopped early (NA when it did not) recorded. Fast and free of side effects,
# so it can run again after an interrupt.
finish_training <- function(state, stopped) {
  fit <- state$fit
  fit$history <- do.call(rbind, c(list(fit$history), state$history))
  fit$holdout_history <- do.call(
    rbind, c(list(fit_holdout_history(fit)), state$holdout_history)
  )
  fit$training$stopped <- stopped
  fit <- close_phase(fit)
  fit$checksum <- fit_checksum(fit)
  fit
}

# Whether the holdout loss of the phase being trained has stopped falling: its
# mean over the last `patience` epochs is no lower than over the `patience`
# before (NA: never stop). Means rather than the best value, since a holdout
# set of a few hundred data sets is noisy: a rule on the best value stops at
# the first lucky epoch while the loss is still falling.
holdout_stalled <- function(state, patience) {
  if (is.null(patience) || is.na(patience)) {
    return(FALSE)
  }
  history <- do.call(rbind, c(list(fit_holdout_history(state$fit)),
                              state$holdout_history))
  if (nrow(history) == 0) {
    return(FALSE)
  }
  losses <- history$loss[history$phase == history$phase[[nrow(history)]]]
  n <- length(losses)
  if (n < 2 * patience) {
    return(FALSE)
  }
  recent <- mean(losses[(n - patience + 1):n])
  before <- mean(losses[(n - 2 * patience + 1):(n - patience)])
  recent >= before
}

warn_stopped <- function(fit, total_steps) {
  stopped <- fit$training$stopped
  done <- fit$training$steps_done
  if (identical(stopped, "converged")) {
    history <- fit_holdout_history(fit)
    losses <- history$loss[history$phase == max(history$phase)]
    k <- fit$training$patience
    n <- length(losses)
    recent <- format(mean(losses[(n - k + 1):n]), digits = 3)
    before <- format(mean(losses[(n - 2 * k + 1):(n - k)]), digits = 3)
    cli::cli_inform(
      c(
        "i" = "Training stopped after {format_count(done)} of
               {format_count(total_steps)} steps: the holdout loss stopped
               falling (mean {recent} over the last {k} epoch{?s}, {before}
               over the {k} before).",
        " " = "Continue with {.code train_comparison(models, init = fit)} and
               a smaller {.arg learning_rate} if it should fall further."
      ),
      class = "deepbmc_converged_message"
    )
  } else if (identical(stopped, "interrupted")) {
    cli::cli_warn(
      c(
        "Training interrupted after {done} of {total_steps} steps.",
        i = "Returning the network trained so far."
      ),
      class = "deepbmc_interrupted_warning"
    )
  } else if (identical(stopped, "diverged")) {
    cli::cli_warn(
      c(
        "Training diverged at step {done + 1} of {total_steps}: the loss
         exploded (above 1000, where chance is
         {format(log(fit$models$n_models), digits = 2)}) or stopped being
         finite.",
        i = "Returning the network after step {done}, its last finite
             state; it is not trained enough to be used.",
        i = "Train again with a smaller {.arg learning_rate} (now
             {format(fit$training$learning_rate)})."
      ),
      class = "deepbmc_diverged_warning"
    )
  }
  invisible(fit)
}

next_chunk_size <- function(chunk, steps, seconds, target_seconds) {
  if (steps < chunk) {
    return(chunk)
  }
  per_step <- max(seconds, 1e-4) / steps
  wanted <- floor(target_seconds / per_step)
  as.integer(max(1, min(wanted, 4 * chunk, 1000)))
}

# The training state (fit and history chunks) after one chunk of training.
advance_training <- function(state, result, seconds) {
  fit <- state$fit
  done_before <- fit$optimizer$step
  steps <- length(result$loss)
  step <- done_before + seq_len(steps)
  # Steps count over all phases; epochs within the phase.
  phase <- current_phase(fit)
  chunk_history <- data.frame(
    step = as.integer(phase$offset + step),
    epoch = as.integer((step - 1L) %/% fit$training$iterations + 1L),
    loss = as.double(result$loss),
    accuracy = as.double(result$accuracy),
    phase = rep(as.integer(phase$phase), steps)
  )
  fit$weights <- result$weights
  fit$optimizer <- result$optimizer
  fit$optimizer$step <- as.integer(done_before + steps)
  fit$training$steps_done <- fit$optimizer$step
  fit$training$seconds <- fit$training$seconds + seconds
  fit$input_range <- widen_input_range(fit$input_range, result$input_range)
  state$fit <- fit
  state$history <- c(state$history, list(chunk_history))
  state
}

# The range of every input feature over all data sets the network was trained
# on, from the C++ session's running range (which covers this run) and the
# fit's earlier range (from training before this run, if any).
widen_input_range <- function(range, session_range) {
  if (is.null(range)) {
    return(session_range)
  }
  list(lo = pmin(range$lo, session_range$lo),
       hi = pmax(range$hi, session_range$hi))
}
