# Reference numbers for small-sample inference on fixed effects (semlevel's dfmethod()).
#
# Run from anywhere:  Rscript tests/data/dfmethod/r_dfmethod.R
# Needs: apt-get install r-cran-lme4 r-cran-lmertest r-cran-pbkrtest   (jsonlite comes with them)
# Writes tests/data/dfmethod/dfmethod_reference.json; the tests only read that JSON.
#
# Which information matrix each reference uses:
# * lmerTest (and pbkrtest's SATmodcomp, a copy of it): Satterthwaite with the covariance of
#   the variance parameters from the numerical Hessian of the REML deviance in lme4's
#   (theta, sigma) -- an *observed* information.  At an interior optimum the DF do not depend
#   on the parametrisation, so these are semlevel's dfmethod(satterthwaite, oim).
# * pbkrtest (vcovAdj, KRmodcomp): Kenward-Roger with W = the inverse *expected* REML
#   information in the (co)variance parameters (linear in V, so the R_ij terms vanish):
#   semlevel's (and Stata's default) dfmethod(kroger, eim).
# * "sat_eim": Satterthwaite / Fai-Cornelius computed here from pbkrtest's W (expected
#   information) and P_i matrices: semlevel's dfmethod(satterthwaite, eim), Stata's default.
#   For one restriction it equals pbkrtest's Kenward-Roger ddf (a known identity).
suppressPackageStartupMessages({
  library(lmerTest)
  library(pbkrtest)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))
repo <- normalizePath(file.path(here, "..", "..", ".."))
dat <- function(name) read.csv(file.path(repo, "semlevel", "datasets", paste0(name, ".csv")))

ctrl <- lmerControl(optimizer = "nloptwrap",
                    optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-14, xtol_rel = 1e-12,
                                   ftol_rel = 1e-15, maxeval = 1e5),
                    check.conv.singular = "ignore")

pig <- dat("pig")
# unbalanced: drop the rows with (7 id + 3 week) divisible by 5 (the tests apply the same rule)
pigu <- pig[(7 * pig$id + 3 * pig$week) %% 5 != 0, ]
prod <- dat("productivity")
t43 <- dat("t43")
t43$drug <- factor(t43$drug)

# Satterthwaite/Fai-Cornelius from pbkrtest's expected-information W and P_i
sat_eim <- function(L, Phi, PhiA) {
  P <- attr(PhiA, "P"); W <- as.matrix(attr(PhiA, "W"))
  V <- L %*% Phi %*% t(L)
  e <- eigen(V, symmetric = TRUE)
  nu <- sapply(seq_len(nrow(L)), function(m) {
    cm <- drop(t(L) %*% e$vectors[, m])
    d <- sapply(P, function(Pi) as.numeric(t(cm) %*% Phi %*% Pi %*% Phi %*% cm))
    2 * e$values[m]^2 / as.numeric(t(d) %*% W %*% d)
  })
  if (length(nu) == 1) return(nu)
  if (any(nu <= 2)) return(2)
  E <- sum(nu / (nu - 2))
  2 * E / (E - length(nu))
}

one_case <- function(name, formula, data, hyps) {
  f <- lmer(formula, data = data, REML = TRUE, control = ctrl)
  beta <- fixef(f)
  Phi <- as.matrix(vcov(f))
  PhiA <- vcovAdj(f)
  sm <- summary(f, ddf = "Satterthwaite")$coefficients
  tests <- lapply(names(hyps), function(h) {
    L <- hyps[[h]]
    colnames(L) <- names(beta)
    sat <- contest(f, L, ddf = "Satterthwaite", joint = TRUE)
    kr <- KRmodcomp(f, L)$test
    list(name = h, L = L,
         sat_oim = list(F = sat[["F value"]], ndf = sat[["NumDF"]], ddf = sat[["DenDF"]]),
         kr_eim = list(F = kr["Ftest", "stat"], ndf = kr["Ftest", "ndf"],
                       ddf = kr["Ftest", "ddf"], F_scaling = kr["Ftest", "F.scaling"],
                       p = kr["Ftest", "p.value"]),
         sat_eim = list(ddf = sat_eim(L, Phi, PhiA)))
  })
  vc <- as.data.frame(VarCorr(f))
  list(name = name, formula = paste(deparse(formula), collapse = " "),
       nobs = nobs(f), reml_loglik = as.numeric(logLik(f)),
       coef = as.list(beta), vcov = Phi, vcov_kr = as.matrix(PhiA),
       se_kr = sqrt(diag(as.matrix(PhiA))),
       varcomp = vc[, c("grp", "var1", "var2", "vcov")],
       sat_oim_df = as.list(setNames(sm[, "df"], rownames(sm))),
       sat_oim_t = as.list(setNames(sm[, "t value"], rownames(sm))),
       tests = tests)
}

unit <- function(k, j) { L <- matrix(0, 1, k); L[1, j] <- 1; L }
cases <- list(
  one_case("pig_slopes", weight ~ week + (week | id), pig,
           list(week = unit(2, 2), `_cons` = unit(2, 1), joint = diag(2))),
  one_case("pig_quadratic_unbalanced", weight ~ week + I(week^2) + (week | id), pigu,
           list(week = unit(3, 2), `c.week#c.week` = unit(3, 3), `_cons` = unit(3, 1),
                model = rbind(unit(3, 2), unit(3, 3)))),
  one_case("productivity_nested",
           gsp ~ private + emp + hwy + water + other + unemp + (1 | region) + (1 | region:state),
           prod, c(setNames(lapply(2:7, function(j) unit(7, j)),
                            c("private", "emp", "hwy", "water", "other", "unemp")),
                   list(model = cbind(0, diag(6))))),
  one_case("t43_drug", score ~ drug + (1 | person), t43,
           list(`2.drug` = unit(4, 2), `_cons` = unit(4, 1), model = cbind(0, diag(3))))
)
out <- list(generated_by = "tests/data/dfmethod/r_dfmethod.R",
            R = R.version.string,
            versions = list(lme4 = as.character(packageVersion("lme4")),
                            lmerTest = as.character(packageVersion("lmerTest")),
                            pbkrtest = as.character(packageVersion("pbkrtest"))),
            cases = cases)
writeLines(toJSON(out, digits = I(15), auto_unbox = TRUE, pretty = TRUE, matrix = "rowmajor"),
           file.path(here, "dfmethod_reference.json"))
