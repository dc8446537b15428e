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
`instances(pixels) -> list[Instance]`; `label_map` paints them (later = less confident first, so
the best detection wins where masks overlap).
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from engine.core import assets
from engine.core import manifest
from engine.core import registry

MIN_SCORE = 0.5  # instances below this confidence are not shown
PERSON_PADDING = 0.1  # each person box is grown by this fraction per side before the selfie model sees it


@dataclasses.dataclass(frozen=True)
class Instance:
    label: str
    score: float
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels of the image
    mask: np.ndarray  # bool (H, W), the image's size

    @property
    def area(self) -> int:
        return int(self.mask.sum())

    def to_json(self) -> dict:
        return {"label": self.label, "score": round(self.score, 6), "box": [round(v, 2) for v in self.box],
                "area": self.area}


def label_map(instances: list[Instance], labels: tuple[str, ...], shape: tuple[int, int]) -> np.ndarray:
    """uint8 map: 0 background, else the index of the instance's label in `labels`; best score on top."""
    result = np.zeros(shape, np.uint8)
    for instance in sorted(instances, key=lambda item: item.score):
        result[instance.mask] = labels.index(instance.label)
    return result


def id_map(instances: list[Instance], shape: tuple[int, int]) -> np.ndarray:
    """uint8 map: 0 background, i + 1 where instance i (in the given order) is visible, best score on top."""
    result = np.zeros(shape, np.uint8)
    for index in sorted(range(len(instances)), key=lambda i: instances[i].score):
        result[instances[index].mask] = min(index + 1, 255)
    return result


def draw(pixels: np.ndarray, instances: list[Instance], opacity: float = 0.55) -> np.ndarray:
    """Each instance's mask in its own colour, with its box and "label score" caption."""
    from engine.ops import boxes as box_ops

    colours = [np.array(cv2.cvtColor(np.uint8([[[int(179 * (i * 0.618 % 1)), 200, 255]]]), cv2.COLOR_HSV2RGB)[0, 0],
                        np.float32) for i in range(len(instances))]
    drawn = pixels.astype(np.float32)
    for instance, colour in sorted(zip(instances, colours), key=lambda pair: pair[0].score):
        drawn[instance.mask] = drawn[instance.mask] * (1 - opacity) + colour * opacity
    drawn = drawn.astype(np.uint8)
    return box_ops.draw_boxes(drawn, box_ops.as_boxes([instance.box for instance in instances]),
                              [f"{instance.label} {instance.score:.2f}" for instance in instances],
                              [f"instance {index}" for index in range(len(instances))])


def paste_box_mask(mask: np.ndarray, box, shape: tuple[int, int], threshold: float = 0.5) -> np.ndarray:
    """A box-relative probability mask resized into its box on an image of `shape` (H, W)."""
    height, width = shape
    x0, y0 = max(0, int(round(box[0]))), max(0, int(round(box[1])))
    x1, y1 = min(width, int(round(box[2]))), min(height, int(round(box[3])))
    result = np.zeros(shape, bool)
    if x1 > x0 and y1 > y0:
        result[y0:y1, x0:x1] = cv2.resize(mask.astype(np.float32), (x1 - x0, y1 - y0),
                                          interpolation=cv2.INTER_LINEAR) >= threshold
    return result


class SceneMaskRCNN:
    """The Mask R-CNN trained here, for the scenes (a photo is squeezed to 96 x 96 and back)."""

    def __init__(self, network):
        from engine.data import scenes

        self.network = network
        self.labels = ("background", *scenes.CLASSES)

    def instances(self, pixels: np.ndarray) -> list[Instance]:
        from engine.data import scenes

        height, width = pixels.shape[:2]
        small = pixels if (height, width) == (scenes.SIZE, scenes.SIZE) else cv2.resize(
            pixels, (scenes.SIZE, scenes.SIZE), interpolation=cv2.INTER_AREA)
        found, masks = self.network.predict(small[None], min_score=MIN_SCORE, with_masks=True)
        scale = np.array([width, height, width, height]) / scenes.SIZE
        result = []
        for box, score, label, mask in zip(found[0].boxes, found[0].scores, found[0].labels, masks[0]):
            full = mask if (height, width) == mask.shape else cv2.resize(
                mask.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST).astype(bool)
            result.append(Instance(scenes.CLASSES[int(label)], float(score), tuple(float(v) for v in box * scale), full))
        return result


class PersonInstances:
    """SSDLite person boxes + the selfie model's mask inside each (a pipeline, not Mask R-CNN)."""

    labels = ("background", "person")

    def __init__(self, detector, segmenter):
        self.detector, self.segmenter = detector, segmenter

    def instances(self, pixels: np.ndarray) -> list[Instance]:
        from engine.detection.api import DetectSettings
        from engine.core.progress import never_stop, no_progress

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
        return [Instance(self.names.get(int(label), f"class {int(label)}"), float(score), tuple(float(v) for v in box),
                         paste_box_mask(mask, box, (height, width)))
                for box, score, label, mask in zip(boxes, scores, classes, masks) if score >= MIN_SCORE]


def _build_scene_mask_rcnn(spec: registry.ModelSpec, source: registry.WeightSource) -> SceneMaskRCNN:
    from engine.core import manifest
    from engine.detection.trained import faster_rcnn as scene_faster_rcnn

    return SceneMaskRCNN(scene_faster_rcnn.build(manifest.verified(source.reference)))


def _build_person_instances(spec: registry.ModelSpec, source: registry.WeightSource) -> PersonInstances:
    from engine.detection.objects import SSDLitePerson
    from engine.segmentation.api import SelfieSegmenter

    return PersonInstances(SSDLitePerson(assets.verified_path(source.reference)),
                           SelfieSegmenter(assets.verified_path("selfie_segmentation.tflite")))


def _build_hub(spec: registry.ModelSpec, source: registry.WeightSource) -> HubMaskRCNN:
    return HubMaskRCNN(source.reference)


SCENE_WEIGHTS = "scene_detection/mask_rcnn.npz"  # the same file the detection page's "mask-rcnn" uses
registry.register(registry.ModelSpec(
    name="mask-rcnn-instances", task="instances", title="Mask R-CNN trained here (scenes: 16 classes, one mask each)",
    input_size=(96, 96), labels="16 scene classes: digits 0-9, trouser, dress, sandal, sneaker, bag, ankle boot",
    sources=(registry.WeightSource("project", SCENE_WEIGHTS),), builder=_build_scene_mask_rcnn,
    trained_on="96 x 96 scenes made here (engine/data/scenes.py), training split", metric=manifest.recorded_metric(SCENE_WEIGHTS),
    paper="He, Gkioxari, Dollar & Girshick 2017, Mask R-CNN"))
registry.register(registry.ModelSpec(
    name="ssd-selfie-people", task="instances",
    title="People: SSDLite person boxes + selfie mask in each box (a pipeline, not Mask R-CNN)",
    input_size=(300, 300), labels="person", sources=(registry.WeightSource("package", "ssdlite_person_frozen_graph.pb"),),
    builder=_build_person_instances, trained_on="COCO people (SSDLite) + Google's selfie data (MediaPipe)",
    metric="no instance ground truth offline; here: astronaut -> 1 person whose mask covers the suit",
    paper="Liu et al. 2016, SSD; MediaPipe Selfie Segmentation 2020"))
registry.register(registry.ModelSpec(
    name="mask-rcnn-hub", task="instances", title="Mask R-CNN Inception-ResNet-V2 (COCO, TF Hub)",
    input_size=(1024, 1024), labels="90 COCO classes",
    sources=(registry.WeightSource("hub", "https://tfhub.dev/tensorflow/mask_rcnn/inception_resnet_v2_1024x1024/1"),),
    builder=_build_hub, trained_on="COCO 2017 (TF2 Object Detection API)",
    metric="COCO mAP 39.0 boxes / 34.6 masks (published, TF2 detection zoo); needs a network",
    paper="He, Gkioxari, Dollar & Girshick 2017, Mask R-CNN"))
