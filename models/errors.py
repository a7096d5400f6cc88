"""The one exception of the domain layer: a scenario the user must fix."""

from __future__ import annotations


class ScenarioError(ValueError):
    """Bad input: names the file, the field, the row or timestamp, and what was expected.

    Raised by everything in :mod:`models` that reads or validates user input; the CLI turns it
    into exit code 2 with the message and no traceback.
    """
