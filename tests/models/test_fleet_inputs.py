"""Machine ids, fleet-file tags, documents holding pandas objects, and capacity that can never run."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models import ScenarioError, build_scenario, capacity_warnings
from models.catalog import COOLING_TYPES

UNIT_PUE = {q: {"pue0": 1.0, "pue_slope": 0.0, "pue_ref_c": 25.0} for q in COOLING_TYPES}


def doc(**tables) -> dict:
    """One 10 MW site at 10 C with PUE 1: a machine of ``power_kw`` draws exactly that."""
    out = {
        "scenario": {"name": "ids", "start": "2026-03-01T00:00:00Z", "hours": 24},
        "market": {
            "btc_price_usd": 90000,
            "network_hashrate_ehs": 1100,
            "fees_btc_per_block": 0.03,
            "height": 925000,
        },
        "sites": [
            {
                "name": "odessa",
                "interconnect_mw": 50,
                "mining_hall_mw": 20,
                "convertible_mw": 1,
                "price_usd_per_mwh": 30.0,
                "temp_c": 10.0,
                "cooling": copy.deepcopy(UNIT_PUE),
            }
        ],
        "fleet": [
            {"site": "odessa", "model": "X", "count": 10, "hashrate_ths": 100, "power_kw": 2}
        ],
    }
    out.update(tables)
    return out


def build(document: dict, tmp_path: Path):
    return build_scenario(document, base_dir=tmp_path, source="scenario.toml")


def error(document: dict, tmp_path: Path) -> str:
    with pytest.raises(ScenarioError) as info:
        build(document, tmp_path)
    return str(info.value)


def machines(tmp_path: Path, name: str = "machines.csv", **columns) -> None:
    base = {
        "id": ["A1", "A2", "A3"],
        "site": ["odessa"] * 3,
        "model": ["S19j Pro"] * 3,
        "hashrate_ths": [100.0, 96.0, 104.0],
        "power_kw": [3.05, 3.1, 3.0],
    }
    pd.DataFrame({**base, **columns}).to_csv(tmp_path / name, index=False)


def test_extra_fleet_file_columns_are_kept_as_tags(tmp_path):
    machines(tmp_path, rack=["R1", "R1", "R2"], serial=[1001, None, 1003])
    s = build(doc(fleet=[doc()["fleet"][0], {"file": "machines.csv"}]), tmp_path)
    assert list(s.fleet.tags) == ["rack", "serial"]
    # grouped machines have no rack; an empty serial cell is "" (not "nan", not "1001.0")
    assert s.fleet.tags["rack"].tolist() == [""] * 10 + ["R1", "R1", "R2"]
    assert s.fleet.tags["serial"].tolist()[-3:] == ["1001", "", "1003"]


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        ("availabilty", "unknown column 'availabilty'; did you mean 'availability'?"),
        ("Hashrate_THS", "did you mean 'hashrate_ths'?"),
        ("alpha_per_c", "column 'alpha_per_c' is a field of grouped [[fleet]] rows"),
    ],
)
def test_a_column_that_looks_like_a_field_is_not_a_tag(tmp_path, column, expected):
    machines(tmp_path, **{column: [0.9, 0.9, 0.9]})
    msg = error(doc(fleet=[{"file": "machines.csv"}]), tmp_path)
    assert "scenario.toml: fleet[0]: machines.csv" in msg and expected in msg


def test_duplicate_machine_ids_name_both_rows(tmp_path):
    machines(tmp_path, id=["A1", "A2", "A1"])
    msg = error(doc(fleet=[{"file": "machines.csv"}]), tmp_path)
    assert "fleet[0]: machines.csv row 3 (line 4, id 'A1')" in msg
    assert "machine id 'A1' is already the id of fleet[0]: machines.csv row 1 (line 2" in msg
    # across two files
    machines(tmp_path)
    machines(tmp_path, "more.csv", id=["B1", "A2", "B3"])
    msg = error(doc(fleet=[{"file": "machines.csv"}, {"file": "more.csv"}]), tmp_path)
    assert "fleet[1]: more.csv row 2 (line 3, id 'A2')" in msg
    assert "already the id of fleet[0]: machines.csv row 2 (line 3" in msg
    machines(tmp_path, id=["A1", None, "A3"])
    assert "row 2 (line 3, id nan): id is empty" in error(
        doc(fleet=[{"file": "machines.csv"}]), tmp_path
    )


def test_grouped_rows_of_one_model_number_their_machines_on(tmp_path):
    row = doc()["fleet"][0]
    s = build(doc(fleet=[row, {**row, "count": 2}]), tmp_path)
    ids = s.fleet.machine_id.tolist()
    assert len(set(ids)) == 12 and ids[-2:] == ["odessa/X/own/10", "odessa/X/own/11"]
    # a per-machine id that collides with a generated one names the grouped row
    machines(tmp_path, id=["odessa/X/own/3", "A2", "A3"])
    msg = error(doc(fleet=[row, {"file": "machines.csv"}]), tmp_path)
    assert "already the id of fleet[0] (machine 4 of the row)" in msg


def test_duplicate_gpu_and_hosting_names_name_both_rows(tmp_path):
    gpu = {
        "name": "h100",
        "site": "odessa",
        "model": "H100 x8",
        "max_servers": 10,
        "pricing": "cloud",
        "rate_usd_per_gpu_hour": 2.0,
    }
    msg = error(doc(gpus=[gpu, {**gpu, "name": "b200"}, gpu]), tmp_path)
    assert "gpus[2] 'h100'.name: duplicate GPU class name 'h100' (also gpus[0])" in msg
    host = {"name": "client", "site": "odessa", "model": "S21", "count": 5, "rate_usd_per_mwh": 60}
    msg = error(doc(hosting=[host, host]), tmp_path)
    assert "hosting[1].name: duplicate hosting contract name 'client' (also hosting[0])" in msg


def test_documents_may_hold_dataframes_and_numpy_scalars(tmp_path):
    machines(tmp_path, rack=["R1", "R1", "R2"])
    per_machine = pd.read_csv(tmp_path / "machines.csv")
    from_file = build(doc(fleet=[{"file": "machines.csv"}]), tmp_path)
    # a fleet DataFrame with an id column is the per-machine list; tables as DataFrames
    sites = pd.DataFrame(doc()["sites"])
    sites["mining_hall_mw"] = np.int64(20)
    from_frames = build(doc(fleet=per_machine, sites=sites), tmp_path)
    assert from_frames.equals(from_file)
    grouped = pd.DataFrame(
        {"site": ["odessa", "odessa"], "model": ["S21", "X"], "count": [3, 2],
         "hashrate_ths": [np.nan, 100.0], "power_kw": [np.nan, 2.0]}
    )  # fmt: skip
    s = build(doc(fleet=grouped), tmp_path)
    assert [c.machines for c in s.classes] == [3, 2]  # NaN cells: field not given (catalog S21)


def test_capacity_that_can_never_run(tmp_path):
    assert capacity_warnings(build(doc(), tmp_path)) == []  # 20 kW in a 20 MW hall
    # 22,000 x 2 kW = 44 MW at PUE 1 in a 20 MW hall: 24 MW can never run
    big = doc(fleet=[{**doc()["fleet"][0], "count": 22_000}])
    gpu = {
        "name": "h100",
        "site": "odessa",
        "model": "custom",
        "power_kw": 10.0,
        "max_servers": 300,
        "pricing": "cloud",
        "rate_usd_per_gpu_hour": 2.0,
    }
    big["gpus"] = [gpu]  # 3 MW of servers, HPC halls at most 0 + 1 MW convertible
    warnings = capacity_warnings(build(big, tmp_path))
    assert warnings == [
        "odessa: the ASIC fleet (22,000 machines) draws at least 44.0 MW with cooling when all of "
        "it runs, but mining_hall_mw = 20.0 MW: 24.0 MW of machines can never run",
        "odessa: GPU servers (h100) draw at least 3.0 MW with cooling at max_servers, but the "
        "HPC halls hold at most existing_hpc_mw + convertible_mw = 1.0 MW: 2.0 MW of servers "
        "can never run",
    ]
    # cooling counts: PUE 1.5 makes 14 MW of machines 21 MW at the wall, over a 20 MW hall
    warm = doc(fleet=[{**doc()["fleet"][0], "count": 7_000}])
    warm["sites"][0]["cooling"]["air"]["pue0"] = 1.5
    (w,) = capacity_warnings(build(warm, tmp_path))
    assert "draws at least 21.0 MW" in w and "1.0 MW of machines can never run" in w


def test_inline_fleet_tables_are_built_once_and_fleet_files_read_each_time(tmp_path):
    market = {**doc()["market"], "btc_price_usd": 120000}
    first = build(doc(), tmp_path)
    again = build(doc(market=market), tmp_path)  # a study's next scenario: the same fleet
    assert again.fleet is first.fleet and again.classes == first.classes
    assert not again.fleet.power_kw.flags.writeable  # shared, so it must not change
    row = {**doc()["fleet"][0], "count": 11}
    assert len(build(doc(fleet=[row]), tmp_path).fleet.machine_id) == 11
    bad = {**row, "count": -1}
    for _ in range(2):  # a refused fleet is refused every time
        assert "count" in error(doc(fleet=[bad]), tmp_path)
    machines(tmp_path)
    a = build(doc(fleet=[{"file": "machines.csv"}]), tmp_path)
    machines(tmp_path, power_kw=[3.0, 3.0, 3.0])  # the file changes between two builds
    b = build(doc(fleet=[{"file": "machines.csv"}]), tmp_path)
    assert a.fleet.power_kw.tolist() == [3.05, 3.1, 3.0] and b.fleet.power_kw.tolist() == [3.0] * 3
