"""The hourly subproblem of the decomposed allocation LP: a greedy fractional knapsack per hour.

With the horizon-wide decisions fixed (MW converted, firm and installed GPU servers) and the
coupling rows priced by multipliers, the allocation LP of one site falls apart into one small LP
per hour (docs/model.md §5.7):

    maximize   sum_i val[i] x[i] - c(L)
    subject to 0 <= x[i] <= qty[i]
               sum_{i in A} x[i] <= cap_a        (mining hall)
               sum_{i in V} x[i] <= cap_v        (HPC hall left by firm servers)
               sum_{i in K} x[i] >= forced       (firm load an order may not shed)
               L = base + sum_i x[i] <= imp      (import cap)

Items ``x`` are MWh of load: an ASIC class running (group A), interruptible GPU servers
(group V), or firm load of a sheddable class kept (group K, worth its SLA penalty and lost
pass-through per MWh). ``base`` is firm load that cannot be shed. ``c(L)`` is the energy cost,
convex and piecewise linear: ``m1`` per MWh up to the PPA block ``B`` (the cheaper of using the
block and buying at spot), ``m2`` above it (spot), peak adders and the minimum-take multiplier
already folded in.

The greedy takes the forced firm load first, then items by value per MWh, each as far as its
group cap, the import cap and the energy cost allow; the laminar caps make this optimal. It
also returns the duals of every row (module-level constants name the columns of ``out``):
``omega`` the value of one more MWh of load at the site, ``e`` the energy balance price,
``gamma`` the import limit, ``d_a``/``d_v`` the halls, ``tau`` the shed limit; they satisfy
complementary slackness with the primal (tests/kernels/test_decomposition.py checks them
against every row). :func:`greedy_hours` is the numba kernel, ``kernels.reference``'s
:func:`~kernels.reference.greedy_hours_reference` its plain-numpy twin. :func:`item_steps` gives,
in one pass, how one item's MWh changes with its value in every hour (tested against the twin
at random values).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

GROUP_MINING = 0  #: ASIC classes, capped by the mining hall
GROUP_HPC = 1  #: interruptible GPU servers, capped by the HPC hall
GROUP_KEEP = 2  #: firm load of sheddable classes kept

#: Columns of ``out``.
OUT_LOAD, OUT_OMEGA, OUT_E, OUT_GAMMA, OUT_DA, OUT_DV, OUT_TAU, OUT_VALUE, OUT_INFEASIBLE = range(9)
N_OUT = 9

_EPS = 1e-9  # MWh: slack below which a cap counts as binding
_FEAS = 1e-6  # relative: caps broken by less are the master LP's tolerance, not infeasibility


@njit(inline="always", cache=True)
def _by_value(t, val, qty, order, skip):
    """Items of hour ``t`` with something to offer (all but ``skip``; -1: none), by value per
    MWh, highest first, into ``order`` (a stable insertion sort); returns how many."""
    k = 0
    for i in range(val.shape[1]):
        if i != skip and qty[t, i] > 0.0:
            j = k
            while j > 0 and val[t, order[j - 1]] < val[t, i]:
                order[j] = order[j - 1]
                j -= 1
            order[j] = i
            k += 1
    return k


@njit(inline="always", cache=True)
def _keep_forced(t, qty, grp, order, k, need, took):
    """Firm load that may not be shed, kept from the most valuable sheddable classes first
    (``took[i]``, the row of hour ``t``); returns the MWh kept."""
    kept = 0.0
    for j in range(k):
        i = order[j]
        if need <= 0.0:
            break
        if grp[i] == GROUP_KEEP:
            take = min(qty[t, i], need)
            took[i] = take
            need -= take
            kept += take
    return kept


@njit(inline="always", cache=True)
def _hour(t, val, qty, grp, cap_a, cap_v, imp, base, forced, block, m1, m2, x, out, order):
    n = val.shape[1]
    k = _by_value(t, val, qty, order, -1)
    for i in range(n):
        x[t, i] = 0.0
    slack_a = cap_a[t]
    slack_v = cap_v[t]
    infeasible = 0.0
    if slack_a < -_FEAS * (1.0 + cap_a[t]) or slack_v < -_FEAS * (1.0 + abs(cap_v[t])):
        infeasible = 1.0
    load = base[t] + _keep_forced(t, qty, grp, order, k, forced[t], x[t])
    if load > imp[t] + _FEAS * (1.0 + imp[t]):
        infeasible = 1.0
    value = 0.0
    for j in range(k):
        i = order[j]
        value += val[t, i] * x[t, i]
    # the greedy: items by value while they beat the marginal cost of energy
    b = block[t]
    stop = False
    for j in range(k):
        if stop:
            break
        i = order[j]
        g = grp[i]
        avail = qty[t, i] - x[t, i]
        if g == GROUP_MINING:
            avail = min(avail, slack_a)
        elif g == GROUP_HPC:
            avail = min(avail, slack_v)
        avail = min(avail, imp[t] - load)
        while avail > 0.0:
            if load < b:
                m = m1[t]
                piece = min(avail, b - load)
            else:
                m = m2[t]
                piece = avail
            if val[t, i] <= m:
                stop = True
                break
            x[t, i] += piece
            load += piece
            avail -= piece
            value += val[t, i] * piece
            if g == GROUP_MINING:
                slack_a -= piece
            elif g == GROUP_HPC:
                slack_v -= piece
        if imp[t] - load <= _EPS * (1.0 + imp[t]):
            stop = True
    # energy cost of the load above zero
    below = min(max(load, 0.0), b)
    cost = m1[t] * below + m2[t] * max(load - b, 0.0)
    value -= cost
    # duals: omega = max(marginal cost at the load, best item that could still grow)
    best = -np.inf
    best_a = -np.inf
    best_v = -np.inf
    low_keep = np.inf
    kept = 0.0
    a_full = slack_a <= _EPS
    v_full = slack_v <= _EPS
    for j in range(k):
        i = order[j]
        g = grp[i]
        if g == GROUP_KEEP and x[t, i] > 0.0:
            low_keep = min(low_keep, val[t, i])
            kept += x[t, i]
        if x[t, i] < qty[t, i] - _EPS * (1.0 + qty[t, i]):
            if g == GROUP_MINING:
                best_a = max(best_a, val[t, i])
                if not a_full:
                    best = max(best, val[t, i])
            elif g == GROUP_HPC:
                best_v = max(best_v, val[t, i])
                if not v_full:
                    best = max(best, val[t, i])
            else:
                best = max(best, val[t, i])
    m_left = m1[t] if load <= b + _EPS else m2[t]
    m_right = m1[t] if load < b - _EPS else m2[t]
    omega = max(m_left, best)
    at_cap = imp[t] - load <= _EPS * (1.0 + imp[t])
    if at_cap:
        e = min(m_right, omega)
    else:
        e = min(omega, m_right)
        omega = e
    gamma = omega - e
    d_a = max(0.0, best_a - omega) if a_full else 0.0
    d_v = max(0.0, best_v - omega) if v_full else 0.0
    tau = 0.0
    if forced[t] > 0.0 and kept <= forced[t] + _EPS * (1.0 + forced[t]):
        tau = max(0.0, omega - low_keep) if low_keep < np.inf else 0.0
    out[t, OUT_LOAD] = load
    out[t, OUT_OMEGA] = omega
    out[t, OUT_E] = e
    out[t, OUT_GAMMA] = gamma
    out[t, OUT_DA] = d_a
    out[t, OUT_DV] = d_v
    out[t, OUT_TAU] = tau
    out[t, OUT_VALUE] = value
    out[t, OUT_INFEASIBLE] = infeasible


@njit(parallel=True, cache=True)
def _greedy_hours(val, qty, grp, cap_a, cap_v, imp, base, forced, block, m1, m2, x, out):
    order = np.empty(val.shape, dtype=np.int64)  # one sort scratch row per hour
    for t in prange(val.shape[0]):
        _hour(t, val, qty, grp, cap_a, cap_v, imp, base, forced, block, m1, m2, x, out, order[t])


def greedy_hours(val, qty, grp, cap_a, cap_v, imp, base, forced, block, m1, m2):
    """Solve the hourly subproblem of every hour (module docstring).

    Parameters
    ----------
    val, qty : float64[I, T]
        Value [USD/MWh] and most load [MWh] of each item in each hour.
    grp : int64[I]
        Group of each item (``GROUP_MINING``, ``GROUP_HPC``, ``GROUP_KEEP``).
    cap_a, cap_v, imp, base, forced, block, m1, m2 : float64[T]
        Mining hall and HPC hall room [MW], import cap [MW], firm load that cannot be shed
        [MW], sheddable firm load that must be kept [MW], PPA block [MW], energy cost per MWh
        below and above the block [USD/MWh].

    Returns
    -------
    x : float64[I, T]
        MWh of each item.
    out : float64[T, N_OUT]
        Load, duals, hourly value ``sum val x - c(L)`` and an infeasibility flag (columns
        ``OUT_*``).
    """
    args = _hour_major(val, qty, grp, cap_a, cap_v, imp, base, forced, block, m1, m2)
    x = np.zeros_like(args[0])
    out = np.zeros((x.shape[0], N_OUT))
    _greedy_hours(*args, x, out)
    return x.T, out


def _hour_major(val, qty, grp, *hourly):
    """The kernels' arguments: ``val``, ``qty`` hour-major (one hour's items contiguous),
    ``grp`` as int64 and the hourly rows as contiguous float64."""
    f = np.ascontiguousarray
    return (
        f(np.asarray(val, dtype=np.float64).T),
        f(np.asarray(qty, dtype=np.float64).T),
        f(grp, dtype=np.int64),
        *(f(a, dtype=np.float64) for a in hourly),
    )


# ------------------------------------------------------------------ one item's value varied


@njit(inline="always", cache=True)
def _take_at(v, g, q, slack_a, slack_v, room, load, stopped, b, m1, m2):
    """MWh the greedy gives an item of value ``v`` (group ``g``, at most ``q``) that comes
    when the state is (``slack_a``, ``slack_v``, import ``room``, ``load``, ``stopped``), and
    whether it stopped on the energy cost (then so does every item after it)."""
    if stopped:
        return 0.0, True
    avail = min(q, room)
    if g == GROUP_MINING:
        avail = min(avail, slack_a)
    elif g == GROUP_HPC:
        avail = min(avail, slack_v)
    cur = load
    while avail > 0.0:
        if cur < b:
            m = m1
            piece = min(avail, b - cur)
        else:
            m = m2
            piece = avail
        if v <= m:
            return cur - load, True
        cur += piece
        avail -= piece
    return cur - load, False


@njit(parallel=True, cache=True)
def _item_steps(h, val, qty, grp, cap_a, cap_v, imp, base, forced, block, m1, m2, thr, alloc):
    T, n = val.shape
    W = thr.shape[1]
    orders = np.empty((T, n), dtype=np.int64)  # scratch rows, one per hour
    states = np.empty((T, 3, n + 1))
    stops = np.zeros((T, n + 1), dtype=np.bool_)
    tooks = np.zeros((T, n))
    cs = np.empty((T, W))
    for t in prange(T):
        order = orders[t]
        k = _by_value(t, val, qty, order, h)  # the other items, as _hour sorts them
        # states of the greedy before each of them: what item h meets if it comes there
        s_a, s_v, s_load = states[t, 0], states[t, 1], states[t, 2]
        s_stop = stops[t]
        took = tooks[t]
        slack_a = cap_a[t]
        slack_v = cap_v[t]
        load = base[t] + _keep_forced(t, qty, grp, order, k, forced[t], took)
        b = block[t]
        stop = False
        for j in range(k):
            s_a[j], s_v[j], s_load[j], s_stop[j] = slack_a, slack_v, load, stop
            if stop:
                continue
            i = order[j]
            g = grp[i]
            rest = qty[t, i] - took[i]
            piece, stop = _take_at(
                val[t, i], g, rest, slack_a, slack_v, imp[t] - load, load, False, b, m1[t], m2[t]
            )
            took[i] += piece
            load += piece
            if g == GROUP_MINING:
                slack_a -= piece
            elif g == GROUP_HPC:
                slack_v -= piece
            if imp[t] - load <= _EPS * (1.0 + imp[t]):
                stop = True
        s_a[k], s_v[k], s_load[k], s_stop[k] = slack_a, slack_v, load, stop
        # thresholds: the other items' values and both energy costs, ascending
        c = cs[t]
        c[:] = np.inf
        for j in range(k):
            c[j] = val[t, order[j]]
        c[k] = m1[t]
        c[k + 1] = m2[t]
        for j in range(1, k + 2):  # insertion sort, ascending (no allocation per hour)
            v = c[j]
            i = j
            while i > 0 and c[i - 1] > v:
                c[i] = c[i - 1]
                i -= 1
            c[i] = v
        for w in range(W):
            thr[t, w] = c[w]
        # the allocation between consecutive thresholds (at a point strictly inside)
        for w in range(W + 1):
            if w == 0:
                v = c[0] - 1.0 - abs(c[0])
            elif w <= k + 1:
                v = 0.5 * (c[w - 1] + c[w])
            elif w == k + 2:
                v = c[k + 1] + 1.0 + abs(c[k + 1])
            else:
                alloc[t, w] = alloc[t, k + 2]
                continue
            pos = 0  # item h comes after the other items worth more than v
            while pos < k and val[t, order[pos]] >= v:
                pos += 1
            alloc[t, w] = _take_at(
                v,
                grp[h],
                qty[t, h],
                s_a[pos],
                s_v[pos],
                imp[t] - s_load[pos],
                s_load[pos],
                s_stop[pos],
                b,
                m1[t],
                m2[t],
            )[0]


@njit(cache=True)
def first_crossing(thr, alloc, value, scale, weight, target):
    """The least multiplier ``lam >= 0`` at which an item whose value per MWh rises by
    ``lam / scale[t]`` reaches ``target`` in ``sum_t weight[t] alloc_t / scale[t]``.

    ``thr``, ``alloc`` are :func:`item_steps`' output for the item, ``value[t]`` its value at
    ``lam = 0`` (a hosted class: ``scale`` its energy, ``weight`` 1 in hours that count as
    uptime, the target its contracted hours). The sum is a step function of ``lam``; its steps
    are sorted once. Returns ``inf`` where the target is out of reach (at any multiplier).
    """
    T, W = thr.shape
    lam = np.empty(T * W)
    rise = np.empty(T * W)
    n = 0
    reached = 0.0
    for t in range(T):
        if scale[t] <= 0.0 or weight[t] == 0.0:
            continue
        start = 0
        while start < W and thr[t, start] <= value[t]:
            start += 1
        per = weight[t] / scale[t]
        reached += alloc[t, start] * per
        for k in range(start, W):
            if not np.isfinite(thr[t, k]):
                break
            step = (alloc[t, k + 1] - alloc[t, k]) * per
            if step > 0.0:
                lam[n] = (thr[t, k] - value[t]) * scale[t]
                rise[n] = step
                n += 1
    if reached >= target:
        return 0.0
    order = np.argsort(lam[:n])
    total = reached
    for i in order:
        total += rise[i]
        if total >= target * (1.0 - 1e-12):
            return lam[i]
    return np.inf


def item_steps(h, val, qty, grp, cap_a, cap_v, imp, base, forced, block, m1, m2):
    """How much the greedy gives item ``h`` as its value varies, every hour (the rest fixed).

    Item ``h``'s MWh is a step function of its value, changing only where the value crosses
    another item's value or an energy cost. Used to guess a multiplier that moves one item's
    value (a hosted uptime floor) in one pass instead of a search.

    Parameters
    ----------
    h : int
        The item (an ASIC or an interruptible GPU item, not kept firm load).
    val, qty, grp, cap_a, cap_v, imp, base, forced, block, m1, m2
        As :func:`greedy_hours`.

    Returns
    -------
    thr : float64[T, W]
        Value thresholds of each hour, ascending (``inf`` past the hour's own), ``W = I + 1``.
    alloc : float64[T, W + 1]
        MWh of item h for a value between ``thr[t, w - 1]`` and ``thr[t, w]``.
    """
    if grp[h] == GROUP_KEEP:
        raise ValueError("item_steps: a kept-firm item's share of the forced load is not modelled")
    args = _hour_major(val, qty, grp, cap_a, cap_v, imp, base, forced, block, m1, m2)
    T, n = args[0].shape
    thr = np.empty((T, n + 1))
    alloc = np.empty((T, n + 2))
    _item_steps(int(h), *args, thr, alloc)
    return thr, alloc


# ------------------------------------------------------------------ energy costs shifted


@njit(parallel=True, cache=True)
def _load_steps(val, qty, grp, cap_a, cap_v, imp, base, forced, block, m1, m2, thr, size, fixed):
    T, n = val.shape
    P = thr.shape[1]
    orders = np.empty((T, n), dtype=np.int64)
    tooks = np.zeros((T, n))
    for t in prange(T):
        order = orders[t]
        took = tooks[t]
        k = _by_value(t, val, qty, order, -1)
        slack_a = cap_a[t]
        slack_v = cap_v[t]
        load = base[t] + _keep_forced(t, qty, grp, order, k, forced[t], took)
        fixed[t] = load
        for w in range(P):
            thr[t, w] = np.inf
            size[t, w] = 0.0
        b = block[t]
        w = 0
        for j in range(k):
            i = order[j]
            g = grp[i]
            avail = qty[t, i] - took[i]
            if g == GROUP_MINING:
                avail = min(avail, slack_a)
            elif g == GROUP_HPC:
                avail = min(avail, slack_v)
            avail = min(avail, imp[t] - load)
            while avail > 0.0 and w < P:
                if load < b:
                    m = m1[t]
                    piece = min(avail, b - load)
                else:
                    m = m2[t]
                    piece = avail
                thr[t, w] = m - val[t, i]  # taken once the energy cost is cut by more
                size[t, w] = piece
                w += 1
                load += piece
                avail -= piece
                if g == GROUP_MINING:
                    slack_a -= piece
                elif g == GROUP_HPC:
                    slack_v -= piece
            if imp[t] - load <= _EPS * (1.0 + imp[t]):
                break


def load_steps(val, qty, grp, cap_a, cap_v, imp, base, forced, block, m1, m2):
    """How the greedy's load grows as both energy costs fall by ``nu``, every hour.

    Items are taken by value; piece by piece (below and above the PPA block) each is taken
    once ``nu`` exceeds its energy cost less its value, and those thresholds rise along the
    greedy's order, so the load at ``nu`` is ``fixed + sum(size[thr < nu])``. Used to guess a
    minimum-take multiplier (which lowers the energy cost of a month's hours) in one pass.

    Parameters
    ----------
    val, qty, grp, cap_a, cap_v, imp, base, forced, block, m1, m2
        As :func:`greedy_hours` (energy costs before the shift).

    Returns
    -------
    thr, size : float64[T, 2 I + 2]
        Each piece's threshold [USD/MWh] and MWh, in the greedy's order (``inf``, 0 past the
        hour's pieces).
    fixed : float64[T]
        Load that does not depend on ``nu`` (firm load and the forced part of kept firm load).
    """
    args = _hour_major(val, qty, grp, cap_a, cap_v, imp, base, forced, block, m1, m2)
    T, n = args[0].shape
    thr = np.empty((T, 2 * n + 2))
    size = np.empty((T, 2 * n + 2))
    fixed = np.empty(T)
    _load_steps(*args, thr, size, fixed)
    return thr, size, fixed
