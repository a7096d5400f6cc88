"""Where a study's scenarios run: a local process pool (default), this process (``workers=0``),
or a dask.distributed cluster (``--scheduler``). All three run :func:`run_scenario`."""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import threading

import numba

from models import ScenarioError
from optimizer.study.rows import ScenarioTask
from optimizer.study.worker import init_worker, run_scenario


def fork_safe() -> bool:
    """Whether a copy of this process made now (``fork``) can run scenarios soundly.

    Not once numba has launched its threading layer: GNU OpenMP, its layer on Linux, cannot run
    parallel code in a child of a process that started it (numba ends such a child). That also
    rules out a process that has run HiGHS, since every solve here follows a kernel run. Not
    while another Python thread runs either: a fork copies only the calling thread, and a lock
    another thread holds would stay locked in the child.
    """
    try:
        numba.threading_layer()
    except ValueError:  # not initialized: no numba thread has been started in this process
        return threading.active_count() == 1
    return False


def start_method() -> str:
    """How :class:`LocalExecutor` starts its workers now: ``fork`` where :func:`fork_safe`
    (workers start as copies of this process, its imports done: no second interpreter to
    start), else ``forkserver`` (a clean server process imports :mod:`optimizer.study.worker`
    once and forks the workers), else ``spawn``."""
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and fork_safe():
        return "fork"
    return "forkserver" if "forkserver" in methods else "spawn"


class LocalExecutor:
    """A process pool on this machine (see :func:`start_method`), one scenario per process at
    a time, each with one numba, one BLAS and one HiGHS thread.

    Attributes
    ----------
    start_method : str
        How the current pool started its workers.
    """

    def __init__(self, workers: int):
        self.workers = max(1, int(workers))
        self.slots = self.workers
        self.start_method = ""
        self._pool = self._new_pool()

    def _new_pool(self) -> cf.ProcessPoolExecutor:
        self.start_method = start_method()
        context = multiprocessing.get_context(self.start_method)
        if self.start_method == "forkserver":
            # forked workers start with these imported: seconds saved per worker
            context.set_forkserver_preload(["optimizer.study.worker"])
        pool = cf.ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=context,
            initializer=init_worker,
            initargs=(os.getpid(),),
        )
        if self.start_method == "fork":
            # a fork pool forks all its workers at its first submit: make that now, while
            # fork_safe() holds (a Monte Carlo study's documents run numba in this process)
            pool.submit(int)
        return pool

    def submit(self, task: ScenarioTask, fn=run_scenario) -> cf.Future:
        """Run ``fn(task)`` (a top-level function) in the pool; a study's scenario by default."""
        return self._pool.submit(fn, task)

    def wait_any(self, futures: list, timeout: float) -> set:
        done, _ = cf.wait(futures, timeout=timeout, return_when=cf.FIRST_COMPLETED)
        return done

    @staticmethod
    def broken(exc: BaseException) -> bool:
        """Whether an exception from a future means the pool lost a worker process."""
        from concurrent.futures.process import BrokenProcessPool

        return isinstance(exc, BrokenProcessPool)

    def restart(self) -> None:
        """Replace a broken pool (a worker was killed, e.g. out of memory)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._new_pool()

    def shutdown(self, kill: bool = False) -> None:
        if kill:
            # running scenarios would otherwise finish first; their results would be lost anyway
            # (ProcessPoolExecutor has no public terminate: its _processes map is the way in)
            for proc in list((getattr(self._pool, "_processes", None) or {}).values()):
                if proc.is_alive():
                    proc.terminate()
        # waiting lets the pool's manager thread notice the dead workers and release its queues
        self._pool.shutdown(wait=True, cancel_futures=True)
        # an interrupt's traceback keeps this executor alive until exit: drop the pool (and its
        # queues' semaphores) now, or multiprocessing reports them as leaked
        self._pool = None


class InProcessExecutor:
    """Runs scenarios one by one in this process (``workers=0``): for debugging and tests."""

    slots = 1

    def submit(self, task: ScenarioTask, fn=run_scenario) -> cf.Future:
        future: cf.Future = cf.Future()
        future.set_result(fn(task))
        return future

    def wait_any(self, futures: list, timeout: float) -> set:
        return set(futures)

    @staticmethod
    def broken(exc: BaseException) -> bool:
        return False

    def restart(self) -> None:  # pragma: no cover - never broken
        pass

    def shutdown(self, kill: bool = False) -> None:
        pass


class DaskExecutor:
    """The same :func:`run_scenario` on a dask.distributed cluster (``--scheduler ADDR``).

    Start workers with one thread each (``dask worker ADDR --nthreads 1 --nworkers N``): each
    scenario runs its numba kernel and HiGHS on one thread.
    """

    def __init__(self, address: str):
        try:
            from distributed import Client
        except ImportError:
            raise ScenarioError(
                "--scheduler needs dask.distributed, which is not installed: "
                "pip install hashpivot[dist]"
            ) from None
        try:
            self.client = Client(address, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise ScenarioError(f"cannot reach the dask scheduler at {address}: {exc}") from None
        threads = sum(self.client.nthreads().values())
        self.slots = max(1, threads)

    def submit(self, task: ScenarioTask, fn=run_scenario):
        return self.client.submit(fn, task, pure=False)

    def wait_any(self, futures: list, timeout: float) -> set:
        from distributed import wait

        try:
            done, _ = wait(futures, timeout=timeout, return_when="FIRST_COMPLETED")
        except TimeoutError:
            return set()
        return set(done)

    @staticmethod
    def broken(exc: BaseException) -> bool:
        return False  # dask reschedules lost tasks itself and reports KilledWorker at the end

    def restart(self) -> None:  # pragma: no cover
        pass

    def shutdown(self, kill: bool = False) -> None:
        self.client.close()


def make_executor(workers: int | None = None, scheduler: str | None = None):
    """The executor for ``--workers`` / ``--scheduler``.

    Parameters
    ----------
    workers
        Local processes; ``None``: one per CPU core; ``0``: run in this process.
    scheduler
        ``tcp://HOST:PORT`` of a dask scheduler (takes precedence over ``workers``).
    """
    if scheduler:
        return DaskExecutor(scheduler)
    if workers == 0:
        return InProcessExecutor()
    return LocalExecutor(workers if workers else (os.cpu_count() or 1))
