"""Clips per second for each of the six video ways (end to end from frames, extractors included),
batch 1 and batch 32, and frames per second of the per-frame ImageNet timeline (EfficientNet-Lite0).

Speed does not depend on the weights' values, so fresh (untrained) models are timed when the
committed weights are missing.
"""

from __future__ import annotations

import numpy as np

from bench.timing import median_ms
from engine.classification import classify as classification
from engine.core import registry
from engine.data import clips as video_clips
from engine.features import extractors as features
from engine.video import api as video
from engine.video import io as video_io
from engine.video import models as video_models

BATCH = 32
TIMELINE_FRAMES = 16


def _ways():
    try:
        return registry.load(video.MODEL_NAME).model
    except Exception:  # not trained here yet: time fresh models of the same shapes
        return video_models.build_all(registry.load(features.DEFAULT_MODEL).model)


def main() -> None:
    ways = _ways()
    clips = video_clips.batch("test", 0, BATCH).frames
    rows = []
    for way in video_models.WAYS:
        single = median_ms(lambda: video_models.predict(ways, way, clips[:1]), repeats=5, warmup=1)
        batched = median_ms(lambda: video_models.predict(ways, way, clips), repeats=3, warmup=1)
        rows.append((way, 1000 / single, BATCH * 1000 / batched))
    base = dict((name, rate) for name, rate, _ in rows)["conv3d"]
    for name, single, batched in rows:
        print(
            f"  {video_models.TITLES[name]:<58} {single:8.1f} clips/s (batch 1) {batched:8.1f} clips/s "
            f"(batch {BATCH})   batch 1: x{single / base:5.2f} of the 3D ConvNet"
        )
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (TIMELINE_FRAMES, 360, 480, 3), dtype=np.uint8)
    sampled = video_io.Video(frames, tuple(range(TIMELINE_FRAMES)), TIMELINE_FRAMES, 25.0, 480, 360, "bench")
    classifier = registry.load(classification.DEFAULT_MODEL)
    ms = median_ms(lambda: video_io.imagenet_timeline(sampled, classifier), repeats=3, warmup=1)
    print(
        f"  ImageNet timeline (EfficientNet-Lite0, 480 x 360 frames): {TIMELINE_FRAMES * 1000 / ms:8.1f} frames/s"
    )
