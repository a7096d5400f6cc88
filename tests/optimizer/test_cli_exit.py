"""The ``hashpivot`` program ends quickly (:func:`optimizer.cli.run`) without losing output,
exit codes or the exit handlers, and ends the usual way while another thread still runs."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

SCENARIO = """
[scenario]
name = "tiny"
start = "2026-03-02T00:00:00Z"
hours = 24

[market]
btc_price_usd = 100000.0
difficulty = 1.0e14
fees_btc_per_block = 0.0
height = 840000
pool_fee = 0.0

[[sites]]
name = "odessa"
interconnect_mw = 10.0
mining_hall_mw = 10.0
price_usd_per_mwh = 30.0
temp_c = 10.0

[[fleet]]
site = "odessa"
model = "X100-2"
count = 1000
hashrate_ths = 100.0
power_kw = 2.0
cooling = "air"
"""


def hashpivot(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "optimizer", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    root = tmp_path_factory.mktemp("exit")
    (root / "tiny.toml").write_text(SCENARIO)
    return root, hashpivot("plan", str(root / "tiny.toml"), "--out", str(root / "out"), "--json")


def test_plan_output_complete_after_the_quick_exit(planned):
    root, proc = planned
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout)  # the whole summary reached the pipe
    written = json.loads((root / "out" / "summary.json").read_text())
    assert printed["margin_usd"] == pytest.approx(written["margin_usd"], rel=1e-12)
    assert printed["hours"] == 24
    # 1,000 machines of 2 kW (with cooling) mine all day at a flat 30 USD/MWh
    assert written["mining_mwh"] == pytest.approx(24 * 2.0 * 1.03, rel=1e-9)
    assert written["energy_cost_usd"] == pytest.approx(written["mining_mwh"] * 30.0, rel=1e-9)
    assert proc.stderr.splitlines()[-1].startswith("wrote plan.csv")  # stderr flushed too


def test_exit_codes_kept(tmp_path):
    missing = hashpivot("plan", str(tmp_path / "missing.toml"), "--out", str(tmp_path / "o"))
    assert missing.returncode == 2 and "scenario file not found" in missing.stderr
    version = hashpivot("--version")
    assert version.returncode == 0 and version.stdout.startswith("hashpivot, version")
    assert hashpivot("no-such-command").returncode == 2


@pytest.mark.parametrize("thread", [False, True])
def test_exit_handlers_run_and_other_threads_are_waited_for(tmp_path, thread):
    """An exit handler registered before the command ends runs (quick exit or not), and the
    objects are not torn down after a quick exit; a thread still running when the command
    ends finishes its work (then the usual exit runs)."""
    script = textwrap.dedent(
        f"""
        import atexit, sys, threading, time
        from pathlib import Path
        from optimizer.cli import run
        sys.argv = ["hashpivot", "--version"]
        atexit.register(lambda: Path({str(tmp_path / "handler")!r}).write_text("ran"))
        class TornDown:  # says when the interpreter tears its objects down
            def __del__(self):
                Path({str(tmp_path / "teardown")!r}).write_text("yes")
        witness = TornDown()
        def late():
            time.sleep(0.5)
            Path({str(tmp_path / "thread")!r}).write_text("done")
        if {thread!r}:
            threading.Thread(target=late).start()
        run()
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("hashpivot, version")
    assert (tmp_path / "handler").read_text() == "ran"
    assert (tmp_path / "thread").exists() == thread
    if not thread:  # the quick exit: no teardown
        assert not (tmp_path / "teardown").exists()
    if thread:
        assert (tmp_path / "thread").read_text() == "done"
