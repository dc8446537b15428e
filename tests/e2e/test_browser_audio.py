"""In a real browser: the audio page analyses a held-out note and an upload, and generates a WaveNet note.

All of them playable.
"""

import numpy as np
import soundfile


def test_held_out_note_and_an_upload_are_analysed_and_playable(page, server_url, tmp_path):
    page.goto(f"{server_url}/audio")
    page.get_by_text("Analyse a sound").wait_for()
    page.get_by_text("Instrument: piano", exact=False).wait_for()
    page.get_by_text("Pitch (basic-pitch): A4, MIDI 69", exact=False).wait_for()
    page.locator("audio").first.wait_for()
    # The browser read the WAV's header: a format it plays, not just an element.
    page.wait_for_function(
        "document.querySelector('audio') && document.querySelector('audio').readyState >= 1"
    )
    assert page.evaluate("document.querySelector('audio').duration") > 0.9

    rate = 22_050
    t = np.arange(rate) / rate
    path = tmp_path / "e4.wav"
    soundfile.write(path, (0.4 * np.sin(2 * np.pi * 329.63 * t) * np.exp(-2 * t)).astype(np.float32), rate)
    page.get_by_text("upload a recording").click()
    page.locator("input[type=file]").first.set_input_files(str(path))
    page.get_by_text("Pitch (basic-pitch): E4, MIDI 64", exact=False).wait_for()
    page.get_by_text("resampled from 22,050 Hz", exact=False).wait_for()
    page.get_by_text("Device:").wait_for()


def test_generate_a_wavenet_note_and_play_it(page, server_url):
    page.goto(f"{server_url}/audio")
    page.get_by_text("Pitch (basic-pitch): A4", exact=False).wait_for()
    duration = page.get_by_role("slider").first  # "Duration (s)": Home sets its minimum, 0.25 s
    duration.focus()
    duration.press("Home")
    page.get_by_text("Choose the settings, then press Generate.").wait_for()
    page.get_by_role("button", name="Generate").click()
    page.get_by_text("Pitch check:", exact=False).wait_for()
    page.get_by_text("4,000 samples in", exact=False).wait_for()
    page.get_by_role("button", name="Download WAV").wait_for()
    page.wait_for_function(
        "document.querySelectorAll('audio').length == 2 && "
        "Array.from(document.querySelectorAll('audio')).every(a => a.readyState >= 1)"
    )
    assert abs(page.evaluate("document.querySelectorAll('audio')[1].duration") - 0.25) < 0.01
