"""write_report: plan.csv, summary.json, charts; numbers survive the round trip."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from optimizer.report.plan_files import write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
REQUIRED_SUMMARY_KEYS = (
    "status",
    "backend",
    "solver",
    "margin_usd",
    "revenue_mining_usd",
    "revenue_hpc_usd",
    "energy_cost_usd",
    "ppa_cost_usd",
    "resale_credit_usd",
    "peak_charge_usd",
    "conversion_cost_usd",
    "sla_penalty_usd",
    "hpc_mw_converted",
    "gpu_servers_firm",
    "mining_mwh",
    "hpc_mwh",
    "curtailed_mwh",
    "hours",
    "seconds",
)


def spike_doc(tiny, hours=3, backend_prices=None):
    prices = backend_prices if backend_prices is not None else np.array([30.0, 3000.0, 30.0])
    return tiny.doc(
        hours=hours,
        sites=[tiny.site(price_usd_per_mwh=prices, existing_hpc_mw=5.0)],
        gpus=[tiny.cloud_gpu(max_servers=100)],
        ppas=[
            {
                "site": tiny.SITE,
                "block_mw": 2.0,
                "price_usd_per_mwh": 40.0,
                "resale": True,
                "resale_fee": 0.1,
            }
        ],
    )


@pytest.mark.parametrize("backend", ["highs", "pulp"])
def test_report_files_and_numbers(tiny, tmp_path, backend):
    plan = tiny.plan(spike_doc(tiny), backend=backend)
    paths = write_report(plan, tmp_path / "out", class_hours=True)
    names = [p.name for p in paths]
    assert names == [
        "plan.csv",
        "monthly.csv",
        "sites.csv",
        "gpus.csv",
        "classes.csv",
        "allocation.png",
        "duals.png",
        "monthly_pnl.png",
        "report.html",
        "summary.json",
    ]
    for p in paths:
        if p.suffix == ".png":
            assert p.read_bytes()[:8] == PNG_MAGIC
    csv = pd.read_csv(tmp_path / "out" / "plan.csv")
    assert len(csv) == 3 and csv["time"].tolist()[0] == "2026-03-02T00:00:00Z"
    # hour 1 (3000 USD/MWh): resale earns 2700 USD/MWh, more than mining (50) or the cloud
    # servers (10 USD/h per 0.01 MWh = 1000): all idle, the 2 MW block is resold. Hours 0, 2:
    # 2 MW mining + 1 MW of servers run on the block plus 1 MWh bought at 30
    np.testing.assert_allclose(csv["mining_mw"], [2.0, 0.0, 2.0], atol=1e-6)
    np.testing.assert_allclose(csv["hpc_interruptible_mw"], [1.0, 0.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(csv["ppa_resold_mwh"], [0.0, 2.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(csv["grid_mwh"], [1.0, 0.0, 1.0], atol=1e-6)
    classes = pd.read_csv(tmp_path / "out" / "classes.csv")
    assert len(classes) == (1 + 1) * 3  # one ASIC and one GPU class, 3 hours
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    for key in REQUIRED_SUMMARY_KEYS:
        assert key in summary, key
    for key in ("load", "kernel", "build", "solve", "report", "total"):
        assert summary["seconds"][key] >= 0.0
    assert summary["seconds"]["report"] > 0.0
    assert summary["seconds"]["total"] == pytest.approx(
        sum(v for k, v in summary["seconds"].items() if k != "total")
    )
    # mining 2 h x 100 USD, servers 2 h x 100 x 10 USD, 2 MWh bought at 30, 2 MWh resold at
    # 2700, the block 3 h x 2 MW x 40 USD
    expected = 2 * 100.0 + 2 * 100 * 10.0 - 2 * 30.0 + 2 * 2700.0 - 3 * 2 * 40.0  # 7300
    assert summary["margin_usd"] == pytest.approx(expected, rel=1e-9)
    assert summary["resale_credit_usd"] == pytest.approx(5400.0, rel=1e-9)
    if backend == "pulp":  # no reduced costs from PuLP: null, not NaN, in JSON
        assert summary["sites"]["odessa"]["conversion_value_usd_per_mw"] is None


def test_report_without_charts_and_a_long_horizon_chart(tiny, tmp_path):
    plan = tiny.plan(spike_doc(tiny))
    paths = write_report(plan, tmp_path / "plain", charts=False)
    assert [p.name for p in paths] == [
        "plan.csv",
        "monthly.csv",
        "sites.csv",
        "gpus.csv",
        "report.html",
        "summary.json",
    ]
    # five weeks of hours: the allocation chart switches to daily means
    hours = 24 * 35
    prices = np.where(np.arange(hours) % 24 == 18, 900.0, 30.0)
    plan = tiny.plan(spike_doc(tiny, hours=hours, backend_prices=prices))
    assert plan.summary.hours_curtailed == 35  # mining idles every day at 18:00
    paths = write_report(plan, tmp_path / "long")
    assert (tmp_path / "long" / "allocation.png").read_bytes()[:8] == PNG_MAGIC
    assert len(pd.read_csv(tmp_path / "long" / "plan.csv")) == hours
