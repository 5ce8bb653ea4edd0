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
from pathlib import Path

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
        raise ExportError(f"export takes fixed-shape inputs; this run's inputs are {signature.input_kind}")
    path = out or run.directory / f"model{SUFFIXES[kind]}"
    predictor = (UnrolledEnsemble(run.network) if run.ensemble else Predictor(run.network, False)).eval()
    example = torch.zeros(2, *signature.input_shape)
    if kind == "torchscript":
        with torch.no_grad():
            traced = torch.jit.trace(predictor, example, check_trace=False)
        traced.save(str(path))
    elif kind == "pt2":
        batch = torch.export.Dim("batch", min=1)
        with torch.no_grad():
            program = torch.export.export(predictor, (example,), dynamic_shapes={"inputs": {0: batch}})
        torch.export.save(program, str(path))
    else:
        missing = [name for name in ("onnx", "onnxscript") if importlib.util.find_spec(name) is None]
        if missing:
            raise ExportError(f"onnx export needs the {' and '.join(missing)} package(s): "
                              f"pip install {' '.join(missing)} (or use --format torchscript / pt2)")
        torch.onnx.export(predictor, (example,), str(path), input_names=["inputs"], output_names=["outputs"],
                          dynamic_axes={"inputs": {0: "batch"}, "outputs": {1 if run.ensemble else 0: "batch"}})
    return path
