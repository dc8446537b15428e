"""A small activation atlas, after Carter, Armstrong, Schubert, Johnson & Olah, "Activation Atlas",
Distill 2019.

Every spatial position of a layer's output describes one patch of the image; we collect those
activation vectors over a set of photos (the samples and the user's uploads), project them to 2-D,
bin the plane into a grid, and draw each cell that holds enough patches as the feature
visualization of its mean activation, labelled with the class that mean supports most: the mean
vector, laid out as a small uniform feature map, runs through the rest of the network to the
classifier's logits. Carter et al. use a million ImageNet images and UMAP; with a handful of photos
PCA shows the same kind of map and needs no extra package.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from engine.core import registry
from engine.core.errors import InvalidInput
from engine.core.progress import ProgressCallback, StopCheck, never_stop, no_progress
from engine.features import explain, extractors

DEFAULT_LAYER = "block_13_expand_relu"  # MobileNetV2's last ImageNet layer from which the head can be reached
SCALES = (224, 320)  # each photo's shorter side, in pixels, at which patches are collected
MAX_PATCHES_PER_IMAGE = 600  # random subset, so one large upload does not fill the atlas alone
DEFAULT_GRID = 8  # cells per side
MAX_GRID = 12
MIN_PATCHES_PER_CELL = 4  # emptier cells are left blank: their mean is one patch's noise
MAX_IMAGES = 24
ICON_SIZE = 96  # side of each cell's feature visualization, pixels
ICON_STEPS = 64  # gradient steps per icon (all icons ascend together as one batch)


@dataclasses.dataclass(frozen=True)
class AtlasCell:
    row: int  # 0 at the bottom (PCA axis 2 grows upwards)
    column: int
    count: int  # patches in the cell
    label: str | None  # class the mean activation supports most, or None without a head
    support: float  # that class's logit minus its mean over all cells
    sources: tuple[tuple[str, int], ...]  # (photo name, patches from it), most first
    icon: np.ndarray  # uint8 (icon_size, icon_size, 3), feature visualization of the mean


@dataclasses.dataclass(frozen=True)
class Atlas:
    layer: str
    image_names: tuple[str, ...]
    points: np.ndarray  # float32 (patches, 2), PCA coordinates
    point_images: np.ndarray  # int (patches,), index into image_names
    grid: int
    extent: tuple[float, float, float, float]  # x_min, x_max, y_min, y_max of the binned area
    explained_variance: tuple[float, float]  # share of variance on each PCA axis
    cells: tuple[AtlasCell, ...]
    labels_note: str  # what the labels mean, for pages to show
    seconds: float


def collect_activations(
    images: list[tuple[str, np.ndarray]], model: extractors.FeatureModel, layer: str, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Activation vectors of image patches: (patches, channels) and the photo index of each."""
    extractor = model.layer_model(layer)
    random = np.random.default_rng(seed)
    vectors, owners = [], []
    for index, (_, pixels) in enumerate(images):
        per_image = []
        for side in SCALES:
            batch = explain.model_input(pixels, model, side, longest=False)[None]
            activations = np.asarray(extractor(batch, training=False))[
                0
            ]  # predict_on_batch would retrace per size
            per_image.append(activations.reshape(-1, activations.shape[-1]))
        stacked = np.concatenate(per_image)
        if len(stacked) > MAX_PATCHES_PER_IMAGE:
            stacked = stacked[random.choice(len(stacked), MAX_PATCHES_PER_IMAGE, replace=False)]
        vectors.append(stacked)
        owners.append(np.full(len(stacked), index))
    return np.concatenate(vectors).astype(np.float32), np.concatenate(owners)


def project(vectors: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
    """2-D PCA coordinates of the vectors, and the share of variance each axis explains."""
    centered = vectors - vectors.mean(axis=0)
    _, singular, axes = np.linalg.svd(centered, full_matrices=False)
    variance = singular**2 / max(float((singular**2).sum()), 1e-12)
    return (centered @ axes[:2].T).astype(np.float32), (float(variance[0]), float(variance[1]))


def _class_support(model: extractors.FeatureModel, layer: str, means: np.ndarray):
    """(labels, support) of the class each mean vector supports most, or None when the classifier
    cannot be run from this layer (no head, or a layer inside a residual block).

    "Most" is relative to the other cells: every cell of an atlas of dog-free photos gives the dog
    head's generic favourite the highest logit, so each class's logit is taken minus its mean over
    the cells, as an attribution against the atlas-wide baseline.
    """
    if model.classifier is None:
        return None
    import keras

    try:
        rest = keras.Model(model.classifier.get_layer(layer).output, model.classifier.output)
    except (ValueError, KeyError):  # the rest of the graph needs tensors from before this layer
        return None
    # A uniform map of the size this layer has at the head's training input (10 x 10 for block 13
    # at 160 px): the rest of the network then sees the mean as if it filled a whole photo.
    height, width = model.classifier_input_size or (224, 224)
    probe = model.layer_model(layer)(np.zeros((1, height, width, 3), np.float32), training=False)
    maps = np.broadcast_to(means[:, None, None, :], (len(means), *np.shape(probe)[1:3], means.shape[1]))
    logits = np.asarray(rest(maps.astype(np.float32), training=False), np.float64)
    relative = logits - logits.mean(axis=0)
    best = relative.argmax(axis=1)
    return [model.labels[index] for index in best], relative[np.arange(len(best)), best]


def build_atlas(
    images: list[tuple[str, np.ndarray]],
    loaded: registry.LoadedModel,
    layer: str = DEFAULT_LAYER,
    grid: int = DEFAULT_GRID,
    icon_steps: int = ICON_STEPS,
    icon_size: int = ICON_SIZE,
    on_progress: ProgressCallback = no_progress,
    should_stop: StopCheck = never_stop,
) -> Atlas:
    """An activation atlas of `layer` over the named RGB uint8 images.

    Raises:
        InvalidInput: no images or too many, an unknown layer, or the grid out of range.
    """
    if not images:
        raise InvalidInput("The atlas needs at least one photo.")
    if len(images) > MAX_IMAGES:
        raise InvalidInput(f"The atlas takes at most {MAX_IMAGES} photos, not {len(images)}.")
    if not 2 <= grid <= MAX_GRID:
        raise InvalidInput(f"The grid must have between 2 and {MAX_GRID} cells per side, not {grid}.")
    model = extractors.feature_model_of(loaded)
    (layer,) = model.check_layers([layer])
    started = time.perf_counter()
    on_progress(0.0, f"Collecting {layer} activations of {len(images)} photos")
    vectors, owners = collect_activations(images, model, layer)
    points, variance = project(vectors)
    # Bin the central 98% of the cloud, so a few outliers do not squeeze the rest into one cell.
    low, high = np.percentile(points, [1, 99], axis=0)
    cell_of = np.clip(((points - low) / np.maximum(high - low, 1e-6) * grid).astype(int), 0, grid - 1)
    keys, inverse, counts = np.unique(cell_of, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    kept = np.flatnonzero(counts >= MIN_PATCHES_PER_CELL)
    if not len(kept):
        raise InvalidInput("Too few patches to fill a cell: add photos or use a smaller grid.")
    means = np.stack([vectors[inverse == index].mean(axis=0) for index in kept])
    support = _class_support(model, layer, means)

    def icon_progress(fraction: float, message: str, preview=None) -> None:
        on_progress(0.1 + 0.9 * fraction, f"Drawing {len(kept)} cells: {message}")

    # Draw what sets each cell apart: its mean minus the mean of all patches. Raw means share one
    # large common part, and their icons all look alike.
    icons = explain.visualize(
        loaded,
        layer,
        means - vectors.mean(axis=0),
        size=icon_size,
        steps=icon_steps,
        cosine_power=1.0,
        on_progress=icon_progress,
        should_stop=should_stop,
    ).pixels
    names = tuple(name for name, _ in images)
    cells = []
    for position, index in enumerate(kept):
        members = owners[inverse == index]
        by_image = np.bincount(members, minlength=len(names))
        sources = tuple((names[i], int(by_image[i])) for i in np.argsort(by_image)[::-1] if by_image[i])
        cells.append(
            AtlasCell(
                row=int(keys[index][1]),
                column=int(keys[index][0]),
                count=int(counts[index]),
                label=support[0][position] if support else None,
                support=float(support[1][position]) if support else 0.0,
                sources=sources,
                icon=icons[position],
            )
        )
    note = (
        f"Each label is the class its cell's mean activation supports most, relative to the other "
        f"cells, by {model.head_note}."
        if support
        else "No labels: this model has no head, or its head cannot be run from this layer alone."
    )
    return Atlas(
        layer=layer,
        image_names=names,
        points=points,
        point_images=owners,
        grid=grid,
        extent=(float(low[0]), float(high[0]), float(low[1]), float(high[1])),
        explained_variance=variance,
        cells=tuple(cells),
        labels_note=note,
        seconds=time.perf_counter() - started,
    )
