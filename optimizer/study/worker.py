"""One scenario in a worker: build it, plan it on one thread, return its row.

:func:`run_scenario` is a top-level function so that process pools and dask can pickle it. It
never raises for a scenario's own failure: the row says what went wrong.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numba
import numpy as np

from kernels.bitcoin import hashprice_usd_per_ph_day
from models import ScenarioError, build_scenario
from optimizer.errors import InfeasibleError, SolverError
from optimizer.plan import plan_scenario
from optimizer.score import KernelCache, score_scenario
from optimizer.study.rows import (
    STATUS_BAD_INPUT,
    STATUS_ERROR,
    STATUS_INFEASIBLE,
    STATUS_SOLVER,
    ScenarioTask,
    empty_row,
)
from optimizer.summary import PlanSummary
from optimizer.timings import Timings


@contextlib.contextmanager
def _one_numba_thread() -> Iterator[None]:
    """One numba thread in this thread while a scenario runs: parallelism comes from running
    scenarios side by side, and nested threads would oversubscribe the cores. (numba's thread
    count is per calling thread, so this holds for dask worker threads too.)"""
    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(previous)


#: Per worker process: the ASIC kernel run reused while only market fields and prices change,
#: the last scenario's horizon-wide decisions (by LP shape), the next decomposed solve's first
#: trial, and its HiGHS basis, where the next monolithic solve starts (a basis of another shape
#: is ignored). None changes a result, only the work (tests/optimizer/test_decomposed.py).
_KERNEL = KernelCache()
_WARM: dict[tuple[int, int], np.ndarray] = {}
_BASIS: dict[tuple[int, int], object] = {}  # the monolithic LP's last optimal basis (HiGHS)


def run_scenario(task: ScenarioTask) -> dict[str, Any]:
    """Build one scenario, run kernel + LP (1 thread), and return its result row.

    Never raises for a scenario's own failure: :class:`~models.ScenarioError`,
    :class:`~optimizer.errors.InfeasibleError`, :class:`~optimizer.errors.SolverError` and any
    other exception become a row with ``status`` (``bad_input``, ``infeasible``,
    ``solver_error``, ``error``) and ``error`` (the message).

    Returns
    -------
    dict
        ``scenario_id``, ``origin``, the axis values, ``status``, ``error``, the plan summary's
        money fields [USD], ``hpc_mw_converted`` [MW], ``gpu_servers_firm``, energies [MWh],
        ``mining_share`` [-] (mining MWh / (mining + HPC MWh)), ``mining_mw_mean`` and
        ``hpc_mw_mean`` [MW], ``hours_curtailed`` (hours the plan leaves power unused, from the
        plan), ``hours_curtailment_orders`` (hours with a curtailment order at any site),
        ``btc_price_mean_usd``, ``btc_price_end_usd``, ``hashprice_mean_usd_per_ph_day``,
        ``seconds_*`` [s] (plan stages; ``seconds_load`` = building the Scenario here),
        ``seconds_worker`` (everything in the worker), ``worker_pid``, ``finished_unix``.
    """
    with _one_numba_thread():
        return _run_scenario(task)


def _run_scenario(task: ScenarioTask) -> dict[str, Any]:
    t0 = time.perf_counter()
    row = empty_row(task)
    row["worker_pid"] = os.getpid()
    if task.error:
        row.update(status=STATUS_BAD_INPUT, error=task.error, finished_unix=time.time())
        return row
    try:
        timings = Timings()
        with timings.stage("load"):
            scenario = build_scenario(task.doc, base_dir=task.base_dir, source=task.source)
        row.update(_market_columns(scenario))
        shape = (len(scenario.sites), len(scenario.gpus))
        plan = plan_scenario(
            scenario,
            method=task.method,
            backend=task.backend,
            solver=task.solver,
            threads=1,
            time_limit_s=task.time_limit_s,
            timings=timings,
            start=_WARM.get(shape),
            kernel=_KERNEL.scores,
            basis=_BASIS.get(shape),
        )
        _WARM[shape] = plan.first_stage
        if plan.solution.basis is not None:
            _BASIS[shape] = plan.solution.basis
        row.update(_summary_columns(plan.summary))
    except ScenarioError as exc:
        row.update(status=STATUS_BAD_INPUT, error=str(exc))
    except InfeasibleError as exc:
        row.update(status=STATUS_INFEASIBLE, error=str(exc))
    except SolverError as exc:
        row.update(status=STATUS_SOLVER, error=str(exc))
    except Exception as exc:  # any bug or crash of one scenario must not stop the study
        row.update(status=STATUS_ERROR, error=f"{type(exc).__name__}: {exc}")
    row["seconds_worker"] = time.perf_counter() - t0
    row["finished_unix"] = time.time()
    return row


def _market_columns(scenario) -> dict[str, Any]:
    m = scenario.market
    curtailed = np.zeros(scenario.hours, dtype=bool)
    for site in scenario.sites:
        curtailed |= np.asarray(site.curtailment_mw) > 0
    hashprice = hashprice_usd_per_ph_day(
        m.btc_price_usd, m.difficulty, m.fees_btc_per_block, m.height
    )
    return {
        "hours": scenario.hours,
        "hours_curtailment_orders": int(curtailed.sum()),
        "btc_price_mean_usd": float(np.mean(m.btc_price_usd)),
        "btc_price_end_usd": float(m.btc_price_usd[-1]),
        "hashprice_mean_usd_per_ph_day": float(np.mean(hashprice)),
    }


#: Summary figures a row leaves out: the same numbers are already columns under the row's own
#: names (``mining_mw_mean``, ``hashprice_mean_usd_per_ph_day``), and the objective equals the
#: margin (the accounting identity is checked before a plan exists).
DUPLICATE_SUMMARY_FIELDS = ("mean_mining_mw", "mean_hashprice_usd_per_ph_day", "objective_usd")


def _summary_columns(summary: PlanSummary) -> dict[str, Any]:
    out: dict[str, Any] = {
        "status": summary.status,
        "method": summary.method,
        "method_note": summary.method_note,
        "gap": math.nan if summary.gap is None else summary.gap,
    }
    numbers = summary.numbers()
    for key in DUPLICATE_SUMMARY_FIELDS:
        numbers.pop(key)
    out.update(numbers)
    out.update({f"seconds_{k}": v for k, v in summary.seconds.as_dict().items()})
    mining = out["mining_mwh"]
    hpc = out["hpc_mwh"]
    hours = out["hours"]
    total = mining + hpc
    out["mining_share"] = mining / total if total > 0 else math.nan
    if hours > 0:
        out["mining_mw_mean"] = mining / hours
        out["hpc_mw_mean"] = hpc / hours
    return out


#: How often a worker checks that the study process is still alive [s].
WATCHDOG_SECONDS = 1.0


def exit_with_parent(parent_pid: int) -> None:
    """End this worker when the study process ``parent_pid`` dies (killed, crashed).

    A killed parent cannot stop its pool, and each worker holds a scenario and the LP in memory
    (hundreds of MB). Linux: ``PR_SET_PDEATHSIG`` sends SIGKILL when the process that started
    this one (the forkserver or the parent) dies; everywhere: a daemon thread polls
    ``parent_pid`` every :data:`WATCHDOG_SECONDS` and exits when it is gone or reparented.
    """
    with contextlib.suppress(Exception):  # best effort: not Linux, or no libc
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    start_ppid = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(WATCHDOG_SECONDS)
            if os.getppid() != start_ppid or not _alive(parent_pid):
                os._exit(1)

    threading.Thread(target=watch, name="hashpivot-parent-watchdog", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else (the pid was reused): gone
        return False
    return True


#: What OpenBLAS builds call their thread-count setter (numpy's wheels rename their copy).
_BLAS_SETTERS = (
    "scipy_openblas_set_num_threads64_",
    "scipy_openblas_set_num_threads",
    "openblas_set_num_threads64_",
    "openblas_set_num_threads",
)


def one_blas_thread() -> bool:
    """Run the OpenBLAS that numpy loaded on one thread in this process (Linux).

    Its second thread does nothing useful for a scenario's small products but spin-waits
    between them: about 0.1 s of CPU per year-long scenario of the example, which a worker
    beside it on a 2-core machine loses. One thread gives the same results (tested).

    Returns
    -------
    bool
        Whether an OpenBLAS was found and set.
    """
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:  # not Linux
        return False
    paths = {line.split()[-1] for line in maps.splitlines() if "openblas" in line.lower()}
    found = False
    for path in sorted(p for p in paths if p.startswith("/")):
        with contextlib.suppress(OSError):
            lib = ctypes.CDLL(path)
            setter = next((getattr(lib, n) for n in _BLAS_SETTERS if hasattr(lib, n)), None)
            if setter is not None:
                setter(1)
                found = True
    return found


def init_worker(parent_pid: int | None = None) -> None:
    """Process-pool initializer: exit when the study process dies, ignore Ctrl-C (the parent
    stops the pool), one numba and one BLAS thread, and warm the kernels and the LP once on a tiny
    scenario so the first real one is not charged for compilation/cache loading."""
    if parent_pid is not None:
        exit_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # a worker forked from the study process has its handlers (the CLI turns SIGTERM into
    # KeyboardInterrupt): the parent's terminate() of a stopping pool must end it, quietly
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if "fork" in multiprocessing.get_all_start_methods():
        # numba's thread launch takes a multiprocessing lock from the default context; under
        # forkserver/spawn that is a named semaphore which a terminated worker (Ctrl-C) leaves
        # behind. Workers start no processes of their own, so "fork" here only makes it unnamed.
        multiprocessing.set_start_method("fork", force=True)
    numba.set_num_threads(1)
    one_blas_thread()
    # a worker forked from the study process starts with its caches: begin afresh, as one
    # started by the forkserver does
    global _KERNEL
    _KERNEL = KernelCache()
    _WARM.clear()
    _BASIS.clear()
    try:
        warm_up()
    except Exception:  # warming is an optimization; the real scenario reports real errors
        pass


#: A one-day scenario used to warm numba and HiGHS in each worker.
WARM_UP_DOC: dict[str, Any] = {
    "scenario": {"name": "warm-up", "start": "2026-01-01T00:00:00Z", "hours": 24},
    "market": {
        "btc_price_usd": 90000.0,
        "network_hashrate_ehs": 1100.0,
        "fees_btc_per_block": 0.03,
        "height": 925000,
    },
    "sites": [
        {
            "name": "warm",
            "interconnect_mw": 2.0,
            "mining_hall_mw": 2.0,
            "convertible_mw": 1.0,
            "price_usd_per_mwh": 40.0,
            "temp_c": 20.0,
        }
    ],
    "fleet": [{"site": "warm", "model": "S21", "count": 100}],
    "gpus": [
        {
            "name": "warm-gpu",
            "site": "warm",
            "model": "H100 x8",
            "max_servers": 10,
            "pricing": "cloud",
            "rate_usd_per_gpu_hour": 2.0,
            "service": "interruptible",
        }
    ],
}


def warm_up() -> None:
    """Run the kernels (and the LP, when available) once on :data:`WARM_UP_DOC`."""
    scenario = build_scenario(WARM_UP_DOC, source="<warm-up>")
    score_scenario(scenario)
    plan_scenario(scenario, threads=1)
