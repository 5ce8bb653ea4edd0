"""Data stage: the `digits` source, scikit-learn's bundled 8×8 handwritten digits.

In: `layout` (flat vectors or 1×8×8 images) and `scale` (pixels divided by 16). Out: a
`DataSignature` known without loading anything (1797 examples, 10 classes) and, on `load`, the
images as float32 and the labels as int64. The data ships inside scikit-learn (`load_digits`
reads a file in its package), so nothing is downloaded; scikit-learn and numpy are imported only
inside `load`, keeping validation fast.

This is the substitute set for the top-down paper's deep tanh MLP experiment, at a size a CPU
trains in minutes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from nndsl.data.registry import DataArrays, DataSignature, data_source

EXAMPLE_COUNT = 1797
CLASS_COUNT = 10
IMAGE_SIDE = 8
# load_digits stores pixel intensities as counts from 0 to 16 (4×4 blocks of a 32×32 bitmap).
MAXIMUM_PIXEL = 16.0


class DigitsParams(BaseModel):
    """Keys of `data:` for `source: digits` (besides the common ones)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    layout: Literal["flat", "image"] = Field(
        "flat",
        description="flat: 64-value vectors for an MLP; image: 1×8×8 arrays for convolutions",
    )
    scale: bool = Field(
        True, description="divide pixel values (0..16) by 16 so inputs lie in [0, 1]"
    )


@data_source("digits")
class Digits:
    """scikit-learn's 1797 handwritten 8×8 digits, 10 classes; bundled, no download."""

    Params = DigitsParams
    doc = "scikit-learn's bundled 8x8 handwritten digits: 1797 images, 10 classes"

    def signature(self, params: DigitsParams, base_directory: Path) -> DataSignature:
        """Flat (64,) or image (1, 8, 8) inputs, 10 classes; nothing is read."""
        if params.layout == "flat":
            input_shape: tuple[int | str, ...] = (IMAGE_SIDE * IMAGE_SIDE,)
        else:
            input_shape = (1, IMAGE_SIDE, IMAGE_SIDE)
        scaling = "scaled to [0, 1]" if params.scale else "raw counts 0..16"
        return DataSignature(
            input_shape=input_shape,
            input_kind="dense",
            target_kind="class",
            num_classes=CLASS_COUNT,
            example_count=EXAMPLE_COUNT,
            description=f"scikit-learn digits: {EXAMPLE_COUNT} 8x8 images ({scaling}), 10 classes",
        )

    def load(self, params: DigitsParams, base_directory: Path, seed: int) -> DataArrays:
        """The digits as float32 inputs and int64 labels, in scikit-learn's order."""
        import numpy as np
        from sklearn.datasets import load_digits

        bunch = load_digits()
        inputs = np.asarray(bunch.data, dtype=np.float32)
        if params.scale:
            inputs = inputs / MAXIMUM_PIXEL
        if params.layout == "image":
            inputs = inputs.reshape(-1, 1, IMAGE_SIDE, IMAGE_SIDE)
        return DataArrays(
            inputs=np.ascontiguousarray(inputs),
            targets=np.asarray(bunch.target, dtype=np.int64),
            class_names=tuple(str(digit) for digit in range(CLASS_COUNT)),
            feature_names=tuple(bunch.feature_names) if params.layout == "flat" else None,
        )
