# Families of formula models: what the C++ simulator, the priors, the Stan
# generator and the data checks need to know about each.

# Families and links the C++ simulator implements (src/formula_models.h).
family_codes <- c(gaussian = 0L, bernoulli = 1L, binomial = 2L, poisson = 3L,
                  lognormal = 4L)
link_codes <- c(identity = 0L, logit = 1L, probit = 2L, log = 3L)
family_links <- list(
  gaussian = "identity", bernoulli = c("logit", "probit"),
  binomial = c("logit", "probit"), poisson = "log", lognormal = "identity"
)

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
  # glm's binomial() with a 0/1 response is Bernoulli.
  if (name == "binomial" && !has_trials) {
    name <- "bernoulli"
  }
  if (!name %in% names(family_codes)) {
    abort_deepbmc(
      c(
        "Family {.val {name}} is not supported.",
        i = "Supported families: {.val {names(family_codes)}}."
      ),
      "value",
      call = call
    )
  }
  if (name == "binomial" && !has_trials) {
    abort_deepbmc("A binomial model needs {.code y | trials(n)}.", "value",
                  call = call)
  }
  if (name != "binomial" && has_trials) {
    abort_deepbmc(
      "{.code trials()} belongs to binomial models, not {.val {name}}.",
      "value",
      call = call
    )
  }
  allowed <- family_links[[name]]
  link <- link %||% allowed[[1]]
  # stats' lognormal-free families: gaussian(link = "log") and friends.
  if (!link %in% allowed) {
    abort_deepbmc(
      c(
        "The {.val {name}} family supports the link{?s} {.val {allowed}}.",
        x = "You asked for {.val {link}}."
      ),
      "value",
      call = call
    )
  }
  list(family = name, link = link)
}
