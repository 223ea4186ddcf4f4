"""Build the wide-form path model of a `mixed` specification.

Random effects become latent variables (one per level and slot-key prefix), the mixed
model's assumptions become shared labels: one coefficient per fixed term for every slot,
one variance (and covariance) set per random-effects equation for every latent of that
level, one residual variance for every slot.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..columns import ColumnTable
from ..data.reader import ColumnReader
from ..data.sample import check_columns, check_unique_columns, select_sample
from ..data.weights import survey_columns
from ..data.wide import build_wide
from ..syntax.factor import design_matrix, variables_of
from ..syntax.mixed import OPTION_NAMES
from ..syntax.spec import MixedSpec
from .latents import make_latents
from .pathmodel import PathModel
from .residual_labels import check_order, check_time, residual_labels
from .residuals import CompositeStructure
from .small_sample import attach_small_sample
from .survey import attach_survey
from ..arrays import unique

__all__ = ["build_mixed_model"]

_STRUCTURE_TITLE = {"independent": "Independent", "identity": "Identity",
                    "exchangeable": "Exchangeable", "unstructured": "Unstructured"}


def _check_numeric(data: ColumnReader, name: str, role: str) -> None:
    dtype = data[name].dtype
    if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
        raise ValueError(f"{role} {name!r} is not numeric (dtype {dtype}); "
                         "convert it to numbers first")


#: commands whose name a user may leave at the front of the model string
_COMMAND_NAMES = ("mixed", "xtmixed", "mixed_model", "meglm", "xtreg", "lmer")


def build_mixed_model(spec: MixedSpec, data: pd.DataFrame, key_by: str = "value",
                      slot_key: str | None = None) -> PathModel:
    """The PathModel (with its wide data) that reproduces the mixed model ``spec``.

    ``slot_key`` names the variable whose values key the observations within their
    lowest-level group (Stata's ``reshape ... j(i)``: slot ``obs=2`` is the observation
    with ``i == 2``); by default they are keyed by their order in the group. The steps, as lme4's ``lFormula``/``mkReTrms`` split them: the inputs checked
    (:func:`_checked_inputs`), the sample and its wide form, the fixed design, the random
    design (:func:`_random_design`), the latents and their (co)variance labels
    (:func:`_latent_labels`), the residual labels (:func:`_residual_part`), assembled."""
    data, res_spec, levels, covariates = _checked_inputs(spec, data)
    time = res_spec.time if res_spec is not None else None
    if slot_key is not None:
        if not isinstance(slot_key, str):
            raise TypeError(f"slot_key must be a variable name, not {type(slot_key).__name__}")
        if time is not None and time != slot_key:
            raise ValueError(f"slot_key={slot_key!r} and the residual structure's "
                             f"t({time}) key the observations differently: give one")
        check_columns(data, [slot_key], "slot_key variable")
        time = slot_key
        covariates = list(dict.fromkeys(covariates + [slot_key]))
    by = res_spec.by if res_spec is not None else None
    sample = select_sample(data, spec.depvar, covariates, levels)
    wide = build_wide(data, spec.depvar, levels, sample, covariates, time=time, key_by=key_by)
    _check_levels_subdivide(wide, levels)
    if slot_key is not None and not (res_spec is not None and res_spec.time):
        _check_slot_key(wide, slot_key, levels)
    if time and res_spec is not None and res_spec.time:
        check_time(wide, time, res_spec.kind, levels)
        check_order(wide, res_spec)

    fixed = design_matrix(list(spec.fixed_terms), wide.data_table, spec.constant)
    terms = list(fixed.labels)
    effects, Z = _random_design(spec, wide, levels)
    latents, effect_latent = make_latents(wide, effects, levels)
    label_rows = [{"name": t, "kind": "coef", "block": "fixed"} for t in terms]
    phi, cov_blocks, notes = _latent_labels(spec, effects, effect_latent, label_rows)
    resid, extra, structure = _residual_part(wide, res_spec, label_rows, levels)
    labels = _label_table(label_rows)
    p = wide.n_slots
    path_label = np.tile(np.arange(len(terms), dtype=np.int64), (p, 1))
    model = PathModel(data=wide, labels=labels, terms=terms,
                      X=fixed.matrix, path_label=path_label, resid_label=resid,
                      latents=latents, effects=effects, Z=Z, effect_latent=effect_latent,
                      phi=phi, reml=spec.reml, **extra,
                      info={"spec": spec, "fixed_base": list(fixed.base),
                            "cov_blocks": cov_blocks,
                            "factor_levels": dict(fixed.factor_levels),
                            "residuals": res_spec, "structure": structure,
                            "notes": notes})
    if by:
        model = _residuals_by(model, wide, res_spec)
    return attach_small_sample(attach_survey(model, spec), spec)


def _label_table(label_rows: list[dict]) -> ColumnTable:
    """The labels table (row names: the labels; kind, free, value, block) as columns:
    every label free but a residual structure's lags, values unset unless given."""
    names = [r["name"] for r in label_rows]
    seen: set[str] = set()
    for nm in names:
        if nm in seen:
            raise ValueError(f"two random-effects equations define the same parameter {nm!r}")
        seen.add(nm)
    kinds = [r["kind"] for r in label_rows]
    return ColumnTable({"kind": kinds,
                        "free": np.array([k != "lag" for k in kinds], dtype=bool),
                        "value": np.array([r.get("value", np.nan) for r in label_rows],
                                          dtype=float),
                        "block": [r.get("block", np.nan) for r in label_rows]},
                       index=names, index_name="name")


def _check_slot_key(wide, slot_key: str, levels: list[str]) -> None:
    """Each value of ``slot_key`` at most once within a lowest-level group (else two
    observations would share a slot)."""
    pair = wide.row.astype(np.int64) * max(wide.n_slots, 1) + wide.slot
    dup = pd.Series(pair).duplicated().to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        value = wide.column(slot_key)[i]
        value = value.item() if hasattr(value, "item") else value
        where = ", ".join(f"{lev}={wide.hierarchy.keys[k][i]}" for k, lev in enumerate(levels))
        raise ValueError(f"{slot_key!r} keys the observations within their group, but the "
                         f"value {value!r} occurs twice in the group {where}")


def _checked_inputs(spec: MixedSpec, data: pd.DataFrame):
    """The checks before any data is touched: the data frame, the options the builder
    handles, the variables (present, numeric where they must be); returns the data (with
    ``_all`` added for a crossed top level), the residual specification, the levels and
    the columns the sample needs. The data come back as a :class:`ColumnReader` (each
    column read once by the steps after)."""
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    check_unique_columns(data)
    res_spec = spec.residuals
    unsupported = spec.extra.get("unsupported") or {}
    if unsupported:
        name = next(iter(unsupported))
        raise ValueError(f"option {name}() is not supported yet by semlevel")
    levels = list(spec.levels)
    if "_all" in levels:
        if levels.index("_all") != 0:
            raise ValueError("_all must be the first (top) level")
        data = data.assign(_all=1)          # one group holding every observation
    if spec.depvar in _COMMAND_NAMES and spec.depvar not in data.columns:
        raise ValueError(f"the model string starts with {spec.depvar!r}, a command name: give "
                         "what follows the command (\"weight week || id:\", not \"mixed "
                         "weight week || id:\")")
    check_columns(data, [spec.depvar], "outcome variable")
    check_columns(data, levels, "level variable")
    fixed_vars = variables_of(list(spec.fixed_terms))
    re_vars = [v for eq in spec.equations for v in variables_of(list(eq.terms))]
    for name in fixed_vars + re_vars:
        if name not in data.columns and name in OPTION_NAMES:
            raise ValueError(f"unknown variable {name!r}: {name!r} is an option, and options "
                             f"follow a comma (\"... || id: week, {name}\")")
    check_columns(data, fixed_vars + re_vars)
    reader = ColumnReader(data)
    _check_numeric(reader, spec.depvar, "outcome")
    time = res_spec.time if res_spec is not None else None
    by = res_spec.by if res_spec is not None else None
    if time:
        check_columns(data, [time], "time variable")
        _check_numeric(reader, time, "time variable")
    if by:
        check_columns(data, [by], "by() variable")
    extra_cols = ([time] if time else []) + ([by] if by else [])
    extra_cols += survey_columns(spec, data)          # weights, vce(cluster) variable
    covariates = list(dict.fromkeys(fixed_vars + re_vars + extra_cols))
    return reader, res_spec, levels, covariates


def _random_design(spec: MixedSpec, wide, levels: list[str]) -> tuple[ColumnTable, np.ndarray]:
    """The random effects (one row per effect: level, equation, effect, definition
    variable or factor) and their loadings ``Z`` (one column per effect), equations top
    to bottom."""
    eff_rows, z_cols = [], []
    for q, eq in enumerate(spec.equations):
        if _r_term(eq) is not None and eq.level == levels[0] == "_all":
            # crossed factor at _all (one row, one observation per slot): one effect whose
            # latent in each slot is that observation's level (see latents.make_latents)
            labs, cols = [f"R.{_r_term(eq)}"], [np.ones(wide.n_obs)]
        elif _r_term(eq) is not None:
            labs, cols = _indicator_design(wide.data, _r_term(eq))
        else:
            d = design_matrix(list(eq.terms), wide.data_table, eq.constant, check_rank=False)
            labs, cols = d.re_labels, list(d.matrix.T)
        for lab, col in zip(labs, cols):
            factor = _r_term(eq) if lab == f"R.{_r_term(eq)}" else None
            eff_rows.append({"level": eq.level, "level_index": levels.index(eq.level),
                             "equation": q, "effect": lab, "factor": factor,
                             "variable": None if lab == "_cons" or factor else lab})
            z_cols.append(col)
    effects = ColumnTable({c: [r[c] for r in eff_rows] for c in
                           ("level", "level_index", "equation", "effect", "variable",
                            "factor")}, n=len(eff_rows))
    Z = np.column_stack(z_cols) if z_cols else np.zeros((wide.n_obs, 0))
    return effects, Z


def _latent_labels(spec: MixedSpec, effects: ColumnTable, effect_latent: np.ndarray,
                   label_rows: list[dict]) -> tuple[ColumnTable, list, list[str]]:
    """Each equation's (co)variance labels (appended to ``label_rows``: a variance where
    the structure puts the label on the diagonal, else a covariance) and the latent
    covariance table ``phi`` (a, b, label); the unstructured blocks (optimised through a
    Cholesky factor) and the notes on equations dropped for having no effects."""
    phi_parts = []
    cov_blocks: list[list[list[str]]] = []
    notes: list[str] = []
    eq_of = effects["equation"]
    effect_names = effects["effect"].tolist()
    factor_of = effects["factor"].tolist()
    for q, eq in enumerate(spec.equations):
        effs = np.flatnonzero(eq_of == q)
        names = [effect_names[e] for e in effs]
        if not len(effs):
            repeated = sum(e.level == eq.level for e in spec.equations) > 1
            why = (f"a repeated level: only the last '|| {eq.level}:' equation of a run gets "
                   "the random intercept" if repeated and not eq.terms else
                   "noconstant and no variables")
            notes.append(f"random-effects equation {q + 1} ('|| {eq.level}:') has no "
                         f"effects ({why}) and was dropped")
            continue
        structure = eq.covariance if len(effs) > 1 or factor_of[effs[0]] else "identity"
        block = f"{eq.level}: {_STRUCTURE_TITLE[structure]}"
        pair_label = _structure_labels(eq.level, names, structure, _r_term(eq))
        if structure == "unstructured":
            m_ = len(names)
            cov_blocks.append([[pair_label[(min(i, j), max(i, j))] for j in range(m_)]
                               for i in range(m_)])
        first = len(label_rows)
        uniq = list(dict.fromkeys(pair_label.values()))
        diagonal = {lab for (i, j), lab in pair_label.items() if i == j}
        for lab in uniq:
            label_rows.append({"name": lab, "kind": "var" if lab in diagonal else "cov",
                               "block": block})
        lab_id = {lab: first + i for i, lab in enumerate(uniq)}
        lat_of = [unique(effect_latent[:, e][effect_latent[:, e] >= 0]) for e in effs]
        for (i, j), lab in pair_label.items():
            if j >= len(lat_of):
                continue                                   # the factor's pairs: below
            a, b = lat_of[i], lat_of[j]
            phi_parts.append((np.minimum(a, b), np.maximum(a, b),
                              np.full(len(a), lab_id[lab], dtype=np.int64)))
        if len(effs) == 1 and factor_of[effs[0]] and structure == "exchangeable":
            a, b = np.triu_indices(len(lat_of[0]), 1)     # every pair of the factor's levels
            phi_parts.append((lat_of[0][a], lat_of[0][b],
                              np.full(len(a), lab_id[pair_label[(0, 1)]], dtype=np.int64)))
    phi = ColumnTable({c: (np.concatenate([part[i] for part in phi_parts]).astype(np.int64)
                           if phi_parts else np.zeros(0, dtype=np.int64))
                       for i, c in enumerate(("a", "b", "label"))})
    return phi, cov_blocks, notes


def _residual_part(wide, res_spec, label_rows: list[dict], levels: list[str]):
    """The residual labels (appended to ``label_rows``): each slot's residual label, the
    PathModel fields for residual covariances and labels by group, and the nonlinear
    structure (or None)."""
    resid = len(label_rows)
    if res_spec is None:
        label_rows.append({"name": "var(Residual)", "kind": "resvar", "block": "Residual"})
        return np.full(wide.n_slots, resid, dtype=np.int64), {}, None
    if res_spec.by and res_spec.kind in NONLINEAR:
        theta, structure, resid_of_slot, obs_group, obs_resid = _nonlinear_by(
            wide, res_spec, label_rows, levels)
        return resid_of_slot, {"theta": theta, "obs_group": obs_group,
                               "obs_resid_label": obs_resid}, structure
    theta, structure, resid_of_slot = residual_labels(wide, res_spec, label_rows)
    return resid_of_slot, ({} if theta is None else {"theta": theta}), structure


def _residuals_by(model: PathModel, wide, res_spec) -> PathModel:
    """``residuals(..., by(var))``: a nonlinear structure per group is already built (its
    groups recorded here); a linear one relaxes the residual labels by the variable."""
    by = res_spec.by
    if res_spec.kind in NONLINEAR:
        return model.replace(info=dict(
            model.info, by=by, by_values=_by_values(wide, by)[1]))
    from .relax import relax_by
    resid_block = model.label_table["block"][int(model.resid_label[0])]
    for name in [n for n in model.labels.index if model.labels.loc[n, "block"] == resid_block]:
        model = relax_by(model, name, by)
    labels_ = model.labels.copy()
    labels_.loc[labels_["block"] == resid_block, "block"] = f"{resid_block}, by {by}"
    return model.with_labels(labels_)


NONLINEAR = ("ar", "ma", "toeplitz", "exponential")


def _by_values(wide, by: str):
    codes, values = pd.factorize(wide.data[by], sort=True)
    return codes.astype(np.int64), [v.item() if hasattr(v, "item") else v for v in values]


def _nonlinear_by(wide, spec, label_rows: list[dict], levels: list[str]):
    """One nonlinear residual structure per value of the ``by()`` variable, which must be
    constant within lowest-level groups."""
    codes, values = _by_values(wide, spec.by)
    if len(values) < 2:
        raise ValueError(f"variable {spec.by!r} takes a single value: nothing to relax")
    lowest = wide.hierarchy.codes[:, -1]
    if (pd.DataFrame({"g": lowest, "c": codes}).groupby("g")["c"].nunique() > 1).any():
        raise ValueError(f"by() variable {spec.by!r} varies within {levels[-1]!r} groups: "
                         f"residuals({spec.kind}, by()) needs it constant within them")
    thetas, parts = [], []
    obs_resid = np.zeros(wide.n_obs, dtype=np.int64)
    resid_of_slot = None
    for g, v in enumerate(values):
        th, st, res = residual_labels(wide, spec, label_rows, suffix=f" [{spec.by}={v}]",
                                      block_suffix=f", by {spec.by}")
        thetas.append(th.assign(group=g))
        parts.append(st)
        sel = codes == g
        obs_resid[sel] = res[wide.slot[sel]]
        resid_of_slot = res if resid_of_slot is None else resid_of_slot
    return (pd.concat(thetas, ignore_index=True), CompositeStructure(tuple(parts)),
            resid_of_slot, codes, obs_resid)


def _check_levels_subdivide(wide, levels: list[str]) -> None:
    """Each level must split its parent: otherwise the two levels are one grouping.

    This is what listing levels bottom to top (``|| state: || region:``) produces once
    nesting is enforced: every state holds one region.
    """
    h = wide.hierarchy
    for l in range(1, len(levels)):
        if h.n_groups(l) == h.n_groups(l - 1):
            raise ValueError(
                f"level {levels[l]!r} is not nested within {levels[l - 1]!r}: every "
                f"{levels[l - 1]!r} group contains exactly one {levels[l]!r} group, so the "
                "two levels are the same grouping and their variances are not identified "
                "(levels are listed top to bottom: did you mean "
                f"'|| {levels[l]}: || {levels[l - 1]}:'?)")


def _r_term(eq) -> str | None:
    """The variable of an ``R.varname`` equation (crossed effects), else None."""
    if len(eq.terms) == 1 and eq.terms[0][:2].upper() == "R.":
        return eq.terms[0][2:]
    return None


def _indicator_design(data: pd.DataFrame, var: str) -> tuple[list[str], list[np.ndarray]]:
    """R.var: one indicator column per level of ``var`` (overparameterised, none dropped)."""
    values = data[var]
    levels = sorted(values.unique(), key=lambda v: (str(type(v)), v))
    labels = [f"R.{var}[{v.item() if hasattr(v, 'item') else v}]" for v in levels]
    return labels, [(values == v).to_numpy(dtype=float) for v in levels]


def _structure_labels(level: str, names: list[str], structure: str,
                      r_var: str | None = None) -> dict:
    """Label of each (i, j) pair (i <= j) of effects of one equation under a structure.

    For ``R.var`` (one effect per level of var) the labels name the term: ``var(R.var)``
    and, exchangeable, ``cov(R.var)``."""
    m = len(names)
    out: dict[tuple[int, int], str] = {}
    if r_var is not None:
        if structure not in ("identity", "exchangeable"):
            raise ValueError(f"R.{r_var} allows covariance(identity) or (exchangeable)")
        for i in range(m):
            out[(i, i)] = f"{level}: var(R.{r_var})"
            if structure == "exchangeable":
                for j in range(i + 1, max(m, 2)):   # one effect per factor: its levels' pair
                    out[(i, j)] = f"{level}: cov(R.{r_var})"
        return out
    if structure == "identity":
        lab = f"{level}: var({' '.join(names)})"
        for i in range(m):
            out[(i, i)] = lab
    elif structure == "independent":
        for i in range(m):
            out[(i, i)] = f"{level}: var({names[i]})"
    elif structure == "exchangeable":
        var = f"{level}: var({' '.join(names)})"
        cov = f"{level}: cov({','.join(names)})" if m == 2 else f"{level}: cov({' '.join(names)})"
        for i in range(m):
            out[(i, i)] = var
            for j in range(i + 1, m):
                out[(i, j)] = cov
    elif structure == "unstructured":
        for i in range(m):
            out[(i, i)] = f"{level}: var({names[i]})"
        for i in range(m):
            for j in range(i + 1, m):
                out[(i, j)] = f"{level}: cov({names[i]},{names[j]})"
    else:
        raise ValueError(f"unknown covariance structure {structure!r}")
    return out
