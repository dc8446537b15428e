from streamlit.testing.v1 import AppTest

from engine.data import sort_of_clevr
from tests.conftest import ROOT
from ui import vqa as vqa_ui


def page() -> AppTest:
    return AppTest.from_file(str(ROOT / "pages" / "vqa.py"), default_timeout=120).run()


def texts(at: AppTest) -> list[str]:
    return [element.value for element in at.text]


def test_generated_scene_is_answered_by_both_models_with_the_exact_answer():
    at = page()
    assert not at.exception and not at.error
    question = sort_of_clevr.EXAMPLES[3]
    truth = sort_of_clevr.answer(sort_of_clevr.scene("test", 0).objects, "closest", "orange")
    shown = texts(at)
    assert f"Question: {question}" in shown
    assert f"Exact answer (from the object table): {truth}" in shown
    assert any(line.startswith("CNN + LSTM (the chapter's model): ") for line in shown)
    assert any(line.startswith("Relation Network: ") for line in shown)
    assert len(at.get("plotly_chart")) >= 2


def test_unknown_words_are_listed_and_examples_fill_the_box():
    at = page()
    at.text_input(key=vqa_ui.QUESTION_KEY).set_value("<b>what colour</b> is the red object").run()
    assert not at.exception
    assert "Unknown words: b, colour" in at.error[0].value and "closest" in at.error[0].value
    next(button for button in at.button if button.label == sort_of_clevr.EXAMPLES[1]).click().run()
    assert at.text_input(key=vqa_ui.QUESTION_KEY).value == sort_of_clevr.EXAMPLES[1] and not at.error
    assert f"Question: {sort_of_clevr.EXAMPLES[1]}" in texts(at)


def test_another_seed_and_a_composed_scene():
    at = page()
    at.number_input(key="vqa-seed").set_value(7).run()
    truth = sort_of_clevr.answer(sort_of_clevr.scene("test", 7).objects, "closest", "orange")
    assert f"Exact answer (from the object table): {truth}" in texts(at)
    at.radio(key="vqa-scene").set_value("compose one").run()
    assert not at.exception and not at.error
    assert any(line.startswith("Relation Network: ") for line in texts(at))
