"""CLI hygiene on real files: no silent overwrites, --json/--quiet, solver names checked first,
capacity warnings, plain progress lines off a terminal, fleet tags in machines.csv."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pulp
import pytest
from click.testing import CliRunner

from models.example import example_files
from optimizer.cli import main

HOURS = 48


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def site(runner, tmp_path) -> Path:
    """``hashpivot example`` written to disk, cut to two days."""
    assert runner.invoke(main, ["example", str(tmp_path / "site")]).exit_code == 0
    toml = tmp_path / "site" / "scenario.toml"
    toml.write_text(toml.read_text().replace("hours = 8760", f"hours = {HOURS}"))
    return toml


def test_example_refuses_to_overwrite_without_force(runner, site):
    edited = site.read_text()
    result = runner.invoke(main, ["example", str(site.parent)])
    assert result.exit_code == 2
    others = len(example_files()) - 1  # the example's series files beside scenario.toml
    assert (
        f"{site} already exists (and {others} more of its files); not overwritten" in result.output
    )
    assert "--force" in result.output and "Traceback" not in result.output
    assert site.read_text() == edited  # the edited scenario is untouched
    result = runner.invoke(main, ["example", str(site.parent), "--force"])
    assert result.exit_code == 0, result.output
    assert "hours = 8760" in site.read_text()


def test_study_example_refuses_to_overwrite_without_force(runner, tmp_path):
    assert runner.invoke(main, ["study", "--example", str(tmp_path)]).exit_code == 0
    (tmp_path / "study.toml").write_text("# mine\n")
    result = runner.invoke(main, ["study", "--example", str(tmp_path)])
    assert result.exit_code == 2
    assert f"{tmp_path / 'study.toml'} already exists (and 1 more" in result.output
    assert (tmp_path / "study.toml").read_text() == "# mine\n"
    result = runner.invoke(main, ["study", "--example", str(tmp_path), "--force"])
    assert result.exit_code == 0 and "[study]" in (tmp_path / "study.toml").read_text()


def test_plan_json_and_quiet(runner, site, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(main, ["plan", str(site), "--out", str(out), "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # no stage times, no file list
    printed = json.loads(result.stdout)  # stdout is the JSON and nothing else
    stored = json.loads((out / "summary.json").read_text())
    printed.pop("seconds"), stored.pop("seconds")
    assert printed == stored and printed["hours"] == HOURS
    plan_csv = pd.read_csv(out / "plan.csv")
    assert plan_csv["mining_mw"].sum() == pytest.approx(printed["mining_mwh"], rel=1e-6)
    # --json alone: stage times and the file list go to stderr, stdout stays JSON
    result = runner.invoke(main, ["plan", str(site), "--out", str(out), "--json"])
    assert json.loads(result.stdout)["margin_usd"] == pytest.approx(stored["margin_usd"])
    assert "solve" in result.stderr and "wrote plan.csv" in result.stderr
    # --quiet alone: nothing at all
    result = runner.invoke(main, ["plan", str(site), "--out", str(out), "--quiet"])
    assert result.exit_code == 0 and result.output == ""


def test_plan_files_are_replaced_together(runner, site, tmp_path):
    out = tmp_path / "out"
    assert runner.invoke(main, ["plan", str(site), "--out", str(out), "-q"]).exit_code == 0
    tables = {"plan.csv", "gpus.csv", "summary.json", "monthly.csv", "sites.csv"}
    charts = {"allocation.png", "duals.png", "monthly_pnl.png", "report.html"}
    assert {p.name for p in out.iterdir()} == tables | charts
    site.write_text(site.read_text().replace("btc_price_usd = 90000", "btc_price_usd = 40000"))
    args = ["plan", str(site), "--out", str(out), "-q", "--no-charts", "--class-hours"]
    assert runner.invoke(main, args).exit_code == 0
    # the charts of the first run are gone, classes.csv came in, no temporary files are left
    names = {p.name for p in out.iterdir()} | {p.name for p in tmp_path.iterdir()}
    assert {p.name for p in out.iterdir()} - {"report.html"} == tables | {"classes.csv"}
    assert not [n for n in names if n.startswith(".hashpivot-tmp-")]
    summary = json.loads((out / "summary.json").read_text())
    plan_csv = pd.read_csv(out / "plan.csv")  # the same run as summary.json
    assert plan_csv["mining_mw"].sum() == pytest.approx(summary["mining_mwh"], rel=1e-6)
    classes = pd.read_csv(out / "classes.csv")
    assert classes["revenue_usd"].sum() == pytest.approx(
        summary["revenue_mining_usd"] + summary["revenue_hosting_usd"] + summary["revenue_hpc_usd"]
        + summary["pass_through_usd"], rel=1e-6
    )  # fmt: skip


def test_solver_names_are_checked_before_anything_is_built(runner, tmp_path):
    missing = str(tmp_path / "no-such.toml")  # never read: the solver is checked first
    result = runner.invoke(main, ["plan", missing, "--out", str(tmp_path), "--solver", "simplx"])
    assert result.exit_code == 2
    assert (
        "unknown HiGHS solver 'simplx': expected one of choose, simplex, ipm, pdlp" in result.output
    )
    args = ["plan", missing, "--out", str(tmp_path), "--backend", "pulp", "--solver", "CBC"]
    result = runner.invoke(main, args)
    assert result.exit_code == 2 and "unknown PuLP solver 'CBC'" in result.output
    assert "PULP_CBC_CMD" in result.output and "GLPK_CMD" in result.output
    if "GUROBI" not in pulp.listSolvers(onlyAvailable=True):
        result = runner.invoke(main, [*args[:-1], "GUROBI"])
        assert result.exit_code == 2 and "'GUROBI' is not installed here" in result.output
    assert not list(tmp_path.iterdir())


def test_validate_and_plan_warn_about_capacity_that_can_never_run(runner, site, tmp_path):
    text = site.read_text()
    text = text.replace("mining_hall_mw = 100", "mining_hall_mw = 30")
    site.write_text(text.replace("convertible_mw = 60", "convertible_mw = 15"))
    result = runner.invoke(main, ["validate", str(site)])
    assert result.exit_code == 0 and result.output.rstrip().endswith("ok")
    assert "warning: odessa: the ASIC fleet (27,000 machines) draws at least" in result.output
    assert "but mining_hall_mw = 30.0 MW" in result.output
    assert "warning: odessa: GPU servers (tenant-h100, own-h100)" in result.output
    assert "existing_hpc_mw + convertible_mw = 15.0 MW" in result.output
    result = runner.invoke(main, ["plan", str(site), "--out", str(tmp_path / "out"), "-q"])
    assert result.exit_code == 0
    assert result.stdout == "" and result.stderr.count("warning: odessa:") == 2
    # the built-in example has none
    assert "warning" not in runner.invoke(main, ["validate"]).output


def test_study_progress_is_plain_lines_off_a_terminal(runner, site, tmp_path):
    study = tmp_path / "study.toml"
    study.write_text(
        f'[study]\nbase = "{site}"\n[axes]\nmarket.btc_price_usd = [60000, 90000, 120000]\n'
    )
    out = tmp_path / "results"
    result = runner.invoke(
        main, ["study", str(study), "--out", str(out), "--workers", "0", "--no-charts"]
    )
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("scenarios ")]
    assert [line.split(",")[0] for line in lines] == [
        "scenarios 1/3 (33%)", "scenarios 2/3 (67%)", "scenarios 3/3 (100%)"
    ]  # fmt: skip
    assert lines[-1].endswith("about 0 s left")


def test_score_keeps_fleet_file_tags_in_machines_csv(runner, site, tmp_path):
    pd.DataFrame(
        {
            "id": ["rig-1", "rig-2"],
            "site": ["odessa", "odessa"],
            "model": ["S19j Pro", "S19j Pro"],
            "hashrate_ths": [100.0, 98.5],
            "power_w": [3068.0, 3110.0],
            "rack": ["R07", "R08"],
            "serial": ["SN-1", "SN-2"],
        }
    ).to_csv(site.parent / "machines.csv", index=False)
    site.write_text(site.read_text() + '\n[[fleet]]\nfile = "machines.csv"\n')
    out = tmp_path / "scores"
    result = runner.invoke(main, ["score", str(site), "--out", str(out)])
    assert result.exit_code == 0, result.output
    m = pd.read_csv(out / "machines.csv", keep_default_na=False)
    assert list(m.columns[:5]) == ["machine_id", "site", "model", "rack", "serial"]
    rigs = m.set_index("machine_id").loc[["rig-1", "rig-2"]]
    assert rigs["rack"].tolist() == ["R07", "R08"] and rigs["serial"].tolist() == ["SN-1", "SN-2"]
    assert (m["rack"] == "").sum() == 27_000  # the example's grouped machines have no rack


def test_decide_example_refuses_to_overwrite_without_force(runner, tmp_path):
    assert runner.invoke(main, ["decide", "--example", str(tmp_path)]).exit_code == 0
    (tmp_path / "decision.toml").write_text("# mine\n")
    result = runner.invoke(main, ["decide", "--example", str(tmp_path)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"{tmp_path / 'decision.toml'} already exists" in result.output
    assert (tmp_path / "decision.toml").read_text() == "# mine\n"
    result = runner.invoke(main, ["decide", "--example", str(tmp_path), "--force"])
    assert result.exit_code == 0, result.output
    assert "[finance]" in (tmp_path / "decision.toml").read_text()
