"""What a study's rows say: regimes, tipping points, Monte Carlo risk (docs/model.md §8).

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
from typing import Any

import numpy as np
import pandas as pd

from optimizer.study.rows import FAILED_STATUSES, PATH_AXIS

#: Two plans convert the same MW of hall to HPC when they differ by at most this [MW] or
#: by at most ``MW_RELATIVE_TOLERANCE`` of the larger (a regime is a decision, not LP noise).
MW_TOLERANCE = 0.1


MW_RELATIVE_TOLERANCE = 0.01


#: Share of energy below which a stream counts as off [-].
SHARE_TOLERANCE = 1e-3


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
    rows = along(ok_rows(frame), axis)
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


def along(rows: pd.DataFrame, axis: str) -> pd.DataFrame:
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
