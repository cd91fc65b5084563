# Families of formula models: one registry that says everything the package
# needs to know about each family, after brms's family-lists.R. The formula
# code, the default priors, the compiler for the C++ simulator, the Stan
# generator and the data checks all read it; adding a family is one entry
# here plus its simulator in src/formula_models.cpp (the test of the
# registry checks that both agree).
#
# Each entry:
# * `code`: the C++ enum value (src/formula_models.h, Family);
# * `links`: the links the simulator takes, the default first;
# * `sigma`: whether the family has a residual scale parameter `sigma`;
# * `aux`: the class of its second parameter (brms's name: `nu`, `shape` or
#   `phi`), or NULL; `aux_lower`: its lower bound (1 for nu, as in brms: the
#   prior is truncated there);
# * `brms`: the family's name in brms (brms::brmsfamily());
# * `discrete`: whether responses are counts (integers in Stan, rounded when
#   simulated responses are recovered from features);
# * `trials`: whether the response needs `| trials(n)`;
# * `support`: for continuous responses on an open interval, its bounds
#   (simulated responses recovered from the network's float features are
#   moved inside it), else NULL;
# * `prior_scale`: the scale on which default priors are set: "response"
#   (mean and SD of the response), "log_response" (of its logarithm) or
#   "linear_predictor" (location 0, scale 1);
# * `check_response`: function(y, trials) giving NULL for valid observed
#   responses, else what they must be;
# * `stan_response`: the Stan declaration of the response;
# * `stan_likelihood`: per link, the Stan log density of the responses given
#   the linear predictor `eta` (and `sigma_v[1]`, `aux_v[1]`, `trials`).
formula_families <- list(
  gaussian = list(
    code = 0L, links = "identity", sigma = TRUE, aux = NULL,
    brms = "gaussian", discrete = FALSE,
    trials = FALSE, prior_scale = "response",
    check_response = function(y, trials) {
      if (any(!is.finite(y))) "must be finite"
    },
    stan_response = "vector[N] y;",
    stan_likelihood = c(identity = "normal_lpdf(y | eta, sigma_v[1])")
  ),
  bernoulli = list(
    code = 1L, links = c("logit", "probit"), sigma = FALSE, aux = NULL,
    brms = "bernoulli", discrete = TRUE,
    trials = FALSE, prior_scale = "linear_predictor",
    check_response = function(y, trials) {
      if (any(!y %in% c(0, 1))) "must be 0 or 1"
    },
    stan_response = "int<lower=0, upper=1> y[N];",
    stan_likelihood = c(logit = "bernoulli_logit_lpmf(y | eta)",
                        probit = "bernoulli_lpmf(y | Phi(eta))")
  ),
  binomial = list(
    code = 2L, links = c("logit", "probit"), sigma = FALSE, aux = NULL,
    brms = "binomial", discrete = TRUE,
    trials = TRUE, prior_scale = "linear_predictor",
    check_response = function(y, trials) {
      if (any(!is.finite(y) | y < 0 | y != round(y) | y > trials)) {
        "must be whole numbers from 0 to the number of trials"
      }
    },
    stan_response = "int<lower=0> y[N];",
    stan_likelihood = c(logit = "binomial_logit_lpmf(y | trials, eta)",
                        probit = "binomial_lpmf(y | trials, Phi(eta))")
  ),
  poisson = list(
    code = 3L, links = c("log", "sqrt"), sigma = FALSE, aux = NULL,
    brms = "poisson", discrete = TRUE, trials = FALSE,
    prior_scale = "linear_predictor",
    check_response = function(y, trials) {
      if (any(!is.finite(y) | y < 0 | y != round(y))) {
        "must be counts (whole numbers >= 0)"
      }
    },
    stan_response = "int<lower=0> y[N];",
    stan_likelihood = c(log = "poisson_log_lpmf(y | eta)",
                        sqrt = "poisson_lpmf(y | square(eta))")
  ),
  lognormal = list(
    code = 4L, links = "identity", sigma = TRUE, aux = NULL,
    brms = "lognormal", discrete = FALSE, support = c(0, Inf),
    trials = FALSE, prior_scale = "log_response",
    check_response = function(y, trials) {
      if (any(!is.finite(y) | y <= 0)) "must be positive"
    },
    stan_response = "vector[N] y;",
    stan_likelihood = c(identity = "lognormal_lpdf(y | eta, sigma_v[1])")
  ),
  student = list(
    code = 5L, links = "identity", sigma = TRUE, aux = "nu", aux_lower = 1,
    brms = "student", discrete = FALSE, trials = FALSE,
    prior_scale = "response",
    check_response = function(y, trials) {
      if (any(!is.finite(y))) "must be finite"
    },
    stan_response = "vector[N] y;",
    stan_likelihood = c(
      identity = "student_t_lpdf(y | aux_v[1], eta, sigma_v[1])"
    )
  ),
  # Mean mu = exp(eta), variance mu + mu^2 / shape, as brms's negbinomial.
  negbinomial = list(
    code = 6L, links = "log", sigma = FALSE, aux = "shape", aux_lower = 0,
    brms = "negbinomial", discrete = TRUE, trials = FALSE,
    prior_scale = "linear_predictor",
    check_response = function(y, trials) {
      if (any(!is.finite(y) | y < 0 | y != round(y))) {
        "must be counts (whole numbers >= 0)"
      }
    },
    stan_response = "int<lower=0> y[N];",
    stan_likelihood = c(log = "neg_binomial_2_log_lpmf(y | eta, aux_v[1])")
  ),
  # Mean mu = exp(eta) and shape: rate shape / mu, as brms's Gamma.
  gamma = list(
    code = 7L, links = "log", sigma = FALSE, aux = "shape", aux_lower = 0,
    brms = "Gamma", discrete = FALSE, support = c(0, Inf), trials = FALSE,
    prior_scale = "log_response",
    check_response = function(y, trials) {
      if (any(!is.finite(y) | y <= 0)) "must be positive"
    },
    stan_response = "vector<lower=0>[N] y;",
    stan_likelihood = c(log = "gamma_lpdf(y | aux_v[1], aux_v[1] * exp(-eta))")
  ),
  # Mean mu = inv_link(eta) and precision phi: Beta(mu phi, (1 - mu) phi).
  beta = list(
    code = 8L, links = c("logit", "probit"), sigma = FALSE, aux = "phi", aux_lower = 0,
    brms = "beta", discrete = FALSE, support = c(0, 1), trials = FALSE,
    prior_scale = "linear_predictor",
    check_response = function(y, trials) {
      if (any(!is.finite(y) | y <= 0 | y >= 1)) {
        "must lie strictly between 0 and 1"
      }
    },
    stan_response = "vector<lower=0, upper=1>[N] y;",
    stan_likelihood = c(
      logit = "beta_proportion_lpdf(y | inv_logit(eta), aux_v[1])",
      probit = "beta_proportion_lpdf(y | Phi(eta), aux_v[1])"
    )
  )
)

# Names other packages give the families: stats::Gamma(), brms::Beta(),
# brms::student(), MASS-style negative binomial names.
family_aliases <- c(
  Gamma = "gamma", Beta = "beta", student_t = "student",
  negative_binomial = "negbinomial", negbin = "negbinomial"
)

# The prior of the second parameter (nu, shape, phi) when none is given:
# Gamma(2, 0.1) (mean 20), brms's default for the Student-t's nu, used for
# all three: proper, and rarely near the 0 where data sets degenerate.
default_aux_prior <- c(shape = 2, rate = 0.1)

# The C++ enum values of the links (src/formula_models.h, Link).
link_codes <- c(identity = 0L, logit = 1L, probit = 2L, log = 3L, sqrt = 4L)

# The registry entry of a checked family (list(family, link) from
# check_family()).
family_info <- function(family) {
  formula_families[[family$family]]
}

check_family <- function(family, has_trials, call = rlang::caller_env()) {
  if (is.function(family)) {
    family <- family()
  }
  if (is.character(family) && length(family) == 1 && !is.na(family)) {
    name <- family
    link <- NULL
  } else if (is.list(family) && is.character(family$family)) {
    name <- family$family
    link <- family$link
  } else {
    abort_deepbmc(
      c(
        "{.arg family} must be a family name or a family object such as
         {.code gaussian()}.",
        x = "You supplied {describe_value(family)}."
      ),
      "type",
      call = call
    )
  }
  if (name %in% names(family_aliases)) {
    name <- family_aliases[[name]]
  }
  # glm's binomial() with a 0/1 response is Bernoulli.
  if (name == "binomial" && !has_trials) {
    name <- "bernoulli"
  }
  if (!name %in% names(formula_families)) {
    abort_deepbmc(
      c(
        "{.arg family} {.val {name}} is not supported.",
        i = "Supported families: {.val {names(formula_families)}}."
      ),
      "value",
      call = call
    )
  }
  info <- formula_families[[name]]
  if (info$trials && !has_trials) {
    abort_deepbmc("{.arg family}: a {name} model needs {.code y | trials(n)}.",
                  "value",
                  call = call)
  }
  if (!info$trials && has_trials) {
    abort_deepbmc(
      "{.code trials()} belongs to binomial models, not {.val {name}}.",
      "value",
      call = call
    )
  }
  allowed <- info$links
  link <- link %||% allowed[[1]]
  # stats' lognormal-free families: gaussian(link = "log") and friends.
  if (!link %in% allowed) {
    abort_deepbmc(
      c(
        "{.arg family}: the {.val {name}} family supports the link{?s}
         {.val {allowed}}.",
        x = "You asked for {.val {link}}.",
        i = if (link %in% c("identity", "inverse")) {
          "Links that let a prior draw leave the family's range (a negative
           rate or mean) are not offered."
        }
      ),
      "value",
      call = call
    )
  }
  list(family = name, link = link)
}
