"""The Summary object ``fit.summary()`` returns (statsmodels style): the Stata-like text
report as a string, with the other renderings one call away and an HTML view for
notebooks.

``Summary`` is a ``str`` (the text report), so code that prints it, searches it or writes
it keeps working; ``as_text()``, ``as_html()``, ``as_latex()`` and ``as_markdown()`` give
the four renderings, and ``_repr_html_`` is what Jupyter shows.
"""
from __future__ import annotations

from ..escape import xml_text

__all__ = ["Summary"]


class Summary(str):
    """The report of a fit: ``str(summary)`` is the Stata-like text."""

    _fit = None

    def __new__(cls, text: str, fit=None) -> "Summary":
        obj = super().__new__(cls, text)
        obj._fit = fit
        return obj

    def as_text(self) -> str:
        """The Stata-like text report."""
        return str.__str__(self)

    def as_markdown(self) -> str:
        """Markdown: header facts, groups, fixed and random tables, LR test."""
        from .markdown import fit_to_markdown
        return fit_to_markdown(self._fit)

    def as_latex(self) -> str:
        """Two booktabs tabulars (needs ``\\usepackage{booktabs}``)."""
        from .latex import fit_to_latex
        return fit_to_latex(self._fit)

    def as_html(self) -> str:
        """An HTML fragment: the header facts and the two tables, every cell escaped."""
        fit = self._fit
        from .numbers import RANDOM_COLUMNS, fixed_columns, headline, num
        parts = ["<div class=\"semlevel-summary\">",
                 f"<p><b>Mixed-effects {'REML' if fit.reml else 'ML'} regression</b></p>",
                 "<table>"]
        for k, v in headline(fit, None):
            parts.append(f"<tr><th style=\"text-align:left\">{xml_text(k)}</th>"
                         f"<td style=\"text-align:right\">{xml_text(v)}</td></tr>")
        parts.append("</table>")
        cols = fixed_columns(fit)
        parts.append(_table(f"Fixed effects ({fit.model.data.outcome})",
                            ["term"] + [c[1] for c in cols],
                            [[str(t)] + [num(r[c], f) for c, _, f in cols]
                             for t, r in fit.fixed.iterrows()]))
        parts.append(_table("Random-effects parameters",
                            ["parameter"] + [c[1] for c in RANDOM_COLUMNS],
                            [[str(lab) + (" (boundary)" if lab in fit.boundary else "")]
                             + [num(r[c], f) for c, _, f in RANDOM_COLUMNS]
                             for lab, r in fit.random.iterrows()]))
        parts.append("</div>")
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        return self.as_html()

    def __repr__(self) -> str:
        return self.as_text()


def _table(title: str, header: list[str], rows: list[list[str]]) -> str:
    out = [f"<table><caption>{xml_text(title)}</caption><thead><tr>"]
    out += [f"<th>{xml_text(h)}</th>" for h in header]
    out.append("</tr></thead><tbody>")
    for r in rows:
        out.append("<tr>" + "".join(
            f"<td style=\"text-align:{'left' if i == 0 else 'right'}\">{xml_text(c)}</td>"
            for i, c in enumerate(r)) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)
