"""A fit as LaTeX booktabs tabulars (``Fit.to_latex()``; needs ``\\usepackage{booktabs}``)."""
from __future__ import annotations

from ..escape import latex_comment, latex_text
from ..io.labels import fit_value_labels
from .numbers import RANDOM_COLUMNS, fixed_columns, level_text, num
from .records import random_blocks
from .terms import term_value_label

__all__ = ["fit_to_latex", "tex", "texnum"]

def tex(s) -> str:
    """Text with LaTeX's special characters escaped (:func:`semlevel.escape.latex_text`)."""
    return latex_text(s)


def texnum(x, fmt: str) -> str:
    """A number for a table cell (a typographic minus sign)."""
    s = num(x, fmt)
    return "$-$" + s[1:] if s.startswith("-") else s


def fit_to_latex(fit, model: str | None = None, data: str | None = None) -> str:
    """Two booktabs tabulars: fixed effects with fit statistics, random-effects parameters."""
    if model is None:
        model = (getattr(fit.spec, "extra", None) or {}).get("text")
    ci = level_text(fit.level).replace("%", r"\%")
    out = [f"% semlevel: {latex_comment(model or '')}".rstrip(),
           f"% data: {latex_comment(data)}" if data else "% data: (DataFrame)",
           "% requires \\usepackage{booktabs}", ""]

    cols = fixed_columns(fit)
    ci_at = [i for i, c in enumerate(cols) if c[0] == "ci_lower"][0]
    names = [c[1] for c in cols[:ci_at]]
    hdr_names = [{"z": "$z$", "t": "$t$", "P>|z|": "$P>|z|$", "P>|t|": "$P>|t|$"}.get(n, tex(n))
                 for n in names]
    out += [r"\begin{tabular}{l" + "r" * len(cols) + "}", r"\toprule",
            " & ".join([tex(fit.model.data.outcome)] + hdr_names
                       + [r"\multicolumn{2}{c}{" + ci + r" conf.\ interval}"]) + r" \\",
            r"\midrule"]
    labels = fit_value_labels(fit)
    for term, r in fit.fixed.iterrows():
        shown = term_value_label(str(term), labels)
        name = tex(term) + (f" ({tex(shown)})" if shown else "")
        out.append(" & ".join([name] + [texnum(r[c], f) for c, _, f in cols]) + r" \\")
    out.append(r"\midrule")
    n = len(cols)
    stats = [("Observations", str(fit.n_obs)),
             ("Log restricted likelihood" if fit.reml else "Log likelihood",
              texnum(fit.loglik, ".5f")),
             ("AIC", texnum(fit.aic, ".4f")), ("BIC", texnum(fit.bic, ".4f"))]
    for k, v in stats:
        out.append(f"{k} & \\multicolumn{{{n}}}{{r}}{{{v}}} \\\\")
    out += [r"\bottomrule", r"\end{tabular}", ""]

    blocks = random_blocks(fit)
    out += [r"\begin{tabular}{lrrrr}", r"\toprule",
            r"Random-effects parameters & Estimate & Std.\ err. & \multicolumn{2}{c}{"
            + ci + r" conf.\ interval} \\", r"\midrule"]
    current = None
    rows = list(fit.random.iterrows())
    for i, (lab, r) in enumerate(rows):
        block = blocks.get(str(lab))
        if block != current and block and block != "Residual":
            if i:
                out.append(r"\addlinespace")
            out.append(r"\multicolumn{5}{l}{" + tex(block) + r"} \\")
        elif block == "Residual" and current not in (None, "Residual"):
            out.append(r"\addlinespace")
        current = block
        name = str(lab)
        if ": " in name and block and block != "Residual":
            name = name.split(": ", 1)[1]
        cell = (r"\quad " if block and block != "Residual" else "") + tex(name)
        if lab in fit.boundary:
            cell += r"\textsuperscript{b}"
        out.append(" & ".join([cell] + [texnum(r[c], f) for c, _, f in RANDOM_COLUMNS]) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}"]
    if fit.boundary:
        out.append(r"% \textsuperscript{b}: estimated at the boundary (zero); no standard error")
    return "\n".join(out) + "\n"
