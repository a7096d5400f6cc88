"""Synthetic hourly series of the built-in example: statistics, local-time shape, determinism."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.synthetic import (
    GENERATORS,
    LOCAL_TZ,
    coincident_peak_actual_flags,
    coincident_peak_flags,
    curtailment_orders_mw,
    ercot_west_price_usd_per_mwh,
    generate,
    west_texas_temp_c,
)
from models.synthetic import _ar1 as ar1

SEEDS = [1, 7, 42]
YEAR = pd.date_range("2026-01-01", periods=8760, freq="h", tz="UTC")
LOCAL = YEAR.tz_convert(LOCAL_TZ)
HOUR = LOCAL.hour.to_numpy()
MONTH = LOCAL.month.to_numpy()
WEEKDAY = LOCAL.day_of_week.to_numpy()
DAY = LOCAL.tz_localize(None).normalize()
DATA_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
ERCOT_CSV = DATA_DIR / "ercot" / "ercot_rtm_spp_hourly_2020_2024.csv"


def _runs(mask: np.ndarray) -> np.ndarray:
    """Lengths of the runs of consecutive True values."""
    padded = np.concatenate([[0], mask.astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(padded))
    return edges[1::2] - edges[::2]


@pytest.fixture(scope="module", params=SEEDS)
def year(request):
    seed = request.param
    return {
        "seed": seed,
        "price": ercot_west_price_usd_per_mwh(YEAR, seed),
        "temp": west_texas_temp_c(YEAR, seed),
        "curtail": curtailment_orders_mw(YEAR, seed, max_mw=40.0),
        "peaks": coincident_peak_flags(YEAR, seed),
        "actual": coincident_peak_actual_flags(YEAR, seed),
    }


def test_runs_helper():
    # [T T F T T T F T] -> runs 2, 3, 1
    np.testing.assert_array_equal(_runs(np.array([1, 1, 0, 1, 1, 1, 0, 1], bool)), [2, 3, 1])


def test_ar1_scan_equals_recursion():
    # x_0 = e_0, x_t = phi x_{t-1} + sqrt(1 - phi^2) e_t, written out for 4 shocks.
    e = np.array([1.0, -2.0, 0.5, 3.0])
    phi, c = 0.9, np.sqrt(1 - 0.81)
    x1 = 0.9 * 1.0 + c * -2.0
    x2 = 0.9 * x1 + c * 0.5
    x3 = 0.9 * x2 + c * 3.0
    np.testing.assert_allclose(ar1(e, phi), [1.0, x1, x2, x3], rtol=1e-14)
    np.testing.assert_array_equal(e, [1.0, -2.0, 0.5, 3.0])  # input left untouched
    # Long series: unit variance and lag-1 correlation phi (20,000 draws: sd error ~0.01-0.03).
    x = ar1(np.random.default_rng(0).standard_normal(20_000), 0.8)
    assert x.std() == pytest.approx(1.0, abs=0.05)
    assert np.corrcoef(x[1:], x[:-1])[0, 1] == pytest.approx(0.8, abs=0.02)


# ----------------------------------------------------------------------------------- price


def test_price_shape_and_dtype(year):
    assert year["price"].shape == (8760,)
    assert year["price"].dtype == np.float64
    assert np.isfinite(year["price"]).all()


def test_price_full_year_mean_is_the_parameter(year):
    # The body scale is solved per UTC year so the year's mean is exactly the parameter.
    assert year["price"].mean() == pytest.approx(40.0, abs=1e-6)
    p30 = ercot_west_price_usd_per_mwh(YEAR, year["seed"], mean_usd_per_mwh=30.0)
    assert p30.mean() == pytest.approx(30.0, abs=1e-6)
    assert 30.0 <= year["price"].mean() <= 50.0


def test_price_negative_share_and_floor(year):
    share = (year["price"] < 0).mean()
    assert 0.05 <= share <= 0.12
    assert year["price"].min() >= -60.0


def test_price_cap_and_spikes(year):
    p = year["price"]
    assert p.max() <= 5000.0
    assert (p >= 2000.0).sum() >= 1
    capped = ercot_west_price_usd_per_mwh(YEAR, year["seed"], cap_usd_per_mwh=3000.0)
    assert capped.max() <= 3000.0
    assert capped.max() == 3000.0  # scarcity events at the cap exist for these seeds


def test_price_scarcity_events(year):
    runs = _runs(year["price"] >= 1000.0)
    assert (runs >= 3).sum() >= 3
    assert runs.max() <= 8 + 2  # events last 3-8 hours (a spike may touch one)


def test_price_diurnal_shape(year):
    p = year["price"]
    evening, night, midday = (np.median(p[HOUR == h]) for h in (19, 4, 11))
    # Model: hour factors 1.80 (19:00) vs 0.92 (04:00) vs 0.74 (11:00, before the solar dip).
    assert evening > 1.5 * night
    assert midday < night
    # Negative prices are rarest in the evening peak (weight 0.45) and common at midday (1.35).
    assert (p[HOUR == 19] < 0).mean() < (p[HOUR == 12] < 0).mean()


def test_price_seasons(year):
    p = year["price"]
    summer, spring = np.isin(MONTH, (6, 7, 8)), np.isin(MONTH, (3, 4, 5))
    assert p[summer].mean() > p[spring].mean()
    assert (p[spring] < 0).mean() > 2 * (p[summer] < 0).mean()


def test_price_mean_out_of_reach_raises():
    # Negative hours and scarcity events alone average several USD/MWh: a $1 mean is impossible.
    with pytest.raises(ValueError, match="cannot be reached"):
        ercot_west_price_usd_per_mwh(YEAR, 7, mean_usd_per_mwh=1.0)
    with pytest.raises(ValueError, match="cap_usd_per_mwh"):
        ercot_west_price_usd_per_mwh(YEAR, 7, cap_usd_per_mwh=0.0)


# ----------------------------------------------------------------------------- temperature


def test_temp_july_afternoon_max(year):
    frame = pd.DataFrame({"t": year["temp"], "day": DAY})
    july_pm = (MONTH == 7) & (HOUR >= 15) & (HOUR <= 17)
    daily_max = frame[july_pm].groupby("day")["t"].max()
    assert len(daily_max) == 31
    assert 35.0 <= daily_max.mean() <= 40.0


def test_temp_extremes_and_january(year):
    t = year["temp"]
    assert 38.0 <= t.max() <= 43.0  # soft limit: 39 + 3 tanh(.) < 42
    assert 3.0 <= t[MONTH == 1].mean() <= 12.0
    assert 25.0 <= t[MONTH == 7].mean() <= 33.0
    assert t.min() < 0.0


def test_temp_diurnal_timing(year):
    frame = pd.DataFrame({"t": year["temp"], "hour": HOUR, "day": DAY})
    grouped = frame.groupby("day")["t"]
    min_hour = frame.loc[grouped.idxmin(), "hour"].mean()
    max_hour = frame.loc[grouped.idxmax(), "hour"].mean()
    # Model: minimum at 06:30, maximum at 16:00 local.
    assert 5.0 <= min_hour <= 8.0
    assert 14.0 <= max_hour <= 17.0


# ----------------------------------------------------------------------------- curtailment


def test_curtailment_bounds_and_count(year):
    c = year["curtail"]
    on = c > 0
    assert 50 <= on.sum() <= 250
    assert c.min() >= 0.0
    assert c.max() <= 40.0
    assert c.max() == 40.0  # the hottest quarter of the order days is at max_mw
    assert on[np.isin(MONTH, (6, 7, 8, 9))].sum() >= 50


def test_curtailment_only_summer_afternoons_or_winter_cold(year):
    on = year["curtail"] > 0
    summer = np.isin(MONTH, (6, 7, 8, 9))
    assert set(HOUR[on & summer]) <= set(range(14, 20))
    assert set(WEEKDAY[on & summer]) <= set(range(5))
    winter = on & ~summer
    assert set(MONTH[winter]) <= {12, 1, 2}
    assert winter.sum() <= 6  # one cold day, 06-09 and 18-21 local
    assert set(HOUR[winter]) <= {6, 7, 8, 18, 19, 20}


def test_curtailment_follows_heat(year):
    # Order days are the hottest summer weekdays: their afternoons are hotter on average.
    summer_pm = np.isin(MONTH, (6, 7, 8, 9)) & (HOUR >= 14) & (HOUR <= 19) & (WEEKDAY < 5)
    on = year["curtail"] > 0
    assert year["temp"][summer_pm & on].mean() > year["temp"][summer_pm & ~on].mean() + 1.0


def test_curtailment_scales_with_max_mw():
    np.testing.assert_allclose(
        curtailment_orders_mw(YEAR, 7, max_mw=10.0), curtailment_orders_mw(YEAR, 7) / 4.0
    )


# -------------------------------------------------------------------------------- 4CP flags


def test_peaks_only_summer_weekday_afternoons(year):
    f = year["peaks"]
    assert set(np.unique(f)) == {0.0, 1.0}
    on = f > 0
    assert set(MONTH[on]) == {6, 7, 8, 9}
    assert set(WEEKDAY[on]) <= set(range(5))
    assert set(HOUR[on]) == {15, 16, 17}
    # 8-12 days a month x 3 hours x 4 months = 96..144 hours.
    assert 96 <= on.sum() <= 144
    for month in (6, 7, 8, 9):
        assert 24 <= on[MONTH == month].sum() <= 36


def test_actual_peaks_inside_flags(year):
    a, f, t = year["actual"], year["peaks"], year["temp"]
    assert a.sum() == 4
    assert np.all(f[a > 0] == 1.0)
    for month in (6, 7, 8, 9):
        flagged = (MONTH == month) & (f > 0)
        peak = np.flatnonzero((MONTH == month) & (a > 0))
        assert peak.size == 1
        assert t[peak[0]] == t[flagged].max()


# ------------------------------------------------------------------ determinism and spans


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_determinism(name):
    a = generate(name, YEAR, 7)
    np.testing.assert_array_equal(a, generate(name, YEAR, 7))
    assert not np.array_equal(a, generate(name, YEAR, 8))


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_short_span_equals_slice_of_year(name):
    # 48 hours of August 2026 are the same hours of the full-year series (built per UTC year).
    start = YEAR.get_loc(pd.Timestamp("2026-08-10T12:00Z"))
    short = YEAR[start : start + 48]
    values = generate(name, short, 42)
    assert values.shape == (48,)
    np.testing.assert_array_equal(values, generate(name, YEAR, 42)[start : start + 48])


def test_multi_year_and_leap_year():
    index = pd.date_range("2027-06-01", "2029-06-01", freq="h", tz="UTC", inclusive="left")
    p = ercot_west_price_usd_per_mwh(index, 7)
    assert p.shape == (len(index),)
    assert len(index) == 365 * 24 + 366 * 24  # Jun 2027 - Jun 2029 holds Feb 29 2028
    assert p[index.year == 2028].mean() == pytest.approx(40.0, abs=1e-6)
    assert coincident_peak_flags(index, 7).sum() >= 2 * 96
    assert coincident_peak_actual_flags(index, 7).sum() == 8  # two summers x 4 months


def test_no_seam_at_year_boundary():
    # AR(1) noise runs on from the previous year: the 2026 -> 2027 step is an ordinary step.
    index = pd.date_range("2026-12-20", "2027-01-10", freq="h", tz="UTC")
    t = west_texas_temp_c(index, 7)
    steps = np.abs(np.diff(t))
    boundary = index.get_loc(pd.Timestamp("2027-01-01T00:00Z"))
    assert steps[boundary - 1] <= np.quantile(steps, 0.99)


@pytest.mark.parametrize(
    ("start", "end"),
    [("2026-03-01", "2026-03-16"), ("2026-10-25", "2026-11-09")],  # DST: Mar 8, Nov 1 2026
)
def test_dst_span_keeps_local_shape(start, end):
    index = pd.date_range(start, end, freq="h", tz="UTC", inclusive="left")
    local = index.tz_convert(LOCAL_TZ)
    hour = local.hour.to_numpy()
    offset_h = (local.tz_localize(None) - index.tz_localize(None)) / pd.Timedelta(hours=1)
    assert set(offset_h) == {-6.0, -5.0}  # the span crosses a DST change
    t = west_texas_temp_c(index, 42)
    for off in (-6.0, -5.0):
        side = offset_h.to_numpy() == off
        # Afternoon (16:00 local) exceeds dawn (06:00 local) by about 2 x 7.8 C on both sides.
        gap = t[side & (hour == 16)].mean() - t[side & (hour == 6)].mean()
        assert 10.0 <= gap <= 20.0
    p = ercot_west_price_usd_per_mwh(index, 42)
    assert np.isfinite(p).all()
    assert np.median(p[hour == 19]) > np.median(p[hour == 4])
    assert coincident_peak_flags(index, 42).sum() == 0  # no 4CP windows in Mar/Oct/Nov


def test_local_timezone_index_gives_same_values():
    utc = pd.date_range("2026-07-01", periods=72, freq="h", tz="UTC")
    for name in GENERATORS:
        np.testing.assert_array_equal(
            generate(name, utc.tz_convert(LOCAL_TZ), 3), generate(name, utc, 3)
        )


def test_bad_index_and_seed():
    with pytest.raises(ValueError, match="tz-aware"):
        west_texas_temp_c(pd.date_range("2026-01-01", periods=3, freq="h"), 1)
    with pytest.raises(ValueError, match="whole hours"):
        west_texas_temp_c(pd.date_range("2026-01-01 00:30", periods=3, freq="h", tz="UTC"), 1)
    with pytest.raises(ValueError, match="seed"):
        west_texas_temp_c(YEAR[:3], -1)
    assert west_texas_temp_c(pd.DatetimeIndex([], tz="UTC"), 1).shape == (0,)


# ------------------------------------------------------------------------------- registry


def test_registry_names_and_dispatch():
    assert sorted(GENERATORS) == [
        "coincident_peaks",
        "curtailment_orders",
        "ercot_as_price",
        "ercot_west_price",
        "west_texas_temp",
    ]
    np.testing.assert_array_equal(
        generate("curtailment_orders", YEAR[:100], 7, max_mw=5.0),
        curtailment_orders_mw(YEAR[:100], 7, max_mw=5.0),
    )
    with pytest.raises(KeyError, match="west_texas_temp"):
        generate("nope", YEAR[:3], 7)


# ------------------------------------------------------------------------------ real data


@pytest.mark.realdata
@pytest.mark.skipif(not ERCOT_CSV.is_file(), reason="../shared/data is absent")
def test_price_statistics_near_real_hb_west_2023():
    real = pd.read_csv(ERCOT_CSV, usecols=["hour_start_utc", "HB_WEST"])
    stamps = pd.to_datetime(real["hour_start_utc"], utc=True)
    hb_west = real.loc[stamps.dt.year == 2023, "HB_WEST"].to_numpy()
    assert hb_west.size == 8760
    real_mean, real_neg = hb_west.mean(), (hb_west < 0).mean()  # 49.4 USD/MWh, 8.3 %
    for seed in SEEDS:
        p = ercot_west_price_usd_per_mwh(YEAR, seed)
        assert abs(p.mean() - real_mean) <= 0.4 * real_mean
        assert real_neg / 2 <= (p < 0).mean() <= 2 * real_neg
