"""Write a :class:`~optimizer.plan.Plan` to files: plan.csv, gpus.csv, summary.json, charts.

- ``plan.csv``: one row per site-hour (:attr:`Plan.site_hours`), times as ``...Z`` UTC;
- ``classes.csv`` (when asked): one row per class-hour (:attr:`Plan.class_hours`);
- ``gpus.csv``: per GPU class, installed / firm / interruptible servers;
- ``summary.json``: :meth:`PlanSummary.to_dict` with the report's own time;
- ``allocation.png``, ``duals.png``: :mod:`optimizer.report.charts`;

and the LP itself (``--write-lp``, :func:`write_model`) for inspection.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from optimizer.errors import SolverError
from optimizer.lp.backends import highs_model, new_highs, pulp_problem
from optimizer.lp.model import Lp
from optimizer.plan import Plan
from optimizer.report.charts import allocation_chart, duals_chart
from optimizer.report.files import atomic_write, make_dir, staged_folder, write_json

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
#: Every file a report may hold; ``summary.json`` goes in last and says the set is complete.
REPORT_FILES = (
    "plan.csv",
    "gpus.csv",
    "classes.csv",
    "allocation.png",
    "duals.png",
    "summary.json",
)


def _csv(frame: pd.DataFrame, path: Path) -> Path:
    out = frame.copy()
    if "time" in out:
        out["time"] = out["time"].dt.strftime(TIME_FORMAT)
    atomic_write(path, lambda tmp: out.to_csv(tmp, index=False, float_format="%.6f"))
    return path


def write_report(
    plan: Plan, out_dir: str | Path, *, charts: bool = True, class_hours: bool = False
) -> list[Path]:
    """Write the plan's files into ``out_dir`` (created if needed), all or none.

    The files are written into a temporary folder beside ``out_dir`` and moved in together,
    ``summary.json`` last (:func:`optimizer.report.files.staged_folder`): a kill leaves the
    previous report or the new one, never a new ``plan.csv`` next to an old ``summary.json``.

    Parameters
    ----------
    plan : Plan
    out_dir : path
    charts : bool
        Also draw ``allocation.png`` and ``duals.png``.
    class_hours : bool
        Also write ``classes.csv`` (one row per class-hour).

    Returns
    -------
    list[pathlib.Path]
        The files written, ``summary.json`` last.
    """
    out = Path(out_dir)
    with staged_folder(out, marker="summary.json", known=REPORT_FILES) as stage:
        with plan.timings.stage("report"):
            paths = [_csv(plan.site_hours, stage / "plan.csv"), _csv(plan.gpu, stage / "gpus.csv")]
            if class_hours:
                paths.append(_csv(plan.class_hours, stage / "classes.csv"))
            if charts:
                paths.append(allocation_chart(plan, stage / "allocation.png"))
                paths.append(duals_chart(plan, stage / "duals.png"))
        path = stage / "summary.json"
        write_json(path, plan.summary.to_dict(), indent=2)
        paths.append(path)
    return [out / p.name for p in paths]


def write_model(lp: Lp, path: str | Path, backend: str = "highs") -> Path:
    """Write the LP as ``.lp`` or ``.mps`` (by extension), through HiGHS or PuLP.

    Raises
    ------
    SolverError
        Another extension, or the writer failed.
    """
    path = Path(path)
    if path.suffix.lower() not in (".lp", ".mps"):
        raise SolverError(f"--write-lp {path}: expected a .lp or .mps file name")
    make_dir(path.parent)
    if backend == "pulp":
        prob, _, _ = pulp_problem(lp)
        if path.suffix.lower() == ".mps":
            prob.writeMPS(str(path))
        else:
            prob.writeLP(str(path))
        return path
    import highspy

    h = new_highs()
    if h.passModel(highs_model(lp)) == highspy.HighsStatus.kError or (
        h.writeModel(str(path)) == highspy.HighsStatus.kError
    ):
        raise SolverError(f"HiGHS could not write {path}")
    return path
