"""``study`` and ``decide``: many plans, on local processes or a dask cluster."""

from __future__ import annotations

from pathlib import Path

import click

from optimizer.cli.base import (
    EXIT_BAD_INPUT,
    _Failure,
    main,
    out_option,
    sigterm_as_interrupt,
    user_errors,
)


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
    try:
        with sigterm_as_interrupt():
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
@click.option(
    "--example",
    "example_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write the example scenario and decision.toml over it into this folder.",
)
@click.option("--no-charts", is_flag=True, help="Skip decision.png.")
@click.option("--force", is_flag=True, help="With --example: overwrite files already there.")
@user_errors
def decide(decision_file, out_dir, example_dir, force, **options) -> None:
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
        paths = write_example_decision(example_dir, force=force)
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
        with sigterm_as_interrupt():
            r = run_decide(load_decision(decision_file), out_dir, progress=progress, **options)
    except KeyboardInterrupt:
        raise _Failure(
            f"interrupted: path-years solved are in {out_dir}; use --resume", 130
        ) from None
    click.echo(decision_text(r.summary))
    click.echo(f"wrote {', '.join(p.name for p in r.files)} in {out_dir}")
