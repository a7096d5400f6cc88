"""Price files as they come: gridstatus long form, 15-minute intervals, unmarked fall-back hours,
ERCOT's own settlement point price files, and pandas Series from Python.

Hand-made files hold prices whose hourly means are written down here; the real ERCOT files in
``../shared/data/ercot`` (skipped when absent) are checked against the hourly extract built from
them independently (SOURCES.md 1b: the simple mean of the four 15-minute prices).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models import ScenarioError, build_scenario

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ercot"
CENTRAL = "America/Chicago"
# America/Chicago falls back on 2026-11-01: 01:00-02:00 local happens twice (05:00Z = 00:00 CDT,
# 06:00Z = 01:00 CDT, 07:00Z = 01:00 CST, 08:00Z = 02:00 CST).
START = "2026-11-01T04:00:00Z"


def doc(price, hours: int = 6, start: str = START) -> dict:
    return {
        "scenario": {"name": "prices", "start": start, "hours": hours},
        "market": {
            "btc_price_usd": 90000,
            "network_hashrate_ehs": 1100,
            "fees_btc_per_block": 0.03,
            "height": 925000,
        },
        "sites": [
            {
                "name": "odessa",
                "interconnect_mw": 10,
                "price_usd_per_mwh": price,
                "temp_c": 20.0,
            }
        ],
        "fleet": [{"site": "odessa", "model": "S21", "count": 100}],
    }


def prices(tmp_path: Path, spec: dict, hours: int = 6, start: str = START) -> np.ndarray:
    s = build_scenario(doc(spec, hours, start), base_dir=tmp_path, source="scenario.toml")
    return s.sites[0].price_usd_per_mwh


def error(tmp_path: Path, spec: dict, hours: int = 6, start: str = START) -> str:
    with pytest.raises(ScenarioError) as info:
        prices(tmp_path, spec, hours, start)
    return str(info.value)


def gridstatus_frame(skip: int | None = None) -> pd.DataFrame:
    """gridstatus's ``get_spp`` shape: one row per 15-minute interval and location, Central times
    with their offsets, 04:00Z to 10:00Z on the fall-back day. HB_WEST's j-th interval of hour h
    costs 10 h + j, so hour h's mean is 10 h + 1.5; HB_NORTH is 1000 more."""
    starts = pd.date_range(START, periods=24, freq="15min").tz_convert(CENTRAL)
    rows = []
    for k, t in enumerate(starts):
        if k == skip:
            continue
        for loc, base in (("HB_NORTH", 1000.0), ("HB_WEST", 0.0)):
            rows.append(
                {
                    "Time": t,
                    "Interval Start": t,
                    "Interval End": t + pd.Timedelta(minutes=15),
                    "Location": loc,
                    "Location Type": "Trading Hub",
                    "Market": "REAL_TIME_15_MIN",
                    "SPP": base + 10 * (k // 4) + k % 4,
                }
            )
    return pd.DataFrame(rows)


HOURLY_MEANS = [1.5, 11.5, 21.5, 31.5, 41.5, 51.5]  # 10 h + (0 + 1 + 2 + 3) / 4


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_gridstatus_file_equals_its_hand_computed_hourly_means(tmp_path, suffix):
    frame = gridstatus_frame()
    if suffix == "csv":  # as DataFrame.to_csv writes it: "2026-11-01 01:00:00-05:00"
        frame.to_csv(tmp_path / "spp.csv", index=False)
        assert "2026-11-01 01:00:00-06:00" in (tmp_path / "spp.csv").read_text()
    else:  # tz-aware timestamp columns
        frame.to_parquet(tmp_path / "spp.parquet")
    spec = {"file": f"spp.{suffix}", "location": "HB_WEST", "resample": "mean"}
    np.testing.assert_array_equal(prices(tmp_path, spec), HOURLY_MEANS)
    north = prices(tmp_path, {**spec, "location": "HB_NORTH"})
    np.testing.assert_array_equal(north, np.array(HOURLY_MEANS) + 1000)
    # scale applies to the hourly means
    np.testing.assert_allclose(
        prices(tmp_path, {**spec, "scale": 2.0}), np.multiply(HOURLY_MEANS, 2)
    )


def test_long_form_needs_a_known_location(tmp_path):
    gridstatus_frame().to_csv(tmp_path / "spp.csv", index=False)
    msg = error(tmp_path, {"file": "spp.csv", "resample": "mean"})
    assert "spp.csv holds 2 locations in column 'Location' (HB_NORTH, HB_WEST)" in msg
    assert 'set location = "HB_NORTH"' in msg
    msg = error(tmp_path, {"file": "spp.csv", "location": "HB_WST", "resample": "mean"})
    assert "no rows for location 'HB_WST'" in msg and "did you mean 'HB_WEST'?" in msg


def test_sub_hourly_file_needs_resample_and_complete_hours(tmp_path):
    gridstatus_frame().to_csv(tmp_path / "spp.csv", index=False)
    msg = error(tmp_path, {"file": "spp.csv", "location": "HB_WEST"})
    assert "row 4 (line 5)" in msg  # HB_WEST's second interval: the 4th data row of the file
    assert "step of 15 min after 2026-11-01T04:00Z" in msg and 'resample = "mean"' in msg
    # interval 9 (06:15Z, 01:15 CDT) missing: its hour keeps HB_WEST rows 18, 20 and 22
    gridstatus_frame(skip=9).to_csv(tmp_path / "gap.csv", index=False)
    msg = error(tmp_path, {"file": "gap.csv", "location": "HB_WEST", "resample": "mean"})
    assert "hour 2026-11-01T06:00Z has 3 of its 4 15 min intervals (rows 18-22;" in msg
    assert "1 incomplete hour(s)" in msg


def test_a_repeated_interval_is_refused_naming_both_rows(tmp_path):
    frame = gridstatus_frame()
    lz = frame[frame.Location == "HB_WEST"].assign(Location="LZ_WEST")
    lzew = lz.assign(SPP=lz.SPP + 0.01)  # gridstatus gives LZ and LZEW the same labels
    pd.concat([lz, lzew]).sort_values("Time", kind="stable").to_csv(
        tmp_path / "lz.csv", index=False
    )
    msg = error(tmp_path, {"file": "lz.csv", "resample": "mean"})
    assert "lz.csv row 2 (line 3, time 2026-11-01T04:00Z)" in msg
    assert "repeats the interval 2026-11-01T04:00Z of row 1" in msg and "LZEW" in msg


def test_unmarked_fall_back_hour_is_placed_by_order(tmp_path):
    # a logger writing local wall-clock time: 23:00 .. 03:00 with 01:00 twice, no offsets
    local = ["2026-10-31 23:00", "2026-11-01 00:00", "2026-11-01 01:00", "2026-11-01 01:00"]
    local += ["2026-11-01 02:00", "2026-11-01 03:00"]
    pd.DataFrame({"time": local, "p": [10.0, 20, 30, 40, 50, 60]}).to_csv(
        tmp_path / "local.csv", index=False
    )
    spec = {"file": "local.csv", "timezone": CENTRAL}
    msg = error(tmp_path, spec)
    assert "row 4 (line 5): local time 2026-11-01 01:00 appears twice" in msg
    assert 'ambiguous = "infer"' in msg
    # first 01:00 is CDT (06:00Z), the second CST (07:00Z)
    np.testing.assert_array_equal(
        prices(tmp_path, {**spec, "ambiguous": "infer"}), [10, 20, 30, 40, 50, 60]
    )
    # 15-minute local data with the repeated hour, averaged to hours
    quarter = pd.date_range(START, periods=24, freq="15min").tz_convert(CENTRAL)
    pd.DataFrame(
        {
            "time": quarter.strftime("%Y-%m-%d %H:%M"),
            "p": np.arange(24) // 4 * 10 + np.arange(24) % 4,
        }
    ).to_csv(tmp_path / "q.csv", index=False)
    q = prices(
        tmp_path, {"file": "q.csv", "timezone": CENTRAL, "ambiguous": "infer", "resample": "mean"}
    )
    np.testing.assert_array_equal(q, HOURLY_MEANS)


def ercot_rows(date: str, hours: list[int], flags: list[str], point: str, base: float) -> list:
    return [
        {
            "Delivery Date": date,
            "Delivery Hour": h,
            "Delivery Interval": i,
            "Repeated Hour Flag": f,
            "Settlement Point Name": point,
            "Settlement Point Type": "HU",
            "Settlement Point Price": base + 10 * k + i,
        }
        for k, (h, f) in enumerate(zip(hours, flags, strict=True))
        for i in (1, 2, 3, 4)
    ]


def test_ercot_settlement_point_price_file(tmp_path):
    # Hour ending 24 of Oct 31 (04:00Z), then Nov 1: HE1, HE2, HE2 repeated (flag Y), HE3, HE4.
    rows = []
    for point, base in (("HB_WEST", 0.0), ("HB_NORTH", 500.0)):
        rows += ercot_rows("10/31/2026", [24], ["N"], point, base)
        rows += [
            {**r, "Settlement Point Price": r["Settlement Point Price"] + 10}
            for r in ercot_rows(
                "11/01/2026", [1, 2, 2, 3, 4], ["N", "N", "Y", "N", "N"], point, base
            )
        ]
    pd.DataFrame(rows).to_csv(tmp_path / "rtm.csv", index=False)
    # interval i of hour k costs 10 k + i: means 10 k + 2.5, in hour order
    spec = {"file": "rtm.csv", "location": "HB_WEST", "resample": "mean"}
    np.testing.assert_array_equal(prices(tmp_path, spec), [2.5, 12.5, 22.5, 32.5, 42.5, 52.5])
    north = prices(tmp_path, {**spec, "location": "HB_NORTH"})
    np.testing.assert_array_equal(north, [502.5, 512.5, 522.5, 532.5, 542.5, 552.5])
    assert "remove time_column" in error(tmp_path, {**spec, "time_column": "Delivery Date"})
    # spring forward (2026-03-08): hour ending 3 (02:00-03:00) does not exist
    pd.DataFrame(ercot_rows("03/08/2026", [1, 2, 3], ["N"] * 3, "HB_WEST", 0.0)).to_csv(
        tmp_path / "spring.csv", index=False
    )
    msg = error(tmp_path, {"file": "spring.csv", "resample": "mean"}, 2, "2026-03-08T06:00:00Z")
    assert "spring.csv row 9 (line 10)" in msg and "2026-03-08 02:00 does not exist" in msg


def test_ercot_hourly_day_ahead_layout(tmp_path):
    # DAM files: Delivery Date, Hour Ending "01:00", Settlement Point, price, DSTFlag
    pd.DataFrame(
        {
            "DeliveryDate": ["11/01/2026"] * 6,
            "HourEnding": ["01:00", "02:00", "02:00", "03:00", "04:00", "05:00"],
            "SettlementPoint": ["HB_WEST"] * 6,
            "SettlementPointPrice": [31.0, 32, 33, 34, 35, 36],
            "DSTFlag": ["N", "N", "Y", "N", "N", "N"],
        }
    ).to_csv(tmp_path / "dam.csv", index=False)
    got = prices(tmp_path, {"file": "dam.csv"}, 6, "2026-11-01T05:00:00Z")
    np.testing.assert_array_equal(got, [31, 32, 33, 34, 35, 36])


def test_pandas_series_is_a_series(tmp_path):
    hours = pd.date_range("2026-11-01T00:00Z", periods=12, freq="h")
    series = pd.Series(np.arange(12.0), index=hours, name="HB_WEST")
    np.testing.assert_array_equal(prices(tmp_path, series), np.arange(4.0, 10.0))
    # the same hours in Central time (offsets) are the same instants
    np.testing.assert_array_equal(
        prices(tmp_path, series.tz_convert(CENTRAL)), np.arange(4.0, 10.0)
    )
    assert "tz-naive DatetimeIndex" in error(tmp_path, series.tz_localize(None))
    assert "expected a DatetimeIndex" in error(tmp_path, series.reset_index(drop=True))
    assert "is missing" in error(tmp_path, series.drop(hours[6]))
    quarter = pd.Series(1.0, index=pd.date_range(START, periods=24, freq="15min"))
    assert "resample('h').mean()" in error(tmp_path, quarter)


# --- the real ERCOT files ------------------------------------------------------------------


@pytest.fixture(scope="module")
def hourly_2023() -> pd.DataFrame:
    path = DATA / "ercot_rtm_spp_hourly_2020_2024.csv"
    if not path.is_file():
        pytest.skip(f"{path} not present (real ERCOT data lives outside the project)")
    frame = pd.read_csv(path)
    frame.index = pd.to_datetime(frame.pop("hour_start_utc"), utc=True)
    return frame


YEAR_2023 = "2023-01-01T06:00:00Z"  # 00:00 CST


@pytest.mark.realdata
def test_real_gridstatus_year_equals_the_hourly_extract(tmp_path, hourly_2023):
    """805,920 rows, 15 locations (load zones twice), 15-minute intervals, both DST changes."""
    spec = {
        "file": str(DATA / "ercot_rtm_2023.parquet"),
        "location": "HB_WEST",
        "resample": "mean",
    }
    got = prices(tmp_path, spec, 8760, YEAR_2023)
    expected = hourly_2023["HB_WEST"].loc[YEAR_2023:].iloc[:8760].to_numpy()
    np.testing.assert_allclose(got, expected, rtol=0, atol=5e-5)  # the extract has 4 decimals
    assert got.max() == pytest.approx(5257.57, abs=0.01)  # SOURCES.md: 2023 HB_WEST max
    assert (got < 0).sum() == 727  # and its negative hours


@pytest.mark.realdata
def test_real_local_times_without_offsets_and_ercot_layout(tmp_path, hourly_2023):
    """The 15-minute extract with its offsets cut off (fall-back week 2023), and the gridstatus
    rows rewritten in ERCOT's own layout, both give the hourly extract's HB_WEST."""
    path = DATA / "ercot_rtm_spp_15min_2020_2024_west_north_hubavg.csv"
    q = pd.read_csv(path)
    q = q[(q.interval_start_utc >= "2023-11-01") & (q.interval_start_utc < "2023-11-09")]
    naive = q.interval_start_local.str.slice(0, 16)  # "2023-11-05T01:00": twice, no offset
    assert naive.duplicated().sum() == 4
    pd.DataFrame({"time": naive, "HB_WEST": q.HB_WEST}).to_csv(tmp_path / "local.csv", index=False)
    start, hours = "2023-11-02T00:00:00Z", 24 * 6
    expected = hourly_2023["HB_WEST"].loc[start:].iloc[:hours].to_numpy()
    spec = {"file": "local.csv", "timezone": CENTRAL, "ambiguous": "infer", "resample": "mean"}
    np.testing.assert_allclose(prices(tmp_path, spec, hours, start), expected, atol=5e-5)

    g = pd.read_parquet(DATA / "ercot_rtm_2023.parquet")
    g = g[g.Location.isin(["HB_WEST", "HB_NORTH"])]
    g = g[(g.Time >= "2023-11-01") & (g.Time < "2023-11-09")]
    local = g.Time.dt.tz_convert(CENTRAL)
    wall = local.dt.tz_localize(None)
    repeated = (local.dt.strftime("%z") == "-0600") & (
        wall.dt.strftime("%Y-%m-%d %H") == "2023-11-05 01"
    )
    pd.DataFrame(
        {
            "Delivery Date": wall.dt.strftime("%m/%d/%Y"),
            "Delivery Hour": wall.dt.hour + 1,
            "Delivery Interval": wall.dt.minute // 15 + 1,
            "Repeated Hour Flag": np.where(repeated, "Y", "N"),
            "Settlement Point Name": g.Location,
            "Settlement Point Type": "HU",
            "Settlement Point Price": g.SPP,
        }
    ).to_csv(tmp_path / "rtm.csv", index=False)
    spec = {"file": "rtm.csv", "location": "HB_WEST", "resample": "mean"}
    np.testing.assert_allclose(prices(tmp_path, spec, hours, start), expected, atol=5e-5)
