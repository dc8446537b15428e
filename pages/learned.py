"""What the network learned: Grad-CAM, activation maps, feature visualization, activation atlas."""

import streamlit as st

from engine.core import media, registry
from engine.features import extractors
from ui import learned
from ui.errors import user_errors
from ui.inputs import image_source
from ui.models import get_model
from ui.shell import ensure_app_shell

VIEWS = ("Grad-CAM", "Activation maps", "Feature visualization", "Activation atlas")

ensure_app_shell()
st.title("What the network learned")
st.caption(
    "Four ways to look inside a CNN: where the evidence for a class lies (Grad-CAM), what one layer "
    "sees in your photo (activation maps), what a channel responds to most (feature visualization), "
    "and a map of the layer's whole activation space (an activation atlas, after Carter et al. 2019)."
)

specs = [spec for spec in extractors.inspectable_specs() if registry.available_source(spec)]
if not specs:
    st.error("No inspectable model is available: run `python -m engine assets fetch` once.")
    st.stop()
left, right = st.columns([1, 2])
with left:
    model_name = st.selectbox(
        "Model",
        [spec.name for spec in specs],
        key="model",
        format_func=lambda name: registry.get_spec(name).title,
    )
    with user_errors():
        loaded = get_model(model_name)
        model = extractors.feature_model_of(loaded)
    st.caption(
        f"Weights: {loaded.source.describe()}. Layers offered: {model.layers[0]} .. {model.layers[-1]} "
        f"({len(model.layers)}), all with their pretrained weights."
    )
    view = st.radio("View", VIEWS, horizontal=True, key="view")
    picked = image_source("learned")

with right:
    if view == "Activation atlas":
        learned.atlas_view(picked, loaded, model)
        st.stop()
    if view == "Feature visualization":
        learned.visualization_view(loaded, model)
        st.stop()
    if picked is None:
        st.info("Upload a photo or pick a sample to see what the network makes of it.")
        st.stop()
    with user_errors():
        image = media.decode_image(picked[1], min_side=448).pixels
    if view == "Grad-CAM":
        learned.gradcam_view(image, loaded, model)
    else:
        learned.activations_view(image, loaded, model)
