"""The examples in docs/ run and say what docs/api.md says they say."""

from __future__ import annotations

import runpy
from pathlib import Path

import pandas as pd
import pytest

from optimizer.accounting import COST_KEYS, REVENUE_KEYS

REPO = Path(__file__).resolve().parents[1]


def test_api_tour_plans_and_studies(tmp_path, capsys):
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
