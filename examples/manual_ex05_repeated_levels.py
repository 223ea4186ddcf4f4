"""Stata `mixed` manual, example 5: random coefficients at the region level, then a
block-diagonal covariance by repeating the level (one variance for hwy and unemp).

Run after ``python -m pip install -e .``::

    python examples/manual_ex05_repeated_levels.py

Variables rounded to float32 as Stata stores them (see manual_ex04_three_level.py).
The manual prints: Log likelihood = 1447.6787 (independent) and 1447.6784 (blocked),
state var(_cons) .0063658 and .006358, var(Residual) .0012469; lrtest chi2(1) = 0.00,
Prob > chi2 = 0.9784.
"""
import numpy as np

import semlevel as sl

df = sl.datasets.load("productivity")
num = ["gsp", "private", "emp", "hwy", "water", "other", "unemp"]
df[num] = df[num].astype(np.float32).astype(float)

specs = ["gsp private emp hwy water other unemp || region: hwy unemp || state:",
         "gsp private emp hwy water other unemp || region: hwy unemp, cov(identity)"
         " || region: || state:"]
fits = []
for spec in specs:
    print(f". mixed {spec}, nofetable\n")
    fits.append(sl.mixed(spec + ", nofetable", data=df))
    print(fits[-1].summary())
print(". lrtest . prodrc")
print(fits[1].lrtest(fits[0]))
