# validate_missing() on a Study 1 network trained with missing values (issue
# 16): the robustness figure for the vignette. Writes
# bench/results/validate_missing.png (ECE), validate_missing_accuracy.png and
# validate_missing.rds (the sweep). About 1-2 min on 2 cores.
#   Rscript bench/validate_missing.R
library(deepbmc)
started <- Sys.time()
models <- normal_nested_models(groups = c(10, 30), obs = c(10, 30))
fit <- train_comparison(models, epochs = 5, iterations = 1000, seed = 21,
                        threads = 2, progress = FALSE,
                        missing = missing_values(share = c(0, 0.5)))
sweep <- validate_missing(fit, share = seq(0, 0.5, 0.05), n = 2000, seed = 22,
                          threads = 2)
print(sweep)
saveRDS(sweep, "bench/results/validate_missing.rds")
plot <- ggplot2::autoplot(sweep, metric = "ece")
ggplot2::ggsave("bench/results/validate_missing.png", plot, width = 7,
                height = 4, dpi = 120)
ggplot2::ggsave("bench/results/validate_missing_accuracy.png",
                ggplot2::autoplot(sweep, metric = "accuracy"), width = 7,
                height = 4, dpi = 120)
cat(sprintf("total %.1f min\n", as.double(difftime(Sys.time(), started,
                                                   units = "mins"))))
