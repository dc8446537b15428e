"""In a real browser: upload a photo on the classification page and read the label."""

from tests.conftest import SAMPLES


def test_upload_a_photo_and_see_the_label(page, server_url):
    page.goto(f"{server_url}/classification")
    page.get_by_text("Upload a photo or pick a sample").wait_for()
    page.locator("input[type=file]").first.set_input_files(str(SAMPLES / "chelsea.jpg"))
    page.get_by_role("heading", name="Egyptian cat").wait_for()
    assert page.get_by_text("efficientnet_lite0.tflite").count() >= 1
    page.get_by_text("Device:").wait_for()  # the app shell's sidebar, even on a deep link
    page.screenshot(path=str(SAMPLES.parent.parent / ".pytest_cache" / "classification.png"), full_page=True)


def test_home_page_links_to_classification(page, server_url):
    page.goto(server_url)
    page.get_by_role("heading", name="ConvNet Studio").first.wait_for()
    # exact: the home page also lists "...: classification and localization"
    page.get_by_text("Composing CNNs for complex tasks: classification", exact=True).click()
    page.get_by_role("heading", name="Image classification").wait_for()
