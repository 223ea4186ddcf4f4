"""Predictions after a fit (Stata's ``predict`` after ``mixed``; lme4's ``ranef``,
``fitted``, ``predict``, ``residuals``).

* :func:`ranef`: the BLUPs of the random effects per level, with standard errors of one
  of three kinds (see :mod:`.posterior` for the formulas):

  - ``"conditional"`` (default): sqrt Var[u | y] at the estimates, beta treated as known:
    lme4's ``condVar``; Stata's ``reses`` after an ML fit;
  - ``"comparative"``: sqrt Var[u_hat - u], beta's estimation uncertainty included
    (Henderson's prediction error variance; Goldstein's comparative SE);
  - ``"diagnostic"``: sqrt Var[u_hat] = sqrt(Var[u] - Var[u_hat - u]) (Goldstein's
    diagnostic SE, to standardise BLUPs).

* :func:`predict`: ``xb`` (fixed part), ``fitted`` (xb plus the BLUPs), ``residuals``
  (y - fitted) and ``rstandard`` (residuals times the inverse Cholesky factor of the
  row's residual covariance, in slot order: residual / sigma_e for independent errors,
  nlme's "normalized" residuals for correlated ones), for the estimation data or new
  data. A row of new data in a group that was in the estimation sample gets that group's
  BLUP; a group not in the sample gets random effects 0 (the population prediction, lme4's
  ``allow.new.levels=TRUE``). Rows that cannot be predicted get NaN and a reason.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..syntax.factor import design_matrix, variables_of
from .posterior import Posterior, obs_mean, posterior
from ..arrays import unique

__all__ = ["ranef", "predict", "PREDICT_KINDS", "SE_KINDS"]

PREDICT_KINDS = ("xb", "fitted", "residuals", "rstandard")
SE_KINDS = ("conditional", "comparative", "diagnostic")


def _posterior(fit) -> Posterior:
    cached = getattr(fit, "_posterior", None)
    return cached if isinstance(cached, Posterior) else posterior(fit)


def _check_fit(fit) -> None:
    if not hasattr(fit, "model") or not hasattr(fit.model, "effect_latent"):
        raise TypeError("predictions need a fit of a PathModel (sl.mixed or model.fit()); "
                        f"got {type(fit).__name__} (general SEM paths are not supported)")


def _effect_names(model) -> list[str]:
    """Column name of each random effect: its Stata label, made unique if two equations
    of one level name the same effect."""
    eff = model.effects
    names = eff["effect"].astype(str).tolist()
    key = [(lv, n) for lv, n in zip(eff["level"], names)]
    return [n if key.count(k) == 1 else f"{n}#{int(q)}"
            for n, k, q in zip(names, key, eff["equation"])]


def _factor_of(model) -> list:
    """The crossed factor of each effect (``_all: R.var``: one latent per level of var),
    else None."""
    eff = model.effects
    if "factor" not in eff:
        return [None] * len(eff)
    return [f if isinstance(f, str) and f else None for f in eff["factor"]]


def _level_effects(model, l: int) -> np.ndarray:
    """The effects of level ``l`` that are not crossed factors."""
    fac = _factor_of(model)
    return np.array([e for e in np.flatnonzero(model.effects["level_index"].to_numpy() == l)
                     if fac[e] is None], dtype=np.int64)


def _factor_latents(model, e: int) -> pd.DataFrame:
    """Levels of the crossed factor of effect ``e`` with their latents (the rows of
    ``model.latents`` of that effect, keyed by the level)."""
    lat = model.latents
    eff = model.effects.iloc[e]
    sel = np.flatnonzero((lat["equation"].to_numpy() == int(eff["equation"]))
                         & (lat["effect"].to_numpy() == eff["effect"]))
    return pd.DataFrame({"value": [lat["key"].iloc[i][0] for i in sel], "latent": sel})


def _match(left: pd.DataFrame, table: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """``left`` (row order kept) left-joined to ``table`` on ``keys``; numeric keys are
    compared as numbers whatever their dtypes (an id 3 matches 3.0, 4.5 matches nothing)."""
    left = left[keys].reset_index(drop=True).copy()
    table = table.copy()
    for k in keys:
        a, b = left[k], table[k]
        if pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b):
            left[k], table[k] = a.astype(float), b.astype(float)
        elif a.dtype != b.dtype:
            left[k], table[k] = a.astype(object), b.astype(object)
    out = left.merge(table, on=keys, how="left")
    if len(out) != len(left):
        raise RuntimeError("internal: a group key matched several groups")
    return out


def _group_table(model, l: int) -> pd.DataFrame:
    """One row per group of level ``l`` of the estimation sample: the id values of the
    levels down to ``l``, the wide row and the latent of each of the level's effects."""
    data = model.data
    levels = list(data.hierarchy.levels)
    effs = _level_effects(model, l)
    cols = {levels[i]: data.hierarchy.keys[i] for i in range(l + 1)}
    cols["_row"] = data.row
    for e in effs:
        cols[f"_lat{e}"] = model.effect_latent[data.slot, e]
    table = pd.DataFrame(cols).drop_duplicates(subset=levels[:l + 1])
    return table.sort_values(levels[:l + 1]).reset_index(drop=True)


def ranef(fit, se: str = "conditional") -> dict[str, pd.DataFrame]:
    """BLUPs of the random effects: one DataFrame per level with random effects.

    Index: the group's id value (nested levels: a MultiIndex of the ids from the top
    level down). Columns: each effect's Stata label (``week``, ``_cons``) and its standard
    error ``se(week)``, of the kind ``se`` (``"conditional"``, ``"comparative"`` or
    ``"diagnostic"``; see the module docstring). A crossed factor (``_all: R.var``) gets
    its own table, keyed ``R.var`` and indexed by the levels of ``var``.
    """
    _check_fit(fit)
    if se not in SE_KINDS:
        raise ValueError(f"se must be one of {', '.join(SE_KINDS)}; got {se!r}")
    model = fit.model
    post = _posterior(fit)
    levels = list(model.data.hierarchy.levels)
    names = _effect_names(model)
    variance = {"conditional": post.var, "comparative": post.pev,
                "diagnostic": post.prior - post.pev}[se]
    out: dict[str, pd.DataFrame] = {}
    for l, level in enumerate(levels):
        for e, factor in enumerate(_factor_of(model)):
            if factor is None or int(model.effects["level_index"].iloc[e]) != l:
                continue
            table = _factor_latents(model, e)
            # the factor's latents belong to the level's groups (one _all row)
            for r in range(model.data.n_rows):
                pos = post.lookup(np.full(len(table), r), table["latent"].to_numpy())
                if (pos >= 0).all():
                    break
            else:
                raise RuntimeError(f"internal: no BLUPs for the levels of {factor!r}")
            key = names[e] if model.data.n_rows == 1 else f"{level}: {names[e]}"
            out[key] = pd.DataFrame(
                {names[e]: post.mean[pos],
                 f"se({names[e]})": np.sqrt(np.maximum(variance[pos], 0.0))},
                index=pd.Index(table["value"].to_numpy(), name=factor))
        effs = _level_effects(model, l)
        if not len(effs):
            continue
        table = _group_table(model, l)
        frame = {}
        for e in effs:
            pos = post.lookup(table["_row"].to_numpy(), table[f"_lat{e}"].to_numpy())
            if (pos < 0).any():
                raise RuntimeError(f"internal: no BLUP for some groups of {level!r}")
            var = variance[pos]
            frame[names[e]] = post.mean[pos]
            frame[f"se({names[e]})"] = np.sqrt(np.maximum(var, 0.0))
        if l == 0:
            index = pd.Index(table[levels[0]].to_numpy(), name=levels[0])
        else:
            index = pd.MultiIndex.from_frame(table[levels[:l + 1]])
        out[level] = pd.DataFrame(frame, index=index)
    return out


# ---- predictions ----------------------------------------------------------------------

def predict(fit, data: pd.DataFrame | None = None, kind: str = "fitted",
            reasons: bool = False) -> pd.Series | pd.DataFrame:
    """Predictions of ``kind`` (``xb``, ``fitted``, ``residuals``, ``rstandard``) for the
    rows of ``data`` (default: the data the model was fitted to), indexed like them.

    With the estimation data, rows that were used get the in-sample values; rows that
    were dropped are predicted when what ``kind`` needs is present (e.g. the fitted value
    of a row with a missing outcome), else NaN. With ``reasons=True`` a DataFrame with the
    prediction and a ``reason`` column (empty where predicted) is returned.
    """
    _check_fit(fit)
    if kind not in PREDICT_KINDS:
        raise ValueError(f"kind must be one of {', '.join(PREDICT_KINDS)}; got {kind!r}")
    model = fit.model
    post = _posterior(fit)
    wide = model.data
    if data is None:
        frame = wide.original
        if frame is None:
            raise ValueError("the model keeps no copy of its input data: pass data=")
        value = np.full(len(frame), np.nan)
        why = np.full(len(frame), "", dtype=object)
        inside = {"xb": post.xb, "fitted": post.fitted, "residuals": wide.y - post.fitted,
                  "rstandard": post.rstandard}[kind]
        value[wide.source] = inside
        rest = np.setdiff1d(np.arange(len(frame)), wide.source)
        if len(rest):
            v, w = _predict_frame(fit, post, frame.iloc[rest], kind)
            value[rest], why[rest] = v, w
    else:
        if not isinstance(data, pd.DataFrame):
            raise TypeError(f"data must be a pandas DataFrame, not {type(data).__name__}")
        frame = data
        value, why = _predict_frame(fit, post, frame, kind)
    series = pd.Series(value, index=frame.index, name=kind)
    if reasons:
        return pd.DataFrame({kind: series, "reason": pd.Series(why, index=frame.index)})
    return series


def _first_missing(frame: pd.DataFrame, names: list[str], why: np.ndarray,
                   what: str = "missing") -> None:
    """Write ``"<what> <name>"`` into ``why`` where it is empty and the column is NaN."""
    for name in names:
        miss = frame[name].isna().to_numpy() & (why == "")
        why[miss] = f"{what} {name}"


def _design_on(model, frame: pd.DataFrame, terms, constant: bool, reference: np.ndarray,
               columns: list[str], what: str) -> tuple[np.ndarray, np.ndarray]:
    """The design of ``terms`` on ``frame`` with the columns ``columns`` of the estimation
    design ``reference``: built on the estimation rows and ``frame`` together (so factor
    levels and bases are those of the estimation sample, which is checked). Returns the
    matrix and the label of a column the estimation sample does not have, per row (or "")."""
    train = model.data.data
    vars_ = variables_of(list(terms))
    both = pd.concat([train[vars_], frame[vars_]], ignore_index=True)
    d = design_matrix(list(terms), both, constant, check_rank=False)
    labels = d.labels if what == "fixed" else d.re_labels
    pos = {lab: i for i, lab in enumerate(labels)}
    n_train = len(train)
    out = np.zeros((len(frame), len(columns)))
    rebuilt = np.zeros((n_train, len(columns)))
    for j, lab in enumerate(columns):
        if lab in pos:
            out[:, j] = d.matrix[n_train:, pos[lab]]
            rebuilt[:, j] = d.matrix[:n_train, pos[lab]]
    if not np.array_equal(rebuilt, reference):
        raise ValueError(f"the {what} design cannot be rebuilt on the new data with the "
                         "estimation sample's factor levels and bases (base(freq) or "
                         "categories that differ?); give the factor variables the same "
                         "coding as in the estimation data")
    extra = [i for lab, i in pos.items() if lab not in set(columns)]
    bad = np.full(len(frame), "", dtype=object)
    for i in extra:
        hit = (d.matrix[n_train:, i] != 0) & (bad == "")
        bad[hit] = labels[i]
    return out, bad


def _random_design(model, frame: pd.DataFrame) -> np.ndarray:
    """Loadings of every random effect (columns of ``model.Z``) on the rows of ``frame``."""
    spec = model.info.spec
    eff = model.effects
    Z = np.zeros((len(frame), len(eff)))
    for q, eq in enumerate(spec.equations):
        idx = np.flatnonzero(eff["equation"].to_numpy() == q)
        if not len(idx):
            continue
        names = eff["effect"].to_numpy()[idx].tolist()
        if _factor_of(model)[idx[0]] is not None:
            Z[:, idx] = 1.0                  # its latent is the observation's level
            continue
        if len(eq.terms) == 1 and eq.terms[0][:2].upper() == "R.":
            var = eq.terms[0][2:]
            values = frame[var].to_numpy()
            for j, name in zip(idx, names):
                level = name[len(f"R.{var}["):-1]
                Z[:, j] = np.array([str(v.item() if hasattr(v, "item") else v) == level
                                    for v in values], dtype=float)
            continue
        Zq, _ = _design_on(model, frame, eq.terms, eq.constant, model.Z[:, idx], names,
                           "random-effects")
        Z[:, idx] = Zq
    return Z


def _slot_map(model) -> tuple[list[str], pd.DataFrame] | None:
    """Estimation observations keyed by nested ids and ``t()`` (and ``by``): their slot and
    residual label; None when observations are keyed by order (no ``t()``)."""
    res = model.info.residuals
    time = getattr(res, "time", None)
    if not time:
        return None
    data = model.data
    levels = list(data.hierarchy.levels)
    keys = {lv: data.hierarchy.keys[i] for i, lv in enumerate(levels) if i > 0}
    keys[time] = data.column(time)
    by = model.info.by
    if by:
        keys[by] = data.column(by)
    table = pd.DataFrame(keys)
    table["_slot"] = data.slot
    table["_res"] = model.resid_of_obs()
    return list(keys), table.drop_duplicates(subset=list(keys))


def _predict_frame(fit, post: Posterior, frame: pd.DataFrame, kind: str
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Predictions of ``kind`` for the rows of ``frame`` from the estimates (the BLUPs of
    groups in the estimation sample, 0 for other groups)."""
    model = fit.model
    spec = model.info.spec
    levels = list(model.data.hierarchy.levels)
    if "_all" in levels and "_all" not in frame:
        frame = frame.assign(_all=1)
    n = len(frame)
    value = np.full(n, np.nan)
    why = np.full(n, "", dtype=object)
    if not n:
        return value, why
    fixed_vars = variables_of(list(spec.fixed_terms))
    re_vars = [v for eq in spec.equations for v in variables_of(list(eq.terms))
               if not (len(eq.terms) == 1 and eq.terms[0][:2].upper() == "R.")]
    re_vars += [eq.terms[0][2:] for eq in spec.equations
                if len(eq.terms) == 1 and eq.terms[0][:2].upper() == "R."]
    needed = list(dict.fromkeys(fixed_vars + (re_vars if kind != "xb" else [])))
    missing_cols = [c for c in needed + ([model.outcome] if kind in ("residuals", "rstandard")
                                         else []) + (levels if kind != "xb" else [])
                    if c not in frame.columns]
    if missing_cols:
        raise ValueError(f"data lacks the column(s) {', '.join(map(repr, missing_cols))} "
                         f"needed for {kind!r} predictions")
    _first_missing(frame, needed, why)
    if kind != "xb":
        _first_missing(frame, levels, why, "missing level id")
    if kind in ("residuals", "rstandard"):
        _first_missing(frame, [model.outcome], why)
    ok = why == ""
    if not ok.any():
        return value, why
    sub = frame[ok]
    cmap = model.info.constraints
    if cmap is None:
        X, bad = _design_on(model, sub, spec.fixed_terms, spec.constant, model.X,
                            list(model.terms), "fixed")
    else:                                      # b = T g + a: the reduced covariates
        Xu, bad = _design_on(model, sub, spec.fixed_terms, spec.constant, cmap.design,
                             list(cmap.names), "fixed")
        X = Xu @ cmap.T
        if X.shape[1] < len(model.terms):       # the offset column X a
            X = np.column_stack([X, Xu @ cmap.a])
    # slot of each row: needed when coefficients or residual variances differ by slot
    values = np.asarray(fit.values, dtype=float)
    slot_varies = not (model.path_label == model.path_label[:1]).all()
    res_labels = unique(model.resid_of_obs())
    need_slot = slot_varies or (kind == "rstandard" and len(res_labels) > 1)
    slot = np.zeros(len(sub), dtype=np.int64)
    res_lab = np.full(len(sub), res_labels[0])
    if need_slot:
        smap = _slot_map(model)
        if smap is None:
            bad = np.where(bad == "", "the coefficients or residual variances differ by "
                           "slot, and a slot is defined only for estimation rows (no t())",
                           bad)
        else:
            keys, table = smap
            if any(k not in sub.columns for k in keys):
                raise ValueError(f"data lacks the slot key column(s) of the model: {keys}")
            m = _match(sub, table, keys)
            found = m["_slot"].notna().to_numpy()
            slot = np.where(found, m["_slot"].fillna(0).to_numpy(), 0).astype(np.int64)
            res_lab = np.where(found, m["_res"].fillna(0).to_numpy(), 0).astype(np.int64)
            bad = np.where((bad == "") & ~found, "slot not in the estimation sample", bad)
    why_sub = np.where(bad == "", "", np.array([b if b.startswith(("the ", "slot "))
                                                 else f"{b} not in the estimation sample"
                                                 for b in bad], dtype=object))
    xb = obs_mean(model, values, X, slot)
    out = xb.copy()
    if kind != "xb":
        Z = _random_design(model, sub)
        for e, factor in enumerate(_factor_of(model)):
            if factor is None:
                continue
            l = int(model.effects["level_index"].iloc[e])
            table = _group_table(model, l)
            keys = levels[:l + 1]
            m = _match(sub, table, keys)
            row = m["_row"].fillna(-1).to_numpy(dtype=np.int64)
            lat = _match(pd.DataFrame({"value": sub[factor].to_numpy()}),
                         _factor_latents(model, e), ["value"])
            lat = lat["latent"].fillna(-1).to_numpy(np.int64)
            pos = post.lookup(row, lat)
            out += Z[:, e] * np.where(pos >= 0, post.mean[np.maximum(pos, 0)], 0.0)
        for l in range(len(levels)):
            effs = _level_effects(model, l)
            if not len(effs):
                continue
            table = _group_table(model, l)
            m = _match(sub, table, levels[:l + 1])
            row = m["_row"].fillna(-1).to_numpy(dtype=np.int64)
            for e in effs:
                lat = m[f"_lat{e}"].fillna(-1).to_numpy(dtype=np.int64)
                pos = post.lookup(row, lat)
                out += Z[:, e] * np.where(pos >= 0, post.mean[np.maximum(pos, 0)], 0.0)
    if kind in ("residuals", "rstandard"):
        out = sub[model.outcome].to_numpy(dtype=float) - out
    if kind == "rstandard":
        if len(model.theta_table):
            why_sub = np.where(why_sub == "", "rstandard with correlated errors is defined "
                               "for estimation rows only", why_sub)
        out = out / np.sqrt(values[res_lab])
    out = np.where(why_sub == "", out, np.nan)
    value[ok], why[ok] = out, why_sub
    return value, why
