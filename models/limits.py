"""Plausibility bounds of scenario fields: values outside them are unit slips or typos.

Every bound is a number a real site, machine or market never reaches; a value beyond it is
refused with the field's name and a unit hint (``kW entered as MW?``) before anything is
planned, so extreme numbers never reach the kernel or the solver. docs/scenario.md lists them.
"""

from __future__ import annotations

#: Largest credible site, PPA block or lease [MW]: the biggest campuses draw ~1 GW.
MAX_SITE_MW = 5000.0
#: Default bounds of hourly power prices [USD/MWh]; ERCOT's cap is 5,000, its floor -251.
#: A site's ``price_limit_usd_per_mwh`` may raise the upper bound up to
#: :data:`MAX_PRICE_LIMIT_USD_PER_MWH`.
MIN_PRICE_USD_PER_MWH = -10_000.0
MAX_PRICE_USD_PER_MWH = 100_000.0
MAX_PRICE_LIMIT_USD_PER_MWH = 1_000_000.0
#: BTC price [USD], difficulty [-], network hashrate [EH/s], fees [BTC per block].
MAX_BTC_PRICE_USD = 100_000_000.0
MAX_DIFFICULTY = 1e18
MAX_NETWORK_HASHRATE_EHS = 1e6
MAX_FEES_BTC_PER_BLOCK = 100.0
#: Block height (the subsidy is 0 from height 6,930,000) and blocks per hour (6 on average).
MAX_HEIGHT = 100_000_000
MAX_BLOCKS_PER_HOUR = 60.0
#: Machines in one [[fleet]]/[[hosting]] row or fleet file, and in a whole scenario.
MAX_MACHINES_PER_ROW = 2_000_000
MAX_MACHINES = 5_000_000
#: One ASIC [TH/s], [kW]; one GPU server [kW] (a 10 W "server" is kW typed as W).
MAX_ASIC_HASHRATE_THS = 10_000.0
MAX_ASIC_POWER_KW = 50.0
GPU_POWER_KW = (0.1, 200.0)
MAX_GPU_SERVERS = 1_000_000
MAX_GPUS_PER_SERVER = 64
#: Temperatures [C]: ambient and machine reference/trip temperatures.
TEMP_C = (-60.0, 150.0)
#: Amortization and depreciation lives [years].
LIFE_YEARS = (0.1, 100.0)
#: Money per unit: capex [USD/MW], [USD/server], rates [USD/GPU-h], [USD/kW-month], penalties.
MAX_CAPEX_USD_PER_MW = 1e9
MAX_CAPEX_USD_PER_SERVER = 1e7
MAX_RATE_USD_PER_GPU_HOUR = 1000.0
MAX_LEASE_USD_PER_KW_MONTH = 10_000.0
MAX_PENALTY_USD_PER_MWH = 1_000_000.0
#: 4CP transmission tariff [USD per kW-year]: ERCOT's is about 50-70; per MW-year is 1000x.
MAX_PEAK_CHARGE_USD_PER_KW_YEAR = 2000.0
#: Monthly minimum take [MWh]: a full month of the largest site.
MAX_MWH_PER_MONTH = MAX_SITE_MW * 744.0
