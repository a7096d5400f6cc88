"""The deterministic equivalent: every path-year block's LP in one LP sharing the first stage.

Built from the same blocks as the L-shaped method (:func:`~optimizer.decide.problem.
block_lp_data`, :func:`~optimizer.lp.formulation.build_lp`): the ``y, n, f`` columns of every
block are merged into one shared set, every other column and every row is the block's own, and
each block's objective is weighted by ``pi_p delta_t omega`` (probability, discount, week
weight). The first-stage rows, capex, CVaR rows and integrality are those of the master, so
the two methods solve the same problem: for small cases and as the test oracle.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from optimizer.decide.lshaped import Solved, master_inputs, npv_of
from optimizer.decide.master import dense_terms, risk_objective, solve_highs
from optimizer.decide.problem import Problem
from optimizer.decide.second_stage import first_stage_ids
from optimizer.lp.formulation import build_lp
from optimizer.lp.model import INF, Lp, LpBuilder


def _blocks(problem: Problem):
    """``(path, year, weight, lp)`` of every block."""
    for p in range(problem.n_paths):
        for t in range(problem.n_years):
            weight = problem.discount(t) * problem.omega
            for data in problem.block_data(p, t):
                yield p, t, weight, build_lp(data)


def solve_extensive(
    problem: Problem, *, risk_weight: float | None = None, fix: dict[int, float] | None = None
) -> Solved:
    """Solve the deterministic equivalent with HiGHS (a MIP where blocks or whole servers
    are asked); returns the same :class:`~optimizer.decide.lshaped.Solved` as the L-shaped
    method (``upper == objective``: HiGHS proves optimality)."""
    d = problem.decision
    lam = d.risk_weight if risk_weight is None else float(risk_weight)
    m = master_inputs(problem, fix)
    P, Y, n_x = problem.n_paths, problem.n_years, problem.n_x
    pi = problem.probabilities
    # master part: x, and (lambda > 0) eta and s, built with the master's own row families
    b = LpBuilder()
    x = b.add_vars("x", (n_x,), m["lower"], m["upper"])
    b.add_cost(x, (1.0 - lam) * m["capex"])  # E[NPV] part; CVaR rows hold the rest
    xi = x.ids()
    for i, (a, lo, hi) in enumerate(m["rows"]):
        b.add_rows(f"first_stage_{i}", (len(lo),), dense_terms(a, xi), lo, hi)
    integer: list[int] = []
    S = problem.n_sites
    if m["hall_block_mw"] > 0:
        blocks = b.add_vars(
            "blocks", (S,), 0.0, np.floor(m["upper"][:S] / m["hall_block_mw"] + 1e-9)
        )
        terms = [(np.arange(S), xi[:S], 1.0), (np.arange(S), blocks.ids(), -m["hall_block_mw"])]
        b.add_rows("hall_blocks", (S,), terms, 0.0, 0.0)
        integer.extend(blocks.ids().tolist())
    if m["whole_servers"]:
        integer.extend(xi[S:].tolist())
    if lam > 0:
        eta = b.add_vars("eta", (1,), -INF, INF)
        s = b.add_vars("s", (P,), 0.0, INF)
        b.add_cost(eta, -lam)
        b.add_cost(s, lam * pi / (1.0 - d.cvar_level))
    head = b.finish(gpu_v=np.zeros(0, np.int64), gpu_w=np.zeros(0, np.int64))
    n0 = head.n_cols

    cost = [head.cost.copy()]
    lower, upper = [head.col_lower], [head.col_upper]
    mats = [head.matrix.tocoo()]
    row_lo, row_hi = [head.row_lower], [head.row_upper]
    offset = head.offset
    # NPV_p rows (lambda > 0): s_p - eta - c.x - sum_blocks weight (cost . z) >= sum weight offset
    npv_r: list[np.ndarray] = []
    npv_c: list[np.ndarray] = []
    npv_v: list[np.ndarray] = []
    npv_rhs = np.zeros(P)
    n_cols, n_rows = n0, head.n_rows
    parts = []  # (path, year, weight, columns, cost, offset) of each block, for theta
    for p, t, weight, lp in _blocks(problem):
        shared = first_stage_ids(lp)
        own = np.setdiff1d(np.arange(lp.n_cols), shared)
        col_map = np.empty(lp.n_cols, dtype=np.int64)
        col_map[shared] = xi
        col_map[own] = n_cols + np.arange(len(own))
        n_cols += len(own)
        scale = weight * pi[p] * (1.0 - lam)
        cost.append(scale * lp.cost[own])
        cost[0][xi] += scale * lp.cost[shared]
        offset += scale * lp.offset
        lower.append(lp.col_lower[own])
        upper.append(lp.col_upper[own])
        coo = lp.matrix.tocoo()
        mats.append(sp.coo_array((coo.data, (coo.row + n_rows, col_map[coo.col]))))
        n_rows += lp.n_rows
        parts.append((p, t, weight, col_map, lp.cost, lp.offset))
        row_lo.append(lp.row_lower)
        row_hi.append(lp.row_upper)
        if lam > 0:
            nz = np.flatnonzero(lp.cost)
            npv_r.append(np.full(len(nz), p))
            npv_c.append(col_map[nz])
            npv_v.append(-weight * lp.cost[nz])
            npv_rhs[p] += weight * lp.offset
        # the first-stage bounds of every block hold already: they are the master's
    cost_all = np.concatenate(cost)
    if lam > 0:
        s_ids, eta_id = head.cols["s"].ids(), head.cols["eta"].ids()[0]
        npv_r += [np.arange(P), np.arange(P), np.repeat(np.arange(P), n_x)]
        npv_c += [s_ids, np.full(P, eta_id), np.tile(xi, P)]
        npv_v += [np.ones(P), -np.ones(P), np.tile(-m["capex"], P)]
        r = np.concatenate(npv_r) + n_rows
        mats.append(sp.coo_array((np.concatenate(npv_v), (r, np.concatenate(npv_c)))))
        row_lo.append(npv_rhs)
        row_hi.append(np.full(P, INF))
        n_rows += P
    rows, cols, vals = [], [], []
    for coo in mats:
        rows.append(coo.row)
        cols.append(coo.col)
        vals.append(coo.data)
    matrix = sp.csr_array(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n_rows, n_cols)
    )
    lp = Lp(
        cost=cost_all,
        col_lower=np.concatenate(lower),
        col_upper=np.concatenate(upper),
        offset=offset,
        matrix=matrix,
        row_lower=np.concatenate(row_lo),
        row_upper=np.concatenate(row_hi),
        cols={"x": head.cols["x"]},
        rows={},
        gpu_v=np.zeros(0, np.int64),
        gpu_w=np.zeros(0, np.int64),
    )
    sol_x, objective = solve_highs(lp, np.asarray(integer, dtype=np.int64))
    xs = sol_x[xi].copy()
    theta = np.zeros((P, Y))
    if lam == 0:
        for p, t, weight, col_map, c, off in parts:
            theta[p, t] -= weight * (float(c @ sol_x[col_map]) + off)
    else:  # blocks outside the tail carry no weight when lambda = 1: evaluate them exactly
        from optimizer.decide.lshaped import Runner

        theta, _ = Runner().evaluate(problem, xs, "extensive check")
    npv = npv_of(problem, xs, theta)
    value = risk_objective(npv, pi, lam, d.cvar_level)
    return Solved(
        x=xs,
        objective=value,
        upper=-objective,
        theta=theta,
        npv=npv,
        iterations=1,
        method="extensive",
    )
