"""Text sentiment: the chapter's 1D CNN reads your text and shows the n-grams that decided it."""

import json

import streamlit as st

from engine.core.errors import StudioError
from engine.data import text as text_data
from engine.text import sentiment as text
from ui.models import get_model
from ui.shell import ensure_app_shell
from ui.text import figures_table, show_result
from ui.text_training import TRAINED, training_panel

ensure_app_shell()

SAMPLE = "The flight was delayed three hours and the crew was rude. Never flying with them again!"
COMMITTED, SESSION = "The committed CNN (tweets)", "The model you trained"

st.title("Text sentiment")
st.caption(
    "A 1D CNN (Embedding -> Conv1D(256, 3) -> global max-pool -> Dense) labels your text "
    "negative, neutral or positive. Each filter keeps only its best 3-token window; the "
    "windows of the filters that weighed most are highlighted. Probabilities are the "
    "model's softmax, not calibrated certainties."
)


def text_input() -> str | bytes:
    """Typed or pasted text, or the text of an uploaded .txt file (decoded as UTF-8 later)."""
    typed = st.text_area("Type or paste text", value=SAMPLE, height=140, key="text-input")
    uploaded = st.file_uploader(
        f"...or upload a UTF-8 .txt file (up to {text_data.MAX_TEXT_BYTES // 2**20} MB; "
        f"the first {text_data.MAX_TEXT_CHARS:,} characters are read)",
        type=["txt"],
        key="text-upload",
    )
    return typed if uploaded is None else uploaded.getvalue()


def predict(content: str | bytes, model_choice: str) -> text.SentimentResult:
    if isinstance(content, bytes):
        content = text_data.decode_text(content)
    loaded = st.session_state[TRAINED] if model_choice == SESSION else get_model(text.MODEL_NAME)
    return text.sentiment(content, loaded)


left, right = st.columns([1, 1])
with left:
    content = text_input()
    choice = st.radio(
        "Model",
        [COMMITTED, SESSION] if TRAINED in st.session_state else [COMMITTED],
        horizontal=True,
        key="text-model",
    )
    figures = text.recorded_evaluation()
    if figures:
        st.markdown("**Measured on held-out tweets** (the test split; `python -m engine eval text-cnn`)")
        st.dataframe(figures_table(figures), hide_index=True, width="stretch")

with right:
    if isinstance(content, str) and not content.strip():
        st.info("Type or paste some text to label it.")
    else:
        try:  # An error here must not stop the page: the training panel below keeps running.
            result = predict(content, choice)
        except StudioError as error:
            st.error(str(error))
        else:
            show_result(result)
            st.download_button(
                "Download the result (JSON)",
                data=json.dumps(result.to_json(), indent=2),
                file_name="sentiment.json",
                mime="application/json",
            )

st.divider()
training_panel()
