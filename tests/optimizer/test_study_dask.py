"""Studies on a real dask.distributed cluster (loopback TCP) give the local executor's rows."""

from __future__ import annotations

import sys

import pandas as pd
import pytest

from models import ScenarioError
from optimizer.api import run_study
from optimizer.report import result_store
from optimizer.study.definition import read_study
from optimizer.study.executors import make_executor

TINY = """\
[scenario]
name = "tiny"
start = "2026-01-01T00:00:00Z"
hours = 72

[market]
btc_price_usd = 90000
network_hashrate_ehs = 1000
fees_btc_per_block = 0.02
height = 900000

[[sites]]
name = "alpha"
interconnect_mw = 10
mining_hall_mw = 1
convertible_mw = 1
conversion_usd_per_mw = 8_760_000
conversion_life_years = 10
price_usd_per_mwh = 20
temp_c = 10

[[fleet]]
site = "alpha"
model = "S21"
count = 1000

[[gpus]]
name = "cloud"
site = "alpha"
model = "H100 x8"
max_servers = 200
pricing = "cloud"
rate_usd_per_gpu_hour = 0.25
service = "interruptible"
"""

STUDY = """\
[study]
base = "tiny.toml"
[axes]
market.btc_price_usd = [50000, 70000, 90000]
sites.alpha.price_scale = [0.5, 1.0]
[monte_carlo]
paths = 2
seed = 3
sigma = 0.8
"""

COLUMNS = [
    "scenario_id",
    "market.btc_price_usd",
    "sites.alpha.price_scale",
    "path",
    "status",
    "margin_usd",
    "hpc_mw_converted",
    "mining_mwh",
    "hpc_mwh",
    "btc_price_end_usd",
]


def test_dask_cluster_gives_the_same_rows_as_local_processes(tmp_path):
    distributed = pytest.importorskip("distributed")
    (tmp_path / "tiny.toml").write_text(TINY)
    (tmp_path / "study.toml").write_text(STUDY)
    study = read_study(tmp_path / "study.toml")
    local = run_study(study, tmp_path / "local", workers=0, charts=False)
    with distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=2,
        processes=False,
        protocol="tcp",
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        remote = run_study(
            study, tmp_path / "dask", scheduler=cluster.scheduler_address, charts=False
        )
    a = result_store.read_results(local.out)
    b = result_store.read_results(remote.out)
    assert len(a) == len(b) == 12 and (b["status"] == "optimal").all()
    pd.testing.assert_frame_equal(a[COLUMNS], b[COLUMNS])
    assert remote.ran == 12 and remote.failed == 0


def test_missing_dask_names_the_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import fails as if not installed
    with pytest.raises(ScenarioError, match=r"pip install hashpivot\[dist\]"):
        make_executor(scheduler="tcp://127.0.0.1:8786")
