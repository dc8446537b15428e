"""In a real browser: upload a photo on the detection page and see the person box."""

from tests.conftest import ROOT, SAMPLES


def test_upload_the_astronaut_and_see_a_person_box(page, server_url):
    page.goto(f"{server_url}/detection")
    page.get_by_text("Upload a photo or pick a sample to find objects in it.").wait_for()
    page.locator("input[type=file]").first.set_input_files(str(SAMPLES / "astronaut.jpg"))
    page.get_by_text("1 found", exact=False).wait_for()
    page.get_by_role("button", name="Download the detections (JSON)").wait_for()
    image = page.locator("[data-testid=stImage] img").first
    image.wait_for()
    assert image.bounding_box()["width"] > 200
    page.screenshot(path=str(ROOT / ".pytest_cache" / "detection.png"), full_page=True)
