"""Scenario and study documents: TOML files read into plain dicts, and fields addressed by
dotted paths (``sites.odessa.price_scale``, ``gpus.0.max_servers``).

The one place TOML files are read. Errors are :class:`~models.errors.ScenarioError` naming the
file (and, for TOML syntax, the line).
"""

from __future__ import annotations

import copy
import hashlib
import os
import tomllib
from collections.abc import Mapping, MutableMapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from models.errors import ScenarioError


def read_toml(path: str | Path, what: str = "scenario") -> dict[str, Any]:
    """Parse a TOML file into a document (no validation beyond TOML syntax).

    Parameters
    ----------
    path
        The file.
    what
        What the file is, for messages (``scenario``, ``study``, ``decision``).

    Raises
    ------
    ScenarioError
        The file is missing or is not valid TOML.
    """
    path = Path(path)
    try:
        if not path.is_file():
            raise ScenarioError(f"{path}: {what} file not found")
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ScenarioError(
            f"{path}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start}); "
            "TOML files must be UTF-8: save it as UTF-8"
        ) from None
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read the {what} file: {exc.strerror}") from None


def lookup(node: Any, key: str) -> Any:
    """The value under ``key`` of a document node, or None.

    In an array of tables, ``key`` is a table's ``name`` or, failing that, its position.
    """
    if isinstance(node, Mapping):
        return node.get(key)
    if isinstance(node, list):
        for table in node:
            if isinstance(table, Mapping) and table.get("name") == key:
                return table
        if key.isdigit() and int(key) < len(node):
            return node[int(key)]
    return None


def get_field(doc: Mapping[str, Any], dotted: str) -> Any:
    """The value at a dotted path, or None (see :func:`lookup`)."""
    node: Any = doc
    for part in dotted.split("."):
        node = lookup(node, part)
    return node


def set_field(doc: MutableMapping[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """Return a deep copy of ``doc`` with one field replaced, addressed by a dotted path.

    Tables in arrays are addressed by their ``name`` (``sites.odessa.price_scale``) or by
    position (``gpus.0.max_servers``), see :func:`lookup`. Used by studies.
    """
    out = copy.deepcopy(dict(doc))
    parts = dotted.split(".")
    node: Any = out
    for i, part in enumerate(parts[:-1]):
        found = lookup(node, part)
        if found is None:
            at = ".".join(parts[: i + 1])
            if isinstance(node, list):
                known = [t.get("name") for t in node if isinstance(t, Mapping)]
                raise ScenarioError(f"{at}: no table named '{part}' (known: {known})")
            if isinstance(node, Mapping):
                raise ScenarioError(f"{at}: no such field (known: {sorted(node)})")
            raise ScenarioError(f"{at}: not a table")
        node = found
    if not isinstance(node, MutableMapping):
        raise ScenarioError(f"{dotted}: not a table field")
    node[parts[-1]] = value
    return out


def input_files(doc: Any, base_dir: str | Path) -> list[Path]:
    """Every file a scenario document reads (``{ file = ... }`` series and fleet tables),
    resolved against ``base_dir``, sorted and without repeats."""
    found: set[Path] = set()

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            if isinstance(node.get("file"), str):
                path = Path(node["file"])
                found.add(path if path.is_absolute() else Path(base_dir) / path)
            for value in node.values():
                walk(value)
        elif isinstance(node, list | tuple):
            for value in node:
                walk(value)

    walk(doc)
    return sorted(found)


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes (``missing`` when it cannot be read), cached per version."""
    try:
        st = os.stat(path)
    except OSError:
        return "missing"
    return _digest(str(path), st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=256)
def _digest(path: str, mtime_ns: int, size: int) -> str:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    except OSError:
        return "missing"
    return h.hexdigest()
