"""Backend stage: the `log_mel` layer's module (complex spectra to normalised log mel energies).

In: the number of frequency bins (n_fft / 2 + 1), the channel, the mel count, the sampling rate.
Out: a module mapping [B, ..., bins, C, 2] to [B, ..., mels]; the filter bank comes from
librosa and is a buffer.
"""

from __future__ import annotations

import torch
from torch import nn

#: Keeps the logarithm finite on silent bins.
POWER_FLOOR = 1e-8


class LogMelModule(nn.Module):
    def __init__(self, bins: int, channel: int, mels: int, sample_rate: float, normalise: bool):
        super().__init__()
        import librosa

        bank = librosa.filters.mel(sr=sample_rate, n_fft=2 * (bins - 1), n_mels=mels)
        self.register_buffer("mel_bank", torch.tensor(bank, dtype=torch.float32))  # [mels, bins]
        self.channel, self.normalise = channel, normalise

    def forward(self, spectra: torch.Tensor) -> torch.Tensor:
        chosen = spectra[..., self.channel, :]  # [B, ..., bins, 2]
        power = chosen.pow(2).sum(dim=-1)
        energies = torch.log(power @ self.mel_bank.T + POWER_FLOOR)
        if not self.normalise:
            return energies
        centred = energies - energies.mean(dim=-1, keepdim=True)
        return centred / (centred.std(dim=-1, keepdim=True) + 1e-5)
