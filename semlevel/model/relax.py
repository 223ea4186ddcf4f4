"""Relaxations of a PathModel's constraints: each returns a new model, none mutates.

A label's *members* are its parameter occurrences:

* coefficient label (``x``): one path per slot, named ``x[j=1,obs=2]``;
* latent variance label (``j: var(_cons)``): one variance per latent, named ``j[1]``;
* latent covariance label: one covariance per latent pair, named ``j[1].week,j[1]``;
* residual variance label (``var(Residual)``): one per slot, named ``e.y[j=1,obs=2]``;
* residual covariance label: one per pair of errors, named ``e.y[..],e.y[..]``.

Members can be selected by name or by slot-key pattern: ``"j=4"`` selects every member
whose slot (or latent) keys include ``j=4``; ``"j=4,obs=1"`` both keys.
"""
from __future__ import annotations

import warnings

from typing import TYPE_CHECKING

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from ..data.wide import slot_name
from ..arrays import unique

if TYPE_CHECKING:  # annotations only: pathmodel imports this module
    from .pathmodel import PathModel

__all__ = ["members", "member_label", "relax", "relax_by", "correlate", "constrain", "fix", "free"]


def _latent_keys(model: PathModel, lat: int) -> dict:
    row = model.latents.iloc[lat]
    levels = model.data.hierarchy.levels
    return dict(zip(levels[1:1 + len(row["key"])], row["key"]))


def members(model: PathModel, label: str) -> pd.DataFrame:
    """The occurrences of a label: one row per member with its ``name`` and ``keys``.

    Columns: ``name``, ``keys`` (dict of slot or latent keys), ``where`` (what to change:
    ``("path", slot, term)``, ``("phi", row)`` or ``("resid", slot)``).
    """
    j = model.label_index(label)
    kind = model.labels["kind"].iloc[j]
    rows = []
    if kind == "coef":
        s_idx, t_idx = np.nonzero(model.path_label == j)
        for s, t in zip(s_idx, t_idx):
            keys = model.data.slot_keys(int(s))
            rows.append({"name": slot_name(model.terms[t], keys), "keys": keys,
                         "where": ("path", int(s), int(t))})
    elif kind in ("var", "cov"):
        names = model.latents["name"].to_numpy()
        for i in np.flatnonzero(model.phi["label"].to_numpy() == j):
            a, b = int(model.phi["a"].iloc[i]), int(model.phi["b"].iloc[i])
            name = names[a] if a == b else f"{names[a]},{names[b]}"
            keys = _latent_keys(model, a) if a == b else {}
            rows.append({"name": name, "keys": keys, "where": ("phi", int(i))})
    elif kind == "rescov":
        err = np.array(["e." + n for n in model.data.slot_names()])
        for i in np.flatnonzero(model.theta["label"].to_numpy() == j):
            s_, t_ = int(model.theta["s"].iloc[i]), int(model.theta["t"].iloc[i])
            rows.append({"name": f"{err[s_]},{err[t_]}", "keys": {}, "where": ("theta", i)})
    elif kind == "resvar":
        if model.obs_resid_label is not None:
            raise ValueError(f"the residual variances were relaxed by {model.info.get('by')!r}: "
                             f"their members by slot cannot be relaxed further")
        for s in np.flatnonzero(model.resid_label == j):
            keys = model.data.slot_keys(int(s))
            rows.append({"name": "e." + slot_name(model.outcome, keys), "keys": keys,
                         "where": ("resid", int(s))})
    else:
        raise ValueError(f"label {label!r} of kind {kind!r} has no members to relax")
    return pd.DataFrame(rows, columns=["name", "keys", "where"])


def member_label(model: PathModel, label: str, member: str) -> str:
    """The label a member gets when released on its own: the parameter's own name
    (``x[j=1,obs=2]``, ``var(j[1])``, ``cov(j[1].week,j[1])``, ``var(e.y[j=1,obs=2])``)."""
    kind = model.labels.loc[label, "kind"]
    if kind == "coef":
        return member
    return f"{'cov' if kind in ('cov', 'rescov') else 'var'}({member})"


def _match(mem: pd.DataFrame, pattern: str) -> np.ndarray:
    """Members named ``pattern``, or whose keys include every ``key=value`` of it."""
    exact = (mem["name"] == pattern).to_numpy()
    if exact.any():
        return exact
    pairs = [p.split("=", 1) for p in pattern.split(",")] if "=" in pattern else None
    if not pairs or any(len(p) != 2 for p in pairs):
        return exact
    want = {k.strip(): v.strip() for k, v in pairs}
    return np.array([all(str(keys.get(k)) == v for k, v in want.items())
                     for keys in mem["keys"]], dtype=bool)


def _available(mem: pd.DataFrame, limit: int = 8) -> str:
    names = mem["name"].tolist()
    more = f", ... ({len(names)} in all)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _normalise_groups(mem: pd.DataFrame, groups) -> dict[int, str]:
    """Member index -> new label from ``{member or pattern: label}`` or
    ``{label: [members or patterns]}``."""
    out: dict[int, str] = {}
    items: list[tuple[str, str]] = []
    for key, val in groups.items():
        if isinstance(val, str):
            items.append((key, val))
        elif isinstance(val, Iterable):
            items.extend((m, key) for m in val)
        else:
            raise TypeError(f"groups values must be labels or lists of members, not {val!r}")
    for pattern, new in items:
        hit = _match(mem, str(pattern))
        if not hit.any():
            raise ValueError(f"no member matches {pattern!r}; members are {_available(mem)} "
                             "(or select by slot keys, e.g. 'j=1')")
        for i in np.flatnonzero(hit):
            out[int(i)] = str(new)
    return out


def _start_of(model: PathModel, j: int) -> float:
    lab = model.labels
    if "estimate" in lab and np.isfinite(lab["estimate"].iloc[j]):
        return float(lab["estimate"].iloc[j])
    return float(lab["value"].iloc[j])


def _with_new_labels(model: PathModel, rows: list[dict]) -> tuple[pd.DataFrame, dict[str, int]]:
    """Label table with ``rows`` appended (existing names reused), and name -> row index."""
    lab = model.labels
    add = [r for r in rows if r["name"] not in lab.index]
    if add:
        extra = pd.DataFrame(add).drop_duplicates("name").set_index("name")
        lab = pd.concat([lab, extra.reindex(columns=lab.columns)])
    return lab, {n: i for i, n in enumerate(lab.index)}


def _apply(model: PathModel, mem: pd.DataFrame, assign: dict[int, str], labels: pd.DataFrame,
           index: dict[str, int]) -> PathModel:
    path_label = model.path_label.copy()
    resid_label = model.resid_label.copy()
    phi = model.phi.copy()
    theta = model.theta.copy()
    for i, new in assign.items():
        where = mem["where"].iloc[i]
        if where[0] == "path":
            path_label[where[1], where[2]] = index[new]
        elif where[0] == "phi":
            phi.iloc[where[1], phi.columns.get_loc("label")] = index[new]
        elif where[0] == "theta":
            theta.iloc[where[1], theta.columns.get_loc("label")] = index[new]
        else:
            resid_label[where[1]] = index[new]
    out = model.with_labels(labels, path_label=path_label, resid_label=resid_label, phi=phi,
                            theta=theta)
    return _drop_unused(out)


def _drop_unused(model: PathModel) -> PathModel:
    """Remove labels that no longer have any occurrence, renumbering the references."""
    n = len(model.label_table)
    used = np.zeros(n, dtype=bool)
    used[unique(model.path_label)] = True
    if model.obs_resid_label is None:          # else the slot labels are superseded
        used[unique(model.resid_label)] = True
    for table in (model.phi, model.theta):
        if len(table):
            used[unique(table["label"].to_numpy())] = True
    obs_res = model.obs_resid_label
    if obs_res is not None:
        used[unique(obs_res)] = True
    structure = model.info.structure
    if structure is not None:            # a structure's parameters are used through it
        used[model.labels.index.get_indexer(list(structure.params))] = True
    if used.all():
        return model
    new_index = np.cumsum(used) - 1
    phi, theta = model.phi.copy(), model.theta.copy()
    for table in (phi, theta):
        if len(table):
            table["label"] = new_index[table["label"].to_numpy()]
    resid = (new_index[model.resid_label] if obs_res is None
             else np.where(used[model.resid_label], new_index[model.resid_label], -1))
    return model.with_labels(model.labels[used], path_label=new_index[model.path_label],
                             resid_label=resid, phi=phi, theta=theta,
                             obs_resid_label=None if obs_res is None else new_index[obs_res])


def relax(model: PathModel, label: str, groups: Mapping | None = None,
          by: str | None = None) -> PathModel:
    """Release an equality label: one free parameter per member, or per group of members.

    ``groups`` maps members (names or slot-key patterns such as ``"j=1"``) to new labels,
    or new labels to lists of members; members not named keep ``label``. Without
    ``groups`` every member gets its own label (:func:`member_label`). ``by`` instead
    releases the label by the values of a variable of the data (``label [girl=1]``):
    heteroskedastic residuals by group, or latent (co)variances that differ between
    top-level units of different groups (the variable must then be constant within them).
    """
    if by is not None:
        if groups is not None:
            raise ValueError("give either groups= or by=, not both")
        return relax_by(model, label, by)
    mem = members(model, label)
    j = model.label_index(label)
    if len(mem) < 2:
        only = mem["name"].iloc[0] if len(mem) else "none"
        raise ValueError(f"label {label!r} has a single member ({only}): there is no "
                         "equality constraint to release")
    if groups is None:
        assign = {i: member_label(model, label, name) for i, name in enumerate(mem["name"])}
    else:
        assign = _normalise_groups(mem, groups)
        _warn_order_keyed(model, label)
    old = model.labels.iloc[j]
    rows = [{"name": new, "kind": old["kind"], "free": bool(old["free"]),
             "value": _start_of(model, j), "block": old["block"]}
            for new in dict.fromkeys(assign.values()) if new != label]
    clash = [r["name"] for r in rows if r["name"] in model.labels.index
             and model.labels.loc[r["name"], "kind"] != old["kind"]]
    if clash:
        raise ValueError(f"label {clash[0]!r} already exists with another kind")
    labels, index = _with_new_labels(model, rows)
    return _apply(model, mem, assign, labels, index)


def _warn_order_keyed(model: PathModel, label: str) -> None:
    """Releasing by position where the observations are keyed by their order in an
    unbalanced design: 'obs=2' is the second observation of each group, which need not be
    the same unit (pupil 2) in every group. Said once, with the way to key by a variable."""
    data = model.data
    if data.obs_key is not None or data.balanced:
        return
    mem = members(model, label)
    if not mem["name"].astype(str).str.contains("obs=").any():
        return
    warnings.warn(
        f"releasing {label!r} by position: the observations are keyed by their order "
        "within their group and the groups differ in size, so 'obs=2' is each group's "
        "second observation, not the unit with a given id; to release by a variable's "
        "value key the observations by it (slot_key='i', or t(i) in a residual structure)",
        UserWarning, stacklevel=3)


def _by_codes(model: PathModel, by: str) -> tuple[np.ndarray, list]:
    """Group code of every observation for variable ``by`` (from the model's data)."""
    column = model.data.column(by)
    codes, values = pd.factorize(pd.Series(column), sort=True)
    if (codes < 0).any():
        raise ValueError(f"variable {by!r} has missing values in the estimation sample")
    if model.obs_group is not None:
        if model.info.by != by:
            raise ValueError(f"the model already has labels by {model.info.get('by')!r}; "
                             "one grouping variable per model")
    return codes.astype(np.int64), [v.item() if hasattr(v, "item") else v for v in values]


def _constant_within(model: PathModel, codes: np.ndarray, level: int) -> bool:
    groups = model.data.hierarchy.codes[:, level]
    frame = pd.DataFrame({"g": groups, "c": codes})
    return bool((frame.groupby("g")["c"].nunique() <= 1).all())


def _split_by_group(model: PathModel, table: pd.DataFrame, j: int,
                    new_id: np.ndarray) -> pd.DataFrame:
    """Replace the rows of label ``j`` in a phi/theta table by one copy per group."""
    table = table.assign(group=model.group_of(table))
    hit = (table["label"] == j).to_numpy()
    parts = [table[~hit]] + [table[hit].assign(label=lab, group=g)
                             for g, lab in enumerate(new_id)]
    return pd.concat(parts, ignore_index=True)


def relax_by(model: PathModel, label: str, by: str) -> PathModel:
    """Release ``label`` by the values of variable ``by`` (see :func:`relax`)."""
    j = model.label_index(label)
    kind = model.labels["kind"].iloc[j]
    codes, values = _by_codes(model, by)
    if len(values) < 2:
        raise ValueError(f"variable {by!r} takes a single value: nothing to relax")
    levels = model.data.hierarchy.levels
    old = model.labels.iloc[j]
    names = [f"{label} [{by}={v}]" for v in values]
    rows = [{"name": n, "kind": kind, "free": bool(old["free"]), "value": _start_of(model, j),
             "block": old["block"]} for n in names]
    labels, index = _with_new_labels(model, rows)
    new_id = np.array([index[n] for n in names])
    info = dict(model.info, by=by, by_values=values)
    changes: dict = {"obs_group": codes}
    if kind in ("var", "cov"):
        if levels and not _constant_within(model, codes, 0):
            raise ValueError(f"variable {by!r} varies within {levels[0]!r} units: latent "
                             "(co)variances can only differ between whole top-level units")
        changes["phi"] = _split_by_group(model, model.phi, j, new_id)
    elif kind == "resvar":
        obs_res = model.resid_of_obs().copy()
        hit = obs_res == j
        obs_res[hit] = new_id[codes[hit]]
        changes["obs_resid_label"] = obs_res
    elif kind == "rescov":
        if len(levels) and not _constant_within(model, codes, len(levels) - 1):
            raise ValueError(f"variable {by!r} varies within {levels[-1]!r} groups: residual "
                             "covariances can only differ between whole groups")
        changes["theta"] = _split_by_group(model, model.theta, j, new_id)
    else:
        raise ValueError(f"label {label!r} ({kind}) cannot be relaxed by a variable; for "
                         "coefficients that differ by group add the interaction to the model")
    out = model.with_labels(labels, info=info, **changes)
    return _drop_unused(out)


def _latent_row(model: PathModel, name: str) -> int:
    hit = np.flatnonzero(model.latents["name"].to_numpy() == name)
    if not len(hit):
        names = model.latents["name"].tolist()
        more = f", ... ({len(names)} in all)" if len(names) > 10 else ""
        raise ValueError(f"no latent variable {name!r}; latents are "
                         f"{', '.join(names[:10])}{more} (errors are named e.<outcome>[...];"
                         " a latent and an error cannot be correlated)")
    return int(hit[0])


def _error_slot(model: PathModel, name: str) -> int:
    names = ["e." + n for n in model.data.slot_names()]
    if name in names:
        return names.index(name)
    more = f", ... ({len(names)} in all)" if len(names) > 10 else ""
    raise ValueError(f"no error {name!r}; errors are {', '.join(names[:10])}{more}")


def _add_covariance(model: PathModel, table: str, i: int, j: int, a: str, b: str,
                    label: str | None, kind: str, block: str) -> PathModel:
    """A new model with a free covariance between rows/slots i and j of ``model.phi``
    (latents) or ``model.theta`` (errors), under ``label`` (shared if it exists)."""
    if i == j:
        raise ValueError("a variance is not a covariance: give two different variables")
    lo, hi = min(i, j), max(i, j)
    cols = ("a", "b") if table == "phi" else ("s", "t")
    frame = getattr(model, table)
    existing = frame[(frame[cols[0]] == lo) & (frame[cols[1]] == hi)]
    if len(existing):
        have = model.labels.index[int(existing["label"].iloc[0])]
        raise ValueError(f"{a} and {b} already have a covariance, label {have!r}")
    label = label or f"cov({a},{b})"
    if label in model.labels.index and model.labels.loc[label, "kind"] != kind:
        raise ValueError(f"label {label!r} exists and is not a "
                         f"{'residual ' if kind == 'rescov' else ''}covariance")
    labels, index = _with_new_labels(model, [{"name": label, "kind": kind, "free": True,
                                              "value": 0.0, "block": block}])
    row = pd.DataFrame({cols[0]: [lo], cols[1]: [hi], "label": [index[label]]})
    return model.with_labels(labels, **{table: pd.concat([frame, row], ignore_index=True)})


def correlate(model: PathModel, a: str, b: str, label: str | None = None) -> PathModel:
    """Add a free covariance between two latents or two errors (``e.y[j=1,obs=1]``).

    Giving the ``label`` of an existing covariance constrains the new one equal to it
    (several calls with one label: equally correlated effects or errors).
    """
    for name in (a, b):
        if not isinstance(name, str):
            raise TypeError(f"correlate() takes the names of two latents (e.g. 'j[1]') or "
                            f"two errors ('e.y[j=1,obs=1]'), not {type(name).__name__} "
                            f"({name!r})")
    if a.startswith("e.") and b.startswith("e."):
        return _add_covariance(model, "theta", _error_slot(model, a), _error_slot(model, b),
                               a, b, label, "rescov", "Residual covariances")
    return _add_covariance(model, "phi", _latent_row(model, a), _latent_row(model, b),
                           a, b, label, "cov", "covariances")


def constrain(model: PathModel, *labels: str, name: str | None = None) -> PathModel:
    """Equate labels: all their members share one label (``name``, default the first)."""
    if len(labels) < 2:
        raise ValueError("constrain needs at least two labels")
    idx = [model.label_index(lab) for lab in labels]
    kinds = {model.labels["kind"].iloc[i] for i in idx}
    if len(kinds) > 1:
        raise ValueError(f"cannot equate labels of different kinds: {sorted(kinds)}")
    if kinds & {"resstruct", "lag"}:
        raise ValueError("the parameters of an AR/MA/Toeplitz/exponential residual structure "
                         "cannot be equated with other labels (fix() and free() work on them)")
    target = name or labels[0]
    assign_rows = []
    if target not in model.labels.index:
        first = model.labels.iloc[idx[0]]
        assign_rows.append({"name": target, "kind": first["kind"], "free": bool(first["free"]),
                            "value": _start_of(model, idx[0]), "block": first["block"]})
    new_labels, index = _with_new_labels(model, assign_rows)
    t = index[target]
    path_label = model.path_label.copy()
    resid_label = model.resid_label.copy()
    phi, theta = model.phi.copy(), model.theta.copy()
    for i in idx:
        path_label[path_label == i] = t
        resid_label[resid_label == i] = t
        for table in (phi, theta):
            if len(table):
                table.loc[table["label"] == i, "label"] = t
    out = model.with_labels(new_labels, path_label=path_label, resid_label=resid_label, phi=phi,
                            theta=theta)
    return _drop_unused(out)


def fix(model: PathModel, label: str, value: float) -> PathModel:
    """Fix a label at ``value`` (no longer estimated)."""
    j = model.label_index(label)
    kind = model.labels["kind"].iloc[j]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer,
                                                                       np.floating)):
        raise TypeError(f"fix({label!r}, {value!r}): the value must be a real number, "
                        f"not {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"fix({label!r}, {value}): the value must be finite")
    if kind in ("var", "resvar") and value < 0:
        raise ValueError(f"a variance cannot be fixed at a negative value ({value})")
    labels = model.labels.copy()
    labels.iloc[j, labels.columns.get_loc("free")] = False
    labels.iloc[j, labels.columns.get_loc("value")] = float(value)
    return model.with_labels(labels)


def free(model: PathModel, label: str) -> PathModel:
    """Free a fixed label (estimated again, starting from its fixed value)."""
    j = model.label_index(label)
    labels = model.labels.copy()
    labels.iloc[j, labels.columns.get_loc("free")] = True
    return model.with_labels(labels)
