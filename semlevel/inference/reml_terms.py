"""The REML quantities behind Satterthwaite and Kenward-Roger degrees of freedom.

For the marginal covariance V = V(sigma) of the outcome (block diagonal by top-level
row), the free variance parameters sigma_i with derivatives G_i = dV/dsigma_i (per row:
:func:`semlevel.engine.information.parameter_derivatives`; linear in the (co)variance
labels, the chain rule for a nonlinear residual structure) and the estimated
coefficients' design X (the reduced design under constraints):

    Phi      = (X'V^-1 X)^-1,
    P_i      = X'V^-1 G_i V^-1 X          (so that dPhi/dsigma_i = Phi P_i Phi),
    Q_ij     = X'V^-1 G_i V^-1 G_j V^-1 X,
    K_ij     = tr(V^-1 G_i V^-1 G_j),

and the expected REML information (Stata's (17), Kenward and Roger 1997)

    I_ij = 1/2 [K_ij - 2 tr(Phi Q_ij) + tr(Phi P_i Phi P_j)].

Rows are handled densely (n_r x n_r): meant for the small samples these methods are for.
Variance parameters estimated on the boundary (zero) are held fixed and left out.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..model.coefficients import coefficient_design
from ..engine.information import parameter_derivatives

__all__ = ["RemlTerms", "reml_terms"]


@dataclass(frozen=True, eq=False)
class RemlTerms:
    """Phi (k x k), P (r, k, k), Q (r, r, k, k), K (r, r) at the estimates, over the
    estimated coefficients and the ``var_names`` variance parameters."""

    coef_ids: np.ndarray
    var_ids: np.ndarray
    var_names: list[str]
    Phi: np.ndarray
    P: np.ndarray
    Q: np.ndarray
    K: np.ndarray

    @property
    def n_var(self) -> int:
        return len(self.var_ids)

    def expected_information(self) -> np.ndarray:
        """Expected information of the REML log likelihood over ``var_names``."""
        Phi, P = self.Phi, self.P
        trPhiQ = np.einsum("ab,ijba->ij", Phi, self.Q)
        PhiP = Phi[None] @ P                                  # (r, k, k)
        trPP = np.einsum("iab,jba->ij", PhiP, PhiP)
        info = 0.5 * (self.K - 2.0 * trPhiQ + trPP)
        return 0.5 * (info + info.T)

    def gradient(self, c: np.ndarray) -> np.ndarray:
        """d (c' Phi c) / d sigma_i for a contrast c over the coefficients."""
        u = self.Phi @ c
        return np.einsum("a,iab,b->i", u, self.P, u)


def reml_terms(fit) -> RemlTerms:
    """The quantities above for a fitted model (REML or ML; the formulas are REML's)."""
    model = fit.model
    labels = model.labels
    Xt, coef_ids = coefficient_design(model)
    boundary = set(fit.boundary)
    free = np.flatnonzero(labels["free"].to_numpy() & (labels["kind"].to_numpy() != "coef"))
    var_ids = np.array([j for j in free if labels.index[j] not in boundary], dtype=np.int64)
    pos = {int(j): i for i, j in enumerate(var_ids)}
    k, r = Xt.shape[1], len(var_ids)
    xtvx = np.zeros((k, k))
    P = np.zeros((r, k, k))
    Q = np.zeros((r, r, k, k))
    K = np.zeros((r, r))
    for obs, D, Sigma in parameter_derivatives(model, fit.values):
        np.linalg.cholesky(Sigma)               # raises unless positive definite
        Si = np.linalg.inv(Sigma)
        Si = 0.5 * (Si + Si.T)
        Xr = Xt[obs]
        SX = Si @ Xr
        xtvx += Xr.T @ SX
        here = [(pos[int(l)], Dm) for l, Dm in D.items() if int(l) in pos]
        if not here:
            continue
        idx = [i for i, _ in here]
        B = np.stack([Dm @ SX for _, Dm in here])             # G_i V^-1 X    (m, n, k)
        M = np.stack([Si @ Dm for _, Dm in here])             # V^-1 G_i      (m, n, n)
        P[idx] += np.einsum("na,inb->iab", SX, B)
        SB = Si[None] @ B                                     # V^-1 G_j V^-1 X
        Q[np.ix_(idx, idx)] += np.einsum("ina,jnb->ijab", B, SB)
        K[np.ix_(idx, idx)] += np.einsum("iab,jba->ij", M, M)
    Phi = np.linalg.inv(xtvx) if k else np.zeros((0, 0))
    return RemlTerms(coef_ids=coef_ids, var_ids=var_ids,
                     var_names=[str(labels.index[j]) for j in var_ids],
                     Phi=0.5 * (Phi + Phi.T), P=0.5 * (P + np.swapaxes(P, 1, 2)), Q=Q, K=K)
