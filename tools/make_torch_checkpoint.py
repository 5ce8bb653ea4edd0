"""Write a checkpoint of a network trained outside nndsl, the kind `init_from` maps with
`strip_prefix` and `rename` patterns: a plain torch module (`encoder.fc1`, `head`) trained on
scikit-learn's digits (pixels / 16), saved as a LightningModule holding it as `self.model` would
be (`{"state_dict": {"model.encoder.fc1.weight": ...}}`).

    python tools/make_torch_checkpoint.py specs/data   # what specs/finetune_from_torch.yaml reads
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from sklearn.datasets import load_digits
from torch import nn


class Classifier(nn.Module):
    """A user's own module: an encoder of one hidden layer and a head."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Module()
        self.encoder.fc1 = nn.Linear(64, 32)
        self.head = nn.Linear(32, 10)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.head(torch.tanh(self.encoder.fc1(inputs)))


def main(folder: Path) -> None:
    torch.manual_seed(0)
    digits = load_digits()
    inputs = torch.tensor(digits.data / 16, dtype=torch.float32)
    targets = torch.tensor(digits.target)
    model = Classifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(150):  # full batch: a few seconds on a CPU
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(inputs), targets).backward()
        optimizer.step()
    accuracy = (model(inputs).argmax(-1) == targets).float().mean().item()
    state = {f"model.{key}": value for key, value in model.state_dict().items()}
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": state, "epoch": 150}, folder / "torch_mlp_digits.ckpt")
    print(f"wrote {folder / 'torch_mlp_digits.ckpt'} (training accuracy {accuracy:.3f})")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "specs/data"))
