"""The decision file of ``hashpivot decide``: a two-stage, multi-year conversion decision
(docs/decide.md).

A decision file names a base scenario (its sites, fleet, GPU classes, leases and one year of
hourly series), how many years to look ahead and how each year is sampled, the Monte Carlo of
the market over those years, the cost of capital, the first-stage choices' integrality and the
risk preference. :func:`load_decision` reads and validates one; every error names the file and
the field (:class:`~models.errors.ScenarioError`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from models.documents import input_files, read_toml
from models.errors import ScenarioError
from models.fields import Where, boolean, check_keys, integer, number, require_table, text

TOP_KEYS = ("decision", "paths", "finance", "first_stage", "risk", "solve")
DECISION_KEYS = ("name", "base", "years", "weeks_per_year")
PATH_KEYS = (
    "count",
    "seed",
    "mu",
    "sigma",
    "hashrate_drift",
    "hashrate_vol",
    "fee_vol",
    "hashrate_step_hours",
    "gpu_rent_trend",
    "power",
    "power_files",
    "power_years",
)
POWER_SOURCES = ("scenario", "synthetic", "files")
FIRST_STAGE_KEYS = ("hall_block_mw", "whole_servers")
RISK_KEYS = ("cvar_level", "weight", "frontier_weights")
SOLVE_KEYS = ("gap_usd", "gap_relative", "max_iterations")
MAX_YEARS = 30
#: Hours of a representative week.
WEEK_HOURS = 168


@dataclass(frozen=True)
class DecisionPaths:
    """Monte Carlo of the market over the years (docs/decide.md, "Paths").

    Attributes
    ----------
    count, seed : int
        Number of paths; seed (a path's draws depend only on the seed and its number).
    mu, sigma : float
        BTC price drift and volatility [1/year, 1/sqrt(year)] (GBM).
    hashrate_drift, hashrate_vol : float
        Network hashrate drift and volatility [1/year, 1/sqrt(year)].
    fee_vol : float
        Hourly log-noise on fees per block [-].
    hashrate_step_hours : int
        Hours between hashrate shocks.
    gpu_rent_trend : float
        Yearly change of GPU rents and cloud prices [1/year] (-0.1: 10 % cheaper each year).
    power : {"scenario", "synthetic", "files"}
        Power prices of each path-year: the base scenario's own series every year, the
        synthetic ERCOT West generator with a seed per path-year, or one of ``power_files``
        drawn per path-year.
    power_files : tuple[str, ...]
        Hourly price files (column ``price_usd_per_mwh``), each a whole year.
    power_years : int
        Synthetic price years drawn once (``power = "synthetic"``); each path-year uses one
        of them at random.
    """

    count: int
    seed: int
    mu: float = 0.0
    sigma: float = 0.0
    hashrate_drift: float = 0.0
    hashrate_vol: float = 0.0
    fee_vol: float = 0.0
    hashrate_step_hours: int = 24
    gpu_rent_trend: float = 0.0
    power: str = "scenario"
    power_files: tuple[str, ...] = ()
    power_years: int = 20


@dataclass(frozen=True)
class Decision:
    """A validated decision file (docs/decide.md).

    Attributes
    ----------
    name : str
    base : str
        Base scenario file, resolved against the decision file's folder.
    years : int
        Years ahead; year 0 starts at the base scenario's start.
    weeks_per_year : int
        Representative weeks per year, each weighted ``8760 / (168 * weeks)``; 0: whole base
        horizon each year, weighted ``8760 / hours``.
    paths : DecisionPaths
    discount_rate : float or None
        Yearly discount rate of the NPV [1/year]; None: the base scenario's ``[finance]``.
    hall_block_mw : float
        Convert halls in whole blocks of this many MW; 0: continuous.
    whole_servers : bool
        GPU servers (installed and firm) in whole numbers.
    cvar_level : float
        CVaR level alpha: CVaR is the mean NPV of the worst ``1 - alpha`` of paths.
    risk_weight : float
        Weight lambda of CVaR in ``(1 - lambda) E[NPV] + lambda CVaR`` (0: risk-neutral).
    frontier_weights : tuple[float, ...]
        Risk weights of the expected-NPV-vs-CVaR frontier (empty: none).
    gap_usd, gap_relative : float
        Stop when upper minus lower bound <= ``gap_usd + gap_relative * |lower|`` [USD].
    max_iterations : int
        Most L-shaped iterations.
    source : str
        File it came from.
    base_dir : str
        Folder relative paths resolve against.
    """

    name: str
    base: str
    years: int
    weeks_per_year: int
    paths: DecisionPaths
    discount_rate: float | None = None
    hall_block_mw: float = 0.0
    whole_servers: bool = False
    cvar_level: float = 0.9
    risk_weight: float = 0.0
    frontier_weights: tuple[float, ...] = ()
    gap_usd: float = 1.0
    gap_relative: float = 1e-7
    max_iterations: int = 200
    source: str = "<decision>"
    base_dir: str = "."

    @property
    def base_path(self) -> Path:
        path = Path(self.base)
        return path if path.is_absolute() else Path(self.base_dir) / path

    def power_file_paths(self) -> list[Path]:
        return [
            p if p.is_absolute() else Path(self.base_dir) / p
            for p in (Path(f) for f in self.paths.power_files)
        ]

    def hash(self, base_doc: Mapping[str, Any]) -> str:
        """SHA-256 of everything that fixes the results: this file's settings, the base
        document and the bytes of every input file (a resumed run must match it)."""
        from models.documents import file_digest

        files = [*input_files(base_doc, self.base_path.parent), *self.power_file_paths()]
        settings = {k: v for k, v in asdict(self).items() if k not in ("source", "base_dir")}
        payload = {
            "settings": settings,
            "base": json.loads(json.dumps(base_doc, default=str)),
            "files": {str(f): file_digest(f) for f in files},
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def parse_decision(doc: Mapping[str, Any], *, source: str, base_dir: str | Path) -> Decision:
    """Validate a decision document (see :class:`Decision` for the fields)."""
    where = Where(Path(source).name if source[:1] != "<" else source)
    check_keys(doc, TOP_KEYS, where)
    head = require_table(doc, "decision", where)
    hw = where / "decision"
    check_keys(head, DECISION_KEYS, hw)
    pw = where / "paths"
    pt = require_table(doc, "paths", where)
    check_keys(pt, PATH_KEYS, pw)
    power = text(pt, "power", pw, default="scenario", choices=POWER_SOURCES)
    files = pt.get("power_files", [])
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise (pw / "power_files").error("expected a list of file names")
    if power == "files" and not files:
        raise (pw / "power_files").error('power = "files" needs at least one price file')
    if files and power != "files":
        raise (pw / "power_files").error('power_files are read only with power = "files"')
    paths = DecisionPaths(
        count=integer(pt, "count", pw, minimum=1),
        seed=integer(pt, "seed", pw, default=0),
        mu=number(pt, "mu", pw, unit="1/year", default=0.0, minimum=-5.0, maximum=5.0),
        sigma=number(pt, "sigma", pw, unit="1/sqrt(year)", default=0.0, minimum=0.0, maximum=5.0),
        hashrate_drift=number(
            pt, "hashrate_drift", pw, unit="1/year", default=0.0, minimum=-5.0, maximum=5.0
        ),
        hashrate_vol=number(
            pt, "hashrate_vol", pw, unit="1/sqrt(year)", default=0.0, minimum=0.0, maximum=5.0
        ),
        fee_vol=number(pt, "fee_vol", pw, default=0.0, minimum=0.0, maximum=5.0),
        hashrate_step_hours=integer(pt, "hashrate_step_hours", pw, default=24, minimum=1),
        gpu_rent_trend=number(
            pt, "gpu_rent_trend", pw, unit="1/year", default=0.0, minimum=-0.9, maximum=1.0
        ),
        power=power,
        power_files=tuple(files),
        power_years=integer(pt, "power_years", pw, default=20, minimum=1),
    )
    fw = where / "finance"
    fin = doc.get("finance", {})
    check_keys(fin, ("discount_rate",), fw)
    rate = (
        number(fin, "discount_rate", fw, unit="1/year", minimum=0.0, maximum=1.0)
        if "discount_rate" in fin
        else None
    )
    sw = where / "first_stage"
    first = doc.get("first_stage", {})
    check_keys(first, FIRST_STAGE_KEYS, sw)
    rw = where / "risk"
    risk = doc.get("risk", {})
    check_keys(risk, RISK_KEYS, rw)
    weights = risk.get("frontier_weights", [])
    if not isinstance(weights, list) or not all(
        isinstance(w, int | float) and not isinstance(w, bool) and 0.0 <= w <= 1.0 for w in weights
    ):
        raise (rw / "frontier_weights").error(
            f"expected a list of numbers in [0, 1], got {weights!r}"
        )
    vw = where / "solve"
    solve = doc.get("solve", {})
    check_keys(solve, SOLVE_KEYS, vw)
    weeks = integer(head, "weeks_per_year", hw, default=4, minimum=0)
    if weeks > 52:
        raise (hw / "weeks_per_year").error(
            f"expected at most 52 weeks (0: whole years), got {weeks}"
        )
    years = integer(head, "years", hw, minimum=1)
    if years > MAX_YEARS:
        raise (hw / "years").error(f"expected at most {MAX_YEARS} years, got {years}")
    return Decision(
        name=text(head, "name", hw, default=Path(source).stem),
        base=text(head, "base", hw),
        years=years,
        weeks_per_year=weeks,
        paths=paths,
        discount_rate=rate,
        hall_block_mw=number(first, "hall_block_mw", sw, unit="MW", default=0.0, minimum=0.0),
        whole_servers=boolean(first, "whole_servers", sw, default=False),
        cvar_level=number(risk, "cvar_level", rw, default=0.9, minimum=0.0, maximum=0.999),
        risk_weight=number(risk, "weight", rw, default=0.0, minimum=0.0, maximum=1.0),
        frontier_weights=tuple(float(w) for w in weights),
        gap_usd=number(solve, "gap_usd", vw, unit="USD", default=1.0, minimum=0.0),
        gap_relative=number(solve, "gap_relative", vw, default=1e-7, minimum=0.0, maximum=1.0),
        max_iterations=integer(solve, "max_iterations", vw, default=200, minimum=1),
        source=source,
        base_dir=str(base_dir),
    )


def load_decision(path: str | Path) -> Decision:
    """Read and validate a decision file (relative paths resolve against its folder)."""
    path = Path(path)
    decision = parse_decision(read_toml(path, "decision"), source=str(path), base_dir=path.parent)
    if not decision.base_path.is_file():
        raise ScenarioError(
            f"{path.name}: decision.base: base scenario file {decision.base_path} not found"
        )
    for f in decision.power_file_paths():
        if not f.is_file():
            raise ScenarioError(f"{path.name}: paths.power_files: price file {f} not found")
    return decision


EXAMPLE_DECISION = """\
# hashpivot decide: how many MW to convert to HPC, how many GPU servers to buy and how much
# firm lease to sign now, over 10 years of uncertain BTC price, hashrate, halvings, power
# prices and GPU rents. Every field: docs/decide.md.

[decision]
name = "west-texas-decision"
base = "scenario.toml"        # the base scenario (sites, fleet, GPUs, leases, one year of series)
years = 10                    # years ahead, from the base scenario's start
weeks_per_year = 4            # representative weeks per year (0: whole years)

[paths]
count = 100                   # Monte Carlo paths
seed = 11
mu = 0.0                      # BTC price drift [1/year]
sigma = 0.5                   # BTC price volatility [1/sqrt(year)]
hashrate_drift = 0.25         # network hashrate growth [1/year]
hashrate_vol = 0.15
fee_vol = 0.2
gpu_rent_trend = -0.08        # GPU rents fall 8 % a year
power = "synthetic"           # "scenario" (the base year every year), "synthetic" or "files"
power_years = 20              # synthetic price years, one drawn per path-year

[finance]
discount_rate = 0.10          # yearly cash flows discounted to NPV; capex at year 0

[first_stage]
hall_block_mw = 0             # e.g. 5: convert halls in whole 5 MW blocks (MIP master)
whole_servers = false         # true: whole GPU servers (MIP master)

[risk]
cvar_level = 0.9              # CVaR: mean NPV of the worst 10 % of paths
weight = 0.0                  # 0: maximize expected NPV; 1: maximize CVaR
frontier_weights = [0.0, 0.5, 1.0]

[solve]
gap_usd = 1000                # stop when upper - lower bound <= gap_usd + gap_relative |lower|
gap_relative = 1e-6
max_iterations = 200
"""
