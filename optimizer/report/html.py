"""``report.html``: the plan on one self-contained page a CFO can open and mail.

One file, no network: the charts are embedded as base64 PNG, the style is inline, nothing is
fetched. Sections: the headline figures, the split of power (``allocation.png``), money by
stream and by site, money by month (``monthly_pnl.png``), what drives the decision (the value
of one more MW of converted hall, HPC hall, mining hall and grid import, leases, whole GPU
servers; ``duals.png``) and the key assumptions. Money as in ``summary.json``; in the tables
costs are shown in parentheses.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from optimizer.accounting import COST_KEYS, REVENUE_KEYS
from optimizer.plan import Plan
from optimizer.report.files import atomic_write
from optimizer.report.money import stream_label

STYLE = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; color: #1c2833;
       max-width: 1180px; margin: 24px auto; padding: 0 16px; line-height: 1.4; }
h1 { font-size: 1.6em; margin-bottom: 0.1em; }
h2 { font-size: 1.25em; border-bottom: 2px solid #f2a900; padding-bottom: 3px; margin-top: 1.8em; }
.sub { color: #5d6d7e; margin-top: 0; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 18px 0; }
.card { flex: 1 1 160px; border: 1px solid #d5d8dc; border-radius: 6px; padding: 10px 14px;
        background: #fbfcfc; }
.card .v { font-size: 1.45em; font-weight: 600; }
.card .k { color: #5d6d7e; font-size: 0.85em; }
table { border-collapse: collapse; margin: 10px 0 16px; font-size: 0.92em; }
th, td { padding: 4px 10px; border-bottom: 1px solid #e5e8e8; }
th { text-align: left; background: #f4f6f6; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.total td { font-weight: 600; border-top: 2px solid #1c2833; }
img { max-width: 100%; border: 1px solid #e5e8e8; margin: 6px 0; }
.note { color: #5d6d7e; font-size: 0.85em; }
"""


def _version() -> str:
    try:
        return version("hashpivot")
    except PackageNotFoundError:  # a source checkout
        return "0+unknown"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def usd(value: float | None, *, parens: bool = False) -> str:
    """``12,345`` (``(12,345)`` for a cost with ``parens``); ``n/a`` for None or NaN."""
    if value is None or not np.isfinite(value):
        return "n/a"
    text = f"{abs(value):,.0f}" if parens else f"{value:,.0f}"
    return f"({text})" if parens and round(value) != 0 else text


def musd(value: float | None) -> str:
    """``$12.35M`` (``-$0.01M``)."""
    if value is None or not np.isfinite(value):
        return "n/a"
    return f"{'-' if value < 0 else ''}${abs(value) / 1e6:,.2f}M"


def dollars(value: float) -> str:
    """``$1,234`` (``-$707``)."""
    return f"{'-' if round(value) < 0 else ''}${abs(value):,.0f}"


def _table(
    head: Sequence[str],
    rows: Sequence[Sequence[str]],
    numeric_from: int = 1,
    total_last: bool = False,
) -> str:
    """An HTML table; cells are already-escaped strings."""
    th = "".join(
        f'<th class="n">{h}</th>' if i >= numeric_from else f"<th>{h}</th>"
        for i, h in enumerate(head)
    )
    body = []
    for r, row in enumerate(rows):
        cls = ' class="total"' if total_last and r == len(rows) - 1 else ""
        tds = "".join(
            f'<td class="n">{c}</td>' if i >= numeric_from else f"<td>{c}</td>"
            for i, c in enumerate(row)
        )
        body.append(f"<tr{cls}>{tds}</tr>")
    return f"<table><thead><tr>{th}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _image(path: Path, alt: str) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def _cards(plan: Plan) -> str:
    s = plan.summary
    ws = s.whole_servers
    servers = (
        f"{sum(c.installed or 0 for c in ws.classes.values()):,}"
        if ws is not None and ws.classes and ws.status != "none"
        else f"{s.gpu_servers_installed:,.2f}"
    )
    cards = [
        ("margin over the horizon", musd(s.margin_usd)),
        ("hall converted to HPC", f"{s.hpc_mw_converted:,.1f} MW"),
        ("mean MW mining", f"{s.mean_mining_mw:,.1f} MW"),
        ("mean MW HPC", f"{s.mean_hpc_firm_mw + s.mean_hpc_interruptible_mw:,.1f} MW"),
        ("BTC earned (after pool fee)", f"{s.btc_earned:,.2f} BTC"),
        ("GPU servers installed", servers),
    ]
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card"><div class="v">{_e(v)}</div><div class="k">{_e(k)}</div></div>'
            for k, v in cards
        )
        + "</div>"
    )


def _split(plan: Plan, charts: dict[str, Path]) -> str:
    s = plan.summary
    total = s.mining_mwh + s.hpc_mwh
    share = s.mining_mwh / total if total > 0 else float("nan")
    text = (
        f"<p>Over {s.hours:,} hours the plan runs on average <b>{s.mean_mining_mw:,.1f} MW of "
        f"mining</b> and <b>{s.mean_hpc_firm_mw:,.1f} MW of firm HPC</b> plus "
        f"{s.mean_hpc_interruptible_mw:,.1f} MW of interruptible HPC; mining takes "
        f"{share:.0%} of the energy used. It converts <b>{s.hpc_mw_converted:,.1f} MW</b> of "
        f"mining hall to HPC. Mining is off in {s.hours_curtailed:,} hours "
        f"({s.curtailed_mwh:,.0f} MWh it could have used), {s.hours_curtailment_orders:,} of "
        "them under grid curtailment orders.</p>"
    )
    sites = plan.summary.sites
    rows = [
        [
            _e(name),
            f"{x.converted_mw:,.1f}",
            f"{x.mining_mwh:,.0f}",
            f"{x.hpc_mwh:,.0f}",
            f"{x.curtailed_mwh:,.0f}",
            f"{x.btc_earned:,.2f}",
        ]
        for name, x in sites.items()
    ]
    table = _table(
        ["site", "MW converted", "mining MWh", "HPC MWh", "curtailed MWh", "BTC earned"], rows
    )
    image = (
        _image(charts["allocation.png"], "site power by use") if "allocation.png" in charts else ""
    )
    return f"<h2>The split: power by use</h2>{text}{table}{image}"


def _money(plan: Plan) -> str:
    s = plan.summary
    sites = list(s.sites)
    head = (
        ["stream", "total USD", *(f"{_e(n)} USD" for n in sites)]
        if len(sites) > 1
        else [
            "stream",
            "USD",
            "share of revenue",
        ]
    )
    revenue = s.revenue_total_usd
    rows = []
    for key in (*REVENUE_KEYS, *COST_KEYS):
        value = getattr(s, key)
        if abs(value) < 0.5:
            continue
        cost = key in COST_KEYS
        row = [_e(stream_label(key)), usd(value, parens=cost)]
        if len(sites) > 1:
            row += [usd(getattr(s.sites[n], key), parens=cost) for n in sites]
        else:
            row.append(f"{value / revenue:.1%}" if revenue > 0 and not cost else "")
        rows.append(row)
    margin = ["Margin", usd(s.margin_usd)]
    margin += (
        [usd(s.sites[n].margin_usd) for n in sites]
        if len(sites) > 1
        else [f"{s.margin_usd / revenue:.1%}" if revenue > 0 else ""]
    )
    rows.append(margin)
    note = (
        '<p class="note">Costs in parentheses. Hall conversion and GPU capex are charged as '
        f"annuities at a {s.discount_rate:.1%} discount rate: capex committed "
        f"{musd(s.capex_usd)}, {musd(s.capex_annuity_usd_per_year)} a year.</p>"
    )
    return f"<h2>Money by stream</h2>{_table(head, rows, total_last=True)}{note}"


def _months(plan: Plan, charts: dict[str, Path]) -> str:
    s = plan.summary
    rows = [
        [
            _e(month),
            usd(m.revenue_total_usd),
            usd(m.cost_total_usd, parens=True),
            usd(m.margin_usd),
            f"{m.btc_earned:,.3f}",
            f"{m.mean_hashprice_usd_per_ph_day:,.2f}",
            f"{m.mean_price_usd_per_mwh:,.2f}",
        ]
        for month, m in s.months.items()
    ]
    rows.append(
        [
            "Total",
            usd(s.revenue_total_usd),
            usd(s.cost_total_usd, parens=True),
            usd(s.margin_usd),
            f"{s.btc_earned:,.3f}",
            f"{s.mean_hashprice_usd_per_ph_day:,.2f}",
            f"{s.mean_price_usd_per_mwh:,.2f}",
        ]
    )
    table = _table(
        [
            "month (UTC)",
            "revenue USD",
            "costs USD",
            "margin USD",
            "BTC earned",
            "hashprice USD/PH/s/day",
            "power USD/MWh",
        ],
        rows,
        total_last=True,
    )
    image = (
        _image(charts["monthly_pnl.png"], "money by month") if "monthly_pnl.png" in charts else ""
    )
    return f"<h2>Money by month</h2>{image}{table}"


def _drivers(plan: Plan, charts: dict[str, Path]) -> str:
    s = plan.summary
    d = plan.data
    sh = plan.site_hours
    rows = []
    for i, (name, x) in enumerate(s.sites.items()):
        value = sh.loc[sh["site"] == name, "import_value_usd_per_mwh"]
        binding = int((value > 1e-6).sum())
        annuity = d.conversion_usd_per_mw_hour[i] * d.hours
        rows.append(
            [
                _e(name),
                f"{x.converted_mw:,.1f} of {d.convertible_mw[i]:,.1f}",
                usd(annuity),
                usd(x.conversion_value_usd_per_mw),
                usd(x.hpc_hall_value_usd_per_mw),
                usd(x.mining_hall_value_usd_per_mw),
                usd(float(value.sum()) if value.notna().any() else None),
                f"{binding:,}",
            ]
        )
    table = _table(
        [
            "site",
            "MW converted",
            "conversion cost per MW over the horizon, USD",
            "one more convertible MW, USD",
            "one more MW of HPC hall, USD",
            "one more MW of mining hall, USD",
            "one more MW of grid import, USD",
            "hours the import limit binds",
        ],
        rows,
    )
    parts = [
        "<h2>What drives the decision</h2>",
        "<p>What one more MW of each limit would add to the margin over the horizon, with "
        "everything else re-optimized (the LP's shadow prices). A value of zero means the "
        "limit does not bind: more of it would earn nothing. A convertible MW is worth "
        "converting while its value exceeds its conversion cost.</p>",
        table,
    ]
    if s.leases:
        lease_rows = [
            [
                _e(name),
                f"{x.firm_it_mw:,.2f}",
                usd(x.min_cost_usd_per_mw),
                usd(x.max_value_usd_per_mw),
            ]
            for name, x in s.leases.items()
        ]
        parts.append(
            _table(
                [
                    "lease",
                    "firm IT MW",
                    "cost of one more MW of minimum, USD",
                    "value of one more MW of maximum, USD",
                ],
                lease_rows,
            )
        )
    ws = s.whole_servers
    if ws is not None and ws.classes:
        server_rows = [
            [
                _e(name),
                f"{c.firm_lp:,.2f}",
                "n/a" if c.firm is None else f"{c.firm:,}",
                f"{c.installed_lp:,.2f}",
                "n/a" if c.installed is None else f"{c.installed:,}",
            ]
            for name, c in ws.classes.items()
        ]
        effect = (
            "the LP's counts are whole servers already"
            if ws.status == "whole"
            else "no whole-server plan was found next to the LP's; the figures are the LP's"
            if ws.margin_effect_usd is None
            else f"rounding to whole servers changes the margin by "
            f"<b>{dollars(ws.margin_effect_usd)}</b> (to {musd(ws.margin_usd)})"
        )
        parts.append(
            f"<p>GPU servers in whole numbers: {effect}.</p>"
            + _table(["GPU class", "firm (LP)", "firm", "installed (LP)", "installed"], server_rows)
        )
    if "duals.png" in charts:
        parts.append(_image(charts["duals.png"], "what more capacity is worth"))
    return "".join(parts)


def _assumptions(plan: Plan) -> str:
    d = plan.data
    s = plan.summary
    btc = d.btc_price_usd
    rows = [
        [
            "horizon (UTC)",
            _e(f"{d.index[0]:%Y-%m-%d %H:%M} to {d.index[-1]:%Y-%m-%d %H:%M}, {d.hours:,} hours"),
        ],
        [
            "BTC price",
            _e(f"${np.mean(btc):,.0f} mean (${np.min(btc):,.0f} to ${np.max(btc):,.0f})"),
        ],
        [
            "hashprice",
            _e(
                f"${np.mean(d.hashprice_usd_per_ph_day):,.2f} per PH/s per day mean "
                f"(${np.min(d.hashprice_usd_per_ph_day):,.2f} to "
                f"${np.max(d.hashprice_usd_per_ph_day):,.2f})"
            ),
        ],
        ["discount rate", _e(f"{d.discount_rate:.1%} a year")],
    ]
    for i, name in enumerate(d.site_names):
        p = d.price_usd_per_mwh[i]
        rows.append(
            [
                _e(f"site {name}"),
                _e(
                    f"grid {d.interconnect_mw[i]:,.1f} MW, mining hall {d.mining_hall_mw[i]:,.1f} "
                    f"MW, up to {d.convertible_mw[i]:,.1f} MW convertible at "
                    f"${d.conversion_usd_per_mw[i] / 1e6:,.2f}M per MW over "
                    f"{d.conversion_life_years[i]:g} years, existing HPC hall "
                    f"{d.existing_hpc_mw[i]:,.1f} MW; spot power ${np.mean(p):,.2f}/MWh mean "
                    f"(${np.min(p):,.0f} to ${np.max(p):,.0f}), {int((p < 0).sum()):,} "
                    f"negative hours, {int(d.curtailed[i].sum()):,} hours under curtailment "
                    "orders"
                ),
            ]
        )
        if d.ppa_block_mw[i].any():
            rows.append(
                [
                    _e(f"PPA at {name}"),
                    _e(
                        f"{d.ppa_block_mw[i].mean():,.1f} MW mean block at "
                        f"${d.ppa_price_usd_per_mwh[i]:,.2f}/MWh"
                        + (", resold at spot" if d.resale_factor[i] > 0 else ", no resale")
                    ),
                ]
            )
    for k, name in enumerate(d.gpu_names):
        service = "firm" if d.gpu_firm[k] else "interruptible"
        if d.gpu_firm[k] and d.gpu_interruptible[k]:
            service = "firm or interruptible"
        capex = (
            f", ${d.gpu_capex_usd_per_server[k]:,.0f} per server over {d.gpu_life_years[k]:g} years"
            if d.gpu_capex_usd_per_server[k] > 0
            else ", the tenant's servers"
        )
        rows.append(
            [
                _e(f"GPU class {name}"),
                _e(
                    f"up to {d.gpu_max_servers[k]:,.0f} servers at "
                    f"{d.site_names[d.gpu_site[k]]}, {service}, "
                    f"${np.mean(d.gpu_rent_usd[k]):,.2f} per server-hour{capex}"
                ),
            ]
        )
    for i, name in enumerate(d.lease_names):
        hi = d.lease_max_mw[i]
        rows.append(
            [
                _e(f"lease {name}"),
                _e(
                    f"{d.lease_min_mw[i]:,.1f} to "
                    + (f"{hi:,.1f}" if np.isfinite(hi) else "any")
                    + " MW of firm IT"
                ),
            ]
        )
    rows.append(["solver", _e(f"{s.solver} ({s.status})")])
    return "<h2>Key assumptions</h2>" + _table(["what", "value"], rows, numeric_from=99)


def render_html(plan: Plan, charts: Sequence[Path] = ()) -> str:
    """The page as one string (charts: PNG files to embed, by file name)."""
    s = plan.summary
    d = plan.data
    by_name = {Path(p).name: Path(p) for p in charts}
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(s.scenario)}: mining and HPC plan</title>"
        f"<style>{STYLE}</style></head><body>"
        f"<h1>{_e(s.scenario)}: mining and HPC plan</h1>"
        f'<p class="sub">{d.index[0]:%Y-%m-%d} to {d.index[-1]:%Y-%m-%d} (UTC), '
        f"{s.hours:,} hours, {len(d.site_names)} site(s); {_e(s.status)} plan</p>"
        + _cards(plan)
        + _split(plan, by_name)
        + _money(plan)
        + _months(plan, by_name)
        + _drivers(plan, by_name)
        + _assumptions(plan)
        + f'<p class="note">hashpivot {_e(_version())}, written {now}. Months are calendar '
        "months in UTC. Every table adds up to the plan's totals (summary.json).</p>"
        "</body></html>\n"
    )


def write_html(plan: Plan, path: str | Path, *, charts: Sequence[Path] = ()) -> Path:
    """Write ``report.html`` with ``charts`` (PNG files) embedded."""
    path = Path(path)
    text = render_html(plan, charts)
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return path
