"""hashpivot as a Python library: the workflows behind the CLI, composed from the packages.

- :func:`plan` = :func:`optimizer.plan.plan_scenario` (+ files with ``out``);
- :func:`run_study` = result store + :func:`optimizer.study.runner.run_study` + the study's
  files (summary.csv, tipping.csv, risk.json, charts);
- :func:`decide` = the two-stage decision of a decision file (:mod:`optimizer.decide`) + its
  files (decision.json, paths.parquet, decision.png), resumable.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models import Scenario
from models.decision import Decision
from optimizer.decide.evaluate import Analysis, analyse
from optimizer.decide.lshaped import Progress, Runner
from optimizer.decide.problem import Problem, build_problem
from optimizer.plan import Plan, plan_scenario
from optimizer.report.decide_files import StoreCache, decision_summary, write_decision
from optimizer.report.plan_files import write_report
from optimizer.report.result_store import ResultStore
from optimizer.report.study_files import write_analysis
from optimizer.study.definition import Study
from optimizer.study.executors import make_executor
from optimizer.study.runner import StudyRun
from optimizer.study.runner import run_study as run_scenarios


def plan(scenario: Scenario, out: str | Path | None = None, **options: Any) -> Plan:
    """Plan a scenario (options of :func:`optimizer.plan.plan_scenario`); with ``out``, also
    write its files (:func:`optimizer.report.plan_files.write_report`)."""
    result = plan_scenario(scenario, **options)
    if out is not None:
        write_report(result, out)
    return result


def run_study(
    study: Study,
    out: str | Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    resume: bool = False,
    refine: str | None = None,
    tolerance: float | None = None,
    on_start: Callable[[int, int], None] | None = None,
    on_row: Callable[[dict[str, Any]], None] | None = None,
    charts: bool = True,
) -> StudyRun:
    """Run every scenario of a study, store the rows in ``out``, and analyse them.

    Parameters
    ----------
    study
        From :func:`optimizer.study.definition.read_study`.
    out
        Results folder: Parquet parts + ``manifest.json``
        (:mod:`optimizer.report.result_store`), then ``summary.csv``, ``tipping.csv``,
        ``axes.png``, and for Monte Carlo ``risk.json`` and ``monte_carlo.png``.
    resume
        Skip the scenarios ``out`` already holds (refuses a different study). Without it, an
        ``out`` that already holds results is refused.
    workers, scheduler, refine, tolerance, on_start, on_row
        See :func:`optimizer.study.runner.run_study`.
    charts
        Draw the PNG charts.

    Raises
    ------
    ScenarioError
        Refused resume, ``out`` in use by another run (an exclusive lock), bad ``refine``
        axis, dask missing or unreachable.
    KeyboardInterrupt
        After saving every finished row (resume with ``resume=True``).
    """
    t0 = time.perf_counter()
    out = Path(out)
    store = ResultStore.open(out, study, study.scenario_ids(), resume=resume)
    try:
        return _run_locked(
            study, store, out, t0, workers, scheduler, refine, tolerance, on_start, on_row, charts
        )
    finally:
        store.release()


def _run_locked(
    study, store, out, t0, workers, scheduler, refine, tolerance, on_start, on_row, charts
) -> StudyRun:
    files = study.input_files()
    before = store.manifest.get("input_files") or {}
    changed = sorted(f for f in files if f in before and before[f] != files[f])
    store.manifest["input_files"] = files  # written with the next manifest update
    try:
        run = run_scenarios(
            study,
            store,
            workers=workers,
            scheduler=scheduler,
            refine=refine,
            tolerance=tolerance,
            on_start=on_start,
            on_row=on_row,
        )
    finally:
        store.close()
    run.problems = list(store.problems)
    run.changed_files = [Path(f).name for f in changed]
    run.out = out
    run.files, run.tipping, run.risk = write_analysis(store.read(), study, out, charts=charts)
    run.seconds = time.perf_counter() - t0
    return run


@dataclass
class Decided:
    """A decision file's answer: the problem, the analysis, ``decision.json``'s content, the
    files written, and how many path-years were solved here or read back from ``out``."""

    problem: Problem
    analysis: Analysis
    summary: dict[str, Any]
    files: list[Path] = field(default_factory=list)
    solved_path_years: int = 0
    reused_path_years: int = 0
    seconds: float = 0.0


def decide(
    decision: Decision,
    out: str | Path | None = None,
    *,
    method: str = "lshaped",
    workers: int | None = 0,
    scheduler: str | None = None,
    resume: bool = False,
    charts: bool = True,
    curve_points: int = 5,
    tipping: bool = False,
    progress: Progress | None = None,
) -> Decided:
    """Solve a decision file (docs/decide.md) and, with ``out``, write its files.

    Parameters
    ----------
    decision
        From :func:`models.decision.load_decision`.
    out
        Folder for ``decision.json``, ``paths.parquet``, ``decision.png`` and the resumable
        store of path-year results (``path_years/``).
    method
        ``lshaped`` (Benders, path-years on ``workers`` or ``scheduler``) or ``extensive``
        (one HiGHS LP, in this process).
    workers, scheduler
        As for studies: local processes (0: this process) or a dask scheduler address.
    resume
        Read the path-years ``out`` already holds instead of solving them again (refuses a
        different decision or different inputs).
    curve_points
        Points of the NPV-vs-MW curve (0: none).
    tipping
        Search the BTC price multipliers at which the MW converted changes (many solves).
    progress
        ``progress(stage, done, total, eta_s)`` as path-years finish.
    """
    t0 = time.perf_counter()
    problem = build_problem(decision)
    cache = StoreCache(Path(out), problem, resume=resume) if out is not None else None
    executor = None
    try:
        if method == "lshaped" and (workers != 0 or scheduler):
            executor = make_executor(workers, scheduler)
        runner = Runner(executor, cache, progress)
        analysis = analyse(problem, method, runner, curve_points=curve_points, tipping=tipping)
    finally:
        if executor is not None:
            executor.shutdown()
        if cache is not None:
            cache.close()
    extra = {
        "path_years": {"solved": runner.solved, "reused": runner.reused},
        "seconds": time.perf_counter() - t0,
    }
    summary = decision_summary(problem, analysis, method, extra)
    files = (
        write_decision(out, problem, analysis, summary, charts=charts) if out is not None else []
    )
    return Decided(
        problem=problem,
        analysis=analysis,
        summary=summary,
        files=files,
        solved_path_years=runner.solved,
        reused_path_years=runner.reused,
        seconds=extra["seconds"],
    )
