"""Each page, in one AppTest session, given a representative set of hostile files in a row.

Every refusal must be an `st.error` with the reason (never an exception element); an odd but valid
file must give a result; and after all of them a good photo in the same session must still work,
so one bad upload never breaks the page for that user. All files go through the engine entry
points in test_hostile_engine.py; here a subset keeps the AppTest runs bounded.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT, SAMPLES
from tests.hostile.corpus import Hostile, image_files, text_files

TIMEOUT = 180
IMAGE_SUBSET = (
    "empty.jpg",
    "half.jpg",
    "bomb-144mp.png",
    "text.jpg",
    "tiff.jpg",
    "strip.png",
    "long-strip.png",
)
TEXT_SUBSET = (
    "empty.txt",
    "latin1.txt",
    "eleven-megabytes.txt",
    "only-controls.txt",
    "html-script.txt",
    "control-characters.txt",
)
MIME = {
    "jpg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "bmp": "image/bmp",
    "webp": "image/webp",
    "txt": "text/plain",
}


def by_name(name: str) -> Hostile:
    return next(item for item in image_files() + text_files() if item.name == name)


def _dream(at: AppTest) -> None:
    at.slider(key="dream-steps").set_value(1)
    at.slider(key="dream-octaves").set_value(1)
    at.select_slider(key="dream-size").set_value(256)
    at.button(key="dream-run").click()


def _captions(at: AppTest) -> str:
    """st.caption texts and image captions together."""
    images = [picture.caption for element in at.get("image") for picture in element.proto.imgs]
    return " ".join([caption.value for caption in at.caption] + images)


# page -> (after-upload action, "a result is shown" check, accepted files it refuses with this fragment)
PAGES: dict[str, tuple[Callable[[AppTest], None] | None, Callable[[AppTest], bool], dict[str, str]]] = {
    "classification": (None, lambda at: bool(at.subheader) and "%" in at.subheader[0].value, {}),
    "segmentation": (None, lambda at: "weights:" in _captions(at) and bool(at.get("plotly_chart")), {}),
    "detection": (None, lambda at: " found · " in _captions(at), {}),
    "deepdream": (_dream, lambda at: "steps over" in _captions(at), {"long-strip.png": "less elongated"}),
    "learned": (None, lambda at: "Grad-CAM of" in _captions(at), {}),
    "convolutions": (None, lambda at: "depthwise" in _captions(at).lower() and len(at.get("image")) >= 7, {}),
}


def upload_and_run(
    at: AppTest, page_name: str, item: Hostile, action: Callable[[AppTest], None] | None
) -> AppTest:
    """Uploads into the page's image uploader (key `<page>-upload`, as ui.inputs.image_source names it)."""
    mime = MIME[item.name.rsplit(".", 1)[-1]]
    at.file_uploader(key=f"{page_name}-upload").upload(item.name, item.data, mime).run()
    if action is not None:
        action(at)
        at.run()
    return at


# The convolutions page gets every image of the corpus: its resize before the engine call is the page's own
# code, so the real page is driven rather than a copy of it.
EVERY_IMAGE = tuple(item.name for item in image_files())
SUBSETS = {"convolutions": EVERY_IMAGE}


@pytest.mark.slow
@pytest.mark.parametrize("page_name", list(PAGES))
def test_each_image_page_refuses_bad_files_clearly_and_keeps_working(page_name):
    action, shows_result, refusals = PAGES[page_name]
    at = AppTest.from_file(str(ROOT / "pages" / f"{page_name}.py"), default_timeout=TIMEOUT).run()
    assert not at.exception
    for name in SUBSETS.get(page_name, IMAGE_SUBSET):
        item = by_name(name)
        upload_and_run(at, page_name, item, action)
        assert not at.exception, f"{page_name} {name}: {at.exception[0].value if at.exception else ''}"
        refusal = refusals.get(name, item.refusal if not item.accept else None)
        if refusal is None:
            assert not at.error, f"{page_name} {name}: {at.error[0].value}"
            assert shows_result(at), f"{page_name} shows no result for {name}"
        else:
            assert at.error, f"{page_name} {name}: no error shown"
            assert refusal in at.error[0].value.lower(), f"{page_name} {name}: {at.error[0].value!r}"
            assert "Traceback" not in at.error[0].value
    photo = Hostile("chelsea.jpg", "image", (SAMPLES / "chelsea.jpg").read_bytes(), True)
    upload_and_run(at, page_name, photo, action)
    assert not at.exception and not at.error and shows_result(at), f"{page_name} stopped working"


def test_text_page_refuses_bad_files_clearly_and_keeps_working():
    at = AppTest.from_file(str(ROOT / "pages" / "text.py"), default_timeout=TIMEOUT).run()
    for name in TEXT_SUBSET:
        item = by_name(name)
        at.file_uploader(key="text-upload").upload(item.name, item.data, "text/plain").run()
        assert not at.exception, f"text {name}: {at.exception[0].value if at.exception else ''}"
        if item.accept:
            assert not at.error and at.subheader, f"text {name}: no result"
            body = at.get("html")[0].proto.body
            assert "<script" not in body and "<b>" not in body and "<img" not in body
        else:
            assert at.error and item.refusal in at.error[0].value.lower(), f"text {name}: {at.error}"
        assert [button.label for button in at.button] == ["Train", "Stop"]  # the rest of the page renders
    at.text_area(key="text-input").set_value(
        "\x00\x1b[2J<script>alert(1)</script> lovely crew, thank you!"
    ).run()
    assert not at.exception


@pytest.mark.slow
def test_capsules_page_refuses_bad_files_clearly_and_keeps_working():
    at = AppTest.from_file(str(ROOT / "pages" / "capsules.py"), default_timeout=TIMEOUT).run()
    assert not at.exception and not at.error
    at.radio(key="capsules-source").set_value("upload an image of one digit").run()
    for name in IMAGE_SUBSET:
        item = by_name(name)
        upload_and_run(at, "capsules", item, None)
        assert not at.exception, f"capsules {name}: {at.exception[0].value if at.exception else ''}"
        if not item.accept:
            assert at.error and item.refusal in at.error[0].value.lower(), f"capsules {name}: {at.error}"
    digit = np.zeros((28, 28), np.uint8)
    digit[4:24, 13:16] = 255  # a "1"
    buffer = io.BytesIO()
    Image.fromarray(digit).save(buffer, format="PNG")
    upload_and_run(at, "capsules", Hostile("one.png", "image", buffer.getvalue(), True), None)
    assert not at.exception and not at.error and at.get("plotly_chart"), "the capsules page stopped working"
