"""Drawing a sentiment result: the probability chart, the evidence in the text, the figures table.

User text only ever reaches the page escaped (`html.escape`) inside our own <mark> spans, or as
cells of a dataframe: a review that contains <b> or <script> shows those characters, never runs.
"""

from __future__ import annotations

import html

import pandas as pd
import plotly.express as px
import streamlit as st

from engine.text import sentiment as text

SUPPORT_RGB, AGAINST_RGB = "46, 160, 67", "220, 53, 69"  # green for the label, red against it


def _merged_windows(result: text.SentimentResult) -> list[tuple[int, int, float, list[int]]]:
    """Overlapping evidence windows joined: (start, end, summed weight, filters), in text order."""
    merged: list[list] = []
    for item in sorted(result.evidence, key=lambda item: item.start):
        if merged and item.start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], item.end)
            merged[-1][2] += item.weight
            merged[-1][3].append(item.filter)
        else:
            merged.append([item.start, item.end, item.weight, [item.filter]])
    return [tuple(window) for window in merged]


def highlighted_html(result: text.SentimentResult) -> str:
    """The text with each winning window marked; every piece of it escaped."""
    windows = _merged_windows(result)
    strongest = max((abs(weight) for _, _, weight, _ in windows), default=1.0) or 1.0
    pieces, position = [], 0
    for start, end, weight, filters in windows:
        pieces.append(html.escape(result.text[position:start]))
        colour = SUPPORT_RGB if weight > 0 else AGAINST_RGB
        alpha = 0.25 + 0.55 * abs(weight) / strongest
        title = f"filters {', '.join(map(str, filters))}: weight {weight:+.3f}"
        pieces.append(
            f'<mark style="background: rgba({colour}, {alpha:.2f}); padding: 0 2px; '
            f'border-radius: 3px" title="{html.escape(title)}">{html.escape(result.text[start:end])}</mark>'
        )
        position = end
    pieces.append(html.escape(result.text[position:]))
    return (
        '<div class="sentiment-evidence" style="white-space: pre-wrap; line-height: 1.9; '
        f'max-height: 22em; overflow-y: auto">{"".join(pieces)}</div>'
    )


def probability_chart(result: text.SentimentResult):
    table = pd.DataFrame(
        {"class": list(result.probabilities), "probability": list(result.probabilities.values())}
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
    chart.update_layout(height=60 + 45 * len(table), margin=dict(l=0, r=0, t=10, b=0), yaxis_title=None)
    return chart


def evidence_table(result: text.SentimentResult) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "3-token window": [item.ngram for item in result.evidence],
            "filter": [item.filter for item in result.evidence],
            "weight": [round(item.weight, 3) for item in result.evidence],
        }
    )


def figures_table(figures: dict) -> pd.DataFrame:
    """CNN vs baseline vs chance on the test split, from `train`'s or `eval`'s figures."""
    cnn, baseline, chance = figures["cnn"]["test"], figures["baseline"]["test"], figures["chance"]
    return pd.DataFrame(
        {
            "model": [
                "Text CNN (this page)",
                f"TF-IDF + logistic regression (C={figures['baseline']['C']})",
                f"Always '{chance['majority_class']}'",
            ],
            "test accuracy": [cnn["accuracy"], baseline["accuracy"], chance["majority_accuracy"]],
            "macro F1": [cnn["macro_f1"], baseline["macro_f1"], None],
        }
    )


def show_result(result: text.SentimentResult) -> None:
    st.subheader(f"{result.label}: {result.probabilities[result.label]:.1%}")
    st.caption(f"{result.model} · weights: {result.source} · {result.ms:.1f} ms")
    if result.notice:
        st.warning(result.notice)
    st.plotly_chart(probability_chart(result), width="stretch")
    st.markdown(
        "**Evidence:** the 3-token windows that won the max-pool of the most influential "
        "filters (green pushed toward the label, red against it)."
    )
    st.html(highlighted_html(result))
    st.dataframe(evidence_table(result), hide_index=True, width="stretch")
