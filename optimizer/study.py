"""What-if studies: a study file -> many scenario documents -> kernel + LP in workers -> results.

A study file (TOML) names a base scenario, ``[overrides]`` applied to every scenario and
``[axes]``: value lists, scale factors and seeded random samples for any scenario field
addressed by dotted path, plus optional ``[monte_carlo]`` paths of BTC price, difficulty, fees
and height (:func:`kernels.paths.simulate_paths`). Axes combine as a full grid or zipped.
The format is documented in ``docs/study.md``.

Each scenario runs in a worker through :func:`run_scenario` (a top-level function, so process
pools and dask can pickle it) and comes back as one row. :func:`run_study` feeds the workers,
stores rows as they arrive (:mod:`optimizer.storage`), resumes, and bisects tipping points
(:mod:`optimizer.analysis`).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import difflib
import hashlib
import itertools
import json
import math
import multiprocessing
import os
import signal
import time
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from kernels.bitcoin import difficulty_from_hashrate_ehs, network_hashrate_ehs
from models import ScenarioError, build_scenario, set_field
from models.contracts import LEASE_KEYS, PPA_KEYS
from models.fields import Where, check_keys, integer, number, one_of, text
from models.fleet import FLEET_KEYS, GPU_KEYS, HOSTING_KEYS
from models.market import MARKET_KEYS
from models.scenario import SCENARIO_KEYS, TOP_KEYS, lookup
from models.sites import SITE_KEYS

BUILTIN_EXAMPLE = "builtin:example"
STUDY_TOP_KEYS = ("study", "overrides", "axes", "monte_carlo")
STUDY_KEYS = ("name", "description", "base", "combine", "seed", "backend", "solver", "time_limit_s")
COMBINE = ("grid", "zip")
BACKENDS = ("highs", "pulp")
#: Keys that make a table in ``[axes]`` an axis (rather than a level of a dotted path).
AXIS_KINDS = ("values", "factors", "uniform", "loguniform")
AXIS_SPEC_KEYS = (*AXIS_KINDS, "n", "seed")
MONTE_CARLO_KEYS = (
    "paths",
    "seed",
    "mu",
    "sigma",
    "hashrate_drift",
    "hashrate_vol",
    "fee_vol",
    "hashrate_step_hours",
)
#: Column of the Monte Carlo path index in results.
PATH_AXIS = "path"
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


# --------------------------------------------------------------------------------------------
# The study definition


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


@dataclass(frozen=True)
class MonteCarlo:
    """Parameters of the Monte Carlo paths (:func:`kernels.paths.simulate_paths`).

    Each path starts from the scenario's own market (constant ``btc_price_usd``, difficulty or
    ``network_hashrate_ehs``, ``fees_btc_per_block``, ``height``) and spans ``scenario.hours``
    hourly values.

    Attributes
    ----------
    paths : int
        Number of paths.
    seed : int
        Seed of ``numpy.random.default_rng``: a seed fixes the path set.
    mu, sigma : float
        Annual drift and volatility of the BTC price [1/year, 1/sqrt(year)].
    hashrate_drift, hashrate_vol : float
        Annual drift and volatility of the network hashrate [1/year, 1/sqrt(year)].
    fee_vol : float
        Standard deviation of the hourly log-noise on fees per block [-].
    hashrate_step_hours : int
        Hours between hashrate shocks [h].
    """

    paths: int
    seed: int
    mu: float
    sigma: float
    hashrate_drift: float
    hashrate_vol: float
    fee_vol: float
    hashrate_step_hours: int


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
            origin=origin,
            error=error,
        )


def _canonical(value: Any) -> Any:
    """JSON-able form of a study value for hashing (arrays as lists, tuples as lists)."""
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return str(value)  # dates and times from TOML


def _hash(parts: Mapping[str, Any]) -> str:
    blob = json.dumps(_canonical(parts), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


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
    if not path.is_file():
        raise ScenarioError(f"{path}: study file not found")
    try:
        with path.open("rb") as fh:
            doc = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from None
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
        monte_carlo = _parse_monte_carlo(doc["monte_carlo"], seed, where / "monte_carlo")
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
        backend=backend,
        solver=solver,
        time_limit_s=time_limit_s,
        hash="",
    )
    digest = _hash(
        {
            "format": 1,
            "base_doc": base_doc,
            "axes": [[a.path, a.kind, list(a.values)] for a in axes],
            "combine": combine,
            "monte_carlo": dataclasses.asdict(monte_carlo) if monte_carlo else None,
            "backend": backend,
            "solver": solver,
            "time_limit_s": time_limit_s,
        }
    )
    return dataclasses.replace(study, hash=digest)


def _read_base(base: str, study_dir: Path, where: Where) -> tuple[dict[str, Any], Path]:
    if base == BUILTIN_EXAMPLE:
        from models.example import example_text

        return tomllib.loads(example_text()), study_dir
    if base.startswith("builtin:"):
        raise where.error(f"unknown built-in scenario {base!r}; expected {BUILTIN_EXAMPLE!r}")
    path = Path(base)
    if not path.is_absolute():
        path = study_dir / path
    if not path.is_file():
        raise where.error(f"base scenario not found: {path}")
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh), path.parent
    except tomllib.TOMLDecodeError as exc:
        raise where.error(f"{path.name} is not valid TOML: {exc}") from None


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
            _scaled(_get_field(base_doc, path), 1.0, where)  # can this field be scaled?
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


def _get_field(doc: Mapping[str, Any], path: str) -> Any:
    node: Any = doc
    for p in path.split("."):
        node = lookup(node, p)
    return node


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
        return _scaled(_get_field(base_doc, axis.path), float(value), Where("axes", axis.path))
    return value


# --------------------------------------------------------------------------------------------
# Monte Carlo


def _parse_monte_carlo(table: Any, seed: int, where: Where) -> MonteCarlo:
    if not isinstance(table, Mapping):
        raise where.error("expected a table")
    check_keys(table, MONTE_CARLO_KEYS, where)
    return MonteCarlo(
        paths=integer(table, "paths", where, minimum=1),
        seed=integer(table, "seed", where, default=seed),
        mu=number(table, "mu", where, unit="1/year", default=0.0),
        sigma=number(table, "sigma", where, unit="1/sqrt(year)", minimum=0.0),
        hashrate_drift=number(table, "hashrate_drift", where, unit="1/year", default=0.0),
        hashrate_vol=number(
            table, "hashrate_vol", where, unit="1/sqrt(year)", default=0.0, minimum=0.0
        ),
        fee_vol=number(table, "fee_vol", where, default=0.0, minimum=0.0),
        hashrate_step_hours=integer(table, "hashrate_step_hours", where, default=24, minimum=1),
    )


def path_start(doc: Mapping[str, Any], where: Where) -> dict[str, Any]:
    """Where the paths of a scenario start: its market's constants and its horizon.

    Returns the keyword arguments of :func:`kernels.paths.simulate_paths` other than the
    Monte Carlo parameters: ``hours``, ``btc_price_usd``, ``difficulty``, ``hashrate_ehs``,
    ``height``, ``fees_btc_per_block``.
    """
    market = doc.get("market", {})
    hours = doc.get("scenario", {}).get("hours")

    def constant(key: str) -> float:
        value = market.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise where.error(
                f"Monte Carlo paths start from a constant market.{key}; the scenario has "
                f"{'none' if value is None else type(value).__name__}"
            )
        return float(value)

    if "difficulty" in market:
        difficulty = constant("difficulty")
        hashrate = float(network_hashrate_ehs(difficulty))
    else:
        hashrate = constant("network_hashrate_ehs")
        difficulty = float(difficulty_from_hashrate_ehs(hashrate))
    if isinstance(hours, bool) or not isinstance(hours, int) or hours < 1:
        raise where.error(f"Monte Carlo paths need scenario.hours >= 1, got {hours!r}")
    return {
        "hours": hours,
        "btc_price_usd": constant("btc_price_usd"),
        "difficulty": difficulty,
        "hashrate_ehs": hashrate,
        "height": int(constant("height")),
        "fees_btc_per_block": constant("fees_btc_per_block"),
    }


@lru_cache(maxsize=4)
def _paths(mc: MonteCarlo, start: tuple[tuple[str, Any], ...]):
    from kernels.paths import simulate_paths

    kw = dict(start)
    hours = kw.pop("hours")
    return simulate_paths(
        mc.paths,
        hours,
        mu=mc.mu,
        sigma=mc.sigma,
        hashrate_drift=mc.hashrate_drift,
        hashrate_vol=mc.hashrate_vol,
        fee_vol=mc.fee_vol,
        hashrate_step_hours=mc.hashrate_step_hours,
        seed=mc.seed,
        **kw,
    )


def simulate_study_paths(mc: MonteCarlo, doc: Mapping[str, Any], where: Where | None = None):
    """Every path of a scenario document's start state (cached: grids reuse one path set).

    Returns
    -------
    kernels.paths.Paths
        Arrays shaped ``[paths, hours]``.
    """
    start = path_start(doc, where or Where("monte_carlo"))
    try:
        return _paths(mc, tuple(sorted(start.items())))
    except ValueError as exc:  # simulate_paths rejects a start state or parameter
        raise (where or Where("monte_carlo")).error(str(exc)) from None


def with_path(doc: Mapping[str, Any], mc: MonteCarlo, index: int, label: str) -> dict[str, Any]:
    """A copy of ``doc`` whose market follows Monte Carlo path ``index`` hour by hour.

    Sets ``market.btc_price_usd``, ``market.difficulty`` (dropping ``network_hashrate_ehs``),
    ``market.fees_btc_per_block`` and ``market.height`` to hourly arrays: index 0 of each path
    is the start state itself (kernels.paths convention), so ``hours`` values cover the horizon.
    """
    paths = simulate_study_paths(mc, doc, Where(label, "monte_carlo"))
    out = dict(doc)
    market = dict(out["market"])
    market.pop("network_hashrate_ehs", None)
    market["btc_price_usd"] = paths.btc_price_usd[index].copy()
    market["difficulty"] = paths.difficulty[index].copy()
    market["fees_btc_per_block"] = paths.fees_btc_per_block[index].copy()
    market["height"] = paths.height[index].copy()
    out["market"] = market
    return out


# --------------------------------------------------------------------------------------------
# One scenario in a worker


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
    backend, solver, time_limit_s
        Passed to :func:`optimizer.plan.plan_scenario` (with ``threads=1``).
    origin : str
        ``study`` for the grid, ``refine:AXIS`` for bisection points on AXIS.
    error : str
        A document that could not be formed: the worker reports this instead of running.
    """

    scenario_id: str
    values: dict
    doc: dict
    base_dir: str
    source: str
    backend: str = "highs"
    solver: str | None = None
    time_limit_s: float | None = None
    origin: str = "study"
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
SECONDS_FIELDS = ("load", "kernel", "build", "solve", "report", "total")
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


def empty_row(task: ScenarioTask) -> dict[str, Any]:
    """The row of a scenario before it runs: ids, axis values, NaN results."""
    row: dict[str, Any] = {
        "scenario_id": task.scenario_id,
        "origin": task.origin,
        **{k: _cell(v) for k, v in task.values.items()},
        "status": "",
        "error": "",
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


def _cell(value: Any) -> Any:
    """An axis value as a table cell: scalars as is, anything else as JSON text."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bool | int | float | str):
        return value
    return json.dumps(_canonical(value), sort_keys=True)


def failed_row(task: ScenarioTask, status: str, message: str) -> dict[str, Any]:
    """A row for a scenario that did not produce a plan."""
    row = empty_row(task)
    row.update(status=status, error=message, finished_unix=time.time())
    return row


@contextlib.contextmanager
def _one_numba_thread() -> Iterator[None]:
    """One numba thread in this thread while a scenario runs: parallelism comes from running
    scenarios side by side, and nested threads would oversubscribe the cores. (numba's thread
    count is per calling thread, so this holds for dask worker threads too.)"""
    import numba

    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(previous)


def run_scenario(task: ScenarioTask) -> dict[str, Any]:
    """Build one scenario, run kernel + LP (1 thread), and return its result row.

    Never raises for a scenario's own failure: :class:`~models.ScenarioError`,
    :class:`~optimizer.errors.InfeasibleError`, :class:`~optimizer.errors.SolverError` and any
    other exception become a row with ``status`` (``bad_input``, ``infeasible``,
    ``solver_error``, ``error``) and ``error`` (the message).

    Returns
    -------
    dict
        ``scenario_id``, ``origin``, the axis values, ``status``, ``error``, the plan summary's
        money fields [USD], ``hpc_mw_converted`` [MW], ``gpu_servers_firm``, energies [MWh],
        ``mining_share`` [-] (mining MWh / (mining + HPC MWh)), ``mining_mw_mean`` and
        ``hpc_mw_mean`` [MW], ``hours_curtailed`` (hours the plan leaves power unused, from the
        plan), ``hours_curtailment_orders`` (hours with a curtailment order at any site),
        ``btc_price_mean_usd``, ``btc_price_end_usd``, ``hashprice_mean_usd_per_ph_day``,
        ``seconds_*`` [s] (plan stages; ``seconds_load`` = building the Scenario here),
        ``seconds_worker`` (everything in the worker), ``worker_pid``, ``finished_unix``.
    """
    with _one_numba_thread():
        return _run_scenario(task)


def _run_scenario(task: ScenarioTask) -> dict[str, Any]:
    from optimizer.errors import InfeasibleError, SolverError

    t0 = time.perf_counter()
    row = empty_row(task)
    row["worker_pid"] = os.getpid()
    if task.error:
        row.update(status=STATUS_BAD_INPUT, error=task.error, finished_unix=time.time())
        return row
    try:
        scenario = build_scenario(task.doc, base_dir=task.base_dir, source=task.source)
        t_load = time.perf_counter() - t0
        row.update(_market_columns(scenario))
        from optimizer.plan import plan_scenario

        plan = plan_scenario(
            scenario,
            backend=task.backend,
            solver=task.solver,
            threads=1,
            time_limit_s=task.time_limit_s,
        )
        row.update(_summary_columns(plan.summary, t_load))
    except ScenarioError as exc:
        row.update(status=STATUS_BAD_INPUT, error=str(exc))
    except InfeasibleError as exc:
        row.update(status=STATUS_INFEASIBLE, error=str(exc))
    except SolverError as exc:
        row.update(status=STATUS_SOLVER, error=str(exc))
    except Exception as exc:  # any bug or crash of one scenario must not stop the study
        row.update(status=STATUS_ERROR, error=f"{type(exc).__name__}: {exc}")
    row["seconds_worker"] = time.perf_counter() - t0
    row["finished_unix"] = time.time()
    return row


def _market_columns(scenario) -> dict[str, Any]:
    from kernels.bitcoin import hashprice_usd_per_ph_day

    m = scenario.market
    curtailed = np.zeros(scenario.hours, dtype=bool)
    for site in scenario.sites:
        curtailed |= np.asarray(site.curtailment_mw) > 0
    hashprice = hashprice_usd_per_ph_day(
        m.btc_price_usd, m.difficulty, m.fees_btc_per_block, m.height
    )
    return {
        "hours": scenario.hours,
        "hours_curtailment_orders": int(curtailed.sum()),
        "btc_price_mean_usd": float(np.mean(m.btc_price_usd)),
        "btc_price_end_usd": float(m.btc_price_usd[-1]),
        "hashprice_mean_usd_per_ph_day": float(np.mean(hashprice)),
    }


def _summary_columns(summary: Mapping[str, Any], t_load: float) -> dict[str, Any]:
    out: dict[str, Any] = {"status": str(summary.get("status", "optimal"))}
    for key, value in summary.items():
        if key == "seconds" and isinstance(value, Mapping):
            for k, v in value.items():
                if isinstance(v, int | float) and not isinstance(v, bool):
                    out[f"seconds_{k}"] = float(v)
        elif key in ("status", "backend", "solver") or key.startswith("seconds"):
            continue
        elif isinstance(value, int | float | np.number) and not isinstance(value, bool):
            out[key] = float(value)
    # the plan was handed a built Scenario: loading it here is this worker's load time
    if not (out.get("seconds_load", 0.0) > 0.0):
        out["seconds_load"] = t_load
    mining = out.get("mining_mwh", math.nan)
    hpc = out.get("hpc_mwh", math.nan)
    hours = out.get("hours", math.nan)
    total = mining + hpc
    out["mining_share"] = mining / total if total > 0 else math.nan
    if hours and hours > 0:
        out["mining_mw_mean"] = mining / hours
        out["hpc_mw_mean"] = hpc / hours
    return out


def _init_worker() -> None:
    """Process-pool initializer: ignore Ctrl-C (the parent stops the pool), one numba thread,
    and warm the kernels and the LP once on a tiny scenario so the first real one is not
    charged for compilation/cache loading."""
    import numba

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if "fork" in multiprocessing.get_all_start_methods():
        # numba's thread launch takes a multiprocessing lock from the default context; under
        # forkserver/spawn that is a named semaphore which a terminated worker (Ctrl-C) leaves
        # behind. Workers start no processes of their own, so "fork" here only makes it unnamed.
        multiprocessing.set_start_method("fork", force=True)
    numba.set_num_threads(1)
    try:
        warm_up()
    except Exception:  # warming is an optimization; the real scenario reports real errors
        pass


#: A one-day scenario used to warm numba and HiGHS in each worker.
WARM_UP_DOC: dict[str, Any] = {
    "scenario": {"name": "warm-up", "start": "2026-01-01T00:00:00Z", "hours": 24},
    "market": {
        "btc_price_usd": 90000.0,
        "network_hashrate_ehs": 1100.0,
        "fees_btc_per_block": 0.03,
        "height": 925000,
    },
    "sites": [
        {
            "name": "warm",
            "interconnect_mw": 2.0,
            "mining_hall_mw": 2.0,
            "convertible_mw": 1.0,
            "price_usd_per_mwh": 40.0,
            "temp_c": 20.0,
        }
    ],
    "fleet": [{"site": "warm", "model": "S21", "count": 100}],
    "gpus": [
        {
            "name": "warm-gpu",
            "site": "warm",
            "model": "H100 x8",
            "max_servers": 10,
            "pricing": "cloud",
            "rate_usd_per_gpu_hour": 2.0,
            "service": "interruptible",
        }
    ],
}


def warm_up() -> None:
    """Run the kernels (and the LP, when available) once on :data:`WARM_UP_DOC`."""
    from optimizer.score import score_scenario

    scenario = build_scenario(WARM_UP_DOC, source="<warm-up>")
    score_scenario(scenario)
    try:
        from optimizer.plan import plan_scenario
    except ImportError:
        return
    plan_scenario(scenario, threads=1)


# --------------------------------------------------------------------------------------------
# Executors


class LocalExecutor:
    """A process pool on this machine (forkserver where available, else spawn), one scenario
    per process at a time, each with one numba and one HiGHS thread."""

    def __init__(self, workers: int):
        self.workers = max(1, int(workers))
        self.slots = self.workers
        methods = multiprocessing.get_all_start_methods()
        self._context = multiprocessing.get_context(
            "forkserver" if "forkserver" in methods else "spawn"
        )
        if "forkserver" in methods:
            # forked workers start with these imported: seconds saved per worker
            self._context.set_forkserver_preload(["optimizer.study", "optimizer.score"])
        self._pool = self._new_pool()

    def _new_pool(self) -> cf.ProcessPoolExecutor:
        return cf.ProcessPoolExecutor(
            max_workers=self.workers, mp_context=self._context, initializer=_init_worker
        )

    def submit(self, task: ScenarioTask) -> cf.Future:
        return self._pool.submit(run_scenario, task)

    def wait_any(self, futures: list, timeout: float) -> set:
        done, _ = cf.wait(futures, timeout=timeout, return_when=cf.FIRST_COMPLETED)
        return done

    @staticmethod
    def broken(exc: BaseException) -> bool:
        """Whether an exception from a future means the pool lost a worker process."""
        from concurrent.futures.process import BrokenProcessPool

        return isinstance(exc, BrokenProcessPool)

    def restart(self) -> None:
        """Replace a broken pool (a worker was killed, e.g. out of memory)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._new_pool()

    def shutdown(self, kill: bool = False) -> None:
        if kill:
            # running scenarios would otherwise finish first; their results would be lost anyway
            # (ProcessPoolExecutor has no public terminate: its _processes map is the way in)
            for proc in list((getattr(self._pool, "_processes", None) or {}).values()):
                if proc.is_alive():
                    proc.terminate()
        # waiting lets the pool's manager thread notice the dead workers and release its queues
        self._pool.shutdown(wait=True, cancel_futures=True)
        # an interrupt's traceback keeps this executor alive until exit: drop the pool (and its
        # queues' semaphores) now, or multiprocessing reports them as leaked
        self._pool = None


class InProcessExecutor:
    """Runs scenarios one by one in this process (``workers=0``): for debugging and tests."""

    slots = 1

    def submit(self, task: ScenarioTask) -> cf.Future:
        future: cf.Future = cf.Future()
        future.set_result(run_scenario(task))
        return future

    def wait_any(self, futures: list, timeout: float) -> set:
        return set(futures)

    @staticmethod
    def broken(exc: BaseException) -> bool:
        return False

    def restart(self) -> None:  # pragma: no cover - never broken
        pass

    def shutdown(self, kill: bool = False) -> None:
        pass


class DaskExecutor:
    """The same :func:`run_scenario` on a dask.distributed cluster (``--scheduler ADDR``).

    Start workers with one thread each (``dask worker ADDR --nthreads 1 --nworkers N``): each
    scenario runs its numba kernel and HiGHS on one thread.
    """

    def __init__(self, address: str):
        try:
            from distributed import Client
        except ImportError:
            raise ScenarioError(
                "--scheduler needs dask.distributed, which is not installed: "
                "pip install hashpivot[dist]"
            ) from None
        try:
            self.client = Client(address, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise ScenarioError(f"cannot reach the dask scheduler at {address}: {exc}") from None
        threads = sum(self.client.nthreads().values())
        self.slots = max(1, threads)

    def submit(self, task: ScenarioTask):
        return self.client.submit(run_scenario, task, pure=False)

    def wait_any(self, futures: list, timeout: float) -> set:
        from distributed import wait

        try:
            done, _ = wait(futures, timeout=timeout, return_when="FIRST_COMPLETED")
        except TimeoutError:
            return set()
        return set(done)

    @staticmethod
    def broken(exc: BaseException) -> bool:
        return False  # dask reschedules lost tasks itself and reports KilledWorker at the end

    def restart(self) -> None:  # pragma: no cover
        pass

    def shutdown(self, kill: bool = False) -> None:
        self.client.close()


def make_executor(workers: int | None = None, scheduler: str | None = None):
    """The executor for ``--workers`` / ``--scheduler``.

    Parameters
    ----------
    workers
        Local processes; ``None``: one per CPU core; ``0``: run in this process.
    scheduler
        ``tcp://HOST:PORT`` of a dask scheduler (takes precedence over ``workers``).
    """
    if scheduler:
        return DaskExecutor(scheduler)
    if workers == 0:
        return InProcessExecutor()
    return LocalExecutor(workers if workers else (os.cpu_count() or 1))


# --------------------------------------------------------------------------------------------
# Running a study


@dataclass
class StudyRun:
    """What :func:`run_study` did.

    Attributes
    ----------
    out : pathlib.Path
        The results folder.
    total : int
        Scenarios in the study (grid/zip), without refinement points.
    skipped : int
        Scenarios already done (``--resume``).
    ran : int
        Scenarios run now (refinement points included).
    failed : int
        Rows with a status other than optimal among those run now.
    files : list[pathlib.Path]
        Files written by the analysis (summary.csv, tipping.csv, PNGs, risk.json).
    tipping : pandas.DataFrame or None
        Tipping points found (see :func:`optimizer.analysis.tipping_points`).
    risk : dict or None
        Monte Carlo risk figures (see :func:`optimizer.analysis.risk_summary`).
    seconds : float
        Wall time [s].
    """

    out: Path
    total: int
    skipped: int = 0
    ran: int = 0
    failed: int = 0
    files: list = field(default_factory=list)
    tipping: Any = None
    risk: Any = None
    seconds: float = 0.0


#: Write a part at least this often while rows arrive [s] (and at least every batch rows).
FLUSH_SECONDS = 2.0
#: How long to wait for a result before looking at the buffer again [s].
_POLL_SECONDS = 0.5


def execute(
    tasks: Iterable[ScenarioTask],
    executor,
    store,
    on_row: Callable[[dict[str, Any]], None] | None = None,
    *,
    flush_seconds: float = FLUSH_SECONDS,
) -> tuple[int, int]:
    """Run tasks on ``executor`` and add their rows to ``store`` as they finish.

    At most ``2 x executor.slots`` tasks are in flight (documents are built lazily, so memory
    stays flat); the store writes a part every few rows or ``flush_seconds``. A pool that loses
    a worker is restarted and its in-flight scenarios resubmitted once; a scenario in flight
    through two such losses is recorded as ``crashed``.

    Returns
    -------
    (ran, failed)
        Rows added, and how many of them are not optimal.
    """
    pending = iter(tasks)
    in_flight: dict[Any, ScenarioTask] = {}
    losses: dict[str, int] = {}
    ran = failed = 0
    limit = 2 * executor.slots
    exhausted = False

    def record(row: dict[str, Any]) -> None:
        nonlocal ran, failed
        store.add(row)
        ran += 1
        failed += row["status"] in FAILED_STATUSES or bool(row["error"])
        if on_row is not None:
            on_row(row)

    while True:
        while not exhausted and len(in_flight) < limit:
            task = next(pending, None)
            if task is None:
                exhausted = True
                break
            in_flight[executor.submit(task)] = task
        if not in_flight:
            break
        done = executor.wait_any(list(in_flight), timeout=min(flush_seconds, _POLL_SECONDS))
        broken = False
        for future in done:
            task = in_flight.pop(future)
            try:
                row = future.result()
            except BaseException as exc:
                if executor.broken(exc):
                    broken = True
                    in_flight[future] = task  # resubmitted below with the others
                    continue
                if isinstance(exc, KeyboardInterrupt):
                    raise
                row = failed_row(task, STATUS_ERROR, f"{type(exc).__name__}: {exc}")
            record(row)
        if broken:
            executor.restart()
            survivors = list(in_flight.values())
            in_flight.clear()
            for task in survivors:
                losses[task.scenario_id] = losses.get(task.scenario_id, 0) + 1
                if losses[task.scenario_id] >= 2:
                    record(
                        failed_row(
                            task,
                            STATUS_CRASHED,
                            "the worker process died twice while this scenario was running "
                            "(killed, out of memory or a crash in a native library)",
                        )
                    )
                else:
                    in_flight[executor.submit(task)] = task
        store.flush_due(flush_seconds)
    store.flush()
    return ran, failed


def run_study(
    study: Study,
    out: str | Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    resume: bool = False,
    refine: str | None = None,
    tolerance: float | None = None,
    on_start: Callable[[int, int], None] | None = None,
    on_row: Callable[[dict[str, Any]], None] | None = None,
    charts: bool = True,
) -> StudyRun:
    """Run every scenario of a study, store the rows in ``out``, and analyse them.

    Parameters
    ----------
    study
        From :func:`read_study`.
    out
        Results folder: Parquet parts + ``manifest.json`` (:mod:`optimizer.storage`), then
        ``summary.csv``, ``tipping.csv``, ``axes.png``, and for Monte Carlo ``risk.json`` and
        ``monte_carlo.png`` (:mod:`optimizer.analysis`).
    workers, scheduler
        See :func:`make_executor`.
    resume
        Skip the scenarios ``out`` already holds (refuses a different study). Without it, an
        ``out`` that already holds results is refused.
    refine
        Axis path to bisect: each tipping bracket on that axis is narrowed to ``tolerance``
        by running extra scenarios between the bracketing values.
    tolerance
        Bracket width to stop at, in the axis's unit (default: 1/1000 of the axis span; at
        least 1 for an integer axis).
    on_start
        Called once with ``(total, already_done)`` before running (progress bars).
    on_row
        Called with each row as it arrives (progress bars).
    charts
        Draw the PNG charts (matplotlib Agg).

    Raises
    ------
    ScenarioError
        Refused resume, bad ``refine`` axis, dask missing or unreachable.
    KeyboardInterrupt
        After saving every finished row (resume with ``resume=True``).
    """
    from optimizer import analysis
    from optimizer.storage import ResultStore

    t0 = time.perf_counter()
    out = Path(out)
    refine_axis = study.axis(refine) if refine else None
    if refine_axis is not None and (refine_axis.path == PATH_AXIS or not refine_axis.numeric):
        raise ScenarioError(
            f"--refine {refine}: the axis must take numbers (and not be the Monte Carlo path)"
        )
    ids = study.scenario_ids()
    store = ResultStore.open(out, study, ids, resume=resume)
    done = store.done_ids()
    todo = [(sid, v) for sid, v in zip(ids, study.combinations(), strict=True) if sid not in done]
    todo = dispatch_order(todo, study.hash)
    run = StudyRun(out=out, total=len(ids), skipped=len(ids) - len(todo))
    if on_start is not None:
        on_start(len(ids), run.skipped)
    executor = make_executor(workers, scheduler) if (todo or refine_axis) else None
    try:
        if todo:
            run.ran, run.failed = execute(study.tasks(todo), executor, store, on_row)
        if refine_axis is not None:
            ran, failed = refine_tipping(
                study, refine_axis, store, executor, tolerance=tolerance, on_row=on_row
            )
            run.ran += ran
            run.failed += failed
    except KeyboardInterrupt:
        store.flush()
        if executor is not None:
            executor.shutdown(kill=True)
            executor = None
        raise
    finally:
        if executor is not None:
            executor.shutdown()
        store.close()
    frame = store.read()
    run.files, run.tipping, run.risk = analysis.write_analysis(frame, study, out, charts=charts)
    run.seconds = time.perf_counter() - t0
    return run


def dispatch_order(todo: list, seed_hex: str) -> list:
    """The order scenarios are handed to workers: a fixed pseudo-random permutation.

    Solve times vary a lot across a grid (a year of the example: 1 s to 48 s per LP) and the
    expensive ones sit together (e.g. the highest BTC prices, last in grid order). Handed out
    in grid order they would all start near the end, leaving workers idle while the last ones
    finish; shuffled, the tail is one scenario's worth on average. The permutation is seeded
    by the study hash, so a study dispatches the same way every time. Storage and ids keep
    grid order.
    """
    rng = np.random.default_rng(int(seed_hex[:16] or "0", 16))
    return [todo[i] for i in rng.permutation(len(todo))]


def refine_tipping(
    study: Study,
    axis: Axis,
    store,
    executor,
    *,
    tolerance: float | None = None,
    on_row: Callable[[dict[str, Any]], None] | None = None,
    max_rounds: int = 64,
) -> tuple[int, int]:
    """Narrow every tipping bracket on ``axis`` by running scenarios inside it.

    Each round takes the brackets wider than ``tolerance`` (from all rows so far, see
    :func:`optimizer.analysis.brackets`) and runs ``k`` equally spaced points inside each,
    ``k = max(1, slots // open brackets)``: bisection with one free worker, k-section with
    more. A bracket can split into several when the plan changes regime more than once inside.

    Returns
    -------
    (ran, failed)
    """
    from optimizer import analysis

    integral = all(isinstance(v, int | np.integer) for v in axis.values)
    if tolerance is None:
        span = float(max(axis.values) - min(axis.values))
        tolerance = span / 1000.0
    if integral:
        tolerance = max(1.0, float(tolerance))
    if not tolerance > 0:
        raise ScenarioError(f"--tolerance must be > 0, got {tolerance}")
    # cells read back from Parquet -> the axis values they stand for (tables are JSON cells)
    lookup = {a.path: {_cell(v): v for v in a.values} for a in study.axes}
    ran = failed = 0
    for _ in range(max_rounds):
        frame = store.read()
        open_ = [
            b
            for b in analysis.brackets(frame, axis.path, study.axis_paths)
            if b.hi - b.lo > tolerance
        ]
        if not open_:
            break
        k = max(1, executor.slots // len(open_))
        tasks = []
        for b in open_:
            points = b.lo + (b.hi - b.lo) * np.arange(1, k + 1) / (k + 1)
            if integral:
                points = np.unique(np.floor(points).astype(np.int64))
                points = points[(points > b.lo) & (points < b.hi)]
            for p in points:
                value = int(p) if integral else float(p)
                values = {p: lookup[p].get(c, c) for p, c in b.group.items()}
                values[axis.path] = value
                values = {path_: values[path_] for path_ in study.axis_paths}
                sid = "r-" + _hash(values)[:10]
                tasks.append(study.task(sid, values, origin=f"refine:{axis.path}"))
        if not tasks:
            break
        store.plan_ids([t.scenario_id for t in tasks])
        r, f = execute(tasks, executor, store, on_row)
        ran += r
        failed += f
    return ran, failed


# --------------------------------------------------------------------------------------------
# The example study

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


def write_example_study(directory: str | Path) -> list[Path]:
    """Write ``study.toml`` (an 18-scenario grid) and ``monte_carlo.toml`` (16 paths), both on the
    built-in example over one quarter. Returns the paths written."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, body in (("study.toml", EXAMPLE_STUDY), ("monte_carlo.toml", EXAMPLE_MONTE_CARLO)):
        path = directory / name
        path.write_text(body)
        written.append(path)
    return written
