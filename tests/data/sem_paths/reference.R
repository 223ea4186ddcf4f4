# lavaan reference numbers for semlevel's path models on wide two-level data:
# an endogenous covariate with an instrument (models A, B) and a lagged outcome
# (model C).
#
# Run from anywhere:   Rscript tests/data/sem_paths/reference.R
# Needs: R >= 4.2, lavaan 0.6-14 (Debian r-cran-lavaan), jsonlite.
# Reads  endogenous.csv  (tests/simulate.py: endogenous_two_level(seed=5, K=300))
#        lagged.csv      (tests/simulate.py: lagged_two_level(seed=6, K=300))
#        (long: id, obs, z, x, y; NaN is an empty field, read as NA)
# Writes reference.json next to this script.  The tests only read the JSON: CI
# never runs R.  Takes a few seconds.
#
# Wide form: one row per id (every id has obs 1..4), columns y_s, x_s, z_s for
# slot s = obs = 1..4.  All models: fixed.x = TRUE, missing = "ml",
# estimator = "ML"; lavaan keeps every id (nobs = 300 is checked).
#
#   (A) y_s ~ b*x_s + c*1 ; x_s ~ g*z_s + a*1 ; k =~ 1*y_1 + .. + 1*y_4 ;
#       k ~~ vk*k ; y_s ~~ ve*y_s ; x_s ~~ vx*x_s          (exogenous: z_1..z_4)
#   (B) (A) + y_s ~~ r*x_s                                   (exogenous: z_1..z_4)
#   (C) y_1 ~ b*x_1 + c*1 ; y_t ~ b*x_t + p*y_{t-1} + c*1 (t = 2..4) ;
#       k =~ 1*y_1 + .. + 1*y_4 ; k ~~ vk*k ; y_s ~~ ve*y_s  (exogenous: x_1..x_4)
#
# No other parameter is free.  lavaan's defaults free nothing else here (checked
# below against the parameter table, not assumed): auto.cov.y only frees
# residual covariances among "pure" outcomes that are neither indicators nor
# predictors (every y_s is an indicator of k, every x_s in A/B a predictor), the
# latent k gets no covariance with exogenous observed covariates (fixed.x: the
# model is conditional on them), and k's mean is fixed at 0.

suppressPackageStartupMessages({
  library(lavaan)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
file_arg <- args[grep("^--file=", args)]
here <- if (length(file_arg)) dirname(normalizePath(sub("^--file=", "", file_arg))) else
  "tests/data/sem_paths"

S <- 1:4
to_wide <- function(long) {
  long <- long[order(long$id, long$obs), ]
  ids <- sort(unique(long$id))
  stopifnot(all(table(long$id) == 4), all(long$obs == rep(S, length(ids))))
  W <- data.frame(id = ids)
  for (v in c("y", "x", "z")) for (s in S) W[[paste0(v, "_", s)]] <- long[[v]][long$obs == s]
  W
}
endo <- to_wide(read.csv(file.path(here, "endogenous.csv")))
lag <- to_wide(read.csv(file.path(here, "lagged.csv")))
stopifnot(!anyNA(endo[, paste0("z_", S)]), !anyNA(lag[, paste0("x_", S)]))

# ---------------------------------------------------------------------------
# model syntax
# ---------------------------------------------------------------------------
ys <- paste0("y_", S); xs <- paste0("x_", S); zs <- paste0("z_", S)
k_block <- c(paste("k =~", paste0("1*", ys, collapse = " + ")), "k ~~ vk*k",
             paste0(ys, " ~~ ve*", ys))
syn_A <- c(paste0(ys, " ~ b*", xs, " + c*1"), paste0(xs, " ~ g*", zs, " + a*1"),
           k_block, paste0(xs, " ~~ vx*", xs))
syn_B <- c(syn_A, paste0(ys, " ~~ r*", xs))
syn_C <- c("y_1 ~ b*x_1 + c*1",
           paste0(ys[-1], " ~ b*", xs[-1], " + p*", ys[-4], " + c*1"),
           k_block)

OPTIONS <- list(fixed.x = TRUE, missing = "ml", estimator = "ML",
                information = "observed", observed.information = "hessian",
                h1.information = "structured", meanstructure = TRUE,
                baseline = FALSE, control = list(rel.tol = 1e-10))
run <- function(syntax, data, ...) {
  o <- modifyList(OPTIONS, list(...))
  do.call("sem", c(list(model = syntax, data = data), o))
}

models <- list(
  A = list(syntax = syn_A, data = endo, labels = c("b", "c", "g", "a", "vk", "ve", "vx"),
           exog = zs, endog = c(ys, xs), dataset = "endogenous.csv"),
  B = list(syntax = syn_B, data = endo, labels = c("b", "c", "g", "a", "vk", "ve", "vx", "r"),
           exog = zs, endog = c(ys, xs), dataset = "endogenous.csv"),
  C = list(syntax = syn_C, data = lag, labels = c("b", "p", "c", "vk", "ve"),
           exog = xs, endog = ys, dataset = "lagged.csv")
)

# ---------------------------------------------------------------------------
# independent dense FIML log likelihood of the endogenous cells given the
# exogenous ones (shares no code with lavaan).  With v the endogenous observed
# variables and w the exogenous ones (one row):
#   v = B v + alpha + Gam w + lam k + eps,  Var(k) = vk, Var(eps) = Psi
#   mean(v | w) = (I - B)^-1 (alpha + Gam w)
#   Var(v | w)  = (I - B)^-1 (vk lam lam' + Psi) (I - B)^-T
# and each row contributes the normal log density of its observed cells of v.
# ---------------------------------------------------------------------------
dense_parts <- function(model, th) {
  if (model %in% c("A", "B")) {
    # v = (y_1..y_4, x_1..x_4), w = z_1..z_4
    B <- matrix(0, 8, 8); Gam <- matrix(0, 8, 4)
    for (s in S) { B[s, 4 + s] <- th[["b"]]; Gam[4 + s, s] <- th[["g"]] }
    alpha <- c(rep(th[["c"]], 4), rep(th[["a"]], 4))
    lam <- c(rep(1, 4), rep(0, 4))
    Psi <- diag(c(rep(th[["ve"]], 4), rep(th[["vx"]], 4)))
    if (model == "B") for (s in S) Psi[s, 4 + s] <- Psi[4 + s, s] <- th[["r"]]
  } else {
    # v = (y_1..y_4), w = x_1..x_4
    B <- matrix(0, 4, 4); for (t in 2:4) B[t, t - 1] <- th[["p"]]
    Gam <- diag(th[["b"]], 4)
    alpha <- rep(th[["c"]], 4)
    lam <- rep(1, 4)
    Psi <- diag(th[["ve"]], 4)
  }
  IB <- solve(diag(nrow(B)) - B)
  list(IB = IB, alpha = alpha, Gam = Gam,
       Sigma = IB %*% (th[["vk"]] * tcrossprod(lam) + Psi) %*% t(IB))
}
dense_logl <- function(model, th, data = models[[model]]$data) {
  m <- models[[model]]
  P <- dense_parts(model, th)
  V <- as.matrix(data[, m$endog]); Wx <- as.matrix(data[, m$exog])
  ll <- 0
  for (i in seq_len(nrow(V))) {
    o <- !is.na(V[i, ])
    if (!any(o)) next
    mu <- as.vector(P$IB %*% (P$alpha + P$Gam %*% Wx[i, ]))
    R <- tryCatch(chol(P$Sigma[o, o, drop = FALSE]), error = function(e) NULL)
    if (is.null(R)) return(-Inf)
    e <- backsolve(R, V[i, o] - mu[o], transpose = TRUE)
    ll <- ll - 0.5 * (sum(o) * log(2 * pi) + 2 * sum(log(diag(R))) + sum(e^2))
  }
  ll
}
# log likelihood of the exogenous covariates alone at their saturated ML
# estimates (sample mean, covariance with divisor N): what a JOINT likelihood
# would add on top of the conditional one
exog_saturated_logl <- function(Wx) {
  Wx <- as.matrix(Wx); N <- nrow(Wx); p <- ncol(Wx)
  Sx <- crossprod(sweep(Wx, 2, colMeans(Wx))) / N
  -0.5 * N * (p * log(2 * pi) + as.numeric(determinant(Sx)$modulus) + p)
}

truth <- list(A = c(b = 0.6, c = 1, g = 0.8, a = 0.5, vk = 0.5, ve = 1, vx = 1),
              B = c(b = 0.6, c = 1, g = 0.8, a = 0.5, vk = 0.5, ve = 1, vx = 1, r = 0.4),
              C = c(b = 0.6, p = 0.3, c = 1, vk = 0.5, ve = 1))

out_models <- list()
for (nm in names(models)) {
  m <- models[[nm]]
  fit <- run(m$syntax, m$data)
  stopifnot(lavInspect(fit, "converged"), lavInspect(fit, "nobs") == nrow(m$data),
            nrow(m$data) == 300)

  # exactly the intended free parameters: every free row carries one of the labels
  pt <- parTable(fit)
  free <- pt[pt$free > 0, ]
  stopifnot(all(free$label %in% m$labels), setequal(unique(free$label), m$labels))
  # exogenous rows (z's or x's moments) are fixed, nothing links k and the covariates
  stopifnot(!any(pt$free > 0 & (pt$lhs %in% m$exog & pt$op %in% c("~~", "~1"))),
            !any(pt$free > 0 & pt$op == "~~" & xor(pt$lhs == "k", pt$rhs == "k")))

  pe <- parameterEstimates(fit)
  fit_exp <- run(m$syntax, m$data, information = "expected")
  pe_exp <- parameterEstimates(fit_exp)
  est <- list()
  for (lb in m$labels) {
    rows <- pe[pe$label == lb, ]
    stopifnot(max(abs(rows$est - rows$est[1])) < 1e-10, max(abs(rows$se - rows$se[1])) < 1e-10)
    est[[lb]] <- list(est = rows$est[1], se = rows$se[1],
                      se_expected = pe_exp$se[pe_exp$label == lb][1],
                      members = trimws(paste(rows$lhs, rows$op, rows$rhs)))
  }
  th <- vapply(est, function(e) e$est, 0)
  logl <- as.numeric(fitMeasures(fit, "logl"))
  npar <- as.numeric(fitMeasures(fit, "npar"))

  # (1) conditional or joint?  dense conditional logl at lavaan's estimates
  dl <- dense_logl(nm, th)
  # (2) the same model with fixed.x = FALSE: the exogenous moments become free
  #     parameters and lavaan's logl becomes the JOINT one
  fit_fx <- run(m$syntax, m$data, fixed.x = FALSE)
  xsat <- exog_saturated_logl(m$data[, m$exog])

  # (3) independent ML: maximise the dense logl from the true values (nlminb),
  #     SEs from the numerical Hessian (optimHess)
  nll <- function(p) { v <- -dense_logl(nm, setNames(p, m$labels)); if (is.finite(v)) v else 1e10 }
  lower <- ifelse(m$labels %in% c("vk", "ve", "vx"), 1e-6, -Inf)
  op <- nlminb(truth[[nm]][m$labels], nll, lower = lower,
               control = list(rel.tol = 1e-14, x.tol = 1e-12, eval.max = 2000, iter.max = 1000))
  op2 <- optim(op$par, nll, method = "BFGS", control = list(reltol = 1e-15, maxit = 500,
                                                            parscale = rep(0.1, length(op$par))))
  p_ind <- if (op2$value < op$objective) op2$par else op$par
  H <- optimHess(p_ind, nll)
  se_ind <- sqrt(diag(solve(H)))
  names(p_ind) <- names(se_ind) <- m$labels

  out_models[[nm]] <- list(
    data = m$dataset,
    syntax = m$syntax,
    exogenous = m$exog,
    endogenous = m$endog,
    nobs = lavInspect(fit, "nobs"),
    n_observed_endogenous_cells = sum(!is.na(as.matrix(m$data[, m$endog]))),
    logl = logl,
    npar = npar,
    n_free_rows = nrow(free),
    estimates = est,
    dense = list(
      logl_at_lavaan = dl,
      logl_minus_lavaan = dl - logl,
      max_logl = -min(op$objective, op2$value),
      estimates = as.list(p_ind),
      se = as.list(se_ind),
      max_abs_est_diff = max(abs(p_ind - th)),
      max_rel_se_diff = max(abs(se_ind / vapply(est, function(e) e$se, 0)[m$labels] - 1))
    ),
    exogenous_part = list(
      logl_exog_saturated = xsat,
      logl_joint = logl + xsat,
      lavaan_fixed_x_false_logl = as.numeric(fitMeasures(fit_fx, "logl")),
      lavaan_fixed_x_false_npar = as.numeric(fitMeasures(fit_fx, "npar")),
      lavaan_logl_is_conditional = abs(dl - logl) < 1e-6
    )
  )
  cat(sprintf("%s: logl %.6f npar %d dense %.6f (diff %.2e) joint %.6f vs fixed.x=FALSE %.6f; ind. ML max|dest| %.1e, max rel dSE %.1e\n",
              nm, logl, npar, dl, dl - logl, logl + xsat,
              as.numeric(fitMeasures(fit_fx, "logl")),
              max(abs(p_ind - th)), out_models[[nm]]$dense$max_rel_se_diff))
  print(round(cbind(lavaan = th, se = vapply(est, function(e) e$se, 0),
                    dense = p_ind[names(th)], se_dense = se_ind[names(th)]), 6))
}

chk <- list(
  dense_equals_lavaan_logl = all(vapply(out_models, function(o) abs(o$dense$logl_minus_lavaan) < 1e-6, TRUE)),
  fixed_x_false_equals_conditional_plus_saturated = all(vapply(out_models, function(o)
    abs(o$exogenous_part$lavaan_fixed_x_false_logl - o$exogenous_part$logl_joint) < 1e-5, TRUE)),
  independent_ml_matches = all(vapply(out_models, function(o)
    o$dense$max_abs_est_diff < 1e-4 && o$dense$max_rel_se_diff < 1e-3 &&
      abs(o$dense$max_logl - o$logl) < 1e-6, TRUE))
)
print(chk)
stopifnot(unlist(chk))

out <- list(
  about = list(
    what = "lavaan reference for semlevel's path models on wide two-level data: endogenous x with instrument z (A: uncorrelated errors, B: Cov(e_y, e_x) = r within a slot) and a lagged outcome (C)",
    made_by = "tests/data/sem_paths/reference.R",
    r_version = R.version.string,
    lavaan_version = as.character(packageVersion("lavaan")),
    data = list(
      endogenous.csv = "tests/simulate.py: endogenous_two_level(seed=5, K=300); models A, B",
      lagged.csv = "tests/simulate.py: lagged_two_level(seed=6, K=300); model C"),
    wide = "one row per id (300); slot s = obs (1..4); columns y_s, x_s, z_s",
    labels = list(
      b = "slope of y on x (A, B, C)", c = "intercept of y", g = "slope of x on z (A, B)",
      a = "intercept of x (A, B)", p = "slope of y_t on y_{t-1}, t = 2..4 (C)",
      vk = "Var(k), k = id intercept loading 1 on y_1..y_4", ve = "residual variance of every y",
      vx = "residual variance of every x (A, B)", r = "Cov(resid y_s, resid x_s), same slot (B)"),
    logl = "lavaan's logl with fixed.x = TRUE is CONDITIONAL on the exogenous covariates (z in A/B, x in C): it equals dense.logl_at_lavaan, the FIML likelihood of the observed endogenous cells given the exogenous ones. exogenous_part.logl_joint = logl + logl_exog_saturated is the joint likelihood (exogenous moments at their sample ML values), and equals lavaan's logl with fixed.x = FALSE.",
    npar = "lavaan's npar: distinct free parameters (labels); exogenous moments are not counted (fixed.x). n_free_rows counts the parameter-table rows before the label equalities.",
    se = "se: lavaan, observed information (numerical Hessian); se_expected: lavaan, expected information; dense.se: optimHess of the independent dense logl at its own maximum"
  ),
  lavaan_options = c(OPTIONS[setdiff(names(OPTIONS), "control")], list(rel.tol = 1e-10)),
  models = out_models,
  checks = chk
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null"),
           file.path(here, "reference.json"))
cat("wrote", file.path(here, "reference.json"), "\n")
