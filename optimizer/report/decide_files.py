"""Files of ``hashpivot decide``: ``decision.json``, ``paths.parquet``, ``decision.png``, the
resumable store of path-year results, and the example decision (docs/decide.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kernels.bitcoin import block_subsidy_btc
from models.decision import EXAMPLE_DECISION
from optimizer.decide.evaluate import Analysis, npv_stats
from optimizer.decide.problem import Problem
from optimizer.report.charts import _save
from optimizer.report.example_files import refuse_overwrite, write_example
from optimizer.report.files import atomic_write, make_dir, write_json
from optimizer.report.result_store import ResultStore

STORE_DIR = "path_years"


# --------------------------------------------------------------------------- resumable store


@dataclass
class DecideRun:
    """What the result store records about a decide run (its ``study`` fields)."""

    hash: str
    name: str
    source: str
    base: str
    combine: str = "decide"
    axes: list = field(default_factory=list)
    monte_carlo: None = None


class StoreCache:
    """Path-year results in a :class:`~optimizer.report.result_store.ResultStore` under
    ``OUT/path_years/``: every evaluated path-year is written (in small atomic parts), so a
    killed run resumed with ``resume=True`` re-solves only what was not yet written."""

    def __init__(self, out: Path, problem: Problem, *, resume: bool):
        d = problem.decision
        run = DecideRun(hash=problem.key, name=d.name, source=d.source, base=str(d.base_path))
        self.store = ResultStore.open(make_dir(Path(out)) / STORE_DIR, run, [], resume=resume)
        frame = self.store.read() if self.store.manifest["parts"] else pd.DataFrame()
        self.rows: dict[str, dict[str, Any]] = {
            r["scenario_id"]: {**r, "grad": list(r["grad"])} for r in frame.to_dict("records")
        }

    def get(self, key: str) -> dict[str, Any] | None:
        return self.rows.get(key)

    def put(self, key: str, row: dict[str, Any]) -> None:
        row = {"scenario_id": key, **row}
        self.rows[key] = row
        self.store.add(row)
        self.store.flush_due(2.0)

    def close(self) -> None:
        try:
            self.store.close()
        finally:
            self.store.release()


# --------------------------------------------------------------------------- decision.json


def first_stage_tables(problem: Problem, x: np.ndarray) -> dict[str, Any]:
    """The first stage by name: MW converted per site, servers and firm servers per GPU class,
    firm IT MW per lease."""
    b = problem.base
    y, n, f = problem.split(x)
    it_mw = np.array([g.it_kw / 1000.0 for g in b.gpus])
    return {
        "converted_mw": {s.name: float(v) for s, v in zip(b.sites, y, strict=True)},
        "gpu_servers": {g.name: float(v) for g, v in zip(b.gpus, n, strict=True)},
        "firm_servers": {g.name: float(v) for g, v in zip(b.gpus, f, strict=True)},
        "firm_lease_it_mw": {
            lease.name: float(sum(it_mw[k] * f[k] for k in lease.gpu_classes)) for lease in b.leases
        },
    }


def decision_summary(
    problem: Problem, a: Analysis, method: str, extra: dict[str, Any]
) -> dict[str, Any]:
    """Everything ``decision.json`` holds (docs/decide.md, "Outputs")."""
    d = problem.decision
    pi = problem.probabilities
    s = a.solved
    c = problem.capex_pv()
    b = problem.base
    y, n, _ = problem.split(s.x)
    upfront = float(
        sum(site.conversion_usd_per_mw * v for site, v in zip(b.sites, y, strict=True))
        + sum(g.capex_usd_per_server * v for g, v in zip(b.gpus, n, strict=True))
    )
    return {
        "decision": {
            "name": d.name,
            "source": d.source,
            "base": str(d.base_path),
            "method": method,
            "years": d.years,
            "weeks_per_year": d.weeks_per_year,
            "paths": problem.n_paths,
            "discount_rate": problem.rate,
            "risk_weight": d.risk_weight,
            "cvar_level": d.cvar_level,
        },
        "first_stage": first_stage_tables(problem, s.x),
        "capex": {
            "paid_at_year_0_usd": upfront,
            "present_value_usd": float(c @ s.x),
        },
        "npv": npv_stats(s.npv, pi, d.cvar_level),
        "objective_usd": s.objective,
        "upper_bound_usd": s.upper,
        "gap_usd": s.gap,
        "iterations": s.iterations,
        "risk_neutral": {
            "first_stage": first_stage_tables(problem, a.neutral.x),
            "expected_npv_usd": float(pi @ a.neutral.npv),
        },
        "vss_usd": a.vss,
        "mean_path_decision": {
            "first_stage": first_stage_tables(problem, a.mean_path_x),
            "expected_npv_usd": float(pi @ a.mean_path_npv),
            # paths on which the mean-path decision leaves no hourly plan (VSS unbounded)
            "paths_without_a_plan": int(np.isneginf(a.mean_path_npv).sum()),
        },
        "evpi_usd": a.evpi,
        "wait_and_see_npv_usd": a.wait_and_see,
        "frontier": a.frontier,
        "npv_vs_mw": a.curve,
        "btc_tipping": a.tipping,
        **extra,
    }


def decision_text(s: dict[str, Any]) -> str:
    """A few lines for the terminal: the decision, its NPV, the gap, VSS and EVPI."""
    fs, npv = s["first_stage"], s["npv"]

    def m(v: float) -> str:
        return f"${v / 1e6:,.2f}M" if np.isfinite(v) else "unbounded"

    def names(table: dict[str, float], unit: str = "") -> str:
        return ", ".join(f"{k} {v:,.2f}{unit}" for k, v in table.items())

    return "\n".join(
        [
            f"decision: convert {names(fs['converted_mw'], ' MW')}",
            f"  GPU servers {names(fs['gpu_servers'])}; firm {names(fs['firm_servers'])}",
            f"expected NPV {m(npv['expected_npv_usd'])} (P10/P50/P90 {m(npv['p10_npv_usd'])} / "
            f"{m(npv['p50_npv_usd'])} / {m(npv['p90_npv_usd'])}; CVaR {m(npv['cvar_npv_usd'])})",
            f"proven gap ${s['gap_usd']:,.2f} after {s['iterations']} iteration(s); "
            f"VSS {m(s['vss_usd'])}; EVPI {m(s['evpi_usd'])}",
            f"{s['path_years']['solved']} path-years solved, {s['path_years']['reused']} reused, "
            f"{s['seconds']:.1f} s",
        ]
    )


def paths_frame(problem: Problem, a: Analysis) -> pd.DataFrame:
    """One row per path-year: the market it saw and what the decision earned in it."""
    P, Y = problem.n_paths, problem.n_years
    m = problem.market
    s = a.solved
    first_height = m["height"][:, :, 0, 0]
    frame = pd.DataFrame(
        {
            "path": np.repeat(np.arange(P), Y),
            "year": np.tile(np.arange(Y), P),
            "btc_price_usd": m["btc_price_usd"].mean(axis=(2, 3)).ravel(),
            "difficulty": m["difficulty"].mean(axis=(2, 3)).ravel(),
            "fees_btc_per_block": m["fees_btc_per_block"].mean(axis=(2, 3)).ravel(),
            "height": first_height.ravel(),
            "subsidy_btc": np.asarray(block_subsidy_btc(first_height)).ravel(),
            "operating_margin_usd": (
                s.theta / np.array([problem.discount(t) for t in range(Y)])
            ).ravel(),
            "discounted_margin_usd": s.theta.ravel(),
            "path_npv_usd": np.repeat(s.npv, Y),
            "mean_path_decision_npv_usd": np.repeat(a.mean_path_npv, Y),
            "perfect_foresight_npv_usd": np.repeat(a.perfect_npv, Y),
        }
    )
    if problem.prices is not None:
        frame["power_price_usd_per_mwh"] = problem.prices.mean(axis=(2, 3, 4)).ravel()
    return frame


def decision_chart(problem: Problem, a: Analysis, path: Path) -> Path:
    """``decision.png``: NPV distribution, NPV vs MW converted (P10-P90 band), risk frontier."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(15, 4.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax1, ax2, ax3 = fig.subplots(1, 3)
    npv = a.solved.npv / 1e6
    ax1.hist(npv, bins=min(30, max(5, len(npv) // 3)), color="#1f5aa6", alpha=0.8)
    stats = npv_stats(a.solved.npv, problem.probabilities, problem.decision.cvar_level)
    for key, colour in (
        ("p10_npv_usd", "#c0392b"),
        ("p50_npv_usd", "k"),
        ("p90_npv_usd", "#27ae60"),
    ):
        ax1.axvline(stats[key] / 1e6, color=colour, lw=1, label=key.split("_")[0].upper())
    ax1.set_xlabel("NPV [M USD]")
    ax1.set_ylabel("paths")
    ax1.set_title("NPV of the decision over the paths")
    ax1.legend(fontsize=8)
    pts = [c for c in a.curve if c.get("feasible")]
    if pts:
        mw = [c["mw"] for c in pts]
        ax2.fill_between(
            mw,
            [c["p10_npv_usd"] / 1e6 for c in pts],
            [c["p90_npv_usd"] / 1e6 for c in pts],
            color="#6fa8dc",
            alpha=0.4,
            label="P10-P90",
        )
        ax2.plot(
            mw, [c["expected_npv_usd"] / 1e6 for c in pts], "o-", color="#1f5aa6", label="expected"
        )
        ax2.axvline(
            float(a.solved.x[: problem.n_sites].sum()), color="#f2a900", lw=1.5, label="decision"
        )
        ax2.legend(fontsize=8)
    ax2.set_xlabel("MW converted to HPC")
    ax2.set_ylabel("NPV [M USD]")
    ax2.set_title("NPV against MW converted")
    if a.frontier:
        ax3.plot(
            [f["cvar_npv_usd"] / 1e6 for f in a.frontier],
            [f["expected_npv_usd"] / 1e6 for f in a.frontier],
            "o-",
            color="#8e1b10",
        )
        for f in a.frontier:
            ax3.annotate(
                f"{f['weight']:g}",
                (f["cvar_npv_usd"] / 1e6, f["expected_npv_usd"] / 1e6),
                fontsize=8,
            )
    ax3.set_xlabel(f"CVaR {problem.decision.cvar_level:g} of NPV [M USD]")
    ax3.set_ylabel("expected NPV [M USD]")
    ax3.set_title("frontier over risk weights")
    _save(fig, path)
    return path


def write_decision(
    out: str | Path, problem: Problem, a: Analysis, summary: dict[str, Any], *, charts: bool = True
) -> list[Path]:
    """Write ``decision.json``, ``paths.parquet`` and (``charts``) ``decision.png`` into ``out``."""
    out = make_dir(Path(out))
    write_json(out / "decision.json", summary)
    frame = paths_frame(problem, a)
    atomic_write(out / "paths.parquet", lambda tmp: frame.to_parquet(tmp, index=False))
    files = [out / "decision.json", out / "paths.parquet"]
    if charts:
        files.append(decision_chart(problem, a, out / "decision.png"))
    return files


def write_example_decision(directory: str | Path, *, force: bool = False) -> list[Path]:
    """Write the built-in example scenario and ``decision.toml`` over it into ``directory``.

    Files already there (an edited example) are refused unless ``force``
    (:func:`~optimizer.report.example_files.refuse_overwrite`)."""
    directory = Path(directory)
    path = directory / "decision.toml"
    if not force:
        refuse_overwrite(directory, ["decision.toml"])
    scenario = write_example(directory, force=force)
    atomic_write(path, lambda tmp: tmp.write_text(EXAMPLE_DECISION))
    return [scenario, path]
