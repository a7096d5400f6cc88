"""The second stage of the decomposed solver, one site at a time (docs/model.md §5.8): items
and caps at a trial ``z``, the multipliers of the uptime and minimum-take rows, the Lagrangian
bound with its supergradient (a Benders cut), the mixed feasible plan, and the hourly duals.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kernels.decomposition import (
    GROUP_HPC,
    GROUP_KEEP,
    GROUP_MINING,
    OUT_DA,
    OUT_DV,
    OUT_E,
    OUT_INFEASIBLE,
    OUT_LOAD,
    OUT_OMEGA,
    OUT_TAU,
    OUT_VALUE,
    first_crossing,
    greedy_hours,
    item_steps,
    load_steps,
)
from optimizer.lp.data import LpData
from optimizer.lp.envelope import Segments
from optimizer.lp.multipliers import HourSolution, Unreachable, minimize_pl, mix, snap


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
    seg: Segments  # their items: envelope segments (one per class without operating points)
    hosted_items: np.ndarray  # the items of the hosted classes with an uptime floor
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
    uptime_step: np.ndarray | None = None  # how far the multipliers moved last time
    uptime_moved: bool = False  # whether the last evaluation moved the uptime multiplier
    take_step: np.ndarray | None = None

    @classmethod
    def build(cls, d: LpData, s: int, layout: ZLayout, gpu_v, gpu_w, a_all, b_all) -> SiteProblem:
        pi = d.price_usd_per_mwh[s]
        kappa = d.peak_adder_usd_per_mwh[s]
        c_q = -d.resale_factor[s] * np.maximum(pi, 0.0) + d.settlement_usd_per_mwh[s]
        asic = np.flatnonzero(d.class_site == s)
        v_rows = np.flatnonzero(d.gpu_site[gpu_v] == s)
        w_rows = np.flatnonzero(d.gpu_site[gpu_w] == s)
        hosted = np.flatnonzero(d.class_hosted[asic] & (d.class_uptime[asic] > 0))
        seg = Segments.build(d, asic)
        a, b = a_all[s], b_all[s]
        T = d.hours
        return cls(
            d=d,
            s=s,
            layout=layout,
            asic=asic,
            seg=seg,
            hosted_items=np.searchsorted(seg.cls, hosted),  # one segment each: no points
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
        E = self.seg.dE
        Eg = d.gpu_energy_mwh
        with np.errstate(divide="ignore", invalid="ignore"):
            v_asic = np.where(E > 0, self.seg.dR / E, 0.0)
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
                    np.full(len(E), GROUP_MINING),
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

    def values(self, it: dict, uptime_dual: np.ndarray) -> np.ndarray:
        """Item values with the hosted classes' uptime multipliers added."""
        val = it["val"]
        if len(self.hosted):
            E = self.d.energy_mwh[self.asic[self.hosted]]
            val = val.copy()
            with np.errstate(divide="ignore", invalid="ignore"):
                val[self.hosted_items] += np.where(E > 0, uptime_dual[:, None] / E, 0.0)
        return val

    def run(self, it: dict, uptime_dual: np.ndarray, take_dual: np.ndarray) -> HourSolution:
        """The greedy at given multipliers."""
        nu = take_dual[self.month]
        return self.greedy(it, self.values(it, uptime_dual), self.m1 - nu, self.m2 - nu)

    def greedy(self, it: dict, val: np.ndarray, m1: np.ndarray, m2: np.ndarray) -> HourSolution:
        """The hourly greedy over the items of ``it`` with values ``val`` and energy costs."""
        caps = (it[k] for k in ("qty", "grp", "cap_a", "cap_v", "imp", "base", "forced"))
        x, out = greedy_hours(val, *caps, self.d.ppa_block_mw[self.s], m1, m2)
        return HourSolution(x, out, self.month)

    def uptime_of(self, sol: HourSolution) -> np.ndarray:
        E = self.d.energy_mwh[self.asic[self.hosted]]
        with np.errstate(divide="ignore", invalid="ignore"):
            u = np.where(E > 0, sol.x[self.hosted_items] / E, 0.0)
        return (u * self.hashes).sum(axis=1)

    def uptime_guess(self, it: dict, take_dual: np.ndarray) -> float:
        """The uptime multiplier at which the hosted class would reach its floor, the
        minimum-take multipliers held at ``take_dual``: from how much the greedy gives the
        class as its value rises, hour by hour (:func:`~kernels.decomposition.item_steps`), in
        one pass. A start for the exact search (which also moves the take multipliers)."""
        h = int(self.hosted_items[0])
        nu = take_dual[self.month]
        caps = (it[k] for k in ("qty", "grp", "cap_a", "cap_v", "imp", "base", "forced"))
        thr, alloc = item_steps(
            h, it["val"], *caps, self.d.ppa_block_mw[self.s], self.m1 - nu, self.m2 - nu
        )
        E = self.d.energy_mwh[self.asic[self.hosted[0]]]
        return float(
            first_crossing(
                thr, alloc, it["val"][h], E, self.hashes[0].astype(float), float(self.target[0])
            )
        )

    def take_guess(self, it: dict, val: np.ndarray) -> np.ndarray:
        """The minimum-take multipliers at which each month's load would just reach its
        minimum, item values ``val`` fixed: from how the greedy's load grows as the month's
        energy costs fall (:func:`~kernels.decomposition.load_steps`), in one pass. A start
        for the exact search."""
        caps = (it[k] for k in ("qty", "grp", "cap_a", "cap_v", "imp", "base", "forced"))
        thr, size, fixed = load_steps(val, *caps, self.d.ppa_block_mw[self.s], self.m1, self.m2)
        Mu = self.d.n_months
        month = np.broadcast_to(self.month[:, None], thr.shape)
        short = self.min_take - np.bincount(self.month, weights=fixed, minlength=Mu)
        live = np.isfinite(thr) & (size > 0)
        m, t, q = month[live], thr[live], size[live]
        order = np.lexsort((t, m))
        m, t, q = m[order], t[order], q[order]
        # cumulative MWh within each month, by rising threshold
        cum = np.cumsum(q)
        start = np.searchsorted(m, np.arange(Mu))
        before = np.concatenate([[0.0], cum])[start]
        within = cum - before[m]
        guess = np.zeros(Mu)
        for mu in range(Mu):
            if short[mu] <= 0.0:
                continue
            rows = slice(start[mu], start[mu + 1] if mu + 1 < Mu else len(m))
            k = int(np.searchsorted(within[rows], short[mu] * (1.0 - 1e-12)))
            ts = t[rows]
            guess[mu] = ts[min(k, len(ts) - 1)] if len(ts) else 0.0
        return np.maximum(guess, 0.0)

    def month_load(self, sol: HourSolution) -> np.ndarray:
        return np.bincount(self.month, weights=sol.out[:, OUT_LOAD], minlength=self.d.n_months)

    # ----------------------------------------------------------------- multipliers

    def multipliers(self) -> tuple[np.ndarray, ...]:
        """The last multipliers and search steps (to warm start a similar problem)."""
        return self.last_uptime, self.last_take, self.uptime_step, self.take_step

    def warm_start(self, uptime, take, uptime_step, take_step) -> None:
        """Start the next searches from another problem's multipliers where they fit (same
        hosted classes, same months); a start changes the work, never the result."""
        if np.shape(uptime) == self.last_uptime.shape:
            self.last_uptime, self.uptime_step = np.array(uptime), uptime_step
        if np.shape(take) == self.last_take.shape:
            self.last_take, self.take_step = np.array(take), take_step

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
            slope = snap(self.month_load(sol) - self.min_take, self.min_take)
            return value - nu * self.min_take, np.where(binding, slope, 0.0), sol

        lower = np.zeros(Mu)
        upper = np.where(binding, p_short, 0.0)

        def jump():
            val = self.values(it, uptime_dual)
            return np.minimum(self.take_guess(it, val), upper)

        nu, (sa, sb, theta), final, passes = minimize_pl(
            evaluate,
            lower,
            upper,
            np.where(binding, self.last_take, 0.0),
            1e-12,
            self.take_step,
            jump=jump,
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
                    snap(np.array([up[0] - self.target[0]]), self.target[:1]),
                    _Whole(primal),
                )

            def guess():
                return np.array([self.uptime_guess(it, self.last_take)])

            # where the multiplier moved last time, it likely moves again: go to the guess
            # at once; else try the last one first and guess only if it is not optimal
            start = guess() if self.uptime_moved else self.last_uptime
            try:
                lam, (sa, sb, theta), _, _ = minimize_pl(
                    evaluate,
                    np.zeros(1),
                    np.full(1, np.inf),
                    start,
                    1e-12,
                    1e-10 * np.maximum(np.abs(start), 1.0)
                    if self.uptime_moved
                    else self.uptime_step,
                    jump=None if self.uptime_moved else guess,
                )
            except Unreachable:
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
            self.uptime_moved = bool(np.any(lam != self.last_uptime))
            self.uptime_step = _next_step(lam, self.last_uptime)
            self.last_uptime = lam
        self.take_step = _next_step(nu, self.last_take)
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
        E = self.d.energy_mwh[self.asic[self.hosted[0]]]
        val = np.zeros_like(it["val"])
        with np.errstate(divide="ignore", invalid="ignore"):
            val[self.hosted_items[0]] = np.where(E > 0, self.hashes[0] / E, 0.0)
        zero = np.zeros(self.d.hours)
        sol = self.greedy(it, val, zero, zero)
        out = sol.out
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
        nA, nV = len(self.seg.cls), len(self.gpu_v)
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


def _next_step(new: np.ndarray, old: np.ndarray) -> np.ndarray:
    """First bracketing step of the next search: the last move (1 where nothing moved yet)."""
    moved = np.abs(np.asarray(new, dtype=float) - old)
    return np.where(moved > 0, moved, np.where(new == 0, 1.0, 1e-6 * np.abs(new)))


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
