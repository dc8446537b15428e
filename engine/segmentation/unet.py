"""U-Net trained here on the scenes' semantic label maps (background + 16 classes).

U-Net (Ronneberger, Fischer & Brox, "U-Net: Convolutional Networks for Biomedical Image
Segmentation", MICCAI 2015): a contracting path of 3x3 convolutions and 2x2 max pooling that
doubles the filters at each level, and an expanding path that upsamples with 2x2 transposed
convolutions and concatenates the contracting path's feature map of the same size (the skip
connection) before two more 3x3 convolutions, so the coarse "what" from the bottleneck meets the
fine "where" of the early layers. A 1x1 convolution gives a score per label and pixel. This one is
small: 4 poolings (96 -> 48 -> 24 -> 12 -> 6), 16-32-64-128 filters down, 256 in the bottleneck;
"same" padding (the paper crops instead) and batch normalization after each convolution. One
addition from FCN (Long, Shelhamer & Darrell, CVPR 2015): the three coarsest decoder levels also
score the labels, and their scores, upsampled bilinearly, are added to the 1x1 scores of the top level.

Trained on pre-generated training scenes (each with MAX_OBJECTS objects) with Adam on cross-entropy plus a
soft Jaccard term (1 - soft IoU per label, averaged over the labels present in the batch; Rahman & Wang,
"Optimizing Intersection-Over-Union in Deep Neural Networks for Image Segmentation", ISVC 2016, and in
the spirit of the Lovasz-softmax of Berman et al., CVPR 2018): cross-entropy alone is ruled by the
background's 88% of the pixels, while mean IoU weighs every label alike. The best epoch is picked by
mean IoU on validation scenes; the reported figures are on the fixed 500 test scenes
(`scenes.test_scenes()`). The tunables below are the default of `UNetConfig`; each training cycle of the
committed weights is a named config of it (`python -m engine configs unet`; docs/models/unet.md).
TensorFlow is imported inside functions only.
"""

from __future__ import annotations

import dataclasses
import pathlib
import time

import numpy as np

from engine.core import assets, configs, training, weights_io
from engine.core.errors import InvalidInput, ModelUnavailable
from engine.core.progress import ProgressCallback, StopCheck, never_stop, no_progress
from engine.data import scenes
from engine.ops import metrics

WEIGHTS = "scene_segmentation/unet.npz"  # under assets/, float16
LABELS = ("background", *scenes.CLASSES)  # index = value in the label map (scenes.Scene.label_map)
FILTERS = (16, 32, 64, 128, 256)  # per level of the contracting path; the last is the 6 x 6 bottleneck
# The three coarsest levels of the expanding path (6 x 6 x 256, 12 x 12 x 128, 24 x 24 x 64) also score the
# labels, and those scores, upsampled, are added to the full-size ones: which class an object is gets
# decided where the features are wide and see the whole object, instead of squeezing through the 16
# channels of the top level (without them a first run stayed near chance: docs/models/unet.md).
COARSE_HEADS = 3
# The fourth level sees a whole object at 6 x 6 with 256 channels (the 3-level U-Net, FILTERS[:-1] with two
# coarse heads, mistook whole objects); `grow` starts it from the 3-level weights (`--resume` does this).
GROWN_LAYERS = {
    "bottleneck": "down3"
}  # 3-level layer -> its place in the 4-level network; the rest keep their names
GROWTH_CALIBRATION_SCENES = 256  # training scenes that measure the statistics `grow` needs
DEFAULT_EPOCHS = 3
TRAIN_SCENES = 8000  # pre-generated once per run (about 2 ms each); 3 epochs take ~20 min on one shared core
RESUME_TRAIN_SCENES = 16000  # new scenes per further cycle (`--resume`): fresh data rather than more passes
TRAIN_OBJECTS = scenes.MAX_OBJECTS  # training scenes are drawn full: more object pixels per step of compute
# Validation split (its usual 1-4 objects), picks the best epoch; 500, as 200 were too few to tell epochs apart.
VALIDATION_SCENES = 500
BATCH_SIZE = 8  # small batches: more updates for the same compute, which gets past the early plateau sooner
LEARNING_RATE = 2e-3  # Adam, cosine-decayed to zero over the run
RESUME_LEARNING_RATE = 1e-3  # peak of a further cosine cycle started from the best weights (`--resume`)
JACCARD_WEIGHT = 1.0  # weight of the soft Jaccard term next to the cross-entropy (0: cross-entropy only)
# Extra cross-entropy weight of boundary pixels (those with two labels in their 3 x 3 neighbourhood), in the
# spirit of the U-Net paper's weight map: most wrong pixels lie on label boundaries (measured: docs/models/unet.md).
BOUNDARY_WEIGHT = 2.0
# The labels the 4-level U-Net gets wrong most (nearly always as whole objects; docs/models/unet.md): training
# scenes that show one are drawn more often, a scene's weight being 1 + the extra of each such label in it.
OVERSAMPLED_LABELS = {"sneaker": 2.0, "ankle boot": 2.0, "sandal": 2.0, "1": 1.0}
PREDICT_BATCH = 100
# Test-time augmentation: label probabilities are averaged over the scene and these shifted copies (dx, dy).
# A convolutional network is only roughly shift-equivariant (its poolings), so the copies disagree near
# edges and on doubtful objects, and their mean is steadier. The 8 one-pixel neighbours were chosen on
# validation against 4 shifts and larger ones (docs/models/unet.md), at 9 times the compute.
TEST_TIME_SHIFTS: tuple[tuple[int, int], ...] = (
    (1, 0),
    (-1, 0),
    (0, 1),
    (0, -1),
    (1, 1),
    (-1, -1),
    (1, -1),
    (-1, 1),
)
CHECKPOINTS = (
    assets.cache_dir() / "train" / "unet"
)  # the checkpoint folder before run folders: --resume reads it


@dataclasses.dataclass(frozen=True)
class UNetConfig:
    """The U-Net's training tunables (engine/core/configs.py); the defaults are the constants above."""

    epochs: int = DEFAULT_EPOCHS  # a first run's epochs; with --resume, the new cycle's
    levels: int = (
        len(FILTERS) - 1
    )  # poolings: 4, or 3 (FILTERS[:-1], one coarse head fewer: the first cycles')
    train_scenes: int = TRAIN_SCENES  # a first run's
    resume_train_scenes: int = RESUME_TRAIN_SCENES  # a resumed cycle's
    validation_scenes: int = VALIDATION_SCENES
    batch_size: int = BATCH_SIZE
    learning_rate: float = LEARNING_RATE  # a first run's cosine peak
    resume_learning_rate: float = RESUME_LEARNING_RATE  # a resumed cycle's (--peak-learning-rate)
    jaccard_weight: float = JACCARD_WEIGHT
    boundary_weight: float = BOUNDARY_WEIGHT
    oversampled_labels: dict[str, float] = dataclasses.field(default_factory=lambda: dict(OVERSAMPLED_LABELS))
    validation_shifts: bool = True  # validation measures with TEST_TIME_SHIFTS (the first 4 cycles' did not)

    def architecture(self) -> tuple[tuple[int, ...], int]:
        """(filters, coarse heads) of `build_network`."""
        if self.levels not in (len(FILTERS) - 2, len(FILTERS) - 1):
            raise InvalidInput(
                f"The U-Net has {len(FILTERS) - 2} or {len(FILTERS) - 1} levels, not {self.levels}."
            )
        cut = len(FILTERS) - 1 - self.levels
        return FILTERS[: len(FILTERS) - cut], COARSE_HEADS - cut


def build_network(filters: tuple[int, ...] = FILTERS, coarse_heads: int = COARSE_HEADS):
    """The Keras U-Net: uint8-range RGB (B, 96, 96, 3) -> label scores (B, 96, 96, len(LABELS)) (logits)."""
    import keras

    def double_conv(x, width: int, name: str):
        for index in (1, 2):
            x = keras.layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"{name}_conv{index}")(x)
            x = keras.layers.BatchNormalization(name=f"{name}_bn{index}")(x)
            x = keras.layers.ReLU(name=f"{name}_relu{index}")(x)
        return x

    inputs = keras.Input((scenes.SIZE, scenes.SIZE, 3), name="scene")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1, name="rescale")(inputs)
    skips = []
    for level, width in enumerate(filters[:-1]):
        x = double_conv(x, width, f"down{level}")
        skips.append(x)
        x = keras.layers.MaxPooling2D(2, name=f"down{level}_pool")(x)
    x = double_conv(x, filters[-1], "bottleneck")
    coarse_scores = []  # label scores of the coarse levels, upsampled to full size (FCN-style side outputs)
    for level in reversed(range(len(filters) - 1)):
        if level >= len(filters) - 1 - coarse_heads:
            factor = 2 ** (level + 1)
            scores = keras.layers.Conv2D(len(LABELS), 1, name=f"coarse{level + 1}_scores")(x)
            coarse_scores.append(
                keras.layers.UpSampling2D(
                    factor, interpolation="bilinear", name=f"coarse{level + 1}_upsample"
                )(scores)
            )
        width = filters[level]
        x = keras.layers.Conv2DTranspose(width, 2, strides=2, name=f"up{level}_transpose")(x)
        x = keras.layers.Concatenate(name=f"up{level}_skip")([x, skips[level]])
        x = double_conv(x, width, f"up{level}")
    fine_scores = keras.layers.Conv2D(len(LABELS), 1, name="fine_scores")(x)
    outputs = (
        keras.layers.Add(name="label_scores")([fine_scores, *coarse_scores]) if coarse_scores else fine_scores
    )
    return keras.Model(inputs, outputs, name="unet")


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


def is_three_level(path: pathlib.Path) -> bool:
    """Whether a stored U-Net is the 3-level one (its bottleneck has FILTERS[-2] filters), which `grow` takes."""
    with np.load(path) as stored:
        key = "unet:bottleneck_conv1/kernel"
        return key in stored.files and stored[key].shape[-1] == FILTERS[-2]


@dataclasses.dataclass(frozen=True)
class LayerRow:
    name: str
    kind: str  # Keras layer class, e.g. "Conv2DTranspose"
    output_shape: str  # e.g. "48 x 48 x 32" (batch left out)
    parameters: int


def describe_architecture(network=None) -> list[LayerRow]:
    """One row per layer of the U-Net (built without weights when `network` is None)."""
    network = network if network is not None else build_network()
    rows = []
    for layer in network.layers:
        shape = layer.output.shape if not isinstance(layer.output, (list, tuple)) else layer.output[0].shape
        rows.append(
            LayerRow(
                layer.name,
                type(layer).__name__,
                " x ".join(str(side) for side in shape[1:]),
                int(layer.count_params()),
            )
        )
    return rows


class SceneSegmenter:
    """The trained U-Net behind the segmentation page's `label_map(pixels)` protocol.

    It knows only 96 x 96 scenes: any other image is resized to that, and the label scores are
    resized back to the image before the argmax.
    """

    labels = LABELS

    def __init__(self, network, shifts: tuple[tuple[int, int], ...] | None = None):
        import tensorflow as tf

        self.network = network
        self.shifts = shifts  # None: TEST_TIME_SHIFTS (read when scoring)
        self._scores = tf.function(
            lambda images: tf.nn.softmax(network(images, training=False)),
            input_signature=[tf.TensorSpec([None, scenes.SIZE, scenes.SIZE, 3], tf.float32)],
        )

    def scores(self, images: np.ndarray) -> np.ndarray:
        """Label probabilities (B, 96, 96, len(LABELS)) for uint8 scenes (B, 96, 96, 3): the mean over the
        scene and its TEST_TIME_SHIFTS copies (or the segmenter's `shifts`), each shifted back."""
        if images.ndim != 4 or images.shape[1:] != (scenes.SIZE, scenes.SIZE, 3):
            raise InvalidInput(f"Expected scenes of {scenes.SIZE} x {scenes.SIZE} RGB pixels.")
        shifts = TEST_TIME_SHIFTS if self.shifts is None else self.shifts
        copies = 1 + len(shifts)
        chunk = max(1, PREDICT_BATCH // copies)  # the scenes whose copies go through the network as one batch
        averaged = []
        for start in range(0, len(images), chunk):
            part = images[start : start + chunk]
            batch = np.concatenate([part, *(shift_scenes(part, shift) for shift in shifts)])
            scores = (
                self._scores(batch.astype(np.float32))
                .numpy()
                .reshape(copies, len(part), *batch.shape[1:3], -1)
            )
            total = scores[0] + sum(
                shift_back(scores[index + 1], shift) for index, shift in enumerate(shifts)
            )
            averaged.append(total / copies)
        return np.concatenate(averaged)

    def predict(self, images: np.ndarray) -> np.ndarray:
        """uint8 label maps (B, 96, 96) for uint8 scenes (B, 96, 96, 3)."""
        return self.scores(images).argmax(-1).astype(np.uint8)

    def label_map(self, pixels: np.ndarray) -> np.ndarray:
        import cv2

        height, width = pixels.shape[:2]
        if (height, width) == (scenes.SIZE, scenes.SIZE):
            return self.predict(pixels[None])[0]
        resized = cv2.resize(pixels, (scenes.SIZE, scenes.SIZE), interpolation=cv2.INTER_AREA)
        scores = self.scores(resized[None])[0]
        # OpenCV resizes at most 4 channels at once with some interpolations; do them in groups.
        upsampled = np.concatenate(
            [
                cv2.resize(
                    scores[..., start : start + 4], (width, height), interpolation=cv2.INTER_LINEAR
                ).reshape(height, width, -1)
                for start in range(0, scores.shape[-1], 4)
            ],
            axis=-1,
        )
        return upsampled.argmax(-1).astype(np.uint8)


def shift_scenes(images: np.ndarray, shift: tuple[int, int]) -> np.ndarray:
    """Scenes (B, H, W, C) moved by shift = (dx, dy) pixels, the uncovered border mirrored from the scene."""
    return _shifted(images, shift, "reflect")


def shift_back(scores: np.ndarray, shift: tuple[int, int]) -> np.ndarray:
    """Undo `shift_scenes` on per-pixel scores (B, H, W, L); the border the shift lost repeats its edge."""
    return _shifted(scores, (-shift[0], -shift[1]), "edge")


def _shifted(array: np.ndarray, shift: tuple[int, int], border: str) -> np.ndarray:
    """(B, H, W, C) moved by (dx, dy) pixels, the uncovered border filled by np.pad's `border` mode."""
    dx, dy = shift
    margin = max(abs(dx), abs(dy))
    padded = np.pad(array, ((0, 0), (margin, margin), (margin, margin), (0, 0)), mode=border)
    height, width = array.shape[1:3]
    return np.ascontiguousarray(
        padded[:, margin - dy : margin - dy + height, margin - dx : margin - dx + width]
    )


def build(weights_path: pathlib.Path) -> SceneSegmenter:
    network = (
        build_network(*UNetConfig(levels=3).architecture())
        if is_three_level(weights_path)
        else build_network()
    )
    weights_io.load_float16(network, weights_path)
    return SceneSegmenter(network)


def generate(
    split: str, count: int, start: int = 0, objects: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Scenes start .. start + count - 1 of a split: uint8 images (N, 96, 96, 3), label maps (N, 96, 96).

    `objects` forces that many objects per scene (see `scenes.scene`); None draws 1..MAX_OBJECTS.
    """
    items = [scenes.scene(split, index, objects=objects) for index in range(start, start + count)]
    return np.stack([item.image for item in items]), np.stack([item.label_map for item in items])


def measure(segmenter: SceneSegmenter, images: np.ndarray, truth: np.ndarray) -> dict:
    """Mean IoU over the 17 labels, pixel accuracy and each label's IoU, as measured."""
    started = time.perf_counter()
    predicted = segmenter.predict(images)
    milliseconds = (time.perf_counter() - started) * 1000 / len(images)
    result = metrics.mean_iou(predicted, truth, len(LABELS))
    return {
        "mean_iou": result["mean_iou"],
        "pixel_accuracy": float(np.mean(predicted == truth)),
        "per_label": {LABELS[label]: round(iou, 4) for label, iou in result["per_label"].items()},
        "scenes": len(images),
        "ms_per_scene": round(milliseconds, 3),
    }


def evaluate_model(segmenter: SceneSegmenter, count: int = scenes.TEST_SCENES, split: str = "test") -> dict:
    """Figures on scenes 0 .. count - 1 of a split (default: the 500 held-out test scenes)."""
    images, truth = generate(split, count)
    return {**measure(segmenter, images, truth), "split": split}


class UNetTask(training.Task):
    """The U-Net's part of training (engine/core/training.py runs the loop): pre-generated scenes drawn
    with OVERSAMPLED_LABELS' weights, the boundary-weighted cross-entropy + soft Jaccard loss, validation
    mean IoU (with the test-time shifts). A resumed run is a further cycle on scenes none before it saw,
    from the best weights so far (grown from the 3-level U-Net when those are its)."""

    name = "unet"
    asset = WEIGHTS
    monitor = "validation_mean_iou"
    ties_to_later = False
    resume_from = "best"
    report_every = 25
    legacy_checkpoints = CHECKPOINTS
    unit = "scenes"
    batch_size = BATCH_SIZE

    def __init__(
        self,
        train_scenes: int,
        validation_scenes: int,
        seed: int,
        resume: bool,
        peak: float,
        smoke: bool,
        on_progress: ProgressCallback = no_progress,
        config: UNetConfig | None = None,
    ):
        self.config = config or UNetConfig()
        self.train_scenes, self.validation_scenes, self.seed = train_scenes, validation_scenes, seed
        self.resume, self.peak, self.smoke, self.on_progress = resume, peak, smoke, on_progress
        self.history: list[
            dict
        ] = []  # the log so far (set before fit), which numbers the cycle and its scenes
        self.grown, self._step = False, None

    def build_inputs(self, first_epoch: int) -> None:
        self.build_sampler()
        first_scene = sum(_cycle_scenes(self.history).values())  # every cycle draws scenes none before it saw
        self.on_progress(0.0, f"generating {self.train_scenes} training scenes")
        self.images, self.label_maps = generate(
            "train", self.train_scenes, start=first_scene, objects=TRAIN_OBJECTS
        )
        self.validation = generate("validation", self.validation_scenes)
        self.rng = np.random.default_rng(self.seed + self.cycle)
        sampling = scene_weights(self.label_maps, self.config.oversampled_labels)
        self.sampling = sampling / sampling.sum()

    def build_sampler(self) -> None:
        """The cycle (which seeds the network); `sample` generates its scenes as it draws them."""
        self.cycle = max((entry.get("cycle", 0) for entry in self.history), default=-1) + 1

    def sample(self, rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
        """`size` consecutive full training scenes from a random one (not oversampled), and their label maps."""
        images, maps = generate("train", size, int(rng.integers(0, self.train_scenes)), objects=TRAIN_OBJECTS)
        return images.astype(np.float32), maps.astype(np.int32)

    def loss(self, batch):
        """What the step minimizes: the batch's mean (its Jaccard term spans the whole batch)."""
        return batch_loss(self.network, *batch, self.config.boundary_weight, self.config.jaccard_weight)

    def build_model(self) -> list:
        import keras

        keras.utils.set_random_seed(self.seed + self.cycle)
        self.network = build_network(*self.config.architecture())
        self.segmenter = SceneSegmenter(self.network, None if self.config.validation_shifts else ())
        return [self.network]

    def load_weights(self, parts: list, path: pathlib.Path) -> None:
        self.grown = is_three_level(path) and self.config.levels == len(FILTERS) - 1
        if self.grown:
            grow(self.network, path, self.images[:GROWTH_CALIBRATION_SCENES])
        else:
            weights_io.load_float16(parts, path)

    def starting_metric(self, history: list[dict]) -> float | None:
        """A grown network cannot be saved over the 3-level one it grew from, so its first epoch is kept
        whatever it scores; otherwise the weights a resumed cycle starts from are measured as its epochs will
        be (the logged figures of earlier cycles may predate today's test-time shifts)."""
        if not self.resume or self.grown or self.smoke:
            return None
        start = measure(self.segmenter, *self.validation)["mean_iou"]
        self.on_progress(0.0, f"starting weights: validation mean IoU {start:.4f}")
        return start

    def steps_per_epoch(self) -> int:
        return self.train_scenes // self.config.batch_size

    def batches(self, epoch: int):
        order = self.rng.choice(self.train_scenes, self.train_scenes, p=self.sampling)
        size = self.config.batch_size
        for batch in range(self.steps_per_epoch()):
            index = np.sort(order[batch * size : (batch + 1) * size])
            yield self.images[index].astype(np.float32), self.label_maps[index].astype(np.int32)

    def train_step(self, batch, optimizer) -> dict[str, float]:
        if self._step is None:
            self._step = _train_step_function(
                self.network, optimizer, self.config.boundary_weight, self.config.jaccard_weight
            )
        return {"loss": self._step(*batch)}

    def validate(self) -> dict[str, float]:
        figures = measure(self.segmenter, *self.validation)
        return {
            "validation_mean_iou": figures["mean_iou"],
            "validation_pixel_accuracy": figures["pixel_accuracy"],
        }

    def epoch_log(self, epoch: int) -> dict:
        config = self.config
        return {
            "cycle": self.cycle,
            "levels": config.levels,
            "grown": self.grown,
            "train_scenes": self.train_scenes,
            "jaccard_weight": config.jaccard_weight,
            "oversampled": config.oversampled_labels,
            "boundary_weight": config.boundary_weight,
            "validation_scenes": self.validation_scenes,
            "peak_learning_rate": self.peak,
            "test_time_shifts": len(TEST_TIME_SHIFTS) if config.validation_shifts else 0,
        }

    def evaluate(self, weights: pathlib.Path) -> dict:
        return evaluate_model(build(weights))  # the float16 weights that get promoted, not the float32 ones

    def committed_history(self) -> list[dict] | None:
        stored = super().committed_history()
        return None if stored is None else [{"cycle": 0, **entry} for entry in stored]

    def committed_epoch(self, history: list[dict]) -> int:
        return len(history)  # the whole log goes on: its cycles number the next one and count the scenes seen

    def manifest_line(self, figures: dict, history: list[dict], epochs: int) -> tuple[str, str]:
        return _manifest_line(figures, history)

    def outputs(
        self, run: training.Run, figures: dict, history: list[dict], epochs: int
    ) -> list[training.Output]:
        return [
            *super().outputs(run, figures, history, epochs),
            training.Output(str(pathlib.PurePosixPath(WEIGHTS).with_suffix(".history.json")), "history.json"),
        ]


def _train_step_function(
    network, optimizer, boundary_weight: float = BOUNDARY_WEIGHT, jaccard_weight: float = JACCARD_WEIGHT
):
    import tensorflow as tf

    variables = network.trainable_variables

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, scenes.SIZE, scenes.SIZE, 3], tf.float32),
            tf.TensorSpec([None, scenes.SIZE, scenes.SIZE], tf.int32),
        ]
    )
    def step(batch_images, batch_maps):  # traced once for the whole run
        with tf.GradientTape() as tape:
            loss = batch_loss(network, batch_images, batch_maps, boundary_weight, jaccard_weight)
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    return step


def train(
    epochs: int | None = None,
    on_progress: ProgressCallback = no_progress,
    should_stop: StopCheck = never_stop,
    train_scenes: int | None = None,
    validation_scenes: int | None = None,
    max_batches: int | None = None,
    seed: int = 0,
    output: pathlib.Path | None = None,
    resume: bool = False,
    peak_learning_rate: float | None = None,
    max_steps: int | None = None,
    run: str | None = None,
    config: configs.NamedConfig | str | None = None,
) -> dict:
    """Train the U-Net from scratch into a run folder (engine/core/training.py); keep the epoch with the best
    validation mean IoU; `python -m engine promote unet RUN` commits it.

    Args:
        config: the named config (engine/core/configs.py; default "default", `UNetConfig()`) whose settings
            the run uses; one that resumes another makes this run a resumed cycle. The arguments below,
            when given, override its settings (and are recorded as overrides).
        epochs: passes over the training scenes (default DEFAULT_EPOCHS); with `resume`, the new cycle's.
        resume: a further cycle (warm restart, as in SGDR, Loshchilov & Hutter 2017): start from the
            best weights so far (the newest run's, else the old cache's, else the committed file) and their
            history, on the next `train_scenes` training scenes not seen yet, learning rate from
            RESUME_LEARNING_RATE cosine-decayed to zero; the best epoch over all cycles is kept. When
            those best weights are the 3-level U-Net's, the network is first grown from them (`grow`),
            and the best epoch is kept among the grown network's.
        train_scenes: how many training scenes to pre-generate (default TRAIN_SCENES, RESUME_TRAIN_SCENES
            when resuming).
        validation_scenes: how many validation scenes measure each epoch.
        max_steps (or its older name max_batches): stop each epoch after this many batches (smoke tests;
            nothing is saved).
        output: also copy the finalized float16 weights there.
        peak_learning_rate: the cosine schedule's start (default LEARNING_RATE, RESUME_LEARNING_RATE when
            resuming); a lower one fine-tunes without the dip a full restart costs.
        run: the run folder's name (default: the start time; with resume, the newest run).
    Returns:
        Per-epoch history and, once finalized, the test figures of the float16 weights, "run" and "promote".
    """
    named = configs.resolve("unet", config)
    resume = resume or named.resumes is not None
    named = configs.with_values(
        named,
        epochs=epochs,
        validation_scenes=validation_scenes,
        **{
            "resume_train_scenes" if resume else "train_scenes": train_scenes,
            "resume_learning_rate" if resume else "learning_rate": peak_learning_rate or None,
        },
    )
    settings: UNetConfig = named.settings
    epochs = settings.epochs
    train_scenes = settings.resume_train_scenes if resume else settings.train_scenes
    validation_scenes = settings.validation_scenes
    if epochs < 1 or train_scenes < settings.batch_size or validation_scenes < 1:
        raise InvalidInput(
            f"Train for at least 1 epoch on at least {settings.batch_size} scenes, with validation scenes."
        )
    max_steps = max_steps if max_steps is not None else max_batches
    peak = settings.resume_learning_rate if resume else settings.learning_rate
    task = UNetTask(
        train_scenes, validation_scenes, seed, resume, peak, max_steps is not None, on_progress, settings
    )
    trainer = training.Trainer(
        task,
        epochs,
        training.restarted_cosine(peak),
        resume=resume,
        run=run,
        max_steps=max_steps,
        on_progress=on_progress,
        should_stop=should_stop,
        config=named,
    )
    if resume and not trainer.history:
        raise InvalidInput(
            "Nothing to resume: no U-Net run, cache or committed history; train it without --resume."
        )
    configs.check_resumed(named, trainer.run.path)  # a named cycle goes on from a run of the one it resumes
    trainer.history = task.history = [{"cycle": 0, **entry} for entry in trainer.history]
    trainer.epochs = trainer.first_epoch + epochs  # a cycle of `epochs` more
    history = trainer.fit()
    if trainer.smoke or len(history) == trainer.first_epoch:
        return {"name": "unet", "history": history}
    return {"name": "unet", "history": history, **trainer.finalize(output)}


def scene_weights(label_maps: np.ndarray, extra: dict[str, float] = OVERSAMPLED_LABELS) -> np.ndarray:
    """Sampling weight of each training scene (N,) from its label map (N, H, W): 1 + the extra weight of
    each label of `extra` that it shows."""
    weights = np.ones(len(label_maps))
    for label, weight in extra.items():
        weights += weight * (label_maps == LABELS.index(label)).any(axis=(1, 2))
    return weights


def batch_loss(
    network,
    images,
    label_maps,
    boundary_weight: float = BOUNDARY_WEIGHT,
    jaccard_weight: float = JACCARD_WEIGHT,
):
    """Pixel cross-entropy, boundary pixels weighing 1 + boundary_weight, averaged over the batch's weights,
    + jaccard_weight x the batch's soft Jaccard term."""
    import tensorflow as tf

    logits = network(images, training=True)
    pixel_loss = tf.nn.sparse_softmax_cross_entropy_with_logits(label_maps, logits)
    weights = 1 + boundary_weight * boundary_pixels(label_maps)
    loss = tf.reduce_sum(pixel_loss * weights) / tf.reduce_sum(weights)
    if jaccard_weight:
        loss += jaccard_weight * soft_jaccard_loss(logits, label_maps)
    return loss


def boundary_pixels(label_maps):
    """float32 (B, H, W): 1 where a pixel's 3 x 3 neighbourhood (within the image) holds more than one label."""
    import tensorflow as tf

    values = tf.cast(label_maps, tf.float32)[..., None]
    highest = tf.nn.max_pool2d(values, 3, 1, "SAME")
    lowest = -tf.nn.max_pool2d(-values, 3, 1, "SAME")
    return tf.cast(highest[..., 0] > lowest[..., 0], tf.float32)


def soft_jaccard_loss(logits, label_maps):
    """1 - soft IoU (softmax probabilities against one-hot truth), averaged over the labels in the batch."""
    import tensorflow as tf

    probabilities = tf.nn.softmax(logits)
    truth = tf.one_hot(label_maps, len(LABELS), dtype=probabilities.dtype)
    intersection = tf.reduce_sum(probabilities * truth, [0, 1, 2])
    union = tf.reduce_sum(probabilities + truth, [0, 1, 2]) - intersection
    present = tf.cast(tf.reduce_sum(truth, [0, 1, 2]) > 0, probabilities.dtype)
    return tf.reduce_sum((1 - intersection / (union + 1)) * present) / tf.maximum(tf.reduce_sum(present), 1)


def best_entry(history: list[dict]) -> dict:
    """The epoch whose weights best.npz holds: the last one marked "kept"; in logs from before that mark
    existed, the best by validation mean IoU among the unmarked epochs."""
    kept = [entry for entry in history if entry.get("kept")]
    return (
        kept[-1]
        if kept
        else max(
            (entry for entry in history if "kept" not in entry),
            key=lambda entry: entry["validation_mean_iou"],
        )
    )


def _cycle_scenes(history: list[dict]) -> dict[int, int]:
    """Training scenes each cycle drew (entries from before this was logged: TRAIN_SCENES)."""
    return {entry["cycle"]: entry.get("train_scenes", TRAIN_SCENES) for entry in history}


def _manifest_line(figures: dict, history: list[dict]) -> tuple[str, str]:
    """(how, metric) of the promoted weights: the commands of every cycle, their scenes and losses."""
    best = best_entry(history)
    cycles = [
        sum(1 for entry in history if entry["cycle"] == cycle) for cycle in range(history[-1]["cycle"] + 1)
    ]
    peaks = {entry["cycle"]: entry.get("peak_learning_rate", RESUME_LEARNING_RATE) for entry in history}
    command = f"python -m engine train unet --epochs {cycles[0]}" + "".join(
        f", then --resume --epochs {count}"
        + (f" --peak-learning-rate {peaks[cycle]:g}" if peaks[cycle] != RESUME_LEARNING_RATE else "")
        for cycle, count in enumerate(cycles[1:], start=1)
    )
    scene_counts = " + ".join(str(count) for count in _cycle_scenes(history).values())
    losses = " / ".join(
        f"cycle {entry['cycle']}: "
        + ("cross-entropy + soft Jaccard" if entry.get("jaccard_weight") else "cross-entropy")
        + (f", grown to {entry['levels']} levels" if entry.get("grown") else "")
        + (
            ", scenes showing " + " / ".join(entry["oversampled"]) + " drawn more often"
            if entry.get("oversampled")
            else ""
        )
        + (
            f", boundary pixels' cross-entropy x {1 + entry['boundary_weight']:g}"
            if entry.get("boundary_weight")
            else ""
        )
        for entry in {entry["cycle"]: entry for entry in history}.values()
    )
    how = (
        f"{command} ({scene_counts} new training scenes of {TRAIN_OBJECTS} objects, per cycle; {losses}; "
        f"best of {len(history)} epochs on "
        + ", then ".join(dict.fromkeys(str(entry.get("validation_scenes", 200)) for entry in history))
        + f" validation scenes: epoch {best['epoch']}; "
        f"{sum(entry['seconds'] for entry in history) / 60:.0f} min on 2 shared CPU cores)"
    )
    return how, (
        f"test scenes ({figures['scenes']}): mean IoU {figures['mean_iou']:.4f} over {len(LABELS)} labels, "
        f"pixel accuracy {figures['pixel_accuracy']:.4f}"
    )


# --- named configs: "default" (the constants above) and the cycles of the committed weights ------------------
# Each cycle's settings as they stood when it ran (docs/models/unet.md; the history file logs them per epoch):
# `python -m engine train unet --config cycle0`, then --config cycle1 ... cycle6 (`python -m engine configs unet`).
configs.register("unet", configs.DEFAULT, UNetConfig())
_FIRST = UNetConfig(
    epochs=3,
    levels=3,
    jaccard_weight=0.0,
    boundary_weight=0.0,
    oversampled_labels={},
    validation_scenes=200,
    validation_shifts=False,
)
configs.register("unet", "cycle0", _FIRST, note="the first run, 3 levels, cross-entropy alone (f466233)")
_JACCARD = dataclasses.replace(_FIRST, jaccard_weight=1.0)
_OLD_KEEP_BEST = (
    "; then a resumed cycle's epochs were kept by the logged validation figures, not against its "
    "starting weights measured again (b28bfd9)"
)
configs.register(
    "unet", "cycle1", _JACCARD, resumes="cycle0", note="+ soft Jaccard (f0a902d)" + _OLD_KEEP_BEST
)
configs.register(
    "unet",
    "cycle2",
    dataclasses.replace(_JACCARD, epochs=1),
    resumes="cycle1",
    note="one more epoch of the 3-level U-Net" + _OLD_KEEP_BEST,
)
_GROWN = dataclasses.replace(_JACCARD, levels=4, epochs=13)
configs.register(
    "unet",
    "cycle3",
    _GROWN,
    resumes="cycle2",
    note="grown to 4 levels from the 3-level weights (`grow`, 4539e75)" + _OLD_KEEP_BEST,
)
_OVERSAMPLED = dataclasses.replace(
    _GROWN, epochs=12, oversampled_labels=dict(OVERSAMPLED_LABELS), validation_shifts=True
)
configs.register(
    "unet",
    "cycle4",
    _OVERSAMPLED,
    resumes="cycle3",
    note="worst labels' scenes drawn more often (b28bfd9); its weights were not committed, the next "
    "cycle starts from its best epoch (29), as every resumed cycle starts from the best",
)
configs.register(
    "unet",
    "cycle5",
    dataclasses.replace(_OVERSAMPLED, epochs=8, boundary_weight=2.0, validation_scenes=500),
    resumes="cycle4",
    note="boundary pixels' cross-entropy x 3, 500 validation scenes (2bab178)",
)
configs.register(
    "unet",
    "cycle6",
    UNetConfig(epochs=3, resume_learning_rate=3e-4),
    resumes="cycle5",
    note="a fine-tuning cycle at peak 3e-4 (68f91fb): the committed weights",
)
