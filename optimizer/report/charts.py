"""Charts, drawn on matplotlib's Agg canvas (no display, no pyplot state for plan charts).

- ``allocation.png``: stacked site MW (mining, HPC firm, HPC interruptible, curtailed) with the
  spot price on a second axis, one panel per site (daily means beyond three weeks, the hourly
  price as a thin line on a symmetric-log axis so spikes and negative hours both show);
- ``duals.png``: hourly value of one more MW of import per site [USD/MWh];
- ``margin_by_class.png``: class x month margin at spot (``hashpivot score``);
- ``axes.png`` and ``monte_carlo.png``: what a study's rows say.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optimizer.plan import Plan
from optimizer.report.files import atomic_write
from optimizer.study.monte_carlo import simulate_study_paths
from optimizer.study.regimes import along, ok_rows
from optimizer.study.rows import PATH_AXIS

#: Beyond this horizon the allocation chart shows daily means [h].
HOURLY_CHART_MAX_HOURS = 24 * 21


STACK = (
    ("mining_mw", "mining", "#f2a900"),
    ("hpc_firm_mw", "HPC firm", "#1f5aa6"),
    ("hpc_interruptible_mw", "HPC interruptible", "#6fa8dc"),
    ("curtailed_mw", "curtailed", "#d9d9d9"),
)


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
            f"site margin \\${plan.summary.sites[site].margin_usd / 1e6:,.2f}M over "
            f"{plan.data.hours:,} h",
            fontsize=10,
            loc="left",
        )
        top = max(float(body[cols].sum(axis=1).max()), float(cap.max()), 1e-9)
        ax.set_ylim(0, top * 1.2)  # room for the legends
        ax.legend(loc="upper left", fontsize=8, ncol=5, framealpha=0.8)
        ax.margins(x=0)
        _price_axis(ax, frame["price_usd_per_mwh"])
    fig.suptitle(f"{plan.scenario}: site power by use", fontsize=12)
    _save(fig, Path(path))
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
    _save(fig, Path(path))
    return Path(path)


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
    _save(fig, Path(path), dpi=120)
    return path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path, dpi: int = 110) -> None:
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format="png"))


def plot_axes(frame: pd.DataFrame, axes: Sequence[Any], tipping: pd.DataFrame, path: Path) -> bool:
    """``axes.png``: margin [M USD] and MW converted to HPC against each numeric axis.

    One line per combination of the other axes when there are at most six; otherwise the
    median over them with a P10-P90 band. Monte Carlo paths are summarised by their median.
    Dashed vertical lines mark tipping values. Returns False when there is nothing to plot.
    """
    rows = ok_rows(frame)
    plotted = [a for a in axes if a.path != PATH_AXIS and a.numeric and len(set(a.values)) > 1]
    if rows.empty or not plotted:
        return False
    plt = _pyplot()
    fig, grid = plt.subplots(
        len(plotted), 2, figsize=(11, 3.4 * len(plotted)), squeeze=False, constrained_layout=True
    )
    paths = [a.path for a in axes]
    for (ax_margin, ax_mw), axis in zip(grid, plotted, strict=True):
        others = [p for p in paths if p not in (axis.path, PATH_AXIS) and p in rows]
        data = along(rows, axis.path)
        data = data.assign(_x=data[axis.path].astype(float))
        keys = ["_x", *others]
        med = data.groupby(keys, sort=True)[["margin_usd", "hpc_mw_converted"]].median()
        med = med.reset_index()
        groups = list(med.groupby(others, sort=True)) if others else [((), med)]
        for metric, ax, scale in (
            ("margin_usd", ax_margin, 1e-6),
            ("hpc_mw_converted", ax_mw, 1.0),
        ):
            if len(groups) <= 6:
                for key, g in groups:
                    key = key if isinstance(key, tuple) else (key,)
                    label = ", ".join(
                        f"{p.split('.')[-1]}={v:g}"
                        if isinstance(v, float)
                        else f"{p.split('.')[-1]}={v}"
                        for p, v in zip(others, key, strict=True)
                    )
                    ax.plot(g["_x"], g[metric] * scale, marker="o", ms=3, label=label or None)
                if others:
                    ax.legend(fontsize=7)
            else:
                stats = med.groupby("_x")[metric].quantile([0.1, 0.5, 0.9]).unstack()
                ax.fill_between(
                    stats.index,
                    stats[0.1] * scale,
                    stats[0.9] * scale,
                    alpha=0.25,
                    label="P10-P90 over other axes",
                )
                ax.plot(stats.index, stats[0.5] * scale, marker="o", ms=3, label="median")
                ax.legend(fontsize=7)
            for value in tipping.loc[tipping["axis"] == axis.path, "tipping_value"]:
                ax.axvline(value, ls="--", lw=0.8, color="grey")
            ax.set_xlabel(axis.path + (" (factor)" if axis.kind == "factors" else ""))
            ax.grid(alpha=0.3)
        ax_margin.set_ylabel("margin [M USD]")
        ax_mw.set_ylabel("hall converted to HPC [MW]")
    fig.suptitle("Margin and MW converted to HPC along each axis (dashed: tipping points)")
    _save(fig, path)
    plt.close(fig)
    return True


def plot_monte_carlo(frame: pd.DataFrame, study, path: Path) -> bool:
    """``monte_carlo.png``: left, the fan of BTC price paths (P10/P50/P90 over paths, hour by
    hour, from the base scenario's start) with the paths whose margins are the P10, P50 and
    P90 margins drawn on top; right, the distribution of total margin with its P10/P50/P90
    and the probability of a loss."""
    rows = ok_rows(frame)
    if rows.empty or study.monte_carlo is None:
        return False
    plt = _pyplot()
    paths = simulate_study_paths(study.monte_carlo, study.base_doc)
    price = paths.btc_price_usd
    days = np.arange(price.shape[1]) / 24.0
    fig, (ax_fan, ax_hist) = plt.subplots(1, 2, figsize=(12, 4.2), constrained_layout=True)
    q10, q50, q90 = np.percentile(price, [10, 50, 90], axis=0)
    ax_fan.fill_between(days, q10 / 1e3, q90 / 1e3, alpha=0.25, label="P10-P90 of paths")
    ax_fan.plot(days, q50 / 1e3, lw=1.2, label="P50 of paths")
    margin = rows["margin_usd"].to_numpy(dtype=float)
    m10, m50, m90 = np.percentile(margin, [10, 50, 90])
    for q, value in (("P10", m10), ("P50", m50), ("P90", m90)):
        nearest = rows.iloc[int(np.argmin(np.abs(margin - value)))]
        index = int(nearest[PATH_AXIS])
        ax_fan.plot(days, price[index] / 1e3, lw=0.8, label=f"path {index}: {q} margin")
    ax_fan.set_xlabel("day of the horizon")
    ax_fan.set_ylabel("BTC price [k USD]")
    ax_fan.legend(fontsize=7)
    ax_fan.grid(alpha=0.3)
    ax_hist.hist(margin / 1e6, bins=min(40, max(5, len(margin) // 3)), alpha=0.7)
    for q, value in (("P10", m10), ("P50", m50), ("P90", m90)):
        ax_hist.axvline(value / 1e6, ls="--", color="black", lw=0.8)
        ax_hist.text(value / 1e6, ax_hist.get_ylim()[1] * 0.95, q, fontsize=7, ha="center")
    loss = float(np.mean(margin < 0))
    ax_hist.set_title(
        f"total margin over {len(margin)} scenarios; P(margin < 0) = {loss:.1%}", fontsize=9
    )
    ax_hist.set_xlabel("margin over the horizon [M USD]")
    ax_hist.set_ylabel("scenarios")
    ax_hist.grid(alpha=0.3)
    _save(fig, path)
    plt.close(fig)
    return True
