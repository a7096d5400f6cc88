"""The ``hashpivot`` group and what every command shares: exit codes, error handling, the
scenario argument and the output folder option (exit codes in :mod:`optimizer.cli`)."""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import sys
import threading
from importlib.metadata import PackageNotFoundError, version
from multiprocessing import active_children
from pathlib import Path

import click

from models import Scenario, ScenarioError, load_scenario
from optimizer.errors import InfeasibleError, OutputError, SolverError

EXIT_BAD_INPUT = 2
EXIT_INFEASIBLE = 3
EXIT_SOLVER = 4
EXIT_INTERNAL = 1


def _version() -> str:
    try:
        return version("hashpivot")
    except PackageNotFoundError:  # running from a source checkout
        return "0+unknown"


class _Failure(click.ClickException):
    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def user_errors(fn):
    """Map library errors to clean messages and the documented exit codes."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ScenarioError as exc:
            raise _Failure(str(exc), EXIT_BAD_INPUT) from None
        except InfeasibleError as exc:
            raise _Failure(f"infeasible: {exc}", EXIT_INFEASIBLE) from None
        except SolverError as exc:
            raise _Failure(f"solver failed: {exc}", EXIT_SOLVER) from None
        except OutputError as exc:
            raise _Failure(str(exc), EXIT_BAD_INPUT) from None
        except OSError as exc:
            where = exc.filename or "a file"
            raise _Failure(f"{where}: {exc.strerror or exc}", EXIT_BAD_INPUT) from None
        except MemoryError:
            raise _Failure(
                "out of memory: the scenario is too large for this machine (fewer hours, "
                "machines or scenarios?)",
                EXIT_BAD_INPUT,
            ) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:  # a bug: say so plainly, never a traceback
            raise _Failure(
                f"internal error (a bug in hashpivot; please report it with the input): "
                f"{type(exc).__name__}: {exc}",
                EXIT_INTERNAL,
            ) from None

    return wrapper


@contextlib.contextmanager
def sigterm_as_interrupt():
    """Within the block, SIGTERM (a polite kill: ``kill``, a scheduler's stop) raises
    KeyboardInterrupt like Ctrl-C, so a long run saves what is done and says how to resume.
    Outside the main thread (an embedding app) SIGTERM is left alone."""
    import signal

    def _terminate(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:
        previous = None
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def load_or_example(path: str | None) -> Scenario:
    """The scenario at ``path``, or the built-in example when no path is given."""
    if path is None:
        from models.example import example_scenario

        return example_scenario()
    return load_scenario(path)


scenario_argument = click.argument(
    "scenario", required=False, type=click.Path(dir_okay=False, path_type=str)
)


def out_option(help: str, *, required: bool = True):
    """The ``--out DIR`` option every command that writes files shares."""
    return click.option(
        "--out",
        "out_dir",
        type=click.Path(file_okay=False, path_type=Path),
        required=required,
        help=help,
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(_version(), prog_name="hashpivot")
def main() -> None:
    """hashpivot: split a Bitcoin miner's power between mining and AI/HPC hosting, hour by hour.

    \b
    Start with the built-in example:
      hashpivot plan --out out/          # plan the example site for a year
      hashpivot example my-site/         # write it as editable files
      hashpivot validate my-site/scenario.toml
    """


def run() -> None:
    """The ``hashpivot`` program (and ``python -m optimizer``): :func:`main`, then a quick exit.

    Tearing the interpreter down after a plan (numba's compiled code and typing tables,
    matplotlib) took 0.5-0.8 s of a 5 s ``hashpivot plan``. So once the command has finished,
    with no other thread and no child process left, the exit handlers run (:mod:`atexit`:
    pools, temporary folders, dask), the output is flushed and the process ends at once with
    the command's exit code; every file it wrote is already closed and synced
    (:func:`optimizer.report.files.atomic_write`). Otherwise it exits the usual way.
    """
    try:
        main()
    except SystemExit as exc:
        code = exc.code
    else:  # pragma: no cover - click's standalone mode always exits
        code = 0
    if not isinstance(code, int) or threading.active_count() > 1 or active_children():
        sys.exit(code)
    atexit._run_exitfuncs()  # what Python runs at exit, before tearing objects down
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed pipe: let Python report it as it would
        sys.exit(code)
    os._exit(code)
