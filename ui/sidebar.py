"""The sidebar every page shares: device and loaded models with their weight sources."""

from __future__ import annotations

import streamlit as st

from engine.core import device, registry


def render_sidebar() -> None:
    with st.sidebar:
        st.markdown(f"**Device:** {device.describe_device()}")
        loaded = registry.loaded_models()
        if not loaded:
            st.caption("No model loaded yet: each loads on first use, once per server process.")
            return
        st.markdown("**Loaded models**")
        for model in loaded:
            st.caption(
                f"{model.spec.title}: {model.source.describe()} (loaded in {model.load_seconds:.1f} s)"
            )
