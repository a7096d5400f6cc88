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

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models import Scenario
from optimizer.diagnose import diagnose
from optimizer.errors import InfeasibleError, SolverError
from optimizer.lp import Lp, LpData, build_lp, lp_data
from optimizer.score import Scores, score_scenario
from optimizer.solve import Solution, highs_iis, solve_lp

#: Relative tolerance of the accounting identity (margin == sum of parts == LP objective).
ACCOUNTING_RTOL = 1e-7
#: Curtailed MW below this do not make an hour count as curtailed [MW].
CURTAILED_MW_TOL = 1e-3

#: The summary's money items: revenues (+) and costs (-) whose sum is the margin.
REVENUE_KEYS = ("revenue_mining_usd", "revenue_hosting_usd", "revenue_hpc_usd", "resale_credit_usd")
COST_KEYS = (
    "energy_cost_usd",
    "ppa_cost_usd",
    "peak_charge_usd",
    "conversion_cost_usd",
    "gpu_capex_usd",
    "sla_penalty_usd",
    "shortfall_usd",
)


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
    summary : dict
        Totals for ``summary.json`` (see :func:`summarize`).
    gpu : pandas.DataFrame
        Per GPU class: installed, firm and mean/max interruptible servers, firm IT MW,
        revenue and capex.
    converted_mw : pandas.Series
        MW of mining hall converted to HPC, per site.
    lease_duals, site_duals, month_duals : pandas.DataFrame
        Duals by lease, by site and by site-month (economic sign; NaN where the backend gives
        no duals).
    seconds : dict
        Stage times [s].
    """

    scenario: str
    status: str
    backend: str
    solver: str
    objective_usd: float
    summary: dict[str, Any]
    gpu: pd.DataFrame
    converted_mw: pd.Series
    lease_duals: pd.DataFrame
    site_duals: pd.DataFrame
    month_duals: pd.DataFrame
    seconds: dict[str, float]
    data: LpData = field(repr=False)
    lp: Lp = field(repr=False)
    solution: Solution = field(repr=False)

    # ----------------------------------------------------------------- arrays

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
        firm_shortfall_mwh, load_mw, curtailed_mw`` (mining MW the halls could run but that
        is off), ``grid_mwh, ppa_block_mwh, ppa_resold_mwh, ppa_spilled_mwh,
        peak_adder_usd_per_mwh, import_value_usd_per_mwh`` (value of one more MW of import),
        ``energy_value_usd_per_mwh`` (value of one more MWh delivered to the site).
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
        ):
            frame[key] = a[key].ravel()
        return pd.DataFrame(frame)

    @cached_property
    def class_hours(self) -> pd.DataFrame:
        """Long form, one row per class-hour: ASIC classes and GPU classes.

        Columns: ``class, kind`` (``asic``, ``hosted``, ``gpu``), ``site, time,
        running_fraction`` (ASIC: ``u``; GPU: working servers / installed), ``servers`` (GPU:
        firm + interruptible; NaN for ASICs), ``mw`` (served), ``revenue_usd``.
        """
        d = self.data
        T = d.hours
        u = self._x("u")
        f = self._x("f")
        v = np.zeros((len(d.gpu_names), T))
        v[self.lp.gpu_v] = self._x("v")
        w = np.zeros((len(d.gpu_names), T))
        w[self.lp.gpu_w] = self._x("w")
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
        pt = d.gpu_pass_through[:, None] * d.price_usd_per_mwh[d.gpu_site]
        gpu_rev = d.gpu_revenue_usd * servers - pt * w
        n_rows = len(names)
        return pd.DataFrame(
            {
                "class": np.repeat(names, T),
                "kind": np.repeat(kinds, T),
                "site": np.repeat(sites, T),
                "time": np.tile(d.index, n_rows),
                "running_fraction": np.concatenate([u, frac]).ravel(),
                "servers": np.concatenate([np.full(u.shape, np.nan), servers]).ravel(),
                "mw": np.concatenate([d.energy_mwh * u, d.gpu_energy_mwh * servers - w]).ravel(),
                "revenue_usd": np.concatenate([d.revenue_usd * u, gpu_rev]).ravel(),
            }
        )


# --------------------------------------------------------------------------- results


def _by_site(values: np.ndarray, site: np.ndarray, n_sites: int) -> np.ndarray:
    """Sum rows of ``values [N, T]`` into their sites: ``[S, T]``."""
    out = np.zeros((n_sites, values.shape[1] if values.ndim == 2 else 0))
    if len(site):
        np.add.at(out, site, values)
    return out


def _economic(dual: np.ndarray | None, block, sign: float) -> np.ndarray:
    """A block of row duals with the economic sign; NaN when the backend gave no duals."""
    if dual is None:
        return np.full(block.shape, np.nan)
    out = sign * block.take(dual)
    return np.where(np.abs(out) < 1e-12, 0.0, out)  # no "-0.0" in reports


def site_hour_arrays(d: LpData, lp: Lp, sol: Solution) -> dict[str, np.ndarray]:
    """Site-hour quantities of a solution, shape ``[S, T]`` [MW = MWh per hour]."""
    S = d.n_sites
    x = sol.x
    u = lp.cols["u"].take(x)
    f = lp.cols["f"].take(x)
    y = lp.cols["y"].take(x)
    q = lp.cols["q"].take(x)
    mining = d.energy_mwh * u
    firm = _by_site(d.gpu_energy_mwh * f[:, None], d.gpu_site, S)
    short = _by_site(lp.cols["w"].take(x), d.gpu_site[lp.gpu_w], S)
    inter = _by_site(d.gpu_energy_mwh[lp.gpu_v] * lp.cols["v"].take(x), d.gpu_site[lp.gpu_v], S)
    mining_mw = _by_site(mining, d.class_site, S)
    hall_room = np.maximum(d.mining_hall_mw - y, 0.0)[:, None]
    available = np.minimum(_by_site(d.energy_mwh, d.class_site, S), hall_room)
    resale_pays = (d.resale_factor[:, None] > 0) & (d.price_usd_per_mwh > 0)
    return {
        "mining_mw": mining_mw,
        "hosted_asic_mw": _by_site(mining[d.class_hosted], d.class_site[d.class_hosted], S),
        "hpc_firm_mw": firm - short,
        "hpc_interruptible_mw": inter,
        "firm_shortfall_mwh": short,
        "load_mw": lp.cols["L"].take(x),
        "curtailed_mw": np.maximum(available - mining_mw, 0.0),
        "grid_mwh": lp.cols["g"].take(x),
        "ppa_block_mwh": d.ppa_block_mw,
        "ppa_resold_mwh": np.where(resale_pays, q, 0.0),
        "ppa_spilled_mwh": np.where(resale_pays, 0.0, q),
        "peak_adder_usd_per_mwh": d.peak_adder_usd_per_mwh,
        "import_value_usd_per_mwh": _economic(sol.row_dual, lp.rows["import"], -1.0),
        "energy_value_usd_per_mwh": _economic(sol.row_dual, lp.rows["energy_balance"], -1.0),
    }


def installed_servers(d: LpData, lp: Lp, x: np.ndarray) -> np.ndarray:
    """GPU servers installed per class [servers].

    ``n`` where servers carry capex; for a class without capex (a tenant's servers) ``n`` is
    free in the LP, so report the fewest servers the plan uses, ``f + max_t v``.
    """
    n = lp.cols["n"].take(x)
    busiest = lp.cols["f"].take(x).copy()
    if len(lp.gpu_v):
        busiest[lp.gpu_v] += lp.cols["v"].take(x).max(axis=1, initial=0.0)
    return np.where(d.gpu_capex_usd_per_hour > 0, n, busiest)


def accounting(d: LpData, lp: Lp, x: np.ndarray) -> dict[str, float]:
    """Revenues and costs of a solution [USD]; their signed sum is the margin.

    ``revenue_hpc_usd`` is GPU revenue (rent, cloud sales and pass-through reimbursements)
    less the pass-through of firm energy not served.
    """
    T = d.hours
    pi = d.price_usd_per_mwh
    u = lp.cols["u"].take(x)
    n = lp.cols["n"].take(x)
    f = lp.cols["f"].take(x)
    v = lp.cols["v"].take(x)
    w = lp.cols["w"].take(x)
    site_w = d.gpu_site[lp.gpu_w]
    asic = (d.revenue_usd * u).sum(axis=1)
    hpc = (
        float(d.gpu_revenue_usd.sum(axis=1) @ f)
        + float((d.gpu_revenue_usd[lp.gpu_v] * v).sum())
        - float((d.gpu_pass_through[lp.gpu_w, None] * pi[site_w] * w).sum())
    )
    return {
        "revenue_mining_usd": float(asic[~d.class_hosted].sum()),
        "revenue_hosting_usd": float(asic[d.class_hosted].sum()),
        "revenue_hpc_usd": hpc,
        "resale_credit_usd": float(
            (d.resale_factor[:, None] * np.maximum(pi, 0.0) * lp.cols["q"].take(x)).sum()
        ),
        "energy_cost_usd": float((pi * lp.cols["g"].take(x)).sum()),
        "ppa_cost_usd": float((d.ppa_price_usd_per_mwh[:, None] * d.ppa_block_mw).sum()),
        "peak_charge_usd": float((d.peak_adder_usd_per_mwh * lp.cols["L"].take(x)).sum()),
        "conversion_cost_usd": float(d.conversion_usd_per_mw_hour @ lp.cols["y"].take(x) * T),
        "gpu_capex_usd": float(d.gpu_capex_usd_per_hour @ n * T),
        "sla_penalty_usd": float((d.sla_penalty_usd_per_mwh[site_w, None] * w).sum()),
        "shortfall_usd": float((d.shortfall_usd_per_mwh[:, None] * lp.cols["z"].take(x)).sum()),
    }


def margin_of(parts: dict[str, float]) -> float:
    """Revenues minus costs [USD]."""
    return sum(parts[k] for k in REVENUE_KEYS) - sum(parts[k] for k in COST_KEYS)


def check_accounting(parts: dict[str, float], objective_usd: float) -> float:
    """Margin from its parts, checked against the LP objective (as margin) [USD].

    Raises
    ------
    SolverError
        When they differ by more than :data:`ACCOUNTING_RTOL` of the gross money flow: the
        plan would be wrong, never report it.
    """
    margin = margin_of(parts)
    gross = max(1.0, sum(abs(v) for v in parts.values()))
    if not abs(margin - objective_usd) <= ACCOUNTING_RTOL * gross:
        raise SolverError(
            f"accounting mismatch: revenues minus costs = {margin:,.2f} USD but the LP "
            f"objective is {objective_usd:,.2f} USD (please report)"
        )
    return margin


def duals_of(d: LpData, lp: Lp, sol: Solution) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Lease, site and site-month duals with the economic sign (module docstring)."""
    rd = sol.row_dual
    lease = _economic(rd, lp.rows["lease"], 1.0)
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
    conversion = -y.take(sol.col_dual) if sol.col_dual is not None else np.full(y.shape, np.nan)
    site_duals = pd.DataFrame(
        {
            "site": list(d.site_names),
            "mining_hall_value_usd_per_mw": _economic(rd, lp.rows["mining_hall"], -1.0).sum(1),
            "hpc_hall_value_usd_per_mw": _economic(rd, lp.rows["hpc_hall"], -1.0).sum(1),
            "conversion_value_usd_per_mw": np.where(np.abs(conversion) < 1e-12, 0.0, conversion),
        }
    )
    take = _economic(rd, lp.rows["min_take"], 1.0)
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


def summarize(
    d: LpData,
    lp: Lp,
    sol: Solution,
    parts: dict[str, float],
    margin: float,
    arrays: dict[str, np.ndarray],
    lease_duals: pd.DataFrame,
    site_duals: pd.DataFrame,
    month_duals: pd.DataFrame,
    scenario_name: str,
) -> dict[str, Any]:
    """The ``summary.json`` object (money [USD], energy [MWh], power [MW], time [h]).

    Money: ``margin_usd`` = ``revenue_mining_usd`` (own ASICs, BTC after pool fee) +
    ``revenue_hosting_usd`` (client ASICs) + ``revenue_hpc_usd`` (GPU rent, cloud sales and
    pass-through, less pass-through of firm energy not served) + ``resale_credit_usd`` -
    ``energy_cost_usd`` (spot purchases; negative when the grid pays) - ``ppa_cost_usd``
    (take-or-pay block) - ``peak_charge_usd`` - ``conversion_cost_usd`` - ``gpu_capex_usd`` -
    ``sla_penalty_usd`` - ``shortfall_usd`` (monthly minimum take), checked against the LP
    objective (``objective_usd``). Energy: ``mining_mwh`` counts every ASIC, own and hosted
    (``hosting_mwh`` is the hosted part); ``hpc_mwh`` firm served + interruptible.
    ``hours_curtailed``: hours in which some mining MW the halls could run is off, by order or
    by choice; ``hours_curtailment_orders``: hours with an order at any site. Duals are
    ``None`` where the backend gives none.
    """
    x = sol.x
    T = d.hours
    f = lp.cols["f"].take(x)
    n = installed_servers(d, lp, x)
    v = lp.cols["v"].take(x)
    y = lp.cols["y"].take(x)
    hosted = arrays["hosted_asic_mw"].sum()
    curtailed = arrays["curtailed_mw"]
    imp = arrays["import_value_usd_per_mwh"]
    uptime = _economic(sol.row_dual, lp.rows["uptime"], 1.0)
    has_duals = sol.row_dual is not None

    def mean(a: np.ndarray) -> float:
        return float(a.sum(axis=0).mean()) if a.size else 0.0

    summary: dict[str, Any] = {
        "scenario": scenario_name,
        "status": sol.status,
        "backend": sol.backend,
        "solver": sol.solver,
        "margin_usd": margin,
        "objective_usd": -sol.objective,
        **parts,
        "revenue_total_usd": sum(parts[k] for k in REVENUE_KEYS),
        "cost_total_usd": sum(parts[k] for k in COST_KEYS),
        "hpc_mw_converted": float(y.sum()),
        "gpu_servers_firm": float(f.sum()),
        "gpu_servers_installed": float(n.sum()),
        "gpu_servers_interruptible_mean": float(v.sum(axis=0).mean()) if v.size else 0.0,
        "firm_it_mw": float(d.gpu_it_mw @ f),
        "mining_mwh": float(arrays["mining_mw"].sum()),
        "hosting_mwh": float(hosted),
        "hpc_mwh": float((arrays["hpc_firm_mw"] + arrays["hpc_interruptible_mw"]).sum()),
        "hpc_firm_mwh": float(arrays["hpc_firm_mw"].sum()),
        "hpc_interruptible_mwh": float(arrays["hpc_interruptible_mw"].sum()),
        "firm_shortfall_mwh": float(arrays["firm_shortfall_mwh"].sum()),
        "curtailed_mwh": float(curtailed.sum()),
        "hours_curtailed": int((curtailed > CURTAILED_MW_TOL).any(axis=0).sum()),
        "hours_curtailment_orders": int(d.curtailed.any(axis=0).sum()),
        "load_mwh": float(arrays["load_mw"].sum()),
        "grid_mwh": float(arrays["grid_mwh"].sum()),
        "ppa_mwh": float(d.ppa_block_mw.sum()),
        "ppa_resold_mwh": float(arrays["ppa_resold_mwh"].sum()),
        "ppa_spilled_mwh": float(arrays["ppa_spilled_mwh"].sum()),
        "min_take_shortfall_mwh": float(lp.cols["z"].take(x).sum()),
        "mean_mining_mw": mean(arrays["mining_mw"]),
        "mean_hpc_firm_mw": mean(arrays["hpc_firm_mw"]),
        "mean_hpc_interruptible_mw": mean(arrays["hpc_interruptible_mw"]),
        "mean_curtailed_mw": mean(curtailed),
        "mean_hashprice_usd_per_ph_day": float(d.hashprice_usd_per_ph_day.mean()),
        "mean_price_usd_per_mwh": float(d.price_usd_per_mwh.mean()),
        "import_value_mean_usd_per_mwh": float(np.mean(imp)) if has_duals else None,
        "import_value_max_usd_per_mwh": float(np.max(imp)) if has_duals and imp.size else None,
        "hours": T,
        "sites": {
            name: {
                "converted_mw": float(y[s]),
                "mining_mwh": float(arrays["mining_mw"][s].sum()),
                "hpc_mwh": float(
                    (arrays["hpc_firm_mw"][s] + arrays["hpc_interruptible_mw"][s]).sum()
                ),
                "curtailed_mwh": float(curtailed[s].sum()),
                "hours_curtailed": int((curtailed[s] > CURTAILED_MW_TOL).sum()),
                **{
                    k: _json_number(site_duals[k].iloc[s])
                    for k in (
                        "mining_hall_value_usd_per_mw",
                        "hpc_hall_value_usd_per_mw",
                        "conversion_value_usd_per_mw",
                    )
                },
            }
            for s, name in enumerate(d.site_names)
        },
        "leases": {
            row.lease: {
                "firm_it_mw": float(d.gpu_it_mw[d.lease_members[i]] @ f[d.lease_members[i]]),
                "min_cost_usd_per_mw": _json_number(row.min_cost_usd_per_mw),
                "max_value_usd_per_mw": _json_number(row.max_value_usd_per_mw),
            }
            for i, row in enumerate(lease_duals.itertuples())
        },
        "hosted_uptime_cost_usd_per_hour": {
            d.class_names[c]: _json_number(uptime[i]) for i, c in enumerate(lp.hosted_classes)
        },
        "min_take_cost_usd_per_mwh": {
            f"{r.site}:{r.month}": _json_number(r.min_take_cost_usd_per_mwh)
            for r in month_duals.itertuples()
        },
    }
    return summary


def _json_number(value: float) -> float | None:
    value = float(value)
    return None if not np.isfinite(value) else value


# --------------------------------------------------------------------------- entry point


def plan_scenario(
    scenario: Scenario,
    *,
    backend: str = "highs",
    solver: str | None = None,
    threads: int | None = None,
    time_limit_s: float | None = None,
    write_lp: str | Path | None = None,
    scores: Scores | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> Plan:
    """Score, build, solve and read back the allocation LP of a scenario.

    Parameters
    ----------
    scenario : Scenario
    backend : {"highs", "pulp"}
    solver : str, optional
        HiGHS algorithm (``choose``/``simplex``/``ipm``/``pdlp``) or PuLP solver name.
    threads : int, optional
        Solver threads (studies pass 1).
    time_limit_s : float, optional
        Solver time limit [s].
    write_lp : path, optional
        Also write the model (``.lp`` or ``.mps``).
    scores : Scores, optional
        Kernel results, when already computed.
    progress : callable, optional
        ``progress(stage, seconds)`` after each stage (``kernel``, ``build``, ``solve``).

    Returns
    -------
    Plan

    Raises
    ------
    InfeasibleError
        With a diagnosis naming the family, site, hours and the fix.
    SolverError
    """
    seconds: dict[str, float] = {}

    def stage(name: str, t0: float) -> float:
        seconds[name] = time.perf_counter() - t0
        if progress is not None:
            progress(name, seconds[name])
        return time.perf_counter()

    t = time.perf_counter()
    if scores is None:
        scores = score_scenario(scenario)
    t = stage("kernel", t)
    data = lp_data(scenario, scores)
    lp = build_lp(data)
    t = stage("build", t)
    sol = solve_lp(
        lp,
        backend=backend,
        solver=solver,
        threads=threads,
        time_limit_s=time_limit_s,
        write_lp=write_lp,
    )
    if sol.status == "infeasible":
        raise InfeasibleError(diagnose(data, lp, sol.iis or (lambda: highs_iis(lp))))
    t = stage("solve", t)
    plan = make_plan(scenario.name, data, lp, sol)
    stage("extract", t)
    plan.seconds.update(seconds)
    plan.summary["seconds"] = {
        "load": 0.0,
        **{k: seconds.get(k, 0.0) for k in ("kernel", "build", "solve", "extract")},
        "report": 0.0,
    }
    plan.summary["seconds"]["total"] = sum(plan.summary["seconds"].values())
    return plan


def net_wash_trades(d: LpData, lp: Lp, x: np.ndarray) -> np.ndarray:
    """Net out MWh bought and resold in the same hour where resale pays the purchase price.

    When ``psi * max(pi, 0) == pi`` (no resale fee and ``pi >= 0``, or ``pi == 0``), buying a
    MWh and reselling one in the same hour is a wash the LP may pick at random; removing the
    pair changes neither the load nor the margin, and keeps grid and resale MWh honest.

    Returns
    -------
    numpy.ndarray
        A copy of ``x`` with ``g`` and ``q`` reduced by ``min(g, q)`` in those hours.
    """
    pi = d.price_usd_per_mwh
    wash = (pi >= 0) & (d.resale_factor[:, None] * pi == pi)
    if not wash.any():
        return x
    x = x.copy()
    g, q = lp.cols["g"], lp.cols["q"]
    both = np.minimum(g.take(x), q.take(x)) * wash
    x[g.start : g.stop] -= both.ravel()
    x[q.start : q.stop] -= both.ravel()
    return x


def make_plan(scenario_name: str, d: LpData, lp: Lp, sol: Solution) -> Plan:
    """Read a solved LP back into a :class:`Plan` (checks the accounting identity)."""
    sol.x = net_wash_trades(d, lp, sol.x)
    parts = accounting(d, lp, sol.x)
    margin = check_accounting(parts, -sol.objective)
    arrays = site_hour_arrays(d, lp, sol)
    lease_duals, site_duals, month_duals = duals_of(d, lp, sol)
    summary = summarize(
        d, lp, sol, parts, margin, arrays, lease_duals, site_duals, month_duals, scenario_name
    )
    f = lp.cols["f"].take(sol.x)
    n = installed_servers(d, lp, sol.x)
    T = d.hours
    v = np.zeros((len(d.gpu_names), T))
    v[lp.gpu_v] = lp.cols["v"].take(sol.x)
    w = np.zeros((len(d.gpu_names), T))
    w[lp.gpu_w] = lp.cols["w"].take(sol.x)
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
            "revenue_usd": d.gpu_revenue_usd.sum(axis=1) * f
            + (d.gpu_revenue_usd * v).sum(axis=1)
            - (d.gpu_pass_through[:, None] * d.price_usd_per_mwh[d.gpu_site] * w).sum(axis=1),
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
        seconds={},
        data=d,
        lp=lp,
        solution=sol,
    )
    plan.__dict__["arrays"] = arrays  # seed the cached property
    return plan
