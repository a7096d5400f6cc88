"""hashpivot as a Python library: the workflows behind the CLI, composed from the packages.

- :func:`scenario`: a validated :class:`~models.Scenario` from a TOML file, a document (a dict
  that may hold pandas Series, DataFrames and numpy arrays) or the built-in example, with
  fields changed by dotted path;
- :func:`plan` = :func:`optimizer.plan.plan_scenario` (+ files with ``out``);
- :func:`run_study` = result store + :func:`optimizer.study.runner.run_study` + the study's
  files (summary.csv, tipping.csv, risk.json, charts); :func:`study_results` reads them back;
- :func:`margin_by_stream`: a plan's money as a DataFrame, one row per stream, one column per
  site;
- :func:`decide` = the two-stage decision of a decision file (:mod:`optimizer.decide`) + its
  files (decision.json, paths.parquet, decision.png), resumable.

docs/api.md documents them; docs/examples/api_tour.py runs them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from models import Scenario, build_scenario, read_scenario_doc, set_field
from models.decision import Decision
from models.example import EXAMPLE_SOURCE, example_doc
from optimizer.accounting import COST_KEYS, REVENUE_KEYS
from optimizer.decide.evaluate import Analysis, analyse
from optimizer.decide.lshaped import Progress, Runner
from optimizer.decide.problem import Problem, build_problem
from optimizer.errors import SolverError
from optimizer.lp.backends import solver_problem
from optimizer.plan import Plan, plan_scenario
from optimizer.report.decide_files import StoreCache, decision_summary, write_decision
from optimizer.report.plan_files import write_report
from optimizer.report.result_store import ResultStore, read_results
from optimizer.report.study_files import write_analysis
from optimizer.study.definition import BUILTIN_EXAMPLE, Study, parse_study, read_study
from optimizer.study.executors import make_executor
from optimizer.study.runner import StudyRun
from optimizer.study.runner import run_study as run_scenarios

#: What :func:`scenario` accepts: a Scenario, a TOML path, a document, or None (the example).
ScenarioSource = Scenario | str | Path | Mapping[str, Any] | None


def scenario(
    source: ScenarioSource = None,
    changes: Mapping[str, Any] | None = None,
    *,
    base_dir: str | Path | None = None,
) -> Scenario:
    """A validated scenario from a file, a document or the built-in example.

    Parameters
    ----------
    source
        A scenario TOML file (``str`` or ``Path``); a document shaped like that file (a dict,
        see :func:`models.build_scenario`: series may be pandas Series with a tz-aware
        DatetimeIndex or numpy arrays, arrays of tables DataFrames); ``None`` or
        ``"builtin:example"``: the built-in example; a :class:`~models.Scenario` is returned
        as is (no ``changes``).
    changes
        Fields to change first, by dotted path (``{"scenario.hours": 336,
        "sites.odessa.price_usd_per_mwh": series}``, :func:`models.set_field`).
    base_dir
        Folder relative file paths resolve against (default: the TOML file's folder, or the
        current folder for a document).

    Raises
    ------
    ScenarioError
        Any invalid input, naming the file, field, row or timestamp.
    """
    if isinstance(source, Scenario):
        if changes:
            raise ValueError("changes need a file or a document, not a built Scenario")
        return source
    if source is None or source == BUILTIN_EXAMPLE:
        doc, where, name = example_doc(), Path("."), EXAMPLE_SOURCE
    elif isinstance(source, Mapping):
        doc, where, name = dict(source), Path("."), "<scenario>"
    else:
        path = Path(source)
        doc, where, name = read_scenario_doc(path), path.parent, str(path)
    for dotted, value in (changes or {}).items():
        doc = set_field(doc, dotted, value)
    return build_scenario(doc, base_dir=base_dir if base_dir is not None else where, source=name)


_as_scenario = scenario  # plan()'s argument is named scenario too


def plan(scenario: ScenarioSource, out: str | Path | None = None, **options: Any) -> Plan:
    """Plan a scenario (options of :func:`optimizer.plan.plan_scenario`); with ``out``, also
    write its files (:func:`optimizer.report.plan_files.write_report`).

    ``scenario`` is a :class:`~models.Scenario` or anything :func:`scenario` reads (a TOML
    path, a document, None for the example). The backend and solver names are checked before
    anything is built (:class:`~optimizer.errors.SolverError` listing the valid names).
    """
    problem = solver_problem(options.get("backend", "highs"), options.get("solver"))
    if problem:
        raise SolverError(problem)
    result = plan_scenario(_as_scenario(scenario), **options)
    if out is not None:
        write_report(result, out)
    return result


def margin_by_stream(result: Plan) -> pd.DataFrame:
    """A plan's money [USD]: one row per revenue and cost stream, one column per site and a
    ``total`` column; costs are negative, so each column sums to the site's margin (the last
    row, ``margin``)."""
    s = result.summary
    sign = {**dict.fromkeys(REVENUE_KEYS, 1.0), **dict.fromkeys(COST_KEYS, -1.0)}
    frame = pd.DataFrame(
        {
            name: [sign[k] * getattr(site, k) + 0.0 for k in sign] + [site.margin_usd]
            for name, site in s.sites.items()
        },
        index=pd.Index([*sign, "margin_usd"], name="stream"),
    )
    frame["total"] = [sign[k] * getattr(s, k) + 0.0 for k in sign] + [s.margin_usd]  # no -0.0
    return frame


def study_results(out: str | Path) -> pd.DataFrame:
    """Every row of the study stored in ``out``, one per scenario (the columns of
    summary.csv: the varied fields, status, margin by stream, MW, ...)."""
    return read_results(out)


def run_study(
    study: Study | str | Path | Mapping[str, Any],
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
        A study file (``str``/``Path``), a study document (a dict shaped like the file,
        docs/study.md), or a :class:`Study` from :func:`optimizer.study.definition.read_study`.
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
    if isinstance(study, Mapping):
        study = parse_study(study)
    elif not isinstance(study, Study):
        study = read_study(study)
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
