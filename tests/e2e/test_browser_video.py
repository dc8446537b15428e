"""In a real browser: the video page shows the six ways' table; an uploaded video gets six predictions."""

import cv2
import numpy as np

from tests.conftest import SAMPLES


def test_upload_a_video_and_see_six_predictions(page, server_url, tmp_path):
    cat = cv2.resize(cv2.imread(str(SAMPLES / "chelsea.jpg")), (320, 224))
    path = tmp_path / "cat.webm"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"VP90"), 10, (320, 224))
    for shift in range(20):
        writer.write(np.roll(cat, shift * 3, axis=1))
    writer.release()
    page.goto(f"{server_url}/video")
    page.get_by_text("Measured side by side").wait_for()
    page.get_by_text("upload a video").click()
    page.locator("input[type=file]").first.set_input_files(str(path))
    page.get_by_text("The six ways on your video").wait_for()
    page.get_by_text("ImageNet majority").wait_for()
    predictions = page.get_by_test_id("stTable").last  # the six predictions, once they have streamed in
    predictions.wait_for()
    predictions.locator("tbody tr").nth(5).wait_for()
    assert predictions.locator("tbody tr").count() == 6  # one row per way
    shown = predictions.inner_text()
    assert predictions.locator("ol, li").count() == 0, "a way's number turned into a Markdown list"
    assert "1. per-frame 2D CNN" in shown, shown
    for name in (
        "per-frame 2D CNN",
        "TimeDistributed",
        "3D ConvNet",
        "MobileNetV2 features",
        "3D-CNN features",
    ):
        assert name in shown, shown
    page.locator("video").first.wait_for()
    # The browser read the video's header: it is a format it plays (VP9 WebM), not just an element.
    page.wait_for_function("Array.from(document.querySelectorAll('video')).every(v => v.readyState >= 1)")
    page.get_by_text("Device:").wait_for()
