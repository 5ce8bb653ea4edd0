"""Write the small speaker-identification data sets the lazy-data specs read: the same 90
utterances (8 features, 20-60 frames, 3 speakers with shifted means) as a Kaldi data directory
(feats.ark/scp, utt2spk, utt2num_frames), a directory of .npy arrays and a Parquet file.

    python tools/make_speaker_data.py specs/data      # what specs/lazy_*.yaml read
"""

from __future__ import annotations

import sys
from pathlib import Path

import kaldiio
import numpy as np
import pyarrow as pa
from pyarrow import parquet

FEATURES, SPEAKERS, UTTERANCES, LONGEST = 8, 3, 90, 60


def utterances() -> list[tuple[str, np.ndarray, int]]:
    generator = np.random.default_rng(2024)
    rows = []
    for index in range(UTTERANCES):
        speaker = index % SPEAKERS
        matrix = generator.normal(0.0, 1.0, size=(int(generator.integers(20, LONGEST + 1)),
                                                   FEATURES)).astype(np.float32)
        matrix[:, speaker] += 1.5
        rows.append((f"spk{speaker}-utt{index:03d}", matrix, speaker))
    return rows


def main(root: Path) -> None:
    rows = utterances()
    kaldi = root / "speakers_kaldi"
    kaldi.mkdir(parents=True, exist_ok=True)
    with kaldiio.WriteHelper(f"ark,scp:{kaldi}/feats.ark,{kaldi}/feats.scp") as writer:
        for name, matrix, _ in rows:
            writer(name, matrix)
    # Relative ark paths, as Kaldi recipes write them: the scp is read from any directory.
    scp = kaldi / "feats.scp"
    scp.write_text(scp.read_text().replace(f"{kaldi}/", ""))
    (kaldi / "utt2spk").write_text("".join(f"{name} s{speaker}\n" for name, _, speaker in rows))
    (kaldi / "utt2num_frames").write_text("".join(f"{name} {len(matrix)}\n"
                                                  for name, matrix, _ in rows))
    npy = root / "speakers_npy"
    npy.mkdir(parents=True, exist_ok=True)
    padded = np.zeros((len(rows), LONGEST, FEATURES), dtype=np.float32)
    for position, (_, matrix, _) in enumerate(rows):
        padded[position, : len(matrix)] = matrix
    np.save(npy / "inputs.npy", padded)
    np.save(npy / "input_lengths.npy", np.array([len(matrix) for _, matrix, _ in rows]))
    np.save(npy / "targets.npy", np.array([speaker for _, _, speaker in rows]))
    table = pa.table({
        "features": pa.array([matrix.tolist() for _, matrix, _ in rows],
                             pa.list_(pa.list_(pa.float32()))),
        "speaker": pa.array([speaker for _, _, speaker in rows], pa.int64())})
    parquet.write_table(table, root / "speakers.parquet")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "specs/data"))
