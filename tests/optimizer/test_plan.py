"""plan_scenario end to end: both backends agree, infeasibility is diagnosed, `hashpivot plan`."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from models import build_scenario, set_field
from models.catalog import PUE
from models.example import example_text
from optimizer.cli import main
from optimizer.errors import InfeasibleError, SolverError
from optimizer.plan import plan_scenario
from optimizer.report.plan_files import write_model
from optimizer.score import score_scenario
from optimizer.timings import Timings

HOSTED = {
    "site": "odessa",
    "model": "X100-2",
    "count": 500,  # 1 MW
    "hashrate_ths": 100.0,
    "power_kw": 2.0,
    "cooling": "air",
    "rate_usd_per_mwh": 70.0,
}


def lease(**kw) -> dict:
    return {"name": "tenant", "site": "odessa", "gpus": ["tenant"], **kw}


# --------------------------------------------------------------------------- backends agree


def example_doc(hours: int) -> dict:
    return set_field(tomllib.loads(example_text()), "scenario.hours", hours)


def test_backends_agree_on_two_weeks_of_the_example(tiny):
    s = build_scenario(example_doc(336), source="<example, 2 weeks>")
    scores = score_scenario(s)
    highs = plan_scenario(s, scores=scores)
    pulp = plan_scenario(s, scores=scores, backend="pulp")
    for p in (highs, pulp):
        tiny.assert_accounting(p)
    assert pulp.objective_usd == pytest.approx(highs.objective_usd, rel=1e-6)
    # the plan decides something on both sides: mining and HPC both run
    assert highs.summary.mining_mwh > 0 and highs.summary.hpc_mwh > 0
    assert highs.summary.backend == "highs" and pulp.summary.backend == "pulp"


@pytest.mark.slow
def test_backends_agree_on_the_full_example(tiny):
    s = build_scenario(example_doc(8760), source="<example>")
    scores = score_scenario(s)
    highs = plan_scenario(s, scores=scores)
    pulp = plan_scenario(s, scores=scores, backend="pulp")
    tiny.assert_accounting(highs)
    tiny.assert_accounting(pulp)
    assert pulp.objective_usd == pytest.approx(highs.objective_usd, rel=1e-6)


@st.composite
def small_scenarios(draw, tiny):
    hours = draw(st.integers(4, 12))
    floats = st.floats(-60.0, 400.0, allow_nan=False).map(lambda x: round(x, 2))
    prices = np.array(draw(st.lists(floats, min_size=hours, max_size=hours)))
    curtail = np.array(
        draw(st.lists(st.sampled_from([0.0, 0.0, 1.0, 2.5]), min_size=hours, max_size=hours))
    )
    site = tiny.site(
        interconnect_mw=draw(st.sampled_from([3.0, 5.0, 8.0])),
        mining_hall_mw=6.0,
        convertible_mw=draw(st.sampled_from([0.0, 2.0])),
        conversion_usd_per_mw=draw(st.sampled_from([0.0, 100.0 * 8760])),
        conversion_life_years=1.0,
        existing_hpc_mw=1.0,
        price_usd_per_mwh=prices,
        curtailment_mw=curtail,
        peak_flag=np.array(
            draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=hours, max_size=hours))
        ),
        peak_adder_usd_per_mwh=draw(st.sampled_from([0.0, 40.0])),
        min_take_mwh_per_month=draw(st.sampled_from([0.0, 2000.0])),
        shortfall_usd_per_mwh=12.0,
        ramp_mw_per_hour=draw(st.sampled_from([None, 1.5])),
    )
    site = {k: v for k, v in site.items() if v is not None}
    fleet = [
        tiny.miner(count=draw(st.integers(0, 1500)), power_kw=p)
        for p in draw(
            st.lists(st.sampled_from([2.0, 3.0, 5.0]), min_size=1, max_size=3, unique=True)
        )
    ]
    gpus = [
        tiny.colocation_gpu(
            max_servers=draw(st.integers(0, 150)),
            power_pass_through=draw(st.booleans()),
            pass_through_price=draw(st.sampled_from(["spot", "ppa", 45.0])),
            pass_through_peak=draw(st.booleans()),
        ),
        tiny.cloud_gpu(
            max_servers=draw(st.integers(0, 100)),
            rate=draw(st.sampled_from([0.1, 0.5, 1.25])),
            capex_usd_per_server=draw(st.sampled_from([0.0, 8760.0])),
            life_years=1.0,
        ),
    ]
    leases = [
        lease(
            min_mw=draw(st.sampled_from([0.0, 0.3])),
            sla_penalty_usd_per_mwh=draw(st.sampled_from([50.0, 300.0])),
        )
    ]
    ppas = []
    if draw(st.booleans()):
        ppas.append(
            {
                "site": "odessa",
                "block_mw": draw(st.sampled_from([1.0, 3.0])),
                "price_usd_per_mwh": 35.0,
                "resale": draw(st.booleans()),
                "resale_fee": draw(st.sampled_from([0.0, 0.05])),
                "negative_prices": draw(st.sampled_from(["settle", "spill"])),
            }
        )
    if not ppas and gpus[0]["pass_through_price"] == "ppa":
        gpus[0]["pass_through_price"] = "spot"
    hosting = []
    if draw(st.booleans()):
        hosting.append({"name": "client", **HOSTED, "uptime": draw(st.sampled_from([0.25, 0.5]))})
    if gpus[0]["max_servers"] * 0.01 < 0.3:
        leases[0]["min_mw"] = 0.0  # a minimum needs the servers; a firm class needs a lease
    return tiny.doc(
        hours=hours,
        sites=[site],
        fleet=fleet,
        gpus=gpus,
        leases=leases or None,
        ppas=ppas or None,
        hosting=hosting or None,
        finance={"discount_rate": draw(st.sampled_from([0.0, 0.1]))},
    )


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_backends_agree_on_random_small_scenarios(tiny, data):
    document = data.draw(small_scenarios(tiny))
    s = tiny.scenario(document)
    scores = score_scenario(s)
    results = {}
    for backend in ("highs", "pulp"):
        try:
            results[backend] = plan_scenario(s, scores=scores, backend=backend)
        except InfeasibleError as exc:
            results[backend] = exc
    highs, pulp = results["highs"], results["pulp"]
    if isinstance(highs, InfeasibleError) or isinstance(pulp, InfeasibleError):
        # both or neither: the diagnosis is the same function of the same data
        assert isinstance(highs, InfeasibleError) and isinstance(pulp, InfeasibleError)
        assert str(highs) == str(pulp)
        event("infeasible")
        return
    event("feasible")
    tiny.assert_accounting(highs)
    tiny.assert_accounting(pulp)
    assert pulp.objective_usd == pytest.approx(highs.objective_usd, rel=1e-6, abs=1e-6)
    # buying and reselling in the same hour never pays when pi > 0 and psi < 1
    sh = highs.site_hours
    pi = sh["price_usd_per_mwh"].to_numpy()
    psi = highs.data.resale_factor[0]
    if psi < 1:
        both = (sh["grid_mwh"] > 1e-7) & (sh["ppa_resold_mwh"] > 1e-7) & (pi > 0)
        assert not both.any()
    # duals have the economic sign
    assert (sh["import_value_usd_per_mwh"] >= -1e-7).all()
    assert (highs.lease_duals[["min_cost_usd_per_mw", "max_value_usd_per_mw"]] >= 0).all().all()


# --------------------------------------------------------------------------- infeasibility


def curtailed_lease_doc(tiny, allow_shortfall: bool) -> dict:
    # 2 MW firm lease; a 2.5 MW order cuts the 3 MW interconnect to 0.5 MW in hours 1 and 2
    return tiny.doc(
        hours=4,
        sites=[
            tiny.site(
                interconnect_mw=3.0,
                existing_hpc_mw=5.0,
                curtailment_mw=np.array([0.0, 2.5, 2.5, 0.0]),
            )
        ],
        fleet=[],
        gpus=[tiny.colocation_gpu()],
        leases=[lease(min_mw=2.0, allow_shortfall=allow_shortfall, sla_penalty_usd_per_mwh=300.0)],
    )


@pytest.mark.parametrize("backend", ["highs", "pulp"])
def test_lease_above_the_curtailed_import_cap_is_infeasible_and_named(tiny, backend):
    with pytest.raises(InfeasibleError) as info:
        tiny.plan(curtailed_lease_doc(tiny, allow_shortfall=False), backend=backend)
    message = str(info.value)
    assert message == (
        "lease 'tenant' needs 2 MW firm (2.0 MW with cooling) but site 'odessa' is curtailed "
        "to 0.5 MW in 2 hours, first 2026-03-02T01:00Z; allow SLA shortfall "
        "(allow_shortfall = true) or lower min_mw"
    )
    # allowing shortfall makes it feasible: 1.5 MWh short in each curtailed hour
    plan = tiny.plan(curtailed_lease_doc(tiny, allow_shortfall=True), backend=backend)
    assert plan.summary.firm_shortfall_mwh == pytest.approx(3.0, abs=1e-9)
    assert plan.summary.sla_penalty_usd == pytest.approx(900.0, rel=1e-9)


def test_lease_above_the_hpc_halls_is_named(tiny):
    document = tiny.doc(
        sites=[tiny.site(convertible_mw=1.0, existing_hpc_mw=0.5)],
        fleet=[],
        gpus=[tiny.colocation_gpu()],
        leases=[lease(min_mw=2.0)],
    )
    with pytest.raises(InfeasibleError, match=r"can hold at most 1\.5 MW of HPC halls"):
        tiny.plan(document)


def test_hosted_uptime_above_the_import_caps_is_named(tiny):
    # 100% uptime, but a 3 MW order leaves 0 MW in hour 1: at most 2 of 3 hours
    document = tiny.doc(
        sites=[tiny.site(interconnect_mw=3.0, curtailment_mw=np.array([0.0, 3.0, 0.0]))],
        fleet=[],
        hosting=[{"name": "client", **HOSTED, "uptime": 1.0}],
    )
    with pytest.raises(InfeasibleError) as info:
        tiny.plan(document)
    assert "needs 100% uptime (3 of 3 hours)" in str(info.value)
    assert "at most 2.0 full hours" in str(info.value)
    assert "first 2026-03-02T01:00Z" in str(info.value)


def test_ramp_that_cannot_follow_a_curtailment_order_is_named(tiny):
    # 2 MW firm that may be shed only in the curtailed hour 2 (cap 0.5 MW); ramp 1 MW/h:
    # hour 1 must carry 2 MW but can't exceed 0.5 + 1 = 1.5 MW
    document = tiny.doc(
        hours=4,
        sites=[
            tiny.site(
                interconnect_mw=3.0,
                existing_hpc_mw=5.0,
                ramp_mw_per_hour=1.0,
                curtailment_mw=np.array([0.0, 0.0, 2.5, 0.0]),
            )
        ],
        fleet=[],
        gpus=[tiny.colocation_gpu()],
        leases=[lease(min_mw=2.0, sla_penalty_usd_per_mwh=100.0)],
    )
    with pytest.raises(InfeasibleError) as info:
        tiny.plan(document)
    message = str(info.value)
    assert message.startswith("site 'odessa' can't ramp fast enough")
    assert "import limit is 0.5 MW at 2026-03-02T02:00Z" in message
    assert "at most 1 MW/h" in message


@pytest.mark.parametrize("backend", ["highs", "pulp"])
def test_conflict_no_check_explains_is_named_by_family(tiny, backend):
    # two hosted contracts at 100% uptime, 1 MW each, share a 1.5 MW interconnect: each fits
    # alone, together they don't; the IIS names the import limit and hosted uptime
    document = tiny.doc(
        sites=[tiny.site(interconnect_mw=1.5)],
        fleet=[],
        hosting=[{"name": n, **HOSTED, "uptime": 1.0} for n in ("a", "b")],
    )
    with pytest.raises(InfeasibleError) as info:
        tiny.plan(document, backend=backend)
    message = str(info.value)
    assert message.startswith("these constraints conflict:")
    assert "import limit (row 2)" in message and "hosted uptime (row 6)" in message
    assert "hosted:a" in message and "hosted:b" in message


def test_unknown_solvers_are_solver_errors(tiny):
    s = tiny.scenario(tiny.doc())
    with pytest.raises(SolverError, match="unknown HiGHS solver 'cbc'"):
        plan_scenario(s, solver="cbc")
    with pytest.raises(SolverError, match="unknown PuLP solver 'NOPE'"):
        plan_scenario(s, backend="pulp", solver="NOPE")
    with pytest.raises(SolverError, match="unknown backend"):
        plan_scenario(s, backend="gurobi")


def test_options_reach_the_solvers_and_progress_reports_each_stage(tiny, tmp_path):
    s = tiny.scenario(tiny.doc())
    stages = []
    for backend, name in (("highs", "model.mps"), ("pulp", "model.lp")):
        plan = plan_scenario(
            s,
            backend=backend,
            threads=1,
            time_limit_s=60,
            before_solve=lambda lp, name=name, backend=backend: write_model(
                lp, tmp_path / name, backend
            ),
            timings=Timings(progress=lambda stage, seconds: stages.append((stage, seconds))),
        )
        # 2 MW at a 20 USD/MWh margin for 3 hours
        assert plan.summary.margin_usd == pytest.approx(120.0, rel=1e-9)
        assert (tmp_path / name).stat().st_size > 0
    assert [x for x, _ in stages] == ["kernel", "build", "solve", "extract"] * 2
    assert all(sec >= 0 for _, sec in stages)
    assert "u_0_0" in (tmp_path / "model.lp").read_text()
    assert plan.summary.seconds.as_dict()["total"] == pytest.approx(
        sum(v for k, v in plan.summary.seconds.as_dict().items() if k != "total")
    )


def test_plan_frames(tiny):
    document = tiny.doc(
        sites=[tiny.site(existing_hpc_mw=5.0)],
        gpus=[tiny.colocation_gpu(max_servers=100), tiny.cloud_gpu(max_servers=50)],
        leases=[{"name": "tenant", "site": tiny.SITE, "gpus": ["tenant"]}],
    )
    plan = tiny.plan(document)
    T = 3
    assert list(plan.site_hours["site"].unique()) == ["odessa"] and len(plan.site_hours) == T
    # 1 ASIC class + 2 GPU classes, long form
    ch = plan.class_hours
    assert len(ch) == 3 * T and set(ch["kind"]) == {"asic", "gpu"}
    # everything pays at 30 USD/MWh: 2 MW mining, 100 firm servers (1 MW), 50 cloud (0.5 MW)
    assert plan.site_hours["mining_mw"].tolist() == pytest.approx([2.0] * T)
    assert plan.site_hours["hpc_firm_mw"].tolist() == pytest.approx([1.0] * T)
    assert plan.site_hours["hpc_interruptible_mw"].tolist() == pytest.approx([0.5] * T)
    gpu = plan.gpu.set_index("gpu_class")
    assert gpu.loc["tenant", "firm"] == pytest.approx(100.0)
    assert gpu.loc["tenant", "installed"] == pytest.approx(100.0)  # no capex: as many as used
    assert gpu.loc["cloud", "interruptible_mean"] == pytest.approx(50.0)
    assert plan.converted_mw["odessa"] == pytest.approx(0.0)
    s = plan.summary
    assert s.mining_mwh == pytest.approx(6.0) and s.hpc_mwh == pytest.approx(4.5)
    assert s.margin_usd == pytest.approx(3 * (2 * 20.0 + 100 * 0.7 + 50 * 9.7), rel=1e-9)


# --------------------------------------------------------------------------- the command


def write_scenario(tmp_path: Path, allow_shortfall: bool) -> Path:
    """A TOML scenario with a curtailment CSV: 2 MW firm lease, order to 0.5 MW in hours 1-2."""
    times = pd.date_range("2026-03-02T00:00:00Z", periods=4, freq="h")
    pd.DataFrame(
        {"time": times.strftime("%Y-%m-%dT%H:%M:%SZ"), "curtailment_mw": [0.0, 2.5, 2.5, 0.0]}
    ).to_csv(tmp_path / "curtailment.csv", index=False)
    text = f"""
[scenario]
name = "cli-tiny"
start = "2026-03-02T00:00:00Z"
hours = 4

[market]
btc_price_usd = 100000
network_hashrate_ehs = 1100
fees_btc_per_block = 0.0
height = 840000

[[sites]]
name = "odessa"
interconnect_mw = 3
mining_hall_mw = 3
existing_hpc_mw = 5
price_usd_per_mwh = 30
temp_c = 10
curtailment_mw = {{ file = "curtailment.csv", value_column = "curtailment_mw" }}

[[fleet]]
site = "odessa"
model = "S21"
count = 100

[[gpus]]
name = "tenant"
site = "odessa"
model = "custom"
max_servers = 200
power_kw = 10
it_kw = 10
gpus = 8
pricing = "colocation"
lease_usd_per_kw_month = 73

[[leases]]
name = "tenant"
site = "odessa"
gpus = ["tenant"]
min_mw = 2
sla_penalty_usd_per_mwh = 300
allow_shortfall = {str(allow_shortfall).lower()}
"""
    path = tmp_path / "scenario.toml"
    path.write_text(text)
    return path


def test_cli_infeasible_lease_exits_3_naming_lease_site_and_hour(tmp_path):
    path = write_scenario(tmp_path, allow_shortfall=False)
    result = CliRunner().invoke(main, ["plan", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output and result.exception is not None
    assert isinstance(result.exception, SystemExit)
    assert "infeasible: lease 'tenant' needs 2 MW firm" in result.output
    assert "site 'odessa' is curtailed to 0.5 MW in 2 hours, first 2026-03-02T01:00Z" in (
        result.output
    )
    assert not (tmp_path / "out" / "summary.json").exists()


def test_cli_plan_writes_files_and_prints_the_table(tmp_path):
    path = write_scenario(tmp_path, allow_shortfall=True)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main,
        ["plan", str(path), "--out", str(out), "--class-hours", "--write-lp", str(out / "m.lp")],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    for name in ("plan.csv", "classes.csv", "gpus.csv", "allocation.png", "duals.png", "m.lp"):
        assert (out / name).stat().st_size > 0, name
    # default liquid cooling at 10 C: PUE = pue0, so the 2 MW IT lease draws 2 * pue0 MW;
    # the 0.5 MW cap leaves 2 * pue0 - 0.5 MWh short in each of the 2 curtailed hours
    short = 2 * (2 * PUE["liquid"].pue0 - 0.5)  # 3.48 MWh at pue0 = 1.12
    assert summary["firm_shortfall_mwh"] == pytest.approx(short, abs=1e-6)
    assert summary["sla_penalty_usd"] == pytest.approx(300.0 * short, rel=1e-9)
    assert f"{round(summary['margin_usd']):>16,}" in result.output
    assert "margin by stream" in result.output and "SLA penalties" in result.output
    for stage in ("load", "kernel", "build", "solve", "report"):
        assert summary["seconds"][stage] >= 0
        assert f"\n{stage}" in "\n" + result.output  # progress lines (stderr, mixed here)


def test_cli_bad_write_lp_suffix_and_unknown_solver_exit_2(tmp_path):
    path = write_scenario(tmp_path, allow_shortfall=True)
    runner = CliRunner()
    bad = runner.invoke(main, ["plan", str(path), "--out", str(tmp_path), "--write-lp", "x.txt"])
    assert bad.exit_code == 2 and "expected a .lp or .mps" in bad.output
    solver = runner.invoke(
        main, ["plan", str(path), "--out", str(tmp_path), "--backend", "pulp", "--solver", "NOPE"]
    )
    assert solver.exit_code == 2 and "unknown PuLP solver 'NOPE'" in solver.output  # before the LP
    assert "Traceback" not in solver.output


def test_cli_plans_the_built_in_example(tmp_path, tiny):
    result = CliRunner().invoke(main, ["plan", "--out", str(tmp_path), "--no-charts"])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["scenario"] == "west-texas-example" and summary["hours"] == 8760
    parts = sum(
        summary[k]
        for k in (
            "revenue_mining_usd",
            "revenue_hosting_usd",
            "revenue_hpc_usd",
            "pass_through_usd",
            "resale_credit_usd",
            "revenue_ancillary_usd",
        )
    )
    parts -= sum(
        summary[k]
        for k in (
            "energy_cost_usd",
            "ppa_cost_usd",
            "ppa_settlement_usd",
            "peak_charge_usd",
            "conversion_cost_usd",
            "gpu_capex_usd",
            "sla_penalty_usd",
            "shortfall_usd",
            "ancillary_deployment_usd",
        )
    )
    assert summary["margin_usd"] == pytest.approx(parts, rel=1e-9)
    # the example offers ECRS (<= 30 MW) and RRS (<= 20 MW) from its own ASICs: both earn,
    # never above their caps
    for product, cap in (("ECRS", 30.0), ("RRS", 20.0)):
        stream = summary["ancillary"][product]
        assert stream["revenue_usd"] > 0 and stream["max_reserved_mw"] <= cap + 1e-6
    assert summary["revenue_ancillary_usd"] == pytest.approx(
        sum(a["revenue_usd"] for a in summary["ancillary"].values()), rel=1e-12
    )
    # plan.csv: reserved MW per product, in no hour above the load the own ASICs could drop
    rows = pd.read_csv(tmp_path / "plan.csv")
    reserved = rows["as_ecrs_mw"] + rows["as_rrs_mw"]
    assert (reserved <= rows["mining_mw"] - rows["hosted_asic_mw"] + 1e-5).all()
    assert reserved.sum() == pytest.approx(
        sum(a["reserved_mwh"] for a in summary["ancillary"].values()), rel=1e-6
    )
    assert summary["margin_usd"] == pytest.approx(summary["objective_usd"], rel=1e-9)
    # at the example's 10 % WACC a converted MW costs 9 MUSD x CRF(0.1, 10) / 8760 = 167.2
    # USD/h, more than the tenant's rent nets: the lease stays at its 10 MW minimum of IT
    # (10,000 kW / 10.2 kW per server); at 0 % it was at its 40 MW maximum
    assert summary["discount_rate"] == 0.10
    assert summary["firm_it_mw"] == pytest.approx(10.0, rel=1e-9)
    assert summary["gpu_servers_firm"] == pytest.approx(10000 / 10.2, rel=1e-9)
    assert 0 <= summary["hpc_mw_converted"] <= 60.0 + 1e-9
    assert summary["sites"]["odessa"]["margin_usd"] == pytest.approx(
        summary["margin_usd"], rel=1e-12
    )
    hours = pd.read_csv(tmp_path / "plan.csv")
    assert len(hours) == 8760
    # no firm load unserved where the curtailed cap carries the firm load
    firm = hours["hpc_firm_mw"] + hours["firm_shortfall_mwh"]
    assert (hours.loc[hours["import_cap_mw"] >= firm, "firm_shortfall_mwh"] <= 1e-9).all()


def test_two_sites_plan_as_the_sum_of_each_alone(tiny):
    # Sites share nothing in the LP, so the joint plan's totals are the sums of each alone.
    a = tiny.site(
        name="odessa",
        interconnect_mw=1.5,
        price_usd_per_mwh=np.array([30.0, 80.0, 10.0, 45.0]),
        existing_hpc_mw=2.0,
        min_take_mwh_per_month=2000.0,
        shortfall_usd_per_mwh=10.0,
    )
    b = tiny.site(
        name="pecos",
        mining_hall_mw=4.0,
        convertible_mw=2.0,
        conversion_usd_per_mw=50.0 * 8760,
        conversion_life_years=1.0,
        price_usd_per_mwh=np.array([3000.0, 20.0, -5.0, 60.0]),
        ramp_mw_per_hour=1.0,
        peak_flag=np.array([0.0, 1.0, 0.0, 0.0]),
        peak_adder_usd_per_mwh=40.0,
    )
    fleet_a = [tiny.miner()]
    fleet_b = [{**tiny.miner(count=2000), "site": "pecos"}]
    gpus_a = [tiny.colocation_gpu(max_servers=100)]
    gpus_b = [{**tiny.cloud_gpu(max_servers=150), "site": "pecos"}]
    leases_a = [lease(min_mw=0.5, sla_penalty_usd_per_mwh=100.0)]
    ppas_b = [
        {
            "site": "pecos",
            "block_mw": 2.0,
            "price_usd_per_mwh": 30.0,
            "resale": True,
            "resale_fee": 0.05,
        }
    ]
    alone_a = tiny.plan(tiny.doc(hours=4, sites=[a], fleet=fleet_a, gpus=gpus_a, leases=leases_a))
    alone_b = tiny.plan(tiny.doc(hours=4, sites=[b], fleet=fleet_b, gpus=gpus_b, ppas=ppas_b))
    both = tiny.plan(
        tiny.doc(
            hours=4,
            sites=[a, b],
            fleet=fleet_a + fleet_b,
            gpus=gpus_a + gpus_b,
            leases=leases_a,
            ppas=ppas_b,
        )
    )
    s = both.summary
    for key in (
        "margin_usd",
        "revenue_mining_usd",
        "revenue_hpc_usd",
        "resale_credit_usd",
        "energy_cost_usd",
        "ppa_cost_usd",
        "peak_charge_usd",
        "conversion_cost_usd",
        "shortfall_usd",
        "hpc_mw_converted",
        "mining_mwh",
        "hpc_mwh",
    ):
        assert getattr(s, key) == pytest.approx(
            getattr(alone_a.summary, key) + getattr(alone_b.summary, key), rel=1e-9, abs=1e-7
        ), key
    for alone, name in ((alone_a, "odessa"), (alone_b, "pecos")):
        assert s.sites[name].converted_mw == pytest.approx(alone.summary.hpc_mw_converted, abs=1e-9)
    # pecos converts the 1.5 MW its 150 cloud servers need: each nets ~29 USD in hours 1-3
    # (10 USD/h less 0.01 MWh of energy) against 0.01 MW x 50 USD/MW-h x 4 h = 2 USD
    assert both.converted_mw["pecos"] == pytest.approx(1.5, abs=1e-9)
    assert list(both.converted_mw.index) == ["odessa", "pecos"]
