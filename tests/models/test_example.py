"""The built-in example: what the issue asks for, and the files round trip."""

from __future__ import annotations

import numpy as np
import pytest

from kernels.bitcoin import hashprice_usd_per_ph_day
from models import load_scenario
from models.example import example_scenario
from optimizer.report.example_files import write_example


@pytest.fixture(scope="module")
def example():
    return example_scenario()


def test_example_matches_the_brief(example):
    s = example
    assert s.hours == 8760 and s.index[0].isoformat() == "2026-01-01T00:00:00+00:00"
    (site,) = s.sites
    assert site.interconnect_mw == 100 and site.convertible_mw == 60
    # $9M/MW over 10 years = $102.74 per MW-hour
    assert site.conversion_usd_per_mw_hour == pytest.approx(9e6 / 87600)
    models = {c.model for c in s.classes if not c.hosted}
    assert models == {"S21 XP", "S21", "S19 XP", "S19j Pro"}
    # ~95 MW of ASIC load incl. cooling at the reference temperature (air PUE 1.03)
    asic_mw = (s.fleet.power_kw * 1.03).sum() / 1000
    assert 90 <= asic_mw <= 97
    hosted = [c for c in s.classes if c.hosted]
    assert len(hosted) == 1 and hosted[0].uptime == 0.95 and hosted[0].model == "S21"
    assert set(s.fleet.hosting_usd_per_mwh[s.fleet.hosted]) == {70.0}
    tenant, own = s.gpus
    assert tenant.colocation and tenant.power_pass_through and tenant.lease_usd_per_kw_month == 150
    assert tenant.max_servers * tenant.it_kw / 1000 == pytest.approx(40.0, abs=0.01)
    assert (
        own.max_servers == 200 and own.utilization == 0.85 and own.rate_usd_per_gpu_hour[0] == 2.10
    )
    assert own.capex_usd_per_server_hour == pytest.approx(250000 / (5 * 8760))
    (lease,) = s.leases
    assert (lease.min_mw, lease.max_mw) == (10, 40)
    (ppa,) = s.ppas
    assert (
        ppa.block_mw[0] == 60
        and ppa.price_usd_per_mwh == 38
        and ppa.resale_factor == pytest.approx(0.98)
    )
    # the revenue stack: S21 XP firmware presets and ECRS/RRS offers from the own ASICs
    (xp,) = [c for c in s.classes if c.model == "S21 XP"]
    assert xp.operating_points == ((2.4, 205.0), (3.0, 240.0), (4.1, 290.0))
    assert [c.operating_points for c in s.classes if c.model != "S21 XP"] == [()] * 4
    ecrs, rrs = s.ancillary
    assert (ecrs.product, ecrs.max_mw, ecrs.deployment_share) == ("ECRS", 30.0, 0.02)
    assert (rrs.product, rrs.max_mw, rrs.deployment_share) == ("RRS", 20.0, 0.01)
    assert ecrs.asics and not ecrs.gpus
    # a full year of synthetic prices at the 2024 levels: ECRS 9.62, RRS 5 USD/MW-h
    assert ecrs.price_usd_per_mw_hour.mean() == pytest.approx(9.62, rel=1e-12)
    assert rrs.price_usd_per_mw_hour.mean() == pytest.approx(5.0, rel=1e-12)
    m = s.market
    assert m.btc_price_usd[0] == 90000 and m.fees_btc_per_block[0] == 0.03 and m.pool_fee == 0.02
    assert m.height[0] == 925000
    assert m.network_hashrate_ehs[0] == pytest.approx(1100.0, rel=1e-12)
    # hashprice at the example's market: ~$37/PH/day, near the Nov 2025 low of ~$35
    hp = hashprice_usd_per_ph_day(90000.0, m.difficulty[0], 0.03, 925000)
    assert 30 <= hp <= 45


def test_example_series_statistics(example):
    price = example.sites[0].price_usd_per_mwh
    assert 30 <= price.mean() <= 50
    assert 0.05 <= (price < 0).mean() <= 0.12
    assert price.max() <= 5000
    assert 38 <= example.sites[0].temp_c.max() <= 43
    assert (example.sites[0].curtailment_mw > 0).sum() > 0
    assert set(np.unique(example.sites[0].peak_flag)) == {0.0, 1.0}


def test_written_example_loads_back_identical(tmp_path, example):
    path = write_example(tmp_path / "ex")
    assert sorted(p.name for p in (tmp_path / "ex").iterdir()) == [
        "curtailment.csv",
        "ecrs_prices.csv",
        "peaks.csv",
        "prices.csv",
        "rrs_prices.csv",
        "scenario.toml",
        "temperature.csv",
    ]
    loaded = load_scenario(path)
    assert loaded.equals(example)
    assert loaded.source == str(path)
    # and the equality check is not vacuous: one changed value is seen
    text = path.read_text().replace("count = 3000", "count = 2999")
    path.write_text(text)
    assert not load_scenario(path).equals(example)
