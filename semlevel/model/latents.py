"""The latent variables of a model's wide form: one per (level, effect, slot-key prefix)."""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["make_latents"]


def make_latents(wide, effects: pd.DataFrame, levels: list[str]):
    """Latent table and the latent each effect loads on in each slot.

    The top level's latents are one per effect (named after the level); a nested level's
    latents are one per effect and slot-key prefix (``j[1]``, ``j[1].week``).
    """
    slots = wide.slots
    p = len(slots)
    effect_latent = np.full((p, len(effects)), -1, dtype=np.int64)
    rows = []
    for e, eff in effects.iterrows():
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
        prefix = slots[prefix_cols]
        ids = prefix.groupby(prefix_cols, sort=True).ngroup().to_numpy()
        uniq = prefix.drop_duplicates().sort_values(prefix_cols)
        base = len(rows)
        level, effect, equation = eff["level"], eff["effect"], int(eff["equation"])
        for key in uniq.itertuples(index=False):
            key = tuple(k.item() if hasattr(k, "item") else k for k in key)
            rows.append({"name": f"{level}[{','.join(str(k) for k in key)}]{suffix}",
                         "level": level, "key": key, "effect": effect, "equation": equation})
        effect_latent[:, e] = base + ids
    latents = pd.DataFrame(rows, columns=["name", "level", "key", "effect", "equation"])
    if latents["name"].duplicated().any():
        latents["name"] = latents["name"] + np.where(latents["name"].duplicated(keep=False),
                                                     "#" + latents["equation"].astype(str), "")
    return latents, effect_latent
