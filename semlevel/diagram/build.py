"""PathModel (or Fit) -> node and edge tables of its path diagram.

The tables are what gets drawn: one row per node (``id``, ``name``, ``kind``, ``text``,
``column``, ``order``, ...) and one row per drawn edge (``tail``, ``head`` in the causal
direction, ``kind``, ``label``, the parameter's values and the ``text`` written on it).
Variances are edges from a node to itself. A user may edit the tables (rename nodes, move
them to another column, change texts) before :func:`~semlevel.diagram.dot.to_graphviz`.

Columns (``column``, left to right when ``rankdir="LR"``): 0 covariates, 1 outcomes,
2 errors (and definition-variable diamonds of right-side latents), then the levels'
latents alternating right (3, 4, ...) and left (-1, -2, ...) from the lowest level up.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .options import DiagramOptions
from .text import EQUAL_SYMBOLS, fmt_number, slot_suffix, stars_of
from ..arrays import unique

__all__ = ["DiagramTables", "build_tables"]

NODE_COLUMNS = ["id", "name", "kind", "text", "column", "order", "level", "multiplicity",
                "sub"]
EDGE_COLUMNS = ["tail", "head", "kind", "label", "free", "value", "estimate", "se", "p",
                "std", "std_se", "definition", "members", "text"]


@dataclass
class DiagramTables:
    """Nodes and edges of a diagram, and what the figure note says."""

    nodes: pd.DataFrame
    edges: pd.DataFrame
    options: DiagramOptions
    note: str = ""
    title: str = ""


# ---------------------------------------------------------------------------------------
def _safe_id(name: str, used: set) -> str:
    base = re.sub(r"[^0-9A-Za-z_]+", "_", str(name)).strip("_") or "n"
    if base[0].isdigit():
        base = "n" + base
    out, i = base, 2
    while out in used:
        out, i = f"{base}_{i}", i + 1
    used.add(out)
    return out


def _level_columns(levels: tuple[str, ...], all_left: bool = False) -> dict[str, int]:
    """Column of each level's latents: from the lowest level up, right, left, right, ...;
    all on the left when the errors are correlated (their arcs take the right side)."""
    out, right, left = {}, 3, -1
    for i, lev in enumerate(reversed(levels)):
        if i % 2 == 0 and not all_left:
            out[lev], right = right, right + 1
        else:
            out[lev], left = left, left - 1
    return out


def _latent_text(row, levels) -> str:
    keys = dict(zip(levels[1:1 + len(row["key"])], row["key"]))
    text = f"{row['level']}{slot_suffix(keys)}"
    if row["effect"] != "_cons":
        text += f".{row['effect']}"
    return text


def _fit_values(fit, model):
    """estimate, se, p of every label (p: z test for coefficients and covariances)."""
    est = model.labels["estimate"] if "estimate" in model.labels else None
    se = pd.Series(np.nan, index=model.labels.index)
    p = pd.Series(np.nan, index=model.labels.index)
    if fit is not None:
        fx = fit.fixed
        se.loc[fx.index] = fx["se"].to_numpy()
        p.loc[fx.index] = fx["p"].to_numpy()
        rv = fit.random_variance
        se.loc[rv.index] = rv["se"].to_numpy()
        cov = rv.index[rv["kind"].isin(["cov", "rescov"])]
        if len(cov):
            z = rv.loc[cov, "estimate"] / rv.loc[cov, "se"]
            from scipy import stats as st
            p.loc[cov] = 2.0 * st.norm.sf(np.abs(z.to_numpy(dtype=float)))
    return est, se, p


def _standardized_lookup(fit, opt: DiagramOptions, slots: bool = True
                         ) -> tuple[dict, dict]:
    """From the standardized solution (fit.standardized(), the one place it is
    computed): (lhs, op, rhs) -> (std.all, SE) per slot (only with ``slots``), and
    label -> (std.all, SE) with the moments of all observations (where a slot's value is
    undefined, e.g. one observation per slot, and for the multilevel view). The joint
    information behind the SEs is formed once for both."""
    from ..inference.score import joint_observed_vcov_with_labels
    from ..inference.standardized import standardized_solution
    vcov = joint_observed_vcov_with_labels(fit) if opt.se else None
    pooled = standardized_solution(fit, by="pooled", se=opt.se, vcov=vcov)
    se_p = pooled["se"] if "se" in pooled else pd.Series(np.nan, index=pooled.index)
    by_key: dict = {}
    if slots:
        slot = standardized_solution(fit, by="slot", se=opt.se, vcov=vcov)
        se_s = slot["se"] if "se" in slot else pd.Series(np.nan, index=slot.index)
        by_key = {(a, o, b): (v, e) for a, o, b, v, e in
                  zip(slot["lhs"], slot["op"], slot["rhs"], slot["std_all"], se_s)}
    by_label: dict = {}
    for a, o, lab, v, e in zip(pooled["lhs"], pooled["op"], pooled["label"],
                               pooled["std_all"], se_p):
        by_label[lab or (o, a)] = (v, e)
    return by_key, by_label


def _full_tables(model, fit, opt: DiagramOptions):
    tab = model.table
    levels = tuple(model.data.hierarchy.levels)
    err_cov = ((tab["op"] == "~~") & (tab["lhs"] != tab["rhs"])
               & tab["lhs"].astype(str).str.startswith("e.")).any()
    lev_col = _level_columns(levels, all_left=bool(err_cov))
    est, se, pval = _fit_values(fit, model)
    std, std_pooled = _standardized_lookup(fit, opt) if (opt.standardized and
                                                          est is not None) else ({}, {})

    def std_of(key, label):
        if key[1] == "->":                 # the error's path: sqrt of its variance share
            v, e = std.get((key[0], "~~", key[0]), (np.nan, np.nan))
            root = float(np.sqrt(v)) if np.isfinite(v) and v >= 0 else np.nan
            return {"std": root, "std_se": e / (2 * root) if root and np.isfinite(e)
                    else np.nan}
        v, e = std.get(key, (np.nan, np.nan))
        if not np.isfinite(v):
            v, e = std_pooled.get(label or (key[1], key[0].split("[")[0]), (np.nan, np.nan))
        return {"std": v, "std_se": e}
    used: set = set()
    nodes: list[dict] = []
    node_of: dict[str, str] = {}

    def add_node(name, kind, text, column, order, level=None, mult=1, sub=""):
        nid = _safe_id(name, used)
        node_of[name] = nid
        nodes.append({"id": nid, "name": name, "kind": kind, "text": text, "column": column,
                      "order": order, "level": level, "multiplicity": mult, "sub": sub})
        return nid

    slot_names = model.data.slot_names()
    slot_index = {n: s for s, n in enumerate(slot_names)}
    n_terms = len(model.terms)
    for s, name in enumerate(slot_names):
        suffix = slot_suffix(model.data.slot_keys(s))
        add_node(name, "observed", f"{model.outcome}{suffix}", 1, s, sub=suffix)
    lat = model.latents
    lat_level = dict(zip(lat["name"], lat["level"]))
    for i, row in lat.iterrows():
        add_node(row["name"], "latent", _latent_text(row, levels), lev_col[row["level"]], i,
                 level=row["level"])

    def values(label, free, value, key):
        if label and label in model.labels.index:
            e = float(est[label]) if est is not None else np.nan
            return {"label": label, "free": bool(free), "value": value, "estimate": e,
                    "se": float(se[label]), "p": float(pval[label]), **std_of(key, label)}
        got = std_of(key, label)
        if not np.isfinite(got["std"]) and not std:
            got["std"] = value
        return {"label": label or "", "free": False, "value": value, "estimate": value,
                "se": np.nan, "p": np.nan, **got}

    edges: list[dict] = []
    for r in tab.itertuples(index=False):
        lhs, op, rhs = r.lhs, r.op, r.rhs
        key = (lhs, op, rhs)
        vals = values(r.label, r.free, r.value, key)
        if op == "~":
            s = slot_index[lhs]
            if rhs == "_cons":
                if opt.intercepts == "hide":
                    continue
                if opt.intercepts == "box":
                    edges.append({"tail": node_of[lhs], "head": node_of[lhs],
                                  "kind": "intercept", **vals})
                    continue
                if "_cons" not in node_of:
                    add_node("_cons", "intercept", "1", 0, -1)
                edges.append({"tail": node_of["_cons"], "head": node_of[lhs], "kind": "path",
                              **vals})
                continue
            if not opt.covariates:
                continue
            if rhs not in node_of:
                term = next((t for t in model.terms if rhs == t or rhs.startswith(t + "[")),
                            rhs)
                t = model.terms.index(term) if term in model.terms else 0
                suffix = slot_suffix(model.data.slot_keys(s))
                plain = re.fullmatch(r"\w+", term)
                text = f"{term}{suffix}" if plain else f"{term}[{suffix}]"
                add_node(rhs, "covariate", text, 0, s * n_terms + t,
                         sub=suffix if plain else "")
            edges.append({"tail": node_of[rhs], "head": node_of[lhs], "kind": "path", **vals})
        elif op == "=~":
            definition = r.definition if isinstance(r.definition, str) else None
            vals["definition"] = definition
            if definition:
                vals.update(value=np.nan, estimate=np.nan, std=np.nan, std_se=np.nan)
            edges.append({"tail": node_of[lhs], "head": node_of[rhs], "kind": "loading",
                          **vals})
        else:
            for side in (lhs, rhs):
                if side not in node_of and str(side).startswith("e."):
                    y = side[2:]
                    s = slot_index[y]
                    nid = add_node(side, "error",
                                   f"ε{slot_suffix(model.data.slot_keys(s))}", 2, s,
                                   sub=slot_suffix(model.data.slot_keys(s)))
                    edges.append({"tail": nid, "head": node_of[y], "kind": "error",
                                  **values("", False, 1.0, (side, "->", y))})
            kind = "variance" if lhs == rhs else "covariance"
            edges.append({"tail": node_of[lhs], "head": node_of[rhs], "kind": kind, **vals})
    del lat_level
    nodes_df = pd.DataFrame(nodes, columns=NODE_COLUMNS)
    edges_df = pd.DataFrame(edges).reindex(columns=EDGE_COLUMNS)
    edges_df["members"] = 1
    return nodes_df, edges_df


# ---------------------------------------------------------------------------------------
def _collapse(nodes: pd.DataFrame, edges: pd.DataFrame, model) -> tuple[pd.DataFrame,
                                                                          pd.DataFrame]:
    """One representative node per kind and level (per term, per random effect), with its
    multiplicity; edges merged by their representatives."""
    lat = model.latents.set_index("name")
    group, rep_rows = {}, {}
    key_names = {k: ("i" if k == "obs" else k) for k in model.data.slots.columns
                 if k != "n_obs"}
    generic = "".join(key_names.values()) if all(len(v) == 1 for v in key_names.values()) \
        else "(" + ",".join(key_names.values()) + ")"
    for r in nodes.itertuples(index=False):
        sub = ""
        if r.kind == "observed":
            g, text, sub = "observed", f"{model.outcome}{generic}", generic
        elif r.kind == "error":
            g, text, sub = "error", f"ε{generic}", generic
        elif r.kind == "covariate":
            term = re.sub(r"\[.*\]$", "", r.name)
            g, text, sub = f"cov:{term}", f"{term}{generic}", generic
        elif r.kind == "latent":
            row = lat.loc[r.name]
            text = row["level"]
            if row["effect"] != "_cons":
                text += f".{row['effect']}"
            g = f"lat:{row['level']}:{row['effect']}"
        else:
            g, text = r.kind, r.text
        group[r.id] = g
        if g not in rep_rows:
            rep_rows[g] = {**r._asdict(), "id": re.sub(r"[^0-9A-Za-z_]+", "_", g),
                           "name": g, "text": text, "multiplicity": 0,
                           "sub": sub if r.kind in ("observed", "error", "covariate") else ""}
        rep_rows[g]["multiplicity"] += 1
    out_nodes = pd.DataFrame(list(rep_rows.values()), columns=NODE_COLUMNS)
    rep_id = {g: row["id"] for g, row in rep_rows.items()}
    e = edges.copy()
    e["tail"] = [rep_id[group[t]] for t in e["tail"]]
    e["head"] = [rep_id[group[h]] for h in e["head"]]
    rows = []
    for (t, h, k), grp in e.groupby(["tail", "head", "kind"], sort=False):
        labs = list(dict.fromkeys(grp["label"]))
        first = grp.iloc[0].to_dict()
        first["members"] = len(grp)
        if len(labs) > 1:
            first["label"] = labs
            for c in ("estimate", "se", "p", "value"):
                vals = grp[c].to_numpy(dtype=float)
                first[c] = (np.nanmin(vals), np.nanmax(vals)) if np.isfinite(vals).any() \
                    else np.nan
        # standardized values differ by slot even under one label (the implied
        # variance of the outcome differs): a range when they do
        for c in ("std", "std_se"):
            vals = grp[c].to_numpy(dtype=float)
            if np.isfinite(vals).any():
                lo, hi = np.nanmin(vals), np.nanmax(vals)
                first[c] = lo if np.isclose(lo, hi, rtol=1e-9, atol=1e-12) else (lo, hi)
        if t == h and k == "covariance":
            first["kind"] = "covariance"
        rows.append(first)
    out_edges = pd.DataFrame(rows).reindex(columns=EDGE_COLUMNS)
    return out_nodes, out_edges


# ---------------------------------------------------------------------------------------
def _multilevel_tables(model, fit, opt: DiagramOptions):
    """Compact multilevel notation: x -> y at the observation level, a filled dot on y
    per random intercept and on the x -> y path per random slope, each dot linked to its
    latent (one per level and effect, collapsed over slot positions)."""
    levels = tuple(model.data.hierarchy.levels)
    est, se, pval = _fit_values(fit, model)
    std = _standardized_lookup(fit, opt, slots=False)[1] \
        if (opt.standardized and est is not None) else {}
    used: set = set()
    nodes, edges = [], []

    def node(name, kind, text, column, order, level=None, mult=1):
        nid = _safe_id(name, used)
        nodes.append({"id": nid, "name": name, "kind": kind, "text": text, "column": column,
                      "order": order, "level": level, "multiplicity": mult})
        return nid

    def vals(label):
        labels = list(dict.fromkeys(label)) if isinstance(label, list) else [label]
        if len(labels) == 1:
            lab = labels[0]
            e = float(est[lab]) if est is not None and lab in est.index else np.nan
            v, v_se = std.get(lab, (np.nan, np.nan))
            return {"label": lab, "free": bool(model.labels.loc[lab, "free"]),
                    "value": model.labels.loc[lab, "value"], "estimate": e,
                    "se": float(se.get(lab, np.nan)), "p": float(pval.get(lab, np.nan)),
                    "std": v, "std_se": v_se}
        e = [float(est[lab]) for lab in labels] if est is not None else [np.nan]
        v = [std.get(lab, (np.nan, np.nan))[0] for lab in labels]
        finite = [x for x in v if np.isfinite(x)]
        return {"label": labels, "free": True, "value": np.nan,
                "estimate": (min(e), max(e)) if est is not None else np.nan,
                "se": np.nan, "p": np.nan,
                "std": (min(finite), max(finite)) if finite else np.nan, "std_se": np.nan}

    lev_col = {lev: 3 + i for i, lev in enumerate(reversed(levels))}
    y = node(model.outcome, "observed", model.outcome, 1, 0)
    lab_names = model.labels.index.to_numpy()
    slopes = {}
    for t, term in enumerate(model.terms):
        labels = list(lab_names[unique(model.path_label[:, t])])
        if term == "_cons":
            if opt.intercepts != "hide":
                edges.append({"tail": y, "head": y, "kind": "intercept", **vals(labels)})
            continue
        if not opt.covariates:
            continue
        x = node(term, "covariate", term, 0, t)
        random = model.effects[model.effects["variable"] == term]
        if len(random):
            dot = node(f"slope {term}", "point", "", 0.5, t)
            slopes[term] = dot
            edges.append({"tail": x, "head": dot, "kind": "path_part", "label": "",
                          "free": False})
            edges.append({"tail": dot, "head": y, "kind": "path", **vals(labels)})
        else:
            edges.append({"tail": x, "head": y, "kind": "path", **vals(labels)})
    # a random slope on a variable without a fixed effect: its path is fixed at 0
    for term in model.effects["variable"].dropna().unique():
        if term in slopes or not opt.covariates:
            continue
        x = node(term, "covariate", term, 0, len(nodes))
        dot = node(f"slope {term}", "point", "", 0.5, len(nodes))
        slopes[term] = dot
        edges.append({"tail": x, "head": dot, "kind": "path_part", "label": "",
                      "free": False})
        edges.append({"tail": dot, "head": y, "kind": "path", "label": "", "free": False,
                      "value": 0.0, "estimate": 0.0})
    e_id = node("e." + model.outcome, "error", "ε", 2, 0)
    edges.append({"tail": e_id, "head": y, "kind": "error", "label": "", "free": False,
                  "value": 1.0, "estimate": 1.0})
    res = list(lab_names[unique(model.resid_label)])
    edges.append({"tail": e_id, "head": e_id, "kind": "variance", **vals(res)})
    lat = model.latents
    phi = model.phi
    for (lev, eff), grp in lat.groupby(["level", "effect"], sort=False):
        text = f"{model.outcome}[{lev}]" if eff == "_cons" else f"{eff}[{lev}]"
        lid = node(f"{lev}:{eff}", "latent", text, lev_col[lev], 0, level=lev, mult=len(grp))
        rows = grp.index.to_numpy()
        diag = phi[(phi["a"] == phi["b"]) & phi["a"].isin(rows)]
        edges.append({"tail": lid, "head": lid, "kind": "variance",
                      **vals(list(lab_names[diag["label"].to_numpy()]))})
        if eff == "_cons":
            dot = node(f"intercept {lev}", "point", "", 1.5, len(nodes))
            edges.append({"tail": dot, "head": y, "kind": "dot_link", "label": "",
                          "free": False})
            target = dot
        else:
            target = slopes.get(eff)
            if target is None:
                target = node(f"slope {eff}", "point", "", 1.5, len(nodes))
                edges.append({"tail": target, "head": y, "kind": "dot_link", "label": "",
                              "free": False})
        edges.append({"tail": lid, "head": target, "kind": "random", "label": "",
                      "free": False, "value": 1.0, "estimate": 1.0})
    # covariances between the effects of one level (collapsed over positions)
    lat_key = {i: f"{r['level']}:{r['effect']}" for i, r in lat.iterrows()}
    ids = {n["name"]: n["id"] for n in nodes}
    off = phi[phi["a"] != phi["b"]]
    pairs: dict = {}
    for a, b, lab in zip(off["a"], off["b"], off["label"]):
        pairs.setdefault((lat_key[a], lat_key[b]), []).append(lab_names[lab])
    for (ka, kb), labs in pairs.items():
        edges.append({"tail": ids[ka], "head": ids[kb], "kind": "covariance", **vals(labs)})
    nodes_df = pd.DataFrame(nodes, columns=NODE_COLUMNS)
    edges_df = pd.DataFrame(edges).reindex(columns=EDGE_COLUMNS)
    edges_df["members"] = edges_df["members"].fillna(1)
    return nodes_df, edges_df


# ---------------------------------------------------------------------------------------
def _label_text(label, opt: DiagramOptions, display: dict | None = None) -> str:
    if isinstance(label, list):
        return f"{len(label)} labels"
    if label in opt.labels:
        return str(opt.labels[label])
    m = re.fullmatch(r"(var|cov)\((.+)\)", str(label))
    if display and m:
        # a released member's own label, var(j[1]) or cov(e.y[..],e.y[..]): written with
        # the variables' display names
        parts = _split_names(m.group(2), display)
        if parts:
            return f"{m.group(1)}({','.join(display[p] for p in parts)})"
    return str(label)


def _split_names(text: str, display: dict) -> list[str] | None:
    if text in display:
        return [text]
    for i, ch in enumerate(text):
        if ch == "," and text[:i] in display and text[i + 1:] in display:
            return [text[:i], text[i + 1:]]
    return None


def _num(v, opt: DiagramOptions) -> str:
    if isinstance(v, tuple):
        lo, hi = v
        if fmt_number(lo, opt.digits) == fmt_number(hi, opt.digits):
            return fmt_number(lo, opt.digits, opt.leading_zero)
        return (f"{fmt_number(lo, opt.digits, opt.leading_zero)}–"
                f"{fmt_number(hi, opt.digits, opt.leading_zero)}")
    return fmt_number(v, opt.digits, opt.leading_zero)


def _is_num(v) -> bool:
    if isinstance(v, tuple):
        return True
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def edge_texts(edges: pd.DataFrame, opt: DiagramOptions, fitted: bool,
               symbols: dict, display: dict | None = None) -> list[str]:
    """The text written on each edge under the options (labels, estimates, both)."""
    show = opt.show if opt.show != "auto" else ("estimates" if fitted else "labels")
    if show != "labels" and not fitted:
        raise ValueError(f"show={show!r} needs a fitted model: use fit.diagram(), or "
                         "show='labels' before fitting")
    out = []
    for r in edges.itertuples(index=False):
        kind = r.kind
        if kind in ("path_part", "dot_link", "random", "invisible"):
            out.append("")
            continue
        if r.definition and isinstance(r.definition, str):
            out.append(str(r.definition))
            continue
        label = r.label if isinstance(r.label, list) or (isinstance(r.label, str) and r.label) \
            else ""
        free = bool(r.free) if r.free == r.free else False
        if opt.standardized and kind in ("loading", "error") and _is_num(r.std):
            out.append(_num(r.std, opt))          # a fixed 1 is not 1 once standardized
            continue
        if not label or (not free and not isinstance(label, list)):
            # fixed: show the value (the article's 1)
            v = r.value
            if kind in ("error", "loading", "random") and opt.fixed == "dashed":
                out.append("")
            else:
                out.append(_fixed_text(v, opt))
            continue
        lab = _label_text(label, opt, display)
        if show == "labels":
            out.append(lab)
            continue
        value = r.std if opt.standardized else r.estimate
        if not _is_num(value):
            out.append("")             # not defined (no variance): the note says why
            continue
        txt = _num(value, opt)
        se_ = r.std_se if opt.standardized else r.se
        if opt.se and _is_num(se_) and not isinstance(se_, tuple) and \
                not (opt.standardized and float(se_) == 0.0):     # a variance fixed at 1
            txt += f" ({_num(se_, opt)})"
        if opt.stars and kind in ("path", "covariance", "intercept") and \
                not isinstance(r.p, tuple):
            txt += stars_of(r.p, opt.thresholds)
        sym = symbols.get(label) if isinstance(label, str) else None
        if sym:
            txt += sym
        if show == "both":
            txt = f"{lab} = {txt}"
        out.append(txt)
    return out


def _fixed_text(v, opt) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return ""
    if not math.isfinite(f):
        return ""
    return str(int(f)) if f == int(f) else fmt_number(f, opt.digits, opt.leading_zero)


def equal_symbols(edges: pd.DataFrame, label_counts: dict, opt: DiagramOptions,
                  fitted: bool) -> dict:
    """Symbol of each label shared by two or more drawn parameters (estimates view)."""
    show = opt.show if opt.show != "auto" else ("estimates" if fitted else "labels")
    mark = opt.mark_equal if opt.mark_equal is not None else (show == "estimates")
    if not mark or show == "labels":
        return {}
    out = {}
    for lab in dict.fromkeys(l for l in edges["label"] if isinstance(l, str) and l):
        if label_counts.get(lab, 0) >= 2:
            i = len(out)
            out[lab] = EQUAL_SYMBOLS[i % len(EQUAL_SYMBOLS)] * (1 + i // len(EQUAL_SYMBOLS))
    return out


def figure_note(tables_edges: pd.DataFrame, model, opt: DiagramOptions, fitted: bool,
                symbols: dict, view: str) -> str:
    """The generated note: what shared labels mean, the scale, the SE format, stars."""
    show = opt.show if opt.show != "auto" else ("estimates" if fitted else "labels")
    parts = []
    # (an edge of a collapsed view that stands for slots with different labels holds
    # their list: not one shared label)
    shared = [l for l in dict.fromkeys(l for l in tables_edges["label"] if isinstance(l, str))
              if l and _count(model, l) >= 2]
    if show != "estimates" and shared:
        items = [f"{_label_text(l, opt)} = {l}" if _label_text(l, opt) != l else l
                 for l in shared]
        parts.append("Paths and variances with the same label are constrained equal ("
                     + "; ".join(items) + ").")
    if symbols:
        parts.append("Estimates marked with the same symbol are constrained equal ("
                     + "; ".join(f"{s} {l}" for l, s in symbols.items()) + ").")
    if show != "labels":
        parts.append("Standardized estimates (std.all: outcome and latent variances 1, "
                     "by each slot's implied variance; where a slot's value is not defined, "
                     "over all observations: fit.standardized())." if opt.standardized else
                     "Unstandardized estimates.")
        if opt.standardized and view != "full" and any(
                isinstance(v, tuple) for v in tables_edges.get("std", [])):
            parts.append("Where a standardized value differs by slot (the outcome's "
                         "implied variance does), its range over the slots is shown.")
        if opt.se:
            parts.append("Standard errors in parentheses" + (" (delta method)."
                                                            if opt.standardized else "."))
        if opt.stars:
            marks = ", ".join(f"{'*' * (i + 1)} p < {t:g}" for i, t in
                              enumerate(opt.thresholds))
            parts.append(f"{marks} (coefficients and covariances).")
    if view == "collapsed":
        parts.append("One representative of each level is drawn; ×n is the number of "
                     "such variables in the model.")
    if view == "multilevel":
        parts.append("Filled dots: random intercepts (on the outcome) and random slopes "
                     "(on the path), with their latent per level.")
    if (tables_edges["definition"].apply(lambda d: isinstance(d, str))).any():
        parts.append("Diamonds: loadings equal to the named variable (random slopes).")
    parts.append("Fixed paths show their value." if opt.fixed == "label" else
                 "Dashed paths are fixed at 1.")
    return " ".join(parts)


def _count(model, label: str) -> int:
    j = model.labels.index.get_loc(label) if label in model.labels.index else None
    if j is None:
        return 0
    return int((model.path_label == j).sum() + (model.resid_label == j).sum()
               + (model.phi["label"].to_numpy() == j).sum())


# ---------------------------------------------------------------------------------------
def _display_names(nodes: pd.DataFrame, opt: DiagramOptions, model=None) -> pd.DataFrame:
    """Node texts under ``names``: a node's own name or text, else the variable or level
    the text starts with (``weight`` in ``weight3`` and ``weighti``, ``id`` and ``week``
    in ``id.week``), so renamed variables apply in every view."""
    if not opt.names:
        return nodes
    bases: list[str] = []
    if model is not None:
        bases = [model.outcome, *model.terms, *model.data.hierarchy.levels,
                 *[str(e) for e in model.effects["effect"]]]
    bases = sorted({b for b in bases if b in opt.names}, key=len, reverse=True)

    def rename(name, text):
        if name in opt.names:
            return opt.names[name]
        if text in opt.names:
            return opt.names[text]
        out = []
        for part in re.split(r"([.\[\],])", str(text)):
            hit = next((b for b in bases if part.startswith(b)), None)
            out.append(opt.names[hit] + part[len(hit):] if hit else part)
        return "".join(out)
    nodes = nodes.copy()
    nodes["text"] = [rename(n, t) for n, t in zip(nodes["name"], nodes["text"])]
    return nodes


def _expand_definitions(nodes: pd.DataFrame, edges: pd.DataFrame, names=None):
    """A loading equal to a variable (random slope) is drawn latent -- <diamond> -> y,
    the diamond naming the variable (the definition-variable convention)."""
    is_def = edges["definition"].apply(lambda d: isinstance(d, str) and d != "")
    if not is_def.any():
        return nodes, edges
    col = dict(zip(nodes["id"], nodes["column"]))
    order = dict(zip(nodes["id"], nodes["order"]))
    used = set(nodes["id"])
    new_nodes, new_edges = [], []
    for i, r in edges.iterrows():
        if not is_def[i]:
            new_edges.append(r.to_dict())
            continue
        lat, y = r["tail"], r["head"]
        dcol = 2 if col[lat] > col[y] else 0
        did = _safe_id(f"def_{lat}_{y}", used)
        new_nodes.append({"id": did, "name": f"[{r['definition']}] {lat} -> {y}",
                          "kind": "definition",
                          "text": (names or {}).get(r["definition"], r["definition"]),
                          "column": dcol,
                          "order": order[y] + 0.5, "level": None, "multiplicity": 1})
        link = r.to_dict()
        link.update(head=did, kind="definition_link", text="", definition=None)
        arrow = r.to_dict()
        arrow.update(tail=did, text="")
        new_edges += [link, arrow]
    nodes = pd.concat([nodes, pd.DataFrame(new_nodes, columns=NODE_COLUMNS)],
                      ignore_index=True)
    return nodes, pd.DataFrame(new_edges).reindex(columns=EDGE_COLUMNS)


#: a model with random slopes is drawn in full only up to this many slots: each slot's
#: slope loading is its own line into the slope latent, and beyond a few they cross the
#: residual variances' labels (the pig model's 9 slots)
MAX_FULL_SLOPE_SLOTS = 4


def auto_view(model, opt: DiagramOptions) -> tuple[str, str]:
    """The view ``view="auto"`` draws, and the sentence that says why for the note:
    full up to ``max_slots`` slots (up to :data:`MAX_FULL_SLOPE_SLOTS` with random
    slopes), collapsed beyond."""
    n = model.data.n_slots
    slopes = bool(model.effects["variable"].notna().any()) if len(model.effect_table) else False
    limit = min(opt.max_slots, MAX_FULL_SLOPE_SLOTS) if slopes else opt.max_slots
    if n <= limit:
        return "full", ""
    why = (f"random slopes on {n} slots" if slopes and n <= opt.max_slots
           else f"{n} slots")
    return "collapsed", (f"Collapsed view chosen ({why}); view='full' draws every slot, "
                         "view='multilevel' the compact notation.")


def build_tables(obj, **options) -> DiagramTables:
    """Node and edge tables of the path diagram of a PathModel or Fit."""
    from ..model.pathmodel import PathModel
    opt = options.pop("_options", None) or DiagramOptions.make(**options)
    fit = None
    if isinstance(obj, PathModel):
        model = obj
    elif hasattr(obj, "model") and isinstance(getattr(obj, "model"), PathModel):
        fit, model = obj, obj.model
    else:
        raise TypeError(f"cannot draw a {type(obj).__name__}: give a PathModel or a Fit")
    fitted = "estimate" in model.labels
    view = opt.view
    chosen = ""
    if view == "auto":
        view, chosen = auto_view(model, opt)
    if opt.standardized and not fitted:
        raise ValueError("standardized=True needs a fitted model (fit.diagram(...))")
    if view == "multilevel":
        nodes, edges = _multilevel_tables(model, fit, opt)
    else:
        nodes, edges = _full_tables(model, fit, opt)
        if view == "collapsed":
            nodes, edges = _collapse(nodes, edges, model)
    nodes = _display_names(nodes, opt, model)
    counts = {lab: _count(model, lab) for lab in model.labels.index}
    symbols = equal_symbols(edges, counts, opt, fitted)
    edges = edges.copy()
    display = dict(zip(nodes["name"], nodes["text"]))
    edges["text"] = edge_texts(edges, opt, fitted, symbols, display)
    note = figure_note(edges, model, opt, fitted, symbols, view)
    if chosen:
        note = (note + " " if note else "") + chosen
    nodes, edges = _expand_definitions(nodes, edges, opt.names)
    title = f"{model.outcome}: {view} view"
    return DiagramTables(nodes=nodes.reset_index(drop=True), edges=edges.reset_index(drop=True),
                         options=opt, note=note, title=title)
