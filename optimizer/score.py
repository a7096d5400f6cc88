"""Scenario -> kernel inputs -> scores: the revenue and energy the LP prices, per class and hour.

The kernel (:mod:`kernels.revenue`) takes arrays only; this module lays a :class:`Scenario` out
as those arrays and wraps the results with names.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from kernels.bitcoin import btc_per_th_hour, hashprice_usd_per_ph_day
from kernels.revenue import score_asics, score_gpus
from models import Scenario


@dataclass(frozen=True, eq=False)
class Scores:
    """Kernel results for one scenario.

    Attributes
    ----------
    asic_revenue_usd : numpy.ndarray
        ``R[c, t]``: revenue of ASIC class c in hour t if the whole class runs [USD].
        Own classes earn BTC after the pool fee; hosted classes earn the hosting rate.
    asic_energy_mwh : numpy.ndarray
        ``E[c, t]``: energy of the whole class incl. cooling [MWh] (= MW over the hour).
    gpu_revenue_usd : numpy.ndarray
        ``Rf = Rv [k, t]``: revenue of ONE server of GPU class k in hour t [USD], including the
        energy reimbursed by the tenant under power pass-through.
    gpu_energy_mwh : numpy.ndarray
        ``Eg[k, t]``: energy of one server incl. cooling [MWh].
    usd_per_th_hour : numpy.ndarray
        Mining revenue per TH/s per hour after the pool fee [USD/(TH/s h)].
    hashprice_usd_per_ph_day : numpy.ndarray
        Hashprice per hour (before the pool fee) [USD/(PH/s day)].
    machines : pandas.DataFrame
        Per machine: id, class, horizon revenue [USD], energy [MWh], hours in the money at the
        site's spot price, mean breakeven [USD/MWh] (at nameplate).
    point_class : numpy.ndarray
        int64[P]: class of each operating point beyond the nameplate (docs/model.md §3.7).
    point_revenue_usd, point_energy_mwh : numpy.ndarray
        float64[P, T]: ``R`` and ``E`` of the whole class running at that point.
    operating_points : pandas.DataFrame
        Classes with operating points, one row per point (the nameplate first): class,
        ``point`` (``nameplate`` or ``p1``, ``p2``, ... by increasing power), ``power_kw``,
        ``hashrate_ths``, ``efficiency_j_per_th``, ``mean_breakeven_usd_per_mwh`` (mean of
        ``R/E`` over hours with ``E > 0``) and ``hours_in_money`` (``R > E`` x spot), from the
        class sums; empty when no class has points.
    """

    asic_revenue_usd: np.ndarray
    asic_energy_mwh: np.ndarray
    gpu_revenue_usd: np.ndarray
    gpu_energy_mwh: np.ndarray
    usd_per_th_hour: np.ndarray
    hashprice_usd_per_ph_day: np.ndarray
    machines: pd.DataFrame
    point_class: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    point_revenue_usd: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    point_energy_mwh: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    operating_points: pd.DataFrame = field(default_factory=pd.DataFrame)


def usd_per_th_hour(scenario: Scenario) -> np.ndarray:
    """Mining revenue per TH/s per hour after the pool fee, ``b_t * P_t * (1 - pool_fee)``."""
    m = scenario.market
    return (
        np.asarray(btc_per_th_hour(m.difficulty, m.fees_btc_per_block, m.height), dtype=float)
        * m.btc_price_usd
        * (1.0 - m.pool_fee)
    )


def score_scenario(scenario: Scenario) -> Scores:
    """Run the revenue kernel over every machine and hour of ``scenario``."""
    s = scenario
    usd = usd_per_th_hour(s)
    a = _score_asics(s, usd)
    Rg, Eg = _score_gpus(s)
    return Scores(
        a.R, a.E, Rg, Eg, usd, _hashprice(s), a.machines, a.point_class, a.Rp, a.Ep, a.points
    )


def _hashprice(s: Scenario) -> np.ndarray:
    m = s.market
    return np.asarray(
        hashprice_usd_per_ph_day(m.btc_price_usd, m.difficulty, m.fees_btc_per_block, m.height),
        dtype=float,
    )


@dataclass(frozen=True, eq=False)
class _Asics:
    """The ASIC kernel's results for one scenario (see :class:`Scores`)."""

    R: np.ndarray
    E: np.ndarray
    Rp: np.ndarray
    Ep: np.ndarray
    point_class: np.ndarray
    machines: pd.DataFrame
    points: pd.DataFrame


def _score_asics(s: Scenario, usd: np.ndarray, report: bool = True) -> _Asics:
    """Class and operating-point revenue and energy [C, T], [P, T], and (``report``) the
    per-machine and per-point frames."""
    temp = s.site_matrix("temp_c")
    price = s.site_matrix("price_usd_per_mwh")
    pue0, pue_slope, pue_ref = s.pue_tables()
    f = s.fleet
    point_class = np.array(
        [c for c, cls in enumerate(s.classes) for _ in cls.operating_points], dtype=np.int64
    )
    point_kw, point_ths = (
        np.array([p[i] for cls in s.classes for p in cls.operating_points], dtype=float)
        for i in (0, 1)
    )
    if not len(f):
        empty = np.zeros((0, s.hours))
        Rp = np.zeros((len(point_class), s.hours))
        return _Asics(empty, empty, Rp, Rp, point_class, pd.DataFrame(), pd.DataFrame())
    asic = score_asics(
        usd,
        temp,
        price,
        pue0,
        pue_slope,
        pue_ref,
        f.site,
        f.cooling,
        f.klass,
        f.hashrate_ths,
        f.power_kw,
        f.availability,
        f.alpha_per_c,
        f.beta_per_c,
        f.t_ref_c,
        f.t_max_c,
        f.hosted,
        f.hosting_usd_per_mwh,
        len(s.classes),
        point_class,
        point_ths,
        point_kw,
    )
    R, E = asic.revenue_usd, asic.energy_mwh
    Rp, Ep = asic.point_revenue_usd, asic.point_energy_mwh
    if not report:
        return _Asics(R, E, Rp, Ep, point_class, pd.DataFrame(), pd.DataFrame())
    points = (
        point_table(s, R, E, Rp, Ep, point_class, price) if len(point_class) else pd.DataFrame()
    )
    names = np.array([c.name for c in s.classes], dtype=object)
    machines = pd.DataFrame(
        {
            "machine_id": f.machine_id,
            "site": np.array(s.site_names, dtype=object)[f.site],
            "model": f.model,
            "class": names[f.klass],
            "hosted": f.hosted,
            "efficiency_j_per_th": f.efficiency_j_per_th,
            "revenue_usd": asic.machine_revenue_usd,
            "energy_mwh": asic.machine_energy_mwh,
            "hours_in_money": asic.machine_hours_in_money,
            "mean_breakeven_usd_per_mwh": asic.machine_mean_breakeven_usd_per_mwh,
        }
    )
    for k, v in reversed(f.tags.items()):  # rack, serial, ... next to the model
        machines.insert(3, k if k not in machines else f"tag_{k}", v)
    return _Asics(R, E, Rp, Ep, point_class, machines, points)


def _score_gpus(s: Scenario) -> tuple[np.ndarray, np.ndarray]:
    """Revenue and energy of one server of each GPU class [K, T]."""
    if not s.gpus:
        return np.zeros((0, s.hours)), np.zeros((0, s.hours))
    g = s.gpus
    gpu = score_gpus(
        s.site_matrix("temp_c"),
        s.site_matrix("price_usd_per_mwh"),
        *s.pue_tables(),
        np.array([k.site for k in g], dtype=np.int64),
        np.array([k.cooling for k in g], dtype=np.int64),
        np.array([k.power_kw for k in g]),
        np.array([k.it_kw for k in g]),
        np.array([k.colocation for k in g]),
        np.array([float(k.gpus) for k in g]),
        np.ascontiguousarray(np.stack([k.rate_usd_per_gpu_hour for k in g])),
        np.array([k.utilization for k in g]),
        np.array([k.lease_usd_per_kw_month for k in g]),
        np.array([k.power_pass_through for k in g]),
        np.array([k.beta_per_c for k in g]),
        np.array([k.t_ref_c for k in g]),
        np.array([k.t_max_c for k in g]),
    )
    return gpu.revenue_usd, gpu.energy_mwh


def fleet_key(scenario: Scenario) -> str:
    """Digest of everything the ASIC kernel's energy and TH-hours depend on: the hours, the
    fleet, the classes, temperatures and cooling (not the market, not power prices)."""
    s = scenario
    f = s.fleet
    h = hashlib.sha256()
    h.update(np.asarray(s.index.asi8).tobytes())
    h.update(np.ascontiguousarray(s.site_matrix("temp_c")).tobytes())
    for table in s.pue_tables():
        h.update(np.ascontiguousarray(table, dtype=float).tobytes())
    h.update(repr([(c.name, c.site, c.hosted, c.operating_points) for c in s.classes]).encode())
    if len(f):
        for name in (
            "site",
            "cooling",
            "klass",
            "hashrate_ths",
            "power_kw",
            "availability",
            "alpha_per_c",
            "beta_per_c",
            "t_ref_c",
            "t_max_c",
            "hosted",
            "hosting_usd_per_mwh",
        ):
            h.update(np.ascontiguousarray(getattr(f, name)).tobytes())
    return h.hexdigest()


class KernelCache:
    """One ASIC kernel run reused while only market fields and power prices change.

    Own-ASIC revenue is exactly linear in the hourly USD per TH-hour and energy does not depend
    on the market (docs/model.md §5.8): a run at 1 USD per TH-hour gives every own class's
    TH-hours, and ``R = TH-hours x usd_per_th_hour``; hosted classes earn their rate on their
    energy whatever the market. GPU classes (cheap; their pass-through follows the price) are
    scored afresh. Studies keep one cache per worker. The per-machine frame (``machines``) is
    left empty: it is a report of ``score``, not an LP input.

    Attributes
    ----------
    runs, hits : int
        Kernel runs and reuses so far.
    """

    def __init__(self) -> None:
        self._key: str | None = None
        self._unit: _Asics | None = None
        self.runs = 0
        self.hits = 0

    def scores(self, scenario: Scenario, key: str | None = None) -> Scores:
        """Scores of ``scenario``; ``key``: its :func:`fleet_key` where the caller knows one
        that changes whenever the fleet, hours, temperatures or cooling do (a decision block's
        template key), which saves hashing the fleet."""
        s = scenario
        key = fleet_key(s) if key is None else key
        if key != self._key:
            self._key, self._unit = key, _score_asics(s, np.ones(s.hours), report=False)
            self.runs += 1
        else:
            self.hits += 1
        a = self._unit
        usd = usd_per_th_hour(s)
        hosted = np.array([c.hosted for c in s.classes], dtype=bool)[:, None]
        R = np.where(hosted, a.R, a.R * usd[None, :])
        Rp = a.Rp * usd[None, :]  # operating points: own machines only
        Rg, Eg = _score_gpus(s)
        return Scores(
            R,
            a.E,
            Rg,
            Eg,
            usd,
            _hashprice(s),
            pd.DataFrame(),
            a.point_class,
            Rp,
            a.Ep,
            pd.DataFrame(),
        )


def point_table(
    s: Scenario,
    R: np.ndarray,
    E: np.ndarray,
    Rp: np.ndarray,
    Ep: np.ndarray,
    point_class: np.ndarray,
    price: np.ndarray,
) -> pd.DataFrame:
    """Breakeven and hours in the money of every operating point (see :class:`Scores`)."""
    rows = []
    for c in np.unique(point_class):
        cls = s.classes[c]
        mine = np.flatnonzero(point_class == c)
        members = s.fleet.klass == c
        nameplate = (
            float(s.fleet.power_kw[members].mean()),
            float(s.fleet.hashrate_ths[members].mean()),
        )
        figures = [(nameplate, R[c], E[c], "nameplate")]
        figures += [
            (cls.operating_points[i], Rp[p], Ep[p], f"p{i + 1}") for i, p in enumerate(mine)
        ]
        pi = price[cls.site]
        for (kw, ths), r, e, label in figures:
            on = e > 0
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(on, r / np.where(on, e, 1.0), 0.0)
            rows.append(
                {
                    "class": cls.name,
                    "point": label,
                    "power_kw": kw,
                    "hashrate_ths": ths,
                    "efficiency_j_per_th": kw * 1000.0 / ths,
                    "mean_breakeven_usd_per_mwh": ratio[on].mean() if on.any() else np.nan,
                    "hours_in_money": int((on & (r > e * pi)).sum()),
                }
            )
    return pd.DataFrame(rows)


def score_class_hours(scenario: Scenario, scores: Scores) -> pd.DataFrame:
    """Per class and hour (long form): revenue, energy and margin at spot if the whole class runs.

    GPU classes count all ``max_servers`` servers; capex and conversion costs are not included.
    """
    s = scenario
    price = s.site_matrix("price_usd_per_mwh")
    rows = []
    for c, cls in enumerate(s.classes):
        rows.append(
            (
                cls.name,
                "hosted" if cls.hosted else "asic",
                cls.site,
                scores.asic_revenue_usd[c],
                scores.asic_energy_mwh[c],
            )
        )
    for k, g in enumerate(s.gpus):
        rows.append(
            (
                g.name,
                "gpu",
                g.site,
                scores.gpu_revenue_usd[k] * g.max_servers,
                scores.gpu_energy_mwh[k] * g.max_servers,
            )
        )
    frames = []
    for name, kind, site, revenue, energy in rows:
        frames.append(
            pd.DataFrame(
                {
                    "time": s.index,
                    "class": name,
                    "kind": kind,
                    "site": s.sites[site].name,
                    "revenue_usd": revenue,
                    "energy_mwh": energy,
                    "energy_cost_usd": energy * price[site],
                    "margin_usd": revenue - energy * price[site],
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
