"""The :class:`Scenario` and its loader: one TOML file (+ CSV/Parquet series) -> validated arrays.

``load_scenario(path)`` reads and validates a file; ``build_scenario(doc, ...)`` does the same for
an in-memory document (the built-in example, studies that vary fields). Every error is a
:class:`~models.errors.ScenarioError` naming the file, field, row or timestamp.
"""

from __future__ import annotations

import dataclasses
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
    parse_fleet,
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
    """Validate a scenario document and turn it into a :class:`Scenario`."""
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

    fleet, classes = parse_fleet(
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
    if len(set(gnames)) != len(gnames):
        raise (where / "gpus").error("duplicate GPU class names")
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
