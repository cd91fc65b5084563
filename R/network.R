#' Hierarchical invariant network architecture
#'
#' Describes the hierarchical invariant network that [train_comparison()]
#' trains: one DeepSet per hierarchy level, innermost first. Level 1 reads the
#' observations of each group and summarises every group by a vector; level 2
#' reads the set of group vectors and summarises the whole data set. A dense
#' head maps the summary (plus \eqn{\sqrt{L}}{sqrt(L)} and
#' \eqn{\sqrt{N}}{sqrt(N)}) to one logit per model; their softmax gives the
#' posterior model probabilities. The output does not change when
#' observations within a group, or groups, are permuted.
#'
#' Each level is a DeepSet built from
#' * `n_equivariant` equivariant modules. Each maps every element \eqn{x_i} of
#'   the set to `s3(concat(x_i, invariant(x)))`: an invariant summary of the
#'   whole set is appended to every element and the pair goes through the
#'   dense stack `s3`;
#' * an invariant module `invariant(x) = s2(mean_i(s1(x_i)))`: the dense stack
#'   `s1` transforms every element, the mean pools over the set, and the dense
#'   stack `s2` transforms the pooled vector;
#' * a linear layer of width `summary_dim` that gives the level's output.
#'
#' The equivariant modules contain invariant modules of their own with the same
#' `s1`/`s2` widths. Each of the dense stacks `s1`, `s2` and `s3` has `n_dense`
#' layers of the given width. The names and defaults follow BayesFlow and
#' Study 1 of the paper (levels 1 and 2: `s1` = 8 / 32, `s2` = 32 / 128,
#' `s3` = 16 / 64, `summary_dim` = 10 / 10; head 3 x 64; ELU).
#'
#' @param s1 Widths of the per-element dense layers inside the invariant
#'   modules, one per level (innermost first).
#' @param s2 Widths of the dense layers applied after pooling inside the
#'   invariant modules, one per level.
#' @param s3 Widths of the equivariant modules' dense layers (their output
#'   width), one per level.
#' @param summary_dim Length of each level's summary vector, one per level.
#' @param n_dense Number of dense layers in each of the stacks `s1`, `s2`,
#'   `s3`.
#' @param n_equivariant Number of equivariant modules per level.
#' @param head_units Width of the dense layers of the classification head.
#' @param head_layers Number of dense layers in the head (before the linear
#'   layer that gives the logits).
#' @param activation Activation function of all hidden layers: `"elu"`
#'   (default, as in the paper), `"relu"` or `"tanh"`.
#' @param standardize How each data set's features are scaled before the
#'   network reads them. `"none"` (default): as they are. `"dataset"`: every
#'   feature is replaced by its z-score within the data set (the mean and
#'   standard deviation of its observed values over all groups), and the
#'   removed centre \eqn{c} and scale \eqn{s} go to the head as
#'   \eqn{sign(c) log(1 + |c|)}{sign(c) log(1 + |c|)} and \eqn{\log s}{log(s)}
#'   (two extra head inputs per feature), so no information is lost. This
#'   helps when the prior predictive's location and scale vary widely between
#'   data sets (formula models with wide priors): the DeepSets then see data
#'   of one scale, and the head can still use where the data lie. A feature
#'   whose standard deviation is at most \eqn{10^{-6}(1 + |c|)}{1e-6 (1 + |c|)}
#'   (rounding noise in single precision) counts as constant: scale 1. Fits
#'   trained before this setting existed read as `"none"`. Measured
#'   (`bench/results/standardize.md`): on `nlme::Orthodont`'s "does Sex
#'   matter?" it lifts accuracy from chance (0.49) to 0.68 (Bayes-optimal
#'   0.705); on Oxboys' random slopes and on Study 1 it costs a little, so
#'   it is not the default.
#' @param pooling How the invariant modules of each level pool over a set:
#'   one value for every level, or one per level (innermost first).
#'   `"mean"` (default): the mean of the per-element vectors \eqn{h_i}{h_i}
#'   (the output of `s1`), as in the paper. `"mean_cov"`: the mean beside a
#'   learned low-rank second moment, the mean over the set of
#'   \eqn{u_i \odot v_i}{u_i * v_i} with \eqn{(u_i, v_i) = h_i P + c}{(u_i,
#'   v_i) = h_i P + c} an affine projection of width `2 * s1` (learned), so
#'   the pooled vector has twice the width. Evidence that lives in a product
#'   across groups, such as a correlation between group-level effects, is
#'   then one layer away instead of out of reach of a mean. For example
#'   `pooling = c("mean", "mean_cov")` pools the groups of a two-level model
#'   set by their second moment. `"mean_logvar"`: the mean beside the log
#'   variances over the set of `s1` learned directions \eqn{h_i Q}{h_i Q},
#'   \eqn{\log(0.01 + var)}{log(0.01 + var)}: a linear function of log
#'   variances of sums and differences of directions is the log of one minus
#'   a squared correlation, so an even function of a correlation, which a
#'   mean of products cannot give a near-linear head. Only present elements
#'   count; a set without any gets zeros. Fits trained before this setting
#'   existed read as `"mean"` at every level. Measured
#'   (`bench/results/pooling.md`, one seed): on Study 1 both second-moment
#'   poolings over groups learn much faster (accuracy after 1,000 steps 0.69
#'   with the mean, 0.88 with `c("mean", "mean_cov")`) and are level with
#'   the mean after 2,000; on `lme4::sleepstudy`'s correlated against
#'   uncorrelated random slopes no pooling leaves chance within 5,000
#'   steps, so `"mean"` stays the default.
#' @param statistics Fixed summary statistics of each data set fed to the
#'   head beside the learned summaries. `"none"` (default for the built-in
#'   model sets): only the learned ones. `"least_squares"`: least-squares
#'   statistics of the response (the first feature) on the covariates (the
#'   other features), as a regression analyst would look at the data: the
#'   t-statistic, estimate and log standard error of every coefficient in a
#'   regression of the groups' mean responses on their mean covariates and in
#'   a regression within groups and in a random-intercept (feasible GLS)
#'   regression that weighs the two as a mixed model does; for a term with
#'   several columns (a factor with three or more levels) also their joint
#'   Wald statistic in each; the mean, the log SD and the correlations over
#'   groups of per-group regression estimates, raw and corrected for their
#'   sampling noise (the random effects' covariance by moments), with the
#'   log residual SDs. They are computed from the data alone, so every data path
#'   (missing values, stored simulations, R simulators) gets them; complete
#'   rows only. They give "does this covariate matter?" questions, which a
#'   DeepSet of means can miss entirely, something to start from. The
#'   default of formula model sets ([default_network()]); for
#'   [simulator_models()] list the response first in `features`. Fits
#'   trained before this setting existed read as `"none"`, and fits trained
#'   before the joint, random-intercept and corrected statistics keep the
#'   statistics they were trained with. See
#'   `bench/results/statistics.md` for what they change.
#'
#' @return An architecture, a list of class `"deepbmc_network"` with the
#'   arguments as integers (widths as integer vectors) plus `n_levels`, the
#'   number of hierarchy levels (the length of `s1`). The number of levels
#'   (1 to 3) must match the model set it is trained on; the built-in model
#'   sets have 2.
#'
#' @seealso [train_comparison()]
#' @export
#' @examples
#' # The paper's Study 1 architecture
#' hierarchical_network()
#'
#' # A smaller network that trains faster
#' hierarchical_network(
#'   s1 = c(8, 16), s2 = c(16, 32), s3 = c(8, 16),
#'   summary_dim = c(8, 8), head_units = 32, head_layers = 2
#' )
hierarchical_network <- function(s1 = c(8, 32), s2 = c(32, 128),
                                 s3 = c(16, 64), summary_dim = c(10, 10),
                                 n_dense = 2, n_equivariant = 2,
                                 head_units = 64, head_layers = 3,
                                 activation = c("elu", "relu", "tanh"),
                                 standardize = c("none", "dataset"),
                                 pooling = "mean",
                                 statistics = c("none", "least_squares")) {
  widths <- list(
    s1 = check_widths(s1),
    s2 = check_widths(s2),
    s3 = check_widths(s3),
    summary_dim = check_widths(summary_dim)
  )
  n_levels <- lengths(widths)
  if (length(unique(n_levels)) != 1) {
    abort_deepbmc(
      c(
        "{.arg s1}, {.arg s2}, {.arg s3} and {.arg summary_dim} must have one
         entry per hierarchy level, so equal lengths.",
        x = "Their lengths are {n_levels}."
      ),
      "mismatch"
    )
  }
  if (n_levels[[1]] > 3) {
    abort_deepbmc(
      c(
        "A network may have 1 to 3 hierarchy levels.",
        x = "{.arg s1} and friends have {n_levels[[1]]} entries."
      ),
      "value"
    )
  }
  activation <- check_choice(activation, c("elu", "relu", "tanh"))
  standardize <- check_choice(standardize, standardize_choices)
  pooling <- check_pooling(pooling, n_levels[[1]])
  statistics <- check_choice(statistics, statistics_choices)
  structure(
    c(
      widths,
      list(
        n_dense = check_whole_number(n_dense, max = max_layers),
        n_equivariant = check_whole_number(n_equivariant, max = max_layers),
        head_units = check_whole_number(head_units, max = max_layer_width),
        head_layers = check_whole_number(head_layers, max = max_layers),
        activation = activation,
        n_levels = n_levels[[1]],
        standardize = standardize,
        pooling = pooling,
        statistics = statistics
      )
    ),
    class = "deepbmc_network"
  )
}

# The fixed statistics of hierarchical_network(statistics = ).
statistics_choices <- c("none", "least_squares")

# The layout of the least-squares statistics that networks are trained with
# (src/least_squares.h): 2 adds the joint statistics of terms with several
# columns, the random-intercept regression and the per-group estimates'
# covariance corrected for their noise. Fits without the element were
# trained with version 1 and keep it (check_fit(), train_comparison(init =)).
statistics_version <- 2L

# The model term of each covariate feature (0-based ids, in order of first
# appearance) for the least-squares statistics, so that a term with several
# columns (a factor with three or more levels) gets a joint Wald statistic
# (src/least_squares.h); NULL when every term has one column (and for model
# sets other than formula sets), which is also what fits from before the
# joint statistics have.
statistics_terms <- function(models) {
  if (!identical(models$type, "formula")) {
    return(NULL)
  }
  labels <- input_terms(models)
  if (!anyDuplicated(labels)) {
    return(NULL)
  }
  match(labels, unique(labels)) - 1L
}

# The standardisations of hierarchical_network(standardize = ).
standardize_choices <- c("none", "dataset")

# The network settings added after the first format (issue 29), one entry
# each: the values it may take, the first being what a network without the
# element reads as (the paper's network; every fit saved before the setting
# existed), whether it has one value per level, and its name in messages.
# network_config() gives the C++ core the element only when it differs from
# that default, so the configurations of such fits are unchanged. A new
# network setting is one more entry here (and one in network_head_fields).
# A function, because pooling_methods is defined in a later file.
network_settings <- function() {
  list(
    standardize = list(choices = standardize_choices, per_level = FALSE,
                       label = "standardisation"),
    pooling = list(choices = pooling_methods$name, per_level = TRUE,
                   label = "pooling"),
    statistics = list(choices = statistics_choices, per_level = FALSE,
                      label = "statistics")
  )
}

# A network's value of setting `name`, the default when it has no element.
network_setting <- function(network, name) {
  setting <- network_settings()[[name]]
  network[[name]] %||%
    rep(setting$choices[[1]], if (setting$per_level) network$n_levels else 1L)
}

# The network with every setting of network_settings() spelled out, for
# comparing networks built before and after the settings existed.
network_with_settings <- function(network) {
  settings <- names(network_settings())
  values <- lapply(stats::setNames(nm = settings), network_setting, network = network)
  # removed and appended in one order, so that the elements' order does not
  # depend on which of them a network had
  c(unclass(network)[setdiff(names(network), settings)], values)
}

# match.arg() with a classed error naming the argument.
check_choice <- function(x, choices, arg = rlang::caller_arg(x),
                         call = rlang::caller_env()) {
  if (identical(x, choices)) {
    return(choices[[1]])
  }
  if (!is.character(x) || length(x) != 1 || is.na(x) || !x %in% choices) {
    abort_deepbmc(
      c(
        "{.arg {arg}} must be one of {.or {.val {choices}}}.",
        x = "You supplied {describe_value(x)}."
      ),
      "value",
      call = call
    )
  }
  x
}

# Several of `choices` (at least one, no duplicates), with a classed error
# naming the argument.
check_choices <- function(x, choices, arg = rlang::caller_arg(x),
                          call = rlang::caller_env()) {
  if (!is.character(x) || length(x) == 0 || anyNA(x) ||
        !all(x %in% choices) || anyDuplicated(x)) {
    abort_deepbmc(
      c(
        "{.arg {arg}} must be one or more of {.or {.val {choices}}}.",
        x = "You supplied {describe_value(x)}."
      ),
      "value",
      call = call
    )
  }
  x
}

# The configuration the C++ network reads, element by element in order with
# the type of each: the one place it is spelled. network_config() fills it;
# the glue (r_network_spec() in src/r_convert.h) reads exactly these names,
# and test-network.R checks that its table (cpp_network_config_fields())
# agrees. All but the first two come from hierarchical_network().
network_config_fields <- c(
  input_dim = "integer", n_models = "integer", activation = "character",
  s1 = "integer", s2 = "integer", s3 = "integer", summary_dim = "integer",
  n_dense = "integer", n_equivariant = "integer", head_units = "integer",
  head_layers = "integer"
)

# The plain list the C++ network reads: the architecture plus the input
# width and the number of outputs, which come from the model set.
network_config <- function(network, models, call = rlang::caller_env()) {
  if (network$n_levels != models$n_levels) {
    abort_deepbmc(
      c(
        "The network must have one level per hierarchy level of the data.",
        x = "{.arg network} has {network$n_levels} level{?s}; the models'
             data have {models$n_levels}.",
        i = "Give {.arg s1}, {.arg s2}, {.arg s3} and {.arg summary_dim}
             {models$n_levels} entr{?y/ies} each in
             {.fun hierarchical_network}."
      ),
      "mismatch",
      call = call
    )
  }
  values <- c(
    list(input_dim = models$n_features, n_models = models$n_models),
    unclass(network)
  )
  config <- Map(as.vector, values[names(network_config_fields)],
                network_config_fields)
  # The optional elements (r_network_spec() in src/r_convert.h), only where
  # a setting differs from its default (network_settings()).
  settings <- network_settings()
  for (name in names(settings)) {
    setting <- settings[[name]]
    value <- network_setting(network, name)
    size <- if (setting$per_level) network$n_levels else 1L
    if (!is.character(value) || length(value) != size ||
          !all(value %in% setting$choices)) {
      abort_deepbmc(
        "{.arg network} has an unknown {setting$label}; see
         {.fun hierarchical_network}.",
        "value",
        call = call
      )
    }
    if (any(value != setting$choices[[1]])) {
      config[[name]] <- value
    }
  }
  if (network_setting(network, "statistics") == "least_squares") {
    config$statistics_version <- statistics_version
    config$statistics_terms <- statistics_terms(models)
  }
  n_weights <- cpp_network_size(config)
  if (n_weights > max_network_weights) {
    abort_deepbmc(
      c(
        "{.arg network} is too large: it has {format_count(n_weights)}
         weights.",
        i = "At most {format_count(max_network_weights)} are supported; the
             paper's networks have about 120,000."
      ),
      "value",
      call = call
    )
  }
  config
}

#' @export
print.deepbmc_network <- function(x, ...) {
  cat(format(x, ...), sep = "\n")
  invisible(x)
}

#' @export
format.deepbmc_network <- function(x, ...) {
  pooling <- network_setting(x, "pooling")
  level_lines <- vapply(
    seq_len(x$n_levels),
    function(level) {
      paste0(
        sprintf(
          "  level %d: s1 %d, s2 %d, s3 %d, summary %d",
          level, x$s1[[level]], x$s2[[level]], x$s3[[level]],
          x$summary_dim[[level]]
        ),
        # the default pooling is not named, so the lines read as before
        if (pooling[[level]] != "mean") {
          paste0(", pooling ", pooling[[level]])
        } else {
          ""
        }
      )
    },
    character(1)
  )
  c(
    sprintf(
      "<deepbmc_network> Hierarchical invariant network, %d level%s, %s",
      x$n_levels, if (x$n_levels == 1) "" else "s", x$activation
    ),
    sprintf(
      "  %d equivariant module%s per level, %d dense layer%s per stack",
      x$n_equivariant, if (x$n_equivariant == 1) "" else "s",
      x$n_dense, if (x$n_dense == 1) "" else "s"
    ),
    level_lines,
    sprintf("  head: %d x %d", x$head_layers, x$head_units),
    switch(network_setting(x, "standardize"),
      none = "  standardisation: none (features as they are)",
      dataset = "  standardisation: per data set (z-scores; centre and log scale to the head)"
    ),
    # like the pooling, the default is not named
    if (network_setting(x, "statistics") == "least_squares") {
      "  statistics: least squares (between, within and per-group regressions, to the head)"
    }
  )
}

# The network's settings beyond the paper's for print(fit): the pooling when
# a level is not pooled by the mean, the statistics when there are some, and
# whether it is default_network()'s choice for a formula model set (empty
# for the paper's network, so its line reads as before).
format_network_choices <- function(network, models) {
  pooling <- network_setting(network, "pooling")
  formula_default <- identical(models$type, "formula") &&
    identical(network_with_settings(network), network_with_settings(formula_network()))
  paste0(
    if (any(pooling != "mean")) {
      paste0("; pooling: ", paste(pooling, collapse = "/"))
    },
    if (network_setting(network, "statistics") == "least_squares") {
      "; statistics: least squares"
    },
    if (formula_default) " (the default for formula model sets)"
  )
}

#' The network train_comparison() uses by default
#'
#' What [train_comparison()] trains when `network = NULL`. For formula model
#' sets ([model_set()]), whose questions are often "does this covariate
#' matter?", the paper's architecture with least-squares statistics:
#' `hierarchical_network(statistics = "least_squares")`. The paper's network
#' alone stays at chance on such questions on real designs (nlme::Orthodont's
#' Sex effect: accuracy 0.48 against the Bayes-optimal 0.70); this one comes
#' within 0.01 of the Bayes-optimal accuracy on the four real designs of
#' `bench/results/statistics.md`. Adding `standardize = "dataset"` did about
#' as well on simulated data but missed ChickWeight's real data (PMP 0.58
#' against the exact 0.96), so it is not part of the default. For every
#' other model set the paper's Study 1 network, `hierarchical_network()`:
#' their questions (variances and means of hierarchical models, simulators
#' whose first feature need not be a response) it answers at the
#' Bayes-optimal accuracy.
#'
#' @param models A model set.
#' @return An architecture from [hierarchical_network()].
#' @seealso [hierarchical_network()], [train_comparison()]
#' @export
#' @examples
#' default_network(normal_nested_models())
#'
#' chicks <- as.data.frame(ChickWeight)
#' models <- model_set(
#'   time = hier_model(weight ~ Time + (1 | Chick), chicks),
#'   diet = hier_model(weight ~ Time + Diet + (1 | Chick), chicks)
#' )
#' default_network(models)
default_network <- function(models) {
  check_models(models)
  if (identical(models$type, "formula")) {
    return(formula_network())
  }
  hierarchical_network()
}

# The default network of formula model sets (default_network()).
formula_network <- function() {
  hierarchical_network(statistics = "least_squares")
}
