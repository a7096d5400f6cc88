"""Benchmark of the decomposed solver against the monolithic LP (issue 10's targets).

Run from the repository root::

    python benchmarks/decomposed.py [--json FILE] [--quick] [--paths 1000]

On the built-in example without its revenue stack (``example_doc(revenue_stack=False)``: the
ancillary offers are not covered by the decomposition, docs/model.md §5.8), one year hourly:

- ``prices``: at BTC 50k-150k, the LP solve by decomposition (best of 3) and by monolithic
  HiGHS in the same run, with the tuned options (presolve on, Devex) and with presolve off and
  scaling off (``simplex_scale_strategy = 0``), their objectives and the ratio;
- ``points``: the same at 90k and 150k with the S21 XPs' operating points (the class runs on
  its concave envelope, docs/model.md §5.8);
- ``two_years``: the decomposed solve of two years at 150k against one year;
- ``plan_cli``: ``hashpivot plan`` end to end (charts and report on) in a fresh interpreter,
  warm numba cache, best of 3, at 90k and 150k;
- ``monte_carlo``: a Monte Carlo study of ``--paths`` year-long BTC/difficulty paths on 2
  workers (``optimizer.api.run_study``, method auto = decomposed, kernel reused per worker).

The 40-scenario grid is ``benchmarks/study.py`` (it uses the same covered example).
"""

from __future__ import annotations

import argparse
import json
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

from models import build_scenario  # noqa: E402
from models.documents import set_field  # noqa: E402
from models.example import example_doc, example_text  # noqa: E402
from optimizer.lp import backends  # noqa: E402
from optimizer.lp.data import lp_data  # noqa: E402
from optimizer.lp.decomposed import solve_decomposed  # noqa: E402
from optimizer.lp.formulation import build_lp  # noqa: E402
from optimizer.score import score_scenario  # noqa: E402

PRICES = (50_000, 70_000, 90_000, 120_000, 150_000)


def core_example_text() -> str:
    """The example's TOML without operating points and ancillary offers (what the
    decomposition covers), series inline as synthetic generators."""
    text = example_text()
    text = "\n".join(ln for ln in text.splitlines() if not ln.startswith("operating_points"))
    return text[: text.index("# Ancillary services")]


def lp_of(btc: float, hours: int = 8760, points: bool = False):
    doc = set_field(
        set_field(example_doc(revenue_stack=False), "market.btc_price_usd", btc),
        "scenario.hours",
        hours,
    )
    if points:  # the S21 XPs' firmware presets (covered since the envelope segments)
        doc["fleet"][0]["operating_points"] = example_doc()["fleet"][0]["operating_points"]
    s = build_scenario(doc, source="<benchmark>")
    d = lp_data(s, score_scenario(s))
    return d, build_lp(d)


def best_of(fn, repeat: int):
    out, times = None, []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def monolithic(lp, tuned: bool = True) -> tuple[float, float]:
    """Seconds and objective of a monolithic HiGHS solve; ``tuned=False``: presolve off and
    scaling off instead of the defaults."""
    if tuned:
        t0 = time.perf_counter()
        sol = backends.solve_lp(lp, threads=1)
        return time.perf_counter() - t0, sol.objective
    h = backends.new_highs()
    h.setOptionValue("threads", 1)
    h.setOptionValue("presolve", "off")
    h.setOptionValue("simplex_scale_strategy", 0)
    h.setOptionValue("simplex_dual_edge_weight_strategy", backends.DUAL_EDGE_WEIGHT_DEVEX)
    h.passModel(backends.highs_model(lp))
    t0 = time.perf_counter()
    h.run()
    return time.perf_counter() - t0, h.getInfo().objective_function_value


def prices(repeat: int, quick: bool, points: bool = False) -> list[dict]:
    rows = []
    for btc in PRICES if not quick else (90_000, 150_000):
        d, lp = lp_of(btc, points=points)
        solve_decomposed(d, lp)  # compile / warm
        dec_s, (sol, info) = best_of(lambda d=d, lp=lp: solve_decomposed(d, lp), repeat)
        mono_s, mono_obj = monolithic(lp)
        raw_s, raw_obj = monolithic(lp, tuned=False) if not quick else (np.nan, np.nan)
        rows.append(
            {
                "btc_usd": btc,
                "decomposed_s": dec_s,
                "iterations": info.iterations,
                "passes": info.passes,
                "gap": info.gap,
                "monolithic_s": mono_s,
                "monolithic_presolve_off_scale_off_s": raw_s,
                "speedup": mono_s / dec_s,
                "rel_diff": abs(sol.objective - mono_obj) / abs(mono_obj),
                "rel_diff_untuned": abs(raw_obj - mono_obj) / abs(mono_obj),
            }
        )
        print(
            f"BTC {btc:>7,}: decomposed {dec_s:6.3f} s ({info.iterations} master solves, "
            f"{info.passes} passes, gap {info.gap:.1e}) | HiGHS {mono_s:6.2f} s, "
            f"presolve+scaling off {raw_s:6.2f} s | {mono_s / dec_s:5.0f}x | "
            f"objective rel. diff {rows[-1]['rel_diff']:.1e}",
            flush=True,
        )
    return rows


def two_years(repeat: int) -> dict:
    out = {}
    for hours in (8760, 17520):
        d, lp = lp_of(150_000, hours)
        solve_decomposed(d, lp)
        out[hours], _ = best_of(lambda d=d, lp=lp: solve_decomposed(d, lp), repeat)
    ratio = out[17520] / out[8760]
    print(f"two years at 150k: {out[17520]:.3f} s vs one year {out[8760]:.3f} s: {ratio:.2f}x")
    return {"one_year_s": out[8760], "two_years_s": out[17520], "ratio": ratio}


def plan_cli(tmp: Path) -> dict:
    out = {}
    for btc in (90_000, 150_000):
        path = tmp / f"core-{btc}.toml"
        path.write_text(
            core_example_text().replace("btc_price_usd = 90000", f"btc_price_usd = {btc}")
        )
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "optimizer",
                    "plan",
                    str(path),
                    "--out",
                    str(tmp / "out"),
                    "-q",
                ],
                cwd=ROOT,
                check=True,
            )
            times.append(time.perf_counter() - t0)
        out[btc] = min(times)
        print(
            f"hashpivot plan (charts, report, whole servers) at {btc:,}: {out[btc]:.2f} s",
            flush=True,
        )
    return out


def monte_carlo(tmp: Path, paths: int) -> dict:
    from optimizer.api import run_study
    from optimizer.study.definition import parse_study

    base = tmp / "core.toml"
    base.write_text(core_example_text())
    study = parse_study(
        {
            "study": {"name": "bench-mc", "base": str(base)},
            "monte_carlo": {"paths": paths, "seed": 1, "sigma": 0.5, "hashrate_vol": 0.2},
        },
        source="<benchmark>",
    )
    t0 = time.perf_counter()
    run = run_study(study, tmp / "mc", workers=2, charts=False)
    wall = time.perf_counter() - t0
    rows = run.results if hasattr(run, "results") else None
    print(f"Monte Carlo {paths} year-long paths on 2 workers: {wall:.1f} s", flush=True)
    return {"paths": paths, "wall_s": wall, "rows": None if rows is None else len(rows)}


def machine() -> str:
    try:
        model = next(
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        )
    except (OSError, StopIteration):
        model = platform.processor()
    return f"{model}, {len(Path('/proc/cpuinfo').read_text().split('processor')) - 1} vCPUs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, help="Also write the results as JSON.")
    parser.add_argument("--quick", action="store_true", help="Two prices, no slow parts.")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--paths", type=int, default=1000, help="Monte Carlo paths (0: skip).")
    args = parser.parse_args()
    print(f"machine: {machine()}; python {platform.python_version()}", flush=True)
    results: dict = {"machine": machine(), "prices": prices(args.repeat, args.quick)}
    print("with the S21 XPs' operating points:", flush=True)
    results["points"] = prices(args.repeat, quick=True, points=True)
    results["two_years"] = two_years(args.repeat)
    with tempfile.TemporaryDirectory() as tmp:
        results["plan_cli_s"] = plan_cli(Path(tmp))
        if args.paths and not args.quick:
            results["monte_carlo"] = monte_carlo(Path(tmp), args.paths)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=float))


if __name__ == "__main__":
    main()
