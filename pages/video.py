"""Video classification six ways: the chapter's approaches trained here on generated clips, and your video."""

import streamlit as st

from engine.classification import classify as classification
from engine.data import clips as video_clips
from engine.video import api as video
from engine.video import io as video_io
from engine.video import train as video_training
from ui.errors import user_errors
from ui.models import get_model
from ui.shell import ensure_app_shell
from ui.video import (
    browser_playable,
    clip_movie,
    clip_strip,
    predictions_table,
    show_comparison,
    timeline_chart,
)

ensure_app_shell()
st.title("Video classification, six ways")
st.caption(
    "The chapter's six ways, all trained here on the same generated clips (16 frames, 48 x 48: MNIST "
    "digits moving over textures): (1) a 2D CNN per frame + majority vote, (2) a TimeDistributed 2D CNN "
    "feeding a GRU, (3) a 3D ConvNet, (4) frozen ImageNet MobileNetV2 features per frame -> GRU, "
    "(5) the same features averaged over 4 time segments -> MLP, (6) 3D-CNN features -> GRU."
)

table = video_training.load_table()
if table is None:
    st.info("The six ways are not trained yet: run `python -m engine train video`.")
    st.stop()
st.subheader("Measured side by side")
show_comparison(table)
single_frame_best = max(row["by_group"]["single frame tells"] for row in table["rows"])
st.markdown(
    "Eight of the ten classes differ only in the order of the frames (left / right, up / down, clockwise / "
    "counter-clockwise, growing / shrinking): any single frame of one could belong to its twin. Way 1 votes "
    "frame by frame, so there it can at best guess the group, never the direction, and its accuracy on "
    "them stays near chance. The 3D ConvNet sees motion from its first layer and wins on every temporal "
    "group; a GRU on its frozen features (way 6) adds a little. The frozen ImageNet features (ways 4 and 5) "
    "train fastest once computed, but a 2 x 2 grid of MobileNetV2 features tells direction and size, not "
    "which way a digit turns, and averaging over time segments (way 5) loses more; they also cost a "
    "MobileNetV2 pass per frame at inference. The CNN -> GRU trained end to end (way 2) learns slowest, as "
    "the chapter warns. Every way does worse than expected on the two classes a single frame tells "
    f"(two digits, one clothing item; best {single_frame_best:.2f}): the 3D ConvNet's spatial max-pool cannot "
    "count objects. Training seconds are on 2 CPU cores shared with other trainings."
)

with user_errors():
    ways = get_model(video.MODEL_NAME).model

source = st.radio("Video", ["a generated test clip", "upload a video"], horizontal=True, key="video-source")
if source == "a generated test clip":
    index = int(
        st.number_input("Test clip number (the seed)", 0, video_clips.MAX_INDEX - 1, 0, key="video-clip")
    )
    with user_errors():
        item = video_clips.clip("test", index)
        predictions = video.classify_clip(ways, item.frames)
    left, right = st.columns([1, 2])
    left.video(clip_movie(item.frames), format="video/webm", loop=True, autoplay=True, muted=True)
    left.caption(f"true class: {item.name}")
    right.image(clip_strip(item.frames), caption="frames 1, 4, 7, 10, 13, 16")
    right.table(predictions_table(predictions, item.name).set_index("way"))
    st.stop()

uploaded = st.file_uploader(
    f"A video ({video_io.describe_limits()})", type=[s[1:] for s in video_io.SUFFIXES], key="video-upload"
)
if uploaded is None:
    st.info("Upload a short video.")
    st.stop()
samples = st.slider(
    "Frames sampled for the ImageNet timeline",
    4,
    video_io.MAX_SAMPLES,
    video_io.DEFAULT_SAMPLES,
    key="video-samples",
)
with user_errors():
    data = uploaded.getvalue()
    classifier = get_model(classification.DEFAULT_MODEL)
    with st.spinner("Decoding and classifying..."):
        analysis = video.analyse(data, uploaded.name, ways, classifier, samples)
        playable, mime = browser_playable(data, uploaded.name)
found = analysis.video
left, right = st.columns([1, 1])
left.video(playable, format=mime)
left.caption(
    f"{found.width} x {found.height}, {found.frame_count} frames at {found.fps:.1f} fps "
    f"({found.seconds:.1f} s), codec {found.codec}"
)
right.markdown(
    f"**ImageNet majority (EfficientNet-Lite0, {len(analysis.timeline.frames)} frames):** "
    f"{analysis.timeline.majority} ({analysis.timeline.majority_share:.0%} of frames)"
)
right.plotly_chart(timeline_chart(analysis.timeline), width="stretch")
st.subheader("The six ways on your video")
st.caption(
    "Your video is not one of the ten clip classes: these say which generated class it resembles, "
    "after sampling 16 frames and shrinking the centre square to 48 x 48 (shown below)."
)
st.image(clip_strip(analysis.clip), caption="what the six ways see")
st.table(predictions_table(analysis.predictions).set_index("way"))
