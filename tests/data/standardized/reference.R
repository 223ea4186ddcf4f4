# lavaan's standardizedSolution() for semlevel's fit.standardized() (issue 23):
# the wide model of "y x w || id:" on complete balanced data (200 ids x 3 slots,
# every slot observed, so lavaan's sample moments of the exogenous x, w are those of
# each slot's observations), type "std.all" and "std.lv" with delta-method SEs from
# the observed information.
#
# Run from anywhere:   Rscript tests/data/standardized/reference.R
# Needs: R >= 4.2, lavaan 0.6-14, jsonlite.  Writes reference.json next to it.
suppressPackageStartupMessages({ library(lavaan); library(jsonlite) })
args <- commandArgs(trailingOnly = FALSE)
file_arg <- args[grep("^--file=", args)]
here <- if (length(file_arg)) dirname(normalizePath(sub("^--file=", "", file_arg))) else
  "tests/data/standardized"
long <- read.csv(file.path(here, "two_level.csv"))
S <- 1:3
W <- data.frame(id = sort(unique(long$id)))
for (v in c("y", "x", "w")) for (s in S) W[[paste0(v, "_", s)]] <- long[[v]][long$obs == s]
ys <- paste0("y_", S)
syn <- c(paste0(ys, " ~ b*x_", S, " + g*w_", S, " + c*1"),
         paste("k =~", paste0("1*", ys, collapse = " + ")), "k ~~ vk*k",
         paste0(ys, " ~~ ve*", ys))
fit <- sem(syn, data = W, fixed.x = TRUE, missing = "ml", estimator = "ML",
           information = "observed", observed.information = "hessian",
           h1.information = "structured", meanstructure = TRUE, baseline = FALSE,
           control = list(rel.tol = 1e-10))
stopifnot(lavInspect(fit, "converged"))
all <- standardizedSolution(fit, type = "std.all", se = TRUE)
lv <- standardizedSolution(fit, type = "std.lv", se = TRUE)
keep <- all$op %in% c("~", "=~", "~~", "~1") & !(all$lhs %in% c(paste0("x_", S), paste0("w_", S)))
rows <- lapply(which(keep), function(i) list(lhs = all$lhs[i], op = all$op[i], rhs = all$rhs[i],
  std_all = all$est.std[i], se_all = all$se[i], std_lv = lv$est.std[i], se_lv = lv$se[i]))
out <- list(logl = as.numeric(fitMeasures(fit, "logl")), rows = rows,
            lavaan_version = as.character(packageVersion("lavaan")))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), file.path(here, "reference.json"))
