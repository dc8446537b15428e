"""AppTest of the classification page: uploads, samples, bad files."""

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

TIMEOUT = 120


@pytest.fixture
def page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "classification.py"), default_timeout=TIMEOUT).run()
    assert not at.exception
    return at


def test_without_an_image_the_page_asks_for_one(page):
    assert "Upload a photo" in page.info[0].value


def test_uploaded_photo_gets_its_label(page, chelsea_bytes):
    page.file_uploader(key="classification-upload").upload("my cat.jpg", chelsea_bytes, "image/jpeg")
    page.run()
    assert not page.exception and not page.error
    assert page.subheader[0].value.startswith("Egyptian cat")
    assert any("efficientnet_lite0.tflite" in caption.value for caption in page.caption)
    assert page.get("plotly_chart")
    assert page.get("download_button")


def test_sample_photo_gets_its_label(page):
    page.selectbox(key="classification-sample").select("coffee").run()
    assert page.subheader[0].value.split(":")[0] in {"espresso", "cup", "coffee mug"}


def test_text_file_named_png_shows_a_clear_error(page):
    page.file_uploader(key="classification-upload").upload(
        "notes.png", b"<script>alert(1)</script>", "image/png"
    )
    page.run()
    assert not page.exception
    assert "not an image we can read" in page.error[0].value


def test_hub_model_without_network_says_so(page):
    page.selectbox(key="classification-model").select("mobilenet-v2-keras").run()
    page.selectbox(key="classification-sample").select("coffee").run()
    assert not page.exception
    # Either the weights are cached (a user's machine) or the page says plainly they need a network.
    assert page.subheader or "network" in page.error[0].value
