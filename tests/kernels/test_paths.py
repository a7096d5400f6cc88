"""Tests for kernels/paths.py: retarget clamp, hand-computed epochs, halving, GBM statistics,
numba == numpy twin, determinism."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from kernels.bitcoin import block_subsidy_btc
from kernels.paths import (
    Paths,
    path_seeds,
    representative_weeks,
    retarget_difficulty,
    simulate_paths,
    simulate_paths_reference,
    simulate_sampled_paths,
)

DIFFICULTY = 1.5e14
# hashrate at which DIFFICULTY gives exactly 6 blocks/h: D * 2**32 / 600 H/s, in EH/s
EQUILIBRIUM_EHS = DIFFICULTY * 2**32 / 600 / 1e18
EPOCH_START = 2016 * 500  # 1,008,000: an epoch boundary
WEEK_S = 7 * 24 * 3600


@pytest.fixture(params=[simulate_paths, simulate_paths_reference], ids=["numba", "numpy"])
def simulate(request):
    return request.param


def deterministic(simulate, hours, hashrate_multiple, height=EPOCH_START, **kwargs):
    """One path, zero volatility, hashrate constant at a multiple of the equilibrium."""
    return simulate(
        1,
        hours,
        btc_price_usd=80_000.0,
        mu=0.0,
        sigma=0.0,
        hashrate_ehs=hashrate_multiple * EQUILIBRIUM_EHS,
        hashrate_drift=0.0,
        hashrate_vol=0.0,
        difficulty=DIFFICULTY,
        height=height,
        fees_btc_per_block=0.02,
        seed=0,
        **kwargs,
    )


# --- retarget clamp -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timespan_s", "factor"),
    [
        (WEEK_S, 2.0),  # blocks came twice as fast: 2 weeks / 1 week
        (2 * WEEK_S, 1.0),  # on target
        (24 * 3600, 4.0),  # 1 day < 3.5 days: clamped to x4
        (3.5 * 24 * 3600, 4.0),  # exactly the lower clamp
        (10 * WEEK_S, 0.25),  # 10 weeks > 8 weeks: clamped to /4
        (4 * WEEK_S, 0.5),
        (-5.0, 4.0),  # Core clamps even a negative timespan (bad timestamps)
    ],
)
def test_retarget_clamp(timespan_s, factor):
    assert retarget_difficulty(DIFFICULTY, timespan_s) == DIFFICULTY * factor


def test_retarget_vectorized():
    new = retarget_difficulty(np.array([1.0, 2.0, 3.0]), np.array([WEEK_S, 8 * WEEK_S, 1.0]))
    assert_array_equal(new, [2.0, 0.5, 12.0])


# --- hand-computed epochs -------------------------------------------------------------------


def test_equilibrium_six_blocks_per_hour_no_change(simulate):
    # 6 blocks/h from an epoch boundary: 2016 blocks take 336 h = 2 weeks exactly, so the
    # retarget at the end of hour 335 leaves D unchanged (no Core off-by-one reproduced).
    paths = deterministic(simulate, 400, 1.0)
    t = np.arange(400)
    assert_array_equal(paths.height[0], EPOCH_START + 6 * t)
    assert_allclose(paths.difficulty[0], DIFFICULTY, rtol=1e-12)
    assert_allclose(paths.difficulty[0, 336], paths.difficulty[0, 335], rtol=1e-12)
    assert_array_equal(paths.btc_price_usd[0], 80_000.0)
    assert_array_equal(paths.hashrate_ehs[0], EQUILIBRIUM_EHS)
    assert_array_equal(paths.fees_btc_per_block[0], 0.02)


def test_double_hashrate_doubles_difficulty_after_168_hours(simulate):
    # 12 blocks/h: 2016 / 12 = 168 h = 1 week -> D x 2 from hour 168, then 6 blocks/h.
    paths = deterministic(simulate, 200, 2.0)
    t = np.arange(200)
    expected_height = np.where(t <= 168, EPOCH_START + 12 * t, EPOCH_START + 2016 + 6 * (t - 168))
    assert_array_equal(paths.height[0], expected_height)
    assert_allclose(paths.difficulty[0, :168], DIFFICULTY, rtol=1e-12)
    assert_allclose(paths.difficulty[0, 168:], 2 * DIFFICULTY, rtol=1e-12)


def test_ten_times_hashrate_clamps_then_retargets_again(simulate):
    # 60 blocks/h: epoch 1 takes 2016 / 60 = 33.6 h (inside hour 33); 2 weeks / 33.6 h = 10,
    # clamped to x4 -> 15 blocks/h. Hour 33 ends 0.4 h * 15 = 6 blocks into epoch 2, which
    # ends 2010 / 15 = 134 h later, at hour 168 (33.6 + 134.4 h): 336 / 134.4 = 2.5 -> D x 10
    # in all, 6 blocks/h, and epoch 3 takes exactly 336 h (ends at hour 504, D unchanged).
    paths = deterministic(simulate, 520, 10.0)
    t = np.arange(520)
    expected_height = np.select(
        [t <= 33, t <= 168],
        [EPOCH_START + 60 * t, EPOCH_START + 2016 + 6 + 15 * (t - 34)],
        EPOCH_START + 4032 + 6 * (t - 168),
    )
    assert_array_equal(paths.height[0], expected_height)
    assert paths.height[0, 34] == EPOCH_START + 2022
    expected_difficulty = np.select([t <= 33, t < 168], [1.0, 4.0], 10.0) * DIFFICULTY
    assert_allclose(paths.difficulty[0], expected_difficulty, rtol=1e-12)


def test_several_retargets_in_one_hour(simulate):
    # 5000 x equilibrium = 30,000 blocks/h. Hour 0: epoch of 2016 / 30000 = 0.0672 h -> x4
    # (7500/h), epoch of 2016 / 7500 = 0.2688 h -> x4 (1875/h), then 0.664 h * 1875 = 1245
    # blocks. Hour 1: 771 blocks take 0.4112 h (epoch lasted 1.0752 h) -> x4 (468.75/h),
    # then 0.5888 h * 468.75 = 276 blocks.
    paths = deterministic(simulate, 3, 5000.0)
    assert_array_equal(paths.height[0], EPOCH_START + np.array([0, 4032 + 1245, 6048 + 276]))
    assert_allclose(paths.difficulty[0], DIFFICULTY * np.array([1.0, 16.0, 64.0]), rtol=1e-12)


def test_mid_epoch_start_assumes_target_pace_so_far(simulate):
    # 1008 blocks into the epoch; by default it ran at 6/h, i.e. for 168 h. At 12 blocks/h
    # the last 1008 blocks take 84 h: timespan 252 h -> D x 336/252 = 4/3 from hour 84.
    paths = deterministic(simulate, 100, 2.0, height=EPOCH_START + 1008)
    assert_allclose(paths.difficulty[0, :84], DIFFICULTY, rtol=1e-12)
    assert_allclose(paths.difficulty[0, 84:], DIFFICULTY * 4 / 3, rtol=1e-12)
    assert paths.height[0, 84] == EPOCH_START + 2016
    # given the epoch had run 56 h already: 56 + 84 = 140 h -> 336/140 = 2.4
    given_elapsed = deterministic(
        simulate, 100, 2.0, height=EPOCH_START + 1008, epoch_elapsed_hours=56
    )
    assert_allclose(given_elapsed.difficulty[0, 84:], DIFFICULTY * 2.4, rtol=1e-12)


def test_halving_height_crossed_in_hour_two(simulate):
    # 1,049,990 + 6 t: 1,049,996 at hour 1, 1,050,002 at hour 2 (subsidy halves there).
    # 1,049,990 % 2016 = 1670: 346 blocks to the next retarget, far away.
    paths = deterministic(simulate, 4, 1.0, height=1_049_990)
    assert_array_equal(paths.height[0], [1_049_990, 1_049_996, 1_050_002, 1_050_008])
    assert paths.height[0, 1] < 1_050_000 <= paths.height[0, 2]


# --- statistics -----------------------------------------------------------------------------


def test_gbm_statistics():
    n_paths, mu, sigma = 2000, 0.1, 0.6
    # 8761 hourly values = 8760 hourly steps = one year
    paths = simulate_paths(
        n_paths,
        8761,
        btc_price_usd=100_000.0,
        mu=mu,
        sigma=sigma,
        hashrate_ehs=1000.0,
        hashrate_drift=0.5,
        hashrate_vol=0.4,
        difficulty=DIFFICULTY,
        height=900_000,
        fees_btc_per_block=0.02,
        seed=2024,
    )
    log_price = np.log(paths.btc_price_usd)
    annual = log_price[:, -1] - log_price[:, 0]
    standard_error = sigma / np.sqrt(n_paths)  # 0.0134
    assert abs(annual.mean() - (mu - sigma**2 / 2)) < 4 * standard_error  # around -0.08
    assert_allclose(annual.std(), sigma, rtol=0.05)
    assert_allclose(np.diff(log_price, axis=1).std(), sigma * np.sqrt(1 / 8760), rtol=0.02)
    # hashrate moves once a day (default), with daily log std 0.4 * sqrt(24 / 8760)
    log_hashrate = np.log(paths.hashrate_ehs)
    assert_array_equal(paths.hashrate_ehs[:, 1:24], 1000.0)
    daily = np.diff(log_hashrate[:, ::24], axis=1)
    assert_allclose(daily.std(), 0.4 * np.sqrt(24 / 8760), rtol=0.02)
    assert_allclose(
        daily.mean(), (0.5 - 0.4**2 / 2) * 24 / 8760, atol=4 * daily.std() / np.sqrt(daily.size)
    )


def test_fee_noise_is_mean_preserving_and_leaves_prices_alone():
    kwargs = dict(
        btc_price_usd=100_000.0,
        mu=0.1,
        sigma=0.6,
        hashrate_ehs=1000.0,
        hashrate_drift=0.5,
        hashrate_vol=0.4,
        difficulty=DIFFICULTY,
        height=900_000,
        fees_btc_per_block=0.02,
        seed=7,
    )
    flat = simulate_paths(200, 500, **kwargs)
    noisy = simulate_paths(200, 500, fee_vol=0.5, **kwargs)
    assert_array_equal(flat.fees_btc_per_block, 0.02)
    # lognormal with log std 0.5: relative std sqrt(e^0.25 - 1) = 0.53 over 100,000 draws
    assert_allclose(noisy.fees_btc_per_block.mean(), 0.02, rtol=0.01)
    assert_allclose(np.log(noisy.fees_btc_per_block).std(), 0.5, rtol=0.01)
    assert_array_equal(noisy.btc_price_usd, flat.btc_price_usd)
    assert_array_equal(noisy.difficulty, flat.difficulty)


# --- twins and determinism ------------------------------------------------------------------


@settings(max_examples=20, deadline=None)
@given(
    n_paths=st.integers(1, 4),
    hours=st.integers(1, 400),
    mu=st.floats(-1.0, 1.0),
    sigma=st.floats(0.0, 1.5),
    hashrate_multiple=st.floats(0.2, 40.0),
    hashrate_drift=st.floats(-2.0, 3.0),
    hashrate_vol=st.floats(0.0, 1.5),
    difficulty=st.floats(1e12, 1e15),
    blocks_before_halving=st.integers(-3000, 6000),
    blocks_into_epoch=st.one_of(st.none(), st.integers(0, 2015)),
    fee_vol=st.sampled_from([0.0, 0.3]),
    hashrate_step_hours=st.sampled_from([1, 7, 24]),
    seed=st.integers(0, 2**32 - 1),
)
def test_numba_matches_numpy_twin(
    n_paths,
    hours,
    mu,
    sigma,
    hashrate_multiple,
    hashrate_drift,
    hashrate_vol,
    difficulty,
    blocks_before_halving,
    blocks_into_epoch,
    fee_vol,
    hashrate_step_hours,
    seed,
):
    # hashrate up to 40 x equilibrium (240 blocks/h) crosses several retargets in 400 h; the
    # start height sits within 6000 blocks of the halving.
    kwargs = dict(
        btc_price_usd=60_000.0,
        mu=mu,
        sigma=sigma,
        hashrate_ehs=hashrate_multiple * difficulty * 2**32 / 600 / 1e18,
        hashrate_drift=hashrate_drift,
        hashrate_vol=hashrate_vol,
        difficulty=difficulty,
        height=1_050_000 - blocks_before_halving,
        blocks_into_epoch=blocks_into_epoch,
        fees_btc_per_block=0.03,
        fee_vol=fee_vol,
        hashrate_step_hours=hashrate_step_hours,
        seed=seed,
    )
    fast = simulate_paths(n_paths, hours, **kwargs)
    slow = simulate_paths_reference(n_paths, hours, **kwargs)
    for name in Paths._fields:
        assert getattr(fast, name).shape == (n_paths, hours)
        assert getattr(fast, name).dtype == getattr(slow, name).dtype
    assert_array_equal(fast.height, slow.height)
    for name in ("btc_price_usd", "difficulty", "fees_btc_per_block", "hashrate_ehs"):
        assert_allclose(getattr(fast, name), getattr(slow, name), rtol=1e-12, err_msg=name)


def test_same_seed_same_paths_other_seed_other_paths():
    kwargs = dict(
        btc_price_usd=90_000.0,
        mu=0.2,
        sigma=0.5,
        hashrate_ehs=1100.0,
        hashrate_drift=0.4,
        hashrate_vol=0.3,
        difficulty=DIFFICULTY,
        height=925_000,
        fees_btc_per_block=0.03,
        fee_vol=0.2,
    )
    first = simulate_paths(5, 800, seed=11, **kwargs)
    again = simulate_paths(5, 800, seed=11, **kwargs)
    other = simulate_paths(5, 800, seed=12, **kwargs)
    for name in Paths._fields:
        assert_array_equal(getattr(first, name), getattr(again, name))
    assert np.all(first.btc_price_usd[:, 1:] != other.btc_price_usd[:, 1:])
    assert np.all(first.fees_btc_per_block != other.fees_btc_per_block)
    assert np.all(first.hashrate_ehs[:, 24:] != other.hashrate_ehs[:, 24:])
    assert not np.array_equal(first.difficulty, other.difficulty)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"btc_price_usd": 0.0}, "btc_price_usd"),
        ({"sigma": -0.1}, "sigma"),
        ({"blocks_into_epoch": 2016}, "blocks_into_epoch"),
        ({"hashrate_step_hours": 0}, "hashrate_step_hours"),
    ],
)
def test_rejects_bad_parameters(bad, message):
    kwargs = dict(
        btc_price_usd=90_000.0,
        mu=0.2,
        sigma=0.5,
        hashrate_ehs=1100.0,
        hashrate_drift=0.4,
        hashrate_vol=0.3,
        difficulty=DIFFICULTY,
        height=925_000,
        fees_btc_per_block=0.03,
        seed=0,
    )
    kwargs.update(bad)
    with pytest.raises(ValueError, match=message):
        simulate_paths(2, 10, **kwargs)


# --- multi-year samples ---------------------------------------------------------------------


def test_representative_weeks_are_centred_and_weighted_to_a_year():
    """4 weeks of 8760 h: centres at (w + 1/2) * 2190 h, each week starts 84 h before its
    centre, and each stands for 8760 / (4 * 168) = 13.0357... weeks."""
    starts, weight = representative_weeks(8760, 4)
    assert_array_equal(starts, [1011, 3201, 5391, 7581])
    assert weight == pytest.approx(8760 / 672)
    # a quantity constant across weeks sums to its yearly total exactly
    assert weight * 4 * 168 == pytest.approx(8760)
    starts, weight = representative_weeks(336, 0)
    assert_array_equal(starts, [0]) and weight == pytest.approx(8760 / 336)
    with pytest.raises(ValueError, match="at least 672 hours"):
        representative_weeks(500, 4)


def test_sampled_paths_are_each_path_simulated_alone_then_sampled():
    kwargs = dict(
        btc_price_usd=100_000.0, mu=0.1, sigma=0.5, hashrate_ehs=1000.0, hashrate_drift=0.3,
        hashrate_vol=0.2, difficulty=DIFFICULTY, height=900_000, fees_btc_per_block=0.02,
    )  # fmt: skip
    sample = np.array([0, 5, 400, 999])
    got = simulate_sampled_paths(3, 1000, sample, seed=9, **kwargs)
    for p, s in enumerate(path_seeds(9, 3)):
        one = simulate_paths(1, 1000, seed=s, **kwargs)
        for name in one._fields:
            assert_array_equal(getattr(got, name)[p], getattr(one, name)[0, sample])
    # adding paths leaves the first ones unchanged
    more = simulate_sampled_paths(5, 1000, sample, seed=9, **kwargs)
    assert_array_equal(more.btc_price_usd[:3], got.btc_price_usd)


def test_the_halving_happens_where_a_path_height_reaches_it():
    """At equilibrium (6 blocks an hour) from height 1,049,995 the 1,050,000th block comes
    within the first hour: the subsidy is 3.125 BTC at hour 0 and 1.5625 BTC from hour 1."""
    paths = simulate_sampled_paths(
        1, 48, np.array([0, 1, 47]), seed=1, btc_price_usd=1e5, mu=0.0, sigma=0.0,
        hashrate_ehs=EQUILIBRIUM_EHS, hashrate_drift=0.0,
        hashrate_vol=0.0, difficulty=DIFFICULTY, height=1_049_995, fees_btc_per_block=0.0,
    )  # fmt: skip
    assert_array_equal(paths.height[0], [1_049_995, 1_050_001, 1_050_277])
    assert_array_equal(block_subsidy_btc(paths.height[0]), [3.125, 1.5625, 1.5625])
