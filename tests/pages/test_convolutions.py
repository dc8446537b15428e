from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

TIMEOUT = 120


def test_table_figure_and_effects_on_a_sample():
    at = AppTest.from_file(str(ROOT / "pages" / "convolutions.py"), default_timeout=TIMEOUT).run()
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert list(table["type"]) == [
        "basic",
        "dilated",
        "transposed",
        "spatially separable",
        "depthwise",
        "depthwise separable",
    ]
    assert table.set_index("type").loc["depthwise separable", "weights"] == 3 * 9 + 3 * 8
    at.selectbox(key="convolutions-sample").select("chelsea").run()
    assert not at.exception
    assert any("instead of 81" in caption.value for caption in at.caption)


def test_impossible_settings_show_an_error_not_a_traceback():
    at = AppTest.from_file(str(ROOT / "pages" / "convolutions.py"), default_timeout=TIMEOUT).run()
    at.slider(key="conv-stride").set_value(2).run()  # stride 2 with the default dilation 2
    assert not at.exception
    assert "stride above 1" in at.error[0].value
