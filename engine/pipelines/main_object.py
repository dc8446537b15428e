"""Classification + localization of a photo's main object, from two pretrained models of two tasks.

The chapter's classification + localization network (Sermanet et al., OverFeat, ICLR 2014) names
the one object of an image and boxes it. No network here was trained to do both on photos, so this
pipeline borrows each half from another task: EfficientNet-Lite0 (classification) names the object,
DeepLabV3 (segmentation) gives the box. It is a detector of the "detection" task built across tasks,
hence a pipeline. The registry's entry is "main-object-imagenet-deeplab".
"""

from __future__ import annotations

import cv2
import numpy as np

from engine.classification import classify as classification
from engine.core import assets, registry
from engine.detection.protocol import DetectSettings, Found
from engine.ops import boxes as box_ops
from engine.segmentation import api as segmentation


class MainObjectLocalizer:
    """Classification + localization of a photo's main object, from two pretrained models.

    EfficientNet-Lite0 names the object (its ImageNet top-1 on the whole photo); DeepLabV3's largest
    connected non-background region gives the box. One box per photo, like the chapter's
    classification + localization network, but no network here was trained to do both: the class
    and the box come from different models and can disagree (a box around a person, labelled with
    the ImageNet class of their hat). When DeepLab sees no VOC object there is no box to give.
    """

    labels = "1000 ImageNet classes (one main object, boxed by the DeepLab mask)"

    def __init__(self, classifier, segmenter):
        self.classifier, self.segmenter = classifier, segmenter

    def find(self, pixels: np.ndarray, settings: DetectSettings, on_progress, should_stop) -> Found:
        probabilities = self.classifier.probabilities(pixels)
        best = int(np.argmax(probabilities))
        foreground = (self.segmenter.label_map(pixels) > 0).astype(np.uint8)
        count, components, stats, _ = cv2.connectedComponentsWithStats(foreground, connectivity=8)
        if count < 2:
            return Found(box_ops.as_boxes([]), np.zeros(0), [])
        largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        x, y, width, height = (int(value) for value in stats[largest, :4])
        return Found(
            box_ops.as_boxes([(x, y, x + width, y + height)]),
            np.array([float(probabilities[best])]),
            [self.classifier.labels[best]],
        )


def build(spec: registry.ModelSpec, source: registry.WeightSource) -> MainObjectLocalizer:
    """The registry's builder of "main-object-imagenet-deeplab" (engine/core/entries.py)."""
    return MainObjectLocalizer(
        classification.TFLiteClassifier(assets.verified_path(source.reference)),
        segmentation.DeepLabSegmenter(assets.verified_path("deeplabv3.tflite")),
    )
