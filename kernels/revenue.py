"""Revenue, energy and breakeven of every ASIC and GPU server, hour by hour.

Bitcoin economics (subsidy, hashprice, difficulty) live in `kernels.bitcoin`.

Machine-hour model (docs/model.md §3)
-------------------------------------
For machine ``m`` at site ``s`` with cooling type ``q``, in hour ``t``::

    dT       = max(0, temp_c[s, t] - t_ref_c[m])
    hashrate = hashrate_ths[m] * availability[m] * max(0, 1 - alpha_per_c[m] * dT)   [TH/s]
    power    = power_kw[m] * (1 + beta_per_c[m] * dT)                                [kW]
    pue      = pue0[s, q] + pue_slope[s, q] * max(0, temp_c[s, t] - pue_ref_c[s, q])  [-]
    e        = power * pue / 1000                                           [MWh in the hour]
    r        = hashrate * usd_per_th_hour[t]      (own ASIC)                 [USD in the hour]
             = hosting_usd_per_mwh[m] * e         (hosted ASIC)
    trip:      temp_c[s, t] > t_max_c[m]  ->  r = e = 0
    breakeven  = r / e  [USD/MWh], defined where e > 0

GPU servers use the same power derating, trip and PUE; their revenue is
``gpus * rate_usd_per_gpu_hour[k, t] * utilization`` (cloud) or
``lease_usd_per_kw_month * it_kw / 730`` (colocation, 730 hours in an average month), plus
``e * price_usd_per_mwh[s, t]`` when the tenant reimburses energy at spot (pass-through).

Kernels
-------
`score_asics` is fused: one pass over machine-hours accumulates per-class hourly sums and
per-machine horizon totals without materializing a machines x hours array.
`score_asics_matrix` returns the full matrices (small fleets, tests). `kernels.reference` is a
plain-numpy twin of the three kernels with the same signatures.

The compiled loops keep hours innermost over contiguous rows, read a per-(site, cooling,
hour) table of ``pue / 1000`` computed once, and run hour blocks in parallel: each block owns
its columns of the class sums and its row of per-machine partial totals, so the reduction is
race-free, and the block size depends only on the horizon, so results do not depend on the
number of threads (`numba.set_num_threads` is respected).

fastmath: ``nsz, arcp, contract, afn, reassoc`` (vectorized reductions, FMA) but *not*
``nnan``/``ninf``: NaN marks a machine that never draws power, and comparisons must stay
IEEE-correct.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit, prange

from kernels.inputs import block_hours_for, floats, indices, point_arrays, site_tables

FASTMATH_FLAGS = {"nsz", "arcp", "contract", "afn", "reassoc"}
"""LLVM fast-math flags of the kernels: no ``nnan``/``ninf``, so NaN and inf stay IEEE."""

HOURS_PER_MONTH = 730.0
"""Hours in an average month (8760 / 12) [h], for leases priced per kW-month."""


class AsicScores(NamedTuple):
    """Fused ASIC scores: class-hour sums and per-machine horizon totals."""

    revenue_usd: np.ndarray
    """float64[C, T]: revenue of the whole class running in hour t [USD]."""
    energy_mwh: np.ndarray
    """float64[C, T]: energy of the whole class running in hour t, PUE included [MWh]."""
    machine_revenue_usd: np.ndarray
    """float64[M]: revenue over the horizon, machine always on [USD]."""
    machine_energy_mwh: np.ndarray
    """float64[M]: energy over the horizon, machine always on [MWh]."""
    machine_hours_in_money: np.ndarray
    """int64[M]: hours with e > 0 and r > e * spot price [h]."""
    machine_mean_breakeven_usd_per_mwh: np.ndarray
    """float64[M]: mean of r / e over hours with e > 0, NaN if none [USD/MWh]."""
    point_revenue_usd: np.ndarray | None = None
    """float64[P, T]: revenue of operating point p's whole class running at p [USD]."""
    point_energy_mwh: np.ndarray | None = None
    """float64[P, T]: energy of operating point p's whole class running at p [MWh]."""


class AsicMatrix(NamedTuple):
    """Full machine x hour ASIC matrices."""

    revenue_usd: np.ndarray
    """float64[M, T]: revenue in the hour [USD]."""
    energy_mwh: np.ndarray
    """float64[M, T]: energy in the hour, PUE included [MWh]."""
    breakeven_usd_per_mwh: np.ndarray
    """float64[M, T]: r / e, NaN where e == 0 (tripped) [USD/MWh]."""


class GpuScores(NamedTuple):
    """Per-server GPU scores of each GPU class."""

    revenue_usd: np.ndarray
    """float64[K, T]: revenue of one server in hour t, pass-through energy included [USD]."""
    energy_mwh: np.ndarray
    """float64[K, T]: energy of one server in hour t, PUE included [MWh]."""


# --------------------------------------------------------------------------- compiled kernels


@njit(inline="always", fastmath=FASTMATH_FLAGS)
def _asic_hour(
    temp_c, mwh_per_kw, usd_per_th_hour, ths_paid, alpha, kw, beta, t_ref, t_max, host_rate
):
    """(revenue [USD], energy [MWh]) of one ASIC in one hour.

    ``ths_paid`` is hashrate x availability (0 for hosted machines) and ``host_rate`` the
    hosting price (0 for own machines), so one branch-free formula covers both.
    """
    dt = max(temp_c - t_ref, 0.0)
    e = kw * (1.0 + beta * dt) * mwh_per_kw
    r = ths_paid * max(1.0 - alpha * dt, 0.0) * usd_per_th_hour + host_rate * e
    on = temp_c <= t_max
    return (r if on else 0.0), (e if on else 0.0)


@njit(parallel=True, cache=True, fastmath=FASTMATH_FLAGS)
def _score_asics_fused(
    usd_per_th_hour,
    temp_c,
    price_usd_per_mwh,
    mwh_per_kw,
    site,
    cooling,
    klass,
    ths_paid,
    alpha,
    kw,
    beta,
    t_ref,
    t_max,
    host_rate,
    paid_share,
    point_start,
    point_ths,
    point_kw,
    block_hours,
    revenue,
    energy,
    point_revenue,
    point_energy,
    partial,
    machine_revenue,
    machine_energy,
    machine_in_money,
    machine_breakeven,
):
    # Outputs come allocated by numpy (zeroed revenue, energy): numpy asks the OS for huge
    # pages on big arrays, which makes first-touch page faults several times cheaper.
    # partial[b, 0..4, m]: revenue, energy, hours in money, sum of breakevens, hours with e > 0
    n_machines = site.shape[0]
    n_hours = temp_c.shape[1]
    n_blocks = partial.shape[0]
    for b in prange(n_blocks):
        t0 = b * block_hours
        t1 = min(n_hours, t0 + block_hours)
        # Rows are sliced to the block and indexed from 0: indexing temp_c[s, t] with t
        # starting at t0 kept LLVM from vectorizing the loop (measured 7x slower).
        usd_b = usd_per_th_hour[t0:t1]
        for m in range(n_machines):
            s = site[m]
            c = klass[m]
            temp_b = temp_c[s, t0:t1]
            price_b = price_usd_per_mwh[s, t0:t1]
            pue_b = mwh_per_kw[s, cooling[m], t0:t1]
            rev_b = revenue[c, t0:t1]
            en_b = energy[c, t0:t1]
            a = alpha[m]
            w = kw[m]
            be = beta[m]
            tr = t_ref[m]
            tm = t_max[m]
            h = ths_paid[m]
            hr = host_rate[m]
            rev = 0.0
            en = 0.0
            in_money = 0.0
            breakeven_sum = 0.0
            n_on = 0.0
            for i in range(t1 - t0):
                r, e = _asic_hour(temp_b[i], pue_b[i], usd_b[i], h, a, w, be, tr, tm, hr)
                rev_b[i] += r
                en_b[i] += e
                rev += r
                en += e
                on = e > 0.0
                in_money += 1.0 if (on and r > e * price_b[i]) else 0.0
                # the one division left: a mean of ratios needs r / e in every hour
                breakeven_sum += r / e if on else 0.0
                n_on += 1.0 if on else 0.0
            partial[b, 0, m] = rev
            partial[b, 1, m] = en
            partial[b, 2, m] = in_money
            partial[b, 3, m] = breakeven_sum
            partial[b, 4, m] = n_on
            # the class's operating points: same derating and trip, the point's figures
            for p in range(point_start[c], point_start[c + 1]):
                prev_b = point_revenue[p, t0:t1]
                pen_b = point_energy[p, t0:t1]
                ph = point_ths[p] * paid_share[m]
                pw = point_kw[p]
                for i in range(t1 - t0):
                    r, e = _asic_hour(temp_b[i], pue_b[i], usd_b[i], ph, a, pw, be, tr, tm, hr)
                    prev_b[i] += r
                    pen_b[i] += e
    for m in prange(n_machines):
        rev = 0.0
        en = 0.0
        in_money = 0.0
        breakeven_sum = 0.0
        n_on = 0.0
        for b in range(n_blocks):
            rev += partial[b, 0, m]
            en += partial[b, 1, m]
            in_money += partial[b, 2, m]
            breakeven_sum += partial[b, 3, m]
            n_on += partial[b, 4, m]
        machine_revenue[m] = rev
        machine_energy[m] = en
        machine_in_money[m] = np.int64(in_money + 0.5)  # exact: counts < 2**53
        machine_breakeven[m] = breakeven_sum / n_on if n_on > 0.0 else np.nan


@njit(parallel=True, cache=True, fastmath=FASTMATH_FLAGS)
def _score_asics_matrix(
    usd_per_th_hour,
    temp_c,
    mwh_per_kw,
    site,
    cooling,
    ths_paid,
    alpha,
    kw,
    beta,
    t_ref,
    t_max,
    host_rate,
    revenue,
    energy,
    breakeven,
):
    n_machines = site.shape[0]
    n_hours = temp_c.shape[1]
    for m in prange(n_machines):
        s = site[m]
        temp_m = temp_c[s]
        pue_m = mwh_per_kw[s, cooling[m]]
        rev_m = revenue[m]
        en_m = energy[m]
        be_m = breakeven[m]
        a = alpha[m]
        w = kw[m]
        be = beta[m]
        tr = t_ref[m]
        tm = t_max[m]
        h = ths_paid[m]
        hr = host_rate[m]
        for t in range(n_hours):
            r, e = _asic_hour(temp_m[t], pue_m[t], usd_per_th_hour[t], h, a, w, be, tr, tm, hr)
            rev_m[t] = r
            en_m[t] = e
            be_m[t] = r / e if e > 0.0 else np.nan


@njit(parallel=True, cache=True, fastmath=FASTMATH_FLAGS)
def _score_gpus(
    temp_c,
    price_usd_per_mwh,
    mwh_per_kw,
    site,
    cooling,
    power_kw,
    it_kw,
    colocation,
    gpus,
    rate_usd_per_gpu_hour,
    utilization,
    lease_usd_per_kw_month,
    power_pass_through,
    beta,
    t_ref,
    t_max,
    revenue,
    energy,
):
    n_servers = site.shape[0]
    n_hours = temp_c.shape[1]
    for k in prange(n_servers):
        s = site[k]
        temp_k = temp_c[s]
        price_k = price_usd_per_mwh[s]
        pue_k = mwh_per_kw[s, cooling[k]]
        rate_k = rate_usd_per_gpu_hour[k]
        rev_k = revenue[k]
        en_k = energy[k]
        # cloud: gpus * rate * utilization; colocation: a flat hourly lease
        cloud = 0.0 if colocation[k] else gpus[k] * utilization[k]
        lease = lease_usd_per_kw_month[k] * it_kw[k] / HOURS_PER_MONTH if colocation[k] else 0.0
        spot = 1.0 if power_pass_through[k] else 0.0
        w = power_kw[k]
        be = beta[k]
        tr = t_ref[k]
        tm = t_max[k]
        for t in range(n_hours):
            tc = temp_k[t]
            e = w * (1.0 + be * max(tc - tr, 0.0)) * pue_k[t]
            r = cloud * rate_k[t] + lease + spot * e * price_k[t]
            on = tc <= tm
            rev_k[t] = r if on else 0.0
            en_k[t] = e if on else 0.0


# --------------------------------------------------------------------------- public kernels


def _asic_arrays(
    usd_per_th_hour,
    temp_c,
    price_usd_per_mwh,
    pue0,
    pue_slope,
    pue_ref_c,
    site,
    cooling,
    klass,
    hashrate_ths,
    power_kw,
    availability,
    alpha_per_c,
    beta_per_c,
    t_ref_c,
    t_max_c,
    hosted,
    hosting_usd_per_mwh,
    n_classes,
):
    temp, price, mwh_per_kw = site_tables(temp_c, price_usd_per_mwh, pue0, pue_slope, pue_ref_c)
    n_sites, n_cooling, n_hours = mwh_per_kw.shape
    usd = floats("usd_per_th_hour", usd_per_th_hour, (n_hours,))
    n_machines = np.shape(site)[0] if np.ndim(site) == 1 else -1
    if n_machines < 0:
        raise ValueError("site: expected a 1-d array of site indices")
    n_classes = int(n_classes)
    site_i = indices("site", site, n_machines, n_sites)
    cooling_i = indices("cooling", cooling, n_machines, n_cooling)
    klass_i = indices("klass", klass, n_machines, n_classes)
    shape = (n_machines,)
    hosted_b = np.asarray(hosted, dtype=bool)
    if hosted_b.shape != shape:
        raise ValueError(f"hosted: expected shape {shape}, got {hosted_b.shape}")
    ths = floats("hashrate_ths", hashrate_ths, shape)
    ths = ths * floats("availability", availability, shape)
    host_rate = floats("hosting_usd_per_mwh", hosting_usd_per_mwh, shape)
    return dict(
        usd_per_th_hour=usd,
        temp_c=temp,
        price_usd_per_mwh=price,
        mwh_per_kw=mwh_per_kw,
        site=site_i,
        cooling=cooling_i,
        klass=klass_i,
        ths_paid=np.where(hosted_b, 0.0, ths),
        alpha=floats("alpha_per_c", alpha_per_c, shape),
        kw=floats("power_kw", power_kw, shape),
        beta=floats("beta_per_c", beta_per_c, shape),
        t_ref=floats("t_ref_c", t_ref_c, shape),
        t_max=floats("t_max_c", t_max_c, shape),
        host_rate=np.where(hosted_b, host_rate, 0.0),
        paid_share=np.where(hosted_b, 0.0, floats("availability", availability, shape)),
        n_classes=n_classes,
    )


def score_asics(
    usd_per_th_hour: np.ndarray,
    temp_c: np.ndarray,
    price_usd_per_mwh: np.ndarray,
    pue0: np.ndarray,
    pue_slope: np.ndarray,
    pue_ref_c: np.ndarray,
    site: np.ndarray,
    cooling: np.ndarray,
    klass: np.ndarray,
    hashrate_ths: np.ndarray,
    power_kw: np.ndarray,
    availability: np.ndarray,
    alpha_per_c: np.ndarray,
    beta_per_c: np.ndarray,
    t_ref_c: np.ndarray,
    t_max_c: np.ndarray,
    hosted: np.ndarray,
    hosting_usd_per_mwh: np.ndarray,
    n_classes: int,
    point_class: np.ndarray | None = None,
    point_hashrate_ths: np.ndarray | None = None,
    point_power_kw: np.ndarray | None = None,
) -> AsicScores:
    """Score every ASIC in every hour, fused: class-hour sums and per-machine totals.

    Nothing of size machines x hours is allocated: memory is O(C*T + M*T/512).

    Parameters
    ----------
    usd_per_th_hour : float64[T]
        ``btc_per_th_hour * btc_price_usd * (1 - pool_fee)`` [USD per TH/s per hour].
    temp_c : float64[S, T]
        Ambient temperature per site and hour [degC].
    price_usd_per_mwh : float64[S, T]
        Spot power price per site and hour [USD/MWh]; used for hours in the money only.
    pue0, pue_slope, pue_ref_c : float64[S, Q]
        Cooling parameters per site and cooling type: PUE [-], rise per degree above the
        reference [1/degC], reference temperature [degC].
    site, cooling, klass : int[M]
        Site, cooling type and class index of each machine.
    hashrate_ths : float64[M]
        Nameplate hashrate [TH/s].
    power_kw : float64[M]
        Nameplate power at the wall, before PUE [kW].
    availability : float64[M]
        Fraction of hashrate delivered [-] (does not scale power).
    alpha_per_c, beta_per_c : float64[M]
        Hashrate loss and power rise per degree above ``t_ref_c`` [1/degC].
    t_ref_c, t_max_c : float64[M]
        Derating reference and trip temperature [degC]; the machine is off when
        ``temp_c > t_max_c``.
    hosted : bool[M]
        Client machines: they earn ``hosting_usd_per_mwh * e`` instead of BTC.
    hosting_usd_per_mwh : float64[M]
        Hosting price [USD/MWh] (ignored for own machines).
    n_classes : int
        Number of classes C; ``klass`` lies in ``[0, C)``.
    point_class : int[P], optional
        Class of each operating point beyond the nameplate, non-decreasing (docs/model.md
        §3.7); none by default.
    point_hashrate_ths, point_power_kw : float64[P], optional
        The point's hashrate [TH/s] and wall power [kW] at reference temperature, applied to
        every machine of its class with the machine's availability, derating and trip.

    Returns
    -------
    AsicScores
        ``revenue_usd``, ``energy_mwh`` [C, T] with every machine of the class running;
        ``machine_revenue_usd`` [USD], ``machine_energy_mwh`` [MWh],
        ``machine_hours_in_money`` (int64, hours with e > 0 and r > e * price) and
        ``machine_mean_breakeven_usd_per_mwh`` (NaN when the machine is never on), all [M],
        at nameplate; ``point_revenue_usd``, ``point_energy_mwh`` [P, T]: the whole class
        running at each operating point.
    """
    a = _asic_arrays(
        usd_per_th_hour,
        temp_c,
        price_usd_per_mwh,
        pue0,
        pue_slope,
        pue_ref_c,
        site,
        cooling,
        klass,
        hashrate_ths,
        power_kw,
        availability,
        alpha_per_c,
        beta_per_c,
        t_ref_c,
        t_max_c,
        hosted,
        hosting_usd_per_mwh,
        n_classes,
    )
    n_machines, n_hours, n_classes = len(a["site"]), a["temp_c"].shape[1], a.pop("n_classes")
    points = point_arrays(point_class, point_hashrate_ths, point_power_kw, n_classes)
    block_hours = block_hours_for(n_hours)
    n_blocks = -(-n_hours // block_hours)
    n_points = len(points["point_ths"])
    out = AsicScores(
        revenue_usd=np.zeros((n_classes, n_hours)),
        energy_mwh=np.zeros((n_classes, n_hours)),
        machine_revenue_usd=np.empty(n_machines),
        machine_energy_mwh=np.empty(n_machines),
        machine_hours_in_money=np.empty(n_machines, dtype=np.int64),
        machine_mean_breakeven_usd_per_mwh=np.empty(n_machines),
        point_revenue_usd=np.zeros((n_points, n_hours)),
        point_energy_mwh=np.zeros((n_points, n_hours)),
    )
    partial = np.empty((n_blocks, 5, n_machines))
    _score_asics_fused(
        **a,
        **points,
        block_hours=block_hours,
        revenue=out.revenue_usd,
        energy=out.energy_mwh,
        point_revenue=out.point_revenue_usd,
        point_energy=out.point_energy_mwh,
        partial=partial,
        machine_revenue=out.machine_revenue_usd,
        machine_energy=out.machine_energy_mwh,
        machine_in_money=out.machine_hours_in_money,
        machine_breakeven=out.machine_mean_breakeven_usd_per_mwh,
    )
    return out


def score_asics_matrix(
    usd_per_th_hour: np.ndarray,
    temp_c: np.ndarray,
    price_usd_per_mwh: np.ndarray,
    pue0: np.ndarray,
    pue_slope: np.ndarray,
    pue_ref_c: np.ndarray,
    site: np.ndarray,
    cooling: np.ndarray,
    klass: np.ndarray,
    hashrate_ths: np.ndarray,
    power_kw: np.ndarray,
    availability: np.ndarray,
    alpha_per_c: np.ndarray,
    beta_per_c: np.ndarray,
    t_ref_c: np.ndarray,
    t_max_c: np.ndarray,
    hosted: np.ndarray,
    hosting_usd_per_mwh: np.ndarray,
    n_classes: int,
) -> AsicMatrix:
    """Score every ASIC in every hour, returning full machine x hour matrices.

    Same arguments and per-hour numbers as `score_asics`; allocates 3 x M x T float64
    (24 bytes per machine-hour: 2.1 GB for 10k machines over a year), so keep it to small
    fleets and tests. ``price_usd_per_mwh`` and ``klass`` are validated but unused.

    Returns
    -------
    AsicMatrix
        ``revenue_usd`` [USD], ``energy_mwh`` [MWh] and ``breakeven_usd_per_mwh`` (NaN where
        the machine is off), each float64[M, T].
    """
    a = _asic_arrays(
        usd_per_th_hour,
        temp_c,
        price_usd_per_mwh,
        pue0,
        pue_slope,
        pue_ref_c,
        site,
        cooling,
        klass,
        hashrate_ths,
        power_kw,
        availability,
        alpha_per_c,
        beta_per_c,
        t_ref_c,
        t_max_c,
        hosted,
        hosting_usd_per_mwh,
        n_classes,
    )
    del a["price_usd_per_mwh"], a["klass"], a["n_classes"], a["paid_share"]
    shape = (len(a["site"]), a["temp_c"].shape[1])
    out = AsicMatrix(np.empty(shape), np.empty(shape), np.empty(shape))
    _score_asics_matrix(
        **a, revenue=out.revenue_usd, energy=out.energy_mwh, breakeven=out.breakeven_usd_per_mwh
    )
    return out


def score_gpus(
    temp_c: np.ndarray,
    price_usd_per_mwh: np.ndarray,
    pue0: np.ndarray,
    pue_slope: np.ndarray,
    pue_ref_c: np.ndarray,
    site: np.ndarray,
    cooling: np.ndarray,
    power_kw: np.ndarray,
    it_kw: np.ndarray,
    colocation: np.ndarray,
    gpus: np.ndarray,
    rate_usd_per_gpu_hour: np.ndarray,
    utilization: np.ndarray,
    lease_usd_per_kw_month: np.ndarray,
    power_pass_through: np.ndarray,
    beta_per_c: np.ndarray,
    t_ref_c: np.ndarray,
    t_max_c: np.ndarray,
) -> GpuScores:
    """Score one server of each GPU class in every hour.

    Parameters
    ----------
    temp_c, price_usd_per_mwh : float64[S, T]
        Ambient temperature [degC] and spot power price [USD/MWh] per site and hour.
    pue0, pue_slope, pue_ref_c : float64[S, Q]
        Cooling parameters, as in `score_asics`.
    site, cooling : int[K]
        Site and cooling type of each GPU class.
    power_kw : float64[K]
        Server power at the wall, before PUE [kW].
    it_kw : float64[K]
        IT load billed by a colocation lease [kW].
    colocation : bool[K]
        False: cloud model, ``r = gpus * rate_usd_per_gpu_hour[k, t] * utilization``;
        True: colocation, ``r = lease_usd_per_kw_month * it_kw / 730``.
    gpus : float64[K]
        GPUs per server [-].
    rate_usd_per_gpu_hour : float64[K, T]
        Cloud price [USD per GPU-hour].
    utilization : float64[K]
        Fraction of GPU-hours sold [-].
    lease_usd_per_kw_month : float64[K]
        Colocation price [USD per kW-month].
    power_pass_through : bool[K]
        The tenant reimburses energy at spot: adds ``e * price_usd_per_mwh[s, t]``.
    beta_per_c, t_ref_c, t_max_c : float64[K]
        Power rise per degree [1/degC] above ``t_ref_c`` [degC]; trip temperature [degC]
        above which the server is off (revenue and energy 0).

    Returns
    -------
    GpuScores
        ``revenue_usd`` [USD] and ``energy_mwh`` [MWh] of one server, each float64[K, T].
    """
    temp, price, mwh_per_kw = site_tables(temp_c, price_usd_per_mwh, pue0, pue_slope, pue_ref_c)
    n_sites, n_cooling, n_hours = mwh_per_kw.shape
    if np.ndim(site) != 1:
        raise ValueError("site: expected a 1-d array of site indices")
    shape = (np.shape(site)[0],)
    colo = np.asarray(colocation, dtype=bool)
    pass_through = np.ascontiguousarray(power_pass_through, dtype=bool)
    if colo.shape != shape or pass_through.shape != shape:
        raise ValueError(f"colocation, power_pass_through: expected shape {shape}")
    rate = floats("rate_usd_per_gpu_hour", rate_usd_per_gpu_hour, (shape[0], n_hours))
    out = GpuScores(np.empty((shape[0], n_hours)), np.empty((shape[0], n_hours)))
    _score_gpus(
        temp,
        price,
        mwh_per_kw,
        indices("site", site, shape[0], n_sites),
        indices("cooling", cooling, shape[0], n_cooling),
        floats("power_kw", power_kw, shape),
        floats("it_kw", it_kw, shape),
        np.ascontiguousarray(colo),
        floats("gpus", gpus, shape),
        rate,
        floats("utilization", utilization, shape),
        floats("lease_usd_per_kw_month", lease_usd_per_kw_month, shape),
        pass_through,
        floats("beta_per_c", beta_per_c, shape),
        floats("t_ref_c", t_ref_c, shape),
        floats("t_max_c", t_max_c, shape),
        out.revenue_usd,
        out.energy_mwh,
    )
    return out
