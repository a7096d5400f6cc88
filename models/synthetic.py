"""Synthetic hourly series for the built-in example: a West Texas (ERCOT West) mining site.

Every generator is a pure function ``fn(index, seed, **params) -> np.ndarray`` (float64, one
value per timestamp of ``index``), deterministic for a seed. ``index`` is a tz-aware hourly
``DatetimeIndex`` (UTC by convention); any span works, from a few hours to many years.

Span consistency
----------------
Values are built one UTC calendar year (a *block*) at a time and then picked out by timestamp,
so an hour has the same value whatever span asks for it: 48 hours of August 2026 equal the same
48 hours of the full-year series. Random streams come from
``np.random.default_rng([seed, stream, year, part])`` with one ``stream`` id per generator, so
changing one generator's code never shifts another generator's random numbers. Autocorrelated
noise is a stationary AR(1) started at the beginning of the previous year and run through the
block, so the year boundary has no seam (the previous year's influence decays as phi**8760).
Diurnal and seasonal shapes use local time, ``America/Chicago`` (ERCOT, Central time, with DST).

Statistical models
------------------
**Temperature** ``west_texas_temp_c`` [C] (Midland/Odessa climate):
``T = S(d) + A(d) + D(h) + 0.4 e_fast``, then soft-limited above 39 C.

- ``S(d) = 18 - 11 cos(2 pi (d - 17) / 365.25)``: local day of year ``d``; Jan mean ~7 C, Jul
  mean ~29 C.
- ``A``: weather fronts, ``sd(d) * (0.88 x_slow + 0.47 x_mid)`` with AR(1) processes of hourly
  persistence 0.985 (e-folding ~3 days) and 0.9; ``sd`` is 3.8 C in mid-winter and 1.5 C in
  mid-summer, and cold anomalies are stretched up to 1.3x in winter (arctic outbreaks).
- ``D(h)``: diurnal cycle, half-range 7.8 C, minimum at 06:30 and maximum at 16:00 local,
  cosine warming and cooling branches (9.5 h up, 14.5 h down).
- Above 39 C the value is ``39 + 3 tanh((T - 39) / 3)`` (dry-soil heat-dome saturation), so the
  annual maximum stays near 40-42 C while the July mean daily maximum is ~36-37 C.

**Real-time price** ``ercot_west_price_usd_per_mwh`` [USD/MWh] (calibrated on ERCOT HB_WEST
2022-2024 hourly means: mean 27-57, median 20-43, 8-12 % negative hours, floor about -38,
p99 170-650, maximum about the $5,000 offer cap):

- Body: ``f * M(month, h) * exp(0.45 z)``, ``M`` a median shape (spring lowest, August highest;
  evening peak at 19-20 local, a morning shoulder at 06-07, a solar dip at 10-13 that is deeper
  in spring), ``z`` a unit AR(1) mix (persistence 0.97 and 0.8) correlated (0.45) with the
  oversupply index below.
- Negative hours: an oversupply index ``o`` (AR(1), persistence 0.93) is mapped to
  ``u = Phi(o)``; the hour is negative when ``u < p(month, h)``, a probability table highest
  at night and midday in spring and nearly zero on summer evenings (~9 % of the year). The
  price is ``-5.5 ln(p / u)`` [USD/MWh] (exponential depth, mean $5.5, floored at -$60), so
  deeper negatives come in the windiest/sunniest stretches.
- Spikes: with ``v = 1 - Phi(k)`` of a short-memory index ``k`` (persistence 0.6), the hour
  spikes when ``v < q(month, h, T)`` and adds ``f * 70 * ((v / q)**(-1 / 1.3) - 1)`` (Pareto,
  tail index 1.3); ``q`` is highest on hot summer evenings and spikes hit ~2.4 % of hours.
- Scarcity events: 2-5 per year on randomly chosen days among the 10 hottest June-September
  days (start 15-18 local, 3-8 hours) and one winter cold snap on the coldest December-February
  day (start 06-07 or 18-19 local, 3-5 hours); each hour is $1,000 to the cap, peaking mid-event.
- Everything is clipped to ``cap_usd_per_mwh``. The scale ``f`` of body and spikes is solved per
  block so that a full UTC year averages exactly ``mean_usd_per_mwh``.

**Curtailment orders** ``curtailment_orders_mw`` [MW]: among June-September weekdays, the 18-30
hottest (by 14:00-19:00 local maximum temperature) each get one order starting 14-17 local,
lasting 3-6 hours and ending by 20:00 local, at ``max_mw`` on the hottest quarter and
50-100 % of ``max_mw`` otherwise (~70-130 hours a year). If the coldest December-February day
falls below -4 C, that day gets orders at 06-09 and 18-21 local.

**Ancillary-service prices** ``ercot_as_price_usd_per_mw_hour`` [USD/MW-h]: the price's hour
factor x ``exp(0.8 z)`` (AR(1), 0.95), scaled per block to the mean, plus ``scarcity_share x
max(0, P - 150)``, ``P`` the energy price of the same seed (spikes with scarcity).

**Coincident-peak flags** ``coincident_peak_flags`` [0/1]: ERCOT 4CP risk windows. In each of
June-September the 8-12 hottest weekdays (by 15:00-18:00 local maximum temperature) are
flagged at hour-beginning 15, 16 and 17 local (~100-145 hours a year). The month's *actual*
coincident peak is the hottest flagged hour (``coincident_peak_actual_flags``).

References
----------
ERCOT real-time settlement point prices (HB_WEST), 2020-2024; ERCOT Nodal Protocols 4.4.11
(system-wide offer cap $5,000/MWh); ERCOT 4CP transmission cost allocation (PUCT 25.192);
NOAA 1991-2020 climate normals, Midland International Air and Space Port (TX).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import NamedTuple

import numpy as np
import pandas as pd

__all__ = [
    "GENERATORS",
    "LOCAL_TZ",
    "coincident_peak_actual_flags",
    "coincident_peak_flags",
    "curtailment_orders_mw",
    "ercot_as_price_usd_per_mw_hour",
    "ercot_west_price_usd_per_mwh",
    "generate",
    "west_texas_temp_c",
]

#: Local time zone of ERCOT West (Central time, with DST).
LOCAL_TZ = "America/Chicago"

# One random stream id per generator: changing one generator never shifts another's numbers.
_STREAM_TEMP = 1
_STREAM_PRICE = 2
_STREAM_CURTAILMENT = 3
_STREAM_PEAKS = 4
_STREAM_AS = 5  # + product number: each product its own stream

_SUMMER_MONTHS = (6, 7, 8, 9)
_WINTER_MONTHS = (12, 1, 2)

# --- price shape (calibrated on ERCOT HB_WEST 2022-2024; relative, the scale is solved) ---
# Median level by local month, Jan..Dec [USD/MWh] before the scale f.
_PRICE_MONTH_MEDIAN = np.array(
    [24.0, 21.0, 17.0, 16.0, 22.0, 27.0, 30.0, 35.0, 29.0, 23.0, 23.0, 25.0]
)
# Diurnal factor by local hour-beginning 0..23 (evening peak, morning shoulder, solar dip).
_PRICE_HOUR_FACTOR = np.array(
    [0.95, 0.92, 0.90, 0.90, 0.92, 1.00, 1.12, 1.10, 0.95, 0.82, 0.76, 0.74,
     0.74, 0.77, 0.84, 0.94, 1.08, 1.30, 1.55, 1.80, 1.72, 1.38, 1.15, 1.02]
)  # fmt: skip
# Extra depth of the solar dip (hours 9-15) by month: spring deepest.
_PRICE_SOLAR_DIP = np.array([0.05, 0.10, 0.18, 0.20, 0.12, 0.0, 0.0, 0.0, 0.0, 0.08, 0.06, 0.04])
_PRICE_BODY_SIGMA = 0.45  # log-scale sd of the body
_PRICE_OVERSUPPLY_CORR = 0.45  # correlation of the body noise with the oversupply index
# Probability of a negative price by local month, Jan..Dec (before the hour factor).
_NEG_MONTH_PROB = np.array(
    [0.11, 0.15, 0.17, 0.19, 0.08, 0.04, 0.012, 0.006, 0.012, 0.10, 0.10, 0.08]
)
# Relative likelihood of a negative price by local hour (windy nights, sunny middays).
_NEG_HOUR_WEIGHT = np.array(
    [1.15, 1.2, 1.2, 1.2, 1.1, 0.75, 0.35, 0.35, 0.7, 1.2, 1.35, 1.35,
     1.35, 1.35, 1.35, 1.3, 1.1, 0.75, 0.5, 0.45, 0.55, 0.75, 0.95, 1.05]
)  # fmt: skip
_NEG_DEPTH_USD_PER_MWH = 5.5  # mean depth of a negative price
_NEG_FLOOR_USD_PER_MWH = -60.0
# Spike probability: base x hour factor x season factor x heat factor.
_SPIKE_BASE_PROB = 0.012
_SPIKE_HOUR_FACTOR = np.array(
    [0.5, 0.4, 0.4, 0.4, 0.5, 0.8, 1.6, 1.8, 1.2, 0.7, 0.6, 0.6,
     0.7, 0.9, 1.3, 1.8, 2.6, 3.5, 4.0, 4.2, 3.6, 2.2, 1.2, 0.8]
)  # fmt: skip
_SPIKE_MONTH_FACTOR = np.array([1.3, 1.2, 0.8, 0.8, 1.0, 1.6, 1.8, 2.2, 1.8, 0.9, 0.9, 1.2])
_SPIKE_PARETO_SCALE_USD_PER_MWH = 70.0
_SPIKE_PARETO_ALPHA = 1.3
_SCARCITY_MIN_USD_PER_MWH = 1000.0


class _Calendar(NamedTuple):
    """Local-time features of one UTC-year block (hourly)."""

    start: pd.Timestamp  # first hour of the block, UTC
    hour: np.ndarray  # local hour 0..23
    month: np.ndarray  # local month 1..12
    day_of_year: np.ndarray  # local day of year, fractional [days]
    weekday: np.ndarray  # local weekday, 0 = Monday
    day: np.ndarray  # local-day number within the block, 0..n_days-1
    n_days: int


def _frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


@lru_cache(maxsize=16)
def _calendar(year: int) -> _Calendar:
    start = pd.Timestamp(year=year, month=1, day=1, tz="UTC")
    grid = pd.date_range(start, pd.Timestamp(year=year + 1, month=1, day=1, tz="UTC"), freq="h")
    grid = grid[:-1]
    local = grid.tz_convert(LOCAL_TZ)
    hour = local.hour.to_numpy(dtype=np.int64)
    days = local.tz_localize(None).normalize().as_unit("s").asi8 // 86_400
    day = days - days[0]
    return _Calendar(
        start=start,
        hour=_frozen(hour),
        month=_frozen(local.month.to_numpy(dtype=np.int64)),
        day_of_year=_frozen(local.day_of_year.to_numpy(dtype=float) - 1.0 + hour / 24.0),
        weekday=_frozen(local.day_of_week.to_numpy(dtype=np.int64)),
        day=_frozen(day),
        n_days=int(day[-1]) + 1,
    )


def _rng(seed: int, stream: int, year: int, part: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream, year, part])


def _hours_in_year(year: int) -> int:
    return 8784 if pd.Timestamp(year=year, month=1, day=1).is_leap_year else 8760


def _ar1(shocks: np.ndarray, phi: float) -> np.ndarray:
    """Stationary unit-variance AR(1): ``x_0 = e_0``, ``x_t = phi x_{t-1} + sqrt(1-phi^2) e_t``.

    Vectorized as a doubling scan (Hillis-Steele): after the step with shift ``s``, ``x_t``
    holds ``sum_{j < 2s} phi^j u_{t-j}``; steps stop once ``phi^s`` is below 1e-17, so the
    result equals the recursion to rounding. No BLAS call (no thread start-up jitter).
    """
    x = shocks * np.sqrt(1.0 - phi * phi)
    x[0] = shocks[0]
    shift, weight = 1, phi
    while shift < x.size and weight > 1e-17:
        x[shift:] += weight * x[:-shift].copy()
        shift, weight = 2 * shift, weight * weight
    return x


def _ar1_block(seed: int, stream: int, year: int, phis: tuple[float, ...]) -> np.ndarray:
    """AR(1) processes over the block ``year``, run from the start of ``year - 1`` (no seam).

    Returns shape ``(len(phis), hours in year)``; row k has persistence ``phis[k]``.
    """
    n_prev, n = _hours_in_year(year - 1), _hours_in_year(year)
    prev = _rng(seed, stream, year - 1, 0).standard_normal((len(phis), n_prev))
    cur = _rng(seed, stream, year, 0).standard_normal((len(phis), n))
    shocks = np.concatenate([prev, cur], axis=1)
    return np.stack([_ar1(shocks[k], phi)[n_prev:] for k, phi in enumerate(phis)])


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    """Standard normal CDF, tanh approximation (abs error < 2e-4; no scipy needed)."""
    return 0.5 * (1.0 + np.tanh(0.7978845608028654 * (x + 0.044715 * x**3)))


def _daily_max(values: np.ndarray, cal: _Calendar, mask: np.ndarray) -> np.ndarray:
    out = np.full(cal.n_days, -np.inf)
    np.maximum.at(out, cal.day[mask], values[mask])
    return out


def _daily_min(values: np.ndarray, cal: _Calendar, mask: np.ndarray) -> np.ndarray:
    out = np.full(cal.n_days, np.inf)
    np.minimum.at(out, cal.day[mask], values[mask])
    return out


def _day_mask(cal: _Calendar, months: tuple[int, ...], weekdays_only: bool) -> np.ndarray:
    """Local days (block day numbers) in ``months`` (and Monday-Friday when asked)."""
    hour_ok = np.isin(cal.month, months)
    if weekdays_only:
        hour_ok &= cal.weekday < 5
    days = np.zeros(cal.n_days, dtype=bool)
    days[cal.day[hour_ok]] = True
    return days


def _hour_position(cal: _Calendar, day: int, hour: int) -> int:
    """Block position of local ``hour`` on local ``day`` (first match)."""
    hits = np.flatnonzero((cal.day == day) & (cal.hour == hour))
    return int(hits[0]) if hits.size else int(np.flatnonzero(cal.day == day)[0])


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def _positions(index: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """UTC year of each timestamp and its hour position inside that year's block."""
    if not isinstance(index, pd.DatetimeIndex):
        raise TypeError(f"index must be a pandas DatetimeIndex, got {type(index).__name__}")
    if index.tz is None:
        raise ValueError("index must be tz-aware (hourly UTC), got a naive DatetimeIndex")
    utc = index.tz_convert("UTC")
    seconds = utc.as_unit("s").asi8
    if np.any(seconds % 3600):
        bad = utc[np.flatnonzero(seconds % 3600)[0]]
        raise ValueError(f"index must hold whole hours, got {bad.isoformat()}")
    years = utc.year.to_numpy(dtype=np.int64)
    starts = (years - 1970).astype("datetime64[Y]").astype("datetime64[s]")  # 1 January
    pos = (seconds - starts.astype(np.int64)) // 3600
    return years, pos


def _assemble(
    index: pd.DatetimeIndex, seed: int, block: Callable[[int, int], np.ndarray]
) -> np.ndarray:
    seed = _check_seed(seed)
    years, pos = _positions(index)
    out = np.empty(len(index), dtype=np.float64)
    for year in np.unique(years):
        sel = years == year
        out[sel] = block(seed, int(year))[pos[sel]]
    return out


# --------------------------------------------------------------------------- temperature


@lru_cache(maxsize=32)
def _temp_block(seed: int, year: int) -> np.ndarray:
    cal = _calendar(year)
    slow, mid, fast = _ar1_block(seed, _STREAM_TEMP, year, (0.985, 0.9, 0.6))
    phase = np.cos(2.0 * np.pi * (cal.day_of_year - 17.0) / 365.25)  # 1 mid-January
    winter = 0.5 * (1.0 + phase)
    seasonal = 18.0 - 11.0 * phase
    anomaly = (1.5 + 2.3 * winter) * (0.88 * slow + 0.47 * mid)
    anomaly = np.where(anomaly < 0.0, anomaly * (1.0 + 0.3 * winter), anomaly)
    h = cal.hour.astype(float)
    t_min, t_max = 6.5, 16.0
    rise = (h >= t_min) & (h < t_max)
    since_max = np.mod(h - t_max, 24.0)
    diurnal = np.where(
        rise,
        -np.cos(np.pi * (h - t_min) / (t_max - t_min)),
        np.cos(np.pi * since_max / (24.0 - (t_max - t_min))),
    )
    temp = seasonal + anomaly + 7.8 * diurnal + 0.4 * fast
    hot = temp > 39.0
    temp[hot] = 39.0 + 3.0 * np.tanh((temp[hot] - 39.0) / 3.0)
    return _frozen(temp)


def west_texas_temp_c(index: pd.DatetimeIndex, seed: int) -> np.ndarray:
    """Hourly ambient dry-bulb temperature of a West Texas site (Midland/Odessa climate).

    Seasonal cycle (Jan mean ~7 C, Jul mean ~29 C), a diurnal cycle with its minimum near
    06:30 and its maximum near 16:00 local time (half-range 7.8 C), multi-day weather fronts
    (larger in winter) and a soft limit above 39 C; see the module docstring.

    Parameters
    ----------
    index : pd.DatetimeIndex
        Hourly, tz-aware timestamps (hour beginning, UTC by convention).
    seed : int
        Non-negative seed; the same seed gives the same series.

    Returns
    -------
    np.ndarray
        Temperature [C], float64, one value per timestamp.
    """
    return _assemble(index, seed, _temp_block)


# ----------------------------------------------------------------------------------- price


def _price_parts(seed: int, year: int) -> dict[str, np.ndarray]:
    """Scale-free parts of one block's price: body, spike adders, negatives, scarcity events."""
    cal = _calendar(year)
    temp = _temp_block(seed, year)
    slow, fast, over, spike = _ar1_block(seed, _STREAM_PRICE, year, (0.97, 0.8, 0.93, 0.6))
    m = cal.month - 1
    h = cal.hour

    solar = (h >= 9) & (h <= 15)
    shape = _PRICE_MONTH_MEDIAN[m] * _PRICE_HOUR_FACTOR[h] * (1.0 - solar * _PRICE_SOLAR_DIP[m])
    r = _PRICE_OVERSUPPLY_CORR
    z = np.sqrt(1.0 - r * r) * (0.75 * slow + 0.66 * fast) / np.hypot(0.75, 0.66) + r * over
    body = shape * np.exp(_PRICE_BODY_SIGMA * z)

    weight = _NEG_HOUR_WEIGHT / _NEG_HOUR_WEIGHT.mean()
    p_neg = np.clip(_NEG_MONTH_PROB[m] * weight[h], 0.0, 0.6)
    u_over = np.clip(_normal_cdf(over), 1e-12, 1.0)
    negative = u_over < p_neg
    neg_price = np.zeros(cal.hour.size)
    neg_price[negative] = np.maximum(
        _NEG_FLOOR_USD_PER_MWH,
        -_NEG_DEPTH_USD_PER_MWH * np.log(p_neg[negative] / u_over[negative]),
    )

    heat = 1.0 + np.maximum(0.0, temp - 36.0) / 2.0
    q = _SPIKE_BASE_PROB * _SPIKE_HOUR_FACTOR[h] * _SPIKE_MONTH_FACTOR[m] * heat
    tail = np.clip(1.0 - _normal_cdf(spike), 1e-12, 1.0)
    spiking = tail < q
    xm = _SPIKE_PARETO_SCALE_USD_PER_MWH
    spike_add = np.zeros(cal.hour.size)
    spike_add[spiking] = xm * (tail[spiking] / q[spiking]) ** (-1.0 / _SPIKE_PARETO_ALPHA) - xm

    event_peak = np.full(cal.hour.size, np.nan)  # peak fraction of the cap, per event hour
    rng = _rng(seed, _STREAM_PRICE, year, 1)
    n_summer = int(rng.integers(2, 6))
    order = rng.permutation(10)
    starts = rng.integers(15, 19, size=5)
    durations = rng.integers(3, 9, size=5)
    peaks = np.where(rng.random(6) < 0.35, 1.0, rng.uniform(0.4, 1.0, size=6))
    jitter = rng.uniform(0.85, 1.0, size=(6, 8))
    winter_start = int(rng.choice([6, 7, 18, 19]))
    winter_duration = int(rng.integers(3, 6))

    afternoon = (h >= 14) & (h <= 19)
    hot_days = np.where(
        _day_mask(cal, _SUMMER_MONTHS, False), _daily_max(temp, cal, afternoon), -np.inf
    )
    hottest = np.argsort(-hot_days, kind="stable")[:10]
    events = [(int(hottest[order[i]]), int(starts[i]), int(durations[i])) for i in range(n_summer)]
    cold_days = np.where(
        _day_mask(cal, _WINTER_MONTHS, False), _daily_min(temp, cal, cal.hour >= 0), np.inf
    )
    events.append((int(np.argmin(cold_days)), winter_start, winter_duration))
    for k, (day, start, duration) in enumerate(events):
        first = _hour_position(cal, day, start)
        span = np.arange(first, min(first + duration, cal.hour.size))
        centre = (duration - 1) / 2.0
        shape_k = 1.0 - 0.5 * np.abs(np.arange(span.size) - centre) / max(centre, 1.0)
        event_peak[span] = peaks[k] * shape_k * jitter[k, : span.size]
    return {
        "body": body,
        "spike": spike_add,
        "negative": negative,
        "neg_price": neg_price,
        "event_peak": event_peak,
    }


@lru_cache(maxsize=32)
def _price_block(seed: int, year: int, mean_usd_per_mwh: float, cap: float) -> np.ndarray:
    parts = _price_parts(seed, year)
    event = ~np.isnan(parts["event_peak"])
    event_price = np.minimum(
        cap, np.maximum(_SCARCITY_MIN_USD_PER_MWH, cap * np.nan_to_num(parts["event_peak"]))
    )
    negative = parts["negative"] & ~event
    scalable = ~event & ~negative
    base = (parts["body"] + parts["spike"])[scalable]
    n = event.size
    fixed_usd = event_price[event].sum() + parts["neg_price"][negative].sum()
    target_usd = mean_usd_per_mwh * n - fixed_usd
    if target_usd <= 0.0 or target_usd >= cap * base.size:
        raise ValueError(
            f"mean_usd_per_mwh={mean_usd_per_mwh:g} cannot be reached in {year}: negative hours "
            f"and scarcity events alone average {fixed_usd / n:.2f} USD/MWh and the cap is "
            f"{cap:g} USD/MWh"
        )
    # Solve mean(min(cap, f * base)) = target for the scale f (monotone: bisection).
    lo, hi = 0.0, target_usd / np.minimum(base, cap).sum() * 2.0
    while np.minimum(cap, hi * base).sum() < target_usd:
        hi *= 2.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if np.minimum(cap, mid * base).sum() < target_usd:
            lo = mid
        else:
            hi = mid
    price = np.empty(n)
    price[scalable] = np.minimum(cap, 0.5 * (lo + hi) * base)
    price[negative] = parts["neg_price"][negative]
    price[event] = event_price[event]
    return _frozen(np.minimum(price, cap))


def ercot_west_price_usd_per_mwh(
    index: pd.DatetimeIndex,
    seed: int,
    mean_usd_per_mwh: float = 40.0,
    cap_usd_per_mwh: float = 5000.0,
) -> np.ndarray:
    """Hourly ERCOT-West-like real-time energy price.

    Lognormal body with seasonal and diurnal shape (evening peak, solar dip), autocorrelated
    negative-price stretches (~9 % of hours, mostly spring nights and middays), Pareto spikes
    on summer evenings, and 3-6 multi-hour scarcity events a year ($1,000 to the cap) on the
    hottest summer days and the coldest winter day; see the module docstring.

    Parameters
    ----------
    index : pd.DatetimeIndex
        Hourly, tz-aware timestamps (hour beginning, UTC by convention).
    seed : int
        Non-negative seed; the same seed gives the same series.
    mean_usd_per_mwh : float, default 40.0
        Mean price of every full UTC calendar year [USD/MWh] (met exactly; a partial year's
        mean varies around it). The body and spikes are scaled to meet it; negative prices and
        scarcity events are not.
    cap_usd_per_mwh : float, default 5000.0
        Offer cap [USD/MWh]; no hour exceeds it.

    Returns
    -------
    np.ndarray
        Price [USD/MWh], float64, one value per timestamp.

    Raises
    ------
    ValueError
        When the cap is not positive or the mean cannot be met under the cap.
    """
    mean, cap = float(mean_usd_per_mwh), float(cap_usd_per_mwh)
    if not np.isfinite(cap) or cap <= 0.0:
        raise ValueError(f"cap_usd_per_mwh must be positive and finite, got {cap_usd_per_mwh!r}")
    if not np.isfinite(mean):
        raise ValueError(f"mean_usd_per_mwh must be finite, got {mean_usd_per_mwh!r}")
    return _assemble(index, seed, lambda s, y: _price_block(s, y, mean, cap))


# ----------------------------------------------------------------------------- curtailment


@lru_cache(maxsize=32)
def _curtailment_block(seed: int, year: int) -> np.ndarray:
    """Curtailment order as a fraction of the maximum (0..1) over one block."""
    cal = _calendar(year)
    temp = _temp_block(seed, year)
    rng = _rng(seed, _STREAM_CURTAILMENT, year, 0)
    n_days = int(rng.integers(18, 31))
    starts = rng.integers(14, 18, size=30)
    durations = rng.integers(3, 7, size=30)
    levels = rng.uniform(0.5, 1.0, size=30)
    winter_level = float(rng.uniform(0.5, 1.0))

    out = np.zeros(cal.hour.size)
    afternoon = (cal.hour >= 14) & (cal.hour <= 19)
    heat = np.where(_day_mask(cal, _SUMMER_MONTHS, True), _daily_max(temp, cal, afternoon), -np.inf)
    chosen = np.argsort(-heat, kind="stable")[:n_days]
    chosen = chosen[np.isfinite(heat[chosen])]
    for rank, day in enumerate(chosen):
        start = int(starts[rank])
        duration = min(int(durations[rank]), 20 - start)
        first = _hour_position(cal, int(day), start)
        level = 1.0 if rank < n_days // 4 else levels[rank]
        out[first : first + duration] = level
    cold = np.where(
        _day_mask(cal, _WINTER_MONTHS, False), _daily_min(temp, cal, cal.hour >= 0), np.inf
    )
    coldest = int(np.argmin(cold))
    if cold[coldest] < -4.0:
        hours = np.isin(cal.hour, (6, 7, 8, 18, 19, 20)) & (cal.day == coldest)
        out[hours] = winter_level
    return _frozen(out)


def curtailment_orders_mw(index: pd.DatetimeIndex, seed: int, max_mw: float = 40.0) -> np.ndarray:
    """Hourly grid curtailment orders (conservation / demand response) to the site.

    Zero most hours; 3-6 hour orders in the afternoon and evening (14:00-20:00 local) of the
    18-30 hottest June-September weekdays, and on the coldest winter day if it falls below
    -4 C (06:00-09:00 and 18:00-21:00 local). Built on ``west_texas_temp_c(index, seed)``.

    Parameters
    ----------
    index : pd.DatetimeIndex
        Hourly, tz-aware timestamps (hour beginning, UTC by convention).
    seed : int
        Non-negative seed; the same seed gives the same series (and the same heat).
    max_mw : float, default 40.0
        Largest order [MW]; orders are 50-100 % of it, the hottest quarter of days at 100 %.

    Returns
    -------
    np.ndarray
        MW to curtail [MW], float64, in ``[0, max_mw]``.
    """
    max_mw = float(max_mw)
    if not np.isfinite(max_mw) or max_mw < 0.0:
        raise ValueError(f"max_mw must be finite and >= 0, got {max_mw!r}")
    return max_mw * _assemble(index, seed, _curtailment_block)


# ------------------------------------------------------------------------ coincident peaks


@lru_cache(maxsize=32)
def _peak_blocks(seed: int, year: int) -> tuple[np.ndarray, np.ndarray]:
    """(risk-window flags, actual monthly peak flags) over one block."""
    cal = _calendar(year)
    temp = _temp_block(seed, year)
    rng = _rng(seed, _STREAM_PEAKS, year, 0)
    n_days = rng.integers(8, 13, size=len(_SUMMER_MONTHS))
    window = (cal.hour >= 15) & (cal.hour <= 17)
    heat = _daily_max(temp, cal, window)
    flags = np.zeros(cal.hour.size)
    actual = np.zeros(cal.hour.size)
    for k, month in enumerate(_SUMMER_MONTHS):
        days = _day_mask(cal, (month,), True)
        ranked = np.argsort(-np.where(days, heat, -np.inf), kind="stable")[: n_days[k]]
        ranked = ranked[days[ranked]]
        hours = window & np.isin(cal.day, ranked)
        flags[hours] = 1.0
        flagged = np.flatnonzero(hours)
        if flagged.size:
            actual[flagged[np.argmax(temp[flagged])]] = 1.0
    return _frozen(flags), _frozen(actual)


def coincident_peak_flags(index: pd.DatetimeIndex, seed: int) -> np.ndarray:
    """Hourly 0/1 flags of ERCOT 4CP risk windows (the miner's predicted peak hours).

    In each of June-September, the 8-12 hottest weekdays (by 15:00-18:00 local maximum of
    ``west_texas_temp_c(index, seed)``) are flagged at local hour-beginning 15, 16 and 17.

    Parameters
    ----------
    index : pd.DatetimeIndex
        Hourly, tz-aware timestamps (hour beginning, UTC by convention).
    seed : int
        Non-negative seed; the same seed gives the same series.

    Returns
    -------
    np.ndarray
        1.0 in flagged hours, 0.0 elsewhere [-], float64.
    """
    return _assemble(index, seed, lambda s, y: _peak_blocks(s, y)[0])


def coincident_peak_actual_flags(index: pd.DatetimeIndex, seed: int) -> np.ndarray:
    """Hourly 0/1 flags of the synthetic *actual* 4CP hours: one per June-September month.

    The actual peak of a month is its hottest flagged hour of ``coincident_peak_flags``, so
    every actual peak lies inside a risk window.

    Parameters
    ----------
    index : pd.DatetimeIndex
        Hourly, tz-aware timestamps (hour beginning, UTC by convention).
    seed : int
        Non-negative seed.

    Returns
    -------
    np.ndarray
        1.0 at each month's peak hour, 0.0 elsewhere [-], float64.
    """
    return _assemble(index, seed, lambda s, y: _peak_blocks(s, y)[1])


# ---------------------------------------------------------------------- ancillary services


@lru_cache(maxsize=64)
def _as_price_block(seed: int, year: int, stream: int, mean: float, share: float) -> np.ndarray:
    cal = _calendar(year)
    (z,) = _ar1_block(seed, _STREAM_AS + stream, year, (0.95,))
    base = _PRICE_HOUR_FACTOR[cal.hour] * np.exp(0.8 * z)
    energy = _price_block(seed, year, 40.0, 5000.0)
    spikes = share * np.maximum(energy - 150.0, 0.0)
    target = mean * base.size - spikes.sum()
    if target <= 0.0:
        raise ValueError(f"mean_usd_per_mw_hour={mean:g} cannot be reached: lower scarcity_share")
    return _frozen(target / base.sum() * base + spikes)


def ercot_as_price_usd_per_mw_hour(
    index: pd.DatetimeIndex,
    seed: int,
    mean_usd_per_mw_hour: float = 10.0,
    scarcity_share: float = 0.02,
    stream: float = 0.0,
) -> np.ndarray:
    """Hourly ERCOT-like ancillary-service clearing price of one product [USD/MW-h], >= 0.

    ``mean_usd_per_mw_hour`` is met exactly by every full UTC year; ``scarcity_share`` [-] is
    the AS price added per USD/MWh of energy price above 150; ``stream`` (0-15) gives each
    product its own random numbers. See the module docstring.
    """
    mean, share = float(mean_usd_per_mw_hour), float(scarcity_share)
    ok = np.isfinite(mean + share) and min(mean, share) >= 0 and stream in range(16)
    if not ok:
        raise ValueError(f"expected mean, share >= 0 and stream in 0-15: {mean}, {share}, {stream}")
    if mean == 0.0:
        return np.zeros(len(index))
    return _assemble(index, seed, lambda s, y: _as_price_block(s, y, int(stream), mean, share))


# -------------------------------------------------------------------------------- registry

#: Synthetic generators by name, as a scenario file names them (``{ synthetic = "..." }``).
GENERATORS: dict[str, Callable[..., np.ndarray]] = {
    "ercot_west_price": ercot_west_price_usd_per_mwh,
    "west_texas_temp": west_texas_temp_c,
    "curtailment_orders": curtailment_orders_mw,
    "coincident_peaks": coincident_peak_flags,
    "ercot_as_price": ercot_as_price_usd_per_mw_hour,
}


def generate(name: str, index: pd.DatetimeIndex, seed: int, **params: float) -> np.ndarray:
    """Run the generator ``name`` of :data:`GENERATORS` on ``index``.

    Parameters
    ----------
    name : str
        Generator name, a key of :data:`GENERATORS`.
    index : pd.DatetimeIndex
        Hourly, tz-aware timestamps.
    seed : int
        Non-negative seed.
    **params
        The generator's own parameters (e.g. ``max_mw`` [MW]).

    Returns
    -------
    np.ndarray
        The series, float64, one value per timestamp.

    Raises
    ------
    KeyError
        When ``name`` is unknown; the message lists the known names.
    """
    try:
        fn = GENERATORS[name]
    except KeyError:
        raise KeyError(
            f"unknown synthetic generator {name!r}; known: {', '.join(sorted(GENERATORS))}"
        ) from None
    return fn(index, seed, **params)
