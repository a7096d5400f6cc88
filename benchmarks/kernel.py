"""Benchmark of the revenue kernel: machine-hours per second, compile time, peak memory.

Run from the repository root::

    python benchmarks/kernel.py [--json FILE] [--quick] [--threads N]

Synthetic fleets of 1k, 10k and 100k ASICs over 8,760 hours on 1 and 3 sites (10 and 30
classes: site x model x efficiency band, 15 % hosted) are scored by

- ``fused``: `kernels.revenue.score_asics` (class-hour sums + per-machine totals);
- ``matrix``: `kernels.revenue.score_asics_matrix` (full M x T matrices; up to 10k machines,
  3 x 8 bytes per machine-hour = 2.1 GB there, 21 GB at 100k);
- ``numpy``: the twin `kernels.reference.score_asics`, run over chunks of 250 machines
  (class sums added, per-machine totals concatenated) so that its ~10 temporaries of
  8 bytes per machine-hour fit in memory;
- ``python``: the same fused loop in pure Python on 100 machines x 8,760 hours (20 with
  --quick), reported per machine-hour.

Timings are the best of a few repeats after a warm-up call (the first call compiles or loads
the kernel). Compile time is the first call in a fresh interpreter with an empty numba cache
(``NUMBA_CACHE_DIR`` pointed at a new directory) and again with that cache filled. Peak memory
is ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` of a fresh interpreter that builds one fleet
and runs the fused kernel once, so figures include the interpreter, numpy and numba (~100 MB).
--quick runs 1k and 10k machines only (under 30 s).
"""

from __future__ import annotations

import argparse
import json
import math
import os
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

HOURS = 8760
NUMPY_CHUNK_MACHINES = 250  # best of 50-2,500 tried on the reference machine
MATRIX_MAX_MACHINES = 10_000

# name, hashrate [TH/s], power [kW], cooling (0 air, 1 hydro, 2 immersion)
MODELS = (
    ("S19j Pro", 104.0, 3.068, 0),
    ("S19 XP", 140.0, 3.010, 0),
    ("S21", 200.0, 3.500, 0),
    ("S21 Hydro", 335.0, 5.360, 1),
    ("M60S", 186.0, 3.441, 2),
)
# per cooling type: alpha [1/degC], beta [1/degC], t_ref [degC], t_max [degC], pue0, slope, ref
COOLING = np.array(
    [
        [0.012, 0.004, 25.0, 40.0, 1.05, 0.006, 20.0],
        [0.004, 0.002, 30.0, 45.0, 1.08, 0.004, 25.0],
        [0.002, 0.001, 35.0, 50.0, 1.03, 0.002, 30.0],
    ]
)
BANDS = 2  # efficiency bands per model (J/TH above or below the model's median)


def synthetic_fleet(n_machines: int, n_sites: int, seed: int = 0) -> dict:
    """Arguments of `score_asics` for a synthetic fleet over one year.

    Machines are listed site by site (as a fleet file would be), models and bands mixed.
    """
    from kernels.bitcoin import btc_per_th_hour

    rng = np.random.default_rng(seed)
    hours = np.arange(HOURS)
    day = hours / 24.0
    temp = np.empty((n_sites, HOURS))
    price = np.empty((n_sites, HOURS))
    for s in range(n_sites):
        season = 12.0 * np.sin(2 * np.pi * (day - 110.0) / 365.0)
        diurnal = 6.0 * np.sin(2 * np.pi * (hours % 24 - 9.0) / 24.0)
        temp[s] = 18.0 + 3.0 * s + season + diurnal + rng.normal(0.0, 2.0, HOURS)
        spikes = rng.random(HOURS) < 0.01
        price[s] = rng.lognormal(3.6, 0.5, HOURS) - 15.0 + spikes * rng.uniform(200, 3000, HOURS)
    difficulty = 1.5e14 * np.exp(0.35 * hours / HOURS)
    btc_price = 90_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.6 / math.sqrt(HOURS), HOURS)))
    height = 925_000 + 6 * hours
    usd_per_th_hour = btc_per_th_hour(difficulty, 0.03, height) * btc_price * (1.0 - 0.02)

    site = np.sort(rng.integers(0, n_sites, n_machines))
    model = rng.integers(0, len(MODELS), n_machines)
    hashrate = np.array([m[1] for m in MODELS])[model] * rng.uniform(0.95, 1.05, n_machines)
    power = np.array([m[2] for m in MODELS])[model] * rng.uniform(0.97, 1.03, n_machines)
    cooling = np.array([m[3] for m in MODELS])[model]
    efficiency = power * 1000.0 / hashrate
    median = np.array(
        [
            np.median(efficiency[model == i]) if np.any(model == i) else 0.0
            for i in range(len(MODELS))
        ]
    )
    band = (efficiency > median[model]).astype(np.int64)
    klass = (site * len(MODELS) + model) * BANDS + band
    c = COOLING[cooling]
    return dict(
        usd_per_th_hour=usd_per_th_hour,
        temp_c=temp,
        price_usd_per_mwh=price,
        pue0=np.tile(COOLING[:, 4], (n_sites, 1)),
        pue_slope=np.tile(COOLING[:, 5], (n_sites, 1)),
        pue_ref_c=np.tile(COOLING[:, 6], (n_sites, 1)),
        site=site,
        cooling=cooling,
        klass=klass,
        hashrate_ths=hashrate,
        power_kw=power,
        availability=rng.uniform(0.95, 0.99, n_machines),
        alpha_per_c=c[:, 0],
        beta_per_c=c[:, 1],
        t_ref_c=c[:, 2],
        t_max_c=c[:, 3] + rng.uniform(-1.0, 1.0, n_machines),
        hosted=rng.random(n_machines) < 0.15,
        hosting_usd_per_mwh=np.full(n_machines, 65.0),
        n_classes=n_sites * len(MODELS) * BANDS,
    )


def numpy_in_chunks(args: dict, chunk: int = NUMPY_CHUNK_MACHINES):
    """The numpy twin over chunks of machines; class sums added, machine totals joined."""
    from kernels import reference

    n = len(args["site"])
    per_machine = [k for k, v in args.items() if isinstance(v, np.ndarray) and v.shape == (n,)]
    revenue = energy = None
    machine_parts = []
    for start in range(0, n, chunk):
        part = dict(args)
        for k in per_machine:
            part[k] = args[k][start : start + chunk]
        out = reference.score_asics(**part)
        revenue = out.revenue_usd if revenue is None else revenue + out.revenue_usd
        energy = out.energy_mwh if energy is None else energy + out.energy_mwh
        machine_parts.append(out[2:])
    machine = [np.concatenate(p) for p in zip(*machine_parts, strict=True)]
    return revenue, energy, *machine


def python_loops(args: dict) -> tuple[list, list]:
    """The fused kernel as plain Python loops over lists (class sums and machine totals)."""
    usd = args["usd_per_th_hour"].tolist()
    temp = args["temp_c"].tolist()
    price = args["price_usd_per_mwh"].tolist()
    n_sites, n_hours = len(temp), len(usd)
    n_cool = args["pue0"].shape[1]
    pue = [
        [
            [
                args["pue0"][s, q]
                + args["pue_slope"][s, q] * max(0.0, temp[s][t] - args["pue_ref_c"][s, q])
                for t in range(n_hours)
            ]
            for q in range(n_cool)
        ]
        for s in range(n_sites)
    ]
    revenue = [[0.0] * n_hours for _ in range(args["n_classes"])]
    energy = [[0.0] * n_hours for _ in range(args["n_classes"])]
    totals = []
    cols = [
        args[k].tolist()
        for k in (
            "site",
            "cooling",
            "klass",
            "hashrate_ths",
            "power_kw",
            "availability",
            "alpha_per_c",
            "beta_per_c",
            "t_ref_c",
            "t_max_c",
            "hosted",
            "hosting_usd_per_mwh",
        )
    ]
    for s, q, c, h, w, av, al, be, tr, tm, hosted, hr in zip(*cols, strict=True):
        rev_c, en_c, temp_s, price_s, pue_sq = revenue[c], energy[c], temp[s], price[s], pue[s][q]
        rev = en = 0.0
        in_money = n_on = 0
        breakeven = 0.0
        for t in range(n_hours):
            tc = temp_s[t]
            if tc > tm:
                continue
            dt = max(0.0, tc - tr)
            e = w * (1.0 + be * dt) * pue_sq[t] / 1000.0
            r = hr * e if hosted else h * av * max(0.0, 1.0 - al * dt) * usd[t]
            rev_c[t] += r
            en_c[t] += e
            rev += r
            en += e
            if e > 0.0:
                n_on += 1
                breakeven += r / e
                in_money += r > e * price_s[t]
        totals.append((rev, en, in_money, breakeven / n_on if n_on else math.nan))
    return revenue, energy, totals


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


# --------------------------------------------------------------------------- subprocess probes


def _child(argv: list[str]) -> None:
    """Entry point of the fresh interpreters: ``--child compile`` or ``--child peak M S``."""
    if argv[0] == "compile":
        t0 = time.perf_counter()
        from kernels import revenue

        t_import = time.perf_counter() - t0
        args = synthetic_fleet(50, 2)
        args["usd_per_th_hour"] = args["usd_per_th_hour"][:48]
        for k in ("temp_c", "price_usd_per_mwh"):
            args[k] = np.ascontiguousarray(args[k][:, :48])
        out = {"import_s": t_import}
        for name, fn in (
            ("fused_s", revenue.score_asics),
            ("matrix_s", revenue.score_asics_matrix),
        ):
            t0 = time.perf_counter()
            fn(**args)
            out[name] = time.perf_counter() - t0
        t0 = time.perf_counter()
        k = 2
        revenue.score_gpus(
            args["temp_c"], args["price_usd_per_mwh"], args["pue0"], args["pue_slope"],
            args["pue_ref_c"], np.zeros(k, np.int64), np.zeros(k, np.int64), np.full(k, 10.0),
            np.full(k, 9.0), np.array([False, True]), np.full(k, 8.0), np.full((k, 48), 2.0),
            np.full(k, 0.9), np.full(k, 150.0), np.array([True, False]), np.full(k, 0.01),
            np.full(k, 30.0), np.full(k, 45.0),
        )  # fmt: skip
        out["gpu_s"] = time.perf_counter() - t0
        print(json.dumps(out))
    elif argv[0] == "peak":
        n_machines, n_sites = int(argv[1]), int(argv[2])
        from kernels import revenue

        args = synthetic_fleet(n_machines, n_sites)
        before = _peak_rss_mb()
        revenue.score_asics(**args)
        print(
            json.dumps(
                {
                    "before_kernel_mb": before,
                    "peak_rss_mb": _peak_rss_mb(),
                    "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
                }
            )
        )


def _peak_rss_mb() -> float:
    """Peak resident set size of this process [MB].

    ``ru_maxrss`` survives fork + exec on Linux (the kernel keeps the larger of the parent's
    high-water mark and the child's), so a child of a big benchmark process would report the
    parent's peak; ``VmHWM`` in /proc/self/status belongs to the child's own address space.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _run_child(argv: list[str], env: dict | None = None) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", *argv]
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True, cwd=ROOT)
    return json.loads(done.stdout.strip().splitlines()[-1])


def compile_times() -> dict:
    with tempfile.TemporaryDirectory(prefix="numba-cache-") as cache:
        cold = _run_child(["compile"], env={"NUMBA_CACHE_DIR": cache})
        warm = _run_child(["compile"], env={"NUMBA_CACHE_DIR": cache})
    return {"cold": cold, "warm": warm}


# --------------------------------------------------------------------------- main


def machine_info() -> dict:
    import numba

    model = platform.processor()
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "numba_threads": numba.get_num_threads(),
        "numba": numba.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="write the results to this JSON file")
    parser.add_argument("--quick", action="store_true", help="small sizes only (< 30 s)")
    parser.add_argument("--threads", type=int, help="numba threads (default: all)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    ns = parser.parse_args(argv)
    if ns.child:
        _child(ns.child)
        return 0

    import numba

    from kernels import revenue

    if ns.threads:
        numba.set_num_threads(ns.threads)
    info = machine_info()
    sizes = [1_000, 10_000] if ns.quick else [1_000, 10_000, 100_000]
    numpy_max = 1_000 if ns.quick else 10_000
    python_machines = 20 if ns.quick else 100
    print(f"machine: {info['cpu']}, {info['cores']} cores, numba {info['numba']} "
          f"({info['numba_threads']} threads), numpy {info['numpy']}")  # fmt: skip

    rows = []
    for n_sites in (1, 3):
        for n in sizes:
            args = synthetic_fleet(n, n_sites)
            mh = n * HOURS
            revenue.score_asics(**args)  # compile or load from cache
            reps = 3 if n >= 100_000 else 5
            row = {"machines": n, "sites": n_sites, "classes": args["n_classes"]}
            row["machine_hours"] = mh
            row["fused_s"] = best_of(lambda a=args: revenue.score_asics(**a), reps)
            row["fused_mhps"] = mh / row["fused_s"]
            threads = numba.get_num_threads()
            numba.set_num_threads(1)
            row["fused_1thread_mhps"] = mh / best_of(lambda a=args: revenue.score_asics(**a), reps)
            numba.set_num_threads(threads)
            if n <= MATRIX_MAX_MACHINES:
                revenue.score_asics_matrix(**args)
                row["matrix_mhps"] = mh / best_of(lambda a=args: revenue.score_asics_matrix(**a), 2)
            if n <= numpy_max:
                row["numpy_mhps"] = mh / best_of(lambda a=args: numpy_in_chunks(a), 2)
                row["speedup_vs_numpy"] = row["fused_mhps"] / row["numpy_mhps"]
            row.update(_run_child(["peak", str(n), str(n_sites)]))
            rows.append(row)
            print(
                f"  {n:>7,} machines x {HOURS} h, {n_sites} site(s), {row['classes']} classes: "
                f"fused {row['fused_mhps']:.3g} mh/s ({row['fused_s'] * 1e3:.1f} ms), "
                f"peak {row['peak_rss_mb']:.0f} MB",
                flush=True,
            )

    small = synthetic_fleet(python_machines, 1)
    t0 = time.perf_counter()
    python_loops(small)
    python_mhps = python_machines * HOURS / (time.perf_counter() - t0)

    compile_s = compile_times()

    print()
    header = (
        f"{'machines':>9} {'sites':>5} {'classes':>7} | {'fused':>9} {'fused 1t':>9} "
        f"{'matrix':>9} {'numpy':>9} {'x numpy':>8} | {'peak MB':>8}"
    )
    print(
        "machine-hours per second (best of repeats); "
        f"numpy twin in chunks of {NUMPY_CHUNK_MACHINES} machines"
    )
    print(header)
    print("-" * len(header))

    def fmt(x, spec=".3g"):
        return format(x, spec) if x is not None else "-"

    for r in rows:
        print(
            f"{r['machines']:>9,} {r['sites']:>5} {r['classes']:>7} | "
            f"{fmt(r['fused_mhps']):>9} {fmt(r['fused_1thread_mhps']):>9} "
            f"{fmt(r.get('matrix_mhps')):>9} {fmt(r.get('numpy_mhps')):>9} "
            f"{fmt(r.get('speedup_vs_numpy'), '.0f'):>8} | {r['peak_rss_mb']:>8.0f}"
        )
    print(f"pure Python loops, {python_machines} machines x {HOURS} h: {python_mhps:.3g} mh/s")
    cold, warm = compile_s["cold"], compile_s["warm"]
    print(
        f"first call in a fresh interpreter (s): fused {cold['fused_s']:.2f} cold / "
        f"{warm['fused_s']:.2f} cached; matrix {cold['matrix_s']:.2f} / {warm['matrix_s']:.2f}; "
        f"gpu {cold['gpu_s']:.2f} / {warm['gpu_s']:.2f}; import {warm['import_s']:.2f}"
    )

    largest = max(rows, key=lambda r: (r["machines"], r["sites"]))
    compared = [r for r in rows if "speedup_vs_numpy" in r]
    at_numpy = max(compared, key=lambda r: (r["machines"], r["sites"]))
    result = {
        "machine": info,
        "fused_machine_hours_per_s": largest["fused_mhps"],
        "fused_at": {"machines": largest["machines"], "sites": largest["sites"]},
        "fused_1thread_machine_hours_per_s": largest["fused_1thread_mhps"],
        "numpy_machine_hours_per_s": at_numpy["numpy_mhps"],
        "speedup_vs_numpy": at_numpy["speedup_vs_numpy"],
        "speedup_at": {"machines": at_numpy["machines"], "sites": at_numpy["sites"]},
        "python_machine_hours_per_s": python_mhps,
        "speedup_vs_python": largest["fused_mhps"] / python_mhps,
        "compile_s": cold["fused_s"],
        "compile_cached_s": warm["fused_s"],
        "compile": compile_s,
        "peak_rss_mb": largest["peak_rss_mb"],
        "numpy_chunk_machines": NUMPY_CHUNK_MACHINES,
        "rows": rows,
    }
    if ns.json:
        ns.json.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {ns.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
