# The real designs and model sets of the formula benches (issue 29), shared
# by bench/exact_lmm.R (which computes the exact PMPs), bench/statistics.R,
# bench/standardize.R and bench/pooling.R (which train networks on them):
# the exact references' designs (data, null and effect formulas, priors,
# simulation seed) and the model set deepbmc builds from each, and the
# Oxboys random-slopes and sleepstudy slope-correlation model sets. Needs
# deepbmc attached.

# Each design: its data, the null and the effect model, and priors on the
# data's scale, stated for deepbmc and for the exact reference alike.
exact_lmm_designs <- list(
  orthodont = list(
    data = as.data.frame(nlme::Orthodont),
    group = "Subject",
    response = "distance",
    null = distance ~ age + (1 | Subject),
    effect = distance ~ age + Sex + (1 | Subject),
    question = "Sex (2 levels, between children), 27 children x 4 ages",
    intercept = c(20, 10), b_sd = 3, sd_scale = 5, sigma_rate = 0.5,
    seed = 2901
  ),
  sleepstudy = list(
    data = as.data.frame(lme4::sleepstudy),
    group = "Subject",
    response = "Reaction",
    null = Reaction ~ 1 + (1 | Subject),
    effect = Reaction ~ Days + (1 | Subject),
    question = "Days (numeric, within subjects), 18 subjects x 10 days",
    intercept = c(250, 100), b_sd = 20, sd_scale = 50, sigma_rate = 0.02,
    seed = 2902
  ),
  machines = list(
    data = as.data.frame(nlme::Machines),
    group = "Worker",
    response = "score",
    null = score ~ 1 + (1 | Worker),
    effect = score ~ Machine + (1 | Worker),
    question = "Machine (3 levels, within workers), 6 workers x 3 machines x 3",
    intercept = c(60, 20), b_sd = 10, sd_scale = 10, sigma_rate = 0.2,
    seed = 2903
  ),
  chickweight = list(
    data = as.data.frame(datasets::ChickWeight),
    group = "Chick",
    response = "weight",
    null = weight ~ Time + (1 | Chick),
    effect = weight ~ Time + Diet + (1 | Chick),
    question = "Diet (4 levels, between chicks), 50 chicks x up to 12 times",
    intercept = c(50, 50), b_sd = 20, sd_scale = 50, sigma_rate = 0.02,
    seed = 2904
  )
)

# deepbmc refuses a prior for a class the model lacks: an intercept-only
# null model gets none of class "b".
exact_lmm_priors <- function(design, with_b = TRUE) {
  priors <- c(
    hier_prior(sprintf("normal(%g, %g)", design$intercept[1],
                       design$intercept[2]), class = "Intercept"),
    hier_prior(sprintf("half_normal(%g)", design$sd_scale), class = "sd"),
    hier_prior(sprintf("exponential(%g)", design$sigma_rate),
               class = "sigma")
  )
  if (with_b) {
    priors <- c(priors,
                hier_prior(sprintf("normal(0, %g)", design$b_sd), class = "b"))
  }
  priors
}

exact_lmm_set <- function(design) {
  model <- function(formula) {
    with_b <- ncol(fixed_matrix(formula, design$data)) > 1
    hier_model(formula, design$data,
               prior = exact_lmm_priors(design, with_b))
  }
  model_set(null = model(design$null), effect = model(design$effect))
}

# The fixed-effect matrix of a formula's fixed part, on `data`.
fixed_matrix <- function(formula, data) {
  labels <- attr(stats::terms(formula), "term.labels")
  fixed <- labels[!grepl("|", labels, fixed = TRUE)]
  right <- if (length(fixed) > 0) paste(fixed, collapse = " + ") else "1"
  stats::model.matrix(stats::as.formula(paste("~", right)), data)
}


# nlme::Oxboys, random slopes of age? height in cm (about 150, SD 9), age
# centred in years (-1 to 1): an intercept prior around the population's
# height, slopes of a few cm a year, subject SDs of a few cm, residual SD of
# about 1 cm. (Issue 29's bridge sampling, with its own priors: log BF 104
# for the slopes.)
oxboys_data <- function() {
  oxboys <- as.data.frame(nlme::Oxboys)
  oxboys$Subject <- factor(as.character(oxboys$Subject))
  oxboys
}
oxboys_slope_models <- function(oxboys = oxboys_data()) {
  priors <- c(
    hier_prior("normal(150, 20)", class = "Intercept"),
    hier_prior("normal(0, 10)", class = "b"),
    hier_prior("half_normal(10)", class = "sd"),
    hier_prior("exponential(0.5)", class = "sigma")
  )
  suppressMessages(model_set(
    intercepts = hier_model(height ~ age + (1 | Subject), oxboys, prior = priors),
    slopes = hier_model(height ~ age + (1 + age || Subject), oxboys, prior = priors)
  ))
}

# lme4::sleepstudy, are the random intercepts and slopes correlated?
sleepstudy_data <- function() {
  sleep <- as.data.frame(lme4::sleepstudy)
  sleep$Subject <- factor(as.character(sleep$Subject))
  sleep
}
sleepstudy_correlation_models <- function(sleep = sleepstudy_data()) {
  priors <- c(
    hier_prior("normal(250, 60)", class = "Intercept"),
    hier_prior("normal(10, 10)", class = "b"),
    hier_prior("half_normal(30)", class = "sd", coef = "Intercept"),
    hier_prior("half_normal(8)", class = "sd", coef = "Days"),
    hier_prior("exponential(0.04)", class = "sigma")
  )
  # only the correlated model has a correlation to give a prior
  cor_prior <- hier_prior("lkj(1)", class = "cor")
  suppressMessages(model_set(
    uncorrelated = hier_model(Reaction ~ Days + (1 + Days || Subject), sleep,
                              prior = priors),
    correlated = hier_model(Reaction ~ Days + (1 + Days | Subject), sleep,
                            prior = c(priors, cor_prior))
  ))
}
