"""Write a :class:`~optimizer.plan.Plan` to files: plan.csv, summary.json, charts.

- ``plan.csv``: one row per site-hour (:attr:`Plan.site_hours`), times as ``...Z`` UTC;
- ``classes.csv`` (when asked): one row per class-hour (:attr:`Plan.class_hours`);
- ``gpus.csv``: per GPU class, installed / firm / interruptible servers;
- ``summary.json``: :attr:`Plan.summary` with the report's own time;
- ``allocation.png``: stacked site MW (mining, HPC firm, HPC interruptible, curtailed) with the
  spot price on a second axis, one panel per site (daily means beyond three weeks, the hourly
  price as a thin line on a symmetric-log axis so spikes and negative hours both show);
- ``duals.png``: hourly value of one more MW of import per site [USD/MWh].

and, for ``hashpivot score`` (:func:`write_scores`), per-machine totals, per-class hourly sums
and the class x month margin heat map ``margin_by_class.png``.

Charts use the Agg canvas directly (no pyplot state, no display needed).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from models import Scenario
from optimizer.plan import Plan
from optimizer.score import Scores
from optimizer.storage import write_json

#: Beyond this horizon the allocation chart shows daily means [h].
HOURLY_CHART_MAX_HOURS = 24 * 21
STACK = (
    ("mining_mw", "mining", "#f2a900"),
    ("hpc_firm_mw", "HPC firm", "#1f5aa6"),
    ("hpc_interruptible_mw", "HPC interruptible", "#6fa8dc"),
    ("curtailed_mw", "curtailed", "#d9d9d9"),
)
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def _csv(frame: pd.DataFrame, path: Path) -> Path:
    out = frame.copy()
    if "time" in out:
        out["time"] = out["time"].dt.strftime(TIME_FORMAT)
    out.to_csv(path, index=False, float_format="%.6f")
    return path


def write_report(
    plan: Plan, out_dir: str | Path, *, charts: bool = True, class_hours: bool = False
) -> list[Path]:
    """Write the plan's files into ``out_dir`` (created if needed).

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
    t0 = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [_csv(plan.site_hours, out / "plan.csv"), _csv(plan.gpu, out / "gpus.csv")]
    if class_hours:
        paths.append(_csv(plan.class_hours, out / "classes.csv"))
    if charts:
        paths.append(allocation_chart(plan, out / "allocation.png"))
        paths.append(duals_chart(plan, out / "duals.png"))
    seconds = plan.summary.setdefault("seconds", {})
    seconds["report"] = time.perf_counter() - t0
    seconds["total"] = sum(v for k, v in seconds.items() if k != "total")
    path = out / "summary.json"
    write_json(path, plan.summary, indent=2)
    paths.append(path)
    return paths


# --------------------------------------------------------------------------- charts


def _figure(n_panels: int, height_in: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 0.9 + height_in * n_panels), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(n_panels, 1, sharex=True, squeeze=False)[:, 0]
    return fig, axes


def _price_axis(ax, price: pd.Series) -> None:
    """The hourly spot price on a twin, symmetric-log axis (spikes and negatives both visible)."""
    ax2 = ax.twinx()
    ax2.plot(price.index, price.to_numpy(), color="#8e1b10", lw=0.3, alpha=0.55, label="spot price")
    ax2.set_yscale("symlog", linthresh=100.0)
    ax2.set_ylabel("spot [USD/MWh]", color="#c0392b")
    ax2.tick_params(axis="y", colors="#c0392b")
    ax2.legend(loc="upper right", fontsize=8, framealpha=0.8)


def allocation_chart(plan: Plan, path: str | Path) -> Path:
    """Stacked MW per site (mining, HPC firm, HPC interruptible, curtailed) with the spot price."""
    sh = plan.site_hours
    sites = list(plan.data.site_names)
    fig, axes = _figure(len(sites), 3.4)
    daily = plan.data.hours > HOURLY_CHART_MAX_HOURS
    for ax, site in zip(axes, sites, strict=True):
        frame = sh[sh["site"] == site].set_index("time")
        cols = [c for c, _, _ in STACK]
        body = frame[cols].resample("D").mean() if daily else frame[cols]
        cap = frame["import_cap_mw"].resample("D").min() if daily else frame["import_cap_mw"]
        ax.stackplot(
            body.index,
            *(body[c].to_numpy() for c in cols),
            labels=[label for _, label, _ in STACK],
            colors=[color for _, _, color in STACK],
            step="post",
            lw=0,
        )
        ax.step(
            cap.index,
            cap.to_numpy(),
            where="post",
            color="k",
            lw=0.7,
            ls="--",
            label="import cap" + (" (daily min)" if daily else ""),
        )
        ax.set_ylabel("MW" + (" (daily mean)" if daily else ""))
        ax.set_title(
            f"{site}: converted {plan.converted_mw[site]:,.1f} MW to HPC, "
            f"margin \\${plan.summary['margin_usd'] / 1e6:,.2f}M over {plan.data.hours:,} h",
            fontsize=10,
            loc="left",
        )
        top = max(float(body[cols].sum(axis=1).max()), float(cap.max()), 1e-9)
        ax.set_ylim(0, top * 1.2)  # room for the legends
        ax.legend(loc="upper left", fontsize=8, ncol=5, framealpha=0.8)
        ax.margins(x=0)
        _price_axis(ax, frame["price_usd_per_mwh"])
    fig.suptitle(f"{plan.scenario}: site power by use", fontsize=12)
    fig.savefig(path, dpi=110)
    return Path(path)


def duals_chart(plan: Plan, path: str | Path) -> Path:
    """Hourly value of one more MW of import per site [USD/MWh] (the import limit's dual)."""
    sh = plan.site_hours
    sites = list(plan.data.site_names)
    fig, axes = _figure(len(sites), 2.6)
    for ax, site in zip(axes, sites, strict=True):
        frame = sh[sh["site"] == site].set_index("time")
        value = frame["import_value_usd_per_mwh"]
        if value.isna().all():
            ax.text(0.5, 0.5, f"no duals from {plan.solver}", ha="center", transform=ax.transAxes)
            continue
        ax.plot(value.index, value.to_numpy(), color="#1f5aa6", lw=0.5)
        ax.fill_between(value.index, 0, value.to_numpy(), color="#1f5aa6", alpha=0.25, lw=0)
        if value.max() > 500:
            ax.set_yscale("symlog", linthresh=100.0)
        ax.set_ylabel("USD/MWh")
        ax.set_title(
            f"{site}: value of one more MW of import (mean \\${value.mean():,.2f}/MWh, "
            f"max \\${value.max():,.0f}/MWh)",
            fontsize=10,
            loc="left",
        )
        ax.margins(x=0)
    fig.suptitle(f"{plan.scenario}: import limit duals", fontsize=12)
    fig.savefig(path, dpi=110)
    return Path(path)


# --------------------------------------------------------------------------- scores


def score_class_hours(scenario: Scenario, scores: Scores) -> pd.DataFrame:
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
    fig, (ax,) = _figure(1, 0.45 * monthly.shape[0] + 1.5)
    im = ax.imshow(monthly.to_numpy(), cmap="RdYlGn", vmin=-lim, vmax=lim, aspect="auto")
    ax.set_xticks(range(monthly.shape[1]), monthly.columns, rotation=45, ha="right")
    ax.set_yticks(range(monthly.shape[0]), monthly.index)
    for (i, j), v in np.ndenumerate(monthly.to_numpy()):
        ax.text(j, i, f"{v:,.0f}", ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=ax, label="margin at spot, USD thousand per month")
    ax.set_title("Margin by class and month if every machine ran every hour (no capex)")
    fig.savefig(path, dpi=120)
    return path


def write_scores(scenario: Scenario, scores: Scores, out_dir: str | Path) -> list[Path]:
    """Write ``machines.csv``, ``class_hours.parquet`` and ``margin_by_class.png`` to ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    if len(scores.machines):
        scores.machines.to_csv(out / "machines.csv", index=False)
        written.append(out / "machines.csv")
    class_hours = score_class_hours(scenario, scores)
    class_hours.to_parquet(out / "class_hours.parquet", index=False)
    written.append(out / "class_hours.parquet")
    written.append(margin_heatmap(class_hours, out / "margin_by_class.png"))
    return written
