"""In a real browser: hostile audio and video files on their pages show a clear message, never a
traceback, and the same tab then analyses a good file (the full corpora run on the engine level
and through the CLI in tests/hostile/)."""

from __future__ import annotations

import re

import numpy as np
import soundfile

from tests.e2e.test_browser_hostile import assert_no_traceback
from tests.hostile.test_hostile_audio import audio_files
from tests.hostile.test_hostile_video import video_files

BAD_AUDIO = ("text.wav", "half.flac", "silence.wav", "nan.wav", "script.ogg")
BAD_VIDEO = ("text.mp4", "truncated.avi", "photo.mov")


def _upload_each(page, tmp_path, corpus, names) -> None:
    files = {item.name: item for item in corpus}
    upload = page.locator("input[type=file]").first
    for name in names:
        path = tmp_path / name
        path.write_bytes(files[name].data)
        upload.set_input_files(str(path))
        fragment = files[name].refusal
        page.locator("[data-testid=stAlert]", has_text=re.compile(re.escape(fragment), re.I)).first.wait_for()
        assert_no_traceback(page)


def test_audio_page_bad_files_then_a_good_note(page, server_url, tmp_path):
    page.goto(f"{server_url}/audio")
    page.get_by_text("Analyse a sound").wait_for()
    page.get_by_text("upload a recording").click()
    _upload_each(page, tmp_path, audio_files(), BAD_AUDIO)
    rate = 16_000
    t = np.arange(rate) / rate
    good = tmp_path / "a4.wav"
    soundfile.write(good, (0.4 * np.sin(2 * np.pi * 440.0 * t) * np.exp(-2 * t)).astype(np.float32), rate)
    page.locator("input[type=file]").first.set_input_files(str(good))
    page.get_by_text("Pitch (basic-pitch): A4, MIDI 69", exact=False).wait_for()
    assert_no_traceback(page)


def test_video_page_bad_files_then_a_good_clip(page, server_url, tmp_path):
    page.goto(f"{server_url}/video")
    page.get_by_text("Measured side by side").wait_for()
    page.get_by_text("upload a video").click()
    _upload_each(page, tmp_path, video_files(), BAD_VIDEO)
    good = tmp_path / "valid.avi"
    good.write_bytes(next(item for item in video_files() if item.accept).data)
    page.locator("input[type=file]").first.set_input_files(str(good))
    page.get_by_text("The six ways on your video").wait_for()
    assert_no_traceback(page)
