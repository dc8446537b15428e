"""Object detection: boxes, labels and scores on a photo, from every detector in the registry.

The chapter's detection section walks from one-box classification + localization through R-CNN
(Girshick et al., CVPR 2014: region proposals, each classified by a CNN), Fast R-CNN (Girshick,
ICCV 2015: one CNN pass, RoI pooling) and Faster R-CNN (Ren et al., NeurIPS 2015: a region proposal
network) to YOLO (Redmon et al., CVPR 2016: one grid pass). Offline this module runs pretrained
detectors that ship inside pinned packages:

- SSDLite-MobileNetV2 person detector (Liu et al., "SSD: Single Shot MultiBox Detector", ECCV
  2016; Sandler et al., MobileNetV2, CVPR 2018), a frozen TF1 graph;
- BlazeFace short- and full-range face detectors (Bazarevsky et al., 2019), MediaPipe TFLite;
- MTCNN's P/R/O-Net face cascade (Zhang et al., "Joint Face Detection and Alignment using
  Multi-task Cascaded Convolutional Networks", IEEE SPL 2016), rebuilt here in Keras;
- the Viola-Jones Haar cascade (CVPR 2001), a pre-CNN baseline;
- an R-CNN-style pipeline on ImageNet classes: selective search proposals (Uijlings et al., IJCV
  2013) each classified by EfficientNet-Lite0, then per-class NMS (slow by design).

With a network, TF Hub's COCO detectors (SSD MobileNet V2, Faster R-CNN ResNet-50) load through
the same registry. The detectors trained here on the scenes (classification + localization, R-CNN,
Fast R-CNN, Faster R-CNN, Mask R-CNN, YOLO: engine/detection/trained/) are registered under the same
task, "detection", each with a builder returning an object that has `labels` and `find(...)`.

Every result's boxes are [x0, y0, x1, y1] in pixels of the upright input image, clipped to it.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from engine.core import media, registry
from engine.core.errors import InvalidInput
from engine.core.progress import ProgressCallback, StopCheck, never_stop, no_progress
from engine.detection.protocol import Detector, DetectSettings, Found  # noqa: F401 (re-exported: pages, tests)
from engine.ops import boxes as box_ops

TASK = "detection"
DEFAULT_MODEL = "ssdlite-person"
MAX_WORKING_SIDE = 1024  # detectors see at most this many pixels on the long side; boxes are scaled back
MAX_DETECTIONS = 100  # more boxes than this on one photo is clutter, not information
MAX_PROPOSALS_LIMIT = 2000  # upper bound of the R-CNN proposal count a user may ask for


@dataclasses.dataclass(frozen=True)
class Detection:
    label: str
    score: float  # in [0, 1]
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in input-image pixels

    def to_json(self) -> dict:
        return {
            "label": self.label,
            "score": round(self.score, 6),
            "box": [round(value, 2) for value in self.box],
        }


@dataclasses.dataclass(frozen=True)
class DetectionResult:
    model: str  # registry name
    source: str  # where the weights came from, in words
    detections: tuple[Detection, ...]  # best score first
    image_size: tuple[int, int]  # (width, height) of the upright input image the boxes refer to
    ms: float  # detection time (model + decoding + NMS), milliseconds; decoding the file excluded
    stopped: bool = False  # the user stopped a long run; detections so far are kept

    def to_json(self) -> dict:
        return {
            "model": self.model,
            "detections": [detection.to_json() for detection in self.detections],
            "ms": round(self.ms, 3),
            "source": self.source,
            "image_size": list(self.image_size),
        }


def validate_settings(settings: DetectSettings) -> None:
    if not 0.0 <= settings.min_score <= 1.0:
        raise InvalidInput(f"The confidence threshold must be between 0 and 1, not {settings.min_score}.")
    if not 0.0 < settings.iou_threshold <= 1.0:
        raise InvalidInput(
            f"The NMS IoU threshold must be above 0 and at most 1, not {settings.iou_threshold}."
        )
    if not 1 <= settings.max_proposals <= MAX_PROPOSALS_LIMIT:
        raise InvalidInput(
            f"The number of proposals must be between 1 and {MAX_PROPOSALS_LIMIT}, "
            f"not {settings.max_proposals}."
        )


def detect(
    pixels: np.ndarray,
    loaded: registry.LoadedModel,
    settings: DetectSettings = DetectSettings(),
    scale: float = 1.0,
    on_progress: ProgressCallback = no_progress,
    should_stop: StopCheck = never_stop,
    max_detections: int = MAX_DETECTIONS,
) -> DetectionResult:
    """Detect objects on an RGB uint8 image.

    Args:
        pixels: (H, W, 3) uint8 RGB, possibly a reduced copy of the input image.
        loaded: a detection model from `registry.load`.
        settings: confidence and NMS thresholds, proposal bound.
        scale: pixels' size / the input image's size; boxes are returned in input-image pixels.
        on_progress, should_stop: for the slow detectors (R-CNN style); others ignore them.
        max_detections: keep at most this many (best first). A page that wants to move the
            thresholds without running the model again detects once with min_score 0 and
            iou_threshold 1 and a large bound, then calls `refilter`.
    Returns:
        Detections after the score threshold and per-label NMS, clipped to the image, best first.
    Raises:
        InvalidInput: not an RGB uint8 image, a model of another task, or settings out of range.
    """
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8 or min(pixels.shape[:2]) < 1:
        raise InvalidInput("Expected an RGB image of uint8 pixels.")
    if loaded.spec.task != TASK:
        raise InvalidInput(
            f"'{loaded.spec.name}' is a {loaded.spec.task} model, not a detector. "
            f"Detectors: {', '.join(spec.name for spec in registry.all_specs(TASK))}."
        )
    validate_settings(settings)
    if not scale > 0:
        raise InvalidInput(f"The scale must be positive, not {scale}.")
    started = time.perf_counter()
    found = loaded.model.find(pixels, settings, on_progress, should_stop)
    height, width = pixels.shape[:2]
    boxes = box_ops.clip_boxes(found.boxes, width, height)
    scores = np.asarray(found.scores, dtype=np.float64).reshape(-1)
    labels = list(found.labels)
    order = _select(boxes, scores, labels, settings)[:max_detections]
    full_width, full_height = round(width / scale), round(height / scale)
    in_input = box_ops.clip_boxes(boxes[order] / scale, full_width, full_height)
    detections = tuple(
        Detection(labels[index], float(np.clip(scores[index], 0, 1)), tuple(float(v) for v in box))
        for index, box in zip(order, in_input)
    )
    return DetectionResult(
        loaded.spec.name,
        loaded.source.describe(),
        detections,
        (full_width, full_height),
        (time.perf_counter() - started) * 1000,
        found.stopped,
    )


def _select(boxes: np.ndarray, scores: np.ndarray, labels: list[str], settings: DetectSettings) -> np.ndarray:
    """Indices kept by the score threshold and per-label NMS (non-empty boxes only), best first."""
    candidates = np.flatnonzero((scores >= settings.min_score) & (box_ops.areas(boxes) > 0))
    kept = box_ops.class_nms(
        boxes[candidates], scores[candidates], [labels[index] for index in candidates], settings.iou_threshold
    )
    return candidates[kept]


def refilter(
    result: DetectionResult, settings: DetectSettings, max_detections: int = MAX_DETECTIONS
) -> DetectionResult:
    """The same result under other thresholds, without running the model again.

    Exact when `result` was detected with min_score 0 and iou_threshold 1 (every raw box kept),
    except for detectors whose own stages depend on the threshold (noted per model on the page).
    """
    validate_settings(settings)
    found = result.detections
    boxes = box_ops.as_boxes([detection.box for detection in found])
    scores = np.asarray([detection.score for detection in found], dtype=np.float64)
    order = _select(boxes, scores, [detection.label for detection in found], settings)[:max_detections]
    return dataclasses.replace(result, detections=tuple(found[index] for index in order))


def working_image(data: bytes) -> tuple[np.ndarray, float]:
    """Decode uploaded bytes to an upright RGB copy at most MAX_WORKING_SIDE on its long side.

    Returns:
        (pixels, scale) where scale = working size / upright input size.
    """
    image = media.decode_within(data, MAX_WORKING_SIDE)
    return image.pixels, image.scale


def detect_bytes(
    data: bytes,
    model_name: str = DEFAULT_MODEL,
    settings: DetectSettings = DetectSettings(),
    on_progress: ProgressCallback = no_progress,
) -> tuple[np.ndarray, float, DetectionResult]:
    """Decode uploaded bytes and detect; returns (working pixels, their scale, result).

    Raises:
        UnknownModel, InvalidMedia, InvalidInput, ModelUnavailable: with what to do next.
    """
    spec = registry.get_spec(model_name)  # Fails fast on an unknown name, before any decoding.
    if spec.task != TASK:
        raise InvalidInput(
            f"'{model_name}' is a {spec.task} model, not a detector. "
            f"Detectors: {', '.join(s.name for s in registry.all_specs(TASK))}."
        )
    validate_settings(settings)
    pixels, scale = working_image(data)
    return pixels, scale, detect(pixels, registry.load(model_name), settings, scale, on_progress)


def annotate(pixels: np.ndarray, result: DetectionResult, scale: float) -> np.ndarray:
    """The working image with the result's boxes drawn (boxes scaled from input to working pixels)."""
    drawn = box_ops.as_boxes([detection.box for detection in result.detections]) * scale
    captions = [f"{detection.label} {detection.score:.2f}" for detection in result.detections]
    return box_ops.draw_boxes(pixels, drawn, captions, [detection.label for detection in result.detections])
