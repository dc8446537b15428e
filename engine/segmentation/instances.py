"""Instance segmentation results: one mask, label, score and box per object, and how to paint them.

The instance models (engine/pipelines/instances.py: Mask R-CNN trained here, SSDLite boxes + selfie
masks, TF Hub's Mask R-CNN) return lists of `Instance`; `label_map` paints them for the segmentation
page's class view (less confident first, so the best detection wins where masks overlap), `id_map`
numbers them, `draw` colours each mask with its box and caption.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np


@dataclasses.dataclass(frozen=True)
class Instance:
    label: str
    score: float
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels of the image
    mask: np.ndarray  # bool (H, W), the image's size

    @property
    def area(self) -> int:
        return int(self.mask.sum())

    def to_json(self) -> dict:
        return {
            "label": self.label,
            "score": round(self.score, 6),
            "box": [round(v, 2) for v in self.box],
            "area": self.area,
        }


def label_map(instances: list[Instance], labels: tuple[str, ...], shape: tuple[int, int]) -> np.ndarray:
    """uint8 map: 0 background, else the index of the instance's label in `labels`; best score on top."""
    result = np.zeros(shape, np.uint8)
    for instance in sorted(instances, key=lambda item: item.score):
        result[instance.mask] = labels.index(instance.label)
    return result


def id_map(instances: list[Instance], shape: tuple[int, int]) -> np.ndarray:
    """uint8 map: 0 background, i + 1 where instance i (in the given order) is visible, best score on top."""
    result = np.zeros(shape, np.uint8)
    for index in sorted(range(len(instances)), key=lambda i: instances[i].score):
        result[instances[index].mask] = min(index + 1, 255)
    return result


def draw(pixels: np.ndarray, instances: list[Instance], opacity: float = 0.55) -> np.ndarray:
    """Each instance's mask in its own colour, with its box and "label score" caption."""
    from engine.ops import boxes as box_ops

    colours = [
        np.array(
            cv2.cvtColor(np.uint8([[[int(179 * (i * 0.618 % 1)), 200, 255]]]), cv2.COLOR_HSV2RGB)[0, 0],
            np.float32,
        )
        for i in range(len(instances))
    ]
    drawn = pixels.astype(np.float32)
    for instance, colour in sorted(zip(instances, colours), key=lambda pair: pair[0].score):
        drawn[instance.mask] = drawn[instance.mask] * (1 - opacity) + colour * opacity
    drawn = drawn.astype(np.uint8)
    return box_ops.draw_boxes(
        drawn,
        box_ops.as_boxes([instance.box for instance in instances]),
        [f"{instance.label} {instance.score:.2f}" for instance in instances],
        [f"instance {index}" for index in range(len(instances))],
    )


def paste_box_mask(mask: np.ndarray, box, shape: tuple[int, int], threshold: float = 0.5) -> np.ndarray:
    """A box-relative probability mask resized into its box on an image of `shape` (H, W)."""
    height, width = shape
    x0, y0 = max(0, int(round(box[0]))), max(0, int(round(box[1])))
    x1, y1 = min(width, int(round(box[2]))), min(height, int(round(box[3])))
    result = np.zeros(shape, bool)
    if x1 > x0 and y1 > y0:
        result[y0:y1, x0:x1] = (
            cv2.resize(mask.astype(np.float32), (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
            >= threshold
        )
    return result
