"""Stata `mixed` manual, example 13: balanced repeated measures (reaction times of 5
persons under 4 drugs), REML.

Run after ``python -m pip install -e .``::

    python examples/manual_ex13_small_sample.py

The manual fits ``mixed score i.drug || person:, reml dfmethod(repeated)``. Small-sample
degrees of freedom (``dfmethod()``) are not implemented yet (the option is refused), so
this prints the large-sample table, which the manual prints on replay (``. mixed``):
Log restricted-likelihood = -49.640099; 2.drug -.8 (1.939072), z = -0.41, P = 0.680;
_cons 26.4 (3.149604); var(_cons) 40.20004, var(Residual) 9.399997.
"""
import semlevel as sl

t43 = sl.datasets.load("t43")
spec = "score i.drug || person:, reml"
print(f". mixed {spec}\n")
print(sl.mixed(spec, data=t43).summary())

same = sl.lmer("score ~ factor(drug) + (1 | person)", data=t43)     # REML by default
print(f'lmer "score ~ factor(drug) + (1 | person)" (REML): log restricted-likelihood '
      f"{same.loglik:.6f}")
