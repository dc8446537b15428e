"""The video page: the six ways' table and chart, a generated clip, an uploaded video, bad uploads."""

import cv2
import numpy as np
from streamlit.testing.v1 import AppTest

from engine.data import clips
from tests.conftest import ROOT


def page() -> AppTest:
    return AppTest.from_file(str(ROOT / "pages" / "video.py"), default_timeout=120).run()


def cat_video(tmp_path, chelsea_bytes) -> bytes:
    cat = cv2.imdecode(np.frombuffer(chelsea_bytes, np.uint8), cv2.IMREAD_COLOR)
    cat = cv2.resize(cat, (320, 224))
    path = tmp_path / "cat.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 224))
    for shift in range(20):  # the cat pans to the right
        writer.write(np.roll(cat, shift * 3, axis=1))
    writer.release()
    return path.read_bytes()


def test_table_chart_and_a_generated_clip_with_six_predictions():
    at = page()
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert len(table) == 6 and table["test accuracy"].between(0, 1).all()
    assert "by class group" in at.get("plotly_chart")[0].proto.spec
    predictions = at.table[0].value
    assert len(predictions) == 6 and set(predictions["says"]) <= set(clips.CLASSES)
    assert f"true class: {clips.clip('test', 0).name}" in [caption.value for caption in at.caption]
    at.number_input(key="video-clip").set_value(7).run()
    assert not at.exception and len(at.table[0].value) == 6


def test_uploaded_video_gets_six_guesses_and_an_imagenet_timeline(tmp_path, chelsea_bytes):
    at = page()
    at.radio(key="video-source").set_value("upload a video").run()
    at.file_uploader(key="video-upload").upload(
        "cat.avi", cat_video(tmp_path, chelsea_bytes), "video/x-msvideo"
    ).run()
    assert not at.exception and not at.error
    majority = [block.value for block in at.markdown if "ImageNet majority" in block.value]
    assert majority and "cat" in majority[0].lower()
    assert len(at.table[0].value) == 6


def test_damaged_video_is_refused_clearly():
    at = page()
    at.radio(key="video-source").set_value("upload a video").run()
    at.file_uploader(key="video-upload").upload(
        "broken.mp4", b"\x00\x00\x00\x18ftypmp42" + b"\x07" * 4000, "video/mp4"
    ).run()
    assert not at.exception
    assert "could not be opened" in at.error[0].value or "No frame" in at.error[0].value
