"""The study's row schema: what a worker receives (:class:`ScenarioTask`) and returns (one row
per scenario), the statuses of failed rows, and the canonical form used for identities."""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from optimizer.timings import PLAN_STAGES

#: Column of the Monte Carlo path index in results.
PATH_AXIS = "path"


@dataclass(frozen=True)
class ScenarioTask:
    """What a worker needs for one scenario: a small document, not a built Scenario.

    Attributes
    ----------
    scenario_id : str
    values : dict
        Axis path -> value of this scenario (the row's axis columns).
    doc : dict
        The scenario document (Monte Carlo: with hourly market arrays, 4 x hours x 8 bytes).
    base_dir : str
        Folder for relative series files.
    source : str
        Label for error messages, naming the study and the scenario.
    method, backend, solver, time_limit_s
        Passed to :func:`optimizer.plan.plan_scenario` (with ``threads=1``).
    origin : str
        ``study`` for the grid, ``refine:AXIS`` for bisection points on AXIS.
    error : str
        A document that could not be formed: the worker reports this instead of running.
    inputs : str
        SHA-256 over the contents of every file the scenario reads (its row's
        ``inputs_sha256``): ``--resume`` runs a scenario again when it changed.
    """

    scenario_id: str
    values: dict
    doc: dict
    base_dir: str
    source: str
    backend: str = "highs"
    solver: str | None = None
    time_limit_s: float | None = None
    method: str = "auto"
    origin: str = "study"
    inputs: str = ""
    error: str = ""


#: Row columns every result has (plus one per axis and any other numeric summary field).
SUMMARY_FIELDS = (
    "margin_usd",
    "revenue_mining_usd",
    "revenue_hpc_usd",
    "energy_cost_usd",
    "ppa_cost_usd",
    "resale_credit_usd",
    "peak_charge_usd",
    "conversion_cost_usd",
    "sla_penalty_usd",
    "hpc_mw_converted",
    "gpu_servers_firm",
    "mining_mwh",
    "hpc_mwh",
    "curtailed_mwh",
)


SECONDS_FIELDS = (*PLAN_STAGES, "total")


STATUS_BAD_INPUT = "bad_input"


STATUS_INFEASIBLE = "infeasible"


STATUS_SOLVER = "solver_error"


STATUS_ERROR = "error"


STATUS_CRASHED = "crashed"


FAILED_STATUSES = (
    STATUS_BAD_INPUT,
    STATUS_INFEASIBLE,
    STATUS_SOLVER,
    STATUS_ERROR,
    STATUS_CRASHED,
)


def canonical(value: Any) -> Any:
    """JSON-able form of a study value for hashing (arrays as lists, tuples as lists)."""
    if isinstance(value, Mapping):
        return {str(k): canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return str(value)  # dates and times from TOML


def digest(parts: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of ``parts``."""
    blob = json.dumps(canonical(parts), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def empty_row(task: ScenarioTask) -> dict[str, Any]:
    """The row of a scenario before it runs: ids, axis values, NaN results."""
    row: dict[str, Any] = {
        "scenario_id": task.scenario_id,
        "origin": task.origin,
        "inputs_sha256": task.inputs,
        **{k: cell(v) for k, v in task.values.items()},
        "status": "",
        "error": "",
        "method": "",
        "method_note": "",
        "gap": math.nan,
        "hours": math.nan,
    }
    row.update({k: math.nan for k in SUMMARY_FIELDS})
    row.update(
        {
            "mining_share": math.nan,
            "mining_mw_mean": math.nan,
            "hpc_mw_mean": math.nan,
            "hours_curtailed": math.nan,
            "hours_curtailment_orders": math.nan,
            "btc_price_mean_usd": math.nan,
            "btc_price_end_usd": math.nan,
            "hashprice_mean_usd_per_ph_day": math.nan,
        }
    )
    row.update({f"seconds_{k}": math.nan for k in SECONDS_FIELDS})
    row.update({"seconds_worker": math.nan, "worker_pid": -1, "finished_unix": math.nan})
    return row


def cell(value: Any) -> Any:
    """An axis value as a table cell: scalars as is, anything else as JSON text."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bool | int | float | str):
        return value
    return json.dumps(canonical(value), sort_keys=True)


def failed_row(task: ScenarioTask, status: str, message: str) -> dict[str, Any]:
    """A row for a scenario that did not produce a plan."""
    row = empty_row(task)
    row.update(status=status, error=message, finished_unix=time.time())
    return row
