# lme4 reference for semlevel's predictions (BLUPs, their conditional SDs, fitted values,
# predictions for new data, scaled residuals) and profile-likelihood confidence intervals.
#
# Run from anywhere:   Rscript tests/data/predict/reference.R
# Reads semlevel/datasets/pig.csv and productivity.csv, writes reference.json next to
# itself. The tests only read the JSON: CI never runs R.

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))
repo <- normalizePath(file.path(here, "..", "..", ".."))
pig  <- read.csv(file.path(repo, "semlevel", "datasets", "pig.csv"))
prod <- read.csv(file.path(repo, "semlevel", "datasets", "productivity.csv"))

ctrl <- lmerControl(
  optimizer = "nloptwrap",
  optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-14, xtol_rel = 1e-12,
                 ftol_rel = 1e-15, maxeval = 1e5),
  check.conv.singular = "ignore"
)

# New data: known pigs at observed and unobserved weeks, a pig not in the sample
# (lme4: allow.new.levels = TRUE, random effects 0).
newdata <- data.frame(id = c(1, 1, 2, 48, 999, 999),
                      week = c(1, 12, 4.5, 9, 3, 10))

ranef_table <- function(f, grp) {
  # as.data.frame(ranef(condVar = TRUE)): one row per (group, term), condsd = sqrt(condVar)
  re <- as.data.frame(ranef(f, condVar = TRUE))
  re <- re[re$grpvar == grp, ]
  out <- list(group = unique(as.character(re$grp)))
  for (nm in unique(as.character(re$term))) {
    sub <- re[re$term == nm, ]
    sub <- sub[match(out$group, as.character(sub$grp)), ]
    out[[nm]] <- sub$condval
    out[[paste0("sd_", nm)]] <- sub$condsd
  }
  out
}

pred_case <- function(formula, data, reml, groups, new = NULL, profile = FALSE) {
  f <- lmer(formula, data = data, REML = reml, control = ctrl)
  out <- list(
    formula = paste(deparse(formula, width.cutoff = 500L), collapse = " "),
    reml = reml,
    logLik = as.numeric(logLik(f)),
    fitted = unname(fitted(f)),
    xb = unname(predict(f, re.form = NA)),
    residuals = unname(residuals(f)),
    scaled_residuals = unname(residuals(f, scaled = TRUE)),
    sigma = sigma(f),
    ranef = lapply(setNames(groups, groups), function(g) ranef_table(f, g))
  )
  if (!is.null(new)) {
    out$newdata <- new
    out$predict_new <- unname(predict(f, newdata = new, allow.new.levels = TRUE))
    out$predict_new_xb <- unname(predict(f, newdata = new, re.form = NA))
  }
  if (profile) {
    pr <- profile(f, signames = FALSE)
    ci <- confint(pr, level = 0.95)
    out$profile <- list(parameter = rownames(ci), lower = unname(ci[, 1]),
                        upper = unname(ci[, 2]))
    ci90 <- confint(pr, level = 0.90)
    out$profile90 <- list(parameter = rownames(ci90), lower = unname(ci90[, 1]),
                          upper = unname(ci90[, 2]))
  }
  out
}

# Rows dropped from estimation (R row numbers 5 and 100: weight missing; 200: week
# missing): lme4 fits the complete rows; predict(newdata = all rows) gives the rows
# with a missing weight their pig's BLUP and the row with a missing week NA.
pig_na <- pig
pig_na$weight[c(5, 100)] <- NA
pig_na$week[200] <- NA
f_na <- lmer(weight ~ week + (1 + week || id), data = pig_na, REML = FALSE, control = ctrl)
missing_case <- list(
  weight_na_rows = c(5, 100), week_na_rows = 200,
  logLik = as.numeric(logLik(f_na)),
  predict_all = unname(predict(f_na, newdata = pig_na, na.action = na.pass)),
  predict_all_xb = unname(predict(f_na, newdata = pig_na, re.form = NA, na.action = na.pass))
)

# Stack Exchange question 48254 (Stata's reses vs lme4's condVar): 12 ids x 2 occasions.
se48254 <- data.frame(id = rep(1:12, 2),
                      g = c(12, 8, 22, 10, 10, 6, 8, 4, 14, 6, 2, 22,
                            12, 7, 24, 14, 8, 4, 5, 6, 14, 5, 5, 16))

cases <- list(
  se48254_reml = pred_case(g ~ 1 + (1 | id), se48254, TRUE, "id"),
  pig_missing_ml = missing_case,
  pig_indep_ml = pred_case(weight ~ week + (1 + week || id), pig, FALSE, "id", newdata,
                           profile = TRUE),
  pig_corr_ml  = pred_case(weight ~ week + (1 + week | id), pig, FALSE, "id", newdata,
                           profile = TRUE),
  pig_ri_reml  = pred_case(weight ~ week + (1 | id), pig, TRUE, "id", newdata),
  pig_crossed_ml = pred_case(weight ~ week + (1 | week) + (1 | id), pig, FALSE,
                             c("week", "id"), newdata),
  prod_nested_ml = pred_case(gsp ~ private + emp + hwy + water + other + unemp +
                               (1 | region) + (1 | region:state), prod, FALSE,
                             c("region", "region:state"))
)

out <- list(
  meta = list(
    generated_by = "tests/data/predict/reference.R",
    R_version = R.version.string,
    lme4_version = as.character(packageVersion("lme4")),
    notes = paste(
      "ranef: conditional modes (BLUPs); sd_<term>: sqrt of condVar (postVar) diagonals,",
      "the conditional SD of the random effect given the data at the estimates (beta",
      "treated as known); fitted/xb/residuals in data order; scaled_residuals =",
      "residuals/sigma; profile: confint(profile(fit), signames = FALSE): sd_<term>|<grp>,",
      "cor_<a>.<b>|<grp>, sigma and the fixed effects.")
  ),
  cases = cases
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null"),
           file.path(here, "reference.json"))
cat("wrote", file.path(here, "reference.json"), "\n")
