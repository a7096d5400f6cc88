"""The hourly greedy of the decomposed solver: numba kernel == numpy twin == an LP solver.

Each hour is a small LP (kernels/decomposition.py): items with values and quantities in three
groups (mining hall, HPC hall, firm load kept), a forced amount of kept firm load, an import cap
and a two-piece energy cost. The greedy's value must equal HiGHS's optimum of that LP, its
primal must be feasible, and its duals must price every item and row consistently (reduced
costs of the right sign, complementary slackness, dual objective = primal objective).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linprog

from kernels.decomposition import (
    GROUP_HPC,
    GROUP_KEEP,
    GROUP_MINING,
    OUT_DA,
    OUT_DV,
    OUT_E,
    OUT_GAMMA,
    OUT_INFEASIBLE,
    OUT_LOAD,
    OUT_OMEGA,
    OUT_TAU,
    OUT_VALUE,
    first_crossing,
    greedy_hours,
    item_steps,
    load_steps,
)
from kernels.reference import greedy_hours_reference


def random_hours(rng: np.random.Generator, T: int = 400, ties: bool = False):
    """Random hours: 2-4 ASIC items, 0-2 GPU items, 0-2 kept-firm items, caps and costs."""
    nA, nV, nK = rng.integers(1, 5), rng.integers(0, 3), rng.integers(0, 3)
    grp = np.array([GROUP_MINING] * nA + [GROUP_HPC] * nV + [GROUP_KEEP] * nK, dtype=np.int64)
    n = len(grp)
    val = rng.uniform(-20.0, 200.0, (n, T))
    if ties:
        val = np.round(val / 25.0) * 25.0
    qty = rng.uniform(0.0, 10.0, (n, T)) * (rng.random((n, T)) > 0.1)
    cap_a = rng.uniform(0.0, 25.0, T)
    cap_v = rng.uniform(0.0, 15.0, T)
    imp = rng.uniform(5.0, 40.0, T)
    kept = qty[grp == GROUP_KEEP].sum(axis=0)
    forced = np.minimum(kept, rng.uniform(0.0, 8.0, T) * (rng.random(T) > 0.5))
    base = rng.uniform(0.0, 4.0, T)
    block = rng.uniform(0.0, 20.0, T) * (rng.random(T) > 0.3)
    m1 = rng.uniform(-30.0, 120.0, T)
    m2 = m1 + rng.uniform(0.0, 60.0, T)
    if ties:
        m1, m2 = np.round(m1 / 25.0) * 25.0, np.round(m2 / 25.0) * 25.0
    return val, qty, grp, cap_a, cap_v, imp, base, forced, block, m1, m2


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("ties", [False, True])
def test_numba_kernel_equals_numpy_twin(seed, ties):
    args = random_hours(np.random.default_rng(seed), ties=ties)
    x, out = greedy_hours(*args)
    x_ref, out_ref = greedy_hours_reference(*args)
    np.testing.assert_allclose(x, x_ref, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(out, out_ref, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("ties", [False, True])
def test_item_steps_equal_the_greedy_at_any_value_of_the_item(seed, ties):
    """The step function of one item's MWh in its value (a hosted class under a rising uptime
    multiplier) equals the numpy twin of the greedy run at that value, hour by hour."""
    rng = np.random.default_rng(100 + seed)
    args = random_hours(rng, ties=ties)
    val, grp = args[0], args[2]
    for h in np.flatnonzero(grp != GROUP_KEEP):
        thr, alloc = item_steps(h, *args)
        assert (thr[:, 1:] >= thr[:, :-1]).all()
        for v in (rng.uniform(-50.0, 250.0, val.shape[1]), val[h] + 1e-3):
            moved = val.copy()
            moved[h] = v
            x, _ = greedy_hours_reference(moved, *args[1:])
            w = (thr < v[:, None]).sum(axis=1)
            off_kink = np.abs(thr - v[:, None]).min(axis=1) > 1e-7  # ties: either side
            got = alloc[np.arange(len(v)), w]
            np.testing.assert_allclose(got[off_kink], x[h][off_kink], rtol=1e-9, atol=1e-9)


def test_first_crossing_of_a_hand_made_step_function():
    # two hours, an item of value 10 now and energy 2 MWh (scale): hour 0 gives it 0, then 1,
    # then 2 MWh past values 20 and 30 (multipliers (20 - 10) * 2 = 20 and 40); hour 1 gives
    # 2 MWh past value 15 (multiplier 10), but counts with weight 0.5: uptime 0 at lam = 0,
    # 0.5 past 10, 1.0 past 20, 1.5 past 40
    inf = np.inf
    thr = np.array([[20.0, 30.0, inf], [15.0, inf, inf]])
    alloc = np.array([[0.0, 1.0, 2.0, 2.0], [0.0, 2.0, 2.0, 2.0]])
    value, scale, weight = np.array([10.0, 10.0]), np.array([2.0, 2.0]), np.array([1.0, 0.5])
    for target, lam in ((0.0, 0.0), (0.4, 10.0), (0.5, 10.0), (0.9, 20.0), (1.5, 40.0)):
        assert first_crossing(thr, alloc, value, scale, weight, target) == lam
    assert first_crossing(thr, alloc, value, scale, weight, 9.0) == np.inf  # out of reach


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("ties", [False, True])
def test_load_steps_equal_the_greedy_with_shifted_energy_costs(seed, ties):
    """The load as both energy costs fall by nu (a minimum-take multiplier) is
    ``fixed + sum(size[thr < nu])``: equal to the numpy twin of the greedy at that shift."""
    rng = np.random.default_rng(200 + seed)
    args = random_hours(rng, ties=ties)
    thr, size, fixed = load_steps(*args)
    m1, m2 = args[9], args[10]
    for nu in rng.uniform(-80.0, 200.0, 6):
        _, out = greedy_hours_reference(*args[:9], m1 - nu, m2 - nu)
        off_kink = np.abs(thr - nu).min(axis=1) > 1e-7  # ties: either side
        feasible = out[:, OUT_INFEASIBLE] == 0
        got = fixed + np.where(thr < nu, size, 0.0).sum(axis=1)
        keep = off_kink & feasible
        np.testing.assert_allclose(got[keep], out[keep, OUT_LOAD], rtol=1e-12, atol=1e-9)


def hour_lp(t, val, qty, grp, cap_a, cap_v, imp, base, forced, block, m1, m2):
    """The hour as an LP for scipy/HiGHS: items, then energy below and above the block."""
    n = val.shape[0]
    c = np.concatenate([-val[:, t], [m1[t], m2[t]]])
    bounds = [(0.0, q) for q in qty[:, t]] + [(0.0, block[t]), (0.0, None)]
    a_ub, b_ub = [], []
    for g, cap in ((GROUP_MINING, cap_a[t]), (GROUP_HPC, cap_v[t])):
        a_ub.append(np.concatenate([(grp == g).astype(float), [0.0, 0.0]]))
        b_ub.append(cap)
    a_ub.append(np.concatenate([np.zeros(n), [1.0, 1.0]]))  # import cap on the whole load
    b_ub.append(imp[t])
    a_ub.append(np.concatenate([-(grp == GROUP_KEEP).astype(float), [0.0, 0.0]]))
    b_ub.append(-forced[t])
    # energy pieces carry the items' load and the base load: e1 + e2 = base + sum x
    a_eq = [np.concatenate([-np.ones(n), [1.0, 1.0]])]
    b_eq = [base[t]]
    return c, np.array(a_ub), np.array(b_ub), np.array(a_eq), np.array(b_eq), bounds


@pytest.mark.parametrize("seed", range(4))
def test_greedy_value_is_the_lp_optimum(seed):
    args = random_hours(np.random.default_rng(100 + seed), T=60, ties=seed % 2 == 1)
    _, out = greedy_hours(*args)
    val, imp, base, forced, block = args[0], args[5], args[6], args[7], args[8]
    checked = 0
    for t in range(val.shape[1]):
        if base[t] + forced[t] > imp[t] or base[t] > block[t]:
            continue  # infeasible, or the base load alone is past the block: skip (LP form)
        c, a_ub, b_ub, a_eq, b_eq, bounds = hour_lp(t, *args)
        res = linprog(c, a_ub, b_ub, a_eq, b_eq, bounds, method="highs")
        assert res.status == 0
        # the LP's value counts energy from zero; the greedy's also (constant base cost apart)
        assert out[t, OUT_VALUE] == pytest.approx(-res.fun, rel=1e-9, abs=1e-7)
        checked += 1
    assert checked > 20


@pytest.mark.parametrize("seed", range(6))
def test_duals_price_every_item_and_row(seed):
    """Reduced costs have the right sign and the dual objective equals the primal value."""
    args = random_hours(np.random.default_rng(200 + seed), T=300, ties=seed % 2 == 1)
    val, qty, grp, cap_a, cap_v, imp, base, forced, block, m1, m2 = args
    x, out = greedy_hours(*args)
    ok = out[:, -1] == 0
    load, omega, e, gamma = out[:, OUT_LOAD], out[:, OUT_OMEGA], out[:, OUT_E], out[:, OUT_GAMMA]
    d_a, d_v, tau = out[:, OUT_DA], out[:, OUT_DV], out[:, OUT_TAU]
    tol = 1e-7
    assert (gamma >= -tol).all() and (d_a >= -tol).all() and (d_v >= -tol).all()
    assert (tau >= -tol).all()
    np.testing.assert_allclose(omega, e + gamma, atol=1e-9)
    # e is a subgradient of the energy cost at the load
    below, above = load < block - 1e-9, load > block + 1e-9
    assert np.all(np.where(ok & below & (load > 1e-9), np.abs(e - m1) < 1e-7, True))
    assert np.all(np.where(ok & above, np.abs(e - m2) < 1e-7, True))
    assert np.all(np.where(ok & ~below & ~above, (e >= m1 - tol) & (e <= m2 + tol), True))
    assert np.all(np.where(ok & (load <= 1e-9), e <= m1 + tol, True))  # nothing drawn
    # items: reduced value r = val - omega - group dual (+ tau for kept firm load)
    group_dual = np.where(
        grp[:, None] == GROUP_MINING, d_a, np.where(grp[:, None] == GROUP_HPC, d_v, -tau)
    )
    r = val - omega - group_dual
    upper_dual = np.maximum(r, 0.0)  # value of one more unit of the item
    inside = (x > 1e-7) & (x < qty - 1e-7)
    assert np.all(np.where(ok & inside, np.abs(r) < 1e-6, True))
    assert np.all(np.where(ok & (x <= 1e-9) & (qty > 1e-9), r <= 1e-6, True))
    assert np.all(np.where(ok & (x >= qty - 1e-9) & (qty > 1e-9), r >= -1e-6, True))
    # dual objective (strong duality): caps times their duals plus item bounds plus energy
    dual = (
        (qty * upper_dual * (qty > 1e-9)).sum(axis=0)
        + d_a * cap_a
        + d_v * cap_v
        + gamma * imp
        - tau * forced
        + np.where(e > m1, (e - m1) * block, 0.0)
        - omega * base
    )
    np.testing.assert_allclose(
        np.where(ok, out[:, OUT_VALUE], 0.0), np.where(ok, dual, 0.0), rtol=1e-9, atol=1e-6
    )
