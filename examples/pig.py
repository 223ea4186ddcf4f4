"""Examples 1-3 of Stata's `mixed` manual on the pig weights, and their LR tests.

Run after ``python -m pip install -e .``::

    python examples/pig.py

48 pigs were weighed in 9 successive weeks. Each model is built as a path model on the wide
data (one row per pig, one weight column per week) and fitted by FIML with the one engine;
the manual's printed log likelihoods are in the comments.
"""
import semlevel as sl

pig = sl.datasets.load("pig")

models = {
    "Example 1, random intercept (-1014.9268)": "weight week || id:",
    "Example 2, random intercept and slope (-869.03825)": "weight week || id: week",
    "Example 3, correlated intercept and slope (-868.96185)":
        "weight week || id: week, covariance(unstructured)",
}
fits = {}
for title, spec in models.items():
    fits[title] = fit = sl.mixed(spec, data=pig)
    print(f"=== {title}\n. mixed {spec}\n")
    print(fit.summary())

fit1, fit2, fit3 = fits.values()
print("The equality labels of example 3's path model:")
print(fit3.model.labels, end="\n\n")

print("LR test, random slope (example 2) vs random intercept only (example 1):")
print(fit2.lrtest(fit1), end="\n\n")     # manual: LR chi2(1) = 291.78
print("LR test, unstructured (example 3) vs independent (example 2):")
print(fit3.lrtest(fit2))                 # manual: LR chi2(1) = 0.15, Prob > chi2 = 0.6959
