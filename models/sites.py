"""Sites: grid connection, halls, cooling, local prices, weather, curtailment and peak windows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models import limits
from models.catalog import COOLING_TYPES, PUE, CoolingPue
from models.fields import Where, check_keys, number, one_of, text
from models.finance import annuity_usd_per_hour
from models.limits import MAX_SITE_MW
from models.series import resolve_series

SITE_KEYS = (
    "name",
    "interconnect_mw",
    "mining_hall_mw",
    "convertible_mw",
    "conversion_usd_per_mw",
    "conversion_life_years",
    "existing_hpc_mw",
    "price_usd_per_mwh",
    "price_scale",
    "price_limit_usd_per_mwh",
    "temp_c",
    "curtailment_mw",
    "peak_flag",
    "peak_adder_usd_per_mwh",
    "peak_charge_usd_per_kw_year",
    "peak_probability",
    "ramp_mw_per_hour",
    "min_take_mwh_per_month",
    "shortfall_usd_per_mwh",
    "cooling",
)


@dataclass(frozen=True, eq=False)
class Site:
    """One site (all hourly arrays have one value per hour of the horizon).

    Attributes
    ----------
    name : str
    interconnect_mw : float
        Import limit of the grid connection [MW].
    mining_hall_mw : float
        Mining hall capacity before any conversion, including cooling [MW].
    convertible_mw : float
        Mining hall MW that may be converted to HPC halls [MW].
    conversion_usd_per_mw : float
        Capex of converting one MW of hall (wall power incl. cooling, not IT) to HPC [USD/MW].
    conversion_life_years : float
        Amortization life of the conversion [years].
    existing_hpc_mw : float
        HPC hall capacity already built [MW].
    price_usd_per_mwh : numpy.ndarray
        Spot price at the site's node, after ``price_scale`` [USD/MWh]; may be negative.
    temp_c : numpy.ndarray
        Ambient temperature [C].
    curtailment_mw : numpy.ndarray
        Curtailment orders: MW the import limit is reduced by in each hour [MW].
    peak_flag : numpy.ndarray
        1 in coincident-peak (4CP/12CP) risk hours, else 0 [-].
    peak_adder_usd_per_mwh : float
        Expected transmission charge per MWh drawn in a flagged hour [USD/MWh] (0 when the
        adder comes from a tariff).
    ramp_mw_per_hour : float or None
        Largest change of site load from one hour to the next [MW/h]; None: no limit.
    min_take_mwh_per_month : float
        Monthly minimum energy take of the supply contract [MWh]; 0: none.
    shortfall_usd_per_mwh : float
        Price of each MWh below the monthly minimum take [USD/MWh].
    cooling : dict[str, CoolingPue]
        PUE parameters per cooling type.
    peak_charge_usd_per_kw_year : float
        4CP transmission tariff [USD per kW-year] (0: none; docs/model.md §5.4.13).
    peak_adder_hourly : numpy.ndarray or None
        ``kappa[t]`` derived from the tariff [USD/MWh]; None when the adder is
        ``peak_flag * peak_adder_usd_per_mwh``.
    """

    name: str
    interconnect_mw: float
    mining_hall_mw: float
    convertible_mw: float
    conversion_usd_per_mw: float
    conversion_life_years: float
    existing_hpc_mw: float
    price_usd_per_mwh: np.ndarray
    temp_c: np.ndarray
    curtailment_mw: np.ndarray
    peak_flag: np.ndarray
    peak_adder_usd_per_mwh: float
    ramp_mw_per_hour: float | None
    min_take_mwh_per_month: float
    shortfall_usd_per_mwh: float
    cooling: Mapping[str, CoolingPue]
    peak_charge_usd_per_kw_year: float = 0.0
    peak_adder_hourly: np.ndarray | None = None

    @property
    def import_cap_mw(self) -> np.ndarray:
        """Hourly import limit: interconnect minus curtailment orders, floored at 0 [MW]."""
        return np.maximum(self.interconnect_mw - self.curtailment_mw, 0.0)

    @property
    def conversion_usd_per_mw_hour(self) -> float:
        """Conversion capex spread evenly over its life (discount rate 0) [USD per MW per hour]."""
        return annuity_usd_per_hour(self.conversion_usd_per_mw, 0.0, self.conversion_life_years)

    @property
    def peak_adder(self) -> np.ndarray:
        """Coincident-peak adder per hour, ``kappa[t]`` [USD/MWh]."""
        if self.peak_adder_hourly is not None:
            return self.peak_adder_hourly
        return self.peak_flag * self.peak_adder_usd_per_mwh


#: Months of the ERCOT 4CP intervals (June-September).
PEAK_MONTHS = (6, 7, 8, 9)


def tariff_peak_adder(
    index: pd.DatetimeIndex,
    charge_usd_per_kw_year: float,
    flags: np.ndarray | None = None,
    probability: np.ndarray | None = None,
) -> np.ndarray:
    """The 4CP adder ``kappa[t]`` [USD/MWh] that reproduces a transmission tariff.

    ERCOT allocates transmission cost by a customer's mean load in the four June-September
    coincident-peak intervals, one per month: a load of P [kW] in all four pays
    ``rate x P`` [USD/year], a quarter per month. From flagged risk hours (``peak_flag``, 0-1),
    each of the ``F[mu]`` flagged hours of a June-September month ``mu`` carries a quarter
    of the charge spread evenly::

        kappa[t] = rate x 1000 / (4 x F[mu]) x flag[t]             [USD/MWh]

    so a load flat at P MW through the flagged hours pays ``rate x 1000 x P`` per year. From a
    ``peak_probability`` series (the chance that hour t holds its month's peak, summing to at
    most 1 per month), ``kappa[t] = rate x 1000 / 4 x p[t]``: the expected charge. Months are
    UTC calendar months; flags outside June-September, and months without flags, carry no
    charge; a month only partly inside the horizon charges its quarter on the flagged hours it
    holds.

    Parameters
    ----------
    index : pandas.DatetimeIndex
        The horizon (hourly UTC).
    charge_usd_per_kw_year : float
        Tariff [USD per kW-year].
    flags, probability : float64[T], optional
        Exactly one: risk-hour flags [0-1] or peak probabilities [0-1].

    Returns
    -------
    numpy.ndarray
        float64[T] [USD/MWh].

    References
    ----------
    Public Utility Commission of Texas, 16 TAC §25.192 (4CP transmission cost allocation).
    """
    quarter = charge_usd_per_kw_year * 1000.0 / 4.0
    summer = np.isin(index.month, PEAK_MONTHS)
    if probability is not None:
        return np.where(summer, quarter * probability, 0.0)
    weights = np.where(summer, flags, 0.0)
    months = np.asarray(index.year * 12 + index.month, dtype=np.int64)
    month = np.unique(months, return_inverse=True)[1]
    per_month = np.bincount(month, weights=weights)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(weights > 0, quarter * weights / per_month[month], 0.0)


def parse_site(
    table: Mapping[str, Any],
    where: Where,
    index: pd.DatetimeIndex,
    base_dir: Path,
    seed: int,
) -> Site:
    """Build one :class:`Site` from a ``[[sites]]`` table."""
    name = text(table, "name", where)
    where = Where(where.file, f"{where.path} '{name}'")
    check_keys(table, SITE_KEYS, where)

    def series(key, unit, default=None, minimum=None, maximum=None):
        spec = table.get(key, default)
        if spec is None:
            raise where.error(f"missing required field '{key}' [{unit}]")
        return resolve_series(
            spec,
            where / key,
            index,
            base_dir=base_dir,
            seed=seed,
            unit=unit,
            minimum=minimum,
            maximum=maximum,
        )

    interconnect = number(table, "interconnect_mw", where, unit="MW", minimum=0.0)
    hall = number(table, "mining_hall_mw", where, unit="MW", default=interconnect, minimum=0.0)
    for key, mw in (("interconnect_mw", interconnect), ("mining_hall_mw", hall)):
        if mw > MAX_SITE_MW:
            raise (where / key).error(
                f"{mw:,.0f} MW is more than any single site draws (> {MAX_SITE_MW:,.0f} MW): kW entered as MW?"
            )
    convertible = number(table, "convertible_mw", where, unit="MW", default=0.0, minimum=0.0)
    if convertible > hall:
        raise (where / "convertible_mw").error(
            f"{convertible:g} MW convertible exceeds the mining hall ({hall:g} MW)"
        )
    price_limit = number(
        table,
        "price_limit_usd_per_mwh",
        where,
        unit="USD/MWh",
        default=limits.MAX_PRICE_USD_PER_MWH,
        minimum=limits.MAX_PRICE_USD_PER_MWH,
        maximum=limits.MAX_PRICE_LIMIT_USD_PER_MWH,
    )
    scale = number(table, "price_scale", where, default=1.0, minimum=0.0, maximum=100.0)
    # bounds apply to the scaled price: the LP sees price * scale
    lo, hi = limits.MIN_PRICE_USD_PER_MWH / max(scale, 1e-12), price_limit / max(scale, 1e-12)
    price = series("price_usd_per_mwh", "USD/MWh", minimum=lo, maximum=hi) * scale
    price.flags.writeable = False
    temp = series("temp_c", "C", minimum=-60.0, maximum=60.0)
    curtail = series("curtailment_mw", "MW", default=0.0, minimum=0.0, maximum=MAX_SITE_MW)
    flags = series("peak_flag", "0/1", default=0.0, minimum=0.0, maximum=1.0)
    ramp = number(
        table,
        "ramp_mw_per_hour",
        where,
        unit="MW/h",
        default=None,
        minimum=0.0,
        maximum=MAX_SITE_MW,
        strict_minimum=True,
    )
    existing_hpc = number(table, "existing_hpc_mw", where, unit="MW", default=0.0, minimum=0.0)
    # halls beyond the grid connection are possible (they then run part-loaded), 10x is a slip
    if existing_hpc > min(MAX_SITE_MW, 10.0 * max(interconnect, hall)):
        raise (where / "existing_hpc_mw").error(
            f"{existing_hpc:,.6g} MW of existing HPC halls on a site of {interconnect:g} MW "
            f"interconnect: kW entered as MW? (expected <= {MAX_SITE_MW:g} MW and <= 10x the "
            "interconnect)"
        )

    cooling_table = table.get("cooling", {})
    if not isinstance(cooling_table, Mapping):
        raise (where / "cooling").error("expected a table of cooling types")
    cooling = dict(PUE)
    for ctype, params in cooling_table.items():
        cw = where / "cooling" / ctype
        one_of(ctype, COOLING_TYPES, cw, what="cooling type")
        if not isinstance(params, Mapping):
            raise cw.error("expected a table with pue0, pue_slope, pue_ref_c")
        check_keys(params, ("pue0", "pue_slope", "pue_ref_c"), cw)
        base = PUE[ctype]
        cooling[ctype] = CoolingPue(
            pue0=number(params, "pue0", cw, default=base.pue0, minimum=1.0, maximum=3.0),
            pue_slope=number(
                params, "pue_slope", cw, unit="1/C", default=base.pue_slope, minimum=0.0, maximum=1
            ),
            pue_ref_c=number(
                params, "pue_ref_c", cw, unit="C", default=base.pue_ref_c, minimum=-60, maximum=60
            ),
        )
    charge, kappa = _peak_tariff(table, where, index, series)
    return Site(
        name=name,
        interconnect_mw=interconnect,
        mining_hall_mw=hall,
        convertible_mw=convertible,
        conversion_usd_per_mw=number(
            table,
            "conversion_usd_per_mw",
            where,
            unit="USD/MW",
            default=0.0,
            minimum=0.0,
            maximum=limits.MAX_CAPEX_USD_PER_MW,
        ),
        conversion_life_years=number(
            table,
            "conversion_life_years",
            where,
            unit="years",
            default=10.0,
            minimum=limits.LIFE_YEARS[0],
            maximum=limits.LIFE_YEARS[1],
        ),
        existing_hpc_mw=existing_hpc,
        price_usd_per_mwh=price,
        temp_c=temp,
        curtailment_mw=curtail,
        peak_flag=flags,
        peak_adder_usd_per_mwh=number(
            table,
            "peak_adder_usd_per_mwh",
            where,
            unit="USD/MWh",
            default=0.0,
            minimum=0.0,
            maximum=limits.MAX_PRICE_USD_PER_MWH,
        ),
        ramp_mw_per_hour=ramp,
        min_take_mwh_per_month=number(
            table,
            "min_take_mwh_per_month",
            where,
            unit="MWh",
            default=0.0,
            minimum=0.0,
            maximum=limits.MAX_MWH_PER_MONTH,
        ),
        shortfall_usd_per_mwh=number(
            table,
            "shortfall_usd_per_mwh",
            where,
            unit="USD/MWh",
            default=0.0,
            minimum=0.0,
            maximum=limits.MAX_PENALTY_USD_PER_MWH,
        ),
        cooling=cooling,
        peak_charge_usd_per_kw_year=charge,
        peak_adder_hourly=kappa,
    )


def _peak_tariff(table, where: Where, index: pd.DatetimeIndex, series) -> tuple[float, Any]:
    """``peak_charge_usd_per_kw_year`` and the adder it implies (None without a tariff)."""
    charge = number(
        table,
        "peak_charge_usd_per_kw_year",
        where,
        unit="USD/kW-year",
        default=0.0,
        minimum=0.0,
        maximum=limits.MAX_PEAK_CHARGE_USD_PER_KW_YEAR,
    )
    has_probability = "peak_probability" in table
    if "peak_charge_usd_per_kw_year" not in table:
        if has_probability:
            raise (where / "peak_probability").error(
                "needs peak_charge_usd_per_kw_year (the tariff it spreads) [USD/kW-year]"
            )
        return charge, None
    if "peak_adder_usd_per_mwh" in table:
        raise (where / "peak_adder_usd_per_mwh").error(
            "give either peak_adder_usd_per_mwh or peak_charge_usd_per_kw_year (the adder is "
            "derived from the tariff), not both"
        )
    if not has_probability:
        flags = series("peak_flag", "0/1", default=0.0, minimum=0.0, maximum=1.0)
        kappa = tariff_peak_adder(index, charge, flags=flags)
    else:
        if "peak_flag" in table:
            raise (where / "peak_probability").error(
                "give either peak_flag or peak_probability with a tariff, not both"
            )
        prob = series("peak_probability", "probability", minimum=0.0, maximum=1.0)
        months = pd.Series(prob, index=index).groupby([index.year, index.month]).sum()
        if (months > 1.0 + 1e-6).any():
            (year, month), total = months.idxmax(), months.max()
            raise (where / "peak_probability").error(
                f"the probabilities of {year}-{month:02d} add up to {total:.6g}; expected at "
                "most 1 (the chance that each hour holds the month's one coincident peak)"
            )
        kappa = tariff_peak_adder(index, charge, probability=prob)
    kappa.flags.writeable = False
    return charge, kappa
