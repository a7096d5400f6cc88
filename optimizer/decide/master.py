"""The first-stage (master) problem of the L-shaped method, and the risk measure.

Master (docs/decide.md, "Method"), maximized::

    -c . x + (1 - lambda) sum_p pi_p sum_t theta_pt + lambda (eta - sum_p pi_p s_p / (1 - alpha))
    theta_pt <= v_k + g_k . (x - x_k)          every cut k of path-year (p, t)
    s_p >= eta - NPV_p,  s_p >= 0,  NPV_p = -c . x + sum_t theta_pt      (lambda > 0 only)
    first-stage rows (:func:`first_stage_rows`), bounds, integrality

``eta - sum_p pi_p s_p / (1 - alpha)`` at its best ``eta`` is the CVaR of the NPV at level
alpha (Rockafellar and Uryasev, 2000): the mean NPV of the worst ``1 - alpha`` of paths.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from optimizer.errors import InfeasibleError, SolverError
from optimizer.lp.backends import highs_model, new_highs, solve_lp
from optimizer.lp.data import LpData
from optimizer.lp.model import INF, Lp, LpBuilder

#: Least phase-one violation [MWh, h, ...] that a feasibility cut acts on (the LP's tolerance).
VIOLATION_TOL = 1e-7
#: Relative MIP gap of the master: small, so the master's bound is the L-shaped upper bound.
MIP_REL_GAP = 1e-9


def cvar(values: np.ndarray, probabilities: np.ndarray, alpha: float) -> float:
    """Lower-tail CVaR at level ``alpha``: ``max_eta eta - E[(eta - V)^+] / (1 - alpha)``.

    The mean of the worst ``1 - alpha`` of the probability mass (a path split at the quantile
    counts in part). The maximum is at one of the values (the function is concave and
    piecewise linear in ``eta``), so every value is tried.
    """
    v = np.asarray(values, dtype=float)
    p = np.asarray(probabilities, dtype=float)
    eta = v[:, None]
    ru = v - (p[None, :] * np.maximum(eta - v[None, :], 0.0)).sum(axis=1) / (1.0 - alpha)
    return float(ru.max())


def risk_objective(
    npv: np.ndarray, probabilities: np.ndarray, weight: float, alpha: float
) -> float:
    """``(1 - weight) E[NPV] + weight CVaR_alpha(NPV)`` [USD]."""
    mean = float(np.dot(probabilities, npv))
    return (
        mean if weight == 0.0 else (1.0 - weight) * mean + weight * cvar(npv, probabilities, alpha)
    )


@dataclass
class Cuts:
    """Optimality cuts ``theta_pt <= value + grad . (x - point)``, one row per cut."""

    path: list[int] = field(default_factory=list)
    year: list[int] = field(default_factory=list)
    value: list[float] = field(default_factory=list)
    grad: list[np.ndarray] = field(default_factory=list)
    point: list[np.ndarray] = field(default_factory=list)

    #: feasibility cuts ``grad . x <= rhs`` (:func:`optimizer.decide.second_stage.feasibility_cut`)
    feas_path: list[int] = field(default_factory=list)
    feas_grad: list[np.ndarray] = field(default_factory=list)
    feas_rhs: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.path)

    def add_feasibility(self, cuts: list[tuple[int, np.ndarray, float, np.ndarray]]) -> bool:
        """Feasibility cuts ``v + g . (x' - x) <= 0`` from path-years with no plan at ``x``
        (``(path, x, v, g)``); False if none can mend its point (``g = 0``: no first stage
        can), or the violation is within the solver's tolerance."""
        useful = False
        for path, x, v, g in cuts:
            if v <= VIOLATION_TOL or not np.any(np.abs(g) > 1e-12):
                continue
            self.feas_path.append(int(path))
            self.feas_grad.append(np.asarray(g, dtype=float))
            self.feas_rhs.append(float(g @ np.asarray(x, dtype=float) - v))
            useful = True
        return useful

    def add(self, x: np.ndarray, theta: np.ndarray, grad: np.ndarray) -> None:
        """One cut per path-year from an evaluation at ``x`` (``theta[P, Y]``, ``grad[P, Y, n]``)."""
        P, Y = theta.shape
        for p in range(P):
            for t in range(Y):
                self.path.append(p)
                self.year.append(t)
                self.value.append(float(theta[p, t]))
                self.grad.append(np.asarray(grad[p, t], dtype=float))
                self.point.append(np.asarray(x, dtype=float))

    def for_path(self, p: int) -> Cuts:
        """The cuts of path ``p``, renumbered as path 0 (valid for the one-path problem)."""
        out = Cuts()
        for i in np.flatnonzero(np.asarray(self.path) == p):
            out.path.append(0)
            out.year.append(self.year[i])
            out.value.append(self.value[i])
            out.grad.append(self.grad[i])
            out.point.append(self.point[i])
        for i in np.flatnonzero(np.asarray(self.feas_path, dtype=int) == p):
            out.feas_path.append(0)
            out.feas_grad.append(self.feas_grad[i])
            out.feas_rhs.append(self.feas_rhs[i])
        return out


def first_stage_rows(
    blocks: list[LpData], S: int, K: int
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Rows on ``x = (y, n, f)`` alone that every second stage needs to be feasible.

    ``A x`` between ``lower`` and ``upper``: firm servers installed (``f <= n``); each lease's
    IT MW bounds; each hour of the sampled blocks, firm servers fit the HPC halls
    (``sum_k Eg[k,t] f[k] - y[s] <= existing_hpc_mw[s]``) and, outside curtailment orders, the
    import cap (``sum_k Eg[k,t] f[k] <= Cap[s,t]``). Returns ``[(A, lower, upper)]``.
    """
    d0 = blocks[0]
    n_x = S + 2 * K
    rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    servers = np.zeros((K, n_x))
    servers[np.arange(K), S + K + np.arange(K)] = 1.0
    servers[np.arange(K), S + np.arange(K)] = -1.0
    rows.append((servers, np.full(K, -INF), np.zeros(K)))
    if len(d0.lease_names):
        lease = np.zeros((len(d0.lease_names), n_x))
        for i, members in enumerate(d0.lease_members):
            lease[i, S + K + members] = d0.gpu_it_mw[members]
        rows.append((lease, d0.lease_min_mw, d0.lease_max_mw))
    firm = d0.gpu_firm
    for d in blocks:
        T = d.hours
        for s in range(S):
            at = firm & (d.gpu_site == s)
            if not at.any():
                continue
            hall = np.zeros((T, n_x))
            hall[:, S + K + np.flatnonzero(at)] = d.gpu_energy_mwh[at].T
            cap = hall.copy()
            hall[:, s] = -1.0
            rows.append((hall, np.full(T, -INF), np.full(T, d.existing_hpc_mw[s])))
            free = ~d.curtailed[s]
            rows.append((cap[free], np.full(free.sum(), -INF), d.import_cap_mw[s, free]))
    return rows


def dense_terms(
    matrix: np.ndarray, cols: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``LpBuilder`` terms of a dense ``[rows, len(cols)]`` matrix over global columns ``cols``."""
    r, c = np.nonzero(matrix)
    return [(r, cols[c], matrix[r, c])]


@dataclass
class MasterResult:
    x: np.ndarray
    upper: float  # the master's optimum: an upper bound of the objective [USD]
    theta: np.ndarray


def solve_master(
    *,
    capex: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    cuts: Cuts,
    probabilities: np.ndarray,
    years: int,
    risk_weight: float,
    alpha: float,
    hall_block_mw: float,
    whole_servers: bool,
    S: int,
    K: int,
) -> MasterResult:
    """Build and solve the master with HiGHS (a MIP where blocks or whole servers are asked).

    Without cuts every ``theta`` is capped at 0 (the first point is then the cheapest feasible
    first stage) and the returned bound is ``inf``.
    """
    P = len(probabilities)
    b = LpBuilder()
    x = b.add_vars("x", (len(capex),), lower, upper)
    theta = b.add_vars("theta", (P, years), -INF, INF if len(cuts) else 0.0)
    b.add_cost(x, (1.0 - risk_weight) * capex)  # E[NPV] part; CVaR rows hold the rest
    b.add_cost(theta, -(1.0 - risk_weight) * probabilities[:, None])
    xi = x.ids()
    for i, (a, lo, hi) in enumerate(rows):
        b.add_rows(f"first_stage_{i}", (len(lo),), dense_terms(a, xi), lo, hi)
    if len(cuts):
        g = np.array(cuts.grad)
        rhs = np.array(cuts.value) - np.einsum("ij,ij->i", g, np.array(cuts.point))
        n = len(cuts)
        th = theta.ids()[np.array(cuts.path), np.array(cuts.year)]
        terms = [(np.arange(n), th, 1.0), *dense_terms(-g, xi)]
        b.add_rows("cuts", (n,), terms, -INF, rhs)
    if cuts.feas_rhs:
        g = np.array(cuts.feas_grad)
        b.add_rows("feasibility", (len(g),), dense_terms(g, xi), -INF, np.array(cuts.feas_rhs))
    if risk_weight > 0:
        eta = b.add_vars("eta", (1,), -INF, INF)
        s = b.add_vars("s", (P,), 0.0, INF)
        b.add_cost(eta, -risk_weight)
        b.add_cost(s, risk_weight * probabilities / (1.0 - alpha))
        p_rows = np.repeat(np.arange(P)[:, None], years, 1)
        terms = [
            (np.arange(P), s.ids(), 1.0),
            (np.arange(P), np.repeat(eta.ids(), P), -1.0),
            (p_rows, theta.ids(), 1.0),
            *dense_terms(np.repeat(-capex[None, :], P, 0), xi),
        ]
        b.add_rows("cvar", (P,), terms, 0.0, INF)
    integer = []
    if hall_block_mw > 0:
        blocks = b.add_vars("blocks", (S,), 0.0, np.floor(upper[:S] / hall_block_mw + 1e-9))
        terms = [(np.arange(S), xi[:S], 1.0), (np.arange(S), blocks.ids(), -hall_block_mw)]
        b.add_rows("hall_blocks", (S,), terms, 0.0, 0.0)
        integer.extend(blocks.ids().tolist())
    if whole_servers:
        integer.extend(xi[S:].tolist())
    lp = b.finish(gpu_v=np.zeros(0, np.int64), gpu_w=np.zeros(0, np.int64))
    xs, objective = solve_highs(lp, np.asarray(integer, dtype=np.int64))
    bound = -objective if len(cuts) else INF
    return MasterResult(x=x.take(xs).copy(), upper=bound, theta=theta.take(xs).copy())


def solve_highs(lp: Lp, integer: np.ndarray) -> tuple[np.ndarray, float]:
    """Solve ``lp`` (minimize) with HiGHS, ``integer`` columns whole; returns ``(x, objective)``."""
    if not len(integer):
        sol = solve_lp(lp)
        if sol.status == "infeasible":
            raise InfeasibleError(
                "no first stage meets the lease minimums, hall space and import limits "
                "(with the columns held fixed, if any)"
            )
        if sol.status != "optimal":
            raise SolverError(f"the first-stage problem is {sol.status}: {sol.message}")
        return sol.x, sol.objective
    import highspy

    h = new_highs()
    h.passModel(highs_model(lp))
    h.changeColsIntegrality(
        len(integer), integer.astype(np.int32), np.full(len(integer), highspy.HighsVarType.kInteger)
    )
    h.setOptionValue("mip_rel_gap", MIP_REL_GAP)
    h.run()
    status = h.getModelStatus()
    if status == highspy.HighsModelStatus.kInfeasible:
        raise InfeasibleError(
            "no whole-block or whole-server first stage meets the first-stage rows"
        )
    if status != highspy.HighsModelStatus.kOptimal:
        raise SolverError(f"the first-stage MIP is {h.modelStatusToString(status)}")
    return np.asarray(h.getSolution().col_value, dtype=float), float(
        h.getInfo().objective_function_value
    )
