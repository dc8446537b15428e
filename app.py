"""ConvNet Studio: the entry point (`streamlit run app.py`).

Pages are listed with `st.navigation`; TensorFlow is never imported here, so the first page
renders quickly and each model loads on the page that needs it.
"""

import streamlit as st

from ui.first_start import ensure_offline_assets
from ui.sidebar import render_sidebar

st.set_page_config(page_title="ConvNet Studio", page_icon=":material/neurology:", layout="wide")

PAGES = {
    "ConvNet Studio": [
        st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    ],
    "Images": [
        st.Page("pages/classification.py", title="Image classification", icon=":material/image_search:"),
        st.Page("pages/segmentation.py", title="Semantic segmentation", icon=":material/texture:"),
        st.Page("pages/detection.py", title="Object detection", icon=":material/center_focus_strong:"),
        st.Page("pages/deepdream.py", title="DeepDream", icon=":material/cloud:"),
        st.Page("pages/learned.py", title="What the network learned", icon=":material/visibility:"),
    ],
    "Video": [
        st.Page("pages/video.py", title="Video classification", icon=":material/movie:"),
    ],
    "Text": [
        st.Page("pages/text.py", title="Text sentiment", icon=":material/reviews:"),
    ],
    "Audio": [
        st.Page("pages/audio.py", title="Audio: WaveNet and sound as images", icon=":material/graphic_eq:"),
    ],
    "Images and text": [
        st.Page("pages/vqa.py", title="Visual question answering", icon=":material/quiz:"),
    ],
    "Building blocks": [
        st.Page("pages/convolutions.py", title="Convolution types", icon=":material/grid_on:"),
        st.Page("pages/capsules.py", title="Capsule networks", icon=":material/bubble_chart:"),
    ],
}

page = st.navigation(PAGES)
try:
    ensure_offline_assets()  # a fresh host (no `make run`) fetches the model files once, with progress
    page.run()
finally:  # After the page, so the sidebar lists the model it just loaded, even if it stopped early.
    render_sidebar()
