"""Image classification: top-k ImageNet classes of an uploaded photo."""

import json

import pandas as pd
import plotly.express as px
import streamlit as st

from engine.classification import classify as classification
from engine.core import media, registry
from ui.errors import user_errors
from ui.inputs import image_source
from ui.models import get_custom_hub_classifier, get_model
from ui.shell import ensure_app_shell

CUSTOM = "A TF Hub handle or SavedModel folder"

ensure_app_shell()

st.title("Image classification")
st.caption(
    "A CNN trained on ImageNet names what is in your photo, choosing among 1000 classes. "
    "Scores are the model's softmax probabilities, not calibrated certainties."
)


def model_picker() -> tuple[str, str]:
    """Returns (registry name or CUSTOM, hub reference)."""
    specs = registry.all_specs("classification")
    titles = {
        spec.name: spec.title + ("" if registry.available_source(spec) else " (needs a network)")
        for spec in specs
    }
    choice = st.selectbox(
        "Model",
        [*titles, CUSTOM],
        format_func=lambda name: titles.get(name, name),
        key="classification-model",
    )
    reference = ""
    if choice == CUSTOM:
        reference = st.text_input(
            "TF Hub handle or local SavedModel folder",
            key="classification-hub-reference",
            placeholder=classification.CHAPTER_HUB_HANDLE,
            help="A https://tfhub.dev/... or https://www.kaggle.com/models/... handle, or "
            "the name of a SavedModel folder inside the folder the server allows "
            "(CONVNET_STUDIO_MODEL_DIR); no other path is read.",
        )
    return choice, reference


left, right = st.columns([1, 1])
with left:
    model_name, hub_reference = model_picker()
    top_k = st.slider("How many classes to show", 1, 10, 5, key="classification-top-k")
    picked = image_source("classification")

if picked is None:
    st.info("Upload a photo or pick a sample to classify it.")
    st.stop()

with user_errors():
    if model_name == CUSTOM:
        if not hub_reference.strip():
            st.info("Enter a TF Hub handle or a SavedModel folder, or choose the offline model.")
            st.stop()
        loaded = get_custom_hub_classifier(hub_reference.strip())
    else:
        loaded = get_model(model_name)
    image = media.decode_image(picked[1], min_side=min(loaded.spec.input_size))
    result = classification.classify(image.pixels, loaded, top_k)

with left:
    st.image(
        image.pixels,
        caption=f"{picked[0]} ({image.original_size[0]} x {image.original_size[1]})",
        width="stretch",
    )
with right:
    best = result.top[0]
    st.subheader(f"{best.label}: {best.score:.1%}")
    st.caption(f"{loaded.spec.title} · weights: {result.source} · {result.ms:.1f} ms")
    table = pd.DataFrame(
        {"class": [p.label for p in result.top], "probability": [p.score for p in result.top]}
    )
    chart = px.bar(
        table[::-1],
        x="probability",
        y="class",
        orientation="h",
        range_x=[0, 1.12],
        text=table["probability"][::-1].map("{:.1%}".format),
    )
    chart.update_traces(textposition="outside", textangle=0, cliponaxis=False)
    chart.update_layout(height=80 + 40 * len(table), margin=dict(l=0, r=0, t=10, b=0), yaxis_title=None)
    st.plotly_chart(chart, width="stretch")
    st.dataframe(
        table,
        hide_index=True,
        column_config={
            "probability": st.column_config.ProgressColumn(format="%.3f", min_value=0, max_value=1)
        },
    )
    st.download_button(
        "Download the result (JSON)",
        data=json.dumps(result.to_json(), indent=2),
        file_name="classification.json",
        mime="application/json",
    )
