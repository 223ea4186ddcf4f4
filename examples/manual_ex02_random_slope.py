"""Stata `mixed` manual, example 2: random intercept and random slope on week (pigs).

Run after ``python -m pip install -e .``::

    python examples/manual_ex02_random_slope.py

The manual prints: Log likelihood = -869.03825; week 6.209896 (.0906819); var(week)
.3680668, var(_cons) 6.756364, var(Residual) 1.598811. The same model in lme4's formula
language is fitted too (``reml=False``: lme4's and ``sl.lmer``'s default is REML).
"""
import semlevel as sl

pig = sl.datasets.load("pig")
spec = "weight week || id: week"
print(f". mixed {spec}\n")
fit = sl.mixed(spec, data=pig)
print(fit.summary())

same = sl.lmer("weight ~ week + (week || id)", data=pig, reml=False)
print(f'sl.lmer("weight ~ week + (week || id)", reml=False) is "{same.spec.extra["text"]}":'
      f" log likelihood {same.loglik:.5f}")
