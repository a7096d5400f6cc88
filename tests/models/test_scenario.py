"""Scenario loading and validation: every kind of bad input is caught and named."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kernels.bitcoin import difficulty_from_hashrate_ehs
from models import ScenarioError, build_scenario, catalog, load_scenario, set_field


def tiny_doc(hours: int = 48) -> dict:
    """A small valid scenario document with constant series."""
    return {
        "scenario": {"name": "tiny", "start": "2026-03-01T00:00:00Z", "hours": hours, "seed": 1},
        "market": {
            "btc_price_usd": 90000,
            "network_hashrate_ehs": 1100,
            "fees_btc_per_block": 0.03,
            "height": 925000,
            "pool_fee": 0.02,
        },
        "sites": [
            {
                "name": "odessa",
                "interconnect_mw": 10,
                "mining_hall_mw": 10,
                "convertible_mw": 5,
                "price_usd_per_mwh": 35.0,
                "temp_c": 20.0,
            }
        ],
        "fleet": [{"site": "odessa", "model": "S21", "count": 100}],
    }


def write_series(
    path: Path, values, start="2026-03-01T00:00:00Z", column="price_usd_per_mwh", times=None
):
    if times is None:
        times = pd.date_range(start, periods=len(values), freq="h").strftime("%Y-%m-%dT%H:%M:%SZ")
    pd.DataFrame({"time": times, column: values}).to_csv(path, index=False)


def with_price_file(tmp_path: Path, values, **kw) -> dict:
    write_series(tmp_path / "prices.csv", values, **kw)
    doc = tiny_doc()
    doc["sites"][0]["price_usd_per_mwh"] = {
        "file": "prices.csv",
        "value_column": "price_usd_per_mwh",
    }
    return doc


def build(doc, tmp_path: Path | None = None):
    return build_scenario(doc, base_dir=tmp_path or ".", source="scenario.toml")


def error_of(doc, tmp_path=None) -> str:
    with pytest.raises(ScenarioError) as info:
        build(doc, tmp_path)
    return str(info.value)


# --- the happy path -------------------------------------------------------------------------


def test_tiny_scenario_arrays():
    s = build(tiny_doc())
    assert s.hours == 48
    assert str(s.index.tz) == "UTC"
    assert s.index[0] == pd.Timestamp("2026-03-01T00:00:00Z")
    assert len(s.fleet) == 100
    assert s.fleet.power_kw.sum() == pytest.approx(350.0)  # 100 S21 at 3.5 kW
    # difficulty for 1.1 ZH/s: D = H * 600 / 2**32
    assert s.market.difficulty[0] == pytest.approx(1100e18 * 600 / 2**32, rel=1e-12)
    assert s.market.network_hashrate_ehs[0] == pytest.approx(1100.0, rel=1e-12)
    # heights advance 6 per hour from 925,000
    assert s.market.height[:3].tolist() == [925000, 925006, 925012]
    assert s.market.height[-1] == 925000 + 6 * 47
    assert [c.name for c in s.classes] == ["odessa:S21:16-20J/TH"]  # 17.5 J/TH
    assert s.site_matrix("price_usd_per_mwh").shape == (1, 48)


def test_catalog_figures_match_spec_sheets():
    cat = catalog()
    expected_j_per_th = {
        "S21": 17.5,
        "S21 Pro": 15.0,
        "S21 XP": 13.5,
        "S21 XP Hydro": 12.0,
        "S19 XP": 3010 / 141,
        "S19j Pro": 3068 / 104,
        "M60S": 3441 / 186,
        "M66S": 5348 / 298,
    }
    for model, eff in expected_j_per_th.items():
        assert cat[model].efficiency_j_per_th == pytest.approx(eff, rel=1e-12), model
    assert cat["B200 x8"].power_kw == 14.3 and cat["H100 x8"].gpus == 8
    assert all(m.source for m in cat.values())


def test_negative_prices_are_valid(tmp_path):
    values = np.full(48, 25.0)
    values[3:9] = [-5.0, -20.0, -250.0, -0.01, -1.0, -30.0]
    s = build(with_price_file(tmp_path, values), tmp_path)
    assert (s.sites[0].price_usd_per_mwh < 0).sum() == 6
    assert s.sites[0].price_usd_per_mwh[5] == -250.0


def test_file_covering_more_than_the_horizon_is_sliced(tmp_path):
    values = np.arange(72, dtype=float)
    s = build(with_price_file(tmp_path, values, start="2026-02-28T00:00:00Z"), tmp_path)
    assert s.sites[0].price_usd_per_mwh[0] == 24.0  # 24 h after the file's start
    assert s.sites[0].price_usd_per_mwh[-1] == 71.0


def test_parquet_series_and_offsets(tmp_path):
    times = pd.date_range("2026-02-28T18:00:00-06:00", periods=48, freq="h")
    pd.DataFrame({"time": times.strftime("%Y-%m-%dT%H:%M:%S%z"), "p": np.arange(48.0)}).to_parquet(
        tmp_path / "p.parquet"
    )
    doc = tiny_doc()
    doc["sites"][0]["price_usd_per_mwh"] = {"file": "p.parquet"}
    s = build(doc, tmp_path)  # 18:00-06:00 is 00:00Z: the single value column is picked up
    assert s.sites[0].price_usd_per_mwh[0] == 0.0


def test_grouped_and_per_machine_fleet_rows(tmp_path):
    pd.DataFrame(
        {
            "id": ["A1", "A2", "A3"],
            "site": ["odessa"] * 3,
            "model": ["S19j Pro", "S19j Pro", "custom"],
            "hashrate_ths": [100.0, 96.0, 150.0],
            "power_w": [3068.0, 3100.0, 3000.0],
        }
    ).to_csv(tmp_path / "machines.csv", index=False)
    doc = tiny_doc()
    doc["fleet"].append({"file": "machines.csv"})
    s = build(doc, tmp_path)
    assert len(s.fleet) == 103
    assert s.fleet.machine_id[-3:].tolist() == ["A1", "A2", "A3"]
    np.testing.assert_allclose(s.fleet.power_kw[-3:], [3.068, 3.1, 3.0])
    # 30.68 and 32.29 J/TH fall in the 30-200 band, 20 J/TH in 20-25, S21 (17.5) in 16-20
    names = [c.name for c in s.classes]
    assert names == [
        "odessa:S21:16-20J/TH",
        "odessa:S19j Pro:30-200J/TH",
        "odessa:custom:20-25J/TH",
    ]
    assert [c.machines for c in s.classes] == [100, 2, 1]


def test_hosting_contract_makes_hosted_class():
    doc = tiny_doc()
    doc["hosting"] = [
        {
            "name": "client",
            "site": "odessa",
            "model": "S21",
            "count": 10,
            "rate_usd_per_mwh": 70,
            "uptime": 0.95,
        }
    ]
    s = build(doc)
    hosted = [c for c in s.classes if c.hosted]
    assert len(hosted) == 1 and hosted[0].uptime == 0.95 and hosted[0].machines == 10
    assert s.fleet.hosted.sum() == 10
    assert s.fleet.hosting_usd_per_mwh[s.fleet.hosted].tolist() == [70.0] * 10


def test_gpu_lease_ppa_parameters():
    doc = tiny_doc()
    doc["gpus"] = [
        {
            "name": "t",
            "site": "odessa",
            "model": "H100 x8",
            "max_servers": 100,
            "pricing": "colocation",
            "lease_usd_per_kw_month": 150,
            "power_pass_through": True,
        },
        {
            "name": "own",
            "site": "odessa",
            "model": "B200 x8",
            "max_servers": 10,
            "pricing": "cloud",
            "rate_usd_per_gpu_hour": 3.0,
            "capex_usd_per_server": 438000,
            "life_years": 5,
        },
    ]
    doc["leases"] = [{"name": "l", "site": "odessa", "gpus": ["t"], "min_mw": 0.5, "max_mw": 1.0}]
    doc["ppas"] = [
        {
            "site": "odessa",
            "block_mw": 6,
            "price_usd_per_mwh": 38,
            "resale": True,
            "resale_fee": 0.02,
        }
    ]
    s = build(doc)
    assert s.gpus[0].firm and not s.gpus[0].interruptible and s.gpus[0].colocation
    assert s.gpus[1].interruptible and not s.gpus[1].firm
    assert s.gpus[1].capex_usd_per_server_hour == pytest.approx(438000 / (5 * 8760))  # $10/h
    assert s.ppas[0].resale_factor == pytest.approx(0.98)
    assert s.ppa_block_mw()[0, 0] == 6.0
    assert s.leases[0].gpu_classes == (0,)


def test_site_derived_parameters():
    doc = tiny_doc()
    doc["sites"][0].update(
        conversion_usd_per_mw=9e6,
        conversion_life_years=10,
        curtailment_mw=4.0,
        peak_flag=1.0,
        peak_adder_usd_per_mwh=500,
    )
    site = build(doc).sites[0]
    assert site.conversion_usd_per_mw_hour == pytest.approx(9e6 / 87600)  # $102.74 per MW-hour
    assert site.import_cap_mw[0] == 6.0
    assert site.peak_adder[0] == 500.0


def test_set_field_by_dotted_path():
    doc = tiny_doc()
    new = set_field(doc, "sites.odessa.price_scale", 1.2)
    assert new["sites"][0]["price_scale"] == 1.2 and "price_scale" not in doc["sites"][0]
    s = build(set_field(new, "market.btc_price_usd", 60000.0))
    assert s.market.btc_price_usd[0] == 60000.0
    assert s.sites[0].price_usd_per_mwh[0] == pytest.approx(42.0)  # 35 * 1.2
    assert (
        set_field(doc, "sites.0.price_scale", 0.5)["sites"][0]["price_scale"] == 0.5
    )  # by position
    with pytest.raises(ScenarioError, match="no table named 'nowhere'"):
        set_field(doc, "sites.nowhere.price_scale", 1.0)


# --- every validation error names what to fix -------------------------------------------------


def test_unknown_key_with_did_you_mean():
    doc = tiny_doc()
    doc["sites"][0]["interconect_mw"] = 10
    msg = error_of(doc)
    assert "scenario.toml" in msg and "sites[0] 'odessa'" in msg
    assert "unknown key 'interconect_mw'" in msg and "did you mean 'interconnect_mw'" in msg


def test_unknown_top_level_table():
    doc = tiny_doc()
    doc["ppa"] = []
    assert "did you mean 'ppas'" in error_of(doc)


def test_missing_required_field():
    doc = tiny_doc()
    del doc["sites"][0]["interconnect_mw"]
    assert "missing required field 'interconnect_mw' [MW]" in error_of(doc)
    doc = tiny_doc()
    del doc["market"]
    assert "missing required table [market]" in error_of(doc)


def test_negative_capacity_and_count():
    doc = tiny_doc()
    doc["sites"][0]["interconnect_mw"] = -5
    assert "interconnect_mw: expected a number >= 0 [MW], got -5" in error_of(doc)
    doc = tiny_doc()
    doc["fleet"][0]["count"] = -3
    assert "fleet[0].count: expected a whole number >= 0, got -3" in error_of(doc)


def test_site_megawatts_typed_as_kilowatts():
    doc = tiny_doc()
    doc["sites"][0].update(interconnect_mw=100_000, mining_hall_mw=10)
    assert "interconnect_mw: 100,000 MW is more than any single site draws" in error_of(doc)


def test_efficiency_catches_watts_typed_as_kilowatts():
    doc = tiny_doc()
    doc["fleet"][0].update(hashrate_ths=200, power_kw=3500)  # 3500 W typed as kW
    msg = error_of(doc)
    assert "fleet[0]" in msg and "17500 J/TH" in msg and "outside 5-200 J/TH" in msg
    assert "W entered as kW" in msg


def test_efficiency_in_fleet_file_names_row(tmp_path):
    pd.DataFrame(
        {
            "id": ["a", "b"],
            "site": ["odessa"] * 2,
            "model": ["S21", "S21"],
            "hashrate_ths": [200.0, 200.0],
            "power_kw": [3.5, 3500.0],
        }
    ).to_csv(tmp_path / "m.csv", index=False)
    doc = tiny_doc()
    doc["fleet"] = [{"file": "m.csv"}]
    msg = error_of(doc, tmp_path)
    assert "m.csv row 2 (line 3, id 'b')" in msg and "17500 J/TH" in msg


def test_unknown_catalog_model_and_site():
    doc = tiny_doc()
    doc["fleet"][0]["model"] = "S21XP"
    msg = error_of(doc)
    assert "unknown catalog model" in msg and "did you mean 'S21 XP'" in msg
    doc = tiny_doc()
    doc["fleet"][0]["site"] = "odesa"
    msg = error_of(doc)
    assert "fleet[0].site: unknown site 'odesa'" in msg and "did you mean 'odessa'" in msg


def test_nan_in_row_42_names_file_and_row(tmp_path):
    values = np.full(48, 30.0)
    values[41] = np.nan  # data row 42
    msg = error_of(with_price_file(tmp_path, values), tmp_path)
    assert "prices.csv row 42 (line 43, time 2026-03-02T17:00Z)" in msg
    assert "price_usd_per_mwh is NaN" in msg
    assert "sites[0] 'odessa'.price_usd_per_mwh" in msg


def test_inf_and_text_values(tmp_path):
    values = ["30"] * 48
    values[5] = "inf"
    values[7] = "n/a"
    msg = error_of(with_price_file(tmp_path, values), tmp_path)
    assert "row 6" in msg and "is inf" in msg and "2 bad rows" in msg


def test_missing_hours(tmp_path):
    times = list(
        pd.date_range("2026-03-01", periods=49, freq="h", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    del times[10:13]
    msg = error_of(with_price_file(tmp_path, np.ones(46), times=times), tmp_path)
    assert "3 missing hour(s) from 2026-03-01T10:00Z to 2026-03-01T12:00Z" in msg


def test_duplicated_and_unsorted_hours(tmp_path):
    times = list(
        pd.date_range("2026-03-01", periods=48, freq="h", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    dup = [*times[:20], times[19], *times[20:]]
    assert "duplicated hour 2026-03-01T19:00Z" in error_of(
        with_price_file(tmp_path, np.ones(49), times=dup), tmp_path
    )
    swapped = times.copy()
    swapped[5], swapped[6] = swapped[6], swapped[5]
    msg = error_of(with_price_file(tmp_path, np.ones(48), times=swapped), tmp_path)
    assert "row 7" in msg and "comes before" in msg and "sorted ascending" in msg


def test_dst_fall_back_duplicate_in_local_time_file(tmp_path):
    # America/Chicago falls back on 2026-11-01: local 01:00 occurs twice.
    local = pd.date_range("2026-10-31 00:00", periods=60, freq="h")  # naive wall clock, no repeat
    times = [t.strftime("%Y-%m-%d %H:%M") for t in local]
    times.insert(26, "2026-11-01 01:00")  # what a logger writing wall-clock time records
    pd.DataFrame({"time": times, "p": np.ones(61)}).to_csv(tmp_path / "local.csv", index=False)
    doc = tiny_doc()
    doc["scenario"]["start"] = "2026-10-31T06:00:00Z"
    doc["sites"][0]["price_usd_per_mwh"] = {"file": "local.csv", "timezone": "America/Chicago"}
    msg = error_of(doc, tmp_path)
    assert "local.csv row 27" in msg and "2026-11-01 01:00 appears twice" in msg and "DST" in msg


def test_local_time_file_is_converted_to_utc(tmp_path):
    local = pd.date_range("2026-02-28 12:00", periods=60, freq="h")
    pd.DataFrame({"time": local.strftime("%Y-%m-%d %H:%M"), "p": np.arange(60.0)}).to_csv(
        tmp_path / "l.csv", index=False
    )
    doc = tiny_doc()
    doc["sites"][0]["price_usd_per_mwh"] = {"file": "l.csv", "timezone": "America/Chicago"}
    s = build(doc, tmp_path)
    assert s.sites[0].price_usd_per_mwh[0] == 6.0  # 00:00Z = 18:00 CST (UTC-6), the file's 7th row


def test_non_hourly_timestamps(tmp_path):
    times = pd.date_range("2026-03-01", periods=200, freq="15min", tz="UTC").strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    msg = error_of(with_price_file(tmp_path, np.ones(200), times=times), tmp_path)
    assert "step of 15 min" in msg and "expected hourly data" in msg
    assert 'resample = "mean"' in msg


def test_series_not_covering_the_horizon(tmp_path):
    msg = error_of(with_price_file(tmp_path, np.ones(24)), tmp_path)
    assert "covers 2026-03-01T00:00Z to 2026-03-01T23:00Z" in msg
    assert "horizon needs 2026-03-01T00:00Z to 2026-03-02T23:00Z" in msg


def test_file_that_does_not_exist(tmp_path):
    doc = tiny_doc()
    doc["sites"][0]["temp_c"] = {"file": "weather.csv"}
    msg = error_of(doc, tmp_path)
    assert "temp_c.file: file not found" in msg and "weather.csv" in msg


def test_non_finite_and_out_of_range_scalars():
    doc = tiny_doc()
    doc["market"]["btc_price_usd"] = math.nan
    assert "btc_price_usd: expected a finite number" in error_of(doc)
    doc = tiny_doc()
    doc["market"]["pool_fee"] = 2.0
    assert "pool_fee: expected a number <= 0.5" in error_of(doc)
    doc = tiny_doc()
    doc["sites"][0]["temp_c"] = 300.0  # Kelvin slip
    assert "expected <= 60 [C]" in error_of(doc)


def test_hashrate_in_hs_instead_of_ehs():
    doc = tiny_doc()
    doc["market"]["network_hashrate_ehs"] = 1.1e-15  # nonsense unit slip
    assert "expected EH/s" in error_of(doc)


def test_lease_needing_more_than_its_servers():
    doc = tiny_doc()
    doc["gpus"] = [
        {
            "name": "t",
            "site": "odessa",
            "model": "H100 x8",
            "max_servers": 10,
            "pricing": "colocation",
            "lease_usd_per_kw_month": 150,
        }
    ]
    doc["leases"] = [{"name": "big", "site": "odessa", "gpus": ["t"], "min_mw": 5}]
    assert "needs 5 MW of firm IT load but its GPU classes hold only 0.102 MW" in error_of(doc)


def test_scenario_start_must_be_utc_aware():
    doc = tiny_doc()
    doc["scenario"]["start"] = "2026-03-01T00:00:00"
    assert "give a time zone" in error_of(doc)


def test_load_scenario_from_toml(tmp_path):
    (tmp_path / "s.toml").write_text(
        '[scenario]\nstart = "2026-01-01T00:00:00Z"\nhours = 24\n'
        "[market]\nbtc_price_usd = 90000\ndifficulty = 1.5e14\nfees_btc_per_block = 0.03\nheight = 900000\n"
        '[[sites]]\nname = "a"\ninterconnect_mw = 1\nprice_usd_per_mwh = 30\ntemp_c = 20\n'
        '[[fleet]]\nsite = "a"\nmodel = "M66S"\ncount = 2\n'
    )
    s = load_scenario(tmp_path / "s.toml")
    assert s.name == "s" and s.market.difficulty[0] == 1.5e14 and len(s.fleet) == 2
    (tmp_path / "bad.toml").write_text("[scenario\n")
    with pytest.raises(ScenarioError, match="not valid TOML"):
        load_scenario(tmp_path / "bad.toml")
    with pytest.raises(ScenarioError, match="scenario file not found"):
        load_scenario(tmp_path / "nope.toml")


def test_difficulty_from_hashrate():
    assert difficulty_from_hashrate_ehs(1100.0) == pytest.approx(
        1.1e21 * 600 / 4294967296, rel=1e-15
    )


def test_documents_are_not_mutated():
    doc = tiny_doc()
    before = copy.deepcopy(doc)
    build(doc)
    assert doc == before


def test_gpu_listed_as_asic_and_back():
    doc = tiny_doc()
    doc["fleet"][0]["model"] = "H100 x8"
    assert "'H100 x8' is a GPU server; list it under [[gpus]]" in error_of(doc)
    doc = tiny_doc()
    doc["gpus"] = [
        {
            "name": "g",
            "site": "odessa",
            "model": "S21",
            "max_servers": 1,
            "pricing": "cloud",
            "rate_usd_per_gpu_hour": 2.0,
        }
    ]
    assert "'S21' is an ASIC; list it under [[fleet]]" in error_of(doc)
