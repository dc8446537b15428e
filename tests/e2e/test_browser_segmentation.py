"""In a real browser: upload a photo on the segmentation page and see the class found."""

from tests.conftest import ROOT, SAMPLES


def test_upload_a_cat_and_see_the_cat_class(page, server_url):
    page.goto(f"{server_url}/segmentation")
    page.get_by_text("Upload a photo or pick a sample to segment it").wait_for()
    page.locator("input[type=file]").first.set_input_files(str(SAMPLES / "chelsea.jpg"))
    page.get_by_text("Legend: cat").wait_for()
    page.get_by_role("button", name="Download the label map").wait_for()
    page.screenshot(path=str(ROOT / ".pytest_cache" / "segmentation.png"), full_page=True)
