"""Semantic and instance segmentation of your photo or of a generated scene: DeepLabV3, the selfie mask, a U-Net
and a Mask R-CNN trained here, and people as instances (SSDLite boxes + selfie masks)."""

import pandas as pd
import plotly.express as px
import streamlit as st

from engine.core import media, registry
from engine.pipelines import instances
from engine.segmentation import api as segmentation
from engine.segmentation import render
from ui.errors import user_errors
from ui.models import get_model
from ui.segmentation import architecture_notes, classes_key, enlarge, input_picker, scene_figures
from ui.shell import ensure_app_shell

ensure_app_shell()
st.title("Segmentation")
st.caption(
    "Every pixel gets a class. DeepLabV3 knows the 20 PASCAL VOC object classes; the selfie model "
    "knows only person and background, and calls anything in front of the camera a person; the U-Net "
    "was trained here on 96 x 96 scenes of digits and clothing items and knows nothing else. Instance "
    "models give each object its own mask: Mask R-CNN (trained here, scenes only) and, on photos, people "
    "from the SSDLite person boxes with the selfie mask inside each box (a pipeline, not Mask R-CNN)."
)

specs = [spec for task in segmentation.TASKS for spec in registry.all_specs(task)]
left, right = st.columns([1, 1])
with left:
    model_name = st.radio(
        "Model",
        [spec.name for spec in specs],
        horizontal=True,
        key="segmentation-model",
        format_func=lambda name: registry.get_spec(name).title,
    )
    with user_errors():
        picked = input_picker("segmentation", segmentation.MAX_WORKING_SIDE)
if picked is None:
    st.info("Upload a photo or pick a sample to segment it, or generate a scene.")
    architecture_notes()
    st.stop()
if registry.get_spec(model_name).sources[0].kind == "project" and picked.truth is None:
    st.info(
        f"{registry.get_spec(model_name).title.split(' (')[0]} only knows the 96 x 96 scenes it was trained on: "
        "your photo is squeezed to 96 x 96 "
        "and the labels it finds there mean little. Try a generated scene."
    )

with user_errors():
    loaded = get_model(model_name)
    result = segmentation.segment(picked.pixels, loaded)

shares = result.class_shares()
present = [label for label in shares if label != "background"]
with left:
    opacity = st.slider("Overlay opacity", 0.0, 1.0, 0.6, 0.05, key="segmentation-opacity")
    shown = st.multiselect("Classes to colour", present, default=present, key=classes_key(present))
    visible = {result.labels.index(label) for label in shown}
    colours = render.palette(len(result.labels))
    st.caption(
        "Legend: "
        + " · ".join(
            f"{label} (rgb{tuple(int(v) for v in colours[result.labels.index(label)])})" for label in present
        )
        if present
        else "No object classes found."
    )
drawn = render.overlay(picked.pixels, result.label_map, opacity, visible)
if result.instances:  # instance models: each object in its own colour, with its box and label
    drawn = instances.draw(picked.pixels, [item for item in result.instances if item.label in shown], opacity)
with right:
    if picked.truth is None:
        st.image(
            drawn,
            caption=f"{loaded.spec.title} · {result.ms:.0f} ms · weights: {result.source}",
            width="stretch",
        )
    else:  # a scene: show it 4 times larger, pixels kept sharp, beside its true label map
        columns = st.columns(2)
        columns[0].image(
            enlarge(drawn),
            caption=f"{loaded.spec.title} · {result.ms:.0f} ms · weights: {result.source}",
            width="stretch",
        )
        columns[1].image(
            enlarge(render.overlay(picked.pixels, picked.truth, opacity)),
            caption="the scene's true label map",
            width="stretch",
        )
        if model_name == "unet":
            figures = scene_figures(result.label_map, picked.truth)
            metrics = st.columns(2)
            for column, (name, value) in zip(metrics, figures.items()):
                column.metric(f"{name} on this scene", f"{value:.3f}")
    table = pd.DataFrame({"class": list(shares), "share of pixels": list(shares.values())})
    chart = px.bar(
        table,
        x="share of pixels",
        y="class",
        orientation="h",
        range_x=[0, 1],
        color="class",
        color_discrete_map={
            label: "rgb" + str(tuple(int(v) for v in colours[result.labels.index(label)])) for label in shares
        },
    )
    chart.update_layout(showlegend=False, height=60 + 35 * len(table), margin=dict(l=0, r=0, t=10, b=0))
    st.plotly_chart(chart, width="stretch")
    if loaded.spec.task == "instances":
        st.caption(f"{len(result.instances)} instances (score >= {instances.MIN_SCORE}):")
        st.dataframe(
            pd.DataFrame(
                [item.to_json() for item in result.instances], columns=["label", "score", "box", "area"]
            ),
            hide_index=True,
        )

if model_name == "selfie-segmentation":
    st.subheader("Background effects")
    effect = st.radio("Effect", ["blur", "replace"], horizontal=True, key="segmentation-effect")
    probability = loaded.model.probability(picked.pixels)
    if effect == "blur":
        strength = st.slider("Blur strength", 3, 99, 41, 2, key="segmentation-blur")
        edited = render.blur_background(picked.pixels, probability, strength)
    else:
        hex_colour = st.color_picker("Background colour", "#2E7D32", key="segmentation-background")
        edited = render.replace_background(
            picked.pixels, probability, tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
        )
    st.image(edited, width="stretch")
    st.download_button(
        "Download the edited photo (PNG)", media.encode_png(edited), "background.png", "image/png"
    )

is_instances = registry.get_spec(model_name).task == "instances"
columns = st.columns(3 if is_instances else 2)
if is_instances:
    columns[2].download_button(
        "Download the instance masks (PNG, value i + 1 = instance i)",
        media.encode_png(instances.id_map(list(result.instances), result.label_map.shape)),
        "instances.png",
        "image/png",
        disabled=not result.instances,
    )
columns[0].download_button(
    "Download the label map (PNG, one value per class)",
    media.encode_png(result.label_map),
    "label_map.png",
    "image/png",
    help="Values index this list: " + ", ".join(result.labels),
)
columns[1].download_button("Download the overlay (PNG)", media.encode_png(drawn), "overlay.png", "image/png")
architecture_notes()
