"""Every registered model, loaded and run once on a tiny input through its task's public entry point
(after timm's test_models.py: one parametrized smoke test over the whole registry).

It asks only what holds for any input: the output has the documented shape and type, its values are
finite and within their range. Accuracy is tested per model elsewhere. A model whose weights need a
network (TF Hub, Keras Applications not cached) is skipped, with the reason. A task without a runner
here fails, so a new task cannot join the registry untested.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from engine.core import registry

pytestmark = pytest.mark.usefixtures("offline_models")  # loads fetched model files

# The two over 3 s on 2 CPU cores (the file took 24 s in all, every other model under 2 s): Grad-CAM's
# first gradient graph and the six video ways. `make test-fast` leaves them out.
SLOW = {"mobilenet-v2-features", "video-six-ways"}


def noise_photo(spec: registry.ModelSpec) -> np.ndarray:
    """A seeded RGB noise image of the model's input size (at least 64 px a side)."""
    height, width = (max(64, side) for side in spec.input_size)
    return np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)


def scene_image(spec: registry.ModelSpec) -> np.ndarray:
    """The models trained here on 96 x 96 scenes get a test scene; the others a noise photo."""
    if spec.sources[0].kind == "project":
        from engine.data import scenes

        return scenes.scene("test", 0).image
    return noise_photo(spec)


def assert_probabilities(values, count: int | None = None) -> None:
    values = np.asarray(list(values), np.float64)
    assert np.isfinite(values).all() and (values >= 0).all() and (values <= 1 + 1e-6).all(), values
    if count is not None:
        assert values.shape == (count,)


def run_classification(loaded: registry.LoadedModel) -> None:
    from engine.classification import classify as classification

    result = classification.classify(noise_photo(loaded.spec), loaded, top_k=3)
    assert len(result.top) == 3 and all(isinstance(p.label, str) and p.label for p in result.top)
    scores = [p.score for p in result.top]
    assert_probabilities(scores)
    assert scores == sorted(scores, reverse=True)


def run_features(loaded: registry.LoadedModel) -> None:
    from engine.features import explain, extractors

    pixels = noise_photo(loaded.spec)
    model = extractors.feature_model_of(loaded)
    if model.classifier is not None:
        result = explain.gradcam(pixels, loaded)
        assert result.heatmap.shape == pixels.shape[:2]
        assert np.isfinite(result.heatmap).all() and 0 <= result.heatmap.min() <= result.heatmap.max() <= 1
        assert_probabilities([result.probability])
    maps = explain.activation_maps(pixels, loaded, model.layers[-1], 4)
    assert maps.maps.shape[0] == 4 and np.isfinite(maps.maps).all()


def run_capsules(loaded: registry.LoadedModel) -> None:
    from engine.capsules import api as capsules

    digit = np.zeros((28, 28), np.uint8)
    digit[4:24, 13:16] = 255  # a "1"
    if loaded.spec.name == "capsnet":
        reading = capsules.read_digit(loaded.model, digit)
        assert_probabilities(reading.lengths, 10)  # a capsule's length is a probability
        assert reading.reconstruction.shape == (28, 28) and 0 <= reading.predicted < 10
    else:
        assert_probabilities(capsules.baseline_probabilities(loaded.model, digit), 10)


def run_segmentation(loaded: registry.LoadedModel) -> None:
    from engine.segmentation import api as segmentation

    pixels = scene_image(loaded.spec)
    result = segmentation.segment(pixels, loaded)
    assert result.label_map.shape == pixels.shape[:2] and result.label_map.dtype == np.uint8
    assert result.label_map.max() < len(result.labels)
    for item in result.instances:
        assert_probabilities([item.score])


def run_detection(loaded: registry.LoadedModel) -> None:
    from engine.detection import api as detection

    pixels = scene_image(loaded.spec)
    # Threshold 0: whatever the detector proposes on this input comes back, so the boxes are checked too.
    result = detection.detect(pixels, loaded, detection.DetectSettings(0.0, 0.5, 20), max_detections=20)
    height, width = pixels.shape[:2]
    assert result.image_size == (width, height)
    assert_probabilities([item.score for item in result.detections])
    boxes = np.asarray([item.box for item in result.detections], np.float64).reshape(-1, 4)
    assert np.isfinite(boxes).all()
    assert (boxes[:, 0] <= boxes[:, 2]).all() and (boxes[:, 1] <= boxes[:, 3]).all()


def run_sentiment(loaded: registry.LoadedModel) -> None:
    from engine.text import sentiment as text

    result = text.sentiment("thank you, lovely crew!", loaded)
    assert result.label in result.probabilities
    assert_probabilities(result.probabilities.values())
    assert abs(sum(result.probabilities.values()) - 1) < 1e-4


def run_video(loaded: registry.LoadedModel) -> None:
    from engine.data import clips
    from engine.video import api as video

    result = video.classify_clip(loaded.model, clips.clip("test", 0).frames)
    assert result.predictions and all(item.label in clips.CLASSES for item in result.predictions)
    for item in result.predictions:
        assert_probabilities([item.score, *item.scores])


def run_vqa(loaded: registry.LoadedModel) -> None:
    from engine.data import sort_of_clevr
    from engine.vqa import api as vqa

    scene = sort_of_clevr.scene("test", 0)
    answer = vqa.ask(loaded.spec.name, loaded.model, scene.image, sort_of_clevr.EXAMPLES[0])
    assert answer.answer in answer.probabilities
    assert_probabilities(answer.probabilities.values())


def sine(seconds: float, frequency: float = 440.0, rate: int = 16_000) -> np.ndarray:
    times = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * frequency * times) * np.exp(-3 * times)).astype(np.float32)


def run_audio(loaded: registry.LoadedModel) -> None:
    name = loaded.spec.name
    if name == "instrument-cnn":
        from engine.audio.instrument import model as instrument_cnn

        guess = instrument_cnn.classify(loaded.model, sine(1.0))
        assert guess.instrument in guess.probabilities
        assert_probabilities(guess.probabilities.values())
    elif name == "basic-pitch":
        from engine.audio import pitch

        estimate = pitch.estimate_pitch(sine(1.0), model=loaded.model)
        assert estimate.posteriorgram.ndim == 2 and estimate.posteriorgram.shape[1] == 88
        assert_probabilities(estimate.posteriorgram.ravel())
    elif name == "wavenet":
        from engine.audio.wavenet import model as wavenet

        note = wavenet.NoteRequest(loaded.model.instruments[0], loaded.model.pitches[0])
        generation = wavenet.generate(loaded.model, [note], 0.02)
        assert generation.audio.shape == (1, round(0.02 * generation.sample_rate))
        assert np.isfinite(generation.audio).all() and np.abs(generation.audio).max() <= 1
    else:
        pytest.fail(f"No smoke runner for the audio model {name}: add one to {__name__}.")


RUNNERS: dict[str, Callable[[registry.LoadedModel], None]] = {
    "classification": run_classification,
    "features": run_features,
    "capsules": run_capsules,
    "segmentation": run_segmentation,
    "instances": run_segmentation,
    "detection": run_detection,
    "sentiment": run_sentiment,
    "video": run_video,
    "vqa": run_vqa,
    "audio": run_audio,
}


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(spec.name, marks=[pytest.mark.slow] if spec.name in SLOW else [])
        for spec in registry.all_specs()
    ],
)
def test_every_registered_model_runs_on_a_tiny_input(name):
    spec = registry.get_spec(name)
    assert spec.task in RUNNERS, f"No smoke runner for the task {spec.task!r}: add one to RUNNERS."
    if registry.available_source(spec) is None:
        sources = ", ".join(f"{source.kind} {source.reference}" for source in spec.sources)
        pytest.skip(f"{name}: its weights need a network ({sources})")
    RUNNERS[spec.task](registry.load(name))


def test_every_model_is_listed_once():
    names = [spec.name for spec in registry.all_specs()]
    assert len(names) == len(set(names)) and len(names) >= 30
