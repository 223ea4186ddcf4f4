"""The optimiser's unconstrained coordinates for the variance parameters.

* An unstructured covariance block (all its variances and covariances free labels used
  only there) is optimised through its Cholesky factor, Phi = L L', so every step is
  positive semi-definite (lme4's relative covariance factor, in absolute scale).
* Any other variance label on the standard-deviation scale (variance = u**2): a variance
  can reach its boundary 0 exactly, where the gradient in u vanishes.
* Any other covariance label on its natural scale (inadmissible points are rejected by
  the line search).
"""
from __future__ import annotations

import weakref

import numpy as np

from ..model.pathmodel import PathModel
from ..model.residuals import coefficients_to_pacf, pacf_to_coefficients
from ..arrays import unique
from ..model.label_arrays import label_arrays, phi_arrays

__all__ = ["Parametrization"]

#: parametrizations made, by model object (weak: they go with their models)
_MADE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _complete_blocks(model: PathModel, free: np.ndarray, taken: set[int]) -> list[np.ndarray]:
    """Sets of latents whose covariance matrix is fully free with one label per entry, used
    nowhere else (e.g. two latents joined by ``correlate``): optimised through a Cholesky
    factor too, so a variance can reach zero without leaving the PSD cone."""
    phi = model.phi_table
    if not len(phi) or "group" in phi:
        return []
    a, b, lab = phi_arrays(model)
    count = np.bincount(lab, minlength=len(free))
    if len(model.theta_table):
        count[unique(np.asarray(model.theta_table["label"], dtype=np.int64))] += 1
    # a complete block's covariance labels occur once each: only their latents can form
    # one (a design's thousands of units sharing cov(un) labels are skipped at once)
    single = (a != b) & (count[lab] == 1) & free[lab]
    if not single.any():
        return []
    keep = np.isin(a, np.r_[a[single], b[single]])
    a, b, lab = a[keep], b[keep], lab[keep]
    parent = {int(x): int(x) for x in np.r_[a, b]}

    def root(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x
    for x, y in zip(a[a != b], b[a != b]):
        parent[root(int(x))] = root(int(y))
    comps: dict[int, list[int]] = {}
    for x in parent:
        comps.setdefault(root(x), []).append(x)
    entry = {(int(x), int(y)): int(l) for x, y, l in zip(a, b, lab)}
    out = []
    for members in comps.values():
        m = len(members)
        if m < 2:
            continue
        members.sort()
        try:
            idx = np.array([[entry[(min(u, v), max(u, v))] for v in members] for u in members])
        except KeyError:
            continue                      # not every pair has a covariance
        upper = idx[np.triu_indices(m)]
        if (len(set(upper.tolist())) == len(upper) and free[upper].all()
                and (count[upper] == 1).all() and not taken & set(upper.tolist())):
            out.append(idx)
    return out


def _exchangeable_pairs(model: PathModel, free: np.ndarray, taken: set[int]
                        ) -> list[tuple[int, int, int]]:
    """(variance label, covariance label, m) of exchangeable blocks: sets of m latents with
    one variance label on the diagonal and one covariance label on every pair, the
    covariance label used nowhere else (``R.x, cov(exchangeable)``; two latents sharing a
    variance joined by ``correlate``). Optimised through the two eigenvalues
    a = var - cov (m - 1 times) and b = var + (m - 1) cov on the sd scale, so every
    point is positive semi-definite and either eigenvalue can reach zero."""
    phi = model.phi_table
    if not len(phi) or "group" in phi:
        return []
    a_, b_, lab = phi_arrays(model)
    if not (a_ != b_).any():                       # no covariances: no such block
        return []
    kinds = label_arrays(model).kind
    diag = {int(x): int(l) for x, y, l in zip(a_, b_, lab) if x == y}
    theta_labels = set(model.theta_table["label"].tolist())
    out = []
    for lc in unique(lab[a_ != b_]):
        lc = int(lc)
        if kinds[lc] != "cov" or not free[lc] or lc in taken or lc in theta_labels:
            continue
        sel = (lab == lc) & (a_ != b_)
        ea, eb = a_[sel], b_[sel]
        nodes = unique(np.r_[ea, eb])
        vlabs = {diag.get(int(n)) for n in nodes}
        if len(vlabs) != 1 or None in vlabs:
            continue
        lv = vlabs.pop()
        if kinds[lv] != "var" or not free[lv] or lv in taken:
            continue
        # connected components of the covariance's edges: all complete, of one size
        parent = {int(n): int(n) for n in nodes}

        def root(x):
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x
        for x, y in zip(ea, eb):
            parent[root(int(x))] = root(int(y))
        sizes: dict[int, int] = {}
        for n in nodes:
            r = root(int(n))
            sizes[r] = sizes.get(r, 0) + 1
        edges: dict[int, int] = {}
        for x in ea:
            r = root(int(x))
            edges[r] = edges.get(r, 0) + 1
        ms = set(sizes.values())
        if len(ms) != 1 or any(edges[r] != sizes[r] * (sizes[r] - 1) // 2 for r in sizes):
            continue
        out.append((int(lv), lc, ms.pop()))
        taken |= {int(lv), lc}
    return out


class Parametrization:
    """Map between optimiser coordinates ``u`` and the values of the free variance labels."""

    @classmethod
    def of(cls, model: PathModel) -> "Parametrization":
        """The parametrization of ``model``, made once per model object (the fit asks
        for it several times: optimiser, boundary rule, PSD check)."""
        got = _MADE.get(model)
        if got is None:
            got = _MADE[model] = cls(model)
        return got

    def __init__(self, model: PathModel):
        la = label_arrays(model)
        kinds = la.kind
        free = la.free & (kinds != "coef")
        self.free = np.flatnonzero(free)
        taken: set[int] = set()
        self.blocks: list[np.ndarray] = []      # m x m label rows of each Cholesky block
        for block in model.info.cov_blocks:
            names = [n for row in block for n in row]
            if (model.label_positions(names) < 0).any():
                continue
            idx = np.array([model.label_positions(row) for row in block])
            upper = idx[np.triu_indices(len(idx))]
            if (len(set(upper.tolist())) != len(upper) or not free[upper].all()
                    or taken & set(upper.tolist())):
                continue
            self.blocks.append(idx)
            taken |= set(upper.tolist())
        for idx in _complete_blocks(model, free, taken):
            self.blocks.append(idx)
            taken |= set(idx[np.triu_indices(len(idx))].tolist())
        self.exchangeable = _exchangeable_pairs(model, free, taken)
        for lv, lc, _ in self.exchangeable:
            taken |= {lv, lc}
        # a nonlinear residual structure whose parameters are all free: stationary /
        # invertible / bounded coordinates (partial autocorrelations through tanh, ...)
        self.structure = None
        st = model.info.structure
        if st is not None:
            ids = model.label_positions(st.params)
            if (ids >= 0).all() and free[ids].all():
                sizes = [len(p.params) for p in getattr(st, "parts", (st,))]
                self.structure = (st.kind, ids, sizes)
                taken |= set(ids.tolist())
        self.simple = np.array([j for j in self.free if j not in taken], dtype=np.int64)
        self.simple_is_var = la.is_variance[self.simple]
        self._all_variances = bool(self.simple_is_var.all())
        self.size = len(self.simple) + sum(len(b) * (len(b) + 1) // 2 for b in self.blocks) \
            + 2 * len(self.exchangeable) + (len(self.structure[1]) if self.structure else 0)
        # each block's index arrays, made once (np.tril_indices / triu_indices at every
        # call were most of the time of a fit with an unstructured block: micro-seconds
        # of Python each, thousands of calls)
        self._tril = [np.tril_indices(len(b)) for b in self.blocks]
        self._triu = [np.triu_indices(len(b)) for b in self.blocks]
        self._upper_labels = [b[iu] for b, iu in zip(self.blocks, self._triu)]
        self._off = [~np.eye(len(b), dtype=bool) for b in self.blocks]
        self._exchangeable_at = len(self.simple) + sum(len(b) * (len(b) + 1) // 2
                                                       for b in self.blocks)

    # ---- u -> values ----------------------------------------------------------------
    def _split(self, u: np.ndarray):
        k = len(self.simple)
        out, pos = [], k
        for b, il in zip(self.blocks, self._tril):
            m = len(b)
            n = m * (m + 1) // 2
            L = np.zeros((m, m))
            L[il] = u[pos:pos + n]
            out.append(L)
            pos += n
        return u[:k], out

    def _exchangeable_coordinates(self, u: np.ndarray) -> np.ndarray:
        """(n_pairs, 2) sd-scale eigenvalue coordinates of the exchangeable blocks."""
        pos = self._exchangeable_at
        return u[pos:pos + 2 * len(self.exchangeable)].reshape(-1, 2)

    def _pieces(self, x: np.ndarray) -> list[np.ndarray]:
        out, pos = [], 0
        for n in self.structure[2]:
            out.append(x[pos:pos + n])
            pos += n
        return out

    def _structure_values(self, us: np.ndarray) -> np.ndarray:
        """Structure parameters from their coordinates (each part: coefficients, var(e))."""
        return np.concatenate([self._part_values(p) for p in self._pieces(us)])

    def _structure_coordinates(self, vals: np.ndarray) -> np.ndarray:
        return np.concatenate([self._part_coordinates(p) for p in self._pieces(vals)])

    def _part_values(self, us: np.ndarray) -> np.ndarray:
        kind = self.structure[0]
        coef, var = us[:-1], us[-1] ** 2
        if kind == "ar":                       # stationary: partial autocorrelations
            coef = pacf_to_coefficients(np.tanh(coef))
        elif kind == "ma":                     # invertible: the mirror of the AR region
            coef = -pacf_to_coefficients(np.tanh(coef))
        elif kind == "toeplitz":
            coef = np.tanh(coef)
        elif kind == "exponential":
            coef = 1.0 / (1.0 + np.exp(-coef))
        return np.r_[coef, var]

    def _part_coordinates(self, vals: np.ndarray) -> np.ndarray:
        kind = self.structure[0]
        coef, var = vals[:-1], vals[-1]
        if kind in ("ar", "ma"):
            r = coefficients_to_pacf(coef if kind == "ar" else -coef)
            coef = np.arctanh(np.clip(r, -0.999, 0.999))
        elif kind == "toeplitz":
            coef = np.arctanh(np.clip(coef, -0.999, 0.999))
        elif kind == "exponential":
            c = np.clip(coef, 1e-6, 1 - 1e-6)
            coef = np.log(c / (1 - c))
        return np.r_[coef, np.sqrt(max(var, 0.0))]

    def _structure_jacobian(self, us: np.ndarray) -> np.ndarray:
        J = np.zeros((len(us), len(us)))
        for j in range(len(us)):
            h = 1e-6 * max(abs(us[j]), 1.0)
            up, dn = us.copy(), us.copy()
            up[j] += h
            dn[j] -= h
            J[:, j] = (self._structure_values(up) - self._structure_values(dn)) / (2 * h)
        return J

    def values(self, u: np.ndarray, base: np.ndarray) -> np.ndarray:
        """Label values at coordinates ``u`` (other labels from ``base``)."""
        v = base.copy()
        us, Ls = self._split(u)
        v[self.simple] = us * us if self._all_variances else \
            np.where(self.simple_is_var, us * us, us)
        for L, iu, upper in zip(Ls, self._triu, self._upper_labels):
            Phi = L @ L.T
            v[upper] = Phi[iu]
        for (lv, lc, m), (al, be) in zip(self.exchangeable, self._exchangeable_coordinates(u)):
            c = (be * be - al * al) / m
            v[lc], v[lv] = c, al * al + c
        if self.structure:
            ids = self.structure[1]
            v[ids] = self._structure_values(u[len(u) - len(ids):])
        return v

    def jacobian(self, u: np.ndarray, base: np.ndarray) -> np.ndarray:
        """d values[free] / d u (len(free) x len(u)): where every coordinate is a simple
        label's (no Cholesky block, exchangeable pair or residual structure) the diagonal
        2u (a variance) or 1, else by central differences of :meth:`values`."""
        if len(self.simple) == len(u) == len(self.free):
            return np.diag(np.where(self.simple_is_var, 2.0 * u, 1.0))
        J = np.empty((len(self.free), len(u)))
        for j in range(len(u)):
            h = 1e-7 * max(abs(u[j]), 1e-3)
            up, dn = u.copy(), u.copy()
            up[j] += h
            dn[j] -= h
            J[:, j] = (self.values(up, base)[self.free] - self.values(dn, base)[self.free]) \
                / (2 * h)
        return J

    def coordinates(self, values: np.ndarray) -> np.ndarray:
        """Coordinates of given label values (inverse of :meth:`values`)."""
        us = values[self.simple]
        parts = [np.where(self.simple_is_var, np.sqrt(np.maximum(us, 0.0)), us)]
        for b in self.blocks:
            Phi = values[b]
            m = len(b)
            try:
                L = np.linalg.cholesky(Phi)
            except np.linalg.LinAlgError:
                w, V = np.linalg.eigh(Phi)
                w = np.maximum(w, 1e-8 * max(w.max(), 1e-300))
                L = np.linalg.cholesky((V * w) @ V.T)
            parts.append(L[np.tril_indices(m)])
        for lv, lc, m in self.exchangeable:
            v, c = values[lv], values[lc]
            parts.append(np.sqrt(np.maximum([v - c, v + (m - 1) * c], 0.0)))
        if self.structure:
            parts.append(self._structure_coordinates(values[self.structure[1]]))
        return np.concatenate(parts) if parts else np.zeros(0)

    def gradient(self, u: np.ndarray, grad_values: np.ndarray) -> np.ndarray:
        """Chain rule: d deviance / d u from d deviance / d label values."""
        us, Ls = self._split(u)
        parts = [grad_values[self.simple] * (2.0 * us if self._all_variances else
                                             np.where(self.simple_is_var, 2.0 * us, 1.0))]
        for b, L, il, off in zip(self.blocks, Ls, self._tril, self._off):
            Gs = grad_values[b].astype(float)
            Gs[off] *= 0.5          # a covariance label stands for both (i,j) and (j,i)
            dL = 2.0 * Gs @ L
            parts.append(dL[il])
        for (lv, lc, m), (al, be) in zip(self.exchangeable, self._exchangeable_coordinates(u)):
            gv, gc = grad_values[lv], grad_values[lc]
            parts.append(np.array([2 * al * (gv * (1 - 1 / m) - gc / m),
                                   2 * be * (gv + gc) / m]))
        if self.structure:
            ids = self.structure[1]
            us = u[len(u) - len(ids):]
            parts.append(self._structure_jacobian(us).T @ grad_values[ids])
        return np.concatenate(parts) if parts else np.zeros(0)

    def scale(self, u: np.ndarray) -> np.ndarray:
        """Typical magnitudes of the coordinates (for difference steps)."""
        mag = np.abs(u)
        floor = 1e-3 * (mag.max() if len(mag) and mag.max() > 0 else 1.0)
        return np.maximum(mag, floor)
