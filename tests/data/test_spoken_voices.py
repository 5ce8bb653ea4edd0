"""Validating `spoken_words` voices asks espeak-ng for its listings once, not once per voice
list: each start of the synthesiser is part of what `nndsl validate` waits for.

A stand-in `espeak-ng` (a shell script writing espeak-ng's listing format and counting its
starts) keeps the test independent of an installed synthesiser."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from nndsl.data.registry import DATA_SOURCES, DataSourceError
from nndsl.data.spoken_words import SpokenWordsParams

SOURCE = DATA_SOURCES.get("spoken_words")

LANGUAGES = """Pty Language       Age/Gender VoiceName          File                 Other Languages
 5  en-gb           --/M      English_(Great_Britain) gmw/en             (en 2)
 5  de              --/M      German             gmw/de
"""
VARIANTS = """Pty Language       Age/Gender VoiceName          File                 Other Languages
 5  variant         --/M      m1                 !v/m1
 5  variant         --/F      f2                 !v/f2
"""


def stand_in_synthesiser(folder: Path) -> tuple[Path, Path]:
    """An executable answering `--voices` and `--voices=variant`, and the file logging its
    starts (one line each)."""
    log = folder / "starts.log"
    (folder / "languages.txt").write_text(LANGUAGES)
    (folder / "variants.txt").write_text(VARIANTS)
    script = folder / "espeak-ng"
    script.write_text(f"""#!/bin/sh
echo "$1" >> {log}
if [ "$1" = "--voices=variant" ]; then cat {folder / "variants.txt"}; \
else cat {folder / "languages.txt"}; fi
""")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script, log


def params(synthesiser: Path, **keys) -> SpokenWordsParams:
    values = {"utterances": 4, "test_utterances": 2, "words": ["yes", "no"],
              "voices": ["en+m1", "de"], "test_voices": ["en+f2"], "max_words": 1,
              "synthesiser": str(synthesiser)}
    values.update(keys)
    return SpokenWordsParams.model_validate(values)


def test_both_voice_lists_are_checked_against_one_pair_of_listings(tmp_path):
    synthesiser, log = stand_in_synthesiser(tmp_path)
    SOURCE.signature(params(synthesiser), tmp_path)
    assert sorted(log.read_text().split()) == ["--voices", "--voices=variant"]


@pytest.mark.parametrize(("field", "voice"), [("voices", "en+m9"), ("test_voices", "xx+m1")])
def test_an_unknown_voice_in_either_list_is_still_refused(tmp_path, field, voice):
    synthesiser, _ = stand_in_synthesiser(tmp_path)
    with pytest.raises(DataSourceError) as caught:
        SOURCE.signature(params(synthesiser, **{field: [voice]}), tmp_path)
    assert caught.value.field == field and voice in caught.value.message
