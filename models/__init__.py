"""hashpivot's domain: fleet, sites, market, contracts, scenario loading and validation."""

from models.catalog import catalog
from models.documents import set_field
from models.errors import ScenarioError
from models.scenario import (
    Scenario,
    build_scenario,
    capacity_warnings,
    load_scenario,
    read_scenario_doc,
)

__all__ = [
    "Scenario",
    "ScenarioError",
    "build_scenario",
    "capacity_warnings",
    "catalog",
    "load_scenario",
    "read_scenario_doc",
    "set_field",
]
