"""hashpivot as a Python library: the workflows behind the CLI, composed from the packages.

- :func:`plan` = :func:`optimizer.plan.plan_scenario` (+ files with ``out``);
- :func:`run_study` = result store + :func:`optimizer.study.runner.run_study` + the study's
  files (summary.csv, tipping.csv, risk.json, charts).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from models import Scenario
from optimizer.plan import Plan, plan_scenario
from optimizer.report.plan_files import write_report
from optimizer.report.result_store import ResultStore
from optimizer.report.study_files import write_analysis
from optimizer.study.definition import Study
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
