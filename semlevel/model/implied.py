"""The implied moments of one wide row in symbols (sympy): the article's view of a mixed
model as a constrained SEM, written out.

For top-level unit r with observations i (its slots), loadings Z (1 for intercepts, the
definition variable for slopes), latent covariance Phi and residual covariance Theta
(each entry a label of the parameter table, or 0),

    mu_r    = X_r beta,         Sigma_r = Z Phi Z' + Theta,

with one sympy symbol per label: the diagonal of a random-intercept model reads
``sigma2_u + sigma2_e``, and entries that share parameters share symbols, which
:meth:`Implied.pattern` tabulates. Substituting the estimates gives the numeric implied
moments (tests: equal to the dense RAM reference to 1e-12).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["Implied", "implied_moments", "latex_name"]


def latex_name(name: str, kind: str) -> str:
    """A LaTeX name for a label: ``\\sigma^2_{id}`` for ``id: var(_cons)``,
    ``\\sigma_{id,week,\\_cons}`` for a covariance, ``\\sigma^2_e`` for the residual
    variance, ``\\beta_{week}`` for a coefficient."""
    def esc(t: str) -> str:
        return re.sub(r"([_#%&$])", r"\\\1", t)
    m = re.fullmatch(r"(?:(?P<lev>[^:]+): )?(?P<what>var|cov|sd)\((?P<args>[^)]*)\)(?P<rest>.*)",
                     name)
    if kind == "coef":
        return f"\\beta_{{{esc(name)}}}"
    if m:
        lev = m["lev"]
        args = [a for a in m["args"].split(",") if a]
        rest = esc(m["rest"].strip())
        if m["what"] == "var":
            if args == ["Residual"] or (lev == "Residual"):
                sub = "e" + ("," + ",".join(esc(a) for a in args if a not in ("e", "Residual"))
                             if any(a not in ("e", "Residual") for a in args) else "")
            else:
                sub = ",".join([esc(lev)] if lev else []) + \
                    ("" if args == ["_cons"] else "," + ",".join(esc(a) for a in args))
            return f"\\sigma^2_{{{sub}{rest}}}"
        sub = ",".join(([esc(lev)] if lev else []) + [esc(a) for a in args])
        return f"\\sigma_{{{sub}{rest}}}"
    return f"\\theta_{{{esc(name)}}}"


@dataclass(frozen=True)
class Implied:
    """The implied mean vector and covariance matrix of one wide row, in symbols."""

    mean: object                      # sympy Matrix (n x 1)
    cov: object                       # sympy Matrix (n x n)
    names: list[str]                  # the row's observed outcomes (slot names)
    symbols: dict = field(repr=False)  # label name -> sympy Symbol
    latex_names: dict = field(repr=False)

    def to_latex(self) -> str:
        """``\\mu = ...`` and ``\\Sigma = ...`` as LaTeX (the labels' LaTeX names)."""
        import sympy
        names = {self.symbols[k]: v for k, v in self.latex_names.items()}
        mu = sympy.latex(self.mean, symbol_names=names)
        sig = sympy.latex(self.cov, symbol_names=names)
        return f"\\mu = {mu}, \\qquad \\Sigma = {sig}"

    def pattern(self) -> pd.DataFrame:
        """Which labels each distinct entry of Sigma is made of (the article's pattern
        table): one row per distinct entry with the positions where it occurs."""
        rows: dict = {}
        n = len(self.names)
        for i in range(n):
            for j in range(i + 1):
                e = self.cov[i, j]
                key = str(e)
                at = f"({self.names[i]}, {self.names[j]})"
                if key not in rows:
                    labels = sorted(str(s) for s in e.free_symbols)
                    rows[key] = {"entry": key, "labels": ", ".join(labels),
                                 "occurrences": 0, "first": at}
                rows[key]["occurrences"] += 1
        return pd.DataFrame(list(rows.values()))

    def numeric(self, values: dict | pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """The mean vector and covariance matrix at label values (a mapping from label
        name to value, e.g. ``fit.model.labels["estimate"]``)."""
        import sympy
        subs = {self.symbols[k]: float(values[k]) for k in self.symbols}
        mu = np.array(sympy.Matrix(self.mean).subs(subs), dtype=float).ravel()
        cov = np.array(sympy.Matrix(self.cov).subs(subs), dtype=float)
        return mu, cov


def _number(x: float):
    """An exact sympy number for data values that are integers, else a Float."""
    import sympy
    return sympy.Integer(int(x)) if float(x).is_integer() else sympy.Float(float(x), 17)


def implied_moments(model, row: int = 0) -> Implied:
    """The implied moments of wide row ``row`` of ``model`` in symbols (see the module)."""
    import sympy
    data = model.data
    if not isinstance(row, (int, np.integer)) or isinstance(row, bool) \
            or not 0 <= row < data.n_rows:
        raise ValueError(f"row must be a whole number from 0 to {data.n_rows - 1}, "
                         f"not {row!r}")
    lab = model.labels
    kinds = lab["kind"].to_numpy()
    syms = {str(n): sympy.Symbol(str(n), real=True) for n in lab.index}
    latex = {str(n): latex_name(str(n), k) for n, k in zip(lab.index, kinds)}
    obs = np.flatnonzero(data.row == row)
    slots = data.slot[obs]
    names = [data.slot_names()[s] for s in slots]
    n = len(obs)
    names_l = lab.index.to_numpy()
    # mean: X beta with the slot's coefficient labels
    mean = sympy.zeros(n, 1)
    for a, i in enumerate(obs):
        for t in range(len(model.terms)):
            x = model.X[i, t]
            if x != 0:
                mean[a] += _number(x) * syms[str(names_l[model.path_label[slots[a], t]])]
    # covariance: Z Phi Z' + Theta
    cov = sympy.zeros(n, n)
    if model.Z.shape[1]:
        lat = model.effect_latent[slots]                    # (n, E)
        local = sorted(set(lat[lat >= 0].ravel().tolist()))
        pos = {int(m): k for k, m in enumerate(local)}
        Z = sympy.zeros(n, len(local))
        for a, i in enumerate(obs):
            for e in range(lat.shape[1]):
                if lat[a, e] >= 0 and model.Z[i, e] != 0:
                    Z[a, pos[int(lat[a, e])]] += _number(model.Z[i, e])
        Phi = sympy.zeros(len(local), len(local))
        group = model.group_of(model.phi)
        og = model.obs_group[obs[0]] if model.obs_group is not None else -1
        for (a, b, l), g in zip(model.phi[["a", "b", "label"]].itertuples(index=False), group):
            if int(a) in pos and int(b) in pos and (g == -1 or g == og):
                Phi[pos[int(a)], pos[int(b)]] = Phi[pos[int(b)], pos[int(a)]] = \
                    syms[str(names_l[l])]
        cov += Z * Phi * Z.T
    resid = model.resid_of_obs()[obs]
    for a in range(n):
        cov[a, a] += syms[str(names_l[resid[a]])]
    if len(model.theta_table):
        where = {int(s): a for a, s in enumerate(slots)}
        for s, t, l in model.theta[["s", "t", "label"]].itertuples(index=False):
            if int(s) in where and int(t) in where:
                a, b = where[int(s)], where[int(t)]
                cov[a, b] += syms[str(names_l[l])]
                cov[b, a] = cov[a, b]
    cov = cov.applyfunc(sympy.expand)
    used = set().union(*(e.free_symbols for e in list(cov) + list(mean)))
    keep = {k: v for k, v in syms.items() if v in used}
    return Implied(mean=mean, cov=cov, names=names, symbols=keep,
                   latex_names={k: latex[k] for k in keep})
