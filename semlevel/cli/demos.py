"""The shipped examples: models of Stata's ``mixed`` manual on the shipped data, with the
log likelihood the manual prints (to its printed digits)."""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Demo", "DEMOS", "DEFAULT_DEMO"]


@dataclass(frozen=True)
class Demo:
    name: str
    data: str
    model: str
    example: str
    manual_loglik: str        # as printed: its last digit sets the tolerance
    about: str
    float32: tuple[str, ...] = ()   # columns Stata's dataset stores in single precision

    def load(self):
        """The demo's data, with the ``float32`` columns rounded to single precision as in
        the manual's Stata dataset (the manual's digits depend on it)."""
        import numpy as np

        from .. import datasets
        frame = datasets.load(self.data)
        if self.float32:
            frame[list(self.float32)] = frame[list(self.float32)].astype(np.float32) \
                .astype(float)
        return frame

    @property
    def decimals(self) -> int:
        """Decimals the manual prints."""
        return len(self.manual_loglik.split(".")[1]) if "." in self.manual_loglik else 0

    @property
    def tolerance(self) -> float:
        """One unit of the last printed digit."""
        return 10.0 ** -self.decimals


# productivity.dta stores these as float: the manual's log likelihoods need them so
_PRODUCTIVITY = ("gsp", "private", "emp", "hwy", "water", "other", "unemp")

DEMOS = {d.name: d for d in (
    Demo("pig-intercept", "pig", "weight week || id:", "example 1", "-1014.9268",
         "random intercept for each pig"),
    Demo("pig", "pig", "weight week || id: week", "example 2", "-869.03825",
         "random intercept and slope for each pig"),
    Demo("pig-unstructured", "pig", "weight week || id: week, covariance(unstructured)",
         "example 3", "-868.96185", "correlated random intercept and slope"),
    Demo("pig-reml", "pig", "weight week || id: week, reml", "example 2 by REML",
         "-870.51473", "the random-slope model by REML"),
    Demo("productivity", "productivity",
         "gsp private emp hwy water other unemp || region: || state:", "example 4",
         "1430.5017", "three levels: states within regions", _PRODUCTIVITY),
    Demo("productivity-slopes", "productivity",
         "gsp private emp hwy water other unemp || region: hwy unemp || state:", "example 5",
         "1447.6787", "random coefficients at the region level", _PRODUCTIVITY),
    Demo("crossed", "pig", "weight week || _all: R.week || _all: R.id", "example 10",
         "-1013.824", "crossed random effects of week and pig"),
    Demo("ovary", "ovary", "follicles sin1 cos1 || mare:, residuals(ar 2, t(time)) reml",
         "example 8", "-772.59855", "AR(2) residuals within mares, REML"),
    Demo("t43", "t43", "score i.drug || person:, reml", "example 13", "-49.640099",
         "reaction times under four drugs, REML"),
)}

DEFAULT_DEMO = "pig"
