"""Write ``hashpivot score`` results: per-machine totals, per-class hourly sums, heat map."""

from __future__ import annotations

from pathlib import Path

from models import Scenario
from optimizer.report.charts import margin_heatmap
from optimizer.report.files import atomic_write, staged_folder
from optimizer.score import Scores, score_class_hours

SCORE_FILES = (
    "machines.csv",
    "operating_points.csv",
    "margin_by_class.png",
    "class_hours.parquet",
)


def write_scores(scenario: Scenario, scores: Scores, out_dir: str | Path) -> list[Path]:
    """Write ``machines.csv``, ``operating_points.csv`` (classes with operating points),
    ``class_hours.parquet`` and ``margin_by_class.png`` to ``out_dir``, all or none: into a temporary folder first, then moved in together
    (:func:`optimizer.report.files.staged_folder`, ``class_hours.parquet`` last)."""
    out = Path(out_dir)
    written = []
    class_hours = score_class_hours(scenario, scores)
    with staged_folder(out, marker="class_hours.parquet", known=SCORE_FILES) as stage:
        if len(scores.machines):
            atomic_write(
                stage / "machines.csv", lambda tmp: scores.machines.to_csv(tmp, index=False)
            )
            written.append("machines.csv")
        if len(scores.operating_points):
            atomic_write(
                stage / "operating_points.csv",
                lambda tmp: scores.operating_points.to_csv(tmp, index=False),
            )
            written.append("operating_points.csv")
        written.append(margin_heatmap(class_hours, stage / "margin_by_class.png").name)
        atomic_write(
            stage / "class_hours.parquet", lambda tmp: class_hours.to_parquet(tmp, index=False)
        )
        written.append("class_hours.parquet")
    return [out / name for name in written]
