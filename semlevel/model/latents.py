"""The latent variables of a model's wide form: one per (level, effect, slot-key prefix)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..columns import ColumnTable
from ..data.wide import lex_groups

__all__ = ["make_latents"]


def make_latents(wide, effects: "ColumnTable | pd.DataFrame", levels: list[str]):
    """Latent table and the latent each effect loads on in each slot.

    The top level's latents are one per effect (named after the level); a nested level's
    latents are one per effect and slot-key prefix (``j[1]``, ``j[1].week``).
    """
    slots = wide.slot_table
    p = len(slots)
    effect_latent = np.full((p, len(effects)), -1, dtype=np.int64)
    rows = []
    groups: dict[tuple, tuple] = {}
    # (plain records from the columns: a row Series of arrow strings is slow to make,
    # and to_dict("records") slower than these five columns' lists: micro.py)
    names_ = [c for c in ("level_index", "effect", "level", "factor", "equation")
              if c in effects]
    records = [dict(zip(names_, vals)) for vals in
               zip(*(np.asarray(effects[c]).tolist() for c in names_))] if len(effects) else []
    for e, eff in enumerate(records):
        l = int(eff["level_index"])
        suffix = "" if eff["effect"] == "_cons" else f".{eff['effect']}"
        if l == 0 and eff.get("factor"):
            # a crossed factor at _all: one latent per level of the factor
            codes, values = pd.factorize(wide.data[eff["factor"]], sort=True)
            effect_latent[wide.slot, e] = len(rows) + codes
            for v in values:
                v = v.item() if hasattr(v, "item") else v
                rows.append({"name": f"{eff['level']}.R.{eff['factor']}[{v}]",
                             "level": eff["level"], "key": (v,), "effect": f"R.{eff['factor']}",
                             "equation": int(eff["equation"])})
            continue
        if l == 0:
            effect_latent[:, e] = len(rows)
            rows.append({"name": f"{eff['level']}{suffix}", "level": eff["level"], "key": (),
                         "effect": eff["effect"], "equation": int(eff["equation"])})
            continue
        prefix_cols = levels[1:l + 1]
        if tuple(prefix_cols) not in groups:
            groups[tuple(prefix_cols)] = _prefix_groups(slots, prefix_cols)
        ids, keys = groups[tuple(prefix_cols)]
        base = len(rows)
        level, effect, equation = eff["level"], eff["effect"], int(eff["equation"])
        for key in keys:
            rows.append({"name": f"{level}[{','.join(str(k) for k in key)}]{suffix}",
                         "level": level, "key": key, "effect": effect, "equation": equation})
        effect_latent[:, e] = base + ids
    names = [r["name"] for r in rows]
    if len(set(names)) < len(names):
        count: dict[str, int] = {}
        for nm in names:
            count[nm] = count.get(nm, 0) + 1
        for r in rows:
            if count[r["name"]] > 1:
                r["name"] = f"{r['name']}#{r['equation']}"
    columns = ["name", "level", "key", "effect", "equation"]
    latents = ColumnTable({c: [r[c] for r in rows] for c in columns}, n=len(rows))
    return latents, effect_latent


def _prefix_groups(slots: ColumnTable, cols: list[str]) -> tuple[np.ndarray, list[tuple]]:
    """Each slot's group by the values of ``cols`` (numbered in sorted order of the
    values, as ``groupby(sort=True)``) and each group's key tuple."""
    codes, uniques = [], []
    for c in cols:
        k, u = pd.factorize(slots[c], sort=True, use_na_sentinel=False)
        codes.append(k)
        uniques.append([v.item() if hasattr(v, "item") else v for v in u])
    combos, ids, _ = lex_groups(codes, [len(u) for u in uniques])
    keys = [tuple(uniques[j][i] for j, i in enumerate(row)) for row in combos.tolist()]
    return ids, keys
