"""Capsule network with dynamic routing (Sabour, Frosst & Hinton, "Dynamic Routing Between
Capsules", NeurIPS 2017), in Keras 3.

Architecture as in the paper's Figure 1: Conv1 (256 9x9 kernels, ReLU) -> PrimaryCaps (32 channels
of 8-D capsules, 9x9 kernels, stride 2, so 6 x 6 x 32 = 1152 capsules) -> DigitCaps (10 capsules of
16-D, each fed by every primary capsule through its own 8x16 matrix, routing by agreement with 3
iterations). A capsule's length is the probability that its digit is present; its direction holds
the digit's instantiation parameters, which the reconstruction decoder (3 dense layers) turns back
into pixels. Loss: margin loss plus 0.0005 x the sum of squared reconstruction errors.

This module builds the two models (`build`: the CapsNet's encoder + decoder, or the baseline CNN) with
the class scores the page and the evaluation read; the page's views of routing are in
engine/capsules/api.py, training in engine/capsules/train.py. Keras is imported inside functions, so
importing this module stays cheap; the capsule layers are made on first use (`layers()`), and
`DigitCapsules`, `Squash`, `CapsuleLength`, `MaskCapsules` are read from it as module attributes.
"""

from __future__ import annotations

import functools
import types
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import keras

NUM_CLASSES = 10
PRIMARY_CHANNELS = 32  # capsule types in PrimaryCaps
PRIMARY_DIM = 8  # dimensions of a primary capsule
DIGIT_DIM = 16  # dimensions of a digit capsule
ROUTING_ITERATIONS = 3  # the paper's choice
M_PLUS, M_MINUS, DOWN_WEIGHT = 0.9, 0.1, 0.5  # margin loss constants (paper, eq. 4)
RECONSTRUCTION_WEIGHT = 0.0005  # scales the decoder's sum of squared errors (paper, sec. 4.1)
EPSILON = 1e-7
EVAL_BATCH = 500  # digits per forward pass when scoring many


def squash(vectors, axis: int = -1):
    """v = |s|^2 / (1 + |s|^2) * s / |s| (paper, eq. 1): length in [0, 1), direction kept."""
    from keras import ops

    squared_norm = ops.sum(ops.square(vectors), axis=axis, keepdims=True)
    scale = squared_norm / (1.0 + squared_norm) / ops.sqrt(squared_norm + EPSILON)
    return scale * vectors


LAYER_NAMES = ("DigitCapsules", "Squash", "CapsuleLength", "MaskCapsules")


@functools.cache
def layers() -> types.SimpleNamespace:
    """The capsule layers, made (and registered with Keras) once, on first use."""
    import keras
    from keras import ops

    @keras.saving.register_keras_serializable(package="convnet_studio")
    class DigitCapsules(keras.layers.Layer):
        """Fully connected capsule layer with routing by agreement (paper, Procedure 1)."""

        def __init__(
            self,
            num_capsules: int = NUM_CLASSES,
            dim: int = DIGIT_DIM,
            iterations: int = ROUTING_ITERATIONS,
            **kwargs,
        ):
            super().__init__(**kwargs)
            self.num_capsules, self.dim, self.iterations = num_capsules, dim, iterations

        def build(self, input_shape):
            _, num_inputs, input_dim = input_shape
            # One 8x16 transformation matrix W_ij per (primary capsule i, digit capsule j).
            self.transform = self.add_weight(
                name="transform",
                shape=(num_inputs, self.num_capsules, input_dim, self.dim),
                initializer=keras.initializers.RandomNormal(stddev=0.01),
            )

        def predictions(self, inputs):
            """u_hat_{j|i} = W_ij u_i: what each primary capsule predicts for each digit capsule."""
            return ops.einsum("bid,ijde->bije", inputs, self.transform)

        def route(self, predictions):
            """Routing by agreement. Returns (digit capsules v, coupling coefficients per iteration).

            Coupling coefficients c_ij = softmax_j(b_ij) sum to 1 over the parents j of each child i.
            """
            logits = ops.zeros(ops.shape(predictions)[:3])  # b_ij, (batch, inputs, capsules)
            couplings = []
            for iteration in range(self.iterations):
                coupling = ops.softmax(logits, axis=2)
                couplings.append(coupling)
                outputs = squash(ops.einsum("bij,bije->bje", coupling, predictions))
                if iteration < self.iterations - 1:
                    # Agreement a_ij = u_hat_{j|i} . v_j raises the logit of parents that agree.
                    logits = logits + ops.einsum("bije,bje->bij", predictions, outputs)
            return outputs, couplings

        def call(self, inputs):
            outputs, _ = self.route(self.predictions(inputs))
            return outputs

        def compute_output_shape(self, input_shape):
            return (input_shape[0], self.num_capsules, self.dim)

        def get_config(self):
            return {
                **super().get_config(),
                "num_capsules": self.num_capsules,
                "dim": self.dim,
                "iterations": self.iterations,
            }

    @keras.saving.register_keras_serializable(package="convnet_studio")
    class Squash(keras.layers.Layer):
        def call(self, inputs):
            return squash(inputs)

    @keras.saving.register_keras_serializable(package="convnet_studio")
    class CapsuleLength(keras.layers.Layer):
        """|v_j|: the probability that digit j is present."""

        def call(self, inputs):
            return ops.sqrt(ops.sum(ops.square(inputs), axis=-1) + EPSILON)

    @keras.saving.register_keras_serializable(package="convnet_studio")
    class MaskCapsules(keras.layers.Layer):
        """Keep one digit capsule (the true class when training, else the longest), zero the rest."""

        def call(self, inputs):
            capsules, one_hot = inputs
            return ops.reshape(capsules * ops.expand_dims(one_hot, -1), (-1, NUM_CLASSES * DIGIT_DIM))

    return types.SimpleNamespace(
        DigitCapsules=DigitCapsules, Squash=Squash, CapsuleLength=CapsuleLength, MaskCapsules=MaskCapsules
    )


def __getattr__(name: str):
    """`model.DigitCapsules` and the other layers, made on first use (PEP 562)."""
    if name in LAYER_NAMES:
        return getattr(layers(), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_encoder() -> keras.Model:
    """Image (28, 28, 1) in [0, 1] -> digit capsules (10, 16)."""
    import keras

    capsule_layers = layers()
    images = keras.Input((28, 28, 1), name="image")
    features = keras.layers.Conv2D(256, 9, activation="relu", name="conv1")(images)
    primary = keras.layers.Conv2D(PRIMARY_CHANNELS * PRIMARY_DIM, 9, strides=2, name="primary_caps_conv")(
        features
    )
    primary = keras.layers.Reshape((-1, PRIMARY_DIM), name="primary_caps")(primary)
    primary = capsule_layers.Squash(name="primary_squash")(primary)
    digits = capsule_layers.DigitCapsules(name="digit_caps")(primary)
    return keras.Model(images, digits, name="capsnet_encoder")


def build_decoder() -> keras.Model:
    """Masked digit capsules (160,) -> reconstructed image (28, 28, 1)."""
    import keras

    masked = keras.Input((NUM_CLASSES * DIGIT_DIM,), name="masked_capsules")
    hidden = keras.layers.Dense(512, activation="relu")(masked)
    hidden = keras.layers.Dense(1024, activation="relu")(hidden)
    pixels = keras.layers.Dense(784, activation="sigmoid")(hidden)
    return keras.Model(masked, keras.layers.Reshape((28, 28, 1))(pixels), name="capsnet_decoder")


def margin_loss(one_hot, lengths):
    """Paper, eq. 4: L_k = T_k max(0, m+ - |v_k|)^2 + lambda (1 - T_k) max(0, |v_k| - m-)^2."""
    from keras import ops

    present = one_hot * ops.square(ops.relu(M_PLUS - lengths))
    absent = DOWN_WEIGHT * (1.0 - one_hot) * ops.square(ops.relu(lengths - M_MINUS))
    return ops.sum(present + absent, axis=-1)


def build_baseline_cnn() -> keras.Model:
    """A plain CNN for comparison with about as many weights as the CapsNet encoder (6.6M vs 6.8M).

    Two 5x5 convolutions with max pooling and a wide dense layer: the usual strong MNIST CNN. The
    paper's own baseline is larger (35.4M); this one is sized to the CapsNet instead.
    """
    import keras

    images = keras.Input((28, 28, 1), name="image")
    x = keras.layers.Conv2D(64, 5, activation="relu", padding="same")(images)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(128, 5, activation="relu", padding="same")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(1024, activation="relu")(x)
    x = keras.layers.Dropout(0.5)(x)
    outputs = keras.layers.Dense(NUM_CLASSES, activation="softmax")(x)
    return keras.Model(images, outputs, name="baseline_cnn")


def to_input(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, 28, 28, 1) in [0, 1]."""
    return (images.astype(np.float32) / 255.0)[..., None]


class CapsNetModel:
    """Encoder + decoder, with the inference views the page needs."""

    def __init__(self):
        self.encoder = build_encoder()
        self.decoder = build_decoder()

    @property
    def parts(self) -> list:
        return [self.encoder, self.decoder]

    def scores(self, images: np.ndarray) -> np.ndarray:
        """Capsule lengths (N, 10) for uint8 digits (N, 28, 28)."""
        out = []
        for start in range(0, len(images), EVAL_BATCH):
            capsules = self.encoder.predict_on_batch(to_input(images[start : start + EVAL_BATCH]))
            out.append(np.linalg.norm(capsules, axis=-1))
        return np.concatenate(out)


class BaselineModel:
    def __init__(self):
        self.network = build_baseline_cnn()

    @property
    def parts(self) -> list:
        return [self.network]

    def scores(self, images: np.ndarray) -> np.ndarray:
        return np.concatenate(
            [
                self.network.predict_on_batch(to_input(images[start : start + EVAL_BATCH]))
                for start in range(0, len(images), EVAL_BATCH)
            ]
        )


def build(name: str):
    """A fresh "capsnet" (CapsNetModel) or "capsnet-baseline" (BaselineModel)."""
    return CapsNetModel() if name == "capsnet" else BaselineModel()
