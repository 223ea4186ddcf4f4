"""The random-effects table (one section per covariance block, ``var(Residual)`` last,
``(boundary)`` for a variance estimated at zero) and the LR test against the linear model."""
from __future__ import annotations

from . import vce
from .cells import RULE, WIDTH, abbrev, block_lines, f, g, level_text, wrap

__all__ = ["random_table", "lr_lines"]


def _equation_of(fit, label: str) -> int | None:
    """The random-effects equation a variance-component label belongs to (None for a
    label without latents); separates repeated-level equations that share a block title."""
    m = fit.model
    name = label.replace(": sd(", ": var(", 1).replace(": corr(", ": cov(", 1)
    if name not in m.labels.index:
        return None
    rows = m.phi[m.phi["label"] == m.labels.index.get_loc(name)]
    if not len(rows):
        return None
    return int(m.latents["equation"].iloc[int(rows["a"].iloc[0])])


def random_table(fit) -> list[str]:
    use_sd = bool(getattr(fit.spec, "stddeviations", False))
    tab = fit.random_sd if use_sd else fit.random_variance
    boundary = set(getattr(fit, "boundary", []) or [])
    ci = f"[{level_text(fit.level)} conf. interval]"
    mid = "-" * 29 + "+" + "-" * 48
    out = [RULE,
           *vce.robust_header(
               fit, f"{'Random-effects parameters':^29}|   Estimate   Std. err.{ci:>25}", 29),
           mid]
    sections: list[tuple] = []
    for label, r in tab.iterrows():
        block = str(r.get("block", "")) if "block" in tab.columns else ""
        key = (block, _equation_of(fit, str(label)) if block != "Residual" else None)
        if not sections or sections[-1][0] != key:
            sections.append((key, []))
        sections[-1][1].append((str(label), r))
    for s, ((block, _), rows) in enumerate(sections):
        if s:
            out.append(mid)
        residual = block == "Residual"
        if not residual and block:
            out.extend(f"{part:<29}|" for part in block_lines(block, 28))
        for label, r in rows:
            shown = label.split(": ", 1)[1] if (": " in label and not residual) else label
            at_bound = bool(r.get("boundary", False)) if "boundary" in tab.columns else False
            var_name = label.replace("sd(", "var(", 1).replace("corr(", "cov(", 1)
            at_bound = at_bound or label in boundary or var_name in boundary
            line = f"{abbrev(shown, 28):>28} |  " + g(r["estimate"], blank=False)
            if at_bound:
                line += "  (boundary)"
            else:
                line += ("  " + g(r["se"]) + "     " + g(r["ci_lower"]) + "   "
                         + g(r["ci_upper"]))
            out.append(line.rstrip())
    out.append(RULE)
    return out


def lr_lines(fit) -> list[str]:
    """``LR test vs. linear model: chibar2(01) = ...  Prob >= chibar2 = ...`` and its note."""
    lr = getattr(fit, "lr_linear", None)
    if not lr:
        return []
    kind = str(lr.get("kind", f"chi2({lr.get('df', '.')})"))
    stat = f(lr.get("statistic"), ".2f", 8, blank=False).strip()
    p = f(lr.get("p"), ".4f", 6, blank=False).strip()
    left = f"LR test vs. linear model: {kind} = {stat}"
    right = f"Prob >= {kind.split('(')[0]} = {p}" if kind.startswith("chibar2") \
        else f"Prob > {kind.split('(')[0]} = {p}"
    gap = WIDTH - len(left) - len(right)
    lines = [left + " " * gap + right] if gap >= 2 else [left, " " * (WIDTH - len(right))
                                                          + right]
    if lr.get("note"):
        lines += [""] + wrap(f"Note: {lr['note']}", "      ")
    return lines
