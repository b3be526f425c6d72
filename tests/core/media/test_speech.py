"""Speech for real: espeak-ng into every output format (decoded and checked), sentence streaming, a neural
voice from a tiny VITS folder, cloned voices, and bad input with clear messages."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile

from nexus_core.cli import main
from nexus_core.media.audio import AudioClip, AudioError, read_audio, save_audio
from nexus_core.media.speech import SpeechEngine, SpeechError, espeak_voices, model_voice, split_sentences
from nexus_core.media.voices import VoiceStore

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None and shutil.which("espeak") is None,
                                  reason="espeak-ng is not installed (./setup.sh installs it)")
TEXT = "Nexus Studio can read this aloud. It has a second sentence! And a third one?"


def test_sentences_are_split_in_order_and_long_ones_are_cut() -> None:
    assert split_sentences(TEXT) == ["Nexus Studio can read this aloud.", "It has a second sentence!",
                                     "And a third one?"]
    long = " ".join(["word"] * 200) + "."
    pieces = split_sentences(long, max_chars=100)
    assert all(len(p) <= 101 for p in pieces) and " ".join(pieces) == long
    assert split_sentences("  \n ") == []


@needs_espeak
@pytest.mark.parametrize(("suffix", "fmt"), [(".wav", "WAV"), (".mp3", "MP3"), (".ogg", "OGG"), (".flac", "FLAC")])
def test_espeak_speaks_into_every_format(suffix: str, fmt: str, tmp_path: Path) -> None:
    engine = SpeechEngine()
    clip = engine.synthesize(TEXT, engine.resolve("en-us"))
    path = save_audio(clip, tmp_path / f"speech{suffix}")
    info = soundfile.info(str(path))
    assert info.format == fmt and info.samplerate == 22050 and info.channels == 1
    assert 3.0 < info.duration < 12.0  # three short sentences
    back = read_audio(path)
    assert abs(back.seconds - clip.seconds) < 0.1 and float(np.abs(back.samples).max()) > 0.05  # not silence
    assert not list(tmp_path.glob("*.partial"))


@needs_espeak
def test_streaming_yields_each_sentence_before_the_next_is_made() -> None:
    engine = SpeechEngine()
    voice = engine.resolve("espeak:en-gb")
    made: list[AudioClip] = []
    for clip in engine.stream(TEXT, voice, should_stop=lambda: len(made) >= 1):
        made.append(clip)
    assert len(made) == 1  # the first sentence arrived alone; stopping then made no more
    whole = list(engine.stream(TEXT, voice))
    assert len(whole) == 3 and whole[0].seconds < sum(c.seconds for c in whole) / 2
    assert np.array_equal(made[0].samples, whole[0].samples)


@needs_espeak
def test_voices_list_languages_and_bad_requests_say_what_to_do(tmp_path: Path) -> None:
    ids = {v.id for v in espeak_voices()}
    assert {"espeak:en-us", "espeak:de", "espeak:fr"} <= ids and not any("mbrola" in v.name for v in espeak_voices())
    engine = SpeechEngine()
    with pytest.raises(SpeechError, match="no text to speak"):
        engine.synthesize("   ", engine.resolve(None))
    with pytest.raises(SpeechError, match="no language 'zz'"):
        engine.synthesize("hello", engine.resolve("en-us"), language="zz")
    assert engine.synthesize("Guten Tag.", engine.resolve("en-us"), language="de").seconds > 0.3
    with pytest.raises(SpeechError, match="no voice 'klingon'") as missing:
        engine.resolve("klingon")
    assert "nexus tts voices" in missing.value.hint
    with pytest.raises(AudioError, match=r"\.xyz"):
        save_audio(AudioClip(np.zeros(10, dtype=np.float32), 8000), tmp_path / "out.xyz")


def test_a_neural_voice_from_a_local_vits_folder(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    from tests.support.tiny_models import build_tiny_llama, build_tiny_vits

    folder = build_tiny_vits(tmp_path / "mms-tts-eng")
    voice = model_voice(folder)
    assert voice is not None and voice.engine == "transformers" and voice.languages == ("eng",)
    engine = SpeechEngine(model_folders=lambda: [folder, tmp_path])
    assert voice in engine.voices()
    clips = list(engine.stream("hello world. a second sentence.", voice))
    assert len(clips) == 2 and all(c.rate == 16000 and len(c.samples) > 0 for c in clips)
    out = save_audio(AudioClip.join(clips), tmp_path / "vits.flac")
    assert soundfile.info(str(out)).samplerate == 16000
    with pytest.raises(SpeechError, match="does not speak 'de'"):
        engine.synthesize("hallo", voice, language="de")
    llama = build_tiny_llama(tmp_path / "llama")
    with pytest.raises(SpeechError, match="not a text-to-speech model folder"):
        engine.resolve(None, llama)


def _xtts_folder(folder: Path) -> Path:
    """The layout of an XTTS v2 download (config, checkpoint, vocabulary): what cloning checks for."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"model": "xtts", "languages": ["en", "de", "fr"]}))
    (folder / "model.pth").write_bytes(b"\0" * 16)
    (folder / "vocab.json").write_text("{}")
    return folder


def _tone(path: Path, seconds: float) -> Path:
    rate = 16000
    t = np.arange(int(seconds * rate)) / rate
    return save_audio(AudioClip((0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), rate), path)


def test_a_cloned_voice_is_saved_with_its_reference_and_bad_references_are_refused(tmp_path: Path) -> None:
    from nexus_core.media.speech import coqui_available

    store = VoiceStore(tmp_path / "voices")
    xtts = _xtts_folder(tmp_path / "XTTS-v2")
    with pytest.raises(SpeechError, match=r"1\.0 s long; a reference clip must be 3–30 s"):
        store.clone(_tone(tmp_path / "short.wav", 1.0), "ana", xtts)
    (tmp_path / "notes.wav").write_text("not audio at all")
    with pytest.raises(SpeechError, match=r"notes\.wav is not an audio file"):
        store.clone(tmp_path / "notes.wav", "ana", xtts)
    with pytest.raises(SpeechError, match="not a usable voice name"):
        store.clone(_tone(tmp_path / "ok.wav", 5.0), "../escape", xtts)
    with pytest.raises(SpeechError, match="only XTTS clones voices"):
        store.clone(tmp_path / "ok.wav", "ana", tmp_path)
    voice = store.clone(_tone(tmp_path / "ok.mp3", 6.0), "ana", xtts)
    assert voice.id == "clone:ana" and voice.languages == ("en", "de", "fr") and voice.model == xtts.resolve()
    assert abs(read_audio(voice.reference).seconds - 6.0) < 0.2
    assert store.voices() == [voice] and not list((tmp_path / "voices").glob(".*"))  # no staging left
    with pytest.raises(SpeechError, match="already a voice called 'ana'"):
        store.clone(tmp_path / "ok.wav", "ana", xtts)
    engine = SpeechEngine(clones=store)
    assert engine.resolve("ana") == voice and engine.resolve("clone:ana") == voice
    with pytest.raises(SpeechError, match="does not speak 'ja'"):
        engine.synthesize("hello", voice, language="ja")
    if not coqui_available():  # this machine: coqui-tts cannot be imported (no torchaudio for this torch)
        with pytest.raises(SpeechError, match="coqui-tts cannot be imported") as no_coqui:
            engine.synthesize("hello", voice, language="en")
        assert "pip install coqui-tts" in no_coqui.value.hint
    store.delete("ana")
    assert store.voices() == []


@needs_espeak
def test_the_cli_speaks_lists_voices_and_clones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("NEXUS_HOME", str(tmp_path / "home"))
    out = tmp_path / "hello.ogg"
    assert main(["tts", TEXT, "--out", str(out), "--voice", "en-us", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["sentences"] == 3 and summary["real_time_factor"] > 0 and soundfile.info(str(out)).format == "OGG"
    assert abs(summary["seconds_of_audio"] - soundfile.info(str(out)).duration) < 0.05
    assert main(["tts", "voices", "--json"]) == 0
    assert any(v["id"] == "espeak:fr" for v in json.loads(capsys.readouterr().out))
    assert main(["tts", "", "--out", str(tmp_path / "x.wav")]) == 2
    assert "no text to speak" in capsys.readouterr().err
    assert main(["tts", "hi", "--out", str(tmp_path / "x.aiff")]) == 2
    assert not (tmp_path / "x.aiff").exists()
    xtts = _xtts_folder(tmp_path / "XTTS-v2")
    assert main(["tts", "clone", str(_tone(tmp_path / "me.wav", 4.0)), "--name", "me", "--model", str(xtts)]) == 0
    assert (tmp_path / "home" / "voices" / "me" / "reference.wav").is_file()


@pytest.fixture
def coqui_standin(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, object]]]:
    """coqui-tts cannot be installed here (no torchaudio for this torch): a stand-in with its API, importable
    as ``TTS`` for one test; yields its record of calls."""
    import sys

    def drop() -> None:
        for name in [m for m in sys.modules if m == "TTS" or m.startswith("TTS.")]:
            del sys.modules[name]

    drop()
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "support" / "coqui_standin"))
    from TTS.api import CALLS

    yield CALLS
    drop()


def test_a_cloned_xtts_voice_speaks_through_coqui_with_its_reference(tmp_path: Path,
                                                                       coqui_standin: list[dict[str, object]]) -> None:
    """What the adapter hands coqui-tts: the model folder, the reference clip, the language, one sentence at a
    time, and the rate it reports."""
    CALLS = coqui_standin  # noqa: N806 - the stand-in's name for it

    from nexus_core.media.speech import coqui_available

    assert coqui_available()
    store = VoiceStore(tmp_path / "voices")
    xtts = _xtts_folder(tmp_path / "XTTS-v2")
    voice = store.clone(_tone(tmp_path / "me.wav", 5.0), "me", xtts)
    engine = SpeechEngine(clones=store)
    clips = list(engine.stream("Hallo zusammen. Wie geht es?", engine.resolve("me"), language="de"))
    assert [c.rate for c in clips] == [24000, 24000] and all(c.seconds > 0.3 for c in clips)
    assert [(c["text"], c["language"], c["split_sentences"]) for c in CALLS[-2:]] == [
        ("Hallo zusammen.", "de", False), ("Wie geht es?", "de", False)]
    assert CALLS[-1]["speaker_wav"] == str(voice.reference) and CALLS[-1]["model_path"] == str(xtts.resolve())
    with pytest.raises(SpeechError, match="does not speak 'ja'"):
        engine.synthesize("こんにちは", voice, language="ja")
