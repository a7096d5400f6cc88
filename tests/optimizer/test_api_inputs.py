"""optimizer.api.scenario and plan take files, documents and pandas objects alike."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models import ScenarioError, load_scenario, set_field
from models.example import example_doc
from optimizer.api import plan, scenario
from optimizer.errors import SolverError
from optimizer.report.example_files import write_example


def test_scenario_from_a_file_a_document_or_the_example(tmp_path):
    toml = write_example(tmp_path)
    toml.write_text(toml.read_text().replace("hours = 8760", "hours = 72"))
    from_file = scenario(toml)
    assert from_file.equals(load_scenario(toml)) and from_file.hours == 72
    # the example's series files hold the built-in example's synthetic series exactly
    builtin = scenario(None, {"scenario.hours": 72})
    assert builtin.equals(from_file)
    assert scenario("builtin:example", {"scenario.hours": 72}).equals(builtin)
    # changes by dotted path, relative files still found beside the TOML file
    changed = scenario(toml, {"sites.odessa.price_scale": 2.0})
    np.testing.assert_allclose(
        changed.sites[0].price_usd_per_mwh, 2.0 * from_file.sites[0].price_usd_per_mwh
    )
    assert scenario(builtin) is builtin
    with pytest.raises(ValueError, match="changes need a file or a document"):
        scenario(builtin, {"scenario.hours": 24})


def test_a_series_from_pandas_equals_the_same_values_from_a_file(tmp_path):
    hours = pd.date_range("2026-01-01", periods=72, freq="h", tz="UTC")
    values = np.round(np.linspace(-20.0, 90.0, 72), 3)
    pd.DataFrame({"time": hours.strftime("%Y-%m-%dT%H:%M:%SZ"), "p": values}).to_csv(
        tmp_path / "p.csv", index=False
    )
    doc = set_field(example_doc(), "scenario.hours", 72)
    by_file = scenario(set_field(doc, "sites.odessa.price_usd_per_mwh", {"file": "p.csv"}),
                       base_dir=tmp_path)  # fmt: skip
    by_series = scenario(doc, {"sites.odessa.price_usd_per_mwh": pd.Series(values, index=hours)})
    assert by_series.equals(by_file)
    with pytest.raises(ScenarioError, match="tz-naive DatetimeIndex"):
        scenario(doc, {"sites.odessa.price_usd_per_mwh": pd.Series(values, index=hours.tz_localize(None))})  # fmt: skip


def test_plan_checks_the_solver_before_reading_the_scenario(tmp_path):
    with pytest.raises(SolverError, match=r"unknown HiGHS solver 'dual'.*choose, simplex"):
        plan(tmp_path / "missing.toml", solver="dual")
