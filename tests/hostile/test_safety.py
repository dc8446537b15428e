"""Safety: upload limits set and stated, user file names never reach the page as markup."""

from __future__ import annotations

import re
import tomllib

from streamlit.testing.v1 import AppTest

from engine.core import media
from engine.data import text as text_data
from tests.conftest import ROOT
from ui.inputs import display_name


def test_the_server_upload_limit_is_the_engine_limit():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] * 1024 * 1024 == media.MAX_UPLOAD_BYTES
    assert text_data.MAX_TEXT_BYTES <= media.MAX_UPLOAD_BYTES
    assert config["client"]["showErrorDetails"] == "none"  # an unexpected error never shows a traceback


def test_pages_state_the_limits_next_to_the_uploader():
    image_page = AppTest.from_file(str(ROOT / "pages" / "classification.py"), default_timeout=120).run()
    assert "50 MB and 64 megapixels" in image_page.file_uploader(key="classification-upload").proto.label
    text_page = AppTest.from_file(str(ROOT / "pages" / "text.py"), default_timeout=120).run()
    assert "up to 10 MB" in text_page.file_uploader(key="text-upload").proto.label


def test_uploaded_file_names_carry_no_markup():
    for name in [
        '<img src=x onerror="alert(1)">.png',
        "**x** [a](javascript:alert(1)).jpg",
        "$x^2$ :red[y].gif",
        "`code`\n# title.jpg",
        "a" * 500 + ".png",
    ]:
        shown = display_name(name)
        assert not re.search(r"[<>*\[\]`$:#\n]", shown) and len(shown) <= 60, shown
    assert display_name("my cat (1).jpg") == "my cat (1).jpg"


def test_no_page_renders_html_it_did_not_escape():
    for path in [*ROOT.glob("pages/*.py"), *ROOT.glob("ui/*.py"), ROOT / "app.py"]:
        source = path.read_text()
        assert "unsafe_allow_html=True" not in source, path
        if "st.html(" in source:  # only the text page's evidence view, built from html.escape'd pieces
            assert path.name == "text.py" and "html.escape" in source, path
