"""Benchmark of the allocation LP: build and solve time vs hours and classes, both backends.

Run from the repository root::

    python benchmarks/lp.py [--json FILE] [--quick]

A synthetic one-site scenario (a 100 MW interconnect, curtailment orders, coincident-peak
flags, a 60 MW PPA with resale, a monthly minimum take, a firm colocation lease and owned
cloud GPUs) is planned for 720 to 17,520 hours with 5 to 50 ASIC classes (one model per
class, 12-35 J/TH). For each size:

- ``kernel``: :func:`optimizer.score.score_scenario` (warm numba cache);
- ``build``: :func:`optimizer.lp.data.lp_data` + :func:`optimizer.lp.formulation.build_lp` (sparse blocks);
- ``highs``: the HiGHS solve (``passModel`` + ``run``), default threads and ``threads=1``
  (what studies use);
- ``pulp``: rendering the LP as a PuLP problem and solving it with CBC, on the smaller sizes
  only (CBC through PuLP writes and parses an MPS file; see README);
- ``plan``: ``plan_scenario`` end to end (kernel + build + solve + reading back).

Figures are the best of ``--repeat`` runs. ``--quick``: 720-4,380 hours, 5-20 classes. The
end-to-end ``hashpivot plan`` on the built-in example is timed in a fresh interpreter (warm
numba cache), best of 3.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

HOURS = (720, 2190, 4380, 8760, 17520)
CLASSES = (5, 20, 50)
PULP_MAX_CELLS = 20 * 4380  # classes x hours above which PuLP/CBC is skipped


def synthetic_doc(hours: int, n_classes: int, seed: int = 1) -> dict:
    """A one-site scenario document with ``n_classes`` ASIC classes and array series."""
    rng = np.random.default_rng(seed)
    t = np.arange(hours)
    daily = 8.0 * np.sin(2 * np.pi * (t % 24 - 9) / 24)
    seasonal = 10.0 * np.sin(2 * np.pi * (t / 8760.0 - 0.3))
    noise = np.zeros(hours)
    shocks = rng.normal(0.0, 6.0, hours)
    for i in range(1, hours):  # AR(1) noise; a few thousand steps, negligible here
        noise[i] = 0.9 * noise[i - 1] + shocks[i]
    price = 35.0 + daily + seasonal + noise
    spikes = rng.random(hours) < 0.004
    price[spikes] += rng.uniform(300, 4000, spikes.sum())
    price = np.maximum(price, -40.0)
    curtail = np.where(rng.random(hours) < 0.01, rng.choice([10.0, 25.0, 40.0], hours), 0.0)
    peaks = (rng.random(hours) < 0.01).astype(float)
    temp = 20.0 + 12.0 * np.sin(2 * np.pi * (t / 8760.0 - 0.3)) + 6 * np.sin(2 * np.pi * t / 24)
    fleet = []
    for c in range(n_classes):
        eff = 12.0 + 23.0 * c / max(n_classes - 1, 1)  # J/TH
        hashrate = 150.0 + 10.0 * (c % 7)
        fleet.append(
            {
                "site": "west",
                "model": f"M{c:02d}",
                "count": int(80_000 / n_classes / (hashrate * eff / 1000.0) * 1.0),
                "hashrate_ths": hashrate,
                "power_kw": hashrate * eff / 1000.0,
            }
        )
    return {
        "scenario": {
            "name": f"bench-{hours}h-{n_classes}c",
            "start": "2026-01-01T00:00:00Z",
            "hours": hours,
            "seed": seed,
        },
        "market": {
            "btc_price_usd": 90000.0,
            "network_hashrate_ehs": 1100.0,
            "fees_btc_per_block": 0.03,
            "height": 925000,
            "pool_fee": 0.02,
        },
        "sites": [
            {
                "name": "west",
                "interconnect_mw": 100.0,
                "mining_hall_mw": 100.0,
                "convertible_mw": 60.0,
                "conversion_usd_per_mw": 9e6,
                "price_usd_per_mwh": price,
                "temp_c": temp,
                "curtailment_mw": curtail,
                "peak_flag": peaks,
                "peak_adder_usd_per_mwh": 500.0,
                "min_take_mwh_per_month": 20000.0,
                "shortfall_usd_per_mwh": 15.0,
            }
        ],
        "fleet": fleet,
        "gpus": [
            {
                "name": "tenant",
                "site": "west",
                "model": "H100 x8",
                "max_servers": 3922,
                "pricing": "colocation",
                "lease_usd_per_kw_month": 150.0,
                "power_pass_through": True,
                "service": "firm",
            },
            {
                "name": "own",
                "site": "west",
                "model": "H100 x8",
                "max_servers": 200,
                "pricing": "cloud",
                "rate_usd_per_gpu_hour": 2.1,
                "utilization": 0.85,
                "service": "interruptible",
                "capex_usd_per_server": 250000.0,
                "life_years": 5.0,
            },
        ],
        "leases": [
            {
                "name": "tenant",
                "site": "west",
                "gpus": ["tenant"],
                "min_mw": 10.0,
                "max_mw": 40.0,
                "sla_penalty_usd_per_mwh": 300.0,
            }
        ],
        "ppas": [
            {
                "site": "west",
                "block_mw": 60.0,
                "price_usd_per_mwh": 38.0,
                "resale": True,
                "resale_fee": 0.02,
            }
        ],
    }


def best(fn, repeat: int) -> tuple[float, object]:
    out, times = None, []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def measure(hours: int, n_classes: int, repeat: int, pulp: bool) -> dict:
    from models import build_scenario
    from optimizer.lp.backends import pulp_problem, solve_lp
    from optimizer.lp.data import lp_data
    from optimizer.lp.formulation import build_lp
    from optimizer.plan import plan_scenario
    from optimizer.score import score_scenario

    scenario = build_scenario(synthetic_doc(hours, n_classes), source="<bench>")
    assert len(scenario.classes) == n_classes
    kernel_s, scores = best(lambda: score_scenario(scenario), repeat)
    build_s, lp = best(lambda: build_lp(lp_data(scenario, scores)), repeat)
    highs_s, sol = best(lambda: solve_lp(lp), repeat)
    highs1_s, sol1 = best(lambda: solve_lp(lp, threads=1), repeat)
    solve_lp(lp)  # back to the default scheduler
    plan_s, plan = best(lambda: plan_scenario(scenario, scores=scores), repeat)
    row = {
        "hours": hours,
        "classes": n_classes,
        "columns": lp.n_cols,
        "rows": lp.n_rows,
        "nonzeros": int(lp.matrix.nnz),
        "kernel_s": kernel_s,
        "build_s": build_s,
        "highs_solve_s": highs_s,
        "highs_solve_1thread_s": highs1_s,
        "plan_s": plan_s,
        "build_over_solve": build_s / highs_s,
        "margin_usd": plan.summary["margin_usd"],
        "pulp_render_s": None,
        "pulp_solve_s": None,
        "pulp_rel_diff": None,
    }
    assert abs(sol1.objective - sol.objective) <= 1e-6 * abs(sol.objective)
    if pulp:
        render_s, _ = best(lambda: pulp_problem(lp), 1)
        t0 = time.perf_counter()
        psol = solve_lp(lp, backend="pulp")
        row["pulp_render_s"] = render_s
        row["pulp_solve_s"] = time.perf_counter() - t0 - render_s
        row["pulp_rel_diff"] = abs(psol.objective - sol.objective) / abs(sol.objective)
    return row


def end_to_end(repeat: int = 3) -> dict:
    """``hashpivot plan`` on the built-in example in a fresh interpreter (warm numba cache)."""
    times = []
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    code = "from optimizer.cli import run; run()"
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(repeat + 1):  # the first run fills the numba cache
            t0 = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-c", code, "plan", "--out", tmp],
                env=env,
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
            )
            if i:
                times.append(time.perf_counter() - t0)
        summary = json.loads(Path(tmp, "summary.json").read_text())
    return {
        "wall_s": min(times),
        "stages_s": summary["seconds"],
        "margin_usd": summary["margin_usd"],
        "hpc_mw_converted": summary["hpc_mw_converted"],
        "stderr": proc.stderr,
    }


def machine() -> str:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import pulp

    return (
        f"{model}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"HiGHS {_highs_version()}, PuLP {pulp.__version__}"
    )


def _highs_version() -> str:
    import highspy

    core = getattr(highspy, "_Highs", None)
    return core().version() if core is not None else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, help="Also write the results as JSON.")
    parser.add_argument("--quick", action="store_true", help="Small sizes only.")
    parser.add_argument("--repeat", type=int, default=3, help="Repeats per figure (best).")
    args = parser.parse_args()
    hours = HOURS[:3] if args.quick else HOURS
    classes = CLASSES[:2] if args.quick else CLASSES
    rows = []
    print(machine())
    print(
        f"{'hours':>6} {'cls':>4} {'cols':>8} {'rows':>8} {'nnz':>9} {'kernel':>7} {'build':>7}"
        f" {'highs':>7} {'highs1t':>7} {'b/s':>5} {'plan':>7} {'pulp':>8} {'reldiff':>8}"
    )
    for h in hours:
        for c in classes:
            row = measure(h, c, args.repeat, pulp=h * c <= PULP_MAX_CELLS)
            rows.append(row)
            pulp_s = (
                f"{row['pulp_render_s'] + row['pulp_solve_s']:8.2f}"
                if row["pulp_solve_s"] is not None
                else f"{'-':>8}"
            )
            diff = (
                f"{row['pulp_rel_diff']:8.1e}" if row["pulp_rel_diff"] is not None else f"{'-':>8}"
            )
            print(
                f"{h:>6} {c:>4} {row['columns']:>8} {row['rows']:>8} {row['nonzeros']:>9}"
                f" {row['kernel_s']:7.3f} {row['build_s']:7.3f} {row['highs_solve_s']:7.2f}"
                f" {row['highs_solve_1thread_s']:7.2f} {row['build_over_solve']:5.2f}"
                f" {row['plan_s']:7.2f} {pulp_s} {diff}",
                flush=True,
            )
    e2e = end_to_end()
    print(f"hashpivot plan (built-in example), fresh interpreter: {e2e['wall_s']:.2f} s")
    print(e2e["stderr"].rstrip())
    if args.json:
        args.json.write_text(
            json.dumps({"machine": machine(), "sizes": rows, "end_to_end": e2e}, indent=2) + "\n"
        )


if __name__ == "__main__":
    main()
