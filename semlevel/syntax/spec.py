"""The parsed form of a `mixed` command: what the model says, before any data is seen."""
from __future__ import annotations

from dataclasses import dataclass, field

COVARIANCE_STRUCTURES = ("independent", "exchangeable", "identity", "unstructured")


@dataclass(frozen=True)
class LevelEquation:
    """One random-effects equation ``|| level: varlist, re_options``.

    ``terms`` are factor-notation terms as typed (``"week"``, ``"ibn.girl"``,
    ``"i.girl#c.age"``); ``constant`` says whether a random intercept ``_cons`` is
    included (False under ``noconstant``, and for all but the last of a run of repeated
    equations of one level, as Stata does). ``covariance`` is the full structure name.
    """

    level: str
    terms: tuple[str, ...] = ()
    constant: bool = True
    covariance: str = "independent"


@dataclass(frozen=True)
class MixedSpec:
    """A whole `mixed` model: outcome, fixed part, random-effects equations, options.

    ``equations`` are listed top level first; consecutive equations of the same level
    (repeated levels) form blocks of one block-diagonal covariance matrix.
    """

    depvar: str
    fixed_terms: tuple[str, ...] = ()
    constant: bool = True
    equations: tuple[LevelEquation, ...] = ()
    reml: bool = False
    level: float = 95.0
    variance: bool = True
    stddeviations: bool = False
    #: the ``residuals()`` option, parsed (:class:`~.residuals.ResidualSpec`), or None
    residuals: object = None
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def levels(self) -> tuple[str, ...]:
        """Distinct grouping levels, top to bottom."""
        out: list[str] = []
        for eq in self.equations:
            if eq.level not in out:
                out.append(eq.level)
        return tuple(out)
