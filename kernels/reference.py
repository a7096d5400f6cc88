"""Plain-numpy twin of the machine-hour kernels in `kernels.revenue`.

Same signatures, same semantics, written as whole-array expressions straight from the
formulas of docs/model.md §3: every machine x hour array is materialized, so memory
is several times 8 bytes per machine-hour. The tests hold the numba kernels to these numbers
(1e-9 relative); the kernel benchmark uses them as the numpy baseline (run over chunks of
machines to fit in memory). No input validation beyond what numpy does itself.
"""

from __future__ import annotations

import numpy as np

from kernels.revenue import HOURS_PER_MONTH, AsicMatrix, AsicScores, GpuScores


def _pue(temp_c, pue0, pue_slope, pue_ref_c):
    """PUE [S, Q, T] from ambient temperature [S, T] and cooling parameters [S, Q]."""
    temp = np.asarray(temp_c, dtype=np.float64)[:, None, :]
    pue0, pue_slope, pue_ref_c = (
        np.asarray(x, dtype=np.float64)[:, :, None] for x in (pue0, pue_slope, pue_ref_c)
    )
    return pue0 + pue_slope * np.maximum(0.0, temp - pue_ref_c)


def _asic_revenue_energy(
    usd_per_th_hour,
    temp_c,
    pue0,
    pue_slope,
    pue_ref_c,
    site,
    cooling,
    hashrate_ths,
    power_kw,
    availability,
    alpha_per_c,
    beta_per_c,
    t_ref_c,
    t_max_c,
    hosted,
    hosting_usd_per_mwh,
):
    """Revenue [USD] and energy [MWh] of every ASIC in every hour, each [M, T]."""
    col = lambda x: np.asarray(x, dtype=np.float64)[:, None]  # noqa: E731  per-machine column
    site = np.asarray(site, dtype=np.int64)
    temp = np.asarray(temp_c, dtype=np.float64)[site]  # [M, T]
    pue = _pue(temp_c, pue0, pue_slope, pue_ref_c)[site, np.asarray(cooling, dtype=np.int64)]
    dt = np.maximum(0.0, temp - col(t_ref_c))
    hashrate_ths = (
        col(hashrate_ths) * col(availability) * np.maximum(0.0, 1.0 - col(alpha_per_c) * dt)
    )
    power_kw = col(power_kw) * (1.0 + col(beta_per_c) * dt)
    energy_mwh = power_kw * pue / 1000.0
    revenue_usd = np.where(
        np.asarray(hosted, dtype=bool)[:, None],
        col(hosting_usd_per_mwh) * energy_mwh,
        hashrate_ths * np.asarray(usd_per_th_hour, dtype=np.float64)[None, :],
    )
    tripped = temp > col(t_max_c)
    revenue_usd[tripped] = 0.0
    energy_mwh[tripped] = 0.0
    return revenue_usd, energy_mwh


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
    """Numpy twin of `kernels.revenue.score_asics` (same parameters and returns).

    Each operating point scores the machines of its class with the point's hashrate and
    power in place of the nameplate (docs/model.md §3.7).
    """
    machine = (
        usd_per_th_hour,
        temp_c,
        pue0,
        pue_slope,
        pue_ref_c,
        site,
        cooling,
    )
    rest = (
        availability,
        alpha_per_c,
        beta_per_c,
        t_ref_c,
        t_max_c,
        hosted,
        hosting_usd_per_mwh,
    )
    r, e = _asic_revenue_energy(*machine, hashrate_ths, power_kw, *rest)
    klass = np.asarray(klass, dtype=np.int64)
    n_hours = r.shape[1]
    point_class = np.zeros(0, np.int64) if point_class is None else np.asarray(point_class)
    point_revenue = np.zeros((len(point_class), n_hours))
    point_energy = np.zeros((len(point_class), n_hours))
    ones = np.ones(len(klass))
    for p, c in enumerate(point_class):
        mine = klass == c
        rp, ep = _asic_revenue_energy(
            *machine,
            point_hashrate_ths[p] * ones,
            point_power_kw[p] * ones,
            *rest,
        )
        point_revenue[p] = rp[mine].sum(axis=0)
        point_energy[p] = ep[mine].sum(axis=0)
    revenue_usd = np.zeros((int(n_classes), r.shape[1]))
    energy_mwh = np.zeros((int(n_classes), r.shape[1]))
    np.add.at(revenue_usd, klass, r)
    np.add.at(energy_mwh, klass, e)
    on = e > 0.0
    price = np.asarray(price_usd_per_mwh, dtype=np.float64)[np.asarray(site, dtype=np.int64)]
    hours_in_money = np.count_nonzero(on & (r > e * price), axis=1).astype(np.int64)
    hours_on = np.count_nonzero(on, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        breakeven_sum = np.where(on, r / e, 0.0).sum(axis=1)
        mean_breakeven = np.where(hours_on > 0, breakeven_sum / hours_on, np.nan)
    return AsicScores(
        revenue_usd,
        energy_mwh,
        r.sum(axis=1),
        e.sum(axis=1),
        hours_in_money,
        mean_breakeven,
        point_revenue,
        point_energy,
    )


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
    """Numpy twin of `kernels.revenue.score_asics_matrix` (same parameters and returns)."""
    r, e = _asic_revenue_energy(
        usd_per_th_hour,
        temp_c,
        pue0,
        pue_slope,
        pue_ref_c,
        site,
        cooling,
        hashrate_ths,
        power_kw,
        availability,
        alpha_per_c,
        beta_per_c,
        t_ref_c,
        t_max_c,
        hosted,
        hosting_usd_per_mwh,
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        breakeven = np.where(e > 0.0, r / e, np.nan)
    return AsicMatrix(r, e, breakeven)


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
    """Numpy twin of `kernels.revenue.score_gpus` (same parameters and returns)."""
    col = lambda x: np.asarray(x, dtype=np.float64)[:, None]  # noqa: E731
    site = np.asarray(site, dtype=np.int64)
    temp = np.asarray(temp_c, dtype=np.float64)[site]
    pue = _pue(temp_c, pue0, pue_slope, pue_ref_c)[site, np.asarray(cooling, dtype=np.int64)]
    dt = np.maximum(0.0, temp - col(t_ref_c))
    energy_mwh = col(power_kw) * (1.0 + col(beta_per_c) * dt) * pue / 1000.0
    cloud_usd = col(gpus) * np.asarray(rate_usd_per_gpu_hour, dtype=np.float64) * col(utilization)
    lease_usd = col(lease_usd_per_kw_month) * col(it_kw) / HOURS_PER_MONTH
    revenue_usd = np.where(np.asarray(colocation, dtype=bool)[:, None], lease_usd, cloud_usd)
    spot_usd = energy_mwh * np.asarray(price_usd_per_mwh, dtype=np.float64)[site]
    revenue_usd = revenue_usd + np.where(
        np.asarray(power_pass_through, dtype=bool)[:, None], spot_usd, 0.0
    )
    tripped = temp > col(t_max_c)
    revenue_usd[tripped] = 0.0
    energy_mwh[tripped] = 0.0
    return GpuScores(revenue_usd, energy_mwh)


# --------------------------------------------------------------------------- decomposition


def greedy_hours_reference(val, qty, grp, cap_a, cap_v, imp, base, forced, block, m1, m2):
    """Plain-numpy twin of :func:`kernels.decomposition.greedy_hours`: the same greedy, written
    rank by rank over all hours at once (items sorted by value per hour)."""
    from kernels.decomposition import GROUP_HPC, GROUP_KEEP, GROUP_MINING, N_OUT

    eps = 1e-9
    val = np.asarray(val, dtype=np.float64)
    qty = np.asarray(qty, dtype=np.float64)
    grp = np.asarray(grp, dtype=np.int64)
    n, T = val.shape
    cols = np.arange(T)
    order = np.argsort(-val, axis=0, kind="stable")  # [rank, T]: item at each rank
    x = np.zeros((n, T))
    load = np.asarray(base, dtype=np.float64).copy()
    need = np.asarray(forced, dtype=np.float64).copy()
    slack = {
        GROUP_MINING: np.asarray(cap_a, float).copy(),
        GROUP_HPC: np.asarray(cap_v, float).copy(),
    }
    feas = 1e-6
    infeasible = (slack[GROUP_MINING] < -feas * (1.0 + np.asarray(cap_a))) | (
        slack[GROUP_HPC] < -feas * (1.0 + np.abs(cap_v))
    )
    for r in range(n):
        i = order[r]
        take = np.where((grp[i] == GROUP_KEEP) & (need > 0), np.minimum(qty[i, cols], need), 0.0)
        x[i, cols] += take
        need -= take
        load += take
    infeasible |= load > imp + feas * (1.0 + imp)
    value = (val * x).sum(axis=0)
    stopped = np.zeros(T, dtype=bool)
    for r in range(n):
        i = order[r]
        v = val[i, cols]
        g = grp[i]
        avail = qty[i, cols] - x[i, cols]
        for key in (GROUP_MINING, GROUP_HPC):
            avail = np.where(g == key, np.minimum(avail, slack[key]), avail)
        avail = np.where(stopped, 0.0, np.minimum(avail, imp - load))
        # piece below the block at m1, then above it at m2
        below = np.where(load < block, np.minimum(avail, block - load), 0.0)
        ok1 = (below > 0) & (v > m1)
        stopped |= (below > 0) & ~ok1
        p1 = np.where(ok1, below, 0.0)
        rest = np.where(stopped, 0.0, avail - p1)
        ok2 = (rest > 0) & (v > m2)
        stopped |= (rest > 0) & ~ok2
        p2 = np.where(ok2, rest, 0.0)
        took = p1 + p2
        x[i, cols] += took
        load += took
        value += v * took
        for key in (GROUP_MINING, GROUP_HPC):
            slack[key] = np.where(g == key, slack[key] - took, slack[key])
        stopped |= imp - load <= eps * (1.0 + imp)
    value -= m1 * np.minimum(np.maximum(load, 0.0), block) + m2 * np.maximum(load - block, 0.0)
    growable = (x < qty - eps * (1.0 + qty)) & (qty > 0)
    a_full = slack[GROUP_MINING] <= eps
    v_full = slack[GROUP_HPC] <= eps

    def best_of(mask):
        return np.where(mask, val, -np.inf).max(axis=0, initial=-np.inf)

    in_a, in_v, in_k = (
        (grp == GROUP_MINING)[:, None],
        (grp == GROUP_HPC)[:, None],
        (grp == GROUP_KEEP)[:, None],
    )
    best_a = best_of(growable & in_a)
    best_v = best_of(growable & in_v)
    best = np.maximum.reduce(
        [
            best_of(growable & in_k),
            np.where(a_full, -np.inf, best_a),
            np.where(v_full, -np.inf, best_v),
        ]
    )
    m_left = np.where(load <= block + eps, m1, m2)
    m_right = np.where(load < block - eps, m1, m2)
    omega = np.maximum(m_left, best)
    e = np.minimum(omega, m_right)
    at_cap = imp - load <= eps * (1.0 + imp)
    omega = np.where(at_cap, omega, e)
    kept_mask = in_k & (x > 0)
    low_keep = np.where(kept_mask, val, np.inf).min(axis=0, initial=np.inf)
    kept = np.where(in_k, x, 0.0).sum(axis=0)
    binding = (forced > 0) & (kept <= forced + eps * (1.0 + forced)) & np.isfinite(low_keep)
    out = np.zeros((T, N_OUT))
    out[:, 0] = load
    out[:, 1] = omega
    out[:, 2] = e
    out[:, 3] = omega - e
    out[:, 4] = np.where(a_full, np.maximum(0.0, best_a - omega), 0.0)
    out[:, 5] = np.where(v_full, np.maximum(0.0, best_v - omega), 0.0)
    out[:, 6] = np.where(binding, np.maximum(0.0, omega - np.where(binding, low_keep, 0.0)), 0.0)
    out[:, 7] = value
    out[:, 8] = infeasible
    return x, out
