"""Price files as market data sites publish them: long form, several locations, ERCOT's layout.

:func:`models.series.resolve_series` reads every ``{ file = ... }`` series through here first:

- **Column defaults.** The time column is ``time`` or, failing that, ``Interval Start``,
  ``interval_start_utc``, ``hour_start_utc``, ``Time`` or ``timestamp`` (case, spaces and
  underscores ignored): the names of gridstatus's output and of the shared ERCOT extracts. The
  value column is the only other column or, failing that, the only numeric one (``SPP`` in a
  gridstatus file).
- **Long form** (one row per interval and location): ``location = "HB_WEST"`` keeps that
  location's rows; the location column is ``Location`` or ``Settlement Point Name`` unless
  ``location_column`` names another. A file holding several locations without ``location`` is
  refused, listing them.
- **ERCOT's own settlement point price files** (NP6-785-ER, NP6-905-CD): columns ``Delivery
  Date`` (MM/DD/YYYY), ``Delivery Hour`` (hour ending, 1-24), ``Delivery Interval`` (1-4, 15
  minutes each; absent in hourly files), ``Repeated Hour Flag`` (``Y`` on the second, standard
  time, copy of the fall-back hour; ``DSTFlag`` in the API's files), ``Settlement Point Name``
  and ``Settlement Point Price`` [USD/MWh], in Central prevailing time (``timezone`` defaults
  to ``America/Chicago``). Their times are built from those columns; the repeated hour is
  placed by its flag.

Rows keep their position in the file (the frame's index), so every message names the file's
row and line even after the rows of other locations are dropped.
"""

from __future__ import annotations

import difflib
import re

import numpy as np
import pandas as pd

from models.errors import ScenarioError

#: Time column names tried in turn when ``time_column`` is not given (after ``time`` itself).
TIME_COLUMNS = ("intervalstartutc", "intervalstart", "hourstartutc", "time", "timestamp")
#: Location column names tried in turn when ``location_column`` is not given.
LOCATION_COLUMNS = ("location", "settlementpointname", "settlementpoint")
#: Columns of ERCOT's settlement point price files, by normalized name.
ERCOT_COLUMNS = {
    "date": ("deliverydate",),
    "hour": ("deliveryhour", "hourending"),
    "interval": ("deliveryinterval",),
    "repeated": ("repeatedhourflag", "dstflag"),
    "price": ("settlementpointprice",),
}
ERCOT_TIMEZONE = "America/Chicago"
ERCOT_INTERVAL = pd.Timedelta(minutes=15)


def key(column: object) -> str:
    """A column name without case, spaces, underscores or punctuation (``Interval Start`` ->
    ``intervalstart``)."""
    return re.sub(r"[^a-z0-9]", "", str(column).lower())


def find_column(frame: pd.DataFrame, names: tuple[str, ...]) -> str | None:
    """The first column of ``frame`` whose :func:`key` is in ``names`` (in ``names``' order)."""
    keys = {key(c): c for c in reversed(list(frame.columns))}
    return next((keys[n] for n in names if n in keys), None)


def ercot_columns(frame: pd.DataFrame) -> dict[str, str] | None:
    """The ERCOT layout's columns of ``frame`` (``date``, ``hour``, ``price`` and, where
    present, ``interval``, ``repeated``), or None when the file is not in that layout."""
    found = {role: find_column(frame, names) for role, names in ERCOT_COLUMNS.items()}
    if not all(found[r] for r in ("date", "hour", "price")):
        return None
    return {role: col for role, col in found.items() if col is not None}


def default_time_column(frame: pd.DataFrame) -> str:
    """``time`` when present, else the first of :data:`TIME_COLUMNS`; ``"time"`` when none."""
    if "time" in frame.columns:
        return "time"
    return find_column(frame, TIME_COLUMNS) or "time"


def default_value_column(frame: pd.DataFrame, exclude: set[str]) -> str:
    """The only column not in ``exclude``, else the only numeric one; ``""`` when ambiguous."""
    others = [c for c in frame.columns if c not in exclude]
    if len(others) == 1:
        return str(others[0])
    numeric = [
        c
        for c in others
        if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
    ]
    return str(numeric[0]) if len(numeric) == 1 else ""


def row_label(i: int, time: pd.Timestamp | None = None) -> str:
    """Data row ``i`` (0-based position in the file) as the user sees it: 1-based, its line."""
    at = f", time {time.tz_convert('UTC'):%Y-%m-%dT%H:%MZ}" if time is not None else ""
    return f"row {i + 1} (line {i + 2}{at})"


def select_location(
    frame: pd.DataFrame, column: str | None, location: str | None, name: str
) -> pd.DataFrame:
    """The rows of one location of a long-form file (all rows when it holds one location).

    Parameters
    ----------
    frame
        The file, rows indexed by their position in it.
    column
        The location column (None: the file has none).
    location
        The location to keep (None: the file must hold only one).
    name
        The file's name, for messages.

    Raises
    ------
    ScenarioError
        No location column for ``location``, an unknown location (with the closest one), or
        several locations and no ``location``.
    """
    if column is None:
        if location is not None:
            raise ScenarioError(
                f"{name} has no location column (Location, Settlement Point Name); set "
                f"location_column (columns: {', '.join(map(str, frame.columns))})"
            )
        return frame
    if column not in frame.columns:
        raise ScenarioError(
            f"{name} has no location column '{column}' (columns: "
            f"{', '.join(map(str, frame.columns))})"
        )
    names = frame[column].astype(str).str.strip()
    known = sorted(str(n) for n in pd.unique(names))
    listed = ", ".join(known[:20]) + (f", ... ({len(known)} in all)" if len(known) > 20 else "")
    if location is None:
        if len(known) > 1:
            raise ScenarioError(
                f"{name} holds {len(known)} locations in column '{column}' ({listed}); set "
                f'location = "{known[0]}" (or another) to pick one'
            )
        return frame
    keep = (names == location).to_numpy()
    if not keep.any():
        close = difflib.get_close_matches(location, known, n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ScenarioError(
            f"{name} has no rows for location '{location}' in column '{column}'{hint} "
            f"(locations: {listed})"
        )
    return frame[keep]


def ercot_times(frame: pd.DataFrame, cols: dict[str, str], name: str, tz: str) -> pd.DatetimeIndex:
    """Interval start times (UTC) of the rows of an ERCOT settlement point price file.

    ``Delivery Hour`` h (hour ending, 1-24) and ``Delivery Interval`` i (1-4) start at local
    ``date + (h - 1) h + (i - 1) 15 min``; in the repeated fall-back hour the copy flagged
    ``Y`` is standard time, the other daylight time.

    Raises
    ------
    ScenarioError
        Naming the row: a date that is not MM/DD/YYYY (or ISO), an hour outside 1-24, an
        interval outside 1-4, a flag other than Y/N, or a local time that does not exist (the
        spring-forward hour).
    """
    rows = frame.index.to_numpy()

    def fail(i: int, what: str) -> ScenarioError:
        return ScenarioError(f"{name} {row_label(int(rows[i]))}: {what}")

    raw_date = frame[cols["date"]]
    if pd.api.types.is_datetime64_any_dtype(raw_date):
        day = pd.DatetimeIndex(raw_date).tz_localize(None).normalize()
    else:
        text = raw_date.astype(str).str.strip()
        day = pd.to_datetime(text, format="%m/%d/%Y", errors="coerce")
        iso = pd.to_datetime(text, format="ISO8601", errors="coerce")
        day = pd.DatetimeIndex(day.fillna(iso))
    bad = np.flatnonzero(pd.isna(day))
    if bad.size:
        raise fail(
            int(bad[0]),
            f"{cols['date']} {raw_date.iloc[int(bad[0])]!r} is not a date; expected MM/DD/YYYY",
        )
    hour = _whole_numbers(frame[cols["hour"]], 1, 24)
    bad = np.flatnonzero(hour < 0)
    if bad.size:
        raise fail(
            int(bad[0]),
            f"{cols['hour']} {frame[cols['hour']].iloc[int(bad[0])]!r}; expected an hour ending "
            "1-24",
        )
    if "interval" in cols:
        interval = _whole_numbers(frame[cols["interval"]], 1, 4)
        bad = np.flatnonzero(interval < 0)
        if bad.size:
            raise fail(
                int(bad[0]),
                f"{cols['interval']} {frame[cols['interval']].iloc[int(bad[0])]!r}; expected a "
                "15-minute interval 1-4",
            )
    else:
        interval = np.ones(len(frame), dtype=np.int64)
    repeated = np.zeros(len(frame), dtype=bool)
    if "repeated" in cols:
        flags = frame[cols["repeated"]].astype(str).str.strip().str.upper()
        known = flags.isin(["Y", "N", "TRUE", "FALSE"]).to_numpy()
        if not known.all():
            i = int(np.flatnonzero(~known)[0])
            raise fail(
                i, f"{cols['repeated']} {frame[cols['repeated']].iloc[i]!r}; expected Y or N"
            )
        repeated = flags.isin(["Y", "TRUE"]).to_numpy()
    local = day + pd.to_timedelta(hour - 1, unit="h") + ERCOT_INTERVAL * (interval - 1)
    try:
        placed = local.tz_localize(tz, ambiguous=~repeated, nonexistent="NaT")
    except Exception as exc:  # an unknown time zone, or a flag on a time that is not repeated
        raise ScenarioError(f"{name}: cannot place the local times of {tz} in UTC: {exc}") from None
    bad = np.flatnonzero(pd.isna(placed))
    if bad.size:
        i = int(bad[0])
        raise fail(
            i,
            f"local time {local[i]:%Y-%m-%d %H:%M} does not exist in {tz} (the hour the clocks "
            "spring forward); expected ERCOT to skip it",
        )
    return placed.tz_convert("UTC")


def _whole_numbers(col: pd.Series, lo: int, hi: int) -> np.ndarray:
    """Integers of ``col`` (``"01:00"`` style hours read as 1), -1 where not a whole number in
    ``lo..hi``."""
    if not pd.api.types.is_numeric_dtype(col):
        col = col.astype(str).str.strip().str.replace(r"^(\d{1,2}):00$", r"\1", regex=True)
    values = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(values) & (values == np.round(values)) & (values >= lo) & (values <= hi)
    return np.where(ok, np.nan_to_num(values), -1).astype(np.int64)


def hourly_means(
    times: pd.DatetimeIndex, values: np.ndarray, rows: np.ndarray, name: str
) -> tuple[pd.DatetimeIndex, np.ndarray, np.ndarray]:
    """Average sub-hourly intervals to hours, checking that every hour is complete.

    The interval length is the shortest step between rows; it must divide the hour, and every
    time must start an interval. Each hour of the file must hold every one of its intervals
    (all four 15-minute prices, all twelve 5-minute ones): a partial hour's mean would be
    biased, so it is refused rather than averaged.

    Parameters
    ----------
    times
        Interval starts, UTC.
    values
        One value per interval.
    rows
        Each interval's row position in the file (for messages).
    name
        The file's name, for messages.

    Returns
    -------
    tuple
        Hour starts (UTC), hourly means, and the file row of each hour's first interval.

    Raises
    ------
    ScenarioError
        Unsorted or repeated intervals, a step that does not divide the hour, a time off the
        interval grid, or an incomplete hour (naming it and its rows).
    """
    hour_ns = pd.Timedelta(hours=1).value
    ns = times.as_unit("ns").asi8
    steps = np.diff(ns)
    for bad, what in (
        (np.flatnonzero(steps < 0), "comes before {t} of row {r}; expected times sorted ascending"),
        (
            np.flatnonzero(steps == 0),
            "repeats the interval {t} of row {r}; expected one row per interval (gridstatus "
            "files give each ERCOT load zone twice, as LZ and LZEW: pick a hub such as "
            "HB_WEST, or average the pair first)",
        ),
    ):
        if bad.size:
            i = int(bad[0]) + 1
            previous = what.format(t=f"{times[i - 1]:%Y-%m-%dT%H:%MZ}", r=int(rows[i - 1]) + 1)
            raise ScenarioError(f"{name} {row_label(int(rows[i]), times[i])}: {previous}")
    step = int(steps.min()) if steps.size else hour_ns
    step = min(step, hour_ns)
    if hour_ns % step:
        i = int(np.flatnonzero(steps == step)[0]) + 1
        raise ScenarioError(
            f"{name} {row_label(int(rows[i]), times[i])}: intervals of {duration(step)} do not "
            "divide the hour; expected 5, 15, 30 or 60-minute data"
        )
    off = np.flatnonzero(ns % step)
    if off.size:
        i = int(off[0])
        raise ScenarioError(
            f"{name} {row_label(int(rows[i]), times[i])}: time is not on the {duration(step)} "
            "grid of the other rows; expected interval start times"
        )
    hours, first, counts = np.unique(ns - ns % hour_ns, return_index=True, return_counts=True)
    per_hour = hour_ns // step
    short = np.flatnonzero(counts != per_hour)
    if short.size:
        h = int(short[0])
        a, b = int(rows[first[h]]), int(rows[first[h] + counts[h] - 1])
        span = f"row {a + 1}" if counts[h] == 1 else f"rows {a + 1}-{b + 1}"
        start = pd.Timestamp(int(hours[h]), tz="UTC")
        raise ScenarioError(
            f"{name}: hour {start:%Y-%m-%dT%H:%MZ} has {counts[h]} of its {per_hour} "
            f"{duration(step)} intervals ({span}; {short.size} incomplete hour(s) in all); "
            "expected every interval of every hour, so that its mean is the hour's price"
        )
    means = np.add.reduceat(values, first) / counts
    return pd.DatetimeIndex(hours.astype("datetime64[ns]")).tz_localize("UTC"), means, rows[first]


def duration(ns: int) -> str:
    """``15 min``, ``2 h``, ``1 h 30 min`` for a step in nanoseconds."""
    minutes = ns / 60e9
    if minutes < 1:
        return f"{ns / 1e9:g} s"
    h, m = divmod(minutes, 60)
    return " ".join(p for p in (f"{h:g} h" if h else "", f"{m:g} min" if m else "") if p)
