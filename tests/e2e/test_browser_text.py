"""In a real browser: label a text that holds HTML, then train live and stop it."""

import re

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.conftest import ROOT


@pytest.mark.training
def test_label_with_evidence_then_train_and_stop(page, server_url):
    page.goto(f"{server_url}/text")
    page.get_by_role("heading", name=re.compile("^negative")).wait_for()

    box = page.get_by_label("Type or paste text")
    box.fill("<b>bold claim</b> the crew was lovely, thank you so much!")
    box.press("Control+Enter")
    page.get_by_role("heading", name=re.compile("^positive")).wait_for()
    evidence = page.locator(".sentiment-evidence")
    evidence.get_by_text("<b>bold claim</b>").wait_for()  # the tags show as characters...
    assert evidence.locator("b").count() == 0  # ...and make no element
    assert evidence.locator("mark").count() >= 1

    training_set = page.get_by_test_id("stSelectbox").filter(has_text="Training set")
    for _ in range(5):  # a rerun still under way can close the list as it opens
        training_set.locator("input").click()
        try:
            page.get_by_role("option", name="2,000 tweets (fast)").click(timeout=5_000)
            break
        except PlaywrightTimeout:
            page.wait_for_timeout(500)
    page.get_by_role("button", name="Train").click()
    page.get_by_text(re.compile(r"Epoch 2: batch|Epoch 2 of")).first.wait_for()  # epoch 1 is on the curves
    page.get_by_role("button", name="Stop").click()
    result = page.get_by_text(re.compile(r"Test accuracy .* \(stopped after \d+ epochs on 2,000 tweets\)"))
    result.wait_for()
    assert page.get_by_role("button", name="Train").is_enabled()
    page.screenshot(path=str(ROOT / ".pytest_cache" / "text.png"), full_page=True)
