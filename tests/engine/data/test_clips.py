"""The video clip generator: deterministic, disjoint splits, and classes that move as named."""

import numpy as np
import pytest

from engine.core.errors import InvalidInput
from engine.data import clips


def _first_of(label: int, split: str = "validation") -> clips.Clip:
    return next(item for item in (clips.clip(split, index) for index in range(200)) if item.label == label)


def _ink(frames: np.ndarray) -> np.ndarray:
    """Where each frame differs from the clip's median frame (the static background): bool (T, H, W)."""
    median = np.median(frames.astype(np.float32), axis=0)
    return np.abs(frames.astype(np.float32) - median).max(-1) > 40


def test_same_index_same_clip_and_splits_differ():
    first, again = clips.clip("train", 3), clips.clip("train", 3)
    assert np.array_equal(first.frames, again.frames) and first.label == again.label
    assert first.frames.shape == (clips.FRAMES, clips.SIZE, clips.SIZE, 3)
    assert first.frames.dtype == np.uint8
    assert not np.array_equal(first.frames, clips.clip("test", 3).frames)


def test_splits_draw_digits_from_their_own_mnist_split():
    train = {digit.tobytes() for digit in clips._digits("train")[:5000]}
    assert not any(digit.tobytes() in train for digit in clips._digits("test")[:2000])


def test_every_class_appears_and_batch_stacks():
    batch = clips.batch("train", 0, 120)
    assert batch.frames.shape == (120, clips.FRAMES, clips.SIZE, clips.SIZE, 3)
    assert set(batch.labels.tolist()) == set(range(len(clips.CLASSES)))


@pytest.mark.parametrize("label, axis, sign", [(0, 1, -1), (1, 1, 1), (2, 0, -1), (3, 0, 1)])
def test_translation_moves_the_ink_the_named_way(label, axis, sign):
    ink = _ink(_first_of(label).frames)
    centres = [np.nonzero(mask)[axis].mean() for mask in ink if mask.any()]
    assert sign * (centres[-1] - centres[0]) > 8  # pixels, over 16 frames


@pytest.mark.parametrize("label, sign", [(6, 1), (7, -1)])
def test_growing_and_shrinking_change_the_inked_area(label, sign):
    ink = _ink(_first_of(label).frames).sum(axis=(1, 2))
    first, last = (ink[0], ink[-1]) if sign > 0 else (ink[-1], ink[0])
    assert last > 2 * first  # sides grow 2.5x: the area should too, even with the median's blur


def test_group_of_and_errors():
    assert clips.group_of(4) == "clockwise / counter-clockwise"
    assert set(clips.TEMPORAL_CLASSES) | set(clips.GROUPS["single frame tells"]) == set(range(10))
    with pytest.raises(InvalidInput, match="Splits"):
        clips.clip("holdout", 0)
    with pytest.raises(InvalidInput, match="index"):
        clips.clip("test", -1)
