"""Scenario -> kernel glue and the `score` command, checked against hand-computed numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
from click.testing import CliRunner

from models import build_scenario
from optimizer.cli import main
from optimizer.score import score_scenario


def doc(temp_c=20.0):
    return {
        "scenario": {"start": "2026-06-01T00:00:00Z", "hours": 3},
        "market": {
            "btc_price_usd": 100000,
            "difficulty": 1.5e14,
            "fees_btc_per_block": 0.03,
            "height": 900000,
            "blocks_per_hour": 0,
            "pool_fee": 0.02,
        },
        "sites": [
            {
                "name": "a",
                "interconnect_mw": 10,
                "price_usd_per_mwh": [30.0, 200.0, -5.0],
                "temp_c": temp_c,
                "cooling": {"air": {"pue0": 1.05, "pue_slope": 0.01, "pue_ref_c": 25}},
            }
        ],
        "fleet": [{"site": "a", "model": "S21", "count": 10}],
        "hosting": [
            {
                "name": "h",
                "site": "a",
                "model": "S21",
                "count": 4,
                "rate_usd_per_mwh": 70,
                "uptime": 0.5,
            }
        ],
        "gpus": [
            {
                "name": "g",
                "site": "a",
                "model": "H100 x8",
                "max_servers": 5,
                "pricing": "cloud",
                "rate_usd_per_gpu_hour": 2.0,
                "utilization": 0.5,
                "cooling": "liquid",
            }
        ],
    }


def test_scores_by_hand():
    s = build_scenario(doc())
    sc = score_scenario(s)
    b = 1e12 * 3600 / (1.5e14 * 2**32) * 3.155  # BTC per TH/s per hour at height 900,000
    usd = b * 100000 * 0.98
    # 20 C is below the air t_ref (25 C) and pue_ref: no derating, PUE 1.05
    np.testing.assert_allclose(sc.usd_per_th_hour, usd, rtol=1e-12)
    np.testing.assert_allclose(sc.asic_revenue_usd[0], 10 * 200 * usd, rtol=1e-12)
    np.testing.assert_allclose(sc.asic_energy_mwh[0], 10 * 3.5 * 1.05 / 1000, rtol=1e-12)
    # hosted class earns $70 per MWh of its energy
    np.testing.assert_allclose(sc.asic_energy_mwh[1], 4 * 3.5 * 1.05 / 1000, rtol=1e-12)
    np.testing.assert_allclose(sc.asic_revenue_usd[1], 70 * 4 * 3.5 * 1.05 / 1000, rtol=1e-12)
    # one GPU server: 8 GPUs x $2 x 50%; liquid PUE default 1.12 below 25 C
    np.testing.assert_allclose(sc.gpu_revenue_usd[0], 8.0, rtol=1e-12)
    np.testing.assert_allclose(sc.gpu_energy_mwh[0], 10.2 * 1.12 / 1000, rtol=1e-12)
    np.testing.assert_allclose(sc.hashprice_usd_per_ph_day, b * 1000 * 24 * 100000, rtol=1e-12)
    # per machine: an S21 breaks even at usd*200 / (3.5*1.05/1000) $/MWh, in the money at $30 and -$5, not $200
    own = sc.machines[~sc.machines.hosted]
    breakeven = usd * 200 / (3.5 * 1.05 / 1000)
    assert 30 < breakeven < 200
    np.testing.assert_allclose(own.mean_breakeven_usd_per_mwh, breakeven, rtol=1e-12)
    assert own.hours_in_money.tolist() == [2] * 10


def test_hot_hours_derate_and_raise_pue():
    s = build_scenario(doc(temp_c=35.0))
    sc = score_scenario(s)
    b = 1e12 * 3600 / (1.5e14 * 2**32) * 3.155
    # air: alpha 0.005, beta 0.002 per C above 25 C -> dT = 10; PUE 1.05 + 0.01 * 10
    np.testing.assert_allclose(
        sc.asic_revenue_usd[0], 10 * 200 * 0.95 * b * 100000 * 0.98, rtol=1e-12
    )
    np.testing.assert_allclose(sc.asic_energy_mwh[0], 10 * 3.5 * 1.02 * 1.15 / 1000, rtol=1e-12)


def test_score_command_writes_consistent_files(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(
        '[scenario]\nstart = "2026-06-01T00:00:00Z"\nhours = 48\n'
        "[market]\nbtc_price_usd = 90000\nnetwork_hashrate_ehs = 1100\nfees_btc_per_block = 0.03\nheight = 925000\n"
        '[[sites]]\nname = "a"\ninterconnect_mw = 10\nprice_usd_per_mwh = 40\ntemp_c = 30\n'
        '[[fleet]]\nsite = "a"\nmodel = "S21 XP"\ncount = 20\n'
        '[[fleet]]\nsite = "a"\nmodel = "S19j Pro"\ncount = 30\n'
    )
    result = CliRunner().invoke(main, ["score", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    machines = pd.read_csv(tmp_path / "out" / "machines.csv")
    hours = pd.read_parquet(tmp_path / "out" / "class_hours.parquet")
    assert len(machines) == 50 and len(hours) == 2 * 48
    by_class = machines.groupby("class").revenue_usd.sum()
    np.testing.assert_allclose(
        hours.groupby("class").revenue_usd.sum()[by_class.index], by_class, rtol=1e-9
    )
    np.testing.assert_allclose(
        hours.margin_usd, hours.revenue_usd - 40 * hours.energy_mwh, rtol=1e-12
    )
    assert (tmp_path / "out" / "margin_by_class.png").stat().st_size > 10_000
    assert "S19j Pro" in result.output
