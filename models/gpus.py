"""GPU server classes: identical servers at one site, sold firm (leases) or interruptible."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models import limits
from models.catalog import COOLING_TYPES, GPU_COOLING
from models.fields import Where, boolean, check_keys, integer, number, one_of, text
from models.finance import annuity_usd_per_hour
from models.fleet import catalog_entry, derating
from models.series import resolve_series

GPU_KEYS = (
    "name",
    "site",
    "model",
    "max_servers",
    "power_kw",
    "it_kw",
    "gpus",
    "cooling",
    "pricing",
    "rate_usd_per_gpu_hour",
    "utilization",
    "lease_usd_per_kw_month",
    "power_pass_through",
    "pass_through_price",
    "pass_through_peak",
    "service",
    "capex_usd_per_server",
    "life_years",
    "beta_per_c",
    "t_ref_c",
    "t_max_c",
)


@dataclass(frozen=True, eq=False)
class GpuClass:
    """Identical GPU servers at one site; the LP chooses how many are installed, firm, interruptible.

    Attributes
    ----------
    name, model : str
    site : int
        Site index.
    max_servers : int
        Servers available (installed at most) [-].
    power_kw : float
        Wall power per server [kW].
    it_kw : float
        IT load per server counted against a lease [kW].
    gpus : int
        GPUs per server.
    cooling : int
        Cooling type index into :data:`models.catalog.COOLING_TYPES`.
    colocation : bool
        True: revenue ``lease_usd_per_kw_month * it_kw / 730`` per hour; False: cloud,
        ``gpus * rate * utilization``.
    rate_usd_per_gpu_hour : numpy.ndarray
        Cloud rate per GPU-hour, hourly [USD/GPU-h].
    utilization : float
        Share of GPU-hours sold (cloud) [-].
    lease_usd_per_kw_month : float
        Colocation rent per kW of IT per month [USD/kW-month].
    power_pass_through : bool
        The tenant reimburses the server's energy.
    pass_through_price : str or float
        Price of that reimbursement: ``"spot"`` (the hour's spot price), ``"ppa"`` (the site's
        PPA price) or a fixed number [USD/MWh].
    pass_through_peak : bool
        The tenant also pays the coincident-peak adder on its energy.
    firm, interruptible : bool
        Which services the class may be sold as (firm counts toward leases).
    capex_usd_per_server : float
        Purchase price of an owned server [USD] (0: the tenant's server).
    life_years : float
        Depreciation life [years].
    beta_per_c, t_ref_c, t_max_c : float
        Power derating per C, reference and trip temperatures [1/C, C, C].
    """

    name: str
    site: int
    model: str
    max_servers: int
    power_kw: float
    it_kw: float
    gpus: int
    cooling: int
    colocation: bool
    rate_usd_per_gpu_hour: np.ndarray
    utilization: float
    lease_usd_per_kw_month: float
    power_pass_through: bool
    pass_through_price: str | float
    pass_through_peak: bool
    firm: bool
    interruptible: bool
    capex_usd_per_server: float
    life_years: float
    beta_per_c: float
    t_ref_c: float
    t_max_c: float

    @property
    def capex_usd_per_server_hour(self) -> float:
        """Hourly straight-line capex of one server (discount rate 0) [USD/h]."""
        return annuity_usd_per_hour(self.capex_usd_per_server, 0.0, self.life_years)


def _pass_through_price(row: Mapping[str, Any], where: Where) -> str | float:
    """``"spot"``, ``"ppa"`` or a fixed price [USD/MWh]."""
    value = row.get("pass_through_price", "spot")
    if isinstance(value, str):
        return one_of(value, ("spot", "ppa"), where / "pass_through_price", what="price")
    return number(row, "pass_through_price", where, unit="USD/MWh", minimum=-10_000.0)


def parse_gpu_class(
    row: Mapping[str, Any],
    where: Where,
    site_names: Sequence[str],
    index: pd.DatetimeIndex,
    base_dir: Path,
    seed: int,
) -> GpuClass:
    """Build one :class:`GpuClass` from a ``[[gpus]]`` table."""
    name = text(row, "name", where)
    where = Where(where.file, f"{where.path} '{name}'")
    check_keys(row, GPU_KEYS, where)
    site = site_names.index(
        one_of(text(row, "site", where), site_names, where / "site", what="site")
    )
    model = text(row, "model", where, default="custom")
    cat = catalog_entry(
        model,
        "gpu",
        "power_kw" in row,
        where / "model",
        what="catalog GPU server (or give power_kw, it_kw, gpus)",
    )
    power = number(
        row,
        "power_kw",
        where,
        unit="kW",
        default=cat.power_kw if cat else None,
        minimum=0.0,
        strict_minimum=True,
    )
    lo, hi = limits.GPU_POWER_KW
    if not lo <= power <= hi:
        hint = "W entered as kW?" if power > hi else "a 10 W server is kW entered as W?"
        raise (where / "power_kw").error(
            f"{power:g} kW per server; expected {lo:g}-{hi:g} kW ({hint})"
        )
    it_kw = number(row, "it_kw", where, unit="kW", default=cat.it_kw if cat else power, minimum=0.0)
    if it_kw > power:
        raise (where / "it_kw").error(
            f"IT load {it_kw:g} kW exceeds the server's wall power power_kw = {power:g} kW; "
            "expected it_kw <= power_kw"
        )
    pricing = text(row, "pricing", where, choices=("cloud", "colocation"))
    service = text(
        row,
        "service",
        where,
        default="firm" if pricing == "colocation" else "interruptible",
        choices=("firm", "interruptible", "both"),
    )
    cooling = text(
        row, "cooling", where, default=cat.cooling if cat else "liquid", choices=GPU_COOLING
    )
    der = derating(row, where, cooling)
    capex = number(
        row,
        "capex_usd_per_server",
        where,
        unit="USD",
        default=0.0,
        minimum=0.0,
        maximum=limits.MAX_CAPEX_USD_PER_SERVER,
    )
    rate = resolve_series(
        row.get("rate_usd_per_gpu_hour", 0.0),
        where / "rate_usd_per_gpu_hour",
        index,
        base_dir=base_dir,
        seed=seed,
        unit="USD/GPU-h",
        minimum=0.0,
        maximum=limits.MAX_RATE_USD_PER_GPU_HOUR,
    )
    if pricing == "cloud" and "rate_usd_per_gpu_hour" not in row:
        raise where.error("missing required field 'rate_usd_per_gpu_hour' for pricing = 'cloud'")
    if pricing == "colocation" and "lease_usd_per_kw_month" not in row:
        raise where.error(
            "missing required field 'lease_usd_per_kw_month' for pricing = 'colocation'"
        )
    return GpuClass(
        name=name,
        site=site,
        model=model,
        max_servers=integer(row, "max_servers", where, maximum=limits.MAX_GPU_SERVERS),
        power_kw=power,
        it_kw=it_kw,
        gpus=integer(
            row,
            "gpus",
            where,
            default=cat.gpus if cat else 8,
            minimum=1,
            maximum=limits.MAX_GPUS_PER_SERVER,
        ),
        cooling=COOLING_TYPES.index(cooling),
        colocation=pricing == "colocation",
        rate_usd_per_gpu_hour=rate,
        utilization=number(row, "utilization", where, default=1.0, minimum=0.0, maximum=1.0),
        lease_usd_per_kw_month=number(
            row,
            "lease_usd_per_kw_month",
            where,
            unit="USD/kW-month",
            default=0.0,
            minimum=0.0,
            maximum=limits.MAX_LEASE_USD_PER_KW_MONTH,
        ),
        power_pass_through=boolean(row, "power_pass_through", where, default=False),
        pass_through_price=_pass_through_price(row, where),
        pass_through_peak=boolean(row, "pass_through_peak", where, default=True),
        firm=service in ("firm", "both"),
        interruptible=service in ("interruptible", "both"),
        capex_usd_per_server=capex,
        life_years=number(
            row,
            "life_years",
            where,
            unit="years",
            default=5.0,
            minimum=limits.LIFE_YEARS[0],
            maximum=limits.LIFE_YEARS[1],
        ),
        beta_per_c=der["beta_per_c"],
        t_ref_c=der["t_ref_c"],
        t_max_c=der["t_max_c"],
    )
