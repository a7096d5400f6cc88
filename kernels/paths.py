"""Monte Carlo paths of BTC price, network hashrate, difficulty, block height and fees.

One path is an hourly series over ``hours`` hours. Index ``t`` holds the state *at the start*
of hour ``t``; index 0 holds the inputs exactly (price, hashrate, difficulty, height), so a
path of ``hours`` values spans ``hours - 1`` steps.

Model
-----
- **BTC price**: geometric Brownian motion with hourly steps,
  ``log P[t+1] = log P[t] + (mu - sigma**2 / 2) dt + sigma sqrt(dt) Z``, ``dt = 1/8760`` year.
- **Network hashrate**: the same form with its own drift and volatility, but shocked once every
  ``hashrate_step_hours`` hours (daily by default) and constant in between. Hashrate is only
  ever observed as a daily-ish estimate, and the distribution at any day boundary does not
  depend on the step; ``hashrate_step_hours=1`` gives hourly shocks.
- **Blocks**: the expected rate ``hashrate_hs * 3600 / (D * 2**32)`` blocks per hour, with no
  Poisson luck: the continuous height advances by exactly that expectation, so a path is a
  deterministic function of its shocks. (Poisson luck would add about 2.2 % noise to each
  epoch's timespan; hashrate volatility dominates it.) The output height is the floor of the
  continuous height at the start of each hour; the halving at 1,050,000 is left to whoever
  computes the subsidy from it.
- **Difficulty** retargets when the 2016th block of an epoch arrives, located within the
  hour by linear interpolation, ``D_new = D_old * (2016 * 600 s) / actual_timespan`` with the
  timespan clamped to [3.5 days, 8 weeks] (see `retarget_difficulty`). The new difficulty
  applies to the rest of that hour; the output holds the difficulty at the start of each hour.
  Several retargets in one hour are handled (hashrate > 2016 blocks per hour).
- **Fees per block**: iid lognormal noise around the given mean each hour (including hour
  0), ``F[t] = F * exp(fee_vol * Z - fee_vol**2 / 2)``, so ``E[F[t]] = F``; constant when
  ``fee_vol = 0``.

Bitcoin Core measures an epoch's timespan from the timestamp of its *first* block to that of
its last, i.e. 2015 block intervals for a 2016-block target (the "off-by-one" of
``CalculateNextWorkRequired``), so real difficulty drifts up by 2016/2015 (0.05 %) per epoch
at constant hashrate. We do **not** reproduce it: the timespan here runs from the end of the
previous epoch to the arrival of the 2016th block, so constant hashrate leaves difficulty
unchanged. The bias is tiny next to any hashrate volatility.

All random normals are drawn with ``numpy.random.default_rng(seed)`` outside the compiled
kernel, in a fixed order (price, then hashrate, then fees only when ``fee_vol > 0``), so the
numba kernel `simulate_paths` and its plain-numpy twin `simulate_paths_reference` consume the
same shocks and agree to rounding, and a seed fixes a path set. Price and hashrate paths do
not depend on ``fee_vol``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit, prange

from kernels.bitcoin import HASHES_PER_DIFFICULTY, TARGET_BLOCK_S

HOURS_PER_YEAR = 8760
BLOCKS_PER_EPOCH = 2016
TARGET_TIMESPAN_S = BLOCKS_PER_EPOCH * TARGET_BLOCK_S  # two weeks [s]
MIN_TIMESPAN_S = TARGET_TIMESPAN_S / 4.0
MAX_TIMESPAN_S = TARGET_TIMESPAN_S * 4.0
# blocks per hour = hashrate [EH/s] * this / difficulty
_BLOCKS_PER_HOUR_PER_EHS_PER_DIFFICULTY = 1e18 * 3600.0 / HASHES_PER_DIFFICULTY
# Slack [blocks] when deciding whether an epoch ends within the hour: absorbs float rounding
# (e.g. 12 blocks/h hitting 2016 after exactly 168 h) and when flooring the height.
_EPSILON_BLOCKS = 1e-9


class Paths(NamedTuple):
    """Monte Carlo paths, each array shaped [n_paths, hours], value at the start of the hour."""

    btc_price_usd: np.ndarray
    """BTC price [USD], float64."""
    difficulty: np.ndarray
    """Difficulty in effect at the start of the hour [-], float64."""
    height: np.ndarray
    """Block height at the start of the hour (floor of the continuous height), int64."""
    fees_btc_per_block: np.ndarray
    """Mean fees per block [BTC], float64."""
    hashrate_ehs: np.ndarray
    """Network hashrate [EH/s], float64."""


def retarget_difficulty(
    difficulty: float | np.ndarray, actual_timespan_s: float | np.ndarray
) -> float | np.ndarray:
    """Difficulty after a retarget, with Bitcoin Core's x4 clamp.

    ``D_new = D_old * (2016 * 600) / clamp(actual_timespan_s, 302400, 4838400)``: the
    timespan is clamped to [target / 4, target * 4] so difficulty moves by at most a factor
    4 either way. The ratio is formed first, so clamped and power-of-two factors are exact.

    Parameters
    ----------
    difficulty : float or numpy.ndarray
        Difficulty of the epoch that just ended [-].
    actual_timespan_s : float or numpy.ndarray
        Time the epoch's 2016 blocks took [s].

    Returns
    -------
    float or numpy.ndarray
        Difficulty of the next epoch [-] (float when both inputs are scalars).

    References
    ----------
    Bitcoin Core, ``CalculateNextWorkRequired`` in ``src/pow.cpp`` (works on the target,
    ``target_new = target_old * actual / (14 * 24 * 3600)``, i.e. the inverse for difficulty).
    """
    timespan_s = np.clip(
        np.asarray(actual_timespan_s, dtype=np.float64), MIN_TIMESPAN_S, MAX_TIMESPAN_S
    )
    new_difficulty = np.asarray(difficulty, dtype=np.float64) * (TARGET_TIMESPAN_S / timespan_s)
    return float(new_difficulty) if new_difficulty.ndim == 0 else new_difficulty


class _Inputs(NamedTuple):
    """Validated scalars and pre-drawn shocks shared by both twins."""

    btc_price_usd: float
    price_drift: float  # per hourly step [-]
    price_scale: float  # per hourly step [-]
    hashrate_ehs: float
    hashrate_drift: float  # per hashrate step [-]
    hashrate_scale: float  # per hashrate step [-]
    hashrate_step_hours: int
    difficulty: float
    epoch_start_height: float
    blocks_into_epoch: float
    epoch_elapsed_hours: float
    fees_btc_per_block: float
    fee_scale: float
    fee_half_variance: float
    price_shocks: np.ndarray  # [P, hours - 1]
    hashrate_shocks: np.ndarray  # [P, (hours - 1) // hashrate_step_hours]
    fee_shocks: np.ndarray  # [P, hours], or [P, 0] when fee_vol == 0


def _prepare(
    n_paths: int,
    hours: int,
    *,
    btc_price_usd: float,
    mu: float,
    sigma: float,
    hashrate_ehs: float,
    hashrate_drift: float,
    hashrate_vol: float,
    difficulty: float,
    height: int,
    blocks_into_epoch: int | None,
    epoch_elapsed_hours: float | None,
    fees_btc_per_block: float,
    fee_vol: float,
    hashrate_step_hours: int,
    seed: int,
) -> _Inputs:
    """Validate the parameters and draw every normal the paths need."""
    if n_paths < 1 or hours < 1:
        raise ValueError(f"need n_paths >= 1 and hours >= 1, got {n_paths} and {hours}")
    for name, value in (
        ("btc_price_usd", btc_price_usd),
        ("hashrate_ehs", hashrate_ehs),
        ("difficulty", difficulty),
    ):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be finite and > 0, got {value}")
    for name, value in (
        ("sigma", sigma),
        ("hashrate_vol", hashrate_vol),
        ("fee_vol", fee_vol),
        ("fees_btc_per_block", fees_btc_per_block),
    ):
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be finite and >= 0, got {value}")
    if not (math.isfinite(mu) and math.isfinite(hashrate_drift)):
        raise ValueError(f"mu and hashrate_drift must be finite, got {mu} and {hashrate_drift}")
    if height < 0:
        raise ValueError(f"height must be >= 0, got {height}")
    if blocks_into_epoch is None:
        blocks_into_epoch = height % BLOCKS_PER_EPOCH
    if not 0 <= blocks_into_epoch < BLOCKS_PER_EPOCH or blocks_into_epoch > height:
        raise ValueError(
            f"blocks_into_epoch must be in [0, 2016) and <= height, got {blocks_into_epoch}"
        )
    if epoch_elapsed_hours is None:
        epoch_elapsed_hours = blocks_into_epoch / 6.0  # the epoch so far ran at target pace
    if not (math.isfinite(epoch_elapsed_hours) and epoch_elapsed_hours >= 0):
        raise ValueError(f"epoch_elapsed_hours must be >= 0, got {epoch_elapsed_hours}")
    if hashrate_step_hours < 1:
        raise ValueError(f"hashrate_step_hours must be >= 1, got {hashrate_step_hours}")

    rng = np.random.default_rng(seed)
    price_shocks = rng.standard_normal((n_paths, hours - 1))
    hashrate_shocks = rng.standard_normal((n_paths, (hours - 1) // hashrate_step_hours))
    fee_shocks = rng.standard_normal((n_paths, hours)) if fee_vol > 0 else np.empty((n_paths, 0))
    dt_years = 1.0 / HOURS_PER_YEAR
    hashrate_dt_years = hashrate_step_hours / HOURS_PER_YEAR
    return _Inputs(
        btc_price_usd=float(btc_price_usd),
        price_drift=(mu - 0.5 * sigma * sigma) * dt_years,
        price_scale=sigma * math.sqrt(dt_years),
        hashrate_ehs=float(hashrate_ehs),
        hashrate_drift=(hashrate_drift - 0.5 * hashrate_vol * hashrate_vol) * hashrate_dt_years,
        hashrate_scale=hashrate_vol * math.sqrt(hashrate_dt_years),
        hashrate_step_hours=int(hashrate_step_hours),
        difficulty=float(difficulty),
        epoch_start_height=float(height - blocks_into_epoch),
        blocks_into_epoch=float(blocks_into_epoch),
        epoch_elapsed_hours=float(epoch_elapsed_hours),
        fees_btc_per_block=float(fees_btc_per_block),
        fee_scale=float(fee_vol),
        fee_half_variance=0.5 * fee_vol * fee_vol,
        price_shocks=price_shocks,
        hashrate_shocks=hashrate_shocks,
        fee_shocks=fee_shocks,
    )


@njit(cache=True)
def _retarget_scalar(difficulty: float, actual_timespan_s: float) -> float:
    """Scalar `retarget_difficulty` for the kernel (same operations, same rounding)."""
    timespan_s = actual_timespan_s
    if timespan_s < MIN_TIMESPAN_S:
        timespan_s = MIN_TIMESPAN_S
    elif timespan_s > MAX_TIMESPAN_S:
        timespan_s = MAX_TIMESPAN_S
    return difficulty * (TARGET_TIMESPAN_S / timespan_s)


@njit(cache=True, parallel=True)
def _simulate_kernel(
    btc_price_usd,
    price_drift,
    price_scale,
    hashrate_ehs,
    hashrate_drift,
    hashrate_scale,
    hashrate_step_hours,
    difficulty,
    epoch_start_height,
    blocks_into_epoch,
    epoch_elapsed_hours,
    fees_btc_per_block,
    fee_scale,
    fee_half_variance,
    price_shocks,
    hashrate_shocks,
    fee_shocks,
    out_price,
    out_difficulty,
    out_height,
    out_fees,
    out_hashrate,
):
    n_paths, hours = out_price.shape
    with_fee_noise = fee_shocks.shape[1] > 0
    for p in prange(n_paths):
        log_price_return = 0.0
        log_hashrate_return = 0.0
        hashrate = hashrate_ehs
        d = difficulty
        start = epoch_start_height
        blocks = blocks_into_epoch
        elapsed_h = epoch_elapsed_hours
        for t in range(hours):
            if t > 0:
                log_price_return += price_drift + price_scale * price_shocks[p, t - 1]
                if t % hashrate_step_hours == 0:
                    log_hashrate_return += (
                        hashrate_drift
                        + hashrate_scale * hashrate_shocks[p, t // hashrate_step_hours - 1]
                    )
                    hashrate = hashrate_ehs * np.exp(log_hashrate_return)
            out_price[p, t] = btc_price_usd * np.exp(log_price_return)
            out_hashrate[p, t] = hashrate
            out_difficulty[p, t] = d
            out_height[p, t] = np.int64(np.floor(start + blocks + _EPSILON_BLOCKS))
            if with_fee_noise:
                out_fees[p, t] = fees_btc_per_block * np.exp(
                    fee_scale * fee_shocks[p, t] - fee_half_variance
                )
            else:
                out_fees[p, t] = fees_btc_per_block
            # advance through hour t, retargeting whenever an epoch's 2016th block arrives
            hour_left = 1.0
            while True:
                rate = hashrate * _BLOCKS_PER_HOUR_PER_EHS_PER_DIFFICULTY / d  # [blocks/h]
                remaining = BLOCKS_PER_EPOCH - blocks
                if remaining <= rate * hour_left + _EPSILON_BLOCKS:
                    tau = remaining / rate
                    if tau > hour_left:
                        tau = hour_left
                    d = _retarget_scalar(d, (elapsed_h + tau) * 3600.0)
                    start += BLOCKS_PER_EPOCH
                    blocks = 0.0
                    elapsed_h = 0.0
                    hour_left -= tau
                else:
                    blocks += rate * hour_left
                    elapsed_h += hour_left
                    break


def simulate_paths(
    n_paths: int,
    hours: int,
    *,
    btc_price_usd: float,
    mu: float,
    sigma: float,
    hashrate_ehs: float,
    hashrate_drift: float,
    hashrate_vol: float,
    difficulty: float,
    height: int,
    blocks_into_epoch: int | None = None,
    epoch_elapsed_hours: float | None = None,
    fees_btc_per_block: float,
    fee_vol: float = 0.0,
    hashrate_step_hours: int = 24,
    seed: int,
) -> Paths:
    """Simulate Monte Carlo paths of price, hashrate, difficulty, height and fees (numba).

    See the module docstring for the model. Index 0 of every output holds the inputs
    (fees: one noisy draw around the mean when ``fee_vol > 0``).

    Parameters
    ----------
    n_paths : int
        Number of paths P.
    hours : int
        Number of hourly values T per path (T - 1 steps).
    btc_price_usd : float
        BTC price at hour 0 [USD].
    mu, sigma : float
        Annual drift and annual volatility of the BTC price [1/year, 1/sqrt(year)].
    hashrate_ehs : float
        Network hashrate at hour 0 [EH/s].
    hashrate_drift, hashrate_vol : float
        Annual drift and annual volatility of the hashrate [1/year, 1/sqrt(year)].
    difficulty : float
        Difficulty at hour 0 [-].
    height : int
        Block height at hour 0.
    blocks_into_epoch : int, optional
        Blocks already mined in the current 2016-block epoch; default ``height % 2016``.
    epoch_elapsed_hours : float, optional
        Time since the current epoch started [h]; default ``blocks_into_epoch / 6``
        (the epoch so far ran at the target 10 minutes per block).
    fees_btc_per_block : float
        Mean fees per block [BTC].
    fee_vol : float, default 0
        Standard deviation of the hourly iid log-noise on fees [-].
    hashrate_step_hours : int, default 24
        Hours between hashrate shocks (24: daily; 1: hourly).
    seed : int
        Seed of ``numpy.random.default_rng``; the same seed gives the same paths.

    Returns
    -------
    Paths
        Arrays shaped [n_paths, hours]: ``btc_price_usd`` [USD], ``difficulty`` [-],
        ``height`` (int64), ``fees_btc_per_block`` [BTC], ``hashrate_ehs`` [EH/s].

    References
    ----------
    Bitcoin Core ``CalculateNextWorkRequired`` (``src/pow.cpp``) for the retarget.
    """
    inputs = _prepare(
        n_paths,
        hours,
        btc_price_usd=btc_price_usd,
        mu=mu,
        sigma=sigma,
        hashrate_ehs=hashrate_ehs,
        hashrate_drift=hashrate_drift,
        hashrate_vol=hashrate_vol,
        difficulty=difficulty,
        height=height,
        blocks_into_epoch=blocks_into_epoch,
        epoch_elapsed_hours=epoch_elapsed_hours,
        fees_btc_per_block=fees_btc_per_block,
        fee_vol=fee_vol,
        hashrate_step_hours=hashrate_step_hours,
        seed=seed,
    )
    paths = Paths(
        btc_price_usd=np.empty((n_paths, hours)),
        difficulty=np.empty((n_paths, hours)),
        height=np.empty((n_paths, hours), dtype=np.int64),
        fees_btc_per_block=np.empty((n_paths, hours)),
        hashrate_ehs=np.empty((n_paths, hours)),
    )
    _simulate_kernel(*inputs, *paths)
    return paths


def simulate_paths_reference(
    n_paths: int,
    hours: int,
    *,
    btc_price_usd: float,
    mu: float,
    sigma: float,
    hashrate_ehs: float,
    hashrate_drift: float,
    hashrate_vol: float,
    difficulty: float,
    height: int,
    blocks_into_epoch: int | None = None,
    epoch_elapsed_hours: float | None = None,
    fees_btc_per_block: float,
    fee_vol: float = 0.0,
    hashrate_step_hours: int = 24,
    seed: int,
) -> Paths:
    """Plain-numpy twin of `simulate_paths`, vectorized over paths; same parameters and result.

    Slow (a Python loop over hours); meant for tests, not studies.
    """
    inp = _prepare(
        n_paths,
        hours,
        btc_price_usd=btc_price_usd,
        mu=mu,
        sigma=sigma,
        hashrate_ehs=hashrate_ehs,
        hashrate_drift=hashrate_drift,
        hashrate_vol=hashrate_vol,
        difficulty=difficulty,
        height=height,
        blocks_into_epoch=blocks_into_epoch,
        epoch_elapsed_hours=epoch_elapsed_hours,
        fees_btc_per_block=fees_btc_per_block,
        fee_vol=fee_vol,
        hashrate_step_hours=hashrate_step_hours,
        seed=seed,
    )
    zeros = np.zeros((n_paths, 1))
    log_price_return = np.cumsum(
        np.concatenate([zeros, inp.price_drift + inp.price_scale * inp.price_shocks], axis=1),
        axis=1,
    )
    price = inp.btc_price_usd * np.exp(log_price_return)
    log_hashrate_steps = np.cumsum(
        np.concatenate(
            [zeros, inp.hashrate_drift + inp.hashrate_scale * inp.hashrate_shocks], axis=1
        ),
        axis=1,
    )
    hashrate_steps = inp.hashrate_ehs * np.exp(log_hashrate_steps)
    hashrate = hashrate_steps[:, np.arange(hours) // inp.hashrate_step_hours]
    if inp.fee_shocks.shape[1] > 0:
        fees = inp.fees_btc_per_block * np.exp(
            inp.fee_scale * inp.fee_shocks - inp.fee_half_variance
        )
    else:
        fees = np.full((n_paths, hours), inp.fees_btc_per_block)

    out_difficulty = np.empty((n_paths, hours))
    out_height = np.empty((n_paths, hours), dtype=np.int64)
    d = np.full(n_paths, inp.difficulty)
    start = np.full(n_paths, inp.epoch_start_height)
    blocks = np.full(n_paths, inp.blocks_into_epoch)
    elapsed_h = np.full(n_paths, inp.epoch_elapsed_hours)
    for t in range(hours):
        out_difficulty[:, t] = d
        out_height[:, t] = np.floor(start + blocks + _EPSILON_BLOCKS).astype(np.int64)
        hour_left = np.ones(n_paths)
        in_hour = np.ones(n_paths, dtype=bool)
        while in_hour.any():
            rate = hashrate[:, t] * _BLOCKS_PER_HOUR_PER_EHS_PER_DIFFICULTY / d
            remaining = BLOCKS_PER_EPOCH - blocks
            ends = in_hour & (remaining <= rate * hour_left + _EPSILON_BLOCKS)
            goes_on = in_hour & ~ends
            blocks[goes_on] += rate[goes_on] * hour_left[goes_on]
            elapsed_h[goes_on] += hour_left[goes_on]
            in_hour[goes_on] = False
            if ends.any():
                tau = np.minimum(remaining[ends] / rate[ends], hour_left[ends])
                d[ends] = retarget_difficulty(d[ends], (elapsed_h[ends] + tau) * 3600.0)
                start[ends] += BLOCKS_PER_EPOCH
                blocks[ends] = 0.0
                elapsed_h[ends] = 0.0
                hour_left[ends] -= tau
    return Paths(
        btc_price_usd=price,
        difficulty=out_difficulty,
        height=out_height,
        fees_btc_per_block=fees,
        hashrate_ehs=hashrate,
    )


# --------------------------------------------------------------------------- multi-year samples


def path_seeds(seed: int, n_paths: int) -> list[int]:
    """One seed per path, from ``numpy.random.SeedSequence(seed).spawn``: path ``p``'s draws
    depend only on ``seed`` and ``p``, so adding paths leaves the first ones unchanged."""
    return [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(n_paths)]


def simulate_sampled_paths(
    n_paths: int, hours: int, sample: np.ndarray, *, seed: int, **model: float
) -> Paths:
    """Paths over a long horizon (e.g. 10 years hourly), kept only at the hours ``sample``.

    Each path is simulated on its own by :func:`simulate_paths` with the seed
    ``path_seeds(seed, n_paths)[p]`` (so memory holds one path's ``hours`` values at a time),
    then sampled: ``out[p, i]`` is the value at the start of hour ``sample[i]``. Block heights
    and difficulty retargets follow every hour in between, so halvings happen where the height
    reaches them.

    Parameters
    ----------
    n_paths, hours : int
        Paths and hourly values per path.
    sample : int64[N]
        Hours kept, each in ``[0, hours)``.
    seed : int
    **model
        The other keyword arguments of :func:`simulate_paths` (``btc_price_usd``, ``mu``,
        ``sigma``, ``hashrate_ehs``, ...).

    Returns
    -------
    Paths
        Arrays shaped ``[n_paths, len(sample)]``.
    """
    sample = np.asarray(sample, dtype=np.int64)
    if sample.size and (sample.min() < 0 or sample.max() >= hours):
        raise ValueError(
            f"sampled hours must lie in [0, {hours}), got {sample.min()}..{sample.max()}"
        )
    out = [np.empty((n_paths, sample.size)) for _ in Paths._fields]
    out[Paths._fields.index("height")] = np.empty((n_paths, sample.size), dtype=np.int64)
    for p, s in enumerate(path_seeds(seed, n_paths)):
        one = simulate_paths(1, hours, seed=s, **model)
        for i, values in enumerate(one):
            out[i][p] = values[0, sample]
    return Paths(*out)


def representative_weeks(
    horizon_hours: int, weeks: int, week_hours: int = 168
) -> tuple[np.ndarray, float]:
    """First hours of ``weeks`` representative weeks spread over a horizon, and their weight.

    A systematic sample: week ``w`` is centred at ``(w + 1/2) / weeks`` of the horizon
    (clipped inside it). Each week stands for ``8760 / (week_hours * weeks)`` weeks of a
    8760-hour year, so a year's total of any hourly quantity is estimated without bias by the
    weighted sum over the sampled weeks (exact for a quantity constant across weeks).
    ``weeks = 0`` gives the whole horizon as one block weighted ``8760 / horizon_hours``.

    Returns
    -------
    starts : int64[weeks]
        First hour of each week, increasing.
    weight : float
        Years' hours per sampled hour block.
    """
    if weeks == 0:
        return np.zeros(1, dtype=np.int64), HOURS_PER_YEAR / horizon_hours
    if horizon_hours < week_hours * weeks:
        raise ValueError(
            f"{weeks} representative weeks need a horizon of at least {week_hours * weeks} hours,"
            f" got {horizon_hours}"
        )
    centres = (np.arange(weeks) + 0.5) * horizon_hours / weeks
    starts = np.clip(np.floor(centres - week_hours / 2), 0, horizon_hours - week_hours)
    return starts.astype(np.int64), HOURS_PER_YEAR / (week_hours * weeks)
