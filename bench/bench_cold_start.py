"""App cold start: `streamlit run app.py` process start to the home page rendered in Chromium.

Target < 3 s: the home page must not import TensorFlow. The browser is started before the clock.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
import urllib.request

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, ROOT, free_port

RUNS = 3


def one_cold_start(browser) -> float:
    port = free_port()
    started = time.perf_counter()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(ROOT / "app.py"),
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{port}/")
        page.get_by_text("The chapter, section by section").wait_for(timeout=60_000)
        elapsed = time.perf_counter() - started
        page.close()
        return elapsed
    finally:
        server.terminate()
        server.wait(timeout=20)


def main() -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        times = [one_cold_start(browser) for _ in range(RUNS)]
        browser.close()
    print(
        f"  process start -> home page rendered: median {statistics.median(times):.2f} s over {RUNS} runs "
        f"({', '.join(f'{t:.2f}' for t in times)}); target < 3 s"
    )
