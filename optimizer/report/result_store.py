"""Study results on disk: Parquet part files plus a JSON manifest, each written atomically.

Layout of a results folder ``OUT/``::

    manifest.json         study hash, planned scenario ids, parts and the ids each holds
    part-00000.parquet    result rows (one per scenario), a few rows per part
    part-00001.parquet    ...
    summary.csv           every row sorted by scenario id (written after the run)

Every file is written to a temporary file in ``OUT/``, flushed, fsynced and moved into place with
``os.replace``, so a reader (or a resumed run) sees either the old or the new file, never half
of one. A part is written *before* the manifest names it: a kill between the two leaves a
complete part the manifest does not list, which :meth:`ResultStore.open` adopts on resume. A
kill therefore loses at most the rows not yet written (in flight, or buffered for less than
``flush_seconds``).

A run holds an exclusive lock on ``OUT/.hashpivot.lock`` (``flock``) from :meth:`ResultStore.open`
to :meth:`ResultStore.release`: a second run into the same folder is refused. Every part
carries the study hash in its Parquet metadata; on resume each part the manifest lists is
checked (present, readable, of this study, holding the ids listed) and every unlisted part is
checked before it is adopted. A missing, damaged or foreign part is reported
(:attr:`ResultStore.problems`), a file is set aside as ``set-aside-<name>`` rather than deleted,
and its scenarios are run again.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
import weakref
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from models import ScenarioError
from optimizer.report.files import TMP_PREFIX, atomic_write, make_dir, output_errors, write_json

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks, runs are not guarded
    fcntl = None  # type: ignore[assignment]

MANIFEST = "manifest.json"
LOCK = ".hashpivot.lock"
#: Parquet metadata key holding the study hash of a part's rows.
HASH_KEY = b"hashpivot_study_hash"
FORMAT = "hashpivot-study/1"
_PART = re.compile(r"^part-(\d{5,})\.parquet$")
#: Rows per part at most; a part is also written when its oldest row waited ``flush_seconds``.
BATCH_ROWS = 8
#: More parts than this are merged into one when the store closes.
COMPACT_PARTS = 32


class ResultStore:
    """Rows of one study in one folder, appended in parts, resumable.

    Use :meth:`open`; then :meth:`add` rows, :meth:`flush_due` / :meth:`flush` to write parts,
    :meth:`read` to get every row, :meth:`close` at the end.
    """

    def __init__(self, out: Path, manifest: dict[str, Any], lock: Any = None):
        self.out = out
        self.manifest = manifest
        self._lock = lock
        #: What the resume check found and did (missing, damaged, foreign parts), for the user.
        self.problems: list[str] = []
        self._buffer: list[dict[str, Any]] = []
        self._oldest = 0.0
        self._next_part = 1 + max((_part_number(p) for p in manifest["parts"]), default=-1)

    # ---------------------------------------------------------------- opening and resuming
    @classmethod
    def open(cls, out: str | Path, study, scenario_ids: list[str], *, resume: bool) -> ResultStore:
        """Open ``out`` for ``study``: a fresh store, or (``resume``) the one already there.

        Raises
        ------
        ScenarioError
            ``out`` holds results and ``resume`` is false; or it holds another study (its
            hash differs); or its manifest cannot be read.
        """
        out = make_dir(Path(out))
        lock = _lock(out)
        try:
            return cls._open_locked(out, study, scenario_ids, resume, lock)
        except BaseException:
            _unlock(lock)
            raise

    @classmethod
    def _open_locked(cls, out: Path, study, scenario_ids, resume: bool, lock) -> ResultStore:
        path = out / MANIFEST
        if path.exists():
            if not resume:
                raise ScenarioError(
                    f"{out} already holds study results ({MANIFEST}); pass --resume to continue "
                    "that study, or choose another --out"
                )
            try:
                manifest = json.loads(path.read_text())
                held = manifest["study_hash"]
                manifest["parts"] = {
                    str(k): [str(i) for i in v] for k, v in dict(manifest["parts"]).items()
                }
                manifest["scenario_ids"] = [str(i) for i in manifest["scenario_ids"]]
                if not isinstance(held, str):
                    raise TypeError("study_hash is not a string")
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise ScenarioError(
                    f"{path}: cannot read the manifest: {exc}; move the folder away and run "
                    "the study again"
                ) from None
            if held != study.hash:
                raise ScenarioError(
                    f"{out} holds a different study ({manifest.get('study', {}).get('source')}, "
                    f"hash {held[:12]}); this one ({study.source}) hashes to {study.hash[:12]}: "
                    "its base scenario, overrides, axes or Monte Carlo settings changed. Use "
                    "another --out"
                )
            store = cls(out, manifest, lock)
            store._check_parts()
            store.plan_ids(scenario_ids)
            return store
        manifest = {
            "format": FORMAT,
            "study_hash": study.hash,
            "study": {
                "name": study.name,
                "source": study.source,
                "base": study.base,
                "combine": study.combine,
                "axes": [{"path": a.path, "kind": a.kind, "n": len(a.values)} for a in study.axes],
                "monte_carlo": None
                if study.monte_carlo is None
                else dict(study.monte_carlo.__dict__),
            },
            "scenario_ids": list(scenario_ids),
            "parts": {},
            "done_ids": [],
            "created_unix": time.time(),
        }
        store = cls(out, manifest, lock)
        store._write_manifest()
        return store

    def release(self) -> None:
        """Let another run use this folder (the lock also goes when the process ends)."""
        _unlock(self._lock)
        self._lock = None

    def _check_parts(self) -> None:
        """Check the manifest against the parts on disk; adopt parts written before a kill
        stopped the manifest update; set aside missing, damaged and foreign parts (their
        scenarios then run again); remove our own temporary files (and no one else's)."""
        for tmp in self.out.glob(f"{TMP_PREFIX}*"):
            with contextlib.suppress(OSError):
                tmp.unlink()
        listed = self.manifest["parts"]
        parts: dict[str, list[str]] = {}
        names = set(listed) | {p.name for p in self.out.glob("part-*.parquet")}
        for name in sorted(names, key=_part_number):
            path = self.out / name
            if not _PART.match(name):
                continue
            if not path.is_file():
                self.problems.append(
                    f"{name} is listed in {MANIFEST} but missing: its {len(listed[name])} "
                    "scenario(s) run again"
                )
                continue
            ids, why = self._part_ids(path)
            if why:
                self._set_aside(path, why)
                continue
            if name in listed and sorted(ids) != sorted(listed[name]):
                self.problems.append(
                    f"{name} holds other scenarios than {MANIFEST} lists; using what it holds"
                )
            parts[name] = ids
        changed = parts != listed
        self.manifest["parts"] = parts
        self._next_part = 1 + max((_part_number(p) for p in names), default=-1)
        if changed:
            self._write_manifest()

    def _part_ids(self, path: Path) -> tuple[list[str], str]:
        """The scenario ids a part holds, or why it cannot be used."""
        try:
            meta = pq.read_schema(path).metadata or {}
            held = meta.get(HASH_KEY)
            if held is not None and held.decode() != self.manifest["study_hash"]:
                return [], f"holds rows of another study (hash {held.decode()[:12]})"
            ids = pd.read_parquet(path, columns=["scenario_id"])["scenario_id"]
            pq.read_table(path)  # every column readable, not only the ids
        except Exception as exc:  # pyarrow raises many types for a damaged file
            return [], f"cannot be read ({type(exc).__name__}: {str(exc)[:120]})"
        return [str(i) for i in ids], ""

    def _set_aside(self, path: Path, why: str) -> None:
        target = path.with_name(f"set-aside-{path.name}")
        with output_errors(target):
            os.replace(path, target)
        self.problems.append(f"{path.name} {why}: moved to {target.name}; its scenarios run again")

    # ---------------------------------------------------------------- state
    def done_ids(self) -> set[str]:
        """Scenario ids with a stored row (any status)."""
        return {sid for ids in self.manifest["parts"].values() for sid in ids}

    def plan_ids(self, ids: Iterable[str]) -> None:
        """Add scenario ids to the manifest's plan (keeps order, no duplicates)."""
        planned = self.manifest["scenario_ids"]
        known = set(planned)
        new = [i for i in ids if i not in known]
        if new:
            planned.extend(new)
            self._write_manifest()

    # ---------------------------------------------------------------- writing
    def add(self, row: dict[str, Any]) -> None:
        """Buffer one row; a full batch is written at once."""
        if not self._buffer:
            self._oldest = time.monotonic()
        self._buffer.append(row)
        if len(self._buffer) >= BATCH_ROWS:
            self.flush()

    def flush_due(self, flush_seconds: float) -> None:
        """Write the buffer when its oldest row has waited ``flush_seconds``."""
        if self._buffer and time.monotonic() - self._oldest >= flush_seconds:
            self.flush()

    def flush(self) -> None:
        """Write buffered rows as a new part, then the manifest naming it."""
        if not self._buffer:
            return
        rows = list(self._buffer)
        name = f"part-{self._next_part:05d}.parquet"
        self._write_part(name, pd.DataFrame(rows))
        self._next_part += 1
        self.manifest["parts"][name] = [r["scenario_id"] for r in rows]
        self._buffer.clear()  # the part is safe: a repeat of the manifest write cannot lose it
        self._write_manifest()

    def _write_part(self, name: str, frame: pd.DataFrame) -> None:
        """One Parquet part, the study hash in its metadata (checked on resume)."""
        table = pa.Table.from_pandas(frame, preserve_index=False)
        meta = dict(table.schema.metadata or {})
        meta[HASH_KEY] = self.manifest["study_hash"].encode()
        table = table.replace_schema_metadata(meta)
        atomic_write(self.out / name, lambda tmp: pq.write_table(table, tmp))

    def _write_manifest(self) -> None:
        self.manifest["done_ids"] = sorted(self.done_ids())
        planned = self.manifest["scenario_ids"]
        self.manifest["complete"] = set(planned) <= set(self.manifest["done_ids"])
        self.manifest["updated_unix"] = time.time()
        write_json(self.out / MANIFEST, self.manifest)

    def close(self) -> None:
        """Write what is buffered and merge many small parts into one."""
        self.flush()
        if len(self.manifest["parts"]) > COMPACT_PARTS:
            self.compact()

    def compact(self) -> None:
        """Merge every part into one (written first; the old parts go after the manifest)."""
        frame = self.read()
        old = list(self.manifest["parts"])
        name = f"part-{self._next_part:05d}.parquet"
        self._write_part(name, frame)
        self._next_part += 1
        self.manifest["parts"] = {name: frame["scenario_id"].tolist()}
        self._write_manifest()
        for part in old:
            with contextlib.suppress(OSError):
                (self.out / part).unlink()

    # ---------------------------------------------------------------- reading
    def read(self) -> pd.DataFrame:
        """Every stored row (the last one per scenario id), sorted by scenario id."""
        return read_parts(self.out, list(self.manifest["parts"]))


#: Lock files this process holds. A forked child (a study worker) closes its copies at once:
#: a ``flock`` is released only when every descriptor of it is closed, so a worker that outlived
#: a killed parent would otherwise keep the folder locked until it noticed.
_HELD: weakref.WeakSet = weakref.WeakSet()


def _close_inherited_locks() -> None:
    for fh in list(_HELD):
        with contextlib.suppress(OSError, ValueError):
            fh.close()  # the child's descriptor only: the parent's lock stays


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_inherited_locks)


def _lock(out: Path):
    """Take the exclusive lock of a results folder, or refuse naming the run that holds it."""
    if fcntl is None:  # pragma: no cover
        return None
    path = out / LOCK
    with output_errors(path):
        fh = open(path, "a+")
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.seek(0)
        holder = fh.read().strip() or "another process"
        fh.close()
        raise ScenarioError(
            f"{out} is in use by another hashpivot study ({holder}); wait for it to finish, "
            "or choose another --out"
        ) from None
    fh.seek(0)
    fh.truncate()
    fh.write(f"pid {os.getpid()}\n")
    fh.flush()
    _HELD.add(fh)
    return fh


def _unlock(fh) -> None:
    if fh is not None:
        with contextlib.suppress(OSError):
            fh.close()  # closing the file releases the flock


def _part_number(name: str) -> int:
    match = _PART.match(name)
    return int(match.group(1)) if match else -1


def read_parts(out: Path, parts: list[str]) -> pd.DataFrame:
    """Concatenate part files; one row per scenario id (the last written), sorted by id."""
    frames = [pd.read_parquet(Path(out) / p) for p in sorted(parts, key=_part_number)]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame({"scenario_id": pd.Series([], dtype=object)})
    frame = pd.concat(frames, ignore_index=True)
    frame = frame.drop_duplicates("scenario_id", keep="last")
    return frame.sort_values("scenario_id", kind="stable").reset_index(drop=True)


def read_results(out: str | Path) -> pd.DataFrame:
    """Every row of the study stored in ``out`` (as :meth:`ResultStore.read`)."""
    out = Path(out)
    path = out / MANIFEST
    if not path.is_file():
        raise ScenarioError(f"{out}: no study results here ({MANIFEST} not found)")
    manifest = json.loads(path.read_text())
    return read_parts(out, list(manifest["parts"]))


def read_manifest(out: str | Path) -> dict[str, Any]:
    """The manifest of a results folder."""
    return json.loads((Path(out) / MANIFEST).read_text())
