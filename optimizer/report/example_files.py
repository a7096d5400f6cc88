"""Write the built-in example scenario and the example study files as editable files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from models.example import example_files
from optimizer.errors import OutputError
from optimizer.report.files import atomic_write, make_dir
from optimizer.study.definition import EXAMPLE_MONTE_CARLO, EXAMPLE_STUDY


def refuse_overwrite(directory: Path, names: list[str]) -> None:
    """Refuse to write over files already in ``directory`` (an edited example), naming them.

    Raises
    ------
    OutputError
        Naming the first file in the way and how many more.
    """
    there = [directory / n for n in names if (directory / n).exists()]
    if there:
        more = f" (and {len(there) - 1} more of its files)" if len(there) > 1 else ""
        raise OutputError(
            f"{there[0]} already exists{more}; not overwritten: pass --force (force=True) to "
            "replace it, or choose another folder"
        )


def write_example(directory: str | Path, *, force: bool = False) -> Path:
    """Write the example as ``scenario.toml`` and one CSV per series; returns the TOML path.

    The files load back to exactly the built-in scenario (:func:`models.example.example_files`).
    Files already there are refused (:func:`refuse_overwrite`) unless ``force``.
    """
    directory = Path(directory)
    files = example_files()
    if not force:
        refuse_overwrite(directory, sorted(files, key=lambda n: n != "scenario.toml"))
    make_dir(directory)
    for name, content in files.items():
        if isinstance(content, pd.DataFrame):
            atomic_write(directory / name, lambda tmp, c=content: c.to_csv(tmp, index=False))
        else:
            atomic_write(directory / name, lambda tmp, c=content: tmp.write_text(c))
    return directory / "scenario.toml"


def write_example_study(directory: str | Path, *, force: bool = False) -> list[Path]:
    """Write ``study.toml`` (an 18-scenario grid) and ``monte_carlo.toml`` (16 paths), both on the
    built-in example over one quarter. Returns the paths written. Files already there are
    refused unless ``force``."""
    directory = Path(directory)
    files = (("study.toml", EXAMPLE_STUDY), ("monte_carlo.toml", EXAMPLE_MONTE_CARLO))
    if not force:
        refuse_overwrite(directory, [name for name, _ in files])
    make_dir(directory)
    written = []
    for name, body in files:
        path = directory / name
        atomic_write(path, lambda tmp, b=body: tmp.write_text(b))
        written.append(path)
    return written
