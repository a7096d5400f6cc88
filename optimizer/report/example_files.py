"""Write the built-in example scenario and the example study files as editable files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from models.example import example_files
from optimizer.report.files import atomic_write
from optimizer.study.definition import EXAMPLE_MONTE_CARLO, EXAMPLE_STUDY


def write_example(directory: str | Path) -> Path:
    """Write the example as ``scenario.toml`` and one CSV per series; returns the TOML path.

    The files load back to exactly the built-in scenario (:func:`models.example.example_files`).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in example_files().items():
        if isinstance(content, pd.DataFrame):
            atomic_write(directory / name, lambda tmp, c=content: c.to_csv(tmp, index=False))
        else:
            atomic_write(directory / name, lambda tmp, c=content: tmp.write_text(c))
    return directory / "scenario.toml"


def write_example_study(directory: str | Path) -> list[Path]:
    """Write ``study.toml`` (an 18-scenario grid) and ``monte_carlo.toml`` (16 paths), both on the
    built-in example over one quarter. Returns the paths written."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, body in (("study.toml", EXAMPLE_STUDY), ("monte_carlo.toml", EXAMPLE_MONTE_CARLO)):
        path = directory / name
        atomic_write(path, lambda tmp, b=body: tmp.write_text(b))
        written.append(path)
    return written
