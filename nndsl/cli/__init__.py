"""Command-line layer: parse arguments, call the api, render. No compiler logic lives here.

Exit status: 0 success, 2 a user error (invalid spec, bad arguments, bad data), 130 interrupted.
User errors never print a traceback; a traceback means a bug in nndsl.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from typing import Any

from nndsl.cli.consoles import LazyConsole
from nndsl.cli.exits import EXIT_INTERRUPTED, EXIT_OK, EXIT_USER_ERROR
from nndsl.diagnostics import SpecError

_SHORT_COMMANDS = {"validate", "show", "schema", "ls"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nndsl", description="Validate, show and train "
                                     "neural-network experiments described in YAML.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_overrides(command: argparse.ArgumentParser) -> argparse.ArgumentParser:
        command.add_argument("--set", dest="overrides", action="append", default=[],
                             metavar="PATH=VALUE",
                             help="override a value, e.g. --set optimizer.lr=0.5 (repeatable)")
        return command

    validate = with_overrides(commands.add_parser("validate",
                                                  help="check specs; print every error at once"))
    validate.add_argument("specs", nargs="+", metavar="SPEC")
    validate.add_argument("--format", choices=("text", "json"), default="text")
    show = with_overrides(commands.add_parser("show", help="the resolved network, cuts, phases, "
                                                           "rates, memory plan"))
    show.add_argument("spec", metavar="SPEC")
    show.add_argument("--format", choices=("text", "json", "graphml", "dot"), default="text",
                      help="graphml / dot: the network graph with shapes, parameters, cuts and "
                           "per-phase states as attributes")
    commands.add_parser("schema", help="print the JSON Schema of the spec language")
    commands.add_parser("ls", help="list layer types, data sources and stdlib fragments")
    train = with_overrides(commands.add_parser("train", help="train a spec with PyTorch Lightning"))
    train.add_argument("spec", metavar="SPEC", nargs="?", default=None,
                       help="the spec (optional with --resume, which finds the run's own)")
    train.add_argument("--run-dir", default=None, help="run directory (default: "
                                                       "runs/NAME-TIMESTAMP)")
    train.add_argument("--resume", default=None, metavar="RUN_DIR",
                       help="continue an interrupted run (a SPEC or --set given must match it)")
    train.add_argument("--fast-dev-run", action="store_true",
                       help="one batch of each phase, to smoke-test")
    report = commands.add_parser("report", help="print a finished run's report again")
    report.add_argument("run_dir", metavar="RUN_DIR")
    predict = commands.add_parser("predict", help="a trained run's predictions for a data file")
    predict.add_argument("run_dir", metavar="RUN_DIR")
    predict.add_argument("data", metavar="DATA",
                         help="examples laid out as the run's data: .csv, .npz, a .npy folder, "
                         "Parquet/Arrow data, or Kaldi feats.scp (or its folder)")
    predict.add_argument("--out", default=None, metavar="FILE",
                         help="write CSV (or JSON for .json) here instead of standard output")
    export = commands.add_parser("export", help="a trained run's network as one file")
    export.add_argument("run_dir", metavar="RUN_DIR")
    export.add_argument("--format", choices=("torchscript", "pt2", "onnx"), default="torchscript")
    export.add_argument("--out", default=None, metavar="FILE", help="default: RUN_DIR/model.<ext>")
    tui = commands.add_parser("tui", help="interactive validation and visualisation")
    tui.add_argument("spec", metavar="SPEC")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `nndsl` console script."""
    arguments = build_parser().parse_args(argv)
    # emoji=False: user text such as `root:x:0:0` must not turn `:x:` into an emoji.
    console: Any = LazyConsole(highlight=False, soft_wrap=False, emoji=False)
    errors: Any = LazyConsole(stderr=True, highlight=False, emoji=False)
    if arguments.command != "validate":
        # Only `validate` keeps the stand-ins, so that a valid spec never imports rich (start-up
        # time); the other commands hand their consoles to rich objects (tables, live progress).
        console, errors = console.rich, errors.rich
    # The front-end commands are short: they import and build many long-lived objects (modules,
    # pydantic schemas) and no garbage worth a collection pass, which cost validate start-up time.
    pause_collection = arguments.command in _SHORT_COMMANDS and gc.isenabled()
    if pause_collection:
        gc.disable()
    if arguments.command in _SHORT_COMMANDS:
        # pydantic looks for its plugins (observability hooks) by scanning every installed
        # package's entry points when the first model is built; the front end's models are
        # nndsl's own, so the short commands skip the scan unless the user set the variable.
        os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    try:
        from nndsl.cli import commands

        return getattr(commands, f"run_{arguments.command}")(arguments, console, errors)
    except SpecError as error:
        from nndsl.cli.render import render_diagnostics

        render_diagnostics(errors, error.diagnostics, getattr(error, "sources", {}))
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        errors.print("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader stopped early (`nndsl schema | head`): not an error. Point stdout at
        # /dev/null so the interpreter's final flush does not fail again on exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    finally:
        if pause_collection:
            gc.enable()


if __name__ == "__main__":
    sys.exit(main())
