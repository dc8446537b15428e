from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT


def page() -> AppTest:
    return AppTest.from_file(str(ROOT / "pages" / "segmentation.py"), default_timeout=120).run()


def test_sample_cat_is_segmented_with_downloads():
    at = page()
    assert "Upload a photo" in at.info[0].value
    at.selectbox[0].select("chelsea").run()
    assert not at.exception and not at.error
    assert at.multiselect[0].value == ["cat"]
    assert len(at.get("download_button")) == 2


def test_selfie_model_offers_background_effects(chelsea_bytes):
    at = page()
    at.file_uploader[0].upload("me.jpg", (ROOT / "assets" / "samples" / "astronaut.jpg").read_bytes(), "image/jpeg")
    at.radio[0].set_value("selfie-segmentation").run()
    assert not at.exception
    assert at.multiselect[0].value == ["person"]
    assert len(at.get("download_button")) == 3


def test_corrupt_upload_shows_an_error():
    at = page()
    at.file_uploader[0].upload("broken.jpg", b"\xff\xd8\xff\xe0 not really", "image/jpeg").run()
    assert not at.exception
    assert at.error and "damaged or cut short" in at.error[0].value  # starts like a JPEG, then garbage
