"""The allocation LP's parameters: a scenario and its kernel scores laid out as arrays
(docs/model.md §5.1).

:func:`lp_data` turns a :class:`~models.Scenario` and its :class:`~optimizer.score.Scores` into
:class:`LpData`, the sets and parameters every constraint family reads. Energy is MWh per hour
(= MW); money USD. The monthly minimum take of a month only partly inside the horizon is scaled
pro rata by its hours (docs/model.md §5.4.10).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from models import Scenario
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
        ``Rf = Rv`` [USD] and ``Eg`` [MWh] of one server (pass-through energy included).
    gpu_it_mw : float64[K]
        IT load of one server counted against leases, ``Eg_it`` [MW].
    gpu_max_servers : float64[K]
        ``G[k]`` [servers].
    gpu_firm, gpu_interruptible, gpu_pass_through : bool[K]
    gpu_capex_usd_per_hour : float64[K]
        ``cn[k]``: hourly capex of one installed server [USD/h].
    price_usd_per_mwh : float64[S, T]
        ``pi[s,t]``.
    import_cap_mw : float64[S, T]
        ``Cap[s,t]``: interconnect minus curtailment orders [MW].
    curtailed : bool[S, T]
        Hours with a curtailment order.
    interconnect_mw, mining_hall_mw, convertible_mw, existing_hpc_mw : float64[S]
        [MW]; ``M[s]``, ``Y[s]``.
    conversion_usd_per_mw_hour : float64[S]
        ``cy[s]`` [USD per MW-hour].
    peak_adder_usd_per_mwh : float64[S, T]
        ``kappa[s,t]``.
    ppa_block_mw : float64[S, T]
        ``B[s,t]`` [MW = MWh per hour].
    ppa_price_usd_per_mwh, resale_factor : float64[S]
        ``p_ppa[s]`` and ``psi[s]``.
    sla_penalty_usd_per_mwh : float64[S]
        ``rho`` per site: largest SLA penalty of the site's leases.
    allow_shortfall : bool[S]
        False where any lease of the site forbids firm shortfall (or the site has no firm class).
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
    usd_per_th_hour : float64[T]
        Mining revenue per TH/s-hour (for reports).
    hashprice_usd_per_ph_day : float64[T]
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
    gpu_capex_usd_per_hour: np.ndarray
    price_usd_per_mwh: np.ndarray
    import_cap_mw: np.ndarray
    curtailed: np.ndarray
    interconnect_mw: np.ndarray
    mining_hall_mw: np.ndarray
    convertible_mw: np.ndarray
    existing_hpc_mw: np.ndarray
    conversion_usd_per_mw_hour: np.ndarray
    peak_adder_usd_per_mwh: np.ndarray
    ppa_block_mw: np.ndarray
    ppa_price_usd_per_mwh: np.ndarray
    resale_factor: np.ndarray
    sla_penalty_usd_per_mwh: np.ndarray
    allow_shortfall: np.ndarray
    ramp_mw_per_hour: np.ndarray
    month_of_hour: np.ndarray
    min_take_mwh: np.ndarray
    shortfall_usd_per_mwh: np.ndarray
    lease_names: tuple[str, ...]
    lease_site: np.ndarray
    lease_min_mw: np.ndarray
    lease_max_mw: np.ndarray
    lease_members: tuple[np.ndarray, ...]
    usd_per_th_hour: np.ndarray
    hashprice_usd_per_ph_day: np.ndarray

    @property
    def hours(self) -> int:
        return len(self.index)

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
    ppa_price = np.zeros(S)
    psi = np.zeros(S)
    for p in s.ppas:
        ppa_price[p.site] = p.price_usd_per_mwh
        psi[p.site] = p.resale_factor
    rho = np.zeros(S)
    allow = np.ones(S, dtype=bool)
    for lease in leases:
        rho[lease.site] = max(rho[lease.site], lease.sla_penalty_usd_per_mwh)
        allow[lease.site] &= lease.allow_shortfall
    mu, in_horizon, in_month = month_hours(s.index)
    min_take = np.array([site.min_take_mwh_per_month for site in sites])[:, None] * (
        in_horizon / in_month
    )
    curtail = s.site_matrix("curtailment_mw")
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
        gpu_revenue_usd=np.asarray(scores.gpu_revenue_usd, dtype=float).reshape(-1, T),
        gpu_energy_mwh=np.asarray(scores.gpu_energy_mwh, dtype=float).reshape(-1, T),
        gpu_it_mw=np.array([g.it_kw / 1000.0 for g in gpus], dtype=float),
        gpu_max_servers=np.array([g.max_servers for g in gpus], dtype=float),
        gpu_firm=np.array([g.firm for g in gpus], dtype=bool),
        gpu_interruptible=np.array([g.interruptible for g in gpus], dtype=bool),
        gpu_pass_through=np.array([g.power_pass_through for g in gpus], dtype=bool),
        gpu_capex_usd_per_hour=np.array([g.capex_usd_per_server_hour for g in gpus], dtype=float),
        price_usd_per_mwh=s.site_matrix("price_usd_per_mwh"),
        import_cap_mw=s.site_matrix("import_cap_mw"),
        curtailed=curtail > 0,
        interconnect_mw=np.array([x.interconnect_mw for x in sites], dtype=float),
        mining_hall_mw=np.array([x.mining_hall_mw for x in sites], dtype=float),
        convertible_mw=np.array([x.convertible_mw for x in sites], dtype=float),
        existing_hpc_mw=np.array([x.existing_hpc_mw for x in sites], dtype=float),
        conversion_usd_per_mw_hour=np.array(
            [x.conversion_usd_per_mw_hour for x in sites], dtype=float
        ),
        peak_adder_usd_per_mwh=s.site_matrix("peak_adder"),
        ppa_block_mw=s.ppa_block_mw(),
        ppa_price_usd_per_mwh=ppa_price,
        resale_factor=psi,
        sla_penalty_usd_per_mwh=rho,
        allow_shortfall=allow,
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
        usd_per_th_hour=np.asarray(scores.usd_per_th_hour, dtype=float),
        hashprice_usd_per_ph_day=np.asarray(scores.hashprice_usd_per_ph_day, dtype=float),
    )
