"""Files of ``hashpivot score``: per-machine totals, per-class hourly sums, margin heat map."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from models import Scenario
from optimizer.score import Scores


def class_hours_frame(scenario: Scenario, scores: Scores) -> pd.DataFrame:
    """Per class and hour (long form): revenue, energy and margin at spot if the whole class runs.

    GPU classes count all ``max_servers`` servers; capex and conversion costs are not included.
    """
    s = scenario
    price = s.site_matrix("price_usd_per_mwh")
    rows = []
    for c, cls in enumerate(s.classes):
        rows.append(
            (
                cls.name,
                "hosted" if cls.hosted else "asic",
                cls.site,
                scores.asic_revenue_usd[c],
                scores.asic_energy_mwh[c],
            )
        )
    for k, g in enumerate(s.gpus):
        rows.append(
            (
                g.name,
                "gpu",
                g.site,
                scores.gpu_revenue_usd[k] * g.max_servers,
                scores.gpu_energy_mwh[k] * g.max_servers,
            )
        )
    frames = []
    for name, kind, site, revenue, energy in rows:
        frames.append(
            pd.DataFrame(
                {
                    "time": s.index,
                    "class": name,
                    "kind": kind,
                    "site": s.sites[site].name,
                    "revenue_usd": revenue,
                    "energy_mwh": energy,
                    "energy_cost_usd": energy * price[site],
                    "margin_usd": revenue - energy * price[site],
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def margin_heatmap(class_hours: pd.DataFrame, path: Path) -> Path:
    """Class x month heat map of margin at spot price [USD thousand], diverging around zero."""
    monthly = (
        class_hours.assign(month=class_hours["time"].dt.strftime("%Y-%m")).pivot_table(
            index="class", columns="month", values="margin_usd", aggfunc="sum", sort=False
        )
        / 1000.0
    )
    lim = float(np.nanmax(np.abs(monthly.to_numpy()))) or 1.0
    fig, ax = plt.subplots(
        figsize=(max(8, 0.7 * monthly.shape[1] + 4), 0.45 * monthly.shape[0] + 2)
    )
    im = ax.imshow(monthly.to_numpy(), cmap="RdYlGn", vmin=-lim, vmax=lim, aspect="auto")
    ax.set_xticks(range(monthly.shape[1]), monthly.columns, rotation=45, ha="right")
    ax.set_yticks(range(monthly.shape[0]), monthly.index)
    for (i, j), v in np.ndenumerate(monthly.to_numpy()):
        ax.text(j, i, f"{v:,.0f}", ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=ax, label="margin at spot, USD thousand per month")
    ax.set_title("Margin by class and month if every machine ran every hour (no capex)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_scores(scenario: Scenario, scores: Scores, out_dir: str | Path) -> list[Path]:
    """Write ``machines.csv``, ``class_hours.parquet`` and ``margin_by_class.png`` to ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    if len(scores.machines):
        scores.machines.to_csv(out / "machines.csv", index=False)
        written.append(out / "machines.csv")
    class_hours = class_hours_frame(scenario, scores)
    class_hours.to_parquet(out / "class_hours.parquet", index=False)
    written.append(out / "class_hours.parquet")
    written.append(margin_heatmap(class_hours, out / "margin_by_class.png"))
    return written
