"""Regressions of issue 14, one test per problem found by the reliability run: reports written
whole, every timestamp error named, unit slips and extreme numbers refused by field, operating
system errors as exit 2, files that follow the umask. Real files through the real CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from optimizer.accounting import COST_KEYS, REVENUE_KEYS
from optimizer.cli import main
from optimizer.report.example_files import write_example
from optimizer.report.files import TMP_PREFIX, staged_folder


@pytest.fixture
def site(tmp_path) -> Path:
    """The example as files, two days long (plans in well under a second)."""
    toml = write_example(tmp_path / "site")
    toml.write_text(toml.read_text().replace("hours = 8760", "hours = 48"))
    return toml


def cli(*args: str):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    return result


def edit(toml: Path, old: str, new: str) -> Path:
    text = toml.read_text()
    assert old in text, old
    toml.write_text(text.replace(old, new, 1))
    return toml


# ------------------------------------------------------------------ 2: reports written whole


def test_a_failed_report_leaves_the_previous_one_whole(site, tmp_path):
    out = tmp_path / "out"
    assert cli("plan", site, "--out", out, "--no-charts").exit_code == 0
    old_plan, old_summary = (out / "plan.csv").read_bytes(), (out / "summary.json").read_bytes()
    with pytest.raises(RuntimeError), staged_folder(out, marker="summary.json") as stage:
        (stage / "plan.csv").write_text("time,site\n")  # half of a new report, then a crash
        raise RuntimeError("killed mid-report")
    assert (out / "plan.csv").read_bytes() == old_plan
    assert (out / "summary.json").read_bytes() == old_summary
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(TMP_PREFIX)]


def test_a_new_plan_never_sits_next_to_an_old_summary(site, tmp_path):
    out = tmp_path / "out"
    assert cli("plan", site, "--out", out, "--no-charts", "--class-hours").exit_code == 0
    edit(site, "btc_price_usd = 90000", "btc_price_usd = 120000")
    (out / "duals.png").mkdir()  # a folder in the way of one report file: the move fails
    result = cli("plan", site, "--out", out)
    assert result.exit_code == 2 and "duals.png" in result.output
    assert not (out / "summary.json").exists()  # no summary: the folder says "incomplete"
    (out / "duals.png").rmdir()
    assert cli("plan", site, "--out", out, "--no-charts").exit_code == 0
    summary = json.loads((out / "summary.json").read_text())
    plan = pd.read_csv(out / "plan.csv")
    assert len(plan) == 48 and summary["margin_usd"] > 0
    assert not (out / "classes.csv").exists()  # the earlier run's extra file went with it


# ------------------------------------------------------------------ 3: timestamps


@pytest.mark.parametrize(
    ("line", "value", "expected"),
    [
        (5, "2026-01-01T04:00:00", "lacks a time zone"),
        (8, "2026/01/01 07:00", "'2026/01/01 07:00' is not an ISO 8601 timestamp"),
        (300, "2026-01-13T1", "'2026-01-13T1' is not an ISO 8601 timestamp"),
    ],
)
def test_every_timestamp_problem_names_file_row_and_value(site, line, value, expected):
    prices = site.parent / "prices.csv"
    lines = prices.read_text().splitlines()
    lines[line] = value + ("" if line == 300 else ",1.0")
    if line == 300:  # a CSV cut mid-line
        lines = lines[: line + 1]
    prices.write_text("\n".join(lines))
    result = cli("validate", site)
    assert result.exit_code == 2
    assert f"prices.csv row {line} (line {line + 1})" in result.output
    assert expected in result.output


def test_a_boolean_parquet_column_is_not_read_as_prices(site):
    frame = pd.read_csv(site.parent / "prices.csv")
    frame["price_usd_per_mwh"] = frame["price_usd_per_mwh"] > 0
    frame.to_parquet(site.parent / "prices.parquet")
    edit(site, 'file = "prices.csv"', 'file = "prices.parquet"')
    result = cli("validate", site)
    assert result.exit_code == 2
    assert "price_usd_per_mwh holds true/false values; expected numbers [USD/MWh]" in result.output


# ------------------------------------------------------------------ 4, 5, 6: refused inputs


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "block_mw = 60",
            "block_mw = 60000",
            "block_mw: 60,000 MW (hour 0) exceeds the interconnect of site 'odessa' (100 MW): kW",
        ),
        ("block_mw = 60", "block_mw = 400", "exceeds the interconnect of site 'odessa'"),
        ("convertible_mw = 60", "convertible_mw = 60\nexisting_hpc_mw = 20000", "existing_hpc"),
        (
            'model = "H100 x8"\nmax_servers = 200',
            'model = "x"\npower_kw = 0.01\nit_kw = 0.01\nmax_servers = 200',
            "a 10 W server",
        ),
        ("max_servers = 200", "max_servers = 200\nit_kw = 12", "expected it_kw <= power_kw"),
        ("availability = 0.97", "availability = 0.97\nt_max_c = 20", "expected t_max_c > t_ref_c"),
        (
            "[classes]\nefficiency_bands_j_per_th = [5, 16, 20, 25, 30, 200]",
            "",
            "classes: expected a table",
        ),
        ("height = 925000", "height = 1e20", "height"),
        ("count = 8000", "count = 1e8", "fleet[0].count: expected a whole number <= 2,000,000"),
        ("blocks_per_hour = 6.0", "blocks_per_hour = 1e30", "blocks_per_hour: expected a number"),
        ("btc_price_usd = 90000", "btc_price_usd = 1e308", "btc_price_usd: value 1e+308"),
        (
            "conversion_life_years = 10",
            "conversion_life_years = 1e-300",
            "conversion_life_years: expected a number >= 0.1",
        ),
    ],
)
def test_unit_slips_and_extreme_numbers_are_refused_by_field(site, old, new, expected):
    edit(site, old, new)
    if "classes" in expected:  # a top-level key must come before the first table
        site.write_text("classes = [1, 2]\n" + site.read_text())
    for command in (("validate", site), ("plan", site, "--out", site.parent / "out")):
        result = cli(*command)
        assert result.exit_code == 2, result.output
        assert expected in result.output, result.output


@pytest.mark.parametrize("price", [999_999.0, 1e12])
def test_one_price_hour_beyond_the_bound_is_refused_unless_raised(site, price):
    prices = site.parent / "prices.csv"
    frame = pd.read_csv(prices)
    frame.loc[10, "price_usd_per_mwh"] = price
    frame.to_csv(prices, index=False)
    result = cli("plan", site, "--out", site.parent / "out")
    assert result.exit_code == 2
    assert "price_usd_per_mwh: value" in result.output and "2026-01-01T10:00Z" in result.output
    assert "expected <= 100000 [USD/MWh]" in result.output
    # the documented field raises the bound (to at most 1,000,000 USD/MWh)
    edit(site, 'name = "odessa"', 'name = "odessa"\nprice_limit_usd_per_mwh = 1_000_000')
    result = cli("validate", site)
    assert (result.exit_code == 0) == (price <= 1_000_000), result.output


def test_os_errors_are_clean_exit_2_naming_the_path(site, tmp_path):
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("not a folder")
    result = cli("plan", site, "--out", in_the_way, "--no-charts")  # click refuses it
    assert result.exit_code == 2 and f"'{in_the_way}' is a file" in result.output
    result = cli("plan", site, "--out", in_the_way / "sub", "--no-charts")  # under a file
    assert result.exit_code == 2 and "a file is in the way" in result.output
    assert str(in_the_way) in result.output
    long_name = tmp_path / ("x" * 300)
    result = cli("plan", site, "--out", long_name, "--no-charts")
    assert result.exit_code == 2 and "too long" in result.output
    latin = tmp_path / "latin.toml"
    latin.write_bytes(site.read_text().replace("west-texas", "caf\u00e9").encode("latin-1"))
    result = cli("validate", latin)
    assert result.exit_code == 2 and "not UTF-8" in result.output and "latin.toml" in result.output
    study = tmp_path / "study.toml"
    study.write_text(f'[study]\nbase = "{site}"\n[overrides]\n"scenario.hours" = 24\n')
    result = cli("study", study, "--out", in_the_way / "sub", "--workers", "0", "--no-charts")
    assert result.exit_code == 2 and "a file is in the way" in result.output


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_out_is_exit_2(site, tmp_path):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o500)
    try:
        result = cli("plan", site, "--out", out / "plan", "--no-charts")
        assert result.exit_code == 2 and "permission denied" in result.output
    finally:
        out.chmod(0o700)


# ------------------------------------------------------------------ 7: files follow the umask


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_output_files_follow_the_umask(site, tmp_path, umask):
    previous = os.umask(umask)
    try:
        assert cli("plan", site, "--out", tmp_path / "out", "--no-charts").exit_code == 0
        assert cli("score", site, "--out", tmp_path / "scores").exit_code == 0
    finally:
        os.umask(previous)
    files = [*(tmp_path / "out").iterdir(), *(tmp_path / "scores").iterdir()]
    assert len(files) >= 5
    for path in files:
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask, path.name


def check_plan_files(out: Path, hours: int, sites: int) -> float:
    """The output checks of the fuzz test: a finite margin equal to the sum of its parts, one
    plan.csv row per site-hour. Returns the margin [USD]."""
    summary = json.loads((out / "summary.json").read_text())
    plan = pd.read_csv(out / "plan.csv")
    margin = summary["margin_usd"]
    assert margin is not None and np.isfinite(margin)
    parts = sum(summary[k] for k in REVENUE_KEYS) - sum(summary[k] for k in COST_KEYS)
    scale = max(1.0, sum(abs(summary[k]) for k in (*REVENUE_KEYS, *COST_KEYS)))
    assert margin == pytest.approx(parts, rel=0, abs=1e-9 * scale)
    assert len(plan) == hours * sites
    assert not plan.duplicated(["site", "time"]).any()
    return margin


def test_plan_output_is_one_row_per_site_hour_with_exact_accounting(site, tmp_path):
    assert cli("plan", site, "--out", tmp_path / "out", "--no-charts").exit_code == 0
    assert check_plan_files(tmp_path / "out", 48, 1) > 0
