"""Options of a path diagram (keyword arguments of ``diagram()``), checked once."""
from __future__ import annotations

from dataclasses import dataclass, field, fields

from ..escape import safe_fontname

__all__ = ["DiagramOptions"]

_CHOICES = {
    "view": ("auto", "full", "collapsed", "multilevel"),
    "show": ("auto", "labels", "estimates", "both"),
    "intercepts": ("box", "triangle", "hide"),
    "fixed": ("label", "dashed", "both"),
    "rankdir": ("LR", "TB"),
}


@dataclass(frozen=True)
class DiagramOptions:
    """How to draw a path model.

    view : "auto" (full up to ``max_slots`` outcome slots, else collapsed), "full",
        "collapsed" (one representative slot per level with its multiplicity) or
        "multilevel" (compact notation: random effects as filled dots on the outcome and on
        the paths, latents per level).
    show : "labels" (equality labels, the article's B, S_v, S_e), "estimates", "both";
        "auto" is estimates after a fit, labels before.
    se, stars : add "(SE)" and significance stars (``thresholds``, loosest first) to
        estimates; stars go on coefficients and covariances (variances are not z-tested).
    digits, leading_zero : number format: ``digits`` decimals, or by default (None) three
        significant digits with at least two decimals; ``leading_zero=False`` prints ``.46``.
    standardized : standardized estimates (std.all: outcome and latent variances 1).
    labels : display text of parameter labels (``{"x": "B", "var(Residual)": "S_e"}``).
    names : display text of variables, by model name (``"j[1]"``, ``"y[j=1,obs=2]"``) or by
        default display name (``"j1"``, ``"y12"``).
    covariates : draw the covariate boxes and their paths.
    intercepts : "box" (intercept written in the outcome's box, as Stata draws it),
        "triangle" (a constant node with paths), "hide".
    fixed : fixed paths marked by their value ("label", the article's 1), by a dashed
        line ("dashed"), or both.
    mark_equal : in the estimates view, mark parameters that share a label with the same
        symbol (default: on in the estimates view).
    rankdir : "LR" (regressions left to right down the centre, levels on the sides) or "TB".
    fontname, fontsize, edge_fontsize : fonts in points (not scaled when ``width`` is set
        smaller than the drawing: Graphviz scales the whole figure).
    width : maximum physical width in inches (Graphviz ``size``).
    grayscale : no fills, black lines (paper default); False adds light fills by kind.
    note : put the generated figure note under the figure.
    level_boxes : draw a dashed box around each level's latents, with the level's name.
    max_slots : largest number of slots the "auto" view draws in full.
    """

    view: str = "auto"
    show: str = "auto"
    se: bool = False
    stars: bool = False
    thresholds: tuple = (0.05, 0.01, 0.001)
    digits: int | None = None
    leading_zero: bool = True
    standardized: bool = False
    labels: dict = field(default_factory=dict)
    names: dict = field(default_factory=dict)
    covariates: bool = True
    intercepts: str = "box"
    fixed: str = "label"
    mark_equal: bool | None = None
    rankdir: str = "LR"
    fontname: str = "Helvetica"
    fontsize: float = 11.0
    edge_fontsize: float = 9.0
    width: float | None = None
    grayscale: bool = True
    note: bool = True
    level_boxes: bool = False
    max_slots: int = 24

    def __post_init__(self):
        for name, allowed in _CHOICES.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}={getattr(self, name)!r}: choose one of "
                                 f"{', '.join(repr(a) for a in allowed)}")
        for name in ("labels", "names"):
            val = getattr(self, name)
            if val is None:
                object.__setattr__(self, name, {})
            elif not hasattr(val, "get"):
                raise TypeError(f"{name}= must be a mapping, not {type(val).__name__}")
        for key, text in self.names.items():
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"names[{key!r}] = {text!r}: a display name must be a "
                                 "non-empty string")
        if self.digits is not None and (isinstance(self.digits, bool)
                                        or int(self.digits) != self.digits
                                        or int(self.digits) < 0):
            raise ValueError(f"digits must be a whole number >= 0 or None (three "
                             f"significant digits), not {self.digits!r}")
        th = tuple(float(t) for t in self.thresholds)
        if list(th) != sorted(th, reverse=True):
            raise ValueError("thresholds go from the loosest to the strictest, "
                             "e.g. (0.05, 0.01, 0.001)")
        object.__setattr__(self, "thresholds", th)
        safe_fontname(self.fontname)

    @classmethod
    def make(cls, **kwargs) -> "DiagramOptions":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            import difflib
            hints = []
            for u in unknown:
                close = difflib.get_close_matches(u, sorted(known), n=1)
                hints.append(f"{u!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            raise TypeError(f"unknown diagram option {', '.join(hints)}; options are "
                            f"{', '.join(sorted(known))}")
        return cls(**kwargs)
