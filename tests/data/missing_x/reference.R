# References for tests/test_missing_x.py: lavaan missing = "ml", fixed.x = FALSE (the
# covariates' joint normal distribution estimated with the model, every observed outcome
# used: the full-information likelihood of outcomes and covariates) on the wide form of
# panel.csv (300 units x 4 waves; x time-varying and missing at random given y, w a unit
# covariate missing for some units, y missing in 5% of cells with its x; simulated once
# with numpy's default_rng(18)). Run: Rscript reference.R > reference.json
suppressMessages({library(lavaan); library(jsonlite)})
d <- read.csv("panel.csv")
w <- reshape(d[, c("id", "t", "x", "y")], idvar = "id", timevar = "t", direction = "wide")
w$w <- d$w[match(w$id, d$id)]
ys <- paste0("y.", 1:4); xs <- paste0("x.", 1:4)
common <- paste(c("u =~ ", paste0("1*", ys, collapse = " + "), "\n",
                  "tt =~ ", paste0(1:4, "*", ys, collapse = " + "), "\n",
                  "u ~ b0*1\n tt ~ bt*1\n tt ~~ 0*tt\n tt ~~ 0*u\n u ~~ vu*u\n",
                  paste0(ys, " ~ 0*1", collapse = "\n"), "\n",
                  paste0(ys, " ~~ ve*", ys, collapse = "\n"), "\n"), collapse = "")
models <- list(
  x = paste0(common, paste0(ys, " ~ bx*", xs, collapse = "\n")),
  xw = paste0(common, paste0(ys, " ~ bx*", xs, " + bw*w", collapse = "\n"))
)
out <- list()
for (nm in names(models)) {
  obs <- if (nm == "x") c(xs, ys) else c(xs, ys, "w")
  f <- sem(models[[nm]], data = w[, obs], missing = "ml", fixed.x = FALSE)
  pe <- parameterEstimates(f)
  pe <- pe[pe$label != "" & !duplicated(pe$label), c("label", "est", "se")]
  out[[nm]] <- list(est = setNames(as.list(pe$est), pe$label),
                    se = setNames(as.list(pe$se), pe$label),
                    loglik = as.numeric(logLik(f)), npar = as.integer(attr(logLik(f), "df")),
                    n = nobs(f))
}
cat(toJSON(list(lavaan = as.character(packageVersion("lavaan")), models = out),
           digits = NA, auto_unbox = TRUE, pretty = TRUE))
