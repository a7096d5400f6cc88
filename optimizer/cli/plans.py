"""``plan`` and ``compare``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from models import capacity_warnings
from optimizer.cli.base import (
    EXIT_BAD_INPUT,
    _Failure,
    load_or_example,
    main,
    out_option,
    scenario_argument,
    user_errors,
)
from optimizer.lp.backends import BACKENDS, METHODS, solver_problem
from optimizer.summary import PlanSummary

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
