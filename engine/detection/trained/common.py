"""What every detector trained here on the scenes shares: backbone, page adapter, mAP.

Each trained detector module (engine/detection/trained/yolo.py, engine/detection/trained/rcnn.py, ...) provides a Keras
model and a `predict(images) -> list[ImageDetections]` on uint8 (B, SIZE, SIZE, 3) scenes; this
module adapts that to the detection page (`SceneDetector`; each model's entry in engine/core/entries.py
names its module's `from_source`, `train` and `evaluate_model`), and measures mAP@0.5 on the fixed
test scenes the same way for all of them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from engine.core import manifest
from engine.core.progress import ProgressCallback, StopCheck
from engine.data import scenes
from engine.ops import metrics

TRAINED_ON = (
    f"{scenes.SIZE} x {scenes.SIZE} scenes made here: MNIST digits and 6 Fashion-MNIST items pasted on "
    "textures (engine/data/scenes.py), training split"
)
FEATURE_STRIDE = 8  # backbone output is SIZE / 8 = 12 cells on a side
LABELS = f"{len(scenes.CLASSES)} scene classes: digits 0-9, trouser, dress, sandal, sneaker, bag, ankle boot"


def backbone(inputs, widths: tuple[int, int, int] = (32, 64, 128)):
    """A small VGG-style stack (Simonyan & Zisserman 2015) to stride 8: 96 x 96 x 3 -> 12 x 12 x widths[-1].

    Two 3x3 convolutions per level with batch normalization; the second of each level has stride 2.
    """
    import keras

    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    for level, width in enumerate(widths):
        for stride in (1, 2):
            x = keras.layers.Conv2D(
                width, 3, strides=stride, padding="same", use_bias=False, name=f"backbone_{level}_{stride}"
            )(x)
            x = keras.layers.BatchNormalization(name=f"backbone_{level}_{stride}_bn")(x)
            x = keras.layers.ReLU()(x)
    return x


def roi_features(
    features, rois, image_indices, size: int = 7, pool: str = "align", stride: int = FEATURE_STRIDE
):
    """Fixed-size features for each region of interest, from a feature map of the given stride
    (default: the backbone's output, stride FEATURE_STRIDE).

    Args:
        features: (B, h, w, C) tensor.
        rois: (R, 4) float x0, y0, x1, y1 in scene pixels.
        image_indices: (R,) int32, which image of the batch each ROI is on.
        size: output side.
        pool: "align" samples 2 x 2 bilinear points per output cell and averages them (ROI Align,
            He et al. 2017, via tf.image.crop_and_resize); "max" takes the maximum of each cell (ROI
            pooling as in Fast R-CNN, Girshick 2015, with bilinear sampling instead of quantized bins).
    Returns:
        (R, size, size, C) tensor.
    """
    import tensorflow as tf

    rois = tf.cast(rois, tf.float32)
    # Sample at the centres of a 2*size grid of bins: move each edge in by half a bin, because
    # crop_and_resize puts its first and last samples on the box edges.
    half_bin = tf.stack([rois[:, 2] - rois[:, 0], rois[:, 3] - rois[:, 1]] * 2, axis=1) / (4 * size)
    rois = rois + half_bin * tf.constant([1.0, 1.0, -1.0, -1.0])
    # Scene pixel x lies at feature coordinate x / stride - 0.5 (cell centres); crop_and_resize wants
    # it divided by (cells - 1), in y0, x0, y1, x1 order.
    cells = scenes.SIZE / stride
    boxes = (tf.gather(rois, [1, 0, 3, 2], axis=1) / stride - 0.5) / (cells - 1)
    boxes = tf.clip_by_value(
        boxes, 0.0, 1.0
    )  # the outer half cell repeats the border instead of reading zeros
    crops = tf.image.crop_and_resize(features, boxes, tf.cast(image_indices, tf.int32), (2 * size, 2 * size))
    if pool == "max":
        return tf.nn.max_pool2d(crops, 2, 2, "VALID")
    return tf.nn.avg_pool2d(crops, 2, 2, "VALID")


def evaluate(
    predict: Callable[[np.ndarray], list[metrics.ImageDetections]],
    count: int = scenes.TEST_SCENES,
    batch_size: int = 50,
    start: int = 0,
    split: str = "test",
) -> dict:
    """mAP@0.5 of a predict function on scenes start .. start + count - 1 of a split (default: the test set)."""
    predictions, truth_boxes, truth_labels = [], [], []
    for first in range(start, start + count, batch_size):
        items = [scenes.scene(split, index) for index in range(first, min(first + batch_size, start + count))]
        predictions += predict(np.stack([item.image for item in items]))
        truth_boxes += [item.boxes for item in items]
        truth_labels += [item.labels for item in items]
    result = metrics.mean_average_precision(predictions, truth_boxes, truth_labels, len(scenes.CLASSES))
    return {
        "map50": result["map"],
        "scenes": count,
        "split": split,
        "per_class_ap": {scenes.CLASSES[label]: round(ap, 4) for label, ap in result["per_class"].items()},
    }


class SceneDetector:
    """Adapter from a trained scene model to the detection page's Detector protocol.

    The model sees SIZE x SIZE pixels: a larger or non-square image is resized to that (so a photo
    is squeezed; these models only know scenes), and boxes are scaled back to the image.
    """

    labels = LABELS

    def __init__(self, predict: Callable[[np.ndarray], list[metrics.ImageDetections]]):
        self._predict = predict

    def find(self, pixels: np.ndarray, settings, on_progress: ProgressCallback, should_stop: StopCheck):
        import cv2

        from engine.detection.protocol import Found

        height, width = pixels.shape[:2]
        resized = (
            pixels
            if (height, width) == (scenes.SIZE, scenes.SIZE)
            else cv2.resize(pixels, (scenes.SIZE, scenes.SIZE), interpolation=cv2.INTER_AREA)
        )
        found = self._predict(resized[None])[0]
        scale = np.array([width, height, width, height], np.float64) / scenes.SIZE
        return Found(
            np.asarray(found.boxes, np.float64).reshape(-1, 4) * scale,
            np.asarray(found.scores),
            [scenes.CLASSES[int(label)] for label in found.labels],
        )


FAMILY = ("rcnn", "fast-rcnn", "faster-rcnn")  # the chapter's R-CNN lineage, slowest first
CHAPTER_SPEEDUPS = {"fast-rcnn": 25.0, "faster-rcnn": 10.0}  # the chapter: Fast ~25x R-CNN, Faster ~10x Fast


def time_family(pixels: np.ndarray, detectors: dict, repeats: int = 3) -> list[dict]:
    """Median milliseconds of each detector's find() on the same image, after one warm-up call.

    Args:
        detectors: registry name -> loaded detector (objects with find), in FAMILY order.
    Returns:
        One row per detector: name, ms, boxes found, speed-up over the previous one and the
        chapter's claimed speed-up for that step.
    """
    import time

    from engine.core.progress import never_stop, no_progress
    from engine.detection.protocol import DetectSettings

    settings = DetectSettings(min_score=0.5)
    rows: list[dict] = []
    for name, detector in detectors.items():
        found = detector.find(pixels, settings, no_progress, never_stop)  # warm-up: graph tracing, caches
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            found = detector.find(pixels, settings, no_progress, never_stop)
            times.append((time.perf_counter() - started) * 1000)
        ms = float(np.median(times))
        previous = rows[-1]["ms"] if rows else None
        rows.append(
            {
                "model": name,
                "ms": round(ms, 2),
                "boxes": int(np.sum(np.asarray(found.scores) >= 0.5)),
                "speed-up over the previous": round(previous / ms, 1) if previous else None,
                "chapter's claim": CHAPTER_SPEEDUPS.get(name),
            }
        )
    return rows


def metric_of(relative_path: str) -> str:
    """The held-out metric recorded in assets/MANIFEST.jsonl for a committed weight file."""
    return manifest.recorded_metric(relative_path)
