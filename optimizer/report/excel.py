"""``plan.xlsx``: the plan for a spreadsheet, with units in the headers and number formats.

Sheets: **Summary** (the totals, one figure a row: item, value, unit), **Monthly** (P&L by
stream per calendar month, UTC, with BTC mined and mean hashprice), **Sites** (P&L by stream
per site), **GPUs** (servers per class, LP and whole) and **Hourly** (``plan.csv``: one row
per site-hour; times as Excel date-times in UTC, and in the ``--tz`` zone when given). Money
is USD with thousands separators, costs positive as in ``summary.json``.

Needs openpyxl, an optional extra: ``pip install hashpivot[excel]``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optimizer.accounting import COST_KEYS, REVENUE_KEYS
from optimizer.plan import Plan
from optimizer.report.files import atomic_write
from optimizer.report.money import stream_label

#: Number formats by unit.
FORMATS = {
    "USD": "#,##0;[Red]-#,##0",
    "USD/MWh": "#,##0.00;[Red]-#,##0.00",
    "USD/MW": "#,##0;[Red]-#,##0",
    "USD/PH/s/day": "#,##0.00",
    "MW": "#,##0.000",
    "MWh": "#,##0.0",
    "BTC": "#,##0.000000",
    "TH/s": "#,##0",
    "h": "#,##0",
    "servers": "#,##0.00",
    "whole servers": "#,##0",
    "fraction": "0.0%",
    "": "General",
}
DATE_FORMAT = "yyyy-mm-dd hh:mm"

#: Column name endings and their units, longest first.
SUFFIX_UNITS = (
    ("_usd_per_ph_day", "USD/PH/s/day"),
    ("_usd_per_mwh", "USD/MWh"),
    ("_usd_per_mw", "USD/MW"),
    ("_usd", "USD"),
    ("_mwh", "MWh"),
    ("_mw", "MW"),
    ("_ths", "TH/s"),
)

#: Words for columns that are not money streams.
COLUMN_WORDS = {
    "month": ("Month", ""),
    "site": ("Site", ""),
    "hours": ("Hours", "h"),
    "hours_curtailed": ("Hours curtailed", "h"),
    "btc_mined": ("BTC mined (before pool fee)", "BTC"),
    "btc_earned": ("BTC earned (after pool fee)", "BTC"),
    "revenue_total_usd": ("Revenue total", "USD"),
    "cost_total_usd": ("Cost total", "USD"),
    "margin_usd": ("Margin", "USD"),
    "mean_hashrate_ths": ("Mean hashrate of own ASICs running", "TH/s"),
    "hashrate_ths": ("Hashrate of own ASICs running", "TH/s"),
    "mean_hashprice_usd_per_ph_day": ("Mean hashprice", "USD/PH/s/day"),
    "hashprice_usd_per_ph_day": ("Hashprice", "USD/PH/s/day"),
    "mean_btc_price_usd": ("Mean BTC price", "USD"),
    "btc_price_usd": ("BTC price", "USD"),
    "mean_price_usd_per_mwh": ("Mean spot power price", "USD/MWh"),
    "price_usd_per_mwh": ("Spot power price", "USD/MWh"),
    "gpu_class": ("GPU class", ""),
    "max_servers": ("Servers at most", "whole servers"),
    "installed": ("Installed servers (LP)", "servers"),
    "installed_whole": ("Installed servers (whole)", "whole servers"),
    "firm": ("Firm servers (LP)", "servers"),
    "firm_whole": ("Firm servers (whole)", "whole servers"),
    "interruptible_mean": ("Interruptible servers, mean", "servers"),
    "interruptible_max": ("Interruptible servers, max", "servers"),
    "firm_it_mw": ("Firm IT load", "MW"),
    "revenue_usd": ("Revenue", "USD"),
    "capex_usd": ("Capex charged (annuity)", "USD"),
}


def excel_available() -> bool:
    """Whether openpyxl is installed (``pip install hashpivot[excel]``)."""
    return importlib.util.find_spec("openpyxl") is not None


def column_header(name: str) -> tuple[str, str]:
    """A column's words and unit: ``revenue_mining_usd`` -> (``Mining revenue (BTC)``, ``USD``),
    ``curtailed_mw`` -> (``Curtailed``, ``MW``)."""
    if name in (*REVENUE_KEYS, *COST_KEYS):
        return stream_label(name), "USD"
    if name in COLUMN_WORDS:
        return COLUMN_WORDS[name]
    for suffix, unit in SUFFIX_UNITS:
        if name.endswith(suffix):
            words = name[: -len(suffix)].replace("_", " ")
            return words[:1].upper() + words[1:], unit
    words = name.replace("_", " ")
    return words[:1].upper() + words[1:], ""


def _header(words: str, unit: str) -> str:
    return f"{words} [{unit}]" if unit and unit != "whole servers" else words


def _sheet(wb, title: str, frame: pd.DataFrame, *, tz: str | None = None) -> None:
    """A frame as a sheet: bold header row with units, frozen, each column formatted."""
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    ws = wb.create_sheet(title)
    ws.freeze_panes = "B2" if len(frame.columns) > 1 else "A2"
    bold = Font(bold=True)
    wrap = Alignment(wrap_text=True, vertical="top")
    headers, formats, columns = [], [], []
    for name in frame.columns:
        values = frame[name]
        if name == "time":
            head, fmt = "Time (UTC)", DATE_FORMAT
            values = values.dt.tz_convert("UTC").dt.tz_localize(None)
        elif name == "local_time":
            head, fmt = f"Local time ({tz})", DATE_FORMAT
            values = values.dt.tz_localize(None)
        else:
            words, unit = column_header(str(name))
            head, fmt = _header(words, unit), FORMATS.get(unit, "General")
        headers.append(head)
        formats.append(fmt)
        columns.append(values.to_numpy(dtype=object))
    for i, head in enumerate(headers, start=1):
        ws.column_dimensions[get_column_letter(i)].width = min(max(12, len(head) * 0.55), 30)
    row = []
    for head in headers:
        cell = WriteOnlyCell(ws, value=head)
        cell.font, cell.alignment = bold, wrap
        row.append(cell)
    ws.append(row)
    # One styled cell per column, its value set row by row: a write-only sheet serializes a
    # row when it is appended, so the cells can be reused (styling 300k cells one by one
    # takes seconds).
    cells = []
    for fmt in formats:
        cell = WriteOnlyCell(ws)
        cell.number_format = fmt
        cells.append(cell)
    for r in range(len(frame)):
        for cell, values in zip(cells, columns, strict=True):
            cell.value = _value(values[r])
        ws.append(cells)


def _value(v: Any) -> Any:
    """A cell value: None for NaN, plain Python numbers and datetimes."""
    if v is None:
        return None
    if isinstance(v, float | np.floating):
        return None if not np.isfinite(v) else float(v)
    if isinstance(v, np.integer | np.bool_):
        return v.item()
    if isinstance(v, pd.Timestamp):
        return v.to_pydatetime()
    return v


def summary_rows(plan: Plan) -> list[tuple[str, Any, str]]:
    """The Summary sheet: (item, value, unit) rows."""
    s = plan.summary
    d = plan.data
    rows: list[tuple[str, Any, str]] = [
        ("Scenario", s.scenario, ""),
        ("Status", f"{s.status} ({s.solver})", ""),
        ("First hour (UTC)", d.index[0].tz_convert("UTC").tz_localize(None).to_pydatetime(), ""),
        ("Last hour (UTC)", d.index[-1].tz_convert("UTC").tz_localize(None).to_pydatetime(), ""),
        ("Hours", s.hours, "h"),
        ("Margin", s.margin_usd, "USD"),
    ]
    rows += [(stream_label(k), getattr(s, k), "USD") for k in REVENUE_KEYS]
    rows.append(("Revenue total", s.revenue_total_usd, "USD"))
    rows += [(stream_label(k), getattr(s, k), "USD") for k in COST_KEYS]
    rows.append(("Cost total", s.cost_total_usd, "USD"))
    rows += [
        ("Hall converted to HPC", s.hpc_mw_converted, "MW"),
        ("Mean MW mining", s.mean_mining_mw, "MW"),
        ("Mean MW HPC firm", s.mean_hpc_firm_mw, "MW"),
        ("Mean MW HPC interruptible", s.mean_hpc_interruptible_mw, "MW"),
        ("Mean MW curtailed", s.mean_curtailed_mw, "MW"),
        ("Firm IT load leased", s.firm_it_mw, "MW"),
        ("GPU servers firm (LP)", s.gpu_servers_firm, "servers"),
        ("GPU servers installed (LP)", s.gpu_servers_installed, "servers"),
    ]
    ws = s.whole_servers
    if ws is not None and ws.classes and ws.status == "none":
        rows.append(("GPU servers (whole)", "no whole-server plan next to the LP's", ""))
    elif ws is not None and ws.classes:
        rows += [
            ("GPU servers firm (whole)", sum(c.firm for c in ws.classes.values()), "whole servers"),
            (
                "GPU servers installed (whole)",
                sum(c.installed for c in ws.classes.values()),
                "whole servers",
            ),
            ("Margin with whole servers", ws.margin_usd, "USD"),
            ("Margin effect of whole servers", ws.margin_effect_usd, "USD"),
        ]
    rows += [
        ("BTC mined (before pool fee)", s.btc_mined, "BTC"),
        ("BTC earned (after pool fee)", s.btc_earned, "BTC"),
        ("Mean hashprice", s.mean_hashprice_usd_per_ph_day, "USD/PH/s/day"),
        ("Mean BTC price", float(np.mean(d.btc_price_usd)), "USD"),
        ("Mean spot power price", s.mean_price_usd_per_mwh, "USD/MWh"),
        ("Mining energy", s.mining_mwh, "MWh"),
        ("HPC energy", s.hpc_mwh, "MWh"),
        ("Curtailed energy", s.curtailed_mwh, "MWh"),
        ("Capex committed", s.capex_usd, "USD"),
        ("Capex annuity per year", s.capex_annuity_usd_per_year, "USD"),
        ("Discount rate", s.discount_rate, "fraction"),
    ]
    return rows


def _summary_sheet(wb, plan: Plan) -> None:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    ws = wb.create_sheet("Summary")
    ws.column_dimensions["A"].width = 36
    ws.column_dimensions["B"].width = 22
    ws.column_dimensions["C"].width = 16
    bold = Font(bold=True)
    row = []
    for head in ("Item", "Value", "Unit"):
        cell = WriteOnlyCell(ws, value=head)
        cell.font = bold
        row.append(cell)
    ws.append(row)
    for item, value, unit in summary_rows(plan):
        cell = WriteOnlyCell(ws, value=_value(value))
        if unit:
            cell.number_format = FORMATS.get(unit, "General")
        elif hasattr(value, "year"):
            cell.number_format = DATE_FORMAT
        name = WriteOnlyCell(ws, value=item)
        if item == "Margin":
            name.font = cell.font = bold
        ws.append([name, cell, "" if unit == "whole servers" else unit or None])


def write_excel(
    plan: Plan,
    path: str | Path,
    *,
    hours: pd.DataFrame,
    monthly: pd.DataFrame,
    sites: pd.DataFrame,
    gpus: pd.DataFrame,
    tz: str | None = None,
) -> Path:
    """Write ``plan.xlsx`` (Summary, Monthly, Sites, GPUs, Hourly) from the report's frames."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    _summary_sheet(wb, plan)
    _sheet(wb, "Monthly", monthly)
    _sheet(wb, "Sites", sites)
    _sheet(wb, "GPUs", gpus)
    _sheet(wb, "Hourly", hours, tz=tz)
    path = Path(path)
    atomic_write(path, lambda tmp: wb.save(tmp))
    return path
