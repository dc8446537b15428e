"""U-Net trained here on the scenes' semantic label maps (background + 16 classes).

U-Net (Ronneberger, Fischer & Brox, "U-Net: Convolutional Networks for Biomedical Image
Segmentation", MICCAI 2015): a contracting path of 3x3 convolutions and 2x2 max pooling that
doubles the filters at each level, and an expanding path that upsamples with 2x2 transposed
convolutions and concatenates the contracting path's feature map of the same size (the skip
connection) before two more 3x3 convolutions, so the coarse "what" from the bottleneck meets the
fine "where" of the early layers. A 1x1 convolution gives a score per label and pixel. This one is
small: 3 poolings (96 -> 48 -> 24 -> 12), 16-32-64 filters down, 128 in the bottleneck; "same"
padding (the paper crops instead) and batch normalization after each convolution.

Trained on pre-generated training scenes with Adam and cross-entropy; the best epoch is picked by
mean IoU on validation scenes; the reported figures are on the fixed 500 test scenes
(`scenes.test_scenes()`). TensorFlow is imported inside functions only.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import time

import numpy as np

from engine import assets, project_weights, scene_metrics, scenes, weights_io
from engine.errors import InvalidInput
from engine.progress import ProgressCallback, StopCheck, never_stop, no_progress
from engine.registry import PROJECT_ASSETS

WEIGHTS = "scene_segmentation/unet.npz"  # under assets/, float16
LABELS = ("background", *scenes.CLASSES)  # index = value in the label map (scenes.Scene.label_map)
FILTERS = (16, 32, 64, 128)  # per level of the contracting path; the last is the 12 x 12 bottleneck
DEFAULT_EPOCHS = 3
TRAIN_SCENES = 6000  # pre-generated once per run (about 2 ms each); 3 epochs take ~18 min on one shared core
VALIDATION_SCENES = 200  # validation split, picks the best epoch
BATCH_SIZE = 16
LEARNING_RATE = 2e-3  # Adam, cosine-decayed to zero over the run
PREDICT_BATCH = 100
CHECKPOINTS = assets.cache_dir() / "train" / "unet"  # float32 best checkpoint, outside git


def build_network(filters: tuple[int, ...] = FILTERS):
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
    for level in reversed(range(len(filters) - 1)):
        width = filters[level]
        x = keras.layers.Conv2DTranspose(width, 2, strides=2, name=f"up{level}_transpose")(x)
        x = keras.layers.Concatenate(name=f"up{level}_skip")([x, skips[level]])
        x = double_conv(x, width, f"up{level}")
    outputs = keras.layers.Conv2D(len(LABELS), 1, name="label_scores")(x)
    return keras.Model(inputs, outputs, name="unet")


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
        rows.append(LayerRow(layer.name, type(layer).__name__, " x ".join(str(side) for side in shape[1:]),
                             int(layer.count_params())))
    return rows


class SceneSegmenter:
    """The trained U-Net behind the segmentation page's `label_map(pixels)` protocol.

    It knows only 96 x 96 scenes: any other image is resized to that, and the label scores are
    resized back to the image before the argmax.
    """

    labels = LABELS

    def __init__(self, network):
        import tensorflow as tf

        self.network = network
        self._scores = tf.function(lambda images: tf.nn.softmax(network(images, training=False)),
                                   input_signature=[tf.TensorSpec([None, scenes.SIZE, scenes.SIZE, 3], tf.float32)])

    def scores(self, images: np.ndarray) -> np.ndarray:
        """Label probabilities (B, 96, 96, len(LABELS)) for uint8 scenes (B, 96, 96, 3)."""
        if images.ndim != 4 or images.shape[1:] != (scenes.SIZE, scenes.SIZE, 3):
            raise InvalidInput(f"Expected scenes of {scenes.SIZE} x {scenes.SIZE} RGB pixels.")
        return np.concatenate([self._scores(images[start:start + PREDICT_BATCH].astype(np.float32)).numpy()
                               for start in range(0, len(images), PREDICT_BATCH)])

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
        upsampled = np.concatenate([cv2.resize(scores[..., start:start + 4], (width, height),
                                               interpolation=cv2.INTER_LINEAR).reshape(height, width, -1)
                                    for start in range(0, scores.shape[-1], 4)], axis=-1)
        return upsampled.argmax(-1).astype(np.uint8)


def build(weights_path: pathlib.Path) -> SceneSegmenter:
    network = build_network()
    weights_io.load_float16(network, weights_path)
    return SceneSegmenter(network)


def generate(split: str, count: int, start: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Scenes start .. start + count - 1 of a split: uint8 images (N, 96, 96, 3), label maps (N, 96, 96)."""
    items = [scenes.scene(split, index) for index in range(start, start + count)]
    return np.stack([item.image for item in items]), np.stack([item.label_map for item in items])


def measure(segmenter: SceneSegmenter, images: np.ndarray, truth: np.ndarray) -> dict:
    """Mean IoU over the 17 labels, pixel accuracy and each label's IoU, as measured."""
    started = time.perf_counter()
    predicted = segmenter.predict(images)
    milliseconds = (time.perf_counter() - started) * 1000 / len(images)
    result = scene_metrics.mean_iou(predicted, truth, len(LABELS))
    return {"mean_iou": result["mean_iou"], "pixel_accuracy": float(np.mean(predicted == truth)),
            "per_label": {LABELS[label]: round(iou, 4) for label, iou in result["per_label"].items()},
            "scenes": len(images), "ms_per_scene": round(milliseconds, 3)}


def evaluate_model(segmenter: SceneSegmenter, count: int = scenes.TEST_SCENES, split: str = "test") -> dict:
    """Figures on scenes 0 .. count - 1 of a split (default: the 500 held-out test scenes)."""
    images, truth = generate(split, count)
    return {**measure(segmenter, images, truth), "split": split}


def train(epochs: int | None = None, on_progress: ProgressCallback = no_progress, should_stop: StopCheck = never_stop,
          train_scenes: int = TRAIN_SCENES, validation_scenes: int = VALIDATION_SCENES,
          max_batches: int | None = None, seed: int = 0, output: pathlib.Path | None = None) -> dict:
    """Train the U-Net from scratch; keep the epoch with the best validation mean IoU.

    Args:
        epochs: passes over the training scenes (default DEFAULT_EPOCHS).
        train_scenes: how many training scenes to pre-generate.
        validation_scenes: how many validation scenes measure each epoch.
        max_batches: stop each epoch after this many batches (smoke tests; nothing is saved).
        output: where the float16 weights go (default: assets/WEIGHTS, recorded in the manifest).
    Returns:
        Per-epoch history and the test figures of the float16 weights, as measured.
    """
    import keras
    import tensorflow as tf

    epochs = epochs or DEFAULT_EPOCHS
    if epochs < 1 or train_scenes < BATCH_SIZE or validation_scenes < 1:
        raise InvalidInput(f"Train for at least 1 epoch on at least {BATCH_SIZE} scenes, with validation scenes.")
    started_run = time.perf_counter()
    on_progress(0.0, f"generating {train_scenes} training scenes")
    images, label_maps = generate("train", train_scenes)
    validation_images, validation_maps = generate("validation", validation_scenes)
    keras.utils.set_random_seed(seed)
    network = build_network()
    segmenter = SceneSegmenter(network)
    steps_per_epoch = train_scenes // BATCH_SIZE
    if max_batches is not None:
        steps_per_epoch = min(steps_per_epoch, max_batches)
    schedule = keras.optimizers.schedules.CosineDecay(LEARNING_RATE, epochs * steps_per_epoch)
    optimizer = keras.optimizers.Adam(schedule)
    variables = network.trainable_variables

    @tf.function(input_signature=[tf.TensorSpec([None, scenes.SIZE, scenes.SIZE, 3], tf.float32),
                                  tf.TensorSpec([None, scenes.SIZE, scenes.SIZE], tf.int32)])
    def step(batch_images, batch_maps):  # traced once for the whole run
        with tf.GradientTape() as tape:
            logits = network(batch_images, training=True)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(batch_maps, logits))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    rng = np.random.default_rng(seed)
    history: list[dict] = []
    best_iou = -1.0
    CHECKPOINTS.mkdir(parents=True, exist_ok=True)
    for epoch in range(epochs):
        started = time.perf_counter()
        order = rng.permutation(train_scenes)
        total_loss, seen = 0.0, 0
        for batch in range(steps_per_epoch):
            if should_stop():
                break
            index = np.sort(order[batch * BATCH_SIZE:(batch + 1) * BATCH_SIZE])
            loss = step(images[index].astype(np.float32), label_maps[index].astype(np.int32))
            total_loss += float(loss) * len(index)
            seen += len(index)
            if batch % 25 == 0:
                on_progress((epoch + batch / steps_per_epoch) / epochs,
                            f"unet epoch {epoch + 1}/{epochs}, batch {batch}/{steps_per_epoch}, loss {total_loss / seen:.4f}")
        if seen == 0:
            break
        validation = measure(segmenter, validation_images, validation_maps)
        history.append({"epoch": epoch + 1, "loss": total_loss / seen, "validation_mean_iou": validation["mean_iou"],
                        "validation_pixel_accuracy": validation["pixel_accuracy"],
                        "seconds": time.perf_counter() - started})
        on_progress((epoch + 1) / epochs, f"unet epoch {epoch + 1}: validation mean IoU {validation['mean_iou']:.4f}",
                    history[-1])
        if max_batches is None and validation["mean_iou"] > best_iou:
            best_iou = validation["mean_iou"]
            weights_io.save_float16(network, CHECKPOINTS / "best.npz", dtype=np.float32)
        if should_stop():
            break
    if max_batches is not None or not history:
        return {"name": "unet", "history": history}
    return {"name": "unet", "history": history,
            **finalize(history, epochs, train_scenes, validation_scenes, time.perf_counter() - started_run, output)}


def finalize(history: list[dict], epochs: int, train_scenes: int, validation_scenes: int, seconds: float,
             output: pathlib.Path | None = None) -> dict:
    """Store the best checkpoint as float16, measure that copy on the test scenes and record it."""
    network = build_network()
    weights_io.load_float16(network, CHECKPOINTS / "best.npz")
    target = output or PROJECT_ASSETS / WEIGHTS
    weights_io.save_float16(network, target)
    figures = evaluate_model(build(target))  # the float16 weights we commit, not the float32 ones
    if output is None:
        target.with_suffix(".history.json").write_text(json.dumps(history, indent=1))
        best = max(history, key=lambda entry: entry["validation_mean_iou"])
        project_weights.record(
            WEIGHTS, f"python -m engine train unet --epochs {epochs} ({train_scenes} training scenes; best of "
            f"{len(history)} epochs on {validation_scenes} validation scenes: epoch {best['epoch']}; "
            f"{seconds / 60:.0f} min on 2 shared CPU cores)",
            f"test scenes ({figures['scenes']}): mean IoU {figures['mean_iou']:.4f} over {len(LABELS)} labels, "
            f"pixel accuracy {figures['pixel_accuracy']:.4f}")
    return figures
