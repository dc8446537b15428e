"""In a real browser: hostile files on every page show a clear message, never a traceback, and the
same tab then works with a good photo (the full corpus runs on the engine level and in AppTest)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.conftest import SAMPLES
from tests.hostile.corpus import image_files, text_files

BAD_IMAGES = ("half.jpg", "bomb-144mp.png", "strip.png")  # cut short, a bomb, too elongated
FORBIDDEN = ("Traceback", 'File "', "site-packages", "This app has encountered an error")

# page path -> (text shown when ready, clicked after each upload (or None), text that proves a result)
PAGES = {
    "classification": ("Upload a photo or pick a sample", None, "Egyptian cat"),
    "segmentation": ("Upload a photo or pick a sample", None, "Legend:"),
    "detection": ("Upload a photo or pick a sample", None, " found ·"),
    "deepdream": ("Upload a photo or pick a sample", "Dream", "steps over"),
    "learned": ("Upload a photo or pick a sample", None, "Grad-CAM of"),
    "convolutions": ("Upload an image or pick a sample", None, "vertical edges light up"),
}


def write(tmp_path, names: tuple[str, ...]) -> list:
    files = {item.name: item for item in image_files() + text_files()}
    paths = []
    for name in names:
        path = tmp_path / name
        path.write_bytes(files[name].data)
        paths.append((path, files[name]))
    return paths


def assert_no_traceback(page) -> None:
    body = page.locator("body").inner_text()
    for forbidden in FORBIDDEN:
        assert forbidden not in body, f"{forbidden!r} on {page.url}"
    assert page.locator("[data-testid=stException]").count() == 0


@pytest.mark.parametrize("page_name", list(PAGES))
def test_bad_files_then_a_good_photo(page, server_url, tmp_path, page_name):
    ready, button, result = PAGES[page_name]
    page.goto(f"{server_url}/{page_name}")
    page.get_by_text(ready).first.wait_for()
    if page_name == "deepdream":  # one small, quick dream
        page.get_by_role("slider").nth(1).press("Home")  # octaves: 1
        page.get_by_role("slider").first.press("Home")  # steps per octave: 1
    upload = page.locator("input[type=file]").first
    for path, item in write(tmp_path, BAD_IMAGES):
        upload.set_input_files(str(path))
        if button:
            page.get_by_text("Press Dream to start").wait_for()  # the upload's rerun has finished
            page.get_by_role("button", name=button, exact=True).first.click()
        page.locator("[data-testid=stAlert]", has_text=item.refusal.split(" ")[0]).first.wait_for()
        assert_no_traceback(page)
    upload.set_input_files(str(SAMPLES / "chelsea.jpg"))
    if button:
        page.get_by_text("Press Dream to start").wait_for()
        page.get_by_role("button", name=button, exact=True).first.click()
    page.get_by_text(result, exact=False).first.wait_for(timeout=120_000)
    assert_no_traceback(page)


def test_text_page_bad_files_then_a_review(page, server_url, tmp_path):
    page.goto(f"{server_url}/text")
    page.get_by_role("button", name="Train").wait_for()
    upload = page.locator("input[type=file]").first
    for path, item in write(tmp_path, ("latin1.txt", "only-controls.txt", "html-script.txt")):
        upload.set_input_files(str(path))
        if item.accept:  # the script shows as characters; no alert() runs, no <script> element appears
            page.get_by_text('<script>alert("x")</script>', exact=False).first.wait_for()
            assert page.locator("[data-testid=stHtml] script, [data-testid=stHtml] img").count() == 0
        else:
            page.locator("[data-testid=stAlert]", has_text=item.refusal.split(" ")[-1]).first.wait_for()
        assert_no_traceback(page)
    page.get_by_role("button", name="Train").wait_for()  # the rest of the page still renders


def test_capsules_page_bad_files_then_a_digit(page, server_url, tmp_path):
    page.goto(f"{server_url}/capsules")
    page.get_by_text("upload an image of one digit").click()
    page.get_by_text("Upload an image of a single digit.").wait_for()
    upload = page.locator("input[type=file]").first
    for path, item in write(tmp_path, BAD_IMAGES):
        upload.set_input_files(str(path))
        page.locator("[data-testid=stAlert]", has_text=item.refusal.split(" ")[0]).first.wait_for()
        assert_no_traceback(page)
    digit = np.zeros((28, 28), np.uint8)
    digit[4:24, 13:16] = 255  # a "1"
    Image.fromarray(digit).save(tmp_path / "one.png")
    upload.set_input_files(str(tmp_path / "one.png"))
    page.get_by_text("CapsNet says", exact=False).first.wait_for()
    assert_no_traceback(page)
