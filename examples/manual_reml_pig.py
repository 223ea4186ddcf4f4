"""Stata `mixed` manual, "Likelihood versus restricted likelihood": example 2 by REML.

Run after ``python -m pip install -e .``::

    python examples/manual_reml_pig.py

The manual prints: Log restricted-likelihood = -870.51473; week 6.209896 (.0916387);
var(week) .3764405, var(_cons) 6.917604, var(Residual) 1.598784.
``sl.lmer`` fits by REML by default, as lme4 does.
"""
import semlevel as sl

pig = sl.datasets.load("pig")
spec = "weight week || id: week, reml"
print(f". mixed {spec}\n")
print(sl.mixed(spec, data=pig).summary())

same = sl.lmer("weight ~ week + (week || id)", data=pig)       # REML: lme4's default
print(f'sl.lmer("weight ~ week + (week || id)") (REML): log restricted-likelihood '
      f"{same.loglik:.5f}")
