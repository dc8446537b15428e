"""In a real browser: the capsule page reads a test digit and redraws it when a dimension moves."""

from engine.data import mnist


def test_test_digit_is_read_and_perturbation_sliders_exist(page, server_url):
    label = int(mnist.load_mnist().test.labels[0])
    page.goto(f"{server_url}/capsules")
    page.get_by_text(f"CapsNet says {label}").first.wait_for()
    page.get_by_text("Move the 16 dimensions").wait_for()
    assert page.get_by_text("reconstruction with the dimensions moved").count() == 1
