# The data, priors and three models of the grouseticks benchmarks
# (bench/grouseticks.R, bench/grouseticks_gap.R): tick counts on red grouse
# chicks, lme4::grouseticks (403 chicks in 118 broods).
#   poisson:      TICKS ~ YEAR + HEIGHT + (1 | BROOD)
#   poisson_olre: the same with an observation-level effect (1 | INDEX)
#   negbinomial:  TICKS ~ YEAR + HEIGHT + (1 | BROOD), negative binomial
# Sourcing attaches deepbmc and defines `ticks`, `models`, and say() and
# record() for the scripts' reports (record() also keeps the line in `lines`
# for the results file).

suppressPackageStartupMessages(library(deepbmc))
say <- function(...) cat(..., "\n", sep = "")
lines <- character()
record <- function(...) {
  text <- paste0(...)
  lines <<- c(lines, text)
  say(text)
}

data(grouseticks, package = "lme4")
ticks <- grouseticks
# HEIGHT in hundreds of metres above sea level, centred: priors of a few
# units make sense on that scale.
ticks$height <- (ticks$HEIGHT - mean(ticks$HEIGHT)) / 100

grouseticks_priors <- c(
  hier_prior(normal(1, 1.5), class = "Intercept"),
  hier_prior(normal(0, 1), class = "b"),
  hier_prior(normal(0, 1), class = "sd")
)
models <- suppressMessages(model_set(
  poisson = hier_model(TICKS ~ 1 + YEAR + height + (1 | BROOD), ticks,
                       family = poisson(), prior = grouseticks_priors),
  poisson_olre = hier_model(TICKS ~ 1 + YEAR + height + (1 | BROOD) +
                              (1 | INDEX), ticks, family = poisson(),
                            prior = grouseticks_priors),
  negbinomial = hier_model(TICKS ~ 1 + YEAR + height + (1 | BROOD), ticks,
                           family = "negbinomial",
                           prior = c(grouseticks_priors,
                                     hier_prior(gamma(2, 0.1), class = "shape")))
))
