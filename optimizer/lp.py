"""The allocation LP of DESIGN.md ("The LP"), built once as sparse variable and constraint blocks.

:func:`lp_data` lays a :class:`~models.Scenario` and its kernel :class:`~optimizer.score.Scores`
out as the LP's parameters (:class:`LpData`, DESIGN.md names); :func:`build_lp` adds one block of
variables per DESIGN.md variable and one block of rows per constraint family, each in its own
``add_*`` function, and returns an :class:`Lp`: ``minimize cost @ x + offset`` subject to
``row_lower <= A @ x <= row_upper`` and ``col_lower <= x <= col_upper``, where
``cost @ x + offset = -margin`` [USD]. Everything is vectorized over hours and classes.

Two auxiliary blocks make the rows short and the duals direct, without changing the LP:
``L[s,t]`` is the site load of DESIGN.md's "Load" line, defined by an equality row, so the import
limit (row 2) is a one-entry row whose dual is the value of import capacity; and the firm
shortfall ``w`` is kept per firm GPU class (``w[s,t] = sum_k w[k,t]``) so that firm energy that
is not served also forgoes its pass-through reimbursement (``pi`` per MWh for classes with
``power_pass_through``), otherwise shedding a pass-through tenant in a price spike would keep
the reimbursement of energy never delivered.

Conventions
-----------
- Energy is MWh per hour (= MW); money USD; ``T`` hours, ``S`` sites, ``C`` ASIC classes,
  ``K`` GPU classes, ``L`` leases, ``Mu`` months.
- Firm shortfall is allowed only in hours with a curtailment order (row 9, "only under
  curtailment"), only at sites whose leases all allow it, priced at the largest SLA penalty of
  the site's leases.
- The monthly minimum take of a month only partly inside the horizon is scaled pro rata by
  its hours: ``Min[s,mu] = min_take_mwh_per_month * hours_of_mu_in_horizon / hours_of_mu``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from models import Scenario
from optimizer.errors import SolverError
from optimizer.score import Scores

INF = float("inf")


# --------------------------------------------------------------------------- parameters


@dataclass(frozen=True, eq=False)
class LpData:
    """The LP's parameters as arrays (DESIGN.md "The LP": sets and parameters).

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


# --------------------------------------------------------------------------- the LP container


@dataclass(frozen=True)
class Block:
    """A block of variables (or rows) laid out C-order from ``start``.

    Attributes
    ----------
    name : str
    start : int
        First column (row) of the block.
    shape : tuple[int, ...]
    """

    name: str
    start: int
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def stop(self) -> int:
        return self.start + self.size

    def ids(self) -> np.ndarray:
        """Global column (row) numbers of the block, shaped like the block."""
        return np.arange(self.start, self.stop, dtype=np.int64).reshape(self.shape)

    def take(self, values: np.ndarray) -> np.ndarray:
        """This block's part of a full vector, shaped like the block."""
        return np.asarray(values[self.start : self.stop]).reshape(self.shape)


@dataclass(eq=False)
class Lp:
    """``minimize cost @ x + offset`` s.t. ``row_lower <= A x <= row_upper``, bounds on x.

    ``cost @ x + offset`` is minus the margin [USD]. ``cols`` and ``rows`` name the blocks;
    ``gpu_v`` and ``gpu_w`` give the GPU class behind each row of the ``v`` and ``w`` blocks.
    """

    cost: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    offset: float
    matrix: sp.csr_array
    row_lower: np.ndarray
    row_upper: np.ndarray
    cols: dict[str, Block]
    rows: dict[str, Block]
    gpu_v: np.ndarray
    gpu_w: np.ndarray
    ramp_sites: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    take_sites: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    hosted_classes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    @property
    def n_cols(self) -> int:
        return len(self.cost)

    @property
    def n_rows(self) -> int:
        return len(self.row_lower)

    def family_of_row(self, row: int) -> tuple[str, tuple[int, ...]]:
        """Block name and index within the block of a global row number."""
        for b in self.rows.values():
            if b.start <= row < b.stop:
                return b.name, tuple(int(i) for i in np.unravel_index(row - b.start, b.shape))
        raise IndexError(row)


class LpBuilder:
    """Collects variable blocks and row blocks (as COO triples), then assembles an :class:`Lp`."""

    def __init__(self) -> None:
        self.cols: dict[str, Block] = {}
        self.rows: dict[str, Block] = {}
        self._cost: list[np.ndarray] = []
        self._lower: list[np.ndarray] = []
        self._upper: list[np.ndarray] = []
        self._n_cols = 0
        self._n_rows = 0
        self._r: list[np.ndarray] = []
        self._c: list[np.ndarray] = []
        self._v: list[np.ndarray] = []
        self._rl: list[np.ndarray] = []
        self._ru: list[np.ndarray] = []
        self.offset = 0.0

    def add_vars(self, name: str, shape: tuple[int, ...], lower=0.0, upper=INF) -> Block:
        """Add a block of variables with bounds (broadcast to ``shape``) and zero cost."""
        block = Block(name, self._n_cols, tuple(int(n) for n in shape))
        self.cols[name] = block
        self._n_cols += block.size
        self._cost.append(np.zeros(block.size))
        self._lower.append(np.broadcast_to(np.asarray(lower, float), block.shape).ravel().copy())
        self._upper.append(np.broadcast_to(np.asarray(upper, float), block.shape).ravel().copy())
        return block

    def _col_part(self, block: Block, parts: list[np.ndarray]) -> np.ndarray:
        return parts[list(self.cols).index(block.name)]

    def add_cost(self, block: Block, cost) -> None:
        """Add ``cost`` (broadcast to the block's shape) to the block's objective coefficients."""
        self._col_part(block, self._cost)[:] += np.broadcast_to(
            np.asarray(cost, float), block.shape
        ).ravel()

    def set_upper(self, block: Block, upper) -> None:
        """Set the upper bounds of a block (broadcast to its shape)."""
        self._col_part(block, self._upper)[:] = np.broadcast_to(
            np.asarray(upper, float), block.shape
        ).ravel()

    def add_rows(
        self,
        name: str,
        shape: tuple[int, ...],
        terms: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
        lower,
        upper,
    ) -> Block:
        """Add a block of rows ``lower <= sum of terms <= upper``.

        Each term is ``(row, col, coef)``: ``col`` global columns, ``row`` local rows of the
        block (flat C-order index) with as many entries as ``col``, ``coef`` broadcast to
        ``col``'s shape. Zero coefficients are dropped.
        """
        block = Block(name, self._n_rows, tuple(int(n) for n in shape))
        self.rows[name] = block
        for r, c, v in terms:
            c = np.asarray(c, dtype=np.int64)
            r = np.asarray(r, dtype=np.int64).reshape(c.shape)
            v = np.broadcast_to(np.asarray(v, dtype=float), c.shape).ravel()
            r, c = r.ravel(), c.ravel()
            keep = v != 0.0
            self._r.append(r[keep] + block.start)
            self._c.append(c[keep])
            self._v.append(v[keep])
        self._rl.append(np.broadcast_to(np.asarray(lower, float), block.shape).ravel())
        self._ru.append(np.broadcast_to(np.asarray(upper, float), block.shape).ravel())
        self._n_rows += block.size
        return block

    def finish(self, **extra) -> Lp:
        cat = np.concatenate
        rows = cat(self._r) if self._r else np.zeros(0, np.int64)
        cols = cat(self._c) if self._c else np.zeros(0, np.int64)
        vals = cat(self._v) if self._v else np.zeros(0)
        matrix = sp.csr_array(
            (vals, (rows.astype(np.int32), cols.astype(np.int32))),
            shape=(self._n_rows, self._n_cols),
        )
        return Lp(
            cost=cat(self._cost) if self._cost else np.zeros(0),
            col_lower=cat(self._lower) if self._lower else np.zeros(0),
            col_upper=cat(self._upper) if self._upper else np.zeros(0),
            offset=self.offset,
            matrix=matrix,
            row_lower=cat(self._rl).astype(float) if self._rl else np.zeros(0),
            row_upper=cat(self._ru).astype(float) if self._ru else np.zeros(0),
            cols=self.cols,
            rows=self.rows,
            **extra,
        )


def _site_hour_rows(site: np.ndarray, T: int) -> np.ndarray:
    """Local row numbers ``s*T + t`` of an ``[S, T]`` row block for items at sites ``site``."""
    return site[:, None] * T + np.arange(T)


# --------------------------------------------------------------------------- variables


def add_variables(b: LpBuilder, d: LpData) -> dict[str, np.ndarray]:
    """The variable blocks of DESIGN.md "Variables" (all continuous, >= 0), and ``L``.

    - ``u[c,t] <= 1``: fraction of ASIC class c running;
    - ``n[k] <= G[k]``: GPU servers installed; ``f[k] <= G[k]`` firm servers (0 unless the
      class may be sold firm); ``v[k,t] <= G[k]`` interruptible servers (interruptible
      classes only: rows of ``v`` map to classes via ``gpu_v``);
    - ``y[s]``: MW converted (bounded by :func:`add_conversion_bound`);
    - ``g[s,t]``: MWh bought at spot; ``q[s,t] <= B[s,t]``: PPA MWh not used (resold where
      resale pays, spilled otherwise);
    - ``w[k,t]``: firm MWh of class k not served (bounded by :func:`add_firm_shortfall`);
    - ``z[s,mu]``: monthly minimum-take shortfall [MWh];
    - ``L[s,t]``: site load [MW], defined by :func:`add_load_definition`.
    """
    S, T, C, K = d.n_sites, d.hours, len(d.class_names), len(d.gpu_names)
    G = d.gpu_max_servers
    b.add_vars("u", (C, T), 0.0, 1.0)
    b.add_vars("n", (K,), 0.0, G)
    b.add_vars("f", (K,), 0.0, np.where(d.gpu_firm, G, 0.0))
    gpu_v = np.flatnonzero(d.gpu_interruptible)
    b.add_vars("v", (len(gpu_v), T), 0.0, G[gpu_v, None])
    b.add_vars("y", (S,), 0.0, INF)
    b.add_vars("g", (S, T), 0.0, INF)
    b.add_vars("q", (S, T), 0.0, d.ppa_block_mw)
    gpu_w = np.flatnonzero(d.gpu_firm & d.allow_shortfall[d.gpu_site])
    b.add_vars("w", (len(gpu_w), T), 0.0, INF)
    b.add_vars("z", (S, d.n_months), 0.0, INF)
    b.add_vars("L", (S, T), 0.0, INF)
    return {"gpu_v": gpu_v, "gpu_w": gpu_w}


def set_objective(b: LpBuilder, d: LpData, gpu_v: np.ndarray, gpu_w: np.ndarray) -> None:
    """Objective (DESIGN.md "Objective"), as the minimization of minus the margin [USD].

    ``-[sum R u + sum Rf f + sum Rv v - sum cn n T - sum (pi g - psi max(pi,0) q + p_ppa B)
    - sum cy y T - rho sum w - p_short sum z]``; the coincident-peak term ``kappa L`` is added
    by :func:`add_peak_adders`. The take-or-pay PPA cost ``sum p_ppa B`` is a constant offset.
    Unserved firm energy of a pass-through class also forgoes ``pi`` per MWh (module note).
    """
    T = d.hours
    pi = d.price_usd_per_mwh
    b.add_cost(b.cols["u"], -d.revenue_usd)
    b.add_cost(b.cols["n"], d.gpu_capex_usd_per_hour * T)
    b.add_cost(b.cols["f"], -d.gpu_revenue_usd.sum(axis=1))
    b.add_cost(b.cols["v"], -d.gpu_revenue_usd[gpu_v])
    b.add_cost(b.cols["y"], d.conversion_usd_per_mw_hour * T)
    b.add_cost(b.cols["g"], pi)
    b.add_cost(b.cols["q"], -d.resale_factor[:, None] * np.maximum(pi, 0.0))
    site_w = d.gpu_site[gpu_w]
    b.add_cost(
        b.cols["w"],
        d.sla_penalty_usd_per_mwh[site_w, None] + d.gpu_pass_through[gpu_w, None] * pi[site_w],
    )
    b.add_cost(b.cols["z"], d.shortfall_usd_per_mwh[:, None])
    b.offset += float((d.ppa_price_usd_per_mwh[:, None] * d.ppa_block_mw).sum())


# --------------------------------------------------------------------------- constraint families


def add_load_definition(b: LpBuilder, d: LpData, gpu_v: np.ndarray, gpu_w: np.ndarray) -> Block:
    """Site load (DESIGN.md "Load"): ``sum_c E u + sum_k Eg (f + v) - w - L = 0`` per site-hour."""
    S, T = d.n_sites, d.hours
    c = b.cols
    terms = [
        (_site_hour_rows(d.class_site, T), c["u"].ids(), d.energy_mwh),
        (_site_hour_rows(d.gpu_site, T), np.repeat(c["f"].ids()[:, None], T, 1), d.gpu_energy_mwh),
        (_site_hour_rows(d.gpu_site[gpu_v], T), c["v"].ids(), d.gpu_energy_mwh[gpu_v]),
        (_site_hour_rows(d.gpu_site[gpu_w], T), c["w"].ids(), -1.0),
        (np.arange(S * T), c["L"].ids(), -1.0),
    ]
    return b.add_rows("load", (S, T), terms, 0.0, 0.0)


def add_energy_balance(b: LpBuilder, d: LpData) -> Block:
    """Row 1, energy balance with PPA resale: ``L[s,t] = B[s,t] - q[s,t] + g[s,t]``.

    Written ``L - g + q = B``. With ``q <= B`` and ``g >= 0``, buying and reselling in the same
    hour never pays when ``pi > 0`` and ``psi < 1`` (it costs ``pi (1 - psi)`` per MWh); in a
    negative-price hour resale earns nothing and the site is paid ``-pi`` per MWh drawn, up to
    its load.
    """
    S, T = d.n_sites, d.hours
    r = np.arange(S * T)
    c = b.cols
    terms = [(r, c["L"].ids(), 1.0), (r, c["g"].ids(), -1.0), (r, c["q"].ids(), 1.0)]
    return b.add_rows("energy_balance", (S, T), terms, d.ppa_block_mw, d.ppa_block_mw)


def add_import_limits(b: LpBuilder, d: LpData) -> Block:
    """Row 2, import limit with curtailment orders: ``L[s,t] <= Cap[s,t]``.

    ``Cap`` is the interconnect minus the hour's curtailment order. Its dual, sign flipped, is
    the value of one more MW of import in that hour [USD/MWh].
    """
    S, T = d.n_sites, d.hours
    terms = [(np.arange(S * T), b.cols["L"].ids(), 1.0)]
    return b.add_rows("import", (S, T), terms, -INF, d.import_cap_mw)


def add_mining_halls(b: LpBuilder, d: LpData) -> Block:
    """Row 3, mining halls: ``sum_c E[c,t] u[c,t] + y[s] <= M[s]`` (hosted ASICs included)."""
    S, T = d.n_sites, d.hours
    c = b.cols
    terms = [
        (_site_hour_rows(d.class_site, T), c["u"].ids(), d.energy_mwh),
        (np.arange(S * T), np.repeat(c["y"].ids()[:, None], T, 1), 1.0),
    ]
    return b.add_rows(
        "mining_hall", (S, T), terms, -INF, np.repeat(d.mining_hall_mw[:, None], T, 1)
    )


def add_hpc_halls(b: LpBuilder, d: LpData, gpu_v: np.ndarray) -> Block:
    """Row 4, HPC halls: ``sum_k Eg[k,t] (f[k] + v[k,t]) - y[s] <= existing_hpc_mw[s]``.

    Installed servers count by their wall power incl. cooling in each hour; unserved firm load
    (``w``) still occupies its hall.
    """
    S, T = d.n_sites, d.hours
    c = b.cols
    terms = [
        (_site_hour_rows(d.gpu_site, T), np.repeat(c["f"].ids()[:, None], T, 1), d.gpu_energy_mwh),
        (_site_hour_rows(d.gpu_site[gpu_v], T), c["v"].ids(), d.gpu_energy_mwh[gpu_v]),
        (np.arange(S * T), np.repeat(c["y"].ids()[:, None], T, 1), -1.0),
    ]
    upper = np.repeat(d.existing_hpc_mw[:, None], T, 1)
    return b.add_rows("hpc_hall", (S, T), terms, -INF, upper)


def add_conversion_bound(b: LpBuilder, d: LpData) -> None:
    """Conversion bound (DESIGN.md "Variables"): ``y[s] <= Y[s]`` (convertible MW), as a bound.

    Its reduced cost, sign flipped, is the value of one more convertible MW over the horizon.
    """
    b.set_upper(b.cols["y"], d.convertible_mw)


def add_server_limits(b: LpBuilder, d: LpData, gpu_v: np.ndarray) -> Block:
    """Servers (DESIGN.md "Variables"): ``f[k] + v[k,t] <= n[k]``, ``n[k] <= G[k]``.

    One row per class and hour for interruptible classes, one row per class otherwise
    (``f[k] <= n[k]``); rows ``K + i*T + t`` hold the hourly rows of the i-th interruptible class.
    """
    T, K = d.hours, len(d.gpu_names)
    c = b.cols
    V = len(gpu_v)
    k = np.arange(K)
    hourly = K + np.arange(V * T).reshape(V, T)
    terms = [
        (k, c["f"].ids(), 1.0),
        (k, c["n"].ids(), -1.0),
        (hourly, np.repeat(c["f"].ids()[gpu_v, None], T, 1), 1.0),
        (hourly, c["v"].ids(), 1.0),
        (hourly, np.repeat(c["n"].ids()[gpu_v, None], T, 1), -1.0),
    ]
    return b.add_rows("servers", (K + V * T,), terms, -INF, 0.0)


def add_lease_limits(b: LpBuilder, d: LpData) -> Block:
    """Row 5, leases: ``min_mw[l] <= sum_{k in l} Eg_it[k] f[k] <= max_mw[l]`` (IT MW, firm)."""
    f = b.cols["f"].ids()
    rows = np.concatenate([np.full(len(m), i) for i, m in enumerate(d.lease_members)] or [[]])
    members = np.concatenate(list(d.lease_members) or [np.zeros(0, np.int64)]).astype(np.int64)
    terms = [(rows.astype(np.int64), f[members], d.gpu_it_mw[members])]
    return b.add_rows("lease", (len(d.lease_names),), terms, d.lease_min_mw, d.lease_max_mw)


def add_hosted_uptime(b: LpBuilder, d: LpData) -> tuple[Block, np.ndarray]:
    """Row 6, hosted uptime: ``sum_t u[c,t] >= U[c] * T`` for hosted classes with ``U > 0``."""
    T = d.hours
    hosted = np.flatnonzero(d.class_hosted & (d.class_uptime > 0))
    u = b.cols["u"].ids()
    rows = np.repeat(np.arange(len(hosted))[:, None], T, 1)
    block = b.add_rows(
        "uptime", (len(hosted),), [(rows, u[hosted], 1.0)], d.class_uptime[hosted] * T, INF
    )
    return block, hosted


def add_min_take(b: LpBuilder, d: LpData) -> tuple[Block, np.ndarray]:
    """Row 7, monthly minimum take: ``sum_{t in mu} L[s,t] + z[s,mu] >= Min[s,mu]``.

    Only for sites with a minimum; partial months are pro rata (module note).
    """
    Mu = d.n_months
    sites = np.flatnonzero(d.min_take_mwh.max(axis=1, initial=0.0) > 0)
    L = b.cols["L"].ids()[sites]
    z = b.cols["z"].ids()[sites]
    row_of_hour = np.arange(len(sites))[:, None] * Mu + d.month_of_hour[None, :]
    terms = [
        (row_of_hour, L, 1.0),
        (np.arange(len(sites) * Mu), z, 1.0),
    ]
    block = b.add_rows("min_take", (len(sites), Mu), terms, d.min_take_mwh[sites], INF)
    return block, sites


def add_ramp_limits(b: LpBuilder, d: LpData) -> tuple[Block, np.ndarray]:
    """Row 8, ramp limits (sites with a limit): ``-ramp <= L[s,t] - L[s,t-1] <= ramp``, t >= 1."""
    T = d.hours
    sites = np.flatnonzero(np.isfinite(d.ramp_mw_per_hour))
    L = b.cols["L"].ids()[sites]
    rows = np.arange(len(sites) * (T - 1)).reshape(len(sites), T - 1)
    ramp = np.repeat(d.ramp_mw_per_hour[sites, None], T - 1, 1)
    terms = [(rows, L[:, 1:], 1.0), (rows, L[:, :-1], -1.0)]
    block = b.add_rows("ramp", (len(sites), T - 1), terms, -ramp, ramp)
    return block, sites


def add_firm_shortfall(b: LpBuilder, d: LpData, gpu_w: np.ndarray) -> Block:
    """Row 9, firm HPC shortfall only under curtailment: ``w[k,t] <= Eg[k,t] f[k]``.

    ``w`` may be positive only in hours with a curtailment order, at sites whose leases allow
    shortfall (``gpu_w`` lists those firm classes); it is priced at the SLA penalty ``rho``.
    """
    T = d.hours
    W = len(gpu_w)
    w = b.cols["w"]
    b.set_upper(w, np.where(d.curtailed[d.gpu_site[gpu_w]], INF, 0.0))
    rows = np.arange(W * T).reshape(W, T)
    f = np.repeat(b.cols["f"].ids()[gpu_w, None], T, 1)
    terms = [(rows, w.ids(), 1.0), (rows, f, -d.gpu_energy_mwh[gpu_w])]
    return b.add_rows("shortfall", (W, T), terms, -INF, 0.0)


def add_peak_adders(b: LpBuilder, d: LpData) -> None:
    """Coincident-peak adders (DESIGN.md "Objective"): ``kappa[s,t] L[s,t]`` added to the cost."""
    b.add_cost(b.cols["L"], d.peak_adder_usd_per_mwh)


def _check_finite(b: LpBuilder, d: LpData) -> None:
    """Refuse NaN/inf in costs or coefficients: a plan built on them would be silently wrong."""
    for name, block in b.cols.items():
        cost = b._col_part(block, b._cost)
        if not np.isfinite(cost).all():
            i = int(np.flatnonzero(~np.isfinite(cost))[0])
            where = np.unravel_index(i, block.shape)
            raise SolverError(
                f"non-finite objective coefficient in block '{name}' at {tuple(map(int, where))}"
                " (kernel scores or prices with NaN/inf; please report)"
            )
    for vals in b._v:
        if not np.isfinite(vals).all():
            raise SolverError(
                "non-finite constraint coefficient (kernel energy NaN/inf; please report)"
            )


def build_lp(d: LpData) -> Lp:
    """Assemble the whole LP of DESIGN.md from its parameters.

    Parameters
    ----------
    d : LpData

    Returns
    -------
    Lp
        Blocks ``u n f v y g q w z L`` (columns) and ``load energy_balance import mining_hall
        hpc_hall servers lease uptime min_take ramp shortfall`` (rows).
    """
    b = LpBuilder()
    idx = add_variables(b, d)
    gpu_v, gpu_w = idx["gpu_v"], idx["gpu_w"]
    set_objective(b, d, gpu_v, gpu_w)
    add_peak_adders(b, d)
    add_conversion_bound(b, d)
    add_load_definition(b, d, gpu_v, gpu_w)
    add_energy_balance(b, d)
    add_import_limits(b, d)
    add_mining_halls(b, d)
    add_hpc_halls(b, d, gpu_v)
    add_server_limits(b, d, gpu_v)
    add_lease_limits(b, d)
    _, hosted = add_hosted_uptime(b, d)
    _, take_sites = add_min_take(b, d)
    _, ramp_sites = add_ramp_limits(b, d)
    add_firm_shortfall(b, d, gpu_w)
    _check_finite(b, d)
    return b.finish(
        gpu_v=gpu_v,
        gpu_w=gpu_w,
        ramp_sites=ramp_sites,
        take_sites=take_sites,
        hosted_classes=hosted,
    )
