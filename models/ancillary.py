"""Ancillary services (AS) offered by curtailable load: ERCOT RRS, ECRS, NSRS, REGUP, REGDN.

An ``[[ancillary]]`` row offers one product at one site, hour by hour, from load the site can
drop (own ASICs, interruptible GPU servers) or, for regulation down, raise. The LP reserves MW
per offer and hour, earns the clearing price per MW reserved, and pays the expected cost of
deployments (docs/model.md §5.4.14).

Price series are the usual series specs (number, file, synthetic). A file may be in the long
form gridstatus users have: one row per hour and product, with a ``product`` (or ``market``,
``ancillary_type``, ``as_type``) column naming the product as ERCOT does (``ECRS``,
``ERCOT Contingency Reserve Service``, ``Regulation Up``, ...); the rows of the offer's
product are read. ``{ synthetic = "ercot_as_price" }`` defaults its mean to the product's
2024 level (:data:`AS_PRICE_MEAN_USD_PER_MW_HOUR`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models import limits
from models.fields import Where, check_keys, number, one_of, text
from models.series import resolve_series

#: ERCOT ancillary products; REGDN is the only one served by *raising* load.
PRODUCTS = ("RRS", "ECRS", "NSRS", "REGUP", "REGDN")
DOWN_PRODUCTS = ("REGDN",)
#: Load that may provide AS: own ASICs, interruptible GPU servers.
SOURCES = ("asics", "gpus")
ANCILLARY_KEYS = (
    "name",
    "site",
    "product",
    "price_usd_per_mw_hour",
    "max_mw",
    "deployment_share",
    "sources",
)
#: Default annual mean of each product's synthetic price [USD/MW-h]: ECRS averaged $9.62/MW-h
#: in 2024 ($76.77 in 2023, its first half year) per the ERCOT Independent Market Monitor
#: (Potomac Economics, 2024 State of the Market); the others are set at the same order of
#: magnitude (all products' monthly means fell below $2/MW-h late in 2024). Illustrations:
#: give the year's real prices (a file) for decisions.
AS_PRICE_MEAN_USD_PER_MW_HOUR = {
    "RRS": 5.0,
    "ECRS": 9.62,
    "NSRS": 6.0,
    "REGUP": 6.0,
    "REGDN": 3.0,
}
#: Column names of the product in long-form price files.
PRODUCT_COLUMNS = ("product", "market", "ancillary_type", "as_type")
#: Names of each product in price files (compared upper-case, letters and digits only).
PRODUCT_ALIASES = {
    "RRS": ("RRS", "RESPONSIVE RESERVES", "RESPONSIVE RESERVE", "RESPONSIVE RESERVE SERVICE"),
    "ECRS": ("ECRS", "ERCOT CONTINGENCY RESERVE SERVICE", "CONTINGENCY RESERVE SERVICE"),
    "NSRS": ("NSRS", "NSPIN", "NON-SPIN", "NON-SPINNING RESERVES", "NON-SPINNING RESERVE"),
    "REGUP": ("REGUP", "REG UP", "REGULATION UP"),
    "REGDN": ("REGDN", "REG DN", "REG DOWN", "REGDOWN", "REGULATION DOWN"),
}


def _key(name: Any) -> str:
    return re.sub(r"[^A-Z0-9]", "", str(name).upper())


@dataclass(frozen=True, eq=False)
class AncillaryOffer:
    """One AS offer: a product at a site, from the load named by ``asics``/``gpus``.

    Attributes
    ----------
    name : str
        ``site:product`` unless given.
    site : int
        Site index.
    product : str
        One of :data:`PRODUCTS`.
    price_usd_per_mw_hour : numpy.ndarray
        Clearing price per MW reserved for an hour [USD/MW-h], float64[T].
    max_mw : float
        Most MW offered in any hour [MW] (inf: no limit but the load).
    deployment_share : float
        Expected share of the reserved MW-hours actually deployed [-].
    asics, gpus : bool
        Own ASICs / interruptible GPU servers may provide it.
    """

    name: str
    site: int
    product: str
    price_usd_per_mw_hour: np.ndarray
    max_mw: float
    deployment_share: float
    asics: bool
    gpus: bool

    @property
    def down(self) -> bool:
        """Served by raising load (regulation down)."""
        return self.product in DOWN_PRODUCTS


def _price_spec(spec: Any, product: str) -> Any:
    """Fill the product's default mean and its own random stream into an ``ercot_as_price``."""
    if isinstance(spec, Mapping) and spec.get("synthetic") == "ercot_as_price":
        spec = dict(spec)
        spec.setdefault("mean_usd_per_mw_hour", AS_PRICE_MEAN_USD_PER_MW_HOUR[product])
        spec.setdefault("stream", float(PRODUCTS.index(product)))
    return spec


def product_rows(product: str):
    """Row picker for long-form price files: the rows naming ``product`` (if such a column)."""
    names = {_key(a) for a in PRODUCT_ALIASES[product]}

    def pick(frame: pd.DataFrame, where: Where) -> pd.DataFrame:
        cols = [c for c in frame.columns if str(c).lower() in PRODUCT_COLUMNS]
        if not cols:
            return frame
        col = cols[0]
        keep = frame[col].map(_key).isin(names).to_numpy()
        if not keep.any():
            found = ", ".join(sorted({str(v) for v in frame[col].unique()})[:8])
            raise where.error(
                f"no rows of product {product} in column '{col}' (found: {found}); expected "
                f"one of {', '.join(PRODUCT_ALIASES[product])}"
            )
        return frame.loc[keep].drop(columns=[col])

    return pick


def parse_ancillary(
    row: Mapping[str, Any],
    where: Where,
    site_names: Sequence[str],
    index: pd.DatetimeIndex,
    base_dir: Path,
    seed: int,
) -> AncillaryOffer:
    """Build an :class:`AncillaryOffer` from an ``[[ancillary]]`` table."""
    check_keys(row, ANCILLARY_KEYS, where)
    site_name = one_of(text(row, "site", where), site_names, where / "site", what="site")
    product = text(row, "product", where)
    one_of(product, PRODUCTS, where / "product", what="ancillary product")
    if "price_usd_per_mw_hour" not in row:
        raise where.error("missing required field 'price_usd_per_mw_hour' [USD/MW-h]")
    price = resolve_series(
        _price_spec(row["price_usd_per_mw_hour"], product),
        where / "price_usd_per_mw_hour",
        index,
        base_dir=base_dir,
        seed=seed,
        unit="USD/MW-h",
        minimum=0.0,
        maximum=limits.MAX_PRICE_USD_PER_MWH,
        rows=product_rows(product),
    )
    sources = row.get("sources", ["asics"])
    if isinstance(sources, str):
        sources = [sources]
    if not isinstance(sources, list) or not sources:
        raise (where / "sources").error(
            f"expected a non-empty list of {' and '.join(SOURCES)}, got {sources!r}"
        )
    for s in sources:
        if not isinstance(s, str):
            raise (where / "sources").error(f"expected names, got {s!r}")
        one_of(s, SOURCES, where / "sources", what="source")
    return AncillaryOffer(
        name=text(row, "name", where, default=f"{site_name}:{product}"),
        site=list(site_names).index(site_name),
        product=product,
        price_usd_per_mw_hour=price,
        max_mw=number(
            row,
            "max_mw",
            where,
            unit="MW",
            default=float("inf"),
            minimum=0.0,
            maximum=limits.MAX_SITE_MW,
        ),
        deployment_share=number(
            row, "deployment_share", where, default=0.0, minimum=0.0, maximum=1.0
        ),
        asics="asics" in sources,
        gpus="gpus" in sources,
    )
