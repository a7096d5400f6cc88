"""Benchmark of ``hashpivot decide`` on the example (10 years x 4 weeks x 100 paths).

Run from the repository root::

    python benchmarks/decide.py [--workers 2] [--paths 100] [--iterations 1]

Writes the example decision into a temporary folder, then times: building the problem
(paths, power-price years, blocks), the first master, and ``--iterations`` L-shaped iterations
of every path-year on ``--workers`` local processes with the HiGHS subproblem
(:func:`optimizer.decide.second_stage.second_stage`); the first iteration is cold (each worker
validates and scores the first block at each week position, then rescales). A full solve takes
the number of iterations the gap needs (15-30 on small cases) plus the VSS, EVPI, frontier and
curve solves.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from models.decision import load_decision
from optimizer.decide.lshaped import Runner, master_inputs
from optimizer.decide.master import Cuts, solve_master
from optimizer.decide.problem import build_problem
from optimizer.report.decide_files import write_example_decision
from optimizer.study.executors import make_executor


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--paths", type=int, default=100)
    ap.add_argument("--iterations", type=int, default=1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = write_example_decision(tmp)[-1]
        path.write_text(path.read_text().replace("count = 100 ", f"count = {args.paths} "))
        t = time.perf_counter()
        problem = build_problem(load_decision(path))
        print(f"build problem: {time.perf_counter() - t:.1f} s", flush=True)
        inputs = master_inputs(problem)
        cuts = Cuts()
        executor = make_executor(args.workers)
        try:
            runner = Runner(executor)
            for it in range(1, args.iterations + 1):
                t = time.perf_counter()
                m = solve_master(cuts=cuts, risk_weight=0.0, **inputs)
                t_master = time.perf_counter() - t
                theta, grad = runner.evaluate(problem, m.x)
                cuts.add(m.x, theta, grad)
                n = problem.n_paths * problem.n_years * len(problem.starts)
                wall = time.perf_counter() - t
                print(
                    f"iteration {it}: master {t_master:.1f} s, {n} week LPs in {wall - t_master:.1f} s "
                    f"({(wall - t_master) / n * args.workers * 1e3:.0f} ms per LP per worker)",
                    flush=True,
                )
        finally:
            executor.shutdown()


if __name__ == "__main__":
    main()
