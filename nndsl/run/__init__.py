"""Run stage: Plan -> run directory (resolved spec, plan, metrics, checkpoints, summary).

Entry point: `train(spec_path, overrides, run_dir, resume, fast_dev_run)`.
"""

from __future__ import annotations

from nndsl.run.train import RunResult, train

__all__ = ["RunResult", "train"]
