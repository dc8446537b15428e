"""In a real browser: hostile audio and video files on their pages show a clear message, never a
traceback, and the same tab then analyses a good file (the full corpora run on the engine level
and through the CLI in tests/hostile/)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import soundfile

from tests.e2e.test_browser_hostile import assert_no_traceback
from tests.hostile.test_hostile_audio import audio_files
from tests.hostile.test_hostile_video import video_files


def _good_note(path) -> None:
    t = np.arange(16_000) / 16_000
    soundfile.write(
        path, (0.4 * np.sin(2 * np.pi * 440.0 * t) * np.exp(-2 * t)).astype(np.float32), 16_000, format="WAV"
    )


def _good_clip(path) -> None:
    path.write_bytes(next(item for item in video_files() if item.accept).data)


# page -> (text when ready, the input mode to click, corpus, bad files, good file name and writer, text of a result)
PAGES = {
    "audio": (
        "Analyse a sound",
        "upload a recording",
        audio_files,
        ("text.wav", "half.flac", "silence.wav", "nan.wav", "script.ogg"),
        ("a4.wav", _good_note),
        "Pitch (basic-pitch): A4, MIDI 69",
    ),
    "video": (
        "Measured side by side",
        "upload a video",
        video_files,
        ("text.mp4", "photo.mov", "truncated.avi"),
        ("valid.avi", _good_clip),
        "The six ways on your video",
    ),
}


@pytest.mark.parametrize("page_name", list(PAGES))
def test_bad_files_then_a_good_one(page, server_url, tmp_path, page_name):
    ready, mode, corpus, bad, (good_name, write_good), result = PAGES[page_name]
    page.goto(f"{server_url}/{page_name}")
    page.get_by_text(ready).wait_for()
    page.get_by_text(mode).click()
    files = {item.name: item for item in corpus()}
    upload = page.locator("input[type=file]").first
    for name in bad:
        path = tmp_path / name
        path.write_bytes(files[name].data)
        upload.set_input_files(str(path))
        # The previous alert stays on screen until the new run replaces it, so each file's fragment must
        # not occur in the message before it ("damaged" is in both text.mp4's and truncated.avi's), and
        # the next upload waits for this one to reach the uploader.
        page.locator("[data-testid=stFileUploader]").get_by_text(name, exact=True).wait_for()
        fragment = re.compile(re.escape(files[name].refusal), re.I)
        page.locator("[data-testid=stAlert]", has_text=fragment).first.wait_for()
        assert_no_traceback(page)
    write_good(tmp_path / good_name)
    upload.set_input_files(str(tmp_path / good_name))
    page.get_by_text(result, exact=False).first.wait_for()
    assert_no_traceback(page)
