"""Face detectors: BlazeFace (two MediaPipe TFLite models), the MTCNN cascade, a Haar cascade.

BlazeFace (Bazarevsky et al., 2019) is an SSD-style single-shot detector: a fixed grid of anchors,
one score and one box offset per anchor, decoded here from MediaPipe's graph settings
(`face_detection_short_range.pbtxt`: 128 px input, strides 8, 16, 16, 16, two and six anchors per
cell = 896 anchors; `face_detection_full_range.pbtxt`: 192 px, stride 4, one anchor per cell =
2304), sigmoid scores, weighted NMS.

MTCNN (Zhang et al., IEEE SPL 2016) is a cascade: P-Net, a 12 x 12 fully convolutional net, slides
over an image pyramid and proposes windows; R-Net (24 x 24) and O-Net (48 x 48) re-score and
refine the survivors. The three nets are rebuilt here in Keras with the layer sizes of the mtcnn
1.0.0 package and load its weights (joblib + lz4 lists of arrays).
"""

from __future__ import annotations

import dataclasses
import math
import threading

import cv2
import numpy as np

from engine.core import assets, registry, runtime
from engine.core.errors import ModelUnavailable
from engine.detection.protocol import DetectSettings, Found
from engine.ops import boxes as box_ops


@dataclasses.dataclass(frozen=True)
class AnchorConfig:
    """MediaPipe's SsdAnchorsCalculator options for a fixed-size-anchor face model."""

    input_size: int  # square input, pixels
    strides: tuple[int, ...]  # one per layer; consecutive equal strides share one grid
    anchors_per_layer: int = 2  # aspect ratio 1.0 plus the interpolated scale (0 when disabled)
    min_score: float = 0.5  # MediaPipe's own min_score_thresh for the model


SHORT_RANGE = AnchorConfig(128, (8, 16, 16, 16), anchors_per_layer=2, min_score=0.5)
FULL_RANGE = AnchorConfig(192, (4,), anchors_per_layer=1, min_score=0.6)
BLAZEFACE_NMS_IOU = 0.3  # MediaPipe's min_suppression_threshold for weighted NMS


def ssd_anchor_centres(config: AnchorConfig) -> np.ndarray:
    """Anchor centres (x, y) in 0..1, in the model's output order (fixed anchor size: w = h = 1)."""
    centres = []
    layer = 0
    while layer < len(config.strides):
        stride = config.strides[layer]
        repeats = 0
        while layer < len(config.strides) and config.strides[layer] == stride:
            repeats += config.anchors_per_layer
            layer += 1
        cells = math.ceil(config.input_size / stride)
        grid_y, grid_x = np.meshgrid(
            (np.arange(cells) + 0.5) / cells, (np.arange(cells) + 0.5) / cells, indexing="ij"
        )
        per_cell = np.stack([grid_x.ravel(), grid_y.ravel()], axis=1)
        centres.append(np.repeat(per_cell, repeats, axis=0))
    return np.concatenate(centres).astype(np.float32)


class BlazeFace:
    labels = "face"

    def __init__(self, path, config: AnchorConfig):
        self.runtime = runtime.TFLiteModel(path)
        self.config = config
        self.anchors = ssd_anchor_centres(config)
        if self.runtime.output_details[0]["shape"][1] != len(self.anchors):
            raise ModelUnavailable(
                f"{path.name} has {self.runtime.output_details[0]['shape'][1]} anchors, "
                f"the decoder expects {len(self.anchors)}; fetch the assets again."
            )

    def find(self, pixels, settings: DetectSettings, on_progress, should_stop) -> Found:
        size = self.config.input_size
        height, width = pixels.shape[:2]
        side = max(height, width)  # letterbox: pad to a square so faces keep their shape
        padded = np.zeros((side, side, 3), np.uint8)
        top, left = (side - height) // 2, (side - width) // 2
        padded[top : top + height, left : left + width] = pixels
        resized = cv2.resize(
            padded, (size, size), interpolation=cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
        )
        regressors, classificators = self.runtime.run((resized.astype(np.float32) / 127.5 - 1.0)[None])
        logits = np.clip(
            classificators[0, :, 0].astype(np.float64), -100, 100
        )  # MediaPipe: score_clipping_thresh
        scores = 1.0 / (1.0 + np.exp(-logits))
        keep = scores >= min(settings.min_score, self.config.min_score)
        raw, anchors = regressors[0, keep, :4] / size, self.anchors[keep]
        centres = anchors + raw[:, :2]  # reverse_output_order: x, y, w, h
        half = raw[:, 2:4] / 2
        normalized = np.concatenate([centres - half, centres + half], axis=1)
        found_boxes, found_scores = box_ops.weighted_nms(
            normalized * side - [left, top, left, top], scores[keep], BLAZEFACE_NMS_IOU
        )
        return Found(found_boxes, found_scores, ["face"] * len(found_scores))


def build_blazeface_short(spec: registry.ModelSpec, source: registry.WeightSource) -> BlazeFace:
    return BlazeFace(assets.verified_path(source.reference), SHORT_RANGE)


def build_blazeface_full(spec: registry.ModelSpec, source: registry.WeightSource) -> BlazeFace:
    return BlazeFace(assets.verified_path(source.reference), FULL_RANGE)


class HaarFaces:
    """OpenCV's Viola-Jones cascade: yes/no windows, no probability (every score is 1)."""

    labels = "face"

    def __init__(self, path):
        self.cascade = cv2.CascadeClassifier(str(path))
        self.lock = threading.Lock()  # one cascade object serves every session: not documented as thread-safe
        if self.cascade.empty():
            raise ModelUnavailable(f"OpenCV could not read {path.name}; fetch the assets again.")

    def find(self, pixels, settings: DetectSettings, on_progress, should_stop) -> Found:
        gray = cv2.equalizeHist(cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY))
        minimum = max(20, min(gray.shape) // 20)
        with self.lock:
            rectangles = self.cascade.detectMultiScale(
                gray, scaleFactor=1.1, minNeighbors=5, minSize=(minimum, minimum)
            )
        found = box_ops.as_boxes([(x, y, x + w, y + h) for x, y, w, h in np.reshape(rectangles, (-1, 4))])
        return Found(found, np.ones(len(found)), ["face"] * len(found))


def build_haar(spec: registry.ModelSpec, source: registry.WeightSource) -> HaarFaces:
    return HaarFaces(assets.verified_path(source.reference))


# --- MTCNN -------------------------------------------------------------------------------------

MTCNN_MIN_FACE = 20  # smallest face searched for, pixels of the working image
MTCNN_PYRAMID_FACTOR = 0.709  # each pyramid level is this fraction of the previous (the paper's)
MTCNN_STAGE_THRESHOLDS = (0.6, 0.7)  # P-Net and R-Net keep windows above these (mtcnn's defaults)
MTCNN_STAGE_NMS = (0.5, 0.7, 0.7)  # per scale, across scales, after R-Net (mtcnn's defaults)


def _mtcnn_nets(weights: dict[str, list[np.ndarray]]):
    """P-Net, R-Net, O-Net as Keras functional models with the mtcnn 1.0.0 weights set layer by layer."""
    import keras
    from keras import layers

    def conv_block(tensor, filters, kernel, name, pool=None):
        tensor = layers.Conv2D(filters, kernel, name=f"{name}-conv")(tensor)
        tensor = layers.PReLU(shared_axes=[1, 2], name=f"{name}-prelu")(tensor)
        if pool:
            size, strides, padding = pool
            tensor = layers.MaxPooling2D(size, strides, padding=padding, name=f"{name}-pool")(tensor)
        return tensor

    image = keras.Input((None, None, 3))
    tensor = conv_block(image, 10, 3, "p1", (2, 2, "same"))
    tensor = conv_block(tensor, 16, 3, "p2")
    tensor = conv_block(tensor, 32, 3, "p3")
    pnet = keras.Model(
        image,
        [
            layers.Conv2D(4, 1, name="p-box")(tensor),
            layers.Conv2D(2, 1, activation="softmax", name="p-face")(tensor),
        ],
    )

    def dense_head(tensor, convs, units, outputs, prefix):
        for index, (filters, kernel, pool) in enumerate(convs):
            tensor = conv_block(tensor, filters, kernel, f"{prefix}{index + 1}", pool)
        tensor = layers.Flatten()(layers.Permute((2, 1, 3))(tensor))  # Caffe's column-major flatten
        tensor = layers.PReLU(name=f"{prefix}-fc-prelu")(layers.Dense(units, name=f"{prefix}-fc")(tensor))
        return [
            layers.Dense(size, activation=activation, name=f"{prefix}-out{index}")(tensor)
            for index, (size, activation) in enumerate(outputs)
        ]

    patch = keras.Input((24, 24, 3))
    rnet = keras.Model(
        patch,
        dense_head(
            patch,
            [(28, 3, (3, 2, "same")), (48, 3, (3, 2, "valid")), (64, 2, None)],
            128,
            [(4, None), (2, "softmax")],
            "r",
        ),
    )
    patch = keras.Input((48, 48, 3))
    onet = keras.Model(
        patch,
        dense_head(
            patch,
            [(32, 3, (3, 2, "same")), (64, 3, (3, 2, "valid")), (64, 3, (2, 2, "same")), (128, 2, None)],
            256,
            [(4, None), (10, None), (2, "softmax")],
            "o",
        ),
    )
    for model, name in ((pnet, "pnet"), (rnet, "rnet"), (onet, "onet")):
        arrays = list(weights[name])
        for layer in model.layers:  # Layers are in creation order, the order of mtcnn's weight lists.
            count = len(layer.weights)
            if count:
                layer.set_weights(arrays[:count])
                arrays = arrays[count:]
        if arrays:
            raise ModelUnavailable(
                f"mtcnn_{name}.lz4 has more arrays than the network; fetch the assets again."
            )
    return pnet, rnet, onet


class MTCNN:
    labels = "face"

    def __init__(self, weights: dict[str, list[np.ndarray]]):
        import tensorflow as tf

        pnet, rnet, onet = _mtcnn_nets(weights)
        # One trace each: P-Net takes any image size, R/O-Net any number of patches.
        self.pnet = tf.function(pnet, input_signature=[tf.TensorSpec([1, None, None, 3], tf.float32)])
        self.rnet = tf.function(rnet, input_signature=[tf.TensorSpec([None, 24, 24, 3], tf.float32)])
        self.onet = tf.function(onet, input_signature=[tf.TensorSpec([None, 48, 48, 3], tf.float32)])
        for net, size in ((self.pnet, 12), (self.rnet, 24), (self.onet, 48)):  # Trace once while loading.
            net(np.zeros((1, size, size, 3), np.float32))

    def _proposals(self, normalized: np.ndarray) -> np.ndarray:
        """P-Net over the pyramid: rows of [x0, y0, x1, y1, score] in image pixels."""
        height, width = normalized.shape[:2]
        scale = 12 / MTCNN_MIN_FACE
        found = []
        while min(height, width) * scale >= 12:
            size = (math.ceil(width * scale), math.ceil(height * scale))
            level = cv2.resize(normalized, size, interpolation=cv2.INTER_AREA)
            regression, faces = (np.asarray(output)[0] for output in self.pnet(level[None]))
            rows, columns = np.nonzero(faces[:, :, 1] > MTCNN_STAGE_THRESHOLDS[0])
            if rows.size:
                corners = np.stack([columns * 2, rows * 2, columns * 2 + 12, rows * 2 + 12], axis=1).astype(
                    np.float64
                )
                windows = (corners + regression[rows, columns] * 12) / scale
                scores = faces[rows, columns, 1]
                kept = box_ops.nms(windows, scores, MTCNN_STAGE_NMS[0])
                found.append(np.column_stack([windows[kept], scores[kept]]))
            scale *= MTCNN_PYRAMID_FACTOR
        if not found:
            return np.zeros((0, 5))
        everything = np.concatenate(found)
        return everything[box_ops.nms(everything[:, :4], everything[:, 4], MTCNN_STAGE_NMS[1])]

    @staticmethod
    def _square(windows: np.ndarray) -> np.ndarray:
        squared = windows.copy()
        sizes = np.maximum(windows[:, 2] - windows[:, 0], windows[:, 3] - windows[:, 1])
        centres = (windows[:, :2] + windows[:, 2:4]) / 2
        squared[:, :2] = centres - sizes[:, None] / 2
        squared[:, 2:4] = centres + sizes[:, None] / 2
        return squared

    @staticmethod
    def _patches(normalized: np.ndarray, windows: np.ndarray, size: int) -> np.ndarray:
        import tensorflow as tf

        height, width = normalized.shape[:2]
        normalized_boxes = windows[:, [1, 0, 3, 2]] / [height, width, height, width]
        return tf.image.crop_and_resize(
            normalized[None],
            normalized_boxes.astype(np.float32),
            np.zeros(len(windows), np.int32),
            (size, size),
        ).numpy()

    @staticmethod
    def _refine(windows: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        refined = windows.copy()
        sizes = np.stack([windows[:, 2] - windows[:, 0] + 1, windows[:, 3] - windows[:, 1] + 1] * 2, axis=1)
        refined[:, :4] += offsets * sizes
        return refined

    def find(self, pixels, settings: DetectSettings, on_progress, should_stop) -> Found:
        normalized = (pixels.astype(np.float32) - 127.5) / 128.0
        windows = self._proposals(normalized)
        if len(windows):  # R-Net re-scores and refines P-Net's windows
            windows = self._square(windows)
            offsets, faces = (
                np.asarray(output) for output in self.rnet(self._patches(normalized, windows, 24))
            )
            windows[:, 4] = faces[:, 1]
            windows = self._refine(windows, offsets)[faces[:, 1] > MTCNN_STAGE_THRESHOLDS[1]]
            windows = windows[box_ops.nms(windows[:, :4], windows[:, 4], MTCNN_STAGE_NMS[2])]
        if len(windows):  # O-Net gives the final score and box; the score threshold is the user's
            windows = self._square(windows)
            offsets, _landmarks, faces = (
                np.asarray(output) for output in self.onet(self._patches(normalized, windows, 48))
            )
            windows[:, 4] = faces[:, 1]
            windows = self._refine(windows, offsets)
        return Found(windows[:, :4], windows[:, 4], ["face"] * len(windows))


def build_mtcnn(spec: registry.ModelSpec, source: registry.WeightSource) -> MTCNN:
    try:
        import joblib
    except ImportError as error:
        raise ModelUnavailable(
            "MTCNN's weights need joblib and lz4: `pip install -r requirements.txt`."
        ) from error
    try:
        weights = {
            name: joblib.load(assets.verified_path(f"mtcnn_{name}.lz4")) for name in ("pnet", "rnet", "onet")
        }
    except (ValueError, OSError, ImportError) as error:  # lz4 missing, or a damaged pickle
        raise ModelUnavailable(
            f"MTCNN's weights could not be read ({error}); `pip install -r requirements.txt` "
            "and `python -m engine assets fetch`."
        ) from error
    return MTCNN(weights)
