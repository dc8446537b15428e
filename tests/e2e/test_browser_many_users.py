"""Eight browser sessions at once on one fresh server: each classifies a photo, then detects people
in another (four of them send a hostile file first). All must get the right answers, and each
model must be built once in the process, although all eight ask for it at the same moment
(Streamlit's `cache_resource` may run a loader twice on concurrent first hits; `registry.load`
holds a lock). The server writes a line per build to $CONVNET_STUDIO_LOAD_LOG, which this test
reads.
"""

from __future__ import annotations

import os
import time

import pytest

from tests.conftest import SAMPLES
from tests.e2e.conftest import free_port, start_server
from tests.hostile.corpus import image_files

SESSIONS = 8


@pytest.fixture
def fresh_server(tmp_path):
    """A server of our own (no model loaded yet) that logs every model build."""
    port, log = free_port(), tmp_path / "loads.tsv"
    environment = {**os.environ, "CONVNET_STUDIO_LOAD_LOG": str(log)}
    server = start_server(port, environment)
    yield f"http://127.0.0.1:{port}", log, server.pid
    server.terminate()
    server.wait(timeout=20)


def builds(log) -> list[tuple[str, int]]:
    if not log.exists():
        return []
    return [(name, int(pid)) for name, pid, _ in (line.split("\t") for line in log.read_text().splitlines())]


def test_eight_sessions_classify_and_detect_at_once(browser, fresh_server, tmp_path):
    url, log, server_pid = fresh_server
    hostile = []
    for item in image_files():
        if item.name in ("bomb-144mp.png", "half.jpg", "document.jpg", "empty.jpg"):
            (tmp_path / item.name).write_bytes(item.data)
            hostile.append((tmp_path / item.name, item.refusal.split(" ")[0]))
    contexts = [browser.new_context(viewport={"width": 1200, "height": 900}) for _ in range(SESSIONS)]
    try:
        pages = [context.new_page() for context in contexts]
        for page in pages:
            page.set_default_timeout(120_000)
            page.goto(f"{url}/classification")
        for page in pages:
            page.get_by_text("Upload a photo or pick a sample").wait_for()
        started = time.perf_counter()
        # All eight uploads before any answer: concurrent first hits on a cold model. Every other
        # session sends a hostile file first; its neighbours must not notice.
        for index, page in enumerate(pages):
            upload = SAMPLES / "chelsea.jpg" if index % 2 else hostile[index // 2 % len(hostile)][0]
            page.locator("input[type=file]").first.set_input_files(str(upload))
        for index, page in enumerate(pages):
            if index % 2 == 0:
                refusal = hostile[index // 2 % len(hostile)][1]
                page.locator("[data-testid=stAlert]", has_text=refusal).first.wait_for()
                page.locator("input[type=file]").first.set_input_files(str(SAMPLES / "chelsea.jpg"))
        for page in pages:
            page.get_by_role("heading", name="Egyptian cat").wait_for()
            assert page.locator("[data-testid=stException]").count() == 0
        classified = time.perf_counter() - started

        for page in pages:
            page.goto(f"{url}/detection")
        for page in pages:
            page.get_by_text("Upload a photo or pick a sample to find objects in it.").wait_for()
        started = time.perf_counter()
        for page in pages:
            page.locator("input[type=file]").first.set_input_files(str(SAMPLES / "astronaut.jpg"))
        for page in pages:
            page.get_by_text("1 found", exact=False).first.wait_for()
            assert page.locator("[data-testid=stException]").count() == 0
        detected = time.perf_counter() - started
    finally:
        for context in contexts:
            context.close()

    built = builds(log)
    names = [name for name, _ in built]
    assert names.count("efficientnet-lite0") == 1, built
    assert names.count("ssdlite-person") == 1, built
    assert len(names) == len(set(names)), f"a model was built twice: {built}"
    assert {pid for _, pid in built} == {server_pid}
    print(
        f"\n{SESSIONS} sessions: classified in {classified:.1f} s, detected in {detected:.1f} s; builds: {names}"
    )
