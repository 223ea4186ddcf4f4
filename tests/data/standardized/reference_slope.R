# lavaan's standardizedSolution() for a random-slope model: the pig weights (48 pigs x 9
# weeks, complete; semlevel "weight week || id: week, cov(un)"), written as lavaan's growth
# model: i =~ 1*w1 + ... + 1*w9, s =~ 1*w1 + 2*w2 + ... + 9*w9 (the slope's loading is the
# week, the same for every pig in a slot), i ~ c*1, s ~ b*1 (the fixed effects as latent
# means), w_t ~ 0*1, w_t ~~ ve*w_t, i ~~ s free.  Rscript reference_slope.R -> .json
suppressPackageStartupMessages({ library(lavaan); library(jsonlite) })
args <- commandArgs(trailingOnly = FALSE)
file_arg <- args[grep("^--file=", args)]
here <- if (length(file_arg)) dirname(normalizePath(sub("^--file=", "", file_arg))) else
  "tests/data/standardized"
long <- read.csv(file.path(here, "pig.csv"))
W <- data.frame(pig = sort(unique(long$id)))
for (t in 1:9) W[[paste0("w", t)]] <- long$weight[long$week == t][order(long$id[long$week == t])]
ws <- paste0("w", 1:9)
syn <- c(paste("i =~", paste0("1*", ws, collapse = " + ")),
         paste("s =~", paste0(1:9, "*", ws, collapse = " + ")),
         "i ~ c*1", "s ~ b*1", paste0(ws, " ~ 0*1"), paste0(ws, " ~~ ve*", ws),
         "i ~~ vi*i", "s ~~ vs*s", "i ~~ cis*s")
fit <- sem(syn, data = W, missing = "ml", estimator = "ML", information = "observed",
           observed.information = "hessian", h1.information = "structured",
           meanstructure = TRUE, baseline = FALSE, control = list(rel.tol = 1e-10))
stopifnot(lavInspect(fit, "converged"))
all <- standardizedSolution(fit, type = "std.all", se = TRUE)
lv <- standardizedSolution(fit, type = "std.lv", se = TRUE)
keep <- all$op %in% c("=~", "~~")
rows <- lapply(which(keep), function(i) list(lhs = all$lhs[i], op = all$op[i], rhs = all$rhs[i],
  std_all = all$est.std[i], se_all = all$se[i], std_lv = lv$est.std[i], se_lv = lv$se[i]))
out <- list(logl = as.numeric(fitMeasures(fit, "logl")), rows = rows,
            lavaan_version = as.character(packageVersion("lavaan")))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path(here, "reference_slope.json"))
