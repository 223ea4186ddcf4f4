"""Standardized estimates of a fitted path model (lavaan's std.all).

For slot s the outcome's variance is var(X_s b) over the slot's observations plus the
mean over those observations of z' Phi z (latent part; z = loadings, definition values for
random slopes) plus the residual variance. Then a coefficient becomes b sd(x)/sd(y), an
intercept loading sqrt(phi)/sd(y), a latent variance 1, a residual variance theta/var(y)
and a covariance a correlation. Definition-variable loadings have no single standardized
value (their loading varies by row) and are left out.
"""
from __future__ import annotations

import numpy as np

__all__ = ["standardized_values"]


def standardized_values(model) -> dict:
    """(lhs, op, rhs) of the parameter table -> standardized value."""
    lab = model.labels
    est = lab["estimate"].to_numpy(dtype=float)
    data = model.data
    n_lat = len(model.latents)
    Phi = np.zeros((n_lat, n_lat))
    for a, b, l in zip(model.phi["a"], model.phi["b"], model.phi["label"]):
        Phi[a, b] = Phi[b, a] = est[l]
    slot = data.slot
    slot_names = data.slot_names()
    lat_names = model.latents["name"].to_numpy()
    out: dict = {}
    var_y = np.zeros(data.n_slots)
    for s in range(data.n_slots):
        obs = np.flatnonzero(slot == s)
        beta = est[model.path_label[s]]
        xb = model.X[obs] @ beta if len(obs) else np.zeros(0)
        lats = model.effect_latent[s]
        ok = lats >= 0
        Z = model.Z[np.ix_(obs, np.flatnonzero(ok))]
        P = Phi[np.ix_(lats[ok], lats[ok])]
        latent_part = float(np.mean(np.einsum("ij,jk,ik->i", Z, P, Z))) if len(obs) else 0.0
        theta = est[model.resid_label[s]]
        vy = (float(np.var(xb)) if len(obs) > 1 else 0.0) + latent_part + theta
        var_y[s] = vy
        sd_y = np.sqrt(vy) if vy > 0 else np.nan
        y = slot_names[s]
        for t, term in enumerate(model.terms):
            b = est[model.path_label[s, t]]
            if term == "_cons":
                out[(y, "~", "_cons")] = b / sd_y
                continue
            sd_x = float(np.std(model.X[obs, t])) if len(obs) > 1 else np.nan
            out[(y, "~", _slot_term(model, term, s))] = b * sd_x / sd_y
        intercept_effect = model.effects["variable"].isna().to_numpy()
        for e, lat in enumerate(lats):
            if lat >= 0 and intercept_effect[e]:
                out[(lat_names[lat], "=~", y)] = np.sqrt(max(Phi[lat, lat], 0.0)) / sd_y
        e_name = f"e.{y}"
        out[(e_name, "~~", e_name)] = theta / vy if vy > 0 else np.nan
    d = np.sqrt(np.clip(np.diag(Phi), 0, None))
    for a, b in zip(model.phi["a"], model.phi["b"]):
        if a == b:
            out[(lat_names[a], "~~", lat_names[a])] = 1.0
        else:
            out[(lat_names[a], "~~", lat_names[b])] = Phi[a, b] / (d[a] * d[b]) \
                if d[a] > 0 and d[b] > 0 else np.nan
    return out


def _slot_term(model, term: str, s: int) -> str:
    from ..data.wide import slot_name
    return slot_name(term, model.data.slot_keys(s))
