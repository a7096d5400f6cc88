"""``hashpivot decide``: the two-stage decision (optimizer/decide/, docs/decide.md).

Real files on disk, the real HiGHS solver: the extensive form is the oracle of the L-shaped
method, a two-path case is derived by hand, VSS and EVPI are non-negative on random cases, one
path and one year reproduce ``plan``, a dask cluster gives the local decision, and an
interrupted run resumes without solving again what it had finished.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models import ScenarioError, load_scenario
from models.decision import load_decision
from optimizer.api import decide
from optimizer.cli import main
from optimizer.decide import lshaped
from optimizer.decide.evaluate import analyse, solve
from optimizer.decide.lshaped import Runner, solve_lshaped
from optimizer.decide.problem import build_problem, digest
from optimizer.decide.second_stage import second_stage
from optimizer.plan import plan_scenario
from optimizer.report.example_files import write_example

# --------------------------------------------------------------------------- fixtures

#: One 10 MW site with PUE 1 at 20 C (below every derating reference), no ASICs, and 1,000
#: interruptible cloud servers of 10 kW (8 GPUs at 0.625 USD/GPU-hour: 5 USD per server-hour,
#: 500 USD per MWh), bought at no capex. Converting a MW costs 800,000 USD over a 1-year life.
HAND = """\
[scenario]
name = "hand"
start = "2026-01-01T00:00:00Z"
hours = 168

[market]
btc_price_usd = 90000
network_hashrate_ehs = 1000
fees_btc_per_block = 0.02
height = 900000

[[sites]]
name = "alpha"
interconnect_mw = 10
mining_hall_mw = 10
convertible_mw = 10
conversion_usd_per_mw = 800_000
conversion_life_years = 1
price_usd_per_mwh = 100
temp_c = 20
cooling = { liquid = { pue0 = 1.0, pue_slope = 0.0, pue_ref_c = 25.0 } }

[[gpus]]
name = "cloud"
site = "alpha"
power_kw = 10
it_kw = 10
gpus = 8
cooling = "liquid"
max_servers = 1000
pricing = "cloud"
rate_usd_per_gpu_hour = 0.625
utilization = 1.0
service = "interruptible"
capex_usd_per_server = 0
life_years = 1
"""

HAND_DECISION = """\
[decision]
base = "hand.toml"
years = 1
weeks_per_year = 1
[paths]
count = 2
seed = 1
[finance]
discount_rate = 0.0
[solve]
gap_usd = 0.01
gap_relative = 1e-12
"""

SMALL_DECISION = """\
[decision]
base = "scenario.toml"
years = {years}
weeks_per_year = {weeks}
[paths]
count = {paths}
seed = 5
sigma = 0.6
hashrate_drift = 0.3
hashrate_vol = 0.1
gpu_rent_trend = -0.1
[finance]
discount_rate = 0.1
[first_stage]
hall_block_mw = {block}
whole_servers = {whole}
[risk]
cvar_level = 0.5
weight = {weight}
[solve]
gap_usd = 0.001
gap_relative = 1e-11
"""


def hand_problem(tmp_path: Path, prices: tuple[float, float], probability: float):
    """The hand case with path prices ``prices`` [USD/MWh] and P(path 0) = ``probability``."""
    (tmp_path / "hand.toml").write_text(HAND)
    (tmp_path / "decision.toml").write_text(HAND_DECISION)
    problem = build_problem(load_decision(tmp_path / "decision.toml"))
    price = np.broadcast_to(np.array(prices, float)[:, None, None, None, None], (2, 1, 1, 1, 168))
    return replace(
        problem,
        prices=price.copy(),
        probabilities=np.array([probability, 1.0 - probability]),
        key=digest(problem.key, prices, probability),
    )


@pytest.fixture(scope="module")
def example_dir(tmp_path_factory) -> Path:
    """The built-in example as files, its horizon cut to two weeks."""
    d = tmp_path_factory.mktemp("example")
    write_example(d)
    toml = d / "scenario.toml"
    toml.write_text(toml.read_text().replace("hours = 8760", "hours = 336"))
    return d


def small(
    example_dir: Path, name: str, *, years=2, weeks=1, paths=3, block=0, weight=0.0, whole=False
) -> Path:
    text = SMALL_DECISION.format(
        years=years, weeks=weeks, paths=paths, block=block, weight=weight, whole=str(whole).lower()
    )
    path = example_dir / name
    path.write_text(text)
    return path


# --------------------------------------------------------------------------- the hand case


def test_hand_derived_two_path_case(tmp_path):
    """Conversion pays in path A (power 100 USD/MWh, probability 0.3), not in path B (900).

    Per converted MW the 100 servers it holds earn 500 USD/MWh, so in path A a MW earns
    ``(500 - 100) * 168`` in the sampled week, weighted ``8760 / 168``: ``m_A = 400 * 8760 =
    3,504,000`` USD a year; in path B power costs more than the servers earn, they idle and the
    MW earns 0. The discount rate is 0 and the life 1 year, so a converted MW costs
    ``c = 800,000`` USD. Hence, for y MW:

    - ``E[NPV(y)] = (0.3 * 3,504,000 - 800,000) y = 251,200 y``: convert all 10 MW, expected NPV
      2,512,000 USD; path NPVs ``(3,504,000 - 800,000) 10 = 27,040,000`` and ``-8,000,000``;
    - the mean path pays ``0.3 * 100 + 0.7 * 900 = 660 > 500`` USD/MWh: servers never run, so
      the mean-path decision converts nothing, NPV 0 on both paths: VSS = 2,512,000;
    - with perfect foresight path A converts 10 MW (27,040,000), path B nothing (0):
      wait-and-see ``0.3 * 27,040,000 = 8,112,000``, EVPI ``8,112,000 - 2,512,000 = 5,600,000``
      (= ``0.7 * 800,000 * 10``: the capex sunk in path B).
    """
    problem = hand_problem(tmp_path, (100.0, 900.0), 0.3)
    for method in ("lshaped", "extensive"):
        a = analyse(problem, method, Runner(), curve_points=0)
        y, n, f = problem.split(a.solved.x)
        assert y[0] == pytest.approx(10.0, abs=1e-6)
        assert n[0] >= 1000 - 1e-6 and f[0] == 0.0
        assert a.solved.npv == pytest.approx([27_040_000.0, -8_000_000.0], rel=1e-9)
        assert a.solved.objective == pytest.approx(2_512_000.0, rel=1e-9)
        assert problem.split(a.mean_path_x)[0][0] == pytest.approx(0.0, abs=1e-6)
        assert a.vss == pytest.approx(2_512_000.0, rel=1e-9)
        assert a.wait_and_see == pytest.approx(8_112_000.0, rel=1e-9)
        assert a.evpi == pytest.approx(5_600_000.0, rel=1e-9)


HOSTED_CLIENT = """
[[hosting]]
name = "client"
site = "alpha"
model = "X100-2"
hashrate_ths = 100
power_kw = 2
cooling = "hydro"
count = 2000
rate_usd_per_mwh = 70
uptime = 0.9
"""


def test_a_first_stage_the_hosted_uptime_cannot_meet_gets_a_feasibility_cut(tmp_path):
    """The hand site plus a client's 4 MW of hosted ASICs that must run 90% of the hours
    (paying 70 USD/MWh for power that costs 100: they run only as the floor demands). A
    converted MW earns 3,504,000 USD a year for 800,000 of capex, so the L-shaped master soon
    asks for all 10 MW; that leaves the client no hall and no hourly plan exists: a feasibility
    cut (phase one: 151.2 hours of uptime short, 42 hours more per MW converted) limits the
    conversion to ``10 - 0.9 * 4 = 6.4`` MW. NPV, both paths at 100 USD/MWh:
    ``(3,504,000 - 800,000) * 6.4 - 30 * 3.6 * 8760 = 16,359,520`` USD; the extensive form
    agrees."""
    hydro = "cooling = { hydro = { pue0 = 1.0, pue_slope = 0.0, pue_ref_c = 25.0 }, liquid = {"
    (tmp_path / "hand.toml").write_text(
        HAND.replace("cooling = { liquid = {", hydro) + HOSTED_CLIENT
    )
    (tmp_path / "decision.toml").write_text(HAND_DECISION)
    base = build_problem(load_decision(tmp_path / "decision.toml"))
    price = np.full((2, 1, 1, 1, 168), 100.0)
    problem = replace(base, prices=price, key=digest(base.key, "hosted", 100.0))
    solved = solve_lshaped(problem, Runner())
    assert solved.cuts.feas_rhs, "the master never proposed an infeasible first stage"
    y, n, f = problem.split(solved.x)
    assert y[0] == pytest.approx(6.4, abs=1e-6)
    assert n[0] >= 640.0 - 1e-6 and f[0] == 0.0
    assert solved.objective == pytest.approx(16_359_520.0, rel=1e-9)
    ext = analyse(problem, "extensive", Runner(), curve_points=0)
    assert ext.solved.objective == pytest.approx(solved.objective, rel=1e-9)


def test_second_stage_gradient_is_the_value_of_a_converted_mw(tmp_path):
    """With y MW converted and 1,000 servers, a week at 100 USD/MWh earns ``400 * 168 * y``; one
    more MW is worth ``400 * 168 = 67,200`` USD (the reduced cost of y, sign flipped)."""
    problem = hand_problem(tmp_path, (100.0, 900.0), 0.3)
    (data,) = problem.block_data(0, 0)
    margin, grad = second_stage(data, np.array([4.0]), np.array([1000.0]), np.array([0.0]))
    assert margin == pytest.approx(400.0 * 168 * 4.0, rel=1e-9)
    assert grad[0] == pytest.approx(400.0 * 168, rel=1e-9)
    assert grad[2] == 0.0


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    a=st.floats(0.0, 1000.0),
    b=st.floats(0.0, 1000.0),
    p=st.floats(0.05, 0.95),
)
def test_vss_and_evpi_are_never_negative(tmp_path, a, b, p):
    problem = hand_problem(tmp_path, (a, b), p)
    r = analyse(problem, "lshaped", Runner(), curve_points=0)
    tol = 1e-6 * max(1.0, abs(r.solved.objective))
    assert r.vss >= -tol
    assert r.evpi >= -tol
    # and the decision's expected NPV is the best of the two hand-derivable corners
    m_a, m_b = max(500.0 - a, 0.0) * 8760, max(500.0 - b, 0.0) * 8760
    best = max(0.0, (p * m_a + (1 - p) * m_b - 800_000.0) * 10.0)
    assert r.solved.objective == pytest.approx(best, rel=1e-7, abs=1e-3)


# --------------------------------------------------------------------------- the oracle


@pytest.mark.parametrize(
    ("years", "block", "weight", "whole"),
    [(2, 0, 0.0, False), (1, 0, 0.5, False), (1, 5, 0.0, False), (1, 0, 0.0, True)],
)
def test_extensive_and_lshaped_agree(example_dir, years, block, weight, whole):
    """3 paths x 2 years x 1 week of the example: the same decision and objective to 1e-6;
    and on 3 paths x 1 year with CVaR in the objective, and with whole 5 MW hall blocks (a MIP
    master and a MIP extensive form), and with whole servers."""
    name = f"small-{block}-{weight}-{whole}.toml"
    decision = small(example_dir, name, years=years, block=block, weight=weight, whole=whole)
    problem = build_problem(load_decision(decision))
    ext = solve(problem, "extensive")
    ls = solve(problem, "lshaped", Runner())
    assert ls.objective == pytest.approx(ext.objective, rel=1e-6)
    assert ls.upper - ls.objective <= 1e-6 * abs(ext.objective)
    assert ls.x[0] == pytest.approx(ext.x[0], rel=1e-6, abs=1e-6)
    if block:
        assert ls.x[0] % 5.0 == pytest.approx(0.0, abs=1e-6)
    if whole:
        servers = ls.x[problem.n_sites :]
        np.testing.assert_allclose(servers, np.round(servers), atol=1e-6)


def test_one_path_one_year_reproduces_plan(example_dir):
    """No volatility, no drift, the base year's own prices and one block (the whole two-week
    horizon, weighted ``8760 / 336``): decide's NPV is plan's margin scaled to a year and
    discounted one year, ``plan * 8760 / 336 / 1.1``: plan charges a year's capex annuity
    ``A * 336 / 8760``, decide pays ``A / 1.1`` (the capex less its residual value after a year,
    docs/decide.md), the same cash flows."""
    path = example_dir / "one.toml"
    path.write_text(
        SMALL_DECISION.format(years=1, weeks=0, paths=1, block=0, weight=0.0, whole="false")
        .replace("sigma = 0.6", "sigma = 0.0")
        .replace("hashrate_drift = 0.3", "hashrate_drift = 0.0")
        .replace("hashrate_vol = 0.1", "hashrate_vol = 0.0")
        .replace("gpu_rent_trend = -0.1", "gpu_rent_trend = 0.0")
    )
    problem = build_problem(load_decision(path))
    plan = plan_scenario(load_scenario(example_dir / "scenario.toml"))
    solved = solve_lshaped(problem, Runner())
    assert solved.objective == pytest.approx(plan.objective_usd * 8760 / 336 / 1.1, rel=1e-6)
    assert problem.split(solved.x)[0][0] == pytest.approx(plan.converted_mw.iloc[0], rel=1e-5)


# --------------------------------------------------------------------------- runs, files, CLI


def test_dask_cluster_gives_the_local_decision(example_dir, tmp_path):
    distributed = pytest.importorskip("distributed")
    decision = load_decision(small(example_dir, "dask.toml", paths=2, years=1))
    local = decide(decision, tmp_path / "local", workers=0, curve_points=0, charts=False)
    with distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=2,
        processes=False,
        protocol="tcp",
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        remote = decide(
            decision,
            tmp_path / "dask",
            scheduler=cluster.scheduler_address,
            curve_points=0,
            charts=False,
        )
    np.testing.assert_allclose(
        remote.analysis.solved.x, local.analysis.solved.x, rtol=1e-9, atol=1e-9
    )
    assert remote.summary["npv"] == pytest.approx(local.summary["npv"], rel=1e-9)


def test_an_interrupted_run_resumes_without_solving_finished_path_years(
    example_dir, tmp_path, monkeypatch
):
    decision = load_decision(small(example_dir, "resume.toml", paths=2, years=1))
    whole = decide(decision, tmp_path / "whole", workers=0, curve_points=0, charts=False)
    seen = []
    monkeypatch.setattr(lshaped, "PROGRESS_S", 0.0)  # a report after every path-year

    def stop_after_five(stage, done, total, eta):
        seen.append(stage)
        if len(seen) == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        decide(decision, tmp_path / "cut", workers=0, curve_points=0, progress=stop_after_five)
    again = decide(decision, tmp_path / "cut", workers=0, curve_points=0, charts=False, resume=True)
    total = whole.solved_path_years + whole.reused_path_years
    assert again.solved_path_years == whole.solved_path_years - 5
    assert again.solved_path_years + again.reused_path_years == total
    np.testing.assert_allclose(again.analysis.solved.x, whole.analysis.solved.x)
    with pytest.raises(ScenarioError, match="--resume"):
        decide(decision, tmp_path / "cut", workers=0, curve_points=0)


def test_cli_writes_the_example_and_the_decision_files(tmp_path):
    runner = CliRunner()
    r = runner.invoke(main, ["decide", "--example", str(tmp_path)])
    assert r.exit_code == 0, r.output
    decision = load_decision(tmp_path / "decision.toml")
    assert (decision.years, decision.weeks_per_year, decision.paths.count) == (10, 4, 100)
    (tmp_path / "hand.toml").write_text(HAND)
    (tmp_path / "d.toml").write_text(HAND_DECISION)
    out = tmp_path / "out"
    r = runner.invoke(
        main, ["decide", str(tmp_path / "d.toml"), "--out", str(out), "--workers", "0"]
    )
    assert r.exit_code == 0, r.output
    assert "decision: convert alpha" in r.output and "VSS" in r.output
    summary = json.loads((out / "decision.json").read_text())
    assert set(summary) >= {"first_stage", "npv", "vss_usd", "evpi_usd", "gap_usd", "npv_vs_mw"}
    assert (out / "paths.parquet").is_file() and (out / "decision.png").is_file()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("years = 1", "years = 0"), "decision.years: expected a whole number >= 1"),
        (("count = 2", 'count = 2\npower = "wind"'), "paths.power"),
        (("count = 2", 'count = 2\npower = "files"'), "power_files"),
        (('base = "hand.toml"', 'base = "missing.toml"'), "missing.toml"),
        (("[finance]", "[finance]\nrate = 0.1"), "finance"),
    ],
)
def test_bad_decision_files_name_the_field(tmp_path, edit, message):
    (tmp_path / "hand.toml").write_text(HAND)
    path = tmp_path / "d.toml"
    path.write_text(HAND_DECISION.replace(*edit))
    with pytest.raises(ScenarioError, match=message):
        load_decision(path)
    r = CliRunner().invoke(main, ["decide", str(path), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "Traceback" not in r.output


def test_a_sigkilled_run_resumes_without_solving_what_it_stored(example_dir, tmp_path):
    """SIGKILL a ``hashpivot decide`` process once it has stored path-years; the resumed run
    solves exactly the path-years the killed one had not stored."""
    decision = small(example_dir, "killed.toml", paths=3, years=2)
    whole = decide(load_decision(decision), tmp_path / "whole", workers=0, curve_points=0)
    out = tmp_path / "killed"
    manifest = out / "path_years" / "manifest.json"
    repo = Path(__file__).resolve().parents[2]
    cmd = [sys.executable, "-m", "optimizer", "decide", str(decision), "--out", str(out)]
    cmd += ["--workers", "0", "--curve-points", "0", "--no-charts"]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    proc = subprocess.Popen(
        cmd, cwd=repo, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if manifest.exists() and len(json.loads(manifest.read_text())["done_ids"]) >= 12:
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stored = len(json.loads(manifest.read_text())["done_ids"])
    assert 12 <= stored < whole.solved_path_years
    again = decide(load_decision(decision), out, workers=0, curve_points=0, resume=True)
    assert again.solved_path_years == whole.solved_path_years - stored
    np.testing.assert_allclose(again.analysis.solved.x, whole.analysis.solved.x)


def test_sigterm_stops_a_run_politely_and_it_resumes(example_dir, tmp_path):
    """SIGTERM (a scheduler's stop) ends ``hashpivot decide`` like Ctrl-C: exit 130, no
    traceback, a hint to resume; the path-years it stored are not solved again."""
    decision = small(example_dir, "termed.toml", paths=3, years=2)
    out = tmp_path / "termed"
    manifest = out / "path_years" / "manifest.json"
    repo = Path(__file__).resolve().parents[2]
    cmd = [sys.executable, "-m", "optimizer", "decide", str(decision), "--out", str(out)]
    cmd += ["--workers", "0", "--curve-points", "0", "--no-charts"]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    proc = subprocess.Popen(
        cmd, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if manifest.exists() and len(json.loads(manifest.read_text())["done_ids"]) >= 6:
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "--resume" in err and "Traceback" not in err
    stored = len(json.loads(manifest.read_text())["done_ids"])
    again = decide(load_decision(decision), out, workers=0, curve_points=0, resume=True)
    assert again.reused_path_years >= stored


def test_power_files_are_drawn_per_path_year(tmp_path):
    """Two price years (flat 100 and flat 900 USD/MWh): every path-year block carries one of
    them whole, the draw is fixed by the seed, and the mean path carries the mean price."""
    (tmp_path / "hand.toml").write_text(HAND)
    for name, price in (("cheap.csv", 100.0), ("dear.csv", 900.0)):
        times = ["2026-01-01T00:00:00Z" for _ in range(168)]
        rows = "\n".join(f"{t},{price}" for t in times)
        (tmp_path / name).write_text("time,price_usd_per_mwh\n" + rows + "\n")
    text = HAND_DECISION.replace(
        "count = 2", 'count = 6\npower = "files"\npower_files = ["cheap.csv", "dear.csv"]'
    )
    (tmp_path / "d.toml").write_text(text.replace("years = 1", "years = 2"))
    problem = build_problem(load_decision(tmp_path / "d.toml"))
    prices = problem.prices
    assert prices.shape == (6, 2, 1, 1, 168)
    firsts = prices[..., 0].ravel()
    assert set(firsts) == {100.0, 900.0}
    assert (prices == prices[..., :1]).all()  # a block is one file's prices, whole
    again = build_problem(load_decision(tmp_path / "d.toml"))
    np.testing.assert_array_equal(again.prices, prices)
    mean = problem.mean_path().prices
    np.testing.assert_allclose(mean[0, :, 0, 0, 0], prices[:, :, 0, 0, 0].mean(axis=0))
    a = analyse(problem, "lshaped", Runner(), curve_points=0)
    assert a.vss >= 0 and a.evpi >= 0


def test_a_block_reuses_its_position_but_rereads_market_and_prices(example_dir):
    """The fast block scenario (a template per block position, market and prices re-read,
    scores rescaled) equals the scenario built and scored in full from the same document,
    path after path."""
    from models import build_scenario
    from optimizer.decide.problem import block_scenario
    from optimizer.lp.data import lp_data
    from optimizer.score import score_scenario

    path = small(example_dir, "synthetic.toml", paths=3, years=2, weeks=2)
    path.write_text(
        path.read_text().replace("gpu_rent_trend = -0.1", 'power = "synthetic"\npower_years = 3')
    )
    problem = build_problem(load_decision(path))
    for p, t, w in ((0, 0, 1), (1, 1, 1), (2, 0, 0), (2, 1, 1)):
        doc = problem.block_doc(p, t, w)
        fast, scores = block_scenario(doc, problem.base_dir)
        full = build_scenario(doc, base_dir=problem.base_dir, source="<decision block>")
        assert fast.equals(full)
        a, b = lp_data(fast, scores), lp_data(full, score_scenario(full))
        for name in (
            "revenue_usd",
            "energy_mwh",
            "gpu_revenue_usd",
            "gpu_rent_usd",
            "price_usd_per_mwh",
        ):
            np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-12, atol=1e-9)


def test_cvar_is_the_mean_of_the_worst_tail():
    """NPVs -10, 0, 10, 20 with probability 1/4 each: the worst half averages -5; the worst
    40 % is all of -10 and 0.15 of 0: ``(0.25 * -10 + 0.15 * 0) / 0.4 = -6.25``."""
    from optimizer.decide.master import cvar, risk_objective

    v, p = np.array([10.0, -10.0, 20.0, 0.0]), np.full(4, 0.25)
    assert cvar(v, p, 0.5) == pytest.approx(-5.0)
    assert cvar(v, p, 0.6) == pytest.approx(-6.25)
    assert risk_objective(v, p, 0.5, 0.5) == pytest.approx(0.5 * 5.0 + 0.5 * -5.0)


def test_a_higher_risk_weight_buys_cvar_with_expected_npv(example_dir):
    """Along the frontier, expected NPV never rises and CVaR never falls with the weight."""
    problem = build_problem(load_decision(small(example_dir, "front.toml", years=1, paths=4)))
    from optimizer.decide.evaluate import frontier

    problem.decision.__dict__["frontier_weights"] = (0.0, 0.5, 1.0)  # frozen: set for the test
    points = frontier(problem, "lshaped", Runner(), None)
    e = [f["expected_npv_usd"] for f in points]
    c = [f["cvar_npv_usd"] for f in points]
    tol = 1e-6 * abs(e[0])
    assert e[0] >= e[1] - tol >= e[2] - 2 * tol
    assert c[0] <= c[1] + tol <= c[2] + 2 * tol
