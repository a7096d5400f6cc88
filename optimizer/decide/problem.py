"""The two-stage problem of a decision file: first-stage columns, capex, path-years and the
hourly blocks each path-year is sampled by (docs/decide.md).

First stage ``x = (y[S], n[K], f[K])``: MW converted per site, GPU servers installed and firm
servers per class, decided now. Second stage: for path ``p`` and year ``t``, the allocation LP
of each representative week with ``x`` fixed (:mod:`optimizer.decide.second_stage`). The NPV of
path ``p`` is

``NPV_p(x) = -c . x + sum_t theta_pt(x)``,  ``theta_pt(x) = delta_t omega sum_w Q_ptw(x)``

with ``delta_t = (1 + r)^-(t + 1)`` (a year's cash flow at its end), ``omega`` the week weight
(:func:`kernels.paths.representative_weeks`) and ``Q_ptw`` the week's operating margin without
capex annuities. Capex enters once through ``c`` (:func:`capex_pv`).
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kernels.paths import HOURS_PER_YEAR, representative_weeks, simulate_sampled_paths
from models import Scenario, ScenarioError, build_scenario, read_scenario_doc
from models.decision import WEEK_HOURS, Decision
from models.fields import Where
from models.finance import capital_recovery_factor
from models.market import parse_market
from models.series import read_table
from models.sites import parse_site
from optimizer.lp.data import LpData, lp_data
from optimizer.score import KernelCache, Scores, score_scenario
from optimizer.study.monte_carlo import path_start

#: Market fields a path sets, hour by hour.
MARKET_FIELDS = ("btc_price_usd", "difficulty", "fees_btc_per_block", "height")


@dataclass(frozen=True, eq=False)
class PathYearTask:
    """Everything a worker needs to evaluate one path-year at one first-stage point.

    ``docs``: one scenario document per sampled block; ``weights``: ``delta_t * omega`` of each;
    ``x``: the first stage (``y, n, f`` concatenated); ``key``: unique per problem, path and
    year (the worker's cache of built LPs).
    """

    key: str
    path: int
    year: int
    docs: tuple[dict[str, Any], ...]
    weights: tuple[float, ...]
    rent_factor: float
    base_dir: str
    x: np.ndarray
    sizes: tuple[int, int]  # (S, K)


@dataclass(eq=False)
class Problem:
    """A decision's two-stage problem with its sampled inputs.

    Attributes
    ----------
    decision : Decision
    base_doc : dict
        The base scenario document.
    base : Scenario
        The base scenario, validated (bounds, capex, sites, GPU classes).
    starts : int64[W]
        First hour of each sampled block inside the base horizon.
    block_hours : int
    omega : float
        Year-hours per sampled hour block (:func:`kernels.paths.representative_weeks`).
    market : dict[str, ndarray]
        ``[P, Y, W, H]`` hourly market along each path.
    prices : ndarray or None
        ``[P, Y, W, S, H]`` power prices, or None (the base scenario's own series).
    probabilities : float64[P]
    rate : float
        Discount rate of the NPV.
    key : str
        Digest of the settings and sampled inputs.
    """

    decision: Decision
    base_doc: dict[str, Any]
    base: Scenario
    starts: np.ndarray
    block_hours: int
    omega: float
    market: dict[str, np.ndarray]
    prices: np.ndarray | None
    probabilities: np.ndarray
    rate: float
    key: str
    label: str = ""
    _first_data: list[LpData] | None = field(default=None, repr=False)

    # ------------------------------------------------------------------ sizes
    @property
    def n_paths(self) -> int:
        return len(self.probabilities)

    @property
    def n_years(self) -> int:
        return self.decision.years

    @property
    def n_sites(self) -> int:
        return len(self.base.sites)

    @property
    def n_gpus(self) -> int:
        return len(self.base.gpus)

    @property
    def n_x(self) -> int:
        return self.n_sites + 2 * self.n_gpus

    @property
    def base_dir(self) -> str:
        return str(self.decision.base_path.parent)

    # ------------------------------------------------------------------ first stage
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds of ``x = (y, n, f)``."""
        b = self.base
        g = np.array([k.max_servers for k in b.gpus], dtype=float)
        firm = np.array([k.firm for k in b.gpus], dtype=bool)
        upper = np.concatenate(
            [[s.convertible_mw for s in b.sites], g, np.where(firm, g, 0.0)]
        ).astype(float)
        return np.zeros(self.n_x), upper

    def capex_pv(self) -> np.ndarray:
        """``c``: present value of the capex of one unit of each first-stage column [USD].

        Capex is paid at year 0 (and again each ``life`` years while the horizon lasts); what
        is left of the last purchase at the horizon's end is credited at its residual value,
        the present value of the annuities it still has to earn. Together:
        ``capex * CRF(r, life) * sum_{t=1..H} (1 + r)^-t`` (docs/decide.md, "Capex"): the
        capex of an asset whose life equals the horizon is paid in full at year 0.
        """
        r, years = self.rate, self.n_years
        factor = float(np.sum((1.0 + r) ** -np.arange(1, years + 1, dtype=float)))
        b = self.base
        y = [
            s.conversion_usd_per_mw * capital_recovery_factor(r, s.conversion_life_years)
            for s in b.sites
        ]
        n = [g.capex_usd_per_server * capital_recovery_factor(r, g.life_years) for g in b.gpus]
        return np.concatenate([y, n, np.zeros(self.n_gpus)]).astype(float) * factor

    def split(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        S, K = self.n_sites, self.n_gpus
        x = np.asarray(x, dtype=float)
        return x[:S], x[S : S + K], x[S + K :]

    def discount(self, year: int) -> float:
        return (1.0 + self.rate) ** -(year + 1)

    def rent_factor(self, year: int) -> float:
        return (1.0 + self.decision.paths.gpu_rent_trend) ** year

    # ------------------------------------------------------------------ second stage
    def block_doc(self, path: int, year: int, week: int) -> dict[str, Any]:
        """The scenario document of one sampled block of one path-year."""
        doc = copy.deepcopy(self.base_doc)
        start = self.base.index[0] + pd.Timedelta(hours=int(self.starts[week]))
        doc["scenario"] = dict(doc["scenario"])
        doc["scenario"]["start"] = start.strftime("%Y-%m-%dT%H:%M:%SZ")
        doc["scenario"]["hours"] = int(self.block_hours)
        market = dict(doc["market"])
        market.pop("network_hashrate_ehs", None)
        for name in MARKET_FIELDS:
            market[name] = self.market[name][path, year, week].copy()
        doc["market"] = market
        if self.prices is not None:
            doc["sites"] = [dict(s) for s in doc["sites"]]
            for s, site in enumerate(doc["sites"]):
                site["price_usd_per_mwh"] = self.prices[path, year, week, s].copy()
        return doc

    def task(self, path: int, year: int, x: np.ndarray) -> PathYearTask:
        W = len(self.starts)
        weight = self.discount(year) * self.omega
        return PathYearTask(
            key=f"{self.key}/{path}/{year}",
            path=path,
            year=year,
            docs=tuple(self.block_doc(path, year, w) for w in range(W)),
            weights=(weight,) * W,
            rent_factor=self.rent_factor(year),
            base_dir=self.base_dir,
            x=np.asarray(x, dtype=float),
            sizes=(self.n_sites, self.n_gpus),
        )

    def block_data(self, path: int, year: int) -> list[LpData]:
        """LP parameters of every block of one path-year (annuities off, rents trended)."""
        return [
            block_lp_data(self.block_doc(path, year, w), self.base_dir, self.rent_factor(year))
            for w in range(len(self.starts))
        ]

    def first_data(self) -> list[LpData]:
        """Blocks of path 0, year 0: their hourly server energy bounds the first stage."""
        if self._first_data is None:
            self._first_data = self.block_data(0, 0)
        return self._first_data

    # ------------------------------------------------------------------ derived problems
    def subset(self, paths: list[int], label: str) -> Problem:
        """The same problem over some paths only (probabilities renormalized)."""
        idx = np.asarray(paths, dtype=np.int64)
        p = self.probabilities[idx]
        return replace(
            self,
            market={k: v[idx] for k, v in self.market.items()},
            prices=None if self.prices is None else self.prices[idx],
            probabilities=p / p.sum(),
            key=digest(self.key, label),
            label=label,
        )

    def mean_path(self) -> Problem:
        """The expected-value problem: one path, the probability-weighted mean of every input
        (heights rounded down to whole blocks)."""
        w = self.probabilities
        market = {}
        for k, v in self.market.items():
            mean = np.tensordot(w, v, axes=(0, 0))[None]
            market[k] = np.floor(mean).astype(np.int64) if k == "height" else mean
        prices = None if self.prices is None else np.tensordot(w, self.prices, axes=(0, 0))[None]
        return replace(
            self,
            market=market,
            prices=prices,
            probabilities=np.ones(1),
            key=digest(self.key, "mean"),
            label="mean",
        )


#: Scenarios (and their kernel scores) of block positions already built in this process.
_templates: OrderedDict[str, tuple[Scenario, Scores, KernelCache]] = OrderedDict()
_templates_lock = threading.Lock()
_TEMPLATES = 64


def _template_key(doc: dict[str, Any], base_dir: str) -> str:
    """Everything of a block document but its market and site prices (what varies by path)."""
    rest = {k: v for k, v in doc.items() if k != "market"}
    rest["sites"] = [{k: v for k, v in s.items() if k != "price_usd_per_mwh"} for s in doc["sites"]]
    return digest(base_dir, json.dumps(rest, sort_keys=True, default=str))


def block_scenario(doc: dict[str, Any], base_dir: str) -> tuple[Scenario, Scores]:
    """The scenario of a block document and its kernel scores, fast.

    The first block at a position is validated and scored in full
    (:func:`~models.build_scenario`, :func:`~optimizer.score.score_scenario`); the next ones at
    the same position re-read only their market and (where a path sets them) their sites'
    prices, and reuse the rest (fleet, GPU classes, contracts, series). Their scores come from
    the position's :class:`~optimizer.score.KernelCache` (one ASIC kernel run rescaled by the
    hourly USD per TH-hour; GPU classes scored afresh), because paths move nothing else.
    """
    key = _template_key(doc, base_dir)
    with _templates_lock:
        hit = _templates.get(key)
    source = "<decision block>"
    if hit is None:
        template = build_scenario(doc, base_dir=base_dir, source=source)
        scores = score_scenario(template)
        with _templates_lock:
            _templates[key] = (template, scores, KernelCache())
            while len(_templates) > _TEMPLATES:
                _templates.popitem(last=False)
        return template, scores
    template, _, kernel = hit
    where = Where(source)
    index, seed = template.index, template.seed
    market = parse_market(doc["market"], where / "market", index, Path(base_dir), seed)
    sites = template.sites
    if any(not isinstance(s.get("price_usd_per_mwh"), dict | int | float) for s in doc["sites"]):
        sites = tuple(
            parse_site(_resolved(r, t), where / f"sites[{i}]", index, Path(base_dir), seed)
            for i, (r, t) in enumerate(zip(doc["sites"], template.sites, strict=True))
        )
    scenario = replace(template, market=market, sites=sites)
    # the template key covers all but market and prices: the fleet's hours, temperatures and
    # cooling are the template's
    return scenario, kernel.scores(scenario, key=key)


def _resolved(row: dict[str, Any], site: Any) -> dict[str, Any]:
    """A site row whose file and synthetic series (all but the price) are replaced by the
    template site's resolved arrays: re-parsing it reads no file again."""
    out = dict(row)
    for key, value in row.items():
        resolved = getattr(site, key, None)
        if (
            key != "price_usd_per_mwh"
            and isinstance(value, dict)
            and isinstance(resolved, np.ndarray)
        ):
            out[key] = resolved
    return out


def block_lp_data(doc: dict[str, Any], base_dir: str, rent_factor: float) -> LpData:
    """LP parameters of one block: kernel scores of its scenario, capex annuities set to zero
    (capex is paid at year 0, :meth:`Problem.capex_pv`) and GPU rents scaled by the year's
    trend (pass-through reimbursement unchanged)."""
    scenario, scores = block_scenario(doc, base_dir)
    d = lp_data(scenario, scores)
    rent = d.gpu_rent_usd * rent_factor
    return replace(
        d,
        gpu_capex_usd_per_hour=np.zeros_like(d.gpu_capex_usd_per_hour),
        conversion_usd_per_mw_hour=np.zeros_like(d.conversion_usd_per_mw_hour),
        gpu_rent_usd=rent,
        gpu_revenue_usd=d.gpu_revenue_usd + (rent - d.gpu_rent_usd),
    )


# --------------------------------------------------------------------------- building


def digest(*parts: Any) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.tobytes() if isinstance(p, np.ndarray) else str(p).encode())
    return h.hexdigest()[:16]


def _price_files(decision: Decision, need_hours: int) -> list[np.ndarray]:
    """Hourly prices of each ``power_files`` entry, in file order [USD/MWh]."""
    out = []
    for path in decision.power_file_paths():
        where = Where(decision.source, f"paths.power_files '{path.name}'")
        table = read_table(path, where)
        if "price_usd_per_mwh" not in table.columns:
            raise where.error(
                f"expected a column price_usd_per_mwh, found {', '.join(map(str, table.columns))}"
            )
        values = pd.to_numeric(table["price_usd_per_mwh"], errors="coerce").to_numpy(float)
        if len(values) < need_hours:
            raise where.error(f"expected at least {need_hours} hourly rows, got {len(values)}")
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise where.error(f"row {int(bad[0]) + 2}: price is not a finite number")
        out.append(values)
    return out


def _price_years(decision: Decision, base: Scenario, base_doc, need_hours: int) -> list[np.ndarray]:
    """The pool of power-price years a path-year draws from, each ``[S, need_hours]``: every
    ``power_files`` entry (the same at every site), or ``power_years`` draws of the synthetic
    ERCOT West generator over the base scenario's calendar (a site's own synthetic parameters
    kept)."""
    from models import synthetic

    S = len(base.sites)
    if decision.paths.power == "files":
        return [np.repeat(f[None, :need_hours], S, 0) for f in _price_files(decision, need_hours)]
    params: list[dict[str, Any]] = []
    for site in base_doc["sites"]:
        spec = site.get("price_usd_per_mwh")
        is_synth = isinstance(spec, dict) and spec.get("synthetic") == "ercot_west_price"
        params.append(
            {k: v for k, v in spec.items() if k not in ("synthetic", "seed")} if is_synth else {}
        )
    index = base.index[0] + pd.to_timedelta(np.arange(need_hours), unit="h")
    pool = []
    for k in range(decision.paths.power_years):
        seed = int(np.random.SeedSequence([decision.paths.seed, k]).generate_state(1)[0] % 2**31)
        pool.append(
            np.stack(
                [synthetic.generate("ercot_west_price", index, seed, **params[s]) for s in range(S)]
            )
        )
    return pool


def _prices(starts: np.ndarray, H: int, decision: Decision, base: Scenario, base_doc) -> Any:
    """``[P, Y, W, S, H]`` power prices of each path-year block, or None (the base series):
    path-year ``(p, t)`` draws one year of :func:`_price_years` at random (seeded by the
    decision's seed, p and t)."""
    if decision.paths.power == "scenario":
        return None
    P, Y = decision.paths.count, decision.years
    hours = starts[:, None] + np.arange(H)
    pool = _price_years(decision, base, base_doc, int(hours.max()) + 1)
    out = np.empty((P, Y, len(starts), len(base.sites), H))
    for p in range(P):
        for t in range(Y):
            pick = np.random.default_rng([decision.paths.seed, p, t]).integers(len(pool))
            out[p, t] = pool[pick][:, hours].transpose(1, 0, 2)
    return out


def build_problem(decision: Decision) -> Problem:
    """Read the base scenario, sample the blocks and simulate every path (docs/decide.md).

    Raises
    ------
    ScenarioError
        A bad base scenario, a market that is not constant at its start, or too short a
        horizon for the weeks asked.
    """
    base_doc = read_scenario_doc(decision.base_path)
    base = build_scenario(
        base_doc, base_dir=decision.base_path.parent, source=str(decision.base_path)
    )
    where = Where(decision.source, "decision")
    try:
        starts, omega = representative_weeks(base.hours, decision.weeks_per_year, WEEK_HOURS)
    except ValueError as exc:
        raise (where / "weeks_per_year").error(f"{exc} (the base scenario's hours)") from None
    H = WEEK_HOURS if decision.weeks_per_year else base.hours
    start = path_start(base_doc, Where(decision.source, "base market"))
    start.pop("hours")
    Y, P = decision.years, decision.paths.count
    sample = (
        np.arange(Y)[:, None, None] * HOURS_PER_YEAR + starts[None, :, None] + np.arange(H)
    ).ravel()
    mc = decision.paths
    try:
        paths = simulate_sampled_paths(
            P,
            Y * HOURS_PER_YEAR,
            sample,
            seed=mc.seed,
            mu=mc.mu,
            sigma=mc.sigma,
            hashrate_drift=mc.hashrate_drift,
            hashrate_vol=mc.hashrate_vol,
            fee_vol=mc.fee_vol,
            hashrate_step_hours=mc.hashrate_step_hours,
            **start,
        )
    except ValueError as exc:
        raise ScenarioError(f"{decision.source}: paths: {exc}") from None
    market = {k: getattr(paths, k).reshape(P, Y, len(starts), H) for k in MARKET_FIELDS}
    prices = _prices(starts, H, decision, base, base_doc)
    rate = (
        decision.discount_rate if decision.discount_rate is not None else base.finance.discount_rate
    )
    key = digest(
        decision.hash(base_doc),
        *[market[k] for k in MARKET_FIELDS],
        "none" if prices is None else prices,
    )
    return Problem(
        decision=decision,
        base_doc=base_doc,
        base=base,
        starts=starts,
        block_hours=H,
        omega=omega,
        market=market,
        prices=prices,
        probabilities=np.full(P, 1.0 / P),
        rate=float(rate),
        key=key,
    )
