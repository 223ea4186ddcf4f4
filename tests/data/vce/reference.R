# lavaan reference for semlevel's sandwich (robust) standard errors.
#
# Run from anywhere:   Rscript tests/data/vce/reference.R
# Needs: R >= 4.2 with lavaan (0.6.14 used) and jsonlite.
# Reads  two_level.csv (tests/simulate.py: two_level(21, n_groups=80, size_range=(1, 6),
#        slope=True, missing=0.15), plus a top-level weight wr per id; NaN is an empty field)
# Writes reference.json next to this script. The tests only read the JSON.
#
# The wide model is the one semlevel builds for "y x t || id:" (random intercept only,
# while the data have a random slope on t: the robust and model-based SEs differ):
#   * rows with a missing y or x are left out, then the observations of each id are
#     numbered 1, 2, ... in their order: slot s (semlevel: y[obs=s]);
#   * a slot a row does not have: y is NA, x and t are 0 (fixed.x: the likelihood of y
#     given x does not depend on them);
#   * latent f loading 1 on every y_s, mean 0, variance vf; y_s ~ c + b x_s + bt t_s;
#     residual variances ve.
# Fits:
#   mlr      MLR's standard errors (se "robust.huber.white"), information "observed",
#            observed.information "hessian"
#            (the bread is the inverse joint observed information), no small-sample
#            factor: semlevel's robust_vcov(fit, bread="full", small_sample=False);
#   weighted the same with sampling.weights = wr (normalization "none"): the top-level
#            pweight fit of semlevel, same options.

suppressPackageStartupMessages({
  library(lavaan)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))
long <- read.csv(file.path(here, "two_level.csv"))

ob <- long[!is.na(long$y) & !is.na(long$x), ]
ob$s <- ave(ob$t, ob$id, FUN = seq_along)
S <- max(ob$s)
ids <- sort(unique(ob$id))
W <- data.frame(id = ids)
for (s in seq_len(S)) {
  sub <- ob[ob$s == s, ]
  at <- match(ids, sub$id)
  W[[paste0("y_", s)]] <- sub$y[at]
  xv <- sub$x[at]; xv[is.na(xv)] <- 0
  tv <- sub$t[at]; tv[is.na(tv)] <- 0
  W[[paste0("x_", s)]] <- xv
  W[[paste0("t_", s)]] <- tv
}
W$wr <- long$wr[match(ids, long$id)]
stopifnot(sum(!is.na(as.matrix(W[, paste0("y_", 1:S)]))) == nrow(ob))

ys <- paste0("y_", 1:S)
model <- paste(
  paste0("f =~ ", paste0("1*", ys, collapse = " + ")),
  paste0(ys, " ~ b*x_", 1:S, " + bt*t_", 1:S, collapse = "\n"),
  paste0(ys, " ~ c*1", collapse = "\n"),
  paste0(ys, " ~~ ve*", ys, collapse = "\n"),
  "f ~~ vf*f",
  sep = "\n")

fit_one <- function(weights = NULL) {
  # MLR's standard errors (se = "robust.huber.white"); no test statistic, no h1 or
  # baseline model: the saturated model of 18 sparse wide columns is not estimable
  sem(model, data = W, estimator = "ML", se = "robust.huber.white", test = "none",
      missing = "ml", fixed.x = TRUE, h1 = FALSE, baseline = FALSE,
      information = "observed", observed.information = "hessian",
      sampling.weights = weights, sampling.weights.normalization = "none")
}

summarise <- function(fit) {
  pe <- parameterEstimates(fit)
  pe <- pe[pe$label %in% c("b", "bt", "c", "vf", "ve"), ]
  pe <- pe[!duplicated(pe$label), ]
  out <- list()
  for (i in seq_len(nrow(pe))) out[[pe$label[i]]] <- list(est = pe$est[i], se = pe$se[i])
  list(converged = lavInspect(fit, "converged"), logl = as.numeric(logLik(fit)),
       nobs = lavInspect(fit, "nobs"), options = list(
         information = lavInspect(fit, "options")$information,
         observed.information = lavInspect(fit, "options")$observed.information,
         se = lavInspect(fit, "options")$se),
       estimates = out)
}

mlr <- fit_one()
weighted <- fit_one("wr")
res <- list(about = paste("lavaan", as.character(packageVersion("lavaan")),
                          "MLR sandwich SEs of the wide random-intercept model"),
            slots = S, n_rows = nrow(W), n_used = nrow(ob),
            mlr = summarise(mlr), weighted = summarise(weighted))
writeLines(toJSON(res, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path(here, "reference.json"))
cat("wrote", file.path(here, "reference.json"), "\n")
