"""Command-line layer: `nndsl predict` and `nndsl export`, using a finished run.

A run directory that is not a finished run, an unreadable weights file, an input file that does
not fit the run and a failed export are one-line errors with exit status 2; a spec that no longer
compiles (its data file moved) is shown as diagnostics by the caller.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rich.markup import escape

from nndsl.cli.exits import EXIT_OK, EXIT_USER_ERROR


def _open(run_dir: str, errors: Any) -> Any:
    from nndsl.run.rundir import RunDirectoryError
    from nndsl.run.safe_load import UnreadableCheckpoint
    from nndsl.run.trained import open_trained_run

    try:
        return open_trained_run(run_dir)
    except (RunDirectoryError, UnreadableCheckpoint) as error:
        errors.print(f"[red]error:[/red] {escape(str(error))}", soft_wrap=True)
        return None


def run_predict(arguments: argparse.Namespace, console: Any, errors: Any) -> int:
    from nndsl.run.predict import predict, prediction_table, table_text
    from nndsl.run.predict_inputs import PredictionInputError, read_inputs

    run = _open(arguments.run_dir, errors)
    if run is None:
        return EXIT_USER_ERROR
    try:
        inputs = read_inputs(run, Path(arguments.data))
    except PredictionInputError as error:
        errors.print(f"[red]error:[/red] {escape(str(error))}", soft_wrap=True)
        return EXIT_USER_ERROR
    out = Path(arguments.out) if arguments.out else None
    outputs, output_lengths = predict(run, inputs)
    text = table_text(
        prediction_table(run, outputs, output_lengths, inputs.ids),
        as_json=out is not None and out.suffix == ".json",
    )
    if out is None:
        sys.stdout.write(text)
        return EXIT_OK
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as error:
        errors.print(
            f"[red]error:[/red] cannot write `{escape(str(out))}`: "
            f"{escape(error.strerror or str(error))}",
            soft_wrap=True,
        )
        return EXIT_USER_ERROR
    console.print(f"{len(inputs)} predictions written to {escape(str(out))}")
    return EXIT_OK


def run_export(arguments: argparse.Namespace, console: Any, errors: Any) -> int:
    from nndsl.run.export import ExportError, export_run

    run = _open(arguments.run_dir, errors)
    if run is None:
        return EXIT_USER_ERROR
    try:
        path = export_run(run, arguments.format, Path(arguments.out) if arguments.out else None)
    except ExportError as error:
        errors.print(f"[red]error:[/red] {escape(str(error))}", soft_wrap=True)
        return EXIT_USER_ERROR
    except OSError as error:
        errors.print(
            f"[red]error:[/red] cannot write: {escape(error.strerror or str(error))}",
            soft_wrap=True,
        )
        return EXIT_USER_ERROR
    console.print(f"exported ({arguments.format}) to {escape(str(path))}")
    return EXIT_OK
