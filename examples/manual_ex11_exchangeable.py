"""Stata `mixed` manual, example 11: the three-level model of example 4 written as a
two-level model with an exchangeable covariance of the state effects within regions.

Run after ``python -m pip install -e .``::

    python examples/manual_ex11_exchangeable.py

Variables rounded to float32 as Stata stores them (see manual_ex04_three_level.py).
The manual prints: Log likelihood = 1430.5017; var(R.state) .0077263,
cov(R.state) .0014506, var(Residual) .0013461 (= example 4's sigma2_region + sigma2_state,
sigma2_region, sigma2).
"""
import numpy as np

import semlevel as sl

df = sl.datasets.load("productivity")
num = ["gsp", "private", "emp", "hwy", "water", "other", "unemp"]
df[num] = df[num].astype(np.float32).astype(float)

spec = "gsp private emp hwy water other unemp || region: R.state, cov(exchangeable)"
print(f". mixed {spec}\n")
fit = sl.mixed(spec, data=df)
print(fit.summary())
three = sl.lmer("gsp ~ private + emp + hwy + water + other + unemp + (1 | region/state)",
                data=df, reml=False)
print(f"example 4 in lme4 form (1 | region/state): log likelihood {three.loglik:.4f}")
