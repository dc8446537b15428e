"""In a real browser: type a question about the default scene and see both models answer it."""

from engine.data import sort_of_clevr


def test_typed_question_gets_answers_and_bad_words_an_alert(page, server_url):
    page.goto(f"{server_url}/vqa")
    box = page.get_by_label("Your question about the scene")
    box.wait_for()
    question = "is the blue object on the top?"
    box.fill(question)
    box.press("Enter")
    page.get_by_text(f"Question: {question}").wait_for()
    truth = sort_of_clevr.answer(sort_of_clevr.scene("test", 0).objects, "top", "blue")
    page.get_by_text(f"Exact answer (from the object table): {truth}").wait_for()
    page.get_by_text("Relation Network: ", exact=False).first.wait_for()
    box.fill("<script>alert(1)</script> what")
    box.press("Enter")
    page.get_by_text("Unknown words: 1, alert, script", exact=False).wait_for()
    assert page.locator("script:has-text('alert(1)')").count() == 0
