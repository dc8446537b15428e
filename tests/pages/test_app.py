"""AppTest of the entry point: navigation, home page, sidebar."""

from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

TIMEOUT = 120  # TensorFlow-backed pages can take long to import on 2 cores


def test_home_page_renders_with_sidebar_and_section_links():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    assert not at.exception
    assert at.title[0].value == "ConvNet Studio"
    assert any("Device:" in markdown.value for markdown in at.sidebar.markdown)
    links = [link.proto.page for link in at.main.get("page_link")]
    assert "classification" in links


def test_navigation_reaches_classification():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    at.switch_page("pages/classification.py").run()
    assert not at.exception
    assert at.title[0].value == "Image classification"
