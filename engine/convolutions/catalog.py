"""The chapter's summary of convolution types, each built as a real Keras layer.

A convolution with I input channels, O output channels and K kernel values has I x O x K weights.
The variants differ in what they connect:
- basic: every output sees a k x k window of every input channel;
- dilated (atrous; Yu & Koltun 2016, DeepLab): the window has holes, d - 1 pixels apart, so the
  receptive field grows to k + (k - 1)(d - 1) at no extra weight;
- transposed (the gradient of a strided convolution; used by U-Net and GAN generators): each input
  spreads over a k x k patch of a larger output;
- spatially separable: a k x k kernel that is an outer product k1 . k2 is applied as a k x 1 pass
  then a 1 x k pass, 2k instead of k^2 multiplications per pixel;
- depthwise: one k x k filter per input channel, no mixing across channels;
- depthwise separable (Xception, MobileNet): depthwise, then a 1 x 1 convolution that mixes channels.

`describe` returns each layer's output shape and weight count from Keras itself; `receptive_fields`
finds which inputs feed each output by running the real layer with all-ones kernels on one-hot
inputs; `apply_to_image` runs each type with a meaningful kernel (Sobel, Gaussian, bilinear).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from engine.core.errors import InvalidInput

KINDS = ("basic", "dilated", "transposed", "spatially separable", "depthwise", "depthwise separable")
MAX_SIZE = 512  # input height/width accepted for shape arithmetic
MAX_CHANNELS = 2048
MAX_KERNEL = 15
MAX_STRIDE = 4
MAX_DILATION = 8
MAX_FIELD_SIZE = 24  # largest input side for the receptive-field picture (one one-hot per pixel)
MAX_EFFECT_SIDE = 1024  # longest image side apply_to_image takes (a 62-megapixel photo took 32 s and 11 GB)


@dataclasses.dataclass(frozen=True)
class ConvSettings:
    height: int = 7
    width: int = 7
    in_channels: int = 3
    out_channels: int = 8
    kernel: int = 3
    stride: int = 1
    padding: str = "valid"  # "valid" or "same"
    dilation: int = 1

    def validate(self) -> None:
        checks = [
            (
                1 <= self.height <= MAX_SIZE and 1 <= self.width <= MAX_SIZE,
                f"input size must be 1..{MAX_SIZE}",
            ),
            (
                1 <= self.in_channels <= MAX_CHANNELS and 1 <= self.out_channels <= MAX_CHANNELS,
                f"channels must be 1..{MAX_CHANNELS}",
            ),
            (1 <= self.kernel <= MAX_KERNEL, f"kernel size must be 1..{MAX_KERNEL}"),
            (1 <= self.stride <= MAX_STRIDE, f"stride must be 1..{MAX_STRIDE}"),
            (1 <= self.dilation <= MAX_DILATION, f"dilation must be 1..{MAX_DILATION}"),
            (self.padding in ("valid", "same"), "padding must be 'valid' or 'same'"),
            (
                not (self.stride > 1 and self.dilation > 1),
                "Keras does not combine a stride above 1 with a dilation above 1; set one of them to 1",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise InvalidInput(message[0].upper() + message[1:] + ".")
        effective = self.kernel + (self.kernel - 1) * (self.dilation - 1)
        if self.padding == "valid" and effective > min(self.height, self.width):
            raise InvalidInput(
                f"With 'valid' padding the (dilated) kernel, {effective} px wide, must fit in "
                f"the {self.height} x {self.width} input; enlarge the input or use 'same'."
            )


@dataclasses.dataclass(frozen=True)
class ConvDescription:
    kind: str
    layers: str  # the Keras layers used
    output_shape: tuple[int, int, int]  # (height, width, channels)
    weights: int  # Keras count_params() without biases
    formula: str  # how the weight count comes about
    multiplications: int  # per output image, to compare costs


def _layers(kind: str, settings: ConvSettings, use_bias: bool = False) -> list:
    import keras

    k, s, p, o = settings.kernel, settings.stride, settings.padding, settings.out_channels
    if kind == "basic":
        return [keras.layers.Conv2D(o, k, strides=s, padding=p, use_bias=use_bias)]
    if kind == "dilated":
        return [keras.layers.Conv2D(o, k, padding=p, dilation_rate=settings.dilation, use_bias=use_bias)]
    if kind == "transposed":
        return [keras.layers.Conv2DTranspose(o, k, strides=s, padding=p, use_bias=use_bias)]
    if kind == "spatially separable":
        return [
            keras.layers.Conv2D(o, (k, 1), strides=(s, 1), padding=p, use_bias=False),
            keras.layers.DepthwiseConv2D((1, k), strides=(1, s), padding=p, use_bias=use_bias),
        ]
    if kind == "depthwise":
        return [keras.layers.DepthwiseConv2D(k, strides=s, padding=p, use_bias=use_bias)]
    if kind == "depthwise separable":
        return [keras.layers.SeparableConv2D(o, k, strides=s, padding=p, use_bias=use_bias)]
    raise InvalidInput(f"Unknown convolution type '{kind}'. Known: {', '.join(KINDS)}.")


def _formula(kind: str, settings: ConvSettings) -> str:
    i, o, k = settings.in_channels, settings.out_channels, settings.kernel
    return {
        "basic": f"I x O x K = {i} x {o} x {k * k}",
        "dilated": f"I x O x K = {i} x {o} x {k * k} (same weights, wider field)",
        "transposed": f"I x O x K = {i} x {o} x {k * k}",
        "spatially separable": f"I x O x k + O x k = {i} x {o} x {k} + {o} x {k}",
        "depthwise": f"I x K = {i} x {k * k} (O = I)",
        "depthwise separable": f"I x K + I x O = {i} x {k * k} + {i} x {o}",
    }[kind]


def describe(settings: ConvSettings) -> list[ConvDescription]:
    """Output shape, weight count and multiplications of every convolution type, from Keras."""
    import keras

    settings.validate()
    described = []
    for kind in KINDS:
        if kind == "dilated" and settings.dilation == 1:
            settings_for_kind = (
                dataclasses.replace(settings, dilation=2) if settings.stride == 1 else settings
            )
        else:
            settings_for_kind = settings
        layers = _layers(kind, settings_for_kind)
        inputs = keras.Input((settings.height, settings.width, settings.in_channels))
        outputs = inputs
        for layer in layers:
            outputs = layer(outputs)
        shape = tuple(int(size) for size in outputs.shape[1:])
        weights = sum(layer.count_params() for layer in layers)
        multiplications = _multiplications(kind, settings_for_kind, shape)
        described.append(
            ConvDescription(
                kind,
                " -> ".join(type(layer).__name__ for layer in layers),
                shape,
                weights,
                _formula(kind, settings_for_kind),
                multiplications,
            )
        )
    return described


def _multiplications(kind: str, settings: ConvSettings, output_shape: tuple[int, int, int]) -> int:
    i, o, k = settings.in_channels, settings.out_channels, settings.kernel
    height, width, _ = output_shape
    if kind == "transposed":  # every input pixel spreads to K outputs per (in, out) pair
        return settings.height * settings.width * i * o * k * k
    if kind == "spatially separable":
        first_height = height  # the k x 1 pass runs on the full width before the 1 x k pass strides
        return first_height * settings.width * i * o * k + height * width * o * k
    per_pixel = {
        "basic": i * o * k * k,
        "dilated": i * o * k * k,
        "depthwise": i * k * k,
        "depthwise separable": i * k * k + i * o,
    }[kind]
    return height * width * per_pixel


@dataclasses.dataclass(frozen=True)
class ReceptiveFields:
    kind: str
    input_shape: tuple[int, int]
    output_shape: tuple[int, int]
    # fields[r, c] is a boolean (input height, input width) map of the inputs feeding output (r, c)
    fields: np.ndarray


def receptive_fields(kind: str, settings: ConvSettings) -> ReceptiveFields:
    """Which input pixels feed each output pixel, found by running the real layer.

    One channel in and out, all-ones kernels: output (r, c) depends on input (y, x) exactly when the
    layer's response to a one-hot input at (y, x) is non-zero at (r, c).
    """
    settings = dataclasses.replace(settings, in_channels=1, out_channels=1)
    settings.validate()
    if max(settings.height, settings.width) > MAX_FIELD_SIZE:
        raise InvalidInput(
            f"The receptive-field picture takes inputs up to {MAX_FIELD_SIZE} x {MAX_FIELD_SIZE}."
        )
    layers = _layers(kind, settings)
    one_hots = np.eye(settings.height * settings.width, dtype=np.float32).reshape(
        -1, settings.height, settings.width, 1
    )
    outputs = one_hots
    for layer in layers:  # first pass builds the layers
        outputs = layer(outputs)
    for layer in layers:
        layer.set_weights([np.ones_like(weight) for weight in layer.get_weights()])
    outputs = one_hots
    for layer in layers:
        outputs = layer(outputs)
    responses = np.asarray(outputs)[..., 0]  # (inputs, out_h, out_w)
    fields = responses.transpose(1, 2, 0).reshape(*responses.shape[1:], settings.height, settings.width) > 0.5
    return ReceptiveFields(kind, (settings.height, settings.width), responses.shape[1:], fields)


def gaussian_1d(size: int = 5, sigma: float = 1.0) -> np.ndarray:
    offsets = np.arange(size) - (size - 1) / 2
    weights = np.exp(-(offsets**2) / (2 * sigma**2))
    return (weights / weights.sum()).astype(np.float32)


SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32)
LUMA = np.array([0.299, 0.587, 0.114], np.float32)


@dataclasses.dataclass(frozen=True)
class AppliedConvolution:
    kind: str
    kernel_description: str
    image: np.ndarray  # uint8 (H, W, 3) or (H, W), ready to show
    note: str


def _to_uint8(values: np.ndarray, symmetric: bool = False) -> np.ndarray:
    if symmetric:  # signed responses (edges): 128 is zero
        scale = np.abs(values).max() or 1.0
        return np.clip(128 + 127 * values / scale, 0, 255).astype(np.uint8)
    return np.clip(values, 0, 255).astype(np.uint8)


def separable_versus_full(
    gray: np.ndarray, size: int = 5, sigma: float = 1.5
) -> tuple[np.ndarray, np.ndarray]:
    """Blur a (H, W) float image with a Gaussian as two 1-D passes and as one 2-D kernel."""
    import keras

    k1 = gaussian_1d(size, sigma)
    batch = gray[None, :, :, None].astype(np.float32)
    vertical = keras.layers.Conv2D(1, (size, 1), padding="same", use_bias=False)
    horizontal = keras.layers.Conv2D(1, (1, size), padding="same", use_bias=False)
    full = keras.layers.Conv2D(1, size, padding="same", use_bias=False)
    for layer, kernel in ((vertical, k1[:, None]), (horizontal, k1[None, :]), (full, np.outer(k1, k1))):
        layer.build(batch.shape)
        layer.set_weights([kernel[:, :, None, None]])
    two_pass = np.asarray(horizontal(vertical(batch)))[0, :, :, 0]
    one_pass = np.asarray(full(batch))[0, :, :, 0]
    return two_pass, one_pass


def apply_to_image(pixels: np.ndarray, dilation: int = 2) -> list[AppliedConvolution]:
    """Run each convolution type on an RGB uint8 image with a kernel whose effect can be seen."""
    import keras

    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise InvalidInput("Expected an RGB image.")
    if max(pixels.shape[:2]) > MAX_EFFECT_SIDE:
        raise InvalidInput(
            f"The image is {pixels.shape[1]} x {pixels.shape[0]} pixels; resize it to at most "
            f"{MAX_EFFECT_SIDE} on its long side first (the effects read the same)."
        )
    rgb = pixels.astype(np.float32)[None]
    gray = (rgb @ LUMA)[..., None]
    results = []

    def conv(layer, inputs, kernel):
        layer.build(inputs.shape)
        layer.set_weights([kernel])
        return np.asarray(layer(inputs))[0]

    edges = conv(keras.layers.Conv2D(1, 3, padding="same", use_bias=False), gray, SOBEL_X[:, :, None, None])
    results.append(
        AppliedConvolution(
            "basic",
            "3 x 3 Sobel (horizontal gradient)",
            _to_uint8(edges[..., 0], symmetric=True),
            "vertical edges light up",
        )
    )
    dilated = conv(
        keras.layers.Conv2D(1, 3, padding="same", dilation_rate=dilation, use_bias=False),
        gray,
        SOBEL_X[:, :, None, None],
    )
    results.append(
        AppliedConvolution(
            "dilated",
            f"the same Sobel, dilation {dilation}",
            _to_uint8(dilated[..., 0], symmetric=True),
            f"same 9 weights, a {3 + 2 * (dilation - 1)} px field: coarser edges",
        )
    )
    bilinear = np.outer([0.25, 0.75, 0.75, 0.25], [0.25, 0.75, 0.75, 0.25]).astype(np.float32)
    kernel = np.zeros((4, 4, 3, 3), np.float32)
    for channel in range(3):
        kernel[:, :, channel, channel] = bilinear
    upsampled = conv(
        keras.layers.Conv2DTranspose(3, 4, strides=2, padding="same", use_bias=False), rgb, kernel
    )
    results.append(
        AppliedConvolution(
            "transposed",
            "4 x 4 bilinear kernel, stride 2",
            _to_uint8(upsampled),
            f"{pixels.shape[1]} x {pixels.shape[0]} -> {upsampled.shape[1]} x "
            f"{upsampled.shape[0]}: each input pixel spreads over 4 x 4 outputs",
        )
    )
    two_pass, one_pass = separable_versus_full(gray[0, :, :, 0], 9, 3.0)
    results.append(
        AppliedConvolution(
            "spatially separable",
            "9 x 1 then 1 x 9 Gaussian (sigma 3)",
            _to_uint8(two_pass),
            f"18 multiplications per pixel instead of 81; largest "
            f"difference from the 9 x 9 kernel: {np.abs(two_pass - one_pass).max():.2e}",
        )
    )
    gaussian = np.outer(gaussian_1d(9, 3.0), gaussian_1d(9, 3.0))
    blurred = conv(
        keras.layers.DepthwiseConv2D(9, padding="same", use_bias=False),
        rgb,
        np.repeat(gaussian[:, :, None, None], 3, axis=2),
    )
    results.append(
        AppliedConvolution(
            "depthwise",
            "one 9 x 9 Gaussian per colour channel",
            _to_uint8(blurred),
            "each channel filtered alone: colours never mix",
        )
    )
    separable = keras.layers.SeparableConv2D(1, 3, padding="same", use_bias=False)
    separable.build(rgb.shape)
    separable.set_weights([np.repeat(SOBEL_X[:, :, None, None], 3, axis=2), LUMA[None, None, :, None]])
    mixed = np.asarray(separable(rgb))[0, :, :, 0]
    results.append(
        AppliedConvolution(
            "depthwise separable",
            "Sobel per channel, then 1 x 1 luminance mix",
            _to_uint8(mixed, symmetric=True),
            "the 1 x 1 step mixes the three channels' edges into one map",
        )
    )
    return results
