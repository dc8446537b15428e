"""Object detectors: SSDLite person detector, an R-CNN-style pipeline, TF Hub COCO detectors.

SSD (Liu et al., ECCV 2016) predicts class scores and box offsets for a fixed set of default
boxes on several feature maps in one pass; SSDLite swaps its heads' convolutions for depthwise
separable ones on a MobileNetV2 backbone (Sandler et al., CVPR 2018). The person-only model ships
as a frozen TF1 Object Detection API graph, NMS included (IoU 0.6).

The R-CNN-style pipeline follows Girshick et al. (CVPR 2014) without training anything: selective
search (Uijlings et al., IJCV 2013) proposes regions, each region is warped to 224 x 224 and
classified by the EfficientNet-Lite0 ImageNet classifier, and per-class NMS removes duplicates.
Unlike R-CNN it has no background class and no box regression, and one CNN pass per region is
exactly the cost Fast R-CNN was invented to remove: it is slow by design.
"""

from __future__ import annotations

import cv2
import numpy as np

from engine.core import assets, media, registry, runtime
from engine.core.errors import ModelUnavailable
from engine.detection.protocol import DetectSettings, Found
from engine.ops import boxes as box_ops

SSD_OUTPUTS = ("detection_boxes:0", "detection_scores:0", "detection_classes:0", "num_detections:0")
SEARCH_SIDE = 500  # selective search runs on a copy this long; its cost grows fast with size
MIN_PROPOSAL_FRACTION = 0.05  # proposals narrower or shorter than this fraction of the image are skipped
PROGRESS_EVERY = 20  # proposals between progress reports and stop checks

# COCO's 90 category ids as the TF Object Detection API numbers them (ids 12, 26, ... are unused).
COCO_LABELS = {
    1: "person",
    2: "bicycle",
    3: "car",
    4: "motorcycle",
    5: "airplane",
    6: "bus",
    7: "train",
    8: "truck",
    9: "boat",
    10: "traffic light",
    11: "fire hydrant",
    13: "stop sign",
    14: "parking meter",
    15: "bench",
    16: "bird",
    17: "cat",
    18: "dog",
    19: "horse",
    20: "sheep",
    21: "cow",
    22: "elephant",
    23: "bear",
    24: "zebra",
    25: "giraffe",
    27: "backpack",
    28: "umbrella",
    31: "handbag",
    32: "tie",
    33: "suitcase",
    34: "frisbee",
    35: "skis",
    36: "snowboard",
    37: "sports ball",
    38: "kite",
    39: "baseball bat",
    40: "baseball glove",
    41: "skateboard",
    42: "surfboard",
    43: "tennis racket",
    44: "bottle",
    46: "wine glass",
    47: "cup",
    48: "fork",
    49: "knife",
    50: "spoon",
    51: "bowl",
    52: "banana",
    53: "apple",
    54: "sandwich",
    55: "orange",
    56: "broccoli",
    57: "carrot",
    58: "hot dog",
    59: "pizza",
    60: "donut",
    61: "cake",
    62: "chair",
    63: "couch",
    64: "potted plant",
    65: "bed",
    67: "dining table",
    70: "toilet",
    72: "tv",
    73: "laptop",
    74: "mouse",
    75: "remote",
    76: "keyboard",
    77: "cell phone",
    78: "microwave",
    79: "oven",
    80: "toaster",
    81: "sink",
    82: "refrigerator",
    84: "book",
    85: "clock",
    86: "vase",
    87: "scissors",
    88: "teddy bear",
    89: "hair drier",
    90: "toothbrush",
}


def _from_object_detection_api(
    pixels: np.ndarray, boxes, scores, classes, count, names: dict[int, str]
) -> Found:
    """Outputs of a TF Object Detection API model ([1, N, ...], normalized yxyx) to pixel boxes."""
    height, width = pixels.shape[:2]
    count = int(np.asarray(count).reshape(-1)[0])
    corner = box_ops.from_normalized_yxyx(np.asarray(boxes)[0, :count], width, height)
    labels = [names.get(int(value), f"class {int(value)}") for value in np.asarray(classes)[0, :count]]
    return Found(corner, np.asarray(scores, dtype=np.float64)[0, :count], labels)


class SSDLitePerson:
    labels = "person"

    def __init__(self, path):
        import tensorflow as tf

        graph = tf.compat.v1.GraphDef()
        try:
            graph.ParseFromString(path.read_bytes())
        except Exception as error:  # protobuf's DecodeError
            raise ModelUnavailable(
                f"{path.name} is not a TensorFlow graph ({error}); fetch the assets again."
            ) from error
        wrapped = tf.compat.v1.wrap_function(lambda: tf.compat.v1.import_graph_def(graph, name=""), [])
        self.function = wrapped.prune("image_tensor:0", list(SSD_OUTPUTS))
        self.function(
            tf.zeros((1, 64, 64, 3), tf.uint8)
        )  # The first call builds the graph (~0.7 s): do it while loading.

    def find(self, pixels, settings: DetectSettings, on_progress, should_stop) -> Found:
        import tensorflow as tf

        outputs = self.function(tf.constant(pixels[None]))
        return _from_object_detection_api(
            pixels, *(output.numpy() for output in outputs), names={1: "person"}
        )


def build_ssdlite(spec: registry.ModelSpec, source: registry.WeightSource) -> SSDLitePerson:
    return SSDLitePerson(assets.verified_path(source.reference))


def load_object_detection_api_model(reference: str):
    """A TF2 Object Detection API SavedModel from a TF Hub handle or an allowed local folder.

    Raises:
        ModelUnavailable: it could not be loaded (usually: no network); the message says what to use instead.
    """
    if not runtime.is_hub_handle(reference):
        reference = str(runtime.check_saved_model_folder(reference))
    import tensorflow_hub as hub

    try:
        return hub.load(reference)
    except Exception as error:  # hub raises many types (URLError, OSError, ValueError, ...)
        raise ModelUnavailable(
            f"Could not load '{reference}' from TF Hub: {type(error).__name__}. Hub models "
            "need a network connection; without one, use an offline model."
        ) from error


class HubDetector:
    """A TF2 Object Detection API SavedModel (TF Hub handle or local folder): uint8 image in, COCO boxes out."""

    labels = "90 COCO classes"

    def __init__(self, reference: str):
        self.model = load_object_detection_api_model(reference)

    def find(self, pixels, settings: DetectSettings, on_progress, should_stop) -> Found:
        import tensorflow as tf

        outputs = self.model(tf.constant(pixels[None]))
        return _from_object_detection_api(
            pixels,
            outputs["detection_boxes"],
            outputs["detection_scores"],
            outputs["detection_classes"],
            outputs["num_detections"],
            COCO_LABELS,
        )


def build_hub(spec: registry.ModelSpec, source: registry.WeightSource) -> HubDetector:
    return HubDetector(source.reference)


def selective_search(pixels: np.ndarray, limit: int) -> np.ndarray:
    """Up to `limit` selective search proposals (fast mode) as corner boxes in the image's pixels.

    Runs on a copy at most SEARCH_SIDE long; proposals thinner than MIN_PROPOSAL_FRACTION of the
    image are skipped, as are duplicates after rounding.
    """
    height, width = pixels.shape[:2]
    small, factor = media.shrink_to(pixels, SEARCH_SIDE)
    search = cv2.ximgproc.segmentation.createSelectiveSearchSegmentation()
    search.setBaseImage(cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
    search.switchToSelectiveSearchFast()
    rectangles = np.asarray(search.process(), dtype=np.float64).reshape(-1, 4)
    proposals = np.column_stack([rectangles[:, :2], rectangles[:, :2] + rectangles[:, 2:]]) / factor
    sizes = proposals[:, 2:] - proposals[:, :2]
    large = (sizes[:, 0] >= MIN_PROPOSAL_FRACTION * width) & (sizes[:, 1] >= MIN_PROPOSAL_FRACTION * height)
    proposals = proposals[large]
    _, first = np.unique(np.round(proposals / 4), axis=0, return_index=True)  # near-identical boxes once
    return box_ops.clip_boxes(proposals[np.sort(first)][:limit], width, height)


class SelectiveSearchClassifier:
    """R-CNN without training: selective search proposals, each classified by an ImageNet CNN."""

    labels = "1000 ImageNet classes"

    def __init__(self, classifier):
        self.classifier = classifier  # has probabilities(pixels) and labels

    def find(self, pixels, settings: DetectSettings, on_progress, should_stop) -> Found:
        on_progress(0.0, "selective search: proposing regions")
        proposals = selective_search(pixels, settings.max_proposals)
        found_boxes, scores, labels = [], [], []
        stopped = False
        for index, (x0, y0, x1, y1) in enumerate(proposals.round().astype(int)):
            if index % PROGRESS_EVERY == 0:
                if should_stop():
                    stopped = True
                    break
                on_progress(
                    index / max(len(proposals), 1), f"classifying region {index + 1} of {len(proposals)}"
                )
            probabilities = self.classifier.probabilities(np.ascontiguousarray(pixels[y0:y1, x0:x1]))
            best = int(np.argmax(probabilities))
            if probabilities[best] >= settings.min_score:
                found_boxes.append((x0, y0, x1, y1))
                scores.append(float(probabilities[best]))
                labels.append(self.classifier.labels[best])
        on_progress(1.0, f"{len(proposals)} regions classified")
        return Found(box_ops.as_boxes(found_boxes), np.asarray(scores), labels, stopped)


def build_selective_search(
    spec: registry.ModelSpec, source: registry.WeightSource
) -> SelectiveSearchClassifier:
    if not hasattr(cv2, "ximgproc"):
        raise ModelUnavailable(
            "Selective search needs opencv-contrib-python-headless (see requirements.txt)."
        )
    from engine.classification import classify as classification

    # Its own interpreter: registry.load holds the registry's lock while this builder runs.
    return SelectiveSearchClassifier(classification.TFLiteClassifier(assets.verified_path(source.reference)))
