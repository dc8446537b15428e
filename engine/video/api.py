"""Video classification: the six trained ways' builder and metric for the registry, and inference.

Models: engine/video/models.py; clips: engine/data/clips.py; training and the comparison table:
engine/video/train.py; real uploaded videos: engine/video/io.py. This module keeps TensorFlow out
of import time.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from engine.core import registry
from engine.data import clips as video_clips

MODEL_NAME = "video-six-ways"
WAYS = (
    "frame_cnn",
    "cnn_rnn",
    "conv3d",
    "features_rnn",
    "features_mlp",
    "conv3d_rnn",
)  # as video_models.WAYS


def build(spec: registry.ModelSpec, source: registry.WeightSource):
    """The registry's builder of "video-six-ways" (engine/core/entries.py): all six ways, traced."""
    from engine.core import manifest, weights_io
    from engine.core.errors import ModelUnavailable
    from engine.features import extractors
    from engine.video import models as video_models

    # Built here, not through registry.load: that holds the registry's lock while this builder runs.
    feature_spec = registry.get_spec(extractors.DEFAULT_MODEL)
    feature_source = registry.available_source(feature_spec)
    if feature_source is None:
        raise ModelUnavailable(f"{feature_spec.title} is not fetched; run `python -m engine assets fetch`.")
    ways = video_models.build_all(feature_spec.builder(feature_spec, feature_source))
    blank = np.zeros((1, video_clips.FRAMES, video_clips.SIZE, video_clips.SIZE, 3), np.uint8)
    for way in video_models.WAYS:
        weights_io.load_float16(ways.trained_parts(way), manifest.verified(f"video/{way}.npz"))
        video_models.predict(ways, way, blank)  # traced now, so the first clip's timings are the model's own
    return ways


def metric_summary() -> str:
    """The registry's metric of "video-six-ways": each way's test accuracy from its manifest line."""
    from engine.core import manifest

    entries = manifest.entries()
    found = [
        f"{way} {entries[f'video/{way}.npz']['metric'].rsplit(' ', 1)[-1]}"
        for way in WAYS
        if f"video/{way}.npz" in entries
    ]
    return (
        f"test clips ({video_clips.TEST_CLIPS}) accuracy: " + ", ".join(found) if found else "not trained yet"
    )


# --- Inference for the page and the CLI ----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class WayPrediction:
    way: str
    title: str
    label: str  # class name (video_clips.CLASSES)
    score: float  # probability, or vote share for way 1
    scores: tuple[float, ...]  # per class
    ms: float  # this clip, end to end from the frames


@dataclasses.dataclass(frozen=True)
class ClipPredictions:
    predictions: tuple[WayPrediction, ...]  # in WAYS order

    def to_json(self) -> list[dict]:
        return [
            {
                "way": item.way,
                "title": item.title,
                "label": item.label,
                "score": round(item.score, 4),
                "ms": round(item.ms, 2),
            }
            for item in self.predictions
        ]


def classify_clip(ways, frames: np.ndarray) -> ClipPredictions:
    """All six ways on one clip: uint8 (video_clips.FRAMES, SIZE, SIZE, 3).

    Raises:
        InvalidInput: frames of another shape or type.
    """
    from engine.core.errors import InvalidInput
    from engine.video import models as video_models

    expected = (video_clips.FRAMES, video_clips.SIZE, video_clips.SIZE, 3)
    if frames.shape != expected or frames.dtype != np.uint8:
        raise InvalidInput(f"Expected a uint8 clip of shape {expected}, not {frames.dtype} {frames.shape}.")
    results = []
    for way in video_models.WAYS:
        started = time.perf_counter()
        scores = video_models.predict(ways, way, frames[None])[0]
        best = int(scores.argmax())
        results.append(
            WayPrediction(
                way,
                video_models.TITLES[way],
                video_clips.CLASSES[best],
                float(scores[best]),
                tuple(float(value) for value in scores),
                (time.perf_counter() - started) * 1000,
            )
        )
    return ClipPredictions(tuple(results))


@dataclasses.dataclass(frozen=True)
class VideoAnalysis:
    video: object  # video_io.Video
    clip: np.ndarray  # the video as the six ways see it (16 x 48 x 48)
    predictions: ClipPredictions
    timeline: object  # video_io.Timeline

    def to_json(self) -> dict:
        video = self.video
        return {
            "frames": video.frame_count,
            "fps": round(video.fps, 3),
            "seconds": round(video.seconds, 3),
            "width": video.width,
            "height": video.height,
            "codec": video.codec,
            "six_ways": self.predictions.to_json(),
            "imagenet_timeline": self.timeline.to_json(),
        }


def analyse(data: bytes, filename: str, ways, classifier, samples: int = 16) -> VideoAnalysis:
    """An uploaded video: decoded (bounded), the six ways' clip-class guesses, the ImageNet timeline.

    Raises:
        InvalidMedia: see `video_io.decode`.
    """
    from engine.video import io as video_io

    video = video_io.decode(data, filename, samples)
    clip = video_io.to_clip(video)
    return VideoAnalysis(
        video, clip, classify_clip(ways, clip), video_io.imagenet_timeline(video, classifier)
    )
