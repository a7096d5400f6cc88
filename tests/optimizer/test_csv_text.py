"""The CSV writer of the report: the same text as pandas ``to_csv`` writes, faster."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer.report.files import csv_text, write_csv
from optimizer.report.money import plan_hours
from optimizer.report.plan_files import SMALL_NUMBER_COLUMNS, TIME_FORMAT, _csv, iso_local

FLOAT_FORMAT = "%.6f"


def pandas_csv(frame: pd.DataFrame, formats: dict[str, str]) -> str:
    """What the report wrote before: formatted columns mapped to text, then pandas."""
    out = frame.copy()
    for column, fmt in formats.items():
        if column in out:
            out[column] = out[column].map(lambda value, fmt=fmt: fmt % value)
    return out.to_csv(index=False, float_format=FLOAT_FORMAT)


EDGE_FLOATS = [0.0, -0.0, 5e-7, -5e-7, 0.0078125, 1e300, -1e-300, np.inf, -np.inf, np.nan]
floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(EDGE_FLOATS))
texts = st.one_of(st.none(), st.text(alphabet=st.sampled_from('ab ,"\n\r-é'), max_size=6))


@st.composite
def frames(draw) -> pd.DataFrame:
    rows = draw(st.integers(0, 8))
    return pd.DataFrame(
        {
            "site": draw(st.lists(texts, min_size=rows, max_size=rows)),
            "mw": draw(st.lists(floats, min_size=rows, max_size=rows)),
            "btc_mined": draw(st.lists(floats, min_size=rows, max_size=rows)),
            "hours": draw(st.lists(st.integers(-(2**62), 2**62), min_size=rows, max_size=rows)),
            "whole": draw(st.lists(st.booleans(), min_size=rows, max_size=rows)),
            "usd": np.array(draw(st.lists(floats, min_size=rows, max_size=rows)), dtype=float),
        }
    )


@settings(max_examples=300, deadline=None)
@given(frames())
def test_same_text_as_pandas(frame):
    formats = {"btc_mined": "%.12g"}
    assert csv_text(frame, FLOAT_FORMAT, formats) == pandas_csv(frame, formats)


def test_columns_it_leaves_to_pandas(tmp_path):
    frame = pd.DataFrame(
        {
            "a": pd.array([1.5, None], dtype="Float64"),  # an extension array
            "b": pd.to_datetime(["2026-01-01", "2026-01-02"]),
            "c": [1.0, 2.0],
        }
    )
    assert csv_text(frame, FLOAT_FORMAT, {}) is None
    write_csv(tmp_path / "x.csv", frame, float_format=FLOAT_FORMAT)
    assert (
        tmp_path / "x.csv"
    ).read_text() == "a,b,c\n1.500000,2026-01-01,1.000000\n,2026-01-02,2.000000\n"
    one = pd.DataFrame({"a": ["", "x"]})  # one column: the csv module quotes the empty field
    assert csv_text(one, FLOAT_FORMAT, {}) is None
    write_csv(tmp_path / "one.csv", one, float_format=FLOAT_FORMAT)
    assert (tmp_path / "one.csv").read_text() == one.to_csv(index=False)


@pytest.mark.parametrize("tz", [None, "America/Chicago"])
def test_plan_csv_as_pandas_wrote_it(tiny, tmp_path, tz):
    """plan.csv and classes.csv of a real plan: the same text as pandas wrote, and the numbers
    read back equal to the plan's to the 6 decimals written."""
    plan = tiny.plan(tiny.doc(hours=30, gpus=[tiny.cloud_gpu(max_servers=100)]))
    formats = dict.fromkeys(SMALL_NUMBER_COLUMNS, "%.12g")
    for name, frame in (("plan.csv", plan_hours(plan, tz)), ("classes.csv", plan.class_hours)):
        path = _csv(frame, tmp_path / name)
        times = frame.assign(time=frame["time"].dt.strftime(TIME_FORMAT))
        if "local_time" in frame:
            times["local_time"] = iso_local(frame["local_time"])
        assert path.read_text() == pandas_csv(times, formats)
        numbers = frame.select_dtypes("number").columns
        np.testing.assert_allclose(
            pd.read_csv(path)[numbers], frame[numbers], rtol=1e-11, atol=5e-7
        )
