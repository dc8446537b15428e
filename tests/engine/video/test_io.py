"""Real videos: bounded decoding, even sampling, VP9 for the browser, clear errors, the ImageNet timeline."""

import pathlib

import cv2
import numpy as np
import pytest

from engine.classification import classify as classification
from engine.core import registry
from engine.core.errors import InvalidInput, InvalidMedia
from engine.data import clips
from engine.video import io as video_io

pytestmark = pytest.mark.usefixtures("offline_models")  # loads fetched model files


def write_video(
    path: pathlib.Path, frames: int, fps: float = 25.0, size: tuple[int, int] = (64, 48), fourcc: str = "MJPG"
) -> bytes:
    """A video whose frame i has brightness 4 * i (so a decoded frame tells its own number)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    assert writer.isOpened()
    for index in range(frames):
        writer.write(np.full((size[1], size[0], 3), 4 * index % 256, np.uint8))
    writer.release()
    return path.read_bytes()


def test_decodes_with_the_right_frame_count_and_samples_evenly(tmp_path):
    data = write_video(tmp_path / "ramp.avi", 40)
    video = video_io.decode(data, "ramp.avi", samples=8)
    assert video.frame_count == 40 and (video.width, video.height) == (64, 48)
    assert video.indices == (2, 7, 12, 17, 22, 27, 32, 37)
    brightness = video.frames.reshape(8, -1).mean(1)
    assert np.allclose(brightness, 4 * np.array(video.indices), atol=3)  # the frames are the ones named
    assert video.seconds == pytest.approx(1.6)
    clip = video_io.to_clip(video)
    assert clip.shape == (clips.FRAMES, clips.SIZE, clips.SIZE, 3) and clip.dtype == np.uint8


def test_webm_round_trip_and_pass_through(tmp_path):
    frames = np.zeros((12, 48, 64, 3), np.uint8)
    frames[:, :, :, 0] = np.arange(12)[:, None, None] * 20
    data = video_io.write_webm(frames, 12.0)
    assert data[:4] == b"\x1a\x45\xdf\xa3"  # EBML: a Matroska / WebM file
    video = video_io.decode(data, "clip.webm", samples=12)
    assert video.frame_count == 12 and video.codec.upper().startswith("VP8")
    playable, mime = video_io.browser_playable(data, "clip.webm")
    assert playable is data and mime == "video/webm"  # already VP8: not transcoded again
    avi = write_video(tmp_path / "ramp.avi", 10)
    playable, mime = video_io.browser_playable(avi, "ramp.avi")
    again = video_io.decode(playable, "again.webm")
    assert (
        mime == "video/webm" and again.frame_count == 5 and again.fps == 12.5
    )  # 25 fps thinned to every 2nd
    fast = write_video(
        tmp_path / "fast.avi", 60, fps=60.0, size=(800, 400)
    )  # 60 fps, 800 px: thinned, shrunk
    again = video_io.decode(video_io.browser_playable(fast, "fast.avi")[0], "thinned.webm")
    assert again.frame_count == 15 and (again.width, again.height) == (360, 180)


def test_bad_videos_get_clear_errors(tmp_path):
    with pytest.raises(InvalidMedia, match="empty"):
        video_io.decode(b"", "nothing.mp4")
    with pytest.raises(InvalidMedia, match="could not be opened|No frame"):
        video_io.decode(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40, "broken.mp4")
    with pytest.raises(InvalidMedia, match="not a video"):
        video_io.decode(b"GIF89a", "animation.gif")
    empty = write_video(tmp_path / "zero.avi", 0)
    with pytest.raises(InvalidMedia, match="could not be opened|No frame"):
        video_io.decode(empty, "zero.avi")
    long = write_video(tmp_path / "long.avi", 62, fps=1.0, size=(16, 16))
    with pytest.raises(InvalidMedia, match="longer than"):
        video_io.decode(long, "long.avi")
    wide = write_video(tmp_path / "wide.avi", 2, size=(2000, 16))
    with pytest.raises(InvalidMedia, match="2000 x 16"):
        video_io.decode(wide, "wide.avi")
    with pytest.raises(InvalidInput, match="Sample"):
        video_io.decode(long, "long.avi", samples=0)


def test_no_temporary_file_is_left_behind(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path / "scratch"))
    (tmp_path / "scratch").mkdir()
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    data = write_video(tmp_path / "ramp.avi", 5)
    video_io.decode(data, "ramp.avi")
    with pytest.raises(InvalidMedia):
        video_io.decode(b"junk" * 100, "junk.mov")
    assert list((tmp_path / "scratch").iterdir()) == []


def test_imagenet_timeline_labels_every_sampled_frame(tmp_path, chelsea_bytes):
    cat = cv2.imdecode(np.frombuffer(chelsea_bytes, np.uint8), cv2.IMREAD_COLOR)
    path = tmp_path / "cat.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (cat.shape[1], cat.shape[0]))
    for shift in range(10):  # the cat panning slowly
        writer.write(np.roll(cat, shift * 4, axis=1))
    writer.release()
    video = video_io.decode(path.read_bytes(), "cat.avi", samples=5)
    timeline = video_io.imagenet_timeline(video, registry.load(classification.DEFAULT_MODEL))
    assert len(timeline.frames) == 5 and timeline.majority_share >= 0.8
    assert "cat" in timeline.majority.lower()  # chelsea is an Egyptian / tabby cat
