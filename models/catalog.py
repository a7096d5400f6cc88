"""The machine catalog shipped with hashpivot (``models/data/machines.csv``).

Each row is one model with its nameplate figures and the source they were taken from. Scenario
files may name a catalog model (``model = "S21 XP"``) or give explicit figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import pandas as pd

#: Cooling types by machine kind. ASICs: air-cooled containers/halls, hydro (water-cooled) and
#: immersion; GPU servers: direct liquid cooling or an air-cooled hall with chillers.
ASIC_COOLING = ("air", "hydro", "immersion")
GPU_COOLING = ("liquid", "air_hall")
COOLING_TYPES = ASIC_COOLING + GPU_COOLING


@dataclass(frozen=True)
class Derating:
    """Ambient derating of one cooling type (defaults; a scenario may override per machine row).

    Attributes
    ----------
    alpha_per_c : float
        Hashrate lost per degree C above ``t_ref_c`` [1/C].
    beta_per_c : float
        Extra power drawn per degree C above ``t_ref_c`` (fans, pumps, leakage) [1/C].
    t_ref_c : float
        Ambient temperature up to which the machine runs at nameplate [C].
    t_max_c : float
        Ambient temperature above which the machine trips (0 hashrate, 0 power) [C].
    """

    alpha_per_c: float
    beta_per_c: float
    t_ref_c: float
    t_max_c: float


@dataclass(frozen=True)
class CoolingPue:
    """Site power usage effectiveness of one cooling type: ``pue0 + pue_slope * max(0, T - pue_ref_c)``."""

    pue0: float
    pue_slope: float
    pue_ref_c: float


#: Default derating per cooling type. Air-cooled ASICs lose ~0.5%/C of hashrate above 25 C and
#: trip near 45 C inlet; water-cooled units hold nameplate to ~35 C.
DERATING = {
    "air": Derating(alpha_per_c=0.005, beta_per_c=0.002, t_ref_c=25.0, t_max_c=45.0),
    "hydro": Derating(alpha_per_c=0.004, beta_per_c=0.001, t_ref_c=35.0, t_max_c=50.0),
    "immersion": Derating(alpha_per_c=0.004, beta_per_c=0.001, t_ref_c=35.0, t_max_c=50.0),
    "liquid": Derating(alpha_per_c=0.0, beta_per_c=0.002, t_ref_c=30.0, t_max_c=46.0),
    "air_hall": Derating(alpha_per_c=0.0, beta_per_c=0.003, t_ref_c=27.0, t_max_c=43.0),
}

#: Default PUE per cooling type (a site may override): fans only for air containers, dry coolers
#: for hydro/immersion, CDUs for liquid GPU halls, chillers for air-cooled GPU halls.
PUE = {
    "air": CoolingPue(pue0=1.03, pue_slope=0.003, pue_ref_c=25.0),
    "hydro": CoolingPue(pue0=1.02, pue_slope=0.002, pue_ref_c=30.0),
    "immersion": CoolingPue(pue0=1.03, pue_slope=0.002, pue_ref_c=30.0),
    "liquid": CoolingPue(pue0=1.12, pue_slope=0.004, pue_ref_c=25.0),
    "air_hall": CoolingPue(pue0=1.30, pue_slope=0.010, pue_ref_c=20.0),
}


@dataclass(frozen=True)
class CatalogModel:
    """One catalog row.

    Attributes
    ----------
    model : str
        Model name as scenario files spell it (``"S21 XP"``, ``"H100 x8"``).
    kind : str
        ``"asic"`` or ``"gpu"``.
    hashrate_ths : float
        Nameplate hashrate [TH/s] (0 for GPU servers).
    power_kw : float
        Nameplate wall power [kW].
    gpus : int
        GPUs per server (0 for ASICs).
    it_kw : float
        IT load counted against an HPC lease [kW] (0 for ASICs).
    cooling : str
        Default cooling type.
    source : str
        Where the figures come from.
    operating_points : tuple[tuple[float, float], ...]
        Firmware presets beyond the nameplate, ``(power_kw, hashrate_ths)`` each (ASICs;
        empty when the catalog lists none). A fleet row uses them with
        ``operating_points = "catalog"``.
    """

    model: str
    kind: str
    hashrate_ths: float
    power_kw: float
    gpus: int
    it_kw: float
    cooling: str
    source: str
    operating_points: tuple[tuple[float, float], ...] = ()

    @property
    def efficiency_j_per_th(self) -> float:
        """Nameplate efficiency [J/TH] = W / (TH/s)."""
        return self.power_kw * 1000.0 / self.hashrate_ths


@cache
def catalog() -> dict[str, CatalogModel]:
    """The shipped catalog, keyed by model name."""
    with resources.files("models").joinpath("data/machines.csv").open() as fh:
        frame = pd.read_csv(fh)
    return {
        row.model: CatalogModel(
            model=row.model,
            kind=row.kind,
            hashrate_ths=float(row.hashrate_ths),
            power_kw=float(row.power_kw),
            gpus=int(row.gpus),
            it_kw=float(row.it_kw),
            cooling=row.cooling,
            source=row.source,
            operating_points=_points(row.operating_points),
        )
        for row in frame.itertuples(index=False)
    }


def _points(text: object) -> tuple[tuple[float, float], ...]:
    """``"2.9:230;2.3:195"`` (power_kw:hashrate_ths pairs) -> ``((2.9, 230.0), (2.3, 195.0))``."""
    if not isinstance(text, str) or not text.strip():
        return ()
    pairs = (item.split(":") for item in text.split(";"))
    return tuple((float(kw), float(ths)) for kw, ths in pairs)


def models_of_kind(kind: str) -> list[str]:
    """Catalog model names of one kind (``"asic"`` or ``"gpu"``)."""
    return [name for name, m in catalog().items() if m.kind == kind]
