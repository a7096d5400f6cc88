"""The examples in docs/ run and say what docs/api.md says they say."""

from __future__ import annotations

import runpy
from pathlib import Path

import pandas as pd
import pytest

from optimizer.accounting import COST_KEYS, REVENUE_KEYS

REPO = Path(__file__).resolve().parents[1]


def test_api_tour_plans_and_studies(tmp_path, capsys):
    """The tour plans and studies; its pandas price Series reaches plan.csv hour by hour;
    margin_by_stream adds up to the margin; study_results gives summary.csv's rows."""
    tour = runpy.run_path(str(REPO / "docs" / "examples" / "api_tour.py"))
    out = tour["main"](tmp_path)
    s = out["summary"]
    # two weeks of the example: one site, 336 hours, every row of plan.csv a site-hour
    assert s.hours == 336
    assert len(out["site_hours"]) == 336
    plan_csv = pd.read_csv(tmp_path / "plan" / "plan.csv")
    assert len(plan_csv) == 336
    assert plan_csv["mining_mw"].sum() == pytest.approx(s.mining_mwh, rel=1e-6)
    money = s.money()
    revenues = sum(money[k] for k in REVENUE_KEYS)
    costs = sum(money[k] for k in COST_KEYS)
    assert s.margin_usd == pytest.approx(revenues - costs, rel=1e-9)
    rows = pd.read_csv(tmp_path / "study" / "summary.csv")
    assert sorted(rows["market.btc_price_usd"]) == [60000, 90000, 120000]
    assert (rows["status"] == "optimal").all()
    # mining revenue scales with the BTC price in a study where nothing else moves
    rows = rows.sort_values("market.btc_price_usd")
    assert rows["revenue_mining_usd"].is_monotonic_increasing
    assert "margin" in capsys.readouterr().out
    # the pandas price Series reaches plan.csv hour by hour
    price = out["price"]
    times = pd.to_datetime(plan_csv["time"], utc=True)
    # 2026-01-01 09:00Z: 40 + 30 sin(0) = 40 USD/MWh; 15:00Z: 40 + 30 sin(pi/2) = 70
    at = plan_csv.set_index(times)["price_usd_per_mwh"]
    assert at[pd.Timestamp("2026-01-01T09:00Z")] == pytest.approx(40.0, abs=1e-6)
    assert at[pd.Timestamp("2026-01-01T15:00Z")] == pytest.approx(70.0, abs=1e-6)
    assert at.to_numpy() == pytest.approx(price.iloc[:336].to_numpy(), abs=1e-6)
    money = out["money"]  # margin_by_stream: USD by stream and site, costs negative
    assert money.loc["margin_usd", "total"] == pytest.approx(s.margin_usd, rel=1e-12)
    streams = money.drop(index="margin_usd")
    assert streams["odessa"].sum() == pytest.approx(s.margin_usd, rel=1e-9)
    assert money.loc["energy_cost_usd", "total"] == pytest.approx(-s.energy_cost_usd)
    results = out["rows"]  # study_results: the rows of summary.csv
    assert sorted(results["margin_usd"]) == pytest.approx(sorted(rows["margin_usd"]), rel=1e-9)
