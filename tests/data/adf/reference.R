# ADF/WLS references for tests/test_adf.py: lavaan estimator = "WLS" on the wide form of
# growth.csv (400 units x 4 waves, complete; skewed errors, simulated once with numpy's
# default_rng(2026): see the test module), the mixed models written as lavaan models.
# Run: Rscript reference.R > reference.json   (needs lavaan, jsonlite)
suppressMessages({library(lavaan); library(jsonlite)})
d <- read.csv("growth.csv")
w <- reshape(d, idvar = "id", timevar = "t", direction = "wide")
ys <- paste0("y.", 1:4)
means <- paste(c("i =~ ", paste0("1*", ys, collapse = " + "), "\n",
                 "s =~ ", paste0(1:4, "*", ys, collapse = " + "), "\n",
                 "i ~ b0*1\n s ~ b1*1\n", paste0(ys, " ~ 0*1", collapse = "\n"), "\n"),
               collapse = "")
models <- list(
  intercept = paste0(means, "s ~~ 0*s\n i ~~ 0*s\n i ~~ vu*i\n",
                     paste0(ys, " ~~ ve*", ys, collapse = "\n")),
  hetero = paste0(means, "s ~~ 0*s\n i ~~ 0*s\n i ~~ vu*i\n",
                  paste0(ys, " ~~ ve", 1:4, "*", ys, collapse = "\n")),
  slope = paste0(means, "s ~~ vs*s\n i ~~ cis*s\n i ~~ vu*i\n",
                 paste0(ys, " ~~ ve*", ys, collapse = "\n"))
)
out <- list()
for (nm in names(models)) {
  f <- sem(models[[nm]], data = w, estimator = "WLS")
  pe <- parameterEstimates(f)
  pe <- pe[pe$label != "" & !duplicated(pe$label), c("label", "est", "se")]
  fm <- fitMeasures(f, c("chisq", "df", "pvalue"))
  out[[nm]] <- list(est = setNames(as.list(pe$est), pe$label),
                    se = setNames(as.list(pe$se), pe$label),
                    chisq = unname(fm["chisq"]), df = unname(fm["df"]),
                    pvalue = unname(fm["pvalue"]), n = nobs(f))
}
cat(toJSON(list(lavaan = as.character(packageVersion("lavaan")), models = out),
           digits = NA, auto_unbox = TRUE, pretty = TRUE))
