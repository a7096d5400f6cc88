"""A tour of hashpivot's Python API (docs/api.md): scenario -> plan -> frames -> study.

Run it:  python docs/examples/api_tour.py OUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from models import capacity_warnings
from models.example import example_doc
from optimizer.api import margin_by_stream, plan, run_study, scenario, study_results


def main(out: Path) -> dict:
    # 1. A scenario: the built-in example, shortened to two weeks, with our own hourly price
    #    curve as a pandas Series (any tz-aware DatetimeIndex; hours outside the horizon are
    #    ignored). A TOML path or a dict work the same way: scenario("my-site/scenario.toml").
    hours = pd.date_range("2026-01-01", periods=24 * 15, freq="h", tz="UTC")
    price = pd.Series(
        40.0 + 30.0 * np.sin(2 * np.pi * (hours.hour - 9) / 24), index=hours, name="HB_WEST"
    )  # USD/MWh: cheap nights, dear afternoons
    s = scenario(None, {"scenario.hours": 336, "sites.odessa.price_usd_per_mwh": price})
    print(f"{s.name}: {s.hours} h, {len(s.fleet):,} ASICs; warnings: {capacity_warnings(s)}")

    # Arrays of tables may be DataFrames: the example's fleet rows as one.
    doc = example_doc()
    doc["fleet"] = pd.DataFrame(doc["fleet"])  # site, model, count, availability (NaN: unset)
    same_fleet = scenario(doc, {"scenario.hours": 336})
    assert same_fleet.fleet.machine_id.tolist() == s.fleet.machine_id.tolist()

    # 2. Plan it; with out=..., the plan's files are written too.
    result = plan(s, out=out / "plan", threads=1)
    summary = result.summary  # a typed PlanSummary
    print(
        f"margin {summary.margin_usd:,.0f} USD over {summary.hours} h; "
        f"{summary.hpc_mw_converted:.1f} MW to HPC"
    )

    # 3. Results as pandas frames.
    hourly = result.site_hours  # one row per site-hour
    by_day = hourly.set_index("time").resample("D")[["mining_mw", "hpc_firm_mw"]].mean()
    print(by_day.head(3).round(1).to_string())
    print(result.gpu[["gpu_class", "installed", "firm"]].to_string(index=False))
    money = margin_by_stream(result)  # USD by stream (rows) and site (columns), costs < 0
    print((money / 1e3).round(1).to_string())

    # 4. A what-if study from a dict: three BTC prices, run in this process.
    run = run_study(
        {
            "study": {"name": "tour", "base": "builtin:example"},
            "overrides": {"scenario": {"hours": 168}},
            "axes": {"market": {"btc_price_usd": [60000, 90000, 120000]}},
        },
        out / "study",
        workers=0,
        charts=False,
    )
    rows = study_results(run.out)  # one row per scenario, as in summary.csv
    print(f"study: {run.ran} scenarios, rows in {run.out / 'summary.csv'}")
    print(rows[["market.btc_price_usd", "margin_usd", "hpc_mw_converted"]].to_string(index=False))
    return {
        "summary": summary,
        "site_hours": hourly,
        "price": price,
        "money": money,
        "study": run,
        "rows": rows,
    }


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "api-tour"))
