"""Command-line layer: one function per command, each returning an exit status."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from nndsl.api import compile_spec
from nndsl.cli.exits import EXIT_OK, EXIT_USER_ERROR

if TYPE_CHECKING:  # the consoles are `LazyConsole`s standing in for rich's (start-up time)
    from rich.console import Console


def run_validate(arguments: argparse.Namespace, console: Console, errors: Console) -> int:
    results = [compile_spec(path, arguments.overrides) for path in arguments.specs]
    if arguments.format == "json":
        from nndsl.cli.render import diagnostics_json

        console.print_json(diagnostics_json([(result.path, result.diagnostics)
                                             for result in results]))
    else:
        for result in results:
            if not result.diagnostics:  # rich is imported only to render them (start-up time)
                console.status_line("✓", "green", f"{result.path}: valid")
                continue
            from nndsl.cli.render import render_diagnostics, summary_text

            render_diagnostics(errors, result.diagnostics, result.sources)
            if result.ok:
                console.status_line("✓", "green", summary_text(result.path, result.diagnostics))
            else:
                errors.status_line("✗", "red", summary_text(result.path, result.diagnostics))
    return EXIT_OK if all(result.ok for result in results) else EXIT_USER_ERROR


def run_show(arguments: argparse.Namespace, console: Console, errors: Console) -> int:
    from nndsl.cli.render import render_diagnostics

    result = compile_spec(arguments.spec, arguments.overrides)
    render_diagnostics(errors, result.diagnostics, result.sources)  # warnings of a valid spec too
    if not result.ok:
        return EXIT_USER_ERROR
    if arguments.format == "json":
        import json

        console.print_json(json.dumps({"graph": result.graph.to_dict(),
                                       "plan": result.plan.to_dict()}))
        return EXIT_OK
    if arguments.format in ("graphml", "dot"):
        from nndsl.cli.show_graph import GraphFormatError, graph_text

        try:
            print(graph_text(result, arguments.format), end="", flush=True)
        except GraphFormatError as error:
            errors.print(f"error: {error}", markup=False)
            return EXIT_USER_ERROR
        return EXIT_OK
    from nndsl.cli.show import render_show

    render_show(console, result)
    return EXIT_OK


def run_schema(arguments: argparse.Namespace, console: Console, errors: Console) -> int:
    import json

    from nndsl.cli.schema import spec_schema

    # Flushed here, so that a reader who stops early (`| head`) is noticed inside `main`.
    print(json.dumps(spec_schema(), indent=2), flush=True)
    return EXIT_OK


def run_ls(arguments: argparse.Namespace, console: Console, errors: Console) -> int:
    from nndsl.cli.listing import render_listing

    render_listing(console)
    return EXIT_OK


def run_train(arguments: argparse.Namespace, console: Console, errors: Console) -> int:
    from nndsl.cli.training import run_training

    return run_training(arguments, console, errors)


def run_report(arguments: argparse.Namespace, console: Console, errors: Console) -> int:
    from nndsl.cli.training import print_report

    return print_report(arguments.run_dir, console, errors)


def run_predict(arguments: argparse.Namespace, console: Console, errors: Console) -> int:
    from nndsl.cli.use import run_predict as predict

    return predict(arguments, console, errors)


def run_export(arguments: argparse.Namespace, console: Console, errors: Console) -> int:
    from nndsl.cli.use import run_export as export

    return export(arguments, console, errors)


def run_tui(arguments: argparse.Namespace, console: Console, errors: Console) -> int:
    from nndsl.tui import run_tui as start

    return start(arguments.spec)
