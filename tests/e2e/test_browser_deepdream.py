"""In a real browser: upload a photo on the DeepDream page, dream a small image, see before/after."""

from tests.conftest import SAMPLES
from tests.e2e.conftest import current


def test_dream_a_photo_and_download_it(page, server_url):
    page.goto(f"{server_url}/deepdream")
    page.get_by_text("Upload a photo or pick a sample").wait_for()
    page.get_by_text("In use:").wait_for()
    page.locator("input[type=file]").first.set_input_files(str(SAMPLES / "chelsea.jpg"))
    page.get_by_text("Press Dream to start.").wait_for()
    sliders = page.get_by_role("slider")
    for index in (0, 3):  # steps per octave -> 1, output size -> 256 px: keys, as a keyboard user would
        sliders.nth(index).focus()
        sliders.nth(index).press("Home")
    # The slider changes rerun the page: click the Dream button of the latest run, not its stale copy.
    current(page).get_by_role("button", name="Dream").click()
    page.get_by_text("256 x 170 px · 3 steps over 3 octaves").wait_for()
    page.get_by_text("Before").first.wait_for()
    page.get_by_role("button", name="Download the dream (PNG)").wait_for()
    page.get_by_text("Device:").wait_for()
    page.screenshot(path=str(SAMPLES.parent.parent / ".pytest_cache" / "deepdream.png"), full_page=True)
