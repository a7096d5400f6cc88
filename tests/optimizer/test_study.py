"""Studies: study files -> scenario documents -> kernel + LP in workers -> stored, resumable rows,
tipping points and Monte Carlo risk. Real parts throughout (kernel, LP, process pools, Parquet)."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from kernels.bitcoin import btc_per_th_hour, difficulty_from_hashrate_ehs
from kernels.paths import simulate_paths
from models import ScenarioError, build_scenario
from models.catalog import PUE
from optimizer.api import run_study
from optimizer.cli import main
from optimizer.report import files as report_files
from optimizer.report import result_store
from optimizer.report.example_files import write_example_study
from optimizer.study import regimes
from optimizer.study.definition import parse_study, read_study
from optimizer.study.worker import run_scenario

REPO = Path(__file__).resolve().parents[2]

# One site, one ASIC class (1000 x S21 at 200 TH/s, 3.5 kW) and one cloud GPU class, constant
# price and weather: every hour is the same, so the LP's choice can be written down by hand.
TINY = """\
[scenario]
name = "tiny"
start = "2026-01-01T00:00:00Z"
hours = 48

[market]
btc_price_usd = 90000
network_hashrate_ehs = 1000
fees_btc_per_block = 0.0
height = 900000

[[sites]]
name = "alpha"
interconnect_mw = 10
mining_hall_mw = 1
convertible_mw = 1
conversion_usd_per_mw = 8_760_000
conversion_life_years = 10
price_usd_per_mwh = 20
temp_c = 10

[[fleet]]
site = "alpha"
model = "S21"
count = 1000
hashrate_ths = 200
power_kw = 3.5
availability = 1.0

[[gpus]]
name = "cloud"
site = "alpha"
model = "H100 x8"
max_servers = 200
pricing = "cloud"
rate_usd_per_gpu_hour = 0.25
utilization = 1.0
service = "interruptible"
"""

# The same site with a firm colocation lease (for infeasibility) and curtailment orders that
# leave 0.2 MW of import in every hour.
TINY_LEASE = (
    TINY.replace("temp_c = 10", "temp_c = 10\ncurtailment_mw = 9.8")
    + """
[[gpus]]
name = "tenant"
site = "alpha"
model = "H100 x8"
max_servers = 100
pricing = "colocation"
lease_usd_per_kw_month = 150
service = "firm"

[[leases]]
name = "tenant"
site = "alpha"
gpus = ["tenant"]
min_mw = 0
max_mw = 1
sla_penalty_usd_per_mwh = 300
allow_shortfall = false
"""
)


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text)
    return path


@pytest.fixture
def tiny(tmp_path) -> Path:
    return write(tmp_path, "tiny.toml", TINY)


def study_of(tmp_path: Path, body: str, base: str = "tiny.toml"):
    if base == "tiny.toml" and not (tmp_path / base).exists():
        write(tmp_path, base, TINY)
    return read_study(write(tmp_path, "study.toml", f'[study]\nbase = "{base}"\n{body}'))


def field(doc, path):
    node = doc
    for part in path.split("."):
        if isinstance(node, list):
            node = next(t for t in node if t.get("name") == part)
        else:
            node = node[part]
    return node


# ------------------------------------------------------------------------------ expansion


def test_grid_3x2_gives_6_documents_with_the_values(tmp_path):
    study = study_of(
        tmp_path,
        """
[axes]
market.btc_price_usd = [60000, 80000, 100000]
sites.alpha.price_scale = [0.8, 1.2]
""",
    )
    combos = study.combinations()
    assert len(study) == len(combos) == 6
    assert study.scenario_ids() == [f"s{i:04d}" for i in range(6)]
    docs = [study.scenario_doc(c) for c in combos]
    got = [(field(d, "market.btc_price_usd"), field(d, "sites.alpha.price_scale")) for d in docs]
    # grid order: last axis fastest
    assert got == [
        (60000, 0.8),
        (60000, 1.2),
        (80000, 0.8),
        (80000, 1.2),
        (100000, 0.8),
        (100000, 1.2),
    ]
    # the base document is untouched and every document builds
    assert field(study.base_doc, "market.btc_price_usd") == 90000
    s = build_scenario(docs[5])
    np.testing.assert_allclose(s.sites[0].price_usd_per_mwh, 20 * 1.2)
    np.testing.assert_allclose(s.market.btc_price_usd, 100000)


def test_zip_pairs_the_ith_values_and_rejects_unequal_lengths(tmp_path):
    study = study_of(
        tmp_path,
        """combine = "zip"
[axes]
market.btc_price_usd = [60000, 80000, 100000]
market.fees_btc_per_block = [0.01, 0.02, 0.03]
""",
    )
    assert len(study) == 3
    docs = [study.scenario_doc(c) for c in study.combinations()]
    pairs = [
        (field(d, "market.btc_price_usd"), field(d, "market.fees_btc_per_block")) for d in docs
    ]
    assert pairs == [(60000, 0.01), (80000, 0.02), (100000, 0.03)]
    with pytest.raises(
        ScenarioError, match=r"market.btc_price_usd \(3\), market.fees_btc_per_block \(2\)"
    ):
        study_of(
            tmp_path,
            """combine = "zip"
[axes]
market.btc_price_usd = [60000, 80000, 100000]
market.fees_btc_per_block = [0.01, 0.02]
""",
        )


def test_samples_are_seeded_and_within_their_ranges(tmp_path):
    body = """
[axes]
market.btc_price_usd = { uniform = [50000, 120000], n = 7, seed = 3 }
market.fees_btc_per_block = { loguniform = [0.001, 1.0], n = 5, seed = 4 }
"""
    a, b = study_of(tmp_path, body), study_of(tmp_path, body)
    price, fees = a.axes
    assert price.values == b.axes[0].values and fees.values == b.axes[1].values
    # the draws are numpy's for that seed: uniform on [low, high), log-uniform in log space
    np.testing.assert_array_equal(price.values, np.random.default_rng(3).uniform(50000, 120000, 7))
    np.testing.assert_allclose(
        fees.values, np.exp(np.random.default_rng(4).uniform(np.log(0.001), 0.0, 5)), rtol=1e-15
    )
    assert all(50000 <= v < 120000 for v in price.values)
    assert all(0.001 <= v < 1.0 for v in fees.values)
    assert len(a) == 35
    other = study_of(tmp_path, body.replace("seed = 3", "seed = 9"))
    assert other.axes[0].values != price.values and other.hash != a.hash
    # without a seed, two axes get different draws (seeded by study seed and path)
    unseeded = study_of(
        tmp_path,
        """
[axes]
market.btc_price_usd = { uniform = [0.0, 1.0], n = 4 }
sites.alpha.price_scale = { uniform = [0.0, 1.0], n = 4 }
""",
    )
    assert unseeded.axes[0].values != unseeded.axes[1].values


def test_factors_multiply_the_base_value_and_overrides_apply_everywhere(tmp_path):
    study = study_of(
        tmp_path,
        """
[overrides]
scenario.hours = 24
market.fees_btc_per_block = 0.04
[axes]
market.fees_btc_per_block = { factors = [0.5, 2.0] }
sites.alpha.interconnect_mw = [5, 10]
""",
    )
    docs = [study.scenario_doc(c) for c in study.combinations()]
    # factors multiply the overridden base: 0.04 x 0.5 and 0.04 x 2
    assert [field(d, "market.fees_btc_per_block") for d in docs] == [0.02, 0.02, 0.08, 0.08]
    assert all(field(d, "scenario.hours") == 24 for d in docs)
    assert [field(d, "sites.alpha.interconnect_mw") for d in docs] == [5, 10, 5, 10]


def test_monte_carlo_documents_carry_the_simulated_paths(tmp_path):
    study = study_of(
        tmp_path,
        """
[overrides]
scenario.hours = 72
[axes]
market.btc_price_usd = [60000, 90000]
[monte_carlo]
paths = 4
seed = 11
mu = 0.1
sigma = 0.6
hashrate_drift = 0.3
hashrate_vol = 0.2
fee_vol = 0.4
""",
    )
    assert len(study) == 8 and study.axis_paths[-1] == "path"
    combos = study.combinations()
    expected = simulate_paths(
        4,
        72,
        btc_price_usd=90000.0,
        mu=0.1,
        sigma=0.6,
        hashrate_ehs=1000.0,
        hashrate_drift=0.3,
        hashrate_vol=0.2,
        difficulty=float(difficulty_from_hashrate_ehs(1000.0)),
        height=900000,
        fees_btc_per_block=0.0,
        fee_vol=0.4,
        seed=11,
    )
    c = combos[4 + 2]  # btc 90000, path 2
    assert c == {"market.btc_price_usd": 90000, "path": 2}
    market = study.scenario_doc(c)["market"]
    assert "network_hashrate_ehs" not in market
    np.testing.assert_array_equal(market["btc_price_usd"], expected.btc_price_usd[2])
    np.testing.assert_array_equal(market["difficulty"], expected.difficulty[2])
    np.testing.assert_array_equal(market["fees_btc_per_block"], expected.fees_btc_per_block[2])
    np.testing.assert_array_equal(market["height"], expected.height[2])
    assert market["btc_price_usd"][0] == 90000.0  # index 0 is the start state
    # the path starts from the scenario's own price: 60000 scales the same shocks
    low = study.scenario_doc(combos[2])["market"]["btc_price_usd"]
    np.testing.assert_allclose(low, expected.btc_price_usd[2] * 60000 / 90000, rtol=1e-12)
    s = build_scenario(study.scenario_doc(c))
    np.testing.assert_array_equal(s.market.height, expected.height[2])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('combin = "grid"', "study.combin: unknown key 'combin'; did you mean 'combine'?"),
        ('combine = "cross"', "unknown value 'cross'"),
        ("[axes]\nmarket.btc_prize_usd = [1, 2]", "did you mean 'btc_price_usd'?"),
        ("[axes]\nsites.alfa.price_scale = [1, 2]", "did you mean 'alpha'?"),
        ("[axes]\nsites.alpha.price_scael = [1, 2]", "did you mean 'price_scale'?"),
        ("[axes]\nmarkt.btc_price_usd = [1, 2]", "did you mean 'market'?"),
        (
            "[axes]\nmarket.btc_price_usd = { unifrom = [1, 2], n = 3 }",
            "unknown key 'unifrom'; did you mean 'uniform'?",
        ),
        ("[axes]\nmarket.btc_price_usd = { uniform = [2, 1], n = 3 }", "low < high"),
        ("[axes]\nmarket.btc_price_usd = 5", "expected a list of values"),
        ("[axes]\nmarket.btc_price_usd = []", "non-empty list"),
        ("[overrides]\nscenario.hourz = 5", "did you mean 'hours'?"),
        (
            "[axes]\nmarket.btc_price_usd = [1]\n[monte_carlo]\npaths = 2",
            "missing required field 'sigma'",
        ),
        ("[axe]\nx = 1", "unknown key 'axe'; did you mean 'axes'?"),
    ],
)
def test_invalid_study_files_name_the_field(tmp_path, body, message):
    with pytest.raises(ScenarioError) as err:
        study_of(tmp_path, body)
    assert "study.toml" in str(err.value)
    assert message in str(err.value)


def test_bad_base_and_synthetic_factors_are_rejected(tmp_path):
    with pytest.raises(ScenarioError, match="base scenario not found"):
        study_of(tmp_path, "", base="nope.toml")
    with pytest.raises(ScenarioError, match="unknown built-in scenario"):
        study_of(tmp_path, "", base="builtin:exampel")
    with pytest.raises(ScenarioError, match="synthetic series"):
        study_of(
            tmp_path,
            "[axes]\nsites.odessa.price_usd_per_mwh = { factors = [0.9, 1.1] }",
            base="builtin:example",
        )


def test_example_study_files_parse_and_stay_small(tmp_path):
    grid, mc = write_example_study(tmp_path)
    g, m = read_study(grid), read_study(mc)
    assert len(g) == 18 and g.base_doc["scenario"]["hours"] == 2184
    assert len(m) == 16 and m.monte_carlo.sigma == 0.55
    # the commented-out axes parse too when switched on
    text = (
        grid.read_text()
        .replace("# market.fees", "market.fees")
        .replace("# market.network", "market.network")
    )
    assert len(parse_study(tomllib.loads(text), source=str(grid))) == 18 * 2 * 4


# ------------------------------------------------------------------------------ storage


def test_store_refuses_another_study_and_adopts_parts_the_manifest_missed(tmp_path, tiny):
    study = study_of(tmp_path, "[axes]\nmarket.btc_price_usd = [60000, 80000]")
    out = tmp_path / "out"
    store = result_store.ResultStore.open(out, study, study.scenario_ids(), resume=False)
    store.add({"scenario_id": "s0000", "status": "optimal", "error": "", "margin_usd": 1.0})
    store.flush()
    store.release()
    # a part written just before a kill, which the manifest never named
    pd.DataFrame(
        [{"scenario_id": "s0001", "status": "optimal", "error": "", "margin_usd": 2.0}]
    ).to_parquet(out / "part-00007.parquet")
    (out / ".hashpivot-tmp-part-00008.parquet.123.tmp").write_bytes(b"half a file")
    (out / ".notes.tmp").write_text("the user's own file")  # not ours: resume keeps it
    with pytest.raises(ScenarioError, match="--resume"):
        result_store.ResultStore.open(out, study, study.scenario_ids(), resume=False)
    other = study_of(tmp_path, "[axes]\nmarket.btc_price_usd = [60000, 80001]")
    with pytest.raises(ScenarioError, match="different study"):
        result_store.ResultStore.open(out, other, other.scenario_ids(), resume=True)
    again = result_store.ResultStore.open(out, study, study.scenario_ids(), resume=True)
    assert again.done_ids() == {"s0000", "s0001"}
    assert [p.name for p in out.glob(".*.tmp")] == [".notes.tmp"]
    again.release()
    assert again.read()["margin_usd"].tolist() == [1.0, 2.0]
    manifest = result_store.read_manifest(out)
    assert manifest["complete"] and manifest["study_hash"] == study.hash


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "a.json"
    report_files.write_json(path, {"n": 1})

    def boom(tmp):
        tmp.write_text("partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        report_files.atomic_write(path, boom)
    assert json.loads(path.read_text()) == {"n": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


# ------------------------------------------------------------------------------ running


def hand_breakeven_btc_price_usd() -> float:
    """BTC price below which converting the tiny site's hall to HPC pays, from the formulas.

    Per MW of hall and hour, HPC earns ``8 GPUs x 0.25 $/GPU-h / Eg`` with
    ``Eg = 10.2 kW x PUE_liquid / 1000`` MWh per server, less the conversion cost
    ``cy = 8.76e6 $/MW / (10 y x 8760 h)`` = 100 $/MW-h; mining earns
    ``200 TH/s x b x P / (3.5 kW x PUE_air / 1000)`` per MWh. Both pay the same spot price per
    MWh, so conversion pays iff mining revenue per MWh < HPC revenue per MWh - cy.
    """
    difficulty = 1000e18 * 600 / 2**32  # 1000 EH/s
    b = 1e12 * 3600 / (difficulty * 2**32) * 3.125  # BTC per TH/s-hour, subsidy 3.125, no fees
    assert b == pytest.approx(btc_per_th_hour(difficulty, 0.0, 900000), rel=1e-12)
    pue_air, pue_liquid = PUE["air"].pue0, PUE["liquid"].pue0  # 10 C: below both references
    hpc_usd_per_mwh = 8 * 0.25 / (10.2 * pue_liquid / 1000)
    cy = 8_760_000 / (10 * 8760)
    mining_usd_per_mwh_per_usd = 200 * b / (3.5 * pue_air / 1000)
    return (hpc_usd_per_mwh - cy) / mining_usd_per_mwh_per_usd


def test_tipping_point_is_refined_to_the_hand_derived_btc_price(tmp_path):
    price_star = hand_breakeven_btc_price_usd()
    assert 70000 < price_star < 80000  # ~72,167 USD
    study = study_of(tmp_path, "[axes]\nmarket.btc_price_usd = [50000, 60000, 70000, 80000, 90000]")
    run = run_study(study, tmp_path / "out", workers=0, charts=False)
    grid = run.tipping
    assert len(grid) == 1
    t = grid.iloc[0]
    assert (t.value_lo, t.value_hi) == (70000, 80000)
    assert (t.hpc_mw_converted_lo, t.hpc_mw_converted_hi) == pytest.approx((1.0, 0.0), abs=1e-6)
    assert (t.mining_share_lo, t.mining_share_hi) == pytest.approx((0.0, 1.0), abs=1e-6)
    # refine on the same results: bisection to a 5 USD bracket around the breakpoint
    run = run_study(
        study,
        tmp_path / "out",
        workers=0,
        resume=True,
        refine="market.btc_price_usd",
        tolerance=5.0,
        charts=False,
    )
    assert run.skipped == 5 and 10 <= run.ran <= 12  # log2(10000 / 5) = 11 bisections
    t = run.tipping.iloc[0]
    assert t.value_lo <= price_star <= t.value_hi and t.width <= 5.0
    assert t.tipping_value == pytest.approx(price_star, abs=2.5)
    frame = result_store.read_results(tmp_path / "out")
    assert (frame["origin"] == "refine:market.btc_price_usd").sum() == run.ran
    # both sides of the refined bracket are the two regimes
    lo = frame[frame["market.btc_price_usd"] == t.value_lo].iloc[0]
    hi = frame[frame["market.btc_price_usd"] == t.value_hi].iloc[0]
    assert lo.hpc_mw_converted == pytest.approx(1.0) and hi.hpc_mw_converted == pytest.approx(0.0)


def test_failing_scenarios_are_rows_and_the_study_exits_0(tmp_path):
    write(tmp_path, "lease.toml", TINY_LEASE)
    # 0.5 MW firm IT x PUE 1.12 = 0.56 MW > the 0.2 MW import left by curtailment: infeasible
    # without shortfall; a negative BTC price is bad input.
    study = write(
        tmp_path,
        "study.toml",
        """[study]
base = "lease.toml"
[axes]
market.btc_price_usd = [-1, 90000]
leases.tenant.min_mw = [0.0, 0.5]
""",
    )
    result = CliRunner().invoke(
        main, ["study", str(study), "--out", str(tmp_path / "out"), "--workers", "0"]
    )
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert frame["scenario_id"].tolist() == ["s0000", "s0001", "s0002", "s0003"]
    assert frame["status"].tolist() == ["bad_input", "bad_input", "optimal", "infeasible"]
    bad = frame.iloc[0]
    assert "<study.toml scenario s0000>" in bad.error and "btc_price_usd" in bad.error
    assert "market.btc_price_usd: value -1" in bad.error
    assert "tenant" in frame.iloc[3].error
    assert math.isnan(frame.iloc[3].margin_usd) and frame.iloc[2].margin_usd > 0
    assert "3 failed" in result.output


def test_a_bad_axis_value_becomes_a_row_naming_the_scenario(tmp_path):
    study = study_of(tmp_path, "[axes]\nsites.alpha.interconnect_mw = [-5]")
    row = run_scenario(study.task("s0000", study.combinations()[0]))
    assert row["status"] == "bad_input" and row["sites.alpha.interconnect_mw"] == -5
    assert "scenario s0000" in row["error"] and "interconnect_mw" in row["error"]
    assert math.isnan(row["margin_usd"]) and row["worker_pid"] == os.getpid()
    # a Monte Carlo path cannot start from an hourly series: the row says so, naming the scenario
    study = study_of(
        tmp_path,
        "[axes]\nmarket.fees_btc_per_block = [0.01, [0.0, 0.1]]\n"
        "[monte_carlo]\npaths = 2\nsigma = 0.5",
    )
    assert len(study) == 4
    row = run_scenario(study.task("s0002", study.combinations()[2]))
    assert row["status"] == "bad_input" and row["path"] == 0
    assert row["error"].startswith("<study.toml scenario s0002>: ")
    assert "constant market.fees_btc_per_block" in row["error"]
    assert row["market.fees_btc_per_block"] == "[0.0, 0.1]"  # a list value as JSON text


SLOW_STUDY = """[study]
base = "tiny.toml"
[overrides]
scenario.hours = 336
[axes]
market.btc_price_usd = [50000, 60000, 70000, 75000, 80000, 90000]
sites.alpha.price_scale = [0.5, 0.8, 1.0, 1.2, 1.5, 2.0, 3.0, 4.0]
"""

NUMBERS = ["margin_usd", "hpc_mw_converted", "mining_mwh", "hpc_mwh", "status"]


def test_local_pool_gives_the_same_rows_as_in_process(tmp_path, tiny):
    study = read_study(write(tmp_path, "study.toml", SLOW_STUDY.replace("336", "48")))
    a = run_study(study, tmp_path / "a", workers=0, charts=False)
    b = run_study(study, tmp_path / "b", workers=2, charts=True)
    fa, fb = result_store.read_results(a.out), result_store.read_results(b.out)
    assert len(fa) == len(fb) == 48 and (fa["status"] == "optimal").all()
    pd.testing.assert_frame_equal(fa[["scenario_id", *NUMBERS]], fb[["scenario_id", *NUMBERS]])
    assert fb["worker_pid"].nunique() == 2 and os.getpid() not in set(fb["worker_pid"])
    assert (b.out / "axes.png").stat().st_size > 10_000
    summary = pd.read_csv(b.out / "summary.csv")
    assert summary["scenario_id"].is_monotonic_increasing and len(summary) == 48


def test_killed_study_resumes_without_recomputing_finished_scenarios(tmp_path, tiny):
    study_path = write(tmp_path, "study.toml", SLOW_STUDY)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "optimizer",
            "study",
            str(study_path),
            "--out",
            str(out),
            "--workers",
            "1",
            "--no-charts",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: the kill takes the workers too
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if result_store.read_manifest(out)["parts"]:
                    break
            except (OSError, ValueError):
                pass
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        proc.stderr.close()
    manifest = result_store.read_manifest(out)
    before = result_store.read_results(out).set_index("scenario_id")
    assert 0 < len(before) < 48 and not manifest["complete"]
    assert set(before.index) == set(manifest["done_ids"])

    result = CliRunner().invoke(
        main,
        ["study", str(study_path), "--out", str(out), "--workers", "2", "--resume", "--no-charts"],
    )
    assert result.exit_code == 0, result.output
    assert f"({len(before)} already done), {48 - len(before)} run now" in result.output
    after = result_store.read_results(out).set_index("scenario_id")
    assert len(after) == 48 and result_store.read_manifest(out)["complete"]
    # finished rows were not recomputed: same worker pid and finish time
    kept = after.loc[before.index]
    assert (kept["worker_pid"] == before["worker_pid"]).all()
    assert (kept["finished_unix"] == before["finished_unix"]).all()
    # and the whole matches an uninterrupted run
    fresh = run_study(read_study(study_path), tmp_path / "fresh", workers=0, charts=False)
    ref = result_store.read_results(fresh.out).set_index("scenario_id")
    pd.testing.assert_frame_equal(after[NUMBERS], ref[NUMBERS], rtol=1e-9)


def test_ctrl_c_saves_finished_rows_and_exits_130(tmp_path, tiny):
    study_path = write(tmp_path, "study.toml", SLOW_STUDY)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "optimizer",
            "study",
            str(study_path),
            "--out",
            str(out),
            "--workers",
            "2",
            "--no-charts",
        ],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if result_store.read_manifest(out)["parts"]:
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C sends to the foreground group
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted: finished scenarios are saved" in err and "--resume" in err
    assert "Traceback" not in err and "leaked" not in err
    manifest = result_store.read_manifest(out)
    rows = result_store.read_results(out)
    assert 0 < len(rows) < 48 and not manifest["complete"]
    assert sorted(rows["scenario_id"]) == manifest["done_ids"]
    assert (rows["status"] == "optimal").all()


def test_monte_carlo_risk_is_the_quantiles_of_the_path_margins(tmp_path, tiny):
    study = study_of(
        tmp_path,
        """
[monte_carlo]
paths = 12
seed = 5
sigma = 1.5
""",
    )
    run = run_study(study, tmp_path / "out", workers=0)
    frame = result_store.read_results(run.out)
    margin = frame["margin_usd"].to_numpy()
    assert len(margin) == 12 and frame["path"].tolist() == list(range(12))
    risk = json.loads((run.out / "risk.json").read_text())
    p10, p50, p90 = np.percentile(margin, [10, 50, 90])
    assert risk["margin_usd"]["p10"] == pytest.approx(p10)
    assert risk["margin_usd"]["p50"] == pytest.approx(p50)
    assert risk["margin_usd"]["p90"] == pytest.approx(p90)
    assert risk["probability_margin_negative"] == pytest.approx(np.mean(margin < 0))
    # each path's own BTC price series went into its scenario
    paths = simulate_paths(
        12,
        48,
        btc_price_usd=90000.0,
        mu=0.0,
        sigma=1.5,
        hashrate_ehs=1000.0,
        hashrate_drift=0.0,
        hashrate_vol=0.0,
        difficulty=float(difficulty_from_hashrate_ehs(1000.0)),
        height=900000,
        fees_btc_per_block=0.0,
        seed=5,
    )
    np.testing.assert_allclose(frame["btc_price_end_usd"], paths.btc_price_usd[:, -1], rtol=1e-12)
    assert (run.out / "monte_carlo.png").stat().st_size > 10_000
    assert regimes.risk_summary(frame)["ok"] == 12


def test_example_command_writes_the_studies(tmp_path):
    result = CliRunner().invoke(main, ["study", "--example", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["monte_carlo.toml", "study.toml"]
    result = CliRunner().invoke(main, ["study", str(tmp_path / "study.toml")])
    assert result.exit_code == 2 and "--out" in result.output
    result = CliRunner().invoke(
        main,
        [
            "study",
            str(tmp_path / "study.toml"),
            "--out",
            str(tmp_path / "o"),
            "--refine",
            "market.btc_prise_usd",
        ],
    )
    assert result.exit_code == 2 and "did you mean 'market.btc_price_usd'?" in result.output


def test_regimes_ignore_lp_noise_and_other_axes_refinement_points():
    r = regimes.Regime
    # 0.1 MW or 1 % of the larger, whichever is larger
    assert r(36.2, "mixed").changes(r(36.25, "mixed")) == []
    assert r(40.0, "mixed").changes(r(40.3, "mixed")) == []  # 0.3 < 1 % of 40.3
    assert r(40.0, "mixed").changes(r(40.5, "mixed")) == ["hpc_mw_converted"]
    assert r(0.0, "mining").changes(r(0.5, "mixed")) == ["hpc_mw_converted", "mining_share"]
    assert regimes.share_band(100.0, 0.05) == "mining" and regimes.share_band(0.0, 0.0) == "idle"

    def row(sid, origin, x, y, mw):
        return {"scenario_id": sid, "origin": origin, "x": x, "y": y, "status": "optimal",
                "error": "", "margin_usd": 1.0, "hpc_mw_converted": mw, "mining_mwh": 10.0,
                "hpc_mwh": 10.0 if mw else 0.0}  # fmt: skip

    frame = pd.DataFrame(
        [
            row("s0", "study", 1.0, 0.0, 0.0),
            row("s1", "study", 2.0, 0.0, 5.0),
            row("s2", "study", 1.0, 1.0, 0.0),
            row("s3", "study", 2.0, 1.0, 0.0),
            row("r1", "refine:x", 1.5, 0.0, 5.0),  # narrows x's bracket at y = 0
        ]
    )
    (b,) = regimes.brackets(frame, "x", ["x", "y"])
    assert (b.group, b.lo, b.hi) == ({"y": 0.0}, 1.0, 1.5)
    # along y, r1 (x = 1.5) has no partner at y = 1: only the grid pair at x = 2 counts
    (b,) = regimes.brackets(frame, "y", ["x", "y"])
    assert (b.group, b.lo, b.hi) == ({"x": 2.0}, 0.0, 1.0)
    assert b.changed == ("hpc_mw_converted", "mining_share")  # 5 -> 0 MW, mixed -> mining
