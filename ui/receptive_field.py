"""The animated receptive-field picture: which inputs feed each output, one frame per output.

Plain data in (engine.convolutions.catalog.ReceptiveFields), a plotly figure out.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from engine.convolutions.catalog import ReceptiveFields

INPUT_COLOURS = [[0, "#f1f3f6"], [1, "#1f77b4"]]
OUTPUT_COLOURS = [[0, "#f1f3f6"], [1, "#d62728"]]
MAX_FRAMES = 400  # plotly animations get sluggish beyond this


def receptive_field_figure(fields: ReceptiveFields, transposed: bool = False) -> go.Figure:
    """Input grid (left) and output grid (right); each frame lights one output and its inputs.

    For a transposed convolution the natural question is the reverse (where does one input go?),
    so frames then walk over the inputs and light the outputs each one spreads to.
    """
    out_h, out_w = fields.output_shape
    in_h, in_w = fields.input_shape
    if transposed:
        positions = [(r, c) for r in range(in_h) for c in range(in_w)]
        frames_data = [
            (_cell(in_h, in_w, r, c), fields.fields[:, :, r, c].astype(float)) for r, c in positions
        ]
        title = "one input (left) spreads to these outputs (right)"
    else:
        positions = [(r, c) for r in range(out_h) for c in range(out_w)]
        frames_data = [(fields.fields[r, c].astype(float), _cell(out_h, out_w, r, c)) for r, c in positions]
        title = "the inputs (left) that feed one output (right)"
    step = max(1, len(positions) // MAX_FRAMES)
    frames_data, positions = frames_data[::step], positions[::step]
    figure = make_subplots(
        rows=1, cols=2, subplot_titles=(f"input {in_h} x {in_w}", f"output {out_h} x {out_w}")
    )
    first_in, first_out = frames_data[0]
    figure.add_trace(_heatmap(first_in, INPUT_COLOURS), row=1, col=1)
    figure.add_trace(_heatmap(first_out, OUTPUT_COLOURS), row=1, col=2)
    figure.frames = [
        go.Frame(data=[_heatmap(a, INPUT_COLOURS), _heatmap(b, OUTPUT_COLOURS)], name=str(index))
        for index, (a, b) in enumerate(frames_data)
    ]
    figure.update_layout(
        title=title,
        height=420,
        margin=dict(l=10, r=10, t=70, b=10),
        updatemenus=[
            dict(
                type="buttons",
                x=0,
                y=-0.05,
                xanchor="left",
                buttons=[
                    dict(
                        label="Play",
                        method="animate",
                        args=[None, dict(frame=dict(duration=350, redraw=True), fromcurrent=True)],
                    ),
                    dict(label="Pause", method="animate", args=[[None], dict(mode="immediate")]),
                ],
            )
        ],
        sliders=[
            dict(
                active=0,
                y=-0.05,
                x=0.15,
                len=0.85,
                currentvalue=dict(prefix="position "),
                steps=[
                    dict(label=f"{r},{c}", method="animate", args=[[str(index)], dict(mode="immediate")])
                    for index, (r, c) in enumerate(positions)
                ],
            )
        ],
    )
    for axis in ("yaxis", "yaxis2"):
        figure.layout[axis].update(autorange="reversed", scaleanchor=axis.replace("yaxis", "x"))
    return figure


def _cell(height: int, width: int, row: int, col: int) -> np.ndarray:
    grid = np.zeros((height, width))
    grid[row, col] = 1.0
    return grid


def _heatmap(values: np.ndarray, colours) -> go.Heatmap:
    return go.Heatmap(
        z=values,
        colorscale=colours,
        zmin=0,
        zmax=1,
        showscale=False,
        xgap=2,
        ygap=2,
        hovertemplate="row %{y}, column %{x}<extra></extra>",
    )
