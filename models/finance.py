"""Cost of capital: the ``[finance]`` table and the capital recovery factor.

Capex (hall conversion, owned GPU servers) is charged as an annuity over its life: the level
yearly payment whose present value at the discount rate is the capex,
``capex * CRF(r, N)`` [USD/year], ``CRF = r / (1 - (1 + r)^-N)`` (``1 / N`` at ``r = 0``, the
straight-line charge). Per hour of the horizon: ``capex * CRF / 8760`` [USD/h].

References
----------
R. A. Brealey, S. C. Myers and F. Allen, "Principles of Corporate Finance", ch. 2 (annuities);
NREL, "Simple Levelized Cost of Energy" (capital recovery factor).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from models.fields import Where, check_keys, number

HOURS_PER_YEAR = 8760.0
FINANCE_KEYS = ("discount_rate",)


@dataclass(frozen=True)
class Finance:
    """Cost of capital.

    Attributes
    ----------
    discount_rate : float
        Yearly discount rate ``r`` (e.g. a WACC of 0.10) [1/year]; 0: straight-line capex.
    """

    discount_rate: float = 0.0


def capital_recovery_factor(rate: float, life_years: float) -> float:
    """``CRF(r, N) = r / (1 - (1 + r)^-N)`` [1/year]; ``1 / N`` at ``r = 0``.

    Parameters
    ----------
    rate : float
        Discount rate per year [-].
    life_years : float
        Life of the asset [years], > 0.
    """
    if rate == 0.0:
        return 1.0 / life_years
    return rate / (1.0 - (1.0 + rate) ** -life_years)


def annuity_usd_per_hour(capex_usd: float, rate: float, life_years: float) -> float:
    """Hourly charge of a capex paid back as an annuity: ``capex * CRF / 8760`` [USD/h]."""
    return capex_usd * capital_recovery_factor(rate, life_years) / HOURS_PER_YEAR


def parse_finance(table: Mapping[str, Any], where: Where) -> Finance:
    """Build :class:`Finance` from the optional ``[finance]`` table."""
    check_keys(table, FINANCE_KEYS, where)
    return Finance(
        discount_rate=number(
            table, "discount_rate", where, unit="1/year", default=0.0, minimum=0.0, maximum=1.0
        )
    )
