"""The ``hashpivot`` command line: plans, scores, what-if studies and scenario tools.

Each command parses its options, calls the library, and turns library errors into exit codes:
0 ok, 2 bad input (:class:`~models.ScenarioError`) or an output that cannot be written
(:class:`~optimizer.errors.OutputError`, any other :class:`OSError`: permissions, a file in the
way, disk full, names over 255 bytes), 3 infeasible (:class:`~optimizer.errors.InfeasibleError`),
4 solver failure (:class:`~optimizer.errors.SolverError`), 1 an internal error (a bug: the
message says so). Never a traceback.
"""

from __future__ import annotations

import functools
import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import click
import numpy as np

from models import Scenario, ScenarioError, capacity_warnings, load_scenario
from optimizer.errors import InfeasibleError, OutputError, SolverError
from optimizer.lp.backends import BACKENDS, METHODS, solver_problem
from optimizer.summary import PlanSummary

EXIT_BAD_INPUT = 2
EXIT_INFEASIBLE = 3
EXIT_SOLVER = 4
EXIT_INTERNAL = 1


def _version() -> str:
    try:
        return version("hashpivot")
    except PackageNotFoundError:  # running from a source checkout
        return "0+unknown"


class _Failure(click.ClickException):
    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def user_errors(fn):
    """Map library errors to clean messages and the documented exit codes."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ScenarioError as exc:
            raise _Failure(str(exc), EXIT_BAD_INPUT) from None
        except InfeasibleError as exc:
            raise _Failure(f"infeasible: {exc}", EXIT_INFEASIBLE) from None
        except SolverError as exc:
            raise _Failure(f"solver failed: {exc}", EXIT_SOLVER) from None
        except OutputError as exc:
            raise _Failure(str(exc), EXIT_BAD_INPUT) from None
        except OSError as exc:
            where = exc.filename or "a file"
            raise _Failure(f"{where}: {exc.strerror or exc}", EXIT_BAD_INPUT) from None
        except MemoryError:
            raise _Failure(
                "out of memory: the scenario is too large for this machine (fewer hours, "
                "machines or scenarios?)",
                EXIT_BAD_INPUT,
            ) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:  # a bug: say so plainly, never a traceback
            raise _Failure(
                f"internal error (a bug in hashpivot; please report it with the input): "
                f"{type(exc).__name__}: {exc}",
                EXIT_INTERNAL,
            ) from None

    return wrapper


def load_or_example(path: str | None) -> Scenario:
    """The scenario at ``path``, or the built-in example when no path is given."""
    if path is None:
        from models.example import example_scenario

        return example_scenario()
    return load_scenario(path)


scenario_argument = click.argument(
    "scenario", required=False, type=click.Path(dir_okay=False, path_type=str)
)


def out_option(help: str, *, required: bool = True):
    """The ``--out DIR`` option every command that writes files shares."""
    return click.option(
        "--out",
        "out_dir",
        type=click.Path(file_okay=False, path_type=Path),
        required=required,
        help=help,
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(_version(), prog_name="hashpivot")
def main() -> None:
    """hashpivot: split a Bitcoin miner's power between mining and AI/HPC hosting, hour by hour.

    \b
    Start with the built-in example:
      hashpivot plan --out out/          # plan the example site for a year
      hashpivot example my-site/         # write it as editable files
      hashpivot validate my-site/scenario.toml
    """


@main.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite example files already there.")
@user_errors
def example(directory: Path, force: bool) -> None:
    """Write the built-in example as editable files (scenario.toml + series CSVs).

    \b
    Example:
      hashpivot example my-site/
      hashpivot validate my-site/scenario.toml
    """
    from optimizer.report.example_files import write_example

    path = write_example(directory, force=force)
    files = sorted(p.name for p in directory.iterdir())
    click.echo(f"wrote {path} and {', '.join(f for f in files if f != 'scenario.toml')}")


def describe(scenario: Scenario) -> str:
    """A short plain-text table of what a scenario holds."""
    s = scenario
    lines = [
        f"scenario  {s.name}  ({s.source})",
        f"horizon   {s.index[0]:%Y-%m-%d %H:%M}Z .. {s.index[-1]:%Y-%m-%d %H:%M}Z  ({s.hours} hours)",
        f"market    BTC ${s.market.btc_price_usd.mean():,.0f} mean, "
        f"{s.market.network_hashrate_ehs.mean():,.0f} EH/s, height {s.market.height[0]:,}, "
        f"pool fee {s.market.pool_fee:.1%}",
        "",
        f"{'site':<14}{'import MW':>10}{'hall MW':>9}{'conv. MW':>9}{'price mean':>11}"
        f"{'min':>9}{'max':>9}{'neg h':>7}{'temp max':>9}{'curt. h':>8}",
    ]
    for site in s.sites:
        p = site.price_usd_per_mwh
        lines.append(
            f"{site.name:<14}{site.interconnect_mw:>10,.1f}{site.mining_hall_mw:>9,.1f}"
            f"{site.convertible_mw:>9,.1f}{p.mean():>11,.2f}{p.min():>9,.0f}{p.max():>9,.0f}"
            f"{int((p < 0).sum()):>7}{site.temp_c.max():>9.1f}{int((site.curtailment_mw > 0).sum()):>8}"
        )
    f = s.fleet
    own, hosted = ~f.hosted, f.hosted
    lines += [
        "",
        f"ASICs     {len(f):,} machines in {len(s.classes)} classes: "
        f"{f.power_kw[own].sum() / 1000:,.1f} MW own + {f.power_kw[hosted].sum() / 1000:,.1f} MW hosted "
        f"(nameplate IT), {f.hashrate_ths.sum() / 1e6:,.2f} EH/s",
    ]
    for g in s.gpus:
        kind = "colocation" if g.colocation else "cloud"
        lines.append(
            f"GPUs      {g.name}: up to {g.max_servers:,} x {g.model} ({g.max_servers * g.power_kw / 1000:,.1f} MW, {kind})"
        )
    for lease in s.leases:
        lines.append(
            f"lease     {lease.name}: {lease.min_mw:g}-{lease.max_mw:g} MW firm IT at {s.sites[lease.site].name}"
        )
    for p in s.ppas:
        lines.append(
            f"PPA       {s.sites[p.site].name}: {p.block_mw.mean():g} MW at ${p.price_usd_per_mwh:g}/MWh"
            + (f", resale at spot less {p.resale_fee:.0%}" if p.resale else ", no resale")
        )
    return "\n".join(lines)


@main.command()
@scenario_argument
@user_errors
def validate(scenario: str | None) -> None:
    """Check a scenario file and print what it holds (or the first error, exit code 2).

    Without SCENARIO, checks the built-in example.

    \b
    Example:
      hashpivot validate my-site/scenario.toml
    """
    loaded = load_or_example(scenario)
    click.echo(describe(loaded))
    for warning in capacity_warnings(loaded):
        click.echo(f"\nwarning: {warning}")
    click.echo("\nok")


@main.command()
@click.option("--price", "price_usd", type=float, required=True, help="BTC price [USD].")
@click.option("--difficulty", type=float, help="Network difficulty.")
@click.option(
    "--hashrate-ehs", type=float, help="Network hashrate [EH/s] (instead of --difficulty)."
)
@click.option(
    "--fees",
    "fees_btc",
    type=float,
    default=0.0,
    show_default=True,
    help="Mean fees per block [BTC].",
)
@click.option("--height", type=int, required=True, help="Block height (sets the subsidy).")
@click.option(
    "--efficiency-j-th", type=float, help="Machine efficiency [J/TH] for a breakeven price."
)
@click.option("--pue", type=float, default=1.0, show_default=True, help="Cooling overhead (PUE).")
@click.option(
    "--pool-fee",
    type=float,
    default=0.0,
    show_default=True,
    help="Pool fee fraction for breakeven.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object instead of text.")
def hashprice(
    price_usd, difficulty, hashrate_ehs, fees_btc, height, efficiency_j_th, pue, pool_fee, as_json
) -> None:
    """Hashprice ($/PH/s/day) and breakeven power price for a market state.

    \b
    Example:
      hashpivot hashprice --price 90000 --hashrate-ehs 1100 --fees 0.03 --height 925000 \\
          --efficiency-j-th 17.5 --pue 1.05
    """
    from kernels.bitcoin import (
        block_subsidy_btc,
        breakeven_usd_per_mwh,
        difficulty_from_hashrate_ehs,
        hashprice_usd_per_ph_day,
        network_hashrate_ehs,
    )

    if (difficulty is None) == (hashrate_ehs is None):
        raise _Failure("give exactly one of --difficulty or --hashrate-ehs", EXIT_BAD_INPUT)
    for name, value, ok in (
        ("--price", price_usd, price_usd > 0),
        ("--difficulty", difficulty, difficulty is None or difficulty > 0),
        ("--hashrate-ehs", hashrate_ehs, hashrate_ehs is None or hashrate_ehs > 0),
        ("--fees", fees_btc, fees_btc >= 0),
        ("--height", height, height >= 0),
        (
            "--efficiency-j-th",
            efficiency_j_th,
            efficiency_j_th is None or 5 <= efficiency_j_th <= 200,
        ),
        ("--pue", pue, pue >= 1),
        ("--pool-fee", pool_fee, 0 <= pool_fee < 1),
    ):
        if not ok or (isinstance(value, float) and not np.isfinite(value)):
            expected = (
                "5-200 J/TH"
                if name == "--efficiency-j-th"
                else ">= 1"
                if name == "--pue"
                else "a valid positive value"
            )
            raise _Failure(f"{name} {value}: expected {expected}", EXIT_BAD_INPUT)
    if difficulty is None:
        difficulty = float(difficulty_from_hashrate_ehs(hashrate_ehs))
    hp = float(hashprice_usd_per_ph_day(price_usd, difficulty, fees_btc, height))
    btc_per_ph_day = hp / price_usd
    result = {
        "hashprice_usd_per_ph_day": hp,
        "hashprice_usd_per_th_day": hp / 1000.0,
        "btc_per_ph_day": btc_per_ph_day,
        "network_hashrate_ehs": float(network_hashrate_ehs(difficulty)),
        "difficulty": difficulty,
        "subsidy_btc": float(block_subsidy_btc(height)),
        "breakeven_usd_per_mwh": (
            float(breakeven_usd_per_mwh(hp, efficiency_j_th, pue, pool_fee))
            if efficiency_j_th
            else None
        ),
    }
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(
        f"network hashrate   {result['network_hashrate_ehs']:,.1f} EH/s (difficulty {difficulty:.4e})"
    )
    click.echo(f"block reward       {result['subsidy_btc']:g} BTC subsidy + {fees_btc:g} BTC fees")
    click.echo(f"hashprice          ${hp:,.2f} /PH/s/day  (${hp / 1000:,.4f} /TH/s/day)")
    click.echo(f"BTC per PH/day     {btc_per_ph_day:.6f}")
    if efficiency_j_th:
        click.echo(
            f"breakeven power    ${result['breakeven_usd_per_mwh']:,.2f} /MWh at {efficiency_j_th:g} J/TH, "
            f"PUE {pue:g}, pool fee {pool_fee:.1%}"
        )


@main.command()
@scenario_argument
@out_option("Folder for machines.csv, class_hours.parquet and margin_by_class.png.")
@user_errors
def score(scenario: str | None, out_dir: Path) -> None:
    """Score every machine for every hour (no LP): revenue, energy, breakeven, margin at spot.

    Without SCENARIO, scores the built-in example. Hosted classes earn their hosting rate.

    \b
    Example:
      hashpivot score my-site/scenario.toml --out scores/
    """
    import time

    from optimizer.report.score_files import write_scores
    from optimizer.score import score_scenario

    t0 = time.perf_counter()
    s = load_or_example(scenario)
    click.echo(
        f"load      {time.perf_counter() - t0:6.2f} s  {len(s.fleet):,} machines x {s.hours:,} hours",
        err=True,
    )
    t1 = time.perf_counter()
    scores = score_scenario(s)
    click.echo(f"kernel    {time.perf_counter() - t1:6.2f} s", err=True)
    paths = write_scores(s, scores, out_dir)
    m = scores.machines
    click.echo(f"hashprice ${scores.hashprice_usd_per_ph_day.mean():,.2f} /PH/s/day mean")
    if len(m):
        by_class = m.groupby("class", sort=False).agg(
            machines=("machine_id", "size"),
            revenue_usd=("revenue_usd", "sum"),
            energy_mwh=("energy_mwh", "sum"),
            breakeven=("mean_breakeven_usd_per_mwh", "mean"),
            hours_in_money=("hours_in_money", "mean"),
        )
        click.echo(
            f"\n{'class':<44}{'machines':>9}{'revenue $M':>11}{'GWh':>8}{'breakeven':>10}{'h in money':>11}"
        )
        for name, row in by_class.iterrows():
            click.echo(
                f"{name:<44}{int(row.machines):>9,}{row.revenue_usd / 1e6:>11,.2f}{row.energy_mwh / 1e3:>8,.1f}"
                f"{row.breakeven:>10,.1f}{row.hours_in_money:>11,.0f}"
            )
    click.echo("\nwrote " + ", ".join(str(p) for p in paths))


class _StudyProgress:
    """Progress on stderr for ``hashpivot study`` (rows as they arrive): a bar with ETA on a
    terminal; elsewhere (a log file, a pipe, CI) plain lines, about one per 5% or 30 s."""

    def __init__(self) -> None:
        self.bar = None
        self.failed: list[dict] = []
        self.lines: list[float] | None = None  # plain lines: total, done, done at start, t0, last

    def start(self, total: int, done: int) -> None:
        import sys
        import time

        if done:
            click.echo(f"resuming: {done} of {total} scenarios already done", err=True)
        if not sys.stderr.isatty():
            now = time.monotonic()
            self.lines = [total, done, done, now, now]
            return
        self.bar = click.progressbar(
            length=total, label="scenarios", file=sys.stderr, show_eta=True, show_pos=True
        )
        self.bar.__enter__()
        self.bar.update(done)

    def row(self, row: dict) -> None:
        if row.get("error"):
            self.failed.append(row)
        if str(row.get("origin", "")).startswith("refine"):
            click.echo(
                f"\nrefine {row['scenario_id']}: MW to HPC {row.get('hpc_mw_converted', float('nan')):.2f}",
                err=True,
            )
        elif self.bar is not None:
            self.bar.update(1)
        elif self.lines is not None:
            self._line()

    def _line(self) -> None:
        import time

        self.lines[1] += 1
        (total, done, first, t0, last), now = self.lines, time.monotonic()
        if done % max(1, int(total) // 20) == 0 or done >= total or now - last >= 30:
            self.lines[4], left = now, (now - t0) / (done - first) * (total - done)
            msg = f"scenarios {done:.0f}/{total:.0f} ({done / total:.0%}), {now - t0:,.0f} s"
            click.echo(f"{msg}, about {left:,.0f} s left", err=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


@main.command()
@click.argument("study_file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@out_option("Results folder: Parquet parts, manifest.json, summary.csv, charts.", required=False)
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=None,
    help="Local worker processes [default: one per CPU core; 0: run in this process].",
)
@click.option(
    "--scheduler",
    metavar="ADDR",
    help="Run on a dask.distributed cluster, e.g. tcp://10.0.0.5:8786 "
    "(needs pip install hashpivot[dist]).",
)
@click.option(
    "--resume", is_flag=True, help="Skip the scenarios --out already holds (same study only)."
)
@click.option(
    "--refine",
    metavar="FIELD",
    help="Bisect the tipping points on this axis, e.g. market.btc_price_usd.",
)
@click.option(
    "--tolerance",
    type=float,
    help="Refine until brackets are this narrow, in FIELD's unit [default: axis span / 1000].",
)
@click.option(
    "--example",
    "example_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write example study files (study.toml, monte_carlo.toml) into this folder.",
)
@click.option("--no-charts", is_flag=True, help="Skip the PNG charts.")
@click.option("--force", is_flag=True, help="With --example: overwrite files already there.")
@user_errors
def study(
    study_file,
    out_dir,
    workers,
    scheduler,
    resume,
    refine,
    tolerance,
    example_dir,
    no_charts,
    force,
) -> None:
    """Run a what-if study: many scenarios (grids, samples, Monte Carlo paths) through kernel + LP.

    Each scenario's result is one row in OUT (Parquet parts + manifest.json, written as rows
    arrive; --resume continues an interrupted study), then OUT/summary.csv, tipping.csv
    (where the plan changes regime along each axis), axes.png and, for Monte Carlo studies,
    risk.json (P10/P50/P90 of margin, probability of a loss) and monte_carlo.png. A scenario
    that fails (bad input, infeasible, solver failure) is recorded with its status and message;
    the others go on. The study file format: docs/study.md.

    \b
    Example:
      hashpivot study --example studies/
      hashpivot study studies/study.toml --out results/ --workers 2
      hashpivot study studies/study.toml --out results/ --resume --refine market.btc_price_usd
      hashpivot study studies/monte_carlo.toml --out mc/ --scheduler tcp://10.0.0.5:8786
    """
    import signal

    from optimizer.api import run_study
    from optimizer.report.example_files import write_example_study
    from optimizer.study.definition import read_study

    if example_dir is not None:
        paths = write_example_study(example_dir, force=force)
        click.echo("wrote " + ", ".join(str(p) for p in paths))
        click.echo(f"run it:  hashpivot study {paths[0]} --out {example_dir / 'results'}")
        return
    if study_file is None or out_dir is None:
        raise _Failure("give a STUDY file and --out DIR (or --example DIR)", EXIT_BAD_INPUT)
    definition = read_study(study_file)
    progress = _StudyProgress()

    def _terminate(signum, frame):  # a polite kill: save what is done, like Ctrl-C
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread (an embedding app): leave SIGTERM alone
        previous = None
    try:
        result = run_study(
            definition,
            out_dir,
            workers=workers,
            scheduler=scheduler,
            resume=resume,
            refine=refine,
            tolerance=tolerance,
            on_start=progress.start,
            on_row=progress.row,
            charts=not no_charts,
        )
    except KeyboardInterrupt:
        progress.close()
        raise _Failure(
            f"interrupted: finished scenarios are saved in {out_dir}; continue with --resume", 130
        ) from None
    finally:
        progress.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    for problem in result.problems:
        click.echo(f"resume: {problem}", err=True)
    if result.recomputed:
        changed = ", ".join(result.changed_files) or "an input file"
        click.echo(
            f"resume: {result.recomputed} scenario(s) run again: their input files changed "
            f"since they ran ({changed})",
            err=True,
        )
    click.echo(
        f"{result.total} scenarios ({result.skipped} already done), {result.ran} run now, "
        f"{result.failed} failed, {result.seconds:.1f} s"
    )
    for row in progress.failed[:5]:
        click.echo(f"  {row['scenario_id']} {row['status']}: {row['error']}", err=True)
    if len(progress.failed) > 5:
        click.echo(f"  ... {len(progress.failed) - 5} more failures in summary.csv", err=True)
    tipping = result.tipping
    if tipping is not None and len(tipping):
        click.echo("tipping points (value where the plan changes regime, others held):")
        for _, t in tipping.head(12).iterrows():
            click.echo(
                f"  {t.axis} = {t.tipping_value:,.6g} (+/- {t.width / 2:,.3g}) {t.others}: "
                f"MW to HPC {t.hpc_mw_converted_lo:.1f} -> {t.hpc_mw_converted_hi:.1f}, "
                f"mining share {t.mining_share_lo:.0%} -> {t.mining_share_hi:.0%}"
            )
    risk = result.risk
    if risk and "margin_usd" in risk:
        m = risk["margin_usd"]
        click.echo(
            f"margin P10/P50/P90 ${m['p10'] / 1e6:,.2f}M / ${m['p50'] / 1e6:,.2f}M / "
            f"${m['p90'] / 1e6:,.2f}M; P(margin < 0) = {risk['probability_margin_negative']:.1%}"
        )
    click.echo("wrote " + ", ".join(p.name for p in result.files) + f" in {out_dir}")


# --------------------------------------------------------------------------------------------
# hashpivot plan


def _write_lp_suffix(ctx, param, value):
    if value is not None and Path(value).suffix.lower() not in (".lp", ".mps"):
        raise click.BadParameter(f"{value}: expected a .lp or .mps file name")
    return value


def _whole_servers_line(s: PlanSummary) -> list[str]:
    """The ``whole servers`` line of :func:`plan_table` (none before the report rounds them)."""
    ws = s.whole_servers
    if ws is None or not ws.classes or ws.status == "whole":
        return []
    if ws.margin_effect_usd is None:
        return [f"whole servers   none found next to the LP's {s.gpu_servers_firm:,.2f} firm"]
    firm = sum(c.firm or 0 for c in ws.classes.values())
    installed = sum(c.installed or 0 for c in ws.classes.values())
    return [
        f"whole servers   {firm:,} firm (LP {s.gpu_servers_firm:,.2f}), {installed:,} installed "
        f"(LP {s.gpu_servers_installed:,.2f}): margin {ws.margin_effect_usd:+,.0f} USD"
    ]


def plan_table(summary: PlanSummary) -> str:
    """The compact plain-text summary ``hashpivot plan`` prints: MW split, margin by stream."""
    s = summary
    streams = (
        ("mining (BTC)", s.revenue_mining_usd),
        ("hosting (client ASICs)", s.revenue_hosting_usd),
        ("HPC (GPU rent and sales)", s.revenue_hpc_usd),
        ("PPA resale credit", s.resale_credit_usd),
        ("ancillary services", s.revenue_ancillary_usd),
        ("spot energy", -s.energy_cost_usd),
        ("PPA take-or-pay", -s.ppa_cost_usd),
        ("coincident-peak charges", -s.peak_charge_usd),
        ("hall conversion", -s.conversion_cost_usd),
        ("GPU capex", -s.gpu_capex_usd),
        ("SLA penalties", -s.sla_penalty_usd),
        ("minimum-take shortfall", -s.shortfall_usd),
        ("AS deployments (expected)", -s.ancillary_deployment_usd),
    )
    lines = [
        f"{s.scenario}: {s.status} ({s.method}; {s.backend}: {s.solver}), {s.hours:,} hours"
        + (f"\n  auto fell back to the monolithic LP: {s.method_note}" if s.method_note else ""),
        f"mean MW         mining {s.mean_mining_mw:,.1f} | HPC firm {s.mean_hpc_firm_mw:,.1f}"
        f" | HPC interruptible {s.mean_hpc_interruptible_mw:,.1f}"
        f" | curtailed {s.mean_curtailed_mw:,.1f}",
        f"to HPC          {s.hpc_mw_converted:,.1f} MW converted; GPU servers "
        f"{s.gpu_servers_firm:,.0f} firm ({s.firm_it_mw:,.1f} MW IT), "
        f"{s.gpu_servers_installed:,.0f} installed, "
        f"{s.gpu_servers_interruptible_mean:,.0f} interruptible (mean)",
        f"curtailed       {s.hours_curtailed:,} hours ({s.curtailed_mwh:,.0f} MWh); "
        f"{s.hours_curtailment_orders:,} hours with curtailment orders",
        f"energy          {s.mining_mwh:,.0f} MWh mining, {s.hpc_mwh:,.0f} MWh HPC, "
        f"{s.ppa_resold_mwh:,.0f} MWh PPA resold",
        f"bitcoin         {s.btc_earned:,.3f} BTC earned after the pool fee "
        f"({s.btc_mined:,.3f} mined), hashprice ${s.mean_hashprice_usd_per_ph_day:,.2f}/PH/s/day",
        *_whole_servers_line(s),
        "",
        f"{'margin by stream':<28}{'USD':>16}",
    ]
    lines += [f"  {name:<26}{round(value):>16,}" for name, value in streams]  # no "-0"
    lines.append(f"  {'margin':<26}{s.margin_usd:>16,.0f}")
    return "\n".join(lines)


@main.command()
@scenario_argument
@out_option("Folder for plan.csv, summary.json and the charts.")
@click.option(
    "--method",
    type=click.Choice(METHODS),
    default="auto",
    show_default=True,
    help="decomposed: Benders cuts on the MW converted and the servers, a greedy per "
    "site-hour (fast, exact to a proven gap); monolithic: the whole LP in one solver call; "
    "auto: decomposed wherever it covers the scenario (not ramp limits, not --backend pulp).",
)
@click.option(
    "--backend",
    type=click.Choice(BACKENDS),
    default="highs",
    show_default=True,
    help="highs: HiGHS in memory; pulp: the LP through PuLP (CBC unless --solver).",
)
@click.option(
    "--solver",
    metavar="NAME",
    help="HiGHS algorithm (choose, simplex, ipm, pdlp) or PuLP solver (PULP_CBC_CMD, "
    "GLPK_CMD, HiGHS, GUROBI, ... where installed).",
)
@click.option(
    "--write-lp",
    type=click.Path(dir_okay=False, path_type=Path),
    callback=_write_lp_suffix,
    help="Also write the LP to FILE (.lp or .mps).",
)
@click.option("--threads", type=click.IntRange(min=1), help="Solver threads.")
@click.option(
    "--time-limit",
    "time_limit_s",
    type=click.FloatRange(min=0, min_open=True),
    metavar="S",
    help="Solver time limit [s].",
)
@click.option(
    "--class-hours", is_flag=True, help="Also write classes.csv (one row per class-hour)."
)
@click.option("--no-charts", is_flag=True, help="Skip the PNG charts.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print summary.json on stdout, not the table."
)
@click.option("--quiet", "-q", is_flag=True, help="Print no stage times, table or file list.")
@click.option(
    "--tz",
    metavar="ZONE",
    help="Add local times in this IANA zone to plan.csv and plan.xlsx, e.g. America/Chicago.",
)
@click.option(
    "--excel", is_flag=True, help="Also write plan.xlsx (needs pip install hashpivot[excel])."
)
@click.option(
    "--no-whole-servers",
    is_flag=True,
    help="Skip rounding GPU servers to whole servers (saves the second solve).",
)
@user_errors
def plan(
    scenario,
    out_dir,
    method,
    backend,
    solver,
    write_lp,
    threads,
    time_limit_s,
    class_hours,
    no_charts,
    **out,
) -> None:
    """Plan the hour-by-hour split of power between mining and HPC: kernel, LP, report.

    Without SCENARIO, plans the built-in example (one 100 MW West Texas site, 2026).
    Writes to --out: plan.csv (one row per site-hour, with USD by stream and BTC mined),
    monthly.csv and sites.csv (P&L by stream per month and per site), gpus.csv (servers, LP
    and whole), summary.json, report.html (one self-contained page), allocation.png,
    duals.png (what more capacity is worth), monthly_pnl.png, and with --excel plan.xlsx.
    Warnings (machines that can never run) go to stderr, --quiet or not. Exit codes: 2 bad
    input (an unknown --solver too, before anything is built), 3 infeasible (with the reason
    and the fix), 4 solver failure.

    \b
    Example:
      hashpivot plan --out out/
      hashpivot plan my-site/scenario.toml --out out/ --tz America/Chicago --excel
      hashpivot plan my-site/scenario.toml --out out/ --backend pulp --write-lp out/plan.lp
      hashpivot plan my-site/scenario.toml --out out/ --json --quiet > summary.json
    """
    from optimizer.plan import plan_scenario
    from optimizer.report.files import json_ready
    from optimizer.report.money import check_tz
    from optimizer.report.plan_files import write_model, write_report
    from optimizer.timings import Timings

    as_json, quiet = out["as_json"], out["quiet"]  # --json, --quiet
    if problem := solver_problem(backend, solver):
        raise _Failure(problem, EXIT_BAD_INPUT)
    check_tz(out["tz"])

    def progress(stage: str, seconds: float) -> None:
        if not quiet:
            click.echo(f"{stage:<8}{seconds:8.2f} s", err=True)

    timings = Timings(progress=progress)
    with timings.stage("load"):
        loaded = load_or_example(scenario)
    for warning in capacity_warnings(loaded):
        click.echo(f"warning: {warning}", err=True)
    result = plan_scenario(
        loaded,
        method=method,
        backend=backend,
        solver=solver,
        threads=threads,
        time_limit_s=time_limit_s,
        timings=timings,
        before_solve=None if write_lp is None else lambda lp: write_model(lp, write_lp, backend),
    )
    paths = write_report(
        result,
        out_dir,
        charts=not no_charts,
        class_hours=class_hours,
        tz=out["tz"],
        excel=out["excel"],
        whole_servers=not out["no_whole_servers"],
    )
    progress("total", timings.total)
    if as_json:
        click.echo(json.dumps(json_ready(result.summary.to_dict()), indent=2, default=str))
    elif not quiet:
        click.echo(plan_table(result.summary) + "\n")
    if not quiet:
        click.echo("wrote " + ", ".join(p.name for p in paths) + f" in {out_dir}", err=as_json)


# --------------------------------------------------------------------------------------------
# hashpivot compare


@main.command()
@click.argument("dir_a", type=click.Path(path_type=Path))
@click.argument("dir_b", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object instead of tables.")
@user_errors
def compare(dir_a: Path, dir_b: Path, as_json: bool) -> None:
    """What changed between two plan folders: money by stream, MW, sites and months.

    Reads DIR_A/summary.json and DIR_B/summary.json (folders written by hashpivot plan) and
    prints A, B and B - A for every money stream and the margin, MW converted and in use,
    GPU servers, energy and BTC, each site and each month.

    \b
    Example:
      hashpivot plan base.toml --out base/ && hashpivot plan bigger-lease.toml --out lease/
      hashpivot compare base/ lease/
      hashpivot compare base/ lease/ --json > change.json
    """
    from optimizer.report.compare import compare_plans, compare_table
    from optimizer.report.files import json_ready

    result = compare_plans(dir_a, dir_b)
    if as_json:
        click.echo(json.dumps(json_ready(result), indent=2))
    else:
        click.echo(compare_table(result))


# --------------------------------------------------------------------------------------------
# hashpivot decide


@main.command()
@click.argument("decision_file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@out_option("Folder for decision.json, paths.parquet, decision.png, path_years/.", required=False)
@click.option("--method", type=click.Choice(["lshaped", "extensive"]), default="lshaped")
@click.option(
    "--workers", type=click.IntRange(min=0), help="Local processes [one per core; 0: none]."
)
@click.option("--scheduler", metavar="ADDR", help="Solve path-years on a dask cluster.")
@click.option("--resume", is_flag=True, help="Reuse the path-years --out holds (same decision).")
@click.option("--curve-points", type=click.IntRange(min=0), default=5, help="NPV-vs-MW points.")
@click.option(
    "--tipping", is_flag=True, help="Search the BTC price where the MW converted changes."
)
@click.option("--example", "example_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--no-charts", is_flag=True, help="Skip decision.png.")
@user_errors
def decide(decision_file, out_dir, example_dir, **options) -> None:
    """Decide now the MW to convert, GPU servers to buy and firm lease to sign, over years of
    uncertain BTC price, hashrate, halvings, power prices and GPU rents (docs/decide.md).

    \b
    Example:
      hashpivot decide --example dec/
      hashpivot decide dec/decision.toml --out dec/out --workers 2
    """
    from models.decision import load_decision
    from optimizer.api import decide as run_decide
    from optimizer.report.decide_files import decision_text, write_example_decision

    if example_dir is not None:
        paths = write_example_decision(example_dir)
        click.echo(
            f"wrote {', '.join(map(str, paths))}; run: hashpivot decide {paths[-1]} --out OUT"
        )
        return
    if decision_file is None or out_dir is None:
        raise _Failure("give a DECISION file and --out DIR (or --example DIR)", EXIT_BAD_INPUT)

    def progress(stage: str, done: int, total: int, eta_s: float) -> None:
        line = f"\r{stage}: {done}/{total} path-years, ETA {eta_s:,.0f} s   "
        click.echo(line, nl=done == total, err=True)

    options["charts"] = not options.pop("no_charts")
    try:
        r = run_decide(load_decision(decision_file), out_dir, progress=progress, **options)
    except KeyboardInterrupt:
        raise _Failure(
            f"interrupted: path-years solved are in {out_dir}; use --resume", 130
        ) from None
    click.echo(decision_text(r.summary))
    click.echo(f"wrote {', '.join(p.name for p in r.files)} in {out_dir}")
