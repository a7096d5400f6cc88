"""Issue 13 items 2-5: plan.xlsx read back with pandas, report.html parsed (and rendered in
headless Chromium where there is one), the charts, and ``hashpivot compare``."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from models import build_scenario, set_field
from models.example import example_doc
from optimizer.accounting import COST_KEYS, REVENUE_KEYS
from optimizer.cli import main
from optimizer.plan import plan_scenario
from optimizer.report.charts import field_label, horizon_words
from optimizer.report.compare import compare_plans, compare_table
from optimizer.report.excel import column_header
from optimizer.report.money import stream_label
from optimizer.report.plan_files import write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
HOURS = 24 * 40  # two calendar months of the example, past the daily-chart threshold


def example(hours: int = HOURS, **fields):
    doc = set_field(example_doc(), "scenario.hours", hours)
    for path, value in fields.items():
        doc = set_field(doc, path, value)
    return build_scenario(doc, source="<test>")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """The example over 40 days, written with every output."""
    out = tmp_path_factory.mktemp("report") / "out"
    plan = plan_scenario(example(), threads=1)
    paths = write_report(plan, out, tz="America/Chicago", excel=True)
    return plan, out, paths


def test_report_files(report):
    _, _, paths = report
    assert [p.name for p in paths] == [
        "plan.csv",
        "monthly.csv",
        "sites.csv",
        "gpus.csv",
        "allocation.png",
        "duals.png",
        "monthly_pnl.png",
        "plan.xlsx",
        "report.html",
        "summary.json",
    ]
    for p in paths:
        if p.suffix == ".png":
            assert p.read_bytes()[:8] == PNG_MAGIC


# --------------------------------------------------------------------------- plan.xlsx


def test_excel_reads_back_with_pandas(report):
    plan, out, _ = report
    s = plan.summary
    sheets = pd.read_excel(out / "plan.xlsx", sheet_name=None)
    assert list(sheets) == ["Summary", "Monthly", "Sites", "GPUs", "Hourly"]
    summary = sheets["Summary"].set_index("Item")
    assert summary.loc["Margin", "Value"] == pytest.approx(s.margin_usd, rel=1e-12)
    assert summary.loc["Margin", "Unit"] == "USD"
    assert summary.loc[stream_label("revenue_mining_usd"), "Value"] == pytest.approx(
        s.revenue_mining_usd, rel=1e-12
    )
    assert summary.loc["BTC mined (before pool fee)", "Value"] == pytest.approx(s.btc_mined)
    # units in every money header; months and sites add up to the totals
    monthly, sites = sheets["Monthly"], sheets["Sites"]
    assert monthly["Month"].tolist() == ["2026-01", "2026-02"]
    assert monthly["Hours [h]"].sum() == HOURS
    for key in (*REVENUE_KEYS, *COST_KEYS, "margin_usd"):
        words, unit = column_header(key)
        assert unit == "USD"
        header = f"{words} [USD]"
        assert monthly[header].sum() == pytest.approx(getattr(s, key), rel=0, abs=1e-6), key
        assert sites[header].sum() == pytest.approx(getattr(s, key), rel=0, abs=1e-6), key
    assert monthly["BTC mined (before pool fee) [BTC]"].sum() == pytest.approx(s.btc_mined)
    assert "Mean hashprice [USD/PH/s/day]" in monthly
    gpus = sheets["GPUs"].set_index("GPU class")
    assert gpus.loc["tenant-h100", "Firm servers (whole)"] == int(
        gpus.loc["tenant-h100", "Firm servers (whole)"]
    )
    hourly = sheets["Hourly"]
    assert len(hourly) == HOURS
    assert list(hourly.columns[:3]) == ["Site", "Time (UTC)", "Local time (America/Chicago)"]
    assert hourly["Time (UTC)"].iloc[0] == pd.Timestamp("2026-01-01 00:00")
    assert hourly["Local time (America/Chicago)"].iloc[0] == pd.Timestamp("2025-12-31 18:00")
    assert hourly["Mining [MW]"].sum() == pytest.approx(s.mining_mwh, rel=1e-9)
    assert hourly["Margin [USD]"].sum() == pytest.approx(s.margin_usd, rel=1e-9)


def test_excel_number_formats(report):
    from openpyxl import load_workbook

    _, out, _ = report
    wb = load_workbook(out / "plan.xlsx", read_only=True)
    monthly = wb["Monthly"]
    header = [c.value for c in next(monthly.iter_rows(min_row=1, max_row=1))]
    row = next(monthly.iter_rows(min_row=2, max_row=2))
    margin = row[header.index("Margin [USD]")]
    assert margin.number_format == "#,##0;[Red]-#,##0"
    hourly = wb["Hourly"]
    cells = next(hourly.iter_rows(min_row=2, max_row=2))
    assert cells[1].number_format == "yyyy-mm-dd hh:mm" and cells[1].is_date
    wb.close()


def test_excel_needs_openpyxl(report, tmp_path, monkeypatch):
    from optimizer.errors import OutputError
    from optimizer.report import plan_files

    plan, _, _ = report
    monkeypatch.setattr(plan_files, "excel_available", lambda: False)
    with pytest.raises(OutputError, match=r"hashpivot\[excel\]"):
        write_report(plan, tmp_path / "x", excel=True)


# --------------------------------------------------------------------------- report.html


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.headings: list[str] = []
        self._in_h2 = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_h2 = tag == "h2"

    def handle_endtag(self, tag):
        if tag == "h2":
            self._in_h2 = False

    def handle_data(self, data):
        self.text.append(data)
        if self._in_h2:
            self.headings.append(data.strip())


def test_html_is_one_self_contained_page(report):
    plan, out, _ = report
    s = plan.summary
    page = _Page()
    raw = (out / "report.html").read_text(encoding="utf-8")
    page.feed(raw)
    page.close()
    assert page.headings == [
        "The split: power by use",
        "Money by stream",
        "Money by month",
        "What drives the decision",
        "Key assumptions",
    ]
    # nothing fetched: no scripts, no links, every image embedded as PNG
    tags = [t for t, _ in page.tags]
    assert "script" not in tags and "link" not in tags and "iframe" not in tags
    images = [a for t, a in page.tags if t == "img"]
    assert len(images) == 3
    for attrs in images:
        assert attrs["src"].startswith("data:image/png;base64,")
        assert base64.b64decode(attrs["src"].split(",", 1)[1])[:8] == PNG_MAGIC
        assert attrs.get("alt")
    for _, attrs in page.tags:
        for key in ("src", "href"):
            assert not str(attrs.get(key, "data:")).startswith(("http", "//")), attrs
    text = " ".join(page.text)
    assert s.scenario in text
    assert f"{s.margin_usd:,.0f}" in text  # the margin in the stream table
    assert f"{s.months['2026-02'].margin_usd:,.0f}" in text  # a month's margin
    for label in ("Mining revenue (BTC)", "HPC revenue (GPU rent and sales)", "Spot energy cost"):
        assert label in text
    assert "one more convertible MW" in text and "one more MW of grid import" in text
    assert "BTC price" in text and "discount rate" in text  # assumptions
    assert "tenant-h100" in text  # whole servers and GPU classes


def _chromium() -> str | None:
    for name in (
        "chromium",
        "chromium-headless-shell",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
        "headless_shell",
    ):
        found = shutil.which(name)
        if found:
            return found
    return None


def test_html_renders_in_headless_chromium(report, tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("no chromium binary (apt-get install chromium-headless-shell)")
    _, out, _ = report
    shot = tmp_path / "page.png"
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--screenshot={shot}",
            "--window-size=1200,2400",
            (out / "report.html").resolve().as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    from matplotlib.image import imread

    pixels = imread(shot)
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100
    gray = pixels[..., :3].mean(axis=2)
    assert gray.std() > 0.02  # not a blank page
    assert (gray < 0.5).mean() > 0.001  # some dark ink: text or charts


# --------------------------------------------------------------------------- charts


def test_study_axes_in_words_with_units():
    assert field_label("market.btc_price_usd") == "BTC price [USD]"
    assert field_label("sites.odessa.price_scale") == "odessa: power price [x the base price]"
    assert field_label("leases.tenant.min_mw") == "lease tenant: lease minimum [MW IT]"
    assert field_label("market.fees_btc_per_block", factors=True) == (
        "fees per block [x the base value]"
    )
    assert field_label("sites.odessa.price_usd_per_mwh.scale") == (
        "odessa: power price [x the base series]"
    )
    assert field_label("gpus.own-h100.rate_usd_per_gpu_hour") == (
        "GPU class own-h100: GPU rate [USD/GPU-h]"
    )
    assert field_label("sites.odessa.something_new_mw") == "odessa: something new [MW]"
    assert field_label("market.btc_price_usd", short=True) == "BTC price"
    assert horizon_words(pd.DataFrame({"hours": [2184, 2184]})) == "2,184 h (91 days)"
    assert horizon_words(pd.DataFrame({"hours": [24, 48]})) == "each horizon"


def test_capacity_chart_says_when_a_limit_never_binds(tiny, tmp_path):
    # the import limit never binds here: the chart says so instead of a flat zero panel
    plan = tiny.plan(tiny.doc(hours=30, sites=[tiny.site(interconnect_mw=50.0)]))
    from optimizer.report.charts import duals_chart, monthly_pnl_chart

    assert (plan.site_hours["import_value_usd_per_mwh"] == 0).all()
    assert duals_chart(plan, tmp_path / "d.png").read_bytes()[:8] == PNG_MAGIC
    assert monthly_pnl_chart(plan, tmp_path / "m.png").read_bytes()[:8] == PNG_MAGIC


# --------------------------------------------------------------------------- compare


@pytest.fixture(scope="module")
def two_plans(tmp_path_factory, report):
    """The 40-day example (A) and the same at a lower BTC price (B)."""
    _, a, _ = report
    b = tmp_path_factory.mktemp("b") / "out"
    plan_b = plan_scenario(example(**{"market.btc_price_usd": 60000.0}), threads=1)
    write_report(plan_b, b, charts=False, html=False, whole_servers=False)
    return a, b


def test_compare_two_plans(two_plans):
    a, b = two_plans
    sa = json.loads((a / "summary.json").read_text())
    sb = json.loads((b / "summary.json").read_text())
    result = compare_plans(a, b)
    streams = {line["key"]: line for line in result["streams"]}
    for key in (*REVENUE_KEYS, *COST_KEYS, "margin_usd"):
        assert streams[key]["a"] == sa[key] and streams[key]["b"] == sb[key]
        assert streams[key]["change"] == pytest.approx(sb[key] - sa[key])
    assert streams["revenue_mining_usd"]["change"] < 0  # lower BTC price, less mining revenue
    figures = {line["key"]: line for line in result["figures"]}
    assert figures["hpc_mw_converted"]["change"] == pytest.approx(
        sb["hpc_mw_converted"] - sa["hpc_mw_converted"]
    )
    assert figures["gpu_servers_firm_whole"]["b"] is None  # B has no whole servers
    assert [m["month"] for m in result["months"]] == ["2026-01", "2026-02"]
    feb = result["months"][1]["margin_usd"]
    assert feb["change"] == pytest.approx(
        sb["months"]["2026-02"]["margin_usd"] - sa["months"]["2026-02"]["margin_usd"]
    )
    (site,) = result["sites"]
    assert site["site"] == "odessa"
    assert site["margin_usd"]["change"] == pytest.approx(sb["margin_usd"] - sa["margin_usd"])
    text = compare_table(result)
    assert "money by stream [USD]" in text and "2026-02" in text and "odessa margin" in text
    assert f"{sb['margin_usd'] - sa['margin_usd']:+,.0f}" in text


def test_compare_command(two_plans, tmp_path):
    a, b = two_plans
    runner = CliRunner()
    result = runner.invoke(main, ["compare", str(a), str(b)])
    assert result.exit_code == 0, result.output
    assert "Margin" in result.output and "hall converted to HPC [MW]" in result.output
    result = runner.invoke(main, ["compare", str(a), str(b), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert {"a", "b", "streams", "figures", "sites", "months"} <= set(data)
    # not a plan folder: exit 2 with the reason
    (tmp_path / "empty").mkdir()
    result = runner.invoke(main, ["compare", str(a), str(tmp_path / "empty")])
    assert result.exit_code == 2 and "no summary.json" in result.output
    assert "Traceback" not in result.output


def test_compare_a_plan_from_an_older_version(two_plans, tmp_path):
    # a summary.json without months or whole servers still compares (months left out)
    a, _ = two_plans
    old = tmp_path / "old"
    old.mkdir()
    data = json.loads((a / "summary.json").read_text())
    for key in ("months", "whole_servers", "btc_mined", "btc_earned"):
        data.pop(key, None)
    (old / "summary.json").write_text(json.dumps(data))
    result = compare_plans(old, a)
    assert all(m["margin_usd"]["a"] is None for m in result["months"])
    assert "older hashpivot" in compare_table(result)
    assert np.isclose(next(x for x in result["streams"] if x["key"] == "margin_usd")["change"], 0.0)


def test_plan_command_with_local_times_and_excel(tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["example", str(tmp_path / "site")])
    assert result.exit_code == 0, result.output
    toml = tmp_path / "site" / "scenario.toml"
    toml.write_text(toml.read_text().replace("hours = 8760", "hours = 48"))
    out = tmp_path / "out"
    args = ["plan", str(toml), "--out", str(out), "--no-charts"]
    result = runner.invoke(main, [*args, "--tz", "Mars/Olympus"])
    assert result.exit_code == 2 and "America/Chicago" in result.output
    assert not out.exists()  # refused before planning
    result = runner.invoke(main, [*args, "--tz", "America/Chicago", "--excel"])
    assert result.exit_code == 0, result.output
    assert "BTC earned after the pool fee" in result.output
    assert "plan.xlsx" in result.output and "report.html" in result.output
    hourly = pd.read_excel(out / "plan.xlsx", sheet_name="Hourly")
    assert len(hourly) == 48 and "Local time (America/Chicago)" in hourly
    assert pd.read_csv(out / "plan.csv")["local_time"].iloc[0] == "2025-12-31T18:00:00-06:00"
