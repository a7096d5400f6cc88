"""Errors of the optimizer layer (the CLI maps each kind to an exit code)."""

from __future__ import annotations


class InfeasibleError(RuntimeError):
    """The LP has no solution; the message names the constraint family, site, hours and the fix."""


class SolverError(RuntimeError):
    """The solver failed (not installed, crashed, hit its time limit without a solution)."""


class OutputError(RuntimeError):
    """An output file or folder could not be written (permissions, a file in the way, disk
    full, a name over 255 bytes); the message names the path. The CLI exits with code 2."""
