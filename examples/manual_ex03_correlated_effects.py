"""Stata `mixed` manual, example 3: correlated random intercept and slope (pigs).

Run after ``python -m pip install -e .``::

    python examples/manual_ex03_correlated_effects.py

The manual prints: Log likelihood = -868.96185; cov(week,_cons) -.0984378; and the LR
test against example 2: LR chi2(1) = 0.15, Prob > chi2 = 0.6959.
"""
import semlevel as sl

pig = sl.datasets.load("pig")
spec = "weight week || id: week, covariance(unstructured)"
print(f". mixed {spec}\n")
fit = sl.mixed(spec, data=pig)
print(fit.summary())

independent = sl.mixed("weight week || id: week", data=pig)
print(". lrtest . (example 2)")
print(fit.lrtest(independent))
