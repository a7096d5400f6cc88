"""Run a study: feed scenarios to an executor, store rows as they arrive, narrow tipping brackets.

The runner knows nothing of files: the caller hands it a *store* (``add``, ``flush``,
``flush_due``, ``read``, ``done_ids``, ``plan_ids``; :class:`optimizer.report.result_store.
ResultStore` on disk) and analyses the rows afterwards (EMA workbench's runner kept apart from
its analysis). :func:`optimizer.api.run_study` puts the pieces together.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from models import ScenarioError
from optimizer.study.definition import Axis, Study
from optimizer.study.executors import make_executor
from optimizer.study.regimes import brackets
from optimizer.study.rows import (
    FAILED_STATUSES,
    PATH_AXIS,
    STATUS_CRASHED,
    STATUS_ERROR,
    ScenarioTask,
    cell,
    digest,
    failed_row,
)


@dataclass
class StudyRun:
    """What a study run did.

    Attributes
    ----------
    total : int
        Scenarios in the study (grid/zip), without refinement points.
    skipped : int
        Scenarios already done (``--resume``).
    recomputed : int
        Scenarios done before whose input files changed since: run again (``--resume``).
    changed_files : list[str]
        The input files whose contents changed since the stored rows were computed.
    problems : list[str]
        What the resume check of the results folder found (missing, damaged, foreign parts).
    ran : int
        Scenarios run now (refinement points included).
    failed : int
        Rows with a status other than optimal among those run now.
    seconds : float
        Wall time [s].
    out : pathlib.Path or None
        The results folder (set by :func:`optimizer.api.run_study`).
    files : list[pathlib.Path]
        Files written by the analysis (summary.csv, tipping.csv, PNGs, risk.json).
    tipping : pandas.DataFrame or None
        Tipping points found (:func:`optimizer.study.regimes.tipping_points`).
    risk : dict or None
        Monte Carlo risk figures (:func:`optimizer.study.regimes.risk_summary`).
    """

    total: int
    skipped: int = 0
    recomputed: int = 0
    changed_files: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    ran: int = 0
    failed: int = 0
    seconds: float = 0.0
    out: Path | None = None
    files: list = field(default_factory=list)
    tipping: Any = None
    risk: Any = None


#: Write a part at least this often while rows arrive [s] (and at least every batch rows).
FLUSH_SECONDS = 2.0


#: How long to wait for a result before looking at the buffer again [s].
_POLL_SECONDS = 0.5


def execute(
    tasks: Iterable[ScenarioTask],
    executor,
    store,
    on_row: Callable[[dict[str, Any]], None] | None = None,
    *,
    flush_seconds: float = FLUSH_SECONDS,
) -> tuple[int, int]:
    """Run tasks on ``executor`` and add their rows to ``store`` as they finish.

    At most ``2 x executor.slots`` tasks are in flight (documents are built lazily, so memory
    stays flat); the store writes a part every few rows or ``flush_seconds``. A pool that loses
    a worker is restarted and its in-flight scenarios resubmitted once; a scenario in flight
    through two such losses is recorded as ``crashed``.

    Returns
    -------
    (ran, failed)
        Rows added, and how many of them are not optimal.
    """
    pending = iter(tasks)
    in_flight: dict[Any, ScenarioTask] = {}
    losses: dict[str, int] = {}
    ran = failed = 0
    limit = 2 * executor.slots
    exhausted = False

    def record(row: dict[str, Any]) -> None:
        nonlocal ran, failed
        store.add(row)
        ran += 1
        failed += row["status"] in FAILED_STATUSES or bool(row["error"])
        if on_row is not None:
            on_row(row)

    while True:
        while not exhausted and len(in_flight) < limit:
            task = next(pending, None)
            if task is None:
                exhausted = True
                break
            in_flight[executor.submit(task)] = task
        if not in_flight:
            break
        done = executor.wait_any(list(in_flight), timeout=min(flush_seconds, _POLL_SECONDS))
        broken = False
        for future in done:
            task = in_flight.pop(future)
            try:
                row = future.result()
            except BaseException as exc:
                if executor.broken(exc):
                    broken = True
                    in_flight[future] = task  # resubmitted below with the others
                    continue
                if isinstance(exc, KeyboardInterrupt):
                    raise
                row = failed_row(task, STATUS_ERROR, f"{type(exc).__name__}: {exc}")
            record(row)
        if broken:
            executor.restart()
            survivors = list(in_flight.values())
            in_flight.clear()
            for task in survivors:
                losses[task.scenario_id] = losses.get(task.scenario_id, 0) + 1
                if losses[task.scenario_id] >= 2:
                    record(
                        failed_row(
                            task,
                            STATUS_CRASHED,
                            "the worker process died twice while this scenario was running "
                            "(killed, out of memory or a crash in a native library)",
                        )
                    )
                else:
                    in_flight[executor.submit(task)] = task
        store.flush_due(flush_seconds)
    store.flush()
    return ran, failed


def run_study(
    study: Study,
    store,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    refine: str | None = None,
    tolerance: float | None = None,
    on_start: Callable[[int, int], None] | None = None,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> StudyRun:
    """Run every scenario of a study that ``store`` does not hold yet, adding rows to it.

    Parameters
    ----------
    study
        From :func:`optimizer.study.definition.read_study`.
    store
        Where rows go and what is done already (see the module docstring); opened by the caller
        for this study's scenario ids.
    workers, scheduler
        See :func:`optimizer.study.executors.make_executor`.
    refine
        Axis path to bisect: each tipping bracket on that axis is narrowed to ``tolerance``
        by running extra scenarios between the bracketing values.
    tolerance
        Bracket width to stop at, in the axis's unit (default: 1/1000 of the axis span; at
        least 1 for an integer axis).
    on_start
        Called once with ``(total, already_done)`` before running (progress bars).
    on_row
        Called with each row as it arrives (progress bars).

    Raises
    ------
    ScenarioError
        Bad ``refine`` axis, dask missing or unreachable.
    KeyboardInterrupt
        After saving every finished row (resume with ``resume=True``).
    """
    t0 = time.perf_counter()
    refine_axis = study.axis(refine) if refine else None
    if refine_axis is not None and (refine_axis.path == PATH_AXIS or not refine_axis.numeric):
        raise ScenarioError(
            f"--refine {refine}: the axis must take numbers (and not be the Monte Carlo path)"
        )
    ids = study.scenario_ids()
    done = store.done_ids()
    stored = stored_inputs(store) if done else {}
    todo, stale = [], 0
    for sid, values in zip(ids, study.combinations(), strict=True):
        if sid not in done:
            todo.append((sid, values))
        elif stored.get(sid) != study.inputs_digest(values):
            todo.append((sid, values))  # its input files changed since its row was computed
            stale += 1
    todo = dispatch_order(todo, study.hash)
    run = StudyRun(total=len(ids), skipped=len(ids) - len(todo), recomputed=stale)
    if on_start is not None:
        on_start(len(ids), run.skipped)
    executor = make_executor(workers, scheduler) if (todo or refine_axis) else None
    try:
        if todo:
            run.ran, run.failed = execute(study.tasks(todo), executor, store, on_row)
        if refine_axis is not None:
            ran, failed = refine_tipping(
                study, refine_axis, store, executor, tolerance=tolerance, on_row=on_row
            )
            run.ran += ran
            run.failed += failed
    except KeyboardInterrupt:
        store.flush()
        if executor is not None:
            executor.shutdown(kill=True)
            executor = None
        raise
    finally:
        if executor is not None:
            executor.shutdown()
    run.seconds = time.perf_counter() - t0
    return run


def stored_inputs(store) -> dict[str, str]:
    """Scenario id -> ``inputs_sha256`` of its stored row (absent in rows of older versions)."""
    frame = store.read()
    if "inputs_sha256" not in frame:
        return {}
    return dict(
        zip(frame["scenario_id"].astype(str), frame["inputs_sha256"].astype(str), strict=True)
    )


def dispatch_order(todo: list, seed_hex: str) -> list:
    """The order scenarios are handed to workers: a fixed pseudo-random permutation.

    Solve times vary a lot across a grid (a year of the example: 1 s to 48 s per LP) and the
    expensive ones sit together (e.g. the highest BTC prices, last in grid order). Handed out
    in grid order they would all start near the end, leaving workers idle while the last ones
    finish; shuffled, the tail is one scenario's worth on average. The permutation is seeded
    by the study hash, so a study dispatches the same way every time. Storage and ids keep
    grid order.
    """
    rng = np.random.default_rng(int(seed_hex[:16] or "0", 16))
    return [todo[i] for i in rng.permutation(len(todo))]


def refine_tipping(
    study: Study,
    axis: Axis,
    store,
    executor,
    *,
    tolerance: float | None = None,
    on_row: Callable[[dict[str, Any]], None] | None = None,
    max_rounds: int = 64,
) -> tuple[int, int]:
    """Narrow every tipping bracket on ``axis`` by running scenarios inside it.

    Each round takes the brackets wider than ``tolerance`` (from all rows so far, see
    :func:`optimizer.study.regimes.brackets`) and runs ``k`` equally spaced points inside each,
    ``k = max(1, slots // open brackets)``: bisection with one free worker, k-section with
    more. A bracket can split into several when the plan changes regime more than once inside.

    Returns
    -------
    (ran, failed)
    """
    integral = all(isinstance(v, int | np.integer) for v in axis.values)
    if tolerance is None:
        span = float(max(axis.values) - min(axis.values))
        tolerance = span / 1000.0
    if integral:
        tolerance = max(1.0, float(tolerance))
    if not tolerance > 0:
        raise ScenarioError(f"--tolerance must be > 0, got {tolerance}")
    # cells read back from Parquet -> the axis values they stand for (tables are JSON cells)
    lookup = {a.path: {cell(v): v for v in a.values} for a in study.axes}
    ran = failed = 0
    for _ in range(max_rounds):
        frame = store.read()
        open_ = [b for b in brackets(frame, axis.path, study.axis_paths) if b.hi - b.lo > tolerance]
        if not open_:
            break
        k = max(1, executor.slots // len(open_))
        tasks = []
        for b in open_:
            points = b.lo + (b.hi - b.lo) * np.arange(1, k + 1) / (k + 1)
            if integral:
                points = np.unique(np.floor(points).astype(np.int64))
                points = points[(points > b.lo) & (points < b.hi)]
            for p in points:
                value = int(p) if integral else float(p)
                values = {p: lookup[p].get(c, c) for p, c in b.group.items()}
                values[axis.path] = value
                values = {path_: values[path_] for path_ in study.axis_paths}
                sid = "r-" + digest(values)[:10]
                tasks.append(study.task(sid, values, origin=f"refine:{axis.path}"))
        if not tasks:
            break
        store.plan_ids([t.scenario_id for t in tasks])
        r, f = execute(tasks, executor, store, on_row)
        ran += r
        failed += f
    return ran, failed
