"""The WaveNet half of the audio page: settings, generation with progress, and the generated note."""

from __future__ import annotations

import dataclasses

import streamlit as st

from engine.audio import io as audio_io
from engine.audio import pitch
from engine.audio.wavenet import model as wavenet
from engine.audio.wavenet import train as wavenet_training
from engine.data import notes
from ui import audio_plots
from ui.models import get_model

RESULT_KEY = "wavenet-generation"
NAIVE_MAX_SECONDS = 0.25  # naive generation runs the whole receptive field per sample: ~20x slower
METHODS = {"fast (per-layer queues)": "fast", "naive (whole receptive field per sample)": "naive"}


@dataclasses.dataclass(frozen=True)
class Settings:
    instrument: str | tuple[tuple[str, float], ...]  # a name, or ((name, weight), (name, weight)) for a blend
    pitch: int
    seconds: float
    temperature: float
    seed: int
    method: str = "fast"  # or "naive"

    def request(self) -> wavenet.NoteRequest:
        instrument = self.instrument if isinstance(self.instrument, str) else dict(self.instrument)
        return wavenet.NoteRequest(instrument, self.pitch)

    def describe(self) -> str:
        sound = (
            self.instrument
            if isinstance(self.instrument, str)
            else " + ".join(f"{weight:.0%} {name}" for name, weight in self.instrument)
        )
        return (
            f"{sound}, {notes.pitch_name(self.pitch)} (MIDI {self.pitch}), {self.seconds:g} s, "
            f"temperature {self.temperature:g}, seed {self.seed}, {self.method} generation"
        )


def settings(model: wavenet.WaveNet) -> Settings:
    """The widgets; every bound comes from the model (its instruments, pitches) or wavenet.MAX_SECONDS."""
    method = METHODS[
        st.radio(
            "Generation",
            list(METHODS),
            horizontal=True,
            key="wavenet-method",
            help=f"Same samples for the same seed; naive is limited to {NAIVE_MAX_SECONDS:g} s.",
        )
    ]
    left, middle, right = st.columns(3)
    instrument = left.selectbox("Instrument", model.instruments, key="wavenet-instrument")
    pitches = list(model.pitches)
    midi = middle.selectbox(
        "Pitch",
        pitches,
        index=pitches.index(60) if 60 in pitches else 0,
        format_func=lambda p: f"{notes.pitch_name(p)} (MIDI {p})",
        key="wavenet-pitch",
    )
    if method == "naive":
        seconds = right.slider(
            "Duration (s)", 0.05, NAIVE_MAX_SECONDS, NAIVE_MAX_SECONDS, 0.05, key="wavenet-seconds-naive"
        )
    else:
        seconds = right.slider(
            "Duration (s)",
            0.25,
            float(wavenet.MAX_SECONDS),
            wavenet_training.CHECK_SECONDS,
            0.25,
            key="wavenet-seconds",
        )
    left, middle, right = st.columns(3)
    temperature = left.slider(
        "Temperature",
        0.5,
        1.5,
        wavenet_training.CHECK_TEMPERATURE,
        0.05,
        key="wavenet-temperature",
        help="Divides the logits before sampling: below 1 plays safer, above 1 noisier. The "
        "defaults are those of the measured pitch check.",
    )
    seed = int(middle.number_input("Seed", 0, 1_000_000, 0, key="wavenet-seed"))
    blend = right.checkbox(
        "Blend with a second instrument",
        key="wavenet-blend",
        help="NSynth-style: the two instruments' conditioning embeddings are mixed.",
    )
    chosen: str | tuple[tuple[str, float], ...] = instrument
    if blend:
        others = [name for name in model.instruments if name != instrument]
        left, right = st.columns(2)
        second = left.selectbox("Second instrument", others, key="wavenet-second")
        share = right.slider(f"Share of {second}", 0.0, 1.0, 0.5, 0.05, key="wavenet-share")
        chosen = ((instrument, round(1.0 - share, 4)), (second, round(share, 4)))
    return Settings(chosen, int(midi), float(seconds), float(temperature), seed, method)


def generate(model: wavenet.WaveNet, chosen: Settings) -> None:
    """Generate one note with a progress bar; the result stays in the session until the settings change."""
    bar = st.progress(0.0, text="Generating...")

    def on_progress(fraction: float, message: str, preview=None) -> None:
        bar.progress(min(1.0, max(0.0, float(fraction))), text=message)

    generation = wavenet.generate(
        model,
        [chosen.request()],
        chosen.seconds,
        temperature=chosen.temperature,
        seed=chosen.seed,
        method=chosen.method,
        on_progress=on_progress,
    )
    bar.empty()
    heard = pitch.midi_pitches(
        [generation.audio[0]], generation.sample_rate, model=get_model(pitch.MODEL_NAME).model
    )[0]
    st.session_state[RESULT_KEY] = (chosen, generation, heard)


def show_result(chosen: Settings) -> None:
    """The last generated note, if it was made with these settings."""
    stored = st.session_state.get(RESULT_KEY)
    if stored is None or stored[0] != chosen:
        st.info("Choose the settings, then press Generate.")
        return
    _, generation, heard = stored
    audio = generation.audio[0]
    wav = audio_io.to_wav_bytes(audio, generation.sample_rate)
    st.audio(wav, format="audio/wav")
    st.download_button(
        "Download WAV", wav, file_name=f"wavenet-{chosen.pitch}-{chosen.seed}.wav", mime="audio/wav"
    )
    speed = generation.samples_per_second / generation.sample_rate
    st.caption(
        f"{chosen.describe()}: {audio.size:,} samples in {generation.seconds:.1f} s, "
        f"{generation.samples_per_second:,.0f} samples/s ({speed:.2f}x real time)"
    )
    heard_text = "no pitch" if heard is None else f"{notes.pitch_name(heard)} (MIDI {heard})"
    verdict = "matches" if heard == chosen.pitch else "does not match"
    st.markdown(
        f"**Pitch check:** basic-pitch hears {heard_text}; requested "
        f"{notes.pitch_name(chosen.pitch)} (MIDI {chosen.pitch}): {verdict}."
    )
    left, right = st.columns(2)
    left.plotly_chart(
        audio_plots.waveform_figure(audio, generation.sample_rate, "generated waveform"), width="stretch"
    )
    right.plotly_chart(
        audio_plots.spectrogram_figure(audio, generation.sample_rate, "generated log-mel spectrogram"),
        width="stretch",
    )
