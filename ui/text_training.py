"""The live training panel: the chapter's CNN trained from scratch, one epoch per script run.

Each run of the page trains one epoch, stores the figures in `st.session_state` and reruns, so
the curves grow epoch by epoch. The Stop button's callback sets a flag before the next run starts;
a click during an epoch interrupts it at its next progress update, and the run that follows stops
and scores the model as it stands. Nothing here writes to assets/: the committed weights stay as
they are, and the model trained here lives in this browser session only.
"""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from engine.core import registry
from engine.text import train as text_training
from ui.errors import user_errors

MAX_BROWSER_EPOCHS = 10
TWEET_LIMITS = {"2,000 tweets (fast)": 2_000, "8,000 tweets": 8_000, "all training tweets": None}
DATASETS = {"tweets": "Tweets, 3 classes (offline)", "imdb": "IMDB reviews, 2 classes (downloads 17 MB)"}
RUN, TARGET, STOP, OUTCOME, TRAINED = (
    "text_run",
    "text_target_epochs",
    "text_stop",
    "text_outcome",
    "text_trained_model",
)


@st.cache_resource(show_spinner="Preparing the training data (once per server process)...", max_entries=4)
def prepared_data(dataset: str, train_limit: int | None) -> text_training.PreparedData:
    if dataset == "imdb":
        return text_training.prepare_imdb()
    return text_training.prepare_tweets(train_limit)


class SessionSource:
    """Where the weights of a model trained on this page come from, for captions."""

    def describe(self) -> str:
        return "trained in this browser session (not saved)"


def _request_stop() -> None:
    st.session_state[STOP] = True


def _curves(history: list[text_training.EpochFigures]):
    rows = [
        {"epoch": figures.epoch, "quantity": quantity, "split": split, "value": value}
        for figures in history
        for quantity, split, value in (
            ("loss", "train", figures.loss),
            ("loss", "validation", figures.val_loss),
            ("accuracy", "train", figures.accuracy),
            ("accuracy", "validation", figures.val_accuracy),
        )
    ]
    chart = px.line(
        pd.DataFrame(rows), x="epoch", y="value", color="split", facet_col="quantity", markers=True
    )
    chart.for_each_annotation(lambda annotation: annotation.update(text=annotation.text.split("=")[-1]))
    chart.update_yaxes(matches=None, showticklabels=True, title=None)
    chart.update_xaxes(dtick=1)
    chart.update_layout(height=300, margin=dict(l=0, r=0, t=30, b=0))
    return chart


def _start(dataset: str, train_limit: int | None, epochs: int, batch_size: int) -> None:
    with user_errors():
        data = prepared_data(dataset, train_limit)
        st.session_state[RUN] = text_training.TrainingRun(data, batch_size)
    st.session_state.update({TARGET: epochs, STOP: False, OUTCOME: None})


def _finish(run: text_training.TrainingRun) -> None:
    """Score the model as it stands and keep it for predictions in this session."""
    with st.spinner("Scoring on the test split..."):
        scores = run.test_scores()
    stopped = st.session_state[STOP] or any(figures.stopped for figures in run.history)
    st.session_state[OUTCOME] = {
        "scores": scores,
        "history": run.history,
        "stopped": stopped,
        "examples": len(run.data.arrays["train"]),
        "dataset": run.data.splits.name,
    }
    spec = registry.ModelSpec(
        name="text-cnn-session",
        task="sentiment",
        title="The model you trained on this page",
        input_size=(1, run.data.sequence_length),
        labels=", ".join(run.data.splits.labels),
        sources=(),
        builder=lambda spec, source: None,
        trained_on=f"{len(run.data.arrays['train']):,} {run.data.splits.name}",
        metric=f"test accuracy {scores['accuracy']}",
    )
    st.session_state[TRAINED] = registry.LoadedModel(spec, SessionSource(), run.classifier(), 0.0)
    st.session_state[RUN] = None


def training_panel() -> None:
    state = st.session_state
    run: text_training.TrainingRun | None = state.get(RUN)
    training = run is not None
    st.subheader("Train it yourself")
    st.caption(
        "The same network, from random weights, in this browser session. The committed "
        "weights are not touched; your model is kept for this session only."
    )
    columns = st.columns(4)
    dataset = columns[0].selectbox(
        "Data", list(DATASETS), format_func=DATASETS.get, disabled=training, key="text-train-data"
    )
    limit = columns[1].selectbox(
        "Training set",
        list(TWEET_LIMITS),
        index=2,
        key="text-train-limit",
        disabled=training or dataset != "tweets",
    )
    epochs = columns[2].slider("Epochs", 1, MAX_BROWSER_EPOCHS, 3, disabled=training, key="text-train-epochs")
    batch_size = columns[3].select_slider(
        "Batch size", text_training.BATCH_SIZES, 128, disabled=training, key="text-train-batch-size"
    )
    buttons = st.columns([1, 1, 4])
    if buttons[0].button("Train", type="primary", disabled=training, key="text-train-start"):
        _start(dataset, TWEET_LIMITS[limit], epochs, batch_size)
        st.rerun()
    buttons[1].button("Stop", disabled=not training, on_click=_request_stop, key="text-train-stop")

    outcome = state.get(OUTCOME)
    history = run.history if training else outcome["history"] if outcome else []
    chart = st.empty()
    if history:
        chart.plotly_chart(_curves(history), width="stretch")
    if training:
        if state[STOP] or len(history) >= state[TARGET]:
            _finish(run)
            st.rerun()
        bar = st.progress(0.0, text=f"Epoch {len(history) + 1} of {state[TARGET]}")
        run.run_epoch(
            lambda fraction, message, preview=None: bar.progress(min(fraction, 1.0), text=message),
            should_stop=lambda: state.get(STOP, False),
        )
        st.rerun()

    if outcome:
        how = "stopped after" if outcome["stopped"] else "after"
        st.success(
            f"Test accuracy {outcome['scores']['accuracy']:.1%}, macro F1 "
            f"{outcome['scores']['macro_f1']:.3f} ({how} {len(outcome['history'])} epochs on "
            f"{outcome['examples']:,} {outcome['dataset']}). Pick 'The model you trained' above "
            "to try it on your text."
        )
