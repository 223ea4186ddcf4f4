"""Newton optimisation of the profiled deviance, with a record the user can inspect.

Variances are optimised on the standard-deviation scale (variance = u**2), so a variance
can reach its boundary 0 exactly (the gradient in u vanishes there and the curvature stays
positive), covariances on their natural scale. Each iteration takes a Newton step on a
Hessian from differences of the analytic gradient, made positive definite by reflecting
negative eigenvalues, with a backtracking line search that rejects inadmissible points.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

__all__ = ["OptimizationSummary", "IterationEvent", "newton", "difference_hessian",
           "complex_step_hessian", "secant_hessian"]


@dataclass
class OptimizationSummary:
    """What the optimiser did: inspect it to judge a fit."""

    method: str = "newton"
    iterations: int = 0
    evaluations: int = 0
    converged: bool = False
    gradient_norm: float = np.nan     # max |d deviance / d u| at the end
    newton_decrement: float = np.nan  # g' H^-1 g at the end (deviance units)
    hessian_pd: bool = False          # positive definite Hessian at the end
    min_hessian_eigenvalue: float = np.nan
    message: str = ""
    history: list[float] = field(default_factory=list)  # deviance after each iteration

    def __str__(self) -> str:
        state = "converged" if self.converged else "NOT converged"
        return (f"{self.method}: {state} after {self.iterations} iterations "
                f"({self.evaluations} evaluations); max|gradient| = {self.gradient_norm:.3g}, "
                f"Hessian {'positive definite' if self.hessian_pd else 'NOT positive definite'}"
                f" (min eigenvalue {self.min_hessian_eigenvalue:.3g}); {self.message}")


@dataclass(frozen=True)
class IterationEvent:
    """What :func:`newton` reports to its ``callback``: the deviance at the start
    (``iteration`` 0, ``step`` "start"), after each iteration (``step`` "scoring" or
    "newton"; ``step_length`` 0 when the point did not move, ``concave`` False when the
    Hessian had to be modified), and once at the end (``step`` "done")."""

    iteration: int
    deviance: float
    step: str
    step_length: float = 1.0
    concave: bool = True


def difference_hessian(grad: Callable[[np.ndarray], np.ndarray], x: np.ndarray,
                       g0: np.ndarray | None, steps: np.ndarray, central: bool) -> np.ndarray:
    """Hessian from forward or central differences of an analytic gradient (symmetrised)."""
    k = len(x)
    H = np.empty((k, k))
    for j in range(k):
        e = np.zeros(k)
        e[j] = steps[j]
        if central:
            H[:, j] = (grad(x + e) - grad(x - e)) / (2 * steps[j])
        else:
            H[:, j] = (grad(x + e) - g0) / steps[j]
    return 0.5 * (H + H.T)


def complex_step_hessian(grad: Callable[[np.ndarray], np.ndarray], x: np.ndarray,
                         steps: np.ndarray) -> np.ndarray:
    """Hessian from complex steps of an analytic gradient that accepts complex
    arguments: column j is Im grad(x + i h_j e_j) / h_j, with no difference taken, so
    exact to the gradient's own rounding (Squire & Trapp 1998). ``steps`` only set the
    scale; the steps taken are 1e-20 of the variables' scale. (Symmetrised.)"""
    k = len(x)
    H = np.empty((k, k))
    h = 1e-16 * np.asarray(steps, dtype=float)
    for j in range(k):
        e = np.zeros(k, dtype=complex)
        e[j] = 1j * h[j]
        g = np.asarray(grad(x + e))
        if not np.iscomplexobj(g):
            raise TypeError("the gradient dropped the complex step (it is not analytic "
                            "in its arguments)")
        H[:, j] = g.imag / h[j]
    return 0.5 * (H + H.T)


def secant_hessian(fun: Callable[[np.ndarray, bool], tuple[float, np.ndarray | None]],
                   scale: np.ndarray):
    """For :func:`newton` where no expected information is at hand (the tree path): a
    wrapped ``fun`` that remembers the gradients it returns, and an ``approx_hessian``
    that starts from a difference Hessian and then updates it by BFGS from the gradients
    of the points the iterations reach (no evaluations of its own after the first). The
    optimiser takes these quasi-Newton steps while far from the optimum and the
    difference Hessian's Newton steps for the last ones, as with Fisher scoring."""
    seen: dict[bytes, np.ndarray] = {}
    state: dict[str, np.ndarray] = {}

    def wrapped(u: np.ndarray, want_grad: bool):
        val, g = fun(u, want_grad)
        if g is not None and np.isfinite(val):
            if len(seen) > 64:
                seen.clear()
            seen[np.asarray(u, dtype=float).tobytes()] = np.asarray(g, dtype=float)
        return val, g

    def approx(u: np.ndarray) -> np.ndarray | None:
        g = seen.get(np.asarray(u, dtype=float).tobytes())
        if g is None:
            return None
        if "H" not in state:
            steps = 1e-6 * np.maximum(np.abs(u), 1e-2 * scale)

            def grad(x):
                val, gx = fun(x, True)
                if not np.isfinite(val):
                    raise FloatingPointError("inadmissible point in a difference step")
                return gx
            try:
                H = difference_hessian(grad, u, g, steps, central=False)
            except FloatingPointError:
                return None
            # positive definite as newton's own steps make it (reflected eigenvalues),
            # which BFGS then keeps
            lam, vec = np.linalg.eigh(H)
            lam = np.maximum(np.abs(lam), 1e-10 * max(np.abs(lam).max(), 1e-300))
            H = (vec * lam) @ vec.T
        else:
            H = state["H"]
            s_, y_ = u - state["u"], g - state["g"]
            sy = float(s_ @ y_)
            if sy > 1e-12 * float(np.linalg.norm(s_) * np.linalg.norm(y_)):
                Hs = H @ s_
                H = H - np.outer(Hs, Hs) / float(s_ @ Hs) + np.outer(y_, y_) / sy
        state["H"], state["u"], state["g"] = H, np.array(u, dtype=float), g
        return H
    return wrapped, approx


def function_hessian(f: Callable[[np.ndarray], float], x: np.ndarray, steps: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Hessian and gradient of ``f`` at ``x`` from central differences of function values
    alone (for evaluations without an analytic gradient): 1 + 2k + 2k(k-1) evaluations."""
    k = len(x)
    f0 = f(x)
    H = np.empty((k, k))
    g = np.empty(k)
    fp, fm = np.empty(k), np.empty(k)
    for i in range(k):
        e = np.zeros(k)
        e[i] = steps[i]
        fp[i], fm[i] = f(x + e), f(x - e)
        g[i] = (fp[i] - fm[i]) / (2 * steps[i])
        H[i, i] = (fp[i] - 2 * f0 + fm[i]) / steps[i] ** 2
    for i in range(k):
        for j in range(i + 1, k):
            ei, ej = np.zeros(k), np.zeros(k)
            ei[i], ej[j] = steps[i], steps[j]
            H[i, j] = H[j, i] = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej)
                                 + f(x - ei - ej)) / (4 * steps[i] * steps[j])
    return H, g


#: Newton decrement below which a full step's Hessian is used once more at the new point
REUSE_DECREMENT = 1e-6


def newton(fun: Callable[[np.ndarray, bool], tuple[float, np.ndarray | None]],
           u0: np.ndarray, scale: np.ndarray, max_iter: int = 200,
           tol: float = 1e-9, noise: float = 1e-11,
           approx_hessian: Callable[[np.ndarray], np.ndarray | None] | None = None,
           callback: Callable[[IterationEvent], None] | None = None
           ) -> tuple[np.ndarray, OptimizationSummary]:
    """Minimise ``fun(u, want_grad) -> (value, gradient)`` by safeguarded Newton steps.

    Converged when the Newton decrement g'H^-1 g falls below ``tol`` (deviance units)
    and the Hessian is positive definite, or when neither the decrement nor the achieved
    decrease exceeds ``noise`` relative to the deviance (its numerical precision).
    ``scale`` sets the difference steps. ``approx_hessian`` (e.g. twice the expected
    information: Fisher scoring) replaces the difference Hessian while far from the
    optimum, saving its evaluations (:func:`_scoring_step`); the last steps always use
    the difference Hessian (:func:`_newton_direction`, :func:`_line_search`), and the
    end point's curvature is recorded (:func:`_final_check`). ``callback`` receives an
    :class:`IterationEvent` per iteration (an iteration log).
    """
    rec = OptimizationSummary()
    u = np.asarray(u0, dtype=float).copy()

    def fg(x):
        rec.evaluations += 1
        return fun(x, True)

    def grad(x):
        val, g = fg(x)
        if not np.isfinite(val):
            raise FloatingPointError("inadmissible point in a difference step")
        return g

    def emit(step: str, value: float, t: float = 1.0, concave: bool = True) -> None:
        if callback is not None:
            callback(IterationEvent(rec.iterations, float(value), step, t, concave))

    f, g = fg(u)
    if not np.isfinite(f):
        rec.message = "starting values are not admissible"
        return u, rec
    emit("start", f)
    if len(u) == 0:
        rec.converged, rec.hessian_pd, rec.gradient_norm = True, True, 0.0
        rec.message = "no free variance parameters"
        emit("done", f)
        return u, rec
    H_final = None
    H_reuse = None
    quiet = 0
    scoring = approx_hessian is not None
    last_eigen = None                  # the last scoring step's curvature (eigenpairs)
    for it in range(1, max_iter + 1):
        if scoring and last_eigen is not None and _decrement(last_eigen, g) <= SCORING_CLOSE:
            # close already by the last step's curvature: the approximation at this point
            # would most likely say so too (it changes little near the optimum), and is
            # not computed (a tenth of a small model's fit)
            scoring = False
        if scoring:
            moved = _scoring_step(fg, approx_hessian(u), u, f, g)
            if moved is not None:
                rec.iterations = it
                u, f, g, t, last_eigen = moved
                rec.history.append(float(f))
                emit("scoring", f, t)
                continue
            scoring = False                         # close: Newton steps from here
        if H_reuse is not None:
            H, H_reuse = H_reuse, None
        else:
            steps = 1e-6 * np.maximum(np.abs(u), 1e-2 * scale)
            H = _difference_hessian_or_gradient(grad, u, g, steps, scale)
        d, dec, lam = _newton_direction(H, g)
        rec.iterations = it
        if dec < tol and lam.min() > 0:
            rec.converged = True
            H_final = H                       # the Hessian at the final point
            # the last Newton step is still taken: it costs one evaluation and puts the
            # point within the gradient's rounding of the optimum (without it, where the
            # stop lands depends on the path, e.g. on the order of the rows, in flat
            # directions by up to sqrt(tol / curvature))
            fn, gn = fg(u + d)
            if np.isfinite(fn) and fn <= f + noise * max(1.0, abs(f)):
                u, f, g = u + d, fn, gn
                rec.history.append(float(f))
            emit("newton", f, 1.0)
            break
        step = _line_search(fg, u, f, d, dec, noise)
        if step is None:
            # no decrease along the Newton direction: at a (numerically) flat optimum
            rec.message = "line search made no progress"
            emit("newton", f, 0.0, bool(lam.min() > 0))
            break
        t, fn, gn = step
        gain = f - fn
        u, f, g = u + t * d, fn, gn
        if t == 1.0 and dec < REUSE_DECREMENT and lam.min() > 0:
            # a full step that small moves the curvature by less than the difference
            # Hessian's own error: the next iteration keeps it (saves its k evaluations)
            H_reuse = H
        rec.history.append(float(f))
        emit("newton", f, t, bool(lam.min() > 0))
        quiet = quiet + 1 if (dec < noise * max(1.0, abs(f))
                              and abs(gain) < noise * max(1.0, abs(f))) else 0
        if quiet >= 3:
            # the model cannot tell the points apart any more: at the optimum to the
            # precision of the deviance itself (two more Newton steps after the first such
            # iteration: in flat directions they still move the estimates, and the result
            # should not depend on the order of the rows)
            rec.converged = True
            rec.message = "converged (deviance change below its numerical precision)"
            break
    _final_check(rec, grad, u, g, H_final, scale, max_iter)
    emit("done", f)
    return u, rec


#: Newton decrement (deviance units) below which Fisher scoring hands over to Newton steps
SCORING_CLOSE = 1e-3


def _decrement(eigen: tuple[np.ndarray, np.ndarray], g: np.ndarray) -> float:
    """g' H^-1 g from the eigenpairs of a positive definite H."""
    lam, vec = eigen
    c = vec.T @ g
    return float(c @ (c / lam))


def _scoring_step(fg, H: np.ndarray | None, u: np.ndarray, f: float, g: np.ndarray):
    """A step along the approximate Hessian's direction with an Armijo line search while
    far from the optimum (decrement > :data:`SCORING_CLOSE`): (u, f, g, step length,
    H's eigenpairs), or None when close, when ``H`` is not positive definite or when the
    search fails (Newton steps then)."""
    if H is None or not np.all(np.isfinite(H)):
        return None
    lam, vec = np.linalg.eigh(H)
    if lam.min() <= 1e-10 * max(abs(lam).max(), 1e-300):
        return None
    d = -vec @ ((vec.T @ g) / lam)
    dec = float(-g @ d)
    if dec <= SCORING_CLOSE:
        return None
    t = 1.0
    while t > 1e-6:
        fn, gn = fg(u + t * d)
        if np.isfinite(fn) and fn <= f - 1e-4 * t * dec:
            return u + t * d, fn, gn, t, (lam, vec)
        t *= 0.5
    return None


def _difference_hessian_or_gradient(grad, u: np.ndarray, g: np.ndarray, steps: np.ndarray,
                                    scale: np.ndarray) -> np.ndarray:
    """The forward-difference Hessian (backward where forward steps leave the admissible
    region; a scaled gradient step's diagonal where both do)."""
    try:
        return difference_hessian(grad, u, g, steps, central=False)
    except FloatingPointError:
        pass
    try:
        return difference_hessian(grad, u, g, -steps, central=False)
    except FloatingPointError:
        return np.diag(np.maximum(np.abs(g) / np.maximum(np.abs(u), scale), 1e-8))


def _newton_direction(H: np.ndarray, g: np.ndarray):
    """The Newton direction on ``H`` made positive definite (negative eigenvalues
    reflected), its decrement g'H^-1 g and ``H``'s eigenvalues."""
    lam, vec = np.linalg.eigh(H)
    big = max(np.abs(lam).max(), 1e-300)
    lam_mod = np.maximum(np.abs(lam), 1e-10 * big)
    d = -vec @ ((vec.T @ g) / lam_mod)
    return d, float(-g @ d), lam


def _line_search(fg, u: np.ndarray, f: float, d: np.ndarray, dec: float, noise: float):
    """Backtracking from the full step: (t, f, g) of the first Armijo point, or None. At
    the deviance's own precision the Armijo test is decided by rounding: a full Newton
    step that does not increase the deviance beyond that precision is taken."""
    slack = noise * max(1.0, abs(f)) if dec < 100 * noise * max(1.0, abs(f)) else 0.0
    t = 1.0
    while t > 1e-12:
        fn, gn = fg(u + t * d)
        if np.isfinite(fn) and (fn <= f - 1e-4 * t * dec or (t == 1.0 and fn <= f + slack)):
            return t, fn, gn
        t *= 0.5
    return None


def _final_check(rec: OptimizationSummary, grad, u: np.ndarray, g: np.ndarray,
                 H: np.ndarray | None, scale: np.ndarray, max_iter: int) -> None:
    """The end point's curvature, gradient and decrement in ``rec``, and the verdict
    (forward differences suffice for the record: standard errors are computed
    separately, with central differences or complex steps)."""
    steps = 1e-5 * np.maximum(np.abs(u), 1e-2 * scale)
    for sign in (1.0, -1.0):
        if H is not None:
            break
        try:
            H = difference_hessian(grad, u, g, sign * steps, central=False)
        except FloatingPointError:
            continue
    if H is None:
        rec.converged = False
        rec.message = "the curvature cannot be evaluated: the optimum is on the edge of " \
            "the admissible region"
        rec.gradient_norm = float(np.abs(g).max())
        return
    lam = np.linalg.eigvalsh(H)
    rec.min_hessian_eigenvalue = float(lam.min())
    rec.hessian_pd = bool(lam.min() > 1e-10 * max(np.abs(lam).max(), 1e-300))
    rec.gradient_norm = float(np.abs(g).max())
    try:
        rec.newton_decrement = float(g @ np.linalg.solve(H, g)) if rec.hessian_pd else np.nan
    except np.linalg.LinAlgError:
        rec.newton_decrement = np.nan
    if not rec.converged and rec.hessian_pd and rec.newton_decrement < 1e-6:
        rec.converged = True
        rec.message = rec.message or "converged"
    if rec.converged and not rec.hessian_pd:
        rec.converged = False
        rec.message = "Hessian not positive definite at the solution"
    if not rec.message:
        rec.message = "converged" if rec.converged else f"stopped after {max_iter} iterations"
