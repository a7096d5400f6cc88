"""Write ``hashpivot score`` results: per-machine totals, per-class hourly sums, heat map."""

from __future__ import annotations

from pathlib import Path

from models import Scenario
from optimizer.report.charts import margin_heatmap
from optimizer.report.files import atomic_write
from optimizer.score import Scores, score_class_hours


def write_scores(scenario: Scenario, scores: Scores, out_dir: str | Path) -> list[Path]:
    """Write ``machines.csv``, ``class_hours.parquet`` and ``margin_by_class.png`` to ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    if len(scores.machines):
        atomic_write(out / "machines.csv", lambda tmp: scores.machines.to_csv(tmp, index=False))
        written.append(out / "machines.csv")
    class_hours = score_class_hours(scenario, scores)
    atomic_write(out / "class_hours.parquet", lambda tmp: class_hours.to_parquet(tmp, index=False))
    written.append(out / "class_hours.parquet")
    written.append(margin_heatmap(class_hours, out / "margin_by_class.png"))
    return written
