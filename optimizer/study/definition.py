"""A study file: base scenario, overrides, axes (values, factors, seeded samples) and Monte Carlo
paths, parsed and validated into a :class:`Study` that yields one :class:`ScenarioTask` per
combination. The format is documented in ``docs/study.md``."""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import itertools
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models import ScenarioError, set_field
from models.contracts import LEASE_KEYS, PPA_KEYS
from models.documents import file_digest, get_field, input_files, lookup, read_toml
from models.example import example_doc
from models.fields import Where, check_keys, integer, number, one_of, text
from models.fleet import FLEET_KEYS, HOSTING_KEYS
from models.gpus import GPU_KEYS
from models.market import MARKET_KEYS
from models.scenario import SCENARIO_KEYS, TOP_KEYS
from models.sites import SITE_KEYS
from optimizer.lp.backends import BACKENDS, METHODS
from optimizer.study.monte_carlo import MonteCarlo, parse_monte_carlo, path_start, with_path
from optimizer.study.rows import PATH_AXIS, ScenarioTask, digest

BUILTIN_EXAMPLE = "builtin:example"


STUDY_TOP_KEYS = ("study", "overrides", "axes", "monte_carlo")


STUDY_KEYS = (
    "name",
    "description",
    "base",
    "combine",
    "seed",
    "method",
    "backend",
    "solver",
    "time_limit_s",
)


COMBINE = ("grid", "zip")


#: Keys that make a table in ``[axes]`` an axis (rather than a level of a dotted path).
AXIS_KINDS = ("values", "factors", "uniform", "loguniform")


AXIS_SPEC_KEYS = (*AXIS_KINDS, "n", "seed")


#: Fields the scenario reads as "exactly one of": setting one drops the other.
_EXCLUSIVE = {
    "market.difficulty": "market.network_hashrate_ehs",
    "market.network_hashrate_ehs": "market.difficulty",
}


#: Known keys of each table of a scenario document, for dotted-path checks.
_TABLE_KEYS = {
    "scenario": SCENARIO_KEYS,
    "market": MARKET_KEYS,
    "classes": ("efficiency_bands_j_per_th",),
}


_ARRAY_KEYS = {
    "sites": SITE_KEYS,
    "fleet": FLEET_KEYS,
    "hosting": HOSTING_KEYS,
    "gpus": GPU_KEYS,
    "leases": LEASE_KEYS,
    "ppas": PPA_KEYS,
}


@dataclass(frozen=True)
class Axis:
    """One axis of a study: a field and the values it takes.

    Attributes
    ----------
    path : str
        Dotted path of the scenario field (``market.btc_price_usd``,
        ``sites.odessa.price_scale``), or ``"path"`` for the Monte Carlo path index.
    kind : str
        ``values`` (the values are set as given), ``factors`` (each multiplies the base value),
        ``uniform`` / ``loguniform`` (seeded samples, set as drawn) or ``paths``.
    values : tuple
        What the axis takes, in order; for ``factors`` the factors [-], else field values in the
        field's unit.
    """

    path: str
    kind: str
    values: tuple

    @property
    def numeric(self) -> bool:
        """Whether every value is a real number (not a bool): tipping points need order."""
        return all(
            isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)
            for v in self.values
        )


@dataclass(frozen=True, eq=False)
class Study:
    """A parsed, validated study.

    Attributes
    ----------
    name : str
    source : str
        The study file (or ``"<study>"``).
    base : str
        The base scenario as written (``builtin:example`` or a path).
    base_doc : dict
        The base scenario document with ``[overrides]`` applied.
    base_dir : str
        Folder that the base scenario's series files resolve against.
    overrides : dict[str, Any]
        Dotted path -> value, applied to every scenario.
    axes : tuple[Axis, ...]
        In file order; a Monte Carlo study ends with the ``path`` axis.
    combine : str
        ``grid`` or ``zip``.
    monte_carlo : MonteCarlo or None
    backend, solver : str, str or None
        LP backend and (PuLP) solver.
    time_limit_s : float or None
        Solver time limit per scenario [s].
    hash : str
        SHA-256 of the definition (base document, overrides, axes with their drawn values,
        combine, Monte Carlo parameters, backend): ``--resume`` refuses another study.
    """

    name: str
    source: str
    base: str
    base_doc: dict
    base_dir: str
    overrides: dict
    axes: tuple[Axis, ...]
    combine: str
    monte_carlo: MonteCarlo | None
    method: str
    backend: str
    solver: str | None
    time_limit_s: float | None
    hash: str

    @property
    def label(self) -> str:
        """Short name of the study file for messages."""
        return Path(self.source).name if self.source[:1] != "<" else self.source

    @property
    def axis_paths(self) -> list[str]:
        return [a.path for a in self.axes]

    def axis(self, path: str) -> Axis:
        """The axis on ``path``, or a :class:`ScenarioError` naming the closest one."""
        for a in self.axes:
            if a.path == path:
                return a
        one_of(path, self.axis_paths, Where(self.label, "axes"), what="axis")
        raise AssertionError  # one_of raised

    def __len__(self) -> int:
        sizes = [len(a.values) for a in self.axes]
        if not sizes:
            return 1
        return math.prod(sizes) if self.combine == "grid" else sizes[0]

    def combinations(self) -> list[dict[str, Any]]:
        """Axis values of every scenario, in order (grid: last axis fastest)."""
        if not self.axes:
            return [{}]
        paths = self.axis_paths
        if self.combine == "zip":
            rows = zip(*(a.values for a in self.axes), strict=True)
        else:
            rows = itertools.product(*(a.values for a in self.axes))
        return [dict(zip(paths, r, strict=True)) for r in rows]

    def scenario_ids(self) -> list[str]:
        """``s0000``, ``s0001``, ... one per combination (at least 4 digits)."""
        n = len(self)
        width = max(4, len(str(n - 1)))
        return [f"s{i:0{width}d}" for i in range(n)]

    def scenario_doc(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The scenario document for one combination of axis values.

        Axis values are applied in axis order on top of the base document (overrides applied);
        a Monte Carlo path index sets ``market.btc_price_usd``, ``market.difficulty``,
        ``market.fees_btc_per_block`` and ``market.height`` to that path's hourly arrays.
        """
        doc = self.base_doc
        for axis in self.axes:
            if axis.path == PATH_AXIS or axis.path not in values:
                continue
            doc = apply_field(doc, axis.path, field_value(self.base_doc, axis, values[axis.path]))
        if self.monte_carlo is not None and PATH_AXIS in values:
            doc = with_path(doc, self.monte_carlo, int(values[PATH_AXIS]), self.label)
        return doc

    def input_files(self, values: Mapping[str, Any] | None = None) -> dict[str, str]:
        """File -> SHA-256 of its bytes, for every file a scenario (the base scenario with
        ``values``; all axis values when None) reads: series and fleet files."""
        extra = list(values.values()) if values is not None else [a.values for a in self.axes]
        paths = set(input_files(self.base_doc, self.base_dir))
        paths.update(input_files(extra, self.base_dir))
        return {str(p): file_digest(p) for p in sorted(paths)}

    def inputs_digest(self, values: Mapping[str, Any]) -> str:
        """One SHA-256 over the contents of the files of one scenario (:meth:`input_files`)."""
        return digest(self.input_files(values))

    def tasks(self, ids_values: Iterable[tuple[str, dict[str, Any]]], origin: str = "study"):
        """:class:`ScenarioTask` for each ``(scenario_id, axis values)``, built lazily."""
        for sid, values in ids_values:
            yield self.task(sid, values, origin)

    def task(self, sid: str, values: dict[str, Any], origin: str = "study") -> ScenarioTask:
        """One :class:`ScenarioTask`. A document that cannot even be formed (a bad path or a
        Monte Carlo start that is not a constant) becomes a task that reports the error."""
        error = ""
        source = f"<{self.label} scenario {sid}>"
        try:
            doc = self.scenario_doc(values)
        except ScenarioError as exc:
            doc, error = {}, f"{source}: {exc}"
        return ScenarioTask(
            scenario_id=sid,
            values=dict(values),
            doc=doc,
            base_dir=self.base_dir,
            source=source,
            backend=self.backend,
            solver=self.solver,
            time_limit_s=self.time_limit_s,
            method=self.method,
            origin=origin,
            error=error,
            inputs=self.inputs_digest(values),
        )


def read_study(path: str | Path) -> Study:
    """Read and validate a study file.

    Parameters
    ----------
    path
        The study TOML file; a relative ``base`` resolves against its folder.

    Raises
    ------
    ScenarioError
        For any invalid study, naming the file and field (with a did-you-mean for unknown keys
        and dotted paths).
    """
    path = Path(path)
    doc = read_toml(path, "study")
    return parse_study(doc, source=str(path), base_dir=path.parent)


def parse_study(
    doc: Mapping[str, Any], *, source: str = "<study>", base_dir: str | Path = "."
) -> Study:
    """Validate a study document (see :func:`read_study`) and draw its random samples."""
    where = Where(Path(source).name if source[:1] != "<" else source)
    check_keys(doc, STUDY_TOP_KEYS, where)
    head = doc.get("study", {})
    hw = where / "study"
    if not isinstance(head, Mapping):
        raise hw.error("expected a table")
    check_keys(head, STUDY_KEYS, hw)
    base = text(head, "base", hw)
    name = text(head, "name", hw, default=Path(source).stem if source[:1] != "<" else "study")
    text(head, "description", hw, default="")
    combine = text(head, "combine", hw, default="grid", choices=COMBINE)
    seed = integer(head, "seed", hw, default=0)
    method = text(head, "method", hw, default="auto", choices=METHODS)
    backend = text(head, "backend", hw, default="highs", choices=BACKENDS)
    solver = text(head, "solver", hw, default=None) if "solver" in head else None
    time_limit_s = (
        number(head, "time_limit_s", hw, unit="s", minimum=0.0, strict_minimum=True)
        if "time_limit_s" in head
        else None
    )

    base_doc, scenario_dir = _read_base(base, Path(base_dir), hw / "base")

    overrides_table = doc.get("overrides", {})
    if not isinstance(overrides_table, Mapping):
        raise (where / "overrides").error("expected a table of dotted paths = values")
    overrides = dict(_leaves(overrides_table, base_doc, "", where / "overrides", axes=False))
    for path_, value in overrides.items():
        _check_path(base_doc, path_, where / "overrides" / path_)
        base_doc = apply_field(base_doc, path_, value)

    axes_table = doc.get("axes", {})
    if not isinstance(axes_table, Mapping):
        raise (where / "axes").error("expected a table of dotted paths = value lists")
    axes = []
    for path_, spec in _leaves(axes_table, base_doc, "", where / "axes", axes=True):
        aw = where / "axes" / path_
        if path_ == PATH_AXIS:
            raise aw.error("'path' is the Monte Carlo path axis; set [monte_carlo] paths = N")
        _check_path(base_doc, path_, aw)
        axes.append(_parse_axis(path_, spec, base_doc, seed, aw))

    monte_carlo = None
    if "monte_carlo" in doc:
        monte_carlo = parse_monte_carlo(doc["monte_carlo"], seed, where / "monte_carlo")
        # the base start state must be usable (axes may still change it per scenario)
        path_start(base_doc, where / "monte_carlo")
        axes.append(Axis(PATH_AXIS, "paths", tuple(range(monte_carlo.paths))))

    if combine == "zip" and axes:
        sizes = {a.path: len(a.values) for a in axes}
        if len(set(sizes.values())) > 1:
            listed = ", ".join(f"{p} ({n})" for p, n in sizes.items())
            raise (hw / "combine").error(
                f"'zip' pairs the i-th values of every axis, so all axes need the same number "
                f'of values; got {listed}. Use combine = "grid" or equal lengths'
            )
    study = Study(
        name=name,
        source=source,
        base=base,
        base_doc=base_doc,
        base_dir=str(scenario_dir),
        overrides=overrides,
        axes=tuple(axes),
        combine=combine,
        monte_carlo=monte_carlo,
        method=method,
        backend=backend,
        solver=solver,
        time_limit_s=time_limit_s,
        hash="",
    )
    study_hash = digest(
        {
            "format": 1,
            "base_doc": base_doc,
            "axes": [[a.path, a.kind, list(a.values)] for a in axes],
            "combine": combine,
            "monte_carlo": dataclasses.asdict(monte_carlo) if monte_carlo else None,
            "method": method,
            "backend": backend,
            "solver": solver,
            "time_limit_s": time_limit_s,
        }
    )
    return dataclasses.replace(study, hash=study_hash)


def _read_base(base: str, study_dir: Path, where: Where) -> tuple[dict[str, Any], Path]:
    if base == BUILTIN_EXAMPLE:
        return example_doc(), study_dir
    if base.startswith("builtin:"):
        raise where.error(f"unknown built-in scenario {base!r}; expected {BUILTIN_EXAMPLE!r}")
    path = Path(base)
    if not path.is_absolute():
        path = study_dir / path
    if not path.is_file():
        raise where.error(f"base scenario not found: {path}")
    try:
        return read_toml(path, "scenario"), path.parent
    except ScenarioError as exc:
        raise where.error(str(exc)) from None


def _is_axis_spec(value: Any) -> bool:
    return isinstance(value, Mapping) and any(k in value for k in AXIS_KINDS)


def _leaves(
    table: Mapping[str, Any], base: Any, prefix: str, where: Where, *, axes: bool
) -> Iterator[tuple[str, Any]]:
    """Flatten nested TOML tables into ``(dotted path, value)``.

    TOML turns ``market.btc_price_usd = [...]`` into nested tables; a nested table continues the
    path where the base scenario has a table there (or, for axes, where it is not an axis spec)
    and is a value otherwise (an override may replace a whole series table).
    """
    for key, value in table.items():
        parts = key.split(".")  # quoted dotted keys: "sites.odessa.price_scale" = [...]
        node = base
        for p in parts[:-1]:
            node = lookup(node, p)
        full = f"{prefix}{key}"
        child = lookup(node, parts[-1])
        nested = isinstance(value, Mapping) and not (axes and _is_axis_spec(value))
        if nested and (axes or isinstance(child, Mapping | list)):
            if axes and not isinstance(child, Mapping | list):
                # a table that is neither an axis nor a level of the scenario: likely a typo
                close = [
                    c
                    for k in value
                    for c in difflib.get_close_matches(k, AXIS_SPEC_KEYS, n=1, cutoff=0.6)
                ]
                if close or not value:
                    bad = next(iter(value), "")
                    hint = f"; did you mean '{close[0]}'?" if close else ""
                    raise (where / full).error(
                        f"not an axis: unknown key '{bad}'{hint} (an axis is a list of values or "
                        "a table with one of: values, factors, uniform, loguniform)"
                    )
            yield from _leaves(value, child, f"{full}.", where, axes=axes)
        else:
            yield full, value


def _check_path(doc: Mapping[str, Any], path: str, where: Where) -> None:
    """Check that a dotted path names a scenario field (did-you-mean on every level)."""
    parts = path.split(".")
    top = parts[0]
    one_of(top, TOP_KEYS, where, what="scenario table")
    if top in _TABLE_KEYS:
        if len(parts) < 2:
            raise where.error(f"name a field of [{top}], e.g. {top}.{_TABLE_KEYS[top][0]}")
        one_of(parts[1], _TABLE_KEYS[top], where, what=f"field of [{top}]")
        depth = 2
    else:
        rows = doc.get(top, [])
        rows = [rows] if isinstance(rows, Mapping) else rows
        names = [str(r.get("name")) for r in rows if isinstance(r, Mapping) and "name" in r]
        if len(parts) < 3:
            example = f"{top}.{names[0] if names else 0}.{_ARRAY_KEYS[top][1]}"
            raise where.error(f"name a table and a field of [[{top}]], e.g. {example}")
        if lookup(rows, parts[1]) is None:
            known = names or [str(i) for i in range(len(rows))]
            if not rows:
                raise where.error(f"the base scenario has no [[{top}]] tables")
            one_of(parts[1], known, where, what=f"[[{top}]] table (by name or position)")
            raise where.error(f"[[{top}]] has no table {parts[1]!r}")  # pragma: no cover
        one_of(parts[2], _ARRAY_KEYS[top], where, what=f"field of [[{top}]]")
        depth = 3
    if len(parts) > depth:  # inside a series or cooling table: the levels above must exist
        node: Any = doc
        for i, p in enumerate(parts[:-1]):
            node = lookup(node, p)
            if not isinstance(node, Mapping | list):
                raise where.error(
                    f"{'.'.join(parts[: i + 1])} is not a table in the base scenario; set the "
                    "whole table in [overrides] first"
                )


def apply_field(doc: Mapping[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``doc`` with one field set (:func:`models.set_field`), dropping the field that
    excludes it (``difficulty`` vs ``network_hashrate_ehs``)."""
    out = set_field(dict(doc), path, value)
    other = _EXCLUSIVE.get(path)
    if other is not None:
        table, key = other.split(".")
        out[table].pop(key, None)
    return out


def _parse_axis(path: str, spec: Any, base_doc: Mapping[str, Any], seed: int, where: Where):
    if isinstance(spec, list):
        spec = {"values": spec}
    if not isinstance(spec, Mapping):
        raise where.error(
            f"expected a list of values or a table with values, factors, uniform or "
            f"loguniform; got {spec!r}"
        )
    check_keys(spec, AXIS_SPEC_KEYS, where)
    kinds = [k for k in AXIS_KINDS if k in spec]
    if len(kinds) != 1:
        raise where.error(f"give exactly one of {', '.join(AXIS_KINDS)}; got {kinds}")
    kind = kinds[0]
    if kind in ("values", "factors"):
        for k in ("n", "seed"):
            if k in spec:
                raise (where / k).error(f"'{k}' belongs to uniform/loguniform samples")
        values = spec[kind]
        if not isinstance(values, list) or not values:
            raise (where / kind).error(f"expected a non-empty list, got {values!r}")
        if kind == "factors":
            for i, f in enumerate(values):
                if isinstance(f, bool) or not isinstance(f, int | float) or not math.isfinite(f):
                    raise (where / kind).error(f"factor {i} is {f!r}; expected a finite number")
            _scaled(get_field(base_doc, path), 1.0, where)  # can this field be scaled?
        return Axis(path, kind, tuple(values))
    bounds = spec[kind]
    ok = (
        isinstance(bounds, list)
        and len(bounds) == 2
        and all(isinstance(b, int | float) and not isinstance(b, bool) for b in bounds)
        and all(math.isfinite(b) for b in bounds)
        and bounds[0] < bounds[1]
    )
    if not ok or (kind == "loguniform" and bounds[0] <= 0):
        low = "> 0 " if kind == "loguniform" else ""
        raise (where / kind).error(f"expected [low, high] with {low}low < high, got {bounds!r}")
    n = integer(spec, "n", where, minimum=1)
    axis_seed = integer(spec, "seed", where, default=None) if "seed" in spec else None
    # without an explicit seed, each axis draws from (study seed, path): independent axes
    rng = np.random.default_rng(
        axis_seed
        if axis_seed is not None
        else [seed, int(hashlib.sha1(path.encode()).hexdigest()[:8], 16)]
    )
    return Axis(path, kind, tuple(float(v) for v in sample(kind, bounds[0], bounds[1], n, rng)))


def sample(kind: str, low: float, high: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` draws on ``[low, high)``: uniform, or uniform in log space (``loguniform``)."""
    if kind == "uniform":
        return rng.uniform(low, high, n)
    return np.exp(rng.uniform(math.log(low), math.log(high), n))


def _scaled(base: Any, factor: float, where: Where) -> Any:
    """``base`` (a number, list of numbers or file series table) multiplied by ``factor``."""
    if isinstance(base, int | float) and not isinstance(base, bool):
        return base * factor
    if isinstance(base, np.ndarray | list) and len(base):
        return (np.asarray(base, dtype=float) * factor).tolist()
    if isinstance(base, Mapping) and "file" in base:
        out = dict(base)
        out["scale"] = float(base.get("scale", 1.0)) * factor
        return out
    what = "synthetic series" if isinstance(base, Mapping) else repr(base)
    raise where.error(
        f"factors multiply a number, a list or a file series; the base value is a {what} "
        "(for site prices use sites.NAME.price_scale as a value list)"
    )


def field_value(base_doc: Mapping[str, Any], axis: Axis, value: Any) -> Any:
    """The value an axis puts into the scenario document (factors multiply the base value)."""
    if axis.kind == "factors":
        return _scaled(get_field(base_doc, axis.path), float(value), Where("axes", axis.path))
    return value


EXAMPLE_STUDY = """\
# hashpivot example study: how do BTC price and power prices move the mining/HPC split?
# Format: docs/study.md. Run it (about a minute on 2 cores):
#   hashpivot study study.toml --out results/
# then read results/summary.csv, results/tipping.csv and results/axes.png.

[study]
name = "btc-price-vs-power-price"
base = "builtin:example"        # the built-in 100 MW West Texas site; or a path to a scenario.toml
combine = "grid"                # every combination of the axes ("zip": the i-th values together)
seed = 1                        # default seed of random samples
backend = "highs"

# Applied to every scenario before the axes: one quarter instead of a full year keeps it quick.
[overrides]
scenario.hours = 2184           # 13 weeks from 2026-01-01

# Each axis is a scenario field by dotted path (tables in arrays by name: sites.odessa....).
[axes]
market.btc_price_usd = [40000, 55000, 70000, 85000, 100000, 115000]   # USD, as given
sites.odessa.price_scale = [0.8, 1.0, 1.2]             # multiplies the site's hourly spot prices
# Other kinds of axes (uncomment to try; every axis multiplies the number of scenarios on a grid):
# market.fees_btc_per_block = { factors = [0.5, 2.0] }                  # x the base value
# market.network_hashrate_ehs = { uniform = [1000, 1300], n = 4, seed = 3 }   # seeded draws
# leases.tenant.min_mw = { loguniform = [5, 40], n = 3 }
"""


EXAMPLE_MONTE_CARLO = """\
# hashpivot example Monte Carlo study: margin risk over a quarter under random BTC price,
# hashrate and fee paths (geometric Brownian motion, difficulty retargets every 2016 blocks).
# Run it:  hashpivot study monte_carlo.toml --out mc-results/
# then read mc-results/risk.json (P10/P50/P90 of margin, probability of a loss) and
# mc-results/monte_carlo.png.

[study]
name = "quarter-risk"
base = "builtin:example"

[overrides]
scenario.hours = 2184           # one quarter

[monte_carlo]
paths = 16                      # scenarios: one per path
seed = 42                       # fixes the path set
mu = 0.0                        # BTC price drift [1/year]
sigma = 0.55                    # BTC price volatility [1/sqrt(year)]
hashrate_drift = 0.35           # network hashrate growth [1/year]
hashrate_vol = 0.15             # [1/sqrt(year)]
fee_vol = 0.5                   # hourly log-noise on fees per block
"""
