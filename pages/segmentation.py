"""Semantic segmentation of your photo: DeepLabV3 (VOC classes) or the selfie person mask."""

import pandas as pd
import plotly.express as px
import streamlit as st

from engine import media, registry, segmentation, segmentation_render
from ui.errors import user_errors
from ui.inputs import image_source
from ui.models import get_model
from ui.shell import ensure_app_shell

ensure_app_shell()
st.title("Semantic segmentation")
st.caption("Every pixel gets a class. DeepLabV3 knows the 20 PASCAL VOC object classes; the selfie model "
           "knows only person and background, and calls anything in front of the camera a person.")
with st.expander("How DeepLab keeps detail: atrous convolution"):
    st.markdown(
        "A classification CNN shrinks the image 32 times; a segmentation map that coarse loses edges. "
        "DeepLab removes the last strides and uses **atrous (dilated) convolutions** instead: a 3 x 3 "
        "kernel with holes of rate r covers a (2r + 1)-pixel field with the same 9 weights, so the "
        "receptive field keeps growing while the feature map stays 8 times (here 16 times) smaller "
        "than the input. Its *atrous spatial pyramid pooling* runs several rates side by side to see "
        "objects at several scales. The *Convolution types* page animates a dilated kernel.")

specs = registry.all_specs("segmentation")
left, right = st.columns([1, 1])
with left:
    model_name = st.radio("Model", [spec.name for spec in specs], horizontal=True,
                          format_func=lambda name: registry.get_spec(name).title)
    picked = image_source("segmentation")
if picked is None:
    st.info("Upload a photo or pick a sample to segment it.")
    st.stop()

with user_errors():
    image, result = segmentation.segment_bytes(picked[1], model_name)
    loaded = get_model(model_name)

shares = result.class_shares()
present = [label for label in shares if label != "background"]
with left:
    opacity = st.slider("Overlay opacity", 0.0, 1.0, 0.6, 0.05)
    shown = st.multiselect("Classes to colour", present, default=present)
    visible = {result.labels.index(label) for label in shown}
    colours = segmentation_render.palette(len(result.labels))
    st.caption("Legend: " + " · ".join(f"{label} (rgb{tuple(int(v) for v in colours[result.labels.index(label)])})"
                                       for label in present) if present else "No object classes found.")
drawn = segmentation_render.overlay(image.pixels, result.label_map, opacity, visible)
with right:
    st.image(drawn, caption=f"{loaded.spec.title} · {result.ms:.0f} ms · weights: {result.source}", width="stretch")
    table = pd.DataFrame({"class": list(shares), "share of pixels": list(shares.values())})
    chart = px.bar(table, x="share of pixels", y="class", orientation="h", range_x=[0, 1],
                   color="class", color_discrete_map={label: "rgb" + str(tuple(int(v) for v in colours[result.labels.index(label)]))
                                                      for label in shares})
    chart.update_layout(showlegend=False, height=60 + 35 * len(table), margin=dict(l=0, r=0, t=10, b=0))
    st.plotly_chart(chart, width="stretch")

if model_name == "selfie-segmentation":
    st.subheader("Background effects")
    effect = st.radio("Effect", ["blur", "replace"], horizontal=True)
    probability = loaded.model.probability(image.pixels)
    if effect == "blur":
        strength = st.slider("Blur strength", 3, 99, 41, 2)
        edited = segmentation_render.blur_background(image.pixels, probability, strength)
    else:
        hex_colour = st.color_picker("Background colour", "#2E7D32")
        edited = segmentation_render.replace_background(
            image.pixels, probability, tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)))
    st.image(edited, width="stretch")
    st.download_button("Download the edited photo (PNG)", media.encode_png(edited), "background.png", "image/png")

columns = st.columns(2)
columns[0].download_button("Download the label map (PNG, one value per class)", media.encode_png(result.label_map),
                           "label_map.png", "image/png", help="Values index this list: " + ", ".join(result.labels))
columns[1].download_button("Download the overlay (PNG)", media.encode_png(drawn), "overlay.png", "image/png")
