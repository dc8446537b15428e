"""Semantic segmentation of photos, offline: DeepLabV3 (21 PASCAL VOC classes) and MediaPipe's
selfie segmentation (person / background).

DeepLabV3 (Chen et al., "Rethinking Atrous Convolution for Semantic Image Segmentation", 2017)
keeps feature maps large by replacing the last strides with atrous (dilated) convolutions, and
its atrous spatial pyramid pooling looks at several dilation rates at once; this is the
MobileNetV2-backbone TFLite build at 257 x 257. The selfie model (MediaPipe, 2020) is a small
encoder-decoder that outputs the probability of "person" per pixel.

With a network, the registry's "deeplabv3-hub" is TF Hub's DeepLabV3 (handle DEEPLAB_HUB_HANDLE; TF Hub
publishes DeepLab as a TFLite file, fetched once with `?lite-format=tflite` into the cache).

Inference returns a label map at the photo's own size; drawing (overlay, legend, blur) is in
`engine.segmentation.render`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import pathlib
import time
import urllib.request

import cv2
import numpy as np

from engine.core import assets, manifest, media, registry, runtime
from engine.core.errors import InvalidInput, ModelUnavailable
from engine.segmentation import instances
from engine.segmentation.unet import model as unet_model

DEFAULT_MODEL = "deeplabv3-voc"
TASKS = (
    "segmentation",
    "instances",
)  # semantic models give a label map; instance models (engine/pipelines/instances.py) masks
PERSON_THRESHOLD = 0.5  # selfie model: probability above which a pixel is "person"
DEEPLAB_HUB_HANDLE = (
    "https://tfhub.dev/tensorflow/lite-model/deeplabv3/1/metadata/2"  # MobileNetV2, 257 px, VOC
)
HUB_TIMEOUT_SECONDS = 60  # one download of a TFLite file from TF Hub
HUB_MAX_BYTES = 64 * 2**20  # refuse anything larger than a plausible TFLite segmenter
VOC_LABELS = (
    "background",
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "dining table",
    "dog",
    "horse",
    "motorbike",
    "person",
    "potted plant",
    "sheep",
    "sofa",
    "train",
    "tv",
)


@dataclasses.dataclass(frozen=True)
class SegmentationResult:
    model: str
    source: str
    labels: tuple[str, ...]  # class names, index = value in label_map
    label_map: np.ndarray  # uint8 (H, W), the photo's size
    ms: float
    instances: tuple = ()  # engine.segmentation.instances.Instance, for instance models (best score first)

    def class_shares(self) -> dict[str, float]:
        """Fraction of the image's pixels per class present, largest first."""
        counts = np.bincount(self.label_map.ravel(), minlength=len(self.labels))
        shares = {
            self.labels[index]: count / self.label_map.size for index, count in enumerate(counts) if count
        }
        return dict(sorted(shares.items(), key=lambda item: -item[1]))

    def to_json(self) -> dict:
        return {
            "model": self.model,
            "source": self.source,
            "ms": round(self.ms, 3),
            "classes": {label: round(share, 6) for label, share in self.class_shares().items()},
            "instances": [instance.to_json() for instance in self.instances],
        }


class DeepLabSegmenter:
    def __init__(self, path):
        self.runtime = runtime.TFLiteModel(path)
        _, self.height, self.width, _ = self.runtime.input_shape
        embedded = self.runtime.metadata_file("labelmap.txt") or ""
        # TF Hub's "default" variants carry no metadata; their 21 outputs are the VOC classes in this order.
        self.labels = tuple(line for line in embedded.splitlines() if line) or VOC_LABELS

    def label_map(self, pixels: np.ndarray) -> np.ndarray:
        resized = cv2.resize(pixels, (self.width, self.height), interpolation=cv2.INTER_LINEAR)
        batch = ((resized.astype(np.float32) - 127.5) / 127.5)[None]
        scores = self.runtime.run(batch)[0][0]  # (257, 257, 21)
        # Upsample the class scores, not the labels, so boundaries stay smooth at the photo's size.
        height, width = pixels.shape[:2]
        upsampled = cv2.resize(scores, (width, height), interpolation=cv2.INTER_LINEAR)
        return upsampled.argmax(axis=-1).astype(np.uint8)


class SelfieSegmenter:
    labels = ("background", "person")

    def __init__(self, path):
        self.runtime = runtime.TFLiteModel(path)
        _, self.height, self.width, _ = self.runtime.input_shape

    def probability(self, pixels: np.ndarray) -> np.ndarray:
        """P(person) per pixel at the photo's size, float32 in [0, 1]."""
        resized = cv2.resize(pixels, (self.width, self.height), interpolation=cv2.INTER_LINEAR)
        probability = self.runtime.run((resized.astype(np.float32) / 255.0)[None])[0][0, :, :, 0]
        height, width = pixels.shape[:2]
        return np.clip(cv2.resize(probability, (width, height), interpolation=cv2.INTER_LINEAR), 0, 1)

    def label_map(self, pixels: np.ndarray) -> np.ndarray:
        return (self.probability(pixels) > PERSON_THRESHOLD).astype(np.uint8)


def build_deeplab(spec: registry.ModelSpec, source: registry.WeightSource) -> DeepLabSegmenter:
    return DeepLabSegmenter(assets.verified_path(source.reference))


def build_selfie(spec: registry.ModelSpec, source: registry.WeightSource) -> SelfieSegmenter:
    return SelfieSegmenter(assets.verified_path(source.reference))


def hub_tflite_file(handle: str) -> pathlib.Path:
    """The TFLite file behind a TF Hub "lite-model" handle, downloaded once into the cache.

    Raises:
        InvalidInput: not a TF Hub / Kaggle Models handle.
        ModelUnavailable: no network, or the reply is not a TFLite file.
    """
    if not runtime.is_hub_handle(handle):
        raise InvalidInput(f"'{handle}' is not a TF Hub handle (https://tfhub.dev/...).")
    target = assets.cache_dir() / "hub" / f"{hashlib.sha256(handle.encode()).hexdigest()[:16]}.tflite"
    if target.is_file():
        return target
    try:
        with urllib.request.urlopen(f"{handle}?lite-format=tflite", timeout=HUB_TIMEOUT_SECONDS) as response:
            data = response.read(HUB_MAX_BYTES + 1)
    except (OSError, ValueError) as error:  # URLError and timeouts are OSErrors
        raise ModelUnavailable(
            f"Could not download '{handle}' from TF Hub ({type(error).__name__}). Hub models "
            "need a network connection; without one, use the offline DeepLabV3."
        ) from error
    if len(data) > HUB_MAX_BYTES or data[4:8] != b"TFL3":  # the flatbuffer identifier of a TFLite model
        raise ModelUnavailable(
            f"TF Hub's reply for '{handle}' is not a TFLite model; use the offline DeepLabV3."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    partial.write_bytes(data)
    partial.replace(target)  # whole file or none: a cut download never looks cached
    return target


def build_deeplab_hub(spec: registry.ModelSpec, source: registry.WeightSource) -> DeepLabSegmenter:
    return DeepLabSegmenter(hub_tflite_file(source.reference))


# --- The U-Net trained here on the scenes (engine/segmentation/unet/) --------------------------------------


def build_unet(spec: registry.ModelSpec, source: registry.WeightSource):
    """The registry's builder of "unet" (engine/core/entries.py)."""
    return unet_model.build(manifest.verified(source.reference))


def segment(pixels: np.ndarray, loaded: registry.LoadedModel) -> SegmentationResult:
    """Label every pixel of an RGB uint8 image.

    Raises:
        InvalidInput: not an RGB uint8 image.
    """
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        raise InvalidInput("Expected an RGB image of uint8 pixels.")
    if loaded.spec.task not in TASKS:
        raise InvalidInput(f"'{loaded.spec.name}' is a {loaded.spec.task} model, not a segmentation model.")
    started = time.perf_counter()
    labels = tuple(loaded.model.labels)
    if loaded.spec.task == "instances":  # one mask per object; the label map paints them, best on top
        found = sorted(loaded.model.instances(pixels), key=lambda instance: -instance.score)
        label_map = instances.label_map(found, labels, pixels.shape[:2])
        return SegmentationResult(
            loaded.spec.name,
            loaded.source.describe(),
            labels,
            label_map,
            (time.perf_counter() - started) * 1000,
            tuple(found),
        )
    label_map = loaded.model.label_map(pixels)
    return SegmentationResult(
        loaded.spec.name, loaded.source.describe(), labels, label_map, (time.perf_counter() - started) * 1000
    )


MAX_WORKING_SIDE = 1024  # masks are computed at this size at most; the models see 257 px anyway


def segment_bytes(
    data: bytes, model_name: str = DEFAULT_MODEL
) -> tuple[media.DecodedImage, SegmentationResult]:
    """Decode (reduced to at most ~MAX_WORKING_SIDE) and segment uploaded bytes."""
    if registry.get_spec(model_name).task not in TASKS:
        raise InvalidInput(
            f"'{model_name}' is not a segmentation model. Segmentation models: "
            f"{', '.join(spec.name for task in TASKS for spec in registry.all_specs(task))}."
        )
    image = media.decode_within(data, MAX_WORKING_SIDE)
    return image, segment(image.pixels, registry.load(model_name))
