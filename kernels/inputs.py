"""Kernel inputs: checks of the arrays the revenue kernels take, and per-site tables.

Every public kernel of :mod:`kernels.revenue` validates its inputs here once (shapes, finite
values, index ranges) and reads the site-hour tables built here (PUE, ``pue / 1000``), so the
compiled loops run on contiguous float64/int64 arrays only.
"""

from __future__ import annotations

import numpy as np

_BLOCK_HOURS_MAX = 512  # hours per parallel block on long horizons (L1-resident rows)
_BLOCK_HOURS_MIN = 64


def pue_table(
    temp_c: np.ndarray, pue0: np.ndarray, pue_slope: np.ndarray, pue_ref_c: np.ndarray
) -> np.ndarray:
    """PUE of every site, cooling type and hour.

    ``pue[s, q, t] = pue0[s, q] + pue_slope[s, q] * max(0, temp_c[s, t] - pue_ref_c[s, q])``.

    Parameters
    ----------
    temp_c : float64[S, T]
        Ambient temperature [degC].
    pue0, pue_slope, pue_ref_c : float64[S, Q]
        PUE at or below the reference [-], its rise per degree above [1/degC], reference
        temperature [degC].

    Returns
    -------
    float64[S, Q, T]
        PUE [-].
    """
    temp = np.asarray(temp_c, dtype=np.float64)
    excess_c = np.maximum(temp[:, None, :] - np.asarray(pue_ref_c)[:, :, None], 0.0)
    return np.asarray(pue0)[:, :, None] + np.asarray(pue_slope)[:, :, None] * excess_c


def floats(name: str, x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    a = np.ascontiguousarray(x, dtype=np.float64)
    if a.shape != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name}: NaN or inf")
    return a


def indices(name: str, x: np.ndarray, n_rows: int, upper: int) -> np.ndarray:
    a = np.ascontiguousarray(x)
    if a.shape != (n_rows,) or (a.size and not np.issubdtype(a.dtype, np.integer)):
        raise ValueError(f"{name}: expected {n_rows} integer indices, got {a.dtype}{a.shape}")
    a = a.astype(np.int64, copy=False)
    if a.size and (a.min() < 0 or a.max() >= upper):
        raise ValueError(f"{name}: indices must lie in [0, {upper})")
    return a


def site_tables(temp_c, price_usd_per_mwh, pue0, pue_slope, pue_ref_c):
    temp = np.ascontiguousarray(temp_c, dtype=np.float64)
    if temp.ndim != 2:
        raise ValueError(f"temp_c: expected shape [S, T], got {temp.shape}")
    n_sites, n_hours = temp.shape
    temp = floats("temp_c", temp, (n_sites, n_hours))
    price = floats("price_usd_per_mwh", price_usd_per_mwh, (n_sites, n_hours))
    p0 = np.ascontiguousarray(pue0, dtype=np.float64)
    if p0.ndim != 2 or p0.shape[0] != n_sites:
        raise ValueError(f"pue0: expected shape [{n_sites}, Q], got {p0.shape}")
    p0 = floats("pue0", p0, p0.shape)
    slope = floats("pue_slope", pue_slope, p0.shape)
    ref = floats("pue_ref_c", pue_ref_c, p0.shape)
    # e [MWh] = power [kW] * pue / 1000: fold the 1/1000 into the table once
    mwh_per_kw = np.ascontiguousarray(pue_table(temp, p0, slope, ref) * 1e-3)
    return temp, price, mwh_per_kw


def point_arrays(point_class, point_hashrate_ths, point_power_kw, n_classes: int) -> dict:
    """Validated operating points as the fused kernel takes them: per-class ``point_start``
    offsets (C + 1) into the point figures."""
    if point_class is None:
        point_class = np.zeros(0, np.int64)
        point_hashrate_ths = point_power_kw = np.zeros(0)
    n = np.shape(point_class)[0] if np.ndim(point_class) == 1 else -1
    if n < 0:
        raise ValueError("point_class: expected a 1-d array of class indices")
    cls = indices("point_class", point_class, n, max(n_classes, 1))
    if n and np.any(np.diff(cls) < 0):
        raise ValueError("point_class: expected non-decreasing class indices")
    start = np.zeros(n_classes + 1, dtype=np.int64)
    np.cumsum(np.bincount(cls, minlength=n_classes), out=start[1:])
    return dict(
        point_start=start,
        point_ths=floats("point_hashrate_ths", point_hashrate_ths, (n,)),
        point_kw=floats("point_power_kw", point_power_kw, (n,)),
    )


def block_hours_for(n_hours: int) -> int:
    """Hours per parallel block of the fused kernel: a function of the horizon only.

    Parameters
    ----------
    n_hours : int
        Horizon [h].

    Returns
    -------
    int
        512 on long horizons (rows of 4 KiB stay in L1); shorter horizons are cut into about
        8 blocks of at least 64 hours, so a week still spreads over threads. Because the
        blocking never depends on the thread count, neither do the results.
    """
    block = -(-max(int(n_hours), 1) // 8)
    block = -(-block // 8) * 8  # whole SIMD vectors
    return min(_BLOCK_HOURS_MAX, max(_BLOCK_HOURS_MIN, block))
