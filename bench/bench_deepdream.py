"""DeepDream step: our compiled step against the chapter's eager loop (issue: DeepDream page).

Same model (the offline MobileNetV2 extractors), same photo (chelsea.jpg at 512 px), same layers, same
number of steps. Baseline: the loop as the chapter and the TensorFlow DeepDream tutorial write it,
eager `GradientTape`, `gradients /= gradients.numpy().std() + 1e-8`, `img.assign_add(...)`. Ours:
`Dreamer.step`, one `tf.function` with a fixed input signature (random roll, tiled gradients,
normalisation, update, clip). Target: ours at least 3x faster per step.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from engine.core import media, registry
from engine.core.registry import PROJECT_ASSETS
from engine.features import deepdream, extractors

SIDE = 512  # longest side, pixels
STEPS = 10  # timed steps per round
ROUNDS = 3  # rounds alternate between the two loops, so background load hits both alike
STEP_SIZE = 0.01


def chapter_eager_loop(extractor, image: np.ndarray, steps: int) -> float:
    """The chapter's loop, eager; returns the median seconds per step."""
    import tensorflow as tf

    img = tf.Variable(image)
    times = []
    for _ in range(steps):
        started = time.perf_counter()
        with tf.GradientTape() as tape:
            activations = extractor(tf.expand_dims(img, axis=0))
            loss = tf.add_n([tf.math.reduce_mean(activation) for activation in activations])
        gradients = tape.gradient(loss, img)
        gradients /= gradients.numpy().std() + 1e-8
        img.assign_add(gradients * STEP_SIZE)
        img.numpy()  # wait for the update, as our loop waits for its loss
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def our_loop(dreamer: deepdream.Dreamer, image: np.ndarray, steps: int) -> float:
    import tensorflow as tf

    random = np.random.default_rng(0)
    tensor, step_size, times = tf.constant(image), tf.constant(STEP_SIZE), []
    for _ in range(steps):
        started = time.perf_counter()
        tensor, loss = dreamer.step(tensor, tf.constant(random.integers(-512, 512, 2), tf.int32), step_size)
        float(loss)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    loaded = registry.load(extractors.DEFAULT_MODEL)
    model = loaded.model
    layers = model.dream_layers
    pixels = media.decode_image((PROJECT_ASSETS / "samples" / "chelsea.jpg").read_bytes()).pixels
    size = deepdream.octave_sizes(
        *pixels.shape[:2], deepdream.DreamSettings(layers, octaves=1, output_size=SIDE), 32
    )[0]
    image = model.preprocess(deepdream._resize(pixels, size))
    extractor = model.submodel(layers)
    dreamer = deepdream.dreamer_for(model, layers)
    chapter_eager_loop(extractor, image, 2)  # warm-up: first calls build kernels
    our_loop(dreamer, image, 2)  # warm-up: traces the step once
    eager, ours = [], []
    for _ in range(ROUNDS):
        eager.append(chapter_eager_loop(extractor, image, STEPS))
        ours.append(our_loop(dreamer, image, STEPS))
    eager_ms, ours_ms = statistics.median(eager) * 1000, statistics.median(ours) * 1000
    print(
        f"DeepDream step, {size[1]} x {size[0]} px, layers {', '.join(layers)}, {STEPS} steps x {ROUNDS} rounds:"
    )
    print(f"  {'chapter eager GradientTape loop (baseline)':<58} {eager_ms:9.2f} ms")
    print(
        f"  {'our tf.function step (fixed signature, tiled)':<58} {ours_ms:9.2f} ms   "
        f"{eager_ms / ours_ms:5.2f}x faster"
    )
    print(f"  target: >= 3x; step traced {dreamer.traces}x")
