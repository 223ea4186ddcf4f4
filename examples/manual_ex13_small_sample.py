"""Stata `mixed` manual, example 13: small-sample inference in a balanced repeated-measures
design (reaction times of 5 persons under 4 drugs), REML with ``dfmethod(repeated)``.

Run after ``python -m pip install -e .``::

    python examples/manual_ex13_small_sample.py

The manual prints: Log restricted-likelihood = -49.640099; F(3, 12.00) = 24.76;
2.drug -.8 (1.939072), t = -0.41, P>|t| = 0.687, CI -5.024874 to 3.424874; _cons 26.4
(3.149604), P>|t| = 0.001; var(_cons) 40.20004, var(Residual) 9.399997; and, replayed
with large-sample inference, P>|z| = 0.680 and CI -4.600511 to 3.000511 for 2.drug.
"""
import semlevel as sl

t43 = sl.datasets.load("t43")
spec = "score i.drug || person:, reml dfmethod(repeated)"
print(f". mixed {spec}\n")
print(sl.mixed(spec, data=t43).summary())

print(". mixed score i.drug || person:, reml      (large-sample inference)\n")
print(sl.mixed("score i.drug || person:, reml", data=t43).summary())

same = sl.lmer("score ~ factor(drug) + (1 | person)", data=t43)     # REML by default
print(f'lmer "score ~ factor(drug) + (1 | person)" (REML): log restricted-likelihood '
      f"{same.loglik:.6f}")
