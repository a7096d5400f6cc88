"""The Bitcoin market of a scenario: BTC price, difficulty, fees and block height per hour."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kernels.bitcoin import difficulty_from_hashrate_ehs, network_hashrate_ehs
from models import limits
from models.fields import Where, check_keys, integer, number
from models.series import resolve_series

MARKET_KEYS = (
    "btc_price_usd",
    "difficulty",
    "network_hashrate_ehs",
    "fees_btc_per_block",
    "height",
    "blocks_per_hour",
    "pool_fee",
)


@dataclass(frozen=True, eq=False)
class Market:
    """Hourly market inputs (all arrays have one value per hour of the horizon).

    Attributes
    ----------
    btc_price_usd : numpy.ndarray
        BTC price [USD].
    difficulty : numpy.ndarray
        Network difficulty [-]; network hashrate = ``D * 2**32 / 600`` [H/s].
    fees_btc_per_block : numpy.ndarray
        Mean transaction fees per block [BTC].
    height : numpy.ndarray
        Block height at the start of each hour (int64), for the subsidy schedule.
    pool_fee : float
        Pool fee as a fraction of mining revenue [-].
    """

    btc_price_usd: np.ndarray
    difficulty: np.ndarray
    fees_btc_per_block: np.ndarray
    height: np.ndarray
    pool_fee: float

    @property
    def network_hashrate_ehs(self) -> np.ndarray:
        """Implied network hashrate [EH/s]."""
        return network_hashrate_ehs(self.difficulty)


def parse_market(
    table: Mapping[str, Any], where: Where, index: pd.DatetimeIndex, base_dir: Path, seed: int
) -> Market:
    """Build the :class:`Market` from the ``[market]`` table.

    ``difficulty`` or ``network_hashrate_ehs`` (exactly one) may be a series; ``height`` is the
    height at the first hour (advancing ``blocks_per_hour``, default 6) or, in memory, an array
    of heights per hour (Monte Carlo paths).
    """
    check_keys(table, MARKET_KEYS, where)

    def series(key: str, unit: str, maximum: float, strict: bool = False):
        if key not in table:
            raise where.error(f"missing required field '{key}' [{unit}]")
        values = resolve_series(
            table[key],
            where / key,
            index,
            base_dir=base_dir,
            seed=seed,
            unit=unit,
            minimum=0.0,
            maximum=maximum,
        )
        if strict and (values <= 0).any():
            i = int(np.flatnonzero(values <= 0)[0])
            raise (where / key).error(
                f"expected a value > 0 [{unit}], got {values[i]:g} at hour {i}"
            )
        return values

    price = series("btc_price_usd", "USD", limits.MAX_BTC_PRICE_USD, strict=True)
    if ("difficulty" in table) == ("network_hashrate_ehs" in table):
        raise where.error("give exactly one of 'difficulty' or 'network_hashrate_ehs'")
    if "difficulty" in table:
        difficulty = series("difficulty", "-", limits.MAX_DIFFICULTY, strict=True)
    else:
        difficulty = difficulty_from_hashrate_ehs(
            series("network_hashrate_ehs", "EH/s", limits.MAX_NETWORK_HASHRATE_EHS, strict=True)
        )
        if (difficulty < 1e6).any():
            raise (where / "network_hashrate_ehs").error(
                "expected EH/s (1 EH/s = 1e18 H/s; the network ran ~1,100 EH/s in late 2025), "
                f"got {table['network_hashrate_ehs']!r}"
            )
    fees = series("fees_btc_per_block", "BTC", limits.MAX_FEES_BTC_PER_BLOCK)
    height_spec = table.get("height")
    if isinstance(height_spec, np.ndarray | list | tuple):
        height = np.asarray(height_spec, dtype=np.int64)
        if (
            height.shape != (len(index),)
            or (height < 0).any()
            or (height > limits.MAX_HEIGHT).any()
        ):
            raise (where / "height").error(f"expected {len(index)} non-negative hourly heights")
    else:
        start = integer(table, "height", where)
        if start > limits.MAX_HEIGHT:
            raise (where / "height").error(
                f"expected a block height <= {limits.MAX_HEIGHT:,} (the chain is near 925,000 in "
                f"2025), got {start:,}"
            )
        rate = number(
            table,
            "blocks_per_hour",
            where,
            unit="blocks/h",
            default=6.0,
            minimum=0.0,
            maximum=limits.MAX_BLOCKS_PER_HOUR,
        )
        height = start + np.floor(rate * np.arange(len(index))).astype(np.int64)
    height = np.array(height, dtype=np.int64)
    height.flags.writeable = False
    pool_fee = number(
        table, "pool_fee", where, unit="fraction", default=0.0, minimum=0.0, maximum=0.5
    )
    if difficulty.flags.writeable:
        difficulty.flags.writeable = False
    return Market(price, difficulty, fees, height, pool_fee)
