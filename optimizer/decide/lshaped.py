"""The L-shaped (Benders) method on the first stage, multi-cut, and the evaluation of path-years.

Each iteration solves the master (:mod:`optimizer.decide.master`) for a first-stage point
``x_k`` and an upper bound, evaluates every path-year at ``x_k`` (:func:`~optimizer.decide.
second_stage.solve_path_year`, on a process pool or a dask cluster), which gives the exact
objective at ``x_k`` (a lower bound: the best so far) and one cut per path-year. It stops when
the upper bound minus the lower bound is at most ``gap_usd + gap_relative * |lower|``: the gap is
proven, and reported.

A :class:`Runner` evaluates path-years: it reads finished ones from a cache (a resumed run's
result store), sends the rest to an executor and reports progress with an ETA.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from optimizer.decide.master import Cuts, first_stage_rows, risk_objective, solve_master
from optimizer.decide.problem import Problem
from optimizer.decide.second_stage import SecondStageInfeasible, solve_path_year
from optimizer.errors import InfeasibleError

#: ``progress(stage, done, total, eta_s)``: path-years evaluated in the current stage.
Progress = Callable[[str, int, int, float], None]
#: Least seconds between two progress reports of a stage.
PROGRESS_S = 1.0


class Cache(Protocol):
    def get(self, key: str) -> dict[str, Any] | None: ...

    def put(self, key: str, row: dict[str, Any]) -> None: ...


class MemoryCache:
    """Path-year results in memory (a run that is not resumable)."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}

    def get(self, key: str) -> dict[str, Any] | None:
        return self.rows.get(key)

    def put(self, key: str, row: dict[str, Any]) -> None:
        self.rows[key] = row


def point_key(x: np.ndarray) -> str:
    """Digest of a first-stage point (rounded to 1e-9) for the cache."""
    return hashlib.sha256(np.round(np.asarray(x, float), 9).tobytes()).hexdigest()[:16]


class Runner:
    """Evaluates path-years at first-stage points: cache first, then the executor.

    Parameters
    ----------
    executor : optional
        From :func:`optimizer.study.executors.make_executor` (``submit(task, fn)``,
        ``wait_any``); None: in this process.
    cache : Cache, optional
    progress : Progress, optional
    """

    def __init__(self, executor=None, cache: Cache | None = None, progress: Progress | None = None):
        self.executor = executor
        self.cache = cache if cache is not None else MemoryCache()
        self.progress = progress
        self.solved = 0  # path-years solved here
        self.reused = 0  # path-years read from the cache

    def evaluate(
        self, problem: Problem, x: np.ndarray, stage: str = ""
    ) -> tuple[np.ndarray, np.ndarray]:
        """``theta[P, Y]`` and ``grad[P, Y, n_x]`` at ``x``."""
        P, Y, n = problem.n_paths, problem.n_years, problem.n_x
        theta = np.empty((P, Y))
        grad = np.empty((P, Y, n))
        xk = point_key(x)
        todo = []
        infeasible: list[dict[str, Any]] = []

        def read(row: dict[str, Any]) -> None:
            p, t = int(row["path"]), int(row["year"])
            theta[p, t] = row["value"]
            grad[p, t] = np.asarray(row["grad"], dtype=float)
            if isinstance(row.get("infeasible"), str) and row["infeasible"]:
                infeasible.append(row)

        for p in range(P):
            for t in range(Y):
                row = self.cache.get(f"{problem.key}/{xk}/{p}/{t}")
                if row is None:
                    todo.append((p, t))
                else:
                    self.reused += 1
                    read(row)
        t0 = time.perf_counter()
        total = len(todo)

        def take(row: dict[str, Any]) -> None:
            read(row)
            self.cache.put(f"{problem.key}/{xk}/{int(row['path'])}/{int(row['year'])}", row)
            self.solved += 1

        last = [0.0]

        def report(done: int) -> None:
            """Progress at most every ``PROGRESS_S`` seconds, and when the stage is done."""
            now = time.perf_counter()
            if self.progress is not None and (done == total or now - last[0] >= PROGRESS_S):
                last[0] = now
                rate = (now - t0) / max(done, 1)
                self.progress(stage, done, total, rate * (total - done))

        if self.executor is None:
            for i, (p, t) in enumerate(todo):
                take(solve_path_year(problem.task(p, t, x)))
                report(i + 1)
            return _feasible(x, theta, grad, infeasible)
        futures = [self.executor.submit(problem.task(p, t, x), solve_path_year) for p, t in todo]
        done = 0
        pending = list(futures)
        while pending:
            finished = self.executor.wait_any(pending, timeout=1.0)
            for fut in finished:
                take(fut.result())
                done += 1
            pending = [f for f in pending if f not in finished]
            if finished:
                report(done)
        return _feasible(x, theta, grad, infeasible)


def _feasible(x, theta, grad, infeasible: list[dict[str, Any]]):
    """``(theta, grad)``, or :class:`SecondStageInfeasible` with one feasibility cut per
    path-year that has no hourly plan at ``x``."""
    if not infeasible:
        return theta, grad
    cuts = [
        (int(r["path"]), x, float(r["violation"]), np.asarray(r["violation_grad"], dtype=float))
        for r in infeasible
    ]
    first = infeasible[0]
    exc = SecondStageInfeasible(
        f"{len(infeasible)} path-year(s) have no hourly plan at this first stage (path "
        f"{int(first['path'])}, year {int(first['year'])}: {first['infeasible']})",
        cuts,
    )
    exc.theta = theta  # NaN where infeasible
    raise exc


@dataclass
class Solved:
    """A solved decision problem.

    Attributes
    ----------
    x : float64[n_x]
        The first stage ``(y, n, f)``.
    objective : float
        ``(1 - lambda) E[NPV] + lambda CVaR`` at ``x`` [USD] (the lower bound).
    upper : float
        Proven upper bound of the objective [USD].
    theta : float64[P, Y]
        Discounted second-stage value of each path-year at ``x`` [USD].
    npv : float64[P]
        NPV of each path at ``x`` [USD].
    iterations : int
    method : str
    cuts : Cuts or None
    """

    x: np.ndarray
    objective: float
    upper: float
    theta: np.ndarray
    npv: np.ndarray
    iterations: int
    method: str
    cuts: Cuts | None = None
    history: list[dict[str, float]] | None = None

    @property
    def gap(self) -> float:
        """Upper minus lower bound [USD] (a rounding-level negative difference reads 0)."""
        return max(0.0, self.upper - self.objective)


def npv_of(problem: Problem, x: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """NPV of each path: ``-c . x + sum_t theta_pt`` [USD]."""
    return -float(problem.capex_pv() @ x) + theta.sum(axis=1)


def master_inputs(problem: Problem, fix: dict[int, float] | None = None) -> dict[str, Any]:
    """Keyword arguments of :func:`~optimizer.decide.master.solve_master` for ``problem``
    (``fix``: first-stage columns held at a value)."""
    lower, upper = problem.bounds()
    for j, v in (fix or {}).items():
        lower[j] = upper[j] = v
    d = problem.decision
    return {
        "capex": problem.capex_pv(),
        "lower": lower,
        "upper": upper,
        "rows": first_stage_rows(problem.first_data(), problem.n_sites, problem.n_gpus),
        "probabilities": problem.probabilities,
        "years": problem.n_years,
        "alpha": d.cvar_level,
        "hall_block_mw": 0.0 if fix and any(j < problem.n_sites for j in fix) else d.hall_block_mw,
        "whole_servers": d.whole_servers,
        "S": problem.n_sites,
        "K": problem.n_gpus,
    }


def solve_lshaped(
    problem: Problem,
    runner: Runner | None = None,
    *,
    risk_weight: float | None = None,
    cuts: Cuts | None = None,
    fix: dict[int, float] | None = None,
    label: str = "",
) -> Solved:
    """Solve the two-stage problem by the multi-cut L-shaped method.

    Parameters
    ----------
    problem : Problem
    runner : Runner, optional
        Where path-years are evaluated (default: this process, in memory).
    risk_weight : float, optional
        CVaR weight; default the decision's ``[risk] weight``.
    cuts : Cuts, optional
        Cuts already known (from another solve of the same paths): the run starts from them
        and adds its own to the same pool.
    fix : dict, optional
        First-stage columns held at a value (the NPV-vs-MW curve).
    label : str
        Prefix of the progress stages.
    """
    runner = runner if runner is not None else Runner()
    d = problem.decision
    lam = d.risk_weight if risk_weight is None else float(risk_weight)
    cuts = cuts if cuts is not None else Cuts()
    inputs = master_inputs(problem, fix)
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    upper = np.inf
    history = []
    it = 0
    for it in range(1, d.max_iterations + 1):
        m = solve_master(cuts=cuts, risk_weight=lam, **inputs)
        upper = min(upper, m.upper)
        if best is not None and upper - best[0] <= d.gap_usd + d.gap_relative * abs(best[0]):
            it -= 1
            break
        try:
            theta, grad = runner.evaluate(problem, m.x, f"{label}iteration {it}")
        except SecondStageInfeasible as exc:
            added = cuts.add_feasibility(exc.cuts)
            if not added:  # no first stage can mend it: the decision problem is infeasible
                raise
            continue
        value = risk_objective(
            npv_of(problem, m.x, theta), problem.probabilities, lam, d.cvar_level
        )
        if best is None or value > best[0]:
            best = (value, m.x, theta)
        cuts.add(m.x, theta, grad)
        history.append({"iteration": it, "lower": best[0], "upper": upper})
        if upper - best[0] <= d.gap_usd + d.gap_relative * abs(best[0]):
            break
    if best is None:  # every trial first stage left some path-year without a plan
        raise InfeasibleError(
            f"no first stage with an hourly plan on every path-year was found in {it} "
            "iteration(s) (feasibility cuts only); raise [solve] max_iterations"
        )
    value, x, theta = best
    return Solved(
        x=x,
        objective=value,
        upper=upper,
        theta=theta,
        npv=npv_of(problem, x, theta),
        iterations=it,
        method="lshaped",
        cuts=cuts,
        history=history,
    )
