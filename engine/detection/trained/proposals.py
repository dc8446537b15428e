"""What R-CNN, Fast R-CNN and Faster R-CNN share on the scenes: box regression targets and proposals.

Box regression (Girshick et al., "Rich feature hierarchies for accurate object detection and
semantic segmentation", CVPR 2014, appendix C): a proposal P (centre px, py, size pw, ph) is moved
to a box G by the deltas

    dx = (gx - px) / pw,   dy = (gy - py) / ph,   dw = log(gw / pw),   dh = log(gh / ph),

scale-invariant in the centre shift and log-space in the size. Fast R-CNN (Girshick, ICCV 2015) and
Faster R-CNN (Ren et al., NeurIPS 2015) keep the same parameterization, for proposals and anchors.
`encode_boxes` / `decode_boxes` accept numpy arrays or TensorFlow tensors (the same formulas; the
result has the input's kind), so targets can be made in numpy and decoded inside a graph.

Also here, so R-CNN (engine/detection/trained/rcnn.py) and Fast R-CNN
(engine/detection/trained/fast_rcnn.py) differ only
in how they score a region: selective search proposals (cached for the training scenes), labelling
and sampling of training regions by IoU, the smooth L1 box loss, per-class NMS of the outputs,
validation mAP, timing, and the training Task around their networks.

Boxes are corner form x0, y0, x1, y1 in scene pixels (engine/ops/boxes.py).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from engine.detection.trained.task import SceneDetectorTask

MAX_LOG_SCALE = math.log(1000.0 / 16)  # dw, dh are clipped to this before exp (Detectron's bound)
MIN_SIZE = 1e-3  # pixels: widths and heights below this are taken as this when encoding


def _is_tensor(value) -> bool:
    return (
        not isinstance(value, (np.ndarray, list, tuple, float, int))
        and hasattr(value, "dtype")
        and type(value).__module__.startswith(("tensorflow", "keras"))
    )


def _centres(boxes):
    widths = boxes[..., 2] - boxes[..., 0]
    heights = boxes[..., 3] - boxes[..., 1]
    return boxes[..., 0] + 0.5 * widths, boxes[..., 1] + 0.5 * heights, widths, heights


def encode_boxes(anchors_or_rois, truth, scale=(1.0, 1.0, 1.0, 1.0)):
    """Regression targets that move each proposal (or anchor) onto its matched box.

    Args:
        anchors_or_rois: (N, 4) corner boxes with positive width and height.
        truth: (N, 4) corner boxes, row i matched to proposal i.
        scale: multipliers of (dx, dy, dw, dh); e.g. (10, 10, 5, 5) gives targets of unit-ish spread
            (the "target normalization" of Fast R-CNN's implementation). decode_boxes must get the same.
    Returns:
        (N, 4) deltas dx, dy, dw, dh (numpy float32, or a tensor for tensor input).
    """
    if _is_tensor(anchors_or_rois) or _is_tensor(truth):
        import tensorflow as tf

        log, stack, maximum = tf.math.log, tf.stack, tf.maximum
        anchors_or_rois, truth = tf.cast(anchors_or_rois, tf.float32), tf.cast(truth, tf.float32)
    else:
        log, stack, maximum = np.log, np.stack, np.maximum
        anchors_or_rois = np.asarray(anchors_or_rois, np.float32).reshape(-1, 4)
        truth = np.asarray(truth, np.float32).reshape(-1, 4)
    px, py, pw, ph = _centres(anchors_or_rois)
    gx, gy, gw, gh = _centres(truth)
    # Degenerate boxes (padding rows in a batch) would divide by or take the log of zero; their targets
    # are never used, but an inf under tf.where still turns the gradients into NaN.
    pw, ph, gw, gh = (maximum(size, MIN_SIZE) for size in (pw, ph, gw, gh))
    deltas = stack([(gx - px) / pw, (gy - py) / ph, log(gw / pw), log(gh / ph)], -1)
    return deltas * np.asarray(scale, np.float32)


def decode_boxes(rois, deltas, scale=(1.0, 1.0, 1.0, 1.0)):
    """Boxes from proposals (or anchors) and predicted deltas: the inverse of `encode_boxes`.

    Args:
        rois: (N, 4) corner boxes.
        deltas: (N, 4) dx, dy, dw, dh (as scaled by `scale` in encode_boxes).
        scale: the multipliers used when encoding.
    Returns:
        (N, 4) corner boxes (not clipped to the image; engine.ops.boxes.clip_boxes does that).
        dw and dh are clipped to MAX_LOG_SCALE first, so a wild prediction cannot overflow exp.
    """
    if _is_tensor(rois) or _is_tensor(deltas):
        import tensorflow as tf

        exp, stack, minimum = tf.exp, tf.stack, tf.minimum
        rois, deltas = tf.cast(rois, tf.float32), tf.cast(deltas, tf.float32)
    else:
        exp, stack, minimum = np.exp, np.stack, np.minimum
        rois = np.asarray(rois, np.float32).reshape(-1, 4)
        deltas = np.asarray(deltas, np.float32).reshape(-1, 4)
    deltas = deltas / np.asarray(scale, np.float32)
    px, py, pw, ph = _centres(rois)
    centre_x = px + deltas[..., 0] * pw
    centre_y = py + deltas[..., 1] * ph
    half_width = 0.5 * pw * exp(minimum(deltas[..., 2], MAX_LOG_SCALE))
    half_height = 0.5 * ph * exp(minimum(deltas[..., 3], MAX_LOG_SCALE))
    return stack(
        [centre_x - half_width, centre_y - half_height, centre_x + half_width, centre_y + half_height], -1
    )


# --- Selective search proposals (Uijlings et al., "Selective Search for Object Recognition", IJCV 2013) ---

MAX_PROPOSALS = 200  # per scene; fast mode gives about 95 on a 96 x 96 scene, so this rarely cuts
MIN_PROPOSAL_SIDE = 3  # pixels; a thin digit "1" can be 4 px wide, so only slivers are dropped
FOREGROUND_IOU = 0.5  # a proposal overlapping a ground-truth box this much is an example of its class
BACKGROUND_IOU = 0.3  # below this with every ground-truth box it is background; in between, unused
PROPOSALS_VERSION = 1  # bump when the proposal settings change, so cached proposals are remade


def selective_search(image: np.ndarray, limit: int = MAX_PROPOSALS) -> np.ndarray:
    """Selective search proposals (OpenCV contrib, fast mode) of one scene, in its own pixels.

    On the 96 x 96 scenes fast mode takes about 37 ms and finds a box with IoU >= 0.5 for 97% of
    the validation objects (upscaling to 192 px: 98.6%, but 4.6x slower, so scenes are searched as they are).

    Args:
        image: uint8 (H, W, 3) RGB.
        limit: at most this many proposals, in selective search's own order (larger regions later).
    Returns:
        float32 (N, 4) corner boxes, near-duplicates (same box after rounding) removed.
    """
    import cv2

    if not hasattr(cv2, "ximgproc"):
        from engine.core.errors import ModelUnavailable

        raise ModelUnavailable(
            "Selective search needs OpenCV's contrib modules: install opencv-contrib-python-headless "
            "(it is in requirements.txt)."
        )
    search = cv2.ximgproc.segmentation.createSelectiveSearchSegmentation()
    search.setBaseImage(cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR))
    search.switchToSelectiveSearchFast()
    rectangles = np.asarray(search.process(), dtype=np.float32).reshape(-1, 4)
    rectangles = rectangles[(rectangles[:, 2] >= MIN_PROPOSAL_SIDE) & (rectangles[:, 3] >= MIN_PROPOSAL_SIDE)]
    proposals = np.column_stack([rectangles[:, :2], rectangles[:, :2] + rectangles[:, 2:]])
    _, first = np.unique(proposals, axis=0, return_index=True)
    return proposals[np.sort(first)][:limit].astype(np.float32)


def cached_proposals(split: str, count: int, on_progress=None) -> list[np.ndarray]:
    """Selective search proposals of scenes 0 .. count - 1 of a split, computed once and cached.

    The cache lives outside git, in engine.core.assets.cache_dir()/train/scene_proposals/, one file per
    (split, count, PROPOSALS_VERSION); proposals are deterministic, so a cached file is the same as a
    recomputed one.
    """
    from engine.core import assets
    from engine.data import scenes

    folder = assets.cache_dir() / "train" / "scene_proposals"
    path = folder / f"{split}_{count}_v{PROPOSALS_VERSION}.npz"
    for cached in sorted(
        folder.glob(f"{split}_*_v{PROPOSALS_VERSION}.npz")
    ):  # a larger run's file serves too
        if int(cached.name.split("_")[1]) >= count:
            with np.load(cached) as stored:
                return np.split(stored["boxes"], stored["offsets"][1:-1])[:count]
    found = []
    for index in range(count):
        found.append(selective_search(scenes.scene(split, index).image))
        if on_progress and index % 200 == 0:
            on_progress(index / count, f"selective search on {split} scene {index} of {count}")
    folder.mkdir(parents=True, exist_ok=True)
    offsets = np.cumsum([0] + [len(boxes) for boxes in found])
    with open(path, "wb") as handle:
        np.savez_compressed(handle, boxes=np.concatenate(found), offsets=offsets)
    return found


def label_proposals(
    proposals: np.ndarray, truth_boxes: np.ndarray, truth_labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Training labels of proposals by their best IoU with the ground truth (R-CNN, section 2.3).

    Returns:
        labels: int32 (N,) 1 + class for IoU >= FOREGROUND_IOU, 0 (background) below BACKGROUND_IOU,
            -1 (not used) in between.
        matched: float32 (N, 4) the best-overlapping ground-truth box (the regression target's box).
    """
    from engine.ops import boxes as box_ops

    proposals = np.asarray(proposals, np.float32).reshape(-1, 4)
    if len(truth_boxes) == 0:
        return np.zeros(len(proposals), np.int32), proposals.copy()
    overlaps = box_ops.iou_matrix(proposals, truth_boxes)
    best = overlaps.argmax(1)
    best_iou = overlaps.max(1)
    labels = np.where(
        best_iou >= FOREGROUND_IOU,
        np.asarray(truth_labels)[best] + 1,
        np.where(best_iou < BACKGROUND_IOU, 0, -1),
    ).astype(np.int32)
    return labels, np.asarray(truth_boxes, np.float32)[best]


# --- Training data both detectors draw from ---

BOX_SCALE = (
    10.0,
    10.0,
    5.0,
    5.0,
)  # regression targets x these have roughly unit spread (Fast R-CNN's normalization)
FOREGROUND_FRACTION = 0.25  # of the sampled regions (Fast R-CNN: 25% of 128 ROIs per minibatch)


@dataclasses.dataclass(frozen=True)
class TrainingScenes:
    """Scenes 0 .. count - 1 of a split, with their ground truth and selective search proposals."""

    images: np.ndarray  # uint8 (count, SIZE, SIZE, 3)
    boxes: list  # per scene float32 (n, 4)
    labels: list  # per scene int64 (n,)
    proposals: list  # per scene float32 (p, 4)


def training_scenes(split: str, count: int, on_progress=None) -> TrainingScenes:
    """Scenes, ground truth and (cached) proposals, generated once per training run."""
    from engine.data import scenes

    proposals = cached_proposals(split, count, on_progress)
    items = [scenes.scene(split, index) for index in range(count)]
    return TrainingScenes(
        np.stack([item.image for item in items]),
        [item.boxes for item in items],
        [item.labels for item in items],
        proposals,
    )


def sample_regions(
    proposals: np.ndarray,
    truth_boxes: np.ndarray,
    truth_labels: np.ndarray,
    count: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`count` labelled training regions of one scene, FOREGROUND_FRACTION of them objects if it has enough.

    Candidates are the proposals plus the ground-truth boxes themselves (R-CNN, section 2.3), labelled
    by `label_proposals`; regions between the two IoU thresholds are not used.

    Returns:
        regions float32 (count, 4), labels int32 (count,) 0 background or 1 + class, targets float32
        (count, 4): encode_boxes(region, matched box, BOX_SCALE), zero for background.
    """
    candidates = np.concatenate(
        [np.asarray(proposals, np.float32).reshape(-1, 4), np.asarray(truth_boxes, np.float32).reshape(-1, 4)]
    )
    labels, matched = label_proposals(candidates, truth_boxes, truth_labels)
    foreground, background = np.flatnonzero(labels > 0), np.flatnonzero(labels == 0)
    wanted = min(len(foreground), round(count * FOREGROUND_FRACTION)) if len(background) else count
    chosen_foreground = (
        rng.choice(foreground, wanted, replace=len(foreground) < wanted) if wanted else foreground[:0]
    )
    pool = background if len(background) else foreground
    chosen = np.concatenate(
        [chosen_foreground, rng.choice(pool, count - wanted, replace=len(pool) < count - wanted)]
    )
    regions, labels, matched = candidates[chosen], labels[chosen], matched[chosen]
    targets = np.where((labels > 0)[:, None], encode_boxes(regions, matched, BOX_SCALE), 0.0).astype(
        np.float32
    )
    return regions, labels, targets


def flatten_proposals(proposals: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Several scenes' proposals as one float32 (R, 4) array and the int32 (R,) scene index of each."""
    regions = np.concatenate([np.asarray(found, np.float32).reshape(-1, 4) for found in proposals])
    return regions, np.repeat(np.arange(len(proposals), dtype=np.int32), [len(found) for found in proposals])


def detections_per_scene(
    proposals: list[np.ndarray],
    probabilities: np.ndarray,
    deltas: np.ndarray,
    min_score: float,
    nms_iou: float,
    max_detections: int,
) -> list:
    """`detections_from_scores` for each scene of a batch, from outputs for flatten_proposals' regions."""
    results, start = [], 0
    for found in proposals:
        end = start + len(found)
        results.append(
            detections_from_scores(
                np.asarray(found, np.float32).reshape(-1, 4),
                probabilities[start:end],
                deltas[start:end],
                min_score,
                nms_iou,
                max_detections,
            )
        )
        start = end
    return results


def detections_from_scores(
    regions: np.ndarray,
    probabilities: np.ndarray,
    deltas: np.ndarray,
    min_score: float,
    nms_iou: float,
    max_detections: int,
):
    """Per-class boxes and scores of one scene's regions, after per-class NMS (R-CNN, section 2.2).

    Args:
        regions: (R, 4) proposals.
        probabilities: (R, 1 + classes) softmax, column 0 background.
        deltas: (R, classes * 4) class-specific regression (scaled by BOX_SCALE).
    Returns:
        metrics.ImageDetections.
    """
    from engine.data import scenes
    from engine.ops import boxes as box_ops
    from engine.ops import metrics

    classes = probabilities.shape[1] - 1
    rows, columns = np.nonzero(probabilities[:, 1:] >= min_score)
    deltas = np.asarray(deltas, np.float32).reshape(len(regions), classes, 4)
    found = box_ops.clip_boxes(
        decode_boxes(regions[rows], deltas[rows, columns], BOX_SCALE), scenes.SIZE, scenes.SIZE
    )
    scores = probabilities[rows, columns + 1]
    kept = box_ops.class_nms(found, scores, columns, nms_iou)[:max_detections]
    return metrics.ImageDetections(
        found[kept].astype(np.float32), scores[kept].astype(np.float32), columns[kept].astype(np.int64)
    )


def validation_map(predict, data: TrainingScenes, batch_size: int = 50) -> float:
    """mAP@0.5 of predict(images, proposals) on scenes whose proposals are already cached."""
    from engine.data import scenes
    from engine.ops import metrics

    predictions = []
    for start in range(0, len(data.images), batch_size):
        predictions += predict(
            data.images[start : start + batch_size], data.proposals[start : start + batch_size]
        )
    return metrics.mean_average_precision(predictions, data.boxes, data.labels, len(scenes.CLASSES))["map"]


def evaluate_model(model, count: int | None = None, timed_scenes: int = 20) -> dict:
    """R-CNN's and Fast R-CNN's held-out figures: mAP@0.5 on the first `count` test scenes (default all),
    and the time of one scene at a time with and without selective search."""
    from engine.data import scenes
    from engine.detection.trained import common

    model = getattr(model, "model", model)
    return {
        **common.evaluate(model.predict, scenes.TEST_SCENES if count is None else count),
        "ms_per_scene": time_per_scene(model.predict, timed_scenes),
        "ms_per_scene_without_search": time_per_scene(model.predict, timed_scenes, search=False),
    }


def time_per_scene(predict, count: int = 20, search: bool = True) -> float:
    """Median milliseconds of predict on one test scene at a time (after a warm-up call).

    Args:
        search: include selective search (the whole pipeline); False times the network and NMS on
            proposals searched beforehand, the part where R-CNN and Fast R-CNN differ.
    """
    import time

    from engine.data import scenes

    items = [scenes.scene("test", index).image for index in range(count)]
    proposals = [None if search else [selective_search(image)] for image in items]
    predict(items[0][None], proposals[0])
    times = []
    for image, found in zip(items, proposals):
        started = time.perf_counter()
        predict(image[None], found)
        times.append((time.perf_counter() - started) * 1000)
    return float(np.median(times))


def region_losses(probabilities, deltas, labels, targets):
    """(class cross-entropy averaged over the regions, box_loss): what R-CNN's and Fast R-CNN's region
    heads minimize (Girshick 2015, eq. 1, lambda = 1)."""
    import tensorflow as tf

    classification = tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(labels, probabilities))
    return classification, box_loss(deltas, labels, targets)


def box_loss(deltas, labels, targets):
    """Smooth L1 between the true class's predicted deltas and the targets, objects only (Fast R-CNN eq. 3).

    Args:
        deltas: (R, classes * 4) class-specific predictions.
        labels: (R,) int32, 0 background, 1 + class.
        targets: (R, 4) encode_boxes(..., BOX_SCALE) targets.
    Returns:
        Scalar: summed over objects' coordinates, divided by the number of regions.
    """
    import tensorflow as tf

    foreground = tf.cast(labels > 0, tf.float32)
    rows = tf.range(tf.shape(labels)[0])
    chosen = tf.gather_nd(
        tf.reshape(deltas, (tf.shape(labels)[0], -1, 4)), tf.stack([rows, tf.maximum(labels - 1, 0)], axis=1)
    )
    difference = tf.abs(chosen - targets)
    smooth = tf.where(difference < 1.0, 0.5 * difference**2, difference - 0.5)
    return tf.reduce_sum(tf.reduce_sum(smooth, 1) * foreground) / tf.cast(tf.shape(labels)[0], tf.float32)


class RegionTask(SceneDetectorTask):
    """What R-CNN's and Fast R-CNN's training Tasks share (engine/core/training.py runs their loop): the
    training and validation scenes with their cached proposals, keep-best on validation mAP@0.5 (an
    equal epoch does not replace the best), the learning rate decayed per epoch, the manifest line."""

    ties_to_later = False
    report_every = 20
    unit = "scenes"
    regions_per_scene = 16  # sampled from each scene of a batch (R-CNN's and Fast R-CNN's own)

    def __init__(self, train_scenes: int, validation_scenes: int, seed: int = 0, on_progress=None):
        self.train_scenes, self.validation_scenes, self.seed = train_scenes, validation_scenes, seed
        self.on_progress = on_progress
        self._step = None

    def build_inputs(self, first_epoch: int) -> None:
        super().build_inputs(first_epoch)
        self.data = training_scenes("train", self.train_scenes, self.on_progress)
        self.validation = training_scenes("validation", self.validation_scenes, self.on_progress)
        self.rng = np.random.default_rng(self.seed)

    def build_sampler(self) -> None:
        """Only the run's clock: `sample` searches its scenes' proposals as it draws them (nothing cached)."""
        super().build_inputs(0)

    def sample(self, rng: np.random.Generator, size: int) -> tuple[np.ndarray, ...]:
        """`size` consecutive training scenes from a random one, `regions_per_scene` labelled regions sampled
        from each one's selective search proposals: (images, regions, image indices, labels, box targets)."""
        from engine.data import scenes

        start = int(rng.integers(0, self.train_scenes))
        items = [scenes.scene("train", index) for index in range(start, start + size)]
        sampled = [
            sample_regions(selective_search(item.image), item.boxes, item.labels, self.regions_per_scene, rng)
            for item in items
        ]
        return (
            np.stack([item.image for item in items]),
            np.concatenate([regions for regions, _, _ in sampled]),
            np.repeat(np.arange(size, dtype=np.int32), self.regions_per_scene),
            np.concatenate([labels for _, labels, _ in sampled]),
            np.concatenate([targets for *_, targets in sampled]),
        )

    def validate(self) -> dict[str, float]:
        return {"validation_map50": validation_map(self.predict, self.validation)}

    def train_step(self, batch, optimizer) -> dict[str, float]:
        if self._step is None:
            self._step = self.step_function(optimizer)
        return dict(zip(("class_loss", "box_loss"), self._step(*batch)))

    def manifest_line(self, figures: dict, history: list[dict], epochs: int) -> tuple[str, str]:
        best = max(history, key=lambda entry: entry["validation_map50"])
        return (
            f"python -m engine train {self.name} --epochs {epochs} (best of {len(history)} epochs on validation "
            f"scenes: epoch {best['epoch']}; {self.train_scenes} training scenes; {self.minutes():.0f} min on 2 "
            "shared CPU cores, proposals included)",
            f"test scenes ({figures['scenes']}): mAP@0.5 {figures['map50']:.4f}; {figures['ms_per_scene']:.0f} ms "
            f"per scene with selective search, {figures['ms_per_scene_without_search']:.0f} ms without",
        )


def train_regions(
    task,
    epochs: int,
    learning_rate: float,
    decay: float,
    commit: bool,
    max_steps: int | None,
    run: str | None,
    on_progress,
    should_stop,
) -> dict:
    """Run an R-CNN or Fast R-CNN Task with engine/core/training.py: Adam at `learning_rate`, x `decay`
    per epoch; finalized into its run folder unless `commit` is False or `max_steps` bounds a smoke run."""
    import time

    from engine.core import schedules, training

    started = time.perf_counter()
    trainer = training.Trainer(
        task,
        epochs,
        schedules.exponential(learning_rate, decay),
        run=run,
        max_steps=max_steps,
        on_progress=on_progress,
        should_stop=should_stop,
    )
    history = trainer.fit()
    result = {"name": task.name, "history": history, "minutes": (time.perf_counter() - started) / 60}
    if commit and max_steps is None and history:
        result.update(trainer.finalize())
    return result
