"""Instance segmentation: one mask, label, score and box per object.

Three models, each labelled for what it is:

- Mask R-CNN trained here on the scenes (engine/detection/trained/faster_rcnn.py; He et al., ICCV 2017):
  a Faster R-CNN whose every detection also gets a 28 x 28 mask predicted on its ROI.
- On photos, offline: a *pipeline*, not Mask R-CNN: the SSDLite person detector's boxes, and
  inside each box the MediaPipe selfie model's person mask (run on that crop, so each person gets
  their own mask; where two boxes overlap, the pixel goes to the more confident detection).
- With a network: TF Hub's Mask R-CNN (Inception-ResNet-V2, COCO; the TF2 Object Detection API's
  `detection_masks` are box-relative 33 x 33 probabilities, pasted into their boxes here).

Every model object has `labels` (class names, index = value in the label map) and
`instances(pixels) -> list[Instance]`; the result type and its painting (`label_map`, `id_map`,
`draw`) are engine/segmentation/instances.py, re-exported here. These are pipelines across tasks
(a detector trained here, or a person detector with a segmenter in each box), so they live here and
not in a task package.
"""

from __future__ import annotations

import cv2
import numpy as np

from engine.core import assets, manifest, registry
from engine.segmentation.instances import Instance, draw, id_map, label_map, paste_box_mask  # noqa: F401 (re-exported)

MIN_SCORE = 0.5  # instances below this confidence are not shown
PERSON_PADDING = 0.1  # each person box is grown by this fraction per side before the selfie model sees it


class SceneMaskRCNN:
    """The Mask R-CNN trained here, for the scenes (a photo is squeezed to 96 x 96 and back)."""

    def __init__(self, network):
        from engine.data import scenes

        self.network = network
        self.labels = ("background", *scenes.CLASSES)

    def instances(self, pixels: np.ndarray) -> list[Instance]:
        from engine.data import scenes

        height, width = pixels.shape[:2]
        small = (
            pixels
            if (height, width) == (scenes.SIZE, scenes.SIZE)
            else cv2.resize(pixels, (scenes.SIZE, scenes.SIZE), interpolation=cv2.INTER_AREA)
        )
        found, masks = self.network.predict(small[None], min_score=MIN_SCORE, with_masks=True)
        scale = np.array([width, height, width, height]) / scenes.SIZE
        result = []
        for box, score, label, mask in zip(found[0].boxes, found[0].scores, found[0].labels, masks[0]):
            full = (
                mask
                if (height, width) == mask.shape
                else cv2.resize(
                    mask.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST
                ).astype(bool)
            )
            result.append(
                Instance(scenes.CLASSES[int(label)], float(score), tuple(float(v) for v in box * scale), full)
            )
        return result


class PersonInstances:
    """SSDLite person boxes + the selfie model's mask inside each (a pipeline, not Mask R-CNN)."""

    labels = ("background", "person")

    def __init__(self, detector, segmenter):
        self.detector, self.segmenter = detector, segmenter

    def instances(self, pixels: np.ndarray) -> list[Instance]:
        from engine.core.progress import never_stop, no_progress
        from engine.detection.api import DetectSettings

        height, width = pixels.shape[:2]
        found = self.detector.find(pixels, DetectSettings(min_score=MIN_SCORE), no_progress, never_stop)
        result = []
        for box, score in zip(found.boxes, found.scores):
            if score < MIN_SCORE:
                continue
            pad_x, pad_y = (box[2] - box[0]) * PERSON_PADDING, (box[3] - box[1]) * PERSON_PADDING
            x0, y0 = int(max(0, box[0] - pad_x)), int(max(0, box[1] - pad_y))
            x1, y1 = int(min(width, box[2] + pad_x)), int(min(height, box[3] + pad_y))
            if x1 - x0 < 2 or y1 - y0 < 2:
                continue
            mask = np.zeros((height, width), bool)
            mask[y0:y1, x0:x1] = self.segmenter.probability(np.ascontiguousarray(pixels[y0:y1, x0:x1])) > 0.5
            result.append(Instance("person", float(score), tuple(float(v) for v in box), mask))
        return result


class HubMaskRCNN:
    """A TF2 Object Detection API Mask R-CNN SavedModel (TF Hub handle or local folder)."""

    labels: tuple[str, ...]

    def __init__(self, reference: str):
        from engine.detection.objects import COCO_LABELS, load_object_detection_api_model

        self.model = load_object_detection_api_model(reference)
        self.names = COCO_LABELS
        self.labels = ("background", *dict.fromkeys(COCO_LABELS.values()))

    def instances(self, pixels: np.ndarray) -> list[Instance]:
        import tensorflow as tf

        from engine.ops import boxes as box_ops

        outputs = self.model(tf.constant(pixels[None]))
        height, width = pixels.shape[:2]
        count = int(np.asarray(outputs["num_detections"]).reshape(-1)[0])
        boxes = box_ops.from_normalized_yxyx(np.asarray(outputs["detection_boxes"])[0, :count], width, height)
        scores = np.asarray(outputs["detection_scores"])[0, :count]
        classes = np.asarray(outputs["detection_classes"])[0, :count]
        masks = np.asarray(outputs["detection_masks"])[0, :count]
        return [
            Instance(
                self.names.get(int(label), f"class {int(label)}"),
                float(score),
                tuple(float(v) for v in box),
                paste_box_mask(mask, box, (height, width)),
            )
            for box, score, label, mask in zip(boxes, scores, classes, masks)
            if score >= MIN_SCORE
        ]


def build_scene_mask_rcnn(spec: registry.ModelSpec, source: registry.WeightSource) -> SceneMaskRCNN:
    from engine.detection.trained import faster_rcnn as scene_faster_rcnn

    return SceneMaskRCNN(scene_faster_rcnn.build(manifest.verified(source.reference)))


def build_person_instances(spec: registry.ModelSpec, source: registry.WeightSource) -> PersonInstances:
    from engine.detection.objects import SSDLitePerson
    from engine.segmentation.api import SelfieSegmenter

    return PersonInstances(
        SSDLitePerson(assets.verified_path(source.reference)),
        SelfieSegmenter(assets.verified_path("selfie_segmentation.tflite")),
    )


def build_hub(spec: registry.ModelSpec, source: registry.WeightSource) -> HubMaskRCNN:
    return HubMaskRCNN(source.reference)
