"""What the network learned: Grad-CAM, activation maps and feature visualization.

- Grad-CAM (Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via Gradient-based
  Localization", ICCV 2017): the last convolutional feature maps, weighted by the spatial mean of the
  class logit's gradient, summed and rectified, show where the evidence for a class lies.
- Activation maps: the channels of one layer for one image, strongest first.
- Feature visualization (Erhan et al. 2009; Olah, Mordvintsev & Schubert, "Feature
  Visualization", Distill 2017): gradient ascent from noise on a channel's mean activation, with the
  usual regularisers, jitter (a random shift each step) and a periodic Gaussian blur, plus a slight
  decay, so that the image shows patterns rather than high-frequency noise. The same machinery
  draws a direction in activation space (a mixture of channels) for the activation atlas.

Functions take uint8 RGB pixels and a loaded inspectable model and return plain arrays; drawing
(colormaps, grids, overlays) is kept in separate functions.
"""

from __future__ import annotations

import dataclasses
import threading
import time

import cv2
import numpy as np

from engine.core import registry
from engine.core.errors import InvalidInput
from engine.core.progress import ProgressCallback, StopCheck, never_stop, no_progress
from engine.features import extractors

GRADCAM_SIDE = 448  # longest side Grad-CAM looks at on any-size models (14 x 9 cells at stride 32)
ACTIVATION_SIDE = 224  # shorter side of the image whose activations are shown
MAX_INPUT_SIDE = 1024  # longest side any image is resized to for the model (extreme aspect ratios)
MAX_CHANNELS_SHOWN = 64
VISUALIZATION_SIZE = 128  # side of a feature visualization, pixels
MAX_VISUALIZATION_SIZE = 256
VISUALIZATION_STEPS = 96
MAX_VISUALIZATION_STEPS = 512
VISUALIZATION_STEP_SIZE = 0.04  # per step in the [-1, 1] pixel scale, gradient at unit std
JITTER = 4  # pixels of random shift per step: patterns must survive being moved
BLUR_EVERY = 4  # steps between Gaussian blurs, which damp high frequencies
BLUR_SIGMA = 0.8  # pixels
DECAY = 0.002  # pulls pixels towards grey each step (an L2 penalty)


@dataclasses.dataclass(frozen=True)
class ClassScore:
    label: str
    probability: float


@dataclasses.dataclass(frozen=True)
class GradCamResult:
    heatmap: np.ndarray  # float32 (height, width) in [0, 1], the input image's size
    class_index: int
    label: str
    probability: float  # softmax probability of that class
    top: tuple[ClassScore, ...]  # the head's five best classes
    layer: str  # the feature map the gradients were taken at
    input_size: tuple[int, int]  # (height, width) the model saw
    ms: float

    def to_json(self) -> dict:
        return {
            "class_index": self.class_index,
            "label": self.label,
            "probability": round(self.probability, 6),
            "layer": self.layer,
            "input_size": list(self.input_size),
            "ms": round(self.ms, 3),
            "top": [{"label": score.label, "probability": round(score.probability, 6)} for score in self.top],
        }


@dataclasses.dataclass(frozen=True)
class ActivationMaps:
    maps: np.ndarray  # float32 (count, height, width), raw activations
    channels: tuple[int, ...]  # channel index of each map
    means: tuple[float, ...]  # mean activation of each shown channel
    layer: str
    total_channels: int


@dataclasses.dataclass(frozen=True)
class FeatureVisualization:
    pixels: np.ndarray  # uint8 (count, size, size, 3), contrast stretched per image
    objectives: tuple[float, ...]  # mean objective per step
    seconds: float


_CACHE: dict[tuple, object] = {}
_CACHE_LOCK = threading.Lock()


def _cached(key: tuple, build):
    """One compiled helper per model and layer in this process, shared by every session."""
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = build()
        return _CACHE[key]


def _check_pixels(pixels: np.ndarray) -> None:
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        raise InvalidInput("Expected an RGB image of uint8 pixels.")


def model_input(pixels: np.ndarray, model: extractors.FeatureModel, side: int, longest: bool) -> np.ndarray:
    """The image resized for the model: its fixed input size, or `side` pixels on the longest
    (or shortest) side rounded to a multiple of 32 (MobileNetV2 and InceptionV3 stride)."""
    fixed = tuple(model.backbone.input.shape[1:3])
    if None not in fixed:
        height, width = int(fixed[0]), int(fixed[1])
    else:
        scale = side / (max(pixels.shape[:2]) if longest else min(pixels.shape[:2]))
        # A 2 x 3000 strip scaled to a 224-px short side would be 336,000 px long (and crash the
        # convolution): the long side never exceeds MAX_INPUT_SIDE, whatever the aspect ratio.
        scale = min(scale, MAX_INPUT_SIDE / max(pixels.shape[:2]))
        height, width = (max(32, round(extent * scale / 32) * 32) for extent in pixels.shape[:2])
    shrinking = height * width < pixels.shape[0] * pixels.shape[1]
    resized = cv2.resize(
        pixels, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    )
    return model.preprocess(resized)


def class_index_of(model: extractors.FeatureModel, class_name: str) -> int:
    """The index of a class given by name (case-insensitive) or number."""
    wanted = class_name.strip().lower()
    for index, label in enumerate(model.labels):
        if label.lower() == wanted:
            return index
    if wanted.isdigit() and int(wanted) < len(model.labels):
        return int(wanted)
    shown = ", ".join(model.labels[:25]) + (", ..." if len(model.labels) > 25 else "")
    raise InvalidInput(f"Unknown class '{class_name}'. This model's classes: {shown}")


def gradcam(
    pixels: np.ndarray, loaded: registry.LoadedModel, class_name: str | None = None, layer: str | None = None
) -> GradCamResult:
    """Grad-CAM heatmap of the head's top class, or of `class_name`.

    Raises:
        InvalidInput: the model has no classifier head, or the class or layer is unknown.
    """
    _check_pixels(pixels)
    model = extractors.feature_model_of(loaded)
    if model.classifier is None:
        raise InvalidInput(
            f"{loaded.spec.title} has no classifier head, so there is no class to explain. "
            "Choose a model with a head for Grad-CAM."
        )
    layer = layer or model.gradcam_layer
    import keras
    import tensorflow as tf

    try:
        conv_output = model.classifier.get_layer(layer).output
    except ValueError as error:
        raise InvalidInput(f"The classifier has no layer '{layer}'.") from error
    started = time.perf_counter()
    grad_model = _cached(
        ("gradcam", id(model.classifier), layer),
        lambda: keras.Model(model.classifier.input, [conv_output, model.classifier.output]),
    )
    batch = model_input(pixels, model, GRADCAM_SIDE, longest=True)[None]
    with tf.GradientTape() as tape:
        maps, logits = grad_model(batch, training=False)
        index = int(tf.argmax(logits[0])) if class_name is None else class_index_of(model, class_name)
        score = logits[0, index]
    gradients = tape.gradient(score, maps)
    weights = tf.reduce_mean(gradients, axis=(0, 1, 2))  # one weight per channel
    cam = tf.nn.relu(tf.reduce_sum(maps[0] * weights, axis=-1)).numpy()
    heatmap = cv2.resize(cam, (pixels.shape[1], pixels.shape[0]), interpolation=cv2.INTER_LINEAR)
    heatmap = (heatmap / heatmap.max() if heatmap.max() > 0 else heatmap).astype(np.float32)
    probabilities = tf.nn.softmax(logits[0]).numpy()
    best = np.argsort(probabilities)[::-1][:5]
    return GradCamResult(
        heatmap=heatmap,
        class_index=index,
        label=model.labels[index],
        probability=float(probabilities[index]),
        top=tuple(ClassScore(model.labels[i], float(probabilities[i])) for i in best),
        layer=layer,
        input_size=(int(batch.shape[1]), int(batch.shape[2])),
        ms=(time.perf_counter() - started) * 1000,
    )


def overlay_heatmap(pixels: np.ndarray, heatmap: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """The image with a JET-coloured heatmap blended over it (uint8 RGB)."""
    colored = cv2.applyColorMap(np.uint8(np.clip(heatmap, 0, 1) * 255), cv2.COLORMAP_JET)[..., ::-1]
    return np.uint8(np.clip((1 - alpha) * pixels + alpha * colored, 0, 255))


def activation_maps(
    pixels: np.ndarray, loaded: registry.LoadedModel, layer: str, count: int = 16
) -> ActivationMaps:
    """The `count` most active channels of `layer` for this image, strongest first.

    Raises:
        InvalidInput: unknown layer or count out of range.
    """
    _check_pixels(pixels)
    if not 1 <= count <= MAX_CHANNELS_SHOWN:
        raise InvalidInput(f"Show between 1 and {MAX_CHANNELS_SHOWN} channels, not {count}.")
    model = extractors.feature_model_of(loaded)
    (layer,) = model.check_layers([layer])
    extractor = _cached(("layer", id(model.backbone), layer), lambda: model.layer_model(layer))
    batch = model_input(pixels, model, ACTIVATION_SIDE, longest=False)[None]
    # A direct call, not predict_on_batch: that retraces for every new image size.
    activations = np.asarray(extractor(batch, training=False))[0]  # (height, width, channels)
    means = activations.mean(axis=(0, 1))
    order = np.argsort(means)[::-1][:count]
    return ActivationMaps(
        maps=np.moveaxis(activations[..., order], -1, 0).astype(np.float32),
        channels=tuple(int(c) for c in order),
        means=tuple(float(means[c]) for c in order),
        layer=layer,
        total_channels=int(activations.shape[-1]),
    )


def colorize(values: np.ndarray) -> np.ndarray:
    """A 2-D array scaled to its own range and drawn with the viridis colormap (uint8 RGB)."""
    low, high = float(values.min()), float(values.max())
    scaled = np.uint8(255 * (values - low) / (high - low)) if high > low else np.zeros(values.shape, np.uint8)
    return cv2.applyColorMap(scaled, cv2.COLORMAP_VIRIDIS)[..., ::-1]


def grid_image(tiles: np.ndarray, columns: int, tile_side: int = 96, gap: int = 2) -> np.ndarray:
    """Arrange (count, h, w[, 3]) tiles in a grid; 2-D tiles are colorized one by one."""
    count = len(tiles)
    rows = -(-count // columns)
    canvas = np.full((rows * (tile_side + gap) - gap, columns * (tile_side + gap) - gap, 3), 255, np.uint8)
    for index, tile in enumerate(tiles):
        picture = colorize(tile) if tile.ndim == 2 else tile
        picture = cv2.resize(
            picture,
            (tile_side, tile_side),
            interpolation=cv2.INTER_NEAREST if picture.shape[0] < tile_side else cv2.INTER_AREA,
        )
        top, left = (index // columns) * (tile_side + gap), (index % columns) * (tile_side + gap)
        canvas[top : top + tile_side, left : left + tile_side] = picture
    return canvas


class Visualizer:
    """Gradient ascent from noise towards directions in one layer's activation space.

    The objective of image i is the dot product of its spatially averaged activation with the unit
    direction d_i, times the cosine between them raised to `cosine_power` (0 for a single channel;
    1 for atlas cells, as Carter et al. do, so the image matches the direction, not just its
    length). One `tf.function` with a fixed signature serves every batch size and channel.
    """

    def __init__(self, model: extractors.FeatureModel, layer: str):
        import tensorflow as tf

        extractor = model.layer_model(layer, before_activation=True)

        @tf.function(
            input_signature=[
                tf.TensorSpec([None, None, None, 3], tf.float32),
                tf.TensorSpec([None, None], tf.float32),
                tf.TensorSpec([], tf.float32),
                tf.TensorSpec([], tf.float32),
                tf.TensorSpec([2], tf.int32),
            ]
        )
        def step(images, directions, cosine_power, step_size, shift):
            shifted = tf.roll(images, shift=shift, axis=[1, 2])  # jitter
            with tf.GradientTape() as tape:
                tape.watch(shifted)
                activations = extractor(shifted, training=False)
                mean = tf.reduce_mean(activations, axis=[1, 2])
                dot = tf.reduce_sum(mean * directions, axis=-1)
                cosine = dot / (tf.norm(mean, axis=-1) + 1e-6)
                objective = dot * tf.pow(tf.clip_by_value(cosine, 0.1, 1.0), cosine_power)
                total = tf.reduce_sum(objective)  # images are independent: each gets its own gradient
            gradients = tf.roll(tape.gradient(total, shifted), shift=-shift, axis=[1, 2])
            gradients /= tf.math.reduce_std(gradients, axis=[1, 2, 3], keepdims=True) + 1e-8
            updated = tf.clip_by_value((images + step_size * gradients) * (1 - DECAY), -1.0, 1.0)
            return updated, tf.reduce_mean(objective)

        self.step = step
        self.channels = int(extractor.output.shape[-1])


def visualize(
    loaded: registry.LoadedModel,
    layer: str,
    directions: np.ndarray,
    size: int = VISUALIZATION_SIZE,
    steps: int = VISUALIZATION_STEPS,
    cosine_power: float = 0.0,
    seed: int = 0,
    on_progress: ProgressCallback = no_progress,
    should_stop: StopCheck = never_stop,
) -> FeatureVisualization:
    """Images that excite `layer` along each row of `directions` (count, channels).

    Raises:
        InvalidInput: unknown layer, wrong direction width, or size/steps out of range.
    """
    model = extractors.feature_model_of(loaded)
    (layer,) = model.check_layers([layer])
    if not max(model.min_side, 32) <= size <= MAX_VISUALIZATION_SIZE:
        raise InvalidInput(
            f"The image size must be between {max(model.min_side, 32)} and "
            f"{MAX_VISUALIZATION_SIZE} pixels, not {size}."
        )
    if not 1 <= steps <= MAX_VISUALIZATION_STEPS:
        raise InvalidInput(f"Steps must be between 1 and {MAX_VISUALIZATION_STEPS}, not {steps}.")
    import tensorflow as tf

    started = time.perf_counter()
    visualizer = _cached(("visualizer", id(model.backbone), layer), lambda: Visualizer(model, layer))
    directions = np.atleast_2d(np.asarray(directions, np.float32))
    if directions.shape[1] != visualizer.channels:
        raise InvalidInput(f"Layer {layer} has {visualizer.channels} channels, not {directions.shape[1]}.")
    directions = directions / (np.linalg.norm(directions, axis=1, keepdims=True) + 1e-8)
    random = np.random.default_rng(seed)
    fixed = tuple(model.backbone.input.shape[1:3])
    height, width = (size, size) if None in fixed else (int(fixed[0]), int(fixed[1]))
    images = (random.standard_normal((len(directions), height, width, 3)) * 0.1).astype(np.float32)
    tensor, objectives = tf.constant(images), []
    arguments = (
        tf.constant(directions),
        tf.constant(cosine_power, tf.float32),
        tf.constant(VISUALIZATION_STEP_SIZE, tf.float32),
    )
    for step in range(steps):
        if should_stop():
            break
        shift = tf.constant(random.integers(-JITTER, JITTER + 1, 2), tf.int32)
        tensor, objective = visualizer.step(tensor, *arguments, shift)
        objectives.append(float(objective))
        if (step + 1) % BLUR_EVERY == 0 and step + 1 < steps:
            blurred = np.stack([cv2.GaussianBlur(image, (0, 0), BLUR_SIGMA) for image in tensor.numpy()])
            tensor = tf.constant(blurred)
        on_progress((step + 1) / steps, f"step {step + 1}/{steps}, objective {objectives[-1]:.3f}")
    return FeatureVisualization(
        pixels=np.stack([stretch_contrast(image) for image in tensor.numpy()]),
        objectives=tuple(objectives),
        seconds=time.perf_counter() - started,
    )


def stretch_contrast(values: np.ndarray) -> np.ndarray:
    """Float values to uint8, the 1st..99th percentile spread over 0..255.

    Feature visualizations drift little from grey (the decay and blur hold them back); stretching
    each one shows its pattern at full contrast, as Distill's figures do.
    """
    low, high = np.percentile(values, [1, 99])
    return np.uint8(np.clip((values - low) / max(high - low, 1e-6) * 255, 0, 255))


def visualize_channel(
    loaded: registry.LoadedModel, layer: str, channel: int, **options
) -> FeatureVisualization:
    """A feature visualization of one channel (see `visualize` for the options).

    Raises:
        InvalidInput: the channel is not in the layer.
    """
    model = extractors.feature_model_of(loaded)
    (layer,) = model.check_layers([layer])
    channels = int(model.backbone.get_layer(layer).output.shape[-1])
    if not 0 <= channel < channels:
        raise InvalidInput(f"Layer {layer} has channels 0 to {channels - 1}; {channel} is not one of them.")
    return visualize(loaded, layer, np.eye(channels, dtype=np.float32)[channel], **options)
