from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT, SAMPLES


def page() -> AppTest:
    return AppTest.from_file(str(ROOT / "pages" / "detection.py"), default_timeout=120).run()


def test_page_says_what_is_here_and_lists_the_trained_and_pretrained_detectors():
    at = page()
    assert not at.exception
    assert "Upload a photo" in at.info[0].value
    options = at.selectbox(key="detector-photo").options
    assert "SSDLite-MobileNetV2 person detector" in options
    assert any("(needs a network)" in option for option in options)
    assert any(option.startswith("YOLO") for option in options)
    assert any(option.startswith("Faster R-CNN") for option in options)
    trained = at.dataframe[0].value  # the trained detectors' table in the expander
    assert {"yolo", "rcnn", "fast-rcnn", "faster-rcnn", "classloc-a0.5"} <= set(trained["model"])


def test_a_generated_scene_shows_its_ground_truth_and_defaults_to_a_scene_detector():
    at = page()
    at.radio(key="detection-input").set_value("Generated scene").run()
    at.number_input(key="detection-seed").set_value(3).run()
    assert not at.exception and not at.error
    truth = at.dataframe[1].value
    from engine.data import scenes

    expected = scenes.scene("test", 3)
    assert sorted(truth["label"]) == sorted(scenes.CLASSES[label] for label in expected.labels)


def test_sample_astronaut_gets_a_person_box_table_and_downloads():
    at = page()
    at.selectbox(key="detection-sample").select("astronaut").run()
    assert not at.exception and not at.error
    table = at.dataframe[1].value
    assert list(table["label"]) == ["person"] and table["score"][0] > 0.8
    assert len(at.get("download_button")) == 2


def test_sliders_refilter_without_error_and_face_model_finds_a_face():
    at = page()
    at.file_uploader(key="detection-upload").upload(
        "me.jpg", (SAMPLES / "astronaut.jpg").read_bytes(), "image/jpeg"
    )
    at.selectbox(key="detector-photo").set_value("blazeface-short").run()
    assert list(at.dataframe[1].value["label"]) == ["face"]
    at.slider(key="detection-min-score").set_value(0.99).run()  # confidence above the face's score
    assert not at.exception and at.dataframe[1].value.empty
    assert "Nothing above the confidence threshold." in [caption.value for caption in at.caption]


def test_rcnn_style_choice_says_it_is_slow_and_bounds_the_proposals():
    at = page()
    at.selectbox(key="detector-photo").set_value("selective-search-efficientnet").run()
    assert any("Slow by design" in caption.value for caption in at.caption)
    assert [slider.label for slider in at.slider][-1] == "Region proposals to classify"


def test_corrupt_upload_shows_an_error():
    at = page()
    at.file_uploader(key="detection-upload").upload(
        "broken.jpg", b"\xff\xd8\xff\xe0 not really", "image/jpeg"
    ).run()
    assert not at.exception
    assert at.error and "damaged or cut short" in at.error[0].value  # starts like a JPEG, then garbage
