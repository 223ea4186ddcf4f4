# lme4 reference for examples/article_story.py (the article's second story), used by
# tests/test_examples.py.  The data are simulated by the example itself (numpy), so they
# are written to a CSV first, then this script fits
#   1. the mixed model  y x || region: || county: || school:
#   2. the same with one county variance for northern and one for southern counties
#      (the story's fit_ns), as lme4 writes a variance by group: two county terms on
#      0/1 indicators.
# Run from the repository root:
#   python -c "import sys; sys.path[:0] = ['.', 'examples']; import article_story as s; s.simulate().to_csv('/tmp/article_story.csv', index=False, float_format='%.17g')"
#   Rscript tests/data/article_story_lme4.R /tmp/article_story.csv
# Writes tests/data/article_story_lme4.json; CI never runs R.

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})
args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))
repo <- normalizePath(file.path(here, "..", ".."))
csv <- commandArgs(trailingOnly = TRUE)[1]
d <- read.csv(csv)
d <- d[!is.na(d$y), ]
d$north <- as.numeric(substr(d$county, 1, 1) == "N")
d$south <- 1 - d$north

ctrl <- lmerControl(optimizer = "nloptwrap",
                    optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-14, xtol_rel = 1e-12,
                                   ftol_rel = 1e-15, maxeval = 1e5),
                    check.conv.singular = "ignore")
one <- function(f) {
  fit <- lmer(f, data = d, REML = FALSE, control = ctrl)
  vc <- as.data.frame(VarCorr(fit))
  list(formula = paste(deparse(f, width.cutoff = 500L), collapse = " "),
       nobs = nobs(fit), logLik = as.numeric(logLik(fit)), fixef = as.list(fixef(fit)),
       varcomp = setNames(as.list(vc$vcov), trimws(paste(vc$grp, ifelse(is.na(vc$var1), "", vc$var1)))))
}
out <- list(
  meta = list(generated_by = "tests/data/article_story_lme4.R", R_version = R.version.string,
              lme4_version = as.character(packageVersion("lme4"))),
  mixed = one(y ~ x + (1 | region/county/school)),
  north_south = one(y ~ x + (1 | region) + (0 + north | region:county) +
                      (0 + south | region:county) + (1 | region:county:school))
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path(here, "article_story_lme4.json"))
cat("wrote", file.path(here, "article_story_lme4.json"), "\n")
