"""Data stage: speaking, noising and featurising the `spoken_words` corpus, and its cache file.

In: a plan of utterances (words, voice, rate, pitch, gain, SNR, one per row) and the synthesiser
`espeak-ng` on PATH. Out: per utterance, 40-dim log-mel filter-bank frames (25 ms windows, 10 ms
hop, 16 kHz, as the top-down paper's front end) and the audio's duration; all utterances are
written to one `.npz` cache file.

The cache is written to a temporary file in the cache directory and renamed into place only once
complete (`os.replace` is atomic within one file system), so an interrupted generation leaves no
file a later run would read; the temporary file is removed on any failure. numpy and librosa are
imported inside functions: validation never generates anything.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path
from typing import Any

from nndsl.data.registry import DataSourceError

SYNTHESISER = "espeak-ng"
SAMPLE_RATE = 16_000
WINDOW_SAMPLES = 400  # 25 ms at 16 kHz
HOP_SAMPLES = 160  # 10 ms at 16 kHz
INSTALL_HINT = ("install the espeak-ng speech synthesiser, e.g. `apt-get install espeak-ng` "
                "(Debian/Ubuntu) or `brew install espeak-ng` (macOS), so that `espeak-ng` is on "
                "PATH")
MISSING_CODE = "E475"


def synthesiser_path(name: str = SYNTHESISER) -> str:
    """The espeak-ng executable: `name` looked up on PATH, or a path to it.

    Raises:
        DataSourceError: E475, it is not installed (or not on PATH), with how to install it;
            located at `synthesiser` when the spec names one, else at `source`.
    """
    found = shutil.which(name)
    if found is None:
        raise DataSourceError(f"the `spoken_words` corpus is spoken by the espeak-ng synthesiser, "
                              f"and `{name}` is not installed (not found on PATH)",
                              "source" if name == SYNTHESISER else "synthesiser",
                              INSTALL_HINT, code=MISSING_CODE)
    return found


def check_voices(voices: tuple[str, ...], field: str, synthesiser: str = SYNTHESISER) -> None:
    """Every voice ("LANGUAGE" or "LANGUAGE+VARIANT") is one espeak-ng has installed; espeak-ng
    itself falls back to its default voice for an unknown variant without a word.

    Raises:
        DataSourceError: E412 at `field`, naming the unknown voice; E475 without espeak-ng.
    """
    languages, variants = installed_voices(synthesiser_path(synthesiser))
    for voice in voices:
        language, _, variant = voice.partition("+")
        if language.lower() not in languages or (variant and variant not in variants):
            unknown = (f"variant {variant!r}" if language.lower() in languages
                       else f"language {language!r}")
            raise DataSourceError(f"espeak-ng has no voice {voice!r} (unknown {unknown})", field,
                                  "list them with `espeak-ng --voices` (languages) and `espeak-ng "
                                  "--voices=variant`; write LANGUAGE+VARIANT, e.g. en+m3")


@functools.lru_cache(maxsize=None)
def installed_voices(executable: str) -> tuple[frozenset[str], frozenset[str]]:
    """The language names and voice variants `executable` (espeak-ng) lists.

    Asked once per process and executable, both listings at once: `nndsl validate` waits for
    them (the training and test voices are checked against the same listings), and each
    espeak-ng start took 10-30 ms on a 2-core machine, against a 0.3 s budget for the command.
    """
    listings = [subprocess.Popen([executable, option], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, text=True)
                for option in ("--voices", "--voices=variant")]
    language_listing, variant_listing = (process.communicate()[0] for process in listings)
    languages: set[str] = set()
    for line in language_listing.splitlines()[1:]:
        columns = line.split()
        if len(columns) >= 5:
            # Codes ("en-gb"), file names ("gmw/en" -> "en") and the "(en 2)" aliases all select.
            languages.update({columns[1].lower(), columns[4].rsplit("/", 1)[-1].lower()})
            languages.update(alias.strip("(").lower() for alias in columns[5::2])
    variants = {line.split()[4].removeprefix("!v/") for line in variant_listing.splitlines()[1:]
                if len(line.split()) >= 5}
    return frozenset(languages), frozenset(variants)


def phonemes(words: tuple[str, ...], synthesiser: str = SYNTHESISER,
             language: str = "en") -> dict[str, tuple[str, ...]]:
    """Each word's phones in `language` as espeak-ng's ASCII phoneme mnemonics (`-x`), stress
    marks dropped."""
    executable = synthesiser_path(synthesiser)
    result: dict[str, tuple[str, ...]] = {}
    for word in words:
        output = subprocess.run([executable, "-v", language, "-q", "-x", "--sep=_", "--", word],
                                capture_output=True, text=True, check=True).stdout
        # Stress and syllable marks (' , % =) are not phones; words and lines split on space.
        phones = [phone.strip("',%=") for token in output.split() for phone in token.split("_")]
        result[word] = tuple(phone for phone in phones if phone)
    return result


def speak(executable: str, text: str, voice: str, rate: int, pitch: int, folder: str) -> Any:
    """espeak-ng's audio for `text` as float32 samples at its own rate, and that rate."""
    import numpy as np

    wav_path = os.path.join(folder, "utterance.wav")
    # The text is an argument, never passed through a shell; "--" ends the options.
    completed = subprocess.run(
        [executable, "-v", voice, "-s", str(rate), "-p", str(pitch), "-w", wav_path, "--", text],
        capture_output=True, text=True)
    if completed.returncode != 0:
        raise DataSourceError(f"espeak-ng failed on voice {voice!r}: "
                              f"{completed.stderr.strip() or completed.returncode}", "voices",
                              "list the installed voice variants with `espeak-ng --voices=variant`")
    with wave.open(wav_path, "rb") as reader:
        rate_hz = reader.getframerate()
        samples = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2")
    return samples.astype(np.float32) / 32768.0, rate_hz


def features(samples: Any, rate_hz: int, gain_db: float, snr_db: float | None,
             generator: Any) -> Any:
    """(frames, 40) float32 log-mel filter banks of the samples resampled to 16 kHz, scaled by
    `gain_db` and with white noise at `snr_db` (None: clean) drawn from `generator`."""
    import librosa
    import numpy as np

    audio = librosa.resample(samples, orig_sr=rate_hz, target_sr=SAMPLE_RATE, res_type="soxr_hq")
    audio = audio * (10.0 ** (gain_db / 20.0))
    if snr_db is not None:
        # The SNR is measured over the whole utterance, its silences included.
        power = float(np.mean(audio ** 2)) or 1e-10
        noise_power = power / (10.0 ** (snr_db / 10.0))
        audio = audio + generator.standard_normal(len(audio)) * np.sqrt(noise_power)
    mel = librosa.feature.melspectrogram(
        y=audio.astype(np.float32), sr=SAMPLE_RATE, n_fft=WINDOW_SAMPLES, win_length=WINDOW_SAMPLES,
        hop_length=HOP_SAMPLES, n_mels=40, center=False, power=2.0)
    return np.log(mel + 1e-6).T.astype(np.float32)


def generate(plan: list[dict[str, Any]], seed: int, target: Path, synthesiser: str = SYNTHESISER,
             show_progress: bool = True) -> None:
    """Speak, noise and featurise every planned utterance and write them atomically to `target`.

    Each utterance's noise comes from its own generator seeded by (seed, index), so an
    utterance's features do not depend on the order of generation.

    Raises:
        DataSourceError: the synthesiser is missing or fails, or the cache cannot be written.
    """
    import numpy as np
    from rich.console import Console
    from rich.progress import Progress

    executable = synthesiser_path(synthesiser)
    frames: list[np.ndarray] = []
    durations = np.zeros(len(plan), dtype=np.float64)
    with tempfile.TemporaryDirectory(prefix="nndsl-speak-") as folder, Progress(
            console=Console(stderr=True), transient=True, disable=not show_progress) as progress:
        task = progress.add_task(f"speaking {len(plan)} utterances with espeak-ng", total=len(plan))
        for index, row in enumerate(plan):
            samples, rate_hz = speak(executable, row["text"], row["voice"], row["rate"],
                                     row["pitch"], folder)
            durations[index] = len(samples) / rate_hz
            generator = np.random.default_rng([seed, index])
            frames.append(features(samples, rate_hz, row["gain_db"], row["snr_db"], generator))
            progress.advance(task)
    lengths = np.array([len(block) for block in frames], dtype=np.int64)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".partial-", suffix=".npz", dir=target.parent)
    except OSError as error:
        raise DataSourceError(f"cannot write the spoken corpus cache in {target.parent}: "
                              f"{error.strerror or error}", "cache_dir",
                              "set `cache_dir:` under `data:` to a writable folder") from None
    try:
        with os.fdopen(handle, "wb") as stream:
            np.savez(stream, frames=np.concatenate(frames), lengths=lengths, durations=durations)
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide a shared cache from other users
        os.replace(temporary, target)
    except BaseException:
        # Interrupted or failed: the partial file must not survive under any name a run reads.
        Path(temporary).unlink(missing_ok=True)
        raise
