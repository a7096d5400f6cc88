"""Write what a study's rows say: summary.csv, tipping.csv, risk.json and charts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from optimizer.report.charts import plot_axes, plot_monte_carlo
from optimizer.report.files import write_csv, write_json
from optimizer.study.regimes import risk_summary, tipping_points
from optimizer.study.rows import PATH_AXIS


def write_analysis(
    frame: pd.DataFrame, study, out: str | Path, *, charts: bool = True
) -> tuple[list[Path], pd.DataFrame, dict[str, Any] | None]:
    """Write ``summary.csv``, ``tipping.csv``, ``axes.png`` and, for Monte Carlo, ``risk.json``
    and ``monte_carlo.png`` into ``out``.

    Returns
    -------
    (files, tipping, risk)
    """
    out = Path(out)
    files = []
    write_csv(out / "summary.csv", frame)
    files.append(out / "summary.csv")
    tipping = tipping_points(frame, study.axes)
    if any(a.path != PATH_AXIS and a.numeric for a in study.axes):
        write_csv(out / "tipping.csv", tipping)
        files.append(out / "tipping.csv")
    risk = None
    if study.monte_carlo is not None:
        risk = risk_summary(frame, study.axis_paths)
        write_json(out / "risk.json", risk)
        files.append(out / "risk.json")
    if charts:
        if plot_axes(frame, study.axes, tipping, out / "axes.png"):
            files.append(out / "axes.png")
        if study.monte_carlo is not None and plot_monte_carlo(
            frame, study, out / "monte_carlo.png"
        ):
            files.append(out / "monte_carlo.png")
    return files, tipping, risk
