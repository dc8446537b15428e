"""The U-Net's figures on generated scenes: mean IoU over the 17 labels, pixel accuracy, each label's IoU.

Shared by training (validation, and the test figures of the weights it finalizes) and the model table's
`evaluate_model` (`python -m engine eval unet`: the 500 held-out test scenes, `scenes.test_scenes()`).
"""

from __future__ import annotations

import time

import numpy as np

from engine.data import scenes
from engine.ops import metrics
from engine.segmentation.unet.model import LABELS, SceneSegmenter


def generate(
    split: str, count: int, start: int = 0, objects: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Scenes start .. start + count - 1 of a split: uint8 images (N, 96, 96, 3), label maps (N, 96, 96).

    `objects` forces that many objects per scene (see `scenes.scene`); None draws 1..MAX_OBJECTS.
    """
    items = [scenes.scene(split, index, objects=objects) for index in range(start, start + count)]
    return np.stack([item.image for item in items]), np.stack([item.label_map for item in items])


def measure(segmenter: SceneSegmenter, images: np.ndarray, truth: np.ndarray) -> dict:
    """Mean IoU over the 17 labels, pixel accuracy and each label's IoU, as measured."""
    started = time.perf_counter()
    predicted = segmenter.predict(images)
    milliseconds = (time.perf_counter() - started) * 1000 / len(images)
    result = metrics.mean_iou(predicted, truth, len(LABELS))
    return {
        "mean_iou": result["mean_iou"],
        "pixel_accuracy": float(np.mean(predicted == truth)),
        "per_label": {LABELS[label]: round(iou, 4) for label, iou in result["per_label"].items()},
        "scenes": len(images),
        "ms_per_scene": round(milliseconds, 3),
    }


def evaluate_model(segmenter: SceneSegmenter, count: int = scenes.TEST_SCENES, split: str = "test") -> dict:
    """Figures on scenes 0 .. count - 1 of a split (default: the 500 held-out test scenes)."""
    images, truth = generate(split, count)
    return {**measure(segmenter, images, truth), "split": split}
