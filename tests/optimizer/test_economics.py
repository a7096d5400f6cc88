"""Issue 9, "economics a CFO would sign": each rule on a tiny case derived by hand.

Firm shortfall only up to the gap the curtailed import cap leaves (docs/model.md §5.4.12), each
lease at its own SLA penalty, firm classes need a lease, hosted uptime counts hashing hours,
capex as an annuity at ``[finance] discount_rate``, PPA settlement in negative-price hours,
pass-through prices, and the per-site P&L. Colocation servers (conftest) are 10 kW and rent for
1 USD/h; the reference miner class is 2 MW earning 100 USD/h (breakeven 50 USD/MWh).
"""

from __future__ import annotations

import numpy as np
import pytest

from models import ScenarioError
from models.finance import annuity_usd_per_hour, capital_recovery_factor
from optimizer.lp.data import lp_data
from optimizer.lp.formulation import shortfall_secant
from optimizer.score import score_scenario

BACKENDS = ["decomposed", "highs", "pulp"]  # conftest.SOLVES: both methods, both backends


def hourly(plan, column):
    return plan.site_hours[column].to_numpy()


def lease(name="tenant", gpus=("tenant",), **kw):
    return {"name": name, "site": "odessa", "gpus": list(gpus), **kw}


# --------------------------------------------------------------------------- item 1


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("order_mw", "shed_mwh"), [(0.5, 0.0), (2.5, 1.5)])
def test_firm_load_is_shed_only_by_the_gap_the_order_leaves(tiny, backend, order_mw, shed_mwh):
    # 200 servers = 2 MW firm (lease min = max: exact bound), 3 MW interconnect; in hour 1 an
    # order and a 1,000 USD/MWh 4CP adder, far above the 300 USD/MWh penalty: shedding the
    # whole tenant would pay, but only max(0, 2 - Cap) may go unserved
    document = tiny.doc(
        sites=[
            tiny.site(
                interconnect_mw=3.0,
                existing_hpc_mw=5.0,
                curtailment_mw=np.array([0.0, order_mw, 0.0]),
                peak_flag=np.array([0.0, 1.0, 0.0]),
                peak_adder_usd_per_mwh=1000.0,
            )
        ],
        fleet=[],
        gpus=[tiny.colocation_gpu()],
        leases=[lease(min_mw=2.0, max_mw=2.0, sla_penalty_usd_per_mwh=300.0)],
    )
    plan = tiny.plan(document, backend=backend)
    s = plan.summary
    assert hourly(plan, "firm_shortfall_mwh") == pytest.approx([0, shed_mwh, 0], abs=1e-9)
    served_1 = 2.0 - shed_mwh  # 2 MW with Cap 2.5; 0.5 MW with Cap 0.5
    assert s.peak_charge_usd == pytest.approx(1000.0 * served_1, rel=1e-9)
    assert s.sla_penalty_usd == pytest.approx(300.0 * shed_mwh, abs=1e-9)
    # rent 3 h x 200 x 1 USD = 600, energy 30 USD/MWh on 4 + served_1 MWh
    expected = 600.0 - 30.0 * (4.0 + served_1) - 1000.0 * served_1 - 300.0 * shed_mwh
    assert s.margin_usd == pytest.approx(expected, rel=1e-9)  # -1580 or -485
    if order_mw == 0.5:  # Cap 2.5 > 2 MW: the import limit does not bind, its value is 0
        assert hourly(plan, "import_value_usd_per_mwh") == pytest.approx([0, 0, 0], abs=1e-7)


def test_secant_bound_over_the_lease_range(tiny):
    # lease 1..2 MW of IT (wall = IT at PUE 1), Cap 1.5 MW in hour 1: gap(F) = max(0, F - 1.5)
    # is 0 at F = 1 and 0.5 at F = 2; the secant is w <= 0.5 F - 0.5
    document = tiny.doc(
        sites=[
            tiny.site(
                interconnect_mw=3.0,
                existing_hpc_mw=5.0,
                curtailment_mw=np.array([0.0, 1.5, 0.0]),
            )
        ],
        fleet=[],
        gpus=[tiny.colocation_gpu()],
        leases=[lease(min_mw=1.0, max_mw=2.0, sla_penalty_usd_per_mwh=100.0)],
    )
    s = tiny.scenario(document)
    a, b = shortfall_secant(lp_data(s, score_scenario(s)))
    assert a[0].tolist() == pytest.approx([0.0, 0.5, 0.0], abs=1e-12)
    assert b[0].tolist() == pytest.approx([0.0, -0.5, 0.0], abs=1e-12)
    plan = tiny.plan(document)
    # margin(F, w) = 300 F (rent) - 30 (3 F - w) - 100 w = 210 F - 70 w with w >= F - 1.5:
    # slope 140 > 0 beyond 1.5 MW, so F = 2, w = 0.5 -> 420 - 35 = 385 (at the secant's end,
    # where it is exact)
    assert plan.summary.firm_it_mw == pytest.approx(2.0, abs=1e-9)
    assert hourly(plan, "firm_shortfall_mwh") == pytest.approx([0, 0.5, 0], abs=1e-9)
    assert plan.summary.margin_usd == pytest.approx(385.0, rel=1e-9)


# --------------------------------------------------------------------------- item 2


def two_leases(allow_b: bool) -> dict:
    return {
        "gpus": ["a", "b"],
        "leases": [
            lease("cheap", ["a"], min_mw=1.0, max_mw=1.0, sla_penalty_usd_per_mwh=100.0),
            lease(
                "dear",
                ["b"],
                min_mw=1.0,
                max_mw=1.0,
                sla_penalty_usd_per_mwh=500.0,
                allow_shortfall=allow_b,
            ),
        ],
    }


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("allow_b", [True, False])
def test_two_leases_shed_the_cheaper_tenant_at_its_own_penalty(tiny, backend, allow_b):
    # two 1 MW tenants (100 servers each); a 2 MW order leaves 1 MW of the 3 MW interconnect
    # in hour 1: 1 MWh must go unserved. The 100 USD/MWh tenant is shed, at 100 USD/MWh (the
    # site's largest penalty, 500, used to apply to both: margin -50). With the dear lease
    # forbidding shortfall the site used to be infeasible; now it plans the same way.
    document = tiny.doc(
        sites=[
            tiny.site(
                interconnect_mw=3.0,
                existing_hpc_mw=5.0,
                curtailment_mw=np.array([0.0, 2.0, 0.0]),
            )
        ],
        fleet=[],
        gpus=[tiny.colocation_gpu("a", max_servers=100), tiny.colocation_gpu("b", max_servers=100)],
        leases=two_leases(allow_b)["leases"],
    )
    plan = tiny.plan(document, backend=backend)
    s = plan.summary
    gpu = plan.gpu.set_index("gpu_class")
    assert gpu.loc["a", "firm_shortfall_mwh"] == pytest.approx(1.0, abs=1e-9)
    assert gpu.loc["b", "firm_shortfall_mwh"] == pytest.approx(0.0, abs=1e-9)
    assert s.sla_penalty_usd == pytest.approx(100.0, rel=1e-9)
    # rent 2 x 100 x 1 USD x 3 h = 600; energy 30 x (2 + 1 + 2) MWh = 150; penalty 100
    assert s.margin_usd == pytest.approx(600.0 - 150.0 - 100.0, rel=1e-9)  # 350


# --------------------------------------------------------------------------- item 3


def test_a_firm_class_without_a_lease_is_refused(tiny):
    document = tiny.doc(fleet=[], gpus=[tiny.colocation_gpu("orphan")])
    with pytest.raises(
        ScenarioError, match=r"gpus\[0\] 'orphan'.*firm GPU class 'orphan' serves no lease"
    ):
        tiny.scenario(document)


def test_validate_exits_2_on_a_firm_class_without_a_lease(tmp_path):
    from click.testing import CliRunner

    from optimizer.cli import main

    runner = CliRunner()
    runner.invoke(main, ["example", str(tmp_path)])
    path = tmp_path / "scenario.toml"
    text = path.read_text()
    start = text.index("[[leases]]")
    path.write_text(text[:start] + text[text.index("[[ppas]]") :])
    result = runner.invoke(main, ["validate", str(path)])
    assert result.exit_code == 2
    assert "firm GPU class 'tenant-h100' serves no lease" in result.output


# --------------------------------------------------------------------------- item 4


@pytest.mark.parametrize("backend", BACKENDS)
def test_hosted_uptime_counts_only_hours_the_class_hashes(tiny, backend):
    # 500 client machines (1 MW) at 70 USD/MWh, 62.5 % uptime of 4 hours = 2.5 hours; hour 1 is
    # 50 C, above the 40 C trip: the class draws and hashes nothing there, so it is no uptime
    document = tiny.doc(
        hours=4,
        sites=[
            tiny.site(
                price_usd_per_mwh=np.array([30.0, 30.0, 100.0, 200.0]),
                temp_c=np.array([10.0, 50.0, 10.0, 10.0]),
            )
        ],
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
                "uptime": 0.625,
                "t_max_c": 40.0,
            }
        ],
    )
    plan = tiny.plan(document, backend=backend)
    E = plan.data.energy_mwh[0]
    assert E.tolist() == pytest.approx([1.0, 0.0, 1.0, 1.0], rel=1e-12)
    u = np.array(plan.class_hours["running_fraction"].tolist())
    # hashing hours 0, 2 in full and half of hour 3 (margins 40, -30, -130 USD/MWh)
    np.testing.assert_allclose(u[[0, 2, 3]], [1.0, 1.0, 0.5], atol=1e-9)
    assert plan.summary.margin_usd == pytest.approx(40.0 - 30.0 - 0.5 * 130.0, rel=1e-9)  # -55
    # (counting the tripped hour, the old rule ran hours 0, 1, half of 2: margin 25)
    (cost,) = plan.summary.hosted_uptime_cost_usd_per_hour.values()
    assert cost == pytest.approx(130.0, rel=1e-7)  # one more hour: more of hour 3


# --------------------------------------------------------------------------- item 5


def test_capital_recovery_factor():
    # 1.1^10 = 2.5937424601 exactly: CRF = 0.1 * 1.1^10 / (1.1^10 - 1)
    assert capital_recovery_factor(0.10, 10) == pytest.approx(
        0.25937424601 / 1.5937424601, rel=1e-9
    )
    assert capital_recovery_factor(0.10, 10) == pytest.approx(0.1627454, abs=5e-8)
    assert capital_recovery_factor(0.0, 10) == 0.1
    assert capital_recovery_factor(0.10, 1) == pytest.approx(1.1, rel=1e-12)
    # 9 MUSD over 10 years at 10 %: 9e6 x 0.1627454 / 8760 = 167.2 USD/h
    assert annuity_usd_per_hour(9e6, 0.10, 10) == pytest.approx(
        9e6 * 0.25937424601 / 1.5937424601 / 8760, rel=1e-9
    )


def test_discount_rate_zero_is_the_straight_line_charge(tiny):
    document = tiny.doc(
        sites=[tiny.site(convertible_mw=5.0, conversion_usd_per_mw=9e6)],
        gpus=[tiny.cloud_gpu(capex_usd_per_server=250000.0, life_years=5.0)],
    )
    for finance in (None, {"discount_rate": 0.0}):
        s = tiny.scenario({**document, **({"finance": finance} if finance else {})})
        d = lp_data(s, score_scenario(s))
        assert d.conversion_usd_per_mw_hour[0] == 9e6 / (10 * 8760)  # exactly, as before
        assert d.gpu_capex_usd_per_hour[0] == 250000.0 / (5 * 8760)


@pytest.mark.parametrize("backend", BACKENDS)
def test_conversion_is_charged_as_an_annuity(tiny, backend):
    # test_lp's lease-minimum case at r = 10 % over a 1-year life: CRF = 1.1, so converting
    # costs 500 x 1.1 = 550 USD per MW-hour; 1 MW for the 1 MW minimum
    document = tiny.doc(
        sites=[
            tiny.site(
                convertible_mw=5.0, conversion_usd_per_mw=500.0 * 8760, conversion_life_years=1.0
            )
        ],
        fleet=[],
        gpus=[tiny.colocation_gpu()],
        leases=[lease(min_mw=1.0)],
        finance={"discount_rate": 0.10},
    )
    plan = tiny.plan(document, backend=backend)
    s = plan.summary
    assert s.hpc_mw_converted == pytest.approx(1.0, abs=1e-9)
    assert s.conversion_cost_usd == pytest.approx(3 * 550.0, rel=1e-9)
    assert s.margin_usd == pytest.approx(3 * 100 * 0.7 - 1650.0, rel=1e-9)  # -1440
    # one more MW of minimum: 100 servers at -(550 - 70) USD/MWh for 3 hours
    assert s.leases["tenant"].min_cost_usd_per_mw == pytest.approx(3 * 480.0, rel=1e-7)
    # capex committed 4.38 MUSD = NPV at 10 % of 4.818 MUSD/year over 1 year
    assert s.discount_rate == 0.10
    assert s.capex_usd == pytest.approx(500.0 * 8760, rel=1e-12)
    assert s.capex_annuity_usd_per_year == pytest.approx(500.0 * 8760 * 1.1, rel=1e-12)
    assert s.capex_annuity_usd_per_year / 1.1 == pytest.approx(s.capex_usd, rel=1e-12)
    # hall MW per IT MW is 1 (PUE 1, it_kw = power_kw): per IT MW = per hall MW
    assert s.sites["odessa"].conversion_usd_per_it_mw == pytest.approx(500.0 * 8760, rel=1e-12)
    assert s.sites["odessa"].conversion_capex_usd == pytest.approx(500.0 * 8760, rel=1e-12)


# --------------------------------------------------------------------------- item 6


@pytest.mark.parametrize("backend", BACKENDS)
def test_settle_costs_price_times_block_more_than_spill_in_a_negative_hour(tiny, backend):
    # a 2 MW class (always in the money) under a 3 MW block at 40 USD/MWh, resale without fee;
    # hour 0 at -20 USD/MWh. Spill: the block is spilled and 2 MWh bought, paid 40 USD.
    # Settle: the 1 MWh not used is settled at -20, the site pays 20 USD. Difference
    # |price| x block = 20 x 3 = 60 USD.
    margins = {}
    for rule in ("spill", "settle"):
        document = tiny.doc(
            sites=[tiny.site(price_usd_per_mwh=np.array([-20.0, 30.0, 30.0]))],
            ppas=[
                {
                    "site": tiny.SITE,
                    "block_mw": 3.0,
                    "price_usd_per_mwh": 40.0,
                    "resale": True,
                    "negative_prices": rule,
                }
            ],
        )
        plan = tiny.plan(document, backend=backend)
        margins[rule] = plan.summary
    spill, settle = margins["spill"], margins["settle"]
    # both: mining 300, resale 1 MWh x 30 in hours 1, 2 = 60, block 3 x 3 x 40 = 360
    assert spill.margin_usd == pytest.approx(300 + 60 + 40 - 360, rel=1e-9)  # 40
    assert settle.margin_usd == pytest.approx(300 + 60 - 20 - 360, rel=1e-9)  # -20
    assert spill.margin_usd - settle.margin_usd == pytest.approx(20.0 * 3.0, rel=1e-9)
    assert settle.ppa_settlement_usd == pytest.approx(20.0, rel=1e-9)
    assert settle.energy_cost_usd == pytest.approx(0.0, abs=1e-9)
    assert spill.energy_cost_usd == pytest.approx(-40.0, rel=1e-9)
    assert spill.ppa_spilled_mwh == pytest.approx(3.0, abs=1e-9)


# --------------------------------------------------------------------------- item 7


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("price", "peak", "reimbursed"),
    [("spot", True, 30.0 * 3 + 100.0), ("ppa", True, 40.0 * 3 + 100.0), (55.0, False, 55.0 * 3)],
)
def test_pass_through_price_and_peak(tiny, backend, price, peak, reimbursed):
    # 100 tenant servers (1 MW firm) passing their energy through at spot (30), the PPA price
    # (40, a 0 MW block) or 55 USD/MWh, plus the 100 USD/MWh 4CP adder of hour 1 when passed
    document = tiny.doc(
        sites=[
            tiny.site(
                existing_hpc_mw=5.0,
                peak_flag=np.array([0.0, 1.0, 0.0]),
                peak_adder_usd_per_mwh=100.0,
            )
        ],
        fleet=[],
        gpus=[
            tiny.colocation_gpu(
                max_servers=100,
                power_pass_through=True,
                pass_through_price=price,
                pass_through_peak=peak,
            )
        ],
        leases=[lease(min_mw=1.0, max_mw=1.0)],
        ppas=[{"site": tiny.SITE, "block_mw": 0.0, "price_usd_per_mwh": 40.0}],
    )
    plan = tiny.plan(document, backend=backend)
    s = plan.summary
    assert s.revenue_hpc_usd == pytest.approx(300.0, rel=1e-9)  # rent only
    assert s.pass_through_usd == pytest.approx(reimbursed, rel=1e-9)
    assert s.peak_charge_usd == pytest.approx(100.0, rel=1e-9)
    assert s.margin_usd == pytest.approx(300.0 + reimbursed - 90.0 - 100.0, rel=1e-9)


def test_ppa_pass_through_needs_a_ppa(tiny):
    document = tiny.doc(
        fleet=[],
        gpus=[tiny.colocation_gpu(power_pass_through=True, pass_through_price="ppa")],
        leases=[lease()],
    )
    with pytest.raises(ScenarioError, match="'ppa' needs a \\[\\[ppas\\]\\] row"):
        tiny.scenario(document)


# --------------------------------------------------------------------------- item 8


@pytest.mark.parametrize("backend", BACKENDS)
def test_per_site_pnl_adds_up_to_the_totals(tiny, backend):
    # odessa: 2 MW at 30 USD/MWh, 20 USD/MWh margin x 6 MWh = 120; pecos: at 40, 10 x 6 = 60
    document = tiny.doc(
        sites=[tiny.site(), tiny.site(name="pecos", price_usd_per_mwh=40.0)],
        fleet=[tiny.miner(), tiny.miner(site="pecos")],
    )
    plan = tiny.plan(document, backend=backend)  # checks every stream site by site
    s = plan.summary
    assert s.sites["odessa"].margin_usd == pytest.approx(120.0, rel=1e-9)
    assert s.sites["pecos"].margin_usd == pytest.approx(60.0, rel=1e-9)
    assert s.sites["pecos"].energy_cost_usd == pytest.approx(40.0 * 6, rel=1e-9)
    assert s.margin_usd == pytest.approx(180.0, rel=1e-9)
    out = s.to_dict()["sites"]["pecos"]
    assert out["margin_usd"] == pytest.approx(60.0, rel=1e-9)
    assert out["revenue_mining_usd"] == pytest.approx(300.0, rel=1e-9)
