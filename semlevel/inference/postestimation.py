"""The postestimation multilevel users reach for first (Stata's ``estat icc``, ``estat
recovariance``, ``estat wcorrelation`` and ``lincom``).

* :func:`icc`: intraclass correlations of a random-intercept model, one per level below
  the top: the correlation of two observations that share that level's unit (and hence
  every unit above it), ``sum of the variances at and above the level / total``, as
  Stata's ``estat icc`` defines it (3 levels ``k`` and ``j|k``). The SE is the delta
  method's with the variance parameters' covariance; the interval is formed on the logit
  scale and transformed back, so it stays in (0, 1) (as ``estat icc`` does).
* :func:`recovariance`: the estimated covariance (or correlation) matrix of the random
  effects of each level.
* :func:`wcorrelation`: the model-implied covariance (or correlation) matrix of the
  observations of one top-level unit: the SEM's implied Sigma of that wide row.
* :func:`lincom`: a linear combination of the fixed effects, parsed by the expression
  parser of :mod:`semlevel.syntax.expression` (never evaluated as Python), with SE, z, p
  and interval from ``fit.cov_params()``.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ..distributions import norm_ppf, norm_sf
from ..engine.information import parameter_derivatives
from ..syntax.expression import Binary, Name, Number, Unary, parse_expression
from ..arrays import unique

__all__ = ["icc", "recovariance", "wcorrelation", "lincom"]


def _z(fit, level: float | None) -> float:
    return float(norm_ppf(0.5 + (level or fit.level) / 200.0))


def _variance_cov(fit, names: list[str]) -> np.ndarray:
    """The covariance of the estimates of variance labels ``names`` (NaN where a label
    has no standard error: fixed, or on the boundary)."""
    lab = fit.model.labels
    pos = {int(j): i for i, j in enumerate(fit._free_var)}
    idx = [pos.get(lab.index.get_loc(n)) for n in names]
    out = np.full((len(names), len(names)), np.nan)
    for a, i in enumerate(idx):
        for b, j in enumerate(idx):
            if i is not None and j is not None:
                out[a, b] = fit.theta_vcov[i, j]
    return out


def icc(fit, level: float | None = None) -> pd.DataFrame:
    """Intraclass correlations of a random-intercept model (``estat icc``): one row per
    level below the top (``j|k`` for a level j nested in k), with SE and a logit-scale
    interval."""
    model = fit.model
    eff = model.effects
    if len(eff) == 0:
        raise ValueError("icc() needs random effects: this model has none")
    if (eff["effect"] != "_cons").any():
        raise ValueError("icc() is defined for random-intercept models: this model has "
                         "random coefficients (" + ", ".join(
                             sorted(set(eff.loc[eff["effect"] != "_cons", "effect"])))
                         + "), whose intraclass correlation depends on the covariates")
    lab = model.labels
    resid = unique(model.resid_of_obs())
    if len(resid) != 1 or len(model.theta_table) or model.info.structure:
        raise ValueError("icc() needs one residual variance and independent residuals "
                         "(this model has a residual structure or residual variances by "
                         "group)")
    levels = list(model.data.hierarchy.levels)
    var_names = []
    for lev in levels:
        lats = np.flatnonzero(model.latents["level"].to_numpy() == lev)
        labs = model.phi[np.isin(model.phi["a"], lats) & (model.phi["a"] == model.phi["b"])]
        labels = unique(labs["label"].to_numpy())
        if len(labels) != 1:
            raise ValueError(f"icc() needs one variance per level: level {lev!r} has "
                             f"{len(labels)} variance labels (relaxed by position?)")
        var_names.append(str(lab.index[labels[0]]))
    names = var_names + [str(lab.index[resid[0]])]
    est = np.array([fit.values[lab.index.get_loc(n)] for n in names], dtype=float)
    V = _variance_cov(fit, names)
    total = est.sum()
    z = _z(fit, level)
    rows = []
    for i, lev in enumerate(levels):
        num = est[: i + 1].sum()
        value = num / total
        grad = np.where(np.arange(len(est)) <= i, (total - num), -num) / total ** 2
        Vf = np.where(np.isfinite(V), V, 0.0)
        se = float(np.sqrt(grad @ Vf @ grad)) if np.isfinite(V).all() else np.nan
        if 0 < value < 1 and np.isfinite(se):
            lo_hi = np.log(value / (1 - value)) + np.array([-z, z]) * se / (value * (1 - value))
            lo, hi = 1 / (1 + np.exp(-lo_hi))
        else:
            lo = hi = np.nan
        name = lev if i == 0 else f"{lev}|{','.join(levels[:i][::-1])}"
        rows.append({"level": name, "icc": value, "se": se, "ci_lower": lo, "ci_upper": hi})
    return pd.DataFrame(rows).set_index("level")


def recovariance(fit, correlation: bool = False) -> dict[str, pd.DataFrame]:
    """Per level, the estimated covariance (or correlation) matrix of its random effects
    (``estat recovariance``), rows and columns named by effect."""
    model = fit.model
    values = np.asarray(fit.values, dtype=float)
    out: dict[str, pd.DataFrame] = {}
    lat = model.latents
    for lev in model.data.hierarchy.levels:
        members = np.flatnonzero(lat["level"].to_numpy() == lev)
        if not len(members):
            continue
        # the latents of the level's first unit: one per effect
        key = lat["key"].iloc[members[0]]
        unit = [m for m in members if lat["key"].iloc[m] == key]
        names = [lat["effect"].iloc[m] for m in unit]
        M = np.zeros((len(unit), len(unit)))
        pos = {m: i for i, m in enumerate(unit)}
        for a, b, label in zip(model.phi["a"], model.phi["b"], model.phi["label"]):
            if a in pos and b in pos:
                M[pos[a], pos[b]] = M[pos[b], pos[a]] = values[label]
        if correlation:
            d = np.sqrt(np.clip(np.diag(M), 0, None))
            with np.errstate(divide="ignore", invalid="ignore"):
                M = M / np.outer(d, d)
        out[lev] = pd.DataFrame(M, index=names, columns=names)
    return out


def wcorrelation(fit, row: int = 0, correlation: bool = True) -> pd.DataFrame:
    """The implied covariance (``correlation=False``) or correlation matrix of the
    observations of one top-level unit (``row``: its position, 0 = the first), named by
    slot: the SEM's implied Sigma of that wide row (``estat wcorrelation``)."""
    model = fit.model
    n_rows = model.data.n_rows
    if not isinstance(row, (int, np.integer)) or isinstance(row, bool) \
            or not 0 <= row < n_rows:
        raise ValueError(f"row must be a whole number from 0 to {n_rows - 1}, not {row!r}")
    for r, (obs, _, Sigma) in enumerate(parameter_derivatives(model,
                                                              np.asarray(fit.values))):
        if r == row:
            names = np.array(model.data.slot_names())[model.data.slot[obs]]
            M = np.asarray(Sigma, dtype=float)
            if correlation:
                d = np.sqrt(np.diag(M))
                M = M / np.outer(d, d)
            return pd.DataFrame(M, index=names, columns=names)
    raise AssertionError("unreachable")                    # pragma: no cover


def _linear(node, coef: dict[str, str]) -> tuple[dict[str, float], float]:
    """A linear combination {coefficient: weight} and constant from the expression tree;
    products or quotients of coefficients are refused."""
    if isinstance(node, Number):
        return {}, float(node.value)
    if isinstance(node, Name):
        if node.name not in coef:
            raise ValueError(f"unknown coefficient {node.name!r} in lincom; the fixed "
                             f"effects are {', '.join(sorted(coef.values()))}")
        return {coef[node.name]: 1.0}, 0.0
    if isinstance(node, Unary):
        w, c = _linear(node.operand, coef)
        s = -1.0 if node.op == "-" else 1.0
        return {k: s * v for k, v in w.items()}, s * c
    if isinstance(node, Binary):
        lw, lc = _linear(node.left, coef)
        rw, rc = _linear(node.right, coef)
        if node.op in "+-":
            s = 1.0 if node.op == "+" else -1.0
            w = dict(lw)
            for k, v in rw.items():
                w[k] = w.get(k, 0.0) + s * v
            return w, lc + s * rc
        if node.op == "*":
            if lw and rw:
                raise ValueError("lincom takes a linear combination: a product of two "
                                 "coefficients is not one")
            w, c, k = (rw, rc, lc) if not lw else (lw, lc, rc)
            return {n: v * k for n, v in w.items()}, c * k
        if rw:
            raise ValueError("lincom takes a linear combination: a division by a "
                             "coefficient is not one")
        if rc == 0:
            raise ValueError("lincom: division by zero")
        return {n: v / rc for n, v in lw.items()}, lc / rc
    raise TypeError(f"unexpected expression node {type(node).__name__}")  # pragma: no cover


def lincom(fit, expression: str, level: float | None = None) -> pd.Series:
    """A linear combination of the fixed effects (``lincom``): estimate, SE, z, p and
    interval. Coefficients are named as in ``fit.fixed`` (``week``, ``_cons``,
    ``1.girl``); numbers multiply them; nothing is evaluated as Python."""
    if not isinstance(expression, str) or not expression.strip():
        raise TypeError("lincom takes an expression string such as 'week + 2*_cons'")
    table = fit.fixed
    names = [str(n) for n in table.index]
    # coefficient names may hold '.', '#' or '(': each becomes a placeholder token first
    coef: dict[str, str] = {}
    text = expression
    for i, n in enumerate(sorted(names, key=len, reverse=True)):
        token = f"b__{i}"
        pattern = r"(?<![A-Za-z0-9_.#])" + re.escape(n) + r"(?![A-Za-z0-9_.#])"
        text, count = re.subn(pattern, token, text)
        coef[token] = n
    try:
        tree = parse_expression(text)
    except ValueError as exc:                   # say it with the names the user typed
        msg = str(exc)
        for token, n in sorted(coef.items(), key=lambda kv: -len(kv[0])):
            msg = msg.replace(token, n)
        raise type(exc)(msg.replace(repr(text), repr(expression))) from None
    weights, const = _linear(tree, coef)
    c = np.array([weights.get(n, 0.0) for n in names])
    b = table["coef"].to_numpy(dtype=float)
    V = fit.cov_params().loc[names, names].to_numpy(dtype=float)
    est = float(c @ b + const)
    se = float(np.sqrt(c @ V @ c))
    z = _z(fit, level)
    zs = est / se if se > 0 else np.nan
    return pd.Series({"estimate": est, "se": se, "z": zs, "p": float(2 * norm_sf(abs(zs))),
                      "ci_lower": est - z * se, "ci_upper": est + z * se},
                     name=expression.strip())
