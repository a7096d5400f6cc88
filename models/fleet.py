"""ASIC fleet (own and hosted machines, one array entry per machine) and its classes.

Machines are scored one by one by the kernel; the LP sees *classes*: machines of one site, one
model, one efficiency band and one owner (own fleet or a hosting contract).

Every machine has a unique id: per-machine files give their own (a repeated id is refused,
naming both rows), grouped rows number theirs ``site/model/owner/i`` on from the last row of the
same site, model and owner. Extra columns of a per-machine file (``rack``, ``serial``, ...) are
kept as text tags; a column that looks like a misspelt field (``availabilty``) or a field of
grouped rows only (``alpha_per_c``) is refused instead.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models import limits
from models.catalog import (
    ASIC_COOLING,
    COOLING_TYPES,
    DERATING,
    CatalogModel,
    catalog,
    models_of_kind,
)
from models.errors import ScenarioError
from models.fields import Where, check_keys, integer, number, one_of, text
from models.series import read_table

#: Valid ASIC efficiency range [J/TH]; outside it a figure is almost surely a unit slip
#: (W typed as kW gives ~17,500 J/TH, kW typed as W ~0.0175 J/TH).
EFFICIENCY_RANGE_J_PER_TH = (5.0, 200.0)
DEFAULT_BANDS_J_PER_TH = [5.0, 16.0, 20.0, 25.0, 30.0, 200.0]

_OVERRIDES = (
    "hashrate_ths",
    "power_kw",
    "cooling",
    "availability",
    "alpha_per_c",
    "beta_per_c",
    "t_ref_c",
    "t_max_c",
)
FLEET_KEYS = ("site", "model", "count", "file", "operating_points", *_OVERRIDES)
HOSTING_KEYS = ("name", "site", "model", "count", "rate_usd_per_mwh", "uptime", *_OVERRIDES)
#: Columns of a per-machine fleet file; any other column is a tag (unless it looks like a field).
MACHINE_COLUMNS = (
    "id",
    "site",
    "model",
    "hashrate_ths",
    "power_kw",
    "power_w",
    "cooling",
    "availability",
)


@dataclass(frozen=True, eq=False)
class Fleet:
    """Every ASIC, own and hosted, as parallel arrays of length M (read-only).

    Attributes
    ----------
    machine_id : numpy.ndarray
        Machine identifiers (str).
    model : numpy.ndarray
        Model names (str).
    site : numpy.ndarray
        Site index (int64) into ``Scenario.sites``.
    cooling : numpy.ndarray
        Cooling type index (int64) into :data:`models.catalog.COOLING_TYPES`.
    klass : numpy.ndarray
        Class index (int64) into ``Scenario.classes``.
    hashrate_ths : numpy.ndarray
        Hashrate at reference temperature [TH/s].
    power_kw : numpy.ndarray
        Wall power at reference temperature [kW].
    availability : numpy.ndarray
        Fraction of the hour the machine hashes (uptime, rejects) [-].
    alpha_per_c, beta_per_c : numpy.ndarray
        Hashrate loss and power gain per C above ``t_ref_c`` [1/C].
    t_ref_c, t_max_c : numpy.ndarray
        Derating reference and trip temperatures [C].
    hosted : numpy.ndarray
        True for a client's machine under a hosting contract (bool).
    hosting_usd_per_mwh : numpy.ndarray
        Hosting rate paid by the client [USD/MWh] (0 for own machines).
    tags : dict[str, numpy.ndarray]
        Extra columns of per-machine files (``rack``, ``serial``, ...), as text, one entry per
        machine (``""`` for machines without the column).
    """

    machine_id: np.ndarray
    model: np.ndarray
    site: np.ndarray
    cooling: np.ndarray
    klass: np.ndarray
    hashrate_ths: np.ndarray
    power_kw: np.ndarray
    availability: np.ndarray
    alpha_per_c: np.ndarray
    beta_per_c: np.ndarray
    t_ref_c: np.ndarray
    t_max_c: np.ndarray
    hosted: np.ndarray
    hosting_usd_per_mwh: np.ndarray
    tags: Mapping[str, np.ndarray] = dataclasses.field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.machine_id)

    @property
    def efficiency_j_per_th(self) -> np.ndarray:
        """Efficiency at reference temperature [J/TH]."""
        return self.power_kw * 1000.0 / self.hashrate_ths


@dataclass(frozen=True)
class AsicClass:
    """A group of ASICs the LP runs as one fraction ``u[c,t]``.

    Attributes
    ----------
    name : str
        ``site:model:lo-hiJ/TH`` (``:hosted:contract`` for hosted machines).
    site : int
        Site index.
    model : str
    band_j_per_th : tuple[float, float]
        Efficiency band [J/TH].
    contract : str or None
        Hosting contract name, None for own machines.
    uptime : float
        Contracted uptime of a hosted class, fraction of the horizon's hours [-] (0 for own).
    machines : int
        Number of machines.
    operating_points : tuple[tuple[float, float], ...]
        Firmware presets beyond the nameplate, ``(power_kw, hashrate_ths)`` at reference
        temperature, by increasing power (docs/model.md §3.7); empty: nameplate only.
    """

    name: str
    site: int
    model: str
    band_j_per_th: tuple[float, float]
    contract: str | None
    uptime: float
    machines: int
    operating_points: tuple[tuple[float, float], ...] = ()

    @property
    def hosted(self) -> bool:
        return self.contract is not None


def catalog_entry(
    name: str, kind: str, explicit: bool, where: Where, *, what: str
) -> CatalogModel | None:
    """The catalog row of ``name``; unknown names are an error unless figures are ``explicit``."""
    cat = catalog().get(name)
    if cat is None and not explicit:
        one_of(name, models_of_kind(kind), where, what=what)
    if cat is not None and cat.kind != kind:
        table = "[[gpus]]" if cat.kind == "gpu" else "[[fleet]]"
        raise where.error(
            f"'{name}' is {'a GPU server' if cat.kind == 'gpu' else 'an ASIC'}; list it under {table}"
        )
    return cat


def derating(row: Mapping[str, Any], where: Where, cooling: str) -> dict[str, float]:
    base = DERATING[cooling]
    lo, hi = limits.TEMP_C
    t_ref = number(row, "t_ref_c", where, unit="C", default=base.t_ref_c, minimum=lo, maximum=hi)
    t_max = number(row, "t_max_c", where, unit="C", default=base.t_max_c, minimum=lo, maximum=hi)
    if t_max <= t_ref:
        raise (where / "t_max_c").error(
            f"trip temperature {t_max:g} C is not above the reference temperature t_ref_c = "
            f"{t_ref:g} C; expected t_max_c > t_ref_c"
        )
    return {
        "alpha_per_c": number(
            row,
            "alpha_per_c",
            where,
            unit="1/C",
            default=base.alpha_per_c,
            minimum=0.0,
            maximum=1.0,
        ),
        "beta_per_c": number(
            row, "beta_per_c", where, unit="1/C", default=base.beta_per_c, minimum=0.0, maximum=1.0
        ),
        "t_ref_c": t_ref,
        "t_max_c": t_max,
    }


def _check_efficiency(hashrate_ths: np.ndarray, power_kw: np.ndarray, describe) -> None:
    lo, hi = EFFICIENCY_RANGE_J_PER_TH
    with np.errstate(divide="ignore", invalid="ignore"):
        eff = power_kw * 1000.0 / hashrate_ths
    bad = np.flatnonzero(~((eff >= lo) & (eff <= hi)))
    if bad.size:
        i = int(bad[0])
        hint = (
            "power in W entered as kW?"
            if eff[i] > hi
            else "power in kW entered as W, or hashrate in GH/s?"
        )
        raise describe(i).error(
            f"efficiency {eff[i]:.6g} J/TH ({hashrate_ths[i]:g} TH/s at {power_kw[i]:g} kW) is outside "
            f"{lo:g}-{hi:g} J/TH: {hint} ({bad.size} machines in all)"
        )


class _FleetBuilder:
    """Collects machines row by row, then stacks them into a :class:`Fleet` and its classes."""

    def __init__(self, site_names: Sequence[str], bands: Sequence[float]):
        self.site_names = list(site_names)
        self.bands = np.asarray(bands)
        self.parts: list[dict[str, np.ndarray]] = []
        self.contracts: list[tuple[str | None, float]] = []  # per part: (contract, uptime)
        self.sources: list[Callable[[int], Where]] = []  # per part: where its i-th machine is
        self.tags: list[dict[str, np.ndarray]] = []  # per part: tag columns
        self.numbered: dict[str, int] = {}  # ids a grouped-row prefix has used
        self.points: list[tuple[tuple[float, float], ...]] = []  # per part: operating points

    def _site(self, name: str, where: Where) -> int:
        return self.site_names.index(one_of(name, self.site_names, where, what="site"))

    def add_group(
        self,
        row: Mapping[str, Any],
        where: Where,
        contract: str | None = None,
        uptime: float = 0.0,
        rate: float = 0.0,
    ) -> None:
        site = self._site(text(row, "site", where), where / "site")
        name = text(row, "model", where)
        count = integer(row, "count", where, minimum=0, maximum=limits.MAX_MACHINES_PER_ROW)
        cat = catalog_entry(
            name,
            "asic",
            "hashrate_ths" in row and "power_kw" in row,
            where / "model",
            what="catalog model (or give hashrate_ths and power_kw)",
        )
        hashrate = number(
            row,
            "hashrate_ths",
            where,
            unit="TH/s",
            default=cat.hashrate_ths if cat else None,
            minimum=0.0,
            maximum=limits.MAX_ASIC_HASHRATE_THS,
            strict_minimum=True,
        )
        power = number(
            row,
            "power_kw",
            where,
            unit="kW",
            default=cat.power_kw if cat else None,
            minimum=0.0,
            strict_minimum=True,
        )
        _check_efficiency(np.array([hashrate]), np.array([power]), lambda i: where)
        if power > limits.MAX_ASIC_POWER_KW:
            raise (where / "power_kw").error(
                f"{power:g} kW per machine; expected <= {limits.MAX_ASIC_POWER_KW:g} kW"
            )
        cooling = text(
            row, "cooling", where, default=cat.cooling if cat else "air", choices=ASIC_COOLING
        )
        prefix = f"{self.site_names[site]}/{name}/{contract or 'own'}"
        first = self.numbered.get(prefix, 0)
        self.numbered[prefix] = first + count
        points = operating_points(row, where, cat, (power, hashrate))
        self._add(
            ids=np.array([f"{prefix}/{first + i}" for i in range(count)], dtype=object),
            source=lambda i: Where(where.file, f"{where.path} (machine {i + 1} of the row)"),
            model=np.full(count, name, dtype=object),
            site=np.full(count, site),
            cooling=np.full(count, COOLING_TYPES.index(cooling)),
            hashrate_ths=np.full(count, hashrate),
            power_kw=np.full(count, power),
            availability=np.full(
                count, number(row, "availability", where, default=1.0, minimum=0.0, maximum=1.0)
            ),
            **{k: np.full(count, v) for k, v in derating(row, where, cooling).items()},
            contract=contract,
            uptime=uptime,
            rate=rate,
            points=points,
        )

    def add_file(self, row: Mapping[str, Any], where: Where, base_dir: Path) -> None:
        """Machines of a per-machine file, or of a DataFrame with its columns (Python API)."""
        check_keys(row, ("file",), where)
        if isinstance(row["file"], pd.DataFrame):
            frame, fname = row["file"].reset_index(drop=True), "DataFrame"
        else:
            path = Path(text(row, "file", where))
            path = path if path.is_absolute() else base_dir / path
            frame = read_table(path, where / "file")
            fname = str(row["file"])
        if len(frame) > limits.MAX_MACHINES_PER_ROW:
            raise where.error(
                f"{fname}: {len(frame):,} machines, more than {limits.MAX_MACHINES_PER_ROW:,}"
            )
        cols = set(frame.columns)
        power_col = "power_kw" if "power_kw" in cols else "power_w"
        missing = [c for c in ("id", "site", "model", "hashrate_ths", power_col) if c not in cols]
        if missing:
            raise where.error(
                f"{fname} lacks column(s) {', '.join(missing)}; expected id, site, model, "
                "hashrate_ths and power_kw (or power_w), optional cooling, availability"
            )
        tag_columns = _tag_columns(frame, where, fname)

        def at(i: int) -> Where:
            return Where(
                where.file,
                f"{where.path}: {fname} row {i + 1} (line {i + 2}, id {frame['id'].iloc[i]!r})",
            )

        def numeric(col: str) -> np.ndarray:
            values = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
            bad = np.flatnonzero(~np.isfinite(values) | (values < 0))
            if bad.size:
                raise at(int(bad[0])).error(
                    f"{col} = {frame[col].iloc[int(bad[0])]!r}; expected a finite number >= 0"
                )
            return values

        ids = _tag_values(frame["id"])
        empty = np.flatnonzero(np.char.str_len(ids.astype(str)) == 0)
        if empty.size:
            raise at(int(empty[0])).error("id is empty; expected one id per machine")
        hashrate = numeric("hashrate_ths")
        power = numeric(power_col) / (1000.0 if power_col == "power_w" else 1.0)
        _check_efficiency(hashrate, power, at)
        sites = frame["site"].astype(str).to_numpy()
        for i, s in enumerate(sites):
            if s not in self.site_names:
                self._site(s, at(i) / "site")
        site = np.array([self.site_names.index(s) for s in sites], dtype=np.int64)
        models = frame["model"].astype(str).to_numpy(dtype=object)
        cats = catalog()
        cooling_names = (
            frame["cooling"].astype(str).to_numpy()
            if "cooling" in cols
            else np.array([cats[m].cooling if m in cats else "air" for m in models])
        )
        for i, c in enumerate(cooling_names):
            if c not in ASIC_COOLING:
                one_of(c, ASIC_COOLING, at(i) / "cooling", what="cooling type")
        avail = numeric("availability") if "availability" in cols else np.ones(len(frame))
        if (avail > 1).any():
            raise at(int(np.flatnonzero(avail > 1)[0])).error(
                "availability must be a fraction in [0, 1]"
            )
        der = {
            k: np.array([getattr(DERATING[c], k) for c in cooling_names])
            for k in ("alpha_per_c", "beta_per_c", "t_ref_c", "t_max_c")
        }
        self._add(
            ids=ids,
            model=models,
            site=site,
            cooling=np.array([COOLING_TYPES.index(c) for c in cooling_names], dtype=np.int64),
            hashrate_ths=hashrate,
            power_kw=power,
            availability=avail,
            **der,
            source=at,
            tags={c: _tag_values(frame[c]) for c in tag_columns},
            contract=None,
            uptime=0.0,
            rate=0.0,
        )

    def _add(self, *, ids, source, contract, uptime, rate, tags=None, points=(), **arrays) -> None:
        n = len(ids)
        self.sources.append(source)
        self.tags.append(tags or {})
        self.parts.append(
            dict(
                machine_id=ids,
                hosted=np.full(n, contract is not None),
                hosting_usd_per_mwh=np.full(n, rate),
                **arrays,
            )
        )
        self.contracts.append((contract, uptime))
        self.points.append(points)

    def build(self) -> tuple[Fleet, tuple[AsicClass, ...]]:
        keys = [k for k in Fleet.__dataclass_fields__ if k not in ("klass", "tags")]
        if not self.parts:
            empty = {
                k: np.zeros(
                    0,
                    dtype=object
                    if k in ("machine_id", "model")
                    else np.int64
                    if k in ("site", "cooling")
                    else bool
                    if k == "hosted"
                    else float,
                )
                for k in keys
            }
            return Fleet(klass=np.zeros(0, np.int64), **empty), ()
        total = sum(len(p["machine_id"]) for p in self.parts)
        if total > limits.MAX_MACHINES:
            raise ScenarioError(
                f"{total:,} machines in all; expected at most {limits.MAX_MACHINES:,} (a count typo?)"
            )
        cols = {k: np.concatenate([p[k] for p in self.parts]) for k in keys}
        part_of = np.concatenate(
            [np.full(len(p["machine_id"]), i) for i, p in enumerate(self.parts)]
        )
        self._check_unique_ids(cols["machine_id"], part_of)
        tags = self._stack_tags()
        eff = cols["power_kw"] * 1000.0 / cols["hashrate_ths"]
        band = np.clip(np.searchsorted(self.bands, eff, side="right") - 1, 0, len(self.bands) - 2)
        contract = np.array([c or "" for c, _ in self.contracts], dtype=object)[part_of]
        point_sets = list(dict.fromkeys(self.points))
        point_set = np.array([point_sets.index(p) for p in self.points])[part_of]
        # Class key: site, model, band, contract, operating points; in order of appearance.
        fields = [cols["site"], cols["model"], band, contract, point_set]
        key = np.zeros(total, dtype=np.int64)
        for values in fields:  # one integer per distinct key (a MultiIndex is 10x slower)
            codes, uniques = pd.factorize(values, sort=False)
            key = key * max(len(uniques), 1) + codes
        codes, _ = pd.factorize(key, sort=False)
        klass = np.asarray(codes, dtype=np.int64)
        first = np.unique(klass, return_index=True)[1]  # first machine of each class
        classes = [
            (int(s), str(m), int(b), c or None, int(p))
            for s, m, b, c, p in zip(*(f[first] for f in fields), strict=True)
        ]
        counts = np.bincount(klass, minlength=len(classes))
        uptime_of = {c: u for c, u in self.contracts}
        out = []
        named: set[str] = set()
        for c, (site, model, b, contract, p) in enumerate(classes):
            lo, hi = float(self.bands[b]), float(self.bands[b + 1])
            name = f"{self.site_names[site]}:{model}:{lo:g}-{hi:g}J/TH" + (
                f":hosted:{contract}" if contract else ""
            )
            if name in named:  # same model and band, other operating points
                name += f":points{p}"
            named.add(name)
            out.append(
                AsicClass(
                    name,
                    int(site),
                    str(model),
                    (lo, hi),
                    contract,
                    uptime_of[contract] if contract else 0.0,
                    int(counts[c]),
                    point_sets[p],
                )
            )
        for k, v in cols.items():
            if k in ("site", "cooling"):
                cols[k] = v.astype(np.int64)
            elif k == "hosted":
                cols[k] = v.astype(bool)
            elif k not in ("machine_id", "model"):
                cols[k] = v.astype(np.float64)
        for v in (*cols.values(), *tags.values(), klass):
            v.flags.writeable = False
        return Fleet(klass=klass, tags=tags, **cols), tuple(out)

    def _check_unique_ids(self, ids: np.ndarray, part_of: np.ndarray) -> None:
        """Refuse a machine id given twice, naming both machines' rows."""
        dup = pd.Index(ids).duplicated()
        if not dup.any():
            return
        i = int(np.flatnonzero(dup)[0])
        j = int(np.flatnonzero(ids[:i] == ids[i])[0])
        starts = np.concatenate([[0], np.cumsum([len(p["machine_id"]) for p in self.parts])])
        second, first = (self.sources[int(part_of[k])](k - int(starts[part_of[k]])) for k in (i, j))
        also = first.path if first.file == second.file else f"{first.file}: {first.path}"
        raise second.error(
            f"machine id {ids[i]!r} is already the id of {also}; expected one id per machine "
            f"({int(dup.sum())} repeated ids in all)"
        )

    def _stack_tags(self) -> dict[str, np.ndarray]:
        """Tag columns over all parts (``""`` for machines of parts without the column)."""
        names = list(dict.fromkeys(k for t in self.tags for k in t))
        return {
            k: np.concatenate(
                [
                    t.get(k, np.full(len(p["machine_id"]), "", dtype=object))
                    for t, p in zip(self.tags, self.parts, strict=True)
                ]
            )
            for k in names
        }


def _tag_columns(frame: pd.DataFrame, where: Where, fname: str) -> list[str]:
    """The extra columns of a per-machine file, kept as tags; a column that looks like a field
    (a misspelling, another case, a grouped-row field) is refused, naming the field."""
    out = []
    for col in frame.columns:
        name = str(col)
        if name in MACHINE_COLUMNS:
            continue
        if name in FLEET_KEYS or name in HOSTING_KEYS:
            raise where.error(
                f"{fname}: column '{name}' is a field of grouped [[fleet]] rows, not of "
                f"per-machine files (columns: {', '.join(MACHINE_COLUMNS)}; any other column is "
                "kept as a tag)"
            )
        close = difflib.get_close_matches(name.lower(), MACHINE_COLUMNS, n=1, cutoff=0.8)
        if close:
            raise where.error(
                f"{fname}: unknown column '{name}'; did you mean '{close[0]}'? (rename it, or "
                "give it a name unlike the machine columns to keep it as a tag)"
            )
        out.append(name)
    return out


def _tag_values(col: pd.Series) -> np.ndarray:
    """A tag column as text: empty cells ``""``, whole floats without ``.0`` (a serial column
    with a gap reads as floats)."""
    values = col.to_numpy(dtype=object)
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
            out[i] = ""
        elif isinstance(v, float) and v.is_integer():
            out[i] = str(int(v))
        else:
            out[i] = str(v)
    return out


def operating_points(
    row: Mapping[str, Any],
    where: Where,
    cat: CatalogModel | None,
    nameplate: tuple[float, float],
) -> tuple[tuple[float, float], ...]:
    """A fleet row's ``operating_points``: ``[[power_kw, hashrate_ths], ...]`` or ``"catalog"``.

    Each point is checked like a nameplate (power in (0, 50] kW, hashrate > 0, 5-200 J/TH);
    the nameplate itself, if listed, is dropped (it is always a point); the rest are returned
    by increasing power, duplicates refused.
    """
    if "operating_points" not in row:
        return ()
    w = where / "operating_points"
    spec = row["operating_points"]
    if spec == "catalog":
        if cat is None or not cat.operating_points:
            raise w.error(
                f"the catalog lists no operating points for '{row.get('model')}'; give them as "
                "[[power_kw, hashrate_ths], ...]"
            )
        spec = [list(p) for p in cat.operating_points]
    if not isinstance(spec, list) or not spec:
        raise w.error(f'expected [[power_kw, hashrate_ths], ...] or "catalog", got {spec!r}')
    points = []
    for i, pair in enumerate(spec):
        if not (isinstance(pair, list | tuple) and len(pair) == 2):
            raise (w / f"[{i}]").error(f"expected [power_kw, hashrate_ths], got {pair!r}")
        fields = dict(zip(("power_kw", "hashrate_ths"), pair, strict=True))
        kw = number(
            fields,
            "power_kw",
            w / f"[{i}]",
            unit="kW",
            minimum=0.0,
            maximum=limits.MAX_ASIC_POWER_KW,
            strict_minimum=True,
        )
        ths = number(
            fields,
            "hashrate_ths",
            w / f"[{i}]",
            unit="TH/s",
            minimum=0.0,
            maximum=limits.MAX_ASIC_HASHRATE_THS,
            strict_minimum=True,
        )
        at = w / f"[{i}]"
        _check_efficiency(np.array([ths]), np.array([kw]), lambda _, at=at: at)
        points.append((kw, ths))
    unique = sorted(set(points) - {nameplate})
    if len(unique) + (nameplate in points) != len(points):
        raise w.error(f"the same point is listed twice in {spec!r}")
    return tuple(unique)


def parse_fleet(
    fleet_rows: Sequence[Mapping[str, Any]],
    hosting_rows: Sequence[Mapping[str, Any]],
    where: Where,
    site_names: Sequence[str],
    bands: Sequence[float],
    base_dir: Path,
) -> tuple[Fleet, tuple[AsicClass, ...]]:
    """Build the :class:`Fleet` and its classes from ``[[fleet]]`` and ``[[hosting]]`` tables."""
    builder = _FleetBuilder(site_names, bands)
    for i, row in enumerate(fleet_rows):
        w = where / f"fleet[{i}]"
        if "file" in row:
            builder.add_file(row, w, base_dir)
        else:
            check_keys(row, FLEET_KEYS, w)
            builder.add_group(row, w)
    names: dict[str, int] = {}
    for i, row in enumerate(hosting_rows):
        w = where / f"hosting[{i}]"
        check_keys(row, HOSTING_KEYS, w)
        name = text(row, "name", w)
        if name in names:
            raise (w / "name").error(
                f"duplicate hosting contract name '{name}' (also hosting[{names[name]}]); "
                "expected one name per contract"
            )
        names[name] = i
        builder.add_group(
            row,
            w,
            contract=name,
            uptime=number(
                row, "uptime", w, unit="fraction of hours", default=0.0, minimum=0.0, maximum=1.0
            ),
            rate=number(
                row,
                "rate_usd_per_mwh",
                w,
                unit="USD/MWh",
                minimum=0.0,
                maximum=limits.MAX_PRICE_USD_PER_MWH,
            ),
        )
    return builder.build()


#: Fleets built lately from inline tables, by their JSON (at most 4): a study's scenarios mostly
#: share their fleet, and a :class:`Fleet` and its classes cannot change (frozen, read-only).
_RECENT: dict[str, tuple[Fleet, tuple[AsicClass, ...]]] = {}
_RECENT_LOCK = threading.Lock()


def parse_fleet_reusing(
    fleet_rows: Sequence[Mapping[str, Any]],
    hosting_rows: Sequence[Mapping[str, Any]],
    where: Where,
    site_names: Sequence[str],
    bands: Sequence[float],
    base_dir: Path,
) -> tuple[Fleet, tuple[AsicClass, ...]]:
    """:func:`parse_fleet`, returning the fleet built before from the same inline tables; tables
    naming a file (it may have changed) or holding arrays or DataFrames are built afresh."""
    key = None
    if all(isinstance(r, dict) and "file" not in r for r in (*fleet_rows, *hosting_rows)):
        with contextlib.suppress(TypeError, ValueError):
            key = json.dumps([fleet_rows, hosting_rows, site_names, list(map(float, bands))])
    with _RECENT_LOCK:
        hit = _RECENT.get(key) if key is not None else None
    if hit is None:
        hit = parse_fleet(fleet_rows, hosting_rows, where, site_names, bands, base_dir)
        if key is not None:
            with _RECENT_LOCK:  # dask workers run scenarios on several threads
                while len(_RECENT) >= 4:
                    _RECENT.pop(next(iter(_RECENT)))
                _RECENT[key] = hit
    return hit
