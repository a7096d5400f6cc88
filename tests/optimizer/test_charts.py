"""The plan's charts: axes placed by margins in inches, every label inside the picture and
clear of the other panels, bars stacked to the plan's money, plain price tick labels."""

from __future__ import annotations

import numpy as np
import pytest

from optimizer.accounting import COST_KEYS, REVENUE_KEYS
from optimizer.report import charts
from optimizer.report.charts import BOTTOM_IN, LEFT_IN, RIGHT_IN, SUPTITLE_IN, TITLE_IN
from optimizer.report.money import stream_label


@pytest.fixture(scope="module")
def two_site_figures(tiny, tmp_path_factory):
    """The three plan charts of two sites over 30 days (daily means), as drawn."""
    hours = 24 * 30
    rng = np.random.default_rng(3)
    spiky = 30.0 + 20.0 * rng.standard_normal(hours)
    spiky[::97] = 2500.0  # above the symmetric-log threshold
    document = tiny.doc(
        hours=hours,
        sites=[
            tiny.site(price_usd_per_mwh=spiky, interconnect_mw=9.0, existing_hpc_mw=1.0),
            tiny.site(name="pecos-with-a-long-name", price_usd_per_mwh=40.0, interconnect_mw=1e3),
        ],
        fleet=[tiny.miner(), tiny.miner(count=300_000, site="pecos-with-a-long-name")],
        gpus=[tiny.cloud_gpu(max_servers=100)],
    )
    plan = tiny.plan(document)
    drawn = {}
    save = charts._save

    def keep(fig, path, dpi=110):
        save(fig, path, dpi)
        drawn[path.stem] = fig

    out = tmp_path_factory.mktemp("charts")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(charts, "_save", keep)
        for draw in (charts.allocation_chart, charts.duals_chart, charts.monthly_pnl_chart):
            draw(plan, out / f"{draw.__name__}.png")
    return plan, drawn


def test_axes_placed_in_inches():
    fig, axes = charts._figure(2, 2.2)
    charts._place(fig, [[a] for a in axes], top_in=0.56, gaps_in=[0.17], height_ratios=[3.0, 1.2])
    width, height = fig.get_size_inches()  # 13 x 5.3 in
    top, bottom = (a.get_position() for a in axes)
    np.testing.assert_allclose([top.x0 * width, (1 - top.x1) * width], [LEFT_IN, RIGHT_IN])
    np.testing.assert_allclose((1 - top.y1) * height, 0.56)
    np.testing.assert_allclose((top.y0 - bottom.y1) * height, 0.17)
    np.testing.assert_allclose(bottom.y0 * height, BOTTOM_IN)
    # what is left, 5.3 - 0.56 - 0.17 - 0.32 = 4.25 in, split 3 : 1.2
    np.testing.assert_allclose(
        [top.height * height, bottom.height * height], [3.0357, 1.2143], atol=1e-4
    )


@pytest.mark.parametrize("chart", ["allocation_chart", "duals_chart", "monthly_pnl_chart"])
def test_labels_inside_the_picture_and_clear_of_other_panels(two_site_figures, chart):
    _, drawn = two_site_figures
    fig = drawn[chart]
    renderer = fig.canvas.get_renderer()
    width, height = fig.bbox.width, fig.bbox.height
    boxes = [ax.get_tightbbox(renderer) for ax in fig.axes if ax.get_visible()]
    for box in boxes:  # tick labels, axis labels, titles and legends, in pixels
        assert box.x0 >= -0.5 and box.y0 >= -0.5, box
        assert box.x1 <= width + 0.5 and box.y1 <= height + 0.5, box
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            overlap_x = min(a.x1, b.x1) - max(a.x0, b.x0)
            overlap_y = min(a.y1, b.y1) - max(a.y0, b.y0)
            assert min(overlap_x, overlap_y) <= 0.5, (a, b)
    if fig.texts:  # the figure title sits in its band above every panel's title
        title = fig.texts[0].get_window_extent(renderer)
        assert title.y0 >= max(box.y1 for box in boxes) - 0.5
        assert height - title.y1 >= 0
        assert title.height <= SUPTITLE_IN * fig.dpi
    assert TITLE_IN * fig.dpi >= 0.8 * fig.axes[0].title.get_window_extent(renderer).height


def test_monthly_bars_stack_the_plan_money(two_site_figures):
    plan, drawn = two_site_figures
    (ax,) = drawn["monthly_pnl_chart"].axes
    months = list(plan.summary.months.values())
    bars = {c.get_label(): np.array([p.vertices for p in c.get_paths()]) for c in ax.collections}
    feet = {1.0: np.zeros(len(months)), -1.0: np.zeros(len(months))}
    for sign, keys in ((1.0, REVENUE_KEYS), (-1.0, COST_KEYS)):
        for key in keys:
            usd = sign * np.array([m.money.get(key, 0.0) for m in months])
            if stream_label(key) not in bars:  # streams of less than a dollar a month
                assert np.abs(usd).max() <= 0.5, key
                continue
            verts = bars.pop(stream_label(key))  # [month, corner, (x, y)]
            np.testing.assert_allclose(verts[:, 0, 1], feet[sign], rtol=1e-12, atol=1e-6)
            np.testing.assert_allclose(verts[:, 2, 1] - verts[:, 0, 1], usd, rtol=1e-9, atol=1e-6)
            np.testing.assert_allclose(verts[:, 0, 0], np.arange(len(months)) - 0.375)
            feet[sign] = verts[:, 2, 1]
    assert not bars  # nothing else drawn as bars
    assert ax.get_legend().get_texts()[0].get_text() == "margin"


def test_price_ticks_as_plain_numbers(two_site_figures):
    _, drawn = two_site_figures
    price = drawn["allocation_chart"].axes[1]  # the first site's price panel, symmetric log
    assert price.get_yscale() == "symlog"
    fmt = price.yaxis.get_major_formatter()
    assert [fmt(v, i) for i, v in enumerate([-100.0, 0.0, 100.0, 1000.0, 1e4])] == [
        "-100",
        "0",
        "100",
        "1,000",
        "10,000",
    ]
