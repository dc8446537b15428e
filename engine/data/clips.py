"""Short labelled video clips made here: real handwritten digits moving over textured backgrounds.

The video page compares the chapter's six ways of classifying a video (per-frame CNN + vote,
CNN -> RNN, 3D ConvNet, frozen features -> RNN / MLP, 3D-CNN features -> RNN; see the 3D ConvNet of
Tran et al., "Learning Spatiotemporal Features with 3D Convolutional Networks", ICCV 2015, and the
CNN + LSTM of Donahue et al., "Long-term Recurrent Convolutional Networks", CVPR 2015). No video
data set can be had offline, so the clips are generated, with classes chosen to separate the ways:

- Eight classes need time. A single frame of a digit moving left looks exactly like one of a digit
  moving right (every position is equally likely in both); a frame of a clockwise rotation is a
  digit at a uniformly random angle, as in a counter-clockwise one; growing and shrinking pass
  through the same sizes. Only the order of the frames tells them apart.
- Two classes a single frame can tell: two digits drifting, and one clothing item (Fashion-MNIST)
  drifting.

Deterministic: clip `index` of a split is drawn from `numpy.random.default_rng((split seed, index))`.
Fixed, disjoint splits: train clips use MNIST / Fashion-MNIST training images only, validation clips
their validation images, test clips their test images. The reported held-out figure of every way is
measured on test clips 0..TEST_CLIPS-1.
"""

from __future__ import annotations

import dataclasses
import functools

import cv2
import numpy as np

from engine.core.errors import InvalidInput
from engine.data import mnist, scenes

FRAMES = 16  # frames per clip
SIZE = 48  # frames are SIZE x SIZE RGB
DIGIT_SIDE = (16, 22)  # long side of the moving object, pixels (at scale 1)
SPEED = (1.0, 1.6)  # pixels per frame of the translating classes
ANGULAR_SPEED = (14.0, 24.0)  # degrees per frame of the rotating classes (under 180: no aliasing)
SCALE_RANGE = (0.55, 1.35)  # growing goes from the first to the second, shrinking back
CLASSES = (
    "moving left",
    "moving right",
    "moving up",
    "moving down",
    "rotating clockwise",
    "rotating counter-clockwise",
    "growing",
    "shrinking",
    "two digits",
    "clothing item",
)
GROUPS = {  # class group -> class indices; the first four need the order of the frames
    "left / right / up / down": (0, 1, 2, 3),
    "clockwise / counter-clockwise": (4, 5),
    "growing / shrinking": (6, 7),
    "single frame tells": (8, 9),
}
TEMPORAL_CLASSES = (0, 1, 2, 3, 4, 5, 6, 7)
SPLITS = {"train": 11, "validation": 12, "test": 13}  # split -> seed
SOURCE_SPLIT = {"train": "train", "validation": "validation", "test": "test"}  # MNIST split used
TEST_CLIPS = 500  # the fixed held-out set every way reports on (test indices 0..499)
MAX_INDEX = 10_000_000


@dataclasses.dataclass(frozen=True)
class Clip:
    frames: np.ndarray  # uint8 (FRAMES, SIZE, SIZE, 3) RGB
    label: int  # index into CLASSES
    split: str
    index: int

    @property
    def name(self) -> str:
        return CLASSES[self.label]


@dataclasses.dataclass(frozen=True)
class ClipBatch:
    frames: np.ndarray  # uint8 (N, FRAMES, SIZE, SIZE, 3)
    labels: np.ndarray  # int64 (N,)


@functools.lru_cache(maxsize=3)
def _digits(split: str) -> np.ndarray:
    return getattr(mnist.load_mnist(), SOURCE_SPLIT[split]).images


@functools.lru_cache(maxsize=3)
def _clothes(split: str) -> np.ndarray:
    fashion = getattr(mnist.load_fashion_mnist(), SOURCE_SPLIT[split])
    return fashion.images[np.isin(fashion.labels, scenes.FASHION_CLASSES)]


def _check(split: str, index: int) -> None:
    if split not in SPLITS:
        raise InvalidInput(f"Unknown split '{split}'. Splits: {', '.join(SPLITS)}.")
    if not 0 <= index < MAX_INDEX:
        raise InvalidInput(f"Clip index must be between 0 and {MAX_INDEX - 1}, not {index}.")


def _crop(glyph: np.ndarray) -> np.ndarray:
    """The glyph cropped to its ink, padded to a square so rotation never cuts it."""
    rows, cols = np.flatnonzero(glyph.max(1) > 40), np.flatnonzero(glyph.max(0) > 40)
    if len(rows) and len(cols):
        glyph = glyph[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    side = int(np.ceil(max(glyph.shape) * 1.45))  # the diagonal of the ink box fits at any angle
    square = np.zeros((side, side), np.uint8)
    top, left = (side - glyph.shape[0]) // 2, (side - glyph.shape[1]) // 2
    square[top : top + glyph.shape[0], left : left + glyph.shape[1]] = glyph
    return square


def _render(glyph: np.ndarray, centre: tuple[float, float], side: float, angle: float) -> np.ndarray:
    """Alpha (SIZE, SIZE) in [0, 1]: the square glyph scaled so its ink is `side` px, rotated by
    `angle` degrees (counter-clockwise on screen), centred at (x, y), with sub-pixel accuracy."""
    ink_side = glyph.shape[0] / 1.45
    scale = side / ink_side
    half = glyph.shape[0] / 2
    matrix = cv2.getRotationMatrix2D((half, half), angle, scale)
    matrix[:, 2] += np.array(centre) - half
    warped = cv2.warpAffine(
        glyph.astype(np.float32) / 255.0,
        matrix,
        (SIZE, SIZE),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    return np.clip(warped, 0, 1)


def _colour(background: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A colour whose brightness differs clearly from the background's."""
    luminance = float(background.mean())
    target = (
        rng.uniform(min(255, luminance + 80), 255)
        if luminance < 128
        else rng.uniform(0, max(0, luminance - 80))
    )
    colour = rng.uniform(0, 255, 3)
    return np.clip(colour - colour.mean() + target, 0, 255).astype(np.float32)


def _drift(rng: np.random.Generator, side: float) -> tuple[np.ndarray, np.ndarray]:
    """Centres (FRAMES, 2) of an object drifting slowly in a random direction, kept inside."""
    margin = side / 2 + 1
    speed = rng.uniform(0.2, 0.8)
    heading = rng.uniform(0, 2 * np.pi)
    step = speed * np.array([np.cos(heading), np.sin(heading)])
    travel = step * (FRAMES - 1)
    low = np.maximum(margin, margin - travel)
    high = np.minimum(SIZE - margin, SIZE - margin - travel)
    start = rng.uniform(low, np.maximum(low, high))
    return start[None] + np.arange(FRAMES)[:, None] * step[None], np.zeros(FRAMES)


def clip(split: str, index: int) -> Clip:
    """Clip `index` of a split; the same (split, index) is the same clip on every machine.

    Raises:
        InvalidInput: an unknown split or an index out of range.
    """
    _check(split, index)
    rng = np.random.default_rng((SPLITS[split], index))
    label = int(rng.integers(len(CLASSES)))
    background = scenes.texture(rng, SIZE)
    digits = _digits(split)
    glyph = _crop(digits[rng.integers(len(digits))])
    side = rng.uniform(*DIGIT_SIDE)
    times = np.arange(FRAMES, dtype=np.float64)
    sides = np.full(FRAMES, side)
    angles = np.full(FRAMES, rng.uniform(-15, 15))  # upright give or take, as handwriting is
    objects = []
    if label < 4:  # translation: the path lies inside the frame; start drawn uniformly over the possible
        speed = rng.uniform(*SPEED)
        axis, sign = (0, -1) if label == 0 else (0, 1) if label == 1 else (1, -1) if label == 2 else (1, 1)
        margin = side / 2 + 1
        travel = speed * (FRAMES - 1)
        along = rng.uniform(margin, SIZE - margin - travel)
        positions = along + speed * times if sign > 0 else SIZE - along - speed * times
        across = np.full(FRAMES, rng.uniform(margin, SIZE - margin))
        centres = np.stack([positions, across] if axis == 0 else [across, positions], axis=1)
        objects.append((glyph, centres, sides, angles))
    elif label < 6:  # rotation: start angle uniform on the circle, so every angle is as likely either way
        speed = rng.uniform(*ANGULAR_SPEED) * (-1 if label == 4 else 1)  # cv2: positive = counter-clockwise
        angles = rng.uniform(0, 360) + speed * times
        margin = side * 0.75 + 1
        centre = rng.uniform(margin, SIZE - margin, 2)
        objects.append((glyph, np.repeat(centre[None], FRAMES, 0), sides, angles))
    elif label < 8:  # scale: geometric steps between the same two sizes, one way or the other
        ratios = np.geomspace(SCALE_RANGE[0], SCALE_RANGE[1], FRAMES)
        sides = side * (ratios if label == 6 else ratios[::-1])
        margin = side * SCALE_RANGE[1] / 2 + 1
        centre = rng.uniform(margin, SIZE - margin, 2)
        objects.append((glyph, np.repeat(centre[None], FRAMES, 0), sides, angles))
    elif label == 8:  # two digits, each drifting
        second = _crop(digits[rng.integers(len(digits))])
        for item in (glyph, second):
            item_side = rng.uniform(14, 18)
            centres, _ = _drift(rng, item_side)
            objects.append((item, centres, np.full(FRAMES, item_side), np.full(FRAMES, rng.uniform(-15, 15))))
    else:  # one clothing item, drifting
        clothes = _clothes(split)
        # Clothing images are mostly mid-grey fabric: doubled and capped, the item reads as a solid shape.
        item = _crop(
            np.minimum(clothes[rng.integers(len(clothes))].astype(np.uint16) * 2, 255).astype(np.uint8)
        )
        centres, _ = _drift(rng, side)
        objects.append((item, centres, sides, np.zeros(FRAMES)))
    colours = [_colour(background, rng) for _ in objects]
    grain = rng.normal(0, 3, (FRAMES, SIZE, SIZE, 1)).astype(np.float32)  # sensor noise, new each frame
    frames = np.empty((FRAMES, SIZE, SIZE, 3), np.uint8)
    for frame in range(FRAMES):
        image = background.copy()
        for (item, centres, item_sides, item_angles), colour in zip(objects, colours):
            alpha = _render(item, tuple(centres[frame]), float(item_sides[frame]), float(item_angles[frame]))[
                ..., None
            ]
            image = image * (1 - alpha) + colour * alpha
        frames[frame] = np.clip(image + grain[frame], 0, 255).astype(np.uint8)
    return Clip(frames, label, split, index)


def batch(split: str, start: int, count: int) -> ClipBatch:
    """Clips start..start+count-1 of a split, stacked."""
    clips = [clip(split, index) for index in range(start, start + count)]
    if not clips:
        return ClipBatch(np.zeros((0, FRAMES, SIZE, SIZE, 3), np.uint8), np.zeros(0, np.int64))
    return ClipBatch(
        np.stack([item.frames for item in clips]), np.array([item.label for item in clips], np.int64)
    )


def test_clips(count: int = TEST_CLIPS) -> ClipBatch:
    """The fixed held-out clips (test indices 0..count-1)."""
    return batch("test", 0, count)


def group_of(label: int) -> str:
    """The class group a class belongs to."""
    return next(name for name, members in GROUPS.items() if label in members)
