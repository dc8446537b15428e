"""U-Net trained here on the scenes' semantic label maps (background + 16 classes).

U-Net (Ronneberger, Fischer & Brox, "U-Net: Convolutional Networks for Biomedical Image
Segmentation", MICCAI 2015): a contracting path of 3x3 convolutions and 2x2 max pooling that
doubles the filters at each level, and an expanding path that upsamples with 2x2 transposed
convolutions and concatenates the contracting path's feature map of the same size (the skip
connection) before two more 3x3 convolutions, so the coarse "what" from the bottleneck meets the
fine "where" of the early layers. A 1x1 convolution gives a score per label and pixel. This one is
small: 4 poolings (96 -> 48 -> 24 -> 12 -> 6), 16-32-64-128 filters down, 256 in the bottleneck;
"same" padding (the paper crops instead) and batch normalization after each convolution. One
addition from FCN (Long, Shelhamer & Darrell, CVPR 2015): the three coarsest decoder levels also
score the labels, and their scores, upsampled bilinearly, are added to the 1x1 scores of the top level.

Inference (`SceneSegmenter`) averages the label probabilities over the scene and TEST_TIME_SHIFTS copies of
it. Training is engine/segmentation/unet/train.py, growing the 3-level network into 4 levels grow.py, the
held-out figures evaluation.py. TensorFlow is imported inside functions only.
"""

from __future__ import annotations

import dataclasses
import pathlib

import numpy as np

from engine.core import weights_io
from engine.core.errors import InvalidInput
from engine.data import scenes

WEIGHTS = "scene_segmentation/unet.npz"  # under assets/, float16
LABELS = ("background", *scenes.CLASSES)  # index = value in the label map (scenes.Scene.label_map)
FILTERS = (16, 32, 64, 128, 256)  # per level of the contracting path; the last is the 6 x 6 bottleneck
# The three coarsest levels of the expanding path (6 x 6 x 256, 12 x 12 x 128, 24 x 24 x 64) also score the
# labels, and those scores, upsampled, are added to the full-size ones: which class an object is gets
# decided where the features are wide and see the whole object, instead of squeezing through the 16
# channels of the top level (without them a first run stayed near chance: docs/models/unet.md).
COARSE_HEADS = 3
PREDICT_BATCH = 100
# Test-time augmentation: label probabilities are averaged over the scene and these shifted copies (dx, dy).
# A convolutional network is only roughly shift-equivariant (its poolings), so the copies disagree near
# edges and on doubtful objects, and their mean is steadier. The 8 one-pixel neighbours were chosen on
# validation against 4 shifts and larger ones (docs/models/unet.md), at 9 times the compute.
TEST_TIME_SHIFTS: tuple[tuple[int, int], ...] = (
    (1, 0),
    (-1, 0),
    (0, 1),
    (0, -1),
    (1, 1),
    (-1, -1),
    (1, -1),
    (-1, 1),
)


def architecture(levels: int = len(FILTERS) - 1) -> tuple[tuple[int, ...], int]:
    """(filters, coarse heads) of `build_network` for a U-Net of `levels` poolings: 4, or 3 (FILTERS[:-1],
    one coarse head fewer: the first training cycles')."""
    if levels not in (len(FILTERS) - 2, len(FILTERS) - 1):
        raise InvalidInput(f"The U-Net has {len(FILTERS) - 2} or {len(FILTERS) - 1} levels, not {levels}.")
    cut = len(FILTERS) - 1 - levels
    return FILTERS[: len(FILTERS) - cut], COARSE_HEADS - cut


def build_network(filters: tuple[int, ...] = FILTERS, coarse_heads: int = COARSE_HEADS):
    """The Keras U-Net: uint8-range RGB (B, 96, 96, 3) -> label scores (B, 96, 96, len(LABELS)) (logits)."""
    import keras

    def double_conv(x, width: int, name: str):
        for index in (1, 2):
            x = keras.layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"{name}_conv{index}")(x)
            x = keras.layers.BatchNormalization(name=f"{name}_bn{index}")(x)
            x = keras.layers.ReLU(name=f"{name}_relu{index}")(x)
        return x

    inputs = keras.Input((scenes.SIZE, scenes.SIZE, 3), name="scene")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1, name="rescale")(inputs)
    skips = []
    for level, width in enumerate(filters[:-1]):
        x = double_conv(x, width, f"down{level}")
        skips.append(x)
        x = keras.layers.MaxPooling2D(2, name=f"down{level}_pool")(x)
    x = double_conv(x, filters[-1], "bottleneck")
    coarse_scores = []  # label scores of the coarse levels, upsampled to full size (FCN-style side outputs)
    for level in reversed(range(len(filters) - 1)):
        if level >= len(filters) - 1 - coarse_heads:
            factor = 2 ** (level + 1)
            scores = keras.layers.Conv2D(len(LABELS), 1, name=f"coarse{level + 1}_scores")(x)
            coarse_scores.append(
                keras.layers.UpSampling2D(
                    factor, interpolation="bilinear", name=f"coarse{level + 1}_upsample"
                )(scores)
            )
        width = filters[level]
        x = keras.layers.Conv2DTranspose(width, 2, strides=2, name=f"up{level}_transpose")(x)
        x = keras.layers.Concatenate(name=f"up{level}_skip")([x, skips[level]])
        x = double_conv(x, width, f"up{level}")
    fine_scores = keras.layers.Conv2D(len(LABELS), 1, name="fine_scores")(x)
    outputs = (
        keras.layers.Add(name="label_scores")([fine_scores, *coarse_scores]) if coarse_scores else fine_scores
    )
    return keras.Model(inputs, outputs, name="unet")


def is_three_level(path: pathlib.Path) -> bool:
    """Whether a stored U-Net is the 3-level one (its bottleneck has FILTERS[-2] filters), which `grow` takes."""
    with np.load(path) as stored:
        key = "unet:bottleneck_conv1/kernel"
        return key in stored.files and stored[key].shape[-1] == FILTERS[-2]


@dataclasses.dataclass(frozen=True)
class LayerRow:
    name: str
    kind: str  # Keras layer class, e.g. "Conv2DTranspose"
    output_shape: str  # e.g. "48 x 48 x 32" (batch left out)
    parameters: int


def describe_architecture(network=None) -> list[LayerRow]:
    """One row per layer of the U-Net (built without weights when `network` is None)."""
    network = network if network is not None else build_network()
    rows = []
    for layer in network.layers:
        shape = layer.output.shape if not isinstance(layer.output, (list, tuple)) else layer.output[0].shape
        rows.append(
            LayerRow(
                layer.name,
                type(layer).__name__,
                " x ".join(str(side) for side in shape[1:]),
                int(layer.count_params()),
            )
        )
    return rows


class SceneSegmenter:
    """The trained U-Net behind the segmentation page's `label_map(pixels)` protocol.

    It knows only 96 x 96 scenes: any other image is resized to that, and the label scores are
    resized back to the image before the argmax.
    """

    labels = LABELS

    def __init__(self, network, shifts: tuple[tuple[int, int], ...] | None = None):
        import tensorflow as tf

        self.network = network
        self.shifts = shifts  # None: TEST_TIME_SHIFTS (read when scoring)
        self._scores = tf.function(
            lambda images: tf.nn.softmax(network(images, training=False)),
            input_signature=[tf.TensorSpec([None, scenes.SIZE, scenes.SIZE, 3], tf.float32)],
        )

    def scores(self, images: np.ndarray) -> np.ndarray:
        """Label probabilities (B, 96, 96, len(LABELS)) for uint8 scenes (B, 96, 96, 3): the mean over the
        scene and its TEST_TIME_SHIFTS copies (or the segmenter's `shifts`), each shifted back."""
        if images.ndim != 4 or images.shape[1:] != (scenes.SIZE, scenes.SIZE, 3):
            raise InvalidInput(f"Expected scenes of {scenes.SIZE} x {scenes.SIZE} RGB pixels.")
        shifts = TEST_TIME_SHIFTS if self.shifts is None else self.shifts
        copies = 1 + len(shifts)
        chunk = max(1, PREDICT_BATCH // copies)  # the scenes whose copies go through the network as one batch
        averaged = []
        for start in range(0, len(images), chunk):
            part = images[start : start + chunk]
            batch = np.concatenate([part, *(shift_scenes(part, shift) for shift in shifts)])
            scores = (
                self._scores(batch.astype(np.float32))
                .numpy()
                .reshape(copies, len(part), *batch.shape[1:3], -1)
            )
            total = scores[0] + sum(
                shift_back(scores[index + 1], shift) for index, shift in enumerate(shifts)
            )
            averaged.append(total / copies)
        return np.concatenate(averaged)

    def predict(self, images: np.ndarray) -> np.ndarray:
        """uint8 label maps (B, 96, 96) for uint8 scenes (B, 96, 96, 3)."""
        return self.scores(images).argmax(-1).astype(np.uint8)

    def label_map(self, pixels: np.ndarray) -> np.ndarray:
        import cv2

        height, width = pixels.shape[:2]
        if (height, width) == (scenes.SIZE, scenes.SIZE):
            return self.predict(pixels[None])[0]
        resized = cv2.resize(pixels, (scenes.SIZE, scenes.SIZE), interpolation=cv2.INTER_AREA)
        scores = self.scores(resized[None])[0]
        # OpenCV resizes at most 4 channels at once with some interpolations; do them in groups.
        upsampled = np.concatenate(
            [
                cv2.resize(
                    scores[..., start : start + 4], (width, height), interpolation=cv2.INTER_LINEAR
                ).reshape(height, width, -1)
                for start in range(0, scores.shape[-1], 4)
            ],
            axis=-1,
        )
        return upsampled.argmax(-1).astype(np.uint8)


def shift_scenes(images: np.ndarray, shift: tuple[int, int]) -> np.ndarray:
    """Scenes (B, H, W, C) moved by shift = (dx, dy) pixels, the uncovered border mirrored from the scene."""
    return _shifted(images, shift, "reflect")


def shift_back(scores: np.ndarray, shift: tuple[int, int]) -> np.ndarray:
    """Undo `shift_scenes` on per-pixel scores (B, H, W, L); the border the shift lost repeats its edge."""
    return _shifted(scores, (-shift[0], -shift[1]), "edge")


def _shifted(array: np.ndarray, shift: tuple[int, int], border: str) -> np.ndarray:
    """(B, H, W, C) moved by (dx, dy) pixels, the uncovered border filled by np.pad's `border` mode."""
    dx, dy = shift
    margin = max(abs(dx), abs(dy))
    padded = np.pad(array, ((0, 0), (margin, margin), (margin, margin), (0, 0)), mode=border)
    height, width = array.shape[1:3]
    return np.ascontiguousarray(
        padded[:, margin - dy : margin - dy + height, margin - dx : margin - dx + width]
    )


def build(weights_path: pathlib.Path) -> SceneSegmenter:
    """The segmenter of stored float16 weights: the 4-level U-Net, or the 3-level one when they are its."""
    network = build_network(*architecture(3)) if is_three_level(weights_path) else build_network()
    weights_io.load_float16(network, weights_path)
    return SceneSegmenter(network)
