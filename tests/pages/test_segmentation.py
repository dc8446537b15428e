from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT
from ui.segmentation import classes_key


def page() -> AppTest:
    return AppTest.from_file(str(ROOT / "pages" / "segmentation.py"), default_timeout=120).run()


def test_sample_cat_is_segmented_with_downloads():
    at = page()
    assert "Upload a photo" in at.info[0].value
    at.selectbox(key="segmentation-sample").select("chelsea").run()
    assert not at.exception and not at.error
    assert at.multiselect(key=classes_key(["cat"])).value == ["cat"]
    assert len(at.get("download_button")) == 2


def test_selfie_model_offers_background_effects(chelsea_bytes):
    at = page()
    at.file_uploader(key="segmentation-upload").upload(
        "me.jpg", (ROOT / "assets" / "samples" / "astronaut.jpg").read_bytes(), "image/jpeg"
    )
    at.radio(key="segmentation-model").set_value("selfie-segmentation").run()
    assert not at.exception
    assert at.multiselect(key=classes_key(["person"])).value == ["person"]
    assert len(at.get("download_button")) == 3


def test_corrupt_upload_shows_an_error():
    at = page()
    at.file_uploader(key="segmentation-upload").upload(
        "broken.jpg", b"\xff\xd8\xff\xe0 not really", "image/jpeg"
    ).run()
    assert not at.exception
    assert at.error and "damaged or cut short" in at.error[0].value  # starts like a JPEG, then garbage


def test_generated_scene_with_the_unet_shows_truth_figures_and_architecture():
    at = page()
    at.radio(key="segmentation-model").set_value("unet")
    at.radio(key="segmentation-input").set_value("Generated scene").run()
    at.number_input(key="segmentation-seed").set_value(
        3
    ).run()  # measured: mean IoU 0.86, pixel accuracy 0.996
    assert not at.exception and not at.error
    assert len(at.get("download_button")) == 2
    assert len(at.image) >= 2  # prediction beside the true label map
    figures = {metric.label: float(metric.value) for metric in at.metric}
    assert figures["mean IoU on this scene"] > 0.7 and figures["pixel accuracy on this scene"] > 0.98
    table = at.dataframe[0].value
    assert list(table["type"]).count("Conv2DTranspose") == 4 and table["parameters"].sum() == 1953460
    assert any("atrous" in markdown.value.lower() for markdown in at.markdown)


def test_unet_on_a_photo_says_it_only_knows_scenes():
    at = page()
    at.radio(key="segmentation-model").set_value("unet")
    at.selectbox(key="segmentation-sample").select("chelsea").run()
    assert not at.exception and not at.error
    assert any("only knows the 96 x 96 scenes" in info.value for info in at.info)


def test_people_as_instances_on_the_astronaut_with_their_table_and_id_map():
    at = page()
    at.radio(key="segmentation-model").set_value("ssd-selfie-people")
    at.selectbox(key="segmentation-sample").select("astronaut").run()
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert list(table["label"]) == ["person"] and table["score"][0] > 0.8 and table["area"][0] > 50_000
    labels = [button.label for button in at.get("download_button")]
    assert any("instance masks" in label for label in labels)


def test_mask_rcnn_finds_a_generated_scenes_objects():
    from engine.data import scenes

    at = page()
    at.radio(key="segmentation-model").set_value("mask-rcnn-instances")
    at.radio(key="segmentation-input").set_value("Generated scene").run()
    at.number_input(key="segmentation-seed").set_value(2).run()
    assert not at.exception and not at.error
    found = sorted(at.dataframe[0].value["label"])
    assert found == sorted(scenes.CLASSES[label] for label in scenes.scene("test", 2).labels)
