"""The allocation LP (docs/model.md §5), built once as sparse variable and constraint blocks.

:func:`lp_data` lays a :class:`~models.Scenario` and its kernel :class:`~optimizer.score.Scores`
out as the LP's parameters (:class:`LpData`, docs/model.md §5.1 names); :func:`build_lp` adds one block of
variables per model variable and one block of rows per constraint family, each in its own
``add_*`` function, and returns an :class:`Lp`: ``minimize cost @ x + offset`` subject to
``row_lower <= A @ x <= row_upper`` and ``col_lower <= x <= col_upper``, where
``cost @ x + offset = -margin`` [USD]. Everything is vectorized over hours and classes.

Two auxiliary blocks make the rows short and the duals direct, without changing the LP:
``L[s,t]`` is the site load (docs/model.md §5.4.1), defined by an equality row, so the import
limit (row 2) is a one-entry row whose dual is the value of import capacity; and the firm
shortfall ``w`` is kept per firm GPU class (``w[s,t] = sum_k w[k,t]``) so that firm energy that
is not served also forgoes its pass-through reimbursement (``pi`` per MWh for classes with
``power_pass_through``), otherwise shedding a pass-through tenant in a price spike would keep
the reimbursement of energy never delivered; each class's shortfall costs its own lease's SLA
penalty.

Conventions
-----------
- Energy is MWh per hour (= MW); money USD; ``T`` hours, ``S`` sites, ``C`` ASIC classes,
  ``K`` GPU classes, ``L`` leases, ``Mu`` months.
- Firm shortfall is allowed only in hours with a curtailment order, only for classes whose
  leases allow it, and at most by the gap between the site's firm load and the curtailed
  import cap (:func:`add_firm_shortfall`), priced at each lease's own SLA penalty.
- The monthly minimum take of a month only partly inside the horizon is scaled pro rata by
  its hours: ``Min[s,mu] = min_take_mwh_per_month * hours_of_mu_in_horizon / hours_of_mu``.
"""

from __future__ import annotations

import numpy as np

from optimizer.errors import SolverError
from optimizer.lp.data import (
    DOWN_CLASS,
    DOWN_GPU,
    UP_CLASS,
    UP_GPU,
    UP_POINT,
    AncillaryPairs,
    LpData,
    ancillary_pairs,
    class_top_point,
)
from optimizer.lp.model import INF, Block, Lp, LpBuilder


def _site_hour_rows(site: np.ndarray, T: int) -> np.ndarray:
    """Local row numbers ``s*T + t`` of an ``[S, T]`` row block for items at sites ``site``."""
    return site[:, None] * T + np.arange(T)


# --------------------------------------------------------------------------- variables


def add_variables(b: LpBuilder, d: LpData) -> dict[str, np.ndarray]:
    """The variable blocks of docs/model.md §5.2 (all continuous, >= 0), and ``L``.

    - ``u[c,t] <= 1``: fraction of ASIC class c running;
    - ``n[k] <= G[k]``: GPU servers installed; ``f[k] <= G[k]`` firm servers (0 unless the
      class may be sold firm); ``v[k,t] <= G[k]`` interruptible servers (interruptible
      classes only: rows of ``v`` map to classes via ``gpu_v``);
    - ``y[s]``: MW converted (bounded by :func:`add_conversion_bound`);
    - ``g[s,t]``: MWh bought at spot; ``q[s,t] <= B[s,t]``: PPA MWh not used (resold where
      resale pays, spilled otherwise);
    - ``w[k,t]``: firm MWh of class k not served (bounded by :func:`add_firm_shortfall`);
    - ``z[s,mu]``: monthly minimum-take shortfall [MWh];
    - ``L[s,t]``: site load [MW], defined by :func:`add_load_definition`;
    - ``up[p,t] <= 1``: fraction of operating point p's class running at p (§5.4.15);
    - ``a[i,t]``: MW reserved for ancillary pair i (:func:`~optimizer.lp.data.ancillary_pairs`,
      §5.4.14).
    """
    S, T, C, K = d.n_sites, d.hours, len(d.class_names), len(d.gpu_names)
    G = d.gpu_max_servers
    gpu_v, gpu_w = gpu_rows(d)
    b.add_vars("u", (C, T), 0.0, 1.0)
    b.add_vars("n", (K,), 0.0, G)
    b.add_vars("f", (K,), 0.0, np.where(d.gpu_firm, G, 0.0))
    b.add_vars("v", (len(gpu_v), T), 0.0, G[gpu_v, None])
    b.add_vars("y", (S,), 0.0, INF)
    b.add_vars("g", (S, T), 0.0, INF)
    b.add_vars("q", (S, T), 0.0, d.ppa_block_mw)
    b.add_vars("w", (len(gpu_w), T), 0.0, INF)
    b.add_vars("z", (S, d.n_months), 0.0, INF)
    b.add_vars("L", (S, T), 0.0, INF)
    b.add_vars("up", (d.n_points, T), 0.0, 1.0)
    b.add_vars("a", (len(ancillary_pairs(d).offer), T), 0.0, INF)
    return {"gpu_v": gpu_v, "gpu_w": gpu_w}


def gpu_rows(d: LpData) -> tuple[np.ndarray, np.ndarray]:
    """GPU classes behind the rows of the ``v`` block (interruptible) and of the ``w`` block
    (firm classes whose leases allow shortfall)."""
    return np.flatnonzero(d.gpu_interruptible), np.flatnonzero(d.gpu_may_shed)


def set_objective(b: LpBuilder, d: LpData, gpu_v: np.ndarray, gpu_w: np.ndarray) -> None:
    """Objective (docs/model.md §5.3), as the minimization of minus the margin [USD].

    ``-[sum R u + sum Rf f + sum Rv v - sum cn n T - sum (pi g - psi max(pi,0) q + sigma q
    + p_ppa B) - sum cy y T - sum (rho[k] + pt[k,t]) w - p_short sum z]``; the coincident-peak
    term ``kappa L`` is added by :func:`add_peak_adders`. The take-or-pay PPA cost
    ``sum p_ppa B`` is a constant offset. Unserved firm energy of a pass-through class also
    forgoes its reimbursement ``pt`` per MWh (module note).
    """
    T = d.hours
    pi = d.price_usd_per_mwh
    b.add_cost(b.cols["u"], -d.revenue_usd)
    b.add_cost(b.cols["n"], d.gpu_capex_usd_per_hour * T)
    b.add_cost(b.cols["f"], -d.gpu_revenue_usd.sum(axis=1))
    b.add_cost(b.cols["v"], -d.gpu_revenue_usd[gpu_v])
    b.add_cost(b.cols["y"], d.conversion_usd_per_mw_hour * T)
    b.add_cost(b.cols["g"], pi)
    b.add_cost(
        b.cols["q"], -d.resale_factor[:, None] * np.maximum(pi, 0.0) + d.settlement_usd_per_mwh
    )
    b.add_cost(
        b.cols["w"],
        d.gpu_sla_penalty_usd_per_mwh[gpu_w, None] + d.gpu_pass_through_usd_per_mwh[gpu_w],
    )
    b.add_cost(b.cols["z"], d.shortfall_usd_per_mwh[:, None])
    b.add_cost(b.cols["up"], -d.point_revenue_usd)
    b.offset += float((d.ppa_price_usd_per_mwh[:, None] * d.ppa_block_mw).sum())


# --------------------------------------------------------------------------- constraint families


def add_load_definition(b: LpBuilder, d: LpData, gpu_v: np.ndarray, gpu_w: np.ndarray) -> Block:
    """Site load (docs/model.md §5.4.1): ``sum_c E u + sum_k Eg (f + v) - w - L = 0`` per site-hour."""
    S, T = d.n_sites, d.hours
    c = b.cols
    terms = [
        (_site_hour_rows(d.class_site, T), c["u"].ids(), d.energy_mwh),
        (_site_hour_rows(d.gpu_site, T), np.repeat(c["f"].ids()[:, None], T, 1), d.gpu_energy_mwh),
        (_site_hour_rows(d.gpu_site[gpu_v], T), c["v"].ids(), d.gpu_energy_mwh[gpu_v]),
        (_site_hour_rows(d.gpu_site[gpu_w], T), c["w"].ids(), -1.0),
        (np.arange(S * T), c["L"].ids(), -1.0),
        _point_terms(b, d),
    ]
    return b.add_rows("load", (S, T), terms, 0.0, 0.0)


def _point_terms(b: LpBuilder, d: LpData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``E_p up[p,t]`` in site-hour rows: the energy of classes running at operating points."""
    T = d.hours
    return (_site_hour_rows(d.class_site[d.point_class], T), b.cols["up"].ids(), d.point_energy_mwh)


def add_energy_balance(b: LpBuilder, d: LpData) -> Block:
    """Energy balance (docs/model.md §5.4.2) with PPA resale: ``L[s,t] = B[s,t] - q[s,t] + g[s,t]``.

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
    """Import limit (docs/model.md §5.4.3) with curtailment orders: ``L[s,t] <= Cap[s,t]``.

    ``Cap`` is the interconnect minus the hour's curtailment order. Its dual, sign flipped, is
    the value of one more MW of import in that hour [USD/MWh].
    """
    S, T = d.n_sites, d.hours
    terms = [(np.arange(S * T), b.cols["L"].ids(), 1.0)]
    return b.add_rows("import", (S, T), terms, -INF, d.import_cap_mw)


def add_mining_halls(b: LpBuilder, d: LpData) -> Block:
    """Mining halls (docs/model.md §5.4.4): ``sum_c E[c,t] u[c,t] + y[s] <= M[s]`` (hosted ASICs included)."""
    S, T = d.n_sites, d.hours
    c = b.cols
    terms = [
        (_site_hour_rows(d.class_site, T), c["u"].ids(), d.energy_mwh),
        (np.arange(S * T), np.repeat(c["y"].ids()[:, None], T, 1), 1.0),
        _point_terms(b, d),
    ]
    return b.add_rows(
        "mining_hall", (S, T), terms, -INF, np.repeat(d.mining_hall_mw[:, None], T, 1)
    )


def add_hpc_halls(b: LpBuilder, d: LpData, gpu_v: np.ndarray) -> Block:
    """HPC halls (docs/model.md §5.4.5): ``sum_k Eg[k,t] (f[k] + v[k,t]) - y[s] <= existing_hpc_mw[s]``.

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
    """Conversion bound (docs/model.md §5.4.6): ``y[s] <= Y[s]`` (convertible MW), as a bound.

    Its reduced cost, sign flipped, is the value of one more convertible MW over the horizon.
    """
    b.set_upper(b.cols["y"], d.convertible_mw)


def add_server_limits(b: LpBuilder, d: LpData, gpu_v: np.ndarray) -> Block:
    """Servers (docs/model.md §5.4.7): ``f[k] + v[k,t] <= n[k]``, ``n[k] <= G[k]``.

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
    """Leases (docs/model.md §5.4.8): ``min_mw[l] <= sum_{k in l} Eg_it[k] f[k] <= max_mw[l]`` (IT MW, firm)."""
    f = b.cols["f"].ids()
    rows = np.concatenate([np.full(len(m), i) for i, m in enumerate(d.lease_members)] or [[]])
    members = np.concatenate(list(d.lease_members) or [np.zeros(0, np.int64)]).astype(np.int64)
    terms = [(rows.astype(np.int64), f[members], d.gpu_it_mw[members])]
    return b.add_rows("lease", (len(d.lease_names),), terms, d.lease_min_mw, d.lease_max_mw)


def add_hosted_uptime(b: LpBuilder, d: LpData) -> tuple[Block, np.ndarray]:
    """Hosted uptime (docs/model.md §5.4.9): ``sum_{t: E[c,t] > 0} u[c,t] >= U[c] * T``.

    For hosted classes with ``U > 0``; hours in which the class is tripped on heat (``E = 0``,
    it draws and hashes nothing) do not count as uptime.
    """
    T = d.hours
    hosted = np.flatnonzero(d.class_hosted & (d.class_uptime > 0))
    u = b.cols["u"].ids()
    rows = np.repeat(np.arange(len(hosted))[:, None], T, 1)
    hashes = (d.energy_mwh[hosted] > 0).astype(float)
    block = b.add_rows(
        "uptime", (len(hosted),), [(rows, u[hosted], hashes)], d.class_uptime[hosted] * T, INF
    )
    return block, hosted


def add_min_take(b: LpBuilder, d: LpData) -> tuple[Block, np.ndarray]:
    """Monthly minimum take (docs/model.md §5.4.10): ``sum_{t in mu} L[s,t] + z[s,mu] >= Min[s,mu]``.

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
    """Ramp limits (docs/model.md §5.4.11) (sites with a limit): ``-ramp <= L[s,t] - L[s,t-1] <= ramp``, t >= 1."""
    T = d.hours
    sites = np.flatnonzero(np.isfinite(d.ramp_mw_per_hour))
    L = b.cols["L"].ids()[sites]
    rows = np.arange(len(sites) * (T - 1)).reshape(len(sites), T - 1)
    ramp = np.repeat(d.ramp_mw_per_hour[sites, None], T - 1, 1)
    terms = [(rows, L[:, 1:], 1.0), (rows, L[:, :-1], -1.0)]
    block = b.add_rows("ramp", (len(sites), T - 1), terms, -ramp, ramp)
    return block, sites


def firm_load_range_mw(d: LpData) -> tuple[np.ndarray, np.ndarray]:
    """Least and most firm wall load each site can carry in each hour, ``[S, T]`` [MW].

    ``F[s,t] = sum_k Eg[k,t] f[k]`` over the site's firm classes. A lease with IT bounds
    ``min..max`` draws at least ``min * min_k Eg/Eg_it`` and at most
    ``min(sum_k Eg G, max * max_k Eg/Eg_it)`` over its classes; site bounds add the leases
    (the largest minimum where leases share a class) and cap the most at ``sum_k Eg G``.
    """
    S, T = d.n_sites, d.hours
    Eg = d.gpu_energy_mwh
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(d.gpu_it_mw[:, None] > 0, Eg / d.gpu_it_mw[:, None], np.inf)
    lo = np.zeros((S, T))
    hi = np.zeros((S, T))
    for i, members in enumerate(d.lease_members):
        s = d.lease_site[i]
        least = d.lease_min_mw[i] * ratio[members].min(axis=0) if d.lease_min_mw[i] > 0 else 0.0
        shared = any(
            np.intersect1d(members, d.lease_members[j]).size
            for j in np.flatnonzero(d.lease_site == s)
            if j != i
        )
        lo[s] = np.maximum(lo[s], least) if shared else lo[s] + least
        most = (Eg[members] * d.gpu_max_servers[members, None]).sum(axis=0)
        if np.isfinite(d.lease_max_mw[i]):
            most = np.minimum(most, d.lease_max_mw[i] * ratio[members].max(axis=0))
        hi[s] += most
    firm = np.flatnonzero(d.gpu_firm)
    cap = by_site_sum(Eg[firm] * d.gpu_max_servers[firm, None], d.gpu_site[firm], S)
    return lo, np.maximum(np.minimum(hi, cap), lo)


def by_site_sum(values: np.ndarray, site: np.ndarray, n_sites: int) -> np.ndarray:
    """Sum rows of ``values [N, T]`` into their sites, ``[S, T]``."""
    out = np.zeros((n_sites, values.shape[1]))
    np.add.at(out, site, values)
    return out


def shortfall_secant(d: LpData) -> tuple[np.ndarray, np.ndarray]:
    """Slope ``a[s,t]`` and intercept ``b[s,t]`` [MW] of the bound ``sum_k w <= a F + b``.

    The firm load that the curtailed cap cannot carry is ``gap(F) = max(0, F - Cap)``, convex
    in ``F``. Its secant over ``[Fmin, Fmax]`` (:func:`firm_load_range_mw`) is the least linear
    function that is never below the gap there: it never forbids shedding an order forces, is
    exact at both ends and everywhere when ``Fmin = Fmax`` (lease min = max) or when the cap is
    below ``Fmin`` (then ``a = 1``, ``b = -Cap``). Hours without an order: ``a = b = 0``.
    """
    lo, hi = firm_load_range_mw(d)
    cap = d.import_cap_mw
    g_lo = np.maximum(lo - cap, 0.0)
    g_hi = np.maximum(hi - cap, 0.0)
    width = hi - lo
    wide = width > 1e-9 * np.maximum(hi, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(wide, (g_hi - g_lo) / np.where(wide, width, 1.0), 0.0)
    b = np.where(wide, g_lo - a * lo, g_hi)
    return np.where(d.curtailed, a, 0.0), np.where(d.curtailed, b, 0.0)


def add_firm_shortfall(b: LpBuilder, d: LpData, gpu_w: np.ndarray) -> np.ndarray:
    """Firm HPC shortfall (docs/model.md §5.4.12): only what the curtailed cap cannot carry.

    Per class ``w[k,t] <= Eg[k,t] f[k]``; per site and hour
    ``sum_{k in K_sh(s)} w[k,t] <= a[s,t] sum_{k firm at s} Eg[k,t] f[k] + b[s,t]``
    (:func:`shortfall_secant`), so firm load is unserved only where the order leaves less
    import than the firm load needs with all mining and interruptible load off, and at most by
    that gap (exactly where lease min = max). ``w = 0`` in hours without an order or where the
    cap carries the most firm load. ``K_sh`` (``gpu_w``): firm classes whose leases allow
    shortfall; each is priced at its own lease's SLA penalty. Returns the sites of the
    ``shortfall_gap`` rows.
    """
    S, T = d.n_sites, d.hours
    W = len(gpu_w)
    w = b.cols["w"]
    a, icpt = shortfall_secant(d)
    b.set_upper(w, np.where(((a > 0) | (icpt > 0))[d.gpu_site[gpu_w]], INF, 0.0))
    rows = np.arange(W * T).reshape(W, T)
    f = np.repeat(b.cols["f"].ids()[gpu_w, None], T, 1)
    terms = [(rows, w.ids(), 1.0), (rows, f, -d.gpu_energy_mwh[gpu_w])]
    b.add_rows("shortfall", (W, T), terms, -INF, 0.0)
    # one gap row per hour at each site with sheddable classes (none on f elsewhere)
    sites = np.unique(d.gpu_site[gpu_w])
    local = np.full(S, -1, dtype=np.int64)
    local[sites] = np.arange(len(sites))
    firm = np.flatnonzero(d.gpu_firm & (local[d.gpu_site] >= 0))
    gap_terms = [
        (_site_hour_rows(local[d.gpu_site[gpu_w]], T), w.ids(), 1.0),
        (
            _site_hour_rows(local[d.gpu_site[firm]], T),
            np.repeat(b.cols["f"].ids()[firm, None], T, 1),
            -a[d.gpu_site[firm]] * d.gpu_energy_mwh[firm],
        ),
    ]
    b.add_rows("shortfall_gap", (len(sites), T), gap_terms, -INF, icpt[sites])
    return sites


def add_operating_points(b: LpBuilder, d: LpData) -> np.ndarray:
    """Operating points (docs/model.md §5.4.15): ``u[c,t] + sum_{p of c} up[p,t] <= 1``.

    One row per hour for each class with operating points: the class's machines run at a mix
    of nameplate and points, or are off. Returns the classes of the rows.
    """
    T = d.hours
    classes = np.unique(d.point_class)
    local = np.full(len(d.class_names), -1, dtype=np.int64)
    local[classes] = np.arange(len(classes))
    terms = [
        (_site_hour_rows(np.arange(len(classes)), T), b.cols["u"].ids()[classes], 1.0),
        (_site_hour_rows(local[d.point_class], T), b.cols["up"].ids(), 1.0),
    ]
    b.add_rows("operating_mix", (len(classes), T), terms, -INF, 1.0)
    return classes


def _unit_rows(pairs: AncillaryPairs, sel: np.ndarray, T: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct ``(kind, unit)`` of the selected pairs, and each pair's local row ``[n, T]``."""
    keys = pairs.kind[sel] * (1 << 40) + pairs.unit[sel]
    units, local = np.unique(keys, return_inverse=True)
    return units, _site_hour_rows(local.astype(np.int64), T)


def add_ancillary(b: LpBuilder, d: LpData) -> AncillaryPairs:
    """Ancillary services from curtailable load (docs/model.md §5.4.14).

    ``a[i,t]`` reserves MW for offer ``j(i)`` from unit ``i``'s load (pairs:
    :func:`~optimizer.lp.data.ancillary_pairs`); it earns ``p_as[j,t]`` per MW and costs
    ``delta[j] m[i,t]`` (expected deployment times the margin of the load moved).

    - ``ancillary_up``: per unit and hour, ``sum_i a[i,t] <= E x`` (the unit's running load:
      ``E u``, ``E_p up`` or ``Eg v``): never more than the load that can be dropped;
    - ``ancillary_down`` (REGDN): ``sum_i a[i,t] + sum E u <= E_top`` per ASIC class (the
      load its machines can add, up to the most power-hungry point) and
      ``sum_i a[i,t] + Eg (f + v - n) <= 0`` per interruptible GPU class;
    - ``ancillary_offer``: ``sum_{i of j} a[i,t] <= max_mw[j]`` where finite;
    - ``regdn_import``, ``regdn_mining_hall``, ``regdn_hpc_hall``: per site with REGDN, the
      raised load fits the import cap ``L + sum a <= Cap``, the mining halls (ASIC part)
      and the HPC halls (GPU part).
    """
    T, S = d.hours, d.n_sites
    pairs = ancillary_pairs(d)
    a = b.cols["a"].ids()
    c = b.cols
    j = pairs.offer
    b.add_cost(
        c["a"],
        -d.ancillary_price_usd_per_mw_hour[j]
        + d.ancillary_deployment_share[j, None] * pairs.margin_usd_per_mwh,
    )
    gpu_row = np.full(len(d.gpu_names), -1, dtype=np.int64)
    gpu_row[np.flatnonzero(d.gpu_interruptible)] = np.arange(int(d.gpu_interruptible.sum()))
    # dropping load
    up = np.isin(pairs.kind, (UP_CLASS, UP_POINT, UP_GPU))
    units, rows = _unit_rows(pairs, up, T)
    kind, unit = units >> 40, units & ((1 << 40) - 1)
    load_col = np.zeros((len(units), T), dtype=np.int64)
    load_coef = np.zeros((len(units), T))
    for k, block, E in (
        (UP_CLASS, "u", d.energy_mwh),
        (UP_POINT, "up", d.point_energy_mwh),
        (UP_GPU, "v", d.gpu_energy_mwh),
    ):
        sel = kind == k
        if sel.any():
            rows_of = gpu_row[unit[sel]] if k == UP_GPU else unit[sel]  # v: interruptible only
            load_col[sel], load_coef[sel] = c[block].ids()[rows_of], E[unit[sel]]
    local = np.arange(len(units) * T).reshape(len(units), T)
    b.add_rows(
        "ancillary_up",
        (len(units), T),
        [(rows, a[up], 1.0), (local, load_col, -load_coef)],
        -INF,
        0.0,
    )
    # raising load (REGDN): the machines' headroom
    down = ~up
    units, rows = _unit_rows(pairs, down, T)
    kind, unit = units >> 40, units & ((1 << 40) - 1)
    local = np.arange(len(units) * T).reshape(len(units), T)
    E_top, _ = class_top_point(d)
    terms = [(rows, a[down], 1.0)]
    upper = np.zeros((len(units), T))
    asic = np.flatnonzero(kind == DOWN_CLASS)
    if asic.size:
        cls = unit[asic]
        terms.append((local[asic], c["u"].ids()[cls], d.energy_mwh[cls]))
        upper[asic] = E_top[cls]
        slot = np.full(len(d.class_names), -1, dtype=np.int64)
        slot[cls] = asic
        pts = np.flatnonzero(slot[d.point_class] >= 0)
        terms.append((local[slot[d.point_class[pts]]], c["up"].ids()[pts], d.point_energy_mwh[pts]))
    gpu = np.flatnonzero(kind == DOWN_GPU)
    if gpu.size:
        k = unit[gpu]
        Eg = d.gpu_energy_mwh[k]
        terms += [
            (local[gpu], c["v"].ids()[gpu_row[k]], Eg),
            (local[gpu], np.repeat(c["f"].ids()[k, None], T, 1), Eg),
            (local[gpu], np.repeat(c["n"].ids()[k, None], T, 1), -Eg),
        ]
    b.add_rows("ancillary_down", (len(units), T), terms, -INF, upper)
    # offer limits
    capped = np.flatnonzero(np.isfinite(d.ancillary_max_mw))
    slot = np.full(d.n_ancillary, -1, dtype=np.int64)
    slot[capped] = np.arange(len(capped))
    has = slot[j] >= 0
    b.add_rows(
        "ancillary_offer",
        (len(capped), T),
        [(_site_hour_rows(slot[j[has]], T), a[has], 1.0)],
        -INF,
        np.repeat(d.ancillary_max_mw[capped, None], T, 1),
    )
    # REGDN: the raised load under every site cap
    sites = np.unique(pairs.site[down])
    at = np.full(S, -1, dtype=np.int64)
    at[sites] = np.arange(len(sites))
    n = len(sites)
    hall_asic = down & (pairs.kind == DOWN_CLASS)
    hall_gpu = down & (pairs.kind == DOWN_GPU)
    own_rows = _site_hour_rows(at[pairs.site], T)
    in_site = at[d.class_site] >= 0
    gpu_in = at[d.gpu_site] >= 0
    v_in = np.flatnonzero(gpu_in & d.gpu_interruptible)
    pts = np.flatnonzero(at[d.class_site[d.point_class]] >= 0)
    b.add_rows(
        "regdn_import",
        (n, T),
        [
            (own_rows[down], a[down], 1.0),
            (_site_hour_rows(np.arange(n), T), c["L"].ids()[sites], 1.0),
        ],
        -INF,
        d.import_cap_mw[sites],
    )
    b.add_rows(
        "regdn_mining_hall",
        (n, T),
        [
            (own_rows[hall_asic], a[hall_asic], 1.0),
            (
                _site_hour_rows(at[d.class_site[in_site]], T),
                c["u"].ids()[in_site],
                d.energy_mwh[in_site],
            ),
            (
                _site_hour_rows(at[d.class_site[d.point_class[pts]]], T),
                c["up"].ids()[pts],
                d.point_energy_mwh[pts],
            ),
            (_site_hour_rows(np.arange(n), T), np.repeat(c["y"].ids()[sites, None], T, 1), 1.0),
        ],
        -INF,
        np.repeat(d.mining_hall_mw[sites, None], T, 1),
    )
    firm_in = np.flatnonzero(gpu_in)
    b.add_rows(
        "regdn_hpc_hall",
        (n, T),
        [
            (own_rows[hall_gpu], a[hall_gpu], 1.0),
            (
                _site_hour_rows(at[d.gpu_site[firm_in]], T),
                np.repeat(c["f"].ids()[firm_in, None], T, 1),
                d.gpu_energy_mwh[firm_in],
            ),
            (
                _site_hour_rows(at[d.gpu_site[v_in]], T),
                c["v"].ids()[gpu_row[v_in]],
                d.gpu_energy_mwh[v_in],
            ),
            (_site_hour_rows(np.arange(n), T), np.repeat(c["y"].ids()[sites, None], T, 1), -1.0),
        ],
        -INF,
        np.repeat(d.existing_hpc_mw[sites, None], T, 1),
    )
    return pairs


def add_peak_adders(b: LpBuilder, d: LpData) -> None:
    """Coincident-peak adders (docs/model.md §5.4.13): ``kappa[s,t] L[s,t]`` added to the cost."""
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
    """Assemble the whole LP (docs/model.md §5) from its parameters.

    Parameters
    ----------
    d : LpData

    Returns
    -------
    Lp
        Blocks ``u n f v y g q w z L up a`` (columns) and ``load energy_balance import
        mining_hall hpc_hall servers lease uptime min_take ramp shortfall shortfall_gap
        operating_mix ancillary_up ancillary_down ancillary_offer regdn_import
        regdn_mining_hall regdn_hpc_hall`` (rows; ``up``, ``a`` and the last seven empty
        without operating points and ancillary offers).
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
    add_operating_points(b, d)
    add_ancillary(b, d)
    _check_finite(b, d)
    return b.finish(
        gpu_v=gpu_v,
        gpu_w=gpu_w,
        ramp_sites=ramp_sites,
        take_sites=take_sites,
        hosted_classes=hosted,
    )
