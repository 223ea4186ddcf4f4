"""Residual-error structures of `mixed`'s ``residuals()`` option as labels of the PathModel.

Within each lowest-level group the errors of two observations (slots keyed by ``t()``)
get a covariance. Structures that are linear in their parameters use the labels directly:

* ``independent``: one ``Residual: var(e)``;
* ``exchangeable``: ``Residual: var(e)`` and one ``Residual: cov(e)`` for every pair;
* ``unstructured``: ``Residual: var(e<t>)`` per time and ``Residual: cov(e<s>,e<t>)`` per pair;
* ``banded #``: unstructured with covariances beyond # steps fixed at zero.

The others are nonlinear: their parameters (``Residual: phi1``, ``Residual: theta1``,
``Residual: rho``, ``Residual: var(e)``, ...) are labels of kind ``resstruct``; the
covariance at each time distance is a *derived* label (kind ``lag``, not free) whose value
the structure computes (:meth:`ResidualStructure.expand`) with its Jacobian:

* ``ar p``: autoregressive, var(e) the process variance, phi_1..phi_p (``rho`` for p = 1,
  the correlation of successive errors, as mixed reports it);
* ``ma q``: moving average, var(e) the overall error variance, theta_1..theta_q;
* ``toeplitz #``: var(e) and correlations rho_1..rho_# by distance;
* ``exponential``: var(e) rho^|t_s - t_t| (real-valued times).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..syntax.residuals import RESTYPES, ResidualSpec, parse_residuals

__all__ = ["ResidualSpec", "parse_residuals", "ResidualStructure", "CompositeStructure",
           "ar_autocorrelation",
           "ma_autocovariance", "RESTYPES"]

def ar_autocorrelation(phi: np.ndarray, max_lag: int) -> np.ndarray:
    """Autocorrelations rho(0..max_lag) of a stationary AR(p) process."""
    p = len(phi)
    if p == 0:
        return np.r_[1.0, np.zeros(max_lag)]
    # Yule-Walker: rho(h) = sum_i phi_i rho(|h - i|), rho(0) = 1; solve for rho(1..p)
    dt = np.result_type(phi, float)       # (complex for complex-step derivatives)
    A = np.eye(p, dtype=dt)
    b = np.zeros(p, dtype=dt)
    for h in range(1, p + 1):
        for i in range(1, p + 1):
            lag = abs(h - i)
            if lag == 0:
                b[h - 1] += phi[i - 1]
            else:
                A[h - 1, lag - 1] -= phi[i - 1]
    rho = np.ones(max(max_lag, p) + 1, dtype=dt)
    rho[1:p + 1] = np.linalg.solve(A, b)
    for h in range(p + 1, max_lag + 1):
        rho[h] = sum(phi[i - 1] * rho[h - i] for i in range(1, p + 1))
    return rho[:max_lag + 1]


def ma_autocovariance(theta: np.ndarray, max_lag: int) -> np.ndarray:
    """Autocovariances gamma(0..max_lag) of an MA(q) process with unit innovation variance."""
    c = np.r_[1.0, theta]
    q = len(theta)
    return np.array([c[:q + 1 - h] @ c[h:] if h <= q else 0.0
                     for h in range(max_lag + 1)], dtype=np.result_type(c, float))


def pacf_to_coefficients(r: np.ndarray) -> np.ndarray:
    """Coefficients of a stationary AR (or invertible MA) polynomial from partial
    autocorrelations in (-1, 1) (Durbin-Levinson; Monahan 1984)."""
    phi = np.zeros(0)
    for k, rk in enumerate(r):
        phi = np.r_[phi - rk * phi[::-1], rk]
    return phi


def coefficients_to_pacf(phi: np.ndarray) -> np.ndarray:
    """Inverse of :func:`pacf_to_coefficients` (for stationary coefficients)."""
    phi = np.asarray(phi, dtype=float).copy()
    out = np.zeros(len(phi))
    for k in range(len(phi) - 1, -1, -1):
        rk = phi[k]
        out[k] = rk
        if k:
            phi = (phi[:k] + rk * phi[:k][::-1]) / (1.0 - rk * rk)
    return out


@dataclass(frozen=True)
class ResidualStructure:
    """A nonlinear residual structure: parameters -> covariance at each time distance.

    ``params`` are label names (``Residual: phi1``, ..., ``Residual: var(e)``, last);
    ``lags`` maps each derived label name to its time distance.
    """

    kind: str
    order: int
    params: tuple[str, ...]
    lags: dict[str, float] = field(default_factory=dict)

    @property
    def variance_params(self) -> tuple[str, ...]:
        """The parameter that is a variance (``var(e)``: the last)."""
        return self.params[-1:]

    @property
    def coefficient_scale(self) -> str:
        """The interval scale of the other parameters: ``"logit"`` for the exponential
        structure's rho (in (0, 1)), ``"atanh"`` for Toeplitz correlations, else
        ``"wald"`` (AR and MA coefficients)."""
        return {"exponential": "logit", "toeplitz": "atanh"}.get(self.kind, "wald")

    def covariances(self, theta: np.ndarray) -> dict[str, float]:
        """Values of the derived labels at parameter values ``theta`` (params order)."""
        var = theta[-1]
        coef = theta[:-1]
        dist = np.array(list(self.lags.values()), dtype=float)
        if self.kind == "ar":
            h = dist.astype(int)
            rho = ar_autocorrelation(coef, int(h.max()) if len(h) else 0)
            vals = var * rho[h]
        elif self.kind == "ma":
            # var(e) is the overall error variance, as mixed reports it
            h = dist.astype(int)
            g = ma_autocovariance(coef, int(h.max()) if len(h) else 0)
            vals = var * g[h] / g[0]
        elif self.kind == "toeplitz":
            h = dist.astype(int)
            rho = np.r_[1.0, coef]
            vals = var * np.where(h < len(rho), rho[np.minimum(h, len(rho) - 1)], 0.0)
        elif self.kind == "exponential":
            vals = var * np.power(coef[0], dist)
        else:  # pragma: no cover - guarded by the builder
            raise ValueError(self.kind)
        return dict(zip(self.lags, vals))

    def jacobian(self, theta: np.ndarray, step: float = 6e-6) -> np.ndarray:
        """d derived / d params (len(lags) x len(params)), by central differences of the
        closed forms above (smooth, cheap, and exact to ~1e-9). Analytic in complex
        ``theta`` (as the closed forms are), so complex steps of a gradient chained
        through it give the Hessian."""
        J = np.zeros((len(self.lags), len(self.params)), dtype=np.result_type(theta, float))
        for j in range(len(self.params)):
            h = step * max(abs(theta[j].real), 1.0)
            up, dn = theta.copy(), theta.copy()
            up[j] += h
            dn[j] -= h
            J[:, j] = (np.array(list(self.covariances(up).values()))
                       - np.array(list(self.covariances(dn).values()))) / (2 * h)
        return J


@dataclass(frozen=True)
class CompositeStructure:
    """Several structures of one kind side by side (``by()``: one per group), used like
    one: parameters and derived labels concatenated, Jacobian block-diagonal."""

    parts: tuple[ResidualStructure, ...]

    @property
    def kind(self) -> str:
        return self.parts[0].kind

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(p for part in self.parts for p in part.params)

    @property
    def variance_params(self) -> tuple[str, ...]:
        return tuple(p for part in self.parts for p in part.variance_params)

    @property
    def coefficient_scale(self) -> str:
        return self.parts[0].coefficient_scale

    @property
    def lags(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for part in self.parts:
            out.update(part.lags)
        return out

    def split(self, theta: np.ndarray) -> list[np.ndarray]:
        """The parameter vector of each part."""
        out, pos = [], 0
        for part in self.parts:
            out.append(theta[pos:pos + len(part.params)])
            pos += len(part.params)
        return out

    def covariances(self, theta: np.ndarray) -> dict[str, float]:
        out: dict[str, float] = {}
        for part, th in zip(self.parts, self.split(theta)):
            out.update(part.covariances(th))
        return out

    def jacobian(self, theta: np.ndarray) -> np.ndarray:
        J = np.zeros((len(self.lags), len(self.params)), dtype=np.result_type(theta, float))
        r = c = 0
        for part, th in zip(self.parts, self.split(theta)):
            Jp = part.jacobian(th)
            J[r:r + Jp.shape[0], c:c + Jp.shape[1]] = Jp
            r, c = r + Jp.shape[0], c + Jp.shape[1]
        return J
