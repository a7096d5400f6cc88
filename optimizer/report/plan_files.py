"""Write a :class:`~optimizer.plan.Plan` to files: plan.csv, P&L tables, summary.json, charts,
plan.xlsx and report.html.

- ``plan.csv``: one row per site-hour (:attr:`Plan.site_hours` and the hour's USD by stream,
  margin, hashrate and BTC: :func:`optimizer.report.money.plan_hours`), times as ``...Z``
  UTC, and with ``tz`` a ``local_time`` column (``2025-12-31T18:00:00-06:00``);
- ``monthly.csv``, ``sites.csv``: P&L by stream per calendar month (UTC) and per site, BTC
  mined and mean hashprice per month (:mod:`optimizer.report.money`);
- ``classes.csv`` (when asked): one row per class-hour (:attr:`Plan.class_hours`);
- ``gpus.csv``: per GPU class, installed / firm / interruptible servers, LP and whole;
- ``summary.json``: :meth:`PlanSummary.to_dict` with the report's own time;
- ``allocation.png``, ``duals.png``, ``monthly_pnl.png``: :mod:`optimizer.report.charts`;
- ``plan.xlsx`` (with openpyxl, ``pip install hashpivot[excel]``):
  :mod:`optimizer.report.excel`;
- ``report.html``: one self-contained page (:mod:`optimizer.report.html`);

and the LP itself (``--write-lp``, :func:`write_model`) for inspection.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from optimizer.errors import OutputError, SolverError
from optimizer.lp.backends import highs_model, new_highs, pulp_problem
from optimizer.lp.model import Lp
from optimizer.plan import Plan
from optimizer.report.charts import allocation_chart, duals_chart, monthly_pnl_chart
from optimizer.report.excel import excel_available, write_excel
from optimizer.report.files import make_dir, staged_folder, write_csv, write_json
from optimizer.report.html import write_html
from optimizer.report.money import (
    add_whole_servers,
    check_tz,
    gpu_table,
    monthly_pnl,
    plan_hours,
    site_pnl,
)

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
#: Every file a report may hold; ``summary.json`` goes in last and says the set is complete.
REPORT_FILES = (
    "plan.csv",
    "monthly.csv",
    "sites.csv",
    "gpus.csv",
    "classes.csv",
    "allocation.png",
    "duals.png",
    "monthly_pnl.png",
    "plan.xlsx",
    "report.html",
    "summary.json",
)


def iso_local(times: pd.Series) -> pd.Series:
    """Zone-aware times as ISO 8601 with their UTC offset, ``2025-12-31T18:00:00-06:00``."""
    naive = times.dt.tz_localize(None)
    minutes = (
        (naive - times.dt.tz_convert("UTC").dt.tz_localize(None)) // pd.Timedelta(minutes=1)
    ).astype(int)
    sign = np.where(minutes < 0, "-", "+")
    hh, mm = np.divmod(np.abs(minutes), 60)
    offset = pd.Series(sign, index=times.index).str.cat(
        [
            pd.Series(hh, index=times.index).map("{:02d}".format),
            pd.Series(mm, index=times.index).map(":{:02d}".format),
        ]
    )
    return naive.dt.strftime("%Y-%m-%dT%H:%M:%S") + offset


#: Columns of small numbers written with 12 significant digits rather than 6 decimals.
SMALL_NUMBER_COLUMNS = ("btc_mined", "btc_earned")


def _csv(frame: pd.DataFrame, path: Path, *, exact: bool = False) -> Path:
    """A frame as CSV: times as UTC ``...Z``, local times with their offset; numbers with 6
    decimals, or (``exact``) as many digits as read back to the same float."""
    out = frame.copy()
    if "time" in out:
        out["time"] = out["time"].dt.strftime(TIME_FORMAT)
    if "local_time" in out:
        out["local_time"] = iso_local(out["local_time"])
    if exact:
        write_csv(path, out)
    else:
        write_csv(
            path, out, float_format="%.6f", formats=dict.fromkeys(SMALL_NUMBER_COLUMNS, "%.12g")
        )
    return path


def write_report(
    plan: Plan,
    out_dir: str | Path,
    *,
    charts: bool = True,
    class_hours: bool = False,
    tz: str | None = None,
    excel: bool = False,
    html: bool = True,
    whole_servers: bool = True,
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
        Also draw ``allocation.png``, ``duals.png`` and ``monthly_pnl.png`` (also embedded in
        ``report.html``).
    class_hours : bool
        Also write ``classes.csv`` (one row per class-hour).
    tz : str, optional
        IANA time zone (``America/Chicago``): adds a ``local_time`` column to ``plan.csv`` and
        the Excel file's hourly sheet.
    excel : bool
        Also write ``plan.xlsx`` (needs openpyxl: ``pip install hashpivot[excel]``; an
        :class:`~optimizer.errors.OutputError` without it).
    html : bool
        Write ``report.html``.
    whole_servers : bool
        Round the GPU servers to whole servers and solve the plan again around them for the
        margin effect of rounding (:func:`optimizer.report.money.add_whole_servers`; one more
        solve when the LP's counts are fractional).

    Returns
    -------
    list[pathlib.Path]
        The files written, ``summary.json`` last.
    """
    out = Path(out_dir)
    check_tz(tz)
    if excel and not excel_available():
        raise OutputError(
            "plan.xlsx needs openpyxl: pip install 'hashpivot[excel]' (or pip install openpyxl)"
        )
    with staged_folder(out, marker="summary.json", known=REPORT_FILES) as stage:
        with plan.timings.stage("report"):
            if whole_servers:
                add_whole_servers(plan)
            hours = plan_hours(plan, tz)
            monthly, sites, gpus = (
                monthly_pnl(plan.summary),
                site_pnl(plan.summary),
                gpu_table(plan),
            )
            paths = [
                _csv(hours, stage / "plan.csv"),
                _csv(monthly, stage / "monthly.csv", exact=True),
                _csv(sites, stage / "sites.csv", exact=True),
                _csv(gpus, stage / "gpus.csv"),
            ]
            if class_hours:
                paths.append(_csv(plan.class_hours, stage / "classes.csv"))
            drawn = []
            if charts:
                drawn.append(allocation_chart(plan, stage / "allocation.png"))
                drawn.append(duals_chart(plan, stage / "duals.png"))
                drawn.append(monthly_pnl_chart(plan, stage / "monthly_pnl.png"))
                paths += drawn
            if excel:
                paths.append(
                    write_excel(
                        plan,
                        stage / "plan.xlsx",
                        hours=hours,
                        monthly=monthly,
                        sites=sites,
                        gpus=gpus,
                        tz=tz,
                    )
                )
            if html:
                paths.append(write_html(plan, stage / "report.html", charts=drawn))
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
