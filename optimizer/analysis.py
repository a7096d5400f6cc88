"""What a study's rows say: tipping points, Monte Carlo risk, charts.

A *regime* of an optimal plan is what a CFO would call a different decision: the MW of mining
hall converted to HPC (to 0.1 MW or 1 %, whichever is larger) and the mining share band (mining only, HPC only,
mixed, idle). A *tipping point* on an axis is where the regime changes between neighbouring
values of that axis, every other axis held at its value; its bracket ``[lo, hi]`` holds ``lo``
in the old regime and ``hi`` in the new one. Refinement (``--refine``) runs scenarios inside a
bracket until it is narrower than a tolerance; the tipping value is the bracket's midpoint,
within half its width.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optimizer.storage import atomic_write, write_csv, write_json

#: Two plans convert the same MW of hall to HPC when they differ by at most this [MW] or
#: by at most ``MW_RELATIVE_TOLERANCE`` of the larger (a regime is a decision, not LP noise).
MW_TOLERANCE = 0.1
MW_RELATIVE_TOLERANCE = 0.01
#: Share of energy below which a stream counts as off [-].
SHARE_TOLERANCE = 1e-3
#: Statuses of rows that carry no plan.
FAILED_STATUSES = ("bad_input", "infeasible", "solver_error", "error", "crashed")
PATH_AXIS = "path"


def ok_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows that hold a plan (no error, a finite margin)."""
    if "margin_usd" not in frame:
        return frame.iloc[0:0]
    ok = ~frame["status"].isin(FAILED_STATUSES) & np.isfinite(frame["margin_usd"].astype(float))
    return frame[ok]


def share_band(mining_mwh: float, hpc_mwh: float) -> str:
    """``mining``, ``hpc``, ``mixed`` or ``idle`` from the energy of each stream [MWh]."""
    total = mining_mwh + hpc_mwh
    if not total > 0:
        return "idle"
    if hpc_mwh <= SHARE_TOLERANCE * total:
        return "mining"
    if mining_mwh <= SHARE_TOLERANCE * total:
        return "hpc"
    return "mixed"


@dataclass(frozen=True)
class Regime:
    """The decision a plan makes, coarsely: MW converted to HPC and which streams run."""

    hpc_mw_converted: float
    band: str

    @classmethod
    def of(cls, row: pd.Series) -> Regime:
        return cls(
            float(row["hpc_mw_converted"]),
            share_band(float(row["mining_mwh"]), float(row["hpc_mwh"])),
        )

    def changes(self, other: Regime) -> list[str]:
        """What differs: ``hpc_mw_converted`` and/or ``mining_share``."""
        out = []
        a, b = self.hpc_mw_converted, other.hpc_mw_converted
        if abs(a - b) > max(MW_TOLERANCE, MW_RELATIVE_TOLERANCE * max(abs(a), abs(b))):
            out.append("hpc_mw_converted")
        if self.band != other.band:
            out.append("mining_share")
        return out


@dataclass(frozen=True)
class Bracket:
    """Neighbouring values of one axis, other axes held, where the regime changes.

    Attributes
    ----------
    axis : str
    group : dict
        The other axes' values (table cells).
    lo, hi : float
        Axis values; the plan at ``lo`` has ``regime_lo``, at ``hi`` ``regime_hi``.
    regime_lo, regime_hi : Regime
    changed : tuple[str, ...]
        ``hpc_mw_converted`` and/or ``mining_share``.
    row_lo, row_hi : dict
        The two rows (margin, MW, shares) for the report.
    """

    axis: str
    group: dict
    lo: float
    hi: float
    regime_lo: Regime
    regime_hi: Regime
    changed: tuple[str, ...]
    row_lo: dict
    row_hi: dict

    @property
    def value(self) -> float:
        """The tipping value: the bracket's midpoint (within ``width / 2``)."""
        return 0.5 * (self.lo + self.hi)

    @property
    def width(self) -> float:
        return self.hi - self.lo


def brackets(frame: pd.DataFrame, axis: str, axis_paths: Sequence[str]) -> list[Bracket]:
    """Every tipping bracket along ``axis``, per combination of the other axes.

    Only rows with a plan count: the study's own rows and the refinement points of this axis
    (which narrow the brackets they fall in); refinement points of other axes would pair up
    across groups and are left out.
    """
    rows = _along(ok_rows(frame), axis)
    if axis not in rows or rows.empty:
        return []
    others = [p for p in axis_paths if p != axis and p in rows]
    groups = rows.groupby(others, dropna=False, sort=True) if others else [((), rows)]
    found = []
    for key, group in groups:
        key = key if isinstance(key, tuple) else (key,)
        cells = {p: _plain(v) for p, v in zip(others, key, strict=True)}
        g = group.assign(_x=group[axis].astype(float)).sort_values("_x", kind="stable")
        g = g.drop_duplicates("_x")
        for (_, a), (_, b) in zip(g.iloc[:-1].iterrows(), g.iloc[1:].iterrows(), strict=True):
            ra, rb = Regime.of(a), Regime.of(b)
            changed = ra.changes(rb)
            if changed:
                found.append(
                    Bracket(
                        axis=axis,
                        group=cells,
                        lo=float(a["_x"]),
                        hi=float(b["_x"]),
                        regime_lo=ra,
                        regime_hi=rb,
                        changed=tuple(changed),
                        row_lo=_report_cells(a),
                        row_hi=_report_cells(b),
                    )
                )
    return found


def _along(rows: pd.DataFrame, axis: str) -> pd.DataFrame:
    """The study's rows plus the refinement points of ``axis`` (those of other axes would pair
    up across the groups of this one)."""
    if "origin" not in rows:
        return rows
    return rows[rows["origin"].isin(["study", f"refine:{axis}"])]


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _report_cells(row: pd.Series) -> dict[str, Any]:
    keys = ("scenario_id", "margin_usd", "hpc_mw_converted", "mining_share", "gpu_servers_firm")
    return {k: _plain(row[k]) for k in keys if k in row}


def tipping_points(frame: pd.DataFrame, axes: Sequence[Any]) -> pd.DataFrame:
    """Tipping points along every numeric axis (the Monte Carlo path axis excluded).

    Parameters
    ----------
    frame
        Study rows.
    axes
        The study's :class:`~optimizer.study.Axis` objects.

    Returns
    -------
    pandas.DataFrame
        One row per bracket: ``axis``, ``others`` (JSON of the other axes' values),
        ``changed``, ``value_lo``, ``value_hi``, ``tipping_value`` (midpoint), ``width``,
        and for the plans at each end ``hpc_mw_converted_*`` [MW], ``mining_share_*`` [-],
        ``margin_usd_*`` [USD], ``scenario_*``.
    """
    paths = [a.path for a in axes]
    records = []
    for axis in axes:
        if axis.path == PATH_AXIS or not axis.numeric or len(set(axis.values)) < 2:
            continue
        for b in brackets(frame, axis.path, paths):
            records.append(
                {
                    "axis": b.axis,
                    "others": json.dumps(b.group, sort_keys=True, default=str),
                    "changed": "+".join(b.changed),
                    "value_lo": b.lo,
                    "value_hi": b.hi,
                    "tipping_value": b.value,
                    "width": b.width,
                    "hpc_mw_converted_lo": b.row_lo.get("hpc_mw_converted"),
                    "hpc_mw_converted_hi": b.row_hi.get("hpc_mw_converted"),
                    "mining_share_lo": b.row_lo.get("mining_share"),
                    "mining_share_hi": b.row_hi.get("mining_share"),
                    "margin_usd_lo": b.row_lo.get("margin_usd"),
                    "margin_usd_hi": b.row_hi.get("margin_usd"),
                    "scenario_lo": b.row_lo.get("scenario_id"),
                    "scenario_hi": b.row_hi.get("scenario_id"),
                }
            )
    columns = [
        "axis",
        "others",
        "changed",
        "value_lo",
        "value_hi",
        "tipping_value",
        "width",
        "hpc_mw_converted_lo",
        "hpc_mw_converted_hi",
        "mining_share_lo",
        "mining_share_hi",
        "margin_usd_lo",
        "margin_usd_hi",
        "scenario_lo",
        "scenario_hi",
    ]
    return pd.DataFrame(records, columns=columns)


def _quantiles(values: np.ndarray) -> dict[str, float]:
    p10, p50, p90 = np.percentile(values, [10, 50, 90])
    return {
        "p10": float(p10),
        "p50": float(p50),
        "p90": float(p90),
        "mean": float(np.mean(values)),
        "min": float(np.min(values)),
        "max": float(np.max(values)),
    }


def risk_summary(frame: pd.DataFrame, axis_paths: Sequence[str] = ()) -> dict[str, Any]:
    """P10/P50/P90 of margin and the probability of a loss over Monte Carlo paths.

    Quantiles use linear interpolation between order statistics (``numpy.percentile``);
    ``probability_margin_negative`` is the share of paths with ``margin_usd < 0``. With other
    axes besides the path, the same figures are given per combination under ``groups``.

    Returns
    -------
    dict
        ``paths`` (rows), ``ok``, ``failed``, ``margin_usd`` {p10, p50, p90, mean, min, max}
        [USD], ``probability_margin_negative`` [-], ``hpc_mw_converted`` and
        ``btc_price_end_usd`` quantiles, ``groups`` (list).
    """
    rows = ok_rows(frame)

    def figures(rows: pd.DataFrame) -> dict[str, Any]:
        margin = rows["margin_usd"].to_numpy(dtype=float)
        if margin.size == 0:
            return {"ok": 0}
        return {
            "ok": int(margin.size),
            "margin_usd": _quantiles(margin),
            "probability_margin_negative": float(np.mean(margin < 0)),
            "hpc_mw_converted": _quantiles(rows["hpc_mw_converted"].to_numpy(dtype=float)),
            "btc_price_end_usd": _quantiles(rows["btc_price_end_usd"].to_numpy(dtype=float)),
        }

    out = {"paths": len(frame), "failed": int(len(frame) - len(rows)), **figures(rows)}
    others = [p for p in axis_paths if p != PATH_AXIS and p in rows]
    if others and len(rows):
        out["groups"] = [
            {
                "axes": {
                    p: _plain(v)
                    for p, v in zip(others, key if isinstance(key, tuple) else (key,), strict=True)
                },
                **figures(g),
            }
            for key, g in rows.groupby(others, sort=True)
        ]
    return out


# ------------------------------------------------------------------------------------ charts


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))


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
        data = _along(rows, axis.path)
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
    from optimizer.study import simulate_study_paths

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
