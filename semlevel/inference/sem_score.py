"""Score tests on the general-SEM route (``regress``/``path`` fits, a ``SEMFit``).

Releasing a label member by member (one label per slot where it occurs) is done in the
RAM evaluation itself (``sem_statistics(split=...)``): no relaxed model is built. At the
constrained estimates (every member at the label's estimate) the statistic is

    LM = U' I^-1 U = 1/2 g' H^-1 g,     df = members - 1,

with g and H the gradient and Hessian of the deviance (beta given) over every free
parameter of the released model, by central differences of its values: the observed
information, as lavaan's ``lavTestScore(information = "observed")``, which the tests
reproduce (tests/data/sem_paths/score_reference.R). No expected information is formed
on this route, so ``information="expected"`` is refused.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..distributions import chi2_sf
from ..engine.sem_fiml import observed_hessian, sem_deviance, sem_statistics
from .score import indefinite_note
from ..arrays import unique

__all__ = ["sem_score_tests", "sem_releasable"]

_COLUMNS = ["test", "label", "member", "chi2", "df", "p", "note"]


def sem_releasable(model) -> tuple[list[str], dict[str, str]]:
    """Free labels that occur in two or more slots (tested), and the free labels that
    cannot be released by slot, with the reason."""
    lab = model.labels
    slotwise = set(model.terms) | set(model.endogenous)
    for v in model.endogenous:
        slotwise |= {n for n in lab.index if n.startswith(f"{v}: ")}
        slotwise |= {f"var(e.{v})", f"cov(e.{model.outcome},e.{v})"}
    slotwise.add(str(model.base.labels.index[int(model.base.resid_label[0])]))
    slotwise |= {name for _, _, name in model.paths}
    n_slots = len(unique(model.data.slot))
    counts = {name: n_slots for name in slotwise}
    for t, _, name in model.paths:
        counts[name] = len({int(t_) for t_, _, n_ in model.paths if n_ == name})
    out, skipped = [], {}
    for name in lab.index[lab["free"].to_numpy()]:
        if name not in slotwise:
            skipped[str(name)] = ("a parameter of the random effects: on this route only "
                                  "labels that repeat across slots are released")
        elif counts[name] > 1:
            out.append(str(name))
    return out, skipped


def _one(fit, label: str) -> dict:
    model = fit.model
    stats = sem_statistics(model, split=frozenset([label]))
    n_lab = len(model.labels)
    members = len(stats.members)
    values = np.concatenate([np.asarray(fit.values, dtype=float),
                             np.full(members, fit.values[model.labels.index.get_loc(label)])])
    k = stats.n_coef
    lab = model.labels
    own = np.flatnonzero(lab["free"].to_numpy() & (lab["kind"].to_numpy() != "coef"))
    own = own[own != lab.index.get_loc(label)]
    extra = np.arange(n_lab, n_lab + members)
    is_coef = lab.loc[label, "kind"] == "coef"
    idx = np.concatenate([stats.coef_ids, own] + ([] if is_coef else [extra]))

    def full(theta):
        v = values.copy()
        v[idx] = theta
        return sem_deviance(v, stats, False, beta=theta[:k])[0]

    H, g = observed_hessian(full, values[idx])
    if not np.all(np.isfinite(H)):
        return {"chi2": np.nan, "df": members - 1, "p": np.nan,
                "note": "the information could not be evaluated at the estimates"}
    lam = np.linalg.eigvalsh(H)
    pd_ = bool(lam.min() > 1e-10 * max(np.abs(lam).max(), 1e-300))
    try:
        chi2 = 0.5 * float(g @ np.linalg.solve(H, g))
    except np.linalg.LinAlgError:
        return {"chi2": np.nan, "df": members - 1, "p": np.nan,
                "note": "the information is singular at the estimates"}
    df = members - 1
    return {"chi2": chi2, "df": df,
            "p": float(chi2_sf(chi2, df)) if pd_ and chi2 >= 0 else np.nan,
            "note": "" if pd_ else indefinite_note("observed")}


def sem_score_tests(fit, labels: list[str] | None = None,
                    information: str = "observed") -> pd.DataFrame:
    """Joint score test of releasing each label across the slots where it occurs
    (df = members - 1), with the observed information. ``labels`` restricts the labels
    tested (default: every free label that repeats across slots; the others are listed
    with the reason they are not tested)."""
    if information != "observed":
        raise ValueError("on the general-SEM route score tests use the observed information "
                         "(information='observed'): the expected information of the RAM "
                         "model is not formed")
    if fit.model.reml:
        raise ValueError("score tests need an ML fit")
    testable, skipped = sem_releasable(fit.model)
    if labels is None:
        labels = testable
    else:
        bad = [name for name in labels if name not in testable]
        if bad:
            why = skipped.get(bad[0], "not a free label that repeats across slots")
            raise ValueError(f"label {bad[0]!r} cannot be released by slot: {why}")
        skipped = {}
    rows = [{"test": name, "label": name, "member": "", "chi2": np.nan, "df": 0,
             "p": np.nan, "note": "not tested: " + why} for name, why in skipped.items()]
    for name in labels:
        rows.append({"test": name, "label": name, "member": "", **_one(fit, name)})
    return pd.DataFrame(rows, columns=_COLUMNS).set_index("test")
