"""Study fault injection (issue 14): two runs into one --out, damaged, missing and foreign
parts, a series file changed between runs, a killed parent with live workers, our own temp
files vs the user's. Real files, real CLI, real process pools; no mocks, no timed asserts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
from click.testing import CliRunner

from optimizer.cli import main
from optimizer.report import result_store
from optimizer.report.example_files import write_example
from optimizer.study.definition import read_study

REPO = Path(__file__).resolve().parents[2]

STUDY = """\
[study]
name = "faults"
base = "scenario.toml"

[overrides]
"scenario.hours" = 24

[axes]
"market.btc_price_usd" = [60000, 90000, 120000]
"""


@pytest.fixture
def example(tmp_path):
    """The example scenario as files, and a 3-scenario study of one day on it."""
    write_example(tmp_path)
    (tmp_path / "study.toml").write_text(STUDY)
    return tmp_path


def study_cli(folder: Path, *extra: str):
    args = ["study", str(folder / "study.toml"), "--out", str(folder / "out"), "--no-charts"]
    result = CliRunner().invoke(main, [*args, "--workers", "0", *extra])
    assert "Traceback" not in result.output
    return result


def summary(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "out" / "summary.csv")


def test_a_second_run_into_the_same_out_is_refused(example):
    study = read_study(example / "study.toml")
    held = result_store.ResultStore.open(
        example / "out", study, study.scenario_ids(), resume=False
    )  # the first run, still running
    try:
        result = study_cli(example, "--resume")
        assert result.exit_code == 2
        assert "in use by another hashpivot study" in result.output
        assert f"pid {os.getpid()}" in result.output
    finally:
        held.release()
    result = study_cli(example, "--resume")  # once the first run ends, the folder is free
    assert result.exit_code == 0, result.output
    assert len(summary(example)) == 3


def test_damaged_missing_and_foreign_parts_are_reported_and_recomputed(example, tmp_path):
    assert study_cli(example).exit_code == 0
    margins = summary(example).set_index("scenario_id")["margin_usd"]
    out = example / "out"
    parts = sorted(out.glob("part-*.parquet"))
    assert parts
    # damage: the part cut to half its bytes
    data = parts[0].read_bytes()
    parts[0].write_bytes(data[: len(data) // 2])
    result = study_cli(example, "--resume")
    assert result.exit_code == 0, result.output
    assert f"{parts[0].name} cannot be read" in result.output
    assert (out / f"set-aside-{parts[0].name}").is_file()
    again = summary(example).set_index("scenario_id")["margin_usd"]
    assert again.to_dict() == pytest.approx(margins.to_dict(), rel=1e-9)

    # foreign: another study's part dropped into this folder
    other = tmp_path / "other"
    other.mkdir()
    write_example(other)
    (other / "study.toml").write_text(STUDY.replace("60000, 90000, 120000", "50000"))
    assert study_cli(other).exit_code == 0
    foreign = sorted((other / "out").glob("part-*.parquet"))[-1]
    (out / "part-00090.parquet").write_bytes(foreign.read_bytes())
    # missing: a listed part deleted
    listed = result_store.read_manifest(out)["parts"]
    victim = sorted(listed)[0]
    (out / victim).unlink()
    result = study_cli(example, "--resume")
    assert result.exit_code == 0, result.output
    assert "part-00090.parquet holds rows of another study" in result.output
    assert f"{victim} is listed in manifest.json but missing" in result.output
    final = summary(example).set_index("scenario_id")["margin_usd"]
    assert final.to_dict() == pytest.approx(margins.to_dict(), rel=1e-9)
    assert result_store.read_manifest(out)["complete"]


def test_a_changed_series_file_is_recomputed_on_resume_and_named(example):
    assert study_cli(example).exit_code == 0
    before = summary(example).set_index("scenario_id")["margin_usd"]
    prices = pd.read_csv(example / "prices.csv")
    prices["price_usd_per_mwh"] += 25.0  # every hour 25 USD/MWh dearer
    prices.to_csv(example / "prices.csv", index=False)
    result = study_cli(example, "--resume")
    assert result.exit_code == 0, result.output
    assert "3 scenario(s) run again" in result.output and "prices.csv" in result.output
    after = summary(example).set_index("scenario_id")["margin_usd"]
    assert ((after - before).abs() > 1000.0).all()  # every row moved (PPA resale, grid cost)
    fresh = CliRunner().invoke(
        main,
        ["study", str(example / "study.toml"), "--out", str(example / "fresh"), "--workers", "0"],
    )
    assert fresh.exit_code == 0, fresh.output
    expected = pd.read_csv(example / "fresh" / "summary.csv").set_index("scenario_id")
    assert after.to_dict() == pytest.approx(expected["margin_usd"].to_dict(), rel=1e-9)
    # unchanged files: nothing runs again
    result = study_cli(example, "--resume")
    assert result.exit_code == 0 and "run again" not in result.output
    assert "3 scenarios (3 already done), 0 run now" in result.output


def test_resume_removes_only_our_own_temporary_files(example):
    assert study_cli(example).exit_code == 0
    out = example / "out"
    (out / ".draft.tmp").write_text("the user's notes")
    (out / ".hashpivot-tmp-part-00009.parquet.x1.tmp").write_bytes(b"half a part")
    assert study_cli(example, "--resume").exit_code == 0
    assert (out / ".draft.tmp").read_text() == "the user's notes"
    assert not list(out.glob(".hashpivot-tmp-*"))


def test_a_second_process_is_refused_and_workers_exit_when_the_study_is_killed(example):
    # long enough that the workers are busy when the parent dies
    (example / "study.toml").write_text(
        STUDY.replace('"scenario.hours" = 24', '"scenario.hours" = 2184').replace(
            "[60000, 90000, 120000]", "[60000, 70000, 80000, 90000, 100000, 110000, 120000]"
        )
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "optimizer", "study", str(example / "study.toml")]
    cmd += ["--out", str(example / "out"), "--workers", "2", "--no-charts"]
    parent = subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    proc = psutil.Process(parent.pid)
    workers: list[psutil.Process] = []
    deadline = time.monotonic() + 120
    while len(workers) < 2 and time.monotonic() < deadline:
        workers = proc.children(recursive=True)
        time.sleep(0.2)
    # a fresh study process is safe to fork: its 2 workers are its own children (no forkserver)
    assert len(workers) == 2, "the pool never started"
    assert all(w.ppid() == parent.pid for w in workers)
    # a second run into the same folder while the first one works: refused, naming it
    second = study_cli(example, "--resume")
    assert second.exit_code == 2, second.output
    assert f"in use by another hashpivot study (pid {parent.pid})" in second.output
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    gone, alive = psutil.wait_procs(workers, timeout=60)
    assert not alive, f"orphaned workers still running: {[p.pid for p in alive]}"
    assert len(gone) == len(workers)


FORK_CHECK = """\
import threading
from optimizer.study import executors, worker
seen = [executors.start_method()]
stop = threading.Event()
other = threading.Thread(target=stop.wait)
other.start()
seen.append(executors.start_method())  # another thread runs
stop.set()
other.join()
seen.append(executors.start_method())
worker.warm_up()  # numba starts its threading layer here
seen.append(executors.start_method())
print(" ".join(seen))
"""


def test_workers_are_forked_only_before_numba_threads_or_other_threads_start():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", FORK_CHECK], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["fork", "forkserver", "fork", "forkserver"]


BLAS_CHECK = """\
import ctypes
from pathlib import Path
from optimizer.study.worker import one_blas_thread
libs = {l.split()[-1] for l in Path("/proc/self/maps").read_text().splitlines() if "openblas" in l}
lib = ctypes.CDLL(sorted(libs)[0])
getter = next(getattr(lib, n) for n in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads") if hasattr(lib, n))
before = getter()
print(one_blas_thread(), before, getter())
"""


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="finds OpenBLAS on Linux")
def test_workers_run_openblas_on_one_thread():
    env = {**os.environ, "PYTHONPATH": str(REPO), "OPENBLAS_NUM_THREADS": "2"}
    out = subprocess.run(
        [sys.executable, "-c", BLAS_CHECK], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "2", "1"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork only")
def test_a_forked_worker_does_not_keep_the_results_lock(tmp_path):
    """A study worker forked from the study process closes its copy of the folder's lock at
    once (a flock lives until every copy is closed), while the parent keeps the lock."""
    import fcntl

    from optimizer.report.result_store import LOCK, _lock, _unlock

    fh = _lock(tmp_path)
    pid = os.fork()
    if pid == 0:  # the child: its copy must be closed already
        os._exit(0 if fh.closed else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert not fh.closed
    other = open(tmp_path / LOCK)  # another open file: the parent's lock still holds
    with pytest.raises(OSError):
        fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    other.close()
    _unlock(fh)
