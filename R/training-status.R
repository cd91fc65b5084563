# Status lines of train_comparison() in sessions without a progress bar
# (Rscript, knitr, batch jobs), like keras's verbose = 2: one message per
# epoch, with the mean training loss of the epoch, the holdout loss when there
# is one, the speed and the time left. Lines start once training has run
# for 5 seconds and come at most every 10 seconds, so short runs stay quiet
# and short epochs do not flood a log; the last epoch always gets one once
# any did.

new_status_lines <- function(total_steps, iterations, first_step,
                             first_after = 5, every = 10) {
  list(
    total_steps = total_steps, iterations = iterations,
    first_step = first_step, holdout_seen = 0L,
    first_after = first_after, every = every,
    started = proc.time()[["elapsed"]], last_shown = -Inf, shown = 0L,
    loss_sum = 0, loss_n = 0L
  )
}

# The status after a chunk of steps `done + 1` to `step` with batch losses
# `loss`; shows a line when the chunk ends an epoch (or training) and the
# timing allows.
show_status_line <- function(status, state, done, step, loss, rate) {
  status$loss_sum <- status$loss_sum + sum(loss)
  status$loss_n <- status$loss_n + length(loss)
  iterations <- status$iterations
  last <- step >= status$total_steps
  if (step %/% iterations == done %/% iterations && !last) {
    return(status)
  }
  now <- proc.time()[["elapsed"]]
  elapsed <- now - status$started
  due <- elapsed >= status$first_after &&
    (now - status$last_shown >= status$every || (last && status$shown > 0))
  # The holdout row of this epoch, if it was evaluated in this chunk.
  evaluated <- length(state$holdout_history)
  holdout <- if (evaluated > status$holdout_seen) {
    state$holdout_history[[evaluated]]
  }
  status$holdout_seen <- evaluated
  if (due) {
    message(format_status_line(status, step, holdout, rate, elapsed))
    status$last_shown <- now
    status$shown <- status$shown + 1L
  }
  status$loss_sum <- 0
  status$loss_n <- 0L
  status
}

format_status_line <- function(status, step, holdout, rate, elapsed) {
  iterations <- status$iterations
  epochs <- ceiling(status$total_steps / iterations)
  epoch <- ceiling(step / iterations)
  run <- max(step - status$first_step, 1)
  left <- elapsed / run * (status$total_steps - step)
  holdout_text <- if (!is.null(holdout)) {
    sprintf(" | holdout loss %.4f, accuracy %.3f", holdout$loss[[1]],
            holdout$accuracy[[1]])
  } else {
    ""
  }
  sprintf(
    "Epoch %d/%d | loss %.4f%s | %s data sets/s | %s elapsed, %s left",
    epoch, epochs, status$loss_sum / max(status$loss_n, 1L), holdout_text,
    format_count(round(rate)), format_clock(elapsed), format_clock(left)
  )
}

# Seconds as m:ss, or h:mm:ss from an hour on.
format_clock <- function(seconds) {
  seconds <- round(seconds)
  hours <- seconds %/% 3600
  minutes <- seconds %/% 60 %% 60
  rest <- seconds %% 60
  if (hours > 0) {
    sprintf("%d:%02d:%02d", hours, minutes, rest)
  } else {
    sprintf("%d:%02d", minutes, rest)
  }
}
