# Reference for the tree path with AR(1) errors (tests/test_tree.py): children with
# growth slopes in schools, AR(1) errors within a child, ML, tight tolerances.
# Rscript tests/data/nlme/tree_reference.R  (writes tree_reference.json next to itself)
suppressMessages({library(nlme); library(jsonlite)})
here <- dirname(normalizePath(sub("--file=", "", grep("--file=", commandArgs(FALSE), value = TRUE))))
d <- read.csv(file.path(here, "tree_ar1.csv")); d$k <- factor(d$k); d$j <- factor(d$j)
f <- lme(y ~ t, random = list(k = pdSymm(~t), j = pdSymm(~t)),
         correlation = corAR1(form = ~ t | k/j), data = d, method = "ML",
         control = lmeControl(maxIter = 500, msMaxIter = 500, msTol = 1e-12,
                              tolerance = 1e-10, niterEM = 100))
vk <- as.matrix(pdMatrix(f$modelStruct$reStruct$k)) * f$sigma^2
vj <- as.matrix(pdMatrix(f$modelStruct$reStruct$j)) * f$sigma^2
out <- list(loglik = as.numeric(logLik(f)), n = nrow(d),
            fixed = as.list(fixef(f)), se_fixed = as.list(sqrt(diag(vcov(f)))),
            "k: var(_cons)" = vk[1, 1], "k: var(t)" = vk[2, 2], "k: cov(t,_cons)" = vk[1, 2],
            "j: var(_cons)" = vj[1, 1], "j: var(t)" = vj[2, 2], "j: cov(t,_cons)" = vj[1, 2],
            "Residual: rho" = as.numeric(coef(f$modelStruct$corStruct, unconstrained = FALSE)),
            "Residual: var(e)" = f$sigma^2,
            made_with = paste("R", getRversion(), "nlme", packageVersion("nlme")))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path(here, "tree_reference.json"))
