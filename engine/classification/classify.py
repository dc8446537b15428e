"""Image classification: the top ImageNet classes of a photo.

Offline default: EfficientNet-Lite0 (Tan & Le, "EfficientNet: Rethinking Model Scaling for
Convolutional Neural Networks", ICML 2019; the Lite variant drops squeeze-and-excitation and uses
ReLU6 for integer quantization), a uint8 TFLite model shipped inside a PyPI package. With a network
the chapter's own example works too: MobileNetV2 (Sandler et al., CVPR 2018) from TF Hub wrapped in
`hub.KerasLayer`, or from Keras Applications.
"""

from __future__ import annotations

import dataclasses
import time

import cv2
import numpy as np

from engine.core import assets, media, registry, runtime
from engine.core.errors import InvalidInput, ModelUnavailable

IMAGENET_LABELS_FILE = registry.PROJECT_ASSETS / "imagenet_labels.txt"  # 1000 names, index order
DEFAULT_MODEL = "efficientnet-lite0"
MAX_TOP_K = 20  # More than this is noise on a bar chart
CHAPTER_HUB_HANDLE = "https://tfhub.dev/google/tf2-preview/mobilenet_v2/classification/4"


@dataclasses.dataclass(frozen=True)
class Prediction:
    label: str
    score: float  # probability in [0, 1]


@dataclasses.dataclass(frozen=True)
class ClassificationResult:
    model: str  # registry name (or "custom-hub")
    source: str  # where the weights came from, in words
    top: tuple[Prediction, ...]  # best first
    ms: float  # preprocess + inference + postprocess, milliseconds

    def to_json(self) -> dict:
        return {
            "model": self.model,
            "source": self.source,
            "ms": round(self.ms, 3),
            "top": [{"label": p.label, "score": round(p.score, 6)} for p in self.top],
        }


def imagenet_labels() -> list[str]:
    return IMAGENET_LABELS_FILE.read_text(encoding="utf-8").splitlines()


def _resize(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    height, width = size
    if pixels.shape[:2] == (height, width):
        return pixels
    # Below 2x, bilinear is what these models were trained with (tf.image.resize) and costs 0.09 ms
    # against INTER_AREA's 0.8 ms here; beyond 2x bilinear skips pixels and aliases, so average.
    factor = min(pixels.shape[0] / height, pixels.shape[1] / width)
    interpolation = cv2.INTER_AREA if factor >= 2 else cv2.INTER_LINEAR
    return cv2.resize(pixels, (width, height), interpolation=interpolation)


class TFLiteClassifier:
    """A uint8 TFLite classifier whose output is already a probability vector."""

    def __init__(self, path):
        self.runtime = runtime.TFLiteModel(path)
        _, height, width, _ = self.runtime.input_shape
        self.input_size = (height, width)
        embedded = self.runtime.metadata_file("labels_without_background.txt")
        self.labels = [line for line in embedded.splitlines() if line] if embedded else imagenet_labels()
        # Preallocated batch: saves one allocation and copy per request.
        self._batch = np.empty((1, height, width, 3), dtype=self.runtime.input_dtype)

    def probabilities(self, pixels: np.ndarray) -> np.ndarray:
        resized = _resize(pixels, self.input_size)
        with self.runtime.lock:  # The shared input buffer belongs to one request at a time.
            self._batch[0] = resized
            return self.runtime.run(self._batch)[0][0]


class TensorFlowClassifier:
    """A TF/Keras classifier taking float images; outputs logits or probabilities."""

    def __init__(self, model, input_size: tuple[int, int], scale: float, offset: float):
        self.model = model
        self.input_size = input_size
        self.scale, self.offset = scale, offset  # pixel * scale + offset
        self.labels: list[str] | None = None

    def probabilities(self, pixels: np.ndarray) -> np.ndarray:
        batch = _resize(pixels, self.input_size)[None].astype(np.float32) * self.scale + self.offset
        outputs = np.asarray(self.model.predict_on_batch(batch))[0].astype(np.float64)
        if self.labels is None:
            self.labels = _labels_for(outputs.shape[0])
        if outputs.min() < 0 or abs(outputs.sum() - 1.0) > 1e-3:  # logits: apply softmax
            outputs = np.exp(outputs - outputs.max())
            outputs /= outputs.sum()
        return outputs


def _labels_for(count: int) -> list[str]:
    names = imagenet_labels()
    if count == len(names) + 1:  # TF Hub's ImageNet classifiers put "background" first
        return ["background", *names]
    if count == len(names):
        return names
    return [f"class {index}" for index in range(count)]


def build_tflite(spec: registry.ModelSpec, source: registry.WeightSource) -> TFLiteClassifier:
    return TFLiteClassifier(assets.verified_path(source.reference))


def build_hub(spec: registry.ModelSpec, source: registry.WeightSource) -> TensorFlowClassifier:
    height, width = spec.input_size
    model = runtime.load_hub_layer(source.reference, (height, width, 3))
    return TensorFlowClassifier(model, spec.input_size, scale=1 / 255.0, offset=0.0)


def build_keras_application(spec: registry.ModelSpec, source: registry.WeightSource) -> TensorFlowClassifier:
    import keras

    try:  # Loads from ~/.keras/models when cached; downloads otherwise (needs a network).
        model = keras.applications.MobileNetV2(weights="imagenet")
    except Exception as error:  # urllib raises several types when offline
        raise ModelUnavailable(
            f"Keras Applications weights could not be downloaded ({type(error).__name__}); "
            "they need a network connection."
        ) from error
    return TensorFlowClassifier(model, spec.input_size, scale=1 / 127.5, offset=-1.0)


def load_custom_hub(reference: str, input_size: tuple[int, int] = (224, 224)) -> registry.LoadedModel:
    """A classifier from a TF Hub handle or a SavedModel folder the user names.

    Local folders are read only inside `$CONVNET_STUDIO_MODEL_DIR` (see `runtime.user_model_reference`).

    Raises:
        InvalidInput: not a hub handle, or a folder outside the allowed one.
        ModelUnavailable: not reachable, or not a SavedModel folder.
    """
    reference = reference.strip()
    if not reference:
        raise InvalidInput("Enter a TF Hub handle (https://tfhub.dev/...) or a SavedModel folder.")
    reference = runtime.user_model_reference(reference)  # never an arbitrary path on the server
    spec = registry.ModelSpec(
        name="custom-hub",
        task="classification",
        title=f"TF Hub model {reference}",
        input_size=input_size,
        labels="as the model outputs",
        sources=(registry.WeightSource("hub", reference),),
        builder=build_hub,
        trained_on="unknown (user-supplied)",
        metric="not measured here",
    )
    started = time.perf_counter()
    model = build_hub(spec, spec.sources[0])
    return registry.LoadedModel(spec, spec.sources[0], model, time.perf_counter() - started)


def classify(pixels: np.ndarray, loaded: registry.LoadedModel, top_k: int = 5) -> ClassificationResult:
    """Top-k classes of an RGB uint8 image.

    Args:
        pixels: uint8 array (height, width, 3), RGB.
        loaded: a classification model from `registry.load` or `load_custom_hub`.
        top_k: how many classes to return, 1..MAX_TOP_K.
    Raises:
        InvalidInput: top_k out of range or pixels of the wrong shape.
    """
    if not 1 <= top_k <= MAX_TOP_K:
        raise InvalidInput(f"top_k must be between 1 and {MAX_TOP_K}, not {top_k}.")
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        raise InvalidInput("Expected an RGB image of uint8 pixels.")
    started = time.perf_counter()
    probabilities = loaded.model.probabilities(pixels)
    # argpartition finds the k best in O(n); only those k are sorted.
    best = np.argpartition(probabilities, -top_k)[-top_k:]
    best = best[np.argsort(probabilities[best])[::-1]]
    labels = loaded.model.labels
    top = tuple(Prediction(labels[index], float(probabilities[index])) for index in best)
    elapsed_ms = (time.perf_counter() - started) * 1000
    return ClassificationResult(loaded.spec.name, loaded.source.describe(), top, elapsed_ms)


def classify_bytes(data: bytes, model_name: str = DEFAULT_MODEL, top_k: int = 5) -> ClassificationResult:
    """Decode uploaded bytes (at reduced scale when the model is small) and classify them."""
    spec = registry.get_spec(model_name)  # Fails fast on an unknown name, before any decoding.
    image = media.decode_image(data, min_side=min(spec.input_size))
    return classify(image.pixels, registry.load(model_name), top_k)
