# lavaan reference numbers for semlevel's score tests, modification indices and
# relaxed fits.
#
# Run from anywhere:   Rscript tests/data/lavaan/reference.R
# Needs: R >= 4.2, apt-get install r-cran-lme4 r-cran-lavaan (jsonlite comes with them)
# Reads  hetero3.csv   (tests/simulate.py: hetero_three_level(seed=7, K=300, J=4,
#                       I=3, missing=0.10); NaN is an empty field, read as NA)
# Writes reference.json next to this script.  The tests only read the JSON: CI
# never runs R.  Takes about a minute (most of it the independent dense check).
#
# The wide model is the one semlevel builds for "y x || k: || j:":
#   * one wide row per county k; rows with a missing y are left out first (as
#     semlevel's estimation sample does), then the observations of (k, j) are
#     numbered 1, 2, ... in the order of i: slot (j, i) = school code j and the
#     observation's ORDER among the used rows of (k, j) (semlevel: y[j=J,obs=I]).
#     The column names are y_j_i and x_j_i.
#   * a slot a row does not have: y is NA, x is 0 (x must not be NA for lavaan;
#     with fixed.x the likelihood of y given x does not depend on it).
#   * latents k (loading 1 on every y) and j1..j4 (loading 1 on the y's of
#     school j), latent means 0, all latent covariances fixed at 0;
#     mean of y_j_i = c + b * x_j_i; Var(k) = vk; Var(j1..j4) = vj;
#     residual variances ve; residual covariances 0.

suppressPackageStartupMessages({
  library(lavaan)
  library(lme4)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))

long <- read.csv(file.path(here, "hetero3.csv"))

# ---------------------------------------------------------------------------
# long -> wide, exactly as semlevel
# ---------------------------------------------------------------------------
ob <- long[!is.na(long$y) & !is.na(long$x), ]
ob <- ob[order(ob$k, ob$j, ob$i), ]
ob$s <- ave(ob$i, ob$k, ob$j, FUN = seq_along)          # order within (k, j)
slots <- unique(ob[, c("j", "s")])
slots <- slots[order(slots$j, slots$s), ]
rownames(slots) <- NULL
ys <- sprintf("y_%d_%d", slots$j, slots$s)
xs <- sprintf("x_%d_%d", slots$j, slots$s)
J <- sort(unique(slots$j))
lat_j <- paste0("j", J)
counties <- sort(unique(long$k))
W <- data.frame(row.names = seq_along(counties))
for (r in seq_len(nrow(slots))) {
  sub <- ob[ob$j == slots$j[r] & ob$s == slots$s[r], ]
  at <- match(counties, sub$k)
  W[[ys[r]]] <- sub$y[at]
  xv <- sub$x[at]
  xv[is.na(xv)] <- 0
  W[[xs[r]]] <- xv
}
stopifnot(!anyNA(as.matrix(W[, xs])), sum(!is.na(as.matrix(W[, ys]))) == nrow(ob))

# ---------------------------------------------------------------------------
# model syntax; the labels say which parameters are equal
# ---------------------------------------------------------------------------
syntax <- function(b = rep("b", length(ys)), ve = rep("ve", length(ys)),
                   vj = rep("vj", length(J)), extra = character(0), reverse = FALSE) {
  o <- if (reverse) rev else identity        # order of the members in the syntax
  sj <- o(seq_along(J))
  sy <- o(seq_along(ys))
  c(paste("k =~", paste0("1*", ys, collapse = " + ")),
    sapply(sj, function(m) paste0(lat_j[m], " =~ ",
                                  paste0("1*", ys[slots$j == J[m]], collapse = " + "))),
    "k ~~ vk*k",
    paste0(lat_j[sj], " ~~ ", vj[sj], "*", lat_j[sj]),
    paste0(ys[sy], " ~~ ", ve[sy], "*", ys[sy]),
    paste0(ys[sy], " ~ ", b[sy], "*", xs[sy]),
    paste0(ys[sy], " ~ c*1"),
    extra)
}

OPTIONS <- list(fixed.x = TRUE, missing = "ml", estimator = "ML",
                information = "observed", observed.information = "hessian",
                h1.information = "structured", orthogonal = TRUE, meanstructure = TRUE,
                baseline = FALSE, control = list(rel.tol = 1e-11))
fit_model <- function(lines, ...) {
  f <- do.call("sem", c(list(model = paste(lines, collapse = "\n"), data = W), OPTIONS, list(...)))
  stopifnot(lavInspect(f, "converged"), lavInspect(f, "nobs") == length(counties))
  f
}

# estimates by label (unlabelled free parameters by "lhs op rhs"), with their members
estimates <- function(f) {
  pt <- parTable(f)
  pt <- pt[!(pt$op %in% c("==", ":=")), ]
  free <- pt$free > 0
  key <- ifelse(pt$label != "", pt$label, paste(pt$lhs, pt$op, pt$rhs))
  out <- list()
  for (lab in unique(key[free])) {
    rows <- which(free & key == lab)
    out[[lab]] <- list(est = pt$est[rows[1]], se = pt$se[rows[1]],
                       members = I(trimws(paste(pt$lhs[rows], pt$op[rows], pt$rhs[rows]))))
  }
  out
}

# gradient of the log likelihood at the estimate, summed over the members of each
# label (the gradient of the constrained problem); lavaan's gradient.logl is per row
label_gradient <- function(f) {
  pt <- parTable(f)
  free <- pt$free > 0 & !(pt$op %in% c("==", ":="))
  key <- ifelse(pt$label != "", pt$label, paste(pt$lhs, pt$op, pt$rhs))[free]
  g <- lavTech(f, "gradient.logl") * lavInspect(f, "nobs")
  as.list(tapply(g[order(pt$free[free])], key[order(pt$free[free])], sum))
}

# ---------------------------------------------------------------------------
# 1. constrained fit, and lme4 on the long data
# ---------------------------------------------------------------------------
fit0 <- fit_model(syntax())
logl0 <- fit0@loglik$loglik

ctrl <- lmerControl(
  optimizer = "nloptwrap",
  optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-14, xtol_rel = 1e-12,
                 ftol_rel = 1e-15, maxeval = 1e5),
  check.conv.singular = "ignore"
)
m4 <- lmer(y ~ x + (1 | k) + (1 | k:j), data = ob, REML = FALSE, control = ctrl)
lme4_logl <- as.numeric(logLik(m4))
vc <- as.data.frame(VarCorr(m4))
x_part <- logl0 - lme4_logl

# ---------------------------------------------------------------------------
# 2. score tests of the equality constraints (lavTestScore, observed information)
# ---------------------------------------------------------------------------
member_of <- function(pt, plabel) {
  r <- which(pt$plabel == plabel)
  list(param = paste(pt$lhs[r], pt$op[r], pt$rhs[r]),
       member = pt$lhs[r],
       label = pt$label[r])
}
semlevel_member <- function(m) {
  if (m %in% lat_j) return(sprintf("j[%s]", sub("^j", "", m)))
  p <- as.integer(strsplit(sub("^y_", "", m), "_")[[1]])
  sprintf("y[j=%d,obs=%d]", p[1], p[2])
}
constraint_table <- function(f) {
  pt <- parTable(f)
  eq <- which(pt$op == "==")
  lapply(seq_along(eq), function(n) {
    a <- member_of(pt, pt$lhs[eq[n]])
    b <- member_of(pt, pt$rhs[eq[n]])
    list(index = n, lhs = pt$lhs[eq[n]], op = "==", rhs = pt$rhs[eq[n]], label = a$label,
         lhs_param = a$param, rhs_param = b$param, lhs_member = a$member,
         rhs_member = b$member)
  })
}

# the same constrained model with every shared label's members in reverse order:
# its chains start at the LAST member, so its univariate tests release member 1
# alone (the original chains start at member 1 and release members 2..n)
fit0r <- fit_model(syntax(reverse = TRUE), start = fit0)
cons <- constraint_table(fit0)
cons_r <- constraint_table(fit0r)

members <- list(b = ys, c = ys, ve = ys, vj = lat_j)
score <- list()
for (lab in c("b", "c", "vj", "ve")) {
  idx <- which(vapply(cons, `[[`, "", "label") == lab)
  idx_r <- which(vapply(cons_r, `[[`, "", "label") == lab)
  ts <- lavTestScore(fit0, release = idx, univariate = TRUE, information = "observed")
  ts_r <- lavTestScore(fit0r, release = idx_r, univariate = TRUE, information = "observed")
  uni <- function(t, cl, ix) lapply(seq_along(ix), function(n) {
    cc <- cl[[ix[n]]]
    stopifnot(t$uni$lhs[n] == cc$lhs, t$uni$rhs[n] == cc$rhs)
    c(cc[c("index", "lhs", "op", "rhs", "lhs_param", "rhs_param", "lhs_member", "rhs_member")],
      list(released = cc$rhs_member, chi2 = t$uni$X2[n], df = t$uni$df[n], p = t$uni$p.value[n]))
  })
  u <- uni(ts, cons, idx)
  ur <- uni(ts_r, cons_r, idx_r)
  # one test per member m: "release member m alone" (taken from the original
  # chain when m is not its first member, else from the reversed chain)
  by_member <- list()
  for (m in members[[lab]]) {
    hit <- Filter(function(z) z$released == m, u)
    src <- "original"
    if (!length(hit)) {
      hit <- Filter(function(z) z$released == m, ur)
      src <- "reversed"
    }
    by_member[[m]] <- list(semlevel = semlevel_member(m), chi2 = hit[[1]]$chi2, df = 1L,
                           p = hit[[1]]$p, source = src,
                           constraint = paste(hit[[1]]$lhs, "==", hit[[1]]$rhs),
                           constraint_params = paste(hit[[1]]$lhs_param, "==", hit[[1]]$rhs_param))
  }
  first <- cons[[idx[1]]]$lhs_member
  both <- intersect(vapply(u, `[[`, "", "released"), vapply(ur, `[[`, "", "released"))
  chain_diff <- max(vapply(both, function(m) abs(
    Filter(function(z) z$released == m, u)[[1]]$chi2 -
      Filter(function(z) z$released == m, ur)[[1]]$chi2), 0))
  score[[lab]] <- list(
    members = members[[lab]],
    chain = paste(vapply(cons[idx], function(z) paste(z$lhs, "==", z$rhs), ""), collapse = ", "),
    chain_from = first,
    joint = list(chi2 = ts$test$X2, df = ts$test$df, p = ts$test$p.value,
                 constraint_indices = I(idx)),
    univariate = u,
    univariate_reversed = ur,
    release_member_alone = by_member,
    max_abs_diff_between_chains = chain_diff
  )
}

# ---------------------------------------------------------------------------
# 3. modification indices of the fixed-at-zero covariances
# ---------------------------------------------------------------------------
mi_o <- modindices(fit0, information = "observed", standardized = FALSE, sort. = FALSE)
mi_e <- modindices(fit0, information = "expected", standardized = FALSE, sort. = FALSE)
lats <- c("k", lat_j)
pick <- function(mi, set) mi[mi$op == "~~" & mi$lhs != mi$rhs & mi$lhs %in% set & mi$rhs %in% set, ]
mi_rows <- function(set) {
  a <- pick(mi_o, set)
  b <- pick(mi_e, set)
  stopifnot(identical(paste(a$lhs, a$rhs), paste(b$lhs, b$rhs)))
  lapply(seq_len(nrow(a)), function(n) list(
    lhs = a$lhs[n], op = "~~", rhs = a$rhs[n],
    mi = a$mi[n], epc = a$epc[n], p = pchisq(a$mi[n], 1, lower.tail = FALSE),
    mi_expected = b$mi[n], epc_expected = b$epc[n]))
}
mi_lat <- mi_rows(lats)
mi_res <- mi_rows(ys)

# ---------------------------------------------------------------------------
# 4. relaxed fits
# ---------------------------------------------------------------------------
relaxed_specs <- list(
  a_vj_released = list(
    what = "vj released: j1..j4 get their own variances vj1..vj4",
    lines = syntax(vj = paste0("vj", J))),
  b_vj_released_cov_j1_j2 = list(
    what = "(a) plus a free covariance j1 ~~ j2 (label cov_j1_j2)",
    lines = syntax(vj = paste0("vj", J), extra = "j1 ~~ cov_j1_j2*j2")),
  c_ve_school4 = list(
    what = "ve released by school: the y's of school 4 get residual variance ve4, the others keep ve",
    lines = syntax(ve = ifelse(slots$j == 4, "ve4", "ve"))),
  d_b_released = list(
    what = "b released fully: one slope b_j_i per slot y_j_i",
    lines = syntax(b = sub("^y", "b", ys)))
)
relaxed <- list()
for (nm in names(relaxed_specs)) {
  f <- fit_model(relaxed_specs[[nm]]$lines)
  l <- f@loglik$loglik
  relaxed[[nm]] <- list(
    what = relaxed_specs[[nm]]$what,
    syntax = paste(relaxed_specs[[nm]]$lines, collapse = "\n"),
    converged = lavInspect(f, "converged"), nobs = lavInspect(f, "nobs"),
    npar = as.integer(fitMeasures(f, "npar")),
    logl = l, logl_minus_x_part = l - x_part,
    lr_vs_constrained = 2 * (l - logl0),
    gradient = label_gradient(f),
    estimates = estimates(f))
}

# ---------------------------------------------------------------------------
# 5. independent check with analytic derivatives
#
#    The FIML log likelihood of the wide model written out densely (one Cholesky
#    per row), with its analytic gradient and observed information (minus the
#    Hessian). Every parameter enters linearly: mu_r = sum_a theta_a m_a(r) and
#    Sigma = sum_a theta_a A_a, so per row (e = y - mu, u = Sigma^-1 e)
#      dl/dtheta_a (mean)     = m_a' u
#      dl/dtheta_a (cov)      = -tr(Sigma^-1 A_a)/2 + u' A_a u / 2
#      d2l/dmean_a dmean_b    = -m_a' Sigma^-1 m_b
#      d2l/dmean_a dcov_b     = -m_a' Sigma^-1 A_b u
#      d2l/dcov_a dcov_b      = tr(Sigma^-1 A_a Sigma^-1 A_b)/2 - u' A_a Sigma^-1 A_b u
#    Each model is first Newton-polished to its exact optimum (lavaan's nlminb
#    stops ~1e-7 short in the parameters: the fit function cannot be lowered
#    further in double precision), then the score statistics are
#    g_G' [I^-1]_GG g_G, the released members written as the constrained value
#    plus a free offset G (zero at the constrained model).  These *_analytic
#    numbers share no code with lavaan; they agree with lavaan's to ~1e-6
#    relative (lavaan's observed information is a numerical Hessian, evaluated
#    at its own, slightly less exact, optimum).
# ---------------------------------------------------------------------------
Y <- as.matrix(W[, ys])
X <- as.matrix(W[, xs])
obs <- !is.na(Y)
n_y <- length(ys)
L <- cbind(1, outer(slots$j, J, "==") * 1)            # loadings on (k, j1..j4)
E <- diag(n_y)
mdir <- function(f) list(type = "mean", m = f)
cdir <- function(A) list(type = "cov", A = A)
lj <- function(m) outer(L[, m + 1], L[, m + 1])      # variance of j_m
slot_mean <- function(m, slope) {
  force(m)
  if (slope) function(r) X[r, ] * (seq_len(n_y) == m) else function(r) 1 * (seq_len(n_y) == m)
}
derivs <- function(theta, dirs) {
  isc <- vapply(dirs, function(d) d$type == "cov", TRUE)
  S <- Reduce(`+`, Map(function(d, t) t * d$A, dirs[isc], theta[isc]))
  nd <- length(dirs)
  g <- numeric(nd)
  H <- matrix(0, nd, nd)
  ll <- 0
  for (r in seq_len(nrow(Y))) {
    o <- obs[r, ]
    no <- sum(o)
    Mm <- matrix(vapply(dirs[!isc], function(d) d$m(r)[o], numeric(no)), nrow = no)
    e <- Y[r, o] - as.vector(Mm %*% theta[!isc])
    R <- chol(S[o, o, drop = FALSE])
    Si <- chol2inv(R)
    u <- as.vector(Si %*% e)
    ll <- ll - 0.5 * (no * log(2 * pi) + 2 * sum(log(diag(R))) + sum(e * u))
    As <- lapply(dirs[isc], function(d) d$A[o, o, drop = FALSE])
    Wc <- matrix(vapply(As, function(A) as.vector(A %*% u), numeric(no)), nrow = no)
    SA <- lapply(As, function(A) Si %*% A)
    V1 <- matrix(vapply(SA, as.vector, numeric(no * no)), nrow = no * no)
    V2 <- matrix(vapply(SA, function(M) as.vector(t(M)), numeric(no * no)), nrow = no * no)
    g[!isc] <- g[!isc] + as.vector(crossprod(Mm, u))
    g[isc] <- g[isc] - 0.5 * vapply(SA, function(M) sum(diag(M)), 0) + 0.5 * as.vector(crossprod(Wc, u))
    H[!isc, !isc] <- H[!isc, !isc] - crossprod(Mm, Si %*% Mm)
    Hmc <- -crossprod(Mm, Si %*% Wc)
    H[!isc, isc] <- H[!isc, isc] + Hmc
    H[isc, !isc] <- H[isc, !isc] + t(Hmc)
    H[isc, isc] <- H[isc, isc] + 0.5 * crossprod(V1, V2) - crossprod(Wc, Si %*% Wc)
  }
  list(ll = ll, g = g, H = H)
}
polish <- function(theta, dirs) {
  for (it in 1:20) {
    D <- derivs(theta, dirs)
    step <- solve(-D$H, D$g)
    theta <- theta + step
    if (max(abs(step)) < 1e-13) break
  }
  D <- derivs(theta, dirs)
  list(theta = theta, D = D, newton_steps = it, max_abs_gradient = max(abs(D$g)),
       se = sqrt(diag(solve(-D$H))))
}
rel <- function(a, b) abs(a - b) / max(1, abs(b))
# largest lavaan-vs-analytic differences, by kind
worst <- list(estimate_abs = 0, se_rel = 0, chi2_rel = 0, epc_abs = 0, logl_abs = 0)
note <- function(kind, d) worst[[kind]] <<- max(worst[[kind]], d)

# the constrained model, and every offset direction the tests use
base <- list(b = mdir(function(r) X[r, ]), c = mdir(function(r) rep(1, n_y)),
             vk = cdir(outer(L[, 1], L[, 1])),
             vj = cdir(Reduce(`+`, lapply(seq_along(J), lj))), ve = cdir(E))
nb <- length(base)
lav0 <- vapply(names(base), function(l) estimates(fit0)[[l]]$est, 0)
pol0 <- polish(lav0, base)
offset <- list()
for (m in seq_len(n_y)) {
  offset[[paste0("b:", ys[m])]] <- mdir(slot_mean(m, TRUE))
  offset[[paste0("c:", ys[m])]] <- mdir(slot_mean(m, FALSE))
  offset[[paste0("ve:", ys[m])]] <- cdir(outer(E[, m], E[, m]))
}
for (m in seq_along(J)) offset[[paste0("vj:", lat_j[m])]] <- cdir(lj(m))
for (a in 1:4) for (b in (a + 1):5) {
  offset[[paste0("phi:", lats[a], "~~", lats[b])]] <- cdir(outer(L[, a], L[, b]) + outer(L[, b], L[, a]))
}
for (a in 1:(n_y - 1)) for (b in (a + 1):n_y) {
  offset[[paste0("theta:", ys[a], "~~", ys[b])]] <- cdir(outer(E[, a], E[, b]) + outer(E[, b], E[, a]))
}
D0 <- derivs(c(pol0$theta, numeric(length(offset))), c(base, offset))
onames <- names(offset)
score_stat <- function(keys) {
  gi <- nb + match(keys, onames)
  idx <- c(seq_len(nb), gi)
  Ii <- solve(-D0$H[idx, idx])
  k <- nb + seq_along(gi)
  gg <- D0$g[gi]
  chi2 <- as.numeric(t(gg) %*% Ii[k, k, drop = FALSE] %*% gg)
  list(chi2 = chi2, epc = if (length(gi) == 1) as.numeric(Ii[k, k] * gg) else NA)
}

# fold the analytic values into the lavaan tables
est0 <- estimates(fit0)
for (q in seq_len(nb)) {
  l <- names(base)[q]
  est0[[l]]$est_analytic <- pol0$theta[[q]]
  est0[[l]]$se_analytic <- pol0$se[[q]]
  note("estimate_abs", abs(est0[[l]]$est - pol0$theta[[q]]))
  note("se_rel", rel(est0[[l]]$se, pol0$se[[q]]))
}
for (lab in c("b", "c", "vj", "ve")) {
  keys <- paste0(lab, ":", members[[lab]])
  j <- score_stat(keys[-1])$chi2
  score[[lab]]$joint$chi2_analytic <- j
  score[[lab]]$joint$p_analytic <- pchisq(j, length(keys) - 1, lower.tail = FALSE)
  note("chi2_rel", rel(score[[lab]]$joint$chi2, j))
  for (m in members[[lab]]) {
    s1 <- score_stat(paste0(lab, ":", m))$chi2
    score[[lab]]$release_member_alone[[m]]$chi2_analytic <- s1
    score[[lab]]$release_member_alone[[m]]$p_analytic <- pchisq(s1, 1, lower.tail = FALSE)
    note("chi2_rel", rel(score[[lab]]$release_member_alone[[m]]$chi2, s1))
  }
}
mi_analytic <- function(rows, prefix) lapply(rows, function(z) {
  s1 <- score_stat(paste0(prefix, z$lhs, "~~", z$rhs))
  note("chi2_rel", rel(z$mi, s1$chi2))
  note("epc_abs", abs(z$epc - s1$epc))
  c(z, list(mi_analytic = s1$chi2, epc_analytic = s1$epc))
})
mi_lat <- mi_analytic(mi_lat, "phi:")
mi_res <- mi_analytic(mi_res, "theta:")

# relaxed fits: their own parametrizations, polished from lavaan's estimates
relaxed_dirs <- list(
  a_vj_released = c(base[c("b", "c", "vk")],
                    setNames(lapply(seq_along(J), function(m) cdir(lj(m))), paste0("vj", J)),
                    base["ve"]),
  b_vj_released_cov_j1_j2 = c(base[c("b", "c", "vk")],
                              setNames(lapply(seq_along(J), function(m) cdir(lj(m))), paste0("vj", J)),
                              base["ve"], list(cov_j1_j2 = offset[["phi:j1~~j2"]])),
  c_ve_school4 = c(base[c("b", "c", "vk", "vj")],
                   list(ve = cdir(diag(1 * (slots$j != 4))), ve4 = cdir(diag(1 * (slots$j == 4))))),
  d_b_released = c(setNames(lapply(seq_len(n_y), function(m) mdir(slot_mean(m, TRUE))), sub("^y", "b", ys)),
                   base[c("c", "vk", "vj", "ve")])
)
for (nm in names(relaxed)) {
  dirs <- relaxed_dirs[[nm]]
  e <- relaxed[[nm]]$estimates
  stopifnot(setequal(names(dirs), names(e)))
  pol <- polish(vapply(names(dirs), function(l) e[[l]]$est, 0), dirs)
  for (q in seq_along(dirs)) {
    l <- names(dirs)[q]
    e[[l]]$est_analytic <- pol$theta[[q]]
    e[[l]]$se_analytic <- pol$se[[q]]
    note("estimate_abs", abs(e[[l]]$est - pol$theta[[q]]))
    note("se_rel", rel(e[[l]]$se, pol$se[[q]]))
  }
  relaxed[[nm]]$estimates <- e
  relaxed[[nm]]$logl_analytic <- pol$D$ll
  relaxed[[nm]]$lr_vs_constrained_analytic <- 2 * (pol$D$ll - pol0$D$ll)
  relaxed[[nm]]$analytic_max_abs_gradient <- pol$max_abs_gradient
  note("logl_abs", abs(relaxed[[nm]]$logl_minus_x_part - pol$D$ll))
}
# the observed-information MI of j1 ~~ j2 is far above the LR of freeing it alone
fit_c12 <- fit_model(syntax(extra = "j1 ~~ cov_j1_j2*j2"))
checks <- list(
  free_cov_j1_j2_only = list(
    what = "constrained model plus a free j1 ~~ j2 (compare with its MI)",
    logl = fit_c12@loglik$loglik, lr_vs_constrained = 2 * (fit_c12@loglik$loglik - logl0),
    cov_j1_j2 = estimates(fit_c12)$cov_j1_j2$est),
  what = paste(
    "*_analytic values: dense FIML log likelihood with analytic gradient and observed",
    "information written out in reference.R (no lavaan code), Newton-polished to the exact",
    "optimum of each model; score tests as g' [I^-1]_GG g with the released members written",
    "as constrained value + free offset. lavaan_vs_analytic: the largest differences between",
    "lavaan's numbers and these over all fits and tests (estimates and EPCs absolute, SEs and",
    "chi2 (score tests and MIs) relative to max(1, |value|), log likelihoods (minus x_part)",
    "absolute). lavaan's estimates stop up to ~5e-7 short of the optimum."),
  constrained_logl_analytic = pol0$D$ll,
  constrained_newton_steps = pol0$newton_steps,
  constrained_max_abs_gradient_analytic = pol0$max_abs_gradient,
  lavaan_vs_analytic = worst)
stopifnot(abs(pol0$D$ll - lme4_logl) < 1e-6, abs(pol0$D$ll - (logl0 - x_part)) < 1e-6,
          worst$estimate_abs < 1e-5, worst$se_rel < 1e-5, worst$chi2_rel < 1e-5,
          worst$epc_abs < 1e-5, worst$logl_abs < 1e-6)

# ---------------------------------------------------------------------------
# JSON
# ---------------------------------------------------------------------------
slot_table <- lapply(seq_len(nrow(slots)), function(r) list(
  y = ys[r], x = xs[r], j = slots$j[r], i = slots$s[r],
  semlevel = sprintf("y[j=%d,obs=%d]", slots$j[r], slots$s[r]),
  n_obs = sum(!is.na(W[[ys[r]]]))))

out <- list(
  about = list(
    what = paste("lavaan reference for semlevel's score tests (equality constraints),",
                 "modification indices (fixed-at-zero covariances) and relaxed fits of the",
                 "wide SEM form of 'y x || k: || j:' on hetero3.csv"),
    made_by = "tests/data/lavaan/reference.R",
    r_version = R.version.string,
    lavaan_version = as.character(packageVersion("lavaan")),
    lme4_version = as.character(packageVersion("lme4")),
    slot_naming = paste(
      "y_j_i / x_j_i: j = school code (same in every county), i = ORDER of the observation",
      "among the used rows (y and x observed) of (county k, school j), sorted by the",
      "student code i of the CSV. This is semlevel's slot y[j=j,obs=i]. It is not the CSV's i",
      "when a student of the school was dropped or has a missing y."),
    latent_naming = "k = county intercept (semlevel 'k'); j1..j4 = school positions (semlevel 'j[1]'..'j[4]')",
    labels = list(b = "slope of x (semlevel 'x')", c = "intercept (semlevel '_cons')",
                  vk = "Var(k) (semlevel 'k: var(_cons)')",
                  vj = "Var(j1)=..=Var(j4) (semlevel 'j: var(_cons)')",
                  ve = "residual variance of every y (semlevel 'var(Residual)')")
  ),
  data = list(
    file = "hetero3.csv",
    simulator = "tests/simulate.py: hetero_three_level(seed=7, K=300, J=4, I=3, missing=0.10)",
    n_long_rows = nrow(long), n_used = nrow(ob), n_counties = length(counties),
    x_of_empty_slots = 0),
  slots = slot_table,
  lavaan_options = list(
    call = "sem(model, data = wide, fixed.x = TRUE, missing = 'ml', estimator = 'ML', information = 'observed', observed.information = 'hessian', h1.information = 'structured', orthogonal = TRUE, meanstructure = TRUE, baseline = FALSE, control = list(rel.tol = 1e-11))",
    fixed.x = TRUE, missing = "ml", estimator = "ML", information = "observed",
    observed.information = "hessian", h1.information = "structured", orthogonal = TRUE,
    rel.tol = 1e-11),
  constrained = list(
    syntax = paste(syntax(), collapse = "\n"),
    converged = lavInspect(fit0, "converged"), nobs = lavInspect(fit0, "nobs"),
    npar = as.integer(fitMeasures(fit0, "npar")),
    logl = logl0, lme4_logl = lme4_logl, x_part = x_part,
    x_part_is_zero = abs(x_part) < 1e-6,
    x_part_note = paste("zero: with fixed.x = TRUE and missing = 'ml', lavaan 0.6-14",
                        "(lav_mvnorm_missing_loglik_samplestats) subtracts the marginal log likelihood",
                        "of the x columns at their saturated mean and covariance from the joint one,",
                        "so its logl is that of y given x (the x's have no NA), i.e. lme4's logLik;",
                        "x_part is only the two optimizers' difference"),
    gradient = label_gradient(fit0),
    estimates = est0),
  lme4 = list(
    call = "lmer(y ~ x + (1 | k) + (1 | k:j), REML = FALSE) on the rows with observed y (tight nloptwrap tolerances)",
    logl = lme4_logl,
    fixef = as.list(fixef(m4)),
    fixef_se = as.list(sqrt(diag(as.matrix(vcov(m4))))),
    var_k = vc$vcov[vc$grp == "k"], var_kj = vc$vcov[vc$grp == "k:j"],
    var_residual = vc$vcov[vc$grp == "Residual"]),
  score_tests = list(
    call = "lavTestScore(fit, release = <indices of the label's constraints>, univariate = TRUE, information = 'observed')",
    how_lavaan_writes_constraints = paste(
      "A label shared by n parameters becomes n-1 rows 'first == other' in the parameter table,",
      "all chained from the label's first member in syntax order (members are written in slot",
      "order y_1_1, y_1_2, ..., y_4_3, and j1..j4), e.g. '.p30. == .p31.', '.p30. == .p32.', ...",
      ".pN. is lavaan's plabel of a parameter; lhs_param/rhs_param give it as 'lhs op rhs'.",
      "Constraint indices count the '==' rows from 1 (lavTestScore's release argument).",
      "Dropping one constraint 'first == m' frees member m alone (the rest stay equal), so the",
      "univariate test of constraint 'first == m' is semlevel's test for member m; the first",
      "member's test comes from the same model written in reverse member order",
      "(univariate_reversed, chained from the last member). release_member_alone collects one",
      "test per member (source: which chain; constraint: its plabels in that fit's table,",
      "constraint_params: the same as parameters); members released in both chains agree",
      "(max_abs_diff_between_chains)."),
    constraints = cons,
    constraints_reversed = cons_r,
    labels = score),
  modindices = list(
    call = "modindices(fit, information = 'observed', standardized = FALSE); *_expected with information = 'expected'",
    note = paste("mi is the score statistic (df 1) of freeing one fixed-at-zero covariance with",
                 "the equality constraints kept; epc = expected parameter change. Latent covariances",
                 "are lhs ~~ rhs among k, j1..j4; residual covariances among the y_j_i, in lavaan's",
                 "order (lhs before rhs in slot order)."),
    latent_covariances = mi_lat,
    residual_covariances = mi_res),
  relaxed = relaxed,
  checks = checks
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null"),
           file.path(here, "reference.json"))
cat("constrained logl", format(logl0, digits = 15), " lme4", format(lme4_logl, digits = 15),
    " x_part", format(x_part, digits = 3), "\n")
cat("lavaan vs analytic:", paste(names(worst), format(unlist(worst), digits = 3), collapse = ", "), "\n")
