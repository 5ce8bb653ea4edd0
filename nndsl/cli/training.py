"""Command-line layer: `nndsl train` and `nndsl report`.

Under Lightning's `ddp` strategy this command also runs in the child processes Lightning starts;
only the primary process (rank 0) prints the plan, progress and results.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from nndsl.cli.exits import EXIT_INTERRUPTED, EXIT_OK, EXIT_USER_ERROR


def run_training(arguments: argparse.Namespace, console: Console, errors: Console) -> int:
    from nndsl.api import compile_spec
    from nndsl.cli.render import render_diagnostics
    from nndsl.run.rundir import RunDirectoryError, is_primary_process

    if not is_primary_process():
        console = Console(quiet=True)
    plan = None
    if arguments.resume is None and arguments.spec is None:
        errors.print("[red]error:[/red] give a SPEC to train, or --resume RUN_DIR to continue one",
                     soft_wrap=True)
        return EXIT_USER_ERROR
    if arguments.resume is None:
        compiled = compile_spec(arguments.spec, arguments.overrides)
        render_diagnostics(errors, compiled.diagnostics, compiled.sources)  # warnings too
        if not compiled.ok:
            return EXIT_USER_ERROR
        from nndsl.cli.show import phase_table

        plan = compiled.plan
        console.print(phase_table(plan))
    from nndsl.run import train
    from nndsl.run.launch import LaunchError
    from nndsl.run.safe_load import UnreadableCheckpoint
    from nndsl.run.schedule import Interrupted
    from nndsl.run.train import TrainingDiverged

    def announce(phase, label, cut, attempt) -> None:
        where = f" — cut {cut}" if cut else ""
        which = f", attempt {attempt}" if attempt else ""
        console.print(f"[bold cyan]▶ phase {escape(phase.name)}{escape(where)}{which}[/bold cyan] "
                      f"({trainable_text(plan, phase, cut)})")

    try:
        result = train(arguments.spec, arguments.overrides, arguments.run_dir, arguments.resume,
                       arguments.fast_dev_run, printer=announce)
    except (RunDirectoryError, UnreadableCheckpoint, LaunchError) as error:
        errors.print(f"[red]error:[/red] {escape(str(error))}", soft_wrap=True)
        return EXIT_USER_ERROR
    except OSError as error:  # the file system refused a write (read-only, full, gone)
        where = f" `{error.filename}`" if error.filename else ""
        reason = escape(error.strerror or str(error))
        errors.print(f"[red]error:[/red] cannot write{escape(where)}: {reason}", soft_wrap=True)
        return EXIT_USER_ERROR
    except (Interrupted, KeyboardInterrupt) as interrupted:
        directory = getattr(interrupted, "directory", None) or arguments.resume or "RUN_DIR"
        errors.print(f"[yellow]interrupted[/yellow]: the run directory holds a checkpoint; "
                     f"continue with `nndsl train --resume {escape(str(directory))}`",
                     soft_wrap=True)
        return EXIT_INTERRUPTED
    except TrainingDiverged as error:
        kept = (f"the last good checkpoint is {error.checkpoint}" if error.checkpoint is not None
                else f"it diverged before the first checkpoint, so {error.directory} holds none")
        errors.print(f"[red]training diverged:[/red] {escape(str(error))}; {escape(kept)} — lower "
                     f"the learning rate or clip gradients (trainer.gradient_clip_val)",
                     soft_wrap=True)
        return EXIT_USER_ERROR
    render_report(console, result.directory, result.summary)
    return EXIT_OK


def trainable_text(plan, phase, cut: str | None) -> str:
    """The trainable parameters of a run, counted as the plan's phase table counts them: a
    top-down attempt trains the extractor below its cut, any other run its phase's set."""
    if phase.search is None or not cut:
        return f"{phase.trainable_parameters:,} trainable parameters"
    if plan is None:  # resuming: the CLI has not compiled the spec itself
        return f"the extractor below {cut} trainable"
    return f"{plan.cut(cut).extractor_parameters:,} trainable parameters"


def render_report(console: Console, directory: Path, summary: dict) -> None:
    from nndsl.cli.render import literal_row, printable
    from nndsl.run.report import change_table, read_graph

    # summary.json is user text (a run directory may come from anyone): printed literally.
    name, where = escape(printable(str(summary["name"]))), escape(printable(str(directory)))
    console.print(f"[bold]{name}[/bold] — run {where}", soft_wrap=True)
    table = Table(title="phases", title_justify="left")
    # Runs with a memory budget: the measured peak of saved activations beside the plan's.
    measured = any("planned_peak_bytes" in row for row in summary["phases"])
    for column in ("phase", "cut", "attempt", "epochs", "monitor", "best", "accepted"):
        table.add_column(column)
    if measured:
        table.add_column("saved MiB: measured / planned / plain")
    for row in summary["phases"]:
        best = "—" if row["best"] is None else f"{row['best']:.4f}"
        # Trials (top-down attempts, classifier retraining) are kept only when they beat the
        # baseline.
        trial = row["attempt"] is not None or row.get("baseline") is not None
        accepted = "" if not trial else ("yes" if row["accepted"] else "no")
        memory = [activation_text(row)] if measured else []
        literal_row(table, str(row["phase"]), str(row["cut"] or ""), str(row["attempt"] or ""),
                    str(row["epochs"]), str(row["monitor"]), best, accepted, *memory)
    console.print(table)
    changes = change_table(summary, read_graph(directory))
    if changes is not None:
        console.print(changes)
    from nndsl.run.ensemble_report import assignment_table

    assignments = assignment_table(summary)
    if assignments is not None:
        console.print(assignments)
        console.print(f"assignment picture: {escape(str(directory / 'assignments.png'))}",
                      soft_wrap=True)
    if (directory / "curves.png").exists():
        console.print(f"validation curves: {escape(str(directory / 'curves.png'))}", soft_wrap=True)
    if summary.get("test"):
        console.print("test: " + escape(", ".join(f"{key} = {value:.4f}"
                                                  for key, value in summary["test"].items())),
                      soft_wrap=True)


def activation_text(row: dict) -> str:
    """`measured / planned / plain` MiB of a row with a memory budget's measurement, else ""."""
    if "planned_peak_bytes" not in row:
        return ""
    if "activation_peak_bytes" not in row:  # a budget whose peak could not be measured
        return (f"not measured / {row['planned_peak_bytes'] / 2**20:.2f} / "
                f"{row['plain_peak_bytes'] / 2**20:.2f}")
    values = (row["activation_peak_bytes"], row["planned_peak_bytes"], row["plain_peak_bytes"])
    text = " / ".join(f"{value / 2**20:.2f}" for value in values)
    if "ensemble_peak_bytes" in row:  # an ensemble: one member's step, then the whole step's
        text += f" per member; all members {row['ensemble_peak_bytes'] / 2**20:.2f}"
    return text


def print_report(run_dir: str, console: Console, errors: Console) -> int:
    path = Path(run_dir) / "summary.json"
    if not path.exists():
        errors.print(f"[red]error:[/red] `{escape(run_dir)}` holds no summary.json (not a finished "
                     f"nndsl run)",
                     soft_wrap=True)
        return EXIT_USER_ERROR
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        summary, reason = None, f"cannot be read ({type(error).__name__})"
    if not (isinstance(summary, dict) and isinstance(summary.get("name"), str)
            and isinstance(summary.get("phases"), list)
            and all(isinstance(row, dict) for row in summary["phases"])):
        reason = "is not an nndsl summary" if summary is not None else reason
        errors.print(f"[red]error:[/red] {escape(str(path))} {reason}", soft_wrap=True)
        return EXIT_USER_ERROR
    if not (Path(run_dir) / "curves.png").exists():
        from nndsl.run.report import write_curves

        write_curves(Path(run_dir), summary["phases"], summary["name"])
    render_report(console, Path(run_dir), summary)
    return EXIT_OK
