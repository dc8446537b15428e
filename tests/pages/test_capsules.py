import cv2
import numpy as np
from streamlit.testing.v1 import AppTest

from engine.data import mnist
from tests.conftest import ROOT, encode


def page() -> AppTest:
    return AppTest.from_file(str(ROOT / "pages" / "capsules.py"), default_timeout=180).run()


def test_test_digit_is_read_with_routing_and_reconstruction():
    at = page()
    assert not at.exception and not at.error
    label = int(mnist.load_mnist().test.labels[0])
    assert f"CapsNet says {label}" in at.get("plotly_chart")[0].proto.spec
    assert len(at.slider) == 16  # one per dimension of the winning capsule
    at.slider(key="dim-0").set_value(0.25).run()
    assert not at.exception


def test_uploaded_digit_photo_is_prepared_and_read():
    paper = np.full((200, 160, 3), 230, np.uint8)
    cv2.putText(paper, "3", (20, 170), cv2.FONT_HERSHEY_SIMPLEX, 6, (20, 20, 20), 16)
    at = page()
    at.radio(key="capsules-source").set_value("upload an image of one digit").run()
    at.file_uploader(key="capsules-upload").upload("three.png", encode(paper, "PNG"), "image/png").run()
    assert not at.exception and not at.error
    assert "CapsNet says 3" in at.get("plotly_chart")[0].proto.spec


def test_blank_upload_is_refused_clearly():
    at = page()
    at.radio(key="capsules-source").set_value("upload an image of one digit").run()
    at.file_uploader(key="capsules-upload").upload(
        "blank.png", encode(np.full((60, 60, 3), 255, np.uint8), "PNG"), "image/png"
    ).run()
    assert not at.exception
    assert "No digit found" in at.error[0].value
