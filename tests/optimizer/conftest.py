"""Tiny in-memory scenarios with round numbers, and the accounting check every plan test uses.

The market is set so that one TH/s earns 0.001 USD per hour: with no fees, no pool fee and the
3.125 BTC subsidy of height 840,000 at 100,000 USD/BTC, ``b * P = 1e12 * 3600 / (D * 2**32) *
3.125 * 1e5`` equals 1e-3 for ``D`` below. The reference machine (100 TH/s at 2 kW, 20 J/TH)
then earns 0.1 USD/h for 0.002 MWh/h: a breakeven of 50 USD/MWh. Every PUE is 1 and 10 C is
below every derating reference, so a class of N machines draws exactly ``N * 2 kW``. Tests
still read R and E from the kernel's scores and derive the optimum from them.
"""

from __future__ import annotations

import copy
import math
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from models import build_scenario
from models.catalog import COOLING_TYPES
from optimizer.accounting import COST_KEYS, REVENUE_KEYS
from optimizer.plan import Plan, plan_scenario

USD_PER_TH_HOUR = 1e-3
DIFFICULTY = 1e12 * 3600 / (2.0**32) * 3.125 * 1e5 / USD_PER_TH_HOUR
UNIT_PUE = {q: {"pue0": 1.0, "pue_slope": 0.0, "pue_ref_c": 25.0} for q in COOLING_TYPES}
SITE = "odessa"


def site(**fields: Any) -> dict[str, Any]:
    """A 10 MW site with PUE 1, 10 C and a flat 30 USD/MWh price (override any field)."""
    base = {
        "name": SITE,
        "interconnect_mw": 10.0,
        "mining_hall_mw": 10.0,
        "convertible_mw": 0.0,
        "price_usd_per_mwh": 30.0,
        "temp_c": 10.0,
        "cooling": copy.deepcopy(UNIT_PUE),
    }
    base.update(fields)
    return base


def miner(count: int = 1000, hashrate_ths: float = 100.0, power_kw: float = 2.0, **kw) -> dict:
    """``count`` machines of ``hashrate_ths`` at ``power_kw`` (default: 2 MW at 50 USD/MWh)."""
    return {
        "site": SITE,
        "model": f"X{hashrate_ths:g}-{power_kw:g}",
        "count": count,
        "hashrate_ths": hashrate_ths,
        "power_kw": power_kw,
        "cooling": "air",
        **kw,
    }


def colocation_gpu(name: str = "tenant", max_servers: int = 200, **kw) -> dict:
    """Colocation servers at 10 kW (10 kW IT): 73 USD/kW-month * 10 kW / 730 h = 1 USD/h each."""
    return {
        "name": name,
        "site": SITE,
        "model": "custom",
        "max_servers": max_servers,
        "power_kw": 10.0,
        "it_kw": 10.0,
        "gpus": 8,
        "cooling": "liquid",
        "pricing": "colocation",
        "lease_usd_per_kw_month": 73.0,
        "service": "firm",
        **kw,
    }


def cloud_gpu(name: str = "cloud", max_servers: int = 100, rate=1.25, **kw) -> dict:
    """Cloud servers, 8 GPUs at ``rate`` USD/GPU-h, 10 kW: 10 USD/h each at 1.25 USD/GPU-h."""
    return {
        "name": name,
        "site": SITE,
        "model": "custom",
        "max_servers": max_servers,
        "power_kw": 10.0,
        "it_kw": 10.0,
        "gpus": 8,
        "cooling": "liquid",
        "pricing": "cloud",
        "rate_usd_per_gpu_hour": rate,
        "utilization": 1.0,
        "service": "interruptible",
        **kw,
    }


def doc(
    hours: int = 3,
    sites: list | None = None,
    fleet: list | None = None,
    start: str = "2026-03-02T00:00:00Z",
    **tables: Any,
) -> dict[str, Any]:
    """A scenario document; ``tables`` adds ``hosting``, ``gpus``, ``leases``, ``ppas``."""
    out: dict[str, Any] = {
        "scenario": {"name": "tiny", "start": start, "hours": hours, "seed": 1},
        "market": {
            "btc_price_usd": 100000.0,
            "difficulty": DIFFICULTY,
            "fees_btc_per_block": 0.0,
            "height": 840000,
            "pool_fee": 0.0,
        },
        "sites": sites if sites is not None else [site()],
        "fleet": fleet if fleet is not None else [miner()],
    }
    out.update({k: v for k, v in tables.items() if v is not None})
    return out


def scenario(document: dict):
    return build_scenario(document, source="<test>")


#: How the hand-derived LP tests solve: the decomposition, and the monolithic LP with each
#: backend. ``plan(doc, backend=...)`` maps each name to ``method`` and ``backend``.
SOLVES = ("decomposed", "highs", "pulp")


def plan(document: dict, **kw) -> Plan:
    """Plan a document and check its accounting (every test goes through here).

    ``backend="decomposed"`` asks for the decomposed method (it must cover the case: it raises
    otherwise); ``backend="highs"`` or ``"pulp"`` for the monolithic LP with that backend.
    """
    if kw.get("backend") == "decomposed":
        kw.update(backend="highs", method=kw.get("method", "decomposed"))
    elif "backend" in kw:
        kw.setdefault("method", "monolithic")
    result = plan_scenario(scenario(document), **kw)
    assert_accounting(result)
    if kw.get("method") in ("decomposed", "monolithic"):
        assert result.summary.method == kw["method"]
    return result


def assert_accounting(result: Plan, rtol: float = 1e-9) -> None:
    """The margin is revenues minus costs, equals the LP objective and ``cost @ x + offset``.

    Also: site load = mining + firm served + interruptible, and the energy balance
    ``load = PPA block - PPA not used + grid`` holds hour by hour.
    """
    s = result.summary
    money = s.money()
    parts = sum(money[k] for k in REVENUE_KEYS) - sum(money[k] for k in COST_KEYS)
    scale = max(1.0, sum(abs(v) for v in money.values()))
    assert s.margin_usd == pytest.approx(parts, rel=0, abs=rtol * scale)
    assert s.margin_usd == pytest.approx(result.objective_usd, rel=0, abs=1e-7 * scale)
    # site by site: each site's margin is its own streams, and the sites add up to the totals
    for site in s.sites.values():
        own = sum(getattr(site, k) for k in REVENUE_KEYS) - sum(getattr(site, k) for k in COST_KEYS)
        assert site.margin_usd == pytest.approx(own, rel=0, abs=rtol * scale)
    for k in ("margin_usd", *REVENUE_KEYS, *COST_KEYS):
        total = sum(getattr(site, k) for site in s.sites.values())
        assert total == pytest.approx(getattr(s, k), rel=0, abs=rtol * scale)
    lp, x = result.lp, result.solution.x
    assert -(lp.cost @ x + lp.offset) == pytest.approx(s.margin_usd, rel=0, abs=rtol * scale)
    a = result.arrays
    np.testing.assert_allclose(
        a["load_mw"],
        a["mining_mw"] + a["hpc_firm_mw"] + a["hpc_interruptible_mw"],
        atol=1e-6,
    )
    np.testing.assert_allclose(
        a["load_mw"],
        a["ppa_block_mwh"] - a["ppa_resold_mwh"] - a["ppa_spilled_mwh"] + a["grid_mwh"],
        atol=1e-6,
    )
    assert math.isfinite(s.margin_usd)
    assert_ancillary_within_load(result)


def assert_ancillary_within_load(result: Plan) -> None:
    """In no hour is more AS reserved than the load that could be dropped (own ASICs and
    interruptible GPUs running) or, for REGDN, raised under the import cap (docs/model.md
    §5.4.14)."""
    d, a = result.data, result.arrays
    up = sum(a[f"as_{p.lower()}_mw"] for p in set(d.ancillary_products) - {"REGDN"})
    droppable = a["mining_mw"] - a["hosted_asic_mw"] + a["hpc_interruptible_mw"]
    assert (np.asarray(up) <= droppable + 1e-6).all()
    if "as_regdn_mw" in a:
        assert (a["as_regdn_mw"] <= d.import_cap_mw - a["load_mw"] + 1e-6).all()


@pytest.fixture(scope="session")
def tiny() -> SimpleNamespace:
    """The builders and checks above, for test modules (importlib mode can't import conftest)."""
    return SimpleNamespace(
        site=site,
        miner=miner,
        colocation_gpu=colocation_gpu,
        cloud_gpu=cloud_gpu,
        doc=doc,
        scenario=scenario,
        plan=plan,
        assert_accounting=assert_accounting,
        SITE=SITE,
    )
