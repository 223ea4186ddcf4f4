# Cross-check references from R/lme4 for the semlevel test-suite.
#
# Run from anywhere:   Rscript tests/data/r_reference.R
# Needs: apt-get install r-base-core r-cran-lme4   (jsonlite comes with it)
# Writes tests/data/r_reference.json.  The tests only read that JSON: CI never runs R.
#
# Data: sim2.csv / sim3.csv / art.csv are written by tests/simulate.py
# (two_level(seed=1), three_level(seed=2), article(seed=1)); NaN is an empty
# field, read as NA here.  lme4 drops every row with an NA in a variable of the
# model (na.action = na.omit), which is exactly "complete cases on y and the
# covariates" in Python.  pig.csv is the manual's dataset (semlevel/datasets,
# identical to /work/shared/data/pig.csv).

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))
repo <- normalizePath(file.path(here, "..", ".."))

sim2 <- read.csv(file.path(here, "sim2.csv"))
sim3 <- read.csv(file.path(here, "sim3.csv"))
art  <- read.csv(file.path(here, "art.csv"))
pig  <- read.csv(file.path(repo, "semlevel", "datasets", "pig.csv"))

# Tight optimiser settings: the defaults stop ~1e-6..1e-4 short of the optimum
# in the log likelihood, and the tests compare at 1e-5 or better.
ctrl <- lmerControl(
  optimizer = "nloptwrap",
  optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-14, xtol_rel = 1e-12,
                 ftol_rel = 1e-15, maxeval = 1e5),
  check.conv.singular = "ignore"
)

fits <- list()

one_fit <- function(name, formula, data, dataname, reml) {
  f <- lmer(formula, data = data, REML = reml, control = ctrl)
  ll <- logLik(f)
  vc <- as.data.frame(VarCorr(f))
  vc$var1[is.na(vc$var1)] <- ""
  vc$var2[is.na(vc$var2)] <- ""
  fe <- fixef(f)
  se <- sqrt(diag(as.matrix(vcov(f))))
  names(se) <- names(fe)
  ng <- ngrps(f)
  list(
    data = dataname,
    formula = paste(deparse(formula, width.cutoff = 500L), collapse = " "),
    reml = reml,
    nobs = nobs(f),
    ngroups = as.list(ng),
    logLik = as.numeric(ll),
    df = attr(ll, "df"),
    AIC = AIC(f),
    BIC = BIC(f),
    deviance_or_REMLcrit = as.numeric(if (reml) REMLcrit(f) else deviance(f)),
    fixef = as.list(fe),
    se = as.list(se),
    vcov_fixef = unname(as.matrix(vcov(f))),
    varcomp = lapply(seq_len(nrow(vc)), function(r)
      list(grp = vc$grp[r], var1 = vc$var1[r], var2 = vc$var2[r],
           vcov = vc$vcov[r], sdcor = vc$sdcor[r])),
    sigma2 = sigma(f)^2,
    theta = unname(getME(f, "theta")),
    singular = isSingular(f),
    optimizer_messages = as.list(f@optinfo$conv$lme4$messages)
  )
}

models <- list(
  list("sim2_corr",  y ~ x + t + (1 + t | id),            sim2, "sim2.csv"),
  list("sim2_indep", y ~ x + t + (1 | id) + (0 + t | id), sim2, "sim2.csv"),
  list("sim3",       y ~ x + (1 | k) + (1 | k:j),          sim3, "sim3.csv"),
  list("art",        y ~ x + (1 | k) + (1 | k:j),          art,  "art.csv"),
  list("pig_ri",     weight ~ week + (1 | id),             pig,  "pig.csv"),
  list("pig_indep",  weight ~ week + (1 + week || id),     pig,  "pig.csv"),
  list("pig_corr",   weight ~ week + (1 + week | id),      pig,  "pig.csv")
)

for (m in models) {
  for (reml in c(FALSE, TRUE)) {
    key <- paste0(m[[1]], if (reml) "_reml" else "_ml")
    fits[[key]] <- one_fit(key, m[[2]], m[[3]], m[[4]], reml)
  }
}

# Linear-model (no random effects) log likelihoods on the same rows, for the
# "LR test vs. linear model": ML and REML (R's logLik.lm REML convention).
lm_refs <- list()
for (m in models) {
  fr <- model.frame(lme4::nobars(m[[2]]), data = m[[3]], na.action = na.omit)
  l <- lm(lme4::nobars(m[[2]]), data = m[[3]])
  lm_refs[[m[[1]]]] <- list(
    nobs = nrow(fr),
    logLik_ml = as.numeric(logLik(l, REML = FALSE)),
    logLik_reml = as.numeric(logLik(l, REML = TRUE))
  )
}

out <- list(
  meta = list(
    generated_by = "tests/data/r_reference.R",
    R_version = R.version.string,
    lme4_version = as.character(packageVersion("lme4")),
    notes = paste(
      "logLik is the log restricted likelihood for *_reml fits;",
      "df = attr(logLik, 'df') = #fixef + #theta + 1 (residual), also under REML;",
      "AIC/BIC use that logLik and df; varcomp rows follow as.data.frame(VarCorr()),",
      "var2 non-empty = covariance (vcov) / correlation (sdcor); residual row grp = 'Residual'.")
  ),
  fits = fits,
  lm = lm_refs
)

writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null"),
           file.path(here, "r_reference.json"))
cat("wrote", file.path(here, "r_reference.json"), "\n")
