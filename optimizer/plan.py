"""Plan a scenario: kernel -> LP -> solver -> :class:`Plan` (pandas frames, duals, summary).

``plan_scenario`` is the library entry point of ``hashpivot plan`` and of studies (which call it
many times with ``threads=1`` and read ``plan.summary``): it prints nothing, and the frames that
only reports need (``site_hours``, ``class_hours``) are built on first access.

Duals are reported with their economic sign, the value of relaxing a limit (>= 0):

- ``import_value_usd_per_mwh[s,t]``: one more MW of import in hour t [USD/MWh]; zero in hours
  the site idles by choice (a price spike), positive where the import limit binds;
- ``energy_value_usd_per_mwh[s,t]``: one more MWh delivered to the site in hour t (the energy
  balance's dual) [USD/MWh]: the spot price it saves, the resale price it earns in a spike, plus
  the import value where the limit binds;
- ``mining_hall_value_usd_per_mw``, ``hpc_hall_value_usd_per_mw``: one more MW of hall over
  the horizon [USD/MW]; ``conversion_value_usd_per_mw``: one more convertible MW [USD/MW];
- ``lease_min_cost_usd_per_mw``: what one more MW of a lease minimum costs [USD/MW];
- ``min_take_cost_usd_per_mwh``: what one more MWh of monthly minimum take costs [USD/MWh];
- ``uptime_cost_usd_per_hour``: what one more contracted hour of hosted uptime costs [USD/h].

The solver minimizes ``-margin``; its dual of a row is ``d(-margin)/d(bound)``, so the value of
raising an upper limit is ``-dual`` and the cost of raising a lower limit is ``+dual``
(tests/optimizer/test_lp.py checks both on LPs with known duals).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from models import Scenario, ScenarioError
from optimizer.accounting import (
    accounting_by_site,
    check_accounting,
    class_energy_mwh,
    class_revenue_usd,
    economic,
    gpu_revenue_usd,
    gpu_servers,
    installed_servers,
    net_wash_trades,
    site_hour_arrays,
)
from optimizer.errors import InfeasibleError, SolverError
from optimizer.lp.backends import METHODS, Solution, highs_iis, solve_lp
from optimizer.lp.data import LpData, lp_data
from optimizer.lp.decomposed import DecompositionFallback, solve_decomposed, unsupported
from optimizer.lp.diagnose import diagnose
from optimizer.lp.formulation import build_lp
from optimizer.lp.model import Lp
from optimizer.score import Scores, score_scenario
from optimizer.summary import PlanSummary, summarize
from optimizer.timings import Timings


@dataclass(eq=False)
class Plan:
    """The optimal split of a scenario.

    Attributes
    ----------
    scenario : str
        Scenario name.
    status : str
        ``"optimal"`` or ``"time_limit"`` (feasible, not proven optimal).
    backend, solver : str
    objective_usd : float
        The LP objective as margin (maximized) [USD].
    summary : PlanSummary
        Totals for ``summary.json`` (:class:`optimizer.summary.PlanSummary`).
    gpu : pandas.DataFrame
        Per GPU class: installed, firm and mean/max interruptible servers, firm IT MW,
        revenue and capex.
    converted_mw : pandas.Series
        MW of mining hall converted to HPC, per site.
    lease_duals, site_duals, month_duals : pandas.DataFrame
        Duals by lease, by site and by site-month (economic sign; NaN where the backend gives
        no duals).
    timings : Timings
        Stage times [s] (also ``summary.seconds``).
    """

    scenario: str
    status: str
    backend: str
    solver: str
    objective_usd: float
    summary: PlanSummary
    gpu: pd.DataFrame
    converted_mw: pd.Series
    lease_duals: pd.DataFrame
    site_duals: pd.DataFrame
    month_duals: pd.DataFrame
    timings: Timings
    data: LpData = field(repr=False)
    lp: Lp = field(repr=False)
    solution: Solution = field(repr=False)

    # ----------------------------------------------------------------- arrays

    @property
    def first_stage(self) -> np.ndarray:
        """The horizon-wide decisions ``[y[S], f[K], n[K]]`` (MW converted, firm and installed
        servers): the warm start of a neighbouring scenario's decomposed solve."""
        return np.concatenate([self._x("y"), self._x("f"), self._x("n")])

    def _x(self, name: str) -> np.ndarray:
        return self.lp.cols[name].take(self.solution.x)

    @cached_property
    def arrays(self) -> dict[str, np.ndarray]:
        """Site-hour quantities [MW or MWh per hour], shape ``[S, T]``."""
        return site_hour_arrays(self.data, self.lp, self.solution)

    @cached_property
    def site_hours(self) -> pd.DataFrame:
        """One row per site-hour: the allocation, energy flows, price and import dual.

        Columns: ``site, time, price_usd_per_mwh, import_cap_mw, mining_mw`` (own and hosted
        ASICs), ``hosted_asic_mw, hpc_firm_mw`` (served), ``hpc_interruptible_mw,
        firm_shortfall_mwh, load_mw, curtailed_mw`` (mining MW the halls could run at nameplate
        but that is off or underclocked), ``grid_mwh, ppa_block_mwh, ppa_resold_mwh, ppa_spilled_mwh,
        peak_adder_usd_per_mwh, import_value_usd_per_mwh`` (value of one more MW of import),
        ``energy_value_usd_per_mwh`` (value of one more MWh delivered to the site); with
        ancillary offers, ``as_<product>_mw`` per product (MW reserved, e.g. ``as_ecrs_mw``).
        """
        d, a = self.data, self.arrays
        S, T = d.n_sites, d.hours
        frame = {
            "site": np.repeat(np.array(d.site_names, dtype=object), T),
            "time": np.tile(d.index, S),
            "price_usd_per_mwh": d.price_usd_per_mwh.ravel(),
            "import_cap_mw": d.import_cap_mw.ravel(),
        }
        for key in (
            "mining_mw",
            "hosted_asic_mw",
            "hpc_firm_mw",
            "hpc_interruptible_mw",
            "firm_shortfall_mwh",
            "load_mw",
            "curtailed_mw",
            "grid_mwh",
            "ppa_block_mwh",
            "ppa_resold_mwh",
            "ppa_spilled_mwh",
            "peak_adder_usd_per_mwh",
            "import_value_usd_per_mwh",
            "energy_value_usd_per_mwh",
            *(k for k in a if k.startswith("as_")),
        ):
            frame[key] = a[key].ravel()
        return pd.DataFrame(frame)

    @cached_property
    def class_hours(self) -> pd.DataFrame:
        """Long form, one row per class-hour: ASIC classes and GPU classes.

        Columns: ``class, kind`` (``asic``, ``hosted``, ``gpu``), ``site, time,
        running_fraction`` (ASIC: ``u`` plus its operating points; GPU: working servers /
        installed), ``servers`` (GPU:
        firm + interruptible; NaN for ASICs), ``mw`` (served), ``revenue_usd``.
        """
        d = self.data
        T = d.hours
        x = self.solution.x
        u = self._x("u").copy()
        np.add.at(u, d.point_class, self._x("up"))
        f, v, w = gpu_servers(d, self.lp, self.solution.x)
        n = installed_servers(d, self.lp, self.solution.x)
        servers = f[:, None] + v
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = np.where(n[:, None] > 0, servers / n[:, None], 0.0)
        names = np.array(list(d.class_names) + list(d.gpu_names), dtype=object)
        kinds = np.array(
            ["hosted" if h else "asic" for h in d.class_hosted] + ["gpu"] * len(d.gpu_names),
            dtype=object,
        )
        sites = np.array(d.site_names, dtype=object)[np.concatenate([d.class_site, d.gpu_site])]
        gpu_rev = gpu_revenue_usd(d, f, v, w)
        n_rows = len(names)
        return pd.DataFrame(
            {
                "class": np.repeat(names, T),
                "kind": np.repeat(kinds, T),
                "site": np.repeat(sites, T),
                "time": np.tile(d.index, n_rows),
                "running_fraction": np.concatenate([u, frac]).ravel(),
                "servers": np.concatenate([np.full(u.shape, np.nan), servers]).ravel(),
                "mw": np.concatenate(
                    [class_energy_mwh(d, self.lp, x), d.gpu_energy_mwh * servers - w]
                ).ravel(),
                "revenue_usd": np.concatenate([class_revenue_usd(d, self.lp, x), gpu_rev]).ravel(),
            }
        )


# --------------------------------------------------------------------------- results


def duals_of(d: LpData, lp: Lp, sol: Solution) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Lease, site and site-month duals with the economic sign (module docstring)."""
    rd = sol.row_dual
    lease = economic(rd, lp.rows["lease"], 1.0)
    lease_duals = pd.DataFrame(
        {
            "lease": list(d.lease_names),
            "site": [d.site_names[s] for s in d.lease_site],
            "min_mw": d.lease_min_mw,
            "max_mw": d.lease_max_mw,
            "min_cost_usd_per_mw": np.maximum(lease, 0.0),
            "max_value_usd_per_mw": np.maximum(-lease, 0.0),
        }
    )
    y = lp.cols["y"]
    # one more convertible MW is worth something only where the bound y <= Y binds
    at_bound = y.take(sol.x) >= d.convertible_mw - 1e-9 * np.maximum(1.0, d.convertible_mw)
    conversion = (
        np.where(at_bound, np.maximum(-y.take(sol.col_dual), 0.0), 0.0)
        if sol.col_dual is not None
        else np.full(y.shape, np.nan)
    )
    site_duals = pd.DataFrame(
        {
            "site": list(d.site_names),
            "mining_hall_value_usd_per_mw": economic(rd, lp.rows["mining_hall"], -1.0).sum(1),
            "hpc_hall_value_usd_per_mw": economic(rd, lp.rows["hpc_hall"], -1.0).sum(1),
            "conversion_value_usd_per_mw": np.where(np.abs(conversion) < 1e-12, 0.0, conversion),
        }
    )
    take = economic(rd, lp.rows["min_take"], 1.0)
    month_start = d.index[np.searchsorted(d.month_of_hour, np.arange(d.n_months))]
    sites = lp.take_sites
    month_duals = pd.DataFrame(
        {
            "site": np.repeat(np.array(d.site_names, dtype=object)[sites], d.n_months),
            "month": np.tile(month_start.strftime("%Y-%m"), len(sites)),
            "min_take_mwh": d.min_take_mwh[sites].ravel(),
            "shortfall_mwh": lp.cols["z"].take(sol.x)[sites].ravel(),
            "min_take_cost_usd_per_mwh": take.ravel(),
        }
    )
    return lease_duals, site_duals, month_duals


# --------------------------------------------------------------------------- entry point


def plan_scenario(
    scenario: Scenario,
    *,
    method: str = "auto",
    backend: str = "highs",
    solver: str | None = None,
    threads: int | None = None,
    time_limit_s: float | None = None,
    scores: Scores | None = None,
    timings: Timings | None = None,
    before_solve: Callable[[Lp], None] | None = None,
    start: np.ndarray | None = None,
    kernel: Callable[[Scenario], Scores] | None = None,
    basis: object | None = None,
) -> Plan:
    """Score, build, solve and read back the allocation LP of a scenario.

    Parameters
    ----------
    scenario : Scenario
    method : {"auto", "decomposed", "monolithic"}
        ``decomposed``: Benders cuts on the horizon-wide decisions and a greedy per site-hour
        (docs/model.md §5.8); ``monolithic``: the whole LP in one solver call; ``auto``: the
        decomposition where it covers the scenario and the backend is HiGHS with its default
        algorithm, the monolithic LP otherwise (``summary.method`` and ``method_note`` say
        which ran and why).
    backend : {"highs", "pulp"}
        Backend of the monolithic LP.
    solver : str, optional
        HiGHS algorithm (``choose``/``simplex``/``ipm``/``pdlp``) or PuLP solver name.
    threads : int, optional
        Solver threads (studies pass 1).
    time_limit_s : float, optional
        Solver time limit [s].
    scores : Scores, optional
        Kernel results, when already computed.
    timings : Timings, optional
        Where stage times go (``kernel``, ``build``, ``solve``, ``extract``); its ``progress``
        callback hears each stage as it ends. A new one by default.
    before_solve : callable, optional
        ``before_solve(lp)`` once the LP is built (the CLI writes ``--write-lp`` files here).
    start : numpy.ndarray, optional
        First trial of the decomposition's horizon-wide decisions (:attr:`Plan.first_stage`
        of a neighbouring scenario); ignored by the monolithic LP.
    kernel : callable, optional
        ``kernel(scenario) -> Scores`` in place of :func:`~optimizer.score.score_scenario`
        (studies pass a :class:`~optimizer.score.KernelCache`'s ``scores``).
    basis : optional
        ``plan.solution.basis`` of a neighbouring plan: the monolithic HiGHS solve starts there.

    Returns
    -------
    Plan

    Raises
    ------
    InfeasibleError
        With a diagnosis naming the family, site, hours and the fix.
    SolverError
    """
    timings = timings if timings is not None else Timings()
    with timings.stage("kernel"):
        if scores is None:
            scores = (kernel or score_scenario)(scenario)
    with timings.stage("build"):
        data = lp_data(scenario, scores)
        lp = build_lp(data)
    if before_solve is not None:
        before_solve(lp)
    with timings.stage("solve"):
        sol = solve(data, lp, method, backend, solver, threads, time_limit_s, start, basis)
    with timings.stage("extract"):
        return make_plan(scenario.name, data, lp, sol, timings)


def solve(
    data: LpData,
    lp: Lp,
    method: str = "auto",
    backend: str = "highs",
    solver: str | None = None,
    threads: int | None = None,
    time_limit_s: float | None = None,
    start: np.ndarray | None = None,
    basis: object | None = None,
) -> Solution:
    """Solve the allocation LP by ``method`` (see :func:`plan_scenario`); ``basis`` warm-starts
    a monolithic HiGHS solve (:func:`~optimizer.lp.backends.solve_lp`).

    Raises
    ------
    InfeasibleError
        With the diagnosis (always from the monolithic LP, which names rows).
    ScenarioError
        ``decomposed`` asked for a scenario it does not cover, or with a backend other than
        HiGHS's default (the CLI exits 2).
    SolverError
        Unknown method.
    """
    if method not in METHODS:
        raise SolverError(f"unknown method {method!r}: expected one of {', '.join(METHODS)}")
    note = ""
    if method != "monolithic":
        reasons = unsupported(data)
        if backend != "highs" or solver not in (None, "choose"):
            reasons.append(f"backend {backend} with solver {solver or 'default'} was asked for")
        if method == "decomposed" and reasons:  # a choice the scenario refuses: bad input
            raise ScenarioError(
                "the decomposed method does not cover this run: "
                + "; ".join(reasons)
                + " (use --method auto or monolithic)"
            )
        if reasons:
            note = "; ".join(reasons)
        else:
            try:
                sol, info = solve_decomposed(data, lp, time_limit_s=time_limit_s, start=start)
            except DecompositionFallback as exc:
                if method == "decomposed":
                    raise
                note = str(exc)
            else:
                if sol.status == "optimal" or (
                    method == "decomposed" and sol.status != "infeasible"
                ):
                    return sol
                note = (
                    "no split fits the firm load: the monolithic LP diagnoses it"
                    if sol.status == "infeasible"
                    else f"the decomposition stopped at a gap of {info.gap:.1e}"
                )
    sol = solve_lp(
        lp, backend=backend, solver=solver, threads=threads, time_limit_s=time_limit_s, basis=basis
    )
    if sol.status == "infeasible":
        raise InfeasibleError(diagnose(data, lp, sol.iis or (lambda: highs_iis(lp))))
    sol.note = note
    return sol


def make_plan(
    scenario_name: str, d: LpData, lp: Lp, sol: Solution, timings: Timings | None = None
) -> Plan:
    """Read a solved LP back into a :class:`Plan` (checks the accounting identity)."""
    timings = timings if timings is not None else Timings()
    sol.x = net_wash_trades(d, lp, sol.x)
    site_parts = accounting_by_site(d, lp, sol.x)
    parts = {k: float(v.sum()) for k, v in site_parts.items()}
    margin = check_accounting(parts, -sol.objective)
    arrays = site_hour_arrays(d, lp, sol)
    lease_duals, site_duals, month_duals = duals_of(d, lp, sol)
    summary = summarize(
        d,
        lp,
        sol,
        parts,
        site_parts,
        margin,
        arrays,
        lease_duals,
        site_duals,
        month_duals,
        scenario_name,
        timings,
    )
    f, v, w = gpu_servers(d, lp, sol.x)
    n = installed_servers(d, lp, sol.x)
    T = d.hours
    gpu = pd.DataFrame(
        {
            "gpu_class": list(d.gpu_names),
            "site": [d.site_names[s] for s in d.gpu_site],
            "max_servers": d.gpu_max_servers,
            "installed": n,
            "firm": f,
            "interruptible_mean": v.mean(axis=1) if T else 0.0,
            "interruptible_max": v.max(axis=1, initial=0.0),
            "firm_it_mw": d.gpu_it_mw * f,
            "firm_shortfall_mwh": w.sum(axis=1),
            "revenue_usd": gpu_revenue_usd(d, f, v, w).sum(axis=1),
            "capex_usd": d.gpu_capex_usd_per_hour * n * T,
        }
    )
    plan = Plan(
        scenario=scenario_name,
        status=sol.status,
        backend=sol.backend,
        solver=sol.solver,
        objective_usd=-sol.objective,
        summary=summary,
        gpu=gpu,
        converted_mw=pd.Series(lp.cols["y"].take(sol.x), index=list(d.site_names), name="mw"),
        lease_duals=lease_duals,
        site_duals=site_duals,
        month_duals=month_duals,
        timings=timings,
        data=d,
        lp=lp,
        solution=sol,
    )
    plan.__dict__["arrays"] = arrays  # seed the cached property
    return plan
