"""Stata `mixed` manual, example 8: AR(2) residuals within mares (ovarian follicles), REML.

Run after ``python -m pip install -e .``::

    python examples/manual_ex08_ar_residuals.py

The manual prints: Log restricted-likelihood = -772.59855; sin1 -2.899228 (.5110784);
phi1 .5386103, phi2 .1446711, var(e) 14.25103.
"""
import semlevel as sl

ovary = sl.datasets.load("ovary")
spec = "follicles sin1 cos1 || mare:, residuals(ar 2, t(time)) reml"
print(f". mixed {spec}\n")
print(sl.mixed(spec, data=ovary).summary())
