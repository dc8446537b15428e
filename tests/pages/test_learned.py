"""AppTest of the "what the network learned" page: its four views on a real photo."""

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

TIMEOUT = 240


@pytest.fixture
def page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "learned.py"), default_timeout=TIMEOUT).run()
    assert not at.exception
    return at


def test_without_an_image_the_page_asks_for_one(page):
    assert "Upload a photo" in page.info[0].value
    assert page.selectbox(key="model").value == "mobilenet-v2-features"


def test_gradcam_of_the_cat_names_a_class_and_says_what_the_head_is(page, chelsea_bytes):
    page.file_uploader(key="learned-upload").upload("cat.jpg", chelsea_bytes, "image/jpeg").run()
    assert not page.exception and not page.error
    captions = " ".join(caption.value for caption in page.caption)
    assert "19 dog breeds" in captions and "Egyptian cat" in captions
    assert page.get("image")[0].proto.imgs[0].caption.startswith("Grad-CAM of '")
    page.selectbox(key="gradcam-class").select("pug").run()
    assert page.get("image")[0].proto.imgs[0].caption.startswith("Grad-CAM of 'pug'")


def test_activation_maps_show_a_grid_of_channels(page, chelsea_bytes):
    page.file_uploader(key="learned-upload").upload("cat.jpg", chelsea_bytes, "image/jpeg").run()
    page.radio(key="view").set_value("Activation maps").run()
    assert not page.exception and not page.error
    caption = page.get("image")[0].proto.imgs[0].caption
    assert "16 of" in caption and "channels" in caption


def test_feature_visualization_runs_on_a_button(page):
    page.radio(key="view").set_value("Feature visualization").run()
    page.selectbox(key="visualization-layer").select("block_3_expand_relu")
    page.slider(key="visualization-steps").set_value(16)
    page.button(key="visualization-run").click().run()
    assert not page.exception and not page.error
    assert "channel 0: 16 steps" in page.get("image")[0].proto.imgs[0].caption


def test_atlas_builds_a_plotly_map(page, chelsea_bytes):
    page.radio(key="view").set_value("Activation atlas").run()
    page.slider(key="atlas-grid").set_value(3)
    page.slider(key="atlas-steps").set_value(16)
    page.button(key="atlas-run").click().run()
    assert not page.exception and not page.error
    assert page.get("plotly_chart")
    assert any("cells from" in caption.value and "dog breeds" in caption.value for caption in page.caption)
