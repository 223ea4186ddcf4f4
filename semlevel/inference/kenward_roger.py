"""Kenward and Roger (1997): adjusted covariance of the fixed effects and the scaled F test,
as in Stata's ``dfmethod(kroger)`` and R's pbkrtest.

    Phi_A = Phi + 2 Phi [sum_ij W_ij (Q_ij - P_i Phi P_j)] Phi

(the R_ij terms with second derivatives of V are left out, as Stata does; they vanish for
(co)variance parameters, on which V is linear). For H0: L b = r (rank l), with
Theta = L'(L Phi L')^-1 L,

    A1 = sum_ij W_ij tr(Theta Phi P_i Phi) tr(Theta Phi P_j Phi),
    A2 = sum_ij W_ij tr(Theta Phi P_i Phi Theta Phi P_j Phi),
    B = (A1 + 6 A2) / (2l),  g = ((l+1) A1 - (l+4) A2) / ((l+2) A2),
    c1 = g / (3l + 2(1-g)),  c2 = (l-g) / (3l + 2(1-g)),  c3 = (l+2-g) / (3l + 2(1-g)),
    E* = 1 / (1 - A2/l),  V* = (2/l)(1 + c1 B) / ((1 - c2 B)^2 (1 - c3 B)),
    rho = V* / (2 E*^2),  m = 4 + (l+2) / (l rho - 1),  lambda = m / (E* (m-2)),

and F = lambda (Lb - r)'(L Phi_A L')^-1 (Lb - r) / l ~ F(l, m). For l = 1, m equals the
Satterthwaite DF and lambda = 1.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .reml_terms import RemlTerms

__all__ = ["adjusted_vcov", "KRTest", "kenward_roger_test"]


def adjusted_vcov(terms: RemlTerms, W: np.ndarray) -> np.ndarray:
    """Phi_A, the bias-adjusted covariance of the estimated coefficients."""
    Phi, P, Q = terms.Phi, terms.P, terms.Q
    PPhiP = np.einsum("iab,bc,jcd->ijad", P, Phi, P)
    U = np.einsum("ij,ijab->ab", W, Q - PPhiP)
    U = 0.5 * (U + U.T)
    out = Phi + 2.0 * Phi @ U @ Phi
    return 0.5 * (out + out.T)


@dataclass(frozen=True)
class KRTest:
    """The scaled F test: statistic, numerator and denominator DF, scale lambda."""

    F: float
    ndf: int
    ddf: float
    scale: float


def kenward_roger_test(terms: RemlTerms, W: np.ndarray, Phi_A: np.ndarray, L: np.ndarray,
                       diff: np.ndarray) -> KRTest:
    """KR test of L b = r given ``diff`` = L b - r (L of full row rank l)."""
    L = np.atleast_2d(np.asarray(L, dtype=float))
    l = L.shape[0]
    Phi = terms.Phi
    Theta = L.T @ np.linalg.solve(L @ Phi @ L.T, L)
    TP = Theta @ Phi
    Ui = np.einsum("ab,ibc,cd->iad", TP, terms.P, Phi)      # Theta Phi P_i Phi
    tr = np.einsum("iaa->i", Ui)
    A1 = float(tr @ W @ tr)
    A2 = float(np.einsum("ij,iab,jba->", W, Ui, Ui))
    wald = float(diff @ np.linalg.solve(L @ Phi_A @ L.T, diff))
    if A2 <= 0:                                             # no dependence on sigma
        return KRTest(F=wald / l, ndf=l, ddf=np.inf, scale=1.0)
    B = (A1 + 6.0 * A2) / (2.0 * l)
    g = ((l + 1) * A1 - (l + 4) * A2) / ((l + 2) * A2)
    den = 3.0 * l + 2.0 * (1.0 - g)
    c1, c2, c3 = g / den, (l - g) / den, (l + 2 - g) / den
    E = 1.0 / (1.0 - A2 / l)
    V0 = 1.0 + c1 * B
    V0 = 0.0 if abs(V0) < 1e-10 else V0
    V = (2.0 / l) * V0 / ((1.0 - c2 * B) ** 2 * (1.0 - c3 * B))
    rho = V / (2.0 * E * E)
    m = 4.0 + (l + 2.0) / (l * rho - 1.0)
    scale = 1.0 if abs(m - 2.0) < 1e-2 else m / (E * (m - 2.0))
    return KRTest(F=scale * wald / l, ndf=l, ddf=float(m), scale=float(scale))
