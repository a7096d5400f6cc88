"""Why an LP is infeasible, in the user's terms: family, site, hours and the fix.

Each check tests one *necessary* condition for feasibility with a few vectorized passes over the
parameters, so a message it gives is always a true cause. They run only after a solver has
reported the LP infeasible; when none applies, an irreducible infeasible subsystem (HiGHS) is
named by constraint family, and failing that a generic message lists the families that can
conflict.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from models.series import fmt_time
from optimizer.lp.data import LpData
from optimizer.lp.model import Lp

#: Slack allowed before a check calls a requirement unmet [MW or h].
TOL = 1e-6

_FAMILY_TEXT = {
    "load": "site load",
    "energy_balance": "energy balance",
    "import": "import limit (row 2)",
    "mining_hall": "mining halls (row 3)",
    "hpc_hall": "HPC halls (row 4)",
    "servers": "GPU servers",
    "lease": "lease min/max (row 5)",
    "uptime": "hosted uptime (row 6)",
    "min_take": "monthly minimum take (row 7)",
    "ramp": "ramp limits (row 8)",
    "shortfall": "firm shortfall (row 9)",
    # rows that a zero reservation or the nameplate always satisfies on their own; they show
    # up in an IIS only beside the limit they repeat (docs/model.md §5.4.14-15)
    "operating_mix": "operating points (one mix per class and hour)",
    "ancillary_up": "ancillary reserve within the droppable load",
    "ancillary_down": "REGDN within the machines' headroom",
    "ancillary_offer": "ancillary offer max_mw",
    "regdn_import": "import limit (row 2) with REGDN headroom",
    "regdn_mining_hall": "mining halls (row 3) with REGDN headroom",
    "regdn_hpc_hall": "HPC halls (row 4) with REGDN headroom",
}


def firm_need_mw(d: LpData) -> tuple[np.ndarray, np.ndarray]:
    """Least firm wall load each lease forces, per lease and site, hour by hour.

    A lease of ``min_mw`` IT MW served by its cheapest-to-cool class needs at least
    ``min_mw * min_k(Eg[k,t] / Eg_it[k])`` MW at the wall.

    Returns
    -------
    per_lease : float64[L, T]
        [MW], 0 for leases without a minimum.
    per_site : float64[S, T]
        Sum over the site's leases, or their maximum where leases share GPU classes [MW].
    """
    T, S = d.hours, d.n_sites
    per_lease = np.zeros((len(d.lease_names), T))
    for i, members in enumerate(d.lease_members):
        m = members[d.gpu_it_mw[members] > 0]
        if d.lease_min_mw[i] <= 0 or len(m) == 0:
            continue
        ratio = d.gpu_energy_mwh[m] / d.gpu_it_mw[m, None]
        per_lease[i] = d.lease_min_mw[i] * ratio.min(axis=0)
    per_site = np.zeros((S, T))
    for s in range(S):
        leases = np.flatnonzero(d.lease_site == s)
        if len(leases) == 0:
            continue
        members = np.concatenate([d.lease_members[i] for i in leases])
        shared = len(np.unique(members)) < len(members)
        part = per_lease[leases]
        per_site[s] = part.max(axis=0) if shared else part.sum(axis=0)
    return per_lease, per_site


def _leases_text(d: LpData, s: int, per_lease: np.ndarray, t: int) -> str:
    leases = [i for i in np.flatnonzero(d.lease_site == s) if d.lease_min_mw[i] > 0]
    names = ", ".join(f"'{d.lease_names[i]}'" for i in leases)
    it_mw = sum(d.lease_min_mw[i] for i in leases)
    wall_mw = sum(per_lease[i, t] for i in leases)
    word = "lease" if len(leases) == 1 else "leases"
    return f"{word} {names} need{'s' if len(leases) == 1 else ''} {it_mw:g} MW firm ({wall_mw:.1f} MW with cooling)"


def _hours_text(d: LpData, hours: np.ndarray) -> str:
    n = len(hours)
    return f"in {n} hour{'s' if n != 1 else ''}, first {fmt_time(d.index[int(hours[0])])}"


def check_lease_vs_halls(d: LpData) -> str | None:
    """Lease minimums above the HPC halls the site can have (``Y + existing_hpc_mw``, row 4)."""
    per_lease, need = firm_need_mw(d)
    hall = (d.convertible_mw + d.existing_hpc_mw)[:, None]
    for s in range(d.n_sites):
        bad = np.flatnonzero(need[s] > hall[s, 0] + TOL)
        if len(bad):
            t = int(bad[np.argmax(need[s, bad])])
            return (
                f"{_leases_text(d, s, per_lease, t)} but site '{d.site_names[s]}' can hold at "
                f"most {hall[s, 0]:g} MW of HPC halls (convertible_mw {d.convertible_mw[s]:g} + "
                f"existing_hpc_mw {d.existing_hpc_mw[s]:g}) {_hours_text(d, bad)}; raise "
                "convertible_mw or existing_hpc_mw, or lower min_mw"
            )
    return None


def _firm_floor(d: LpData) -> np.ndarray:
    """Firm wall load that can't be shed, ``[S, T]`` [MW] (§5.4.12): every lease minimum in
    hours without an order, the minimums of leases that forbid shortfall in hours with one."""
    per_lease, _ = firm_need_mw(d)
    shed = d.curtailed[d.lease_site] & d.lease_allow_shortfall[:, None]
    floor = np.zeros((d.n_sites, d.hours))
    np.add.at(floor, d.lease_site, per_lease * ~shed)
    return floor


def check_lease_vs_import(d: LpData) -> str | None:
    """Lease minimums above the import limit in hours where firm load can't be shed (rows 2, 9)."""
    per_lease, _ = firm_need_mw(d)
    firm = _firm_floor(d)
    for s in range(d.n_sites):
        bad = np.flatnonzero(firm[s] > d.import_cap_mw[s] + TOL)
        if len(bad) == 0:
            continue
        plain = bad[~d.curtailed[s, bad]]
        if len(plain):
            t = int(plain[0])
            return (
                f"{_leases_text(d, s, per_lease, t)} but site '{d.site_names[s]}' can import "
                f"only {d.import_cap_mw[s, t]:g} MW (interconnect_mw {d.interconnect_mw[s]:g}) "
                f"{_hours_text(d, plain)}; raise interconnect_mw or lower min_mw"
            )
        t = int(bad[0])
        return (
            f"{_leases_text(d, s, per_lease, t)} but site '{d.site_names[s]}' is curtailed to "
            f"{d.import_cap_mw[s, bad].min():g} MW {_hours_text(d, bad)}; allow SLA shortfall "
            "(allow_shortfall = true) or lower min_mw"
        )
    return None


def _reach(cap: np.ndarray, ramp: float) -> np.ndarray:
    """``min_j cap[j] + ramp |t - j|``: the most load hour t can carry given later/earlier caps."""
    t = np.arange(len(cap)) * ramp
    fwd = np.minimum.accumulate(cap - t) + t
    bwd = (np.minimum.accumulate((cap + t)[::-1]))[::-1] - t
    return np.minimum(fwd, bwd)


def check_ramp(d: LpData) -> str | None:
    """Ramp limits (row 8) that can't follow a forced change of load.

    Firm lease load that can't be shed is a floor on ``L``; the import limit is a ceiling. With a
    ramp limit, hour t can carry at most ``min_j Cap[j] + ramp |t - j|``; a floor above that
    is infeasible.
    """
    per_lease, _ = firm_need_mw(d)
    floor = _firm_floor(d)
    for s in np.flatnonzero(np.isfinite(d.ramp_mw_per_hour)):
        ramp = d.ramp_mw_per_hour[s]
        reach = _reach(d.import_cap_mw[s], ramp)
        bad = np.flatnonzero(floor[s] > reach + TOL)
        if len(bad) == 0:
            continue
        t = int(bad[0])
        j = int(np.argmin(d.import_cap_mw[s] + ramp * np.abs(np.arange(d.hours) - t)))
        return (
            f"site '{d.site_names[s]}' can't ramp fast enough: {_leases_text(d, s, per_lease, t)} "
            f"at {fmt_time(d.index[t])}, but the import limit is {d.import_cap_mw[s, j]:g} MW at "
            f"{fmt_time(d.index[j])} and load moves at most {ramp:g} MW/h "
            f"({len(bad)} hours affected); raise ramp_mw_per_hour, allow SLA shortfall or "
            "lower min_mw"
        )
    return None


def check_uptime(d: LpData) -> str | None:
    """Hosted uptime (row 6) above what the import limits and mining halls allow."""
    _, need = firm_need_mw(d)
    floor = _firm_floor(d)
    y_min = np.maximum(need.max(axis=1, initial=0.0) - d.existing_hpc_mw, 0.0)
    T = d.hours
    for c in np.flatnonzero(d.class_hosted & (d.class_uptime > 0)):
        s = int(d.class_site[c])
        e = d.energy_mwh[c]
        room_import = np.maximum(d.import_cap_mw[s] - floor[s], 0.0)
        room_hall = max(d.mining_hall_mw[s] - y_min[s], 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            # a tripped hour (E = 0) is no uptime (§5.4.9)
            most = np.where(e > 0, np.minimum(1.0, np.minimum(room_import, room_hall) / e), 0.0)
        need_h = d.class_uptime[c] * T
        if most.sum() + TOL < need_h:
            short = np.flatnonzero(most < 1.0 - TOL)
            return (
                f"hosted class '{d.class_names[c]}' needs {d.class_uptime[c]:.0%} uptime "
                f"({need_h:,.0f} of {T} hours) but site '{d.site_names[s]}' can run it at most "
                f"{most.sum():,.1f} full hours: it draws up to {e.max():.1f} MW and the import "
                f"limit or mining hall leaves less {_hours_text(d, short)}; lower the "
                "contract's uptime, or check the curtailment orders"
            )
    return None


CHECKS: tuple[Callable[[LpData], str | None], ...] = (
    check_lease_vs_halls,
    check_lease_vs_import,
    check_ramp,
    check_uptime,
)


def describe_iis(d: LpData, lp: Lp, rows: np.ndarray) -> str | None:
    """Name the constraint families, sites and first hours of an infeasible subsystem."""
    if len(rows) == 0:
        return None
    found: dict[str, list[str]] = {}
    for r in np.sort(rows)[:200].tolist():
        family, idx = lp.family_of_row(r)
        where = ""
        if family in ("load", "energy_balance", "import", "mining_hall", "hpc_hall"):
            where = f"site '{d.site_names[idx[0]]}' at {fmt_time(d.index[idx[1]])}"
        elif family == "lease":
            where = f"lease '{d.lease_names[idx[0]]}'"
        elif family == "uptime":
            where = f"class '{d.class_names[int(lp.hosted_classes[idx[0]])]}'"
        elif family == "ramp":
            s = int(lp.ramp_sites[idx[0]])
            where = f"site '{d.site_names[s]}' at {fmt_time(d.index[idx[1] + 1])}"
        text = _FAMILY_TEXT.get(family, family)
        items = found.setdefault(text, [])
        if where and where not in items and len(items) < 3:
            items.append(where)
    parts = [f"{k} ({', '.join(v)})" if v else k for k, v in found.items()]
    return "these constraints conflict: " + "; ".join(parts)


def diagnose(
    d: LpData, lp: Lp | None = None, iis: Callable[[], tuple[np.ndarray, np.ndarray]] | None = None
) -> str:
    """Explain an infeasible LP: the first check that fails, else its IIS, else a generic text."""
    for check in CHECKS:
        message = check(d)
        if message:
            return message
    if iis is not None and lp is not None:
        rows, _ = iis()
        message = describe_iis(d, lp, rows)
        if message:
            return message
    return (
        "no plan satisfies every constraint, and no single lease, hall, import limit, ramp "
        "or uptime requirement explains it; check lease min_mw against halls and import "
        "limits, hosted uptime against curtailment, and ramp_mw_per_hour"
    )
