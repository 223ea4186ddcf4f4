# nlme reference for semlevel's residual-error structures (tests/test_residuals.py).
#
# Run from anywhere:   Rscript tests/data/nlme/reference.R
# Needs: R with nlme and jsonlite (Debian: r-base-core r-cran-nlme r-cran-jsonlite).
# Writes tests/data/nlme/reference.json next to itself.  The tests only read the JSON:
# CI never runs R.
#
# Data: <restype>.csv, written by `python tests/test_residuals.py` from
# tests/simulate.py repeated_measures() (see README.md); columns id, t, x, y, NaN y as
# an empty field (na.omit below = semlevel's complete cases).
#
# Each semlevel model `y x || id:[, noconstant] residuals(<restype>, t(t))` [reml]
# becomes gls() (noconstant: no random intercept) or lme(random = ~ 1 | id) with the
# nlme correlation (and variance) structure of the same model:
#   independent   none
#   exchangeable  corCompSymm(form = ~ 1 | id)                      (gls only)
#   ar 1          corAR1(form = ~ t | id)        integer t: lags are time distances
#   ar 2          corARMA(p = 2, form = ~ t | id)
#   ma 1, ma 2    corARMA(q = 1 or 2, form = ~ t | id)
#   unstructured  corSymm(form = ~ k | id), k = t + 1, with weights = varIdent(form = ~ 1 | t)
#                                                                   (gls only)
#   exponential   corCAR1(form = ~ t | id) (Phi = rho) and corExp(form = ~ t | id)
#                 (range: rho = exp(-1/range)), real-valued t
# banded and toeplitz have no nlme counterpart (the dense reference covers them).
# nlme's REML log likelihood is the one Stata and lme4 report (no 0.5 log|X'X| term), so
# logLik() is stored as it is.

suppressPackageStartupMessages({
  library(nlme)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))

# Tight tolerances: the defaults stop short of the optimum in the 4th-6th decimal of the
# log likelihood.
gctrl <- glsControl(maxIter = 1000, msMaxIter = 1000, tolerance = 1e-12, msTol = 1e-14,
                    returnObject = TRUE)
lctrl <- lmeControl(maxIter = 1000, msMaxIter = 1000, niterEM = 100, tolerance = 1e-12,
                    msTol = 1e-14, returnObject = TRUE)

read <- function(name) {
  d <- read.csv(file.path(here, paste0(name, ".csv")))
  d <- d[order(d$id, d$t), ]
  d$k <- as.integer(round(d$t)) + 1L
  d$tf <- factor(d$t)
  d
}

one_fit <- function(case, intercept, reml, cor = NULL, weights = NULL, extra = list()) {
  d <- read(gsub(" ", "", case))
  method <- if (reml) "REML" else "ML"
  if (intercept) {
    f <- lme(y ~ x, random = ~ 1 | id, data = d, correlation = cor, weights = weights,
             method = method, na.action = na.omit, control = lctrl)
    var_u <- as.numeric(getVarCov(f)[1, 1])
    beta <- fixef(f)
  } else {
    f <- gls(y ~ x, data = d, correlation = cor, weights = weights, method = method,
             na.action = na.omit, control = gctrl)
    var_u <- 0
    beta <- coef(f)
  }
  out <- list(restype = case, intercept = intercept, reml = reml,
              loglik = as.numeric(logLik(f)), n_obs = f$dims$N,
              beta = list(`_cons` = unname(beta[1]), x = unname(beta[2])),
              sigma2 = f$sigma^2, var_u = var_u)
  cs <- f$modelStruct$corStruct
  if (!is.null(cs)) out$cor <- as.list(coef(cs, unconstrained = FALSE))
  vs <- f$modelStruct$varStruct
  if (!is.null(vs)) out$var_ratio <- as.list(coef(vs, unconstrained = FALSE, allCoef = TRUE))
  c(out, extra)
}

fits <- list()
add <- function(key, ...) fits[[key]] <<- one_fit(...)

for (reml in c(FALSE, TRUE)) {
  m <- if (reml) "reml" else "ml"
  for (ri in c(TRUE, FALSE)) {
    r <- if (ri) "ri" else "nori"
    add(paste("independent", r, m), "independent", ri, reml)
    add(paste("ar 1", r, m), "ar 1", ri, reml, corAR1(form = ~ t | id))
    add(paste("ar 2", r, m), "ar 2", ri, reml, corARMA(p = 2, form = ~ t | id))
    add(paste("ma 1", r, m), "ma 1", ri, reml, corARMA(q = 1, form = ~ t | id))
    add(paste("ma 2", r, m), "ma 2", ri, reml, corARMA(q = 2, form = ~ t | id))
    add(paste("exponential", r, m), "exponential", ri, reml, corCAR1(form = ~ t | id))
    add(paste("exponential corExp", r, m), "exponential", ri, reml,
        corExp(form = ~ t | id))
  }
  add(paste("exchangeable nori", m), "exchangeable", FALSE, reml,
      corCompSymm(form = ~ 1 | id))
  add(paste("unstructured nori", m), "unstructured", FALSE, reml,
      corSymm(form = ~ k | id), varIdent(form = ~ 1 | tf))
}

# manual example 8 (semlevel/datasets/ovary.csv = /work/shared/data/ovary.csv):
# mixed follicles sin1 cos1 || mare:, residuals(ar 2, t(time)) reml
ov <- read.csv(file.path(here, "..", "..", "..", "semlevel", "datasets", "ovary.csv"))
f <- lme(follicles ~ sin1 + cos1, random = ~ 1 | mare, data = ov,
         correlation = corARMA(p = 2, form = ~ time | mare), method = "REML",
         control = lctrl)
fits[["ovary example 8"]] <- list(
  loglik = as.numeric(logLik(f)), n_obs = f$dims$N,
  beta = as.list(setNames(unname(fixef(f)), c("_cons", "sin1", "cos1"))),
  sigma2 = f$sigma^2, var_u = as.numeric(getVarCov(f)[1, 1]),
  cor = as.list(coef(f$modelStruct$corStruct, unconstrained = FALSE)))

info <- list(R = R.version.string, nlme = as.character(packageVersion("nlme")))
writeLines(toJSON(list(info = info, fits = fits), auto_unbox = TRUE, digits = NA,
                  pretty = TRUE), file.path(here, "reference.json"))
cat("wrote", length(fits), "fits to", file.path(here, "reference.json"), "\n")
