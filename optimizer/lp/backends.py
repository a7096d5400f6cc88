"""Solver backends for an :class:`~optimizer.lp.model.Lp`: HiGHS in memory, or PuLP and any PuLP solver.

Both return a :class:`Solution` in the LP's own sign convention (minimize ``-margin``): row duals
are ``d objective / d row bound`` and column duals the reduced costs, as HiGHS reports them for
a minimization. An infeasible LP comes back with ``status == "infeasible"`` (the caller
diagnoses it); any other failure raises :class:`~optimizer.errors.SolverError`.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from optimizer.errors import SolverError
from optimizer.lp.model import Lp

BACKENDS = ("highs", "pulp")
#: Solution methods (:func:`optimizer.plan.plan_scenario`): ``auto`` takes the decomposition
#: (:mod:`optimizer.lp.decomposed`) wherever it covers the scenario.
METHODS = ("auto", "decomposed", "monolithic")
HIGHS_SOLVERS = ("choose", "simplex", "ipm", "pdlp")
#: PuLP solvers tried in turn when none is named: CBC as bundled with PuLP 2.8/3.x, a system
#: CBC (PuLP 4 drops the bundled one), then HiGHS through highspy.
DEFAULT_PULP_SOLVERS = ("PULP_CBC_CMD", "COIN_CMD", "HiGHS")
#: HiGHS ``simplex_dual_edge_weight_strategy`` value for Devex pricing.
DUAL_EDGE_WEIGHT_DEVEX = 1
#: HiGHS IIS strategy "from the LP, fewest rows" (the ray strategy finds nothing after presolve).
_IIS_STRATEGY = 2
_IIS_TIME_LIMIT_S = 30.0


@dataclass(eq=False)
class Solution:
    """What a backend returns.

    Attributes
    ----------
    status : str
        ``"optimal"``, ``"time_limit"`` (a feasible, not proven optimal, point) or
        ``"infeasible"``.
    objective : float
        ``cost @ x + offset`` as the solver reports it (= -margin) [USD]; NaN if infeasible.
    x : numpy.ndarray or None
        Primal values, one per column.
    row_dual, col_dual : numpy.ndarray or None
        ``d objective / d bound`` of each row, reduced cost of each column (None where the
        backend gives none).
    backend, solver : str
        Backend and solver (``"highs"``/``"simplex"``, ``"pulp"``/``"PULP_CBC_CMD"``...).
    message : str
        The solver's own status text.
    seconds : float
        Wall time of the solve [s].
    iis : callable or None
        For an infeasible HiGHS LP: returns ``(rows, cols)`` of an irreducible infeasible
        subsystem (may be slow; called only when cheap diagnosis fails).
    method : str
        ``"monolithic"`` (this module) or ``"decomposed"`` (:mod:`optimizer.lp.decomposed`).
    gap : float or None
        Proven relative gap ``(upper - lower) / max(1, |upper|)`` of the decomposition; None
        for the monolithic LP (the solver's own tolerances apply).
    note : str
        Why ``method = "auto"`` fell back to the monolithic LP ("" otherwise).
    basis : highspy.HighsBasis or None
        The optimal basis of a HiGHS solve, for ``solve_lp(..., basis=)`` of an LP of the same
        shape (another scenario's, or the same LP with bounds moved).
    """

    status: str
    objective: float
    x: np.ndarray | None
    row_dual: np.ndarray | None
    col_dual: np.ndarray | None
    backend: str
    solver: str
    message: str
    seconds: float
    iis: Callable[[], tuple[np.ndarray, np.ndarray]] | None = None
    method: str = "monolithic"
    gap: float | None = None
    note: str = ""
    basis: object | None = None  # HiGHS's optimal basis: warm-starts a solve of a neighbour


def solve_lp(
    lp: Lp,
    *,
    backend: str = "highs",
    solver: str | None = None,
    threads: int | None = None,
    time_limit_s: float | None = None,
    basis: object | None = None,
) -> Solution:
    """Solve an LP with one backend.

    Parameters
    ----------
    lp : Lp
    backend : {"highs", "pulp"}
        ``highs``: the arrays go straight to highspy. ``pulp``: the LP is rendered as a PuLP
        problem, one ``LpAffineExpression`` per row, and solved by a PuLP solver.
    solver : str, optional
        ``highs``: HiGHS algorithm (``choose``, ``simplex``, ``ipm``, ``pdlp``; default
        ``choose``). ``pulp``: a PuLP solver name (``PULP_CBC_CMD`` by default, ``GLPK_CMD``,
        ``HiGHS``, ``GUROBI``, ... where installed).
    threads : int, optional
        Solver threads.
    time_limit_s : float, optional
        Solver time limit [s].
    basis : optional
        ``Solution.basis`` of an LP with the same rows and columns: HiGHS starts from it (a
        neighbouring scenario, or whole servers fixed around a plan: 10x fewer seconds on the
        example, benchmarks/README.md). Ignored by PuLP and where the shapes differ.
    Raises
    ------
    SolverError
        Unknown backend or solver, solver not installed, unbounded, or no solution.
    """
    if backend == "highs":
        return _solve_highs(lp, solver, threads, time_limit_s, basis)
    if backend == "pulp":
        return _solve_pulp(lp, solver, threads, time_limit_s)
    raise SolverError(f"unknown backend {backend!r}: expected one of {', '.join(BACKENDS)}")


def solver_problem(backend: str, solver: str | None) -> str | None:
    """What is wrong with a backend and solver name, before any LP is built (None: nothing).

    Checks the backend, the HiGHS algorithm or that a PuLP solver is known and installed, and
    lists the valid names (the CLI exits 2 with the message).
    """
    if backend not in BACKENDS:
        return f"unknown backend {backend!r}: expected one of {', '.join(BACKENDS)}"
    if backend == "highs":
        if solver is None or solver in HIGHS_SOLVERS:
            return None
        return (
            f"unknown HiGHS solver {solver!r}: expected one of {', '.join(HIGHS_SOLVERS)} "
            "(PuLP solvers such as PULP_CBC_CMD need --backend pulp)"
        )
    import pulp

    known = list(dict.fromkeys(pulp.listSolvers()))
    available = pulp.listSolvers(onlyAvailable=True)
    if solver is None:
        return None if available else "PuLP finds no solver installed (pip install pulp[cbc])"
    if solver not in known:
        return (
            f"unknown PuLP solver {solver!r}: expected one of {', '.join(known)} "
            f"(installed here: {', '.join(available) or 'none'})"
        )
    if solver not in available:
        return f"PuLP solver {solver!r} is not installed here; available: {', '.join(available)}"
    return None


# --------------------------------------------------------------------------- HiGHS

_highs_threads: int | None = None  # threads of the process-wide HiGHS scheduler (None: default)


def new_highs():
    import highspy

    # The pybind class: highspy.Highs() adds Python callbacks and prints a banner on stdout.
    core = getattr(highspy, "_Highs", None)
    h = core() if core is not None else highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("log_to_console", False)
    return h


def same_threads(h) -> None:
    """Give ``h`` the thread count of the process-wide HiGHS scheduler: a run with another
    count fails (status "Not Set") until the scheduler is reset (small LPs that must not
    reset it, e.g. the decomposition's master, call this)."""
    if _highs_threads is not None:
        h.setOptionValue("threads", _highs_threads)


def highs_model(lp: Lp):
    """The LP as a ``highspy.HighsLp`` (column-wise matrix), for ``passModel``."""
    import highspy

    a = lp.matrix.tocsc()
    model = highspy.HighsLp()
    model.num_col_ = lp.n_cols
    model.num_row_ = lp.n_rows
    model.col_cost_ = lp.cost
    model.col_lower_ = lp.col_lower
    model.col_upper_ = lp.col_upper
    model.row_lower_ = lp.row_lower
    model.row_upper_ = lp.row_upper
    model.offset_ = lp.offset
    model.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    model.a_matrix_.num_col_ = lp.n_cols
    model.a_matrix_.num_row_ = lp.n_rows
    model.a_matrix_.start_ = a.indptr.astype(np.int32)
    model.a_matrix_.index_ = a.indices.astype(np.int32)
    model.a_matrix_.value_ = a.data
    return model


def _solve_highs(lp, solver, threads, time_limit_s, basis=None) -> Solution:
    import highspy

    global _highs_threads
    algorithm = solver or "choose"
    if algorithm not in HIGHS_SOLVERS:
        raise SolverError(
            f"unknown HiGHS solver {algorithm!r}: expected one of {', '.join(HIGHS_SOLVERS)} "
            "(PuLP solvers need --backend pulp)"
        )
    h = new_highs()
    wanted = None if threads is None else int(threads)
    if wanted != _highs_threads:
        # HiGHS keeps one thread scheduler per process, sized by the first run; running with
        # another thread count fails until it is reset.
        h.resetGlobalScheduler(True)
        _highs_threads = wanted
    if wanted is not None:
        h.setOptionValue("threads", wanted)
    if time_limit_s is not None:
        h.setOptionValue("time_limit", float(time_limit_s))
    h.setOptionValue("solver", algorithm)
    h.setOptionValue("presolve", "on")
    # Devex dual pricing: 1.3-1.9x faster than the default on these LPs (benchmarks/README.md)
    h.setOptionValue("simplex_dual_edge_weight_strategy", DUAL_EDGE_WEIGHT_DEVEX)
    status = h.passModel(highs_model(lp))
    if status == highspy.HighsStatus.kError:
        raise SolverError("HiGHS rejected the model (internal error building the LP)")
    if (
        basis is not None
        and len(basis.col_status) == lp.n_cols
        and len(basis.row_status) == lp.n_rows
    ):
        h.setBasis(basis)
    t0 = time.perf_counter()
    h.run()
    ms = h.getModelStatus()
    M = highspy.HighsModelStatus
    if ms == M.kUnboundedOrInfeasible:
        # Presolve could not tell which; settle it without presolve.
        h.setOptionValue("presolve", "off")
        h.clearSolver()
        h.run()
        ms = h.getModelStatus()
    seconds = time.perf_counter() - t0
    message = h.modelStatusToString(ms)
    name = f"HiGHS {h.version()} ({algorithm})"
    if ms == M.kInfeasible:
        return Solution(
            "infeasible",
            math.nan,
            None,
            None,
            None,
            "highs",
            name,
            message,
            seconds,
            lambda: _iis(h),
        )
    info = h.getInfo()
    if ms == M.kOptimal:
        state = "optimal"
    elif ms in (M.kTimeLimit, M.kIterationLimit) and info.primal_solution_status == 2:
        state = "time_limit"
    elif ms in (M.kTimeLimit, M.kIterationLimit):
        raise SolverError(
            f"HiGHS stopped ({message}) before finding a feasible plan; raise the time limit"
        )
    elif ms == M.kUnbounded:
        raise SolverError("HiGHS reports the LP unbounded: a bound is missing (please report)")
    else:
        raise SolverError(f"HiGHS: {message}")
    sol = h.getSolution()
    duals = bool(sol.dual_valid)
    optimal_basis = h.getBasis()
    return Solution(
        state,
        float(info.objective_function_value),
        np.asarray(sol.col_value, dtype=float),
        np.asarray(sol.row_dual, dtype=float) if duals else None,
        np.asarray(sol.col_dual, dtype=float) if duals else None,
        "highs",
        name,
        message,
        seconds,
        basis=optimal_basis if optimal_basis.valid else None,
    )


def _iis(h) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of an irreducible infeasible subsystem of the model in ``h``."""
    import highspy

    h.setOptionValue("iis_strategy", _IIS_STRATEGY)
    h.setOptionValue("time_limit", _IIS_TIME_LIMIT_S)
    st, sub = h.getIis()
    if st == highspy.HighsStatus.kError or not sub.valid_:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.asarray(sub.row_index_, np.int64), np.asarray(sub.col_index_, np.int64)


def highs_iis(lp: Lp) -> tuple[np.ndarray, np.ndarray]:
    """An irreducible infeasible subsystem found by HiGHS (for LPs another backend found
    infeasible): ``(rows, cols)``, empty if HiGHS finds none."""
    h = new_highs()
    h.passModel(highs_model(lp))
    h.run()
    return _iis(h)


# --------------------------------------------------------------------------- PuLP


def _pulp_names(lp: Lp, blocks) -> list[str]:
    names: list[str] = []
    for b in blocks.values():
        if b.size == 0:
            continue
        idx = np.indices(b.shape).reshape(len(b.shape), -1).T
        names.extend(f"{b.name}_" + "_".join(map(str, i)) for i in idx.tolist())
    return names


def pulp_problem(lp: Lp):
    """Render the LP as a PuLP ``LpProblem`` (minimize ``-margin``), one expression per row.

    Returns
    -------
    problem : pulp.LpProblem
    variables : list[pulp.LpVariable]
        One per column.
    constraints : list[tuple[int, pulp.LpConstraint]]
        Global row number and constraint; a ranged row gives two constraints.
    """
    import pulp

    prob = pulp.LpProblem("hashpivot", pulp.LpMinimize)
    # PuLP 3.x: prob.add_variable (LpVariable(...) is deprecated there); PuLP 2.8: LpVariable.
    add_variable = getattr(prob, "add_variable", None)
    if add_variable is None:

        def add_variable(name, low, up):
            return pulp.LpVariable(name, low, up)

    lo = [None if not math.isfinite(v) else float(v) for v in lp.col_lower.tolist()]
    up = [None if not math.isfinite(v) else float(v) for v in lp.col_upper.tolist()]
    names = _pulp_names(lp, lp.cols)
    variables = [add_variable(n, a, b) for n, a, b in zip(names, lo, up, strict=True)]
    nz = np.flatnonzero(lp.cost)
    prob.setObjective(
        pulp.LpAffineExpression(
            [(variables[j], float(lp.cost[j])) for j in nz.tolist()], constant=float(lp.offset)
        )
    )
    a = lp.matrix
    indptr, indices, data = a.indptr, a.indices.tolist(), a.data.tolist()
    row_names = _pulp_names(lp, lp.rows)
    constraints: list[tuple[int, object]] = []
    for i in range(lp.n_rows):
        lo_i, up_i = float(lp.row_lower[i]), float(lp.row_upper[i])
        s, e = int(indptr[i]), int(indptr[i + 1])
        if s == e and lo_i <= 0.0 <= up_i:
            continue  # an empty row that holds
        expr = pulp.LpAffineExpression(
            [(variables[j], v) for j, v in zip(indices[s:e], data[s:e], strict=True)]
        )
        if lo_i == up_i:
            parts = [("", pulp.LpConstraintEQ, lo_i)]
        else:
            parts = []
            if math.isfinite(lo_i):
                parts.append(("_lo" if math.isfinite(up_i) else "", pulp.LpConstraintGE, lo_i))
            if math.isfinite(up_i):
                parts.append(("_hi" if math.isfinite(lo_i) else "", pulp.LpConstraintLE, up_i))
        for suffix, sense, rhs in parts:
            c = pulp.LpConstraint(expr, sense, name=row_names[i] + suffix, rhs=rhs)
            prob.addConstraint(c)
            constraints.append((i, c))
    return prob, variables, constraints


def _solve_pulp(lp, solver, threads, time_limit_s) -> Solution:
    import pulp

    known = pulp.listSolvers()
    if solver is None:
        avail = pulp.listSolvers(onlyAvailable=True)
        name = next((n for n in DEFAULT_PULP_SOLVERS if n in avail), avail[0] if avail else "")
        if not name:
            raise SolverError("PuLP finds no solver installed (pip install pulp[cbc])")
    elif solver not in known:
        raise SolverError(f"unknown PuLP solver {solver!r}: expected one of {', '.join(known)}")
    else:
        name = solver
    kwargs: dict = {"msg": False}
    if time_limit_s is not None:
        kwargs["timeLimit"] = float(time_limit_s)
    if threads is not None:
        kwargs["threads"] = int(threads)
    with warnings.catch_warnings():
        # PuLP 3.x deprecates its bundled CBC (PULP_CBC_CMD) ahead of 4.0; it is still the
        # solver that ships with PuLP, so it stays the default while it exists.
        warnings.filterwarnings("ignore", "PULP_CBC_CMD is deprecated", DeprecationWarning)
        try:
            engine = pulp.getSolver(name, **kwargs)
        except TypeError:
            kwargs.pop("threads", None)
            engine = pulp.getSolver(name, **kwargs)
    if not engine.available():
        avail = pulp.listSolvers(onlyAvailable=True)
        raise SolverError(
            f"PuLP solver {name!r} is not installed here; available: {', '.join(avail)}"
        )
    prob, variables, constraints = pulp_problem(lp)
    t0 = time.perf_counter()
    try:
        status = prob.solve(engine)
    except pulp.PulpSolverError as exc:
        raise SolverError(f"{name}: {exc}") from None
    seconds = time.perf_counter() - t0
    message = pulp.LpStatus.get(status, str(status))
    if status == pulp.LpStatusInfeasible:
        return Solution("infeasible", math.nan, None, None, None, "pulp", name, message, seconds)
    if status == pulp.LpStatusUnbounded:
        raise SolverError(f"{name} reports the LP unbounded: a bound is missing (please report)")
    if status != pulp.LpStatusOptimal:
        raise SolverError(f"{name}: {message}: no optimal plan (raise the time limit?)")
    x = np.array([v.varValue if v.varValue is not None else 0.0 for v in variables])
    pis = [c.pi for _, c in constraints]
    row_dual = None
    if constraints and all(p is not None for p in pis):
        row_dual = np.zeros(lp.n_rows)
        np.add.at(row_dual, [i for i, _ in constraints], np.asarray(pis, dtype=float))
    objective = float(lp.cost @ x + lp.offset)
    return Solution("optimal", objective, x, row_dual, None, "pulp", name, message, seconds)
