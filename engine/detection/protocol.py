"""What a detector is, for the detection page and every detector module: its settings, its raw
findings and the `Detector` protocol (`labels` and `find`).

Kept apart from engine/detection/api.py so that the detector modules (faces, objects, the ones
trained here) and the pipelines import these small types without importing the page's API.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple, Protocol

import numpy as np

from engine.core.progress import ProgressCallback, StopCheck


@dataclasses.dataclass(frozen=True)
class DetectSettings:
    min_score: float = 0.5  # detections below this confidence are dropped
    iou_threshold: float = 0.5  # NMS: a box overlapping a better one of its label by more is dropped
    max_proposals: int = 300  # R-CNN-style detectors: how many region proposals to classify


class Found(NamedTuple):
    """What a detector returns before the shared post-processing: boxes in the pixels it was given."""

    boxes: np.ndarray  # (N, 4) corner boxes
    scores: np.ndarray  # (N,)
    labels: list[str]
    stopped: bool = False


class Detector(Protocol):
    labels: str  # what it can find, in words

    def find(
        self,
        pixels: np.ndarray,
        settings: DetectSettings,
        on_progress: ProgressCallback,
        should_stop: StopCheck,
    ) -> Found:
        """Raw detections on an RGB uint8 image (NMS of its own is allowed, clipping is not needed)."""
