"""The second stage: the hourly allocation LP with the first-stage choices fixed.

:func:`second_stage` is the ONE place the decision reaches the hourly LP: given a block's LP
parameters and ``(y, n, f)`` it returns the block's operating margin and its gradient with
respect to ``(y, n, f)``. It fixes those columns' bounds in the monolithic LP
(:func:`optimizer.lp.formulation.build_lp`) and reads the reduced costs, or, where the decomposition covers the
block (docs/model.md §5.8: no ramp limits or ancillary offers), sums each
site's Lagrangian bound and supergradient from :class:`~optimizer.lp.site_problem.SiteProblem`
(exact at the multipliers it finds, 10-50x faster; the tests hold both to each other).

Sign convention (optimizer/lp/backends.py, optimizer/plan.py): the LP minimizes ``-margin``; the
reduced cost of a column fixed at ``x_j`` is ``d(-margin)/d x_j``, so the gradient of the margin
is minus the reduced cost. The margin is concave in ``(y, n, f)`` (an LP's optimum as a function
of its bounds), and any optimal dual gives a supergradient: ``Q(x) <= Q(xk) + g . (x - xk)``,
the Benders optimality cut.

:func:`solve_path_year` is the worker function (top level, picklable) that evaluates one
path-year at one first-stage point: the weighted sum of its blocks.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from optimizer.errors import InfeasibleError
from optimizer.lp.backends import solve_lp
from optimizer.lp.data import LpData
from optimizer.lp.decomposed import unsupported
from optimizer.lp.formulation import build_lp, gpu_rows, shortfall_secant
from optimizer.lp.model import Lp
from optimizer.lp.site_problem import SiteProblem, ZLayout

#: First-stage blocks of the allocation LP, in the order of ``x``.
FIRST_STAGE = ("y", "n", "f")
#: Built blocks kept per worker process, in path-years (each is evaluated once per iteration):
#: covered blocks keep their parameters and site problems (~0.1 MB a week), the others their
#: monolithic LP too (several times more), hence a smaller pool for those.
_CACHE_SIZE = 1024
_CACHE_SIZE_LP = 256
_built: OrderedDict[str, list[_Block]] = OrderedDict()
_built_lock = threading.Lock()  # dask workers run tasks on several threads


@dataclass(eq=False)
class _Block:
    """A block's parameters; its monolithic LP only where it is needed (not covered by the
    decomposition, or a feasibility cut), built once."""

    data: LpData
    position: int = 0  # which sampled block of the year (multipliers are shared as a start)
    lp: Lp | None = None
    covered: bool = False  # by the decomposition
    sites: list[SiteProblem] | None = None  # its site problems (multipliers kept between calls)

    def __post_init__(self) -> None:
        self.covered = not unsupported(self.data)

    def margin(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """:func:`second_stage` at ``x = (y, n, f)``: by the decomposition where it covers the
        block; where it finds no plan, or does not cover the block, the fixed LP decides."""
        if self.covered:
            if self.sites is None:
                self.sites = _site_problems(self.data, _warm.get(self.position, []))
            try:
                out = _decomposed(self.data, x, self.sites)
            except InfeasibleError:  # its tolerances are not HiGHS's: let the LP say
                return _fixed_lp(self.the_lp(), x)
            with _built_lock:
                _warm[self.position] = [site.multipliers() for site in self.sites]
            return out
        return _fixed_lp(self.the_lp(), x)

    def the_lp(self) -> Lp:
        if self.lp is None:
            self.lp = build_lp(self.data)
        return self.lp


def first_stage_ids(lp: Lp) -> np.ndarray:
    """Global columns of ``y, n, f`` in ``x`` order."""
    return np.concatenate([lp.cols[name].ids().ravel() for name in FIRST_STAGE])


def first_stage_bounds(d: LpData) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of ``(y, n, f)`` as the LP has them (docs/model.md §5.4.6-7)."""
    G = d.gpu_max_servers
    upper = np.concatenate([d.convertible_mw, G, np.where(d.gpu_firm, G, 0.0)])
    return np.zeros_like(upper), upper.astype(float)


def clip_first_stage(lower: np.ndarray, upper: np.ndarray, x: np.ndarray, K: int) -> np.ndarray:
    """``x = (y, n, f)`` clipped into its bounds, with ``f <= n`` (``K`` GPU classes)."""
    value = np.clip(np.asarray(x, dtype=float), lower, upper)
    value[len(value) - K :] = np.minimum(
        value[len(value) - K :], value[len(value) - 2 * K : len(value) - K]
    )
    return value


def fix_first_stage(lp: Lp, x: np.ndarray) -> Lp:
    """A copy of ``lp`` with ``y, n, f`` fixed at ``x`` (clipped into their bounds, ``f <= n``)."""
    ids = first_stage_ids(lp)
    value = clip_first_stage(lp.col_lower[ids], lp.col_upper[ids], x, lp.cols["n"].size)
    lower, upper = lp.col_lower.copy(), lp.col_upper.copy()
    lower[ids] = value
    upper[ids] = value
    return replace(lp, col_lower=lower, col_upper=upper)


def second_stage(
    data: LpData, y: np.ndarray, n: np.ndarray, f: np.ndarray, *, lp: Lp | None = None
) -> tuple[float, np.ndarray]:
    """Operating margin of one block with the first stage fixed, and its gradient.

    Parameters
    ----------
    data : LpData
        The block's parameters (capex annuities already zero: :func:`~optimizer.decide.
        problem.block_lp_data`).
    y : float64[S]
        MW converted per site.
    n, f : float64[K]
        GPU servers installed and firm servers per class.
    lp : Lp, optional
        ``build_lp(data)``, when already built.

    Returns
    -------
    margin_usd : float
        Best margin of the block's hours [USD].
    gradient : float64[S + 2K]
        ``d margin / d (y, n, f)`` [USD per MW, per server].

    Raises
    ------
    InfeasibleError
        No hourly plan exists with these first-stage values.
    """
    x = np.concatenate([np.ravel(y), np.ravel(n), np.ravel(f)]).astype(float)
    if not unsupported(data):
        return _decomposed(data, x, _site_problems(data, []))
    return _fixed_lp(lp if lp is not None else build_lp(data), x)


def _fixed_lp(lp: Lp, x: np.ndarray) -> tuple[float, np.ndarray]:
    """:func:`second_stage` by HiGHS on the LP with the first stage fixed (reduced costs)."""
    sol = solve_lp(fix_first_stage(lp, x), threads=1)
    if sol.status == "infeasible":
        raise InfeasibleError(
            f"no hourly plan exists with the first stage fixed at {np.round(x, 4).tolist()}"
            " (y, n, f)"
        )
    return -sol.objective, -sol.col_dual[first_stage_ids(lp)]


class SecondStageInfeasible(InfeasibleError):
    """Some path-years have no hourly plan at a trial first stage; ``cuts`` hold, for each,
    ``(path, x, v, g)``: a first stage ``x'`` can be feasible only if ``v + g . (x' - x) <= 0``
    (Benders feasibility cuts, :func:`feasibility_cut`)."""

    def __init__(self, message: str, cuts: list[tuple[int, np.ndarray, float, np.ndarray]]):
        super().__init__(message)
        self.cuts = cuts
        self.theta: np.ndarray | None = None  # the path-years' values, NaN where infeasible


def feasibility_cut(lp: Lp, x: np.ndarray) -> tuple[float, np.ndarray]:
    """Phase one of a block at the first stage ``x``: the least total violation of its rows.

    Every row gets slack columns (one per finite bound) costing 1 each, the first stage is fixed
    and the true costs are dropped. The optimum ``v(x) >= 0`` is convex in ``x`` and 0 exactly
    where the block is feasible, so with ``g = dv/dx`` (the fixed columns' reduced costs) any
    feasible ``x'`` meets ``v(x) + g . (x' - x) <= 0``.

    Returns
    -------
    v : float
        Least total violation at ``x`` (in the rows' own units).
    g : float64[S + 2K]
        Its gradient in ``(y, n, f)``.
    """
    import scipy.sparse as sp

    fixed = fix_first_stage(lp, x)
    lo = np.flatnonzero(np.isfinite(fixed.row_lower))
    up = np.flatnonzero(np.isfinite(fixed.row_upper))
    k = len(lo) + len(up)
    slack = sp.csr_array(
        (
            np.concatenate([np.ones(len(lo)), -np.ones(len(up))]),
            (np.concatenate([lo, up]), np.arange(k)),
        ),
        shape=(fixed.n_rows, k),
    )
    phase_one = replace(
        fixed,
        cost=np.concatenate([np.zeros(fixed.n_cols), np.ones(k)]),
        col_lower=np.concatenate([fixed.col_lower, np.zeros(k)]),
        col_upper=np.concatenate([fixed.col_upper, np.full(k, np.inf)]),
        offset=0.0,
        matrix=sp.hstack([fixed.matrix, slack], format="csr"),
    )
    sol = solve_lp(phase_one, threads=1)
    if sol.status != "optimal":
        raise InfeasibleError(f"phase one of a second stage: {sol.status} ({sol.message})")
    return float(sol.objective), np.asarray(sol.col_dual[first_stage_ids(lp)], dtype=float)


#: The multipliers last found at each block position, per site: a new block at the same
#: position (another path or year) starts its searches there. A start changes the work, and
#: where the Lagrangian's minimum is flat it may change which supergradient a cut gets (so the
#: master's path), never a margin or the proven optimum.
_warm: dict[int, list[tuple[np.ndarray, ...]]] = {}


def _site_problems(data: LpData, warm: list[tuple[np.ndarray, ...]]) -> list[SiteProblem]:
    """The decomposition's site problems of a block, their searches started from ``warm``."""
    S, K = data.n_sites, len(data.gpu_names)
    a, b = shortfall_secant(data)
    gpu_v, gpu_w = gpu_rows(data)
    sites = [SiteProblem.build(data, s, ZLayout(S, K), gpu_v, gpu_w, a, b) for s in range(S)]
    for site, state in zip(sites, warm, strict=False):
        site.warm_start(*state)
    return sites


def _decomposed(data: LpData, x: np.ndarray, sites: list[SiteProblem]) -> tuple[float, np.ndarray]:
    """:func:`second_stage` by the decomposition (docs/model.md §5.8): each site's Lagrangian
    bound at the first stage, with its supergradient, plus the first stage's own terms."""
    S, K = data.n_sites, len(data.gpu_names)
    lower, upper = first_stage_bounds(data)
    value = clip_first_stage(lower, upper, x, K)
    y, n, f = value[:S], value[S : S + K], value[S + K :]
    layout = ZLayout(S, K)
    z = np.concatenate([y, f, n])  # the decomposition's order
    margin = float(data.gpu_revenue_usd.sum(axis=1) @ f)  # firm servers' revenue
    margin -= (
        float(data.gpu_capex_usd_per_hour @ n + data.conversion_usd_per_mw_hour @ y) * data.hours
    )
    margin -= float((data.ppa_price_usd_per_mwh[:, None] * data.ppa_block_mw).sum())
    grad = np.concatenate(
        [
            -data.conversion_usd_per_mw_hour * data.hours,
            data.gpu_revenue_usd.sum(axis=1),
            -data.gpu_capex_usd_per_hour * data.hours,
        ]
    )
    for site in sites:
        e = site.evaluate(z)
        if e.infeasible is not None:
            raise InfeasibleError(
                "no hourly plan exists with the first stage fixed at "
                f"y={np.round(y, 4).tolist()} n={np.round(n, 4).tolist()} f={np.round(f, 4).tolist()}"
                f" (site {data.site_names[site.s]})"
            )
        margin += e.bound
        grad += e.grad
    # back to (y, n, f); no derivative along a column that cannot move (f of a class that is
    # never firm), as the fixed LP's reduced costs report it
    grad = np.concatenate([grad[layout.y], grad[layout.n], grad[layout.f]])
    return margin, np.where(upper > lower, grad, 0.0)


def _blocks(task) -> list[_Block]:
    """The built blocks of a path-year (cached per process by the task's key)."""
    from optimizer.decide.problem import block_lp_data

    with _built_lock:
        hit = _built.get(task.key)
        if hit is not None:
            _built.move_to_end(task.key)
            return hit
    out = []
    for w, doc in enumerate(task.docs):
        out.append(_Block(block_lp_data(doc, task.base_dir, task.rent_factor), position=w))
    limit = _CACHE_SIZE if all(b.covered for b in out) else _CACHE_SIZE_LP
    with _built_lock:
        _built[task.key] = out
        while len(_built) > limit:
            _built.popitem(last=False)
    return out


def solve_path_year(task) -> dict[str, Any]:
    """Evaluate one path-year at ``task.x``: ``theta = sum_w weight_w Q_w`` and its gradient.

    Returns a row: ``path, year, value`` [USD, discounted], ``grad`` (list, ``S + 2K``),
    ``seconds``; where a block has no hourly plan at ``task.x``, ``value`` is NaN and the row
    carries ``infeasible`` (why), ``violation`` and ``violation_grad`` (:func:`feasibility_cut`).
    """
    from optimizer.study.worker import _one_numba_thread

    t0 = time.perf_counter()
    S, K = task.sizes
    x = np.asarray(task.x, dtype=float)
    value = 0.0
    grad = np.zeros(S + 2 * K)
    with _one_numba_thread():
        for block, weight in zip(_blocks(task), task.weights, strict=True):
            try:
                q, g = block.margin(x)
            except InfeasibleError as exc:
                v, gv = feasibility_cut(block.the_lp(), x)
                return {
                    "path": task.path,
                    "year": task.year,
                    "value": float("nan"),
                    "grad": np.full(S + 2 * K, np.nan).tolist(),
                    "infeasible": str(exc),
                    "violation": v,
                    "violation_grad": gv.tolist(),
                    "seconds": time.perf_counter() - t0,
                }
            value += weight * q
            grad += weight * g
    return {
        "path": task.path,
        "year": task.year,
        "value": float(value),
        "grad": grad.tolist(),
        "infeasible": "",
        "violation": 0.0,
        "violation_grad": [],
        "seconds": time.perf_counter() - t0,
    }
