"""The ``hashpivot`` command line: plans, scores, what-if studies and scenario tools.

Each command parses its options, calls the library, and turns library errors into exit codes:
0 ok, 2 bad input (:class:`~models.ScenarioError`) or an output that cannot be written
(:class:`~optimizer.errors.OutputError`, any other :class:`OSError`: permissions, a file in the
way, disk full, names over 255 bytes), 3 infeasible (:class:`~optimizer.errors.InfeasibleError`),
4 solver failure (:class:`~optimizer.errors.SolverError`), 1 an internal error (a bug: the
message says so). Never a traceback.
"""

from optimizer.cli import inputs, plans, studies  # noqa: F401  (each registers its commands)
from optimizer.cli.base import main, run

__all__ = ["main", "run"]
