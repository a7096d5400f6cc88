"""Bitcoin economics: block subsidy, expected reward per TH/s, hashprice, breakeven power
price, and the one conversion between network hashrate and difficulty (docs/model.md §2).

- Block subsidy ``S(h) = 50 * 2**-(h // 210_000)`` [BTC], 0 from the 64th halving on.
- Expected BTC per TH/s per hour ``b = 1e12 * 3600 / (D * 2**32) * (S(h) + F)``: a hash rate
  of 1e12 H/s finds ``1e12 * 3600 / (D * 2**32)`` blocks in an hour at difficulty ``D``
  (one block takes ``D * 2**32`` hashes on average), each paying subsidy plus mean fees ``F``.
- Hashprice [USD per PH/s per day] ``= b * 1000 * 24 * P`` at BTC price ``P`` [USD].
- Network hashrate ``= D * 2**32 / 600`` [H/s] at one block per 600 s.

Plain numpy (no numba): these are evaluated once per hour, not per machine-hour.
"""

from __future__ import annotations

import numpy as np

BLOCKS_PER_HALVING = 210_000
"""Blocks between subsidy halvings [blocks]."""
MAX_HALVINGS = 64
"""Halvings after which the subsidy is 0, as in Bitcoin Core ``GetBlockSubsidy``."""
INITIAL_SUBSIDY_BTC = 50.0
"""Subsidy of the first epoch [BTC]."""
MWH_PER_PH_DAY_PER_J_PER_TH = 0.024
"""Energy of 1 PH/s for one day at 1 J/TH [MWh]: 1e3 TH/s * 1 J/TH * 86400 s / 3.6e9 J/MWh."""
HASHES_PER_DIFFICULTY = 2.0**32
"""Hashes per unit of difficulty: a block takes ``D * 2**32`` hashes on average."""
TARGET_BLOCK_S = 600.0
"""Target time between blocks [s]."""


def block_subsidy_btc(height: int | np.ndarray) -> float | np.ndarray:
    """Block subsidy at a block height.

    ``S(h) = 50 * 2**-(h // 210_000)`` exactly (a power of two times 50), 0 once 64 halvings
    have passed.

    Parameters
    ----------
    height : int or array of int
        Block height [blocks], >= 0. Floats are floored.

    Returns
    -------
    float or ndarray of float64
        Subsidy [BTC]: 3.125 from height 840,000, 1.5625 from 1,050,000.

    Notes
    -----
    Bitcoin Core works in integer satoshis and shifts right, ``(50 * COIN) >> halvings``, so
    its subsidy is truncated to whole satoshis after the 10th halving and is 0 from the 33rd;
    this real-valued formula differs from it by less than 1 satoshi per block.

    References
    ----------
    Bitcoin Core, ``GetBlockSubsidy`` in ``src/validation.cpp``.
    """
    h = np.floor(np.asarray(height, dtype=np.float64))
    if np.any(h < 0) or not np.all(np.isfinite(h)):
        raise ValueError("block height must be a finite number >= 0")
    halvings = (h // BLOCKS_PER_HALVING).astype(np.int64)
    subsidy = np.where(
        halvings >= MAX_HALVINGS,
        0.0,
        np.ldexp(INITIAL_SUBSIDY_BTC, -np.minimum(halvings, MAX_HALVINGS)),
    )
    return float(subsidy) if subsidy.ndim == 0 else subsidy


def btc_per_th_hour(
    difficulty: float | np.ndarray,
    fees_btc_per_block: float | np.ndarray,
    height: int | np.ndarray,
) -> float | np.ndarray:
    """Expected BTC earned by 1 TH/s in one hour.

    ``b = 1e12 * 3600 / (D * 2**32) * (S(h) + F)``: 1 TH/s makes 3.6e15 hashes an hour and
    a block takes ``D * 2**32`` hashes on average.

    Parameters
    ----------
    difficulty : float or array
        Network difficulty D [-].
    fees_btc_per_block : float or array
        Mean transaction fees per block F [BTC].
    height : int or array
        Block height h [blocks] (sets the subsidy, see `block_subsidy_btc`).

    Returns
    -------
    float or ndarray
        Expected reward [BTC per TH/s per hour], before pool fee.
    """
    d = np.asarray(difficulty, dtype=np.float64)
    out = (
        1e12
        * 3600.0
        / (d * HASHES_PER_DIFFICULTY)
        * (block_subsidy_btc(height) + fees_btc_per_block)
    )
    return float(out) if np.ndim(out) == 0 else out


def hashprice_usd_per_ph_day(
    btc_price_usd: float | np.ndarray,
    difficulty: float | np.ndarray,
    fees_btc_per_block: float | np.ndarray,
    height: int | np.ndarray,
) -> float | np.ndarray:
    """Hashprice: expected USD earned by 1 PH/s in one day.

    ``hashprice = b * 1000 * 24 * P`` with ``b`` from `btc_per_th_hour` and BTC price ``P``.

    Parameters
    ----------
    btc_price_usd : float or array
        BTC price P [USD].
    difficulty : float or array
        Network difficulty D [-].
    fees_btc_per_block : float or array
        Mean transaction fees per block [BTC].
    height : int or array
        Block height [blocks].

    Returns
    -------
    float or ndarray
        Hashprice [USD per PH/s per day], before pool fee.

    References
    ----------
    Hashrate Index, "hashprice": the expected value of 1 PH/s of hashing power per day,
    subsidy and fees included.
    """
    b = btc_per_th_hour(difficulty, fees_btc_per_block, height)
    out = np.asarray(b) * 1000.0 * 24.0 * btc_price_usd
    return float(out) if np.ndim(out) == 0 else out


def breakeven_usd_per_mwh(
    hashprice_usd_per_ph_day: float | np.ndarray,
    efficiency_j_per_th: float | np.ndarray,
    pue: float | np.ndarray = 1.0,
    pool_fee: float | np.ndarray = 0.0,
) -> float | np.ndarray:
    """Power price at which an ASIC's revenue equals its energy cost.

    1 PH/s running for a day at ``J`` J/TH draws ``1000 TH/s * J J/TH = 1000 J`` W, i.e.
    ``1000 * J * 24 / 1e6 = 0.024 * J`` MWh per day (times PUE at the meter), and earns
    ``hashprice * (1 - pool_fee)``; so the breakeven is
    ``hashprice * (1 - pool_fee) / (0.024 * J * pue)``.

    Parameters
    ----------
    hashprice_usd_per_ph_day : float or array
        Hashprice [USD per PH/s per day].
    efficiency_j_per_th : float or array
        Machine efficiency [J/TH], > 0.
    pue : float or array, default 1.0
        Power usage effectiveness [-], >= 1 in practice.
    pool_fee : float or array, default 0.0
        Pool fee as a fraction of revenue [-].

    Returns
    -------
    float or ndarray
        Breakeven power price [USD/MWh].
    """
    out = (
        np.asarray(hashprice_usd_per_ph_day, dtype=np.float64)
        * (1.0 - np.asarray(pool_fee, dtype=np.float64))
        / (MWH_PER_PH_DAY_PER_J_PER_TH * np.asarray(efficiency_j_per_th) * np.asarray(pue))
    )
    return float(out) if out.ndim == 0 else out


def network_hashrate_ehs(difficulty: float | np.ndarray) -> float | np.ndarray:
    """Network hashrate implied by a difficulty at one block per 600 s.

    Parameters
    ----------
    difficulty : float or array
        Network difficulty D [-].

    Returns
    -------
    float or ndarray
        ``D * 2**32 / 600 / 1e18`` [EH/s].
    """
    out = np.asarray(difficulty, dtype=np.float64) * HASHES_PER_DIFFICULTY / TARGET_BLOCK_S / 1e18
    return float(out) if out.ndim == 0 else out


def difficulty_from_hashrate_ehs(hashrate_ehs: float | np.ndarray) -> float | np.ndarray:
    """Difficulty at which a network hashrate finds one block per 600 s.

    Parameters
    ----------
    hashrate_ehs : float or array
        Network hashrate [EH/s].

    Returns
    -------
    float or ndarray
        ``hashrate_ehs * 1e18 * 600 / 2**32`` [-]; inverse of `network_hashrate_ehs`.
    """
    out = np.asarray(hashrate_ehs, dtype=np.float64) * 1e18 * TARGET_BLOCK_S / HASHES_PER_DIFFICULTY
    return float(out) if out.ndim == 0 else out
