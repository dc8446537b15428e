"""DeepDream: gradient ascent on a photo to amplify what chosen layers respond to.

After Mordvintsev, Olah & Tyka, "Inceptionism: Going Deeper into Neural Networks" (Google Research,
2015), as the chapter and the TensorFlow DeepDream tutorial write it: the loss is the mean
activation of the chosen layers; each step adds the loss's gradient to the image, normalised by its
standard deviation. Two refinements from the tutorial: octaves (run on a small copy first, then
enlarge by OCTAVE_SCALE and continue, so patterns appear at several scales) and random-shift
tiled gradients (the gradient is computed tile by tile, so memory stays bounded however large the
image; a random roll each step hides the tile seams).

The whole step (roll, per-tile gradients, normalisation, update, clip) is one `tf.function` with a
fixed input signature of unknown height and width, so it is traced once per model and layer choice
and never again, whatever the octave sizes: about 4x faster than the eager loop on CPU
(`make bench`). `jit_compile` stays off: XLA on CPU skips oneDNN's convolutions and is slower.
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

OCTAVE_SCALE = 1.3  # size ratio between successive octaves (the tutorial's)
DEFAULT_STEPS = 20  # gradient steps per octave
MAX_STEPS = 200  # per octave
DEFAULT_STEP_SIZE = 0.01  # pixels are in [-1, 1]; the gradient has unit standard deviation
MAX_STEP_SIZE = 0.2  # beyond this the image saturates to noise within a few steps
DEFAULT_OCTAVES = 3
MAX_OCTAVES = 6
DEFAULT_OUTPUT_SIZE = 768  # longest side of the result; 1024 px costs ~0.3 s a step on 2 cores
MIN_OUTPUT_SIZE = 64
MAX_OUTPUT_SIZE = 2048
TILE_SIZE = 512  # gradients are computed per tile of at most this side: bounds the memory
PREVIEWS_PER_OCTAVE = 4  # intermediate images sent to the progress callback


@dataclasses.dataclass(frozen=True)
class DreamSettings:
    """What to dream and how hard; `validate` checks every bound."""

    layers: tuple[str, ...]  # layers whose mean activation is maximised
    steps: int = DEFAULT_STEPS  # gradient steps per octave
    step_size: float = DEFAULT_STEP_SIZE  # per step, in the [-1, 1] pixel scale
    octaves: int = DEFAULT_OCTAVES  # scales, smallest first, each OCTAVE_SCALE times the last
    output_size: int = DEFAULT_OUTPUT_SIZE  # longest side of the result, pixels
    tile_size: int = TILE_SIZE  # largest tile a gradient is computed on
    seed: int = 0  # random shifts; the same seed gives the same dream


@dataclasses.dataclass(frozen=True)
class DreamResult:
    pixels: np.ndarray  # uint8 (height, width, 3), RGB
    original: np.ndarray  # the input, resized to the result's size (for side-by-side)
    model: str  # registry name
    source: str  # where the weights came from, in words
    settings: DreamSettings
    losses: tuple[float, ...]  # the loss at each step, octaves in order
    octave_sizes: tuple[tuple[int, int], ...]  # (height, width) of each octave
    seconds: float  # the whole dream, resizing included
    ms_per_step: float  # median time of one gradient step
    traces: int  # times the step function was traced: 1 unless shapes forced a retrace
    stopped: bool  # True when the user stopped it early

    def to_json(self) -> dict:
        return {
            "model": self.model,
            "source": self.source,
            "layers": list(self.settings.layers),
            "steps": self.settings.steps,
            "step_size": self.settings.step_size,
            "octaves": self.settings.octaves,
            "octave_scale": OCTAVE_SCALE,
            "output_size": self.settings.output_size,
            "tile_size": self.settings.tile_size,
            "seed": self.settings.seed,
            "octave_sizes": [list(size) for size in self.octave_sizes],
            "height": int(self.pixels.shape[0]),
            "width": int(self.pixels.shape[1]),
            "first_loss": round(self.losses[0], 6) if self.losses else None,
            "last_loss": round(self.losses[-1], 6) if self.losses else None,
            "seconds": round(self.seconds, 3),
            "ms_per_step": round(self.ms_per_step, 3),
            "traces": self.traces,
            "stopped": self.stopped,
        }


def validate(settings: DreamSettings, model: extractors.FeatureModel) -> DreamSettings:
    """The settings with layers de-duplicated; raises `InvalidInput` naming the bad one."""
    layers = model.check_layers(settings.layers)
    if not 1 <= settings.steps <= MAX_STEPS:
        raise InvalidInput(f"Steps per octave must be between 1 and {MAX_STEPS}, not {settings.steps}.")
    if not 0 < settings.step_size <= MAX_STEP_SIZE:
        raise InvalidInput(
            f"The step size must be above 0 and at most {MAX_STEP_SIZE}, not {settings.step_size}."
        )
    if not 1 <= settings.octaves <= MAX_OCTAVES:
        raise InvalidInput(f"Octaves must be between 1 and {MAX_OCTAVES}, not {settings.octaves}.")
    if not MIN_OUTPUT_SIZE <= settings.output_size <= MAX_OUTPUT_SIZE:
        raise InvalidInput(
            f"The output size must be between {MIN_OUTPUT_SIZE} and {MAX_OUTPUT_SIZE} "
            f"pixels, not {settings.output_size}."
        )
    # Tiles split the image evenly, so the smallest is over half the tile size.
    if not 2 * model.min_side <= settings.tile_size <= MAX_OUTPUT_SIZE:
        raise InvalidInput(
            f"The tile size must be between {2 * model.min_side} and {MAX_OUTPUT_SIZE} pixels."
        )
    return dataclasses.replace(settings, layers=layers)


def octave_sizes(height: int, width: int, settings: DreamSettings, min_side: int) -> list[tuple[int, int]]:
    """(height, width) per octave, smallest first; the last has `output_size` as its longest side.

    Raises:
        InvalidInput: the smallest octave would be smaller than the model accepts.
    """
    scale = settings.output_size / max(height, width)
    final = (max(1, round(height * scale)), max(1, round(width * scale)))
    sizes = []
    for octave in range(settings.octaves - 1, -1, -1):
        shrink = OCTAVE_SCALE**octave
        sizes.append((round(final[0] / shrink), round(final[1] / shrink)))
    if min(final) < min_side:  # No setting helps: the photo itself is too narrow for its length.
        raise InvalidInput(
            f"The photo is {width} x {height} pixels: at {settings.output_size} px on its long side "
            f"its short side would be {min(final)} px, below this model's minimum of {min_side}. "
            "Crop it to a less elongated shape or choose a larger output size."
        )
    if min(sizes[0]) < min_side:
        raise InvalidInput(
            f"With {settings.octaves} octaves the smallest is {sizes[0][1]} x {sizes[0][0]} "
            f"pixels, below this model's minimum of {min_side}: use fewer octaves or a "
            "larger output size."
        )
    return sizes


class Dreamer:
    """The compiled DeepDream step for one model and one choice of layers."""

    def __init__(self, model: extractors.FeatureModel, layers: tuple[str, ...], tile_size: int = TILE_SIZE):
        import tensorflow as tf

        self.layers = layers
        self.tile_size = tile_size
        extractor = model.submodel(layers)

        def tile_loss(tile):
            activations = extractor(tile[None], training=False)
            if not isinstance(activations, (list, tuple)):  # Keras unwraps a one-output list
                activations = [activations]
            # The chapter's loss: the mean activation of each chosen layer, summed over layers.
            return tf.add_n([tf.reduce_mean(activation) for activation in activations])

        @tf.function(
            input_signature=[
                tf.TensorSpec([None, None, 3], tf.float32),
                tf.TensorSpec([2], tf.int32),
                tf.TensorSpec([], tf.float32),
            ]
        )
        def step(image, shift, step_size):
            rolled = tf.roll(image, shift=shift, axis=[0, 1])
            height, width = tf.shape(rolled)[0], tf.shape(rolled)[1]
            # Equal tiles no larger than tile_size that cover the whole image.
            rows, columns = (height + tile_size - 1) // tile_size, (width + tile_size - 1) // tile_size
            tile_height, tile_width = (height + rows - 1) // rows, (width + columns - 1) // columns
            gradients = tf.zeros_like(rolled)
            total = tf.constant(0.0)
            for top in tf.range(0, height, tile_height):
                for left in tf.range(0, width, tile_width):
                    with tf.GradientTape() as tape:
                        tape.watch(rolled)
                        loss = tile_loss(rolled[top : top + tile_height, left : left + tile_width])
                    gradients += tape.gradient(loss, rolled)
                    total += loss
            gradients = tf.roll(gradients, shift=-shift, axis=[0, 1])
            gradients /= tf.math.reduce_std(gradients) + 1e-8  # the chapter's normalisation
            dreamed = tf.clip_by_value(image + gradients * step_size, -1.0, 1.0)
            return dreamed, total / tf.cast(rows * columns, tf.float32)

        self.step = step

    @property
    def traces(self) -> int:
        return self.step.experimental_get_tracing_count()


_DREAMERS: dict[tuple[int, tuple[str, ...], int], Dreamer] = {}
_DREAMERS_LOCK = threading.Lock()


def dreamer_for(
    model: extractors.FeatureModel, layers: tuple[str, ...], tile_size: int = TILE_SIZE
) -> Dreamer:
    """One `Dreamer` per (model, layers, tile size) in this process, shared by every session."""
    key = (id(model.backbone), layers, tile_size)
    with _DREAMERS_LOCK:
        if key not in _DREAMERS:
            _DREAMERS[key] = Dreamer(model, layers, tile_size)
        return _DREAMERS[key]


def _resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    height, width = size
    shrinking = height * width < image.shape[0] * image.shape[1]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)


def dream(
    pixels: np.ndarray,
    loaded: registry.LoadedModel,
    settings: DreamSettings,
    on_progress: ProgressCallback = no_progress,
    should_stop: StopCheck = never_stop,
) -> DreamResult:
    """DeepDream an RGB image.

    Args:
        pixels: uint8 (height, width, 3), RGB.
        loaded: a feature model from `registry.load` (task "features").
        settings: layers, steps, step size, octaves and output size; see `validate`.
        on_progress: called after steps with (fraction, message, preview uint8 image or None).
        should_stop: polled every step; when true the dream ends early and is returned as is.
    Returns:
        The dreamed image at `output_size` (longest side) with the losses and timings.
    Raises:
        InvalidInput: a setting is out of range, a layer is unknown, or the image is not RGB.
    """
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        raise InvalidInput("Expected an RGB image of uint8 pixels.")
    model = extractors.feature_model_of(loaded)
    settings = validate(settings, model)
    sizes = octave_sizes(pixels.shape[0], pixels.shape[1], settings, model.min_side)
    import tensorflow as tf

    started = time.perf_counter()
    dreamer = dreamer_for(model, settings.layers, settings.tile_size)
    random = np.random.default_rng(settings.seed)
    image = model.preprocess(_resize(pixels, sizes[0]))
    losses: list[float] = []
    step_seconds: list[float] = []
    total_steps = settings.steps * len(sizes)
    preview_every = max(1, settings.steps // PREVIEWS_PER_OCTAVE)
    step_size = tf.constant(settings.step_size, tf.float32)
    stopped = False
    for octave, size in enumerate(sizes):
        if octave:  # Enlarge the dream so far; the next octave adds detail at the finer scale.
            image = cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_CUBIC)
        tensor = tf.constant(image)
        for step in range(settings.steps):
            if should_stop():
                stopped = True
                break
            shift = tf.constant(random.integers(-settings.tile_size, settings.tile_size, 2), tf.int32)
            step_started = time.perf_counter()
            tensor, loss = dreamer.step(tensor, shift, step_size)
            losses.append(float(loss))  # float() waits for the step, so the timing is honest
            step_seconds.append(time.perf_counter() - step_started)
            done = octave * settings.steps + step + 1
            preview = model.deprocess(tensor.numpy()) if (step + 1) % preview_every == 0 else None
            on_progress(
                done / total_steps,
                f"octave {octave + 1}/{len(sizes)} ({size[1]} x {size[0]}), "
                f"step {step + 1}/{settings.steps}, loss {losses[-1]:.4f}",
                preview,
            )
        image = tensor.numpy()
        if stopped:
            break
    result = model.deprocess(cv2.resize(image, (sizes[-1][1], sizes[-1][0]), interpolation=cv2.INTER_CUBIC))
    return DreamResult(
        pixels=result,
        original=_resize(pixels, sizes[-1]),
        model=loaded.spec.name,
        source=loaded.source.describe(),
        settings=settings,
        losses=tuple(losses),
        octave_sizes=tuple(sizes),
        seconds=time.perf_counter() - started,
        ms_per_step=float(np.median(step_seconds) * 1000) if step_seconds else 0.0,
        traces=dreamer.traces,
        stopped=stopped,
    )
