"""ASIC classes as items of the decomposed solver's greedy: each class's concave envelope of
nameplate and operating points, one item per segment (docs/model.md §5.4.15, §5.8)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optimizer.lp.data import LpData


@dataclass(eq=False)
class Segments:
    """The ASIC items of a site: each class's concave envelope, one segment per vertex.

    A class without operating points is one segment, from off to nameplate. A class with points
    runs anywhere on the concave envelope of ``(0, 0)``, its nameplate and its points
    (docs/model.md §5.4.15); each envelope segment is an item of energy ``dE`` worth
    ``dR / dE`` per MWh, and the values fall along the envelope, so the greedy fills a class's
    segments in order. Points below the envelope never run.

    Attributes
    ----------
    cls : int64[J]
        Local class (index into the site's ``asic``) of each segment.
    vertex : int64[J]
        The vertex a segment ends at: ``-1`` the class's nameplate, ``p >= 0`` operating point p.
    dE, dR : float64[J, T]
        Energy [MWh] and revenue [USD] from the segment's start to its end.
    problem : str
        Why the envelope is not the same in every hour (empty: it is).
    """

    cls: np.ndarray
    vertex: np.ndarray
    dE: np.ndarray
    dR: np.ndarray
    problem: str = ""

    @classmethod
    def build(cls, d: LpData, asic: np.ndarray) -> Segments:
        T = d.hours
        out_cls, out_vertex, dE, dR, problems = [], [], [], [], []
        for j, c in enumerate(asic):
            points = np.flatnonzero(d.point_class == c) if d.n_points else np.zeros(0, int)
            vertex = np.concatenate([[-1], points]).astype(np.int64)
            E = np.vstack([d.energy_mwh[c][None, :], d.point_energy_mwh[points].reshape(-1, T)])
            R = np.vstack([d.revenue_usd[c][None, :], d.point_revenue_usd[points].reshape(-1, T)])
            chain = _upper_hull(E.sum(axis=1), R.sum(axis=1)) if len(points) else [0]
            if len(points):
                problem = _envelope_problem(E, R, chain)
                if problem:
                    problems.append(f"class {d.class_names[c]}: {problem}")
            prev_E, prev_R = np.zeros(T), np.zeros(T)
            for v in chain:
                out_cls.append(j)
                out_vertex.append(vertex[v])
                dE.append(E[v] - prev_E)
                dR.append(R[v] - prev_R)
                prev_E, prev_R = E[v], R[v]
        return cls(
            np.asarray(out_cls, dtype=np.int64),
            np.asarray(out_vertex, dtype=np.int64),
            np.asarray(dE).reshape(-1, T),
            np.asarray(dR).reshape(-1, T),
            "; ".join(problems),
        )

    def in_order(self, x: np.ndarray) -> np.ndarray:
        """The segments' MWh ``x[J, T]`` with each class's total filled along its chain in
        order. The greedy already does so; where two segments' values tie to rounding it may
        fill a later one first, which would give a negative share."""
        out = np.empty_like(x)
        for c in np.unique(self.cls):
            rows = np.flatnonzero(self.cls == c)
            dE = np.maximum(self.dE[rows], 0.0)
            before = np.cumsum(dE, axis=0) - dE
            out[rows] = np.clip(x[rows].sum(axis=0)[None, :] - before, 0.0, dE)
        return out

    def shares(self, x: np.ndarray) -> np.ndarray:
        """Share of each segment's class at the segment's end vertex, from the segments' MWh
        ``x[J, T]``: with fill fractions ``phi_j = x_j / dE_j`` falling along a class's chain
        (:meth:`in_order`), ``phi_j - phi_{j+1}`` of its machines run at vertex j (energy and
        revenue add up)."""
        x = self.in_order(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            phi = np.where(self.dE > 0, x / self.dE, 0.0)
        following = np.zeros_like(phi)
        same = self.cls[1:] == self.cls[:-1]
        following[:-1][same] = phi[1:][same]
        return phi - following


def _upper_hull(E: np.ndarray, R: np.ndarray) -> list[int]:
    """Vertices (indices into ``E``, ``R``) of the upper concave envelope of ``(0, 0)`` and the
    points, by increasing ``E``, ending at the most energy-hungry point."""
    order = sorted(range(len(E)), key=lambda i: (E[i], -R[i]))
    hull: list[int] = []
    for i in order:
        if hull and E[hull[-1]] == E[i]:
            continue  # same energy, less revenue
        while hull:
            x0, y0 = (E[hull[-2]], R[hull[-2]]) if len(hull) > 1 else (0.0, 0.0)
            x1, y1 = E[hull[-1]], R[hull[-1]]
            cross = (x1 - x0) * (R[i] - y0) - (y1 - y0) * (E[i] - x0)
            size = abs((x1 - x0) * (R[i] - y0)) + abs((y1 - y0) * (E[i] - x0))
            if cross >= -1e-9 * size:
                hull.pop()  # the last vertex is on, below or (to rounding) by the chord
            else:
                break
        hull.append(i)
    return hull


def _envelope_problem(E: np.ndarray, R: np.ndarray, chain: list[int]) -> str:
    """Check that ``chain`` (from :func:`_upper_hull` of the totals) is the envelope in every
    hour: energies rise and slopes fall along it, and no point lies above it."""
    tol = 1e-9
    pE = np.vstack([np.zeros((1, E.shape[1])), E[chain]])
    pR = np.vstack([np.zeros((1, E.shape[1])), R[chain]])
    dE, dR = np.diff(pE, axis=0), np.diff(pR, axis=0)
    scale = 1.0 + np.abs(E).max()
    if (dE < -tol * scale).any():
        return "its points' power order changes between hours"
    live = dE > tol * scale
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(live, dR / dE, np.nan)
    for j in range(1, len(chain)):
        both = live[j] & live[j - 1]
        if (slope[j][both] > slope[j - 1][both] * (1 + tol) + tol).any():
            return "its envelope changes between hours"
    # every point on or below every segment's line (a concave envelope is their minimum)
    with np.errstate(invalid="ignore"):
        line = pR[:-1, None, :] + slope[:, None, :] * (E[None, :, :] - pE[:-1, None, :])
    line = np.where(live[:, None, :], line, np.inf).min(axis=0)
    if (R > line + tol * (1.0 + np.abs(R))).any():
        return "a point above its envelope in some hours"
    return ""
