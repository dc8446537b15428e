"""Widget groups and sections of the audio page: choosing a sound, analysing it, WaveNet's settings."""

from __future__ import annotations

import dataclasses

import numpy as np
import streamlit as st

from engine.audio import io as audio_io
from engine.audio import pitch
from engine.audio.instrument import model as instrument_cnn
from engine.core import registry
from engine.data import notes as audio_notes
from ui import audio_plots
from ui.inputs import display_name
from ui.models import get_model

UPLOAD_TYPES = [suffix[1:] for suffix in audio_io.SUFFIXES]


@dataclasses.dataclass(frozen=True)
class Sound:
    audio: np.ndarray  # float32 mono at 16 kHz
    label: str  # what to call it on the page (a sanitised file name, or the test note)
    instrument: str | None = None  # the truth, for committed test notes
    midi: int | None = None
    notes: tuple[str, ...] = ()  # what decoding changed


def sound_input() -> Sound | None:
    """A committed held-out note or an uploaded recording (None until one is uploaded).

    Raises:
        InvalidMedia: the upload cannot be used (the message says why).
    """
    source = st.radio(
        "Sound", ["a held-out test note", "upload a recording"], horizontal=True, key="audio-source"
    )
    if source == "a held-out test note":
        notes = audio_notes.test_notes()
        left, right = st.columns(2)
        instrument = left.selectbox("Instrument", audio_notes.INSTRUMENT_NAMES, key="audio-note-instrument")
        pitches = sorted({int(p) for p in notes.pitches})
        midi = right.selectbox(
            "Pitch",
            pitches,
            index=pitches.index(69) if 69 in pitches else 0,
            format_func=lambda p: f"{audio_notes.pitch_name(p)} (MIDI {p})",
            key="audio-note-pitch",
        )
        index = int(
            np.flatnonzero(
                (notes.pitches == midi)
                & (notes.instruments == audio_notes.INSTRUMENT_NAMES.index(instrument))
            )[0]
        )
        return Sound(
            notes.audio[index], f"test note: {instrument} {audio_notes.pitch_name(midi)}", instrument, midi
        )
    uploaded = st.file_uploader(
        f"A recording ({audio_io.describe_limits()})", type=UPLOAD_TYPES, key="audio-upload"
    )
    if uploaded is None:
        st.info("Upload a WAV, FLAC or OGG recording of a single note (a few seconds at most works best).")
        return None
    decoded = _decode(uploaded.getvalue(), uploaded.name)
    return Sound(
        decoded.audio,
        display_name(uploaded.name),
        notes=decoded.notes
        + (
            f"{decoded.format} {decoded.subtype}, {decoded.original_rate:,} Hz, {decoded.channels} channel(s), "
            f"{decoded.original_seconds:.2f} s",
        ),
    )


@st.cache_data(max_entries=8, show_spinner="Decoding...")
def _decode(data: bytes, name: str) -> audio_io.DecodedAudio:
    """Decoded once per upload: moving a WaveNet slider reruns the page, not the decoding."""
    return audio_io.decode(data, name)


@st.cache_data(max_entries=32, show_spinner="Listening...")
def _analyse(audio: np.ndarray) -> tuple[instrument_cnn.InstrumentGuess, pitch.PitchEstimate]:
    """The CNN's instrument and basic-pitch's pitch, once per sound (errors are not cached)."""
    guess = instrument_cnn.classify(get_model(instrument_cnn.MODEL_NAME).model, audio)
    return guess, pitch.estimate_pitch(audio, model=get_model(pitch.MODEL_NAME).model)


def show_analysis(sound: Sound) -> None:
    """Player, waveform, spectrogram, the CNN's instrument and basic-pitch's pitch.

    Raises:
        StudioError: a model cannot be loaded, or the sound is silent.
    """
    guess, estimate = _analyse(sound.audio)
    st.audio(audio_io.to_wav_bytes(sound.audio), format="audio/wav")
    st.caption(
        f"{sound.label}; {sound.audio.size / audio_io.SAMPLE_RATE:.2f} s at 16 kHz mono"
        + "".join(f"; {note}" for note in sound.notes)
    )
    left, right = st.columns(2)
    left.plotly_chart(audio_plots.waveform_figure(sound.audio, audio_io.SAMPLE_RATE), width="stretch")
    right.plotly_chart(audio_plots.spectrogram_figure(sound.audio), width="stretch")
    left, right = st.columns(2)
    with left:
        verdict = (
            ""
            if sound.instrument is None
            else (
                " (right)" if guess.instrument == sound.instrument else f" (wrong: it is {sound.instrument})"
            )
        )
        st.markdown(
            f"**Instrument:** {guess.instrument}, p = {guess.probabilities[guess.instrument]:.2f}{verdict}"
        )
        st.caption(
            f"the one second from {guess.start_second:.2f} s (the onset), {guess.ms:.0f} ms. Trained on synthesised "
            "notes of these eight instruments, it names any other sound as the closest of them. Held out: "
            f"{registry.get_spec(instrument_cnn.MODEL_NAME).metric}."
        )
        st.plotly_chart(
            audio_plots.probability_figure(guess.probabilities, sound.instrument), width="stretch"
        )
    with right:
        if estimate.midi is None:
            st.markdown(
                f"**Pitch:** none found (no key above {pitch.NOTE_THRESHOLD}: noise, speech or a chord?)"
            )
        else:
            verdict = (
                ""
                if sound.midi is None
                else (
                    " (right)"
                    if estimate.midi == sound.midi
                    else f" (wrong: it is {audio_notes.pitch_name(sound.midi)})"
                )
            )
            st.markdown(
                f"**Pitch (basic-pitch):** {estimate.name}, MIDI {estimate.midi}, "
                f"{estimate.frequency_hz:.1f} Hz, confidence {estimate.confidence:.2f}{verdict}"
            )
        st.caption(f"{estimate.ms:.0f} ms")
        st.plotly_chart(audio_plots.posteriorgram_figure(estimate), width="stretch")
