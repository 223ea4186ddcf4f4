# nlme reference for semlevel's residuals(independent, by(var)) (tests/test_residuals_by.py).
#
# Run from anywhere:   Rscript tests/data/nlme/by_reference.R
# Needs: R with nlme and jsonlite.  Writes tests/data/nlme/by_independent.json next to
# itself; the tests only read the JSON (CI never runs R).
#
# Data: by_independent.csv, written by `python tests/test_residuals_by.py` from
# tests/simulate.py repeated_measures_by() (two groups of 40 subjects, grp = 0/1 constant
# within a subject, residual variances 0.7 and 1.4; late = t >= 3 varies within subjects;
# NaN y as an empty field: na.omit = semlevel's complete cases).
#
# semlevel  y x || id:[, noconstant] residuals(independent, t(t) by(<by>)) [reml]
# nlme      gls(y ~ x, weights = varIdent(form = ~ 1 | <by>))             (noconstant)
#           lme(y ~ x, random = ~ 1 | id, weights = varIdent(form = ~ 1 | <by>))
# var(e) of group g = (sigma * delta_g)^2 with delta of the first level = 1
# ("var_ratio" = delta by level).  nlme's REML log likelihood is on Stata's scale.

suppressPackageStartupMessages({
  library(nlme)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))

gctrl <- glsControl(maxIter = 1000, msMaxIter = 1000, tolerance = 1e-12, msTol = 1e-14,
                    returnObject = TRUE)
lctrl <- lmeControl(maxIter = 1000, msMaxIter = 1000, niterEM = 100, tolerance = 1e-12,
                    msTol = 1e-14, returnObject = TRUE)

d <- read.csv(file.path(here, "by_independent.csv"))
d <- d[order(d$id, d$t), ]
d$grp <- factor(d$grp)
d$late <- factor(d$late)

fits <- list()
for (by in c("grp", "late")) {
  w <- varIdent(form = as.formula(paste("~ 1 |", by)))
  for (ri in c(TRUE, FALSE)) {
    for (reml in c(FALSE, TRUE)) {
      method <- if (reml) "REML" else "ML"
      if (ri) {
        f <- lme(y ~ x, random = ~ 1 | id, data = d, weights = w, method = method,
                 na.action = na.omit, control = lctrl)
        var_u <- as.numeric(getVarCov(f)[1, 1])
        beta <- fixef(f)
      } else {
        f <- gls(y ~ x, data = d, weights = w, method = method, na.action = na.omit,
                 control = gctrl)
        var_u <- 0
        beta <- coef(f)
      }
      key <- paste("independent by", by, if (ri) "ri" else "nori", if (reml) "reml" else "ml")
      fits[[key]] <- list(
        by = by, intercept = ri, reml = reml, loglik = as.numeric(logLik(f)),
        n_obs = f$dims$N, beta = list(`_cons` = unname(beta[1]), x = unname(beta[2])),
        sigma2 = f$sigma^2, var_u = var_u,
        var_ratio = as.list(coef(f$modelStruct$varStruct, unconstrained = FALSE,
                                 allCoef = TRUE)))
    }
  }
}

info <- list(R = R.version.string, nlme = as.character(packageVersion("nlme")))
writeLines(toJSON(list(info = info, fits = fits), auto_unbox = TRUE, digits = NA,
                  pretty = TRUE), file.path(here, "by_independent.json"))
cat("wrote", length(fits), "fits to", file.path(here, "by_independent.json"), "\n")
