"""The allocation LP's parameters: a scenario and its kernel scores laid out as arrays
(docs/model.md §5.1).

:func:`lp_data` turns a :class:`~models.Scenario` and its :class:`~optimizer.score.Scores` into
:class:`LpData`, the sets and parameters every constraint family reads. Energy is MWh per hour
(= MW); money USD. The monthly minimum take of a month only partly inside the horizon is scaled
pro rata by its hours (docs/model.md §5.4.10).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd

from kernels.bitcoin import btc_per_th_hour
from models import Scenario
from models.finance import annuity_usd_per_hour
from optimizer.score import Scores

# --------------------------------------------------------------------------- parameters


@dataclass(frozen=True, eq=False)
class LpData:
    """The LP's parameters as arrays (docs/model.md §5.1).

    Attributes
    ----------
    index : pandas.DatetimeIndex
        The ``T`` hours (UTC).
    site_names, class_names, gpu_names, lease_names : tuple[str, ...]
    class_site : int64[C]
        Site of each ASIC class.
    class_hosted : bool[C]
        Client machines under a hosting contract.
    class_uptime : float64[C]
        Contracted uptime ``U[c]`` [fraction of hours] (0 for own classes).
    revenue_usd, energy_mwh : float64[C, T]
        ``R[c,t]`` [USD] and ``E[c,t]`` [MWh] of the whole class running.
    gpu_site : int64[K]
    gpu_revenue_usd, gpu_energy_mwh : float64[K, T]
        ``Rf = Rv = Rr + pt Eg`` [USD] and ``Eg`` [MWh] of one server: rent or cloud sales plus
        the pass-through reimbursement of its energy.
    gpu_rent_usd : float64[K, T]
        ``Rr``: rent or cloud sales of one server, pass-through excluded [USD].
    gpu_pass_through_usd_per_mwh : float64[K, T]
        ``pt[k,t]``: price the tenant reimburses per MWh (spot, PPA or fixed, plus the peak
        adder where passed through); 0 without pass-through [USD/MWh].
    gpu_sla_penalty_usd_per_mwh : float64[K]
        ``rho[k]``: SLA penalty of the class's lease (largest where it serves several).
    gpu_may_shed : bool[K]
        Firm classes whose leases all allow shortfall (``K_sh``).
    gpu_it_mw : float64[K]
        IT load of one server counted against leases, ``Eg_it`` [MW].
    gpu_max_servers : float64[K]
        ``G[k]`` [servers].
    gpu_firm, gpu_interruptible, gpu_pass_through : bool[K]
    gpu_capex_usd_per_server : float64[K]
        Purchase price of one owned server [USD].
    gpu_life_years : float64[K]
    gpu_capex_usd_per_hour : float64[K]
        ``cn[k] = capex CRF(r, life) / 8760``: annuity of one installed server [USD/h].
    price_usd_per_mwh : float64[S, T]
        ``pi[s,t]``.
    import_cap_mw : float64[S, T]
        ``Cap[s,t]``: interconnect minus curtailment orders [MW].
    curtailed : bool[S, T]
        Hours with a curtailment order.
    interconnect_mw, mining_hall_mw, convertible_mw, existing_hpc_mw : float64[S]
        [MW]; ``M[s]``, ``Y[s]``.
    conversion_usd_per_mw, conversion_life_years : float64[S]
        Conversion capex per MW of hall [USD/MW] and its life [years].
    conversion_usd_per_mw_hour : float64[S]
        ``cy[s] = capex CRF(r, life) / 8760`` [USD per MW-hour].
    discount_rate : float
        ``r`` [1/year].
    peak_adder_usd_per_mwh : float64[S, T]
        ``kappa[s,t]``.
    ppa_block_mw : float64[S, T]
        ``B[s,t]`` [MW = MWh per hour].
    ppa_price_usd_per_mwh, resale_factor : float64[S]
        ``p_ppa[s]`` and ``psi[s]``.
    settlement_usd_per_mwh : float64[S, T]
        ``sigma[s,t]``: paid per MWh of PPA block not used in a negative-price hour under
        ``negative_prices = "settle"`` (``-pi (1 + resale_fee)``), else 0 [USD/MWh].
    ramp_mw_per_hour : float64[S]
        ``ramp[s]`` [MW/h]; NaN: no limit.
    month_of_hour : int64[T]
        ``mu(t)``, 0-based.
    min_take_mwh : float64[S, Mu]
        ``Min[s,mu]`` (pro rata for partial months) [MWh].
    shortfall_usd_per_mwh : float64[S]
        ``p_short[s]``.
    lease_site : int64[L]
    lease_min_mw, lease_max_mw : float64[L]
        Firm IT bounds [MW] (max may be inf).
    lease_members : tuple[numpy.ndarray, ...]
        GPU classes of each lease.
    lease_allow_shortfall : bool[L]
    usd_per_th_hour : float64[T]
        Mining revenue per TH/s-hour (for reports).
    btc_per_th_hour, btc_price_usd : float64[T]
        BTC one TH/s earns in the hour before the pool fee, and the BTC price [USD] (for
        reports: BTC mined).
    hashprice_usd_per_ph_day : float64[T]
    point_class : int64[P]
        ASIC class of each operating point beyond the class's nameplate (docs/model.md
        §5.4.15). Zero rows when no class has operating points.
    point_revenue_usd, point_energy_mwh : float64[P, T]
        ``R`` and ``E`` of the whole class running at that point [USD], [MWh].
    ancillary_names, ancillary_products : tuple[str, ...]
        Ancillary-service offers (docs/model.md §5.4.14) and their products. Zero rows when
        the scenario has no ``[[ancillary]]`` rows.
    ancillary_site : int64[J]
    ancillary_down : bool[J]
        Served by raising load (REGDN).
    ancillary_price_usd_per_mw_hour : float64[J, T]
        ``p_as[j,t]`` [USD/MW-h].
    ancillary_max_mw : float64[J]
        Most MW offered per hour (inf: none) [MW].
    ancillary_deployment_share : float64[J]
        ``delta[j]``: expected share of reserved MW-hours deployed [-].
    ancillary_asics, ancillary_gpus : bool[J]
        Own ASICs / interruptible GPU servers may provide the offer.

    A method that models neither operating points nor ancillary services (the monolithic LP
    models both) checks ``n_points == 0 and n_ancillary == 0``.
    """

    index: pd.DatetimeIndex
    site_names: tuple[str, ...]
    class_names: tuple[str, ...]
    class_site: np.ndarray
    class_hosted: np.ndarray
    class_uptime: np.ndarray
    revenue_usd: np.ndarray
    energy_mwh: np.ndarray
    gpu_names: tuple[str, ...]
    gpu_site: np.ndarray
    gpu_revenue_usd: np.ndarray
    gpu_energy_mwh: np.ndarray
    gpu_it_mw: np.ndarray
    gpu_max_servers: np.ndarray
    gpu_firm: np.ndarray
    gpu_interruptible: np.ndarray
    gpu_pass_through: np.ndarray
    gpu_capex_usd_per_server: np.ndarray
    gpu_life_years: np.ndarray
    gpu_capex_usd_per_hour: np.ndarray
    gpu_rent_usd: np.ndarray
    gpu_pass_through_usd_per_mwh: np.ndarray
    gpu_sla_penalty_usd_per_mwh: np.ndarray
    gpu_may_shed: np.ndarray
    price_usd_per_mwh: np.ndarray
    import_cap_mw: np.ndarray
    curtailed: np.ndarray
    interconnect_mw: np.ndarray
    mining_hall_mw: np.ndarray
    convertible_mw: np.ndarray
    existing_hpc_mw: np.ndarray
    conversion_usd_per_mw: np.ndarray
    conversion_life_years: np.ndarray
    conversion_usd_per_mw_hour: np.ndarray
    discount_rate: float
    peak_adder_usd_per_mwh: np.ndarray
    ppa_block_mw: np.ndarray
    ppa_price_usd_per_mwh: np.ndarray
    resale_factor: np.ndarray
    settlement_usd_per_mwh: np.ndarray
    ramp_mw_per_hour: np.ndarray
    month_of_hour: np.ndarray
    min_take_mwh: np.ndarray
    shortfall_usd_per_mwh: np.ndarray
    lease_names: tuple[str, ...]
    lease_site: np.ndarray
    lease_min_mw: np.ndarray
    lease_max_mw: np.ndarray
    lease_members: tuple[np.ndarray, ...]
    lease_allow_shortfall: np.ndarray
    usd_per_th_hour: np.ndarray
    btc_per_th_hour: np.ndarray
    btc_price_usd: np.ndarray
    hashprice_usd_per_ph_day: np.ndarray
    point_class: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    point_revenue_usd: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    point_energy_mwh: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    ancillary_names: tuple[str, ...] = ()
    ancillary_products: tuple[str, ...] = ()
    ancillary_site: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    ancillary_down: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    ancillary_price_usd_per_mw_hour: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    ancillary_max_mw: np.ndarray = field(default_factory=lambda: np.zeros(0))
    ancillary_deployment_share: np.ndarray = field(default_factory=lambda: np.zeros(0))
    ancillary_asics: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    ancillary_gpus: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))

    @property
    def hours(self) -> int:
        return len(self.index)

    @property
    def n_points(self) -> int:
        """Operating points beyond the classes' nameplates (0: none)."""
        return len(self.point_class)

    @property
    def n_ancillary(self) -> int:
        """Ancillary-service offers (0: none)."""
        return len(self.ancillary_site)

    @property
    def n_sites(self) -> int:
        return len(self.site_names)

    @property
    def n_months(self) -> int:
        return self.min_take_mwh.shape[1]


def month_hours(index: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Month of each hour and, per month, hours inside the horizon and in the calendar month.

    Returns
    -------
    month_of_hour : int64[T]
        0-based month number from the first month of the horizon (UTC).
    hours_in_horizon, hours_in_month : float64[Mu]
        [h]; their ratio scales a monthly minimum take pro rata.
    """
    months = np.asarray(index.year * 12 + index.month - 1, dtype=np.int64)
    mu = months - months[0]
    n = int(mu[-1]) + 1 if len(mu) else 0
    in_horizon = np.bincount(mu, minlength=n).astype(float)
    first = pd.Timestamp(year=int(months[0] // 12), month=int(months[0] % 12 + 1), day=1)
    starts = pd.date_range(first, periods=n + 1, freq="MS")
    in_month = np.asarray((starts[1:] - starts[:-1]) / pd.Timedelta(hours=1), dtype=float)
    return mu, in_horizon, in_month


#: Kinds of ancillary pairs (:func:`ancillary_pairs`): what load a reservation comes from.
UP_CLASS, UP_POINT, UP_GPU, DOWN_CLASS, DOWN_GPU = range(5)


class AncillaryPairs(NamedTuple):
    """Every (offer, unit of load) pair that may carry an ancillary reservation ``a[i,t]``.

    A unit is a source of droppable load: an own ASIC class at its nameplate (``UP_CLASS``,
    ``unit`` = class), at one of its operating points (``UP_POINT``, ``unit`` = point), an
    interruptible GPU class (``UP_GPU``, ``unit`` = GPU class); or, for REGDN, the headroom to
    raise load of an own ASIC class (``DOWN_CLASS``) or an interruptible GPU class
    (``DOWN_GPU``).

    Attributes
    ----------
    offer, kind, unit, site : int64[N]
    margin_usd_per_mwh : float64[N, T]
        ``m[i,t]``: what one MWh deployed costs in lost margin, >= 0 [USD/MWh]
        (docs/model.md §5.4.14).
    """

    offer: np.ndarray
    kind: np.ndarray
    unit: np.ndarray
    site: np.ndarray
    margin_usd_per_mwh: np.ndarray


def _per_mwh(revenue: np.ndarray, energy: np.ndarray) -> np.ndarray:
    """``revenue / energy`` where energy > 0, else 0 [USD/MWh]."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(energy > 0, revenue / np.where(energy > 0, energy, 1.0), 0.0)


def class_top_point(d: LpData) -> tuple[np.ndarray, np.ndarray]:
    """``E`` and ``R`` [C, T] of each class at its most power-hungry point in each hour."""
    E, R = d.energy_mwh.copy(), d.revenue_usd.copy()
    for p, c in enumerate(d.point_class):
        higher = d.point_energy_mwh[p] > E[c]
        E[c] = np.where(higher, d.point_energy_mwh[p], E[c])
        R[c] = np.where(higher, d.point_revenue_usd[p], R[c])
    return E, R


def ancillary_pairs(d: LpData) -> AncillaryPairs:
    """The pairs that carry ancillary reservations, in offer order (docs/model.md §5.4.14).

    Deployment margins: dropping a MWh of a unit loses ``max(0, R/E - pi)``; raising a MWh
    (REGDN) costs ``max(0, pi - R/E)`` at the class's most power-hungry point. Both clipped at
    0: a deployment is never counted as a gain.
    """
    T = d.hours
    own = np.flatnonzero(~d.class_hosted)
    interruptible = np.flatnonzero(d.gpu_interruptible)
    points = np.flatnonzero(~d.class_hosted[d.point_class]) if d.n_points else np.zeros(0, int)
    rows: list[tuple[int, int, int]] = []
    for j in range(d.n_ancillary):
        s = d.ancillary_site[j]
        if d.ancillary_asics[j]:
            classes = own[d.class_site[own] == s]
            if d.ancillary_down[j]:
                rows += [(j, DOWN_CLASS, c) for c in classes]
            else:
                rows += [(j, UP_CLASS, c) for c in classes]
                rows += [(j, UP_POINT, p) for p in points if d.class_site[d.point_class[p]] == s]
        if d.ancillary_gpus[j]:
            kind = DOWN_GPU if d.ancillary_down[j] else UP_GPU
            rows += [(j, kind, k) for k in interruptible[d.gpu_site[interruptible] == s]]
    table = np.array(rows, dtype=np.int64).reshape(-1, 3)
    offer, kind, unit = table[:, 0].copy(), table[:, 1].copy(), table[:, 2].copy()
    site = d.ancillary_site[offer]
    pi = d.price_usd_per_mwh[site] if len(site) else np.zeros((0, T))
    E_top, R_top = class_top_point(d)
    value = np.zeros((len(offer), T))
    for k, (R, E) in {
        UP_CLASS: (d.revenue_usd, d.energy_mwh),
        UP_POINT: (d.point_revenue_usd, d.point_energy_mwh),
        UP_GPU: (d.gpu_revenue_usd, d.gpu_energy_mwh),
        DOWN_CLASS: (R_top, E_top),
        DOWN_GPU: (d.gpu_revenue_usd, d.gpu_energy_mwh),
    }.items():
        sel = kind == k
        if sel.any():
            value[sel] = _per_mwh(R[unit[sel]], E[unit[sel]])
    down = (kind == DOWN_CLASS) | (kind == DOWN_GPU)
    margin = np.maximum(np.where(down[:, None], pi - value, value - pi), 0.0)
    return AncillaryPairs(offer, kind, unit, site, margin)


def lp_data(scenario: Scenario, scores: Scores) -> LpData:
    """Lay a scenario and its kernel scores out as the LP's parameters.

    Parameters
    ----------
    scenario : Scenario
    scores : Scores
        From :func:`optimizer.score.score_scenario`.

    Returns
    -------
    LpData
    """
    s = scenario
    S, T = len(s.sites), s.hours
    sites = s.sites
    gpus = s.gpus
    leases = s.leases
    K = len(gpus)
    r = s.finance.discount_rate
    price = s.site_matrix("price_usd_per_mwh")
    peak = s.site_matrix("peak_adder")
    ppa_price = np.zeros(S)
    psi = np.zeros(S)
    settle = np.zeros((S, T))
    for p in s.ppas:
        ppa_price[p.site] = p.price_usd_per_mwh
        psi[p.site] = p.resale_factor
        if p.negative_prices == "settle":
            settle[p.site] = np.maximum(-price[p.site], 0.0) * (1.0 + p.resale_fee)
    rho = np.zeros(K)
    may_shed = np.array([g.firm for g in gpus], dtype=bool)
    for lease in leases:
        for k in lease.gpu_classes:
            rho[k] = max(rho[k], lease.sla_penalty_usd_per_mwh)
            may_shed[k] &= lease.allow_shortfall
    Eg = np.asarray(scores.gpu_energy_mwh, dtype=float).reshape(-1, T)
    pt = np.zeros((K, T))
    spot_pt = np.zeros((K, T))  # what the kernel's revenue holds: spot x energy
    for k, g in enumerate(gpus):
        if not g.power_pass_through:
            continue
        spot_pt[k] = price[g.site]
        base = g.pass_through_price
        pt[k] = price[g.site] if base == "spot" else ppa_price[g.site] if base == "ppa" else base
        if g.pass_through_peak:
            pt[k] = pt[k] + peak[g.site]
    rent = np.asarray(scores.gpu_revenue_usd, dtype=float).reshape(-1, T) - spot_pt * Eg
    mu, in_horizon, in_month = month_hours(s.index)
    min_take = np.array([site.min_take_mwh_per_month for site in sites])[:, None] * (
        in_horizon / in_month
    )
    curtail = s.site_matrix("curtailment_mw")
    offers = s.ancillary
    return LpData(
        index=s.index,
        site_names=tuple(s.site_names),
        class_names=tuple(c.name for c in s.classes),
        class_site=np.array([c.site for c in s.classes], dtype=np.int64),
        class_hosted=np.array([c.hosted for c in s.classes], dtype=bool),
        class_uptime=np.array([c.uptime for c in s.classes], dtype=float),
        revenue_usd=np.asarray(scores.asic_revenue_usd, dtype=float).reshape(-1, T),
        energy_mwh=np.asarray(scores.asic_energy_mwh, dtype=float).reshape(-1, T),
        gpu_names=tuple(g.name for g in gpus),
        gpu_site=np.array([g.site for g in gpus], dtype=np.int64),
        gpu_revenue_usd=rent + pt * Eg,
        gpu_energy_mwh=Eg,
        gpu_it_mw=np.array([g.it_kw / 1000.0 for g in gpus], dtype=float),
        gpu_max_servers=np.array([g.max_servers for g in gpus], dtype=float),
        gpu_firm=np.array([g.firm for g in gpus], dtype=bool),
        gpu_interruptible=np.array([g.interruptible for g in gpus], dtype=bool),
        gpu_pass_through=np.array([g.power_pass_through for g in gpus], dtype=bool),
        gpu_capex_usd_per_server=np.array([g.capex_usd_per_server for g in gpus], dtype=float),
        gpu_life_years=np.array([g.life_years for g in gpus], dtype=float),
        gpu_capex_usd_per_hour=np.array(
            [annuity_usd_per_hour(g.capex_usd_per_server, r, g.life_years) for g in gpus],
            dtype=float,
        ),
        gpu_rent_usd=rent,
        gpu_pass_through_usd_per_mwh=pt,
        gpu_sla_penalty_usd_per_mwh=rho,
        gpu_may_shed=may_shed,
        price_usd_per_mwh=price,
        import_cap_mw=s.site_matrix("import_cap_mw"),
        curtailed=curtail > 0,
        interconnect_mw=np.array([x.interconnect_mw for x in sites], dtype=float),
        mining_hall_mw=np.array([x.mining_hall_mw for x in sites], dtype=float),
        convertible_mw=np.array([x.convertible_mw for x in sites], dtype=float),
        existing_hpc_mw=np.array([x.existing_hpc_mw for x in sites], dtype=float),
        conversion_usd_per_mw=np.array([x.conversion_usd_per_mw for x in sites], dtype=float),
        conversion_life_years=np.array([x.conversion_life_years for x in sites], dtype=float),
        conversion_usd_per_mw_hour=np.array(
            [
                annuity_usd_per_hour(x.conversion_usd_per_mw, r, x.conversion_life_years)
                for x in sites
            ],
            dtype=float,
        ),
        discount_rate=r,
        peak_adder_usd_per_mwh=peak,
        ppa_block_mw=s.ppa_block_mw(),
        ppa_price_usd_per_mwh=ppa_price,
        resale_factor=psi,
        settlement_usd_per_mwh=settle,
        ramp_mw_per_hour=np.array(
            [np.nan if x.ramp_mw_per_hour is None else x.ramp_mw_per_hour for x in sites],
            dtype=float,
        ),
        month_of_hour=mu,
        min_take_mwh=min_take,
        shortfall_usd_per_mwh=np.array([x.shortfall_usd_per_mwh for x in sites], dtype=float),
        lease_names=tuple(x.name for x in leases),
        lease_site=np.array([x.site for x in leases], dtype=np.int64),
        lease_min_mw=np.array([x.min_mw for x in leases], dtype=float),
        lease_max_mw=np.array([x.max_mw for x in leases], dtype=float),
        lease_members=tuple(np.array(x.gpu_classes, dtype=np.int64) for x in leases),
        lease_allow_shortfall=np.array([x.allow_shortfall for x in leases], dtype=bool),
        usd_per_th_hour=np.asarray(scores.usd_per_th_hour, dtype=float),
        btc_per_th_hour=np.broadcast_to(
            np.asarray(
                btc_per_th_hour(s.market.difficulty, s.market.fees_btc_per_block, s.market.height),
                dtype=float,
            ),
            (T,),
        ),
        btc_price_usd=np.broadcast_to(np.asarray(s.market.btc_price_usd, dtype=float), (T,)),
        hashprice_usd_per_ph_day=np.asarray(scores.hashprice_usd_per_ph_day, dtype=float),
        point_class=np.asarray(scores.point_class, dtype=np.int64),
        point_revenue_usd=np.asarray(scores.point_revenue_usd, dtype=float).reshape(-1, T),
        point_energy_mwh=np.asarray(scores.point_energy_mwh, dtype=float).reshape(-1, T),
        ancillary_names=tuple(a.name for a in offers),
        ancillary_products=tuple(a.product for a in offers),
        ancillary_site=np.array([a.site for a in offers], dtype=np.int64),
        ancillary_down=np.array([a.down for a in offers], dtype=bool),
        ancillary_price_usd_per_mw_hour=np.array(
            [a.price_usd_per_mw_hour for a in offers], dtype=float
        ).reshape(-1, T),
        ancillary_max_mw=np.array([a.max_mw for a in offers], dtype=float),
        ancillary_deployment_share=np.array([a.deployment_share for a in offers], dtype=float),
        ancillary_asics=np.array([a.asics for a in offers], dtype=bool),
        ancillary_gpus=np.array([a.gpus for a in offers], dtype=bool),
    )
