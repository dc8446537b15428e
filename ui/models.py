"""The one cached loader pages use to reach models.

`st.cache_resource` keeps one object per process, shared by every session; the engine's
`registry.load` holds its own lock, so two sessions hitting a cold cache at once still build the
model only once. Models are read-only after loading.
"""

from __future__ import annotations

import streamlit as st

from engine.core import registry


@st.cache_resource(show_spinner="Loading the model (once per server process)...")
def get_model(name: str) -> registry.LoadedModel:
    return registry.load(name)


@st.cache_resource(show_spinner="Loading the TF Hub model...", max_entries=4)
def get_custom_hub_classifier(reference: str) -> registry.LoadedModel:
    from engine.classification import classify as classification

    return classification.load_custom_hub(reference)
