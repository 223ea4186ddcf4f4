# nlme reference for semlevel's rstandard with correlated errors: nlme's "normalized"
# residuals (standardised residuals premultiplied by the inverse Cholesky factor of the
# within-group error correlation, in time order) of a random-intercept model with AR(1)
# errors, and its level-1 fitted values and BLUPs.
#
# Run from anywhere:   Rscript tests/data/predict/nlme_ar1.R
# Reads tests/data/nlme/ar1.csv, writes nlme_ar1.json next to itself.

suppressPackageStartupMessages({
  library(nlme)
  library(jsonlite)
})
args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))
d <- read.csv(file.path(here, "..", "nlme", "ar1.csv"))
d <- d[!is.na(d$y), ]
lctrl <- lmeControl(maxIter = 1000, msMaxIter = 1000, niterEM = 100, tolerance = 1e-12,
                    msTol = 1e-14, returnObject = TRUE)
f <- lme(y ~ x, random = ~ 1 | id, data = d, correlation = corAR1(form = ~ t | id),
         method = "ML", control = lctrl)
# nlme sorts by group internally; report in the order of the data rows given
out <- list(
  generated_by = "tests/data/predict/nlme_ar1.R",
  nlme_version = as.character(packageVersion("nlme")),
  loglik = as.numeric(logLik(f)),
  id = d$id, t = d$t,
  fitted = unname(fitted(f, level = 1)),
  normalized = unname(residuals(f, type = "normalized", level = 1)),
  ranef_id = as.numeric(rownames(ranef(f))),
  ranef = unname(ranef(f)[, 1])
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path(here, "nlme_ar1.json"))
cat("wrote", file.path(here, "nlme_ar1.json"), "\n")
