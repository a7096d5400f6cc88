"""Scenario tools: ``example``, ``validate``, ``hashprice``, ``score``."""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np

from models import Scenario, capacity_warnings
from optimizer.cli.base import (
    EXIT_BAD_INPUT,
    _Failure,
    load_or_example,
    main,
    out_option,
    scenario_argument,
    user_errors,
)


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
