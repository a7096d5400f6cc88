"""The built-in example: one 100 MW West Texas site, one year hourly from 2026-01-01 UTC.

The same commented TOML text serves twice: with ``{ synthetic = ... }`` series it *is* the
built-in example; ``example_files()`` gives it with the series generated into CSV files, an
editable copy that loads back to the identical scenario.
"""

from __future__ import annotations

import tomllib

import numpy as np
import pandas as pd

from models import synthetic
from models.scenario import Scenario, build_scenario
from models.series import hourly_index

EXAMPLE_SOURCE = "<built-in example>"
START = "2026-01-01T00:00:00Z"
HOURS = 8760
SEED = 7

#: Series of the example: CSV file name, value column, synthetic generator and its parameters.
SERIES = {
    "price": ("prices.csv", "price_usd_per_mwh", "ercot_west_price", {}),
    "temp": ("temperature.csv", "temp_c", "west_texas_temp", {}),
    "curtail": ("curtailment.csv", "curtailment_mw", "curtailment_orders", {"max_mw": 40.0}),
    "peaks": ("peaks.csv", "peak_flag", "coincident_peaks", {}),
    "ecrs": (
        "ecrs_prices.csv",
        "price_usd_per_mw_hour",
        "ercot_as_price",
        {"mean_usd_per_mw_hour": 9.62, "stream": 1.0},
    ),
    "rrs": (
        "rrs_prices.csv",
        "price_usd_per_mw_hour",
        "ercot_as_price",
        {"mean_usd_per_mw_hour": 5.0, "stream": 0.0},
    ),
}

TEMPLATE = """\
# hashpivot example: a 100 MW West Texas site deciding between Bitcoin mining and HPC hosting.
# Every field, its unit and default: docs/scenario.md. Edit and run `hashpivot plan scenario.toml`.

[scenario]
name = "west-texas-example"
start = "{start}"          # first hour, UTC
hours = {hours}                              # one year
seed = {seed}                                # seed of synthetic series

[market]
btc_price_usd = 90000                        # USD, constant or a series
network_hashrate_ehs = 1100                  # EH/s (1.1 ZH/s, Oct 2025); or difficulty = ...
fees_btc_per_block = 0.03                    # BTC per block
height = 925000                              # block height at the first hour
blocks_per_hour = 6.0
pool_fee = 0.02                              # 2% FPPS pool fee

[finance]
discount_rate = 0.10                         # per year (WACC): capex charged as an annuity

[classes]
efficiency_bands_j_per_th = [5, 16, 20, 25, 30, 200]   # class band edges, J/TH

[[sites]]
name = "odessa"
interconnect_mw = 100                        # grid import limit, MW
mining_hall_mw = 100                         # mining halls incl. cooling, MW
convertible_mw = 60                          # halls that may become HPC halls, MW
conversion_usd_per_mw = 9_000_000            # conversion capex, USD per MW of hall (incl. cooling)
conversion_life_years = 10
price_usd_per_mwh = {price}
temp_c = {temp}
curtailment_mw = {curtail}
peak_flag = {peaks}
peak_adder_usd_per_mwh = 500                 # expected 4CP transmission charge per MWh in flagged hours
min_take_mwh_per_month = 20000               # supply contract minimum take, MWh/month
shortfall_usd_per_mwh = 15                   # paid per MWh below the minimum

# Own ASIC fleet: catalog models, grouped rows (model x count). ~91 MW IT, ~95 MW with cooling
# including the hosted block below.
[[fleet]]
site = "odessa"
model = "S21 XP"
count = 8000
# firmware presets [power_kw, TH/s] besides the 3.645 kW / 270 TH/s nameplate: an overclock and
# two underclocks; the LP runs the class at a mix of them, or off, hour by hour
operating_points = [[4.100, 290], [3.000, 240], [2.400, 205]]

[[fleet]]
site = "odessa"
model = "S21"
count = 6000

[[fleet]]
site = "odessa"
model = "S19 XP"
count = 6500

[[fleet]]
site = "odessa"
model = "S19j Pro"
count = 3000
availability = 0.97                          # older units: more downtime

# A client's S21s on our power, paying a hosting rate per MWh, with 95% contracted uptime.
[[hosting]]
name = "client-s21"
site = "odessa"
model = "S21"
count = 3500
rate_usd_per_mwh = 70
uptime = 0.95

# The tenant's H100 servers under a firm colocation lease; power passed through at spot.
[[gpus]]
name = "tenant-h100"
site = "odessa"
model = "H100 x8"
max_servers = 3922                           # 40 MW of IT at 10.2 kW
pricing = "colocation"
lease_usd_per_kw_month = 150
power_pass_through = true
pass_through_price = "spot"                  # or "ppa", or a fixed USD/MWh
pass_through_peak = true                     # the tenant also pays the 4CP adder on its energy
service = "firm"

# Our own H100 servers sold as interruptible inference capacity.
[[gpus]]
name = "own-h100"
site = "odessa"
model = "H100 x8"
max_servers = 200
pricing = "cloud"
rate_usd_per_gpu_hour = 2.10
utilization = 0.85
service = "interruptible"
capex_usd_per_server = 250000
life_years = 5

[[leases]]
name = "tenant"
site = "odessa"
gpus = ["tenant-h100"]
min_mw = 10                                  # MW of IT, firm
max_mw = 40
sla_penalty_usd_per_mwh = 300                # per MWh of firm load an order leaves no import for
allow_shortfall = true

[[ppas]]
site = "odessa"
block_mw = 60                                # MW every hour, take-or-pay
price_usd_per_mwh = 38
resale = true
resale_fee = 0.02                            # resold at spot less 2%
negative_prices = "settle"                   # unused block settled at spot when spot < 0

# Ancillary services from the own ASICs as curtailable load: ERCOT Contingency Reserve
# (ECRS, averaged $9.62/MW-h in 2024) and Responsive Reserve (RRS); paid per MW reserved per
# hour, deployments cost the margin of the load dropped.
[[ancillary]]
site = "odessa"
product = "ECRS"
price_usd_per_mw_hour = {ecrs}
max_mw = 30                                  # MW offered at most in any hour
deployment_share = 0.02                      # expected share of reserved MW-hours deployed
sources = ["asics"]

[[ancillary]]
site = "odessa"
product = "RRS"
price_usd_per_mw_hour = {rrs}
max_mw = 20
deployment_share = 0.01
sources = ["asics"]
"""


def _inline(spec: dict) -> str:
    items = ", ".join(f"{k} = {v!r}".replace("'", '"') for k, v in spec.items())
    return "{ " + items + " }"


def _render(specs: dict[str, dict]) -> str:
    return TEMPLATE.format(
        start=START, hours=HOURS, seed=SEED, **{k: _inline(v) for k, v in specs.items()}
    )


def example_text() -> str:
    """The example's TOML text with synthetic series (what the built-in example is)."""
    return _render({k: {"synthetic": gen, **params} for k, (_, _, gen, params) in SERIES.items()})


def example_doc(revenue_stack: bool = True) -> dict:
    """The built-in example as a scenario document (synthetic series).

    ``revenue_stack=False`` leaves out its ancillary-service offers and the S21 XPs' operating
    points: the example as it was before the ERCOT revenue stack, which the decomposed solver
    covers (benchmarks and the decomposition's tests use it).
    """
    doc = tomllib.loads(example_text())
    if not revenue_stack:
        doc.pop("ancillary", None)
        for row in doc["fleet"]:
            row.pop("operating_points", None)
    return doc


def example_scenario() -> Scenario:
    """The built-in example scenario (synthetic series, seed 7)."""
    return build_scenario(example_doc(), source=EXAMPLE_SOURCE)


def example_files() -> dict[str, str | pd.DataFrame]:
    """The example as editable files: ``scenario.toml`` (text) and one series table per CSV.

    Values are kept at full precision so the files load back to exactly the built-in scenario;
    :func:`optimizer.report.example_files.write_example` writes them.
    """
    index = hourly_index(START, HOURS)
    times = index.strftime("%Y-%m-%dT%H:%M:%SZ")
    files: dict[str, str | pd.DataFrame] = {}
    specs = {}
    for key, (fname, column, gen, params) in SERIES.items():
        values = np.asarray(synthetic.generate(gen, index, SEED, **params), dtype=float)
        files[fname] = pd.DataFrame({"time": times, column: values})
        specs[key] = {"file": fname, "value_column": column}
    files["scenario.toml"] = _render(specs)
    return files
