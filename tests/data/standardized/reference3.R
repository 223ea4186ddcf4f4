# lavaan's standardizedSolution() for the article's 2 x 2 three-level model
# (y x || k: || j:, two schools j of two pupils i per county k; 150 counties, complete,
# so every slot's sample moments are over all 150 rows), as reference.R does for two
# levels.  Rscript tests/data/standardized/reference3.R  ->  reference3.json
suppressPackageStartupMessages({ library(lavaan); library(jsonlite) })
args <- commandArgs(trailingOnly = FALSE)
file_arg <- args[grep("^--file=", args)]
here <- if (length(file_arg)) dirname(normalizePath(sub("^--file=", "", file_arg))) else
  "tests/data/standardized"
long <- read.csv(file.path(here, "three_level.csv"))
W <- data.frame(county = sort(unique(long$k)))
for (v in c("y", "x")) for (j in 1:2) for (i in 1:2)
  W[[sprintf("%s_%d_%d", v, j, i)]] <- long[[v]][long$j == j & long$i == i]
ys <- sprintf("y_%d_%d", rep(1:2, each = 2), rep(1:2, 2))
xs <- sub("y_", "x_", ys)
syn <- c(paste0(ys, " ~ b*", xs, " + c*1"),
         paste("k =~", paste0("1*", ys, collapse = " + ")),
         "j1 =~ 1*y_1_1 + 1*y_1_2", "j2 =~ 1*y_2_1 + 1*y_2_2",
         "k ~~ vk*k", "j1 ~~ vj*j1", "j2 ~~ vj*j2",
         "k ~~ 0*j1", "k ~~ 0*j2", "j1 ~~ 0*j2",
         paste0(ys, " ~~ ve*", ys))
fit <- sem(syn, data = W, fixed.x = TRUE, missing = "ml", estimator = "ML",
           information = "observed", observed.information = "hessian",
           h1.information = "structured", meanstructure = TRUE, baseline = FALSE,
           control = list(rel.tol = 1e-10))
stopifnot(lavInspect(fit, "converged"))
all <- standardizedSolution(fit, type = "std.all", se = TRUE)
lv <- standardizedSolution(fit, type = "std.lv", se = TRUE)
keep <- all$op %in% c("~", "=~", "~~", "~1") & !(all$lhs %in% xs) &
  !(all$op == "~~" & all$lhs != all$rhs) & !(all$op == "~1" & all$lhs %in% c("k", "j1", "j2"))
rows <- lapply(which(keep), function(i) list(lhs = all$lhs[i], op = all$op[i], rhs = all$rhs[i],
  std_all = all$est.std[i], se_all = all$se[i], std_lv = lv$est.std[i], se_lv = lv$se[i]))
out <- list(logl = as.numeric(fitMeasures(fit, "logl")), rows = rows,
            lavaan_version = as.character(packageVersion("lavaan")))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), file.path(here, "reference3.json"))
