"""Power purchase agreements and HPC leases."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models import limits
from models.fields import Where, boolean, check_keys, number, one_of, string_list, text
from models.gpus import GpuClass
from models.series import resolve_series

PPA_KEYS = ("site", "block_mw", "price_usd_per_mwh", "resale", "resale_fee", "negative_prices")
LEASE_KEYS = (
    "name",
    "site",
    "gpus",
    "min_mw",
    "max_mw",
    "sla_penalty_usd_per_mwh",
    "allow_shortfall",
)


@dataclass(frozen=True, eq=False)
class Ppa:
    """A fixed-price block of energy, take-or-pay, optionally resold at spot.

    Attributes
    ----------
    site : int
        Site index.
    block_mw : numpy.ndarray
        Contracted block per hour, ``B[s,t]`` [MW] (= MWh per hour).
    price_usd_per_mwh : float
        Contract price, ``p_ppa[s]`` [USD/MWh].
    resale : bool
        Whether unused block energy may be sold back at spot.
    resale_fee : float
        Fraction of the spot price lost on resale [-].
    negative_prices : str
        ``"settle"``: block energy not used in a negative-price hour is settled at spot, the
        site pays ``|price| * (1 + resale_fee)`` per MWh; ``"spill"``: it is spilled for free.
    """

    site: int
    block_mw: np.ndarray
    price_usd_per_mwh: float
    resale: bool
    resale_fee: float
    negative_prices: str = "settle"

    @property
    def resale_factor(self) -> float:
        """``psi[s]``: share of the spot price earned per MWh resold (0 when resale is not allowed)."""
        return (1.0 - self.resale_fee) if self.resale else 0.0


@dataclass(frozen=True)
class Lease:
    """A firm HPC lease served by GPU classes of one site.

    Attributes
    ----------
    name : str
    site : int
        Site index.
    gpu_classes : tuple[int, ...]
        GPU class indices whose firm servers count toward the lease.
    min_mw, max_mw : float
        Bounds on firm IT load, ``sum it_kw * f / 1000`` [MW].
    sla_penalty_usd_per_mwh : float
        Penalty per MWh of firm load not served under curtailment, ``rho`` [USD/MWh].
    allow_shortfall : bool
        Whether firm load may go unserved at all (False: curtailment must spare it).
    """

    name: str
    site: int
    gpu_classes: tuple[int, ...]
    min_mw: float
    max_mw: float
    sla_penalty_usd_per_mwh: float
    allow_shortfall: bool


def parse_ppa(
    row: Mapping[str, Any],
    where: Where,
    site_names: Sequence[str],
    index: pd.DatetimeIndex,
    base_dir: Path,
    seed: int,
    interconnect_mw: Sequence[float] | None = None,
) -> Ppa:
    """Build a :class:`Ppa` from a ``[[ppas]]`` table; its block may not exceed the site's
    ``interconnect_mw`` (per site; a larger block is a unit slip)."""
    check_keys(row, PPA_KEYS, where)
    site = site_names.index(
        one_of(text(row, "site", where), site_names, where / "site", what="site")
    )
    if "block_mw" not in row:
        raise where.error("missing required field 'block_mw' [MW]")
    block = resolve_series(
        row["block_mw"],
        where / "block_mw",
        index,
        base_dir=base_dir,
        seed=seed,
        unit="MW",
        minimum=0.0,
    )
    cap = limits.MAX_SITE_MW if interconnect_mw is None else interconnect_mw[site]
    if block.max() > cap:
        i = int(np.argmax(block))
        raise (where / "block_mw").error(
            f"{block[i]:,.6g} MW (hour {i}) exceeds the interconnect of site '{site_names[site]}' "
            f"({cap:g} MW): kW entered as MW? (expected block_mw <= interconnect_mw)"
        )
    return Ppa(
        site=site,
        block_mw=block,
        price_usd_per_mwh=number(
            row,
            "price_usd_per_mwh",
            where,
            unit="USD/MWh",
            minimum=limits.MIN_PRICE_USD_PER_MWH,
            maximum=limits.MAX_PRICE_USD_PER_MWH,
        ),
        resale=boolean(row, "resale", where, default=False),
        resale_fee=number(
            row, "resale_fee", where, unit="fraction", default=0.0, minimum=0.0, maximum=1.0
        ),
        negative_prices=text(
            row, "negative_prices", where, default="settle", choices=("settle", "spill")
        ),
    )


def parse_lease(
    row: Mapping[str, Any], where: Where, site_names: Sequence[str], gpus: Sequence[GpuClass]
) -> Lease:
    """Build a :class:`Lease` from a ``[[leases]]`` table; its GPU classes must be firm and on site."""
    name = text(row, "name", where)
    where = Where(where.file, f"{where.path} '{name}'")
    check_keys(row, LEASE_KEYS, where)
    site = site_names.index(
        one_of(text(row, "site", where), site_names, where / "site", what="site")
    )
    names = [g.name for g in gpus]
    members = []
    for g in string_list(row, "gpus", where):
        k = names.index(one_of(g, names, where / "gpus", what="GPU class"))
        if gpus[k].site != site:
            raise (where / "gpus").error(
                f"GPU class '{g}' is at site '{site_names[gpus[k].site]}', not '{site_names[site]}'"
            )
        if not gpus[k].firm:
            raise (where / "gpus").error(
                f"GPU class '{g}' has service = 'interruptible'; a lease needs firm servers"
            )
        members.append(k)
    min_mw = number(
        row, "min_mw", where, unit="MW", default=0.0, minimum=0.0, maximum=limits.MAX_SITE_MW
    )
    max_mw = (
        number(row, "max_mw", where, unit="MW", minimum=0.0, maximum=limits.MAX_SITE_MW)
        if "max_mw" in row
        else float("inf")
    )
    if max_mw < min_mw:
        raise (where / "max_mw").error(f"max_mw {max_mw:g} is below min_mw {min_mw:g}")
    capacity_mw = sum(gpus[k].it_kw * gpus[k].max_servers for k in members) / 1000.0
    if min_mw > capacity_mw + 1e-9:
        raise (where / "min_mw").error(
            f"needs {min_mw:g} MW of firm IT load but its GPU classes hold only {capacity_mw:g} MW "
            "(raise max_servers or lower min_mw)"
        )
    return Lease(
        name=name,
        site=site,
        gpu_classes=tuple(members),
        min_mw=min_mw,
        max_mw=max_mw,
        sla_penalty_usd_per_mwh=number(
            row,
            "sla_penalty_usd_per_mwh",
            where,
            unit="USD/MWh",
            default=0.0,
            minimum=0.0,
            maximum=limits.MAX_PENALTY_USD_PER_MWH,
        ),
        allow_shortfall=boolean(row, "allow_shortfall", where, default=True),
    )
