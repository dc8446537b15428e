"""AppTest of the text page: prediction with evidence, escaping, limits, training in the session."""

import html
import re

import pytest
from streamlit.testing.v1 import AppTest

from engine.core import assets, registry
from engine.text import sentiment
from tests.conftest import ROOT

TIMEOUT = 180


@pytest.fixture
def page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "text.py"), default_timeout=TIMEOUT).run()
    assert not at.exception
    return at


def evidence_html(at: AppTest) -> str:
    return at.get("html")[0].proto.body


def test_sample_text_is_labelled_with_highlighted_evidence(page):
    assert page.subheader[0].value.startswith("negative")
    assert page.get("plotly_chart")
    assert "<mark" in evidence_html(page) and "flight" in evidence_html(page)
    assert any("text_cnn/weights.npz" in caption.value for caption in page.caption)
    figures = page.dataframe[0].value  # CNN vs TF-IDF baseline vs majority class, as recorded
    assert list(figures["model"])[1].startswith("TF-IDF + logistic regression")


def test_html_in_the_text_is_shown_not_rendered(page):
    typed = '<b>bold</b> <img src=x onerror="alert(1)"> awful, rude staff <script>x()</script>'
    page.text_area(key="text-input").set_value(typed).run()
    body = evidence_html(page)
    assert (
        "&lt;b&gt;bold&lt;/b&gt;" in body
        and "<b>" not in body
        and "<img" not in body
        and "<script" not in body
    )
    # Our own markup removed, what is left reads back as exactly the typed characters.
    shown = re.sub(r"<mark [^>]*>|</mark>", "", re.sub(r"^<div [^>]*>|</div>$", "", body))
    assert "<" not in shown and html.unescape(shown) == typed


def test_empty_text_asks_for_some(page):
    page.text_area(key="text-input").set_value("   ").run()
    assert "Type or paste some text" in page.info[0].value


def test_a_megabyte_of_text_is_cut_with_a_notice(page):
    page.text_area(key="text-input").set_value("thank you, lovely crew! " * 45_000).run()
    assert not page.exception and not page.error
    assert "only the first 10,000 were read" in page.warning[0].value
    assert page.subheader[0].value.startswith("positive")


def test_non_utf8_file_gets_a_clear_error_and_the_page_goes_on(page):
    page.file_uploader(key="text-upload").upload(
        "review.txt", "tr\u00e8s d\u00e9\u00e7u".encode("latin-1"), "text/plain"
    ).run()
    assert "not UTF-8" in page.error[0].value
    assert [button.label for button in page.button] == ["Train", "Stop"]  # the training panel still renders


@pytest.mark.training
def test_training_in_the_browser_scores_and_leaves_the_committed_weights_alone(page):
    weights = registry.PROJECT_ASSETS / sentiment.WEIGHTS_FILE
    before = assets.sha256_of(weights)
    page.selectbox(key="text-train-limit").select("2,000 tweets (fast)")
    page.slider(key="text-train-epochs").set_value(1)
    page.select_slider(key="text-train-batch-size").set_value(256)
    page.button(key="text-train-start").click().run()
    assert not page.exception
    assert (
        "Test accuracy" in page.success[0].value and "after 1 epochs on 2,000 tweets" in page.success[0].value
    )
    assert len(page.get("plotly_chart")) == 2  # probabilities and the training curves
    assert "The model you trained" in page.radio(key="text-model").options
    page.radio(key="text-model").set_value("The model you trained").run()
    assert any("trained in this browser session" in caption.value for caption in page.caption)
    assert assets.sha256_of(weights) == before
