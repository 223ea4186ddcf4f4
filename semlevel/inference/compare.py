"""Comparing fits: information criteria side by side, LR tests of nested fits."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

__all__ = ["compare"]


def compare(*fits, names: list[str] | None = None, lr: bool = True) -> pd.DataFrame:
    """AIC/BIC table over fits of the same data, in the order given. With ``lr=True`` each fit after the first also gets the LR test against the
    previous one (nested in either direction: the smaller model is the null).

    Columns: ``method``, ``n_obs``, ``n_params``, ``loglik``, ``aic``, ``bic``,
    ``delta_aic``, ``delta_bic`` (to the best), ``lr``, ``df``, ``p`` and ``note`` (why a
    row has no LR test, or that REML fits with different fixed effects are not
    comparable: a warning too).
    """
    if not fits:
        raise ValueError("compare needs at least one fit")
    if len(fits) == 1 and isinstance(fits[0], (list, tuple)):
        fits = tuple(fits[0])
    names = list(names) if names is not None else [f"model {i + 1}" for i in range(len(fits))]
    if len(names) != len(fits):
        raise ValueError(f"{len(names)} names for {len(fits)} fits")
    n = {f.n_obs for f in fits}
    if len(n) > 1:
        raise ValueError(f"the fits use different numbers of observations: {sorted(n)}")
    reml_differ = any(f.reml for f in fits) and len({
        tuple(f.fixed.index) for f in fits if f.reml}) > 1
    if reml_differ:
        warnings.warn("REML fits with different fixed effects: their restricted log "
                      "likelihoods, AIC and BIC are not comparable (refit by ML to compare "
                      "fixed effects)", UserWarning, stacklevel=2)
    rows = []
    for i, f in enumerate(fits):
        row = {"model": names[i], "method": "REML" if f.reml else "ML", "n_obs": f.n_obs,
               "n_params": f.n_params, "loglik": f.loglik, "aic": f.aic, "bic": f.bic,
               "lr": np.nan, "df": np.nan, "p": np.nan,
               "note": "REML with other fixed effects: not comparable" if reml_differ and
               f.reml else ""}
        if lr and i:
            try:
                test = f.lrtest(fits[i - 1])
                row.update(lr=test.statistic, df=test.df, p=test.p)
            except ValueError as exc:           # no LR test between these two: say why
                row["note"] = "; ".join(x for x in (row["note"], f"no LR test: {exc}") if x)
        rows.append(row)
    out = pd.DataFrame(rows).set_index("model")
    out.insert(5, "delta_aic", out["aic"] - out["aic"].min())
    out.insert(7, "delta_bic", out["bic"] - out["bic"].min())
    return out
