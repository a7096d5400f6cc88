"""Issue 13 item 1, money views: monthly and per-site P&L by stream, hourly USD in plan.csv,
BTC mined and hashprice per month, local times, whole GPU servers.

Every view must add up: months and sites to the plan's totals (to 1e-6 USD), the hours of
plan.csv to the totals, and BTC mined is hashrate x BTC per TH-hour hour by hour.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from kernels.bitcoin import btc_per_th_hour
from optimizer.accounting import COST_KEYS, REVENUE_KEYS, accounting_by_site
from optimizer.report.money import (
    add_whole_servers,
    hourly_money,
    monthly_pnl,
    plan_hours,
    site_pnl,
    whole_servers,
)
from optimizer.report.plan_files import write_report

MONEY = (*REVENUE_KEYS, *COST_KEYS)
HOURS = 24 * 45  # 2026-01-20 .. 2026-03-05: three calendar months, two of them partial
POOL_FEE = 0.02


def lease(**kw):
    return {"name": "tenant", "site": "odessa", "gpus": ["tenant"], **kw}


@pytest.fixture(scope="module")
def two_sites(request):
    """Two sites over parts of three months, with every kind of money stream."""
    tiny = request.getfixturevalue("tiny")
    rng = np.random.default_rng(13)
    hours = np.arange(HOURS)
    a = tiny.site(
        name="odessa",
        interconnect_mw=4.0,
        existing_hpc_mw=3.0,
        price_usd_per_mwh=np.round(35 + 25 * np.sin(hours / 5.0) + rng.normal(0, 8, HOURS), 2),
        min_take_mwh_per_month=2500.0,
        shortfall_usd_per_mwh=11.0,
        curtailment_mw=np.where(hours % 97 == 5, 2.0, 0.0),
    )
    b = tiny.site(
        name="pecos",
        mining_hall_mw=4.0,
        convertible_mw=2.0,
        conversion_usd_per_mw=300_000.0,
        conversion_life_years=5.0,
        price_usd_per_mwh=np.round(40 + 60 * (hours % 24 == 18) - 50 * (hours % 50 == 3), 2),
        peak_flag=(hours % 24 == 17).astype(float),
        peak_adder_usd_per_mwh=25.0,
    )
    document = tiny.doc(
        hours=HOURS,
        start="2026-01-20T00:00:00Z",
        sites=[a, b],
        fleet=[tiny.miner(), {**tiny.miner(count=1500), "site": "pecos"}],
        hosting=[
            {**tiny.miner(count=200), "name": "client", "site": "pecos", "rate_usd_per_mwh": 45.0}
        ],
        gpus=[
            tiny.colocation_gpu(max_servers=200, power_kw=10.0, it_kw=9.7),
            {
                **tiny.cloud_gpu(max_servers=80, capex_usd_per_server=20_000.0, life_years=3.0),
                "site": "pecos",
            },
        ],
        leases=[lease(min_mw=1.0, max_mw=1.2, sla_penalty_usd_per_mwh=200.0)],
        ppas=[
            {
                "site": "pecos",
                "block_mw": 2.0,
                "price_usd_per_mwh": 38.0,
                "resale": True,
                "resale_fee": 0.05,
                "negative_prices": "settle",
            }
        ],
    )
    document["market"]["pool_fee"] = POOL_FEE
    document["finance"] = {"discount_rate": 0.08}
    return tiny.plan(document)


def test_money_streams_are_all_there(two_sites):
    s = two_sites.summary
    for key in (
        "revenue_mining_usd",
        "revenue_hosting_usd",
        "revenue_hpc_usd",
        "energy_cost_usd",
        "ppa_cost_usd",
        "peak_charge_usd",
        "conversion_cost_usd",
        "gpu_capex_usd",
        "shortfall_usd",
    ):
        assert abs(getattr(s, key)) > 1.0, key  # the fixture exercises every main stream
    assert list(s.months) == ["2026-01", "2026-02", "2026-03"]
    assert [m.hours for m in s.months.values()] == [12 * 24, 28 * 24, 5 * 24]


def test_months_and_sites_add_up_to_the_totals(two_sites):
    s = two_sites.summary
    for key in MONEY:
        total = getattr(s, key)
        by_month = sum(m.money[key] for m in s.months.values())
        by_site = sum(getattr(x, key) for x in s.sites.values())
        assert by_month == pytest.approx(total, rel=0, abs=1e-6), key
        assert by_site == pytest.approx(total, rel=0, abs=1e-6), key
    assert sum(m.margin_usd for m in s.months.values()) == pytest.approx(
        s.margin_usd, rel=0, abs=1e-6
    )
    assert sum(x.margin_usd for x in s.sites.values()) == pytest.approx(
        s.margin_usd, rel=0, abs=1e-6
    )
    for m in s.months.values():  # each month: margin = revenues - costs, and its sites add up
        assert m.margin_usd == pytest.approx(m.revenue_total_usd - m.cost_total_usd, abs=1e-6)
        assert sum(m.site_margin_usd.values()) == pytest.approx(m.margin_usd, abs=1e-6)
    # the same in the tables, and per site-month from the hourly view
    monthly, sites = monthly_pnl(s), site_pnl(s)
    for key in (*MONEY, "margin_usd"):
        assert monthly[key].sum() == pytest.approx(getattr(s, key), rel=0, abs=1e-6), key
        assert sites[key].sum() == pytest.approx(getattr(s, key), rel=0, abs=1e-6), key
    hours = plan_hours(two_sites)
    for key in (*MONEY, "margin_usd"):
        assert hours[key].sum() == pytest.approx(getattr(s, key), rel=0, abs=1e-6), key
    by_site_month = (
        hours.assign(month=hours["time"].dt.strftime("%Y-%m"))
        .groupby(["site", "month"])["margin_usd"]
        .sum()
    )
    for month, m in s.months.items():
        for site, value in m.site_margin_usd.items():
            assert by_site_month[(site, month)] == pytest.approx(value, abs=1e-6)


def test_hourly_accounting_sums_to_the_site_accounting(two_sites):
    per_site = accounting_by_site(two_sites.data, two_sites.lp, two_sites.solution.x)
    money = hourly_money(two_sites)
    sites = list(two_sites.data.site_names)
    for key in MONEY:
        total = money[key].to_numpy().reshape(len(sites), -1).sum(axis=1)
        np.testing.assert_allclose(total, per_site[key], rtol=0, atol=1e-6)
    s = two_sites.summary
    # annuities accrue evenly; a month's shortfall is spread over that month's hours
    conv = money["conversion_cost_usd"].to_numpy().reshape(2, -1)[1]
    assert np.ptp(conv) < 1e-9 and conv.sum() == pytest.approx(s.sites["pecos"].conversion_cost_usd)
    short = money["shortfall_usd"].to_numpy().reshape(2, -1)[0]
    for month, m in s.months.items():
        in_month = two_sites.data.index.strftime("%Y-%m") == month
        assert short[in_month].sum() == pytest.approx(m.money["shortfall_usd"], abs=1e-6)


def test_btc_mined_is_hashrate_times_btc_per_th_hour(two_sites, tiny):
    hours = plan_hours(two_sites)
    odessa = hours[hours["site"] == "odessa"].reset_index(drop=True)
    t = int(np.argmax(odessa["mining_mw"].to_numpy()))  # an hour the odessa miners run
    row = odessa.iloc[t]
    # by hand: 1,000 machines x 100 TH/s at 10 C (no derating, availability 1) x the share
    # of the class running (its MW over its 2 MW); BTC per TH-hour from the market
    running = row["mining_mw"] / 2.0
    hashrate = 1000 * 100.0 * running
    assert row["hashrate_ths"] == pytest.approx(hashrate, rel=1e-9)
    b = btc_per_th_hour(tiny.doc()["market"]["difficulty"], 0.0, 840000)
    assert b == pytest.approx(1e-8, rel=1e-12)  # 1e-3 USD/TH-h at 100,000 USD/BTC
    assert row["btc_mined"] == pytest.approx(hashrate * b, rel=1e-9)
    assert row["btc_earned"] == pytest.approx(hashrate * b * (1 - POOL_FEE), rel=1e-9)
    assert row["revenue_mining_usd"] == pytest.approx(row["btc_earned"] * 100_000.0, rel=1e-9)
    # hosted machines mine for their owners: not in our BTC
    s = two_sites.summary
    assert s.btc_mined == pytest.approx(hours["btc_mined"].sum(), rel=1e-12)
    assert s.btc_earned * 100_000.0 == pytest.approx(s.revenue_mining_usd, rel=1e-9)
    assert sum(m.btc_mined for m in s.months.values()) == pytest.approx(s.btc_mined, rel=1e-12)
    assert sum(x.btc_mined for x in s.sites.values()) == pytest.approx(s.btc_mined, rel=1e-12)
    for m in s.months.values():
        assert m.mean_hashprice_usd_per_ph_day == pytest.approx(1e-3 / (1 - 0) * 24_000, rel=1e-9)
        assert m.mean_btc_price_usd == pytest.approx(100_000.0)


def test_plan_csv_has_usd_columns_and_local_time(two_sites, tmp_path):
    out = tmp_path / "out"
    write_report(two_sites, out, charts=False, html=False, tz="America/Chicago")
    csv = pd.read_csv(out / "plan.csv")
    summary = json.loads((out / "summary.json").read_text())
    assert len(csv) == 2 * HOURS
    for key in (*MONEY, "margin_usd"):
        # six decimals per hour: the sum is good to a few thousandths of a dollar
        assert csv[key].sum() == pytest.approx(summary[key], rel=0, abs=5e-3), key
    assert csv["btc_mined"].sum() == pytest.approx(summary["btc_mined"], rel=1e-9)
    cols = list(csv.columns)
    assert cols[:3] == ["site", "time", "local_time"]
    assert csv["time"].iloc[0] == "2026-01-20T00:00:00Z"
    assert csv["local_time"].iloc[0] == "2026-01-19T18:00:00-06:00"  # CST
    assert csv["local_time"].iloc[24 * 44] == "2026-03-04T18:00:00-06:00"
    # monthly.csv and sites.csv hold every float exactly: they add up to summary.json
    monthly = pd.read_csv(out / "monthly.csv")
    sites = pd.read_csv(out / "sites.csv")
    assert monthly["month"].tolist() == ["2026-01", "2026-02", "2026-03"]
    assert sites["site"].tolist() == ["odessa", "pecos"]
    for key in (*MONEY, "margin_usd"):
        assert monthly[key].sum() == pytest.approx(summary[key], rel=0, abs=1e-6), key
        assert sites[key].sum() == pytest.approx(summary[key], rel=0, abs=1e-6), key
    assert monthly["btc_mined"].sum() == pytest.approx(summary["btc_mined"], rel=1e-12)
    assert set(summary["months"]) == {"2026-01", "2026-02", "2026-03"}
    assert summary["months"]["2026-02"]["hours"] == 672
    assert summary["months"]["2026-02"]["margin_usd"] == pytest.approx(
        monthly.loc[1, "margin_usd"], rel=0, abs=1e-9
    )


def test_local_time_over_the_fall_back_hour(tiny, tmp_path):
    plan = tiny.plan(tiny.doc(hours=4, start="2026-11-01T05:00:00Z"))
    frame = plan_hours(plan, "America/Chicago")
    assert frame["local_time"].dt.strftime("%H:%M%z").tolist() == [
        "00:00-0500",
        "01:00-0500",
        "01:00-0600",
        "02:00-0600",  # 1 AM twice, told apart
    ]
    write_report(plan, tmp_path, charts=False, html=False, tz="America/Chicago")
    assert pd.read_csv(tmp_path / "plan.csv")["local_time"].tolist() == [
        "2026-11-01T00:00:00-05:00",
        "2026-11-01T01:00:00-05:00",
        "2026-11-01T01:00:00-06:00",
        "2026-11-01T02:00:00-06:00",
    ]


def test_a_bad_time_zone_is_bad_input(tiny, tmp_path):
    from models import ScenarioError

    plan = tiny.plan(tiny.doc())
    with pytest.raises(ScenarioError, match="America/Chicago"):
        write_report(plan, tmp_path, tz="Mars/Olympus")
    assert not (tmp_path / "summary.json").exists()


# --------------------------------------------------------------------------- whole servers


def test_whole_servers_and_the_margin_effect_of_rounding(tiny):
    # a 1 MW lease of 9.7 kW-IT servers needs 103.09 servers: whole, 104 (103 is too few).
    # A server rents for 73 x 9.7 / 730 = 0.97 USD/h and its 10 kW cost 1.5 USD/h at 150
    # USD/MWh: the LP leases no more than the minimum
    site = tiny.site(existing_hpc_mw=5.0, price_usd_per_mwh=150.0)
    document = tiny.doc(
        sites=[site],
        gpus=[tiny.colocation_gpu(it_kw=9.7)],
        leases=[lease(min_mw=1.0, max_mw=2.0)],
    )
    plan = tiny.plan(document)
    f = plan.summary.gpu_servers_firm
    assert f == pytest.approx(1.0 / 0.0097, rel=1e-9)
    ws = whole_servers(plan)
    c = ws.classes["tenant"]
    assert ws.status == "optimal"
    assert (c.firm_lp, c.firm, c.installed) == (pytest.approx(f), 104, 104)
    # the same plan with 104 servers forced by the lease is the whole-server plan: 0.907
    # servers more, each losing 0.53 USD/h over 3 h
    forced = tiny.plan(
        tiny.doc(
            sites=[site],
            gpus=[tiny.colocation_gpu(it_kw=9.7)],
            leases=[lease(min_mw=104 * 0.0097, max_mw=104 * 0.0097)],
        )
    )
    assert ws.margin_usd == pytest.approx(forced.summary.margin_usd, rel=1e-9)
    assert ws.margin_effect_usd == pytest.approx(
        forced.summary.margin_usd - plan.summary.margin_usd, abs=1e-6
    )
    assert ws.margin_effect_usd == pytest.approx(-(104 - f) * (1.5 - 0.97) * 3, rel=1e-9)
    # in the summary, gpus.csv and summary.json once the report has run
    add_whole_servers(plan)
    d = plan.summary.to_dict()
    assert d["whole_servers"]["classes"]["tenant"]["firm"] == 104
    assert d["whole_servers"]["margin_effect_usd"] == pytest.approx(ws.margin_effect_usd)


def test_whole_servers_without_a_solve_when_the_counts_are_whole(tiny):
    document = tiny.doc(
        sites=[tiny.site(existing_hpc_mw=5.0)],
        gpus=[tiny.colocation_gpu()],
        leases=[lease(min_mw=1.0, max_mw=1.0)],
    )
    plan = tiny.plan(document)
    ws = whole_servers(plan)
    assert ws.status == "whole" and ws.margin_effect_usd == 0.0
    assert ws.classes["tenant"].firm == 100


def test_whole_servers_in_gpus_csv(two_sites, tmp_path):
    write_report(two_sites, tmp_path, charts=False, html=False)
    gpus = pd.read_csv(tmp_path / "gpus.csv")
    assert {"firm_whole", "installed_whole"} <= set(gpus.columns)
    assert (gpus["firm_whole"] == gpus["firm_whole"].round()).all()
    summary = json.loads((tmp_path / "summary.json").read_text())
    ws = summary["whole_servers"]
    assert ws["status"] == "optimal"
    assert ws["margin_effect_usd"] <= 1e-6
    # the tenant's servers pay: the LP leases the lease maximum, 1.2 MW = 123.7 servers;
    # 124 would exceed it, so 123
    tenant = gpus.set_index("gpu_class").loc["tenant"]
    assert tenant["firm"] == pytest.approx(1.2 / 0.0097, rel=1e-6)
    assert tenant["firm_whole"] == 123


def test_no_whole_server_plan_inside_one_server(tiny, tmp_path):
    # a lease of exactly 1 MW of 9.7 kW servers: 103 servers are too few, 104 too many
    document = tiny.doc(
        sites=[tiny.site(existing_hpc_mw=5.0)],
        gpus=[tiny.colocation_gpu(it_kw=9.7)],
        leases=[lease(min_mw=1.0, max_mw=1.0)],
    )
    plan = tiny.plan(document)
    ws = whole_servers(plan)
    assert ws.status == "none" and ws.margin_usd is None and ws.margin_effect_usd is None
    assert ws.classes["tenant"].firm is None
    write_report(plan, tmp_path, charts=False)
    gpus = pd.read_csv(tmp_path / "gpus.csv")
    assert "firm_whole" not in gpus  # no whole counts to show
    assert "n/a" in (tmp_path / "report.html").read_text()
