#' How robust are the posterior model probabilities of one data set?
#'
#' The robustness checks of Elsemüller et al. (2024) for a real data set:
#' PMPs recomputed on perturbed copies of the data, to show how much the
#' verdict depends on particular observations or groups.
#' * `"observations"`: bootstrap over observations, resampled with
#'   replacement within each group (each group keeps its size);
#' * `"groups"`: bootstrap over groups, resampled with replacement (a group
#'   drawn twice counts as two groups);
#' * `"leave_one_out"`: each group left out in turn;
#' * `"missing"`: `added_missing` more observations per group made missing
#'   (their `missing_features` set to `NA`), `n` times for each number.
#'
#' @param fit A trained network from [train_comparison()] whose models read
#'   data frames with named features (such as
#'   [evidence_accumulation_models()]).
#' @param data One data set: a data frame with the group column and one
#'   column per feature.
#' @param checks Which checks to run, any of `"observations"`, `"groups"`,
#'   `"leave_one_out"` and `"missing"`.
#' @param n Replicates of each bootstrap, and of each number of added missing
#'   observations.
#' @param added_missing Numbers of observations per group to make missing in
#'   the `"missing"` check (each at most the smallest group's number of
#'   observed rows).
#' @param missing_features Features set to `NA` in the `"missing"` check; by
#'   default every feature. Give the design features a missing observation
#'   keeps (for trials, the stimulus) by leaving them out. The network must
#'   have been trained with missing values (`train_comparison(missing = )`)
#'   if some but not all features go missing.
#' @param group Name of the group column; by default the model set's.
#' @param seed A whole number that makes the resampling reproducible, or
#'   `NULL` to draw one from R's random number generator.
#' @inheritParams deepbmc_threads
#'
#' @return An object of class `"deepbmc_robustness"`: a list with
#'   * `replicates`: a data frame with one row per perturbed data set, the
#'     columns `check`, `replicate` (the bootstrap index, the group left out
#'     or the number of added missing observations), one column of PMPs per
#'     model and `best` (the most probable model);
#'   * `summary`: per check (and number of added missing observations), the
#'     mean PMP of each model and the share of replicates each model wins;
#'   * `observed`: the PMPs of the data as they are; `seed`.
#'   Its print method shows the summary.
#'
#' @references Elsemüller, L., Schnuerch, M., Bürkner, P.-C., & Radev, S. T.
#'   (2024). A deep learning method for comparing Bayesian hierarchical models.
#'   *Psychological Methods*. \doi{10.1037/met0000645}
#' @seealso [post_prob.deepbmc_fit()], [evidence_accumulation_models()]
#' @export
#' @examples
#' models <- evidence_accumulation_models(participants = 4, trials = 40)
#' fit <- train_comparison(models, epochs = 1, iterations = 10, seed = 1,
#'                         threads = 1)
#' data <- simulate_datasets(models, n = 1, seed = 2)$data[[1]]
#' robustness_checks(fit, data, checks = c("groups", "leave_one_out"), n = 5,
#'                   seed = 3, threads = 1)
robustness_checks <- function(fit, data,
                              checks = c("observations", "groups",
                                         "leave_one_out", "missing"),
                              n = 100, added_missing = c(10, 30, 60),
                              missing_features = NULL, group = NULL,
                              seed = NULL, threads = default_threads()) {
  check_fit(fit)
  features <- model_feature_names(fit$models)
  if (is.null(features)) {
    abort_deepbmc(
      c(
        "{.fun robustness_checks} needs models whose data are data frames
         with named features.",
        x = "The models of {.arg fit} read one unnamed number per
             observation."
      ),
      "mismatch"
    )
  }
  if (!is.data.frame(data) || nrow(data) == 0) {
    abort_supplied("{.arg data} must be one data set, a non-empty data
                    frame.", data, "data")
  }
  group <- group %||% group_column(fit$models)
  if (!is.character(group) || length(group) != 1 || is.na(group) ||
        !group %in% names(data)) {
    abort_deepbmc(
      c(
        "{.arg group} must name the group column of {.arg data}.",
        x = "{.arg data} has the columns {.field {names(data)}}."
      ),
      "value"
    )
  }
  if (anyNA(data[[group]])) {
    abort_deepbmc("The group column {.field {group}} of {.arg data} must
                   not be missing (NA).", "data")
  }
  checks <- check_choices(checks, c("observations", "groups",
                                    "leave_one_out", "missing"))
  n <- check_whole_number(n, min = 1, max = 1e5)
  if ("missing" %in% checks) {
    if (!is.numeric(added_missing) || length(added_missing) == 0 ||
          is.object(added_missing)) {
      abort_supplied("{.arg added_missing} must be a vector of whole
                      numbers.", added_missing, "type")
    }
    check_whole_values(added_missing, "added_missing", 1,
                       min(table(data[[group]])), rlang::current_env())
    missing_features <- missing_features %||% features
    unknown <- setdiff(missing_features, features)
    if (!is.character(missing_features) || length(unknown) > 0 ||
          length(missing_features) == 0) {
      abort_deepbmc(
        c(
          "{.arg missing_features} must name features of the models.",
          i = "The features are {.field {features}}."
        ),
        "value"
      )
    }
  }
  seed <- check_seed(seed)
  threads <- check_threads(threads)

  groups <- split(seq_len(nrow(data)), factor(data[[group]],
                                              levels = unique(data[[group]])))
  replicates <- with_local_seed(seed, {
    sets <- list()
    labels <- list()
    add <- function(check, replicate, frames) {
      sets[[length(sets) + 1]] <<- frames
      labels[[length(labels) + 1]] <<- data.frame(
        check = rep(check, length(frames)), replicate = replicate
      )
    }
    if ("observations" %in% checks) {
      add("observations", seq_len(n), lapply(seq_len(n), function(b) {
        rows <- unlist(lapply(groups, function(g) g[sample.int(length(g), length(g), TRUE)]),
                       use.names = FALSE)
        data[rows, , drop = FALSE]
      }))
    }
    if ("groups" %in% checks) {
      add("groups", seq_len(n), lapply(seq_len(n), function(b) {
        drawn <- sample.int(length(groups), length(groups), TRUE)
        frame <- data[unlist(groups[drawn], use.names = FALSE), , drop = FALSE]
        frame[[group]] <- rep(seq_along(drawn), lengths(groups[drawn]))
        frame
      }))
    }
    if ("leave_one_out" %in% checks && length(groups) > 1) {
      add("leave_one_out", names(groups), lapply(seq_along(groups), function(g) {
        data[-groups[[g]], , drop = FALSE]
      }))
    }
    if ("missing" %in% checks) {
      for (k in added_missing) {
        add("missing", rep(k, n), lapply(seq_len(n), function(b) {
          frame <- data
          hit <- unlist(lapply(groups, function(g) {
            observed <- g[stats::complete.cases(data[g, features, drop = FALSE])]
            observed[sample.int(length(observed), min(k, length(observed)))]
          }), use.names = FALSE)
          frame[hit, missing_features] <- NA
          frame
        }))
      }
    }
    list(sets = unlist(sets, recursive = FALSE),
         labels = do.call(rbind, labels))
  })
  observed <- post_prob(fit, data, group = group, threads = threads)
  pmp <- post_prob(fit, replicates$sets, group = group, threads = threads)
  table <- cbind(replicates$labels, as.data.frame(pmp))
  model_names <- fit$models$model_names
  table$best <- factor(model_names[max.col(pmp, ties.method = "first")],
                       levels = model_names)
  structure(
    list(replicates = table, summary = robustness_summary(table, model_names),
         observed = observed, seed = seed),
    class = "deepbmc_robustness"
  )
}

# Mean PMPs and winning shares per check (and number of added missing
# observations).
robustness_summary <- function(table, model_names) {
  key <- ifelse(table$check == "missing",
                paste0("missing (+", table$replicate, " per group)"),
                table$check)
  key <- factor(key, levels = unique(key))
  rows <- lapply(split(table, key), function(part) {
    means <- colMeans(part[model_names])
    wins <- as.vector(table(part$best)) / nrow(part)
    data.frame(
      check = as.character(part$check[[1]]),
      label = "",
      replicates = nrow(part),
      model = model_names,
      mean_pmp = unname(means),
      share_best = wins
    )
  })
  out <- do.call(rbind, rows)
  out$label <- rep(levels(key), each = length(model_names))
  rownames(out) <- NULL
  out
}

#' @export
print.deepbmc_robustness <- function(x, digits = 3, ...) {
  cat("<deepbmc_robustness> PMPs of perturbed copies of the data\n")
  cat("Observed data: ",
      paste0(names(x$observed), " ", format(round(x$observed, digits),
                                              nsmall = digits),
             collapse = ", "), "\n\n", sep = "")
  s <- x$summary
  wide <- do.call(rbind, lapply(split(s, factor(s$label, unique(s$label))),
                                function(part) {
    row <- data.frame(check = part$label[[1]], n = part$replicates[[1]])
    for (i in seq_len(nrow(part))) {
      row[[part$model[[i]]]] <- sprintf(
        paste0("%.", digits, "f (%3.0f%%)"), part$mean_pmp[[i]],
        100 * part$share_best[[i]]
      )
    }
    row
  }))
  rownames(wide) <- NULL
  cat("Mean PMP per model (share of replicates it is best):\n")
  print(wide, row.names = FALSE, right = FALSE)
  invisible(x)
}
