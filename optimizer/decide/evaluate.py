"""What a decision is worth: NPV distribution, VSS, EVPI, the risk frontier, the NPV-vs-MW
curve and the BTC price at which the decision changes (docs/decide.md, "Outputs").

- **VSS** (value of the stochastic solution): expected NPV of the risk-neutral decision minus
  that of the decision planned on the mean path, both evaluated on every path. The mean-path
  decision is also a candidate for the stochastic problem, so where it evaluates better (within
  the solver's gap) it becomes the decision and VSS is 0: VSS >= 0 always.
- **EVPI** (expected value of perfect information): the wait-and-see value (each path's own
  best NPV, in expectation) minus the expected NPV of the risk-neutral decision. A path's own
  best is at least its NPV under the decision, so EVPI >= 0 always.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from optimizer.decide.extensive import solve_extensive
from optimizer.decide.lshaped import Runner, Solved, npv_of, solve_lshaped
from optimizer.decide.master import Cuts, cvar, risk_objective
from optimizer.decide.problem import Problem, digest
from optimizer.decide.second_stage import SecondStageInfeasible
from optimizer.errors import InfeasibleError

METHODS = ("lshaped", "extensive")


def solve(
    problem: Problem,
    method: str,
    runner: Runner | None = None,
    *,
    risk_weight: float | None = None,
    cuts: Cuts | None = None,
    fix: dict[int, float] | None = None,
    label: str = "",
) -> Solved:
    """Solve by ``method`` (``lshaped`` or ``extensive``)."""
    if method == "extensive":
        return solve_extensive(problem, risk_weight=risk_weight, fix=fix)
    if method != "lshaped":
        raise ValueError(f"unknown method {method!r}: expected one of {', '.join(METHODS)}")
    return solve_lshaped(problem, runner, risk_weight=risk_weight, cuts=cuts, fix=fix, label=label)


@dataclass
class Analysis:
    """The decision and what it is worth (every amount in USD of year 0).

    Attributes
    ----------
    solved : Solved
        The decision at the file's risk weight.
    neutral : Solved
        The risk-neutral decision (the same object when the risk weight is 0).
    mean_path_x : ndarray
        The decision planned on the mean path.
    mean_path_npv : ndarray
        NPV of every path under the mean-path decision (``-inf`` on a path where it leaves no
        hourly plan, e.g. a hosted uptime floor it cannot meet: VSS is then ``inf``).
    vss, wait_and_see, evpi : float
    perfect_npv : ndarray
        Each path's own best NPV (perfect foresight).
    frontier : list of dict
        ``weight, expected_npv, cvar`` and the decision, per risk weight.
    curve : list of dict
        ``mw`` converted (all sites, pro rata) and the NPV's mean, P10, P50 and P90.
    tipping : list of dict
        BTC price multipliers (and start prices) at which the MW converted changes.
    """

    solved: Solved
    neutral: Solved
    mean_path_x: np.ndarray
    mean_path_npv: np.ndarray
    vss: float
    wait_and_see: float
    evpi: float
    perfect_npv: np.ndarray
    frontier: list[dict[str, Any]] = field(default_factory=list)
    curve: list[dict[str, Any]] = field(default_factory=list)
    tipping: list[dict[str, Any]] = field(default_factory=list)


def npv_stats(npv: np.ndarray, probabilities: np.ndarray, alpha: float) -> dict[str, float]:
    """Expected NPV, P10/P50/P90 (probability-weighted quantiles) and CVaR_alpha [USD]."""
    order = np.argsort(npv)
    cum = np.cumsum(probabilities[order])

    def quantile(q: float) -> float:
        return float(npv[order][min(np.searchsorted(cum, q - 1e-12), len(npv) - 1)])

    return {
        "expected_npv_usd": float(np.dot(probabilities, npv)),
        "p10_npv_usd": quantile(0.10),
        "p50_npv_usd": quantile(0.50),
        "p90_npv_usd": quantile(0.90),
        "cvar_npv_usd": cvar(npv, probabilities, alpha),
    }


def vss_and_evpi(
    problem: Problem, neutral: Solved, method: str, runner: Runner
) -> tuple[Solved, np.ndarray, np.ndarray, float, float, np.ndarray, float]:
    """The mean-path decision, its NPVs, VSS, wait-and-see and EVPI (module docstring).

    Returns ``(neutral, mean_x, mean_npv, vss, wait_and_see, perfect_npv, evpi)``; ``neutral``
    is replaced by the mean-path decision where that evaluates better.
    """
    pi = problem.probabilities
    mean = problem.mean_path()
    ev = solve(mean, method, runner, risk_weight=0.0, label="mean path: ")
    try:
        theta, _ = runner.evaluate(problem, ev.x, "mean-path decision on every path")
    except SecondStageInfeasible as exc:  # no plan on some paths: their NPV is -inf, VSS inf
        theta = exc.theta
    mean_npv = npv_of(problem, ev.x, theta)
    mean_npv = np.where(np.isnan(mean_npv), -np.inf, mean_npv)
    if float(pi @ mean_npv) > neutral.objective:
        neutral = replace(
            neutral, x=ev.x, objective=float(pi @ mean_npv), theta=theta, npv=mean_npv
        )
    vss = float(pi @ neutral.npv - pi @ mean_npv)
    perfect = np.empty(problem.n_paths)
    for p in range(problem.n_paths):
        one = problem.subset([p], f"path {p}")
        cuts = neutral.cuts.for_path(p) if neutral.cuts is not None else None
        best = solve(one, method, runner, risk_weight=0.0, cuts=cuts, label=f"path {p}: ")
        perfect[p] = max(best.objective, neutral.npv[p])
    ws = float(pi @ perfect)
    return neutral, ev.x, mean_npv, vss, ws, perfect, ws - float(pi @ neutral.npv)


def frontier(
    problem: Problem, method: str, runner: Runner, cuts: Cuts | None
) -> list[dict[str, Any]]:
    """Expected NPV and CVaR of the decision at each ``[risk] frontier_weights`` weight."""
    d = problem.decision
    out = []
    for w in d.frontier_weights:
        s = solve(problem, method, runner, risk_weight=w, cuts=cuts, label=f"risk weight {w:g}: ")
        out.append(
            {
                "weight": w,
                "expected_npv_usd": float(problem.probabilities @ s.npv),
                "cvar_npv_usd": cvar(s.npv, problem.probabilities, d.cvar_level),
                "x": s.x.tolist(),
            }
        )
    return out


def mw_curve(
    problem: Problem, method: str, runner: Runner, cuts: Cuts | None, points: int
) -> list[dict[str, Any]]:
    """NPV against MW converted: at ``points`` levels from 0 to every convertible MW (sites
    pro rata), the rest of the first stage re-optimized; mean and P10/P50/P90 of the NPV."""
    _, upper = problem.bounds()
    S = problem.n_sites
    total = float(upper[:S].sum())
    out = []
    for level in np.linspace(0.0, total, points) if points > 1 else []:
        share = upper[:S] / total if total > 0 else np.zeros(S)
        fix = {s: float(level * share[s]) for s in range(S)}
        try:
            s = solve(
                problem,
                method,
                runner,
                risk_weight=0.0,
                cuts=cuts,
                fix=fix,
                label=f"{level:.1f} MW: ",
            )
        except InfeasibleError:  # too few MW for the lease minimums
            out.append({"mw": float(level), "feasible": False})
            continue
        stats = npv_stats(s.npv, problem.probabilities, problem.decision.cvar_level)
        out.append({"mw": float(level), "feasible": True, **stats})
    return out


def _with_decision(
    problem: Problem, neutral: Solved, curve: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The curve with the risk-neutral decision's own point added (its NPVs are known)."""
    if not curve:
        return curve
    mw = float(neutral.x[: problem.n_sites].sum())
    stats = npv_stats(neutral.npv, problem.probabilities, problem.decision.cvar_level)
    point = {"mw": mw, "feasible": True, "decision": True, **stats}
    return sorted([*curve, point], key=lambda c: c["mw"])


def scaled_btc(problem: Problem, factor: float) -> Problem:
    """The same problem with every BTC price multiplied by ``factor``."""
    market = dict(problem.market)
    market["btc_price_usd"] = market["btc_price_usd"] * factor
    return replace(
        problem, market=market, key=digest(problem.key, "btc", factor), label=f"btc x{factor:g}"
    )


def btc_tipping(
    problem: Problem, method: str, runner: Runner, decision_mw: float, *, tolerance: float = 0.02
) -> list[dict[str, Any]]:
    """BTC price multipliers at which the MW converted changes, searched by bisection on
    ``[1/4, 1]`` (a lower price) and ``[1, 4]`` (a higher one), to ``tolerance``."""
    S = problem.n_sites
    start = float(problem.market["btc_price_usd"][:, 0, 0, 0].mean())

    def mw(factor: float) -> float:
        s = solve(
            scaled_btc(problem, factor),
            method,
            runner,
            risk_weight=0.0,
            label=f"BTC x{factor:.3f}: ",
        )
        return float(s.x[:S].sum())

    out = []
    for far in (0.25, 4.0):
        far_mw = mw(far)
        if abs(far_mw - decision_mw) < 1e-6:
            continue
        near, lo_f = 1.0, far
        while abs(np.log(lo_f / near)) > tolerance:
            mid = float(np.sqrt(near * lo_f))
            if abs(mw(mid) - decision_mw) < 1e-6:
                near = mid
            else:
                lo_f = mid
        out.append(
            {
                "direction": "down" if far < 1 else "up",
                "btc_multiplier": lo_f,
                "btc_price_usd": lo_f * start,
                "mw_beyond": mw(lo_f),
            }
        )
    return out


def analyse(
    problem: Problem,
    method: str = "lshaped",
    runner: Runner | None = None,
    *,
    curve_points: int = 5,
    tipping: bool = False,
) -> Analysis:
    """Solve the decision and compute everything ``decision.json`` reports."""
    runner = runner if runner is not None else Runner()
    d = problem.decision
    solved = solve(problem, method, runner)
    neutral = solved
    if d.risk_weight > 0:
        neutral = solve(
            problem, method, runner, risk_weight=0.0, cuts=solved.cuts, label="risk-neutral: "
        )
    neutral, mean_x, mean_npv, vss, ws, perfect, evpi = vss_and_evpi(
        problem, neutral, method, runner
    )
    if d.risk_weight == 0:
        solved = neutral
    return Analysis(
        solved=solved,
        neutral=neutral,
        mean_path_x=mean_x,
        mean_path_npv=mean_npv,
        vss=vss,
        wait_and_see=ws,
        evpi=evpi,
        perfect_npv=perfect,
        frontier=frontier(problem, method, runner, solved.cuts),
        curve=_with_decision(
            problem, neutral, mw_curve(problem, method, runner, solved.cuts, curve_points)
        ),
        tipping=btc_tipping(problem, method, runner, float(solved.x[: problem.n_sites].sum()))
        if tipping
        else [],
    )


__all__ = ["METHODS", "Analysis", "analyse", "npv_stats", "risk_objective", "solve"]
