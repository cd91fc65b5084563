# Exact marginal likelihoods of Gaussian linear mixed models, in plain R
# (base R and stats only, nothing from deepbmc), as the Bayes-optimal
# yardstick for networks trained on deepbmc's formula models (issue 29).
#
# The model, as deepbmc's simulator draws it (src/formula_models.h):
#   y = X beta + Z u + e,  beta ~ N(m, diag(s^2)),
#   u_g ~ N(0, diag(sd^2)) per group g (uncorrelated: (1 | g) or (1 + x || g)),
#   e ~ N(0, sigma^2 I),
# with proper priors on sigma and the SDs. beta and u are integrated
# analytically: y ~ N(X m, X S X' + Z D Z' + sigma^2 I). The two or three
# variance parameters are integrated numerically on the log scale.
#
# The marginal covariance is never formed. Within group g, write
# Z_g = U_g B_g with U_g orthonormal (n_g x Q, from the SVD; padded with
# zero rows of B_g where Z_g has rank below Q). The covariance given beta,
# A_g = sigma^2 I + Z_g D Z_g', is sigma^2 I on the complement of U_g and
# H_g = B_g D B_g' + sigma^2 I (Q x Q, Q <= 2) on U_g, so
#   r' A_g^-1 r = |r_perp|^2 / sigma^2 + t' H_g^-1 t,  t = U_g' r,
#   log det A_g = 2 (n_g - Q) log sigma + log det H_g,
# sums of positive terms with no cancellation however small sigma is. beta
# is then removed by Woodbury with C = S^-1 + X' W^-1 X (W = diag(A_g)).
# Everything depends on the data only through per-group projections, so one
# evaluation at K parameter values costs O(G K) and is vectorised over them.

# Priors of positive parameters: log density, a range that holds all but a
# negligible share of the mass, and the power a of the density near 0
# (density ~ x^(a - 1)), which gives the mass below the quadrature grid.
half_normal_prior <- function(scale) {
  list(
    name = sprintf("half_normal(%g)", scale),
    log_density = function(x) {
      log(2) + stats::dnorm(x, 0, scale, log = TRUE)
    },
    quantile = function(p) scale * stats::qnorm((1 + p) / 2),
    upper_quantile = function(p) {
      scale * stats::qnorm(p / 2, lower.tail = FALSE)
    },
    power_at_zero = 1
  )
}

exponential_prior <- function(rate) {
  list(
    name = sprintf("exponential(%g)", rate),
    log_density = function(x) stats::dexp(x, rate, log = TRUE),
    quantile = function(p) stats::qexp(p, rate),
    upper_quantile = function(p) stats::qexp(p, rate, lower.tail = FALSE),
    power_at_zero = 1
  )
}

half_student_t_prior <- function(df, scale) {
  list(
    name = sprintf("half_student_t(%g, %g)", df, scale),
    log_density = function(x) {
      log(2) - log(scale) + stats::dt(x / scale, df, log = TRUE)
    },
    quantile = function(p) scale * stats::qt((1 + p) / 2, df),
    upper_quantile = function(p) {
      scale * stats::qt(p / 2, df, lower.tail = FALSE)
    },
    power_at_zero = 1
  )
}

# The parts of the model that do not depend on the response, computed once
# and shared by all responses on the design. `z` defaults to a random
# intercept; give the columns of (1 + x || g) for an uncorrelated random
# slope.
exact_lmm_design <- function(x, group, z = NULL) {
  x <- as.matrix(x)
  n <- nrow(x)
  if (is.null(z)) z <- matrix(1, n, 1)
  z <- as.matrix(z)
  n_z <- ncol(z)
  if (!n_z %in% 1:2) stop("Z must have one or two columns.")
  rows <- split(seq_len(n), factor(group))
  n_groups <- length(rows)
  n_x <- ncol(x)
  # b[[q]][[s]]: G-vector of entry (q, s) of B_g; x_par[[q]]: G x P, row g
  # holding component q of U_g' X_g.
  b <- rep(list(rep(list(numeric(n_groups)), n_z)), n_z)
  x_par <- rep(list(matrix(0, n_groups, n_x)), n_z)
  u <- vector("list", n_groups)
  x_perp_cross <- matrix(0, n_x, n_x)
  for (g in seq_len(n_groups)) {
    z_g <- z[rows[[g]], , drop = FALSE]
    x_g <- x[rows[[g]], , drop = FALSE]
    decomposition <- svd(z_g, nu = min(dim(z_g)), nv = n_z)
    rank <- sum(decomposition$d > 1e-10 * max(decomposition$d, 1e-300))
    u_g <- decomposition$u[, seq_len(rank), drop = FALSE]
    b_g <- decomposition$d[seq_len(rank)] *
      t(decomposition$v[, seq_len(rank), drop = FALSE])
    par_g <- crossprod(u_g, x_g)
    for (q in seq_len(rank)) {
      for (s in seq_len(n_z)) b[[q]][[s]][g] <- b_g[q, s]
      x_par[[q]][g, ] <- par_g[q, ]
    }
    x_perp <- x_g - u_g %*% par_g
    x_perp_cross <- x_perp_cross + crossprod(x_perp)
    u[[g]] <- u_g
  }
  list(
    x = x, rows = rows, u = u, n = n, n_groups = n_groups,
    n_obs = lengths(rows), n_x = n_x, n_z = n_z, b = b, x_par = x_par,
    x_perp_cross = x_perp_cross
  )
}

# The response's part: projections of the residual from the prior mean.
# `y` may be a matrix with one response (data set on the design) a column.
exact_lmm_response_stats <- function(design, y, beta_mean) {
  residual <- as.matrix(y) - as.vector(design$x %*% beta_mean)
  n_data <- ncol(residual)
  r_par <- rep(list(matrix(0, design$n_groups, n_data)), design$n_z)
  rr_perp <- numeric(n_data)
  xr_perp <- matrix(0, design$n_x, n_data)
  for (g in seq_len(design$n_groups)) {
    rows <- design$rows[[g]]
    u_g <- design$u[[g]]
    r_g <- residual[rows, , drop = FALSE]
    par_g <- crossprod(u_g, r_g)
    for (q in seq_len(nrow(par_g))) r_par[[q]][g, ] <- par_g[q, ]
    r_perp <- r_g - u_g %*% par_g
    rr_perp <- rr_perp + colSums(r_perp^2)
    x_g <- design$x[rows, , drop = FALSE]
    x_perp <- x_g - u_g %*% crossprod(u_g, x_g)
    xr_perp <- xr_perp + crossprod(x_perp, r_perp)
  }
  list(rr_perp = rr_perp, xr_perp = xr_perp, r_par = r_par, n_data = n_data)
}

# What log p(y | sigma, sd) needs at K parameter values (`sigma` a K-vector,
# `sds` a K x Q matrix) that does not depend on y: the weights of the group
# sums, the Cholesky factor of C = S^-1 + X' W^-1 X and the log
# determinants. Shared by all responses on the design.
exact_lmm_nodes <- function(design, beta_sd, sigma, sds) {
  sds <- matrix(sds, ncol = design$n_z)
  n_nodes <- length(sigma)
  n_z <- design$n_z
  n_x <- design$n_x
  b <- design$b
  sigma2 <- sigma^2
  variance <- sds^2
  n_groups <- design$n_groups
  per_node <- function(values) rep(values, each = n_groups)
  # H_g = B_g D B_g' + sigma^2 I. Its determinant and the numerators of its
  # inverse are written as sums of positive terms, so that a large SD beside
  # a small sigma loses no precision: for Q = 2,
  #   det H = sigma^4 + sigma^2 tr(B D B') + det(B)^2 d_1 d_2,
  #   a' adj(H) c = sigma^2 a'c + sum_j d_j (a x b_j)(c x b_j),
  # with b_j the columns of B_g and a x b = a_1 b_2 - a_2 b_1.
  if (n_z == 1) {
    det_h <- outer(b[[1]][[1]]^2, variance[, 1]) + per_node(sigma2)
    weights <- list(1 / det_h)
  } else {
    det_b <- b[[1]][[1]] * b[[2]][[2]] - b[[1]][[2]] * b[[2]][[1]]
    trace <- outer(b[[1]][[1]]^2 + b[[2]][[1]]^2, variance[, 1]) +
      outer(b[[1]][[2]]^2 + b[[2]][[2]]^2, variance[, 2])
    det_h <- per_node(sigma2^2) + per_node(sigma2) * trace +
      outer(det_b^2, variance[, 1] * variance[, 2])
    weights <- list(
      per_node(sigma2) / det_h,
      per_node(variance[, 1]) / det_h,
      per_node(variance[, 2]) / det_h
    )
  }
  nodes <- list(design = design, sigma2 = sigma2, weights = weights,
                n_nodes = n_nodes)
  log_det_w <- 2 * (design$n - n_groups * n_z) * log(sigma) +
    colSums(log(det_h))
  nodes$log_lik_constant <- -0.5 * design$n * log(2 * pi) - 0.5 * log_det_w
  if (n_x == 0) {
    return(nodes)
  }
  # C entry by entry (K-vectors), then a Cholesky factorisation batched over
  # the nodes.
  chol_lower <- matrix(list(), n_x, n_x)
  log_det_c <- numeric(n_nodes)
  for (p in seq_len(n_x)) {
    for (s in seq_len(p)) {
      value <- design$x_perp_cross[p, s] / sigma2 +
        as.vector(exact_lmm_sandwich(nodes, exact_lmm_x_column(design, p),
                                     exact_lmm_x_column(design, s))) +
        if (p == s) 1 / beta_sd[p]^2 else 0
      for (t in seq_len(s - 1)) {
        value <- value - chol_lower[[p, t]] * chol_lower[[s, t]]
      }
      if (p == s) {
        chol_lower[[p, p]] <- sqrt(value)
        log_det_c <- log_det_c + log(value)
      } else {
        chol_lower[[p, s]] <- value / chol_lower[[s, s]]
      }
    }
  }
  nodes$chol_lower <- chol_lower
  nodes$log_lik_constant <- nodes$log_lik_constant -
    0.5 * (sum(log(beta_sd^2)) + log_det_c)
  nodes
}

exact_lmm_x_column <- function(design, p) {
  lapply(design$x_par, function(x_par) x_par[, p])
}

# The sum over groups of a_g' H_g^-1 c_g at every node, for per-group
# Q-vectors given as a list of Q components, each a G-vector (design) or a
# G x D matrix (one column per data set): a D x K (or 1 x K) matrix.
exact_lmm_sandwich <- function(nodes, a, c) {
  weights <- nodes$weights
  if (length(weights) == 1) {
    return(crossprod(a[[1]] * c[[1]], weights[[1]]))
  }
  b <- nodes$design$b
  cross <- function(v, j) v[[1]] * b[[2]][[j]] - v[[2]] * b[[1]][[j]]
  crossprod(a[[1]] * c[[1]] + a[[2]] * c[[2]], weights[[1]]) +
    crossprod(cross(a, 1) * cross(c, 1), weights[[2]]) +
    crossprod(cross(a, 2) * cross(c, 2), weights[[3]])
}

# log p(y | sigma, sd) with beta and u integrated out: a D x K matrix for
# the D responses of `stats` at the K nodes.
exact_lmm_log_lik_nodes <- function(nodes, stats) {
  design <- nodes$design
  n_data <- stats$n_data
  by_node <- function(values) rep(values, each = n_data)
  inverse_sigma2 <- 1 / nodes$sigma2
  quad <- outer(stats$rr_perp, inverse_sigma2) +
    exact_lmm_sandwich(nodes, stats$r_par, stats$r_par)
  # Woodbury for beta: + c' C^-1 c with c = X' W^-1 r, by forward
  # substitution in the batched Cholesky factor (c' C^-1 c = |v|^2).
  solved <- vector("list", design$n_x)
  for (p in seq_len(design$n_x)) {
    value <- outer(stats$xr_perp[p, ], inverse_sigma2) +
      exact_lmm_sandwich(nodes, exact_lmm_x_column(design, p), stats$r_par)
    for (t in seq_len(p - 1)) {
      value <- value - by_node(nodes$chol_lower[[p, t]]) * solved[[t]]
    }
    solved[[p]] <- value / by_node(nodes$chol_lower[[p, p]])
    quad <- quad - solved[[p]]^2
  }
  by_node(nodes$log_lik_constant) - 0.5 * quad
}

# The same for one response: a K-vector.
exact_lmm_log_lik_at <- function(design, stats, beta_sd, sigma, sds) {
  nodes <- exact_lmm_nodes(design, beta_sd, sigma, sds)
  as.vector(exact_lmm_log_lik_nodes(nodes, stats))
}

# The log integrand over theta = log(sigma, sd_1, ..., sd_Q): likelihood
# times priors times the Jacobian exp(theta).
exact_lmm_log_integrand <- function(design, stats, beta_sd, priors, theta) {
  theta <- matrix(theta, ncol = length(priors))
  values <- exp(theta)
  log_prior <- Reduce(`+`, lapply(seq_along(priors), function(k) {
    priors[[k]]$log_density(values[, k]) + theta[, k]
  }))
  log_prior + exact_lmm_log_lik_at(design, stats, beta_sd, values[, 1],
                                   values[, -1, drop = FALSE])
}

exact_log_sum_exp <- function(x) {
  top <- max(x)
  if (!is.finite(top)) return(top)
  top + log(sum(exp(x - top)))
}

# Product trapezoid rule on the log scale over a box around the mass: a
# coarse grid over the priors' ranges, then a finer one on the region found,
# find where the integrand is within `drop` log units of its largest value
# (widened by a step). The trapezoid rule converges geometrically for smooth
# integrands that vanish at the box's ends; the nodes per axis are doubled
# until the log integral changes by less than `tolerance`. At a lower end
# that reaches the priors' range the integrand behaves as exp(a theta) (the
# likelihood is flat as an SD goes to 0, the prior density ~ x^(a - 1)), whose
# integral below the end, value / a, is added to the end node's weight.
exact_lmm_quadrature <- function(log_f, priors, nodes = 32, coarse_step = 0.35,
                                 drop = 30, tolerance = 1e-7,
                                 max_nodes = 1024, prior_tail = 1e-6,
                                 chunk = 20000) {
  n_dim <- length(priors)
  lower_limit <- vapply(priors, function(p) log(p$quantile(prior_tail)),
                        numeric(1))
  upper_limit <- vapply(priors, function(p) {
    log(p$upper_quantile(prior_tail^2))
  }, numeric(1))
  evaluate <- function(axes) {
    grid <- as.matrix(expand.grid(axes, KEEP.OUT.ATTRS = FALSE))
    starts <- seq(1, nrow(grid), by = chunk)
    values <- unlist(lapply(starts, function(start) {
      rows <- start:min(nrow(grid), start + chunk - 1)
      suppressWarnings(log_f(grid[rows, , drop = FALSE]))
    }))
    # Only where the integrand underflows can rounding leave NaN.
    values[is.nan(values)] <- -Inf
    if (!is.finite(max(values))) {
      stop("The integrand is zero on the whole grid.")
    }
    list(grid = grid, values = values)
  }
  shrink <- function(axes, evaluated) {
    top <- max(evaluated$values)
    inside <- evaluated$grid[evaluated$values > top - drop, , drop = FALSE]
    lapply(seq_len(n_dim), function(k) {
      step <- diff(axes[[k]][1:2])
      c(max(lower_limit[k], min(inside[, k]) - step),
        min(upper_limit[k], max(inside[, k]) + step))
    })
  }
  spaced <- function(box, n) {
    lapply(box, function(ends) seq(ends[1], ends[2], length.out = n))
  }
  axes <- lapply(seq_len(n_dim), function(k) {
    seq(lower_limit[k], upper_limit[k],
        length.out = max(3, ceiling((upper_limit[k] - lower_limit[k]) /
                                      coarse_step) + 1))
  })
  box <- shrink(axes, evaluate(axes))
  axes <- spaced(box, nodes)
  box <- shrink(axes, evaluate(axes))
  integrate_box <- function(n) {
    axes <- spaced(box, n)
    evaluated <- evaluate(axes)
    weights <- lapply(seq_len(n_dim), function(k) {
      step <- diff(axes[[k]][1:2])
      w <- rep(step, n)
      w[c(1, n)] <- step / 2
      if (axes[[k]][1] <= lower_limit[k]) {
        w[1] <- w[1] + 1 / priors[[k]]$power_at_zero
      }
      w
    })
    log_weight <- rowSums(log(as.matrix(
      expand.grid(weights, KEEP.OUT.ATTRS = FALSE)
    )))
    log_terms <- evaluated$values + log_weight
    log_integral <- exact_log_sum_exp(log_terms)
    # The share of the integral on the box's faces (other than lower ends at
    # the priors' range) shows whether the box holds the mass.
    on_face <- Reduce(`|`, lapply(seq_len(n_dim), function(k) {
      column <- evaluated$grid[, k]
      (column == axes[[k]][n] & axes[[k]][n] < upper_limit[k]) |
        (column == axes[[k]][1] & axes[[k]][1] > lower_limit[k])
    }))
    face_share <- if (any(on_face)) {
      exp(exact_log_sum_exp(log_terms[on_face]) - log_integral)
    } else {
      0
    }
    list(log_integral = log_integral, face_share = face_share, nodes = n)
  }
  result <- integrate_box(nodes)
  repeat {
    n <- 2 * result$nodes - 1
    if (n > max_nodes) {
      warning("The quadrature did not converge within max_nodes.")
      break
    }
    finer <- integrate_box(n)
    change <- abs(finer$log_integral - result$log_integral)
    result <- finer
    if (change < tolerance) break
  }
  result$change <- change
  result$box <- box
  result
}

# The log marginal likelihood of a Gaussian linear mixed model.
#   y: response (rows with NA are left out: their marginal is the model of
#     the observed rows);
#   x: fixed-effect model matrix (a coefficient fixed at 0 is a column left
#     out); group: grouping vector; z: group-level matrix (NULL: intercept);
#   beta_mean, beta_sd: normal priors of the columns of x;
#   sd_priors: a list of priors, one per column of z; sigma_prior: a prior.
# `design` may be given instead of x, group and z, to share it between
# responses. Returns the log marginal likelihood with attributes
# `face_share` (the share of the integral on the quadrature box's faces,
# which should be negligible).
exact_lmm_log_ml <- function(y, x = NULL, group = NULL, beta_mean, beta_sd,
                             sd_priors, sigma_prior, z = NULL, design = NULL,
                             ...) {
  if (is.null(design)) {
    observed <- !is.na(y)
    if (!all(observed)) {
      x <- as.matrix(x)[observed, , drop = FALSE]
      if (!is.null(z)) z <- as.matrix(z)[observed, , drop = FALSE]
      group <- group[observed]
      y <- y[observed]
    }
    design <- exact_lmm_design(x, group, z)
  }
  if (!is.list(sd_priors) || !is.null(sd_priors$log_density)) {
    sd_priors <- list(sd_priors)
  }
  stopifnot(length(sd_priors) == design$n_z,
            length(beta_mean) == design$n_x, length(beta_sd) == design$n_x)
  stats <- exact_lmm_response_stats(design, y, beta_mean)
  priors <- c(list(sigma_prior), sd_priors)
  result <- exact_lmm_quadrature(
    function(theta) {
      exact_lmm_log_integrand(design, stats, beta_sd, priors, theta)
    },
    priors, ...
  )
  structure(result$log_integral, face_share = result$face_share,
            nodes = result$nodes, change = result$change)
}

# Log marginal likelihoods of many responses on one design (`y` a matrix,
# one response a column), on one product trapezoid grid over the priors'
# ranges with `step` on the log scale (one for all axes, or one per axis:
# sigma, then the SDs), shared by all: the parts that do not depend on the
# response are computed once. Accurate when every posterior of the log
# variance parameters is wider than about its axis's step (check by halving
# it); the adaptive exact_lmm_log_ml() needs no such assumption.
exact_lmm_log_ml_grid <- function(y, design, beta_mean, beta_sd, sd_priors,
                                  sigma_prior, step = 0.1,
                                  prior_tail = c(1e-6, 1e-12), chunk = 4e6) {
  if (!is.null(sd_priors$log_density)) sd_priors <- list(sd_priors)
  priors <- c(list(sigma_prior), sd_priors)
  step <- rep_len(step, length(priors))
  axes <- lapply(seq_along(priors), function(k) {
    seq(log(priors[[k]]$quantile(prior_tail[1])),
        log(priors[[k]]$upper_quantile(prior_tail[2])), by = step[k])
  })
  weights <- lapply(seq_along(priors), function(k) {
    w <- rep(step[k], length(axes[[k]]))
    w[c(1, length(w))] <- step[k] / 2
    # the mass below the grid, as in exact_lmm_quadrature()
    w[1] <- w[1] + 1 / priors[[k]]$power_at_zero
    w
  })
  theta <- as.matrix(expand.grid(axes, KEEP.OUT.ATTRS = FALSE))
  log_weight <- rowSums(log(as.matrix(
    expand.grid(weights, KEEP.OUT.ATTRS = FALSE)
  )))
  log_prior <- Reduce(`+`, lapply(seq_along(priors), function(k) {
    priors[[k]]$log_density(exp(theta[, k])) + theta[, k]
  }))
  nodes <- exact_lmm_nodes(design, beta_sd, exp(theta[, 1]),
                           exp(theta[, -1, drop = FALSE]))
  y <- as.matrix(y)
  per_chunk <- max(1, floor(chunk / nrow(theta)))
  starts <- seq(1, ncol(y), by = per_chunk)
  unlist(lapply(starts, function(start) {
    columns <- start:min(ncol(y), start + per_chunk - 1)
    stats <- exact_lmm_response_stats(design, y[, columns, drop = FALSE],
                                      beta_mean)
    log_terms <- exact_lmm_log_lik_nodes(nodes, stats) +
      rep(log_prior + log_weight, each = length(columns))
    top <- apply(log_terms, 1, max)
    top + log(rowSums(exp(log_terms - top)))
  }))
}

# Posterior model probabilities from log marginal likelihoods.
exact_pmp <- function(log_mls, prior_prob = NULL) {
  if (is.null(prior_prob)) {
    prior_prob <- rep(1 / length(log_mls), length(log_mls))
  }
  log_post <- log_mls + log(prior_prob)
  stats::setNames(exp(log_post - exact_log_sum_exp(log_post)), names(log_mls))
}

# The same log marginal likelihood from the dense marginal covariance
# X S X' + Z D Z' + sigma^2 I at one value of (sigma, sd): the reference
# for the block formulas above, for small designs.
exact_lmm_log_lik_dense <- function(y, x, group, z, beta_mean, beta_sd,
                                    sigma, sds) {
  x <- as.matrix(x)
  if (is.null(z)) z <- matrix(1, length(y), 1)
  group <- factor(group)
  indicator <- stats::model.matrix(~ 0 + group)
  z_full <- do.call(cbind, lapply(seq_len(ncol(z)), function(q) {
    indicator * z[, q]
  }))
  d_full <- rep(sds^2, each = nlevels(group))
  covariance <- x %*% (beta_sd^2 * t(x)) + z_full %*% (d_full * t(z_full)) +
    diag(sigma^2, length(y))
  factor_upper <- chol(covariance)
  whitened <- backsolve(factor_upper, y - x %*% beta_mean, transpose = TRUE)
  -0.5 * length(y) * log(2 * pi) - sum(log(diag(factor_upper))) -
    0.5 * sum(whitened^2)
}
