"""``python -m optimizer`` runs the hashpivot CLI."""

from optimizer.cli import run

run()
