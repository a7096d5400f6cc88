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
ran. Ramp limits couple hours and are not covered: :func:`unsupported` names what is not, and
``method = "auto"`` then solves the monolithic LP.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from kernels.decomposition import (
    GROUP_HPC,
    GROUP_KEEP,
    GROUP_MINING,
    OUT_DA,
    OUT_DV,
    OUT_E,
    OUT_GAMMA,
    OUT_INFEASIBLE,
    OUT_LOAD,
    OUT_OMEGA,
    OUT_TAU,
    OUT_VALUE,
    greedy_hours,
)
from optimizer.errors import SolverError
from optimizer.lp.backends import Solution, new_highs, same_threads
from optimizer.lp.data import LpData
from optimizer.lp.formulation import shortfall_secant
from optimizer.lp.model import Lp

SOLVER_NAME = "Benders cuts (HiGHS master) + hourly greedy"
GAP_TOL = 1e-9  #: relative gap ``(upper - lower) / max(1, |upper|)`` at which the loop stops
MAX_ITERATIONS = 500  #: master solves before giving up (the gap is then reported)
_THETA_MAX = 1e12  # USD: bound on a site's margin before its first cut
_LAMBDA_MAX = 1e9  # USD per contracted hour: an uptime dual above this means "unreachable"


def unsupported(d: LpData) -> list[str]:
    """Features of ``d`` the decomposition does not cover (empty: it covers them all)."""
    reasons = []
    if d.n_points:
        reasons.append("ASIC operating points (a class runs at a mix of power presets)")
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


# --------------------------------------------------------------------------- 1-D duals


def minimize_pl(evaluate, lower, upper, start, tol):
    """Minimize independent convex piecewise-linear functions of one variable each.

    Parameters
    ----------
    evaluate : callable
        ``evaluate(t) -> (phi, slope, sol)`` for a vector ``t`` of points, one per function:
        values, (sub)gradients, and an opaque solution the caller mixes.
    lower, upper : numpy.ndarray
        Bounds of each variable (``upper`` may be inf: it is then found by doubling).
    start : numpy.ndarray
        First trial point (a previous optimum, to warm start).
    tol : float
        Absolute tolerance on the function values for "the tangents meet on the function".

    Returns
    -------
    t : numpy.ndarray
        The minimizers.
    ends : tuple
        ``(sol_a, sol_b, theta)``: the solutions either side of each minimizer and the weight
        ``theta`` of ``sol_a`` that zeroes the slope (1 where one side is optimal alone).
    evaluations : int
    """
    n = len(lower)
    cap = np.minimum(upper, _LAMBDA_MAX)
    t = np.clip(start, lower, cap)
    phi, slope, sol = evaluate(t)
    evals = 1
    a, b = t.copy(), t.copy()
    fa, fb, sa, sb = phi.copy(), phi.copy(), slope.copy(), slope.copy()
    sol_a, sol_b, sol_t = sol, sol, sol
    theta = np.ones(n)
    done = (slope == 0) | ((slope > 0) & (t <= lower)) | ((slope < 0) & (t >= upper))
    # find a bracket: slope(a) < 0 < slope(b), stepping out geometrically
    need_b = ~done & (slope < 0)
    need_a = ~done & (slope > 0)
    step = np.maximum(1e-3 * np.abs(t), 1e-3)
    while need_a.any() or need_b.any():
        if (need_b & (a >= cap) & ~np.isfinite(upper)).any():
            raise _Unreachable()
        trial = t.copy()
        trial[need_b] = np.minimum(a[need_b] + step[need_b], cap[need_b])
        trial[need_a] = np.maximum(b[need_a] - step[need_a], lower[need_a])
        step *= 4.0
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
        if not active.any():
            break
        with np.errstate(divide="ignore", invalid="ignore"):
            meet = (fb - fa + sa * a - sb * b) / (sa - sb)
        # the tangents meet at an end already evaluated: that end is the kink if the other
        # end's tangent passes through it (the function is linear in between)
        width = 1e-12 * np.maximum(1.0, np.abs(b))
        at_a = active & (meet <= a + width) & (fa <= fb + sb * (a - b) + tol * (1.0 + np.abs(fa)))
        at_b = active & (meet >= b - width) & (fb <= fa + sa * (b - a) + tol * (1.0 + np.abs(fb)))
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


def _snap(slope: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Slopes within 1e-10 of their row's right-hand side are zero (a row met exactly up to
    rounding is met)."""
    return np.where(np.abs(slope) <= 1e-10 * np.maximum(1.0, np.abs(scale)), 0.0, slope)


class _Unreachable(Exception):
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
    month: np.ndarray | None = None

    def merge(self, other: HourSolution, mask: np.ndarray) -> HourSolution:
        hours = (
            mask[self.month] if self.month is not None else np.full(len(self.out), bool(mask[0]))
        )
        return HourSolution(
            np.where(hours[None, :], other.x, self.x),
            np.where(hours[:, None], other.out, self.out),
            self.month,
        )


def mix(a: HourSolution, b: HourSolution, theta_hour: np.ndarray) -> HourSolution:
    """``theta a + (1 - theta) b`` hour by hour (loads and items; duals of ``a``)."""
    x = theta_hour[None, :] * a.x + (1.0 - theta_hour[None, :]) * b.x
    out = a.out.copy()
    out[:, OUT_LOAD] = theta_hour * a.out[:, OUT_LOAD] + (1.0 - theta_hour) * b.out[:, OUT_LOAD]
    return HourSolution(x, out, a.month)


@dataclass(eq=False)
class SiteEval:
    """One site evaluated at a trial ``z``.

    Attributes
    ----------
    bound : float
        Lagrangian dual value: an upper bound on the site's second-stage margin [USD].
    grad : numpy.ndarray
        Supergradient of ``bound`` in the master's ``z`` [USD per unit].
    value : float
        Margin of the mixed feasible plan ``primal`` [USD] (-inf if infeasible).
    primal : HourSolution
        Feasible mix that meets the uptime and minimum-take rows (the lower bound).
    dual : HourSolution
        Greedy at the final multipliers (the cut, the hourly duals).
    uptime_dual, take_dual : numpy.ndarray
        Multipliers of the site's uptime rows [USD per hour] and minimum-take rows [USD/MWh].
    infeasible : numpy.ndarray or None
        Hours where the trial ``z`` leaves firm load no room (no cut then).
    """

    bound: float
    grad: np.ndarray
    value: float
    primal: HourSolution | None
    dual: HourSolution | None
    uptime_dual: np.ndarray
    take_dual: np.ndarray
    infeasible: np.ndarray | None = None
    passes: int = 0
    duals: HourDuals | None = None
    uptime_short: float = 0.0  # contracted hours the trial z cannot reach (grad: of the most)


@dataclass(eq=False)
class SiteProblem:
    """The second stage of one site: items, energy costs and coupling rows (docs/model.md §5.8)."""

    d: LpData
    s: int
    layout: ZLayout
    asic: np.ndarray  # ASIC classes at the site
    gpu_v: np.ndarray  # interruptible classes at the site
    v_rows: np.ndarray  # their rows in the LP's v block
    keep: np.ndarray  # sheddable firm classes at the site
    w_rows: np.ndarray  # their rows in the LP's w block
    firm: np.ndarray  # classes that may hold firm servers at the site
    shed_ok: np.ndarray  # bool[T]: hours in which firm load may be shed
    a: np.ndarray
    b: np.ndarray
    m1: np.ndarray
    m2: np.ndarray
    c_q: np.ndarray
    hosted: np.ndarray  # hosted classes with an uptime floor (indices into asic)
    target: np.ndarray  # their contracted hours U T
    hashes: np.ndarray  # bool[H, T]: hours that count as uptime
    month: np.ndarray
    min_take: np.ndarray  # [Mu] MWh
    last_uptime: np.ndarray = field(default=None)
    last_take: np.ndarray = field(default=None)

    @classmethod
    def build(cls, d: LpData, s: int, layout: ZLayout, gpu_v, gpu_w, a_all, b_all) -> SiteProblem:
        pi = d.price_usd_per_mwh[s]
        kappa = d.peak_adder_usd_per_mwh[s]
        c_q = -d.resale_factor[s] * np.maximum(pi, 0.0) + d.settlement_usd_per_mwh[s]
        asic = np.flatnonzero(d.class_site == s)
        v_rows = np.flatnonzero(d.gpu_site[gpu_v] == s)
        w_rows = np.flatnonzero(d.gpu_site[gpu_w] == s)
        hosted = np.flatnonzero(d.class_hosted[asic] & (d.class_uptime[asic] > 0))
        a, b = a_all[s], b_all[s]
        T = d.hours
        return cls(
            d=d,
            s=s,
            layout=layout,
            asic=asic,
            gpu_v=gpu_v[v_rows],
            v_rows=v_rows,
            keep=gpu_w[w_rows],
            w_rows=w_rows,
            firm=np.flatnonzero(d.gpu_firm & (d.gpu_site == s)),
            shed_ok=(a > 0) | (b > 0),
            a=a,
            b=b,
            m1=np.minimum(-c_q, pi) + kappa,
            m2=pi + kappa,
            c_q=c_q,
            hosted=hosted,
            target=d.class_uptime[asic[hosted]] * T,
            hashes=d.energy_mwh[asic[hosted]] > 0,
            month=d.month_of_hour,
            min_take=d.min_take_mwh[s],
            last_uptime=np.zeros(len(hosted)),
            last_take=np.zeros(d.n_months),
        )

    # ----------------------------------------------------------------- items at z

    def items(self, z: np.ndarray) -> dict:
        """Item values, quantities and caps of every hour at ``z``."""
        d, s, lay = self.d, self.s, self.layout
        y = z[lay.y][s]
        f = z[lay.f]
        n = z[lay.n]
        E = d.energy_mwh[self.asic]
        Eg = d.gpu_energy_mwh
        with np.errstate(divide="ignore", invalid="ignore"):
            v_asic = np.where(E > 0, d.revenue_usd[self.asic] / E, 0.0)
            v_gpu = np.where(
                Eg[self.gpu_v] > 0, d.gpu_revenue_usd[self.gpu_v] / Eg[self.gpu_v], 0.0
            )
        keep_value = (
            d.gpu_sla_penalty_usd_per_mwh[self.keep, None]
            + d.gpu_pass_through_usd_per_mwh[self.keep]
        )
        keep_qty = Eg[self.keep] * f[self.keep, None] * self.shed_ok[None, :]
        firm_load = (Eg[self.firm] * f[self.firm, None]).sum(axis=0)
        sheddable = keep_qty.sum(axis=0)
        shed_cap = np.maximum(self.a * firm_load + self.b, 0.0) * self.shed_ok
        return {
            "val": np.concatenate([v_asic, v_gpu, keep_value]),
            "qty": np.concatenate(
                [
                    E,
                    Eg[self.gpu_v] * np.maximum(n[self.gpu_v] - f[self.gpu_v], 0.0)[:, None],
                    keep_qty,
                ]
            ),
            "grp": np.concatenate(
                [
                    np.full(len(self.asic), GROUP_MINING),
                    np.full(len(self.gpu_v), GROUP_HPC),
                    np.full(len(self.keep), GROUP_KEEP),
                ]
            ).astype(np.int64),
            "cap_a": np.full(d.hours, d.mining_hall_mw[s] - y),
            "cap_v": d.existing_hpc_mw[s] + y - firm_load,
            "imp": d.import_cap_mw[s],
            "base": firm_load - sheddable,
            "forced": np.maximum(sheddable - shed_cap, 0.0),
            "keep_const": -(keep_value * keep_qty).sum(),
            "firm_load": firm_load,
        }

    def run(self, it: dict, uptime_dual: np.ndarray, take_dual: np.ndarray) -> HourSolution:
        """The greedy at given multipliers."""
        val = it["val"]
        if len(self.hosted):
            E = self.d.energy_mwh[self.asic[self.hosted]]
            val = val.copy()
            with np.errstate(divide="ignore", invalid="ignore"):
                val[self.hosted] += np.where(E > 0, uptime_dual[:, None] / E, 0.0)
        nu = take_dual[self.month]
        x, out = greedy_hours(
            val,
            it["qty"],
            it["grp"],
            it["cap_a"],
            it["cap_v"],
            it["imp"],
            it["base"],
            it["forced"],
            self.d.ppa_block_mw[self.s],
            self.m1 - nu,
            self.m2 - nu,
        )
        return HourSolution(x, out, self.month)

    def uptime_of(self, sol: HourSolution) -> np.ndarray:
        E = self.d.energy_mwh[self.asic[self.hosted]]
        with np.errstate(divide="ignore", invalid="ignore"):
            u = np.where(E > 0, sol.x[self.hosted] / E, 0.0)
        return (u * self.hashes).sum(axis=1)

    def month_load(self, sol: HourSolution) -> np.ndarray:
        return np.bincount(self.month, weights=sol.out[:, OUT_LOAD], minlength=self.d.n_months)

    # ----------------------------------------------------------------- multipliers

    def solve_take(
        self, it: dict, uptime_dual: np.ndarray
    ) -> tuple[HourSolution, HourSolution, np.ndarray, int]:
        """Minimum-take multipliers (one per month) at fixed uptime multipliers.

        Returns the mixed primal, the greedy at the final multipliers, the multipliers and the
        number of greedy passes.
        """
        Mu = self.d.n_months
        binding = self.min_take > 0
        if not binding.any():
            sol = self.run(it, uptime_dual, np.zeros(Mu))
            return sol, sol, np.zeros(Mu), 1
        p_short = self.d.shortfall_usd_per_mwh[self.s]

        def evaluate(nu):
            sol = self.run(it, uptime_dual, nu)
            value = np.bincount(self.month, weights=sol.out[:, OUT_VALUE], minlength=Mu)
            slope = _snap(self.month_load(sol) - self.min_take, self.min_take)
            return value - nu * self.min_take, np.where(binding, slope, 0.0), sol

        lower = np.zeros(Mu)
        upper = np.where(binding, p_short, 0.0)
        nu, (sa, sb, theta), final, passes = minimize_pl(
            evaluate, lower, upper, np.where(binding, self.last_take, 0.0), 1e-12
        )
        return mix(sa, sb, theta[self.month]), final, nu, passes

    def evaluate(self, z: np.ndarray) -> SiteEval:
        """Bound, cut and feasible plan of the site at ``z``."""
        it = self.items(z)
        H = len(self.hosted)
        passes = 0
        if H == 0:
            primal, final, nu, passes = self.solve_take(it, np.zeros(0))
            lam = np.zeros(0)
        else:
            cache = {}

            def evaluate(lam):
                nonlocal passes
                primal, final, nu, k = self.solve_take(it, lam)
                passes += k
                value = final.out[:, OUT_VALUE].sum() - (nu * self.min_take).sum()
                cache[float(lam[0])] = (final, nu)
                up = self.uptime_of(primal)
                return (
                    np.array([value - lam[0] * self.target[0]]),
                    _snap(np.array([up[0] - self.target[0]]), self.target[:1]),
                    _Whole(primal),
                )

            try:
                lam, (sa, sb, theta), _, _ = minimize_pl(
                    evaluate, np.zeros(1), np.full(1, np.inf), self.last_uptime, 1e-12
                )
            except _Unreachable:
                most, grad, ray = self.most_uptime(z, it)
                return SiteEval(
                    np.inf,
                    grad,
                    -np.inf,
                    None,
                    None,
                    np.zeros(H),
                    np.zeros(self.d.n_months),
                    infeasible=np.ones(self.d.hours, bool),
                    uptime_short=float(self.target[0] - most),
                    duals=ray,
                )
            primal = mix(sa.sol, sb.sol, np.full(self.d.hours, theta[0]))
            final, nu = cache.get(float(lam[0])) or self.solve_take(it, lam)[1:3]
            self.last_uptime = lam
        self.last_take = nu
        infeasible = final.out[:, OUT_INFEASIBLE] > 0
        if infeasible.any():
            return SiteEval(
                np.inf,
                np.zeros(self.layout.size),
                -np.inf,
                None,
                None,
                lam,
                nu,
                infeasible=infeasible,
                passes=passes,
            )
        const = it["keep_const"] - (self.c_q * self.d.ppa_block_mw[self.s]).sum()
        bound = final.out[:, OUT_VALUE].sum() - (nu * self.min_take).sum() + const
        if H:
            bound -= float(lam @ self.target)
        hd = self.hour_duals(it, final)
        return SiteEval(
            duals=HourDuals(final.out, hd["server"], hd["shed"], lam, nu),
            bound=bound,
            grad=self.gradient(z, it, final),
            value=self.primal_value(it, primal) + const,
            primal=primal,
            dual=final,
            uptime_dual=lam,
            take_dual=nu,
            passes=passes,
        )

    def most_uptime(self, z: np.ndarray, it: dict) -> tuple[float, np.ndarray, HourDuals]:
        """The most uptime the hosted class can reach at ``z`` [h], its supergradient in
        ``z`` and its duals: the greedy with the class's hashing hours as the only value,
        energy free."""
        c = self.hosted[0]
        E = self.d.energy_mwh[self.asic[c]]
        val = np.zeros_like(it["val"])
        with np.errstate(divide="ignore", invalid="ignore"):
            val[c] = np.where(E > 0, self.hashes[0] / E, 0.0)
        zero = np.zeros(self.d.hours)
        x, out = greedy_hours(
            val,
            it["qty"],
            it["grp"],
            it["cap_a"],
            it["cap_v"],
            it["imp"],
            it["base"],
            it["forced"],
            self.d.ppa_block_mw[self.s],
            zero,
            zero,
        )
        sol = HourSolution(x, out, self.month)
        it1 = dict(it, val=val)
        hd = self.hour_duals(it1, sol)
        # as a dual ray of the LP: u's uptime row at 1, energy free (assemble takes kappa off e)
        ray_out = out.copy()
        ray_out[:, OUT_E] += self.d.peak_adder_usd_per_mwh[self.s]
        ray = HourDuals(ray_out, hd["server"], hd["shed"], np.ones(1), np.zeros(self.d.n_months))
        return float(out[:, OUT_VALUE].sum()), self.gradient(z, it1, sol), ray

    def primal_value(self, it: dict, sol: HourSolution) -> float:
        """Margin of a plan without multipliers, minimum-take shortfall priced (constants apart)."""
        load = sol.out[:, OUT_LOAD]
        block = self.d.ppa_block_mw[self.s]
        cost = self.m1 * np.minimum(np.maximum(load, 0.0), block) + self.m2 * np.maximum(
            load - block, 0.0
        )
        value = (it["val"] * sol.x).sum() - cost.sum()
        short = np.maximum(self.min_take - self.month_load(sol), 0.0)
        return float(value - self.d.shortfall_usd_per_mwh[self.s] * short.sum())

    def hour_duals(self, it: dict, sol: HourSolution) -> dict:
        """Shed-row and server-row duals of each class and hour, from the greedy's duals."""
        out = sol.out
        omega, d_v, tau = out[:, OUT_OMEGA], out[:, OUT_DV], out[:, OUT_TAU]
        nA, nV = len(self.asic), len(self.gpu_v)
        Eg = self.d.gpu_energy_mwh
        xv, qv = sol.x[nA : nA + nV], it["qty"][nA : nA + nV]
        full_v = (Eg[self.gpu_v] > 0) & (xv >= qv - 1e-9 * (1.0 + qv))
        server = Eg[self.gpu_v] * np.where(
            full_v, np.maximum(it["val"][nA : nA + nV] - omega - d_v, 0.0), 0.0
        )
        xk, qk = sol.x[nA + nV :], it["qty"][nA + nV :]
        none_kept = self.shed_ok & (Eg[self.keep] > 0) & (xk <= 1e-9 * (1.0 + qk))
        shed = np.where(none_kept, np.maximum(omega - it["val"][nA + nV :] - tau, 0.0), 0.0)
        return {"server": server, "shed": shed}

    def gradient(self, z: np.ndarray, it: dict, sol: HourSolution) -> np.ndarray:
        """Supergradient of the site's bound in ``z`` (docs/model.md §5.8)."""
        d, lay = self.d, self.layout
        out = sol.out
        omega, d_a, d_v, tau = out[:, OUT_OMEGA], out[:, OUT_DA], out[:, OUT_DV], out[:, OUT_TAU]
        hd = self.hour_duals(it, sol)
        grad = np.zeros(lay.size)
        grad[lay.y.start + self.s] = (d_v - d_a).sum()
        Eg = d.gpu_energy_mwh
        # firm servers: their load takes energy and HPC hall; shed rows and the gap row relax
        gf = np.zeros(len(d.gpu_names))
        gf[self.firm] = -(Eg[self.firm] * (omega + d_v)).sum(axis=1)
        # the shed limit a F + b grows with every firm server; each shed row with its class's
        gf[self.firm] += (Eg[self.firm] * (self.a * tau * self.shed_ok)).sum(axis=1)
        gf[self.keep] += (Eg[self.keep] * hd["shed"] * self.shed_ok).sum(axis=1)
        # interruptible servers: one more installed server is worth its server-row dual
        gn = np.zeros(len(d.gpu_names))
        gn[self.gpu_v] = hd["server"].sum(axis=1)
        gf[self.gpu_v] -= hd["server"].sum(axis=1)
        own = d.gpu_site == self.s
        grad[lay.f] = np.where(own, gf, 0.0)
        grad[lay.n] = np.where(own, gn, 0.0)
        return grad


@dataclass(eq=False)
class _Whole:
    """A solution that is one piece (a scalar multiplier): merge replaces it whole."""

    sol: HourSolution

    def merge(self, other: _Whole, mask: np.ndarray) -> _Whole:
        return other if bool(np.asarray(mask).ravel()[0]) else self


@dataclass(eq=False)
class HourDuals:
    """The second-stage duals of one evaluation (economic sign, >= 0 but ``omega``/``e``).

    Benders cuts share one dual feasible region whatever ``z``, so the master's weights on its
    binding cuts mix these into duals consistent with the first stage (:func:`assemble`).
    """

    out: np.ndarray  # [T, N_OUT] of the greedy: omega, e, gamma, d_a, d_v, tau
    server: np.ndarray  # [V, T] USD per server-hour
    shed: np.ndarray  # [W, T] USD/MWh
    uptime: np.ndarray  # [H] USD per contracted hour
    take: np.ndarray  # [Mu] USD/MWh

    @staticmethod
    def mix(records: list[HourDuals], weights: np.ndarray, normalize: bool = True) -> HourDuals:
        w = weights / weights.sum() if normalize else weights
        return HourDuals(
            *(
                sum(wi * getattr(r, name) for wi, r in zip(w, records, strict=True))
                for name in ("out", "server", "shed", "uptime", "take")
            )
        )


# --------------------------------------------------------------------------- master


@dataclass(frozen=True)
class ZLayout:
    """Positions of ``y[S]``, ``f[K]``, ``n[K]`` in the master's vector ``z``."""

    S: int
    K: int

    @property
    def y(self) -> slice:
        return slice(0, self.S)

    @property
    def f(self) -> slice:
        return slice(self.S, self.S + self.K)

    @property
    def n(self) -> slice:
        return slice(self.S + self.K, self.S + 2 * self.K)

    @property
    def size(self) -> int:
        return self.S + 2 * self.K


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
    E = d.energy_mwh
    Eg = d.gpu_energy_mwh
    hosted_row = {int(c): i for i, c in enumerate(lp.hosted_classes)}
    take_row = {int(s): i for i, s in enumerate(lp.take_sites)}
    for site, ev, hd in zip(sites, evals, duals, strict=True):
        s = site.s
        it = site.items(z)
        p = ev.primal
        nA, nV = len(site.asic), len(site.gpu_v)
        with np.errstate(divide="ignore", invalid="ignore"):
            put(x, cols["u"], site.asic, np.where(E[site.asic] > 0, p.x[:nA] / E[site.asic], 0.0))
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
