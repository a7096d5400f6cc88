"""Benchmark of studies: parallel speed-up of local workers and the per-scenario overhead.

Run from the repository root::

    python benchmarks/study.py [--hours 8760] [--workers 2] [--json FILE]

A 40-scenario grid on the built-in example (5 BTC prices x 4 site price scales x 2 fee
factors; a full year unless --hours says otherwise) runs through `optimizer.api.run_study`
twice: on one worker process (the serial baseline: the same code path, one scenario at a time)
and on ``--workers`` processes. Each run starts a fresh pool (forkserver + per-worker warm-up
included in its wall time) and writes its Parquet parts and manifest as usual; charts are off.

Figures:

- speed-up = wall(1 worker) / wall(N workers);
- overhead per scenario = wall x workers / scenarios - mean(kernel + solve), i.e. everything
  a scenario costs besides the kernel and the LP solve: pool start and warm-up (amortized),
  shipping the document, building the Scenario in the worker, building the LP, reading the
  solution back, returning the row, writing parts and the manifest, and workers idling at the
  tail while the last scenarios finish. Split into the parts the rows record
  (``seconds_load``, ``seconds_build``, ``seconds_extract``), all worker time besides kernel +
  solve ("in worker"), and wall time the workers were not running a scenario ("outside
  workers": start-up, dispatch, storage, tail);
- Monte Carlo documents: the cost of shipping a path's hourly arrays (simulate all paths once
  in the parent, pickle one task) against a worker simulating the whole path set itself.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from optimizer.api import run_study  # noqa: E402
from optimizer.report import result_store  # noqa: E402
from optimizer.study.definition import parse_study  # noqa: E402
from optimizer.study.executors import start_method  # noqa: E402
from optimizer.study.monte_carlo import simulate_study_paths  # noqa: E402


def grid_study(hours: int, base: str = "builtin:example"):
    """The 40-scenario grid on the built-in example (or ``base``, a scenario file)."""
    doc = {
        "study": {"name": "bench-grid", "base": base, "combine": "grid"},
        "overrides": {"scenario": {"hours": hours}},
        "axes": {
            "market": {
                "btc_price_usd": [50000, 70000, 90000, 110000, 130000],
                "fees_btc_per_block": {"factors": [0.5, 2.0]},
            },
            "sites": {"odessa": {"price_scale": [0.7, 0.9, 1.1, 1.3]}},
        },
    }
    return parse_study(doc, source="<benchmark grid>")


def fresh_forkserver() -> None:
    """Stop the forkserver an earlier run started (if any), so that every run pays its own
    pool start, as every ``hashpivot study`` process does."""
    from multiprocessing import forkserver

    forkserver._forkserver._stop()  # private, but the only way to stop it


def children_cpu() -> float:
    """CPU time of this process's ended and reaped child processes (pool workers, forkserver
    with the workers it forked) [s]."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_run(study, workers: int, out: Path) -> dict:
    fresh_forkserver()
    method = start_method()
    cpu0 = time.process_time()
    children0 = children_cpu()
    unix0 = time.time()
    t0 = time.perf_counter()
    run = run_study(study, out, workers=workers, charts=False)
    wall = time.perf_counter() - t0
    parent_cpu = time.process_time() - cpu0
    fresh_forkserver()  # a forkserver's CPU time (with its workers') counts once it is reaped
    workers_cpu = children_cpu() - children0
    rows = result_store.read_results(out)
    assert (rows["status"] == "optimal").all(), rows[["scenario_id", "status", "error"]]
    n = len(rows)
    kernel_solve = float((rows["seconds_kernel"] + rows["seconds_solve"]).mean())
    plan_total = float(rows["seconds_total"].mean())
    worker = float(rows["seconds_worker"].mean())
    per_scenario = wall * workers / n
    return {
        "workers": workers,
        "start_method": method,
        "scenarios": n,
        "wall_s": wall,
        "parent_cpu_s": parent_cpu,
        "workers_cpu_s": workers_cpu,
        "ran": run.ran,
        "kernel_plus_solve_s": kernel_solve,
        "kernel_s": float(rows["seconds_kernel"].mean()),
        "solve_s": float(rows["seconds_solve"].mean()),
        "load_s": float(rows["seconds_load"].mean()),
        "lp_build_s": float(rows["seconds_build"].mean()),
        "extract_s": float(rows["seconds_extract"].mean()),
        "worker_s": worker,
        "in_worker_outside_plan_s": worker - plan_total,
        # per scenario: worker time besides kernel + solve, and wall the workers were not busy
        # (pool start, warm-up, dispatch, waiting at the tail for the last scenarios)
        "in_worker_overhead_s": worker - kernel_solve,
        "outside_worker_s": per_scenario - worker,
        "wall_per_scenario_x_workers_s": per_scenario,
        "overhead_per_scenario_s": per_scenario - kernel_solve,
        "timeline": timeline(rows, unix0, wall),
        "margins": rows.set_index("scenario_id")["margin_usd"].to_dict(),
        "seconds_worker": rows.set_index("scenario_id")["seconds_worker"].round(3).to_dict(),
    }


def timeline(rows, unix0: float, wall: float) -> dict:
    """Where a run's wall time went, per worker process: when its first scenario started
    (pool start + warm-up before it), its busy time, its first scenario's kernel run (a
    worker's first kernel run is a full one, later ones rescale it), when its last scenario
    ended; and the time from the last row to the end of the run (storage, analysis)."""
    start = rows["finished_unix"] - rows["seconds_worker"] - unix0
    end = rows["finished_unix"] - unix0
    workers = []
    for pid, idx in rows.groupby("worker_pid").groups.items():
        first = start[idx].idxmin()
        workers.append(
            {
                "pid": int(pid),
                "scenarios": len(idx),
                "first_start_s": float(start[first]),
                "first_kernel_s": float(rows.loc[first, "seconds_kernel"]),
                "busy_s": float(rows.loc[idx, "seconds_worker"].sum()),
                "last_end_s": float(end[idx].max()),
            }
        )
    return {"workers": workers, "after_last_row_s": wall - float(end.max())}


def makespan(durations: list[float], workers: int) -> float:
    """Wall time of greedy list scheduling (each task to the first free worker) [s]."""
    free = [0.0] * workers
    for d in durations:
        i = free.index(min(free))
        free[i] += d
    return max(free)


def schedules(seconds: dict[str, float], workers: int, hash_hex: str) -> dict:
    """From the serial run's per-scenario times: the ideal wall time on ``workers`` and what
    grid order and the runner's shuffled order would give."""
    from optimizer.study.runner import dispatch_order

    ids = sorted(seconds)
    grid = [seconds[i] for i in ids]
    shuffled = [seconds[i] for i, _ in dispatch_order([(i, None) for i in ids], hash_hex)]
    total = sum(grid)
    return {
        "serial_sum_s": total,
        "longest_s": max(grid),
        "lower_bound_s": max(total / workers, max(grid)),
        "grid_order_s": makespan(grid, workers),
        "shuffled_order_s": makespan(shuffled, workers),
        "longest_first_s": makespan(sorted(grid, reverse=True), workers),
    }


def monte_carlo_shipping(hours: int, paths: int = 40) -> dict:
    """Parent simulates + pickles one path's task vs a worker simulating the whole set."""
    study = parse_study(
        {
            "study": {"base": "builtin:example"},
            "overrides": {"scenario": {"hours": hours}},
            "monte_carlo": {"paths": paths, "seed": 1, "sigma": 0.5, "hashrate_vol": 0.2},
        },
        source="<benchmark mc>",
    )
    simulate_study_paths(study.monte_carlo, study.base_doc)  # compile / load the kernel
    from optimizer.study import monte_carlo

    monte_carlo._paths.cache_clear()
    t0 = time.perf_counter()
    simulate_study_paths(study.monte_carlo, study.base_doc)
    simulate_s = time.perf_counter() - t0
    combos = study.combinations()
    t0 = time.perf_counter()
    tasks = [study.task(sid, c) for sid, c in zip(study.scenario_ids(), combos, strict=True)]
    build_s = (time.perf_counter() - t0) / len(tasks)
    t0 = time.perf_counter()
    blobs = [pickle.dumps(t, protocol=pickle.HIGHEST_PROTOCOL) for t in tasks]
    dumps_s = (time.perf_counter() - t0) / len(tasks)
    t0 = time.perf_counter()
    for b in blobs:
        pickle.loads(b)
    loads_s = (time.perf_counter() - t0) / len(tasks)
    return {
        "paths": paths,
        "hours": hours,
        "simulate_all_paths_s": simulate_s,
        "task_doc_s": build_s,
        "task_bytes": len(blobs[0]),
        "pickle_dumps_s": dumps_s,
        "pickle_loads_s": loads_s,
    }


def machine() -> dict:
    info = {"python": platform.python_version(), "cpus": os.cpu_count()}
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in lscpu.splitlines():
            if line.startswith("Model name:"):
                info["cpu"] = line.split(":", 1)[1].strip()
    except OSError:
        pass
    try:
        import highspy

        info["highspy"] = getattr(highspy, "__version__", "?")
    except ImportError:
        pass
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hours", type=int, default=8760, help="horizon of each scenario [h]")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    parser.add_argument(
        "--stack",
        action="store_true",
        help="the built-in example with its revenue stack (ancillary offers, operating points: "
        "solved whole); default: without it (what the decomposed solver covers)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = "builtin:example"
        if not args.stack:
            from benchmarks.decomposed import core_example_text

            base = str(Path(tmp) / "core.toml")
            Path(base).write_text(core_example_text())
        study = grid_study(args.hours, base)
        print(f"{len(study)} scenarios x {args.hours} hours on {base}", flush=True)
        serial = timed_run(study, 1, Path(tmp) / "serial")
        print(f"1 worker : {serial['wall_s']:.1f} s", flush=True)
        parallel = timed_run(study, args.workers, Path(tmp) / "parallel")
        print(f"{args.workers} workers: {parallel['wall_s']:.1f} s", flush=True)
    a = np.array(list(serial.pop("margins").values()))
    b = np.array(list(parallel.pop("margins").values()))
    np.testing.assert_allclose(a, b, rtol=1e-9)  # same plans whatever the pool size
    sched = schedules(serial["seconds_worker"], args.workers, study.hash)
    mc = monte_carlo_shipping(args.hours)
    result = {
        "machine": machine(),
        "hours": args.hours,
        "serial": serial,
        "parallel": parallel,
        "speedup": serial["wall_s"] / parallel["wall_s"],
        "schedules_from_serial_times": sched,
        "monte_carlo_shipping": mc,
    }
    print(f"speed-up {result['speedup']:.2f}x with {args.workers} workers")
    for r in (serial, parallel):
        print(
            f"  {r['workers']} worker(s): kernel {r['kernel_s']:.3f} s + solve {r['solve_s']:.3f} s "
            f"per scenario; overhead {r['overhead_per_scenario_s']:.3f} s "
            f"(Scenario build {r['load_s']:.3f}, LP build {r['lp_build_s']:.3f}, "
            f"extract {r['extract_s']:.3f}, in worker {r['in_worker_overhead_s']:.3f}, "
            f"outside workers {r['outside_worker_s']:.3f})"
        )
    for r in (serial, parallel):
        for w in r["timeline"]["workers"]:
            print(
                f"  {r['workers']} worker(s), pid {w['pid']} ({r['start_method']}): first scenario at "
                f"{w['first_start_s']:.2f} s (its kernel {w['first_kernel_s']:.3f} s), "
                f"{w['scenarios']} scenarios busy {w['busy_s']:.2f} s, last done at "
                f"{w['last_end_s']:.2f} s"
            )
        print(
            f"  {r['workers']} worker(s): wall {r['wall_s']:.2f} s, {r['timeline']['after_last_row_s']:.2f} s "
            f"after the last row; CPU: parent {r['parent_cpu_s']:.2f} s, "
            f"workers {r['workers_cpu_s']:.2f} s"
        )
    print(
        f"  scheduling ({args.workers} workers, serial per-scenario times): sum {sched['serial_sum_s']:.1f} s, "
        f"longest {sched['longest_s']:.1f} s, bound {sched['lower_bound_s']:.1f} s; grid order "
        f"{sched['grid_order_s']:.1f} s, shuffled (used) {sched['shuffled_order_s']:.1f} s, "
        f"longest first {sched['longest_first_s']:.1f} s"
    )
    print(
        f"Monte Carlo: simulate {mc['paths']} paths x {mc['hours']} h {mc['simulate_all_paths_s'] * 1e3:.1f} ms; "
        f"per task: document {mc['task_doc_s'] * 1e3:.2f} ms, {mc['task_bytes'] / 1024:.0f} KiB, "
        f"pickle {mc['pickle_dumps_s'] * 1e3:.2f} + unpickle {mc['pickle_loads_s'] * 1e3:.2f} ms"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
