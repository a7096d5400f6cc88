"""Revenue kernels: Bitcoin formulas, a hand-computed machine, numba vs the numpy twin."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from kernels import reference, revenue
from kernels.bitcoin import (
    block_subsidy_btc,
    breakeven_usd_per_mwh,
    btc_per_th_hour,
    difficulty_from_hashrate_ehs,
    hashprice_usd_per_ph_day,
    network_hashrate_ehs,
)
from kernels.inputs import block_hours_for

RTOL = 1e-9
ATOL = 1e-12  # for entries that are exactly 0 in one implementation

# The numba kernels and their numpy twin must pass the same hand-computed cases.
IMPLEMENTATIONS = [pytest.param(revenue, id="numba"), pytest.param(reference, id="numpy")]


# --------------------------------------------------------------------------- Bitcoin formulas


def test_subsidy_at_halving_boundaries():
    assert block_subsidy_btc(0) == 50.0
    assert block_subsidy_btc(209_999) == 50.0
    assert block_subsidy_btc(840_000) == 3.125
    assert block_subsidy_btc(1_049_999) == 3.125
    assert block_subsidy_btc(1_050_000) == 1.5625  # exactly 50 / 2**5
    assert block_subsidy_btc(63 * 210_000) == 50.0 * 2.0**-63
    assert block_subsidy_btc(64 * 210_000) == 0.0  # GetBlockSubsidy: halvings >= 64 -> 0
    assert block_subsidy_btc(10**9) == 0.0
    heights = np.array([0, 840_000, 1_049_999, 1_050_000, 64 * 210_000])
    assert_array_equal(block_subsidy_btc(heights), [50.0, 3.125, 3.125, 1.5625, 0.0])


def test_subsidy_rejects_negative_height():
    with pytest.raises(ValueError, match="height"):
        block_subsidy_btc(-1)
    assert block_subsidy_btc(839_999.9) == 6.25  # floats are floored to whole blocks


def test_hashprice_and_breakeven_hand_computed():
    difficulty, price_usd, fees_btc, height = 1.5e14, 100_000.0, 0.03, 900_000
    # height 900,000 is in the 5th epoch (840,000-1,049,999): subsidy 3.125 + fees 0.03 = 3.155
    b = 1e12 * 3600 / (1.5e14 * 2**32) * 3.155  # BTC per TH/s per hour
    hashprice = b * 1000 * 24 * 1e5  # USD per PH/s per day (about 42.31)
    assert_allclose(btc_per_th_hour(difficulty, fees_btc, height), b, rtol=1e-9)
    assert_allclose(
        hashprice_usd_per_ph_day(price_usd, difficulty, fees_btc, height), hashprice, rtol=1e-9
    )
    # 17.5 J/TH at PUE 1: 1 PH/s-day uses 0.024 * 17.5 = 0.42 MWh
    assert_allclose(breakeven_usd_per_mwh(hashprice, 17.5), hashprice / (0.024 * 17.5), rtol=1e-9)
    assert_allclose(hashprice, 42.312, rtol=1e-4)
    assert_allclose(breakeven_usd_per_mwh(hashprice, 17.5), 100.742, rtol=1e-4)


def test_hashprice_at_1p1_zhs_is_about_37_usd():
    # November 2025: 1.1 ZH/s, $90,000, 0.03 BTC fees, height 925,000 (subsidy 3.125)
    difficulty = difficulty_from_hashrate_ehs(1100.0)
    assert_allclose(difficulty, 1100e18 * 600 / 2**32, rtol=1e-12)  # about 1.537e14
    by_hand = 1e12 * 3600 / (difficulty * 2**32) * (3.125 + 0.03) * 1000 * 24 * 90_000
    hashprice = hashprice_usd_per_ph_day(90_000.0, difficulty, 0.03, 925_000)
    assert_allclose(hashprice, by_hand, rtol=1e-9)
    assert 30.0 <= hashprice <= 45.0
    assert_allclose(hashprice, 37.17, rtol=1e-3)


def test_breakeven_with_pue_and_pool_fee():
    # $50/PH/day, 20 J/TH, PUE 1.1, 2 % pool fee: 50 * 0.98 / (0.024 * 20 * 1.1) = 49 / 0.528
    assert_allclose(breakeven_usd_per_mwh(50.0, 20.0, pue=1.1, pool_fee=0.02), 49 / 0.528)
    got = breakeven_usd_per_mwh(np.array([50.0, 25.0]), np.array([20.0, 10.0]))
    assert_allclose(got, [50 / 0.48, 25 / 0.24], rtol=1e-12)


def test_network_hashrate_round_trip():
    # D = 1.5e14: 1.5e14 * 2**32 / 600 H/s = 1073.74 EH/s
    assert_allclose(network_hashrate_ehs(1.5e14), 1.5e14 * 2**32 / 600 / 1e18, rtol=1e-12)
    assert_allclose(network_hashrate_ehs(1.5e14), 1073.74, rtol=1e-5)
    ehs = np.array([500.0, 1100.0])
    assert_allclose(network_hashrate_ehs(difficulty_from_hashrate_ehs(ehs)), ehs, rtol=1e-12)


# --------------------------------------------------------------------------- one machine by hand


def one_machine(hosted: bool = False) -> dict:
    """One S19-like ASIC at one site over 3 hours: cool, warm (derated), hot (tripped)."""
    return dict(
        usd_per_th_hour=np.array([0.0015, 0.0016, 0.0017]),
        temp_c=np.array([[20.0, 30.0, 45.0]]),
        price_usd_per_mwh=np.array([[60.0, 70.0, 10.0]]),
        pue0=np.array([[1.05]]),
        pue_slope=np.array([[0.01]]),
        pue_ref_c=np.array([[20.0]]),
        site=np.array([0]),
        cooling=np.array([0]),
        klass=np.array([0]),
        hashrate_ths=np.array([200.0]),
        power_kw=np.array([3.5]),
        availability=np.array([0.95]),
        alpha_per_c=np.array([0.02]),
        beta_per_c=np.array([0.01]),
        t_ref_c=np.array([25.0]),
        t_max_c=np.array([40.0]),
        hosted=np.array([hosted]),
        hosting_usd_per_mwh=np.array([80.0]),
        n_classes=1,
    )


# hour 0, 20 degC: no derating, pue 1.05; 200 * 0.95 = 190 TH/s
#   r = 190 * 0.0015 = 0.285 USD, e = 3.5 kW * 1.05 / 1000 = 0.003675 MWh
# hour 1, 30 degC: dT = 5, hashrate 190 * (1 - 0.1) = 171, power 3.5 * 1.05 = 3.675 kW,
#   pue 1.05 + 0.01 * 10 = 1.15; r = 171 * 0.0016 = 0.2736, e = 3.675 * 1.15 / 1000
# hour 2, 45 degC > t_max 40: tripped, r = e = 0
HAND_E = np.array([0.003675, 0.00422625, 0.0])
HAND_R = np.array([0.285, 0.2736, 0.0])
HAND_BREAKEVEN = [0.285 / 0.003675, 0.2736 / 0.00422625]  # 77.55, 64.74 USD/MWh


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_one_machine_three_hours_by_hand(impl):
    m = impl.score_asics_matrix(**one_machine())
    assert_allclose(m.revenue_usd[0], HAND_R, rtol=1e-12)
    assert_allclose(m.energy_mwh[0], HAND_E, rtol=1e-12)
    assert_allclose(m.breakeven_usd_per_mwh[0, :2], HAND_BREAKEVEN, rtol=1e-12)
    assert np.isnan(m.breakeven_usd_per_mwh[0, 2])

    f = impl.score_asics(**one_machine())
    assert_allclose(f.revenue_usd[0], HAND_R, rtol=1e-12)
    assert_allclose(f.energy_mwh[0], HAND_E, rtol=1e-12)
    assert_allclose(f.machine_revenue_usd, [0.285 + 0.2736], rtol=1e-12)
    assert_allclose(f.machine_energy_mwh, [0.003675 + 0.00422625], rtol=1e-12)
    # in the money: 77.55 > 60 yes, 64.74 > 70 no, tripped hour never counts
    assert_array_equal(f.machine_hours_in_money, [1])
    assert f.machine_hours_in_money.dtype == np.int64
    assert_allclose(f.machine_mean_breakeven_usd_per_mwh, [np.mean(HAND_BREAKEVEN)], rtol=1e-12)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_hosted_machine_earns_hosting_rate_times_energy(impl):
    f = impl.score_asics(**one_machine(hosted=True))
    # r = 80 USD/MWh * e; breakeven is 80 in every hour on; 80 > 60 and 80 > 70
    assert_allclose(f.revenue_usd[0], 80.0 * HAND_E, rtol=1e-12)
    assert_allclose(f.machine_mean_breakeven_usd_per_mwh, [80.0], rtol=1e-12)
    assert_array_equal(f.machine_hours_in_money, [2])


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_machine_that_never_runs_has_nan_breakeven(impl):
    args = one_machine()
    args["t_max_c"] = np.array([10.0])  # trips in all 3 hours
    f = impl.score_asics(**args)
    assert_array_equal(f.revenue_usd, [[0.0, 0.0, 0.0]])
    assert_array_equal(f.machine_hours_in_money, [0])
    assert np.isnan(f.machine_mean_breakeven_usd_per_mwh[0])


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_two_machines_in_one_class_add_up(impl):
    args = one_machine()
    for name in ("site", "cooling", "klass"):
        args[name] = np.array([0, 0, 0])
    for name in ("hashrate_ths", "power_kw", "availability", "alpha_per_c", "beta_per_c"):
        args[name] = np.repeat(args[name], 3)
    args["t_ref_c"] = np.array([25.0, 25.0, 50.0])  # third machine: no derating, never trips
    args["t_max_c"] = np.array([40.0, 40.0, 60.0])
    args["hosted"] = np.array([False, True, False])
    args["hosting_usd_per_mwh"] = np.array([80.0, 80.0, 80.0])
    args["klass"] = np.array([1, 1, 0])
    args["n_classes"] = 2
    f = impl.score_asics(**args)
    # class 1 = own + hosted copy of the hand machine
    assert_allclose(f.revenue_usd[1], HAND_R + 80.0 * HAND_E, rtol=1e-12)
    assert_allclose(f.energy_mwh[1], 2 * HAND_E, rtol=1e-12)
    # class 0: 190 TH/s all hours, 3.5 kW at pue 1.05, 1.15, 1.3 (45 degC: 1.05 + 0.25)
    assert_allclose(f.revenue_usd[0], 190 * np.array([0.0015, 0.0016, 0.0017]), rtol=1e-12)
    assert_allclose(f.energy_mwh[0], 3.5 * np.array([1.05, 1.15, 1.30]) / 1000, rtol=1e-12)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_operating_point_derates_and_trips_like_the_nameplate(impl):
    args = one_machine()
    # an underclocked preset: 150 TH/s at 2.5 kW (16.7 J/TH vs 17.5 at nameplate)
    f = impl.score_asics(
        **args,
        point_class=np.array([0]),
        point_hashrate_ths=np.array([150.0]),
        point_power_kw=np.array([2.5]),
    )
    # hour 0: 150 * 0.95 = 142.5 TH/s -> 0.21375 USD; 2.5 kW * 1.05 / 1000 MWh
    # hour 1: dT = 5 -> 142.5 * 0.9 = 128.25 TH/s * 0.0016; 2.5 * 1.05 * 1.15 / 1000
    # hour 2: tripped at 45 C
    assert_allclose(f.point_revenue_usd[0], [0.21375, 128.25 * 0.0016, 0.0], rtol=1e-12)
    assert_allclose(f.point_energy_mwh[0], [0.002625, 2.5 * 1.05 * 1.15 / 1000, 0.0], rtol=1e-12)
    # the nameplate figures are untouched by the point
    assert_allclose(f.revenue_usd[0], HAND_R, rtol=1e-12)
    assert_allclose(f.machine_revenue_usd, [0.285 + 0.2736], rtol=1e-12)
    # a hosted machine at a point earns the hosting rate on the point's energy
    g = impl.score_asics(
        **one_machine(hosted=True),
        point_class=np.array([0]),
        point_hashrate_ths=np.array([150.0]),
        point_power_kw=np.array([2.5]),
    )
    assert_allclose(g.point_revenue_usd[0], 80.0 * f.point_energy_mwh[0], rtol=1e-12)


def test_operating_points_must_come_sorted_by_class():
    args = one_machine()
    args["klass"], args["n_classes"] = np.array([1]), 2
    with pytest.raises(ValueError, match="non-decreasing"):
        revenue.score_asics(
            **args,
            point_class=np.array([1, 0]),
            point_hashrate_ths=np.array([150.0, 100.0]),
            point_power_kw=np.array([2.5, 2.0]),
        )


# --------------------------------------------------------------------------- GPU by hand


def two_gpu_servers() -> dict:
    """A cloud server with pass-through and a colocation server, 3 hours, one site."""
    return dict(
        temp_c=np.array([[20.0, 35.0, 50.0]]),
        price_usd_per_mwh=np.array([[40.0, -20.0, 100.0]]),
        pue0=np.array([[1.2, 1.4]]),
        pue_slope=np.array([[0.0, 0.02]]),
        pue_ref_c=np.array([[25.0, 25.0]]),
        site=np.array([0, 0]),
        cooling=np.array([0, 1]),
        power_kw=np.array([10.0, 10.0]),
        it_kw=np.array([9.0, 9.0]),
        colocation=np.array([False, True]),
        gpus=np.array([8.0, 8.0]),
        rate_usd_per_gpu_hour=np.array([[2.0, 2.5, 3.0], [2.0, 2.5, 3.0]]),
        utilization=np.array([0.9, 0.9]),
        lease_usd_per_kw_month=np.array([150.0, 150.0]),
        power_pass_through=np.array([True, False]),
        beta_per_c=np.array([0.01, 0.01]),
        t_ref_c=np.array([30.0, 30.0]),
        t_max_c=np.array([45.0, 60.0]),
    )


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_gpu_cloud_and_colocation_by_hand(impl):
    g = impl.score_gpus(**two_gpu_servers())
    # cloud, liquid (pue 1.2 flat): hour 0: e = 10 * 1.2 / 1000 = 0.012, r = 8*2*0.9 + 0.012*40
    # hour 1: dT 5 -> 10.5 kW, e = 0.0126, r = 8*2.5*0.9 + 0.0126*(-20); hour 2: 50 > 45 trips
    assert_allclose(g.energy_mwh[0], [0.012, 0.0126, 0.0], rtol=1e-12)
    assert_allclose(g.revenue_usd[0], [14.4 + 0.48, 18.0 - 0.252, 0.0], rtol=1e-12)
    # colocation, air (pue 1.4 + 0.02 per degC above 25): r = 150 * 9 / 730 every hour on
    # hour 1: 10.5 kW * 1.6 / 1000 = 0.0168; hour 2: dT 20 -> 12 kW * 1.9 / 1000 = 0.0228
    assert_allclose(g.energy_mwh[1], [0.014, 0.0168, 0.0228], rtol=1e-12)
    assert_allclose(g.revenue_usd[1], np.full(3, 150 * 9 / 730), rtol=1e-12)


# --------------------------------------------------------------------------- numba vs numpy


def random_fleet(seed: int, n_sites: int, n_cooling: int, n_hours: int, n_machines: int) -> dict:
    """Random ASIC fleet: derating active, trips, hosted machines, negative prices."""
    rng = np.random.default_rng(seed)
    n_classes = int(rng.integers(1, 6))
    t_max_c = rng.uniform(25.0, 50.0, n_machines)
    if n_machines and rng.random() < 0.5:
        t_max_c[0] = -50.0  # a machine that never runs
    point_class = np.sort(rng.integers(0, n_classes, int(rng.integers(0, 7))))
    return dict(
        point_class=point_class,
        point_hashrate_ths=rng.uniform(13.0, 400.0, len(point_class)),
        point_power_kw=rng.uniform(1.3, 7.0, len(point_class)),
        usd_per_th_hour=rng.uniform(0.5e-3, 3e-3, n_hours),
        temp_c=rng.uniform(-10.0, 50.0, (n_sites, n_hours)),
        price_usd_per_mwh=rng.uniform(-60.0, 250.0, (n_sites, n_hours)),
        pue0=rng.uniform(1.02, 1.4, (n_sites, n_cooling)),
        pue_slope=rng.uniform(0.0, 0.02, (n_sites, n_cooling)),
        pue_ref_c=rng.uniform(10.0, 30.0, (n_sites, n_cooling)),
        site=rng.integers(0, n_sites, n_machines),
        cooling=rng.integers(0, n_cooling, n_machines),
        klass=rng.integers(0, n_classes, n_machines),
        hashrate_ths=rng.uniform(13.0, 400.0, n_machines),
        power_kw=rng.uniform(1.3, 7.0, n_machines),
        availability=rng.uniform(0.8, 1.0, n_machines),
        alpha_per_c=rng.uniform(0.0, 0.08, n_machines),  # up to 100 % loss within the range
        beta_per_c=rng.uniform(0.0, 0.02, n_machines),
        t_ref_c=rng.uniform(0.0, 35.0, n_machines),
        t_max_c=t_max_c,
        hosted=rng.random(n_machines) < 0.3,
        hosting_usd_per_mwh=rng.uniform(40.0, 120.0, n_machines),
        n_classes=n_classes,
    )


def random_gpus(seed: int, n_sites: int, n_cooling: int, n_hours: int, n_servers: int) -> dict:
    """Random GPU classes: both pricing models, with and without pass-through, trips."""
    rng = np.random.default_rng(seed + 1)
    return dict(
        temp_c=rng.uniform(-10.0, 50.0, (n_sites, n_hours)),
        price_usd_per_mwh=rng.uniform(-60.0, 250.0, (n_sites, n_hours)),
        pue0=rng.uniform(1.05, 1.5, (n_sites, n_cooling)),
        pue_slope=rng.uniform(0.0, 0.02, (n_sites, n_cooling)),
        pue_ref_c=rng.uniform(10.0, 30.0, (n_sites, n_cooling)),
        site=rng.integers(0, n_sites, n_servers),
        cooling=rng.integers(0, n_cooling, n_servers),
        power_kw=rng.uniform(5.0, 14.0, n_servers),
        it_kw=rng.uniform(4.0, 12.0, n_servers),
        colocation=rng.random(n_servers) < 0.5,
        gpus=rng.choice([4.0, 8.0], n_servers),
        rate_usd_per_gpu_hour=rng.uniform(0.5, 4.0, (n_servers, n_hours)),
        utilization=rng.uniform(0.3, 1.0, n_servers),
        lease_usd_per_kw_month=rng.uniform(100.0, 250.0, n_servers),
        power_pass_through=rng.random(n_servers) < 0.5,
        beta_per_c=rng.uniform(0.0, 0.02, n_servers),
        t_ref_c=rng.uniform(0.0, 35.0, n_servers),
        t_max_c=rng.uniform(30.0, 60.0, n_servers),
    )


fleet_shapes = st.fixed_dictionaries(
    {
        "seed": st.integers(0, 2**32 - 1),
        "n_sites": st.integers(1, 3),
        "n_cooling": st.integers(1, 3),
        "n_hours": st.integers(1, 700),  # several parallel blocks and a ragged last one
        "n_machines": st.integers(0, 40),
    }
)


def class_sums(values: np.ndarray, klass: np.ndarray, n_classes: int) -> np.ndarray:
    out = np.zeros((n_classes, values.shape[1]))
    np.add.at(out, klass, values)
    return out


@settings(max_examples=40, deadline=None)
@given(shape=fleet_shapes)
def test_fused_asics_match_numpy_twin(shape):
    args = random_fleet(**shape)
    got = revenue.score_asics(**args)
    want = reference.score_asics(**args)
    for field in (
        "revenue_usd",
        "energy_mwh",
        "machine_revenue_usd",
        "machine_energy_mwh",
        "point_revenue_usd",
        "point_energy_mwh",
    ):
        assert_allclose(getattr(got, field), getattr(want, field), rtol=RTOL, atol=ATOL)
    assert got.point_revenue_usd.shape == (len(args["point_class"]), shape["n_hours"])
    assert_array_equal(got.machine_hours_in_money, want.machine_hours_in_money)
    assert_allclose(
        got.machine_mean_breakeven_usd_per_mwh,
        want.machine_mean_breakeven_usd_per_mwh,
        rtol=RTOL,
        atol=ATOL,
    )
    assert got.revenue_usd.shape == (args["n_classes"], shape["n_hours"])


@settings(max_examples=30, deadline=None)
@given(shape=fleet_shapes)
def test_matrix_asics_match_numpy_twin_and_fused_class_sums(shape):
    args = random_fleet(**shape)
    for key in ("point_class", "point_hashrate_ths", "point_power_kw"):
        del args[key]  # machine matrices are at nameplate
    got = revenue.score_asics_matrix(**args)
    want = reference.score_asics_matrix(**args)
    for g, w in zip(got, want, strict=True):
        assert_allclose(g, w, rtol=RTOL, atol=ATOL)  # NaN breakevens must line up too
    fused = revenue.score_asics(**args)
    n_classes = args["n_classes"]
    sums = class_sums(got.revenue_usd, args["klass"], n_classes)
    assert_allclose(fused.revenue_usd, sums, rtol=1e-12, atol=ATOL)
    sums = class_sums(got.energy_mwh, args["klass"], n_classes)
    assert_allclose(fused.energy_mwh, sums, rtol=1e-12, atol=ATOL)
    assert_allclose(fused.machine_revenue_usd, got.revenue_usd.sum(axis=1), rtol=1e-12, atol=ATOL)


@settings(max_examples=30, deadline=None)
@given(shape=fleet_shapes)
def test_gpus_match_numpy_twin(shape):
    args = random_gpus(
        shape["seed"], shape["n_sites"], shape["n_cooling"], shape["n_hours"], shape["n_machines"]
    )
    got = revenue.score_gpus(**args)
    want = reference.score_gpus(**args)
    assert_allclose(got.revenue_usd, want.revenue_usd, rtol=RTOL, atol=ATOL)
    assert_allclose(got.energy_mwh, want.energy_mwh, rtol=RTOL, atol=ATOL)


# --------------------------------------------------------------------------- threads, blocking


def test_results_do_not_depend_on_thread_count():
    args = random_fleet(seed=7, n_sites=3, n_cooling=2, n_hours=2000, n_machines=300)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = revenue.score_asics(**args)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = revenue.score_asics(**args)
    finally:
        numba.set_num_threads(before)
    for a, b in zip(one, two, strict=True):
        assert_array_equal(a, b)  # bit for bit: blocking depends on the horizon only
    assert_allclose(one.revenue_usd, reference.score_asics(**args).revenue_usd, rtol=RTOL)


def test_block_hours_depend_on_horizon_only():
    assert block_hours_for(8760) == 512  # 18 blocks, the last of 56 hours
    assert block_hours_for(168) == 64  # a week: 3 blocks
    assert block_hours_for(1000) == 128  # ceil(1000 / 8) = 125 -> 128, 8 blocks
    assert block_hours_for(1) == 64


def test_empty_fleet_and_bad_indices():
    args = random_fleet(seed=3, n_sites=2, n_cooling=2, n_hours=24, n_machines=0)
    f = revenue.score_asics(**args)
    assert_array_equal(f.revenue_usd, np.zeros((args["n_classes"], 24)))
    assert f.machine_revenue_usd.shape == (0,)
    args = random_fleet(seed=3, n_sites=2, n_cooling=2, n_hours=24, n_machines=5)
    args["site"] = np.array([0, 1, 2, 0, 1])  # site 2 does not exist
    with pytest.raises(ValueError, match="site"):
        revenue.score_asics(**args)
    args["site"] = np.zeros(5, dtype=np.int64)
    args["klass"] = np.full(5, args["n_classes"])
    with pytest.raises(ValueError, match="klass"):
        revenue.score_asics(**args)
