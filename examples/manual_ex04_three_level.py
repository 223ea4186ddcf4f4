"""Stata `mixed` manual, example 4: three-level random intercepts (states in regions).

Run after ``python -m pip install -e .``::

    python examples/manual_ex04_three_level.py

Stata stores the productivity variables as ``float`` (single precision: see the manual's
``describe``), so they are rounded to float32 here as Stata holds them; with the
double-precision values the log likelihood moves by about 1e-4.
The manual prints: Log likelihood = 1430.5017; private .2671484 (.0212591);
var(_cons) region .0014506, state .0062757; var(Residual) .0013461.
"""
import numpy as np

import semlevel as sl

df = sl.datasets.load("productivity")
num = ["gsp", "private", "emp", "hwy", "water", "other", "unemp"]
df[num] = df[num].astype(np.float32).astype(float)

spec = "gsp private emp hwy water other unemp || region: || state:"
print(f". mixed {spec}\n")
print(sl.mixed(spec, data=df).summary())

same = sl.lmer("gsp ~ private + emp + hwy + water + other + unemp + (1 | region/state)",
               data=df, reml=False)
print(f'lme4 form (1 | region/state) is "{same.spec.extra["text"]}": '
      f"log likelihood {same.loglik:.4f}")
