"""Held-out metrics on the scenes: detection mAP@0.5 (PASCAL VOC) and mask / label-map IoU.

mAP follows the PASCAL VOC 2010+ definition (Everingham et al., IJCV 2010): per class, detections of
all test images sorted by score; a detection is a true positive when its IoU with a not-yet-matched
ground-truth box of its class is at least the threshold; AP is the area under the precision-recall
curve with precision made monotone (all-point interpolation); mAP is the mean over classes that
occur in the ground truth.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from engine.ops import boxes as box_ops


@dataclasses.dataclass(frozen=True)
class ImageDetections:
    """One image's predictions: corner boxes in pixels, scores and class indices."""

    boxes: np.ndarray  # float (N, 4)
    scores: np.ndarray  # float (N,)
    labels: np.ndarray  # int (N,)


def average_precision(recall: np.ndarray, precision: np.ndarray) -> float:
    """Area under the precision-recall curve with precision made monotone (VOC all-point)."""
    recall = np.concatenate([[0.0], recall, [1.0]])
    precision = np.concatenate([[0.0], precision, [0.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.flatnonzero(recall[1:] != recall[:-1])
    return float(np.sum((recall[steps + 1] - recall[steps]) * precision[steps + 1]))


def mean_average_precision(
    predictions: list[ImageDetections],
    truth_boxes: list[np.ndarray],
    truth_labels: list[np.ndarray],
    num_classes: int,
    iou_threshold: float = 0.5,
    predicted_masks: list[np.ndarray] | None = None,
    truth_masks: list[np.ndarray] | None = None,
) -> dict:
    """mAP over the classes present in the ground truth, and each class's AP.

    With masks (one (N, H, W) bool array per image for the predictions and for the truth), matches
    are by mask IoU instead of box IoU: the COCO / Mask R-CNN "mask AP".

    Returns:
        {"map": float, "per_class": {class index: AP}, "images": n}
    """
    if len(predictions) != len(truth_boxes) or len(truth_boxes) != len(truth_labels):
        raise ValueError("predictions and ground truth must cover the same images")
    per_class: dict[int, float] = {}
    for label in range(num_classes):
        positives = sum(int(np.sum(labels == label)) for labels in truth_labels)
        if positives == 0:
            continue
        scored = []  # (score, image, index of the detection in its image)
        for image, found in enumerate(predictions):
            chosen = np.flatnonzero(np.asarray(found.labels) == label)
            scored += [(float(found.scores[index]), image, index) for index in chosen]
        scored.sort(key=lambda item: -item[0])
        matched = [np.zeros(int(np.sum(labels == label)), bool) for labels in truth_labels]
        hits = np.zeros(len(scored))
        for rank, (_, image, index) in enumerate(scored):
            of_class = np.flatnonzero(np.asarray(truth_labels[image]) == label)
            if len(of_class) == 0:
                continue
            if predicted_masks is not None and truth_masks is not None:
                overlaps = np.array(
                    [mask_iou(predicted_masks[image][index], truth_masks[image][truth]) for truth in of_class]
                )
            else:
                box = np.asarray(predictions[image].boxes, np.float64)[index]
                overlaps = box_ops.iou_matrix(
                    box[None], np.asarray(truth_boxes[image], np.float64)[of_class]
                )[0]
            best = int(np.argmax(overlaps))
            if overlaps[best] >= iou_threshold and not matched[image][best]:
                matched[image][best] = True
                hits[rank] = 1
        true_positives = np.cumsum(hits)
        recall = true_positives / positives
        precision = true_positives / np.arange(1, len(scored) + 1)
        per_class[label] = average_precision(recall, precision) if len(scored) else 0.0
    return {
        "map": float(np.mean(list(per_class.values()))) if per_class else 0.0,
        "per_class": per_class,
        "images": len(predictions),
    }


def mask_iou(first: np.ndarray, second: np.ndarray) -> float:
    """IoU of two boolean masks of the same shape (1.0 when both are empty)."""
    union = np.logical_or(first, second).sum()
    return float(np.logical_and(first, second).sum() / union) if union else 1.0


def mean_iou(predicted: np.ndarray, truth: np.ndarray, num_labels: int) -> dict:
    """Semantic segmentation mean IoU over the labels (background included) present in either map.

    Args:
        predicted, truth: integer label maps of the same shape (any number of images stacked).
        num_labels: labels are 0 .. num_labels - 1 (0 = background).
    """
    if predicted.shape != truth.shape:
        raise ValueError("label maps differ in shape")
    ious = {}
    for label in range(num_labels):
        union = np.logical_or(predicted == label, truth == label).sum()
        if union:
            ious[label] = float(np.logical_and(predicted == label, truth == label).sum() / union)
    return {"mean_iou": float(np.mean(list(ious.values()))), "per_label": ious}
