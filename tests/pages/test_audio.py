"""The audio page: a held-out note analysed (instrument, pitch, plots), an uploaded recording, bad uploads."""

import io

import numpy as np
import pytest
import soundfile
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT


def page() -> AppTest:
    return AppTest.from_file(str(ROOT / "pages" / "audio.py"), default_timeout=120).run()


def markdown_with(at: AppTest, text: str) -> list[str]:
    return [block.value for block in at.markdown if text in block.value]


def wav_of_a_note(hz: float = 261.63, rate: int = 44_100) -> bytes:
    t = np.arange(rate * 2) / rate
    tone = sum(np.sin(2 * np.pi * hz * k * t) / k for k in (1, 2, 3, 4)) * np.exp(-1.5 * t) * 0.3
    buffer = io.BytesIO()
    soundfile.write(buffer, np.stack([tone, tone], axis=1), rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def test_a_held_out_note_gets_its_instrument_and_pitch_with_plots():
    at = page()
    assert not at.exception
    assert markdown_with(at, "**Instrument:** piano") and "(right)" in markdown_with(at, "**Instrument:**")[0]
    assert "A4, MIDI 69" in markdown_with(at, "**Pitch (basic-pitch):**")[0]
    assert len(at.get("plotly_chart")) >= 4 and at.get("audio")
    at.selectbox(key="audio-note-instrument").set_value("flute").run()
    at.selectbox(key="audio-note-pitch").set_value(53).run()
    assert not at.exception
    assert "(right)" in markdown_with(at, "**Instrument:** flute")[0]
    assert "F3, MIDI 53" in markdown_with(at, "**Pitch (basic-pitch):**")[0]


def test_an_uploaded_stereo_recording_is_resampled_and_analysed():
    at = page()
    at.radio(key="audio-source").set_value("upload a recording").run()
    at.file_uploader(key="audio-upload").upload("my note (1).wav", wav_of_a_note(), "audio/wav").run()
    assert not at.exception
    assert "C4, MIDI 60" in markdown_with(at, "**Pitch (basic-pitch):**")[0]
    captions = " ".join(caption.value for caption in at.caption)
    assert "resampled from 44,100 Hz" in captions and "mixed 2 channels down to mono" in captions


def test_bad_uploads_are_refused_clearly_and_the_page_goes_on():
    at = page()
    at.radio(key="audio-source").set_value("upload a recording").run()
    at.file_uploader(key="audio-upload").upload(
        "photo.wav", (ROOT / "assets" / "samples" / "chelsea.jpg").read_bytes(), "audio/wav"
    ).run()
    assert not at.exception
    assert "not a WAV, FLAC or OGG" in at.error[0].value
    at.file_uploader(key="audio-upload").upload("quiet.wav", _silence(), "audio/wav").run()
    assert "silent" in at.error[0].value
    assert [header.value for header in at.header][
        -1
    ] == "Generate with WaveNet"  # the second section still runs


def _silence() -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, np.zeros(16_000, np.float32), 16_000, format="WAV")
    return buffer.getvalue()


@pytest.fixture
def fresh_wavenet(monkeypatch):
    """A WaveNet with fresh (untrained) weights in the registry's place, so the page's generate path runs
    whether or not trained weights are committed: widgets, progress, player, download, pitch check and
    receptive field do not depend on what the weights learned (their sound is noise here)."""
    from engine.audio.wavenet import model as wavenet
    from engine.core import registry
    from ui.models import get_model

    spec = registry.get_spec("wavenet")
    model = wavenet.WaveNet(wavenet.build_network())
    monkeypatch.setitem(registry._LOADED, "wavenet", registry.LoadedModel(spec, spec.sources[0], model, 0.0))
    get_model.clear()
    yield model
    get_model.clear()  # later tests load the real model again


@pytest.mark.slow
def test_wavenet_section_generates_a_note_with_player_download_and_pitch_check(fresh_wavenet):
    at = page()
    at.selectbox(key="wavenet-pitch").set_value(fresh_wavenet.pitches[0])
    at.slider(key="wavenet-seconds").set_value(0.25).run()
    assert (
        not at.exception
        and [info.value for info in at.info][-1] == "Choose the settings, then press Generate."
    )
    at.button(key="wavenet-generate").click().run()
    assert not at.exception and not at.error
    assert (
        len(at.get("audio")) == 2 and len(at.get("download_button")) == 1
    )  # the test note's player and the new one
    assert markdown_with(at, "**Pitch check:** basic-pitch hears")
    assert [caption.value for caption in at.caption if "samples/s" in caption.value][0].count(
        "4,000 samples in"
    ) == 1
    assert any(f"{fresh_wavenet.receptive_field} samples" in caption.value for caption in at.caption)
    fast = at.session_state["wavenet-generation"][1].audio[0]
    at.radio(key="wavenet-method").set_value("naive (whole receptive field per sample)").run()
    at.slider(key="wavenet-seconds-naive").set_value(0.05).run()
    at.button(key="wavenet-generate").click().run()
    assert not at.exception and not at.error
    naive = at.session_state["wavenet-generation"][1].audio[0]
    assert naive.size == 800 and np.allclose(
        naive, fast[:800], atol=1e-6
    )  # same seed, same samples, either way
    assert "naive generation" in [caption.value for caption in at.caption if "samples/s" in caption.value][0]
    at.checkbox(key="wavenet-blend").check().run()  # new settings: the old note is not shown as theirs
    assert (
        not at.exception
        and [info.value for info in at.info][-1] == "Choose the settings, then press Generate."
    )
