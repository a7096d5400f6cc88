"""Typed, location-aware readers for the fields of a scenario document.

Every reader takes a :class:`Where` (file + dotted field path) so that an error names exactly what
the user must fix, e.g. ``scenario.toml: sites[0] 'odessa'.interconnect_mw: expected a number
>= 0 [MW], got -5``.
"""

from __future__ import annotations

import difflib
import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from models.errors import ScenarioError

_MISSING = object()


@dataclass(frozen=True)
class Where:
    """Where a value came from: the file and the dotted path of the field inside it."""

    file: str
    path: str = ""

    def __truediv__(self, part: str) -> Where:
        if not self.path:
            return Where(self.file, part)
        sep = "" if part.startswith("[") else "."
        return Where(self.file, f"{self.path}{sep}{part}")

    def error(self, message: str) -> ScenarioError:
        """A :class:`ScenarioError` prefixed with this location."""
        loc = f"{self.file}: {self.path}" if self.path else self.file
        return ScenarioError(f"{loc}: {message}")


def check_keys(table: Mapping[str, Any], allowed: Iterable[str], where: Where) -> None:
    """Reject keys not in ``allowed``, suggesting the closest known key (did-you-mean)."""
    allowed = list(allowed)
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            known = ", ".join(sorted(allowed))
            raise (where / key).error(f"unknown key '{key}'{hint} (known keys: {known})")


def require_table(doc: Mapping[str, Any], key: str, where: Where) -> Mapping[str, Any]:
    """A required sub-table."""
    if key not in doc:
        raise where.error(f"missing required table [{key}]")
    value = doc[key]
    if not isinstance(value, Mapping):
        raise (where / key).error(f"expected a table, got {type(value).__name__}")
    return value


def table_list(doc: Mapping[str, Any], key: str, where: Where) -> list[Mapping[str, Any]]:
    """An optional array of tables (``[[key]]``); empty when absent."""
    value = doc.get(key, [])
    if isinstance(value, Mapping):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise (where / key).error(f"expected an array of tables ([[{key}]])")
    return value


def number(
    table: Mapping[str, Any],
    key: str,
    where: Where,
    *,
    unit: str = "",
    default: Any = _MISSING,
    minimum: float | None = None,
    maximum: float | None = None,
    strict_minimum: bool = False,
) -> float:
    """A finite real number within bounds; ``default`` when absent (required when no default)."""
    w = where / key
    if key not in table:
        if default is _MISSING:
            raise where.error(f"missing required field '{key}'" + (f" [{unit}]" if unit else ""))
        return default
    value = table[key]
    unit_s = f" [{unit}]" if unit else ""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise w.error(f"expected a number{unit_s}, got {value!r}")
    try:
        value = float(value)
    except OverflowError:  # an integer beyond float range
        raise w.error(
            f"expected a finite number{unit_s}, got an integer of {len(str(value))} digits"
        ) from None
    if not math.isfinite(value):
        raise w.error(f"expected a finite number{unit_s}, got {value}")
    if minimum is not None and (value <= minimum if strict_minimum else value < minimum):
        op = ">" if strict_minimum else ">="
        raise w.error(f"expected a number {op} {minimum:g}{unit_s}, got {value:g}")
    if maximum is not None and value > maximum:
        raise w.error(f"expected a number <= {maximum:g}{unit_s}, got {value:g}")
    return value


def integer(
    table: Mapping[str, Any],
    key: str,
    where: Where,
    *,
    default: Any = _MISSING,
    minimum: int = 0,
    maximum: int | None = None,
) -> int:
    """A whole number >= ``minimum`` (and <= ``maximum``)."""
    if key not in table:
        if default is _MISSING:
            raise where.error(f"missing required field '{key}'")
        return default
    value = table[key]
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise (where / key).error(f"expected a whole number, got {value!r}")
    if value < minimum:
        raise (where / key).error(f"expected a whole number >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise (where / key).error(f"expected a whole number <= {maximum:,}, got {value:,}")
    return value


def text(
    table: Mapping[str, Any],
    key: str,
    where: Where,
    *,
    default: Any = _MISSING,
    choices: Iterable[str] | None = None,
) -> str:
    """A string, optionally one of ``choices`` (with a did-you-mean)."""
    if key not in table:
        if default is _MISSING:
            raise where.error(f"missing required field '{key}'")
        return default
    value = table[key]
    if not isinstance(value, str):
        raise (where / key).error(f"expected a string, got {value!r}")
    if choices is not None:
        one_of(value, choices, where / key, what="value")
    return value


def one_of(value: str, choices: Iterable[str], where: Where, *, what: str) -> str:
    """Check that ``value`` is a known name; the error lists the choices and the closest one."""
    choices = list(choices)
    if value not in choices:
        close = difflib.get_close_matches(value, choices, n=1, cutoff=0.5)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise where.error(f"unknown {what} '{value}'{hint} (expected one of: {', '.join(choices)})")
    return value


def boolean(table: Mapping[str, Any], key: str, where: Where, *, default: bool) -> bool:
    """A true/false flag."""
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise (where / key).error(f"expected true or false, got {value!r}")
    return value


def string_list(table: Mapping[str, Any], key: str, where: Where) -> list[str]:
    """A required non-empty list of strings."""
    if key not in table:
        raise where.error(f"missing required field '{key}'")
    value = table[key]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise (where / key).error(f"expected a non-empty list of names, got {value!r}")
    return value


def number_list(
    table: Mapping[str, Any], key: str, where: Where, *, default: list[float]
) -> list[float]:
    """A strictly increasing list of finite numbers."""
    value = table.get(key, default)
    ok = isinstance(value, list) and all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in value
    )
    if not ok or len(value) < 2 or any(b <= a for a, b in itertools.pairwise(value)):
        raise (where / key).error(
            f"expected a strictly increasing list of at least 2 numbers, got {value!r}"
        )
    return [float(v) for v in value]
