"""Hostile videos (issue 11): every refusal is a clear message from the engine and the CLI, never a traceback.

The files are made here: empty, truncated, text / a JPEG behind a video extension, a zero-frame
container, over-long (more frames than the limit), oversized frames and a wrong extension; one
valid clip is accepted everywhere.
"""

from __future__ import annotations

import functools
import pathlib
import tempfile

import cv2
import numpy as np
import pytest

from engine.core.errors import InvalidMedia
from engine.video import io as video_io
from tests.conftest import SAMPLES
from tests.hostile.corpus import Hostile


def _write(
    frames: int, side: tuple[int, int], fourcc: str = "MJPG", suffix: str = ".avi", fps: float = 30
) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path = str(pathlib.Path(folder) / f"clip{suffix}")
        writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*fourcc), fps, side)
        frame = np.zeros((side[1], side[0], 3), np.uint8)
        for index in range(frames):
            frame[:] = index % 255
            writer.write(frame)
        writer.release()
        return pathlib.Path(path).read_bytes()


@functools.cache
def video_files() -> tuple[Hostile, ...]:
    valid = _write(24, (64, 48))
    refuse = False
    return (
        Hostile("empty.mp4", "video", b"", refuse, "empty", "zero bytes"),
        Hostile(
            "truncated.avi", "video", valid[:600], refuse, "damaged", "the first 600 bytes of a valid AVI"
        ),
        Hostile("text.mp4", "video", b"this is not a video\n" * 50, refuse, "opened", "text behind .mp4"),
        Hostile(
            "photo.mov",
            "video",
            (SAMPLES / "coffee.jpg").read_bytes(),
            refuse,
            "single picture",
            "a JPEG behind .mov (FFmpeg would read it as one frame)",
        ),
        Hostile("no-frames.avi", "video", _write(0, (64, 48)), refuse, "", "a container with zero frames"),
        Hostile(
            "too-long.avi",
            "video",
            _write(video_io.MAX_FRAMES + 60, (8, 8), fps=100),
            refuse,
            "longer",
            "more frames than the limit (tiny frames, so the file is small)",
        ),
        Hostile(
            "too-wide.avi", "video", _write(2, (2400, 16)), refuse, "pixels", "frames wider than the limit"
        ),
        Hostile(
            "clip.exe", "video", valid, refuse, "not a video this page reads", "a valid video behind .exe"
        ),
        Hostile("valid.avi", "video", valid, True, "", "a small valid clip"),
    )


@pytest.mark.parametrize("item", video_files(), ids=lambda item: item.name)
def test_engine_refuses_each_hostile_video_with_a_message_and_decodes_the_valid_one(item):
    if item.accept:
        decoded = video_io.decode(item.data, item.name)
        assert len(decoded.frames) > 0
        return
    with pytest.raises(InvalidMedia) as refusal:
        video_io.decode(item.data, item.name)
    message = str(refusal.value)
    assert item.refusal in message.lower() and "Traceback" not in message
    assert "Upload" in message or "upload" in message  # it says what to do


@pytest.mark.slow
def test_the_video_command_answers_hostile_files_in_one_line(tmp_path):
    from tests.hostile.cli_driver import run_one

    for item in (item for item in video_files() if not item.accept):
        path = tmp_path / item.name
        path.write_bytes(item.data)
        result = run_one(["video", str(path), "--json"])
        assert result["code"] != 0, item.name
        assert "Traceback" not in result["stderr"] and result["stderr"].strip(), item.name
        assert len(result["stderr"].strip().splitlines()) <= 3, result["stderr"]
