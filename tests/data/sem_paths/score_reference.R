# lavaan's score tests (lavTestScore) for semlevel's score tests on the general-SEM route
# (issue 26): the instrumental-variable models A and B of reference.R, each label's
# equality across the four slots released jointly (df = 3), observed information.
#
# Run from anywhere:   Rscript tests/data/sem_paths/score_reference.R
# Needs: R >= 4.2, lavaan 0.6-14, jsonlite.  Writes score_reference.json next to it;
# the tests only read the JSON.
suppressPackageStartupMessages({ library(lavaan); library(jsonlite) })
args <- commandArgs(trailingOnly = FALSE)
file_arg <- args[grep("^--file=", args)]
here <- if (length(file_arg)) dirname(normalizePath(sub("^--file=", "", file_arg))) else
  "tests/data/sem_paths"
S <- 1:4
long <- read.csv(file.path(here, "endogenous.csv"))
long <- long[order(long$id, long$obs), ]
W <- data.frame(id = sort(unique(long$id)))
for (v in c("y", "x", "z")) for (s in S) W[[paste0(v, "_", s)]] <- long[[v]][long$obs == s]
ys <- paste0("y_", S); xs <- paste0("x_", S); zs <- paste0("z_", S)
syn_A <- c(paste0(ys, " ~ b*", xs, " + c*1"), paste0(xs, " ~ g*", zs, " + a*1"),
           paste("k =~", paste0("1*", ys, collapse = " + ")), "k ~~ vk*k",
           paste0(ys, " ~~ ve*", ys), paste0(xs, " ~~ vx*", xs))
syn_B <- c(syn_A, paste0(ys, " ~~ r*", xs))
out <- list()
for (nm in c("A", "B")) {
  syn <- if (nm == "A") syn_A else syn_B
  fit <- sem(syn, data = W, fixed.x = TRUE, missing = "ml", estimator = "ML",
             information = "observed", observed.information = "hessian",
             h1.information = "structured", meanstructure = TRUE, baseline = FALSE,
             control = list(rel.tol = 1e-10))
  stopifnot(lavInspect(fit, "converged"))
  pt <- parTable(fit)
  eq <- which(pt$op == "==")
  label_of <- setNames(pt$label, pt$plabel)
  res <- list()
  for (lb in unique(pt$label[pt$free > 0 & pt$label != ""])) {
    rows <- eq[label_of[pt$lhs[eq]] == lb]
    if (!length(rows)) next
    # lavTestScore's 'release' counts the constraint rows in order
    idx <- match(rows, eq)
    st <- lavTestScore(fit, release = idx, information = "observed", univariate = FALSE)
    res[[lb]] <- list(X2 = st$test$X2, df = st$test$df, p = st$test$p.value)
  }
  out[[nm]] <- list(logl = as.numeric(fitMeasures(fit, "logl")), tests = res)
}
out$lavaan_version <- as.character(packageVersion("lavaan"))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path(here, "score_reference.json"))
