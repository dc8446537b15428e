""" "Scenes": labelled detection and segmentation data made here from real object images.

Real handwritten digits (MNIST) and clothing items (Fashion-MNIST) are pasted, in random colours,
positions and sizes, over procedurally textured backgrounds. Every scene comes with the exact box,
class and visible-pixel mask of each object, so detectors (R-CNN family, YOLO), classification +
localization, U-Net and Mask R-CNN all train and are measured on the same ground truth.

- Deterministic: scene `index` of a split is drawn from `numpy.random.default_rng((split seed, index))`,
  so the same (split, index) is the same scene on every machine and every run.
- Fixed, disjoint splits: train scenes paste objects from the training images of MNIST and
  Fashion-MNIST only, validation scenes from their validation images, test scenes from their test
  images; no object image appears in two splits.
- Variants: `scene(..., single=True)` has exactly one larger object (classification + localization);
  the default has 1 to MAX_OBJECTS objects that overlap each other by at most MAX_OVERLAP IoU.

Six Fashion-MNIST classes are used, the ones that look unlike each other at this size; the four
upper-body garments (T-shirt, pullover, coat, shirt) are left out because even full-size Fashion-MNIST
classifiers confuse them with each other (a CNN's "shirt" accuracy is about 70%), which would measure
that confusion rather than detection.
"""

from __future__ import annotations

import dataclasses
import functools

import cv2
import numpy as np

from engine.core.errors import InvalidInput
from engine.data import mnist

SIZE = 96  # scenes are SIZE x SIZE RGB
MAX_OBJECTS = 4
MAX_OVERLAP = 0.15  # IoU bound between two objects' boxes in one scene
OBJECT_SIDE = (20, 40)  # long side of a pasted object, pixels (multi-object scenes)
SINGLE_OBJECT_SIDE = (24, 60)  # the single-object variant
FASHION_CLASSES = (1, 3, 5, 7, 8, 9)  # trouser, dress, sandal, sneaker, bag, ankle boot
CLASSES = tuple(str(digit) for digit in range(10)) + tuple(
    mnist.FASHION_LABELS[index].lower() for index in FASHION_CLASSES
)
SPLITS = {"train": 1, "validation": 2, "test": 3}  # split -> seed
TEST_SCENES = 500  # the fixed held-out set every trained model reports on (test indices 0..499)
ALPHA_THRESHOLD = 0.5  # a pixel belongs to an object where its ink covers at least half the pixel


@dataclasses.dataclass(frozen=True)
class Scene:
    image: np.ndarray  # uint8 (SIZE, SIZE, 3) RGB
    boxes: np.ndarray  # float32 (N, 4) x0, y0, x1, y1 in pixels (x1, y1 exclusive), tight around the ink
    labels: np.ndarray  # int64 (N,), indices into CLASSES
    masks: np.ndarray  # bool (N, SIZE, SIZE): the pixels where each object is visible (later ones on top)

    @property
    def label_map(self) -> np.ndarray:
        """uint8 (SIZE, SIZE): 0 background, 1 + class index where an object is visible."""
        result = np.zeros(self.image.shape[:2], np.uint8)
        for label, mask in zip(self.labels, self.masks):
            result[mask] = label + 1
        return result


@dataclasses.dataclass(frozen=True)
class SceneBatch:
    """Scenes stacked for training; boxes and labels padded to MAX_OBJECTS (label -1 = no object)."""

    images: np.ndarray  # uint8 (B, SIZE, SIZE, 3)
    boxes: np.ndarray  # float32 (B, MAX_OBJECTS, 4)
    labels: np.ndarray  # int64 (B, MAX_OBJECTS)
    label_maps: np.ndarray  # uint8 (B, SIZE, SIZE)
    masks: np.ndarray  # bool (B, MAX_OBJECTS, SIZE, SIZE)


@dataclasses.dataclass(frozen=True)
class _ObjectBank:
    images: tuple[np.ndarray, ...]  # per class: uint8 (n, 28, 28) glyphs of that class in this split


@functools.lru_cache(maxsize=3)
def _bank(split: str) -> _ObjectBank:
    digits = getattr(mnist.load_mnist(), split)
    fashion = getattr(mnist.load_fashion_mnist(), split)
    per_class = [digits.images[digits.labels == digit] for digit in range(10)]
    per_class += [fashion.images[fashion.labels == item] for item in FASHION_CLASSES]
    return _ObjectBank(tuple(per_class))


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise InvalidInput(f"Unknown split '{split}'. Splits: {', '.join(SPLITS)}.")


def texture(rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    """A random background: smooth colour noise, stripes or checks, plus fine grain; float32 RGB 0..255."""
    base = rng.uniform(50, 205, 3)
    kind = rng.integers(3)
    if kind == 0:  # smooth blobs: coarse noise upsampled
        coarse = rng.normal(0, 35, (rng.integers(3, 8), rng.integers(3, 8), 3)).astype(np.float32)
        pattern = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
    else:
        y, x = np.mgrid[0:size, 0:size].astype(np.float32)
        period = rng.uniform(6, 24)
        if kind == 1:  # stripes at a random angle
            angle = rng.uniform(0, np.pi)
            wave = np.sin((x * np.cos(angle) + y * np.sin(angle)) * 2 * np.pi / period)
        else:  # checks
            wave = np.sign(np.sin(x * np.pi / period) * np.sin(y * np.pi / period))
        pattern = wave[..., None] * rng.uniform(-30, 30, 3).astype(np.float32)
    grain = rng.normal(0, rng.uniform(2, 10), (size, size, 1)).astype(np.float32)
    return np.clip(base + pattern + grain, 0, 255).astype(np.float32)


def _glyph(
    bank: _ObjectBank, label: int, rng: np.random.Generator, side_range: tuple[int, int]
) -> np.ndarray:
    """One object image of the class, cropped to its ink and scaled: float32 alpha in [0, 1]."""
    images = bank.images[label]
    glyph = images[rng.integers(len(images))]
    rows, cols = np.flatnonzero(glyph.max(1) > 40), np.flatnonzero(glyph.max(0) > 40)
    glyph = glyph[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1] if len(rows) and len(cols) else glyph
    side = rng.integers(side_range[0], side_range[1] + 1)
    scale = side / max(glyph.shape)
    height, width = max(3, round(glyph.shape[0] * scale)), max(3, round(glyph.shape[1] * scale))
    return cv2.resize(glyph, (width, height), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255.0


def _colour_against(background: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random colour whose brightness differs clearly from the background under the object."""
    luminance = float(background.mean())
    bright = luminance < 128
    low, high = (min(255, luminance + 80), 255) if bright else (0, max(0, luminance - 80))
    target = rng.uniform(low, high) if high > low else (255.0 if bright else 0.0)
    colour = rng.uniform(0, 255, 3)
    return np.clip(colour - colour.mean() + target, 0, 255)


def _iou(box: np.ndarray, others: list[np.ndarray]) -> float:
    best = 0.0
    for other in others:
        width = min(box[2], other[2]) - max(box[0], other[0])
        height = min(box[3], other[3]) - max(box[1], other[1])
        if width > 0 and height > 0:
            overlap = width * height
            union = (
                (box[2] - box[0]) * (box[3] - box[1])
                + (other[2] - other[0]) * (other[3] - other[1])
                - overlap
            )
            best = max(best, overlap / union)
    return best


def scene(split: str, index: int, single: bool = False, objects: int | None = None) -> Scene:
    """Scene number `index` of a split (deterministic).

    Args:
        split: "train", "validation" or "test".
        index: any non-negative integer; the same index always gives the same scene.
        single: the single-object variant (classification + localization).
        objects: force this many objects (1..MAX_OBJECTS) instead of drawing the count.
    """
    _check_split(split)
    if index < 0:
        raise InvalidInput(f"The scene number must be 0 or more, not {index}.")
    if objects is not None and not 1 <= objects <= MAX_OBJECTS:
        raise InvalidInput(f"A scene has 1 to {MAX_OBJECTS} objects, not {objects}.")
    rng = np.random.default_rng((SPLITS[split], int(single), index))
    bank = _bank(split)
    canvas = texture(rng)
    count = 1 if single else objects or int(rng.integers(1, MAX_OBJECTS + 1))
    side_range = SINGLE_OBJECT_SIDE if single else OBJECT_SIDE
    boxes: list[np.ndarray] = []
    labels: list[int] = []
    alphas: list[np.ndarray] = []
    for _ in range(count):
        label = int(rng.integers(len(CLASSES)))
        glyph = _glyph(bank, label, rng, side_range)
        height, width = glyph.shape
        for _attempt in range(20):  # place it where it overlaps the others little
            x0, y0 = int(rng.integers(0, SIZE - width + 1)), int(rng.integers(0, SIZE - height + 1))
            alpha = np.zeros((SIZE, SIZE), np.float32)
            alpha[y0 : y0 + height, x0 : x0 + width] = glyph
            ys, xs = np.nonzero(alpha >= ALPHA_THRESHOLD)
            if len(xs) == 0:
                continue
            box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)
            if _iou(box, boxes) <= MAX_OVERLAP:
                break
        else:
            continue  # no room left for this one: the scene has fewer objects
        colour = _colour_against(canvas[alpha >= ALPHA_THRESHOLD], rng)
        canvas = canvas * (1 - alpha[..., None]) + colour * alpha[..., None]
        boxes.append(box)
        labels.append(label)
        alphas.append(alpha)
    visible = [alpha >= ALPHA_THRESHOLD for alpha in alphas]
    for later in range(1, len(visible)):  # later objects are painted on top of earlier ones
        for earlier in range(later):
            visible[earlier] &= ~visible[later]
    return Scene(
        np.clip(np.round(canvas), 0, 255).astype(np.uint8),
        np.array(boxes, np.float32).reshape(-1, 4),
        np.array(labels, np.int64),
        np.array(visible, bool).reshape(-1, SIZE, SIZE),
    )


def batch(split: str, start: int, count: int, single: bool = False) -> SceneBatch:
    """Scenes start .. start + count - 1 of a split, stacked and padded."""
    scenes = [scene(split, index, single) for index in range(start, start + count)]
    boxes = np.zeros((count, MAX_OBJECTS, 4), np.float32)
    labels = np.full((count, MAX_OBJECTS), -1, np.int64)
    masks = np.zeros((count, MAX_OBJECTS, SIZE, SIZE), bool)
    for row, item in enumerate(scenes):
        found = len(item.labels)
        boxes[row, :found], labels[row, :found], masks[row, :found] = item.boxes, item.labels, item.masks
    return SceneBatch(
        np.stack([item.image for item in scenes]),
        boxes,
        labels,
        np.stack([item.label_map for item in scenes]),
        masks,
    )


def test_scenes(count: int = TEST_SCENES, single: bool = False) -> list[Scene]:
    """The fixed held-out scenes every model reports its metric on."""
    return [scene("test", index, single) for index in range(count)]
