"""The article's first story: a three-level random-intercept model is a constrained SEM.

Run after ``python -m pip install -e .``::

    python examples/article_sem_equals_mixed.py

The article (``seeds/001``) simulates y_ijk = 2 x_ijk + U_k + V_jk + E_ijk with U, V, E
iid N(0, 1) and x ~ U(0, 1), for K = 100 third-level groups, J = 2 second-level groups in
each and I = 2 individuals in each of those, and fits it twice: by ``xtmixed y x || k: ||
j:, mle`` and by ``sem`` on the data reshaped wide (one row per k; four outcomes y11 y12
y21 y22), with the mixed model's assumptions written as constraints: one slope ``bx`` for
all four regressions, loadings 1 on U and on V1 / V2, one variance ``S_v`` for V1 and V2
and one ``S_e`` for the four errors. Both give the same estimates; with missing values
(unbalanced data) ``sem, method(mlmv)`` still does.

semlevel does exactly this: ``sl.mixed`` pivots the data wide and fits that constrained
path model. Here the same data are fitted, and the log likelihood is recomputed the SEM
way, as a multivariate normal density of the wide rows (numpy, nothing from semlevel's
engine), balanced and with every 10th observation dropped. The data are those of
``tests/data/art.csv`` (``tests/simulate.py``: ``article(seed=1)``); lme4 gives
log likelihood -710.68811 (balanced) and -646.15529 (unbalanced) on them.
"""
import numpy as np
import pandas as pd

import semlevel as sl

pd.set_option("display.width", 110)


def simulate(seed=1, K=100, J=2, I=2):
    """The article's design: y = 2 x + U_k + V_jk + E_ijk (no constant)."""
    rng = np.random.default_rng(seed)
    k = np.repeat(np.arange(1, K + 1), J * I)
    j = np.tile(np.repeat(np.arange(1, J + 1), I), K)
    i = np.tile(np.arange(1, I + 1), K * J)
    U = rng.normal(size=K)
    V = rng.normal(size=(K, J))
    E = rng.normal(size=K * J * I)
    x = rng.uniform(size=K * J * I)
    y = 2.0 * x + U[k - 1] + V[k - 1, j - 1] + E
    return pd.DataFrame({"k": k, "j": j, "i": i, "x": x, "y": y})


def sem_loglik(wide, ys, xs, beta, cons, var_k, var_j, var_e):
    """Log likelihood of the wide rows, each a multivariate normal (missing slots dropped:
    FIML), with the mixed model's constraints written out as the article's SEM has them."""
    groups = np.array([1, 1, 2, 2])                 # slot -> j of y11 y12 y21 y22
    sigma = (var_k + var_j * (groups[:, None] == groups[None, :]) + var_e * np.eye(4))
    total = 0.0
    for _, row in wide.iterrows():
        y, x = row[ys].to_numpy(float), row[xs].to_numpy(float)
        seen = ~np.isnan(y)
        e = y[seen] - (cons + beta * x[seen])
        S = sigma[np.ix_(seen, seen)]
        _, logdet = np.linalg.slogdet(S)
        total += -0.5 * (seen.sum() * np.log(2 * np.pi) + logdet + e @ np.linalg.solve(S, e))
    return total


def story(df, title):
    print(f"=== {title}: {len(df)} observations\n")
    spec = "y x || k: || j:"
    fit = sl.mixed(spec, data=df)                    # ML, as `xtmixed ..., mle`
    print(f". mixed {spec}\n")
    print(fit.summary())

    wide, slots = sl.pivot_wide(df, "y", ["k", "j"], covariates=["x"])
    ys = list(slots["column"])
    xs = [c.replace("y[", "x[", 1) for c in ys]
    print("The wide data sem sees (one row per k, one y and one x per (j, i) slot):")
    print(wide.head(3).round(3).to_string(index=False), end="\n\n")
    print("The constraints are shared labels of the path model:")
    tab = fit.model.table
    print(tab[tab["label"].astype(str) != ""][["lhs", "op", "rhs", "label", "estimate"]]
          .to_string(index=False), end="\n\n")
    est, fixed = fit.random["estimate"], fit.fixed["coef"]
    ll = sem_loglik(wide, ys, xs, fixed["x"], fixed["_cons"], est["k: var(_cons)"],
                    est["j: var(_cons)"], est["var(Residual)"])
    print(f"mixed log likelihood          {fit.loglik:.5f}")
    print(f"SEM (wide MVN) log likelihood {ll:.5f}\n")


df = simulate()
story(df, "The article's balanced design (K=100, J=2, I=2)")
story(df[np.arange(len(df)) % 10 != 3], "Unbalanced: every 10th observation dropped (mlmv)")
