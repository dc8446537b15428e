"""Per-image latency of every offline detector (issue 3), and what each finds on the samples.

Each detector runs on the three sample photos, decoded once; the figure is the median of repeated
`detect()` calls (model + decoding of its outputs + NMS), after a warm-up. The R-CNN-style pipeline
is timed at 100 and 300 proposals, since its cost grows with them (one CNN pass per region), and
against the SSDLite single pass on the same photo: the ratio is what Fast R-CNN and SSD set out to
remove. Hub detectors need a network and are skipped offline.
"""

from __future__ import annotations

from bench.timing import median_ms
from engine.core import media, registry
from engine.core.registry import PROJECT_ASSETS
from engine.detection import api as detection

SAMPLES = ("astronaut", "chelsea", "coffee")


def main() -> None:
    photos = {
        name: media.decode_image((PROJECT_ASSETS / "samples" / f"{name}.jpg").read_bytes()).pixels
        for name in SAMPLES
    }
    print(f"{'detector':<34} {'photo':<10} {'median ms':>10}  found (score >= 0.5)")
    timings = {}
    for spec in registry.all_specs(detection.TASK):
        if spec.sources[0].kind == "project":
            continue  # trained on scenes: bench/bench_scene_detectors.py times them on scenes
        if registry.available_source(spec) is None:
            print(f"{spec.name:<34} skipped: needs a network")
            continue
        loaded = registry.load(spec.name)
        variants = [(spec.name, detection.DetectSettings())]
        if spec.name == "selective-search-efficientnet":
            variants = [
                (f"{spec.name} x{count}", detection.DetectSettings(0.5, 0.5, count)) for count in (100, 300)
            ]
        for label, settings in variants:
            repeats = 3 if "selective" in label else 20
            for photo, pixels in photos.items():
                milliseconds = median_ms(
                    lambda: detection.detect(pixels, loaded, settings), repeats, warmup=1
                )
                timings[(label, photo)] = milliseconds
                result = detection.detect(pixels, loaded, settings)
                found = ", ".join(f"{d.label} {d.score:.2f}" for d in result.detections[:4])
                more = f" (+{len(result.detections) - 4} more)" if len(result.detections) > 4 else ""
                print(f"{label:<34} {photo:<10} {milliseconds:10.1f}  {found or '-'}{more}", flush=True)
    single, regions = (
        timings[("ssdlite-person", "coffee")],
        timings[("selective-search-efficientnet x300", "coffee")],
    )
    print(
        f"\n  R-CNN style (300 proposals) vs SSDLite single pass on coffee.jpg: {regions:.0f} ms vs {single:.0f} ms, "
        f"x{regions / single:.0f}"
    )
