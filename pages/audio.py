"""Audio: sound as an image (an instrument CNN on log-mel spectrograms, basic-pitch) and WaveNet notes."""

import streamlit as st

from engine.core.errors import StudioError
from ui import audio as audio_ui
from ui import audio_wavenet
from ui.audio_plots import receptive_field_figure
from ui.models import get_model
from ui.shell import ensure_app_shell

ensure_app_shell()
st.title("Audio: sounds as images, and WaveNet")
st.caption(
    "Notes rendered here from General MIDI soundfonts (8 instruments, MIDI 36-84, 16 kHz) train two models: "
    "a small 2-D CNN that reads a note's log-mel spectrogram like a picture and names the instrument (the "
    "chapter's point that sounds become images; FluidR3 and TimGM6mb notes), and a WaveNet (van den Oord et al. 2016) "
    "that writes a note one sample at a time, conditioned on instrument and pitch. Spotify's basic-pitch "
    "(Bittner et al. 2022) names the pitch of any note, including the generated ones."
)

st.header("Analyse a sound")
try:
    sound = audio_ui.sound_input()
    if sound is not None:
        audio_ui.show_analysis(sound)
except StudioError as error:  # shown here, so the WaveNet section below still works
    st.error(str(error))

st.header("Generate with WaveNet")
st.caption(
    "Stacks of dilated causal convolutions (kernel 2, dilations doubling), gated tanh x sigmoid units, residual "
    "and skip connections, a softmax over 256 mu-law levels of the next sample; the instrument and pitch "
    "embeddings enter every gate. Fast generation (Paine et al. 2016) keeps each layer's past inputs in a "
    "queue, so each new sample costs one step per layer instead of the whole receptive field."
)
try:  # no st.stop() on this page: app.py draws the sidebar after it
    model = get_model("wavenet").model
except StudioError as error:
    st.error(str(error))
    model = None

if model is not None:
    chosen = audio_wavenet.settings(model)
    if st.button("Generate", type="primary", key="wavenet-generate"):
        try:
            audio_wavenet.generate(model, chosen)
        except StudioError as error:
            st.error(str(error))
    audio_wavenet.show_result(chosen)
    with st.expander("The receptive field of the dilated stack", expanded=False):
        st.caption(
            f"A causal convolution, then {len(model.dilations)} dilated layers (dilations "
            f"{', '.join(map(str, model.dilations))}): {model.receptive_field} samples, "
            f"{model.receptive_field / model.sample_rate * 1000:.0f} ms at 16 kHz. Doubling the dilation doubles "
            "the reach at the same cost per layer; no output ever reads a sample after its own."
        )
        st.plotly_chart(receptive_field_figure(tuple(model.dilations), model.sample_rate), width="stretch")
