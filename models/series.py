"""Hourly series of a scenario: constants, CSV/Parquet files, synthetic generators, arrays.

A series field in a scenario file is one of

- a number: the same value every hour;
- ``{ file = "prices.csv", value_column = "price_usd_per_mwh", time_column = "time",
  timezone = "UTC", scale = 1.0 }``: a file (CSV or Parquet) with a time column and a value
  column, paths relative to the scenario file's folder; price files as market data sites
  publish them (:mod:`models.price_files`) with ``location = "HB_WEST"`` (long form, one row per
  interval and location), ``resample = "mean"`` (5/15-minute intervals averaged to complete
  hours) and ``ambiguous = "infer"`` (local times whose repeated fall-back hour has no offset,
  placed by order); ERCOT's own settlement point price files are read by their columns;
- a pandas Series with a tz-aware DatetimeIndex (the Python API): its values at the horizon's
  hours;
- ``{ synthetic = "ercot_west_price", seed = 7, ... }``: a named generator of
  :mod:`models.synthetic` with its parameters;
- in memory only (studies, tests): a numpy array with one value per hour of the horizon.

Every file is checked before use: NaN/inf and non-numbers (named by row and timestamp),
unsorted, duplicated (DST fall-back in local-time files), missing or non-hourly timestamps, and
coverage of the whole horizon. Negative values are valid where the field allows them (power
prices are negative ~700-1000 hours a year in ERCOT West).
"""

from __future__ import annotations

import inspect
import math
import os
import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models import price_files
from models.errors import ScenarioError
from models.fields import Where, check_keys, number, text
from models.price_files import row_label as _row

HOUR = pd.Timedelta(hours=1)
_FILE_KEYS = (
    "file",
    "value_column",
    "time_column",
    "timezone",
    "scale",
    "location",
    "location_column",
    "resample",
    "ambiguous",
)


def hourly_index(start: str | pd.Timestamp, hours: int) -> pd.DatetimeIndex:
    """The scenario horizon: ``hours`` hourly, tz-aware UTC timestamps from ``start``."""
    ts = pd.Timestamp(start)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return pd.date_range(ts, periods=hours, freq="h", name="time")


def fmt_time(ts: pd.Timestamp) -> str:
    """``2026-01-02T17:00Z`` style timestamp for messages."""
    if pd.isna(ts):
        return "NaT"
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC")
    return ts.strftime("%Y-%m-%dT%H:%MZ")


def resolve_series(
    spec: Any,
    where: Where,
    index: pd.DatetimeIndex,
    *,
    base_dir: Path,
    seed: int,
    unit: str,
    minimum: float | None = None,
    maximum: float | None = None,
    rows: Callable[[pd.DataFrame, Where], pd.DataFrame] | None = None,
) -> np.ndarray:
    """Turn a series spec into a float64 array with one value per hour of ``index``.

    Parameters
    ----------
    spec
        Number, file table, synthetic table, array or pandas Series (module docstring).
    where
        Location of the field, for error messages.
    index
        The scenario horizon (hourly UTC).
    base_dir
        Folder that relative file paths resolve against (the scenario file's folder).
    seed
        Default seed of synthetic generators (the scenario's ``seed``).
    unit
        Unit of the values, for messages (``"USD/MWh"``).
    minimum, maximum
        Valid range of the values (``None``: unbounded).
    rows
        For file series: ``rows(frame, where)`` picks the rows that belong to this series
        before the time and value columns are read (long-form files holding several series,
        e.g. one row per hour and ancillary product).

    Returns
    -------
    numpy.ndarray
        float64, shape ``(len(index),)``, read-only.
    """
    if isinstance(spec, bool):
        raise where.error(f"expected a number [{unit}], a file table or a synthetic table")
    if isinstance(spec, pd.Series):
        values = _from_pandas(spec, where, index, unit)
    elif isinstance(spec, int | float):
        try:
            finite = math.isfinite(float(spec))  # float(): Python ints may exceed int64
        except OverflowError:
            finite = False
        if not finite:
            raise where.error(f"expected a finite number [{unit}], got {spec:.6g}")
        values = np.full(len(index), float(spec))
    elif isinstance(spec, np.ndarray | list | tuple):
        values = np.asarray(spec, dtype=float)
        if values.shape != (len(index),):
            raise where.error(
                f"expected {len(index)} hourly values [{unit}], got shape {values.shape}"
            )
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            i = int(bad[0])
            raise where.error(
                f"value at hour {i} ({fmt_time(index[i])}) is {values[i]}; expected a finite number"
            )
    elif isinstance(spec, Mapping) and "synthetic" in spec:
        values = _synthetic(spec, where, index, seed)
    elif isinstance(spec, Mapping) and "file" in spec:
        values = _from_file(spec, where, index, base_dir, unit, rows)
    else:
        raise where.error(
            f"expected a number [{unit}], {{ file = ... }}, {{ synthetic = ... }} or a pandas "
            f"Series, got {type(spec).__name__} {spec!r:.80}"
        )
    _check_range(values, where, index, unit, minimum, maximum)
    values = np.array(values, dtype=np.float64)
    values.flags.writeable = False
    return values


def _check_range(values, where, index, unit, minimum, maximum) -> None:
    for bound, bad in (
        (minimum, values < (minimum if minimum is not None else 0)),
        (maximum, values > (maximum if maximum is not None else 0)),
    ):
        if bound is None:
            continue
        hits = np.flatnonzero(bad)
        if hits.size:
            i = int(hits[0])
            op = ">=" if bound is minimum else "<="
            raise where.error(
                f"value {values[i]:g} at {fmt_time(index[i])} ({hits.size} hours in all); "
                f"expected {op} {bound:g} [{unit}]"
            )


def _synthetic(
    spec: Mapping[str, Any], where: Where, index: pd.DatetimeIndex, seed: int
) -> np.ndarray:
    from models import synthetic  # imported on first use: file-only scenarios never need it

    name = text(spec, "synthetic", where, choices=list(synthetic.GENERATORS))
    fn = synthetic.GENERATORS[name]
    params = [p for p in inspect.signature(fn).parameters if p not in ("index", "seed")]
    check_keys(spec, ["synthetic", "seed", *params], where)
    kwargs = {k: v for k, v in spec.items() if k not in ("synthetic", "seed")}
    for k in kwargs:
        number(kwargs, k, where)
    return np.asarray(fn(index, int(spec.get("seed", seed)), **kwargs), dtype=float)


@lru_cache(maxsize=64)
def _read_file(path: str, mtime_ns: int, size: int) -> pd.DataFrame:
    """Read a CSV/Parquet file once per content version (studies load the same files often)."""
    if path.lower().endswith((".parquet", ".pq")):
        return pd.read_parquet(path)
    return pd.read_csv(path)


def read_table(path: Path, where: Where) -> pd.DataFrame:
    """Read a CSV or Parquet file, naming it when it does not exist or cannot be parsed."""
    try:
        if not path.is_file():
            raise where.error(f"file not found: {path}")
        st = os.stat(path)
    except OSError as exc:
        raise where.error(f"cannot read {path}: {exc.strerror}") from None
    try:
        return _read_file(str(path), st.st_mtime_ns, st.st_size).copy()
    except Exception as exc:  # a parser error from pandas/pyarrow: name the file
        raise where.error(f"cannot read {path.name}: {exc}") from None


def _from_file(spec, where, index, base_dir, unit, rows=None) -> np.ndarray:
    check_keys(spec, _FILE_KEYS, where)
    path = Path(text(spec, "file", where))
    if not path.is_absolute():
        path = base_dir / path
    frame = read_table(path, where / "file").reset_index(drop=True)  # index = row in the file
    if rows is not None:  # e.g. one product of a long-form ancillary price file
        frame = rows(frame, where)
    name = str(spec["file"])
    ercot = price_files.ercot_columns(frame)
    tz = text(spec, "timezone", where, default=price_files.ERCOT_TIMEZONE if ercot else "UTC")
    scale = number(spec, "scale", where, default=1.0)
    resample = text(spec, "resample", where, default="", choices=("mean",))
    ambiguous = text(spec, "ambiguous", where, default="raise", choices=("raise", "infer"))
    loc_col = text(
        spec,
        "location_column",
        where,
        default=price_files.find_column(frame, price_files.LOCATION_COLUMNS),
    )
    location = text(spec, "location", where, default=None)
    if ercot and "time_column" in spec:
        raise (where / "time_column").error(
            f"{name} is an ERCOT settlement point price file: its times come from "
            f"{ercot['date']} and {ercot['hour']}; remove time_column"
        )
    time_col = text(spec, "time_column", where, default=price_files.default_time_column(frame))
    if not ercot and time_col not in frame.columns:
        raise where.error(
            f"{name} has no time column '{time_col}' (columns: {', '.join(map(str, frame.columns))})"
        )
    skip = set(ercot.values()) - {ercot["price"]} if ercot else {time_col}
    value_col = text(
        spec,
        "value_column",
        where,
        default=price_files.default_value_column(frame, skip | {loc_col}),
    )
    if value_col not in frame.columns:
        raise where.error(
            f"{name} has no value column '{value_col}' (columns: {', '.join(map(str, frame.columns))}); "
            "set value_column"
        )
    try:
        frame = price_files.select_location(frame, loc_col, location, name)
        if ercot:
            times = price_files.ercot_times(frame, ercot, name, tz)
        else:
            times = _parse_times(frame[time_col], name, tz, ambiguous)
        values = _parse_values(frame[value_col], times, name, value_col, unit)
        rows = frame.index.to_numpy()
        if resample:
            times, values, rows = price_files.hourly_means(times, values, rows, name)
        _check_hourly(times, name, rows)
        return _align(times, values * scale, index, name)
    except ScenarioError as exc:  # prefix the scenario field that points at the file
        raise where.error(str(exc)) from None


def _from_pandas(series: pd.Series, where: Where, index: pd.DatetimeIndex, unit: str) -> np.ndarray:
    """The values of a pandas Series at the horizon's hours (its index: tz-aware hour starts)."""
    label = f"Series {series.name!r}" if series.name is not None else "the Series"
    times = series.index
    if not isinstance(times, pd.DatetimeIndex):
        raise where.error(
            f"{label} has a {type(times).__name__}; expected a DatetimeIndex of hour starts "
            "(or pass .to_numpy(): one value per horizon hour)"
        )
    if times.tz is None:
        raise where.error(
            f"{label} has a tz-naive DatetimeIndex: local or UTC? Localize it first, e.g. "
            "series.tz_localize('UTC') or .tz_localize('America/Chicago', ambiguous='infer')"
        )
    times = times.tz_convert("UTC")
    if times.has_duplicates:
        raise where.error(f"{label}: time {fmt_time(times[times.duplicated()][0])} appears twice")
    off = times[times != times.floor("h")]
    if len(off):
        raise where.error(
            f"{label}: time {off[0]:%Y-%m-%dT%H:%M:%SZ} is not an hour start; expected hourly "
            "data (series.resample('h').mean() averages sub-hourly values)"
        )
    if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
        raise where.error(f"{label} holds {series.dtype} values; expected numbers [{unit}]")
    values = pd.Series(series.to_numpy(dtype=float), index=times).reindex(index)
    bad = np.flatnonzero(~np.isfinite(values.to_numpy()))
    if bad.size:
        i = int(bad[0])
        what = "missing" if index[i] not in times else f"{values.iloc[i]}"
        raise where.error(
            f"{label}: the value at {fmt_time(index[i])} is {what} ({bad.size} hours in all); "
            f"expected a finite number [{unit}] for every hour from {fmt_time(index[0])} to "
            f"{fmt_time(index[-1])}"
        )
    return values.to_numpy()


#: ISO 8601 date-times as hashpivot reads them: date, T or space, hour:minute[:second[.frac]],
#: then ``Z``, an offset (``+02:00``) or nothing (then ``timezone`` says where).
_ISO = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$"
)


def _parse_times(col: pd.Series, name: str, tz: str, ambiguous: str = "raise") -> pd.DatetimeIndex:
    """UTC times of a time column whose index holds each row's position in the file.

    Local times (no offset, ``tz`` not UTC) with ``ambiguous = "infer"`` place the repeated
    fall-back hour by order (its first copy daylight time, the second standard time).
    """
    rows = col.index.to_numpy()
    if pd.api.types.is_datetime64_any_dtype(col):  # Parquet timestamps
        _no_nat(col, col, name)
        if getattr(col.dt, "tz", None) is not None:
            return pd.DatetimeIndex(col).tz_convert("UTC")
        naive = col
    else:
        raw = col.astype(str).str.strip()
        match = raw.str.extract(_ISO.pattern.replace("(Z|", "(?P<zone>Z|"), expand=True)
        bad = np.flatnonzero(~raw.str.match(_ISO.pattern).to_numpy(dtype=bool))
        if bad.size:
            i = int(bad[0])
            raise ScenarioError(
                f"{name} {_row(rows[i])}: time {col.iloc[i]!r} is not an ISO 8601 timestamp; "
                f"expected e.g. 2026-01-01T00:00:00Z ({bad.size} such rows; a file cut short?)"
            )
        zoned = match["zone"].notna().to_numpy()
        if zoned.any() and not zoned.all():
            i = int(np.flatnonzero(zoned != zoned[0])[0])
            has = "has" if zoned[i] else "lacks"
            first = "lacks" if zoned[i] else "has"
            raise ScenarioError(
                f"{name} {_row(rows[i])}: time {col.iloc[i]!r} {has} a time zone (Z or +hh:mm) "
                f"but row {rows[0] + 1} {first} one; expected one style for every row"
            )
        if zoned.all():
            times = pd.to_datetime(raw, utc=True, errors="coerce", format="ISO8601")
            _no_nat(times, col, name)
            return pd.DatetimeIndex(times)
        naive = pd.to_datetime(raw, errors="coerce", format="ISO8601")
        _no_nat(naive, col, name)
    if tz.upper() == "UTC":
        return pd.DatetimeIndex(naive).tz_localize("UTC")
    # Local wall-clock times: a DST fall-back repeats one hour, placed only by order ("infer").
    dup = naive.duplicated(keep="first").to_numpy()
    if dup.any() and ambiguous == "raise":
        i = int(np.flatnonzero(dup)[0])
        raise ScenarioError(
            f"{name} {_row(rows[i])}: local time {naive.iloc[i]:%Y-%m-%d %H:%M} appears twice "
            f"(DST fall-back in {tz}?); give times in UTC or with an offset (e.g. -05:00), or "
            'set ambiguous = "infer" when the repeated hour\'s rows come in order'
        )
    try:
        local = pd.DatetimeIndex(naive).tz_localize(tz, ambiguous=ambiguous, nonexistent="raise")
    except Exception as exc:
        hint = (
            ' (set ambiguous = "infer" to place a repeated fall-back hour by order)'
            if ambiguous == "raise" and "ambiguous" in str(exc).lower()
            else ""
        )
        raise ScenarioError(
            f"{name}: cannot place local times of {tz} in UTC: {exc}{hint}"
        ) from None
    return local.tz_convert("UTC")


def _no_nat(times: pd.Series, col: pd.Series, name: str) -> None:
    bad = np.flatnonzero(pd.isna(times).to_numpy())
    if bad.size:
        i = int(bad[0])
        raise ScenarioError(
            f"{name} {_row(col.index[i])}: time {col.iloc[i]!r} is not a timestamp; expected "
            "ISO 8601 such as 2026-01-01T00:00:00Z"
        )


def _parse_values(
    col: pd.Series, times: pd.DatetimeIndex, name: str, field: str, unit: str
) -> np.ndarray:
    if pd.api.types.is_bool_dtype(col) or (
        col.dtype == object and col.map(lambda v: isinstance(v, bool | np.bool_)).any()
    ):
        raise ScenarioError(
            f"{name}: column {field} holds true/false values; expected numbers [{unit}]"
        )
    if not (pd.api.types.is_numeric_dtype(col) or col.dtype == object or col.dtype == "string"):
        raise ScenarioError(
            f"{name}: column {field} has type {col.dtype}; expected numbers [{unit}]"
        )
    values = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        i = int(bad[0])
        raw = col.iloc[i]
        what = (
            f"{values[i]}"
            if not np.isnan(values[i])
            else (f"not a number ({raw!r})" if isinstance(raw, str) else "NaN (empty cell)")
        )
        raise ScenarioError(
            f"{name} {_row(col.index[i], times[i])}: {field} is {what}; expected a finite "
            f"number [{unit}] ({bad.size} bad rows in all)"
        )
    return values


def _check_hourly(times: pd.DatetimeIndex, name: str, rows: np.ndarray) -> None:
    """One row per UTC hour start, sorted, no gaps (``rows``: each time's row in the file)."""
    if len(times) == 0:
        raise ScenarioError(f"{name}: no rows")
    steps = np.diff(times.as_unit("ns").asi8)
    hour_ns = HOUR.value
    # Report disorder first (a swap also looks like a gap), then duplicates, then gaps/steps.
    bad = np.flatnonzero(steps < 0)
    if not bad.size:
        bad = np.flatnonzero(steps == 0)
    if not bad.size:
        bad = np.flatnonzero(steps != hour_ns)
    for i in bad[:1]:
        a, b = times[i], times[i + 1]
        row = _row(rows[i + 1])
        if steps[i] < 0:
            raise ScenarioError(
                f"{name} {row}: time {fmt_time(b)} comes before {fmt_time(a)}; "
                "expected timestamps sorted ascending"
            )
        if steps[i] == 0:
            raise ScenarioError(
                f"{name} {row}: duplicated hour {fmt_time(b)} (DST fall-back in a local-time "
                "file?); expected one row per UTC hour"
            )
        if steps[i] % hour_ns:
            raise ScenarioError(
                f"{name} {row}: step of {price_files.duration(int(steps[i]))} after "
                f"{fmt_time(a)}; expected hourly data (for 5/15-minute data set "
                'resample = "mean": hourly means of complete hours)'
            )
        gap = int(steps[i] // hour_ns) - 1
        raise ScenarioError(
            f"{name} {row}: {gap} missing hour(s) from {fmt_time(a + HOUR)} to "
            f"{fmt_time(b - HOUR)}; expected one row per hour"
        )
    if times[0] != times[0].floor("h"):
        raise ScenarioError(
            f"{name} {_row(rows[0])}: time {times[0]:%Y-%m-%dT%H:%M:%SZ} is not an hour start "
            "in UTC; expected hour starts"
        )


def _align(
    times: pd.DatetimeIndex, values: np.ndarray, index: pd.DatetimeIndex, name: str
) -> np.ndarray:
    if times[0] > index[0] or times[-1] < index[-1]:
        raise ScenarioError(
            f"{name} covers {fmt_time(times[0])} to {fmt_time(times[-1])} but the horizon needs "
            f"{fmt_time(index[0])} to {fmt_time(index[-1])}"
        )
    start = int((index[0] - times[0]) / HOUR)
    return values[start : start + len(index)]
