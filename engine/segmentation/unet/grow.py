"""Growing the trained 3-level U-Net into the 4-level one (engine/segmentation/unet/model.py), Net2Net-style.

A `--resume` of `python -m engine train unet` from 3-level weights into the 4-level network calls `grow`
(engine/segmentation/unet/train.py). TensorFlow is imported inside functions only.
"""

from __future__ import annotations

import pathlib

import numpy as np

from engine.core import weights_io
from engine.core.errors import ModelUnavailable
from engine.segmentation.unet.model import FILTERS

# The fourth level sees a whole object at 6 x 6 with 256 channels (the 3-level U-Net, FILTERS[:-1] with two
# coarse heads, mistook whole objects); `grow` starts it from the 3-level weights (`--resume` does this).
# 3-level layer -> its place in the 4-level network; the rest keep their names.
GROWN_LAYERS = {"bottleneck": "down3"}
GROWTH_CALIBRATION_SCENES = 256  # training scenes that measure the statistics `grow` needs


def grow(network, path: pathlib.Path, calibration_images: np.ndarray) -> None:
    """Start this 4-level U-Net from a 3-level one's stored weights so that it computes what that one did.

    Every stored layer goes to its counterpart: the 3-level bottleneck becomes the fourth encoder level
    (GROWN_LAYERS), the rest keep their names and shapes. The new decoder level up3 starts as the identity
    on its skip input, i.e. on that same fourth level's output: the centre tap of each 3x3 kernel passes
    those channels through and every other weight is zero (the upsampled bottleneck's included: they
    get gradients from the first step, like a zero-initialised residual branch), and each of its batch
    norms undoes its own normalisation: its moving statistics are the skip input's, measured on
    `calibration_images` (uint8 scenes), gamma is their standard deviation and beta their mean.
    The skip input is a ReLU's output, so the ReLUs pass it unchanged. The new coarsest score head starts
    at zero. At inference the grown network then gives the 3-level one's scores exactly (in training,
    up to the batch statistics); the new bottleneck starts from its random initialisation. Growing a
    trained network function-preservingly is Net2Net's idea (Chen, Goodfellow & Shlens, ICLR 2016).
    """
    import keras

    for key, values in weights_io.stored_arrays(path).items():
        layer_name, variable_name = key.split("/", 1)
        prefix, _, rest = layer_name.partition("_")
        variable = _variable(network, f"{GROWN_LAYERS.get(prefix, prefix)}_{rest}", variable_name)
        if tuple(variable.shape) != values.shape:
            raise ModelUnavailable(
                f"{pathlib.Path(path).name}: {key} has shape {values.shape}, the grown U-Net "
                f"expects {tuple(variable.shape)}; it is not the 3-level U-Net's."
            )
        variable.assign(values)
    width = FILTERS[-2]  # the new decoder level's width = its skip input's
    identity = np.zeros((3, 3, 2 * width, width), np.float32)
    identity[1, 1, width:, :] = np.eye(width)  # the concatenation is [upsampled bottleneck, skip]
    _variable(network, "up3_conv1", "kernel").assign(identity)
    _variable(network, "up3_conv2", "kernel").assign(identity[:, :, width:, :])
    skip = keras.Model(network.input, network.get_layer("down3_relu2").output)
    features = np.asarray(skip.predict_on_batch(calibration_images.astype(np.float32)))
    mean, variance = features.mean(axis=(0, 1, 2)), features.var(axis=(0, 1, 2))
    for norm in ("up3_bn1", "up3_bn2"):  # both see the skip input: the identity passes it on unchanged
        layer = network.get_layer(norm)
        layer.moving_mean.assign(mean)
        layer.moving_variance.assign(variance)
        layer.gamma.assign(
            np.sqrt(variance + layer.epsilon)
        )  # undoes the normalisation, at inference exactly
        layer.beta.assign(mean)
    head = network.get_layer(f"coarse{len(FILTERS) - 1}_scores")
    for variable in head.weights:
        variable.assign(np.zeros(variable.shape, np.float32))


def _variable(network, layer_name: str, variable_name: str):
    return next(
        variable for variable in network.get_layer(layer_name).weights if variable.name == variable_name
    )
