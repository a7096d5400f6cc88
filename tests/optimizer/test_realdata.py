"""A year of real ERCOT West hub prices (2023): the plan resells its PPA in the August spikes.

Needs ``../shared/data/ercot/ercot_rtm_spp_hourly_2020_2024.csv`` next to the project; skipped
when it is absent (a fresh clone has no ``../shared``). The full 2023 year solves in about a
second, so no slicing is needed.

Set-up: a 65 MW interconnect with 20,000 S21 (~72 MW at the wall) and a 60 MW PPA at
35 USD/MWh, resold at spot (no fee). At 30,000 USD/BTC, 400 EH/s, 6.25 BTC + 0.1 BTC fees the
S21 breaks even near 160 USD/MWh, so:

- above breakeven, every MWh of the block is worth more resold than mined: mining idles and
  the whole 60 MWh is resold (August 2023 had 42 hours above 1,000 USD/MWh at HB_WEST);
- below it, mining runs into the 65 MW import limit, and one more MW of import is worth the
  mining margin on the marginal (grid) MWh, ``R/E - pi``, largest when the price is most
  negative. In the spike hours the site idles by choice, so the import limit is slack and its
  dual is 0: the value of the spikes shows up as resale credits, not as import duals.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.realdata

DATA = (
    Path(__file__).resolve().parents[2].parent
    / "shared"
    / "data"
    / "ercot"
    / "ercot_rtm_spp_hourly_2020_2024.csv"
)


@pytest.fixture(scope="module")
def hb_west_2023() -> pd.Series:
    if not DATA.is_file():
        pytest.skip(f"real data not found at {DATA}")
    frame = pd.read_csv(DATA, usecols=["hour_start_utc", "HB_WEST"])
    frame["time"] = pd.to_datetime(frame["hour_start_utc"], utc=True)
    year = frame[(frame["time"] >= "2023-01-01") & (frame["time"] < "2024-01-01")]
    series = year.set_index("time")["HB_WEST"]
    assert len(series) == 8760 and series.index.is_unique and series.notna().all()
    return series


@pytest.fixture(scope="module")
def plan_2023(hb_west_2023):
    from models import build_scenario
    from optimizer.plan import plan_scenario

    doc = {
        "scenario": {"name": "hb-west-2023", "start": "2023-01-01T00:00:00Z", "hours": 8760},
        "market": {
            "btc_price_usd": 30000.0,
            "network_hashrate_ehs": 400.0,
            "fees_btc_per_block": 0.1,
            "height": 780000,
        },
        "sites": [
            {
                "name": "west",
                "interconnect_mw": 65.0,
                "mining_hall_mw": 100.0,
                "price_usd_per_mwh": hb_west_2023.to_numpy(),
                "temp_c": 20.0,
            }
        ],
        "fleet": [{"site": "west", "model": "S21", "count": 20000}],
        "ppas": [
            {
                "site": "west",
                "block_mw": 60.0,
                "price_usd_per_mwh": 35.0,
                "resale": True,
                "negative_prices": "spill",  # the spill test below
            }
        ],
    }
    scenario = build_scenario(doc, source="<hb-west-2023>")
    return plan_scenario(scenario)


def test_plan_resells_the_ppa_and_idles_mining_in_the_august_2023_spikes(plan_2023, tiny):
    plan = plan_2023
    tiny.assert_accounting(plan)
    d = plan.data
    breakeven = d.revenue_usd[0] / d.energy_mwh[0]  # [USD/MWh], ~160
    assert 100 < breakeven.mean() < 250
    sh = plan.site_hours.set_index("time")
    price = sh["price_usd_per_mwh"]
    august_spikes = (price > 1000) & (sh.index.month == 8)
    assert august_spikes.sum() == 42
    above = price > breakeven
    # every hour above breakeven: no mining, the whole block resold, nothing bought
    assert (sh.loc[above, "mining_mw"] < 1e-6).all()
    np.testing.assert_allclose(sh.loc[above, "ppa_resold_mwh"], 60.0, atol=1e-6)
    np.testing.assert_allclose(sh.loc[above, "grid_mwh"], 0.0, atol=1e-6)
    # resale credits: spot x MWh resold
    s = plan.summary
    credit = float((price.clip(lower=0) * sh["ppa_resold_mwh"]).sum())
    assert s.resale_credit_usd == pytest.approx(credit, rel=1e-9)
    spike_credit = float((price * sh["ppa_resold_mwh"])[august_spikes].sum())
    assert spike_credit == pytest.approx(60.0 * price[august_spikes].sum(), rel=1e-9)
    # below breakeven mining runs into the 65 MW limit, above the 60 MW block: nothing is
    # resold there, so all resale is the block in the hours above breakeven
    assert s.resale_credit_usd == pytest.approx(60.0 * price[above].sum(), rel=1e-9)
    # spilled, not resold, in the 729 negative-price hours
    assert (price < 0).sum() == 729
    np.testing.assert_allclose(sh.loc[price < 0, "ppa_resold_mwh"], 0.0, atol=1e-9)
    assert s.ppa_spilled_mwh == pytest.approx(60.0 * 729, rel=1e-9)


def test_import_duals_value_the_mining_margin_where_the_limit_binds(plan_2023):
    plan = plan_2023
    d = plan.data
    breakeven = d.revenue_usd[0] / d.energy_mwh[0]
    sh = plan.site_hours.set_index("time")
    price = sh["price_usd_per_mwh"].to_numpy()
    value = sh["import_value_usd_per_mwh"].to_numpy()
    load = sh["load_mw"].to_numpy()
    assert (value >= -1e-7).all()
    # slack limit, zero value: in particular in every spike hour, where the site idles
    slack = load < 65.0 - 1e-6
    np.testing.assert_allclose(value[slack], 0.0, atol=1e-7)
    assert (price[slack] > 0).all()
    # binding limit with the class partly running: the marginal MWh comes from the grid
    # (load > 60 MWh block), so one more MW earns R/E - pi
    running = (load >= 65.0 - 1e-6) & (sh["mining_mw"].to_numpy() < d.energy_mwh[0] - 1e-6)
    assert running.sum() > 5000
    np.testing.assert_allclose(value[running], (breakeven - price)[running], rtol=1e-7)
    # so import is worth most when the grid pays the site to draw
    top = np.argsort(value)[-50:]
    assert (price[top] < 0).all()
    assert value.max() == pytest.approx(float(np.max(breakeven - price)), rel=1e-7)


def test_energy_value_is_highest_in_the_august_2023_spikes(plan_2023, hb_west_2023):
    """The energy balance's dual, one more MWh delivered to the site, peaks with the spikes.

    In a spike hour the extra MWh is resold at spot (psi = 1), so it is worth exactly the price;
    in other hours it is worth at most the mining breakeven (~160 USD/MWh here).
    """
    sh = plan_2023.site_hours
    price = hb_west_2023.to_numpy()
    value = sh["energy_value_usd_per_mwh"].to_numpy()
    resold = sh["ppa_resold_mwh"].to_numpy() > 1e-6
    np.testing.assert_allclose(value[resold], price[resold], rtol=1e-7)
    august = (hb_west_2023.index.month == 8) & (price > 1000)
    top = np.argsort(value)[::-1][: int(august.sum())]
    # the 42 most valuable hours of the year: all above 1,000 USD/MWh, most of them in August 2023
    assert (price[top] > 1000).all()
    assert np.isin(top, np.flatnonzero(august)).sum() >= 0.5 * len(top)
    assert value[august].min() > 10 * np.median(value)
