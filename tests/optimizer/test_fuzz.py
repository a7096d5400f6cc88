"""Fuzz (issue 14): seeded random mutations of the example's TOML and CSV files through
``hashpivot plan`` in-process. Every outcome is exit 0 (a plan), 2 (bad input, named) or 3
(infeasible, named), never a traceback; every plan passes the output checks (a finite margin
equal to the sum of its parts, one plan.csv row per site-hour).

The default run takes 120 mutations of a two-day example (about 15 s); the slow run
(``pytest -m slow``) takes 4 x 250 more.
"""

from __future__ import annotations

import collections
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from models import load_scenario
from optimizer.accounting import COST_KEYS, REVENUE_KEYS
from optimizer.cli import main
from optimizer.report.example_files import write_example

HOURS = 48
#: CSV rows kept (the horizon plus a margin, so shifted or deleted rows still matter).
ROWS = 60

#: Values a TOML field may be replaced by: unit slips, extremes, wrong types.
TOML_VALUES = [
    "0", "-1", "1", "1e308", "-1e308", "1e-300", "inf", "nan", "100000000000000000000",
    "1e12", "-1e12", "true", '"text"', "[1, 2]", "{}", '""', "0.5", "2", "1e8", "-0.0",
    "2026-01-01T00:00:00Z",
]  # fmt: skip
#: Values a CSV cell may be replaced by.
CSV_VALUES = ["", "nan", "inf", "-inf", "1e12", "-1e12", "abc", "true", "1e308", "999999", "0"]


def mutate_toml(text: str, rng: np.random.Generator) -> str:
    lines = text.splitlines()
    fields = [
        i
        for i, line in enumerate(lines)
        if re.match(r"^\s*[a-z_]+\s*=", line) and not line.lstrip().startswith("hours")
    ]
    i = int(rng.choice(fields))
    key, value = lines[i].split("=", 1)
    value = value.split("#", 1)[0].strip()
    kind = int(rng.integers(-4, 6))
    if kind < 0:  # a plausible edit: a number moved by up to +-50 %
        try:
            number = float(value.replace("_", ""))
        except ValueError:
            return text
        lines[i] = f"{key}= {number * rng.uniform(0.5, 1.5)!r}"
    elif kind == 0:  # another value
        lines[i] = f"{key}= {rng.choice(TOML_VALUES)}"
    elif kind == 1:  # a unit slip: x1000 or /1000
        try:
            number = float(value.replace("_", ""))
        except ValueError:
            lines[i] = f"{key}= {rng.choice(TOML_VALUES)}"
        else:
            lines[i] = f"{key}= {number * float(rng.choice([1000.0, 0.001, -1.0]))!r}"
    elif kind == 2:  # a missing field
        del lines[i]
    elif kind == 3:  # a typo in the key
        k = key.strip()
        j = int(rng.integers(len(k)))
        lines[i] = f"{k[:j]}{k[j + 1 :]} = {value}"
    elif kind == 4:  # a table header lost
        headers = [j for j, line in enumerate(lines) if line.startswith("[")]
        del lines[int(rng.choice(headers))]
    else:  # the line repeated (a duplicate key)
        lines.insert(i, lines[i])
    return "\n".join(lines) + "\n"


def mutate_csv(path: Path, rng: np.random.Generator) -> None:
    lines = path.read_text().splitlines()
    r = int(rng.integers(1, len(lines)))
    time, value = lines[r].split(",", 1)
    kind = int(rng.integers(-3, 9))
    if kind < 0:  # a plausible edit
        lines[r] = f"{time},{float(value) * rng.uniform(0.5, 1.5)!r}"
    elif kind == 0:
        lines[r] = f"{time},{rng.choice(CSV_VALUES)}"
    elif kind == 1:  # one timestamp without its Z
        lines[r] = f"{time.rstrip('Z')},{value}"
    elif kind == 2:  # one timestamp in another format
        lines[r] = f"{time[:10].replace('-', '/')} {time[11:16]},{value}"
    elif kind == 3:  # cut mid-line
        lines = lines[:r]
        lines.append(time[: int(rng.integers(1, len(time)))])
    elif kind == 4:  # a row lost
        del lines[r]
    elif kind == 5:  # a row repeated
        lines.insert(r, lines[r])
    elif kind == 6:  # two rows swapped
        s = int(rng.integers(1, len(lines)))
        lines[r], lines[s] = lines[s], lines[r]
    elif kind == 7:  # the header renamed
        lines[0] = lines[0].replace("time", "Time")
    else:  # half an hour off
        lines[r] = f"{time[:14]}30{time[16:]},{value}"
    data = "\n".join(lines) + "\n"
    if rng.random() < 0.05:  # Latin-1 bytes somewhere
        path.write_bytes(data.encode() + b"\xe9\n")
    else:
        path.write_text(data)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """The example as files: two days, CSVs cut to :data:`ROWS` rows."""
    folder = tmp_path_factory.mktemp("pristine")
    toml = write_example(folder)
    toml.write_text(toml.read_text().replace("hours = 8760", f"hours = {HOURS}"))
    for csv in folder.glob("*.csv"):
        pd.read_csv(csv).head(ROWS).to_csv(csv, index=False)
    return folder


def check_plan_files(out: Path, hours: int, sites: int) -> None:
    summary = json.loads((out / "summary.json").read_text())
    margin = summary["margin_usd"]
    assert margin is not None and np.isfinite(margin)
    money = [summary[k] for k in (*REVENUE_KEYS, *COST_KEYS)]
    assert all(v is not None and np.isfinite(v) for v in money)
    parts = sum(summary[k] for k in REVENUE_KEYS) - sum(summary[k] for k in COST_KEYS)
    scale = max(1.0, sum(abs(v) for v in money))
    assert margin == pytest.approx(parts, rel=0, abs=1e-9 * scale)
    plan = pd.read_csv(out / "plan.csv")
    assert len(plan) == hours * sites
    assert not plan.duplicated(["site", "time"]).any()


def run_mutations(pristine: Path, work: Path, seed: int, n: int) -> collections.Counter:
    rng = np.random.default_rng(seed)
    runner = CliRunner()
    outcomes: collections.Counter = collections.Counter()
    for k in range(n):
        folder = work / f"m{k}"
        shutil.copytree(pristine, folder)
        toml = folder / "scenario.toml"
        what = ""
        for _ in range(1 if rng.random() < 0.7 else 2):  # mostly one mutation, some two
            if rng.random() < 0.5:
                toml.write_text(mutate_toml(toml.read_text(), rng))
                what += "toml "
            else:
                csv = folder / str(rng.choice(sorted(p.name for p in folder.glob("*.csv"))))
                mutate_csv(csv, rng)
                what += f"{csv.name} "
        out = folder / "out"
        result = runner.invoke(main, ["plan", str(toml), "--out", str(out), "--no-charts"])
        label = f"seed {seed} mutation {k} ({what.strip()}): exit {result.exit_code}"
        assert "Traceback" not in result.output, f"{label}\n{result.output}"
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            f"{label}: {result.exception!r}"
        )
        assert result.exit_code in (0, 2, 3), f"{label}\n{result.output}"
        if result.exit_code == 0:
            scenario = load_scenario(toml)
            check_plan_files(out, scenario.hours, len(scenario.sites))
        else:
            assert "Error: " in result.output, label
        outcomes[result.exit_code] += 1
        shutil.rmtree(folder)
    return outcomes


def test_fuzz_mutations_give_a_plan_or_a_named_error(pristine, tmp_path):
    outcomes = run_mutations(pristine, tmp_path, seed=14, n=120)
    print(f"fuzz seed 14: {dict(outcomes)}")
    assert sum(outcomes.values()) == 120
    assert outcomes[2] > 0 and outcomes[0] > 0  # the mutator finds both kinds


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_fuzz_long(pristine, tmp_path, seed):
    outcomes = run_mutations(pristine, tmp_path, seed=seed, n=250)
    print(f"fuzz seed {seed}: {dict(outcomes)}")
    assert sum(outcomes.values()) == 250
