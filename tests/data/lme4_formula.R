# lme4 references for the lme4-style formula front end (tests/test_formula.py).
#
# Run from anywhere:   Rscript tests/data/lme4_formula.R
# Needs: r-cran-lme4 (jsonlite comes with it).  Writes tests/data/lme4_formula.json;
# the tests only read that JSON: CI never runs R.
# Data are the shipped datasets (semlevel/datasets/*.csv), read as double precision.
# The formulas are written exactly as the tests pass them to sl.lmer().

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))
repo <- normalizePath(file.path(here, "..", ".."))
shipped <- function(name) read.csv(file.path(repo, "semlevel", "datasets", paste0(name, ".csv")))

pig <- shipped("pig")
prod <- shipped("productivity")
t43 <- shipped("t43")
ovary <- shipped("ovary")
ovary$half <- as.integer(ovary$mare > 6)        # mares 7-11 vs 1-6 (a made-up factor)
# the article's design (tests/data/art.csv, tests/simulate.py article(seed=1)), unbalanced:
# every 10th row from the 4th dropped (0-based row index mod 10 == 3), as
# examples/article_sem_equals_mixed.py does
art <- read.csv(file.path(here, "art.csv"))
art_unbalanced <- art[(seq_len(nrow(art)) - 1) %% 10 != 3, ]

ctrl <- lmerControl(
  optimizer = "nloptwrap",
  optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-14, xtol_rel = 1e-12,
                 ftol_rel = 1e-15, maxeval = 1e5),
  check.conv.singular = "ignore"
)

one_fit <- function(formula, data, dataname, reml, derived = "") {
  f <- lmer(as.formula(formula), data = data, REML = reml, control = ctrl)
  ll <- logLik(f)
  vc <- as.data.frame(VarCorr(f))
  vc$var1[is.na(vc$var1)] <- ""
  vc$var2[is.na(vc$var2)] <- ""
  fe <- fixef(f)
  se <- sqrt(diag(as.matrix(vcov(f))))
  names(se) <- names(fe)
  list(
    data = dataname,
    derived = derived,
    formula = formula,
    reml = reml,
    nobs = nobs(f),
    ngroups = as.list(ngrps(f)),
    logLik = as.numeric(ll),
    df = attr(ll, "df"),
    fixef = as.list(fe),
    se = as.list(se),
    varcomp = lapply(seq_len(nrow(vc)), function(r)
      list(grp = vc$grp[r], var1 = vc$var1[r], var2 = vc$var2[r], vcov = vc$vcov[r])),
    singular = isSingular(f)
  )
}

models <- list(
  list("ex10_crossed", "weight ~ week + (1 | week) + (1 | id)", pig, "pig", FALSE, ""),
  list("ex4_nested", "gsp ~ private + emp + hwy + water + other + unemp + (1 | region/state)",
       prod, "productivity", FALSE, ""),
  list("ex13_factor", "score ~ factor(drug) + (1 | person)", t43, "t43", TRUE, ""),
  list("pig_quadratic", "weight ~ week + I(week^2) + (week | id)", pig, "pig", TRUE, ""),
  list("pig_no_intercept", "weight ~ 0 + factor(week) + (1 | id)", pig, "pig", FALSE, ""),
  list("ovary_interaction", "follicles ~ factor(half) * sin1 + cos1 + (1 | mare)", ovary, "ovary",
       FALSE, "half = 1 if mare > 6 else 0"),
  list("ovary_independent", "follicles ~ sin1 + cos1 + (1 + sin1 || mare)", ovary, "ovary",
       TRUE, ""),
  list("ovary_slope_only", "follicles ~ sin1:cos1 + (0 + sin1 | mare)", ovary, "ovary",
       FALSE, ""),
  list("article_unbalanced", "y ~ x + (1 | k/j)", art_unbalanced, "art.csv", FALSE,
       "rows with 0-based index mod 10 == 3 dropped")
)

fits <- list()
for (m in models) fits[[m[[1]]]] <- one_fit(m[[2]], m[[3]], m[[4]], m[[5]], m[[6]])

out <- list(
  meta = list(
    generated_by = "tests/data/lme4_formula.R",
    R_version = R.version.string,
    lme4_version = as.character(packageVersion("lme4")),
    notes = "logLik is the restricted log likelihood when reml is true; varcomp as as.data.frame(VarCorr())."
  ),
  fits = fits
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null"),
           file.path(here, "lme4_formula.json"))
cat("wrote", file.path(here, "lme4_formula.json"), "\n")
