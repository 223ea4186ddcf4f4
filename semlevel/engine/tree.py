"""Deviance and analytic gradient on the tree path (nested units: :mod:`.tree_stats`).

Up the tree (deepest class first), each unit u holds its front's effective data
precision Ã (own latents o, then its ancestors a) and right-hand side B̃ (for the
columns of W = [X, y]); with Phi_u its latents' covariance,

    M_u = I + Phi_u Ã_oo,   N_u = M_u^-1 Phi_u  (= (Phi_u^-1 + Ã_oo)^-1),
    log|Sigma| += log|M_u|,   W' Sigma^-1 W -= B̃_o' N_u B̃_o,
    parent's front += Ã_aa - Ã_ao N_u Ã_oa,  its right-hand side += B̃_a - Ã_ao N_u B̃_o,

so Phi may be singular (a variance on the boundary) and nothing larger than a front is
factored. Down the tree (roots first) come the posterior covariance K and the means m
(K Z' Theta^-1 W) on each unit's chain, from its parent's: with J = -N_u Ã_oa,

    K_oo = N_u + J K_aa J',  K_oa = J K_aa,  m_o = N_u B̃_o + J m_a,

and from them the two pieces of the gradient, Gamma from :func:`.deviance.profile`
(residual blocks, observations joined by residual covariances, add theirs:
:mod:`.tree_residuals`):

    d/dPhi_u:    Ã_oo M^-1 - M^-T Ã_oa K_aa Ã_ao M^-1  -  V Gamma V',
                 V = M^-T (B̃_o - Ã_oa m_a)      (the u blocks of Z' Sigma^-1 Z, Z' Sigma^-1 W),
    d/dtheta_g:  w n_g - w^2 sum_u <A_g[u], K> - w^2 (<C_g, Gamma> - 2 sum_u <B_g[u], m Gamma>
                 + sum_u <A_g[u], m Gamma m'>)      (w = 1/theta_g).

Every operation is analytic, so complex steps of the gradient give the Hessian exactly.
"""
from __future__ import annotations

import numpy as np

from .deviance import Evaluation, coefficient_gradient, profile
from .linalg.small import bmm, inverse_logdet
from .linalg.threads import one_blas_thread
from .tree_residuals import add_blocks, block_gradient
from .tree_stats import TreeStats

__all__ = ["evaluate_tree"]


def _t(x: np.ndarray) -> np.ndarray:
    return np.swapaxes(x, 1, 2)


def _weighted(w: np.ndarray, X: np.ndarray) -> np.ndarray:
    """sum_g w_g X[g] (a new array)."""
    if len(w) == 1:
        return w[0] * X[0]
    return np.tensordot(w, X, axes=1)


def _times(X: np.ndarray, G: np.ndarray) -> np.ndarray:
    """X[u] @ G for a stack X (U, a, k): one (U a, k) x (k, k) product."""
    return (X.reshape(-1, X.shape[-1]) @ G).reshape(X.shape[:-1] + G.shape[1:])


def _psd(Phi: np.ndarray, diagonal: bool = False) -> bool:
    """Every matrix of the stack positive semi-definite (to rounding)."""
    if diagonal or Phi.shape[1] == 1:
        return bool(np.all(np.diagonal(Phi, axis1=1, axis2=2).real >= 0))
    ev = np.linalg.eigvalsh(Phi.real)
    scale = np.maximum(np.abs(ev).max(axis=1), 1e-300)
    return bool(np.all(ev.min(axis=1) >= -1e-12 * scale))


def _eliminate(values: np.ndarray, stats: TreeStats, check_psd: bool):
    """Up the tree: log|Sigma|, W' Sigma^-1 W and what the way down needs (the weights,
    each class's effective precisions and right-hand sides, and (M^-1, N, N B~));
    None where the values are not admissible."""
    ext = np.concatenate([values, [0.0, 1.0]])
    theta = ext[stats.resid_ids]
    if np.any(np.real(theta) <= 0):
        return None
    w = 1.0 / theta
    S = _weighted(w, stats.C)
    logdet = stats.n @ np.log(theta)
    classes = stats.classes
    At = [_weighted(w, c.A) for c in classes]
    Bt = [_weighted(w, c.B) for c in classes]
    kept_blocks: list = []
    if stats.blocks:
        got = add_blocks(stats.blocks, ext, At, Bt, S)
        if got is None:
            return None
        ld_blocks, S, kept_blocks = got
        logdet = logdet + ld_blocks
    kept = []
    for ci, c in enumerate(classes):
        b = c.b
        Phi = ext[c.phi_lab]
        if check_psd and not _psd(ext[c.phi_patterns], c.diagonal):
            return None
        A_ = At[ci]
        M = bmm(Phi, A_[:, :b, :b])
        M[:, np.arange(b), np.arange(b)] += 1.0
        Minv, sign, ld = inverse_logdet(M)
        if np.any(sign <= 0) or not np.all(np.isfinite(ld)):
            return None
        logdet = logdet + ld.sum()
        N = bmm(Minv, Phi)
        N = 0.5 * (N + _t(N))
        Bo = Bt[ci][:, :b]
        NB = bmm(N, Bo)
        S = S - np.einsum("ubk,ubl->kl", Bo, NB)
        if c.f > b:
            AaoN = bmm(A_[:, b:, :b], N)
            # the Schur complement on the ancestors goes to the parent's front
            one = c.one_parent
            if one is not None:
                # every unit under one parent (a crossed design's small factor): the
                # sum over the units is one product, never a stack of (f-b)^2 matrices
                U, a = A_.shape[0], c.f - b
                L = AaoN.transpose(1, 0, 2).reshape(a, U * b)
                At[one[0]][one[1]] += A_[:, b:, b:].sum(axis=0) \
                    - L @ A_[:, :b, b:].reshape(U * b, a)
                Bt[one[0]][one[1]] += Bt[ci][:, b:].sum(axis=0) - L @ Bo.reshape(U * b, -1)
            else:
                upd = A_[:, b:, b:] - bmm(AaoN, A_[:, :b, b:])
                updB = Bt[ci][:, b:] - bmm(AaoN, Bo)
                for r in c.routes:
                    At[r.to][r.parent] += np.add.reduceat(upd[r.child], r.starts, axis=0)
                    Bt[r.to][r.parent] += np.add.reduceat(updB[r.child], r.starts, axis=0)
        kept.append((Minv, N, NB))
    return logdet, S, ext, w, At, Bt, kept, kept_blocks


def _down_one_parent(c, K_of, m_of, A_, Aoo, Bo, Minv, MinvT, N, NB, dtype):
    """The way down for a class whose units share one parent: its K_aa and m_a are one
    matrix each, so the products with them are single (U b, f-b) x (f-b, .) products
    rather than stacks of small ones. Returns the units' K, m, Omega and V."""
    to, p = c.one_parent
    U, b, f = c.n_units, c.b, c.f
    a = f - b
    Kp, mp = K_of[to][p], m_of[to][p]                     # (a, a), (a, K1)
    Aoa = A_[:, :b, b:]
    J = -bmm(N, Aoa)                                      # (U, b, a)
    JK = (J.reshape(U * b, a) @ Kp).reshape(U, b, a)
    K = np.empty((U, f, f), dtype=dtype)
    K[:, :b, :b] = N + np.einsum("uia,uja->uij", JK, J)
    K[:, :b, b:] = JK
    K[:, b:, :b] = _t(JK)
    K[:, b:, b:] = Kp
    K1 = Bo.shape[2]
    m = np.empty((U, f, K1), dtype=dtype)
    m[:, :b] = NB + (J.reshape(U * b, a) @ mp).reshape(U, b, K1)
    m[:, b:] = mp
    X = bmm(MinvT, Aoa)                                   # (U, b, a)
    XK = (X.reshape(U * b, a) @ Kp).reshape(U, b, a)
    Om = bmm(Aoo, Minv) - np.einsum("uia,uja->uij", XK, X)
    V = bmm(MinvT, Bo - (Aoa.reshape(U * b, a) @ mp).reshape(U, b, K1))
    return K, m, Om, V


def evaluate_tree(values: np.ndarray, stats: TreeStats, reml: bool, gradient: bool = True,
                  check_psd: bool = True, beta: np.ndarray | None = None) -> Evaluation:
    """Deviance (and gradient w.r.t. every label's value), as :func:`.deviance.evaluate`.
    Its products are small (fronts of at most 64 latents): BLAS runs on one thread."""
    with one_blas_thread():
        return _evaluate_tree(values, stats, reml, gradient, check_psd, beta)


def _evaluate_tree(values: np.ndarray, stats: TreeStats, reml: bool, gradient: bool,
                   check_psd: bool, beta: np.ndarray | None) -> Evaluation:
    if beta is not None and reml:
        raise ValueError("the REML criterion has beta profiled; give beta only under ML")
    given_beta = beta is not None
    got = _eliminate(values, stats, check_psd)
    if got is None:
        return Evaluation(deviance=np.inf)
    logdet, S, ext, w, At, Bt, kept, kept_blocks = got
    classes = stats.classes
    k = stats.n_coef
    out, Gam = profile(S, k, stats.n_obs, float(np.real(logdet)), reml, beta, gradient,
                       stats.basis)
    if Gam is None:
        return out
    grad = np.zeros(len(ext), dtype=np.result_type(ext, S))
    G = len(w)
    trK = np.zeros(G, dtype=grad.dtype)
    quad = np.zeros(G, dtype=grad.dtype)
    K_of: list = [None] * len(classes)
    m_of: list = [None] * len(classes)
    for ci in range(len(classes) - 1, -1, -1):
        c = classes[ci]
        b, f = c.b, c.f
        Minv, N, NB = kept[ci]
        A_ = At[ci]
        Aoo, Bo = A_[:, :b, :b], Bt[ci][:, :b]
        MinvT = _t(Minv)
        if f > b and c.one_parent is not None:
            K, m, Om, V = _down_one_parent(c, K_of, m_of, A_, Aoo, Bo, Minv, MinvT, N, NB,
                                           grad.dtype)
        elif f > b:
            U = c.n_units
            Kaa = np.empty((U, f - b, f - b), dtype=grad.dtype)
            ma = np.empty((U, f - b, Bo.shape[2]), dtype=grad.dtype)
            for r in c.routes:
                Kaa[r.child] = K_of[r.to][r.of_child]
                ma[r.child] = m_of[r.to][r.of_child]
            Aoa = A_[:, :b, b:]
            J = -bmm(N, Aoa)
            JK = bmm(J, Kaa)
            K = np.empty((U, f, f), dtype=grad.dtype)
            K[:, :b, :b] = N + bmm(JK, _t(J))
            K[:, :b, b:] = JK
            K[:, b:, :b] = _t(JK)
            K[:, b:, b:] = Kaa
            m = np.concatenate([NB + bmm(J, ma), ma], axis=1)
            X = bmm(MinvT, Aoa)
            Om = bmm(Aoo, Minv) - bmm(bmm(X, Kaa), _t(X))
            V = bmm(MinvT, Bo - bmm(Aoa, ma))
        else:
            K, m = N, NB
            Om = bmm(Aoo, Minv)
            V = bmm(MinvT, Bo)
        Om = 0.5 * (Om + _t(Om))
        VG = _times(V, Gam)
        GPhi = Om - bmm(VG, _t(V))
        grad += np.bincount(c.phi_lab.ravel(), GPhi.ravel().real, minlength=len(ext))
        if np.iscomplexobj(GPhi):
            grad += 1j * np.bincount(c.phi_lab.ravel(), GPhi.ravel().imag,
                                     minlength=len(ext))
        K_of[ci], m_of[ci] = K, m
        if c.attached:
            # (einsum, not BLAS: for these reductions to a few numbers a threaded BLAS
            # costs 100x more on a loaded machine)
            mG = _times(m, Gam)
            Am = np.matmul(c.A, m) if c.f > 3 else np.stack([bmm(Ag, m) for Ag in c.A])
            trK += np.einsum("gufe,ufe->g", c.A, K)
            quad += np.einsum("gufk,ufk->g", Am - 2.0 * c.B, mG)
    if stats.blocks:
        block_gradient(stats.blocks, kept_blocks, K_of, m_of, Gam, grad)
    CG = np.einsum("gij,ij->g", stats.C, Gam)
    dtheta = stats.n * w - (w * w) * (trK + CG + quad)
    np.add.at(grad, stats.resid_ids, dtheta)
    out.gradient = grad[: len(values)]
    if k and given_beta:
        out.gradient[stats.coef_ids] = coefficient_gradient(S, k, out.beta, stats.basis)
    return out
