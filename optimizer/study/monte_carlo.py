"""Monte Carlo paths of a study: BTC price, difficulty, fees and height, hour by hour, from the
scenario's own market (:func:`kernels.paths.simulate_paths`, docs/model.md §8.2)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from kernels.bitcoin import difficulty_from_hashrate_ehs, network_hashrate_ehs
from kernels.paths import simulate_paths
from models.fields import Where, check_keys, integer, number

MONTE_CARLO_KEYS = (
    "paths",
    "seed",
    "mu",
    "sigma",
    "hashrate_drift",
    "hashrate_vol",
    "fee_vol",
    "hashrate_step_hours",
)


@dataclass(frozen=True)
class MonteCarlo:
    """Parameters of the Monte Carlo paths (:func:`kernels.paths.simulate_paths`).

    Each path starts from the scenario's own market (constant ``btc_price_usd``, difficulty or
    ``network_hashrate_ehs``, ``fees_btc_per_block``, ``height``) and spans ``scenario.hours``
    hourly values.

    Attributes
    ----------
    paths : int
        Number of paths.
    seed : int
        Seed of ``numpy.random.default_rng``: a seed fixes the path set.
    mu, sigma : float
        Annual drift and volatility of the BTC price [1/year, 1/sqrt(year)].
    hashrate_drift, hashrate_vol : float
        Annual drift and volatility of the network hashrate [1/year, 1/sqrt(year)].
    fee_vol : float
        Standard deviation of the hourly log-noise on fees per block [-].
    hashrate_step_hours : int
        Hours between hashrate shocks [h].
    """

    paths: int
    seed: int
    mu: float
    sigma: float
    hashrate_drift: float
    hashrate_vol: float
    fee_vol: float
    hashrate_step_hours: int


def parse_monte_carlo(table: Any, seed: int, where: Where) -> MonteCarlo:
    if not isinstance(table, Mapping):
        raise where.error("expected a table")
    check_keys(table, MONTE_CARLO_KEYS, where)
    return MonteCarlo(
        paths=integer(table, "paths", where, minimum=1),
        seed=integer(table, "seed", where, default=seed),
        mu=number(table, "mu", where, unit="1/year", default=0.0),
        sigma=number(table, "sigma", where, unit="1/sqrt(year)", minimum=0.0),
        hashrate_drift=number(table, "hashrate_drift", where, unit="1/year", default=0.0),
        hashrate_vol=number(
            table, "hashrate_vol", where, unit="1/sqrt(year)", default=0.0, minimum=0.0
        ),
        fee_vol=number(table, "fee_vol", where, default=0.0, minimum=0.0),
        hashrate_step_hours=integer(table, "hashrate_step_hours", where, default=24, minimum=1),
    )


def path_start(doc: Mapping[str, Any], where: Where) -> dict[str, Any]:
    """Where the paths of a scenario start: its market's constants and its horizon.

    Returns the keyword arguments of :func:`kernels.paths.simulate_paths` other than the
    Monte Carlo parameters: ``hours``, ``btc_price_usd``, ``difficulty``, ``hashrate_ehs``,
    ``height``, ``fees_btc_per_block``.
    """
    market = doc.get("market", {})
    hours = doc.get("scenario", {}).get("hours")

    def constant(key: str) -> float:
        value = market.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise where.error(
                f"Monte Carlo paths start from a constant market.{key}; the scenario has "
                f"{'none' if value is None else type(value).__name__}"
            )
        return float(value)

    if "difficulty" in market:
        difficulty = constant("difficulty")
        hashrate = float(network_hashrate_ehs(difficulty))
    else:
        hashrate = constant("network_hashrate_ehs")
        difficulty = float(difficulty_from_hashrate_ehs(hashrate))
    if isinstance(hours, bool) or not isinstance(hours, int) or hours < 1:
        raise where.error(f"Monte Carlo paths need scenario.hours >= 1, got {hours!r}")
    return {
        "hours": hours,
        "btc_price_usd": constant("btc_price_usd"),
        "difficulty": difficulty,
        "hashrate_ehs": hashrate,
        "height": int(constant("height")),
        "fees_btc_per_block": constant("fees_btc_per_block"),
    }


@lru_cache(maxsize=4)
def _paths(mc: MonteCarlo, start: tuple[tuple[str, Any], ...]):
    kw = dict(start)
    hours = kw.pop("hours")
    return simulate_paths(
        mc.paths,
        hours,
        mu=mc.mu,
        sigma=mc.sigma,
        hashrate_drift=mc.hashrate_drift,
        hashrate_vol=mc.hashrate_vol,
        fee_vol=mc.fee_vol,
        hashrate_step_hours=mc.hashrate_step_hours,
        seed=mc.seed,
        **kw,
    )


def simulate_study_paths(mc: MonteCarlo, doc: Mapping[str, Any], where: Where | None = None):
    """Every path of a scenario document's start state (cached: grids reuse one path set).

    Returns
    -------
    kernels.paths.Paths
        Arrays shaped ``[paths, hours]``.
    """
    start = path_start(doc, where or Where("monte_carlo"))
    try:
        return _paths(mc, tuple(sorted(start.items())))
    except ValueError as exc:  # simulate_paths rejects a start state or parameter
        raise (where or Where("monte_carlo")).error(str(exc)) from None


def with_path(doc: Mapping[str, Any], mc: MonteCarlo, index: int, label: str) -> dict[str, Any]:
    """A copy of ``doc`` whose market follows Monte Carlo path ``index`` hour by hour.

    Sets ``market.btc_price_usd``, ``market.difficulty`` (dropping ``network_hashrate_ehs``),
    ``market.fees_btc_per_block`` and ``market.height`` to hourly arrays: index 0 of each path
    is the start state itself (kernels.paths convention), so ``hours`` values cover the horizon.
    """
    paths = simulate_study_paths(mc, doc, Where(label, "monte_carlo"))
    out = dict(doc)
    market = dict(out["market"])
    market.pop("network_hashrate_ehs", None)
    market["btc_price_usd"] = paths.btc_price_usd[index].copy()
    market["difficulty"] = paths.difficulty[index].copy()
    market["fees_btc_per_block"] = paths.fees_btc_per_block[index].copy()
    market["height"] = paths.height[index].copy()
    out["market"] = market
    return out
