"""Charts, drawn on matplotlib's Agg canvas (no display, no pyplot state for plan charts).

- ``allocation.png``: stacked site MW (mining, HPC firm, HPC interruptible, curtailed) per
  site, the spot price in a panel below. Beyond three weeks: daily means, with the hourly
  range of the MW in use and of the price as bands (hourly otherwise); the price on a
  symmetric-log axis so spikes and negative hours both show;
- ``duals.png``: what more capacity is worth, per site: one more MW of grid import hour by
  hour [USD/MWh], and one more MW of import, mining hall, HPC hall or convertible hall over
  the horizon [USD/MW] (a limit that never binds is said so, not drawn as a flat zero);
- ``monthly_pnl.png``: revenues and costs by stream per month with the margin;
- ``margin_by_class.png``: class x month margin at spot (``hashpivot score``);
- ``axes.png`` and ``monte_carlo.png``: what a study's rows say, axes named in words with
  units.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optimizer.accounting import COST_KEYS, REVENUE_KEYS
from optimizer.plan import Plan
from optimizer.report.files import atomic_write
from optimizer.report.money import stream_label
from optimizer.study.monte_carlo import simulate_study_paths
from optimizer.study.regimes import along, ok_rows
from optimizer.study.rows import PATH_AXIS

#: Beyond this horizon the allocation chart shows daily means [h].
HOURLY_CHART_MAX_HOURS = 24 * 21
#: An hourly value above this counts as a binding limit [USD/MWh].
BINDING_TOL = 1e-6


STACK = (
    ("mining_mw", "mining", "#f2a900"),
    ("hpc_firm_mw", "HPC firm", "#1f5aa6"),
    ("hpc_interruptible_mw", "HPC interruptible", "#6fa8dc"),
    ("curtailed_mw", "curtailed", "#d9d9d9"),
)

#: Colours of the money streams in the monthly P&L chart (others from a colour map).
STREAM_COLORS = {
    "revenue_mining_usd": "#f2a900",
    "revenue_hosting_usd": "#c98b00",
    "revenue_hpc_usd": "#1f5aa6",
    "pass_through_usd": "#6fa8dc",
    "resale_credit_usd": "#5aa469",
    "energy_cost_usd": "#8e1b10",
    "ppa_cost_usd": "#c0392b",
    "ppa_settlement_usd": "#e6b0aa",
    "peak_charge_usd": "#7d3c98",
    "conversion_cost_usd": "#5d6d7e",
    "gpu_capex_usd": "#a6acaf",
    "sla_penalty_usd": "#d35400",
    "shortfall_usd": "#f1948a",
}


def _figure(n_panels: int, height_in: float, n_cols: int = 1, *, layout: str | None = None, **kw):
    """A 13 in wide figure of ``n_panels`` rows on the Agg canvas.

    ``layout="constrained"`` lets matplotlib place the axes around their labels; without it
    the caller places them (:func:`_place`): the plan's charts, where the constrained layout
    took half of the drawing time (every tick and label measured once more before drawing).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 0.9 + height_in * n_panels), layout=layout)
    FigureCanvasAgg(fig)
    axes = fig.subplots(n_panels, n_cols, squeeze=False, **kw)
    return fig, (axes[:, 0] if n_cols == 1 else axes)


#: Room left of the axes for tick labels and the axis label, below them for (date) tick
#: labels, right of them for a last tick label at the edge [in].
LEFT_IN, BOTTOM_IN, RIGHT_IN = 0.9, 0.32, 0.3
#: Height of the figure title's band and of an axes title's band [in].
SUPTITLE_IN, TITLE_IN = 0.3, 0.26


def _place(
    fig,
    rows: Any,
    *,
    top_in: float,
    gaps_in: Sequence[float] = (),
    height_ratios: Sequence[float] | None = None,
    width_ratios: Sequence[float] | None = None,
    wspace_in: float = 0.0,
    left_in: float = LEFT_IN,
    right_in: float = RIGHT_IN,
    bottom_in: float = BOTTOM_IN,
) -> None:
    """Place a grid of axes (``rows[r][c]``) by margins and gaps in inches.

    ``gaps_in[r]`` is the space between row ``r`` and row ``r + 1`` (room for tick labels and
    the next row's title), ``wspace_in`` between columns. A figure title, if any, sits in
    the top :data:`SUPTITLE_IN` (``top_in`` includes it).
    """
    width_in, height_in = fig.get_size_inches()
    n_rows, n_cols = len(rows), len(rows[0])
    hr = np.asarray(height_ratios if height_ratios is not None else [1.0] * n_rows, float)
    wr = np.asarray(width_ratios if width_ratios is not None else [1.0] * n_cols, float)
    free_h = height_in - top_in - bottom_in - float(np.sum(gaps_in))
    free_w = width_in - left_in - right_in - wspace_in * (n_cols - 1)
    heights, widths = free_h * hr / hr.sum(), free_w * wr / wr.sum()
    top = height_in - top_in
    for r, row in enumerate(rows):
        left = left_in
        for c, ax in enumerate(row):
            ax.set_position(
                [
                    left / width_in,
                    (top - heights[r]) / height_in,
                    widths[c] / width_in,
                    heights[r] / height_in,
                ]
            )
            left += widths[c] + wspace_in
        top -= heights[r] + (gaps_in[r] if r < len(gaps_in) else 0.0)


def _suptitle(fig, text: str) -> None:
    """The figure title, centred in the top :data:`SUPTITLE_IN` of the figure."""
    height_in = fig.get_size_inches()[1]
    fig.suptitle(text, fontsize=12, y=1.0 - 0.5 * SUPTITLE_IN / height_in, va="center")


def _money_axis(axis, millions: bool) -> None:
    """Tick labels in thousands (``250k``) or millions (``1.5M``) of an x or y axis."""
    from matplotlib.ticker import FuncFormatter

    scale, unit = (1e6, "M") if millions else (1e3, "k")
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / scale:,.1f}{unit}"))


def _plain_symlog(ax) -> None:
    """A symmetric-log y axis (linear within +-100) with tick labels as plain numbers
    (``1,000``, ``-100``), not powers of ten set as math text."""
    from matplotlib.ticker import FuncFormatter

    ax.set_yscale("symlog", linthresh=100.0)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))


def _price_panel(ax, price: pd.Series, daily: bool) -> None:
    """The spot price under a site's MW panel, on a symmetric-log axis (spikes and negative
    hours both visible): hourly as a line, or (``daily``) the daily mean with the day's hourly
    range as a band."""
    if daily:
        by_day = price.resample("D")
        low = by_day.min()
        ax.fill_between(
            low.index,
            low.to_numpy(),
            by_day.max().to_numpy(),
            step="post",
            color="#c0392b",
            alpha=0.18,
            lw=0,
            label="hourly range",
        )
        mean = by_day.mean()
        ax.step(
            mean.index, mean.to_numpy(), where="post", color="#8e1b10", lw=0.9, label="daily mean"
        )
        ax.legend(loc="upper left", fontsize=7, ncol=2, framealpha=0.8)
    else:
        ax.plot(price.index, price.to_numpy(), color="#8e1b10", lw=0.7)
    ax.axhline(0.0, color="k", lw=0.4)
    _plain_symlog(ax)
    ax.set_ylabel("spot price\n[USD/MWh]", fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    ax.grid(alpha=0.3)
    ax.margins(x=0)


def allocation_chart(plan: Plan, path: str | Path) -> Path:
    """Stacked MW per site (mining, HPC firm, HPC interruptible, curtailed) with the spot price:
    hourly up to three weeks, daily means with the hourly range beyond."""
    sh = plan.site_hours
    sites = list(plan.data.site_names)
    fig, grid = _figure(2 * len(sites), 2.2, sharex=True)
    _place(
        fig,
        [[ax] for ax in grid],
        top_in=SUPTITLE_IN + TITLE_IN,
        # a site's price panel right under its MW panel (shared time axis, no tick labels
        # between), the next site's title between sites
        gaps_in=[0.17, TITLE_IN + 0.05] * (len(sites) - 1) + [0.17],
        height_ratios=[3.0, 1.2] * len(sites),
    )
    daily = plan.data.hours > HOURLY_CHART_MAX_HOURS
    cols = [c for c, _, _ in STACK]
    for ax, ax_price, site in zip(grid[0::2], grid[1::2], sites, strict=True):
        frame = sh[sh["site"] == site].set_index("time")
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
        top = float(body[cols].sum(axis=1).max())
        if daily:
            used = frame[cols[:3]].sum(axis=1).resample("D")
            lo, hi = used.min(), used.max()
            ax.fill_between(
                lo.index,
                lo.to_numpy(),
                hi.to_numpy(),
                step="post",
                color="k",
                alpha=0.12,
                lw=0,
                label="MW in use, hourly range",
            )
            top = max(top, float(used.max().max()))
        ax.step(
            cap.index,
            cap.to_numpy(),
            where="post",
            color="k",
            lw=0.7,
            ls="--",
            label="import cap" + (" (daily min)" if daily else ""),
        )
        ax.set_ylabel("MW" + (" (daily mean)" if daily else " (hourly)"))
        ax.set_title(
            f"{site}: {plan.converted_mw[site]:,.1f} MW of hall converted to HPC; "
            f"site margin \\${plan.summary.sites[site].margin_usd / 1e6:,.2f}M over "
            f"{plan.data.hours:,} h",
            fontsize=10,
            loc="left",
        )
        top = max(top, float(cap.max()), 1e-9)
        ax.set_ylim(0, top * 1.2)  # room for the legend
        ax.legend(loc="upper left", fontsize=8, ncol=6, framealpha=0.8)
        ax.margins(x=0)
        _price_panel(ax_price, frame["price_usd_per_mwh"], daily)
    what = "daily means and hourly range" if daily else "hour by hour"
    _suptitle(fig, f"{plan.scenario}: site power by use ({what})")
    _save(fig, Path(path))
    return Path(path)


def duals_chart(plan: Plan, path: str | Path) -> Path:
    """What more capacity is worth, per site: one more MW of grid import hour by hour
    [USD/MWh] (left), and one more MW of each limit over the horizon [USD/MW] (right)."""
    sh = plan.site_hours
    sites = list(plan.data.site_names)
    fig, axes = _figure(len(sites), 2.8, n_cols=2)
    _place(
        fig,
        axes,
        top_in=SUPTITLE_IN + TITLE_IN,
        gaps_in=[BOTTOM_IN + TITLE_IN] * (len(sites) - 1),
        width_ratios=[3, 1.3],
        wspace_in=1.15,  # the bar panel's labels ("convertible hall")
    )
    daily = plan.data.hours > HOURLY_CHART_MAX_HOURS
    hours = plan.data.hours
    for (ax, ax_bar), site in zip(axes, sites, strict=True):
        frame = sh[sh["site"] == site].set_index("time")
        value = frame["import_value_usd_per_mwh"]
        if value.isna().all():
            for a in (ax, ax_bar):
                a.text(
                    0.5,
                    0.5,
                    f"{plan.solver} reports no shadow prices",
                    ha="center",
                    transform=a.transAxes,
                )
                a.set_axis_off()
            continue
        binding = int((value > BINDING_TOL).sum())
        if binding == 0:
            ax.text(
                0.5,
                0.5,
                f"{site}: the grid import limit never binds in this plan:\n"
                "one more MW of interconnect would earn nothing.",
                ha="center",
                va="center",
                transform=ax.transAxes,
                fontsize=10,
            )
            ax.set_axis_off()
        else:
            if daily:
                day = value.resample("D")
                high, mean = day.max(), day.mean()
                ax.fill_between(
                    high.index,
                    0,
                    high.to_numpy(),
                    step="post",
                    color="#1f5aa6",
                    alpha=0.2,
                    lw=0,
                    label="highest hour of the day",
                )
                ax.step(
                    mean.index,
                    mean.to_numpy(),
                    where="post",
                    color="#1f5aa6",
                    lw=0.8,
                    label="daily mean",
                )
                ax.legend(loc="upper right", fontsize=8)
            else:
                ax.plot(value.index, value.to_numpy(), color="#1f5aa6", lw=0.6)
                ax.fill_between(value.index, 0, value.to_numpy(), color="#1f5aa6", alpha=0.25, lw=0)
            if value.max() > 500:
                _plain_symlog(ax)
            ax.set_ylabel("USD per MWh")
            ax.set_title(
                f"{site}: one more MW of grid import would earn \\${value.mean():,.2f}/MWh on "
                f"average (up to \\${value.max():,.0f}/MWh); the limit binds {binding:,} of "
                f"{hours:,} h",
                fontsize=10,
                loc="left",
            )
            ax.margins(x=0)
        s = plan.summary.sites[site]
        bars = [
            ("grid import", float(value.sum())),
            ("mining hall", s.mining_hall_value_usd_per_mw),
            ("HPC hall", s.hpc_hall_value_usd_per_mw),
            ("convertible hall", s.conversion_value_usd_per_mw),
        ]
        labels = [b[0] for b in bars]
        values = [0.0 if b[1] is None or not np.isfinite(b[1]) else b[1] for b in bars]
        ax_bar.barh(labels, values, color=["#1f5aa6", "#f2a900", "#6fa8dc", "#5d6d7e"])
        ax_bar.invert_yaxis()
        ax_bar.set_title(f"one more MW over {hours:,} h [USD]", fontsize=9)
        _money_axis(ax_bar.xaxis, millions=max(abs(v) for v in values) >= 1e6)
        for i, v in enumerate(values):
            ax_bar.text(v, i, f" \\${v:,.0f}", va="center", fontsize=8)
        ax_bar.set_xlim(0, max(max(values), 1.0) * 1.6)
        ax_bar.tick_params(axis="y", labelsize=8)
    _suptitle(fig, f"{plan.scenario}: what more capacity is worth")
    _save(fig, Path(path))
    return Path(path)


def monthly_pnl_chart(plan: Plan, path: str | Path) -> Path:
    """Revenues (up) and costs (down) by stream per month [USD], with the margin as a line."""
    months = plan.summary.months
    labels = list(months)
    x = np.arange(len(labels))
    fig, (ax,) = _figure(1, 4.6)
    cmap = _colormap()
    streams = []
    for sign, keys in ((1.0, REVENUE_KEYS), (-1.0, COST_KEYS)):
        base = np.zeros(len(labels))
        for i, key in enumerate(keys):
            values = np.array([m.money.get(key, 0.0) for m in months.values()]) * sign
            if not np.any(np.abs(values) > 0.5):
                continue
            color = STREAM_COLORS.get(key, cmap(i % 20))
            streams.append(_bars(ax, x, values, base, stream_label(key), color))
            base = base + values
    margin = np.array([m.margin_usd for m in months.values()])
    (margin_line,) = ax.plot(x, margin, color="k", marker="o", lw=1.5, label="margin")
    for i, v in enumerate(margin):
        ax.annotate(
            f"{v / 1e6:,.2f}M",
            (x[i], v),
            textcoords="offset points",
            xytext=(0, 6),
            ha="center",
            fontsize=8,
        )
    ax.axhline(0, color="k", lw=0.6)
    rotate = len(labels) > 12
    ax.set_xticks(x, labels, rotation=45 if rotate else 0)
    ax.set_ylabel("USD per month (costs below zero)")
    _money_axis(ax.yaxis, millions=float(np.abs(margin).max(initial=0.0)) >= 1e5)
    legend = ax.legend(
        handles=[margin_line, *streams], loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8
    )
    legend_in = legend.get_window_extent(fig.canvas.get_renderer()).width / fig.dpi
    _place(
        fig,
        [[ax]],
        top_in=TITLE_IN + 0.06,
        right_in=legend_in + 0.15,
        bottom_in=0.75 if rotate else BOTTOM_IN,
    )
    ax.grid(axis="y", alpha=0.3)
    total = plan.summary.margin_usd
    ax.set_title(
        f"{plan.scenario}: money by stream and month (UTC); margin \\${total / 1e6:,.2f}M "
        f"over {plan.data.hours:,} h",
        fontsize=11,
        loc="left",
    )
    _save(fig, Path(path))
    return Path(path)


def _bars(ax, x: np.ndarray, heights: np.ndarray, bottom: np.ndarray, label: str, color):
    """Bars 0.75 wide from ``bottom`` to ``bottom + heights``, as ``ax.bar`` draws them, but
    one collection for the stream rather than one artist per month."""
    from matplotlib.collections import PolyCollection

    left, right, top = x - 0.375, x + 0.375, bottom + heights
    verts = np.stack(
        [np.column_stack(c) for c in ((left, bottom), (right, bottom), (right, top), (left, top))],
        axis=1,
    )
    bars = PolyCollection(verts, facecolors=color, edgecolors="none", linewidths=0, label=label)
    bars.sticky_edges.y.extend(bottom)  # as ax.bar: no margin below a bar's foot
    ax.add_collection(bars)
    return bars


def _colormap():
    from matplotlib import colormaps

    return colormaps["tab20"]


def margin_heatmap(class_hours: pd.DataFrame, path: Path) -> Path:
    """Class x month heat map of margin at spot price [USD thousand], diverging around zero."""
    monthly = (
        class_hours.assign(month=class_hours["time"].dt.strftime("%Y-%m")).pivot_table(
            index="class", columns="month", values="margin_usd", aggfunc="sum", sort=False
        )
        / 1000.0
    )
    lim = float(np.nanmax(np.abs(monthly.to_numpy()))) or 1.0
    fig, (ax,) = _figure(1, 0.45 * monthly.shape[0] + 1.5, layout="constrained")
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


#: Words and unit of scenario fields a study axis may move (the last part of the path).
FIELD_WORDS = {
    "btc_price_usd": ("BTC price", "USD"),
    "difficulty": ("network difficulty", ""),
    "network_hashrate_ehs": ("network hashrate", "EH/s"),
    "fees_btc_per_block": ("fees per block", "BTC"),
    "height": ("block height", ""),
    "pool_fee": ("pool fee", "fraction"),
    "price_scale": ("power price", "x the base price"),
    "scale": ("scale", "x"),
    "price_usd_per_mwh": ("power price", "USD/MWh"),
    "peak_adder_usd_per_mwh": ("coincident-peak adder", "USD/MWh"),
    "interconnect_mw": ("grid interconnect", "MW"),
    "mining_hall_mw": ("mining hall", "MW"),
    "convertible_mw": ("convertible hall", "MW"),
    "existing_hpc_mw": ("existing HPC hall", "MW"),
    "conversion_usd_per_mw": ("hall conversion capex", "USD/MW"),
    "conversion_life_years": ("hall conversion life", "years"),
    "discount_rate": ("discount rate", "1/year"),
    "min_mw": ("lease minimum", "MW IT"),
    "max_mw": ("lease maximum", "MW IT"),
    "sla_penalty_usd_per_mwh": ("SLA penalty", "USD/MWh"),
    "rate_usd_per_gpu_hour": ("GPU rate", "USD/GPU-h"),
    "lease_usd_per_kw_month": ("colocation rate", "USD/kW-month"),
    "utilization": ("GPU utilization", "fraction"),
    "capex_usd_per_server": ("server capex", "USD"),
    "life_years": ("server life", "years"),
    "max_servers": ("servers at most", "servers"),
    "block_mw": ("PPA block", "MW"),
    "resale_fee": ("PPA resale fee", "fraction"),
    "rate_usd_per_mwh": ("hosting rate", "USD/MWh"),
    "uptime": ("contracted uptime", "fraction"),
    "count": ("machines", "machines"),
    "hashrate_ths": ("hashrate per machine", "TH/s"),
    "power_kw": ("power per machine", "kW"),
    "hours": ("horizon", "h"),
    "min_take_mwh_per_month": ("monthly minimum take", "MWh"),
    "shortfall_usd_per_mwh": ("minimum-take shortfall price", "USD/MWh"),
    "temp_c": ("temperature", "C"),
    "pue0": ("PUE", ""),
}
#: Units of field name endings, for fields :data:`FIELD_WORDS` does not know.
UNIT_SUFFIXES = (
    ("_usd_per_mwh", "USD/MWh"),
    ("_usd_per_mw", "USD/MW"),
    ("_usd", "USD"),
    ("_mwh", "MWh"),
    ("_mw", "MW"),
    ("_kw", "kW"),
    ("_ths", "TH/s"),
    ("_ehs", "EH/s"),
    ("_years", "years"),
    ("_c", "C"),
    ("_h", "h"),
)
#: Words for the tables a dotted path starts with.
TABLE_WORDS = {
    "sites": "site",
    "gpus": "GPU class",
    "leases": "lease",
    "fleet": "fleet row",
    "hosting": "hosting row",
    "ppas": "PPA",
    "classes": "classes",
}


def field_label(path: str, *, factors: bool = False, short: bool = False) -> str:
    """A study axis in words with its unit: ``market.btc_price_usd`` -> ``BTC price [USD]``,
    ``sites.odessa.price_scale`` -> ``odessa: power price [x the base price]``,
    ``leases.tenant.min_mw`` -> ``lease tenant: lease minimum [MW IT]``; ``factors``: the
    axis multiplies the base value; ``short``: without the unit (legends)."""
    if path == PATH_AXIS:
        return "Monte Carlo path"
    parts = path.split(".")
    leaf = parts[-1]
    if leaf in ("scale", "value") and len(parts) > 1 and parts[-2] in FIELD_WORDS:
        leaf = parts[-2]  # sites.odessa.price_usd_per_mwh.scale
        parts = parts[:-1]
    words, unit = FIELD_WORDS.get(leaf, (None, None))
    if words is None:
        unit = next((u for suffix, u in UNIT_SUFFIXES if leaf.endswith(suffix)), "")
        stem = leaf
        for suffix, _ in UNIT_SUFFIXES:
            if leaf.endswith(suffix):
                stem = leaf[: -len(suffix)]
                break
        words = stem.replace("_", " ")
    if path.endswith(".scale") and leaf != "scale":
        unit = "x the base series"
    owner = ""
    if len(parts) >= 3 and parts[0] in TABLE_WORDS:
        owner = parts[1] if parts[0] == "sites" else f"{TABLE_WORDS[parts[0]]} {parts[1]}"
    label = f"{owner}: {words}" if owner else words
    if factors:
        unit = "x the base value"
    return label if short or not unit else f"{label} [{unit}]"


def _number_words(value: Any) -> str:
    """``60,000``, ``0.8``, ``1.5e+07``; anything not a number as it is."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        return str(value)
    return f"{float(value):,.6g}"


def horizon_words(rows: pd.DataFrame) -> str:
    """``"2,184 h (91 days)"`` when every row has the same horizon, else ``"each horizon"``."""
    if "hours" not in rows or rows["hours"].nunique() != 1:
        return "each horizon"
    hours = int(rows["hours"].iloc[0])
    days = hours / 24
    return f"{hours:,} h ({days:,.0f} days)" if hours >= 48 else f"{hours:,} h"


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
    from matplotlib.ticker import FuncFormatter

    horizon = horizon_words(rows)
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
                        f"{field_label(p, short=True)} {_number_words(v)}"
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
            ax.set_xlabel(field_label(axis.path, factors=axis.kind == "factors"))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _number_words(v)))
            ax.grid(alpha=0.3)
        ax_margin.set_ylabel(f"margin over {horizon} [M USD]")
        ax_mw.set_ylabel("hall converted to HPC [MW]")
    fig.suptitle(
        f"Margin over {horizon} and MW converted to HPC along each axis "
        "(others held; dashed: tipping points)"
    )
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
    ax_hist.set_title(f"margin of {len(margin)} scenarios; P(margin < 0) = {loss:.1%}", fontsize=9)
    ax_hist.set_xlabel(f"margin over {horizon_words(rows)} [M USD]")
    ax_hist.set_ylabel("scenarios")
    ax_hist.grid(alpha=0.3)
    _save(fig, path)
    plt.close(fig)
    return True
