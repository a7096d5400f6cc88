"""The typed summary of a plan (``summary.json``): money by stream, energy, power, duals.

:class:`PlanSummary` is built once, by :func:`summarize`, and turned into JSON once, by
:meth:`PlanSummary.to_dict`. Money [USD], energy [MWh], power [MW], time [h]; the money items
and the accounting identity are those of docs/model.md §5.6.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from models.finance import capital_recovery_factor
from optimizer.accounting import (
    COST_KEYS,
    REVENUE_KEYS,
    accounting_site_hours,
    ancillary_by_offer,
    economic,
    installed_servers,
    mined_site_hours,
)
from optimizer.lp.backends import Solution
from optimizer.lp.data import LpData
from optimizer.lp.model import Lp
from optimizer.timings import Timings

#: Curtailed MW below this do not make an hour count as curtailed [MW].
CURTAILED_MW_TOL = 1e-3


@dataclass(frozen=True)
class SiteSummary:
    """One site: its P&L, MW converted, energy by use, curtailment, and the value of its halls.

    Money streams as in :class:`PlanSummary` [USD]; ``margin_usd`` is their signed sum and the
    sites add up to the plan's totals. ``conversion_usd_per_it_mw``: ``conversion_usd_per_mw``
    (per MW of hall, cooling included) times the hall MW one MW of GPU IT load needs in its
    worst hour (``max Eg / Eg_it`` over the site's GPU classes) [USD per IT MW];
    ``conversion_capex_usd`` = converted MW x ``conversion_usd_per_mw``.
    ``*_value_usd_per_mw`` are the duals of the mining hall, HPC hall and conversion bound with
    the economic sign (value of one more MW over the horizon) or ``None`` without duals.
    ``btc_mined`` / ``btc_earned``: BTC of the site's own ASICs before / after the pool fee.
    """

    margin_usd: float
    revenue_mining_usd: float
    revenue_hosting_usd: float
    revenue_hpc_usd: float
    pass_through_usd: float
    resale_credit_usd: float
    energy_cost_usd: float
    ppa_cost_usd: float
    ppa_settlement_usd: float
    peak_charge_usd: float
    conversion_cost_usd: float
    gpu_capex_usd: float
    sla_penalty_usd: float
    shortfall_usd: float
    revenue_ancillary_usd: float
    ancillary_deployment_usd: float
    conversion_usd_per_it_mw: float | None
    conversion_capex_usd: float
    converted_mw: float
    mining_mwh: float
    hpc_mwh: float
    curtailed_mwh: float
    hours_curtailed: int
    btc_mined: float
    btc_earned: float
    mining_hall_value_usd_per_mw: float | None
    hpc_hall_value_usd_per_mw: float | None
    conversion_value_usd_per_mw: float | None


@dataclass(frozen=True)
class MonthSummary:
    """One calendar month (UTC, the model's months) of the horizon: P&L by stream, BTC, markets.

    ``money`` holds every stream of :data:`~optimizer.accounting.REVENUE_KEYS` and
    :data:`~optimizer.accounting.COST_KEYS` for the month [USD]; ``margin_usd`` is their signed
    sum, and the months add up to the plan's totals. Annuities accrue evenly by the hour, a
    month's minimum-take shortfall falls in its own month. ``btc_mined``: BTC of the own ASICs
    that ran, ``sum_t hashrate_ths x btc_per_th_hour`` (before the pool fee); ``btc_earned``:
    after the pool fee (``revenue_mining_usd`` at each hour's BTC price). Means are over the
    month's hours in the horizon (prices: over sites too); ``site_margin_usd``: margin by site.
    """

    hours: int
    margin_usd: float
    revenue_total_usd: float
    cost_total_usd: float
    money: dict[str, float]
    btc_mined: float
    btc_earned: float
    mean_hashrate_ths: float
    mean_hashprice_usd_per_ph_day: float
    mean_btc_price_usd: float
    mean_price_usd_per_mwh: float
    mining_mwh: float
    hpc_mwh: float
    curtailed_mwh: float
    site_margin_usd: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        """The month as a flat JSON object: the streams sit next to ``margin_usd``."""
        out = dataclasses.asdict(self)
        money = out.pop("money")
        first = {k: out.pop(k) for k in ("hours", "margin_usd")}
        return {**first, **money, **out}


@dataclass(frozen=True)
class WholeGpuClass:
    """One GPU class in whole servers next to the LP's (fractional) counts [servers]; the whole
    counts are None where no whole-server plan was found."""

    firm_lp: float
    firm: int | None
    installed_lp: float
    installed: int | None
    interruptible_mean: float


@dataclass(frozen=True)
class WholeServers:
    """The plan with whole GPU servers: firm and installed counts rounded, the rest re-solved.

    ``status``: ``"whole"`` (the LP's counts were whole already: no solve), ``"optimal"`` (the
    plan solved again around the rounded counts) or ``"none"`` (no whole-server plan next to
    the LP's, e.g. a lease whose minimum and maximum sit inside one server: the LP's plan
    stands; ``margin_usd`` and the whole counts are None). ``margin_effect_usd`` = ``margin_usd`` minus the LP's
    margin (<= 0 up to solver tolerance) [USD]. Interruptible servers stay hourly averages
    (server-hours per hour).
    """

    status: str
    margin_usd: float | None
    margin_effect_usd: float | None
    classes: dict[str, WholeGpuClass]


@dataclass(frozen=True)
class AncillarySummary:
    """One ancillary product over all its offers (docs/model.md §5.4.14).

    ``revenue_usd``: clearing price x MW reserved; ``deployment_usd``: expected deployment
    cost; ``reserved_mwh``: MW reserved summed over hours [MW-h]; ``mean_reserved_mw`` and
    ``max_reserved_mw`` over hours [MW]; ``mean_price_usd_per_mw_hour``: the price earned per
    MW-h reserved (revenue / reserved, ``None`` when nothing is reserved).
    """

    revenue_usd: float
    deployment_usd: float
    reserved_mwh: float
    mean_reserved_mw: float
    max_reserved_mw: float
    mean_price_usd_per_mw_hour: float | None


@dataclass(frozen=True)
class LeaseSummary:
    """One lease: firm IT MW signed and the duals of its minimum and maximum [USD/MW]."""

    firm_it_mw: float
    min_cost_usd_per_mw: float | None
    max_value_usd_per_mw: float | None


@dataclass(frozen=True)
class PlanSummary:
    """Totals of a plan.

    Solve: ``method`` is the method that ran (``decomposed`` or ``monolithic``; with
    ``--method auto`` the decomposition wherever it covers the scenario), ``method_note`` why
    ``auto`` fell back to the monolithic LP, ``gap`` the decomposition's proven relative gap
    (docs/model.md §5.8; None for the monolithic LP).

    Money: ``margin_usd`` = ``revenue_mining_usd`` (own ASICs, BTC after pool fee) +
    ``revenue_hosting_usd`` (client ASICs) + ``revenue_hpc_usd`` (GPU rent and cloud sales) +
    ``pass_through_usd`` (tenants' energy reimbursement of the firm and interruptible energy
    served) + ``resale_credit_usd`` - ``energy_cost_usd`` (spot purchases; negative when the
    grid pays) - ``ppa_cost_usd`` (take-or-pay block) - ``ppa_settlement_usd`` (unused block
    settled at a negative spot price) - ``peak_charge_usd`` - ``conversion_cost_usd`` -
    ``gpu_capex_usd`` (both annuities at ``discount_rate``) - ``sla_penalty_usd`` -
    ``shortfall_usd`` (monthly minimum take) + ``revenue_ancillary_usd`` (AS clearing price x
    MW reserved) - ``ancillary_deployment_usd`` (their expected deployment cost; per product
    in ``ancillary``), checked against the LP objective
    (``objective_usd``). Capital: ``capex_usd`` is the capex the plan commits (converted MW x
    ``conversion_usd_per_mw`` + installed owned servers x price), equal to the net present value
    at ``discount_rate`` of ``capex_annuity_usd_per_year`` over each asset's life. Energy: ``mining_mwh`` counts every ASIC, own and hosted
    (``hosting_mwh`` is the hosted part); ``hpc_mwh`` firm served + interruptible.
    ``hours_curtailed``: hours in which some mining MW the halls could run is off, by order or
    by choice; ``hours_curtailment_orders``: hours with an order at any site. Duals are
    ``None`` where the backend gives none. BTC: ``btc_mined`` (own ASICs, before the pool fee)
    and ``btc_earned`` (after it). ``sites`` and ``months`` hold the P&L by stream per site
    and per calendar month (UTC); each adds up to the totals. ``whole_servers``: the GPU
    servers in whole numbers and the margin effect of rounding (filled by the report, None
    until then). ``seconds``: stage times, filled as stages end.
    """

    scenario: str
    status: str
    backend: str
    solver: str
    method: str
    method_note: str
    gap: float | None
    margin_usd: float
    objective_usd: float
    revenue_mining_usd: float
    revenue_hosting_usd: float
    revenue_hpc_usd: float
    pass_through_usd: float
    resale_credit_usd: float
    energy_cost_usd: float
    ppa_cost_usd: float
    ppa_settlement_usd: float
    peak_charge_usd: float
    conversion_cost_usd: float
    gpu_capex_usd: float
    sla_penalty_usd: float
    shortfall_usd: float
    revenue_ancillary_usd: float
    ancillary_deployment_usd: float
    revenue_total_usd: float
    discount_rate: float
    capex_usd: float
    capex_annuity_usd_per_year: float
    cost_total_usd: float
    hpc_mw_converted: float
    gpu_servers_firm: float
    gpu_servers_installed: float
    gpu_servers_interruptible_mean: float
    firm_it_mw: float
    mining_mwh: float
    hosting_mwh: float
    hpc_mwh: float
    hpc_firm_mwh: float
    hpc_interruptible_mwh: float
    firm_shortfall_mwh: float
    curtailed_mwh: float
    hours_curtailed: int
    hours_curtailment_orders: int
    load_mwh: float
    grid_mwh: float
    ppa_mwh: float
    ppa_resold_mwh: float
    ppa_spilled_mwh: float
    min_take_shortfall_mwh: float
    mean_mining_mw: float
    mean_hpc_firm_mw: float
    mean_hpc_interruptible_mw: float
    mean_curtailed_mw: float
    mean_hashprice_usd_per_ph_day: float
    mean_price_usd_per_mwh: float
    import_value_mean_usd_per_mwh: float | None
    import_value_max_usd_per_mwh: float | None
    hours: int
    btc_mined: float
    btc_earned: float
    sites: dict[str, SiteSummary]
    months: dict[str, MonthSummary]
    leases: dict[str, LeaseSummary]
    hosted_uptime_cost_usd_per_hour: dict[str, float | None]
    min_take_cost_usd_per_mwh: dict[str, float | None]
    ancillary: dict[str, AncillarySummary] = dataclasses.field(default_factory=dict)
    seconds: Timings = dataclasses.field(default_factory=Timings, compare=False)
    whole_servers: WholeServers | None = None

    def money(self) -> dict[str, float]:
        """The revenue and cost items whose signed sum is the margin [USD]."""
        return {k: getattr(self, k) for k in (*REVENUE_KEYS, *COST_KEYS)}

    def numbers(self) -> dict[str, float]:
        """Every top-level numeric figure (no names, no nested tables, no times)."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                out[f.name] = float(value)
        return out

    def to_dict(self) -> dict[str, Any]:
        """The ``summary.json`` object (``seconds`` last, with ``total``)."""
        out = {
            f.name: dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v
            for f in dataclasses.fields(self)
            if f.name != "seconds"
            for v in [getattr(self, f.name)]
        }
        out["sites"] = {k: dataclasses.asdict(v) for k, v in self.sites.items()}
        out["months"] = {k: v.to_dict() for k, v in self.months.items()}
        out["leases"] = {k: dataclasses.asdict(v) for k, v in self.leases.items()}
        out.pop("whole_servers")
        if self.whole_servers is not None:
            out["whole_servers"] = dataclasses.asdict(self.whole_servers)
        out["ancillary"] = {k: dataclasses.asdict(v) for k, v in self.ancillary.items()}
        out["seconds"] = self.seconds.as_dict()
        return out


def json_number(value: float) -> float | None:
    """A float, or ``None`` for NaN/inf (no duals)."""
    value = float(value)
    return None if not np.isfinite(value) else value


def summarize(
    d: LpData,
    lp: Lp,
    sol: Solution,
    parts: dict[str, float],
    site_parts: dict[str, np.ndarray],
    margin: float,
    arrays: dict[str, np.ndarray],
    lease_duals: pd.DataFrame,
    site_duals: pd.DataFrame,
    month_duals: pd.DataFrame,
    scenario_name: str,
    timings: Timings,
    money_hours: dict[str, np.ndarray] | None = None,
) -> PlanSummary:
    """Build the :class:`PlanSummary` of a solved LP (see the class for each figure).

    ``money_hours``: :func:`~optimizer.accounting.accounting_site_hours` of the solution,
    when already computed.
    """
    x = sol.x
    if money_hours is None:
        money_hours = accounting_site_hours(d, lp, x)
    mined = mined_site_hours(d, lp, x)
    T = d.hours
    f = lp.cols["f"].take(x)
    n = installed_servers(d, lp, x)
    v = lp.cols["v"].take(x)
    y = lp.cols["y"].take(x)
    curtailed = arrays["curtailed_mw"]
    imp = arrays["import_value_usd_per_mwh"]
    uptime = economic(sol.row_dual, lp.rows["uptime"], 1.0)
    has_duals = sol.row_dual is not None
    hpc = arrays["hpc_firm_mw"] + arrays["hpc_interruptible_mw"]

    def mean(a: np.ndarray) -> float:
        return float(a.sum(axis=0).mean()) if a.size else 0.0

    conversion_capex = d.conversion_usd_per_mw * y
    server_capex = d.gpu_capex_usd_per_server * n
    crf_hall = np.array(
        [capital_recovery_factor(d.discount_rate, n_y) for n_y in d.conversion_life_years]
    )
    crf_server = np.array(
        [capital_recovery_factor(d.discount_rate, n_y) for n_y in d.gpu_life_years]
    )
    annuity_total = float(conversion_capex @ crf_hall + server_capex @ crf_server)
    site_margin = sum(site_parts[k] for k in REVENUE_KEYS) - sum(site_parts[k] for k in COST_KEYS)
    with np.errstate(divide="ignore", invalid="ignore"):
        hall_per_it = np.where(
            d.gpu_it_mw[:, None] > 0, d.gpu_energy_mwh / d.gpu_it_mw[:, None], np.nan
        )
    sites = {
        name: SiteSummary(
            margin_usd=float(site_margin[s]),
            **{k: float(site_parts[k][s]) for k in (*REVENUE_KEYS, *COST_KEYS)},
            conversion_usd_per_it_mw=json_number(
                d.conversion_usd_per_mw[s] * np.nanmax(hall_per_it[d.gpu_site == s])
                if (d.gpu_site == s).any() and np.isfinite(hall_per_it[d.gpu_site == s]).any()
                else np.nan
            ),
            conversion_capex_usd=float(conversion_capex[s]),
            converted_mw=float(y[s]),
            mining_mwh=float(arrays["mining_mw"][s].sum()),
            hpc_mwh=float(hpc[s].sum()),
            curtailed_mwh=float(curtailed[s].sum()),
            hours_curtailed=int((curtailed[s] > CURTAILED_MW_TOL).sum()),
            btc_mined=float(mined["btc_mined"][s].sum()),
            btc_earned=float(mined["btc_earned"][s].sum()),
            mining_hall_value_usd_per_mw=json_number(
                site_duals["mining_hall_value_usd_per_mw"].iloc[s]
            ),
            hpc_hall_value_usd_per_mw=json_number(site_duals["hpc_hall_value_usd_per_mw"].iloc[s]),
            conversion_value_usd_per_mw=json_number(
                site_duals["conversion_value_usd_per_mw"].iloc[s]
            ),
        )
        for s, name in enumerate(d.site_names)
    }
    leases = {
        row.lease: LeaseSummary(
            firm_it_mw=float(d.gpu_it_mw[d.lease_members[i]] @ f[d.lease_members[i]]),
            min_cost_usd_per_mw=json_number(row.min_cost_usd_per_mw),
            max_value_usd_per_mw=json_number(row.max_value_usd_per_mw),
        )
        for i, row in enumerate(lease_duals.itertuples())
    }
    return PlanSummary(
        scenario=scenario_name,
        status=sol.status,
        backend=sol.backend,
        solver=sol.solver,
        method=sol.method,
        method_note=sol.note,
        gap=sol.gap,
        margin_usd=margin,
        objective_usd=-sol.objective,
        **parts,
        revenue_total_usd=sum(parts[k] for k in REVENUE_KEYS),
        cost_total_usd=sum(parts[k] for k in COST_KEYS),
        discount_rate=d.discount_rate,
        capex_usd=float(conversion_capex.sum() + server_capex.sum()),
        capex_annuity_usd_per_year=annuity_total,
        hpc_mw_converted=float(y.sum()),
        gpu_servers_firm=float(f.sum()),
        gpu_servers_installed=float(n.sum()),
        gpu_servers_interruptible_mean=float(v.sum(axis=0).mean()) if v.size else 0.0,
        firm_it_mw=float(d.gpu_it_mw @ f),
        mining_mwh=float(arrays["mining_mw"].sum()),
        hosting_mwh=float(arrays["hosted_asic_mw"].sum()),
        hpc_mwh=float(hpc.sum()),
        hpc_firm_mwh=float(arrays["hpc_firm_mw"].sum()),
        hpc_interruptible_mwh=float(arrays["hpc_interruptible_mw"].sum()),
        firm_shortfall_mwh=float(arrays["firm_shortfall_mwh"].sum()),
        curtailed_mwh=float(curtailed.sum()),
        hours_curtailed=int((curtailed > CURTAILED_MW_TOL).any(axis=0).sum()),
        hours_curtailment_orders=int(d.curtailed.any(axis=0).sum()),
        load_mwh=float(arrays["load_mw"].sum()),
        grid_mwh=float(arrays["grid_mwh"].sum()),
        ppa_mwh=float(d.ppa_block_mw.sum()),
        ppa_resold_mwh=float(arrays["ppa_resold_mwh"].sum()),
        ppa_spilled_mwh=float(arrays["ppa_spilled_mwh"].sum()),
        min_take_shortfall_mwh=float(lp.cols["z"].take(x).sum()),
        mean_mining_mw=mean(arrays["mining_mw"]),
        mean_hpc_firm_mw=mean(arrays["hpc_firm_mw"]),
        mean_hpc_interruptible_mw=mean(arrays["hpc_interruptible_mw"]),
        mean_curtailed_mw=mean(curtailed),
        mean_hashprice_usd_per_ph_day=float(d.hashprice_usd_per_ph_day.mean()),
        mean_price_usd_per_mwh=float(d.price_usd_per_mwh.mean()),
        import_value_mean_usd_per_mwh=float(np.mean(imp)) if has_duals else None,
        import_value_max_usd_per_mwh=float(np.max(imp)) if has_duals and imp.size else None,
        hours=T,
        btc_mined=float(mined["btc_mined"].sum()),
        btc_earned=float(mined["btc_earned"].sum()),
        sites=sites,
        months=month_summaries(d, money_hours, mined, arrays),
        leases=leases,
        hosted_uptime_cost_usd_per_hour={
            d.class_names[c]: json_number(uptime[i]) for i, c in enumerate(lp.hosted_classes)
        },
        min_take_cost_usd_per_mwh={
            f"{r.site}:{r.month}": json_number(r.min_take_cost_usd_per_mwh)
            for r in month_duals.itertuples()
        },
        ancillary=ancillary_summary(d, lp, x),
        seconds=timings,
    )


def month_summaries(
    d: LpData,
    money_hours: dict[str, np.ndarray],
    mined: dict[str, np.ndarray],
    arrays: dict[str, np.ndarray],
) -> dict[str, MonthSummary]:
    """Per calendar month (UTC), ``"YYYY-MM"`` -> :class:`MonthSummary`, from the site-hour
    money (:func:`~optimizer.accounting.accounting_site_hours`), BTC
    (:func:`~optimizer.accounting.mined_site_hours`) and energy arrays."""
    mu = d.month_of_hour
    n = int(mu.max()) + 1 if len(mu) else 0
    hours = np.bincount(mu, minlength=n)

    first = np.searchsorted(mu, np.arange(n))  # hours run in order: a month is a slice

    def monthly(a: np.ndarray) -> np.ndarray:  # [S, T] -> [S, Mu]
        return np.add.reduceat(a, first, axis=1) if n else np.zeros((a.shape[0], 0))

    def hourly_mean(a: np.ndarray) -> np.ndarray:  # [T] -> [Mu]
        return np.bincount(mu, weights=a, minlength=n) / np.maximum(hours, 1)

    money = {k: monthly(money_hours[k]) for k in (*REVENUE_KEYS, *COST_KEYS)}
    revenue = sum((money[k] for k in REVENUE_KEYS), np.zeros((d.n_sites, n)))
    cost = sum((money[k] for k in COST_KEYS), np.zeros((d.n_sites, n)))
    site_margin = revenue - cost
    btc_mined = monthly(mined["btc_mined"]).sum(axis=0)
    btc_earned = monthly(mined["btc_earned"]).sum(axis=0)
    hashrate = hourly_mean(mined["hashrate_ths"].sum(axis=0))
    hashprice = hourly_mean(d.hashprice_usd_per_ph_day)
    btc_price = hourly_mean(d.btc_price_usd)
    price = hourly_mean(d.price_usd_per_mwh.mean(axis=0)) if d.n_sites else np.zeros(n)
    mining = monthly(arrays["mining_mw"]).sum(axis=0)
    hpc = monthly(arrays["hpc_firm_mw"] + arrays["hpc_interruptible_mw"]).sum(axis=0)
    curtailed = monthly(arrays["curtailed_mw"]).sum(axis=0)
    starts = d.index[first] if n else []
    return {
        start.strftime("%Y-%m"): MonthSummary(
            hours=int(hours[m]),
            margin_usd=float(site_margin[:, m].sum()),
            revenue_total_usd=float(revenue[:, m].sum()),
            cost_total_usd=float(cost[:, m].sum()),
            money={k: float(v[:, m].sum()) for k, v in money.items()},
            btc_mined=float(btc_mined[m]),
            btc_earned=float(btc_earned[m]),
            mean_hashrate_ths=float(hashrate[m]),
            mean_hashprice_usd_per_ph_day=float(hashprice[m]),
            mean_btc_price_usd=float(btc_price[m]),
            mean_price_usd_per_mwh=float(price[m]),
            mining_mwh=float(mining[m]),
            hpc_mwh=float(hpc[m]),
            curtailed_mwh=float(curtailed[m]),
            site_margin_usd={name: float(site_margin[i, m]) for i, name in enumerate(d.site_names)},
        )
        for m, start in enumerate(starts)
    }


def ancillary_summary(d: LpData, lp: Lp, x: np.ndarray) -> dict[str, AncillarySummary]:
    """Per ancillary product, in the order the offers name them (empty without offers)."""
    mw, revenue, deployment = ancillary_by_offer(d, lp, x)
    out = {}
    for product in dict.fromkeys(d.ancillary_products):
        mine = np.array([p == product for p in d.ancillary_products])
        hourly = mw[mine].sum(axis=0)
        reserved = float(hourly.sum())
        out[product] = AncillarySummary(
            revenue_usd=float(revenue[mine].sum()),
            deployment_usd=float(deployment[mine].sum()),
            reserved_mwh=reserved,
            mean_reserved_mw=float(hourly.mean()) if hourly.size else 0.0,
            max_reserved_mw=float(hourly.max(initial=0.0)),
            mean_price_usd_per_mw_hour=float(revenue[mine].sum()) / reserved
            if reserved > 1e-9
            else None,
        )
    return out
