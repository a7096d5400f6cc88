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
