# Study 1 of Elsemueller et al. (2024): is the grand mean of a hierarchical
# normal model zero (M0) or not (M1)? Train a comparison network once, then get
# posterior model probabilities and Bayes factors for any data set in
# milliseconds, and check its calibration on fresh simulations.
# Takes 2 to 4 minutes on 2 cores.
library(deepbmc)

models <- normal_nested_models(groups = 50, obs = 50)
models

# Half the paper's schedule (5 x 1000 steps of 32 data sets) is close to its
# accuracy already; epochs = 10 reproduces the paper's run.
fit <- train_comparison(models, epochs = 5, iterations = 1000, threads = 2,
                        seed = 2026, progress = TRUE)
fit

# Four new data sets: 50 groups (rows) of 50 observations.
sims <- simulate_datasets(models, n = 4, seed = 11)
cat("\nTrue models of the four data sets:", models$model_names[sims$model], "\n\n")
cat("Posterior model probabilities (uniform prior over models):\n")
print(post_prob(fit, sims$data))

cat("\nThe same under a prior that favours M0 4:1, without retraining:\n")
print(post_prob(fit, sims$data, prior_prob = c(0.8, 0.2)))

cat("\nLog Bayes factors of M1 against M0:\n")
log_bf <- bayes_factor(fit, sims$data, model1 = "M1", model2 = "M0")
# Values beyond the range the network was checked over are shown as bounds.
bounds <- attr(log_bf, "checked_range")
shown <- ifelse(attr(log_bf, "beyond_checked"),
                ifelse(log_bf > 0, sprintf("> %.1f", bounds[["upper"]]),
                       sprintf("< %.1f", bounds[["lower"]])),
                sprintf("%.2f", log_bf))
print(data.frame(data_set = seq_along(log_bf), log_bf = shown))

cat("\nModels best first for the first data set:\n")
print(compare_models(fit, sims$data[[1]]))

cat("\nCalibration on 5000 fresh simulations:\n")
print(validate(fit, n = 5000, seed = 7, threads = 2))
