"""Stata `mixed` manual, example 1: two-level random-intercept model of the pig weights.

Run after ``python -m pip install -e .``::

    python examples/manual_ex01_random_intercept.py

The manual prints: Log likelihood = -1014.9268; week 6.209896 (.0390124),
_cons 19.35561 (.5974059); var(_cons) 14.81751, var(Residual) 4.383264.
"""
import semlevel as sl

pig = sl.datasets.load("pig")            # 48 pigs weighed in 9 successive weeks
spec = "weight week || id:"
print(f". mixed {spec}\n")
print(sl.mixed(spec, data=pig).summary())
