"""The CLI: every command has help, errors exit with the documented code and no traceback."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from optimizer.cli import main


@pytest.fixture
def runner():
    return CliRunner()


def test_version(runner):
    result = runner.invoke(main, ["--version"])
    assert result.exit_code == 0 and "hashpivot" in result.output


def test_every_command_has_help_with_an_example(runner):
    for name, command in main.commands.items():
        result = runner.invoke(main, [name, "--help"])
        assert result.exit_code == 0, name
        assert "Example" in result.output, f"{name} --help has no example block"
        assert command.help


def test_example_then_validate(runner, tmp_path):
    result = runner.invoke(main, ["example", str(tmp_path / "site")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["validate", str(tmp_path / "site" / "scenario.toml")])
    assert result.exit_code == 0, result.output
    assert "odessa" in result.output and "8760 hours" in result.output
    assert "27,000 machines in 5 classes" in result.output


def test_validate_names_file_and_row_of_a_nan(runner, tmp_path):
    runner.invoke(main, ["example", str(tmp_path)])
    prices = pd.read_csv(tmp_path / "prices.csv")
    prices.loc[41, "price_usd_per_mwh"] = np.nan  # data row 42
    prices.to_csv(tmp_path / "prices.csv", index=False)
    result = runner.invoke(main, ["validate", str(tmp_path / "scenario.toml")])
    assert result.exit_code == 2
    assert "prices.csv row 42 (line 43, time 2026-01-02T17:00Z)" in result.output
    assert "price_usd_per_mwh is NaN" in result.output
    assert ("Traceback" not in result.output and result.exception is None) or isinstance(
        result.exception, SystemExit
    )


def test_validate_missing_file_exits_2(runner, tmp_path):
    result = runner.invoke(main, ["validate", str(tmp_path / "nope.toml")])
    assert result.exit_code == 2 and "scenario file not found" in result.output


def test_hashprice_json_matches_hand_computation(runner):
    # difficulty 1.5e14, $100,000, 0.03 BTC fees, height 900,000 (subsidy 3.125)
    result = runner.invoke(
        main,
        [
            "hashprice",
            "--price",
            "100000",
            "--difficulty",
            "1.5e14",
            "--fees",
            "0.03",
            "--height",
            "900000",
            "--efficiency-j-th",
            "17.5",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    b = 1e12 * 3600 / (1.5e14 * 2**32) * 3.155  # BTC per TH/s per hour
    hp = b * 1000 * 24 * 100000
    assert out["hashprice_usd_per_ph_day"] == pytest.approx(hp, rel=1e-12)
    assert out["btc_per_ph_day"] == pytest.approx(b * 1000 * 24, rel=1e-12)
    assert out["network_hashrate_ehs"] == pytest.approx(1.5e14 * 2**32 / 600 / 1e18, rel=1e-12)
    assert out["breakeven_usd_per_mwh"] == pytest.approx(hp / (0.024 * 17.5), rel=1e-12)


def test_hashprice_text_from_hashrate(runner):
    result = runner.invoke(
        main,
        [
            "hashprice",
            "--price",
            "90000",
            "--hashrate-ehs",
            "1100",
            "--fees",
            "0.03",
            "--height",
            "925000",
        ],
    )
    assert result.exit_code == 0
    assert "1,100.0 EH/s" in result.output and "/PH/s/day" in result.output


def test_hashprice_bad_input_exit_2(runner):
    result = runner.invoke(
        main, ["hashprice", "--price", "90000", "--fees", "0.03", "--height", "925000"]
    )
    assert (
        result.exit_code == 2 and "exactly one of --difficulty or --hashrate-ehs" in result.output
    )
    result = runner.invoke(
        main,
        [
            "hashprice",
            "--price",
            "90000",
            "--difficulty",
            "1e14",
            "--height",
            "1",
            "--efficiency-j-th",
            "17500",
        ],
    )
    assert result.exit_code == 2 and "5-200 J/TH" in result.output
