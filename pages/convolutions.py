"""Convolution types: shapes, weight counts, receptive fields and effects on your image."""

import pandas as pd
import plotly.express as px
import streamlit as st

from engine.convolutions import catalog as convolutions
from engine.core import media
from ui.errors import user_errors
from ui.inputs import image_source
from ui.receptive_field import receptive_field_figure
from ui.shell import ensure_app_shell

ensure_app_shell()
st.title("Convolution types")
st.caption(
    "The chapter's summary: a convolution with I input channels, O output channels and K kernel "
    "values has I x O x K weights. Each type below is a real Keras layer; shapes and weight counts "
    "come from Keras itself."
)


def settings_ui() -> convolutions.ConvSettings:
    columns = st.columns(4)
    height = columns[0].number_input("Input height", 3, convolutions.MAX_SIZE, 7, key="conv-height")
    width = columns[0].number_input("Input width", 3, convolutions.MAX_SIZE, 7, key="conv-width")
    in_channels = columns[1].number_input(
        "Input channels (I)", 1, convolutions.MAX_CHANNELS, 3, key="conv-in-channels"
    )
    out_channels = columns[1].number_input(
        "Output channels (O)", 1, convolutions.MAX_CHANNELS, 8, key="conv-out-channels"
    )
    kernel = columns[2].slider("Kernel size k (K = k x k)", 1, convolutions.MAX_KERNEL, 3, key="conv-kernel")
    padding = columns[2].radio("Padding", ["valid", "same"], horizontal=True, key="conv-padding")
    stride = columns[3].slider("Stride", 1, convolutions.MAX_STRIDE, 1, key="conv-stride")
    dilation = columns[3].slider(
        "Dilation (atrous rate)", 1, convolutions.MAX_DILATION, 2, key="conv-dilation"
    )
    return convolutions.ConvSettings(
        int(height), int(width), int(in_channels), int(out_channels), kernel, stride, padding, dilation
    )


settings = settings_ui()
with user_errors():
    described = convolutions.describe(settings)
table = pd.DataFrame(
    [
        {
            "type": d.kind,
            "Keras layers": d.layers,
            "output (H, W, C)": str(d.output_shape),
            "weights": d.weights,
            "how": d.formula,
            "multiplications": d.multiplications,
        }
        for d in described
    ]
)
st.dataframe(table, hide_index=True, width="stretch")
chart = px.bar(
    table,
    x="type",
    y="weights",
    text="weights",
    log_y=True,
    title="Weights per type (log scale): what separable and depthwise versions save",
)
st.plotly_chart(chart, width="stretch")
if settings.dilation == 1:
    st.caption("The dilated row uses dilation 2 so that it differs from the basic one.")

st.subheader("Which inputs feed one output")
kind = st.selectbox("Convolution type", convolutions.KINDS, key="conv-field-kind")
if max(settings.height, settings.width) > convolutions.MAX_FIELD_SIZE:
    st.info(
        f"The picture needs an input of at most {convolutions.MAX_FIELD_SIZE} x "
        f"{convolutions.MAX_FIELD_SIZE}; make the input smaller above."
    )
else:
    with user_errors():
        fields = convolutions.receptive_fields(kind, settings)
    st.plotly_chart(receptive_field_figure(fields, transposed=kind == "transposed"), width="stretch")
    st.caption(
        "Found by running the real layer with all-ones kernels on one-hot inputs. Press Play: with "
        "dilation the field has holes; a stride skips outputs; a transposed convolution spreads "
        "each input over a patch of a larger output."
    )

st.subheader("Each type on your image")
picked = image_source("convolutions")
if picked is None:
    st.info("Upload an image or pick a sample to see each convolution's effect.")
    st.stop()
with user_errors():
    # The effects read the same at 640 px, which keeps the page quick.
    pixels = media.decode_within(picked[1], 640, min_side=256).pixels
    applied = convolutions.apply_to_image(pixels, dilation=max(settings.dilation, 2))
st.image(pixels, caption="input", width=320)
for row_start in range(0, len(applied), 3):
    for column, result in zip(st.columns(3), applied[row_start : row_start + 3]):
        column.image(result.image, caption=f"{result.kind}: {result.kernel_description}", width="stretch")
        column.caption(result.note)
