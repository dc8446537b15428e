"""The chapter's six ways to classify a video, as small Keras models over `video_clips` clips.

1. `frame_cnn`: a 2D CNN classifies each frame; the clip's class is the majority vote (ties go to
   the class with the larger summed probability). It cannot see motion by construction.
2. `cnn_rnn`: the same kind of 2D CNN applied to every frame (TimeDistributed) feeding a GRU, trained
   end to end (Donahue et al., "Long-term Recurrent Convolutional Networks", CVPR 2015).
3. `conv3d`: a 3D ConvNet over (time, height, width) (Tran et al., "Learning Spatiotemporal Features
   with 3D Convolutional Networks", ICCV 2015; Ji et al., "3D Convolutional Neural Networks for
   Human Action Recognition", TPAMI 2013).
4. `features_rnn`: frozen ImageNet MobileNetV2 features of every frame (engine/features/extractors.py, blocks
   0-13 only: the ImageNet part of the offline weights), computed once, then a GRU.
5. `features_mlp`: the same features averaged over SEGMENTS consecutive time segments (a cheap
   temporal pooling after Wang et al., "Temporal Segment Networks", ECCV 2016), then an MLP.
6. `conv3d_rnn`: features from a 3D CNN (the trunk of way 3, frozen), one per remaining time step,
   then a GRU. No 3D CNN pretrained on video exists offline, so the extractor is way 3's own trunk.

Frame CNNs keep a coarse spatial grid (flattened, not globally averaged): a digit's position is what
changes when it moves, and a global average would erase it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from engine.data import clips as video_clips

WAYS = ("frame_cnn", "cnn_rnn", "conv3d", "features_rnn", "features_mlp", "conv3d_rnn")
TITLES = {
    "frame_cnn": "1. per-frame 2D CNN + majority vote",
    "cnn_rnn": "2. TimeDistributed 2D CNN -> GRU (end to end)",
    "conv3d": "3. 3D ConvNet",
    "features_rnn": "4. frozen MobileNetV2 features -> GRU",
    "features_mlp": "5. frozen MobileNetV2 features, pooled over time -> MLP",
    "conv3d_rnn": "6. 3D-CNN features (way 3's trunk, frozen) -> GRU",
}
NUM_CLASSES = len(video_clips.CLASSES)
FRAME_SHAPE = (video_clips.SIZE, video_clips.SIZE, 3)
CLIP_SHAPE = (video_clips.FRAMES, *FRAME_SHAPE)
FEATURE_LAYER = "block_13_expand_relu"  # last MobileNetV2 layer that still holds ImageNet weights
FEATURE_INPUT = 64  # frames are upsampled 4/3x: larger helps MobileNetV2 little and costs 2.2x per 96 px
FEATURE_GRID = 2  # the layer's 4 x 4 map averaged to 2 x 2: keeps where things are, 4x fewer numbers
FEATURE_CHANNELS = 576
FEATURE_SIZE = FEATURE_GRID * FEATURE_GRID * FEATURE_CHANNELS  # 2304 numbers per frame
SEGMENTS = 4  # way 5 averages the 16 frames' features in 4 runs of 4
RNN_UNITS = 64  # GRU width of ways 2, 4 and 6
CONV3D_FEATURE_STEPS = 8  # time steps left after way 3's trunk (16 frames, one 2x time pooling)


def _frame_trunk(name: str):
    """uint8 frame (48, 48, 3) -> 576 numbers: a 3 x 3 x 64 grid, flattened."""
    import keras
    from keras import layers

    inputs = keras.Input(FRAME_SHAPE, dtype="uint8")
    x = layers.Rescaling(1 / 255.0)(inputs)
    x = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(x)  # 24
    x = layers.MaxPooling2D()(x)  # 12
    x = layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D()(x)  # 6
    x = layers.Conv2D(64, 3, padding="same", activation="relu")(x)
    x = layers.Conv2D(64, 3, strides=2, padding="same", activation="relu")(x)  # 3
    return keras.Model(inputs, layers.Flatten()(x), name=name)


def build_frame_cnn():
    """Way 1: one frame -> class probabilities."""
    import keras
    from keras import layers

    trunk = _frame_trunk("frame_trunk")
    inputs = keras.Input(FRAME_SHAPE, dtype="uint8")
    x = layers.Dense(128, activation="relu")(trunk(inputs))
    x = layers.Dropout(0.3)(x)
    return keras.Model(inputs, layers.Dense(NUM_CLASSES, activation="softmax")(x), name="frame_cnn")


def build_cnn_rnn():
    """Way 2: clip -> TimeDistributed(2D CNN) -> GRU -> class probabilities."""
    import keras
    from keras import layers

    trunk = _frame_trunk("cnn_rnn_trunk")
    inputs = keras.Input(CLIP_SHAPE, dtype="uint8")
    x = layers.TimeDistributed(trunk)(inputs)
    x = layers.TimeDistributed(layers.Dense(128, activation="relu"))(x)
    x = layers.GRU(RNN_UNITS)(x)
    return keras.Model(inputs, layers.Dense(NUM_CLASSES, activation="softmax")(x), name="cnn_rnn")


def build_conv3d_trunk():
    """Way 3's feature extractor: clip -> (8, 64), one 64-number feature per pair of frames."""
    import keras
    from keras import layers

    inputs = keras.Input(CLIP_SHAPE, dtype="uint8")
    x = layers.Rescaling(1 / 255.0)(inputs)
    x = layers.Conv3D(16, 3, strides=(1, 2, 2), padding="same", activation="relu")(x)  # 16 x 24 x 24
    x = layers.MaxPooling3D((1, 2, 2))(x)  # 16 x 12 x 12
    x = layers.Conv3D(32, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling3D((2, 2, 2))(x)  # 8 x 6 x 6
    x = layers.Conv3D(64, 3, padding="same", activation="relu")(x)
    x = layers.Conv3D(64, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling3D((1, 6, 6))(x)  # 8 x 1 x 1: where in the frame no longer matters
    return keras.Model(inputs, layers.Reshape((CONV3D_FEATURE_STEPS, 64))(x), name="conv3d_trunk")


def build_conv3d():
    """Way 3: clip -> 3D ConvNet -> class probabilities (features averaged over time)."""
    import keras
    from keras import layers

    trunk = build_conv3d_trunk()
    inputs = keras.Input(CLIP_SHAPE, dtype="uint8")
    x = layers.Flatten()(trunk(inputs))  # 8 x 64, in time order
    x = layers.Dense(128, activation="relu")(x)
    x = layers.Dropout(0.3)(x)
    return keras.Model(inputs, layers.Dense(NUM_CLASSES, activation="softmax")(x), name="conv3d")


def build_features_rnn():
    """Way 4: (16, 2304) MobileNetV2 features -> projection -> GRU -> class probabilities."""
    import keras
    from keras import layers

    inputs = keras.Input((video_clips.FRAMES, FEATURE_SIZE))
    x = layers.Dropout(0.2)(inputs)
    x = layers.TimeDistributed(layers.Dense(128, activation="relu"))(x)
    x = layers.GRU(RNN_UNITS)(x)
    return keras.Model(inputs, layers.Dense(NUM_CLASSES, activation="softmax")(x), name="features_rnn")


def build_features_mlp():
    """Way 5: (16, 2304) features -> mean over SEGMENTS runs of frames -> MLP -> probabilities."""
    import keras
    from keras import layers

    inputs = keras.Input((video_clips.FRAMES, FEATURE_SIZE))
    x = layers.AveragePooling1D(video_clips.FRAMES // SEGMENTS)(inputs)  # (SEGMENTS, 2304)
    x = layers.Flatten()(x)
    x = layers.Dropout(0.3)(x)
    x = layers.Dense(128, activation="relu")(x)
    x = layers.Dropout(0.3)(x)
    return keras.Model(inputs, layers.Dense(NUM_CLASSES, activation="softmax")(x), name="features_mlp")


def build_conv3d_rnn_head():
    """Way 6's head: (8, 64) 3D-CNN features -> GRU -> class probabilities."""
    import keras
    from keras import layers

    inputs = keras.Input((CONV3D_FEATURE_STEPS, 64))
    x = layers.GRU(RNN_UNITS)(inputs)
    return keras.Model(inputs, layers.Dense(NUM_CLASSES, activation="softmax")(x), name="conv3d_rnn")


def build_feature_extractor(feature_model):
    """Frozen MobileNetV2 (a `features.FeatureModel`) -> Keras model: uint8 frames (N, 48, 48, 3) ->
    (N, 2304): upsampled to 64 px, scaled to [-1, 1], block 13's 4 x 4 x 576 map averaged to 2 x 2."""
    import keras
    from keras import layers

    layer = feature_model.submodel((FEATURE_LAYER,))
    inputs = keras.Input(FRAME_SHAPE, dtype="uint8")
    x = layers.Rescaling(1 / 127.5, offset=-1.0)(inputs)
    x = layers.Resizing(FEATURE_INPUT, FEATURE_INPUT, interpolation="bilinear")(x)
    maps = layer(x)
    maps = maps[0] if isinstance(maps, (list, tuple)) else maps
    pooled = layers.AveragePooling2D(FEATURE_INPUT // 16 // FEATURE_GRID)(maps)
    model = keras.Model(inputs, layers.Flatten()(pooled), name="mobilenet_v2_features")
    model.trainable = False
    return model


@dataclasses.dataclass
class SixWays:
    """The six trained classifiers and the frozen extractors they share."""

    frame_cnn: Any
    cnn_rnn: Any
    conv3d: Any
    features_rnn: Any
    features_mlp: Any
    conv3d_rnn: Any  # the head; its features come from conv3d's trunk
    mobilenet: Any  # frozen frame feature extractor (ways 4 and 5)

    @property
    def conv3d_trunk(self):
        return self.conv3d.get_layer("conv3d_trunk")

    def trained_parts(self, way: str) -> list:
        """The Keras models whose weights a way's file stores."""
        return [getattr(self, way)]

    def parameters(self, way: str) -> dict:
        """Trained and frozen parameter counts of a way, end to end from the frames."""

        def count(model) -> int:
            return int(sum(np.prod(weight.shape) for weight in model.weights))

        frozen = {
            "features_rnn": count(self.mobilenet),
            "features_mlp": count(self.mobilenet),
            "conv3d_rnn": count(self.conv3d_trunk),
        }.get(way, 0)
        return {"trained": count(getattr(self, way)), "frozen": frozen}


def build_all(feature_model) -> SixWays:
    """Untrained six ways around a loaded MobileNetV2 `FeatureModel`."""
    return SixWays(
        frame_cnn=build_frame_cnn(),
        cnn_rnn=build_cnn_rnn(),
        conv3d=build_conv3d(),
        features_rnn=build_features_rnn(),
        features_mlp=build_features_mlp(),
        conv3d_rnn=build_conv3d_rnn_head(),
        mobilenet=build_feature_extractor(feature_model),
    )


def _batched(model, inputs: np.ndarray, batch_size: int = 64) -> np.ndarray:
    if len(inputs) == 0:
        return np.zeros((0, *model.output.shape[1:]), np.float32)
    return np.concatenate(
        [
            np.asarray(model.predict_on_batch(inputs[start : start + batch_size]))
            for start in range(0, len(inputs), batch_size)
        ]
    )


def frame_features(ways: SixWays, frames: np.ndarray) -> np.ndarray:
    """MobileNetV2 features of clips: uint8 (N, T, 48, 48, 3) -> float32 (N, T, 2304)."""
    count, steps = frames.shape[:2]
    flat = _batched(ways.mobilenet, frames.reshape(-1, *FRAME_SHAPE), 128)
    return flat.reshape(count, steps, FEATURE_SIZE)


def conv3d_features(ways: SixWays, frames: np.ndarray) -> np.ndarray:
    """Way 3's trunk features of clips: uint8 (N, 16, 48, 48, 3) -> float32 (N, 8, 64)."""
    return _batched(ways.conv3d_trunk, frames, 32)


def vote(frame_probabilities: np.ndarray) -> np.ndarray:
    """Majority vote of per-frame predictions: (N, T, C) -> (N, C) vote shares; ties go to the class
    with the larger summed probability (a tiny bonus that never outweighs one vote)."""
    winners = frame_probabilities.argmax(-1)
    counts = np.stack([(winners == label).sum(-1) for label in range(frame_probabilities.shape[-1])], -1)
    tie_break = frame_probabilities.sum(1) / (frame_probabilities.shape[1] + 1) * 1e-3
    shares = counts / frame_probabilities.shape[1]
    return shares + tie_break * (counts == counts.max(-1, keepdims=True))


def predict(
    ways: SixWays,
    way: str,
    frames: np.ndarray,
    features: np.ndarray | None = None,
    trunk_features: np.ndarray | None = None,
) -> np.ndarray:
    """Class scores (N, NUM_CLASSES) of one way for uint8 clips (N, 16, 48, 48, 3).

    Precomputed MobileNetV2 `features` (ways 4, 5) or 3D-trunk `trunk_features` (way 6) skip the
    extractor; way 1 returns vote shares, the others softmax probabilities.
    """
    if way == "frame_cnn":
        count, steps = frames.shape[:2]
        per_frame = _batched(ways.frame_cnn, frames.reshape(-1, *FRAME_SHAPE), 256)
        return vote(per_frame.reshape(count, steps, NUM_CLASSES))
    if way in ("cnn_rnn", "conv3d"):
        return _batched(getattr(ways, way), frames, 32)
    if way in ("features_rnn", "features_mlp"):
        features = frame_features(ways, frames) if features is None else features
        return _batched(getattr(ways, way), features, 128)
    if way == "conv3d_rnn":
        trunk_features = conv3d_features(ways, frames) if trunk_features is None else trunk_features
        return _batched(ways.conv3d_rnn, trunk_features, 128)
    raise ValueError(f"Unknown way '{way}'. Ways: {', '.join(WAYS)}.")
