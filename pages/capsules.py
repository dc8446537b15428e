"""Capsule networks: capsule lengths, routing by agreement, reconstructions and the perturbation figure."""

import numpy as np
import pandas as pd
import plotly.express as px
import streamlit as st

from engine.capsules import api as capsules
from engine.core import manifest, media, registry
from engine.data import mnist
from ui.errors import user_errors
from ui.inputs import IMAGE_TYPES
from ui.models import get_model
from ui.shell import ensure_app_shell

ensure_app_shell()
st.title("Capsule networks")
st.caption(
    "Sabour, Frosst & Hinton (2017): groups of neurons (capsules) output vectors whose length is the "
    "probability that an entity is present and whose direction describes it. Primary capsules send "
    "their predictions to the digit capsule that agrees with them (routing by agreement, 3 iterations)."
)

with user_errors():
    capsnet = get_model("capsnet")
    baseline = get_model("capsnet-baseline")
figures = pd.DataFrame(
    [
        {
            "model": spec.title,
            "weights": spec.sources[0].reference,
            "held-out figures (as measured when trained)": manifest.entries()
            .get(spec.sources[0].reference, {})
            .get("metric", "not trained"),
        }
        for spec in registry.all_specs("capsules")
    ]
)
st.dataframe(figures, hide_index=True, width="stretch")

source = st.radio(
    "Digit", ["a test digit", "upload an image of one digit"], horizontal=True, key="capsules-source"
)
with user_errors():
    if source == "a test digit":
        test = mnist.load_mnist().test
        index = st.number_input("Test digit number", 0, len(test.labels) - 1, 0, key="capsules-digit")
        digit, truth = test.images[index], int(test.labels[index])
    else:
        uploaded = st.file_uploader(
            f"One digit, dark on light or light on dark ({media.describe_limits()})",
            type=IMAGE_TYPES,
            key="capsules-upload",
        )
        if uploaded is None:
            st.info("Upload an image of a single digit.")
            st.stop()
        digit, truth = (
            capsules.prepare_digit(media.decode_image(uploaded.getvalue(), min_side=56).pixels),
            None,
        )
    reading = capsules.read_digit(capsnet.model, digit)
    baseline_scores = capsules.baseline_probabilities(baseline.model, digit)

left, middle, right = st.columns([1, 2, 2])
left.image(
    np.kron(digit, np.ones((6, 6), np.uint8)),
    caption="input (28 x 28)" + (f", label {truth}" if truth is not None else ""),
)
left.image(
    np.kron(reading.reconstruction, np.ones((6, 6), np.uint8)),
    caption=f"reconstruction from capsule {reading.predicted}",
)
scores = pd.DataFrame(
    {
        "digit": [str(d) for d in range(10)] * 2,
        "score": np.concatenate([reading.lengths, baseline_scores]),
        "model": ["CapsNet: capsule length"] * 10 + ["baseline CNN: softmax"] * 10,
    }
)
middle.plotly_chart(
    px.bar(
        scores,
        x="digit",
        y="score",
        color="model",
        barmode="group",
        range_y=[0, 1],
        title=f"CapsNet says {reading.predicted}, the CNN says {int(baseline_scores.argmax())}",
    ),
    width="stretch",
)
# Coupling of the active primary capsules to each digit capsule, per routing iteration.
weights = reading.primary_lengths / reading.primary_lengths.sum()
per_iteration = pd.DataFrame(
    [
        {
            "iteration": iteration + 1,
            "digit capsule": str(d),
            "coupling": float(weights @ reading.couplings[iteration][:, d]),
        }
        for iteration in range(reading.couplings.shape[0])
        for d in range(10)
    ]
)
routing_chart = px.line(
    per_iteration,
    x="iteration",
    y="coupling",
    color="digit capsule",
    markers=True,
    title="Routing: mean coupling per iteration",
)
routing_chart.update_xaxes(dtick=1)
right.plotly_chart(routing_chart, width="stretch")
strongest = float(reading.couplings[-1][:, reading.predicted].max())
right.caption(
    f"Mean over primary capsules, weighted by their length. Iteration 1 couples every primary capsule "
    f"equally (0.1); agreement then shifts them towards the capsule whose output their predictions "
    f"match. Here the shift is small on average; the most convinced primary capsule ends at "
    f"{strongest:.2f} for digit {reading.predicted}."
)

st.subheader(f"Move the 16 dimensions of capsule {reading.predicted}")
st.caption(
    f"The paper's Figure 4: each dimension of a digit capsule learns a property (stroke width, skew, "
    f"scale...). Each slider adds up to +-{capsules.PERTURBATION_RANGE}; the decoder redraws the digit."
)
columns = st.columns(8)
deltas = np.array(
    [
        columns[d % 8].slider(
            f"dim {d}", -capsules.PERTURBATION_RANGE, capsules.PERTURBATION_RANGE, 0.0, 0.05, key=f"dim-{d}"
        )
        for d in range(16)
    ],
    np.float32,
)
with user_errors():
    moved = capsules.reconstruct(capsnet.model, reading.capsules, reading.predicted, deltas)
st.image(np.kron(moved, np.ones((8, 8), np.uint8)), caption="reconstruction with the dimensions moved")
