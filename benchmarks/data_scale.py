"""Data larger than memory: peak resident memory and throughput of one training epoch on Kaldi,
.npy and Parquet data sets of growing size, read lazily, against the same data in memory.

For each format and size this script writes a data set of about that many bytes on disk
(utterances of 40 features, 100-700 frames, 8 classes told apart by a shifted mean), trains one
epoch of a small model on it with `nndsl train` in a fresh process (length-bucketed batches,
`batch_frames`, no validation, `num_workers: 0` so one process does all the reading), and
reads that process's peak resident memory (VmHWM) and its examples per second during
`Trainer.fit` (torch on one thread). At the smallest size the same data is also trained on
loaded whole (`lazy: false`), lazy and in-memory runs alternated twice (best of two each, as
the shared machine's load drifts), and the lazy / in-memory throughput ratio printed. Each data
set is deleted before the next is written (and everything at the end).

    python benchmarks/data_scale.py                      # 0.5 and 2 GB, every format
    python benchmarks/data_scale.py --sizes 0.5 2 8      # the issue's full sweep (8 GB: long)
    python benchmarks/data_scale.py --smoke              # tiny sets, seconds
    python benchmarks/data_scale.py --sizes 0.5 2 8 --results sweep.jsonl   # resumable

With `--results`, each measurement is appended to that file as it finishes and a rerun with the
same file measures only what is missing; SIGTERM and SIGHUP delete the generated files as Ctrl-C
does.

Goals: resident memory flat from the smallest to the largest size (ratio <= 1.3) and under
1.5 GB; lazy throughput >= 0.8 x in-memory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

FEATURES, CLASSES, SHORTEST, LONGEST = 40, 8, 100, 700
BYTES_PER_UTTERANCE = (SHORTEST + LONGEST) / 2 * FEATURES * 4
GB = 1 << 30


def utterances(total_bytes: float, seed: int = 0):
    """(index, frames matrix, class) of about `total_bytes` of float32 features, chunk by chunk."""
    generator = np.random.default_rng(seed)
    count = max(CLASSES * 4, int(total_bytes / BYTES_PER_UTTERANCE))
    for index in range(count):
        frames = int(generator.integers(SHORTEST, LONGEST + 1))
        label = index % CLASSES
        matrix = generator.standard_normal((frames, FEATURES), dtype=np.float32)
        matrix[:, label] += 0.5  # the class shifts one feature's mean: learnable by pooling
        yield index, matrix, label


def write_kaldi(folder: Path, total_bytes: float) -> dict:
    import kaldiio

    folder.mkdir(parents=True)
    labels, counts = [], []
    with kaldiio.WriteHelper(f"ark,scp:{folder}/feats.ark,{folder}/feats.scp") as writer:
        for index, matrix, label in utterances(total_bytes):
            writer(f"utt{index:07d}", matrix)
            labels.append(f"utt{index:07d} c{label}\n")
            counts.append(f"utt{index:07d} {len(matrix)}\n")
    (folder / "utt2spk").write_text("".join(labels))
    (folder / "utt2num_frames").write_text("".join(counts))
    return {"source": "kaldi", "feats": f"{folder}/feats.scp", "utt2label": f"{folder}/utt2spk"}


def write_npy(folder: Path, total_bytes: float) -> dict:
    folder.mkdir(parents=True)
    count = max(CLASSES * 4, int(total_bytes / BYTES_PER_UTTERANCE))
    # Padded rows: the file holds LONGEST frames per utterance, so fewer utterances fit.
    count = max(CLASSES * 4, int(count * BYTES_PER_UTTERANCE / (LONGEST * FEATURES * 4)))
    inputs = np.lib.format.open_memmap(folder / "inputs.npy", "w+", np.float32,
                                       (count, LONGEST, FEATURES))
    lengths, targets = np.zeros(count, np.int64), np.zeros(count, np.int64)
    for index, matrix, label in utterances(count * BYTES_PER_UTTERANCE):
        if index >= count:
            break
        inputs[index, : len(matrix)] = matrix
        lengths[index], targets[index] = len(matrix), label
    inputs.flush()
    del inputs
    np.save(folder / "input_lengths.npy", lengths)
    np.save(folder / "targets.npy", targets)
    return {"source": "npy_dir", "path": str(folder)}


def write_parquet(folder: Path, total_bytes: float) -> dict:
    import pyarrow as pa
    from pyarrow import parquet

    folder.mkdir(parents=True)
    schema = pa.schema([("features", pa.list_(pa.list_(pa.float32(), FEATURES))),
                        ("label", pa.int64())])
    with parquet.ParquetWriter(folder / "part.parquet", schema) as writer:
        rows: list = []

        def flush() -> None:
            offsets = np.cumsum([0] + [len(matrix) for matrix, _ in rows]).astype(np.int32)
            values = pa.array(np.concatenate([matrix.ravel() for matrix, _ in rows]))
            frames = pa.FixedSizeListArray.from_arrays(values, FEATURES)
            features = pa.ListArray.from_arrays(pa.array(offsets), frames)
            writer.write_table(pa.table({"features": features,
                                         "label": [label for _, label in rows]}, schema=schema))
            rows.clear()

        for _, matrix, label in utterances(total_bytes):
            rows.append((matrix, label))
            if len(rows) == 256:
                flush()
        if rows:
            flush()
    return {"source": "arrow", "path": str(folder), "inputs_column": "features",
            "targets_column": "label"}


WRITERS = {"kaldi": write_kaldi, "npy": write_npy, "parquet": write_parquet}


def spec_text(data: dict, lazy: bool, batch_frames: int) -> str:
    keys = ", ".join(f"{key}: {json.dumps(value)}" for key, value in data.items())
    return f"""nndsl: 1
name: data-scale
seed: 1
data: {{{keys}, lazy: {str(lazy).lower()}, batch_frames: {batch_frames}, valid_fraction: 0}}
network:
  layers:
    - {{name: frame, type: linear, units: 16}}
    - {{name: pool, type: global_pool}}
    - {{name: out, type: linear, units: {CLASSES}}}
loss: {{type: cross_entropy}}
optimizer: {{type: adam, lr: 0.003}}
schedule:
  - {{phase: joint, stop: {{monitor: train/loss, max_epochs: 1}}}}
trainer: {{max_epochs: 1}}
"""


def peak_resident_mb() -> float:
    """This process's peak resident memory (VmHWM). Not `ru_maxrss`: Linux carries into it the
    resident size the forked parent had when the child was started (the parent may just have
    written a memory-mapped data set), which is not the training process's own."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB; not Linux


def child(spec: str, run_dir: str) -> None:
    """Train `spec` once (this process); print fit seconds, examples and peak RSS as JSON."""
    import torch
    from lightning.pytorch import Trainer

    from nndsl.run.train import train

    # One intra-op thread: on a small shared machine torch's threads mostly wait on each other
    # (an epoch here ran 4x slower with two), which would bury the data path under noise.
    torch.set_num_threads(1)

    fits: list[float] = []
    original_fit = Trainer.fit

    def timed_fit(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return original_fit(self, *args, **kwargs)
        finally:
            fits.append(time.perf_counter() - start)

    Trainer.fit = timed_fit
    result = train(spec, run_dir=run_dir, progress_bar=False)
    statistics = json.loads((result.directory / "data_statistics.json").read_text()) \
        if (result.directory / "data_statistics.json").exists() else {}
    peak = peak_resident_mb()
    print(json.dumps({"fit_seconds": sum(fits), "examples": statistics.get("examples"),
                      "peak_rss_mb": peak}))


def measure(data: dict, lazy: bool, work: Path, batch_frames: int) -> dict:
    spec = work / f"spec-{'lazy' if lazy else 'memory'}.yaml"
    spec.write_text(spec_text(data, lazy, batch_frames))
    run_dir = work / f"run-{'lazy' if lazy else 'memory'}"
    environment = {**os.environ, "HF_DATASETS_CACHE": str(work / "hf-cache")}
    finished = subprocess.run([sys.executable, __file__, "--child", str(spec), str(run_dir)],
                              capture_output=True, text=True, env=environment, check=False)
    if finished.returncode != 0:
        raise SystemExit(f"training failed:\n{finished.stdout[-3000:]}\n{finished.stderr[-3000:]}")
    shutil.rmtree(run_dir, ignore_errors=True)
    result = json.loads(finished.stdout.strip().splitlines()[-1])
    result["throughput"] = result["examples"] / result["fit_seconds"]
    return result


def data_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def read_results(path: Path | None, batch_frames: int) -> dict[tuple[str, float, str], dict]:
    """Measurements an earlier, interrupted run recorded with the same frame budget:
    (format, size, mode) -> result."""
    if path is None or not path.exists():
        return {}
    recorded = {}
    for line in path.read_text().splitlines():
        if line.strip():
            entry = json.loads(line)
            if entry.get("batch_frames") == batch_frames:
                recorded[entry["format"], entry["size"], entry["mode"]] = entry
    return recorded


def measure_size(name: str, size: float, work: Path, compare: bool, arguments) -> dict:
    """Write one data set, train on it lazily (and, with `compare`, in memory) and delete it;
    returns {"lazy": result, "memory": result or None}, each with the size written."""
    started = time.perf_counter()
    data = WRITERS[name](work / "data", size * GB)
    written = data_bytes(work / "data") / GB
    try:
        lazy = measure(data, True, work, arguments.batch_frames)
        memory = None
        if compare:
            # Alternated and best of two each: the machine's load changes meanwhile.
            memory = measure(data, False, work, arguments.batch_frames)
            for _ in range(0 if arguments.smoke else 1):
                again = measure(data, True, work, arguments.batch_frames)
                lazy = max(lazy, again, key=lambda result: result["throughput"])
                again = measure(data, False, work, arguments.batch_frames)
                memory = max(memory, again, key=lambda result: result["throughput"])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    seconds = time.perf_counter() - started
    return {mode: None if result is None else {**result, "written_gb": written,
                                               "seconds": seconds}
            for mode, result in (("lazy", lazy), ("memory", memory))}


def report(name: str, lazy: dict, memory: dict | None) -> None:
    print(f"{name:8s} {lazy['written_gb']:6.2f} GB on disk: lazy peak RSS "
          f"{lazy['peak_rss_mb']:7.0f} MB, {lazy['throughput']:8.1f} examples/s "
          f"({lazy['examples']} examples; written and measured in {lazy['seconds']:.0f} s)",
          flush=True)
    if memory is not None:
        print(f"{name:8s} {memory['written_gb']:6.2f} GB in memory: peak RSS "
              f"{memory['peak_rss_mb']:7.0f} MB, {memory['throughput']:8.1f} examples/s",
              flush=True)
        print(f"{name:8s} throughput ratio lazy / in memory: "
              f"{lazy['throughput'] / memory['throughput']:.2f} (goal >= 0.8)", flush=True)


def stop_on_signal(number: int, frame) -> None:
    """SIGTERM / SIGHUP end the run like Ctrl-C: the `finally` clauses delete the data sets."""
    raise SystemExit(f"data_scale: stopped by signal {number}; generated files deleted")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sets (seconds)")
    parser.add_argument("--sizes", type=float, nargs="+", default=[0.5, 2.0],
                        help="data set sizes in GB")
    parser.add_argument("--formats", nargs="+", default=list(WRITERS), choices=list(WRITERS))
    parser.add_argument("--batch-frames", type=int, default=20000)
    parser.add_argument("--workdir", default=None, help="where to write (default: a temp dir)")
    parser.add_argument("--no-memory", action="store_true", help="skip the in-memory runs (a "
                        "large smallest size would not fit in memory)")
    parser.add_argument("--results", type=Path, default=None, help="a JSON-lines file: each "
                        "measurement is appended as it finishes, and a rerun with the same file "
                        "skips what it holds (an interrupted sweep continues where it stopped)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        child(*arguments.child)
        return
    sizes = [0.003] if arguments.smoke else arguments.sizes  # smoke: every path, once
    for number in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, stop_on_signal)
    recorded = read_results(arguments.results, arguments.batch_frames)
    root = Path(tempfile.mkdtemp(prefix="nndsl-data-scale-", dir=arguments.workdir))
    print(f"data_scale: sizes {sizes} GB, formats {arguments.formats}, batch_frames "
          f"{arguments.batch_frames}, num_workers 0 (one process reads and trains); data sets "
          f"written under {root}", flush=True)
    try:
        for name in arguments.formats:
            peaks = []
            for position, size in enumerate(sizes):
                # --smoke compares once, for the first format: every path runs, briefly.
                compare = (position == 0 and not arguments.no_memory
                           and not (arguments.smoke and name != arguments.formats[0]))
                results = {mode: recorded.get((name, size, mode)) for mode in ("lazy", "memory")}
                if results["lazy"] is None or (compare and results["memory"] is None):
                    results = measure_size(name, size, root / f"{name}-{size}", compare,
                                           arguments)
                    if arguments.results is not None:
                        with arguments.results.open("a") as stream:
                            for mode, result in results.items():
                                if result is not None:
                                    stream.write(json.dumps({
                                        "format": name, "size": size, "mode": mode,
                                        "batch_frames": arguments.batch_frames, **result}) + "\n")
                report(name, results["lazy"], results["memory"] if compare else None)
                peaks.append(results["lazy"]["peak_rss_mb"])
            if len(sizes) > 1:
                print(f"{name:8s} peak RSS ratio {sizes[-1]} GB / {sizes[0]} GB: "
                      f"{peaks[-1] / peaks[0]:.2f} (goal <= 1.3); largest {max(peaks):.0f} MB "
                      "(goal < 1536)", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
