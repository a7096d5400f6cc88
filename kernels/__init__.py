"""Numba kernels: revenue and energy of every machine in every hour.

`kernels` takes and returns numpy arrays only and imports nothing else of hashpivot.
`kernels.reference` is the plain-numpy twin of the machine-hour kernels; `kernels.paths`
(Monte Carlo paths) is imported on its own.
"""

from kernels.bitcoin import (
    block_subsidy_btc,
    breakeven_usd_per_mwh,
    btc_per_th_hour,
    difficulty_from_hashrate_ehs,
    hashprice_usd_per_ph_day,
    network_hashrate_ehs,
)
from kernels.inputs import pue_table
from kernels.revenue import (
    AsicMatrix,
    AsicScores,
    GpuScores,
    score_asics,
    score_asics_matrix,
    score_gpus,
)

__all__ = [
    "AsicMatrix",
    "AsicScores",
    "GpuScores",
    "block_subsidy_btc",
    "breakeven_usd_per_mwh",
    "btc_per_th_hour",
    "difficulty_from_hashrate_ehs",
    "hashprice_usd_per_ph_day",
    "network_hashrate_ehs",
    "pue_table",
    "score_asics",
    "score_asics_matrix",
    "score_gpus",
]
