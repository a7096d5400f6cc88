"""A tour of hashpivot's Python API (docs/api.md): scenario -> plan -> frames -> study.

Run it:  python docs/examples/api_tour.py OUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

from models import build_scenario, set_field
from models.example import example_doc
from optimizer.api import plan, run_study
from optimizer.study.definition import parse_study


def main(out: Path) -> dict:
    # 1. A scenario from a document: the built-in example, shortened to two weeks.
    doc = set_field(example_doc(), "scenario.hours", 336)
    scenario = build_scenario(doc, source="<api tour>")

    # 2. Plan it; with out=..., the plan's files are written too.
    result = plan(scenario, out=out / "plan", threads=1)
    s = result.summary  # a typed PlanSummary
    print(f"margin {s.margin_usd:,.0f} USD over {s.hours} h; {s.hpc_mw_converted:.1f} MW to HPC")

    # 3. Results as pandas frames.
    hourly = result.site_hours  # one row per site-hour
    by_day = hourly.set_index("time").resample("D")[["mining_mw", "hpc_firm_mw"]].mean()
    print(by_day.head(3).round(1).to_string())
    print(result.gpu[["gpu_class", "installed", "firm"]].to_string(index=False))

    # 4. A what-if study from a dict: three BTC prices, run in this process.
    study = parse_study(
        {
            "study": {"name": "tour", "base": "builtin:example"},
            "overrides": {"scenario": {"hours": 168}},
            "axes": {"market": {"btc_price_usd": [60000, 90000, 120000]}},
        }
    )
    run = run_study(study, out / "study", workers=0, charts=False)
    rows = run.out / "summary.csv"
    print(f"study: {run.ran} scenarios, rows in {rows}")
    return {"summary": s, "site_hours": hourly, "study": run}


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "api-tour"))
