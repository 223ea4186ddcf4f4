"""Score (Lagrange multiplier) tests of a fit's constraints, with no refit.

A constraint is released by building the relaxed PathModel and evaluating it at the
constrained estimates (every new parameter starts at the value it was constrained to,
a new covariance at 0). With g the gradient and H the Hessian of the deviance (-2 log L,
ML: over coefficients and variance parameters jointly, natural metric; REML: variance
parameters with beta profiled) there,

    LM = g' H^-1 g / 2   ~ chi2(df),  df = free parameters added by the release,

H is twice the expected information by default (lavaan's ``lavTestScore`` default; always
positive definite) or the observed Hessian (``information="observed"``; REML always).
The expected parameter change of a released parameter is its entry of -H^-1 g.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from ..distributions import chi2_sf
from ..engine.evaluator import deviance, statistics
from ..engine.fitting import starting_values
from ..engine.optimize import difference_hessian
from ..model.pathmodel import PathModel
from ..engine.identify import unidentified_labels
from ..model.relax import member_label
from ..engine.information import expected_information

__all__ = ["score_test", "score_tests", "modification_indices", "joint_observed_vcov"]


def _gradient_and_hessian(model: PathModel, reml: bool, information: str = "expected"):
    """Gradient and Hessian of the deviance at the model's starting point, over its free
    parameters (coefficients too under ML), with their label names.

    ``information="expected"`` replaces the Hessian by twice the expected information
    (ML only; REML uses the observed Hessian)."""
    _check_weights(model, information)
    stats = statistics(model)
    values = starting_values(model)
    labels = model.labels
    var_idx = np.flatnonzero(labels["free"].to_numpy() & (labels["kind"].to_numpy() != "coef"))
    coef_idx = stats.coef_ids if not reml else np.zeros(0, dtype=np.int64)
    idx = np.concatenate([coef_idx, var_idx])

    def grad(x: np.ndarray) -> np.ndarray:
        v = values.copy()
        v[idx] = x
        ev = deviance(v, stats, reml, gradient=True, check_psd=False,
                      beta=None if reml else v[stats.coef_ids])
        if not np.isfinite(ev.deviance):
            raise FloatingPointError("the constrained point is not admissible in the "
                                     "relaxed model")
        return ev.gradient[idx]

    x0 = values[idx]
    if np.isnan(x0).any():
        raise ValueError("score tests need a fitted model (fit it first)")
    g = grad(x0)
    if information == "expected" and not reml:
        H = 2.0 * expected_information(model, values, coef_idx, var_idx)
    elif information in ("expected", "observed"):
        steps = 1e-5 * np.maximum(np.abs(x0), 1e-3 * max(np.abs(x0).max(), 1e-12))
        H = difference_hessian(grad, x0, g, steps, central=True)
    else:
        raise ValueError(f"information must be 'expected' or 'observed', not {information!r}")
    return g, H, labels.index.to_numpy()[idx]


def _check_weights(model: PathModel, information: str) -> None:
    """Weighted fits: the expected information here ignores weights, and a score test
    of a pseudo-likelihood (sampling weights) needs a robust variance it does not have."""
    w = model.info.weights
    if w is not None and w.kind == "pweight":
        raise ValueError("score tests are not available with sampling weights (the "
                         "pseudo-likelihood's information is not the score's variance)")
    if w is not None and information == "expected":
        raise ValueError("with frequency weights, score tests need information='observed'")


def indefinite_note(information: str) -> str:
    """The note of a statistic computed with an information that is not positive definite
    (the same text in every table, the CLI and JSON)."""
    other = "expected" if information == "observed" else "observed"
    return (f"{information} information not positive definite at the constrained estimates: "
            f"the statistic is not a chi2 (use information='{other}')")


def _positive_definite(H: np.ndarray) -> bool:
    if not H.size:
        return True
    lam = np.linalg.eigvalsh((H + H.T) / 2.0)
    return bool(lam.min() > 1e-10 * max(np.abs(lam).max(), 1e-300))


def _lm(g: np.ndarray, H: np.ndarray) -> tuple[float, np.ndarray]:
    try:
        step = np.linalg.solve(H, g)
    except np.linalg.LinAlgError:
        step = np.linalg.lstsq(H, g, rcond=None)[0]
    return float(g @ step) / 2.0, -step


def score_test(fit, relaxed: PathModel, information: str = "expected") -> dict:
    """Score test of ``fit``'s model against a relaxation of it (e.g. ``fit.model.relax(...)``).

    Returns a dict with ``chi2``, ``df`` (free parameters added), ``p``, ``epc`` (the
    expected change of every parameter of the relaxed model, a Series) and ``note``.
    Where the information is not positive definite (observed information away from the
    relaxed model's optimum can be indefinite) the statistic is reported as computed, even
    negative, with ``p`` NaN for a negative one and a note saying so (lavaan's
    ``lavTestScore`` reports the same numbers; a negative value is not "no evidence").
    """
    reml = fit.reml
    if reml:
        coefs_changed = list(relaxed.labels.index[(relaxed.labels["kind"] == "coef")]) != \
            list(fit.model.labels.index[(fit.model.labels["kind"] == "coef")])
        if coefs_changed:
            raise ValueError("score tests of fixed-effect constraints need an ML fit: the "
                             "REML criterion is not comparable across fixed effects")
    df = relaxed.n_free - fit.model.n_free
    if df <= 0:
        raise ValueError("the relaxed model adds no free parameter to test")
    g, H, names = _gradient_and_hessian(relaxed, reml, information)
    chi2, epc = _lm(g, H)
    note = "" if _positive_definite(H) else indefinite_note(information)
    p = float(chi2_sf(chi2, df)) if chi2 >= 0 else np.nan
    return {"chi2": chi2, "df": int(df), "p": p, "epc": pd.Series(epc, index=names),
            "note": note}


#: labels with more members than this are not released member by member by default
MAX_RELEASED_MEMBERS = 200


def _releasable(model: PathModel) -> tuple[list[str], dict[str, str]]:
    """Free labels with two or more members (tested), and the free labels that cannot
    be released by member, with the reason (reported, not tested)."""
    lab = model.labels
    out: list[str] = []
    skipped: dict[str, str] = {}
    for name in lab.index[lab["free"].to_numpy()]:
        kind = lab.loc[name, "kind"]
        if kind == "rescov":
            continue
        if kind == "resstruct":
            skipped[str(name)] = ("a parameter of the residual structure: it has no "
                                  "members to release (compare structures with lrtest, or "
                                  "let it differ by group with residuals(..., by()))")
            continue
        members = len(model.members(name))
        if members > MAX_RELEASED_MEMBERS:
            skipped[str(name)] = (
                f"{members} members (one per position in the wide rows): releasing them "
                f"all is a test on {members - 1} df whose information is too large to "
                "form; test a release by a grouping variable instead "
                "(releases={...: lambda m: m.relax(label, by=...)})")
        elif members > 1:
            out.append(str(name))
    return out, skipped


def score_tests(fit, labels: list[str] | None = None, univariate: bool = False,
                releases: dict[str, Callable[[PathModel], PathModel]] | None = None,
                information: str = "expected", progress: bool | None = False
                ) -> pd.DataFrame:
    """Joint score test of releasing each equality label (df = members - 1).

    ``labels`` restricts the labels tested (default: every free label with two or more
    members; fixed-effect labels are skipped under REML). ``univariate=True`` adds one
    test per member (that member alone released). ``releases`` adds generalized tests:
    a name -> function mapping the fitted model to any relaxation of it. ``progress``
    shows one line per test on standard error (None: only on a terminal).
    """
    from ..progress import progress as _progress
    model = fit.model
    skipped: dict[str, str] = {}
    if labels is None:
        labels, skipped = _releasable(model)
        if fit.reml:
            labels = [n for n in labels if model.labels.loc[n, "kind"] != "coef"]
    rows = [{"test": name, "label": name, "member": "", "chi2": np.nan, "df": 0,
             "p": np.nan, "note": "not tested: " + why} for name, why in skipped.items()]
    for label in _progress(labels, "score tests", progress, name=str):
        res = _guarded(fit, lambda m: m.relax(label), information)
        rows.append({"test": label, "label": label, "member": "", **res})
        if univariate:
            for name in model.members(label)["name"]:
                own = member_label(model, label, name)
                r1 = _guarded(fit, lambda m: m.relax(label, groups={name: own}), information)
                rows.append({"test": own, "label": label, "member": name, **r1})
    for name, make in _progress(list((releases or {}).items()), "score tests (releases)",
                                progress, name=lambda item: item[0]):
        res = _guarded(fit, make, information)
        rows.append({"test": name, "label": "", "member": "", **res})
    return pd.DataFrame(rows, columns=["test", "label", "member", "chi2", "df", "p", "note"]) \
        .set_index("test")


def _guarded(fit, make: Callable[[PathModel], PathModel], information: str) -> dict:
    """One row of the score-test table; a release that is not identified gets NaN and a
    note instead of a number (it cannot be tested)."""
    relaxed = make(fit.model)
    bad = unidentified_labels(relaxed)
    df = relaxed.n_free - fit.model.n_free
    if bad:
        return {"chi2": np.nan, "df": df, "p": np.nan,
                "note": "not identified once released: " + ", ".join(bad[:4])
                + (" ..." if len(bad) > 4 else "")}
    res = score_test(fit, relaxed, information)
    return {"chi2": res["chi2"], "df": res["df"], "p": res["p"], "note": res["note"]}


def modification_indices(fit, max_pairs: int = 500, information: str = "expected",
                         errors: bool | None = None) -> pd.DataFrame:
    """Score tests (df 1) of the covariances the model fixes at zero: between latents,
    and between errors of two slots (``errors=True``; by default only when there are at
    most 100 such pairs: they need the dense evaluation path).

    All candidates are added at zero to one model, whose gradient g and Hessian H are
    computed once; each candidate's index is then g_j^2 / (2 h_j) with h_j the Schur
    complement of H_jj given the model's own parameters (the df-1 score test), and its
    expected parameter change -g_j / h_j. Only pairs that occur in a common wide row can
    be estimated; at most ``max_pairs`` latent pairs are tested. Columns: ``lhs``, ``op``,
    ``rhs``, ``mi`` (chi2), ``p``, ``epc``, ``sepc`` (the EPC as a correlation).
    """
    model = fit.model
    names = model.latents["name"].to_numpy()
    err = np.array(["e." + n for n in model.data.slot_names()])
    sd = {}
    for a, b, lab in zip(model.phi["a"], model.phi["b"], model.phi["label"]):
        if a == b:
            sd[str(names[int(a)])] = np.sqrt(max(float(fit.values[int(lab)]), 0.0))
    for s_, lab in enumerate(model.resid_label):
        sd[str(err[s_])] = np.sqrt(max(float(fit.values[int(lab)]), 0.0))
    cands = [(str(names[a]), str(names[b])) for a, b in _latent_pairs(model, max_pairs)]
    cands += [(str(err[a]), str(err[b])) for a, b in _error_pairs(model, errors)]
    if not cands:
        return pd.DataFrame(columns=["lhs", "op", "rhs", "mi", "p", "epc", "sepc", "note"])
    big = model
    new = []
    for a, b in cands:
        label = f"cov({a},{b})"
        big = big.correlate(a, b, label=label)
        new.append(label)
    g, H, par = _gradient_and_hessian(big, fit.reml, information)
    pos = {n: i for i, n in enumerate(par)}
    own = np.array([i for i, n in enumerate(par) if n not in set(new)])
    Hcc = H[np.ix_(own, own)]
    own_note = "" if _positive_definite(Hcc) else indefinite_note(information)
    out = []
    for (a, b), label in zip(cands, new):
        j = pos[label]
        hcj = H[own, j]
        schur = H[j, j] - hcj @ np.linalg.solve(Hcc, hcj)
        # the statistic as computed: negative where the Schur complement is (indefinite
        # information), NaN where it is zero (the covariance is not estimable there)
        mi = g[j] ** 2 / (2.0 * schur) if schur != 0 else np.nan
        epc = -g[j] / schur if schur != 0 else np.nan
        denom = sd.get(a, np.nan) * sd.get(b, np.nan)
        note = own_note or ("" if schur > 0 else indefinite_note(information))
        out.append({"lhs": a, "op": "~~", "rhs": b, "mi": mi,
                    "p": float(chi2_sf(mi, 1)) if np.isfinite(mi) and mi >= 0 else np.nan,
                    "epc": epc, "sepc": epc / denom if denom > 0 else np.nan, "note": note})
    return pd.DataFrame(out, columns=["lhs", "op", "rhs", "mi", "p", "epc", "sepc", "note"])


def _latent_pairs(model: PathModel, max_pairs: int) -> list[tuple[int, int]]:
    """Pairs of latents without a covariance that load on a common wide row."""
    present = set(zip(model.phi["a"].tolist(), model.phi["b"].tolist()))
    lat_of_obs = model.effect_latent[model.data.slot]
    together: set[tuple[int, int]] = set()
    rows_latents = pd.DataFrame({"row": np.repeat(model.data.row, lat_of_obs.shape[1]),
                                 "lat": lat_of_obs.ravel()}).drop_duplicates()
    for _, grp in rows_latents.groupby("row"):
        lats = np.sort(grp["lat"].to_numpy())
        for i in range(len(lats)):
            for j in range(i + 1, len(lats)):
                together.add((int(lats[i]), int(lats[j])))
        if len(together) > 50 * max_pairs:
            break
    return sorted(p for p in together if p not in present)[:max_pairs]


def _error_pairs(model: PathModel, errors: bool | None) -> list[tuple[int, int]]:
    """Pairs of slots without a residual covariance observed together in some row."""
    data = model.data
    pairs = pd.DataFrame({"row": data.row, "slot": data.slot})
    merged = pairs.merge(pairs, on="row")
    merged = merged[merged["slot_x"] < merged["slot_y"]][["slot_x", "slot_y"]].drop_duplicates()
    present = set(zip(model.theta["s"].tolist(), model.theta["t"].tolist()))
    cand = sorted((int(a), int(b)) for a, b in merged.itertuples(index=False)
                  if (a, b) not in present)
    if errors is None:
        errors = len(cand) <= 100
    return cand if errors else []


def joint_observed_vcov_with_labels(fit) -> tuple[np.ndarray, np.ndarray]:
    """:func:`joint_observed_vcov` and the label rows of its rows and columns."""
    g, H, names = _gradient_and_hessian(fit.model, False, "observed")
    keep = np.array([str(n) not in set(fit.boundary) for n in names])
    Hk = 0.5 * (H + H.T)[np.ix_(keep, keep)]
    try:
        inv = np.linalg.inv(0.5 * Hk)
    except np.linalg.LinAlgError:
        inv = np.full_like(Hk, np.nan)
    return inv, fit.model.labels.index.get_indexer(names[keep])


def joint_observed_vcov(fit) -> np.ndarray:
    """Inverse of the joint observed information of an ML fit over its free coefficients
    (first, in the order of ``fit.evaluation.beta``) and its free variance parameters not
    at the boundary: the convention of lavaan (``information="observed"``) and Stata's
    ``sem``. The Hessian is the central difference of the analytic gradient of the
    deviance at the estimates (the score tests' machinery)."""
    return joint_observed_vcov_with_labels(fit)[0]
