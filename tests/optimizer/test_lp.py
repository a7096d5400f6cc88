"""Every constraint family of the LP on a tiny case whose optimum and duals are derived by hand.

The reference machine (tests/optimizer/conftest.py) earns R = 0.1 USD/h for E = 0.002 MWh/h:
breakeven 50 USD/MWh; 1,000 of them are a 2 MW class earning 100 USD/h. R and E are read from
the kernel's scores and the expected numbers written as formulas in them. Duals are checked
only where the LP is non-degenerate (the dual is unique).
"""

from __future__ import annotations

import numpy as np
import pytest

from models import ScenarioError
from optimizer.errors import InfeasibleError
from optimizer.lp.data import lp_data, month_hours
from optimizer.lp.formulation import build_lp
from optimizer.score import score_scenario

BACKENDS = ["decomposed", "highs", "pulp"]  # conftest.SOLVES: both methods, both backends


def scores_of(tiny, document):
    s = tiny.scenario(document)
    sc = score_scenario(s)
    return sc.asic_revenue_usd, sc.asic_energy_mwh, sc.gpu_revenue_usd, sc.gpu_energy_mwh


def hourly(plan, column):
    return plan.site_hours[column].to_numpy()


# --------------------------------------------------------------------------- the set-up


def test_reference_machine_is_round(tiny):
    R, E, _, _ = scores_of(tiny, tiny.doc())
    # 1000 x 100 TH/s x 0.001 USD/TH-h = 100 USD/h; 1000 x 2 kW x PUE 1 = 2 MWh/h
    np.testing.assert_allclose(R, 100.0, rtol=1e-12)
    np.testing.assert_allclose(E, 2.0, rtol=1e-15)


def test_lp_blocks_have_the_designed_sizes(tiny):
    d = lp_data(tiny.scenario(tiny.doc(hours=5)), score_scenario(tiny.scenario(tiny.doc(hours=5))))
    lp = build_lp(d)
    T = 5
    # u (1 class x 5 h), n f (0 GPU), v (0), y (1), g q (5 each), w (0), z (1 month), L (5)
    assert lp.n_cols == 5 + 0 + 0 + 0 + 1 + 5 + 5 + 0 + 1 + 5
    assert lp.cols["u"].shape == (1, T) and lp.cols["L"].shape == (1, T)
    # rows: load, balance, import, mining hall, HPC hall (5 each); no servers, leases, uptime,
    # min take (no minimum), ramp (no limit) or shortfall rows
    assert lp.n_rows == 5 * 5
    assert lp.rows["ramp"].shape == (0, T - 1)
    # the PPA-free site: the take-or-pay offset is 0
    assert lp.offset == 0.0


def test_partial_months_scale_the_minimum_take_pro_rata():
    import pandas as pd

    index = pd.date_range("2026-01-31T22:00:00Z", periods=5, freq="h")
    mu, in_horizon, in_month = month_hours(index)
    assert mu.tolist() == [0, 0, 1, 1, 1]
    assert in_horizon.tolist() == [2.0, 3.0]
    assert in_month.tolist() == [31 * 24.0, 28 * 24.0]  # January, February 2026


# --------------------------------------------------------------------------- mining vs spot


@pytest.mark.parametrize("backend", BACKENDS)
def test_mining_runs_only_where_spot_is_below_breakeven(tiny, backend):
    prices = [30.0, 80.0, 49.5]
    document = tiny.doc(sites=[tiny.site(price_usd_per_mwh=np.array(prices))])
    R, E, _, _ = scores_of(tiny, document)
    plan = tiny.plan(document, backend=backend)
    u = plan.class_hours["running_fraction"].to_numpy()
    assert u.tolist() == pytest.approx([1.0, 0.0, 1.0], abs=1e-9)
    # margin: R - pi E in the two hours below breakeven (50 USD/MWh)
    expected = (R[0, 0] - 30.0 * E[0, 0]) + (R[0, 2] - 49.5 * E[0, 2])
    assert plan.summary.margin_usd == pytest.approx(expected, rel=1e-9)  # 40 + 1
    assert plan.summary.energy_cost_usd == pytest.approx(30.0 * 2 + 49.5 * 2, rel=1e-9)
    # the 10 MW import limit and halls never bind: their value is 0
    assert hourly(plan, "import_value_usd_per_mwh") == pytest.approx([0, 0, 0], abs=1e-9)
    assert plan.site_duals["mining_hall_value_usd_per_mw"].iloc[0] == pytest.approx(0, abs=1e-9)
    # hour 1 (80 USD/MWh) is curtailed by choice: 2 MW
    assert hourly(plan, "curtailed_mw") == pytest.approx([0, 2, 0], abs=1e-9)
    assert plan.summary.hours_curtailed == 1
    assert plan.summary.hours_curtailment_orders == 0


# --------------------------------------------------------------------------- row 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_curtailment_order_binds_import_with_the_mining_margin_as_dual(tiny, backend):
    # 3 MW interconnect, a 2 MW order in hour 1: Cap = [3, 1, 3] MW for a 2 MW class
    document = tiny.doc(
        sites=[tiny.site(interconnect_mw=3.0, curtailment_mw=np.array([0.0, 2.0, 0.0]))]
    )
    R, E, _, _ = scores_of(tiny, document)
    plan = tiny.plan(document, backend=backend)
    margin_per_mwh = R[0, 1] / E[0, 1] - 30.0  # 20 USD/MWh
    assert hourly(plan, "mining_mw") == pytest.approx([2.0, 1.0, 2.0], abs=1e-9)
    assert plan.summary.margin_usd == pytest.approx(margin_per_mwh * (2 + 1 + 2), rel=1e-9)
    # one more MW of import is worth the mining margin in hour 1 only
    assert hourly(plan, "import_value_usd_per_mwh") == pytest.approx(
        [0.0, margin_per_mwh, 0.0], abs=1e-7
    )
    assert hourly(plan, "curtailed_mw") == pytest.approx([0, 1, 0], abs=1e-9)
    assert plan.summary.hours_curtailment_orders == 1


# --------------------------------------------------------------------------- row 3


@pytest.mark.parametrize("backend", BACKENDS)
def test_mining_hall_limit_binds_with_known_dual(tiny, backend):
    document = tiny.doc(sites=[tiny.site(mining_hall_mw=1.0)])
    R, E, _, _ = scores_of(tiny, document)
    plan = tiny.plan(document, backend=backend)
    margin_per_mwh = R[0, 0] / E[0, 0] - 30.0  # 20 USD/MWh
    # half of the 2 MW class fits the 1 MW hall
    assert plan.class_hours["running_fraction"].tolist() == pytest.approx([0.5] * 3, abs=1e-9)
    assert plan.summary.margin_usd == pytest.approx(3 * 1.0 * margin_per_mwh, rel=1e-9)
    # one more MW of hall for the whole horizon: 3 hours x 20 USD
    assert plan.site_duals["mining_hall_value_usd_per_mw"].iloc[0] == pytest.approx(
        3 * margin_per_mwh, rel=1e-7
    )
    assert hourly(plan, "import_value_usd_per_mwh") == pytest.approx([0, 0, 0], abs=1e-9)
    # the hall, not curtailment, holds the class back
    assert plan.summary.curtailed_mwh == pytest.approx(0.0, abs=1e-9)


# --------------------------------------------------------------------------- row 1: PPA


@pytest.mark.parametrize("backend", BACKENDS)
def test_resale_beats_mining_in_a_3000_dollar_hour(tiny, backend):
    # 2 MW PPA at 40 USD/MWh, resold at spot less 10%
    document = tiny.doc(
        sites=[tiny.site(price_usd_per_mwh=np.array([30.0, 3000.0, 30.0]))],
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
    R, _, _, _ = scores_of(tiny, document)
    plan = tiny.plan(document, backend=backend)
    # hour 1: reselling earns 0.9 * 3000 = 2700 USD/MWh > 50 mining: mining off, 2 MWh resold;
    # hours 0, 2: resale earns 27 < 50: mining runs on the block, nothing bought or resold
    assert hourly(plan, "mining_mw") == pytest.approx([2.0, 0.0, 2.0], abs=1e-9)
    assert hourly(plan, "ppa_resold_mwh") == pytest.approx([0.0, 2.0, 0.0], abs=1e-9)
    # buying at spot to resell at 90% of spot never pays: no grid energy in hour 1
    assert hourly(plan, "grid_mwh") == pytest.approx([0.0, 0.0, 0.0], abs=1e-9)
    s = plan.summary
    assert s.resale_credit_usd == pytest.approx(2 * 0.9 * 3000.0, rel=1e-12)
    assert s.ppa_cost_usd == pytest.approx(3 * 2 * 40.0, rel=1e-12)
    expected = R[0, 0] + R[0, 2] + 2 * 0.9 * 3000.0 - 3 * 2 * 40.0  # 200 + 5400 - 240
    assert s.margin_usd == pytest.approx(expected, rel=1e-9)
    assert s.ppa_resold_mwh == pytest.approx(2.0, abs=1e-9)


@pytest.mark.parametrize("backend", BACKENDS)
def test_negative_price_pays_the_site_to_draw_and_resale_earns_nothing(tiny, backend):
    # class A: 2 MW at 50 USD/MWh breakeven; class B: 1000 x 100 TH/s at 5 kW = 5 MW, 20 USD/MWh
    document = tiny.doc(
        sites=[tiny.site(price_usd_per_mwh=np.array([-20.0, 30.0, 30.0]))],
        fleet=[tiny.miner(), tiny.miner(power_kw=5.0)],
        ppas=[
            {
                "site": tiny.SITE,
                "block_mw": 1.0,
                "price_usd_per_mwh": 40.0,
                "resale": True,
                "resale_fee": 0.1,
                "negative_prices": "spill",  # free spill; "settle": tests/optimizer/test_economics.py
            }
        ],
    )
    R, E, _, _ = scores_of(tiny, document)
    plan = tiny.plan(document, backend=backend)
    u = plan.class_hours.pivot(index="time", columns="class", values="running_fraction")
    # hour 0 (-20): both classes run, the block is spilled (resale earns nothing) and all
    # 7 MWh come from the grid, which pays 20 USD/MWh. Hours 1, 2 (30): A runs on the block
    # plus 1 MWh of grid; B's 20 USD/MWh is below both spot and the 27 USD/MWh of resale.
    np.testing.assert_allclose(u.iloc[:, 0], [1, 1, 1], atol=1e-9)  # class A
    np.testing.assert_allclose(u.iloc[:, 1], [1, 0, 0], atol=1e-9)  # class B
    assert hourly(plan, "grid_mwh") == pytest.approx([7.0, 1.0, 1.0], abs=1e-9)
    assert hourly(plan, "ppa_spilled_mwh") == pytest.approx([1.0, 0.0, 0.0], abs=1e-9)
    s = plan.summary
    assert s.resale_credit_usd == pytest.approx(0.0, abs=1e-9)
    assert s.energy_cost_usd == pytest.approx(-20.0 * 7 + 30.0 + 30.0, rel=1e-9)
    expected = (
        R[0, 0]
        + R[1, 0]
        + 20.0 * (E[0, 0] + E[1, 0])  # hour 0: paid to draw 7 MWh
        + 2 * (R[0, 1] - 30.0 * (E[0, 1] - 1.0))  # hours 1, 2: 1 MWh bought
        - 3 * 40.0  # take-or-pay block
    )
    assert s.margin_usd == pytest.approx(expected, rel=1e-9)  # 340 + 140 - 120 = 360


# --------------------------------------------------------------------------- peak adders


@pytest.mark.parametrize(("adder", "runs"), [(100.0, False), (15.0, True)])
def test_coincident_peak_adder_idles_mining_in_a_flagged_hour(tiny, adder, runs):
    document = tiny.doc(
        sites=[tiny.site(peak_flag=np.array([0.0, 1.0, 0.0]), peak_adder_usd_per_mwh=adder)]
    )
    R, E, _, _ = scores_of(tiny, document)
    plan = tiny.plan(document)
    # flagged hour costs 30 + adder per MWh: off at 130, on at 45 (< 50 breakeven)
    assert hourly(plan, "mining_mw")[1] == pytest.approx(2.0 if runs else 0.0, abs=1e-9)
    hours_on = 3 if runs else 2
    expected = hours_on * (R[0, 0] - 30.0 * E[0, 0]) - (adder * E[0, 1] if runs else 0.0)
    assert plan.summary.margin_usd == pytest.approx(expected, rel=1e-9)  # 80 or 90
    assert plan.summary.peak_charge_usd == pytest.approx(adder * 2.0 if runs else 0.0, abs=1e-9)


# --------------------------------------------------------------------------- row 6


@pytest.mark.parametrize("backend", BACKENDS)
def test_hosted_uptime_forces_running_in_an_unprofitable_hour(tiny, backend):
    # a client's 500 machines (1 MW) at 70 USD/MWh with 37.5% uptime over 4 hours: 1.5 hours
    document = tiny.doc(
        hours=4,
        sites=[tiny.site(price_usd_per_mwh=np.array([30.0, 100.0, 200.0, 150.0]))],
        fleet=[],
        hosting=[
            {
                "name": "client",
                "site": tiny.SITE,
                "model": "X100-2",
                "count": 500,
                "hashrate_ths": 100.0,
                "power_kw": 2.0,
                "cooling": "air",
                "rate_usd_per_mwh": 70.0,
                "uptime": 0.375,
            }
        ],
    )
    R, E, _, _ = scores_of(tiny, document)
    np.testing.assert_allclose(R / E, 70.0, rtol=1e-12)  # hosting revenue is rate x energy
    plan = tiny.plan(document, backend=backend)
    # margins per MWh 40, -30, -130, -80: run hour 0, then half of the least bad, hour 1
    u = plan.class_hours["running_fraction"].tolist()
    assert u == pytest.approx([1, 0.5, 0, 0], abs=1e-9)
    s = plan.summary
    expected = (70 - 30) * E[0, 0] + 0.5 * (70 - 100) * E[0, 1]  # 40 - 15
    assert s.margin_usd == pytest.approx(expected, rel=1e-9)
    assert s.revenue_hosting_usd == pytest.approx(70.0 * 1.5 * E[0, 0], rel=1e-9)
    assert s.revenue_mining_usd == 0.0
    # hour 1 runs part-time, so one more contracted hour costs its loss: 30 USD/MWh x 1 MW
    (cost,) = s.hosted_uptime_cost_usd_per_hour.values()
    assert cost == pytest.approx(30.0 * E[0, 1], rel=1e-7)


# --------------------------------------------------------------------------- row 7


@pytest.mark.parametrize(("shortfall_price", "mined_mwh"), [(15.0, 2.0), (5.0, 0.0)])
def test_monthly_minimum_take_with_shortfall(tiny, shortfall_price, mined_mwh):
    # 3 hours of March (744 h): a 992 MWh/month minimum is 992 * 3 / 744 = 4 MWh here
    document = tiny.doc(
        sites=[
            tiny.site(
                price_usd_per_mwh=np.array([60.0, 70.0, 100.0]),
                min_take_mwh_per_month=992.0,
                shortfall_usd_per_mwh=shortfall_price,
            )
        ]
    )
    plan = tiny.plan(document)
    assert plan.month_duals["min_take_mwh"].tolist() == pytest.approx([4.0], rel=1e-12)
    # mining loses 10 USD/MWh in hour 0, 20 in hour 1: take 2 MWh in hour 0 if 10 < shortfall
    # price, pay the shortfall price on the rest
    shortfall = 4.0 - mined_mwh
    assert hourly(plan, "load_mw") == pytest.approx([mined_mwh, 0, 0], abs=1e-9)
    s = plan.summary
    assert s.min_take_shortfall_mwh == pytest.approx(shortfall, abs=1e-9)
    assert s.shortfall_usd == pytest.approx(shortfall_price * shortfall, abs=1e-7)
    assert s.margin_usd == pytest.approx(-10.0 * mined_mwh - shortfall_price * shortfall)
    # one more MWh of minimum is one more MWh of shortfall
    assert plan.month_duals["min_take_cost_usd_per_mwh"].tolist() == pytest.approx(
        [shortfall_price], rel=1e-7
    )


# --------------------------------------------------------------------------- row 8


@pytest.mark.parametrize("backend", BACKENDS)
def test_ramp_limit(tiny, backend):
    prices = np.array([30.0, 100.0, 30.0])
    free = tiny.plan(tiny.doc(sites=[tiny.site(price_usd_per_mwh=prices)]), backend=backend)
    ramped_doc = tiny.doc(sites=[tiny.site(price_usd_per_mwh=prices, ramp_mw_per_hour=0.5)])
    if backend == "decomposed":
        # ramp rows couple hours: the decomposition refuses them, auto falls back and says so
        with pytest.raises(ScenarioError, match="ramp limits couple the hours"):
            tiny.plan(ramped_doc, backend=backend)
        ramped = tiny.plan(ramped_doc, backend=backend, method="auto")
        assert ramped.summary.method == "monolithic"
        assert "ramp limits" in ramped.summary.method_note
    else:
        ramped = tiny.plan(ramped_doc, backend=backend)
    # free: on, off, on -> 2 x 2 MWh x 20 USD = 80
    assert free.summary.margin_usd == pytest.approx(80.0, rel=1e-9)
    # ramped: with L1 = a, L0, L2 <= a + 0.5: margin 20 (L0 + L2) - 50 a = 20 - 10 a -> a = 0
    assert hourly(ramped, "load_mw") == pytest.approx([0.5, 0.0, 0.5], abs=1e-9)
    assert ramped.summary.margin_usd == pytest.approx(20.0, rel=1e-9)


# --------------------------------------------------------------------------- row 9


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("pass_through", [False, True])
def test_curtailment_below_the_firm_lease_forces_sla_shortfall(tiny, backend, pass_through):
    # 200 colocation servers (2 MW, 1 USD/h each) leased firm at exactly 2 MW; a 2 MW order
    # cuts the 3 MW interconnect to 1 MW in hour 1
    document = tiny.doc(
        sites=[
            tiny.site(
                interconnect_mw=3.0,
                existing_hpc_mw=5.0,
                curtailment_mw=np.array([0.0, 2.0, 0.0]),
            )
        ],
        fleet=[],
        gpus=[tiny.colocation_gpu(power_pass_through=pass_through)],
        leases=[
            {
                "name": "tenant",
                "site": tiny.SITE,
                "gpus": ["tenant"],
                "min_mw": 2.0,
                "max_mw": 2.0,
                "sla_penalty_usd_per_mwh": 300.0,
                "allow_shortfall": True,
            }
        ],
    )
    plan = tiny.plan(document, backend=backend)
    s = plan.summary
    assert s.gpu_servers_firm == pytest.approx(200.0, abs=1e-7)
    assert hourly(plan, "firm_shortfall_mwh") == pytest.approx([0.0, 1.0, 0.0], abs=1e-9)
    assert hourly(plan, "hpc_firm_mw") == pytest.approx([2.0, 1.0, 2.0], abs=1e-9)
    assert s.sla_penalty_usd == pytest.approx(300.0, rel=1e-9)
    rent = 3 * 200 * 1.0
    # pass-through: the tenant pays spot for the 5 MWh served (30 USD each), its own line
    hpc = rent + (30.0 * 5 if pass_through else 0.0)
    assert s.revenue_hpc_usd == pytest.approx(rent, rel=1e-9)
    assert s.pass_through_usd == pytest.approx(hpc - rent, abs=1e-9)
    assert s.energy_cost_usd == pytest.approx(30.0 * 5, rel=1e-9)
    assert s.margin_usd == pytest.approx(hpc - 150.0 - 300.0, rel=1e-9)  # 150 or 300
    # one more MW of import in hour 1 avoids 1 MWh of shortfall: penalty (+ the pass-through
    # it would collect) minus the energy bought
    value = 300.0 + (30.0 if pass_through else 0.0) - 30.0
    assert hourly(plan, "import_value_usd_per_mwh") == pytest.approx([0, value, 0], abs=1e-7)


def test_firm_shortfall_is_not_allowed_without_a_curtailment_order(tiny):
    # the same lease, but a 1.5 MW interconnect with no order: shedding isn't allowed (row 9)
    document = tiny.doc(
        sites=[tiny.site(interconnect_mw=1.5, existing_hpc_mw=5.0)],
        fleet=[],
        gpus=[tiny.colocation_gpu()],
        leases=[{"name": "tenant", "site": tiny.SITE, "gpus": ["tenant"], "min_mw": 2.0}],
    )
    with pytest.raises(InfeasibleError, match=r"can import only 1\.5 MW"):
        tiny.plan(document)


# --------------------------------------------------------------------------- rows 4, 5, conversion


@pytest.mark.parametrize("backend", BACKENDS)
def test_lease_minimum_forces_conversion_and_its_dual_is_the_cost(tiny, backend):
    # converting costs 500 USD per MW-hour: 500 * 8760 USD/MW over 1 year
    document = tiny.doc(
        sites=[
            tiny.site(
                convertible_mw=5.0, conversion_usd_per_mw=500.0 * 8760, conversion_life_years=1.0
            )
        ],
        fleet=[],
        gpus=[tiny.colocation_gpu()],
        leases=[{"name": "tenant", "site": tiny.SITE, "gpus": ["tenant"], "min_mw": 1.0}],
    )
    plan = tiny.plan(document, backend=backend)
    s = plan.summary
    # each server nets 1 - 0.01 * 30 = 0.7 USD/h, 70 USD/MWh, far below 500: only the 1 MW
    # minimum (100 servers) is served, on 1 converted MW
    assert s.gpu_servers_firm == pytest.approx(100.0, abs=1e-7)
    assert s.hpc_mw_converted == pytest.approx(1.0, abs=1e-9)
    assert s.conversion_cost_usd == pytest.approx(1500.0, rel=1e-9)
    assert s.margin_usd == pytest.approx(3 * 100 * 0.7 - 1500.0, rel=1e-9)  # -1290
    # one more MW of minimum: 100 more servers at -(500 - 70) USD/MWh for 3 hours
    assert plan.lease_duals["min_cost_usd_per_mw"].iloc[0] == pytest.approx(3 * 430.0, rel=1e-7)
    assert s.leases["tenant"].min_cost_usd_per_mw == pytest.approx(1290.0, rel=1e-7)
    # one more MW of existing HPC hall saves one converted MW: 3 x 500
    assert plan.site_duals["hpc_hall_value_usd_per_mw"].iloc[0] == pytest.approx(1500.0, rel=1e-7)
    if backend == "highs":  # reduced costs come from HiGHS only
        assert plan.site_duals["conversion_value_usd_per_mw"].iloc[0] == pytest.approx(
            0.0, abs=1e-7
        )


@pytest.mark.parametrize("backend", BACKENDS)
def test_hpc_hall_and_conversion_trade_off_against_mining(tiny, backend):
    # 5,000 miners (10 MW, 20 USD/MWh margin) fill the 10 MW hall; up to 5 MW may become an HPC
    # hall at 500 USD/MW-h for cloud servers netting 10 - 0.3 = 9.7 USD/h (970 USD/MWh)
    document = tiny.doc(
        sites=[
            tiny.site(
                interconnect_mw=20.0,
                convertible_mw=5.0,
                conversion_usd_per_mw=500.0 * 8760,
                conversion_life_years=1.0,
            )
        ],
        fleet=[tiny.miner(count=5000)],
        gpus=[tiny.cloud_gpu(max_servers=1000)],
    )
    plan = tiny.plan(document, backend=backend)
    s = plan.summary
    # converting a MW earns 970 - 500 - 20 = 450 USD per hour: convert all 5 MW
    assert s.hpc_mw_converted == pytest.approx(5.0, abs=1e-9)
    assert hourly(plan, "hpc_interruptible_mw") == pytest.approx([5.0] * 3, abs=1e-9)
    assert hourly(plan, "mining_mw") == pytest.approx([5.0] * 3, abs=1e-9)
    assert s.margin_usd == pytest.approx(3 * (5 * 20.0 + 500 * 9.7 - 5 * 500.0), rel=1e-9)
    sd = plan.site_duals.iloc[0]
    assert sd["mining_hall_value_usd_per_mw"] == pytest.approx(3 * 20.0, rel=1e-7)
    assert sd["hpc_hall_value_usd_per_mw"] == pytest.approx(3 * 970.0, rel=1e-7)
    if backend == "highs":
        # one more convertible MW: 3 x (970 - 500 - 20)
        assert sd["conversion_value_usd_per_mw"] == pytest.approx(3 * 450.0, rel=1e-7)


@pytest.mark.parametrize(("capex_usd_per_hour", "installed"), [(2.0, 100.0), (3.0, 0.0)])
def test_owned_gpu_capex_is_paid_every_hour_on_installed_servers(
    tiny, capex_usd_per_hour, installed
):
    # 8 GPUs at [1.0, 0.1, 0.1] USD/GPU-h: 8, 0.8, 0.8 USD/h per server, less 0.3 USD/h of
    # energy: 7.7 + 0.5 + 0.5 = 8.7 USD over the horizon against 3 x capex
    document = tiny.doc(
        sites=[tiny.site(existing_hpc_mw=10.0)],
        fleet=[],
        gpus=[
            tiny.cloud_gpu(
                rate=np.array([1.0, 0.1, 0.1]),
                capex_usd_per_server=capex_usd_per_hour * 8760,
                life_years=1.0,
            )
        ],
    )
    plan = tiny.plan(document)
    s = plan.summary
    assert s.gpu_servers_installed == pytest.approx(installed, abs=1e-7)
    assert s.gpu_capex_usd == pytest.approx(installed * 3 * capex_usd_per_hour, rel=1e-9)
    assert s.margin_usd == pytest.approx(installed * (8.7 - 3 * capex_usd_per_hour), abs=1e-7)
    assert plan.gpu["interruptible_mean"].iloc[0] == pytest.approx(installed, abs=1e-7)


def test_lease_maximum_caps_firm_servers_with_known_dual(tiny):
    document = tiny.doc(
        sites=[tiny.site(existing_hpc_mw=10.0)],
        fleet=[],
        gpus=[tiny.colocation_gpu()],
        leases=[{"name": "tenant", "site": tiny.SITE, "gpus": ["tenant"], "max_mw": 1.0}],
    )
    plan = tiny.plan(document)
    # 0.7 USD/h per server: lease as many as allowed, 1 MW = 100 servers
    assert plan.summary.gpu_servers_firm == pytest.approx(100.0, abs=1e-7)
    assert plan.summary.margin_usd == pytest.approx(3 * 100 * 0.7, rel=1e-9)
    # one more MW of lease: 100 servers x 0.7 USD x 3 h
    assert plan.lease_duals["max_value_usd_per_mw"].iloc[0] == pytest.approx(210.0, rel=1e-7)
    assert plan.lease_duals["min_cost_usd_per_mw"].iloc[0] == 0.0


def test_highs_row_dual_sign_convention_on_a_two_variable_lp():
    """HiGHS reports d(objective)/d(bound) for a minimization: check it, don't guess it."""
    import scipy.sparse as sp

    from optimizer.lp.backends import solve_lp
    from optimizer.lp.model import Block, Lp

    # min -x1 - 2 x2  s.t.  x1 + x2 <= 4,  x1 >= 1 (a >= row); x >= 0.
    # Optimum x = (1, 3): objective -7. Raising the <= bound by 1 lowers it by 2 (dual -2);
    # raising the >= bound by 1 moves one unit from x2 to x1: objective +1 (dual +1).
    lp = Lp(
        cost=np.array([-1.0, -2.0]),
        col_lower=np.zeros(2),
        col_upper=np.full(2, np.inf),
        offset=0.0,
        matrix=sp.csr_array(np.array([[1.0, 1.0], [1.0, 0.0]])),
        row_lower=np.array([-np.inf, 1.0]),
        row_upper=np.array([4.0, np.inf]),
        cols={"x": Block("x", 0, (2,))},
        rows={"r": Block("r", 0, (2,))},
        gpu_v=np.zeros(0, np.int64),
        gpu_w=np.zeros(0, np.int64),
    )
    for backend in ("highs", "pulp"):
        sol = solve_lp(lp, backend=backend)
        assert sol.objective == pytest.approx(-7.0)
        np.testing.assert_allclose(sol.x, [1.0, 3.0], atol=1e-9)
        np.testing.assert_allclose(sol.row_dual, [-2.0, 1.0], atol=1e-9)


def test_wash_trades_are_netted_without_changing_load_or_margin(tiny):
    from optimizer.accounting import accounting, margin_of, net_wash_trades

    # resale without fee (psi = 1): buying and reselling a MWh in a 30 USD hour is a wash
    document = tiny.doc(
        ppas=[{"site": tiny.SITE, "block_mw": 1.0, "price_usd_per_mwh": 40.0, "resale": True}]
    )
    plan = tiny.plan(document)
    # 2 MW mining on the 1 MW block plus 1 MWh bought, nothing resold
    assert hourly(plan, "grid_mwh") == pytest.approx([1.0] * 3, abs=1e-9)
    assert hourly(plan, "ppa_resold_mwh") == pytest.approx([0.0] * 3, abs=1e-9)
    lp, d = plan.lp, plan.data
    x = plan.solution.x.copy()
    g, q = lp.cols["g"], lp.cols["q"]
    x[g.start : g.stop] += 0.5  # the same plan with 0.5 MWh bought and resold every hour
    x[q.start : q.stop] += 0.5
    assert margin_of(accounting(d, lp, x)) == pytest.approx(plan.summary.margin_usd, rel=1e-12)
    netted = net_wash_trades(d, lp, x)
    np.testing.assert_allclose(g.take(netted), 1.0, atol=1e-12)
    np.testing.assert_allclose(q.take(netted), 0.0, atol=1e-12)
    # with a 5% fee the pair costs 0.05 * 30 USD per MWh: not a wash, never netted
    assert (
        net_wash_trades(d.__class__(**{**d.__dict__, "resale_factor": np.array([0.95])}), lp, x)
        is x
    )


@pytest.mark.parametrize("backend", ["decomposed", "highs"])
def test_conversion_value_is_zero_where_nothing_is_converted(tiny, backend):
    # converting costs 500 USD per MW-hour against cloud servers that earn 100 per MW-hour:
    # y = 0, the bound y <= 5 does not bind, one more convertible MW is worth nothing (the
    # negated reduced cost, -400 x 3 h, is the net cost of converting a first MW)
    document = tiny.doc(
        sites=[
            tiny.site(
                convertible_mw=5.0, conversion_usd_per_mw=500.0 * 8760, conversion_life_years=1.0
            )
        ],
        gpus=[tiny.cloud_gpu(max_servers=500, rate=0.125)],
        finance={"discount_rate": 0.0},
    )
    plan = tiny.plan(document, backend=backend)
    assert plan.summary.hpc_mw_converted == pytest.approx(0.0, abs=1e-9)
    assert plan.site_duals["conversion_value_usd_per_mw"].iloc[0] == 0.0
