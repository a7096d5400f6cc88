"""Money views of a plan: hourly USD by stream, monthly and per-site P&L, BTC mined, whole
GPU servers.

Every view is built from the plan's site-hour money
(:func:`optimizer.accounting.accounting_site_hours`) over the streams of
:data:`~optimizer.accounting.REVENUE_KEYS` and :data:`~optimizer.accounting.COST_KEYS`, so a
new stream shows up in every view, and every view adds up to the plan's totals: the hours of
``plan.csv``, the months of ``monthly.csv`` and the sites of ``sites.csv`` each sum to
``summary.json``'s ``margin_usd`` and streams. Costs are positive numbers, as in
``summary.json``; ``margin_usd`` is revenues minus costs.

Months are calendar months in UTC, the model's months (a monthly minimum take is per UTC
month). ``--tz`` adds a local-time column to the hourly views; it moves no hour between months.
"""

from __future__ import annotations

import dataclasses
import zoneinfo

import numpy as np
import pandas as pd

from models import ScenarioError
from optimizer.accounting import (
    COST_KEYS,
    REVENUE_KEYS,
    accounting_site_hours,
    installed_servers,
    mined_site_hours,
)
from optimizer.errors import InfeasibleError
from optimizer.plan import Plan, solve
from optimizer.summary import PlanSummary, WholeGpuClass, WholeServers

#: Money columns of every view, in order: revenues then costs [USD].
MONEY_KEYS = (*REVENUE_KEYS, *COST_KEYS)
#: Server counts within this of a whole number count as whole [servers].
WHOLE_TOL = 1e-6

#: Words for the money streams (a stream missing here is named from its key).
STREAM_LABELS = {
    "revenue_mining_usd": "Mining revenue (BTC)",
    "revenue_hosting_usd": "Hosting revenue (client ASICs)",
    "revenue_hpc_usd": "HPC revenue (GPU rent and sales)",
    "pass_through_usd": "Energy reimbursed by HPC tenants",
    "resale_credit_usd": "PPA resale credit",
    "energy_cost_usd": "Spot energy cost",
    "ppa_cost_usd": "PPA take-or-pay cost",
    "ppa_settlement_usd": "PPA negative-price settlement",
    "peak_charge_usd": "Coincident-peak charges",
    "conversion_cost_usd": "Hall conversion (annuity)",
    "gpu_capex_usd": "GPU capex (annuity)",
    "sla_penalty_usd": "SLA penalties",
    "shortfall_usd": "Minimum-take shortfall",
}


def stream_label(key: str) -> str:
    """Words for a money stream key (``revenue_mining_usd`` -> ``Mining revenue (BTC)``)."""
    if key in STREAM_LABELS:
        return STREAM_LABELS[key]
    words = key.removesuffix("_usd").replace("_", " ")
    return words[:1].upper() + words[1:]


def check_tz(tz: str | None) -> str | None:
    """``tz`` if it names an IANA time zone (``America/Chicago``), else a :class:`ScenarioError`."""
    if tz is None:
        return None
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ScenarioError(
            f"--tz {tz!r}: not a time zone; expected an IANA name such as America/Chicago, "
            "Europe/Berlin or UTC"
        ) from None
    return tz


# --------------------------------------------------------------------------- hourly


def hourly_money(plan: Plan) -> pd.DataFrame:
    """Per site-hour (the rows of :attr:`Plan.site_hours`, in order): every money stream
    [USD], ``margin_usd``, the own ASICs' ``hashrate_ths``, ``btc_mined`` (before the pool
    fee), ``btc_earned`` (after it), and the hour's ``btc_price_usd`` and
    ``hashprice_usd_per_ph_day``."""
    d = plan.data
    money = accounting_site_hours(d, plan.lp, plan.solution.x)
    mined = mined_site_hours(d, plan.lp, plan.solution.x)
    out = {k: money[k].ravel() for k in MONEY_KEYS}
    out["margin_usd"] = (
        sum((money[k] for k in REVENUE_KEYS), np.zeros((d.n_sites, d.hours)))
        - sum((money[k] for k in COST_KEYS), np.zeros((d.n_sites, d.hours)))
    ).ravel()
    for key in ("hashrate_ths", "btc_mined", "btc_earned"):
        out[key] = mined[key].ravel()
    out["btc_price_usd"] = np.tile(d.btc_price_usd, d.n_sites)
    out["hashprice_usd_per_ph_day"] = np.tile(d.hashprice_usd_per_ph_day, d.n_sites)
    return pd.DataFrame(out)


def plan_hours(plan: Plan, tz: str | None = None) -> pd.DataFrame:
    """``plan.csv``'s rows: :attr:`Plan.site_hours` with :func:`hourly_money`'s columns, and
    with ``tz`` a ``local_time`` column (the hour in that zone, with its UTC offset) after
    ``time``."""
    frame = pd.concat([plan.site_hours.reset_index(drop=True), hourly_money(plan)], axis=1)
    if check_tz(tz) is not None:
        frame.insert(2, "local_time", frame["time"].dt.tz_convert(tz))
    return frame


# --------------------------------------------------------------------------- monthly, sites


def monthly_pnl(summary: PlanSummary) -> pd.DataFrame:
    """One row per calendar month (UTC): hours, every stream, totals, margin, BTC, markets."""
    rows = []
    for month, m in summary.months.items():
        rows.append(
            {
                "month": month,
                "hours": m.hours,
                **{k: m.money.get(k, 0.0) for k in MONEY_KEYS},
                "revenue_total_usd": m.revenue_total_usd,
                "cost_total_usd": m.cost_total_usd,
                "margin_usd": m.margin_usd,
                "btc_mined": m.btc_mined,
                "btc_earned": m.btc_earned,
                "mean_hashrate_ths": m.mean_hashrate_ths,
                "mean_hashprice_usd_per_ph_day": m.mean_hashprice_usd_per_ph_day,
                "mean_btc_price_usd": m.mean_btc_price_usd,
                "mean_price_usd_per_mwh": m.mean_price_usd_per_mwh,
                "mining_mwh": m.mining_mwh,
                "hpc_mwh": m.hpc_mwh,
                "curtailed_mwh": m.curtailed_mwh,
            }
        )
    return pd.DataFrame(rows)


def site_pnl(summary: PlanSummary) -> pd.DataFrame:
    """One row per site: every stream, totals, margin, MW converted, energy and BTC."""
    rows = []
    for name, s in summary.sites.items():
        money = {k: getattr(s, k) for k in MONEY_KEYS}
        rows.append(
            {
                "site": name,
                **money,
                "revenue_total_usd": sum(money[k] for k in REVENUE_KEYS),
                "cost_total_usd": sum(money[k] for k in COST_KEYS),
                "margin_usd": s.margin_usd,
                "converted_mw": s.converted_mw,
                "conversion_capex_usd": s.conversion_capex_usd,
                "mining_mwh": s.mining_mwh,
                "hpc_mwh": s.hpc_mwh,
                "curtailed_mwh": s.curtailed_mwh,
                "hours_curtailed": s.hours_curtailed,
                "btc_mined": s.btc_mined,
                "btc_earned": s.btc_earned,
                "mining_hall_value_usd_per_mw": s.mining_hall_value_usd_per_mw,
                "hpc_hall_value_usd_per_mw": s.hpc_hall_value_usd_per_mw,
                "conversion_value_usd_per_mw": s.conversion_value_usd_per_mw,
            }
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- whole servers


def _rounded(plan: Plan, how: str) -> tuple[np.ndarray, np.ndarray]:
    """Whole firm and installed servers per GPU class: ``nearest`` (then nudged into every
    lease's firm MW range), ``up`` or ``down``."""
    d = plan.data
    x = plan.solution.x
    f = plan.lp.cols["f"].take(x)
    n = plan.lp.cols["n"].take(x)
    step = {"nearest": np.round, "up": np.ceil, "down": np.floor}[how]
    fw = step(np.where(np.abs(f - np.round(f)) <= WHOLE_TOL, np.round(f), f))
    if how == "nearest":
        for i, members in enumerate(d.lease_members):
            it = d.gpu_it_mw[members]
            for k in members[np.argsort(-it)]:  # biggest servers first
                firm = float(it @ fw[members])
                if firm < d.lease_min_mw[i] - WHOLE_TOL and fw[k] < f[k]:
                    fw[k] = np.ceil(f[k])
                elif firm > d.lease_max_mw[i] + WHOLE_TOL and fw[k] > f[k]:
                    fw[k] = np.floor(f[k])
    nw = np.maximum(step(np.where(np.abs(n - np.round(n)) <= WHOLE_TOL, np.round(n), n)), fw)
    return fw, np.minimum(nw, d.gpu_max_servers)


def whole_servers(plan: Plan) -> WholeServers:
    """The plan with whole GPU servers and the margin effect of rounding.

    The firm servers of each class and the installed servers of classes with capex are
    rounded (to the nearest whole server, nudged so every lease stays inside its firm MW
    range; then all up; then all down) and fixed, and the LP is solved again for the rest
    (hours, interruptible servers, MW converted) with the plan's method and backend. No solve when the
    LP's counts are whole already.
    """
    d, lp, x = plan.data, plan.lp, plan.solution.x
    f = lp.cols["f"].take(x)
    n_lp = installed_servers(d, lp, x)
    n_col = lp.cols["n"].take(x)
    v = np.zeros((len(d.gpu_names), d.hours))
    v[lp.gpu_v] = lp.cols["v"].take(x)
    owned = d.gpu_capex_usd_per_hour > 0

    def table(fw, nw, vw) -> dict[str, WholeGpuClass]:
        """Per class; ``fw is None``: no whole-server plan (whole counts None)."""
        if fw is not None:
            busiest = fw + vw.max(axis=1, initial=0.0)
            installed = np.where(owned, nw, np.ceil(busiest - WHOLE_TOL))
        return {
            name: WholeGpuClass(
                firm_lp=float(f[k]),
                firm=None if fw is None else round(fw[k]),
                installed_lp=float(n_lp[k]),
                installed=None if fw is None else round(installed[k]),
                interruptible_mean=float(vw[k].mean()) if d.hours else 0.0,
            )
            for k, name in enumerate(d.gpu_names)
        }

    whole = np.abs(f - np.round(f)) <= WHOLE_TOL
    whole &= ~owned | (np.abs(n_col - np.round(n_col)) <= WHOLE_TOL)
    if whole.all():
        return WholeServers("whole", plan.objective_usd, 0.0, table(np.round(f), n_col, v))
    fcol, ncol = lp.cols["f"], lp.cols["n"]
    for how in ("nearest", "up", "down"):
        fw, nw = _rounded(plan, how)
        lower, upper = lp.col_lower.copy(), lp.col_upper.copy()
        lower[fcol.start : fcol.stop] = upper[fcol.start : fcol.stop] = fw
        nids = np.arange(ncol.start, ncol.stop)[owned]
        lower[nids] = upper[nids] = nw[owned]
        if (lower > upper).any():
            continue
        fixed = dataclasses.replace(lp, col_lower=lower, col_upper=upper)
        try:  # the plan's own method: the decomposition fixes (f, n) in its master
            sol = solve(
                d,
                fixed,
                method=plan.summary.method,
                backend=plan.backend,
                basis=plan.solution.basis,  # the plan's own basis: a few iterations away
            )
        except InfeasibleError:
            continue
        if sol.x is None:
            continue
        vw = np.zeros_like(v)
        vw[lp.gpu_v] = lp.cols["v"].take(sol.x)
        margin = -float(sol.objective)
        return WholeServers(sol.status, margin, margin - plan.objective_usd, table(fw, nw, vw))
    return WholeServers("none", None, None, table(None, None, v))


def add_whole_servers(plan: Plan) -> PlanSummary:
    """Fill ``plan.summary.whole_servers`` (once; :func:`whole_servers`) and return the
    summary. Plans without GPU classes get an empty ``"whole"`` entry."""
    if plan.summary.whole_servers is None:
        if len(plan.data.gpu_names):
            ws = whole_servers(plan)
        else:
            ws = WholeServers("whole", plan.objective_usd, 0.0, {})
        plan.summary = dataclasses.replace(plan.summary, whole_servers=ws)
    return plan.summary


def gpu_table(plan: Plan) -> pd.DataFrame:
    """``gpus.csv``: :attr:`Plan.gpu` with the whole-server counts (``firm_whole``,
    ``installed_whole``) when :func:`add_whole_servers` has run."""
    frame = plan.gpu.copy()
    ws = plan.summary.whole_servers
    if ws is not None and ws.classes and ws.status != "none":
        frame.insert(
            frame.columns.get_loc("installed") + 1,
            "installed_whole",
            [ws.classes[k].installed for k in frame["gpu_class"]],
        )
        frame.insert(
            frame.columns.get_loc("firm") + 1,
            "firm_whole",
            [ws.classes[k].firm for k in frame["gpu_class"]],
        )
    return frame
