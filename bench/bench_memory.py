"""Resident memory over many reruns (issue 11, "Many users"): does the app leak?

200 AppTest reruns, cycling over the classification, segmentation and text pages, each with a new
upload (a different photo or text every time, so no cache answers) and its plots, in one process,
as a long-lived server would run them. RSS is read from /proc after a warm-up (models loaded,
TensorFlow's pools grown) and then every 10 reruns; the figure is the growth from the warm-up to the
end, and the slope of a straight line fitted to the second half (MB per 100 reruns): a leak shows
as a slope that does not flatten.
"""

from __future__ import annotations

import gc
import io
import os
import pathlib
import time

import numpy as np
from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "assets" / "samples"
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
WARMUP_RERUNS = 30


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE_SIZE / 2**20


def photo(index: int) -> bytes:
    """A sample photo, cropped and tinted differently each time (new bytes, new result)."""
    base = Image.open(SAMPLES / ("chelsea.jpg", "coffee.jpg", "astronaut.jpg")[index % 3]).convert("RGB")
    generator = np.random.default_rng(index)
    left, top = generator.integers(0, 40, 2)
    pixels = np.asarray(base.crop((left, top, base.width - 40 + left, base.height - 40 + top)), np.int16)
    tinted = np.clip(pixels + generator.integers(-20, 20, 3), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(tinted).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def measure(reruns: int = 200, report_every: int = 10, warmup: int = WARMUP_RERUNS) -> dict:
    """Run `warmup` + `reruns` reruns; returns RSS figures in MB."""
    from streamlit.testing.v1 import AppTest

    apps = {
        name: AppTest.from_file(str(ROOT / "pages" / f"{name}.py"), default_timeout=180).run()
        for name in ("classification", "segmentation", "text")
    }
    words = ("lovely", "awful", "late", "kind", "rude", "great", "slow", "clean")

    def rerun(index: int) -> None:
        name = ("classification", "segmentation", "text")[index % 3]
        app = apps[name]
        if name == "text":
            app.text_area[0].set_value(
                " ".join(words[(index + k) % len(words)] for k in range(12)) + f" {index}"
            )
            app.run()
        else:
            app.file_uploader[0].upload(f"photo-{index}.jpg", photo(index), "image/jpeg").run()
        if app.exception or app.error or not app.get("plotly_chart"):
            raise RuntimeError(f"rerun {index} on {name} failed: {app.exception or app.error}")

    for index in range(warmup):
        rerun(index)
    gc.collect()
    samples = [(0, rss_mb())]
    started = time.perf_counter()
    for index in range(1, reruns + 1):
        rerun(warmup + index)
        if index % report_every == 0:
            gc.collect()
            samples.append((index, rss_mb()))
    seconds = time.perf_counter() - started
    second_half = [(x, y) for x, y in samples if x >= reruns // 2]
    slope = float(np.polyfit([x for x, _ in second_half], [y for _, y in second_half], 1)[0]) * 100
    return {
        "reruns": reruns,
        "start_mb": samples[0][1],
        "end_mb": samples[-1][1],
        "peak_mb": max(y for _, y in samples),
        "growth_mb": samples[-1][1] - samples[0][1],
        "slope_mb_per_100": slope,
        "ms_per_rerun": seconds * 1000 / reruns,
        "samples": samples,
    }


def main() -> None:
    figures = measure()
    print(
        f"RSS over {figures['reruns']} reruns (classification, segmentation, text; a new upload and "
        f"plots each), after {WARMUP_RERUNS} warm-up reruns:"
    )
    print("  " + "  ".join(f"{index}: {mb:.0f}" for index, mb in figures["samples"]))
    print(
        f"  start {figures['start_mb']:.0f} MB, end {figures['end_mb']:.0f} MB, peak {figures['peak_mb']:.0f} MB: "
        f"growth {figures['growth_mb']:+.1f} MB; second-half slope {figures['slope_mb_per_100']:+.1f} MB per "
        f"100 reruns; {figures['ms_per_rerun']:.0f} ms a rerun"
    )
    print("  target: growth within 50 MB, slope near 0")


if __name__ == "__main__":
    main()
