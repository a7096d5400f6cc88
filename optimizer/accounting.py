"""Money and energy of a solved LP, read back by name (docs/model.md §5.6).

Every figure a plan reports is computed here once: the site-hour arrays, the GPU revenue of each
class, installed servers, the money streams whose signed sum is the margin, and the check of that
sum against the LP objective (the accounting identity).
"""

from __future__ import annotations

import numpy as np

from optimizer.errors import SolverError
from optimizer.lp.backends import Solution
from optimizer.lp.data import LpData, ancillary_pairs
from optimizer.lp.model import Lp

#: Relative tolerance of the accounting identity (margin == sum of parts == LP objective).
ACCOUNTING_RTOL = 1e-7

#: The summary's money items: revenues (+) and costs (-) whose sum is the margin.
REVENUE_KEYS = (
    "revenue_mining_usd",
    "revenue_hosting_usd",
    "revenue_hpc_usd",
    "pass_through_usd",
    "resale_credit_usd",
    "revenue_ancillary_usd",
)
COST_KEYS = (
    "energy_cost_usd",
    "ppa_cost_usd",
    "ppa_settlement_usd",
    "peak_charge_usd",
    "conversion_cost_usd",
    "gpu_capex_usd",
    "sla_penalty_usd",
    "shortfall_usd",
    "ancillary_deployment_usd",
)


def by_site(values: np.ndarray, site: np.ndarray, n_sites: int) -> np.ndarray:
    """Sum rows of ``values [N, T]`` into their sites: ``[S, T]``."""
    out = np.zeros((n_sites, values.shape[1] if values.ndim == 2 else 0))
    if len(site):
        np.add.at(out, site, values)
    return out


def economic(dual: np.ndarray | None, block, sign: float) -> np.ndarray:
    """A block of row duals with the economic sign; NaN when the backend gave no duals."""
    if dual is None:
        return np.full(block.shape, np.nan)
    out = sign * block.take(dual)
    return np.where(np.abs(out) < 1e-12, 0.0, out)  # no "-0.0" in reports


def gpu_servers(d: LpData, lp: Lp, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Firm servers ``f[K]``, interruptible servers ``v[K, T]`` and firm shortfall ``w[K, T]``
    [MWh] of every GPU class (zeros for classes without such columns)."""
    T = d.hours
    K = len(d.gpu_names)
    v = np.zeros((K, T))
    v[lp.gpu_v] = lp.cols["v"].take(x)
    w = np.zeros((K, T))
    w[lp.gpu_w] = lp.cols["w"].take(x)
    return lp.cols["f"].take(x), v, w


def gpu_revenue_usd(d: LpData, f: np.ndarray, v: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Hourly revenue of each GPU class [USD], ``float64[K, T]`` (docs/model.md §3.5).

    ``Rf f + Rv v - pt w``: rent, cloud sales and pass-through reimbursements of the servers
    that run, less the reimbursement ``pt`` of firm energy not served.
    """
    return d.gpu_revenue_usd * (f[:, None] + v) - d.gpu_pass_through_usd_per_mwh * w


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


def class_energy_mwh(d: LpData, lp: Lp, x: np.ndarray) -> np.ndarray:
    """Energy of each ASIC class in each hour, nameplate and operating points [MWh], ``[C, T]``."""
    out = d.energy_mwh * lp.cols["u"].take(x)
    np.add.at(out, d.point_class, d.point_energy_mwh * lp.cols["up"].take(x))
    return out


def class_revenue_usd(d: LpData, lp: Lp, x: np.ndarray) -> np.ndarray:
    """Revenue of each ASIC class in each hour, nameplate and operating points [USD], ``[C, T]``."""
    out = d.revenue_usd * lp.cols["u"].take(x)
    np.add.at(out, d.point_class, d.point_revenue_usd * lp.cols["up"].take(x))
    return out


def ancillary_hours(d: LpData, lp: Lp, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per ancillary offer and hour: MW reserved, revenue and expected deployment cost [USD],
    ``[J, T]`` each (docs/model.md §5.4.14)."""
    pairs = ancillary_pairs(d)
    a = lp.cols["a"].take(x)
    shape = (d.n_ancillary, d.hours)
    mw, revenue, deployment = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    np.add.at(mw, pairs.offer, a)
    np.add.at(revenue, pairs.offer, d.ancillary_price_usd_per_mw_hour[pairs.offer] * a)
    cost = d.ancillary_deployment_share[pairs.offer, None] * pairs.margin_usd_per_mwh * a
    np.add.at(deployment, pairs.offer, cost)
    return mw, revenue, deployment


def ancillary_by_offer(
    d: LpData, lp: Lp, x: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per ancillary offer: MW reserved ``[J, T]``, revenue ``[J]`` and expected deployment
    cost ``[J]`` [USD] (docs/model.md §5.4.14)."""
    mw, revenue, deployment = ancillary_hours(d, lp, x)
    return mw, revenue.sum(axis=1), deployment.sum(axis=1)


def ancillary_by_product(d: LpData, values: np.ndarray) -> dict[str, np.ndarray]:
    """Rows of ``values [J, ...]`` summed per product into its offers' sites: ``[S, ...]`` each."""
    out = {}
    for product in dict.fromkeys(d.ancillary_products):
        mine = np.array([p == product for p in d.ancillary_products])
        total = np.zeros((d.n_sites, *values.shape[1:]))
        np.add.at(total, d.ancillary_site[mine], values[mine])
        out[product] = total
    return out


def site_hour_arrays(d: LpData, lp: Lp, sol: Solution) -> dict[str, np.ndarray]:
    """Site-hour quantities of a solution, shape ``[S, T]`` [MW = MWh per hour].

    With ancillary offers, ``as_<product>_mw`` holds the MW reserved per product (lower case,
    e.g. ``as_ecrs_mw``).
    """
    S = d.n_sites
    x = sol.x
    f = lp.cols["f"].take(x)
    y = lp.cols["y"].take(x)
    q = lp.cols["q"].take(x)
    mining = class_energy_mwh(d, lp, x)
    firm = by_site(d.gpu_energy_mwh * f[:, None], d.gpu_site, S)
    short = by_site(lp.cols["w"].take(x), d.gpu_site[lp.gpu_w], S)
    inter = by_site(d.gpu_energy_mwh[lp.gpu_v] * lp.cols["v"].take(x), d.gpu_site[lp.gpu_v], S)
    mining_mw = by_site(mining, d.class_site, S)
    hall_room = np.maximum(d.mining_hall_mw - y, 0.0)[:, None]
    # at nameplate: running underclocked counts as curtailed, overclocked as not
    available = np.minimum(by_site(d.energy_mwh, d.class_site, S), hall_room)
    resale_pays = (d.resale_factor[:, None] > 0) & (d.price_usd_per_mwh > 0)
    resale_pays |= d.settlement_usd_per_mwh > 0  # settled at a negative spot price
    reserved = ancillary_by_product(d, ancillary_by_offer(d, lp, x)[0])
    return {
        **{f"as_{p.lower()}_mw": mw for p, mw in reserved.items()},
        "mining_mw": mining_mw,
        "hosted_asic_mw": by_site(mining[d.class_hosted], d.class_site[d.class_hosted], S),
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
        "import_value_usd_per_mwh": economic(sol.row_dual, lp.rows["import"], -1.0),
        "energy_value_usd_per_mwh": economic(sol.row_dual, lp.rows["energy_balance"], -1.0),
    }


def accounting_site_hours(d: LpData, lp: Lp, x: np.ndarray) -> dict[str, np.ndarray]:
    """Revenues and costs of a solution per site and hour, ``float64[S, T]`` each [USD].

    The one place every money stream is computed (:func:`accounting_by_site` sums it over
    hours; the monthly and hourly money views read it as it is), keyed by
    :data:`REVENUE_KEYS` and :data:`COST_KEYS`. ``revenue_hpc_usd`` is rent and cloud sales of
    the servers that run (``Rr (f + v)``); ``pass_through_usd`` the tenants' energy
    reimbursement ``pt (Eg (f + v) - w)``; ``ppa_settlement_usd`` what unused block energy
    costs in negative-price hours under ``negative_prices = "settle"``;
    ``revenue_ancillary_usd`` the AS clearing price times MW reserved,
    ``ancillary_deployment_usd`` their expected deployment cost (docs/model.md §5.4.14).
    Annuities (hall conversion, GPU capex) accrue evenly every hour; a month's minimum-take
    shortfall is spread evenly over that month's hours in the horizon. Their signed sum per
    site is the site's margin.
    """
    S, T = d.n_sites, d.hours
    pi = d.price_usd_per_mwh
    n = lp.cols["n"].take(x)
    y = lp.cols["y"].take(x)
    q = lp.cols["q"].take(x)
    f, v, w = gpu_servers(d, lp, x)
    asic = class_revenue_usd(d, lp, x)
    _, as_revenue, deployment = ancillary_hours(d, lp, x)
    rent = d.gpu_rent_usd * (f[:, None] + v)
    gpu = gpu_revenue_usd(d, f, v, w)
    penalty = d.gpu_sla_penalty_usd_per_mwh[:, None] * w
    hosted = d.class_hosted
    every_hour = np.ones(T)
    z = lp.cols["z"].take(x)  # [S, Mu] MWh short of each month's minimum take
    hours_in_month = np.bincount(d.month_of_hour, minlength=z.shape[1]).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        short_per_hour = np.where(hours_in_month > 0, z / hours_in_month, 0.0)
    return {
        "revenue_mining_usd": by_site(asic[~hosted], d.class_site[~hosted], S),
        "revenue_hosting_usd": by_site(asic[hosted], d.class_site[hosted], S),
        "revenue_hpc_usd": by_site(rent, d.gpu_site, S),
        "pass_through_usd": by_site(gpu - rent, d.gpu_site, S),
        "resale_credit_usd": d.resale_factor[:, None] * np.maximum(pi, 0.0) * q,
        "energy_cost_usd": pi * lp.cols["g"].take(x),
        "ppa_cost_usd": d.ppa_price_usd_per_mwh[:, None] * d.ppa_block_mw,
        "ppa_settlement_usd": d.settlement_usd_per_mwh * q,
        "peak_charge_usd": d.peak_adder_usd_per_mwh * lp.cols["L"].take(x),
        "conversion_cost_usd": (d.conversion_usd_per_mw_hour * y)[:, None] * every_hour,
        "gpu_capex_usd": by_site(
            (d.gpu_capex_usd_per_hour * n)[:, None] * every_hour, d.gpu_site, S
        ),
        "sla_penalty_usd": by_site(penalty, d.gpu_site, S),
        "shortfall_usd": (d.shortfall_usd_per_mwh[:, None] * short_per_hour)[:, d.month_of_hour],
        "revenue_ancillary_usd": by_site(as_revenue, d.ancillary_site, S),
        "ancillary_deployment_usd": by_site(deployment, d.ancillary_site, S),
    }


def accounting_by_site(d: LpData, lp: Lp, x: np.ndarray) -> dict[str, np.ndarray]:
    """Revenues and costs of a solution per site, ``float64[S]`` each [USD]: the sums over
    hours of :func:`accounting_site_hours`. Their signed sum per site is the site's margin."""
    return {k: v.sum(axis=1) for k, v in accounting_site_hours(d, lp, x).items()}


def mined_site_hours(d: LpData, lp: Lp, x: np.ndarray) -> dict[str, np.ndarray]:
    """Hashrate and BTC of the own ASICs that run, per site and hour, ``float64[S, T]`` each.

    ``hashrate_ths``: TH/s of the own machines running in the hour, after temperature derating
    and availability (the class's revenue ``R u`` over ``usd_per_th_hour``); ``btc_mined``:
    ``hashrate_ths x btc_per_th_hour`` [BTC], before the pool fee; ``btc_earned``: what the
    pool pays after its fee, ``revenue_mining_usd / btc_price_usd`` hour by hour [BTC].
    Hosted machines mine for their owners and count in none of these.
    """
    S = d.n_sites
    own = ~d.class_hosted
    usd = d.usd_per_th_hour
    with np.errstate(divide="ignore", invalid="ignore"):
        per_usd = np.where(usd > 0, 1.0 / usd, 0.0)
        earned_per_usd = np.where(d.btc_price_usd > 0, 1.0 / d.btc_price_usd, 0.0)
    revenue = by_site(class_revenue_usd(d, lp, x)[own], d.class_site[own], S)
    hashrate = revenue * per_usd
    return {
        "hashrate_ths": hashrate,
        "btc_mined": hashrate * d.btc_per_th_hour,
        "btc_earned": revenue * earned_per_usd,
    }


def accounting(d: LpData, lp: Lp, x: np.ndarray) -> dict[str, float]:
    """Revenues and costs of a solution [USD], the sums over sites of
    :func:`accounting_by_site`; their signed sum is the margin."""
    return {k: float(v.sum()) for k, v in accounting_by_site(d, lp, x).items()}


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


def net_wash_trades(d: LpData, lp: Lp, x: np.ndarray) -> np.ndarray:
    """Net out MWh bought and resold in the same hour where resale pays the purchase price.

    When what an unused block MWh earns equals ``pi`` (resale without fee at ``pi >= 0``,
    settlement without fee at ``pi < 0``, or ``pi == 0``), buying a MWh and reselling one in the same hour is a wash the LP may pick at random; removing the
    pair changes neither the load nor the margin, and keeps grid and resale MWh honest
    (docs/model.md §5.7).

    Returns
    -------
    numpy.ndarray
        A copy of ``x`` with ``g`` and ``q`` reduced by ``min(g, q)`` in those hours.
    """
    pi = d.price_usd_per_mwh
    credit = d.resale_factor[:, None] * np.maximum(pi, 0.0) - d.settlement_usd_per_mwh
    wash = credit == pi
    if not wash.any():
        return x
    x = x.copy()
    g, q = lp.cols["g"], lp.cols["q"]
    both = np.minimum(g.take(x), q.take(x)) * wash
    x[g.start : g.stop] -= both.ravel()
    x[q.start : q.stop] -= both.ravel()
    return x
