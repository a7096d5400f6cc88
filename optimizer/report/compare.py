"""``hashpivot compare DIR_A DIR_B``: what changed between two plan folders.

Reads each folder's ``summary.json`` and lines the two plans up: money by stream (every
stream of :data:`~optimizer.accounting.REVENUE_KEYS` and
:data:`~optimizer.accounting.COST_KEYS`, then the margin), MW and servers, each site's margin,
streams and MW converted, and each month's margin. Every line holds A, B and ``change`` = B - A;
a figure one folder does not hold (a stream or the months of a plan written by an older
hashpivot) is None and its change too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from models import ScenarioError
from optimizer.accounting import COST_KEYS, REVENUE_KEYS
from optimizer.report.money import stream_label

#: Plan-wide figures compared besides money: key, words, unit, decimals in the table.
FIGURES = (
    ("hpc_mw_converted", "hall converted to HPC", "MW", 2),
    ("mean_mining_mw", "mean MW mining", "MW", 2),
    ("mean_hpc_firm_mw", "mean MW HPC firm", "MW", 2),
    ("mean_hpc_interruptible_mw", "mean MW HPC interruptible", "MW", 2),
    ("mean_curtailed_mw", "mean MW curtailed", "MW", 2),
    ("firm_it_mw", "firm IT load leased", "MW", 2),
    ("gpu_servers_firm", "GPU servers firm (LP)", "servers", 2),
    ("gpu_servers_installed", "GPU servers installed (LP)", "servers", 2),
    ("gpu_servers_firm_whole", "GPU servers firm (whole)", "servers", 0),
    ("gpu_servers_installed_whole", "GPU servers installed (whole)", "servers", 0),
    ("mining_mwh", "mining energy", "MWh", 0),
    ("hpc_mwh", "HPC energy", "MWh", 0),
    ("curtailed_mwh", "curtailed energy", "MWh", 0),
    ("hours_curtailed", "hours curtailed", "h", 0),
    ("btc_mined", "BTC mined (before pool fee)", "BTC", 4),
    ("btc_earned", "BTC earned (after pool fee)", "BTC", 4),
    ("capex_usd", "capex committed", "USD", 0),
    ("mean_hashprice_usd_per_ph_day", "mean hashprice", "USD/PH/s/day", 2),
    ("mean_price_usd_per_mwh", "mean spot power price", "USD/MWh", 2),
)


def read_summary(folder: str | Path) -> dict[str, Any]:
    """A plan folder's ``summary.json``, or a :class:`ScenarioError` saying why not."""
    folder = Path(folder)
    path = folder / "summary.json"
    if not folder.is_dir():
        raise ScenarioError(f"{folder}: not a folder (expected a plan folder from hashpivot plan)")
    if not path.is_file():
        raise ScenarioError(
            f"{folder}: no summary.json: not a plan folder, or a plan that did not finish "
            "(hashpivot plan --out writes summary.json last)"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ScenarioError(f"{path}: cannot read it: {exc}") from None
    if not isinstance(data, dict) or "margin_usd" not in data:
        raise ScenarioError(f"{path}: not a plan summary (no margin_usd)")
    return data


def _whole(summary: dict[str, Any]) -> dict[str, Any]:
    """``gpu_servers_*_whole`` from ``whole_servers``, where the summary has them."""
    ws = summary.get("whole_servers")
    if not isinstance(ws, dict) or not isinstance(ws.get("classes"), dict):
        return {}
    classes = ws["classes"].values()
    if any(c.get("firm") is None or c.get("installed") is None for c in classes):
        return {}
    return {
        "gpu_servers_firm_whole": float(sum(c["firm"] for c in classes)),
        "gpu_servers_installed_whole": float(sum(c["installed"] for c in classes)),
    }


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _line(a: Any, b: Any) -> dict[str, float | None]:
    a, b = _number(a), _number(b)
    return {"a": a, "b": b, "change": None if a is None or b is None else b - a}


def compare_plans(dir_a: str | Path, dir_b: str | Path) -> dict[str, Any]:
    """What changed from plan folder A to plan folder B (module docstring): a JSON-ready dict
    with ``a``, ``b`` (folders and scenarios), ``streams``, ``figures``, ``sites`` and
    ``months``."""
    sa, sb = read_summary(dir_a), read_summary(dir_b)
    sa, sb = {**sa, **_whole(sa)}, {**sb, **_whole(sb)}
    streams = [
        {"key": k, "label": stream_label(k), **_line(sa.get(k), sb.get(k))}
        for k in (*REVENUE_KEYS, *COST_KEYS)
    ]
    streams.append(
        {"key": "margin_usd", "label": "Margin", **_line(sa["margin_usd"], sb["margin_usd"])}
    )
    figures = [
        {"key": k, "label": words, "unit": unit, **_line(sa.get(k), sb.get(k))}
        for k, words, unit, _ in FIGURES
        if k in sa or k in sb
    ]
    site_names = list(dict.fromkeys([*sa.get("sites", {}), *sb.get("sites", {})]))
    sites = []
    for name in site_names:
        xa, xb = sa.get("sites", {}).get(name, {}), sb.get("sites", {}).get(name, {})
        sites.append(
            {
                "site": name,
                "margin_usd": _line(xa.get("margin_usd"), xb.get("margin_usd")),
                "converted_mw": _line(xa.get("converted_mw"), xb.get("converted_mw")),
                "streams": {k: _line(xa.get(k), xb.get(k)) for k in (*REVENUE_KEYS, *COST_KEYS)},
            }
        )
    ma, mb = sa.get("months") or {}, sb.get("months") or {}
    months = [
        {
            "month": m,
            "margin_usd": _line(ma.get(m, {}).get("margin_usd"), mb.get(m, {}).get("margin_usd")),
            "revenue_total_usd": _line(
                ma.get(m, {}).get("revenue_total_usd"), mb.get(m, {}).get("revenue_total_usd")
            ),
            "cost_total_usd": _line(
                ma.get(m, {}).get("cost_total_usd"), mb.get(m, {}).get("cost_total_usd")
            ),
        }
        for m in sorted(set(ma) | set(mb))
    ]
    return {
        "a": {
            "folder": str(dir_a),
            "scenario": sa.get("scenario"),
            "hours": sa.get("hours"),
            "status": sa.get("status"),
            "has_months": bool(ma),
        },
        "b": {
            "folder": str(dir_b),
            "scenario": sb.get("scenario"),
            "hours": sb.get("hours"),
            "status": sb.get("status"),
            "has_months": bool(mb),
        },
        "streams": streams,
        "figures": figures,
        "sites": sites,
        "months": months,
    }


def _fmt(value: float | None, decimals: int, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    text = f"{value:+,.{decimals}f}" if signed else f"{value:,.{decimals}f}"
    zero = f"{0:+,.{decimals}f}" if signed else f"{0:,.{decimals}f}"
    if text in (f"-{zero.lstrip('+-')}", f"+{zero.lstrip('+-')}"):
        text = zero.lstrip("+-")  # no "-0" or "+0"
    return text


def _row(label: str, line: dict[str, float | None], decimals: int = 0, width: int = 36) -> str:
    return (
        f"  {label[:width]:<{width}}{_fmt(line['a'], decimals):>16}{_fmt(line['b'], decimals):>16}"
        f"{_fmt(line['change'], decimals, signed=True):>16}"
    )


def _moved(line: dict[str, float | None], tol: float = 0.5) -> bool:
    values = [v for v in (line["a"], line["b"]) if v is not None]
    return any(abs(v) >= tol for v in values) or None in (line["a"], line["b"])


def compare_table(result: dict[str, Any]) -> str:
    """The comparison as the plain-text table ``hashpivot compare`` prints."""
    a, b = result["a"], result["b"]
    head = f"  {'':<36}{'A':>16}{'B':>16}{'B - A':>16}"
    lines = [
        f"A  {a['folder']}: {a['scenario']}, {a['hours']:,} hours, {a['status']}",
        f"B  {b['folder']}: {b['scenario']}, {b['hours']:,} hours, {b['status']}",
    ]
    if a["hours"] != b["hours"]:
        lines.append("   (the horizons differ: totals cover different hours)")
    lines += ["", "money by stream [USD]", head]
    for line in result["streams"]:
        if line["key"] == "margin_usd" or _moved(line):
            lines.append(_row(line["label"], line))
    lines += ["", "MW, servers, energy, BTC", head]
    decimals = {k: dec for k, _, _, dec in FIGURES}
    for line in result["figures"]:
        lines.append(_row(f"{line['label']} [{line['unit']}]", line, decimals[line["key"]]))
    lines += ["", "sites: margin [USD] and hall converted to HPC [MW]", head]
    for site in result["sites"]:
        lines.append(_row(f"{site['site']} margin", site["margin_usd"]))
        lines.append(_row(f"{site['site']} converted MW", site["converted_mw"], 2))
        for key, line in site["streams"].items():
            if line["change"] is None or abs(line["change"]) >= 0.5:
                if _moved(line):
                    lines.append(_row(f"  {stream_label(key)}", line))
    lines += ["", "months (UTC): margin [USD]"]
    if not result["months"]:
        lines.append("  no months in either summary.json (plans written by an older hashpivot)")
    else:
        lines.append(head)
        for month in result["months"]:
            lines.append(_row(month["month"], month["margin_usd"]))
        if not (a["has_months"] and b["has_months"]):
            lines.append("  (one summary.json has no months: written by an older hashpivot)")
    return "\n".join(lines)
