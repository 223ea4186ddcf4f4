"""Stata `mixed` manual, example 10: crossed random effects of week and pig.

Run after ``python -m pip install -e .``::

    python examples/manual_ex10_crossed.py

The manual prints: Log likelihood = -1013.824; week 6.209896, _cons 19.35561;
var(R.week) .0849874, var(R.id) 14.83623, var(Residual) 4.297328; AIC 2037.648,
BIC 2057.99.  The manual's efficient form (pigs nested in ``_all``) and the lme4 form
``(1 | week) + (1 | id)`` give the same fit.
"""
import semlevel as sl

pig = sl.datasets.load("pig")
spec = "weight week || _all: R.week || _all: R.id"
print(f". mixed {spec}\n")
fit = sl.mixed(spec, data=pig)
print(fit.summary())
print(f"AIC = {fit.aic:.3f}   BIC = {fit.bic:.2f}\n")

nested = sl.mixed("weight week || _all: R.week || id:", data=pig)
lme4 = sl.lmer("weight ~ week + (1 | week) + (1 | id)", data=pig, reml=False)
print(f"weight week || _all: R.week || id:    log likelihood {nested.loglik:.4f}")
print(f'lmer "weight ~ week + (1 | week) + (1 | id)" -> "{lme4.spec.extra["text"]}": '
      f"log likelihood {lme4.loglik:.4f}")
