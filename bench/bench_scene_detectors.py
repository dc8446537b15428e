"""Per-scene latency of every detector trained here, and the R-CNN -> Fast -> Faster R-CNN ratios (issue 3).

Each trained detector runs `find()` on the same 20 test scenes (96 x 96), median of 3 runs per scene
after a warm-up; then R-CNN, Fast R-CNN and Faster R-CNN are timed side by side on each of those
scenes (engine.detection.trained.common.time_family, the page's speed panel) and the median ratios printed
next to the chapter's claims.
"""

from __future__ import annotations

import numpy as np

from bench.timing import median_ms
from engine.core import registry
from engine.core.progress import never_stop, no_progress
from engine.data import scenes
from engine.detection.api import DetectSettings
from engine.detection.trained import common as scene_detectors

SCENES = 20


def main() -> None:
    images = [scenes.scene("test", index).image for index in range(SCENES)]
    settings = DetectSettings()
    trained = [spec for spec in registry.all_specs("detection") if spec.sources[0].kind == "project"]
    print(f"{'detector':<16} {'median ms per scene':>20}")
    loaded = {}
    for spec in trained:
        if registry.available_source(spec) is None:
            print(f"{spec.name:<16} not trained yet")
            continue
        loaded[spec.name] = registry.load(spec.name).model
        times = [
            median_ms(
                lambda image=image: loaded[spec.name].find(image, settings, no_progress, never_stop),
                3,
                warmup=1,
            )
            for image in images
        ]
        print(f"{spec.name:<16} {np.median(times):20.1f}", flush=True)
    if not all(name in loaded for name in scene_detectors.FAMILY):
        print("R-CNN family ratios: skipped, not all three are trained")
        return
    family = {name: loaded[name] for name in scene_detectors.FAMILY}
    rows = [scene_detectors.time_family(image, family) for image in images]
    for step, claim in scene_detectors.CHAPTER_SPEEDUPS.items():
        ratios = [
            next(row for row in scene if row["model"] == step)["speed-up over the previous"] for scene in rows
        ]
        print(
            f"  {step} speed-up over its predecessor: x{np.median(ratios):.1f} (median of {SCENES} scenes; "
            f"the chapter claims ~x{claim:.0f})"
        )
    total = [scene[0]["ms"] / scene[-1]["ms"] for scene in rows]
    print(f"  Faster R-CNN over R-CNN: x{np.median(total):.1f}")
