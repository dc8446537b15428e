"""DeepDream: the chapter's gradient ascent on your photo, with octaves and tiled gradients."""

import streamlit as st

from engine.core import media, registry
from engine.features import deepdream, extractors
from ui.errors import user_errors
from ui.inputs import image_source
from ui.models import get_model
from ui.shell import ensure_app_shell

ensure_app_shell()
st.title("DeepDream")
st.caption(
    "Gradient *ascent* on the image: each step changes the pixels to raise the mean activation of "
    "the layers you pick, so whatever those layers faintly see in your photo, they see more of. "
    "The gradient is divided by its standard deviation, as in the chapter; octaves repeat the "
    "dream at growing sizes (x1.3 each) and tiled gradients keep memory bounded on large images."
)


def model_choice() -> str:
    """The chapter's InceptionV3 when its weights are cached, else the offline MobileNetV2."""
    specs = [spec for spec in registry.all_specs("features") if registry.available_source(spec)]
    names = [spec.name for spec in sorted(specs, key=lambda spec: spec.name != extractors.CHAPTER_MODEL)]
    if not names:
        st.error("No feature model is available: run `python -m engine assets fetch` once.")
        st.stop()
    return st.radio(
        "Feature model", names, format_func=lambda name: registry.get_spec(name).title, key="dream-model"
    )


def dream_settings(model_name: str, model: extractors.FeatureModel) -> tuple[deepdream.DreamSettings, bool]:
    """The settings form; returns (settings, whether Dream was pressed)."""
    with st.form("dream-settings"):
        # The model in the key: another model's layers start again from its own preselection.
        layers = st.multiselect(
            "Layers to amplify (deeper: eyes, faces, animals; shallower: textures)",
            model.layers,
            default=list(model.dream_layers),
            key=f"dream-layers-{model_name}",
        )
        steps = st.slider("Steps per octave", 1, 100, deepdream.DEFAULT_STEPS, key="dream-steps")
        step_size = st.select_slider(
            "Step size",
            [0.002, 0.005, 0.01, 0.02, 0.05, 0.1],
            value=deepdream.DEFAULT_STEP_SIZE,
            key="dream-step-size",
        )
        octaves = st.slider(
            "Octaves", 1, deepdream.MAX_OCTAVES, deepdream.DEFAULT_OCTAVES, key="dream-octaves"
        )
        size = st.select_slider(
            "Output size (longest side, pixels)",
            [256, 384, 512, 768, 1024, 1536, 2048],
            value=deepdream.DEFAULT_OUTPUT_SIZE,
            key="dream-size",
            help="Time grows with the area: on 2 CPU cores 768 px costs about 0.2 s a step.",
        )
        pressed = st.form_submit_button("Dream", type="primary", key="dream-run")
    return deepdream.DreamSettings(tuple(layers), steps, step_size, octaves, size), pressed


left, right = st.columns([1, 2])
with left:
    model_name = model_choice()
    with user_errors():
        loaded = get_model(model_name)
    model = extractors.feature_model_of(loaded)
    st.caption(f"In use: **{loaded.spec.title}** · weights: {loaded.source.describe()}")
    if model_name != extractors.CHAPTER_MODEL:
        st.caption(
            "The chapter dreams with InceptionV3 (`mixed2`..`mixed5`); its weights need a network once "
            "(they are read from ~/.keras/models afterwards), so this offline MobileNetV2 stands in."
        )
    picked = image_source("deepdream")
    settings, pressed = dream_settings(model_name, model)

if picked is None:
    st.info("Upload a photo or pick a sample, choose the settings and press Dream.")
    st.stop()

key = (picked[0], len(picked[1]), model_name, settings)
if pressed:
    with right, user_errors():
        if not settings.layers:
            st.warning("Choose at least one layer to amplify.")
            st.stop()
        image = media.decode_image(picked[1], min_side=settings.output_size)
        bar = st.progress(0.0, "Starting (the first dream with these layers compiles the step once)...")
        # Pressing Stop reruns the page, which interrupts the dream at its next progress report; the
        # latest preview is kept so the user still gets what was dreamed so far.
        st.button("Stop", key="stop-dream")
        preview = st.empty()

        def show_progress(fraction, message, picture=None):
            bar.progress(fraction, message)
            if picture is not None:
                st.session_state["dream-partial"] = (key, picture, fraction)
                preview.image(picture, caption="Dreaming...", width="stretch")

        result = deepdream.dream(image.pixels, loaded, settings, on_progress=show_progress)
        bar.empty()
        preview.empty()
        st.session_state["dream"] = (key, result)

stored = st.session_state.get("dream")
if stored is None or stored[0] != key:
    partial = st.session_state.get("dream-partial")
    with right:
        if partial is not None and partial[0] == key:
            st.warning(f"Stopped at {partial[2]:.0%}: the dream so far is below.")
            st.image(partial[1], width="stretch")
            st.download_button(
                "Download the partial dream (PNG)",
                media.encode_png(partial[1]),
                "deepdream-partial.png",
                "image/png",
            )
        else:
            st.info("Press Dream to start.")
    st.stop()

result = stored[1]
with right:
    before, after = st.columns(2)
    before.image(result.original, caption="Before", width="stretch")
    after.image(result.pixels, caption="After", width="stretch")
    st.caption(
        f"{result.pixels.shape[1]} x {result.pixels.shape[0]} px · {len(result.losses)} steps over "
        f"{len(result.octave_sizes)} octaves in {result.seconds:.1f} s (median {result.ms_per_step:.0f} ms "
        f"a step; the step was compiled {result.traces}x) · layers: {', '.join(result.settings.layers)}"
    )
    st.line_chart({"loss (mean activation of the chosen layers)": list(result.losses)}, height=180)
    st.download_button(
        "Download the dream (PNG)", media.encode_png(result.pixels), "deepdream.png", "image/png"
    )
