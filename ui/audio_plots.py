"""Plotly pictures of the audio page: waveform, log-mel spectrogram, class bars, basic-pitch's
posteriorgram and the receptive field of WaveNet's dilated causal stack. Plain data in, figures out."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from engine.audio import features, pitch
from engine.data import notes

MAX_WAVEFORM_POINTS = 4000  # longer waveforms are drawn as a min/max envelope per column
STACK_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd")


def waveform_figure(audio: np.ndarray, rate: int, title: str = "waveform") -> go.Figure:
    """Amplitude over time; long sounds drawn as the min/max of each column so peaks stay visible."""
    audio = np.asarray(audio, np.float32)
    columns = MAX_WAVEFORM_POINTS // 2
    if audio.size > MAX_WAVEFORM_POINTS:
        usable = audio[: audio.size - audio.size % columns].reshape(columns, -1)
        values = np.stack([usable.min(axis=1), usable.max(axis=1)], axis=1).reshape(-1)
        times = np.repeat(np.arange(columns) * usable.shape[1] / rate, 2)
    else:
        values, times = audio, np.arange(audio.size) / rate
    figure = go.Figure(
        go.Scatter(
            x=times,
            y=values,
            mode="lines",
            line=dict(width=1, color="#1f77b4"),
            hovertemplate="%{x:.3f} s: %{y:.3f}<extra></extra>",
        )
    )
    figure.update_layout(
        title=title,
        height=260,
        margin=dict(l=10, r=10, t=40, b=10),
        xaxis_title="seconds",
        yaxis=dict(title="amplitude", range=[-1.05, 1.05]),
    )
    return figure


def spectrogram_figure(
    audio: np.ndarray,
    rate: int = features.SAMPLE_RATE,
    title: str = "log-mel spectrogram (what the CNN sees)",
) -> go.Figure:
    """The log-mel picture: time across, mel bands up, dB below the loudest bin as colour."""
    image = features.log_mel(np.asarray(audio, np.float32), rate)
    times = np.arange(image.shape[1]) * features.HOP / rate
    figure = go.Figure(
        go.Heatmap(
            z=image,
            x=times,
            y=np.arange(features.MEL_BANDS),
            colorscale="Magma",
            zmin=features.FLOOR_DB,
            zmax=0,
            colorbar=dict(title="dB"),
            customdata=np.repeat(features.band_centres_hz()[:, None], image.shape[1], axis=1),
            hovertemplate="%{x:.2f} s, band %{y} (%{customdata:.0f} Hz): %{z:.0f} dB<extra></extra>",
        )
    )
    ticks = [0, 16, 32, 48, features.MEL_BANDS - 1]
    figure.update_layout(
        title=title,
        height=300,
        margin=dict(l=10, r=10, t=40, b=10),
        xaxis_title="seconds",
        yaxis=dict(
            title="Hz (mel scale)",
            tickvals=ticks,
            ticktext=[f"{features.band_centres_hz()[t]:.0f}" for t in ticks],
        ),
    )
    return figure


def probability_figure(probabilities: dict[str, float], truth: str | None = None) -> go.Figure:
    """Horizontal bars of class probabilities; the true class, when known, in green."""
    names = list(probabilities)
    colours = ["#2ca02c" if name == truth else "#1f77b4" for name in names]
    figure = go.Figure(
        go.Bar(
            x=[probabilities[name] for name in names],
            y=names,
            orientation="h",
            marker_color=colours,
            hovertemplate="%{y}: %{x:.3f}<extra></extra>",
        )
    )
    figure.update_layout(
        title="instrument CNN: probabilities",
        height=300,
        margin=dict(l=10, r=10, t=40, b=10),
        xaxis=dict(range=[0, 1], title="probability"),
        yaxis=dict(autorange="reversed"),
    )
    return figure


def posteriorgram_figure(estimate: pitch.PitchEstimate, span: int = 18) -> go.Figure:
    """basic-pitch's note posteriorgram around the chosen key (or the loudest keys)."""
    gram = estimate.posteriorgram
    centre = (
        estimate.midi
        if estimate.midi is not None
        else pitch.LOWEST_MIDI + int(gram.sum(axis=0).argmax())
        if gram.size
        else 60
    )
    low = max(pitch.LOWEST_MIDI, centre - span)
    high = min(pitch.LOWEST_MIDI + pitch.KEYS - 1, centre + span)
    keys = np.arange(low, high + 1)
    figure = go.Figure(
        go.Heatmap(
            z=gram[:, keys - pitch.LOWEST_MIDI].T,
            x=np.arange(gram.shape[0]) / pitch.FRAMES_PER_SECOND,
            y=keys,
            colorscale="Blues",
            zmin=0,
            zmax=1,
            colorbar=dict(title="p"),
            hovertemplate="%{x:.2f} s, MIDI %{y}: %{z:.2f}<extra></extra>",
        )
    )
    labels = [f"{key} {notes.pitch_name(int(key))}" for key in keys[::6]]
    figure.update_layout(
        title="basic-pitch note posteriorgram",
        height=300,
        margin=dict(l=10, r=10, t=40, b=10),
        xaxis_title="seconds",
        yaxis=dict(title="MIDI key", tickvals=keys[::6], ticktext=labels),
    )
    return figure


def receptive_field_figure(dilations: tuple[int, ...], sample_rate: int) -> go.Figure:
    """Which past samples the newest output depends on, layer by layer.

    Rows from the bottom: the input samples, the causal convolution (kernel 2), then each dilated layer
    (kernel 2, dilation d: node t reads t and t - d). Starting from the output node at t = 0, every
    node that feeds it is drawn with the two edges into it; a new dilation cycle gets a new colour.
    """
    layers = [1, *dilations]  # the causal convolution acts as a dilation-1 layer
    active = [{0}]  # positions (samples before the newest) that feed the output, from the top down
    for dilation in reversed(layers):
        active.append({t for position in active[-1] for t in (position, position + dilation)})
    active.reverse()  # active[0]: input samples; active[k]: outputs of layer k
    stack, stacks = 0, []
    for index, dilation in enumerate(layers):
        if index > 1 and dilation <= layers[index - 1]:
            stack += 1
        stacks.append(stack)
    figure = go.Figure()
    for level in range(1, len(active)):
        dilation, colour = layers[level - 1], STACK_COLOURS[stacks[level - 1] % len(STACK_COLOURS)]
        xs, ys = [], []
        for position in sorted(active[level]):
            for source in (position, position + dilation):
                xs += [-position, -source, None]
                ys += [level, level - 1, None]
        figure.add_trace(
            go.Scattergl(
                x=xs,
                y=ys,
                mode="lines",
                line=dict(width=0.6, color=colour),
                opacity=0.5,
                hoverinfo="skip",
                showlegend=False,
            )
        )
    for level, positions in enumerate(active):
        ordered = sorted(positions)
        label = "input" if level == 0 else ("causal conv" if level == 1 else f"dilation {layers[level - 1]}")
        figure.add_trace(
            go.Scattergl(
                x=[-p for p in ordered],
                y=[level] * len(ordered),
                mode="markers",
                marker=dict(size=3, color="#333"),
                showlegend=False,
                hovertemplate=f"{label}: t%{{x}}<extra></extra>",
            )
        )
    field = len(active[0])
    figure.update_layout(
        title=f"one output sample depends on the {field} samples before it ({field / sample_rate * 1000:.0f} ms)",
        height=460,
        margin=dict(l=10, r=10, t=50, b=10),
        xaxis_title="samples before the newest (t = 0)",
        yaxis=dict(
            tickvals=list(range(len(active))), ticktext=["input", "causal"] + [f"d={d}" for d in dilations]
        ),
    )
    return figure
