"""Run stage: `nndsl export` — a trained run's network as one self-contained file.

In: a run directory and a format. Out: `model.<ext>` in the run directory (or the path given):
`torchscript` (`torch.jit.trace`, loadable with `torch.jit.load` without nndsl), `pt2`
(`torch.export`, loadable with `torch.export.load`), or `onnx` (`torch.onnx.export`, only when
the optional `onnx` and `onnxscript` packages are installed). The module maps inputs [B, ...] to
the network's outputs, or an ensemble's stacked member outputs [M, B, ...]; the batch size is
free (a dynamic dimension).
"""

from __future__ import annotations

import importlib.util
import inspect
import logging
import warnings
from pathlib import Path
from typing import Any

import torch

from nndsl.run.trained import Predictor, TrainedRun, UnrolledEnsemble

SUFFIXES = {"torchscript": ".ts", "pt2": ".pt2", "onnx": ".onnx"}


class ExportError(Exception):
    """The export could not be made (a missing optional package, an untraceable network)."""


def export_run(run: TrainedRun, kind: str, out: Path | None = None) -> Path:
    """Write the exported module; returns its path."""
    signature = run.compiled.signature
    assert signature is not None
    if signature.input_kind != "dense":
        raise ExportError(
            f"export takes fixed-shape inputs; this run's inputs are {signature.input_kind}"
        )
    path = out or run.directory / f"model{SUFFIXES[kind]}"
    predictor = (
        UnrolledEnsemble(run.network, run.feature_statistics) if run.ensemble
        else Predictor(run.network, False, run.feature_statistics)
    ).eval()
    example = torch.zeros(2, *signature.input_shape)
    if kind == "torchscript":
        with torch.no_grad():
            traced = torch.jit.trace(predictor, example, check_trace=False)
        traced.save(str(path))
    elif kind == "pt2":
        batch = torch.export.Dim("batch", min=1)
        with torch.no_grad():
            program = torch.export.export(
                predictor, (example,), dynamic_shapes={"inputs": {0: batch}}
            )
        torch.export.save(program, str(path))
    else:
        missing = [
            name for name in ("onnx", "onnxscript") if importlib.util.find_spec(name) is None
        ]
        if missing:
            raise ExportError(
                f"onnx export needs the {' and '.join(missing)} package(s): "
                "pip install 'nndsl[onnx]' (or use --format torchscript / pt2)"
            )
        # torch's exporter logs every torchvision operator it skips and warns about its own
        # pytree helpers: not the user's business.
        logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            _onnx(predictor, example, path, run.ensemble)
    return path


def _onnx(predictor: torch.nn.Module, example: torch.Tensor, path: Path, ensemble: bool) -> None:
    """torch.onnx.export with a free batch size: `dynamic_shapes` where the exporter takes it
    (the torch.export-based one), `dynamic_axes` on older torch."""
    if "dynamic_shapes" in inspect.signature(torch.onnx.export).parameters:
        free: dict[str, Any] = {"dynamic_shapes": {"inputs": {0: torch.export.Dim("batch", min=1)}}}
    else:
        free = {
            "dynamic_axes": {"inputs": {0: "batch"}, "outputs": {1 if ensemble else 0: "batch"}}
        }
    torch.onnx.export(
        predictor,
        (example,),
        str(path),
        input_names=["inputs"],
        output_names=["outputs"],
        verbose=False,
        **free,
    )
