"""The four views of the "what the network learned" page: each draws widgets, calls the engine once
and renders the result. Slow views (feature visualization, atlas) run on a button and keep their
result in the session, so other widgets do not recompute them."""

from __future__ import annotations

import base64

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from engine.classification import classify as classification
from engine.core import media, registry
from engine.features import atlas, explain, extractors
from ui.errors import user_errors
from ui.inputs import sample_images
from ui.models import get_model

TOP = "(top class)"


def gradcam_view(image: np.ndarray, loaded: registry.LoadedModel, model: extractors.FeatureModel) -> None:
    if model.classifier is None:
        st.info(
            f"{loaded.spec.title} has no classifier head, so there is no class to explain. "
            "Choose the MobileNetV2 model (its dog-breed head) for Grad-CAM."
        )
        return
    chosen = st.selectbox("Class to explain", [TOP, *model.labels], key="gradcam-class")
    with user_errors():
        result = explain.gradcam(image, loaded, None if chosen == TOP else chosen)
        imagenet = classification.classify(image, get_model(classification.DEFAULT_MODEL), top_k=1).top[0]
    left, right = st.columns(2)
    left.image(
        explain.overlay_heatmap(image, result.heatmap),
        width="stretch",
        caption=f"Grad-CAM of '{result.label}' ({result.probability:.1%}) at {result.layer}",
    )
    right.image(
        explain.colorize(result.heatmap), caption="The heatmap alone (yellow: most evidence)", width="stretch"
    )
    st.caption(
        f"Head: {model.head_note}. The ImageNet classifier (EfficientNet-Lite0, TFLite, no gradients) "
        f"calls this photo **{imagenet.label}** ({imagenet.score:.0%}). Input {result.input_size[1]} x "
        f"{result.input_size[0]} px, {result.ms:.0f} ms."
    )
    st.dataframe(
        pd.DataFrame(
            {"class": [s.label for s in result.top], "probability": [s.probability for s in result.top]}
        ),
        hide_index=True,
    )
    st.download_button(
        "Download the overlay (PNG)",
        media.encode_png(explain.overlay_heatmap(image, result.heatmap)),
        "gradcam.png",
        "image/png",
    )


def activations_view(image: np.ndarray, loaded: registry.LoadedModel, model: extractors.FeatureModel) -> None:
    layer = st.selectbox("Layer", model.layers, index=len(model.layers) // 2, key="activation-layer")
    count = st.slider(
        "Channels to show (strongest first)", 4, explain.MAX_CHANNELS_SHOWN, 16, 4, key="activation-count"
    )
    with user_errors():
        maps = explain.activation_maps(image, loaded, layer, count)
    st.image(
        explain.grid_image(maps.maps, columns=8),
        width="stretch",
        caption=f"{layer}: {count} of {maps.total_channels} channels, each scaled to its own range "
        f"(viridis); channels {', '.join(map(str, maps.channels[:12]))}...",
    )
    st.session_state["strongest-channel"] = (layer, maps.channels[0])


def visualization_view(loaded: registry.LoadedModel, model: extractors.FeatureModel) -> None:
    strongest = st.session_state.get("strongest-channel", (model.layers[len(model.layers) // 2], 0))
    with st.form("feature-visualization"):
        layer = st.selectbox(
            "Layer",
            model.layers,
            index=model.layers.index(strongest[0]) if strongest[0] in model.layers else 0,
            key="visualization-layer",
        )
        channel = st.number_input(
            "Channel",
            0,
            4095,
            int(strongest[1]),
            help="Default: the strongest channel in the activation maps view.",
            key="visualization-channel",
        )
        steps = st.slider("Steps", 16, 256, explain.VISUALIZATION_STEPS, 16, key="visualization-steps")
        pressed = st.form_submit_button("Visualize", type="primary", key="visualization-run")
    key = ("visualization", loaded.spec.name, layer, channel, steps)
    if pressed:
        bar = st.progress(0.0, "Gradient ascent from noise...")
        with user_errors():
            result = explain.visualize_channel(
                loaded,
                layer,
                int(channel),
                steps=steps,
                on_progress=lambda fraction, message, _=None: bar.progress(fraction, message),
            )
        st.session_state["visualization-result"] = (key, result)
        bar.empty()
    stored = st.session_state.get("visualization-result")
    if stored and stored[0] == key:
        result = stored[1]
        st.image(
            result.pixels[0],
            width=384,
            caption=f"{layer}, channel {channel}: {steps} steps with jitter "
            f"({explain.JITTER} px) and blur (sigma {explain.BLUR_SIGMA}) in {result.seconds:.1f} s; "
            f"objective {result.objectives[0]:.2f} -> {result.objectives[-1]:.2f}",
        )


def atlas_view(
    upload: tuple[str, bytes] | None, loaded: registry.LoadedModel, model: extractors.FeatureModel
) -> None:
    st.caption(
        "Patches of the sample photos (and your upload) placed by their activations, reduced to 2-D "
        "with PCA and binned; each cell is drawn as the feature visualization of its mean."
    )
    with st.form("atlas"):
        default = (
            model.layers.index(atlas.DEFAULT_LAYER)
            if atlas.DEFAULT_LAYER in model.layers
            else len(model.layers) - 1
        )
        layer = st.selectbox("Layer", model.layers, index=default, key="atlas-layer")
        grid = st.slider("Grid cells per side", 3, atlas.MAX_GRID, atlas.DEFAULT_GRID, key="atlas-grid")
        steps = st.slider("Steps per icon", 16, 256, atlas.ICON_STEPS, 16, key="atlas-steps")
        pressed = st.form_submit_button("Build the atlas", type="primary", key="atlas-run")
    photos = [
        (name, media.decode_image(path.read_bytes(), min_side=320).pixels)
        for name, path in sample_images().items()
    ]
    if upload is not None:
        with user_errors():
            photos.append((f"upload: {upload[0]}", media.decode_image(upload[1], min_side=320).pixels))
    key = ("atlas", loaded.spec.name, layer, grid, steps, tuple(name for name, _ in photos))
    if pressed:
        bar = st.progress(0.0, "Collecting activations...")
        with user_errors():
            result = atlas.build_atlas(
                photos,
                loaded,
                layer,
                grid,
                icon_steps=steps,
                on_progress=lambda fraction, message, _=None: bar.progress(fraction, message),
            )
        st.session_state["atlas-result"] = (key, result)
        bar.empty()
    stored = st.session_state.get("atlas-result")
    if stored and stored[0] == key:
        result = stored[1]
        st.plotly_chart(atlas_figure(result), width="stretch")
        st.caption(
            f"{len(result.cells)} cells from {len(result.points)} patches of {len(result.image_names)} photos; "
            f"PCA axes explain {result.explained_variance[0]:.0%} and {result.explained_variance[1]:.0%} of "
            f"the variance; {result.seconds:.0f} s. {result.labels_note}"
        )


def _png_uri(pixels: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(media.encode_png(pixels)).decode("ascii")


def atlas_figure(result: atlas.Atlas) -> go.Figure:
    """Icons on the grid, with every patch as a faint dot and hover text per cell."""
    x_min, x_max, y_min, y_max = result.extent
    width, height = (x_max - x_min) / result.grid, (y_max - y_min) / result.grid
    figure = go.Figure()
    for index, name in enumerate(result.image_names):
        chosen = result.point_images == index
        figure.add_trace(
            go.Scatter(
                x=result.points[chosen, 0],
                y=result.points[chosen, 1],
                mode="markers",
                name=name,
                marker=dict(size=3, opacity=0.35),
                hoverinfo="name",
            )
        )
    centers_x = [x_min + (cell.column + 0.5) * width for cell in result.cells]
    centers_y = [y_min + (cell.row + 0.5) * height for cell in result.cells]
    hover = [
        f"{cell.label or 'no label'} (+{cell.support:.2f})<br>{cell.count} patches: "
        + ", ".join(f"{name} {count}" for name, count in cell.sources[:3])
        for cell in result.cells
    ]
    labels = [cell.label or "" for cell in result.cells]
    figure.add_trace(
        go.Scatter(
            x=centers_x,
            y=centers_y,
            mode="markers+text",
            text=labels,
            name="cells",
            textposition="bottom center",
            textfont=dict(size=9, color="white"),
            hovertext=hover,
            hoverinfo="text",
            marker=dict(size=18, opacity=0),
        )
    )
    for cell, x, y in zip(result.cells, centers_x, centers_y):
        figure.add_layout_image(
            source=_png_uri(cell.icon),
            x=x,
            y=y,
            xref="x",
            yref="y",
            sizex=width,
            sizey=height,
            xanchor="center",
            yanchor="middle",
            layer="below",
            sizing="stretch",
        )
    figure.update_xaxes(range=[x_min, x_max], title="PCA 1", showgrid=False)
    figure.update_yaxes(
        range=[y_min, y_max],
        title="PCA 2",
        showgrid=False,
        scaleanchor="x",
        scaleratio=width / height if height else 1,
    )
    figure.update_layout(height=720, margin=dict(l=0, r=0, t=10, b=0), legend=dict(orientation="h"))
    return figure
