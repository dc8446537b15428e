"""Drawing segmentation results: colour overlays, legends and person-mask effects."""

from __future__ import annotations

import cv2
import numpy as np


def palette(count: int) -> np.ndarray:
    """The PASCAL VOC colour map (bit-interleaved), so class colours match the usual figures."""
    colours = np.zeros((count, 3), np.uint8)
    for index in range(count):
        value, red, green, blue = index, 0, 0, 0
        for shift in range(7, -1, -1):
            red |= ((value >> 0) & 1) << shift
            green |= ((value >> 1) & 1) << shift
            blue |= ((value >> 2) & 1) << shift
            value >>= 3
        colours[index] = (red, green, blue)
    return colours


def overlay(
    pixels: np.ndarray, label_map: np.ndarray, opacity: float, visible: set[int] | None = None
) -> np.ndarray:
    """Blend class colours over the photo; classes not in `visible` (and background 0) stay clear."""
    colours = palette(int(label_map.max()) + 1)[label_map]
    shown = label_map > 0 if visible is None else np.isin(label_map, sorted(visible))
    blended = pixels.astype(np.float32)
    blended[shown] = (1 - opacity) * blended[shown] + opacity * colours[shown]
    return blended.astype(np.uint8)


def soft_person_mask(person_probability: np.ndarray, feather: int = 7) -> np.ndarray:
    """A slightly blurred probability, so cut-out edges do not look jagged."""
    size = feather | 1
    return cv2.GaussianBlur(person_probability.astype(np.float32), (size, size), 0)[..., None]


def blur_background(pixels: np.ndarray, person_probability: np.ndarray, strength: int = 31) -> np.ndarray:
    size = max(3, strength | 1)
    blurred = cv2.GaussianBlur(pixels, (size, size), 0).astype(np.float32)
    alpha = soft_person_mask(person_probability)
    return (alpha * pixels + (1 - alpha) * blurred).astype(np.uint8)


def replace_background(
    pixels: np.ndarray, person_probability: np.ndarray, colour: tuple[int, int, int]
) -> np.ndarray:
    alpha = soft_person_mask(person_probability)
    background = np.empty_like(pixels, dtype=np.float32)
    background[:] = colour
    return (alpha * pixels + (1 - alpha) * background).astype(np.uint8)
