"""Stage times of a run, recorded in one place."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

#: The stages of a plan, in the order they run (``summary.json`` ``seconds``).
PLAN_STAGES = ("load", "kernel", "build", "solve", "extract", "report")


@dataclass
class Timings:
    """Wall time of each stage [s]; ``total`` is their sum.

    ``progress(stage, seconds)`` is called as each stage ends (the CLI prints it).
    """

    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PLAN_STAGES, 0.0))
    progress: Callable[[str, float], None] | None = field(default=None, repr=False)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the block as stage ``name``."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.record(name, time.perf_counter() - t0)

    def record(self, name: str, seconds: float) -> None:
        """Set a stage's time [s] (a stage timed elsewhere, e.g. loading in a worker)."""
        self.seconds[name] = float(seconds)
        if self.progress is not None:
            self.progress(name, self.seconds[name])

    @property
    def total(self) -> float:
        return float(sum(self.seconds.values()))

    def as_dict(self) -> dict[str, float]:
        """Stage -> seconds, then ``total``."""
        return {**self.seconds, "total": self.total}
