"""One-dimensional dual searches of the decomposed solver (docs/model.md §5.8): minimize
convex piecewise-linear functions of one variable each (the Lagrangian dual in an uptime or a
minimum-take multiplier) and keep the greedy solutions either side of each minimizer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kernels.decomposition import (
    OUT_LOAD,
)
from optimizer.errors import SolverError

LAMBDA_MAX = 1e9  # USD per contracted hour: an uptime dual above this means "unreachable"
NARROW = 1e-9  # relative width at which a bracket counts as the minimizer

# --------------------------------------------------------------------------- 1-D duals


def minimize_pl(evaluate, lower, upper, start, tol, step=None, jump=None):
    """Minimize independent convex piecewise-linear functions of one variable each.

    Parameters
    ----------
    evaluate : callable
        ``evaluate(t) -> (phi, slope, sol)`` for a vector ``t`` of points, one per function:
        values, (sub)gradients, and an opaque solution the caller mixes.
    lower, upper : numpy.ndarray
        Bounds of each variable (``upper`` may be inf: the bracket then steps out up to
        ``LAMBDA_MAX``, past which :class:`Unreachable` is raised).
    start : numpy.ndarray
        First trial point (a previous optimum, to warm start).
    tol : float
        Absolute tolerance on the function values for "the tangents meet on the function".
    step : numpy.ndarray, optional
        First step out of ``start`` when bracketing (then x16 each time): how far the minimizer
        moved last time. Default 1 from zero, ``1e-6 |start|`` otherwise.
    jump : callable, optional
        ``jump() -> t``: a better first trial point, asked for only when ``start`` is not
        optimal; the search then starts over from it with a step of ``NARROW / 2 * |t|``.

    Returns
    -------
    t : numpy.ndarray
        The minimizers (where a bracket closed within ``NARROW`` relative, its left end: within
        ``1e-9 |t|`` of the minimizer, its Lagrangian value within ``|slope| 1e-9 |t|``).
    ends : tuple
        ``(sol_a, sol_b, theta)``: the solutions either side of each minimizer and the weight
        ``theta`` of ``sol_a`` that zeroes the slope (1 where one side is optimal alone).
    at_t : object
        The solution evaluated at the minimizers themselves.
    evaluations : int
    """
    n = len(lower)
    cap = np.minimum(upper, LAMBDA_MAX)
    t = np.clip(start, lower, cap)
    evals = 0
    while True:  # the start, then (if it is not optimal) the jump's point
        phi, slope, sol = evaluate(t)
        evals += 1
        done = (slope == 0) | ((slope > 0) & (t <= lower)) | ((slope < 0) & (t >= upper))
        if jump is None or done.all():
            break
        t = np.where(done, t, np.clip(jump(), lower, cap))
        step = 0.5 * NARROW * np.maximum(np.abs(t), 1.0)
        jump = None
    a, b = t.copy(), t.copy()
    fa, fb, sa, sb = phi.copy(), phi.copy(), slope.copy(), slope.copy()
    sol_a, sol_b, sol_t = sol, sol, sol
    theta = np.ones(n)
    # find a bracket: slope(a) < 0 < slope(b), stepping out geometrically
    need_b = ~done & (slope < 0)
    need_a = ~done & (slope > 0)
    if step is None:
        step = np.where(t == 0, 1.0, 1e-6 * np.abs(t))  # a warm start sits at or by the minimizer
    step = np.maximum(np.asarray(step, dtype=float), 0.5 * NARROW * np.maximum(np.abs(t), 1.0))
    while need_a.any() or need_b.any():
        if (need_b & (a >= cap) & ~np.isfinite(upper)).any():
            raise Unreachable()
        trial = t.copy()
        trial[need_b] = np.minimum(a[need_b] + step[need_b], cap[need_b])
        trial[need_a] = np.maximum(b[need_a] - step[need_a], lower[need_a])
        step *= 16.0
        p, s, sl = evaluate(trial)
        evals += 1
        searching = need_a | need_b
        zero = searching & (s == 0)
        neg = searching & (s < 0)
        pos = searching & (s > 0)
        a[neg], fa[neg], sa[neg] = trial[neg], p[neg], s[neg]
        b[pos], fb[pos], sb[pos] = trial[pos], p[pos], s[pos]
        # optimal at the trial point: a zero slope, or a bound with the slope pointing out
        at_point = zero | (neg & (trial >= upper)) | (pos & (trial <= lower))
        sol_a = _merge(sol_a, sl, neg | at_point)
        sol_b = _merge(sol_b, sl, pos)
        sol_t = _merge(sol_t, sl, at_point)
        t[at_point] = trial[at_point]
        theta[at_point] = 1.0
        done |= at_point
        need_b &= ~pos & ~at_point
        need_a &= ~neg & ~at_point
    active = ~done
    bisect = False
    for _ in range(200):
        # a bracket within 1e-9 of its ends ends at the left end (its Lagrangian value is
        # within |slope| 1e-9 |t| of the minimum: a cut as good) with the ends' mix
        close = b - a <= NARROW * np.maximum(1.0, np.abs(b))
        with np.errstate(divide="ignore", invalid="ignore"):
            meet = (fb - fa + sa * a - sb * b) / (sa - sb)
        # the tangents meet at an end already evaluated: that end is the kink if the other
        # end's tangent passes through it (the function is linear in between)
        width = 1e-12 * np.maximum(1.0, np.abs(b))
        at_a = (meet <= a + width) & (fa <= fb + sb * (a - b) + tol * (1.0 + np.abs(fa)))
        at_b = (meet >= b - width) & (fb <= fa + sa * (b - a) + tol * (1.0 + np.abs(fb)))
        at_b = active & ~close & at_b  # where both ends qualify, b (a narrow bracket: a)
        at_a = active & (close | at_a) & ~at_b
        for end, point, sol_end in ((at_a, a, sol_a), (at_b, b, sol_b)):
            if end.any():
                t[end] = point[end]
                sol_t = _merge(sol_t, sol_end, end)
                with np.errstate(divide="ignore", invalid="ignore"):
                    theta[end] = np.where(sb - sa > 0, sb / (sb - sa), 1.0)[end]
                active &= ~end
        if not active.any():
            break
        mid = 0.5 * (a + b)
        ok = np.isfinite(meet) & (meet > a) & (meet < b)
        tangent = ok & (not bisect)
        c = np.where(tangent, meet, mid)
        c = np.where(active, c, t)
        p, s, sl = evaluate(c)
        evals += 1
        model = np.maximum(fa + sa * (c - a), fb + sb * (c - b))
        scale = tol * (1.0 + np.abs(p))
        kink = active & tangent & (p <= model + scale)  # the tangents meet on the function: optimal
        narrow = active & (b - a <= 1e-13 * np.maximum(1.0, np.abs(b)))
        finish = kink | narrow
        t[finish] = c[finish]
        sol_t = _merge(sol_t, sl, finish | (active & (s == 0)))
        with np.errstate(divide="ignore", invalid="ignore"):
            theta[finish] = np.where(sb - sa > 0, sb / (sb - sa), 1.0)[finish]
        active &= ~finish
        left = active & (s < 0)
        right = active & (s > 0)
        zero = active & (s == 0)
        a[left], fa[left], sa[left] = c[left], p[left], s[left]
        b[right], fb[right], sb[right] = c[right], p[right], s[right]
        sol_a = _merge(sol_a, sl, left | zero)
        sol_b = _merge(sol_b, sl, right)
        t[zero] = c[zero]
        theta[zero] = 1.0
        active &= ~zero
        bisect = not bisect
    if active.any():
        raise SolverError("decomposed solver: a multiplier search did not converge")
    return t, (sol_a, sol_b, theta), sol_t, evals


def snap(slope: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Slopes within 1e-10 of their row's right-hand side are zero (a row met exactly up to
    rounding is met)."""
    return np.where(np.abs(slope) <= 1e-10 * np.maximum(1.0, np.abs(scale)), 0.0, slope)


class Unreachable(Exception):
    """An uptime floor cannot be met at the trial split (the caller falls back)."""


def _merge(old, new, mask):
    """Take ``new``'s parts where ``mask`` holds (solutions know how to merge by variable)."""
    if not np.any(mask):
        return old
    if old is None:
        return new
    return old.merge(new, mask)


# --------------------------------------------------------------------------- one site


@dataclass(eq=False)
class HourSolution:
    """A greedy solution of all hours of one site: items ``x[I, T]`` and ``out[T, N_OUT]``.

    ``month`` maps hours to the coordinates of a vector multiplier (months), so that
    :meth:`merge` takes another solution's hours where its month is in ``mask``.
    """

    x: np.ndarray
    out: np.ndarray
    month: np.ndarray

    def merge(self, other: HourSolution, mask: np.ndarray) -> HourSolution:
        hours = mask[self.month]
        return HourSolution(
            np.where(hours[None, :], other.x, self.x),
            np.where(hours[:, None], other.out, self.out),
            self.month,
        )


def mix(a: HourSolution, b: HourSolution, theta_hour: np.ndarray) -> HourSolution:
    """``theta a + (1 - theta) b`` hour by hour (loads and items; duals of ``a``)."""
    if (theta_hour == 1.0).all():
        return a
    x = theta_hour[None, :] * a.x + (1.0 - theta_hour[None, :]) * b.x
    out = a.out.copy()
    out[:, OUT_LOAD] = theta_hour * a.out[:, OUT_LOAD] + (1.0 - theta_hour) * b.out[:, OUT_LOAD]
    return HourSolution(x, out, a.month)
