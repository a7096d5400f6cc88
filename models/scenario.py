"""The :class:`Scenario` and its loader: one TOML file (+ CSV/Parquet series) -> validated arrays.

``load_scenario(path)`` reads and validates a file; ``build_scenario(doc, ...)`` does the same for
an in-memory document (the built-in example, studies that vary fields, the Python API, whose
documents may hold pandas objects: a Series with a DatetimeIndex as a series, a DataFrame as an
array of tables, numpy scalars as numbers). Every error is a
:class:`~models.errors.ScenarioError` naming the file, field, row or timestamp.
:func:`capacity_warnings` names machines that can never run (valid, but likely a mistake).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.ancillary import AncillaryOffer, parse_ancillary
from models.catalog import COOLING_TYPES
from models.contracts import Lease, Ppa, parse_lease, parse_ppa
from models.documents import read_toml
from models.fields import Where, check_keys, integer, number_list, require_table, table_list, text
from models.finance import Finance, parse_finance
from models.fleet import (
    DEFAULT_BANDS_J_PER_TH,
    AsicClass,
    Fleet,
    parse_fleet_reusing,
)
from models.gpus import GpuClass, parse_gpu_class
from models.market import Market, parse_market
from models.series import hourly_index
from models.sites import Site, parse_site

TOP_KEYS = (
    "scenario",
    "market",
    "classes",
    "sites",
    "fleet",
    "hosting",
    "gpus",
    "leases",
    "ppas",
    "finance",
    "ancillary",
)
SCENARIO_KEYS = ("name", "start", "hours", "seed")
#: Arrays of tables, which the Python API may give as DataFrames (one row per table).
TABLE_KEYS = ("sites", "fleet", "hosting", "gpus", "leases", "ppas")
MAX_HOURS = 24 * 366 * 10


@dataclass(frozen=True, eq=False)
class Scenario:
    """Everything the kernel and the LP need, validated, with one hourly UTC index.

    Attributes
    ----------
    name : str
    index : pandas.DatetimeIndex
        Hourly, tz-aware UTC horizon of ``T`` hours.
    market : Market
    sites : tuple[Site, ...]
    fleet : Fleet
        Every ASIC (own and hosted), one entry per machine.
    classes : tuple[AsicClass, ...]
        ASIC classes (site x model x efficiency band x owner).
    gpus : tuple[GpuClass, ...]
    leases : tuple[Lease, ...]
    ppas : tuple[Ppa, ...]
        At most one per site.
    seed : int
        Seed of the synthetic series.
    finance : Finance
        Cost of capital (``[finance]``).
    ancillary : tuple[AncillaryOffer, ...]
        Ancillary-service offers (``[[ancillary]]``), empty when none.
    source : str
        File the scenario came from (``"<built-in example>"`` for the example).
    """

    name: str
    index: pd.DatetimeIndex
    market: Market
    sites: tuple[Site, ...]
    fleet: Fleet
    classes: tuple[AsicClass, ...]
    gpus: tuple[GpuClass, ...]
    leases: tuple[Lease, ...]
    ppas: tuple[Ppa, ...]
    seed: int
    source: str
    finance: Finance = dataclasses.field(default_factory=Finance)
    ancillary: tuple[AncillaryOffer, ...] = ()

    @property
    def hours(self) -> int:
        """Number of hours ``T`` in the horizon."""
        return len(self.index)

    @property
    def site_names(self) -> list[str]:
        return [s.name for s in self.sites]

    def site_matrix(self, attr: str) -> np.ndarray:
        """Stack an hourly site attribute (``"temp_c"``, ``"price_usd_per_mwh"``,
        ``"import_cap_mw"``, ``"peak_adder"``, ...) into a float64 ``[S, T]`` array."""
        return np.ascontiguousarray(
            np.stack([np.asarray(getattr(s, attr), dtype=float) for s in self.sites])
        )

    def pue_tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``pue0, pue_slope, pue_ref_c`` as ``[S, Q]`` arrays over :data:`COOLING_TYPES`."""
        tables = [
            np.array(
                [[getattr(s.cooling[q], f) for q in COOLING_TYPES] for s in self.sites], dtype=float
            )
            for f in ("pue0", "pue_slope", "pue_ref_c")
        ]
        return tables[0], tables[1], tables[2]

    def ppa_block_mw(self) -> np.ndarray:
        """PPA block per site and hour ``B[s,t]`` [MW], 0 where a site has no PPA."""
        out = np.zeros((len(self.sites), self.hours))
        for p in self.ppas:
            out[p.site] = p.block_mw
        return out

    def equals(self, other: Scenario) -> bool:
        """Field-by-field equality, arrays compared exactly (used by round-trip tests)."""
        return _same(self, other, skip=("source",))


def _same(a: Any, b: Any, skip: tuple[str, ...] = ()) -> bool:
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        if type(a) is not type(b):
            return False
        return all(
            _same(getattr(a, f.name), getattr(b, f.name))
            for f in dataclasses.fields(a)
            if f.name not in skip
        )
    if isinstance(a, pd.Index):
        return isinstance(b, pd.Index) and a.equals(b)
    if isinstance(a, np.ndarray):
        return (
            isinstance(b, np.ndarray)
            and a.dtype == b.dtype
            and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
        )
    if isinstance(a, tuple | list):
        return (
            isinstance(b, tuple | list)
            and len(a) == len(b)
            and all(_same(x, y) for x, y in zip(a, b, strict=True))
        )
    if isinstance(a, Mapping):
        return isinstance(b, Mapping) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return bool(a == b) or (
        isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b)
    )


def read_scenario_doc(path: str | Path) -> dict[str, Any]:
    """Parse a scenario TOML file into a document (no validation beyond TOML syntax)."""
    return read_toml(path, "scenario")


def load_scenario(path: str | Path) -> Scenario:
    """Load and validate a scenario file.

    Parameters
    ----------
    path
        The scenario TOML file; series and fleet files resolve against its folder.

    Raises
    ------
    ScenarioError
        For any invalid input, naming the file, field and row/timestamp.
    """
    path = Path(path)
    return build_scenario(read_scenario_doc(path), base_dir=path.parent, source=str(path))


def build_scenario(
    doc: Mapping[str, Any], *, base_dir: str | Path = ".", source: str = "<scenario>"
) -> Scenario:
    """Validate a scenario document and turn it into a :class:`Scenario`.

    Parameters
    ----------
    doc
        Shaped like the TOML file (docs/scenario.md). From Python, a series may also be a
        numpy array (one value per hour) or a pandas Series with a tz-aware DatetimeIndex; an
        array of tables (``sites``, ``fleet``, ...) a DataFrame, one row per table (empty
        cells: field not given); a ``fleet`` DataFrame with an ``id`` column is a per-machine
        list; numpy scalars count as numbers.
    base_dir
        Folder that relative file paths resolve against.
    source
        Where the document came from, for messages and ``Scenario.source``.
    """
    doc = _plain(doc, top=True)
    base_dir = Path(base_dir)
    where = Where(Path(source).name if source[:1] != "<" else source)
    check_keys(doc, TOP_KEYS, where)
    head = require_table(doc, "scenario", where)
    hw = where / "scenario"
    check_keys(head, SCENARIO_KEYS, hw)
    start = text(head, "start", hw)
    try:
        start_ts = pd.Timestamp(start)
    except ValueError:
        raise (hw / "start").error(
            f"expected an ISO 8601 timestamp like 2026-01-01T00:00:00Z, got {start!r}"
        ) from None
    if start_ts.tzinfo is None:
        raise (hw / "start").error(
            f"give a time zone (e.g. {start}Z for UTC): local times are ambiguous"
        )
    if start_ts.tz_convert("UTC") != start_ts.tz_convert("UTC").floor("h"):
        raise (hw / "start").error(f"expected a whole hour, got {start!r}")
    hours = integer(head, "hours", hw, minimum=1)
    if hours > MAX_HOURS:
        raise (hw / "hours").error(f"expected at most {MAX_HOURS} hours (10 years), got {hours}")
    seed = integer(head, "seed", hw, default=0)
    index = hourly_index(start_ts, hours)

    market = parse_market(
        require_table(doc, "market", where), where / "market", index, base_dir, seed
    )
    classes_table = doc.get("classes", {})
    if not isinstance(classes_table, Mapping):
        raise (where / "classes").error(
            f"expected a table ([classes] efficiency_bands_j_per_th = [...]), got {classes_table!r}"
        )
    check_keys(classes_table, ("efficiency_bands_j_per_th",), where / "classes")
    bands = number_list(
        classes_table,
        "efficiency_bands_j_per_th",
        where / "classes",
        default=DEFAULT_BANDS_J_PER_TH,
    )

    site_rows = table_list(doc, "sites", where)
    if not site_rows:
        raise where.error("missing required [[sites]]: at least one site")
    sites = tuple(
        parse_site(r, where / f"sites[{i}]", index, base_dir, seed) for i, r in enumerate(site_rows)
    )
    names = [s.name for s in sites]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise (where / "sites").error(f"duplicate site name(s): {', '.join(sorted(dup))}")

    fleet, classes = parse_fleet_reusing(
        table_list(doc, "fleet", where),
        table_list(doc, "hosting", where),
        where,
        names,
        bands,
        base_dir,
    )
    gpus = tuple(
        parse_gpu_class(r, where / f"gpus[{i}]", names, index, base_dir, seed)
        for i, r in enumerate(table_list(doc, "gpus", where))
    )
    gnames = [g.name for g in gpus]
    for i, g in enumerate(gnames):
        if g in gnames[:i]:
            raise (where / f"gpus[{i}] '{g}'" / "name").error(
                f"duplicate GPU class name '{g}' (also gpus[{gnames.index(g)}]); expected one "
                "name per class"
            )
    leases = tuple(
        parse_lease(r, where / f"leases[{i}]", names, gpus)
        for i, r in enumerate(table_list(doc, "leases", where))
    )
    ppas = tuple(
        parse_ppa(
            r,
            where / f"ppas[{i}]",
            names,
            index,
            base_dir,
            seed,
            interconnect_mw=[s.interconnect_mw for s in sites],
        )
        for i, r in enumerate(table_list(doc, "ppas", where))
    )
    seen: set[int] = set()
    for i, p in enumerate(ppas):
        if p.site in seen:
            raise (where / f"ppas[{i}]").error(
                f"site '{names[p.site]}' already has a PPA; merge the blocks into one"
            )
        seen.add(p.site)
    _check_firm_classes(gpus, leases, ppas, where)
    ancillary = tuple(
        parse_ancillary(r, where / f"ancillary[{i}]", names, index, base_dir, seed)
        for i, r in enumerate(table_list(doc, "ancillary", where))
    )
    anames = [a.name for a in ancillary]
    dup = sorted({n for n in anames if anames.count(n) > 1})
    if dup:
        raise (where / "ancillary").error(
            f"duplicate offer name(s) {', '.join(dup)}: give each [[ancillary]] row its own name"
        )
    if len(fleet) == 0 and not gpus:
        raise where.error("no machines: add [[fleet]], [[hosting]] or [[gpus]] rows")
    return Scenario(
        name=text(head, "name", hw, default=Path(source).stem),
        index=index,
        market=market,
        sites=sites,
        fleet=fleet,
        classes=classes,
        gpus=gpus,
        leases=leases,
        ppas=ppas,
        seed=seed,
        source=source,
        finance=parse_finance(doc.get("finance", {}), where / "finance"),
        ancillary=ancillary,
    )


def _check_firm_classes(
    gpus: tuple[GpuClass, ...], leases: tuple[Lease, ...], ppas: tuple[Ppa, ...], where: Where
) -> None:
    """Every firm GPU class serves a lease (its SLA penalty prices its shortfall), and a
    ``pass_through_price = "ppa"`` class has a PPA at its site."""
    served = {k for lease in leases for k in lease.gpu_classes}
    for i, g in enumerate(gpus):
        if g.firm and i not in served:
            raise (where / f"gpus[{i}] '{g.name}'").error(
                f"firm GPU class '{g.name}' serves no lease: its unserved load would have no SLA "
                "penalty; add it to a [[leases]] row or set service = 'interruptible'"
            )
        if g.pass_through_price == "ppa" and g.site not in {p.site for p in ppas}:
            raise (where / f"gpus[{i}] '{g.name}'" / "pass_through_price").error(
                "'ppa' needs a [[ppas]] row at the class's site"
            )


def _plain(node: Any, top: bool = False) -> Any:
    """A document with DataFrames of tables as lists of dicts and numpy scalars as Python ones
    (the types the field readers expect); Series, arrays and other DataFrames are kept."""
    if isinstance(node, Mapping):
        out = {}
        for k, v in node.items():
            if top and k in TABLE_KEYS and isinstance(v, pd.DataFrame):
                v = _tables(k, v)
            out[k] = _plain(v)
        return out
    if isinstance(node, list | tuple):
        return [_plain(v) for v in node]
    if isinstance(node, np.generic):
        return node.item()
    return node


def _tables(key: str, frame: pd.DataFrame) -> list[dict[str, Any]]:
    if key == "fleet" and "id" in frame.columns:
        return [{"file": frame}]  # one row per machine
    empty = lambda v: v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))  # noqa: E731
    return [{str(k): v for k, v in row.items() if not empty(v)} for row in frame.to_dict("records")]


def capacity_warnings(scenario: Scenario) -> list[str]:
    """Machines that can never all run: a site whose ASIC fleet, all running, draws more than
    its mining hall (or import limit) in every hour, or whose GPU servers, all running, draw
    more than its HPC halls can ever hold (``existing_hpc_mw + convertible_mw``).

    Draws count cooling (PUE) and temperature derating, as the LP does; machines tripped by
    heat draw nothing. Such a scenario is valid (the LP runs what fits) but usually a typo or
    a fleet listed at the wrong site.

    Returns
    -------
    list[str]
        One message per site and kind, empty when everything can run.
    """
    s, f = scenario, scenario.fleet
    pue = np.stack(s.pue_tables(), axis=-1)  # [S, Q, (pue0, slope, ref)]
    out = []
    for i, site in enumerate(s.sites):
        mine = f.site == i
        if mine.any():
            # machines of one cooling and derating draw in proportion to their power: group them
            groups = (
                pd.DataFrame(
                    {
                        "cooling": f.cooling[mine],
                        "beta": f.beta_per_c[mine],
                        "t_ref": f.t_ref_c[mine],
                        "t_max": f.t_max_c[mine],
                        "kw": f.power_kw[mine],
                    }
                )
                .groupby(["cooling", "beta", "t_ref", "t_max"], as_index=False)["kw"]
                .sum()
            )
            need = _least_draw_mw(site.temp_c, pue[i], groups.itertuples(index=False))
            limit, what = min(
                (site.mining_hall_mw, "mining_hall_mw"), (site.interconnect_mw, "interconnect_mw")
            )
            if need > limit + 1e-9:
                out.append(
                    f"{site.name}: the ASIC fleet ({int(mine.sum()):,} machines) draws at least "
                    f"{need:,.1f} MW with cooling when all of it runs, but {what} = {limit:,.1f} "
                    f"MW: {need - limit:,.1f} MW of machines can never run"
                )
        gpus = [g for g in s.gpus if g.site == i]
        if gpus:
            need = _least_draw_mw(
                site.temp_c,
                pue[i],
                [
                    (g.cooling, g.beta_per_c, g.t_ref_c, g.t_max_c, g.max_servers * g.power_kw)
                    for g in gpus
                ],
            )
            halls = site.existing_hpc_mw + site.convertible_mw
            limit, what = min(
                (halls, f"existing_hpc_mw + convertible_mw = {halls:,.1f} MW"),
                (site.interconnect_mw, f"interconnect_mw = {site.interconnect_mw:,.1f} MW"),
            )
            if need > limit + 1e-9:
                out.append(
                    f"{site.name}: GPU servers ({', '.join(g.name for g in gpus)}) draw at least "
                    f"{need:,.1f} MW with cooling at max_servers, but the HPC halls hold at most "
                    f"{what}: {need - limit:,.1f} MW of servers can never run"
                )
    return out


def _least_draw_mw(temp_c: np.ndarray, pue: np.ndarray, groups) -> float:
    """The least hourly draw [MW] of machine groups all running, over the horizon.

    ``groups``: ``(cooling, beta_per_c, t_ref_c, t_max_c, kw)`` per group, ``kw`` the group's
    wall power at reference temperature [kW]; ``pue``: the site's ``[Q, (pue0, slope, ref)]``.
    """
    temp = np.asarray(temp_c, dtype=float)
    mw = np.zeros(len(temp))
    for cooling, beta, t_ref, t_max, kw in groups:
        pue0, slope, ref = pue[int(cooling)]
        factor = (1.0 + beta * np.maximum(0.0, temp - t_ref)) * (
            pue0 + slope * np.maximum(0.0, temp - ref)
        )
        mw += np.where(temp > t_max, 0.0, kw * factor / 1000.0)
    return float(mw.min()) if len(mw) else 0.0
