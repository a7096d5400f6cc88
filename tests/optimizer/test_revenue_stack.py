"""The ERCOT revenue stack: ancillary services, ASIC operating points, 4CP from the tariff.

Tiny scenarios (conftest): 1,000 machines of 100 TH/s at 2 kW earn 100 USD/h for 2 MWh/h
(breakeven 50 USD/MWh, PUE 1); the site buys at 30 USD/MWh unless a test says otherwise. Every
optimum below is derived by hand and checked on both backends.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models import ScenarioError
from models.series import hourly_index
from models.sites import tariff_peak_adder
from optimizer.accounting import ancillary_by_offer

BACKENDS = [
    pytest.param({}, id="highs"),
    pytest.param({"backend": "pulp"}, id="pulp"),
]
#: Operating points are also covered by the decomposed method (docs/model.md §5.8).
POINT_SOLVES = [*BACKENDS, pytest.param({"backend": "decomposed"}, id="decomposed")]


def offer(product: str = "ECRS", price=5.0, **kw) -> dict:
    return {"site": "odessa", "product": product, "price_usd_per_mw_hour": price, **kw}


def droppable_mw(plan) -> np.ndarray:
    """Load the site could drop in each hour: own ASICs and interruptible GPUs running [MW]."""
    a = plan.arrays
    return a["mining_mw"] - a["hosted_asic_mw"] + a["hpc_interruptible_mw"]


def reserved_up_mw(plan) -> np.ndarray:
    d = plan.data
    mw, _, _ = ancillary_by_offer(d, plan.lp, plan.solution.x)
    out = np.zeros((d.n_sites, d.hours))
    np.add.at(out, d.ancillary_site[~d.ancillary_down], mw[~d.ancillary_down])
    return out


def assert_never_above_droppable(plan) -> None:
    assert (reserved_up_mw(plan) <= droppable_mw(plan) + 1e-6).all()


# --------------------------------------------------------------------------- ancillary services


@pytest.mark.parametrize("kw", BACKENDS)
def test_reserved_equals_curtailable_load_when_price_beats_deployment_cost(tiny, kw):
    # margin of the load dropped 50 - 30 = 20 USD/MWh, deployed 10 %: 2 USD per MW-h < 5
    p = tiny.plan(tiny.doc(ancillary=[offer(deployment_share=0.1)]), **kw)
    np.testing.assert_allclose(p.arrays["as_ecrs_mw"][0], [2.0, 2.0, 2.0], atol=1e-7)
    np.testing.assert_allclose(p.arrays["mining_mw"][0], [2.0, 2.0, 2.0], atol=1e-7)
    s = p.summary
    assert s.revenue_ancillary_usd == pytest.approx(5.0 * 2.0 * 3, rel=1e-9)
    assert s.ancillary_deployment_usd == pytest.approx(0.1 * 20.0 * 2.0 * 3, rel=1e-9)
    # mining 3 x (100 - 60) = 120, AS 30 - 12
    assert s.margin_usd == pytest.approx(120.0 + 30.0 - 12.0, rel=1e-9)
    e = s.ancillary["ECRS"]
    assert e.reserved_mwh == pytest.approx(6.0) and e.mean_price_usd_per_mw_hour == pytest.approx(5)
    assert s.sites["odessa"].revenue_ancillary_usd == pytest.approx(30.0, rel=1e-9)
    assert_never_above_droppable(p)


@pytest.mark.parametrize("kw", BACKENDS)
def test_nothing_reserved_at_a_zero_price_or_below_the_deployment_cost(tiny, kw):
    for price, share in ((0.0, 0.0), (1.9, 0.1)):  # 1.9 < 0.1 x 20
        p = tiny.plan(tiny.doc(ancillary=[offer(price=price, deployment_share=share)]), **kw)
        np.testing.assert_allclose(p.arrays["as_ecrs_mw"], 0.0, atol=1e-9)
        assert p.summary.revenue_ancillary_usd == pytest.approx(0.0, abs=1e-9)
        assert p.summary.margin_usd == pytest.approx(120.0, rel=1e-9)


@pytest.mark.parametrize("kw", BACKENDS)
def test_offers_share_the_droppable_load_and_respect_max_mw(tiny, kw):
    # RRS at 8 takes its 0.5 MW cap first, ECRS at 5 the other 1.5 MW: never 2 MW twice
    doc = tiny.doc(ancillary=[offer("RRS", 8.0, max_mw=0.5), offer("ECRS", 5.0)])
    p = tiny.plan(doc, **kw)
    np.testing.assert_allclose(p.arrays["as_rrs_mw"][0], 0.5, atol=1e-7)
    np.testing.assert_allclose(p.arrays["as_ecrs_mw"][0], 1.5, atol=1e-7)
    assert p.summary.revenue_ancillary_usd == pytest.approx(3 * (8 * 0.5 + 5 * 1.5), rel=1e-9)
    assert_never_above_droppable(p)
    assert list(p.site_hours.columns[-2:]) == ["as_rrs_mw", "as_ecrs_mw"]


@pytest.mark.parametrize("kw", BACKENDS)
def test_as_price_can_keep_unprofitable_load_running(tiny, kw):
    # spot 55 > breakeven 50: mining alone loses 10 USD/h; ECRS at 6 USD/MW-h on 2 MW earns 12
    # with no deployment cost (the margin of load dropped is clipped at 0): run and reserve
    doc = tiny.doc(sites=[tiny.site(price_usd_per_mwh=55.0)], ancillary=[offer(price=6.0)])
    p = tiny.plan(doc, **kw)
    np.testing.assert_allclose(p.arrays["as_ecrs_mw"][0], 2.0, atol=1e-7)
    assert p.summary.margin_usd == pytest.approx(3 * (100 - 110 + 12), rel=1e-9)
    # at 4 USD/MW-h (8 USD < 10 USD lost) the miners stay off and nothing is reserved
    doc = tiny.doc(sites=[tiny.site(price_usd_per_mwh=55.0)], ancillary=[offer(price=4.0)])
    p = tiny.plan(doc, **kw)
    np.testing.assert_allclose(p.arrays["as_ecrs_mw"], 0.0, atol=1e-9)
    assert p.summary.margin_usd == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("kw", BACKENDS)
def test_interruptible_gpus_provide_only_when_their_source_is_named(tiny, kw):
    # 10 cloud servers of 10 kW earn 10 USD/h each: 0.1 MW running, droppable
    gpu = tiny.cloud_gpu(max_servers=10)
    site = [tiny.site(existing_hpc_mw=1.0)]
    only_asics = tiny.plan(tiny.doc(sites=site, gpus=[gpu], ancillary=[offer()]), **kw)
    np.testing.assert_allclose(only_asics.arrays["as_ecrs_mw"][0], 2.0, atol=1e-7)
    both = tiny.plan(
        tiny.doc(sites=site, gpus=[gpu], ancillary=[offer(sources=["asics", "gpus"])]), **kw
    )
    np.testing.assert_allclose(both.arrays["as_ecrs_mw"][0], 2.1, atol=1e-7)
    assert_never_above_droppable(both)


@pytest.mark.parametrize("kw", BACKENDS)
def test_regdn_is_bounded_by_the_headroom_under_every_cap(tiny, kw):
    # class A (breakeven 50) runs 2 MW; class B (50 TH/s at 2 kW, breakeven 25 < 30) is off.
    # Raising load is bounded by import (3 - 2 = 1 MW) under a 3 MW interconnect ...
    fleet = [tiny.miner(), tiny.miner(hashrate_ths=50.0)]
    regdn = offer("REGDN", 5.0, deployment_share=0.1)
    p = tiny.plan(tiny.doc(sites=[tiny.site(interconnect_mw=3.0)], fleet=fleet, ancillary=[regdn]))
    np.testing.assert_allclose(p.arrays["as_regdn_mw"][0], 1.0, atol=1e-7)
    # deploying raises B's load: 30 - 25 = 5 USD/MWh lost x 10 % = 0.5 per MW-h
    assert p.summary.ancillary_deployment_usd == pytest.approx(3 * 0.5 * 1.0, rel=1e-9)
    assert p.summary.revenue_ancillary_usd == pytest.approx(3 * 5.0 * 1.0, rel=1e-9)
    # ... by the mining hall (2.5 MW: 0.5 MW) ...
    site = tiny.site(mining_hall_mw=2.5)
    p = tiny.plan(tiny.doc(sites=[site], fleet=fleet, ancillary=[regdn]), **kw)
    np.testing.assert_allclose(p.arrays["as_regdn_mw"][0], 0.5, atol=1e-7)
    # ... and by the machines themselves: B's 2 MW when the site has room for all
    p = tiny.plan(tiny.doc(fleet=fleet, ancillary=[regdn]), **kw)
    np.testing.assert_allclose(p.arrays["as_regdn_mw"][0], 2.0, atol=1e-7)
    a = p.arrays
    headroom = np.minimum(p.data.import_cap_mw - a["load_mw"], 4.0 - a["mining_mw"])
    assert (a["as_regdn_mw"] <= headroom + 1e-7).all()


def test_regdn_from_interruptible_gpus_counts_servers_not_running(tiny):
    # 10 cloud servers at 1.25 USD/GPU-h earn 10 USD/h for 0.01 MWh: all run, no headroom;
    # at a rate of 0 they are off and their 0.1 MW is headroom (margin 0 - 30: cost 3 x 0.1)
    run = tiny.plan(
        tiny.doc(
            sites=[tiny.site(existing_hpc_mw=1.0)],
            fleet=[],
            gpus=[tiny.cloud_gpu(max_servers=10)],
            ancillary=[offer("REGDN", 5.0, sources=["gpus"], deployment_share=0.1)],
        )
    )
    np.testing.assert_allclose(run.arrays["as_regdn_mw"], 0.0, atol=1e-9)
    idle = tiny.plan(
        tiny.doc(
            sites=[tiny.site(existing_hpc_mw=1.0)],
            fleet=[],
            gpus=[tiny.cloud_gpu(max_servers=10, rate=0.0)],
            ancillary=[offer("REGDN", 5.0, sources=["gpus"], deployment_share=0.1)],
        )
    )
    np.testing.assert_allclose(idle.arrays["as_regdn_mw"][0], 0.1, atol=1e-9)
    assert idle.summary.ancillary_deployment_usd == pytest.approx(3 * 0.1 * 30.0 * 0.1)


def test_ancillary_scenarios_agree_across_backends_with_curtailment_and_points(tiny):
    # a mixed case: orders cut import in hour 1, a price spike in hour 2, points, GPUs, 4 offers
    doc = tiny.doc(
        hours=4,
        sites=[
            tiny.site(
                price_usd_per_mwh=[30.0, 45.0, 400.0, -5.0],
                curtailment_mw=[0.0, 8.5, 0.0, 0.0],
                existing_hpc_mw=0.5,
            )
        ],
        fleet=[tiny.miner(operating_points=[[1.0, 60.0], [2.6, 115.0]])],
        gpus=[tiny.cloud_gpu(max_servers=20)],
        ancillary=[
            offer("RRS", [3.0, 9.0, 20.0, 1.0], deployment_share=0.02, sources=["asics", "gpus"]),
            offer("NSRS", 4.0, max_mw=1.0),
            offer("REGUP", 2.5, deployment_share=0.2),
            offer("REGDN", [1.0, 2.0, 0.0, 7.0], deployment_share=0.2, sources=["asics", "gpus"]),
        ],
    )
    a = tiny.plan(doc)
    b = tiny.plan(doc, backend="pulp")
    assert a.summary.margin_usd == pytest.approx(b.summary.margin_usd, rel=1e-6)
    for p in (a, b):
        assert_never_above_droppable(p)
        assert (p.arrays["load_mw"] <= p.data.import_cap_mw + 1e-7).all()


# --------------------------------------------------------------------------- operating points


@pytest.mark.parametrize("kw", POINT_SOLVES)
def test_underclocked_point_runs_between_its_breakeven_and_the_nameplates(tiny, kw):
    # nameplate 100 TH/s at 2 kW: breakeven 50; point 60 TH/s at 1 kW: breakeven 60; the
    # segment between them gains 40 TH/s for 1 kW: worth it below 40 USD/MWh
    prices = [30.0, 45.0, 55.0, 65.0]
    doc = tiny.doc(
        hours=4,
        sites=[tiny.site(price_usd_per_mwh=prices)],
        fleet=[tiny.miner(operating_points=[[1.0, 60.0]])],
    )
    p = tiny.plan(doc, **kw)
    u, up = p._x("u")[0], p._x("up")[0]
    np.testing.assert_allclose(u, [1.0, 0.0, 0.0, 0.0], atol=1e-7)  # 30 < 40: nameplate
    np.testing.assert_allclose(up, [0.0, 1.0, 1.0, 0.0], atol=1e-7)  # 45 and 55 (50 < 55 < 60)
    # 65 above both breakevens: nothing runs
    assert p.arrays["mining_mw"][0, 3] == pytest.approx(0.0, abs=1e-9)
    assert p.summary.margin_usd == pytest.approx((100 - 60) + (60 - 45) + (60 - 55), rel=1e-9)
    assert p.summary.mining_mwh == pytest.approx(2.0 + 1.0 + 1.0, rel=1e-9)
    assert p.summary.revenue_mining_usd == pytest.approx(100.0 + 60.0 + 60.0, rel=1e-9)


@pytest.mark.parametrize("kw", POINT_SOLVES)
def test_points_mix_on_the_concave_envelope_when_a_hall_binds(tiny, kw):
    # price 30, hall 1.5 MW: nameplate alone fills 0.75 of the class (75 USD - 45);
    # the point (1 MW, 60 USD) plus 0.5 MW more of nameplate mixes: up = 0.5, u = 0.5:
    # 0.5 x 100 + 0.5 x 60 = 80 USD for 1.5 MWh; the LP finds the envelope's value
    doc = tiny.doc(
        hours=1,
        sites=[tiny.site(mining_hall_mw=1.5)],
        fleet=[tiny.miner(operating_points=[[1.0, 60.0]])],
    )
    p = tiny.plan(doc, **kw)
    assert p._x("u")[0, 0] == pytest.approx(0.5, abs=1e-7)
    assert p._x("up")[0, 0] == pytest.approx(0.5, abs=1e-7)
    assert p.summary.margin_usd == pytest.approx(80.0 - 45.0, rel=1e-9)


def test_operating_points_derate_and_trip(tiny):
    # at 40 C (air: t_ref 25, alpha 0.005, beta 0.002) the point makes 60 x 0.925 TH/s
    # for 1 x 1.03 kW; above 45 C it trips like the nameplate
    doc = tiny.doc(
        hours=2,
        sites=[tiny.site(temp_c=[40.0, 46.0])],
        fleet=[tiny.miner(operating_points=[[1.0, 60.0]])],
    )
    s = tiny.scenario(doc)
    from optimizer.score import score_scenario

    scores = score_scenario(s)
    np.testing.assert_allclose(scores.point_revenue_usd[0], [60 * 0.925, 0.0], rtol=1e-12)
    np.testing.assert_allclose(scores.point_energy_mwh[0], [1.0 * 1.03, 0.0], rtol=1e-12)
    table = scores.operating_points
    assert list(table["point"]) == ["nameplate", "p1"]
    assert table["efficiency_j_per_th"].tolist() == pytest.approx([20.0, 1000 / 60])


def test_score_gives_breakeven_and_hours_in_money_per_point(tiny):
    doc = tiny.doc(
        hours=4,
        sites=[tiny.site(price_usd_per_mwh=[30.0, 45.0, 55.0, 65.0])],
        fleet=[tiny.miner(operating_points=[[1.0, 60.0]])],
    )
    from optimizer.score import score_scenario

    t = score_scenario(tiny.scenario(doc)).operating_points.set_index("point")
    assert t.loc["nameplate", "mean_breakeven_usd_per_mwh"] == pytest.approx(50.0)
    assert t.loc["p1", "mean_breakeven_usd_per_mwh"] == pytest.approx(60.0)
    assert t.loc["nameplate", "hours_in_money"] == 2  # 30, 45 < 50
    assert t.loc["p1", "hours_in_money"] == 3  # 30, 45, 55 < 60


def test_operating_points_input_errors(tiny):
    bad = {
        "catalog": ("catalog lists no operating points", "catalog"),
        "unit slip": ("power in W entered as kW", [[40.0, 100.0]]),  # 400 J/TH
        "shape": ("expected [power_kw, hashrate_ths]", [[1.0]]),
        "twice": ("listed twice", [[1.0, 60.0], [1.0, 60.0]]),
    }
    for message, points in bad.values():
        with pytest.raises(ScenarioError, match=message.replace("[", r"\[")):
            tiny.scenario(tiny.doc(fleet=[tiny.miner(operating_points=points)]))
    # the nameplate may be listed: it is always a point
    s = tiny.scenario(tiny.doc(fleet=[tiny.miner(operating_points=[[2.0, 100.0], [1.0, 60.0]])]))
    assert s.classes[0].operating_points == ((1.0, 60.0),)


def test_catalog_points_and_classes_split_by_point_set(tiny):
    xp = {"site": "odessa", "model": "S21 XP", "count": 10}
    s = tiny.scenario(tiny.doc(fleet=[xp, {**xp, "operating_points": "catalog"}]))
    assert len(s.classes) == 2
    assert s.classes[0].operating_points == ()
    assert s.classes[1].operating_points == ((2.4, 205.0), (3.0, 240.0), (4.1, 290.0))
    assert s.classes[1].name.endswith(":points1")


# --------------------------------------------------------------------------- 4CP from the tariff


def summer_flags(index, per_month: int = 10) -> np.ndarray:
    flags = np.zeros(len(index))
    for month in (6, 7, 8, 9):
        flags[np.flatnonzero((index.month == month) & (index.hour == 21))[:per_month]] = 1.0
    return flags


def test_4cp_calibration_reproduces_the_annual_charge_for_a_flat_load():
    index = hourly_index("2026-01-01T00:00:00Z", 8760)
    flags = summer_flags(index)
    flags[10] = 1.0  # a January flag carries no 4CP charge
    kappa = tariff_peak_adder(index, 60.0, flags=flags)
    # a load of 2 MW flat through the flagged hours pays 60 USD/kW-year x 2000 kW
    assert (kappa * 2.0).sum() == pytest.approx(120_000.0, rel=1e-12)
    # each flagged summer hour: 60 x 1000 / (4 x 10) = 1500 USD/MWh; January: 0
    assert kappa[flags > 0].max() == pytest.approx(1500.0) and kappa[10] == 0.0
    # from peak probabilities: the expected charge, rate x 1000 / 4 x p
    prob = summer_flags(index, per_month=4) * 0.25
    kappa = tariff_peak_adder(index, 60.0, probability=prob)
    assert (kappa * 2.0).sum() == pytest.approx(120_000.0, rel=1e-12)


@pytest.mark.parametrize("kw", BACKENDS)
def test_4cp_tariff_in_the_lp_charges_a_flat_hosted_load_exactly(tiny, kw):
    index = hourly_index("2026-06-01T00:00:00Z", 24 * 122)  # June-September
    host = {
        "name": "client",
        "site": "odessa",
        "model": "X",
        "count": 1000,
        "hashrate_ths": 100.0,
        "power_kw": 2.0,
        "cooling": "air",
        "rate_usd_per_mwh": 40.0,
        "uptime": 1.0,
    }
    site = tiny.site(peak_flag=summer_flags(index), peak_charge_usd_per_kw_year=60.0)
    doc = tiny.doc(
        hours=len(index), start="2026-06-01T00:00:00Z", sites=[site], fleet=[], hosting=[host]
    )
    p = tiny.plan(doc, **kw)
    assert p.summary.peak_charge_usd == pytest.approx(60.0 * 1000 * 2.0, rel=1e-9)


def test_4cp_tariff_input_errors(tiny):
    index = hourly_index("2026-06-01T00:00:00Z", 48)
    cases = [
        ({"peak_charge_usd_per_kw_year": 60.0, "peak_adder_usd_per_mwh": 500.0}, "not both"),
        ({"peak_probability": 0.1}, "needs peak_charge_usd_per_kw_year"),
        ({"peak_charge_usd_per_kw_year": 60.0, "peak_probability": 0.1}, "add up to 4.8"),
        ({"peak_charge_usd_per_kw_year": 60_000.0}, "expected a number <= 2000"),
    ]
    for fields, message in cases:
        doc = tiny.doc(hours=len(index), start="2026-06-01T00:00:00Z", sites=[tiny.site(**fields)])
        with pytest.raises(ScenarioError, match=message):
            tiny.scenario(doc)


def test_score_files_hold_the_operating_points(tiny, tmp_path):
    from optimizer.report.score_files import write_scores
    from optimizer.score import score_scenario

    doc = tiny.doc(
        hours=4,
        sites=[tiny.site(price_usd_per_mwh=[30.0, 45.0, 55.0, 65.0])],
        fleet=[tiny.miner(operating_points=[[1.0, 60.0]])],
    )
    s = tiny.scenario(doc)
    paths = write_scores(s, score_scenario(s), tmp_path / "scores")
    assert "operating_points.csv" in [p.name for p in paths]
    table = pd.read_csv(tmp_path / "scores" / "operating_points.csv")
    assert table["point"].tolist() == ["nameplate", "p1"]
    assert table["mean_breakeven_usd_per_mwh"].tolist() == pytest.approx([50.0, 60.0])
    assert table["hours_in_money"].tolist() == [2, 3]
