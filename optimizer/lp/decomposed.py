"""The decomposed solver: Benders cuts on the horizon-wide decisions, a greedy per site-hour
(docs/model.md §5.8).

Only a handful of columns span the horizon: MW converted ``y[s]``, firm servers ``f[k]`` and
installed servers ``n[k]``. With them fixed, the allocation LP falls apart by site and, once
the hosted-uptime and monthly minimum-take rows are priced by multipliers, by hour; each hour is
a fractional knapsack solved greedily by :func:`kernels.decomposition.greedy_hours`.

- **Second stage** (:class:`SiteProblem`): for a trial ``z = (y, f, n)``, the multipliers are
  found per site by minimizing the Lagrangian dual, a convex piecewise-linear function of one
  variable per row (:func:`minimize_pl`: tangent intersections with bisection as a safeguard,
  exact at a kink). Its value ``g(z)`` is an upper bound on the site's margin and, by the
  envelope theorem, the hourly duals give a supergradient in ``z``: a Benders cut. The two
  greedy solutions either side of each multiplier, mixed to meet the row exactly, give a
  feasible plan whose margin is a lower bound.
- **Master** (:class:`Master`): a small HiGHS LP over ``z`` and one ``theta[s]`` per site, with
  the lease and server rows, the cuts, and the rows that keep firm load inside the halls and
  the import cap (added lazily, hour by hour, where a trial point breaks them).
- **Stopping rule**: the master's optimum is an upper bound on the margin, the best plan found a
  lower bound; the loop stops when ``upper - lower <= gap_tol * max(1, |upper|)`` (default
  1e-9), never on an iteration count alone. The gap is reported.

The result is a :class:`~optimizer.lp.backends.Solution` in the monolithic LP's own layout
(primal, row duals, reduced costs), so plans, duals and reports read the same whichever method
ran. An ASIC class with operating points is one item per segment of its concave envelope
(:class:`~optimizer.lp.envelope.Segments`). Ramp limits couple hours and ancillary offers tie
several classes' load within an hour; they are not covered: :func:`unsupported` names what is not, and
``method = "auto"`` then solves the monolithic LP.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from kernels.decomposition import (
    OUT_DA,
    OUT_DV,
    OUT_E,
    OUT_GAMMA,
    OUT_LOAD,
    OUT_OMEGA,
    OUT_TAU,
)
from optimizer.errors import SolverError
from optimizer.lp.backends import Solution, new_highs, same_threads
from optimizer.lp.data import LpData
from optimizer.lp.envelope import Segments
from optimizer.lp.formulation import shortfall_secant
from optimizer.lp.model import Lp
from optimizer.lp.site_problem import HourDuals, SiteProblem, ZLayout

SOLVER_NAME = "Benders cuts (HiGHS master) + hourly greedy"
GAP_TOL = 1e-9  #: relative gap ``(upper - lower) / max(1, |upper|)`` at which the loop stops
MAX_ITERATIONS = 500  #: master solves before giving up (the gap is then reported)
_THETA_MAX = 1e12  # USD: bound on a site's margin before its first cut


def unsupported(d: LpData) -> list[str]:
    """Features of ``d`` the decomposition does not cover (empty: it covers them all)."""
    reasons = []
    if d.n_points and d.class_hosted[d.point_class].any():
        reasons.append("operating points on a hosted class")
    elif d.n_points:
        for s in range(d.n_sites):
            problem = Segments.build(d, np.flatnonzero(d.class_site == s)).problem
            if problem:
                reasons.append(f"operating points: {problem}")
    if d.n_ancillary:
        reasons.append("ancillary service offers (reserves tie the load of several classes)")
    if np.isfinite(d.ramp_mw_per_hour).any():
        sites = [d.site_names[s] for s in np.flatnonzero(np.isfinite(d.ramp_mw_per_hour))]
        reasons.append(f"ramp limits couple the hours (site {', '.join(sites)})")
    for s in range(d.n_sites):
        hosted = d.class_hosted & (d.class_uptime > 0) & (d.class_site == s)
        if hosted.sum() > 1:
            reasons.append(
                f"site {d.site_names[s]} has {int(hosted.sum())} hosted classes with an uptime"
                " floor (one per site is covered)"
            )
    return reasons


class Master:
    """The Benders master: ``max c z + sum theta`` over ``z`` and the cuts (minimized as ``-``)."""

    def __init__(self, d: LpData, lp: Lp | None = None) -> None:
        import highspy

        self.d = d
        S, K, T = d.n_sites, len(d.gpu_names), d.hours
        self.layout = lay = ZLayout(S, K)
        self.h = h = new_highs()
        same_threads(h)
        inf = highspy.kHighsInf
        cost = np.zeros(lay.size + S)
        cost[lay.y] = d.conversion_usd_per_mw_hour * T
        cost[lay.f] = -d.gpu_revenue_usd.sum(axis=1)
        cost[lay.n] = d.gpu_capex_usd_per_hour * T
        cost[lay.size :] = -1.0
        G = d.gpu_max_servers
        lower = np.zeros(lay.size + S)
        upper = np.concatenate(
            [
                np.minimum(d.convertible_mw, d.mining_hall_mw),
                np.where(d.gpu_firm, G, 0.0),
                G,
                np.full(S, _THETA_MAX),
            ]
        )
        if lp is not None:  # bounds as the LP has them (e.g. servers fixed to whole counts)
            for name, part in (("y", lay.y), ("f", lay.f), ("n", lay.n)):
                block = lp.cols[name]
                lower[part] = lp.col_lower[block.start : block.stop]
                upper[part] = np.minimum(upper[part], lp.col_upper[block.start : block.stop])
        lower[lay.size :] = -inf
        self.cost = cost
        h.addVars(len(cost), lower, upper)
        h.changeColsCost(len(cost), np.arange(len(cost), dtype=np.int32), cost)
        self.n_rows = 0
        # leases: min <= sum it f <= max
        self.lease_rows = np.arange(len(d.lease_names))
        for i, members in enumerate(d.lease_members):
            self._add_row(
                d.lease_min_mw[i], d.lease_max_mw[i], lay.f.start + members, d.gpu_it_mw[members]
            )
        # f <= n
        self.server_rows = self.n_rows + np.arange(K)
        for k in range(K):
            self._add_row(
                -inf, 0.0, np.array([lay.f.start + k, lay.n.start + k]), np.array([1.0, -1.0])
            )
        self.feasibility: dict[tuple[str, int, int], int] = {}  # (kind, site, hour) -> row

    def _add_row(self, lo, hi, cols, vals) -> None:
        import highspy

        lo = -highspy.kHighsInf if not np.isfinite(lo) else float(lo)
        hi = highspy.kHighsInf if not np.isfinite(hi) else float(hi)
        cols = np.asarray(cols, dtype=np.int32)
        self.h.addRow(lo, hi, len(cols), cols, np.asarray(vals, dtype=np.float64))
        self.n_rows += 1

    def add_cut(self, s: int, z: np.ndarray, bound: float, grad: np.ndarray) -> int:
        """``theta[s] - grad z <= bound - grad z0``; returns its row."""
        nz = np.flatnonzero(grad)
        cols = np.concatenate([[self.layout.size + s], nz])
        vals = np.concatenate([[1.0], -grad[nz]])
        self._add_row(-np.inf, bound - grad @ z, cols, vals)
        return self.n_rows - 1

    def add_uptime_cut(self, z: np.ndarray, grad: np.ndarray, target: float, most: float) -> int:
        """``most + grad (z' - z) >= target``: the most uptime, concave in ``z``, linearized."""
        nz = np.flatnonzero(np.abs(grad) > 1e-12 * max(1.0, float(np.abs(grad).max(initial=0.0))))
        if not len(nz):
            raise _Infeasible()  # no split reaches the floor: the LP is infeasible
        self._add_row(target - most + grad @ z, np.inf, nz, grad[nz])
        return self.n_rows - 1

    def add_firm_rows(self, site: SiteProblem, z: np.ndarray) -> bool:
        """Rows that keep firm load inside the HPC hall and the import cap where ``z`` breaks
        them (the worst hour of each kind); False if none was broken."""
        d, lay, s = self.d, self.layout, site.s
        Eg = d.gpu_energy_mwh
        firm = site.firm
        if not len(firm):
            return False
        f = z[lay.f]
        y = z[lay.y][s]
        load = Eg[firm] * f[firm, None]  # [F, T]
        keep_mask = np.isin(firm, site.keep)[:, None] & site.shed_ok[None, :]
        added = False
        tol = 1e-7
        # HPC hall: sum Eg f - y <= H
        viol = load.sum(0) - y - d.existing_hpc_mw[s]
        t = int(np.argmax(viol))
        if viol[t] > tol and ("hall", s, t) not in self.feasibility:
            self.feasibility["hall", s, t] = self.n_rows
            cols = np.concatenate([lay.f.start + firm, [lay.y.start + s]])
            self._add_row(
                -np.inf, d.existing_hpc_mw[s], cols, np.concatenate([Eg[firm, t], [-1.0]])
            )
            added = True
        cap = d.import_cap_mw[s]
        # load that may not be shed in any case: sum over unsheddable parts <= Cap
        hard = np.where(keep_mask, 0.0, load).sum(0) - cap
        t = int(np.argmax(hard))
        if hard[t] > tol and ("hard", s, t) not in self.feasibility:
            self.feasibility["hard", s, t] = self.n_rows
            coef = np.where(keep_mask[:, t], 0.0, Eg[firm, t])
            self._add_row(-np.inf, cap[t], lay.f.start + firm, coef)
            added = True
        # beyond the shed limit: (1 - a) F - b <= Cap where shedding is allowed
        gap = np.where(site.shed_ok, (1.0 - site.a) * load.sum(0) - site.b - cap, -np.inf)
        t = int(np.argmax(gap))
        if gap[t] > tol and ("gap", s, t) not in self.feasibility:
            self.feasibility["gap", s, t] = self.n_rows
            self._add_row(
                -np.inf, cap[t] + site.b[t], lay.f.start + firm, (1.0 - site.a[t]) * Eg[firm, t]
            )
            added = True
        return added

    def solve(self) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
        """``(z, upper bound on the margin less its constant, row duals, column duals)``."""
        import highspy

        self.h.run()
        status = self.h.getModelStatus()
        if status == highspy.HighsModelStatus.kInfeasible:
            raise _Infeasible()
        if status != highspy.HighsModelStatus.kOptimal:
            raise SolverError(f"decomposed solver: master LP {self.h.modelStatusToString(status)}")
        sol = self.h.getSolution()
        x = np.asarray(sol.col_value)
        obj = self.h.getInfo().objective_function_value
        return x[: self.layout.size], -obj, np.asarray(sol.row_dual), np.asarray(sol.col_dual)

    def first_stage_value(self, z: np.ndarray) -> float:
        """``c z`` as margin: firm revenue less conversion and server annuities."""
        return float(-(self.cost[: self.layout.size] @ z))


class _Infeasible(Exception):
    """The master has no point that fits firm load: the LP is infeasible."""


# --------------------------------------------------------------------------- driver


@dataclass
class DecompositionInfo:
    """What the decomposed solver did.

    Attributes
    ----------
    iterations : int
        Master solves.
    upper_usd, lower_usd : float
        Bounds on the margin when it stopped [USD].
    gap : float
        ``(upper - lower) / max(1, |upper|)``.
    passes : int
        Greedy passes over the hours (all sites).
    seconds : float
    """

    iterations: int = 0
    upper_usd: float = np.nan
    lower_usd: float = np.nan
    gap: float = np.inf
    passes: int = 0
    seconds: float = 0.0
    z: np.ndarray | None = None


def solve_decomposed(
    d: LpData,
    lp: Lp,
    *,
    gap_tol: float = GAP_TOL,
    max_iterations: int = MAX_ITERATIONS,
    time_limit_s: float | None = None,
    start: np.ndarray | None = None,
) -> tuple[Solution, DecompositionInfo]:
    """Solve the allocation LP by decomposition (module docstring).

    Parameters
    ----------
    d : LpData
    lp : Lp
        The monolithic LP of ``d`` (its layout receives the primal and the duals).
    gap_tol : float
        Relative gap at which to stop.
    max_iterations : int
    time_limit_s : float, optional
    start : numpy.ndarray, optional
        A first trial ``z`` (a neighbouring scenario's solution, to warm start).

    Returns
    -------
    Solution
        ``status`` is ``"optimal"`` when the gap is within ``gap_tol``, ``"time_limit"``
        (feasible, not proven) otherwise; ``"infeasible"`` when no split fits the firm load.
    DecompositionInfo
    """
    t0 = time.perf_counter()
    reasons = unsupported(d)
    if reasons:
        raise DecompositionFallback("the decomposed method does not cover: " + "; ".join(reasons))
    master = Master(d, lp)
    lay = master.layout
    gpu_v, gpu_w = lp.gpu_v, lp.gpu_w
    a_all, b_all = shortfall_secant(d)
    sites = [SiteProblem.build(d, s, lay, gpu_v, gpu_w, a_all, b_all) for s in range(d.n_sites)]
    info = DecompositionInfo()
    const = -float((d.ppa_price_usd_per_mwh[:, None] * d.ppa_block_mw).sum())
    best_value, best = -np.inf, None
    cuts: list[list[tuple[int, HourDuals]]] = [[] for _ in sites]
    rays: list[list[tuple[int, HourDuals]]] = [[] for _ in sites]  # uptime feasibility cuts
    upper = np.inf
    z = None if start is None else np.asarray(start, dtype=float)
    try:
        for _ in range(max_iterations):
            if z is None:
                z, _, _, _ = master.solve()
                info.iterations += 1
            if any(master.add_firm_rows(site, z) for site in sites):
                z = None
                continue
            evals = [site.evaluate(z) for site in sites]
            info.passes += sum(e.passes for e in evals)
            short = [(site, e) for site, e in zip(sites, evals, strict=True) if e.uptime_short > 0]
            for site, e in short:
                # a feasibility cut: the most uptime, linearized at z, must reach the floor
                row = master.add_uptime_cut(
                    z, e.grad, site.target[0], site.target[0] - e.uptime_short
                )
                rays[site.s].append((row, e.duals))
            if short:
                z = None
                continue
            if any(e.infeasible is not None for e in evals):
                raise DecompositionFallback(
                    "a trial split leaves firm load no room (please report)"
                )
            value = master.first_stage_value(z) + sum(e.value for e in evals) + const
            if value > best_value:
                best_value, best = value, (z.copy(), evals)
            for site, e in zip(sites, evals, strict=True):
                cuts[site.s].append((master.add_cut(site.s, z, e.bound, e.grad), e.duals))
            z, ub, row_dual, col_dual = master.solve()
            info.iterations += 1
            upper = min(upper, ub + const)
            gap = (upper - best_value) / max(1.0, abs(upper))
            if gap <= gap_tol:
                break
            if time_limit_s is not None and time.perf_counter() - t0 > time_limit_s:
                break
    except _Infeasible:
        info.seconds = time.perf_counter() - t0
        return Solution(
            "infeasible",
            np.nan,
            None,
            None,
            None,
            "highs",
            SOLVER_NAME,
            "no split fits the firm load",
            info.seconds,
            method="decomposed",
        ), info
    if best is None:
        raise DecompositionFallback(
            f"no feasible split after {max_iterations} master solves (please report)"
        )
    # the master's duals belong to its last point: plan there if it is as good as the best
    z_master, _, row_dual, col_dual = master.solve()
    if not np.allclose(z_master, best[0], rtol=1e-12, atol=1e-12):
        evals = [site.evaluate(z_master) for site in sites]
        info.passes += sum(e.passes for e in evals)
        if all(e.infeasible is None for e in evals):
            value = master.first_stage_value(z_master) + sum(e.value for e in evals) + const
            if value >= best_value - gap_tol * max(1.0, abs(upper)):
                best_value, best = max(value, best_value), (z_master.copy(), evals)
    info.upper_usd, info.lower_usd = upper, best_value
    info.gap = (upper - best_value) / max(1.0, abs(upper))
    z_best, evals = best
    info.z = z_best
    if not np.allclose(z_master, z_best, rtol=1e-12, atol=1e-12):
        col_dual = None  # reduced costs from the duals themselves (assemble)
    duals = []
    for s, site_cuts in enumerate(cuts):
        weight = np.array([max(-row_dual[r], 0.0) for r, _ in site_cuts])
        mixed = (
            HourDuals.mix([h for _, h in site_cuts], weight) if weight.sum() > 0 else evals[s].duals
        )
        # feasibility cuts are dual rays of the site's LP: they add with the master's weights
        for r, ray in rays[s]:
            if row_dual[r] > 0:
                mixed = HourDuals.mix([mixed, ray], np.array([1.0, row_dual[r]]), normalize=False)
        duals.append(mixed)
    sol = assemble(d, lp, sites, z_best, evals, duals, master, row_dual, col_dual)
    sol.status = "optimal" if info.gap <= gap_tol else "time_limit"
    sol.gap = float(info.gap)
    info.seconds = time.perf_counter() - t0
    sol.seconds = info.seconds
    return sol, info


class DecompositionFallback(SolverError):
    """The decomposition cannot settle this scenario; the monolithic LP should."""


# --------------------------------------------------------------------------- back to the LP


def dual_at(vec: np.ndarray, block, index) -> float:
    return float(vec[block.start : block.stop].reshape(block.shape)[index])


def put_asics(
    x: np.ndarray, dual: np.ndarray, d: LpData, lp: Lp, site: SiteProblem, xa, out
) -> None:
    """The ASIC columns ``u`` and ``up`` of a site from its segments' MWh ``xa``, and the
    ``operating_mix`` duals: a class with points is worth, per hour, the best of its vertices
    at the greedy's price of mining-hall energy, ``max(0, max_p R_p - (omega + d_a) E_p)``."""
    seg = site.seg
    share = seg.shares(xa)
    u = lp.cols["u"].ids()  # [C, T]
    nameplate = seg.vertex < 0
    x[u[site.asic[seg.cls[nameplate]]]] = share[nameplate]
    if not d.n_points:
        return
    up = lp.cols["up"].ids()
    x[up[seg.vertex[~nameplate]]] = share[~nameplate]
    price = out[:, OUT_OMEGA] + out[:, OUT_DA]
    mix_rows = lp.rows["operating_mix"].ids()
    for local, c in enumerate(np.unique(d.point_class)):
        if d.class_site[c] != site.s:
            continue
        points = np.flatnonzero(d.point_class == c)
        E = np.vstack([d.energy_mwh[c][None, :], d.point_energy_mwh[points]])
        R = np.vstack([d.revenue_usd[c][None, :], d.point_revenue_usd[points]])
        dual[mix_rows[local]] = -np.maximum((R - price * E).max(axis=0), 0.0)


def assemble(d: LpData, lp: Lp, sites, z, evals, duals, master: Master, m_row, m_col) -> Solution:
    """The primal (the best plan's), row duals (``duals``, one :class:`HourDuals` per site)
    and reduced costs in the monolithic LP's layout."""

    lay = master.layout
    T = d.hours
    x = np.zeros(lp.n_cols)
    dual = np.zeros(lp.n_rows)
    cols, rows = lp.cols, lp.rows

    def put(vec, block, index, values):
        view = vec[block.start : block.stop].reshape(block.shape)
        view[index] = values

    put(x, cols["y"], slice(None), z[lay.y])
    put(x, cols["f"], slice(None), z[lay.f])
    put(x, cols["n"], slice(None), z[lay.n])
    Eg = d.gpu_energy_mwh
    hosted_row = {int(c): i for i, c in enumerate(lp.hosted_classes)}
    take_row = {int(s): i for i, s in enumerate(lp.take_sites)}
    for site, ev, hd in zip(sites, evals, duals, strict=True):
        s = site.s
        it = site.items(z)
        p = ev.primal
        nA, nV = len(site.seg.cls), len(site.gpu_v)
        put_asics(x, dual, d, lp, site, p.x[:nA], hd.out)
        with np.errstate(divide="ignore", invalid="ignore"):
            if nV:
                put(
                    x,
                    cols["v"],
                    site.v_rows,
                    np.where(Eg[site.gpu_v] > 0, p.x[nA : nA + nV] / Eg[site.gpu_v], 0.0),
                )
        if len(site.keep):
            put(x, cols["w"], site.w_rows, it["qty"][nA + nV :] - p.x[nA + nV :])
        load = p.out[:, OUT_LOAD]
        block = d.ppa_block_mw[s]
        wash = d.price_usd_per_mwh[s] < -site.c_q  # grid cheaper than the block
        g = np.where(wash, load, np.maximum(load - block, 0.0))
        q_ = np.where(wash, block, np.maximum(block - load, 0.0))
        put(x, cols["L"], s, load)
        put(x, cols["g"], s, g)
        put(x, cols["q"], s, q_)
        if s in take_row:
            short = np.maximum(site.min_take - site.month_load(p), 0.0)
            put(x, cols["z"], s, short)
            put(dual, rows["min_take"], take_row[s], hd.take)
        out = hd.out
        put(dual, rows["load"], s, -out[:, OUT_OMEGA])
        # the greedy prices energy net of the peak adder and the minimum-take multiplier
        e = out[:, OUT_E] - d.peak_adder_usd_per_mwh[s] + hd.take[site.month]
        put(dual, rows["energy_balance"], s, -e)
        put(dual, rows["import"], s, -out[:, OUT_GAMMA])
        put(dual, rows["mining_hall"], s, -out[:, OUT_DA])
        put(dual, rows["hpc_hall"], s, -out[:, OUT_DV])
        for i, c in enumerate(site.asic[site.hosted]):
            put(dual, rows["uptime"], hosted_row[int(c)], hd.uptime[i])
        K = len(d.gpu_names)
        servers = rows["servers"]
        for j, row in enumerate(site.v_rows):
            start = servers.start + K + row * T
            dual[start : start + T] = -hd.server[j]
        if len(site.keep):
            put(dual, rows["shortfall"], site.w_rows, -hd.shed)
            gap_sites = np.unique(d.gpu_site[lp.gpu_w])
            put(dual, rows["shortfall_gap"], int(np.searchsorted(gap_sites, s)), -out[:, OUT_TAU])
    # rows of the master that keep firm load in the halls and under the cap: each is an LP
    # row (HPC hall) or the sum of the import row with the shed rows it leans on
    gap_sites = np.unique(d.gpu_site[lp.gpu_w])
    for (kind, s, t), r in master.feasibility.items():
        extra = m_row[r]
        if kind == "hall":
            put(dual, rows["hpc_hall"], (s, t), dual_at(dual, rows["hpc_hall"], (s, t)) + extra)
            continue
        for name, index in (("import", (s, t)), ("load", (s, t))):
            put(dual, rows[name], index, dual_at(dual, rows[name], index) + extra)
        if kind == "gap":
            index = (int(np.searchsorted(gap_sites, s)), t)
            put(
                dual,
                rows["shortfall_gap"],
                index,
                dual_at(dual, rows["shortfall_gap"], index) + extra,
            )
        else:
            for j in sites[s].w_rows:
                put(
                    dual,
                    rows["shortfall"],
                    (j, t),
                    dual_at(dual, rows["shortfall"], (j, t)) + extra,
                )
    # first-stage rows from the master: leases, f <= n
    dual[rows["lease"].start : rows["lease"].stop] = m_row[master.lease_rows]
    dual[rows["servers"].start : rows["servers"].start + len(d.gpu_names)] = m_row[
        master.server_rows
    ]
    col_dual = lp.cost - lp.matrix.T @ dual
    if m_col is not None:
        for name, part in (("y", lay.y), ("f", lay.f), ("n", lay.n)):
            col_dual[cols[name].start : cols[name].stop] = m_col[part]
    objective = float(lp.cost @ x + lp.offset)
    return Solution(
        "optimal",
        objective,
        x,
        dual,
        col_dual,
        "highs",
        SOLVER_NAME,
        "optimal",
        0.0,
        method="decomposed",
    )
